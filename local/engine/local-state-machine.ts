/**
 * Runs a synthesized state machine locally on `aws-local-stepfunctions`, with
 * the execution API of Step Functions (start by name, describe, wait, stop).
 *
 * Every Task state runs the handler the task mapper gives it (keyed by state
 * name, found by walking all states, Parallel branches and Map processors
 * included); an unsupported resource fails the constructor.
 *
 * Faithfulness notes:
 * - Tasks without `TimeoutSeconds` get the largest timer Node allows
 *   (~24.8 days) instead of the library's 60 s default: Step Functions has no
 *   default task timeout.
 * - Execution names follow Step Functions: a running execution with the same
 *   name and input is returned again; the same name with another input, or
 *   once that execution has closed, throws `ExecutionAlreadyExists`.
 * - The context object has `Execution` (Id, Name, Input, StartTime, RoleArn),
 *   `StateMachine` (Id, Name) and `State.EnteredTime`; not `State.Name`,
 *   `State.RetryCount` or `Task.Token`.
 * - Aborting stops further task calls: a handler called after the abort
 *   (the library retries once more after an aborted backoff) does not run.
 *
 * Time scale (`timeScale` ≠ 1 makes every wait and retry interval shorter):
 * the library only has fixed per-state overrides, so
 * - a `Wait` with `Seconds` gets a wait-time override of
 *   `Seconds × 1000 × timeScale` ms and stays a Wait state;
 * - a `Wait` with `SecondsPath`, `Timestamp` or `TimestampPath` is replaced
 *   by a local Task of the same name (same InputPath, OutputPath, Next/End)
 *   whose handler reads the seconds (or the time left until the timestamp)
 *   from its input, sleeps that × timeScale (abortable) and returns its input
 *   unchanged, as a Wait does; event logs show it as a Task;
 * - each retrier's interval is overridden per execution. For Task states
 *   (outside Map) the override is recomputed before every retry from the
 *   failing attempt like Step Functions does, `IntervalSeconds ×
 *   BackoffRate^attempt`, capped by `MaxDelaySeconds`, FULL jitter applied,
 *   then × timeScale; for Parallel/Map states and tasks inside Map
 *   iterations (whose attempts cannot be told apart) it is the base
 *   interval × timeScale.
 */
import { randomUUID } from 'node:crypto';
import {
  ExecutionAbortedError,
  ExecutionError,
  ExecutionTimeoutError,
  type RunOptions,
  StateMachine,
  type StateMachineDefinition,
} from 'aws-local-stepfunctions';
import { LOCAL_ACCOUNT, LOCAL_REGION } from './extract.ts';
import { readReferencePath } from './reference-path.ts';
import type {
  AnyState,
  LocalTaskHandler,
  TaskMapper,
  TaskState,
} from './task-mapper.ts';

/** One event of the library's execution event log. */
export type ExecutionEventLog =
  ReturnType<StateMachine['run']>['eventLogs'] extends AsyncGenerator<infer T>
    ? T
    : never;

/** Status of a local execution, as DescribeExecution reports it. */
export type ExecutionStatus =
  | 'RUNNING'
  | 'SUCCEEDED'
  | 'FAILED'
  | 'ABORTED'
  | 'TIMED_OUT';

/** What {@link LocalStateMachine.describeExecution} returns. */
export interface ExecutionDescription {
  /** The execution's ARN. */
  executionArn: string;
  /** The execution's name. */
  name: string;
  /** Where it is. */
  status: ExecutionStatus;
  /** The input (parsed JSON). */
  input: unknown;
  /** The output (parsed JSON), once SUCCEEDED. */
  output?: unknown;
  /** The error name, once FAILED/TIMED_OUT (or ABORTED with an error). */
  error?: string;
  /** The error's cause. */
  cause?: string;
  /** When it started. */
  startDate: Date;
  /** When it closed. */
  stopDate?: Date;
}

/** An event of one execution, for live views. */
export interface LocalExecutionEvent {
  /** The execution's ARN. */
  executionArn: string;
  /** The execution's name. */
  name: string;
  /** The library's event (StateEntered, StateRetried, ExecutionFailed, …). */
  event: ExecutionEventLog;
}

/** Options of {@link LocalStateMachine}. */
export interface LocalStateMachineOptions {
  /** Multiplies every wait and retry interval (0.01: 100× faster). @default 1 */
  timeScale?: number;
  /** The name used in ARNs. @default 'LocalStateMachine' */
  stateMachineName?: string;
  /** Called for every event of every execution; exceptions are ignored. */
  onEvent?: (event: LocalExecutionEvent) => void;
}

/** Parameters of {@link LocalStateMachine.startExecution}. */
export interface StartExecutionParams {
  /** Execution name: 1–80 characters, Step Functions' rules. */
  name: string;
  /** The input: a JSON value, or a JSON string as the AWS API takes. @default {} */
  input?: unknown;
}

interface ExecutionRecord {
  name: string;
  executionArn: string;
  input: unknown;
  inputKey: string;
  status: ExecutionStatus;
  output?: unknown;
  error?: string;
  cause?: string;
  startDate: Date;
  stopDate?: Date;
  events: ExecutionEventLog[];
  done: Promise<void>;
  abort: () => void;
}

type LibHandlers = NonNullable<
  NonNullable<RunOptions['overrides']>['taskResourceLocalHandlers']
>;
type Retrier = NonNullable<TaskState['Retry']>[number];
type WaitSpec = Pick<
  Extract<AnyState, { Type: 'Wait' }>,
  'SecondsPath' | 'Timestamp' | 'TimestampPath'
>;
interface RetrySpec {
  retriers: Retrier[];
  isTask: boolean;
  perAttempt: boolean;
}
type Branch = Pick<StateMachineDefinition, 'States' | 'StartAt'>;

/** setTimeout's limit (2^31 - 1 ms), in whole seconds. */
const MAX_TIMER_SECONDS = 2_147_483;

const namedError = (name: string, message: string): Error => {
  const error = new Error(message);
  error.name = name;
  return error;
};

/**
 * Checks an execution name against Step Functions' rules.
 * @param name the candidate name
 * @throws Error named `InvalidName` when it breaks them
 */
export const assertValidExecutionName = (name: string): void => {
  const invalid = (why: string) =>
    namedError('InvalidName', `Invalid Name: '${name}' (${why})`);
  if (typeof name !== 'string' || name.length < 1 || name.length > 80) {
    throw invalid('1 to 80 characters');
  }
  for (const char of name) {
    const code = char.codePointAt(0) ?? 0;
    const control = code <= 0x1f || (code >= 0x7f && code <= 0x9f);
    if (
      control ||
      /\s/.test(char) ||
      '<>{}[]?*"#%\\^|~`$&,;:/'.includes(char)
    ) {
      throw invalid(`character ${JSON.stringify(char)} is not allowed`);
    }
  }
};

const sleep = (ms: number, signal: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    if (signal.aborted || ms <= 0) return resolve();
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      resolve();
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });

const retrierMatches = (retrier: Retrier, errorName: string, isTask: boolean) =>
  retrier.ErrorEquals.some(
    (name) =>
      name === errorName ||
      name === 'States.ALL' ||
      (name === 'States.TaskFailed' && isTask)
  );

/** Runs one state machine definition locally; see the module comment. */
export class LocalStateMachine {
  /** The definition actually run (time-scaled waits replaced, timeouts set). */
  readonly definition: StateMachineDefinition;
  /** `arn:aws:states:us-east-1:123456789012:stateMachine:<name>` */
  readonly stateMachineArn: string;
  readonly #name: string;
  readonly #timeScale: number;
  readonly #onEvent: LocalStateMachineOptions['onEvent'];
  readonly #machine: StateMachine;
  readonly #tasks = new Map<string, LocalTaskHandler>();
  readonly #waits = new Map<string, WaitSpec>();
  readonly #waitOverrides: Record<string, number> = {};
  readonly #retries = new Map<string, RetrySpec>();
  readonly #executions = new Map<string, ExecutionRecord>();
  #closed = false;

  /**
   * Prepares the definition and maps every Task state to its local handler.
   * @param definition the extracted definition (not modified)
   * @param taskMapper gives each Task state its handler (createTaskMapper)
   * @param options time scale, name and event hook
   * @throws when a Task's resource is not supported locally, a state name is
   * used twice, or the definition is invalid
   */
  constructor(
    definition: StateMachineDefinition,
    taskMapper: TaskMapper,
    options: LocalStateMachineOptions = {}
  ) {
    const timeScale = options.timeScale ?? 1;
    if (!(timeScale > 0) || !Number.isFinite(timeScale)) {
      throw new Error(`timeScale must be a positive number, got ${timeScale}`);
    }
    this.#timeScale = timeScale;
    this.#name = options.stateMachineName ?? 'LocalStateMachine';
    this.#onEvent = options.onEvent;
    this.stateMachineArn = `arn:aws:states:${LOCAL_REGION}:${LOCAL_ACCOUNT}:stateMachine:${this.#name}`;
    this.definition = structuredClone(definition);
    this.#prepare(this.definition, taskMapper, false, new Set());
    this.#machine = new StateMachine(this.definition);
  }

  #prepare(
    branch: Branch,
    taskMapper: TaskMapper,
    insideMap: boolean,
    seen: Set<string>
  ): void {
    const states = branch.States as Record<string, AnyState>;
    for (const [name, state] of Object.entries(states)) {
      if (seen.has(name)) {
        throw new Error(`State name "${name}" is used twice`);
      }
      seen.add(name);
      if (state.Type === 'Task') {
        this.#tasks.set(name, taskMapper(state, name));
        if (state.TimeoutSeconds === undefined && !state.TimeoutSecondsPath) {
          state.TimeoutSeconds = MAX_TIMER_SECONDS;
        }
      }
      if (state.Type === 'Wait' && this.#timeScale !== 1) {
        if (typeof state.Seconds === 'number') {
          this.#waitOverrides[name] = state.Seconds * 1000 * this.#timeScale;
        } else {
          this.#waits.set(name, {
            SecondsPath: state.SecondsPath,
            Timestamp: state.Timestamp,
            TimestampPath: state.TimestampPath,
          });
          states[name] = this.#waitAsTask(name, state);
        }
      }
      if ('Retry' in state && state.Retry && this.#timeScale !== 1) {
        this.#retries.set(name, {
          retriers: state.Retry,
          isTask: state.Type === 'Task',
          perAttempt: state.Type === 'Task' && !insideMap,
        });
      }
      if (state.Type === 'Parallel') {
        for (const sub of state.Branches) {
          this.#prepare(sub, taskMapper, insideMap, seen);
        }
      }
      if (state.Type === 'Map') {
        const processor = state.ItemProcessor ?? state.Iterator;
        if (processor) this.#prepare(processor, taskMapper, true, seen);
      }
    }
  }

  #waitAsTask(
    name: string,
    wait: Extract<AnyState, { Type: 'Wait' }>
  ): AnyState {
    const task: Record<string, unknown> = {
      Type: 'Task',
      Comment: `Wait "${name}", time-scaled locally`,
      Resource: `arn:aws:lambda:${LOCAL_REGION}:${LOCAL_ACCOUNT}:function:LocalScaledWait`,
      TimeoutSeconds: MAX_TIMER_SECONDS,
    };
    if ('InputPath' in wait) task.InputPath = wait.InputPath;
    if ('OutputPath' in wait) task.OutputPath = wait.OutputPath;
    if ('Next' in wait && wait.Next) task.Next = wait.Next;
    if ('End' in wait && wait.End) task.End = true;
    return task as unknown as AnyState;
  }

  /**
   * Starts an execution in the background (it never rejects unhandled).
   * @param params the execution's name and input
   * @returns its ARN and start date
   * @throws `InvalidName` for a name Step Functions rejects,
   * `InvalidExecutionInput` for input that is not JSON,
   * `ExecutionAlreadyExists` when the name is taken by a closed execution or
   * a running one with different input
   */
  async startExecution(
    params: StartExecutionParams
  ): Promise<{ executionArn: string; startDate: Date }> {
    if (this.#closed) throw new Error('LocalStateMachine is closed');
    assertValidExecutionName(params.name);
    const input = this.#parseInput(params.input);
    const inputKey = JSON.stringify(input);
    const existing = this.#executions.get(params.name);
    if (existing) {
      if (existing.status === 'RUNNING' && existing.inputKey === inputKey) {
        return {
          executionArn: existing.executionArn,
          startDate: existing.startDate,
        };
      }
      throw namedError(
        'ExecutionAlreadyExists',
        `Execution Already Exists: '${existing.executionArn}'`
      );
    }
    const record = this.#run(params.name, input, inputKey);
    this.#executions.set(params.name, record);
    return { executionArn: record.executionArn, startDate: record.startDate };
  }

  #parseInput(input: unknown): unknown {
    if (input === undefined) return {};
    if (typeof input === 'string') {
      try {
        return JSON.parse(input);
      } catch {
        throw namedError(
          'InvalidExecutionInput',
          'Invalid State Machine Execution Input: not JSON'
        );
      }
    }
    return JSON.parse(JSON.stringify(input));
  }

  #run(name: string, input: unknown, inputKey: string): ExecutionRecord {
    const executionArn = `arn:aws:states:${LOCAL_REGION}:${LOCAL_ACCOUNT}:execution:${this.#name}:${name}`;
    const startDate = new Date();
    const controller = new AbortController();
    const context = {
      Execution: {
        Id: executionArn,
        Name: name,
        Input: input,
        StartTime: startDate.toISOString(),
        RoleArn: `arn:aws:iam::${LOCAL_ACCOUNT}:role/LocalStateMachineRole`,
      },
      StateMachine: { Id: this.stateMachineArn, Name: this.#name },
      // The library keeps no per-state context; a state's Parameters are
      // evaluated in the same tick as it is entered, so "now" is its entry
      // time (on a retry, the retry's time instead of the first entry).
      State: {
        get EnteredTime() {
          return new Date().toISOString();
        },
      },
    };
    const retryOverrides = this.#initialRetryOverrides();
    const handlers = this.#executionHandlers(
      controller.signal,
      retryOverrides,
      context
    );
    const run = this.#machine.run(input as never, {
      overrides: {
        taskResourceLocalHandlers: handlers,
        waitTimeOverrides: { ...this.#waitOverrides },
        retryIntervalOverrides: retryOverrides,
      },
      context: context as RunOptions['context'],
    });
    const record: ExecutionRecord = {
      name,
      executionArn,
      input,
      inputKey,
      status: 'RUNNING',
      startDate,
      events: [],
      done: Promise.resolve(),
      abort: () => {
        controller.abort();
        run.abort();
      },
    };
    const settled = run.result.then(
      (output) => {
        this.#close(record, 'SUCCEEDED', { output });
      },
      (error: unknown) => {
        if (error instanceof ExecutionAbortedError) {
          this.#close(record, 'ABORTED', {});
        } else if (error instanceof ExecutionTimeoutError) {
          this.#close(record, 'TIMED_OUT', {
            error: 'States.Timeout',
            cause: 'The execution timed out (TimeoutSeconds).',
          });
        } else {
          const inner =
            error instanceof ExecutionError && error.cause instanceof Error
              ? error.cause
              : error instanceof Error
                ? error
                : new Error(String(error));
          this.#close(record, 'FAILED', {
            error: inner.name,
            cause: inner.message,
          });
        }
        // Whatever remains running for this execution stops now.
        controller.abort();
      }
    );
    const logged = this.#consumeEvents(record, run.eventLogs);
    record.done = Promise.all([settled, logged]).then(() => undefined);
    return record;
  }

  async #consumeEvents(
    record: ExecutionRecord,
    events: AsyncGenerator<ExecutionEventLog>
  ): Promise<void> {
    try {
      for await (const event of events) {
        record.events.push(event);
        try {
          this.#onEvent?.({
            executionArn: record.executionArn,
            name: record.name,
            event,
          });
        } catch {
          // A broken listener must not break the execution.
        }
        if (
          event.type.startsWith('Execution') &&
          event.type !== 'ExecutionStarted'
        ) {
          return;
        }
      }
    } catch {
      // The event log is best effort.
    }
  }

  #close(
    record: ExecutionRecord,
    status: ExecutionStatus,
    details: { output?: unknown; error?: string; cause?: string }
  ): void {
    if (record.status !== 'RUNNING') return;
    record.status = status;
    record.stopDate = new Date();
    if (details.output !== undefined) record.output = details.output;
    if (details.error !== undefined) record.error = details.error;
    if (details.cause !== undefined) record.cause = details.cause;
  }

  #initialRetryOverrides(): Record<string, number[]> {
    const overrides: Record<string, number[]> = {};
    for (const [name, spec] of this.#retries) {
      overrides[name] = spec.retriers.map(
        (retrier) => (retrier.IntervalSeconds ?? 1) * 1000 * this.#timeScale
      );
    }
    return overrides;
  }

  #retryDelayMs(retrier: Retrier, attempt: number): number {
    let seconds =
      (retrier.IntervalSeconds ?? 1) * (retrier.BackoffRate ?? 2) ** attempt;
    if (retrier.MaxDelaySeconds !== undefined) {
      seconds = Math.min(seconds, retrier.MaxDelaySeconds);
    }
    const ms = seconds * 1000 * this.#timeScale;
    return retrier.JitterStrategy === 'FULL' ? Math.random() * ms : ms;
  }

  #executionHandlers(
    signal: AbortSignal,
    retryOverrides: Record<string, number[]>,
    context: unknown
  ): LibHandlers {
    const attempts = new Map<string, number[]>();
    // Mirrors the library's retry bookkeeping so the override for the next
    // pause is in place before the library reads it.
    const noteFailure = (name: string, error: unknown) => {
      const spec = this.#retries.get(name);
      if (!spec?.perAttempt) return;
      const errorName = error instanceof Error ? error.name : 'Error';
      const index = spec.retriers.findIndex((r) =>
        retrierMatches(r, errorName, spec.isTask)
      );
      const retrier = spec.retriers[index];
      if (!retrier) {
        attempts.delete(name);
        return;
      }
      const counts = attempts.get(name) ?? spec.retriers.map(() => 0);
      const attempt = counts[index] ?? 0;
      if (attempt >= (retrier.MaxAttempts ?? 3)) {
        attempts.delete(name);
        return;
      }
      counts[index] = attempt + 1;
      attempts.set(name, counts);
      const override = retryOverrides[name];
      if (override) override[index] = this.#retryDelayMs(retrier, attempt);
    };
    const handlers: Record<string, LocalTaskHandler> = {};
    for (const [name, handler] of this.#tasks) {
      handlers[name] = async (input) => {
        if (signal.aborted) {
          throw namedError('States.Aborted', 'The execution was aborted');
        }
        try {
          const output = await handler(input);
          attempts.delete(name);
          return output;
        } catch (error) {
          noteFailure(name, error);
          throw error;
        }
      };
    }
    for (const [name, spec] of this.#waits) {
      handlers[name] = async (input) => {
        await sleep(this.#waitMs(spec, input, context), signal);
        return input;
      };
    }
    return handlers as unknown as LibHandlers;
  }

  #waitMs(spec: WaitSpec, input: unknown, context: unknown): number {
    const runtime = (message: string) => namedError('States.Runtime', message);
    if (spec.SecondsPath !== undefined) {
      const seconds = readReferencePath(spec.SecondsPath, input, context);
      if (!Number.isInteger(seconds) || (seconds as number) < 0) {
        throw runtime(
          `The SecondsPath parameter does not reference a non-negative integer: ${JSON.stringify(seconds)}`
        );
      }
      return (seconds as number) * 1000 * this.#timeScale;
    }
    const timestamp =
      spec.Timestamp ??
      (spec.TimestampPath !== undefined
        ? readReferencePath(spec.TimestampPath, input, context)
        : undefined);
    const at =
      typeof timestamp === 'string' ? Date.parse(timestamp) : Number.NaN;
    if (Number.isNaN(at)) {
      throw runtime(
        `The TimestampPath parameter does not reference a valid ISO-8601 timestamp: ${JSON.stringify(timestamp)}`
      );
    }
    return Math.max(0, at - Date.now()) * this.#timeScale;
  }

  #find(nameOrArn: string): ExecutionRecord {
    const name = nameOrArn.startsWith('arn:')
      ? (nameOrArn.split(':').at(-1) ?? nameOrArn)
      : nameOrArn;
    const record = this.#executions.get(name);
    if (!record) {
      throw namedError(
        'ExecutionDoesNotExist',
        `Execution Does Not Exist: '${nameOrArn}'`
      );
    }
    return record;
  }

  #describe(record: ExecutionRecord): ExecutionDescription {
    const description: ExecutionDescription = {
      executionArn: record.executionArn,
      name: record.name,
      status: record.status,
      input: structuredClone(record.input),
      startDate: record.startDate,
    };
    if (record.output !== undefined) {
      description.output = structuredClone(record.output);
    }
    if (record.error !== undefined) description.error = record.error;
    if (record.cause !== undefined) description.cause = record.cause;
    if (record.stopDate) description.stopDate = record.stopDate;
    return description;
  }

  /**
   * Describes an execution.
   * @param nameOrArn the execution's name or ARN
   * @throws `ExecutionDoesNotExist`
   */
  describeExecution(nameOrArn: string): ExecutionDescription {
    return this.#describe(this.#find(nameOrArn));
  }

  /**
   * Waits until an execution closes.
   * @param nameOrArn the execution's name or ARN
   * @param timeoutMs how long to wait @default 60000
   * @returns the final description
   * @throws `ExecutionDoesNotExist`, or an Error named `WaitTimeout` (the
   * execution keeps running)
   */
  async waitForExecution(
    nameOrArn: string,
    timeoutMs = 60_000
  ): Promise<ExecutionDescription> {
    const record = this.#find(nameOrArn);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), timeoutMs);
    });
    try {
      const outcome = await Promise.race([record.done, timeout]);
      if (outcome === 'timeout') {
        throw namedError(
          'WaitTimeout',
          `Execution ${record.name} still ${record.status} after ${timeoutMs} ms`
        );
      }
      return this.#describe(record);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Stops (aborts) a running execution; a closed one is left as it is.
   * @param nameOrArn the execution's name or ARN
   * @param details optional error and cause to record
   * @returns the stop date
   * @throws `ExecutionDoesNotExist`
   */
  async stopExecution(
    nameOrArn: string,
    details: { error?: string; cause?: string } = {}
  ): Promise<{ stopDate: Date }> {
    const record = this.#find(nameOrArn);
    if (record.status === 'RUNNING') {
      this.#close(record, 'ABORTED', details);
      record.abort();
      await record.done;
    }
    return { stopDate: record.stopDate ?? new Date() };
  }

  /**
   * Lists executions, newest first.
   * @param filter only executions with this status
   */
  listExecutions(
    filter: { statusFilter?: ExecutionStatus } = {}
  ): Array<
    Pick<
      ExecutionDescription,
      'executionArn' | 'name' | 'status' | 'startDate' | 'stopDate'
    >
  > {
    return [...this.#executions.values()]
      .filter((r) => !filter.statusFilter || r.status === filter.statusFilter)
      .reverse()
      .map(({ executionArn, name, status, startDate, stopDate }) => ({
        executionArn,
        name,
        status,
        startDate,
        ...(stopDate ? { stopDate } : {}),
      }));
  }

  /**
   * The events of one execution so far (state entered/exited/retried/caught,
   * execution started/succeeded/failed), oldest first.
   * @param nameOrArn the execution's name or ARN
   * @throws `ExecutionDoesNotExist`
   */
  getExecutionHistory(nameOrArn: string): ExecutionEventLog[] {
    return [...this.#find(nameOrArn).events];
  }

  /** Aborts every running execution and waits until all have settled. */
  async close(): Promise<void> {
    this.#closed = true;
    const records = [...this.#executions.values()];
    for (const record of records) {
      if (record.status === 'RUNNING') {
        this.#close(record, 'ABORTED', {});
        record.abort();
      }
    }
    await Promise.all(records.map((r) => r.done));
  }
}

/** A random execution name, for callers that need none in particular. */
export const randomExecutionName = (): string => randomUUID();
