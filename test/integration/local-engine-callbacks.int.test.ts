import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { type App, Duration, Stack } from 'aws-cdk-lib';
import {
  type CfnFunction,
  Code,
  Function as LambdaFunction,
  Runtime,
} from 'aws-cdk-lib/aws-lambda';
import {
  Choice,
  Condition,
  DefinitionBody,
  IntegrationPattern,
  JsonPath,
  Pass,
  StateMachine,
  Succeed,
  TaskInput,
  Timeout,
  Wait,
  WaitTime,
} from 'aws-cdk-lib/aws-stepfunctions';
import { LambdaInvoke } from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { CfnTemplate } from '../../local/dynamo.ts';
import {
  createTaskMapper,
  extractStateMachine,
  type LocalLambda,
  LocalStateMachine,
  LocalTaskCallbacks,
  synthTemplates,
} from '../../local/engine/index.ts';
import { SmsSink } from '../../local/sms-sink.ts';

const NOTIFY_ENTRY = 'functions/handlers/notify.ts';
const FLAKY_ENTRY = 'functions/handlers/flaky.ts';
const TASK_TIMED_OUT = "Task Timed Out: 'Provided task does not exist anymore'";

/** Logical ids of the state machines, filled in while synthesizing. */
const machineIds: Record<string, string> = {};

const lambdaIn = (stack: Stack, id: string, entry: string) => {
  const fn = new LambdaFunction(stack, id, {
    runtime: Runtime.NODEJS_22_X,
    handler: 'index.handler',
    code: Code.fromInline('exports.handler = async () => ({});'),
  });
  // What the project's ServiceFunction construct adds to each function.
  (fn.node.defaultChild as CfnFunction).addMetadata('LocalEntry', entry);
  return fn;
};

const addMachine = (
  stack: Stack,
  key: string,
  definition: Parameters<typeof DefinitionBody.fromChainable>[0]
) => {
  const machine = new StateMachine(stack, `${key}Machine`, {
    stateMachineName: key,
    definitionBody: DefinitionBody.fromChainable(definition),
  });
  machineIds[key] = stack.getLogicalId(
    machine.node.defaultChild as unknown as Parameters<Stack['getLogicalId']>[0]
  );
};

/** A callback task: waits until the pushed device answers its token. */
const notifyTask = (
  stack: Stack,
  fn: LambdaFunction,
  id: string,
  timeouts: Pick<
    ConstructorParameters<typeof LambdaInvoke>[2],
    'taskTimeout' | 'heartbeatTimeout'
  >
) =>
  new LambdaInvoke(stack, id, {
    lambdaFunction: fn,
    integrationPattern: IntegrationPattern.WAIT_FOR_TASK_TOKEN,
    payload: TaskInput.fromObject({
      token: JsonPath.taskToken,
      id: JsonPath.stringAt('$.id'),
    }),
    resultPath: '$.reply',
    retryOnServiceExceptions: false,
    ...timeouts,
  });

/** Four small machines around `.waitForTaskToken` and billing. */
const buildCallbackStack = (app: App): void => {
  const stack = new Stack(app, 'EngineCallbacks');
  const notify = lambdaIn(stack, 'NotifyFunction', NOTIFY_ENTRY);
  const flaky = lambdaIn(stack, 'FlakyFunction', FLAKY_ENTRY);

  // TimeoutSecondsPath; retried on Busy, Rejected and States.Timeout caught.
  const ask = notifyTask(stack, notify, 'Ask', {
    taskTimeout: Timeout.at('$.timeoutSeconds'),
  });
  ask.addRetry({
    errors: ['Busy'],
    interval: Duration.seconds(1),
    maxAttempts: 2,
  });
  ask.addCatch(new Succeed(stack, 'Rejected'), {
    errors: ['Rejected'],
    resultPath: '$.failure',
  });
  ask.addCatch(new Succeed(stack, 'NoAnswer'), {
    errors: ['States.Timeout'],
    resultPath: '$.failure',
  });
  addMachine(stack, 'Ask', ask.next(new Succeed(stack, 'Answered')));

  // A fixed TimeoutSeconds; States.TaskFailed must not take the timeout.
  const fixed = notifyTask(stack, notify, 'AskFixed', {
    taskTimeout: Timeout.duration(Duration.seconds(60)),
  });
  fixed.addCatch(new Succeed(stack, 'FixedTaskFailed'), {
    errors: ['States.TaskFailed'],
    resultPath: '$.failure',
  });
  fixed.addCatch(new Succeed(stack, 'FixedTimedOut'), {
    errors: ['States.Timeout'],
    resultPath: '$.failure',
  });
  addMachine(stack, 'Fixed', fixed);

  // HeartbeatSeconds 20 within TimeoutSeconds 120, caught by States.ALL.
  const beat = notifyTask(stack, notify, 'AskWithHeartbeat', {
    taskTimeout: Timeout.duration(Duration.seconds(120)),
    heartbeatTimeout: Timeout.duration(Duration.seconds(20)),
  });
  beat.addCatch(new Succeed(stack, 'GaveUp'), {
    errors: ['States.ALL'],
    resultPath: '$.failure',
  });
  addMachine(stack, 'Heartbeat', beat);

  // Billing: Pass, a task retried twice, a SecondsPath Wait, Choice, Succeed.
  const call = new LambdaInvoke(stack, 'CallFlaky', {
    lambdaFunction: flaky,
    payload: TaskInput.fromJsonPathAt('$'),
    resultPath: JsonPath.DISCARD,
    retryOnServiceExceptions: false,
  });
  call.addRetry({
    errors: ['Busy'],
    interval: Duration.seconds(1),
    maxAttempts: 3,
  });
  addMachine(
    stack,
    'Billing',
    new Pass(stack, 'Begin')
      .next(call)
      .next(new Wait(stack, 'Pause', { time: WaitTime.secondsPath('$.pause') }))
      .next(
        new Choice(stack, 'Done?')
          .when(Condition.isPresent('$.pause'), new Succeed(stack, 'Billed'))
          .otherwise(new Succeed(stack, 'Unbilled'))
      )
  );
};

/** The calls of a fake Lambda, awaitable one by one. */
class Calls {
  readonly payloads: Array<{ token: string; id: string }> = [];
  #waiters: Array<() => void> = [];

  record(payload: unknown): void {
    this.payloads.push(payload as { token: string; id: string });
    for (const wake of this.#waiters.splice(0)) wake();
  }

  /** The n-th call (1-based), once it happened. */
  async nth(n: number): Promise<{ token: string; id: string }> {
    while (this.payloads.length < n) {
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
    return this.payloads[n - 1] as { token: string; id: string };
  }
}

const sleep = (ms: number) =>
  new Promise<void>((resolve) => setTimeout(resolve, ms));

const errorOf = (promise: Promise<unknown>) =>
  promise.then(
    () => undefined,
    (error: unknown) => error as Error
  );

const pendingTimers = () =>
  process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

describe('LocalStateMachine with .waitForTaskToken tasks', () => {
  let templates: Record<string, CfnTemplate>;
  let machine: LocalStateMachine | undefined;
  let calls: Calls;
  let notifyBehaviour: (payload: unknown) => Promise<unknown>;
  let flakyCalls: number;

  const notifyLambda: LocalLambda = async (payload) => {
    calls.record(payload);
    return notifyBehaviour(payload);
  };
  const flakyLambda: LocalLambda = async (payload) => {
    flakyCalls += 1;
    if (flakyCalls <= 2) {
      throw Object.assign(new Error('try later'), { name: 'Busy' });
    }
    return payload;
  };

  const newMachine = (key: string, timeScale = 0.001): LocalStateMachine => {
    const extracted = extractStateMachine(templates, {
      logicalId: machineIds[key],
    });
    machine = new LocalStateMachine(
      extracted.definition,
      createTaskMapper({
        // Never called: these machines use no DynamoDB task.
        dynamodb: new DynamoDBClient({
          region: 'us-east-1',
          endpoint: 'http://127.0.0.1:9',
          credentials: { accessKeyId: 'fake', secretAccessKey: 'fake' },
        }),
        sms: new SmsSink(),
        tableNames: {},
        resources: extracted.resources,
        lambdas: (logicalId, entry) => {
          if (entry === NOTIFY_ENTRY) return notifyLambda;
          if (entry === FLAKY_ENTRY) return flakyLambda;
          throw new Error(`No local function for ${logicalId}`);
        },
      }),
      { timeScale, stateMachineName: extracted.stateMachineName }
    );
    return machine;
  };

  const entered = (local: LocalStateMachine, name: string) =>
    local
      .getExecutionHistory(name)
      .filter((e) => e.type === 'StateEntered')
      .map((e) => ('state' in e ? e.state.name : ''));

  beforeAll(() => {
    templates = synthTemplates({ build: buildCallbackStack });
  });

  beforeEach(() => {
    calls = new Calls();
    notifyBehaviour = async () => ({ sent: true });
    flakyCalls = 0;
  });

  afterEach(async () => {
    await machine?.close();
    machine = undefined;
  });

  it('puts $$.Task.Token in the Lambda payload and ends the task with the SendTaskSuccess output', async () => {
    // Prepare
    const local = newMachine('Ask');
    await local.startExecution({
      name: 'ok-1',
      input: { id: 'm-1', timeoutSeconds: 3600 },
    });
    const { token, id } = await calls.nth(1);

    // Act
    const sent = await local.sendTaskSuccess({
      taskToken: token,
      output: JSON.stringify({ acked: true, at: 'now' }),
    });
    const result = await local.waitForExecution('ok-1');

    // Assess
    expect(id).toBe('m-1');
    expect(typeof token).toBe('string');
    expect(token.length).toBeGreaterThan(100);
    expect(sent).toEqual({});
    expect(result.status).toBe('SUCCEEDED');
    expect(result.output).toEqual({
      id: 'm-1',
      timeoutSeconds: 3600,
      reply: { acked: true, at: 'now' },
    });
    expect(entered(local, 'ok-1')).toEqual(['Ask', 'Answered']);
  });

  it('delivers through LocalTaskCallbacks and rejects output that is not JSON', async () => {
    // Prepare
    const local = newMachine('Ask');
    const callbacks = new LocalTaskCallbacks(() => local);
    await local.startExecution({
      name: 'port-1',
      input: { id: 'm-2', timeoutSeconds: 3600 },
    });
    const { token } = await calls.nth(1);

    // Act
    const notJson = await errorOf(
      local.sendTaskSuccess({ taskToken: token, output: '{oops' })
    );
    const heartbeat = await callbacks.heartbeat(token);
    const succeeded = await callbacks.succeed(token, { acked: 'yes' });
    const result = await local.waitForExecution('port-1');

    // Assess
    expect(notJson?.name).toBe('InvalidOutput');
    expect(heartbeat).toBe('delivered');
    expect(succeeded).toBe('delivered');
    expect(result.status).toBe('SUCCEEDED');
    expect(result.output).toMatchObject({ reply: { acked: 'yes' } });
  });

  it('takes a callback the Lambda sends before it returns', async () => {
    // Prepare
    const local = newMachine('Ask');
    notifyBehaviour = async (payload) => {
      const { token } = payload as { token: string };
      await local.sendTaskSuccess({ taskToken: token, output: '"early"' });
      return { sent: true };
    };

    // Act
    await local.startExecution({
      name: 'early-1',
      input: { id: 'm-13', timeoutSeconds: 3600 },
    });
    const result = await local.waitForExecution('early-1');

    // Assess
    expect(result.status).toBe('SUCCEEDED');
    expect(result.output).toMatchObject({ reply: 'early' });
  });

  it('fails with an empty error name when SendTaskFailure has none, caught by States.ALL', async () => {
    // Prepare
    const local = newMachine('Heartbeat', 1);
    await local.startExecution({ name: 'no-name-1', input: { id: 'm-14' } });
    const { token } = await calls.nth(1);

    // Act
    await local.sendTaskFailure({ taskToken: token });
    const result = await local.waitForExecution('no-name-1');

    // Assess
    expect(result.status).toBe('SUCCEEDED');
    expect(result.output).toMatchObject({ failure: { Error: '', Cause: '' } });
    expect(entered(local, 'no-name-1')).toEqual(['AskWithHeartbeat', 'GaveUp']);
  });

  it('takes the Catch on the SendTaskFailure error name', async () => {
    // Prepare
    const local = newMachine('Ask');
    await local.startExecution({
      name: 'reject-1',
      input: { id: 'm-3', timeoutSeconds: 3600 },
    });
    const { token } = await calls.nth(1);

    // Act
    const sent = await local.sendTaskFailure({
      taskToken: token,
      error: 'Rejected',
      cause: 'the device said no',
    });
    const result = await local.waitForExecution('reject-1');

    // Assess
    expect(sent).toEqual({});
    expect(result.status).toBe('SUCCEEDED');
    expect(result.output).toMatchObject({
      failure: { Error: 'Rejected', Cause: 'the device said no' },
    });
    expect(entered(local, 'reject-1')).toEqual(['Ask', 'Rejected']);
  });

  it('retries on the SendTaskFailure error name with a new token; the old one has timed out', async () => {
    // Prepare
    const local = newMachine('Ask');
    const callbacks = new LocalTaskCallbacks(local);
    await local.startExecution({
      name: 'retry-1',
      input: { id: 'm-4', timeoutSeconds: 3600 },
    });
    const first = await calls.nth(1);

    // Act
    await local.sendTaskFailure({
      taskToken: first.token,
      error: 'Busy',
      cause: 'try later',
    });
    const second = await calls.nth(2);
    const oldToken = await errorOf(
      local.sendTaskSuccess({ taskToken: first.token, output: '{}' })
    );
    const oldViaPort = await callbacks.succeed(first.token, {});
    await local.sendTaskSuccess({
      taskToken: second.token,
      output: '"second time lucky"',
    });
    const result = await local.waitForExecution('retry-1');

    // Assess
    expect(second.token).not.toBe(first.token);
    expect(oldToken?.name).toBe('TaskTimedOut');
    expect(oldToken?.message).toBe(TASK_TIMED_OUT);
    expect(oldViaPort).toBe('expired');
    expect(result.status).toBe('SUCCEEDED');
    expect(result.output).toMatchObject({ reply: 'second time lucky' });
    const retried = local
      .getExecutionHistory('retry-1')
      .filter((e) => e.type === 'StateRetried');
    expect(retried.length).toBe(1);
  });

  it('ends in States.Timeout after TimeoutSecondsPath, scaled, and the Catch takes it', async () => {
    // Prepare
    const local = newMachine('Ask', 0.001);
    const started = Date.now();

    // Act
    await local.startExecution({
      name: 'timeout-path-1',
      input: { id: 'm-5', timeoutSeconds: 60 },
    });
    const result = await local.waitForExecution('timeout-path-1');
    const { token } = await calls.nth(1);
    const late = await errorOf(
      local.sendTaskSuccess({ taskToken: token, output: '{}' })
    );

    // Assess
    expect(Date.now() - started).toBeLessThan(1000);
    expect(result.status).toBe('SUCCEEDED');
    expect(result.output).toMatchObject({
      failure: { Error: 'States.Timeout' },
    });
    expect(entered(local, 'timeout-path-1')).toEqual(['Ask', 'NoAnswer']);
    expect(late?.name).toBe('TaskTimedOut');
  });

  it('fails like Step Functions when TimeoutSecondsPath is not a positive integer', async () => {
    // Prepare
    const local = newMachine('Ask');

    // Act
    await local.startExecution({
      name: 'timeout-bad-1',
      input: { id: 'm-6', timeoutSeconds: 'soon' },
    });
    const result = await local.waitForExecution('timeout-bad-1');

    // Assess
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('States.Runtime');
    expect(calls.payloads).toEqual([]);
  });

  it('ends in States.Timeout after a fixed TimeoutSeconds, which States.TaskFailed does not catch', async () => {
    // Prepare
    const local = newMachine('Fixed', 0.001);
    const started = Date.now();

    // Act
    await local.startExecution({ name: 'timeout-1', input: { id: 'm-7' } });
    const result = await local.waitForExecution('timeout-1');

    // Assess
    expect(Date.now() - started).toBeLessThan(1000);
    expect(result.status).toBe('SUCCEEDED');
    expect(entered(local, 'timeout-1')).toEqual(['AskFixed', 'FixedTimedOut']);
    expect(result.output).toMatchObject({
      failure: { Error: 'States.Timeout' },
    });
  });

  it('stays alive on heartbeats and ends in States.HeartbeatTimeout without them', async () => {
    // Prepare: HeartbeatSeconds 20 → 200 ms, TimeoutSeconds 120 → 1.2 s.
    const local = newMachine('Heartbeat', 0.01);
    await local.startExecution({ name: 'beat-1', input: { id: 'm-8' } });
    await local.startExecution({ name: 'silent-1', input: { id: 'm-9' } });
    const beating = await calls.nth(1);
    const started = Date.now();

    // Act
    while (Date.now() - started < 500) {
      await local.sendTaskHeartbeat({ taskToken: beating.token });
      await sleep(50);
    }
    const aliveAfterBeats = local.describeExecution('beat-1').status;
    await local.sendTaskSuccess({ taskToken: beating.token, output: '1' });
    const beat = await local.waitForExecution('beat-1');
    const silent = await local.waitForExecution('silent-1');

    // Assess
    expect(aliveAfterBeats).toBe('RUNNING');
    expect(beat.status).toBe('SUCCEEDED');
    expect(beat.output).toMatchObject({ reply: 1 });
    expect(silent.status).toBe('SUCCEEDED');
    expect(silent.output).toMatchObject({
      failure: { Error: 'States.HeartbeatTimeout' },
    });
    expect(entered(local, 'silent-1')).toEqual(['AskWithHeartbeat', 'GaveUp']);
  });

  it('answers TaskTimedOut / expired once the task succeeded, InvalidToken for unknown tokens', async () => {
    // Prepare
    const local = newMachine('Ask');
    const callbacks = new LocalTaskCallbacks(local);
    await local.startExecution({
      name: 'used-1',
      input: { id: 'm-10', timeoutSeconds: 3600 },
    });
    const { token } = await calls.nth(1);
    await local.sendTaskSuccess({ taskToken: token, output: '{}' });
    await local.waitForExecution('used-1');

    // Act
    const again = await errorOf(
      local.sendTaskSuccess({ taskToken: token, output: '{}' })
    );
    const failAgain = await errorOf(
      local.sendTaskFailure({ taskToken: token, error: 'X' })
    );
    const beatAgain = await errorOf(
      local.sendTaskHeartbeat({ taskToken: token })
    );
    const unknown = await errorOf(
      local.sendTaskSuccess({ taskToken: 'not-a-token', output: '{}' })
    );
    const empty = await errorOf(local.sendTaskHeartbeat({ taskToken: '' }));
    const viaPort = [
      await callbacks.succeed(token, {}),
      await callbacks.fail(token, 'X', 'y'),
      await callbacks.heartbeat(token),
      await callbacks.succeed('not-a-token', {}),
    ];

    // Assess
    for (const error of [again, failAgain, beatAgain]) {
      expect(error?.name).toBe('TaskTimedOut');
      expect(error?.message).toBe(TASK_TIMED_OUT);
    }
    expect(unknown?.name).toBe('InvalidToken');
    expect(empty?.name).toBe('InvalidToken');
    expect(viaPort).toEqual(['expired', 'expired', 'expired', 'expired']);
  });

  it('fails the task like the request-response form when the Lambda throws before the wait', async () => {
    // Prepare
    const local = newMachine('Ask');
    notifyBehaviour = async () => {
      throw Object.assign(new Error('JPush is down'), { name: 'JPushDown' });
    };

    // Act
    await local.startExecution({
      name: 'throws-1',
      input: { id: 'm-11', timeoutSeconds: 3600 },
    });
    const result = await local.waitForExecution('throws-1');
    const { token } = await calls.nth(1);
    const late = await errorOf(
      local.sendTaskSuccess({ taskToken: token, output: '{}' })
    );

    // Assess
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('JPushDown');
    expect(JSON.parse(result.cause ?? '{}')).toMatchObject({
      errorType: 'JPushDown',
      errorMessage: 'JPush is down',
    });
    expect(late?.name).toBe('TaskTimedOut');
  });

  it('aborts a waiting execution at once, its token then timed out, no timer left', async () => {
    // Prepare
    const timersBefore = pendingTimers();
    const local = newMachine('Heartbeat', 1);
    const callbacks = new LocalTaskCallbacks(local);
    await local.startExecution({ name: 'stop-1', input: { id: 'm-12' } });
    const { token } = await calls.nth(1);
    const timersWhileWaiting = pendingTimers();
    const started = Date.now();

    // Act
    await local.stopExecution('stop-1');
    const result = await local.waitForExecution('stop-1');
    const late = await errorOf(
      local.sendTaskSuccess({ taskToken: token, output: '{}' })
    );
    const viaPort = await callbacks.heartbeat(token);
    await local.close();
    await sleep(10);

    // Assess
    expect(Date.now() - started).toBeLessThan(500);
    expect(result.status).toBe('ABORTED');
    expect(late?.name).toBe('TaskTimedOut');
    expect(viaPort).toBe('expired');
    expect(timersWhileWaiting).toBeGreaterThan(timersBefore);
    expect(pendingTimers()).toBeLessThanOrEqual(timersBefore);
  });

  it('counts the billed transitions: states entered plus retries', async () => {
    // Prepare
    const local = newMachine('Billing', 0.001);

    // Act
    await local.startExecution({ name: 'bill-1', input: { pause: 30 } });
    const result = await local.waitForExecution('bill-1');

    // Assess
    expect(result.status).toBe('SUCCEEDED');
    expect(flakyCalls).toBe(3);
    expect(entered(local, 'bill-1')).toEqual([
      'Begin',
      'CallFlaky',
      'Pause',
      'Done?',
      'Billed',
    ]);
    // 5 states entered + 2 retries of CallFlaky.
    expect(local.billedTransitions('bill-1')).toBe(7);
    expect(local.billedTransitions(result.executionArn)).toBe(7);
  });
});
