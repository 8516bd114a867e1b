/**
 * Runs a synthesized state machine locally on `aws-local-stepfunctions`, with
 * the execution API of Step Functions (start by name, describe, wait, stop)
 * and its callback API for `.waitForTaskToken` tasks (SendTaskSuccess,
 * SendTaskFailure, SendTaskHeartbeat).
 *
 * Every Task state runs the handler the task mapper gives it (keyed by state
 * name, found by walking all states, Parallel branches and Map processors
 * included); an unsupported resource fails the constructor.
 *
 * Faithfulness notes:
 * - The engine, not the library, times Task states: `TimeoutSeconds` /
 *   `TimeoutSecondsPath` bound each attempt (the integration call and the
 *   wait for a callback) and end it with `States.Timeout`;
 *   `HeartbeatSeconds` / `HeartbeatSecondsPath` end it with
 *   `States.HeartbeatTimeout` when no SendTaskHeartbeat came within that
 *   time since the attempt started or the last heartbeat. Both are scaled by
 *   `timeScale`. The `…Path` fields are read from the state's input after
 *   `InputPath` (before `Parameters`); a value that is not a positive integer
 *   fails the execution with `States.Runtime`. A task with neither has no
 *   timeout, as on AWS. The library only sees `TimeoutSeconds` set to the
 *   largest timer Node allows (~24.8 days), so its own unscaled timeout never
 *   fires.
 * - As on AWS, `States.TaskFailed` in a Retry/Catch matches every task error
 *   but `States.Timeout`; `States.ALL` matches both timeouts.
 * - `$$.Task.Token` is a fresh random token each time a Task state is entered
 *   or retried. Only `.waitForTaskToken` tasks take callbacks: a callback may
 *   arrive while the integration call still runs, and the first one wins.
 *   Once the attempt has ended (callback taken, timed out, retried, the
 *   execution stopped or closed) its token answers `TaskTimedOut`; a token
 *   never issued answers `InvalidToken`. SendTaskFailure without `error`
 *   fails the task with an empty error name (matched by `States.ALL` and
 *   `States.TaskFailed` only), as AWS passes the missing name on.
 * - Execution names follow Step Functions: a running execution with the same
 *   name and input is returned again; the same name with another input, or
 *   once that execution has closed, throws `ExecutionAlreadyExists`.
 * - The context object has `Execution` (Id, Name, Input, StartTime, RoleArn),
 *   `StateMachine` (Id, Name), `State.EnteredTime` and `Task.Token`; not
 *   `State.Name` or `State.RetryCount`.
 * - Aborting stops further task calls and ends every wait at once: a handler
 *   called after the abort (the library retries once more after an aborted
 *   backoff) does not run. `States.Runtime` and the abort are neither
 *   retried nor caught.
 * - A task left running by a failed Parallel branch or Map iteration (the
 *   library abandons it without telling its handler) keeps waiting until it
 *   times out or the execution closes.
 * - {@link LocalStateMachine.billedTransitions} counts what Standard
 *   workflows bill: every state entered plus every retry.
 *
 * Time scale (`timeScale` ≠ 1 makes every wait, retry interval and task
 * timeout shorter): the library only has fixed per-state overrides, so
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
import { randomBytes, randomUUID } from 'node:crypto';
import {
  ExecutionAbortedError,
  ExecutionError,
  ExecutionTimeoutError,
  type RunOptions,
  StateMachine,
  type StateMachineDefinition,
} from 'aws-local-stepfunctions';
import { LOCAL_ACCOUNT, LOCAL_REGION, localLambdaArn } from './extract.ts';
import { readReferencePath } from './reference-path.ts';
import {
  type AnyState,
  type LocalTaskContext,
  type LocalTaskHandler,
  type TaskMapper,
  type TaskState,
  WAIT_FOR_TASK_TOKEN,
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
  /**
   * Multiplies every wait, retry interval and task timeout (0.01: 100×
   * faster). @default 1
   */
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

/** Parameters of {@link LocalStateMachine.sendTaskSuccess}, as in the SDK. */
export interface SendTaskSuccessParams {
  /** The token the task got as `$$.Task.Token`. */
  taskToken: string;
  /** The task's result: a JSON string. */
  output: string;
}

/** Parameters of {@link LocalStateMachine.sendTaskFailure}, as in the SDK. */
export interface SendTaskFailureParams {
  /** The token the task got as `$$.Task.Token`. */
  taskToken: string;
  /** The error name Retry/Catch match on (0–256 characters). @default '' */
  error?: string;
  /** Its cause (up to 32768 characters). @default '' */
  cause?: string;
}

/** Parameters of {@link LocalStateMachine.sendTaskHeartbeat}, as in the SDK. */
export interface SendTaskHeartbeatParams {
  /** The token the task got as `$$.Task.Token`. */
  taskToken: string;
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

/** How one Task state is timed and whether it takes callbacks. */
interface TaskSpec {
  /** Its resource ends in `.waitForTaskToken`. */
  callback: boolean;
  timeoutSeconds?: number;
  timeoutSecondsPath?: string;
  heartbeatSeconds?: number;
  heartbeatSecondsPath?: string;
  /** Parameters were wrapped to pass the state's input along. */
  wrapped: boolean;
  /** The state has Parameters of its own. */
  hasParameters: boolean;
}

/** One attempt of a `.waitForTaskToken` task, as its token finds it. */
interface TaskAttempt {
  /** Still takes a callback (false once answered or ended). */
  open: boolean;
  /** Ends the wait with the callback's output or error. */
  answer(outcome: { output: unknown } | { error: Error }): void;
  /** Restarts the heartbeat clock. */
  heartbeat(): void;
}

/** setTimeout's limit (2^31 - 1 ms), in whole seconds. */
const MAX_TIMER_SECONDS = 2_147_483;
/** setTimeout's limit in ms. */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** Keys of the Parameters wrapper that passes a task's input to the engine. */
const INPUT_KEY = 'LocalEngineInput';
const PARAMETERS_KEY = 'LocalEngineParameters';

const namedError = (name: string, message: string): Error => {
  const error = new Error(message);
  error.name = name;
  return error;
};

/** An error the library neither retries nor catches (`isRetryable`). */
const fatal = (error: Error): Error =>
  Object.assign(error, { isRetryable: false, isCatchable: false });

/** `States.Runtime`: fails the execution; no Retry or Catch applies. */
const runtimeError = (message: string): Error =>
  fatal(namedError('States.Runtime', message));

const abortedError = (): Error =>
  fatal(namedError('States.Aborted', 'The execution was aborted'));

let statesTimeoutPrototype: Promise<object | undefined> | undefined;
let knownTimeoutPrototype: object | undefined;

/**
 * The library's `StatesTimeoutError.prototype`. The library does not export
 * the class, yet only its instances escape `States.TaskFailed` in Retry and
 * Catch, so it is taken once from a probe task the library times out after
 * 1 ms. Undefined if that ever fails (then `States.TaskFailed` also matches
 * `States.Timeout`).
 */
const timeoutPrototype = (): Promise<object | undefined> => {
  statesTimeoutPrototype ??= (async () => {
    const probe = new StateMachine(
      {
        StartAt: 'Probe',
        States: {
          Probe: {
            Type: 'Task',
            Resource: localLambdaArn('LocalTimeoutProbe'),
            TimeoutSeconds: 0.001,
            End: true,
          },
        },
      },
      { validationOptions: { noValidate: true } }
    );
    const run = probe.run(
      {},
      {
        overrides: {
          taskResourceLocalHandlers: { Probe: () => new Promise(() => {}) },
        },
      }
    );
    try {
      await run.result;
      return undefined;
    } catch (error) {
      const cause = error instanceof ExecutionError ? error.cause : undefined;
      if (cause instanceof Error && cause.name === 'States.Timeout') {
        knownTimeoutPrototype = Object.getPrototypeOf(cause) as object;
      }
      return knownTimeoutPrototype;
    }
  })();
  return statesTimeoutPrototype;
};

const timeoutError = (message: string, prototype: object | undefined) => {
  const error = namedError('States.Timeout', message);
  if (prototype) Object.setPrototypeOf(error, prototype);
  return Object.assign(error, { retryable: true, catchable: true });
};

/** What the library takes for a timeout: an instance of its own class. */
const isStatesTimeout = (error: unknown): boolean =>
  knownTimeoutPrototype !== undefined &&
  typeof error === 'object' &&
  error !== null &&
  Object.prototype.isPrototypeOf.call(knownTimeoutPrototype, error);

const taskTimedOut = (): Error =>
  namedError(
    'TaskTimedOut',
    "Task Timed Out: 'Provided task does not exist anymore'"
  );

/** A fresh, opaque, unguessable task token. */
const mintToken = (): string => randomBytes(96).toString('base64');

/**
 * Takes from `minted` the tokens that occur in `value` (in any string, also
 * inside a longer one), i.e. those the attempt's Parameters received.
 */
const claimTokens = (
  value: unknown,
  minted: Set<string>,
  found: string[] = []
): string[] => {
  if (minted.size === 0) return found;
  if (typeof value === 'string') {
    for (const token of minted) {
      if (value.includes(token)) {
        minted.delete(token);
        found.push(token);
      }
    }
  } else if (Array.isArray(value)) {
    for (const item of value) claimTokens(item, minted, found);
  } else if (value !== null && typeof value === 'object') {
    for (const item of Object.values(value)) {
      claimTokens(item, minted, found);
    }
  }
  return found;
};

/** setTimeout for any delay (re-armed past Node's 24.8-day limit). */
const startTimer = (ms: number, fire: () => void): (() => void) => {
  let timer: NodeJS.Timeout | undefined;
  const arm = (left: number) => {
    timer = setTimeout(
      () => (left > MAX_TIMER_MS ? arm(left - MAX_TIMER_MS) : fire()),
      Math.min(left, MAX_TIMER_MS)
    );
  };
  arm(ms);
  return () => clearTimeout(timer);
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

// The library's matching: first a name, then the wildcards; a timeout is
// never a `States.TaskFailed`, a fatal error never retried.
const retrierMatches = (retrier: Retrier, error: unknown, isTask: boolean) => {
  if ((error as { isRetryable?: unknown })?.isRetryable === false) {
    return false;
  }
  const errorName = error instanceof Error ? error.name : 'Error';
  return retrier.ErrorEquals.some(
    (name) =>
      name === errorName ||
      name === 'States.ALL' ||
      (name === 'States.TaskFailed' && isTask && !isStatesTimeout(error))
  );
};

/** Runs one state machine definition locally; see the module comment. */
export class LocalStateMachine {
  /**
   * The definition actually run: time-scaled waits replaced; every Task's
   * `TimeoutSeconds` set to the largest timer, its `TimeoutSecondsPath` and
   * `HeartbeatSeconds(Path)` removed (the engine times tasks) and, when a
   * `…Path` field needs the state's input, its Parameters wrapped as
   * `{ LocalEngineInput: $, LocalEngineParameters: <Parameters> }`.
   */
  readonly definition: StateMachineDefinition;
  /** `arn:aws:states:us-east-1:123456789012:stateMachine:<name>` */
  readonly stateMachineArn: string;
  readonly #name: string;
  readonly #timeScale: number;
  readonly #onEvent: LocalStateMachineOptions['onEvent'];
  readonly #machine: StateMachine;
  readonly #tasks = new Map<string, LocalTaskHandler>();
  readonly #taskSpecs = new Map<string, TaskSpec>();
  readonly #tokens = new Map<string, TaskAttempt>();
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
    void timeoutPrototype();
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
        this.#taskSpecs.set(name, this.#takeOverTimeouts(state));
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

  // Moves the timeout fields out of the library's sight (see the module
  // comment); a `…Path` field needs the state's input, so Parameters become
  // `{ LocalEngineInput: $, LocalEngineParameters: <Parameters> }`.
  #takeOverTimeouts(state: TaskState): TaskSpec {
    const fields = state as unknown as Record<string, unknown>;
    const num = (key: string) =>
      typeof fields[key] === 'number' ? fields[key] : undefined;
    const str = (key: string) =>
      typeof fields[key] === 'string' ? fields[key] : undefined;
    const spec: TaskSpec = {
      callback: state.Resource.endsWith(WAIT_FOR_TASK_TOKEN),
      timeoutSeconds: num('TimeoutSeconds'),
      timeoutSecondsPath: str('TimeoutSecondsPath'),
      heartbeatSeconds: num('HeartbeatSeconds'),
      heartbeatSecondsPath: str('HeartbeatSecondsPath'),
      wrapped: false,
      hasParameters: 'Parameters' in fields,
    };
    delete fields.TimeoutSecondsPath;
    delete fields.HeartbeatSeconds;
    delete fields.HeartbeatSecondsPath;
    fields.TimeoutSeconds = MAX_TIMER_SECONDS;
    if (spec.timeoutSecondsPath || spec.heartbeatSecondsPath) {
      spec.wrapped = true;
      fields.Parameters = {
        [`${INPUT_KEY}.$`]: '$',
        ...(spec.hasParameters ? { [PARAMETERS_KEY]: fields.Parameters } : {}),
      };
    }
    return spec;
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
    // Tokens minted by evaluations of `$$.Task.Token`, until a task's
    // handler finds them in its input.
    const minted = new Set<string>();
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
      // Evaluated once per `$$.Task.Token` in a state's Parameters, i.e. on
      // every entry and retry: a new token each time.
      Task: {
        get Token() {
          const token = mintToken();
          minted.add(token);
          return token;
        },
      },
    };
    const retryOverrides = this.#initialRetryOverrides();
    const handlers = this.#executionHandlers(
      controller.signal,
      retryOverrides,
      context,
      minted
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
        // Ends what a failed branch or iteration may have left waiting.
        controller.abort();
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
    context: unknown,
    minted: Set<string>
  ): LibHandlers {
    const attempts = new Map<string, number[]>();
    // Mirrors the library's retry bookkeeping so the override for the next
    // pause is in place before the library reads it.
    const noteFailure = (name: string, error: unknown) => {
      const spec = this.#retries.get(name);
      if (!spec?.perAttempt) return;
      const index = spec.retriers.findIndex((r) =>
        retrierMatches(r, error, spec.isTask)
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
      const spec = this.#taskSpecs.get(name) as TaskSpec;
      handlers[name] = async (libInput) => {
        if (signal.aborted) throw abortedError();
        const wrapper = libInput as Record<string, unknown>;
        const effective = spec.wrapped ? wrapper[INPUT_KEY] : libInput;
        const input = !spec.wrapped
          ? libInput
          : spec.hasParameters
            ? wrapper[PARAMETERS_KEY]
            : effective;
        // The library calls this in the same tick as it evaluates the
        // Parameters; the tokens they got are in the input.
        const tokens = claimTokens(input, minted);
        try {
          const output = await this.#attempt(name, spec, handler, {
            input,
            effective,
            context,
            signal,
            tokens: spec.callback ? tokens : [],
          });
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

  // Runs one attempt of a Task state: its handler, raced against the
  // timeout, the heartbeat timeout and the abort; callbacks reach it through
  // its tokens.
  async #attempt(
    name: string,
    spec: TaskSpec,
    handler: LocalTaskHandler,
    run: {
      input: unknown;
      effective: unknown;
      context: unknown;
      signal: AbortSignal;
      tokens: string[];
    }
  ): Promise<unknown> {
    const { signal } = run;
    const seconds = (field: string, fixed?: number, path?: string) =>
      this.#taskSeconds(field, fixed, path, run.effective, run.context);
    const timeoutSeconds = seconds(
      'TimeoutSeconds',
      spec.timeoutSeconds,
      spec.timeoutSecondsPath
    );
    const heartbeatSeconds = seconds(
      'HeartbeatSeconds',
      spec.heartbeatSeconds,
      spec.heartbeatSecondsPath
    );
    const prototype = await timeoutPrototype();
    if (signal.aborted) throw abortedError();
    const scaled = (s: number) => s * 1000 * this.#timeScale;

    return new Promise<unknown>((resolve, reject) => {
      const controller = new AbortController();
      let ended = false;
      let cancelTimeout = () => {};
      let cancelHeartbeat = () => {};
      let settleCallback: TaskAttempt['answer'] = () => {};
      const callback = new Promise<unknown>(
        (resolveCallback, rejectCallback) => {
          settleCallback = (outcome) =>
            'error' in outcome
              ? rejectCallback(outcome.error)
              : resolveCallback(outcome.output);
        }
      );
      // A failure may arrive while nobody waits for it yet (or ever).
      callback.catch(() => {});

      const end = (outcome: { value: unknown } | { error: unknown }) => {
        if (ended) return;
        ended = true;
        attempt.open = false;
        cancelTimeout();
        cancelHeartbeat();
        signal.removeEventListener('abort', onAbort);
        controller.abort();
        if ('error' in outcome) reject(outcome.error);
        else resolve(outcome.value);
      };
      const onAbort = () => end({ error: abortedError() });
      const armHeartbeat = () => {
        if (heartbeatSeconds === undefined) return;
        cancelHeartbeat();
        cancelHeartbeat = startTimer(scaled(heartbeatSeconds), () =>
          end({
            error: namedError(
              'States.HeartbeatTimeout',
              `Task "${name}" sent no heartbeat for ${heartbeatSeconds} s (HeartbeatSeconds)`
            ),
          })
        );
      };
      const attempt: TaskAttempt = {
        open: true,
        answer: (outcome) => {
          attempt.open = false;
          settleCallback(outcome);
        },
        heartbeat: armHeartbeat,
      };

      signal.addEventListener('abort', onAbort, { once: true });
      if (timeoutSeconds !== undefined) {
        cancelTimeout = startTimer(scaled(timeoutSeconds), () =>
          end({
            error: timeoutError(
              `Task "${name}" did not finish within ${timeoutSeconds} s (TimeoutSeconds)`,
              prototype
            ),
          })
        );
      }
      armHeartbeat();
      for (const token of run.tokens) this.#tokens.set(token, attempt);

      const task: LocalTaskContext = {
        signal: controller.signal,
        waitForTaskToken: () =>
          spec.callback
            ? callback
            : Promise.reject(
                new Error(
                  `Task state "${name}" does not use ${WAIT_FOR_TASK_TOKEN}`
                )
              ),
      };
      let running: Promise<unknown>;
      try {
        running = handler(run.input, task);
      } catch (error) {
        running = Promise.reject(error);
      }
      running.then(
        (value) => end({ value }),
        (error: unknown) => end({ error })
      );
    });
  }

  // TimeoutSeconds/HeartbeatSeconds, or the positive integer at its path.
  #taskSeconds(
    field: string,
    fixed: number | undefined,
    path: string | undefined,
    input: unknown,
    context: unknown
  ): number | undefined {
    if (fixed !== undefined) return fixed;
    if (path === undefined) return undefined;
    let value: unknown;
    try {
      value = readReferencePath(path, input, context);
    } catch (error) {
      throw runtimeError((error as Error).message);
    }
    if (!Number.isInteger(value) || (value as number) < 1) {
      throw runtimeError(
        `The ${field}Path parameter does not reference a positive integer: ${JSON.stringify(value)}`
      );
    }
    return value as number;
  }

  #waitMs(spec: WaitSpec, input: unknown, context: unknown): number {
    const runtime = runtimeError;
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

  /**
   * The state transitions Step Functions (Standard) bills for an execution
   * so far: every state entered (in Parallel branches and Map iterations
   * too; a time-scaled Wait is one state) plus every retry. Read it once the
   * execution has closed for the final count.
   * @param nameOrArn the execution's name or ARN
   * @throws `ExecutionDoesNotExist`
   */
  billedTransitions(nameOrArn: string): number {
    return this.#find(nameOrArn).events.filter(
      (e) => e.type === 'StateEntered' || e.type === 'StateRetried'
    ).length;
  }

  // The attempt a callback's token belongs to, if it still waits.
  #waitingAttempt(taskToken: unknown): TaskAttempt {
    const attempt =
      typeof taskToken === 'string' ? this.#tokens.get(taskToken) : undefined;
    if (!attempt)
      throw namedError('InvalidToken', "Invalid Token: 'Invalid token'");
    if (!attempt.open) throw taskTimedOut();
    return attempt;
  }

  /**
   * Ends a waiting `.waitForTaskToken` task with a result (SendTaskSuccess).
   * @param params the task token and the output, a JSON string
   * @returns `{}`, as the SDK does
   * @throws `InvalidToken` for a token never issued, `TaskTimedOut` for a
   * task that has ended (timed out, succeeded, failed, retried, its
   * execution stopped or closed), `InvalidOutput` for output that is not
   * JSON
   */
  async sendTaskSuccess(
    params: SendTaskSuccessParams
  ): Promise<Record<string, never>> {
    const attempt = this.#waitingAttempt(params.taskToken);
    let output: unknown;
    try {
      if (typeof params.output !== 'string') throw new Error('not a string');
      output = JSON.parse(params.output);
    } catch {
      throw namedError(
        'InvalidOutput',
        'Invalid Output: the output is not a JSON string'
      );
    }
    attempt.answer({ output });
    return {};
  }

  /**
   * Fails a waiting `.waitForTaskToken` task (SendTaskFailure): Retry and
   * Catch match on `error`, the Catch's `Cause` is `cause`.
   * @param params the task token, the error name and cause
   * @returns `{}`, as the SDK does
   * @throws `InvalidToken`, `TaskTimedOut` as
   * {@link LocalStateMachine.sendTaskSuccess}; `ValidationException` for an
   * error over 256 or a cause over 32768 characters
   */
  async sendTaskFailure(
    params: SendTaskFailureParams
  ): Promise<Record<string, never>> {
    const error = params.error ?? '';
    const cause = params.cause ?? '';
    if (error.length > 256 || cause.length > 32_768) {
      throw namedError(
        'ValidationException',
        'error must be at most 256 and cause at most 32768 characters long'
      );
    }
    this.#waitingAttempt(params.taskToken).answer({
      error: namedError(error, cause),
    });
    return {};
  }

  /**
   * Tells a waiting task its worker is alive (SendTaskHeartbeat): restarts
   * its `HeartbeatSeconds` clock.
   * @param params the task token
   * @returns `{}`, as the SDK does
   * @throws `InvalidToken`, `TaskTimedOut` as
   * {@link LocalStateMachine.sendTaskSuccess}
   */
  async sendTaskHeartbeat(
    params: SendTaskHeartbeatParams
  ): Promise<Record<string, never>> {
    this.#waitingAttempt(params.taskToken).heartbeat();
    return {};
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
