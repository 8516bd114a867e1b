import { createRequire } from 'node:module';
import { GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { type App, Duration, Stack } from 'aws-cdk-lib';
import { AttributeType, BillingMode, Table } from 'aws-cdk-lib/aws-dynamodb';
import {
  type CfnFunction,
  Code,
  Function as LambdaFunction,
  Runtime,
} from 'aws-cdk-lib/aws-lambda';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { Queue } from 'aws-cdk-lib/aws-sqs';
import {
  Choice,
  Condition,
  DefinitionBody,
  JitterType,
  JsonPath,
  StateMachine,
  Succeed,
  TaskInput,
  Wait,
  WaitTime,
} from 'aws-cdk-lib/aws-stepfunctions';
import {
  DynamoAttributeValue,
  DynamoGetItem,
  DynamoUpdateItem,
  LambdaInvoke,
  SnsPublish,
  SqsSendMessage,
} from 'aws-cdk-lib/aws-stepfunctions-tasks';
import {
  afterAll,
  afterEach,
  beforeAll,
  beforeEach,
  describe,
  expect,
  it,
} from 'vitest';
import {
  type CfnTemplate,
  createTablesFromTemplate,
  type LocalDynamo,
  startDynalite,
} from '../../local/dynamo.ts';
import {
  createTaskMapper,
  type ExtractedStateMachine,
  extractStateMachine,
  type LocalLambda,
  LocalStateMachine,
  synthTemplates,
} from '../../local/engine/index.ts';
import { SmsSink } from '../../local/sms-sink.ts';

type AslValidator = (
  definition: unknown,
  options?: { checkArn?: boolean; checkPaths?: boolean }
) => { isValid: boolean; errorsText: (separator?: string) => string };
const aslValidator = createRequire(import.meta.url)(
  'asl-validator'
) as AslValidator;

const PUSH_ENTRY = 'functions/handlers/push.ts';

/** A small stack using every integration the delivery machine will use. */
const buildTestStack = (app: App): void => {
  const stack = new Stack(app, 'EngineTest');
  const table = new Table(stack, 'DeliveriesTable', {
    partitionKey: { name: 'id', type: AttributeType.STRING },
    billingMode: BillingMode.PAY_PER_REQUEST,
  });
  const topic = new Topic(stack, 'EscalationTopic');
  const push = new LambdaFunction(stack, 'PushFunction', {
    runtime: Runtime.NODEJS_22_X,
    handler: 'index.handler',
    code: Code.fromInline('exports.handler = async () => ({});'),
  });
  // What the project's ServiceFunction construct adds to each function.
  (push.node.defaultChild as CfnFunction).addMetadata('LocalEntry', PUSH_ENTRY);

  const claim = new DynamoUpdateItem(stack, 'Claim', {
    table,
    key: { id: DynamoAttributeValue.fromString(JsonPath.stringAt('$.id')) },
    updateExpression: 'SET #s = :claimed, claimedAt = :at',
    conditionExpression: 'attribute_not_exists(#s)',
    expressionAttributeNames: { '#s': 'status' },
    expressionAttributeValues: {
      ':claimed': DynamoAttributeValue.fromString('claimed'),
      ':at': DynamoAttributeValue.fromString(
        JsonPath.stringAt('$$.State.EnteredTime')
      ),
    },
    resultPath: JsonPath.DISCARD,
  });
  const alreadyClaimed = new Succeed(stack, 'AlreadyClaimed');
  claim.addCatch(alreadyClaimed, {
    errors: ['DynamoDB.ConditionalCheckFailedException'],
    resultPath: '$.claimError',
  });
  const invoke = new LambdaInvoke(stack, 'Push', {
    lambdaFunction: push,
    payload: TaskInput.fromObject({
      id: JsonPath.stringAt('$.id'),
      acked: JsonPath.stringAt('$.acked'),
    }),
    resultPath: '$.push',
  });
  invoke.addRetry({
    errors: ['RateLimitedError'],
    interval: Duration.seconds(2),
    maxAttempts: 3,
    backoffRate: 2,
    jitterStrategy: JitterType.FULL,
    maxDelay: Duration.seconds(30),
  });
  const wait = new Wait(stack, 'WaitForReceipt', {
    time: WaitTime.secondsPath('$.waitSeconds'),
  });
  const read = new DynamoGetItem(stack, 'ReadDelivery', {
    table,
    key: { id: DynamoAttributeValue.fromString(JsonPath.stringAt('$.id')) },
    resultPath: '$.read',
  });
  const escalate = new SnsPublish(stack, 'Escalate', {
    topic,
    message: TaskInput.fromText(
      JsonPath.format('Message {} was not delivered', JsonPath.stringAt('$.id'))
    ),
    resultPath: '$.sns',
  });
  escalate.addRetry({
    errors: ['SNS.InternalErrorException'],
    interval: Duration.seconds(5),
    maxAttempts: 2,
  });
  const definition = claim
    .next(invoke)
    .next(wait)
    .next(read)
    .next(
      new Choice(stack, 'Acknowledged?')
        .when(
          Condition.booleanEquals('$.push.Payload.acked', true),
          new Succeed(stack, 'Delivered')
        )
        .otherwise(escalate.next(new Succeed(stack, 'Escalated')))
    );
  new StateMachine(stack, 'DeliveryCycle', {
    definitionBody: DefinitionBody.fromChainable(definition),
  });
};

/** The same shape with a task the local engine has no stand-in for. */
const buildUnsupportedStack = (app: App): void => {
  const stack = new Stack(app, 'EngineUnsupported');
  const queue = new Queue(stack, 'Outbox');
  new StateMachine(stack, 'Machine', {
    definitionBody: DefinitionBody.fromChainable(
      new SqsSendMessage(stack, 'Enqueue', {
        queue,
        messageBody: TaskInput.fromJsonPathAt('$'),
      })
    ),
  });
};

/** A table in one stack read by a state machine in another. */
const buildCrossStackApp = (app: App): void => {
  const data = new Stack(app, 'EngineData');
  const table = new Table(data, 'ItemsTable', {
    partitionKey: { name: 'id', type: AttributeType.STRING },
    billingMode: BillingMode.PAY_PER_REQUEST,
  });
  const service = new Stack(app, 'EngineService');
  new StateMachine(service, 'Reader', {
    definitionBody: DefinitionBody.fromChainable(
      new DynamoGetItem(service, 'Read', {
        table,
        key: { id: DynamoAttributeValue.fromString(JsonPath.stringAt('$.id')) },
      })
    ),
  });
};

describe('extractStateMachine', () => {
  it('follows cross-stack imports to the local table name', () => {
    // Prepare
    const templates = synthTemplates({ build: buildCrossStackApp });

    // Act
    const extracted = extractStateMachine(templates, { prefix: 'x-' });

    // Assess
    expect(extracted.stackName).toBe('EngineService');
    const read = extracted.definition.States.Read as unknown as {
      Parameters: { TableName: string };
    };
    expect(read.Parameters.TableName).toMatch(/^x-ItemsTable[0-9A-F]{8}$/);
  });
});

describe('LocalStateMachine on a synthesized CDK state machine', () => {
  let dynamo: LocalDynamo;
  let templates: Record<string, CfnTemplate>;
  let extracted: ExtractedStateMachine;
  let tableNames: Record<string, string>;
  let machine: LocalStateMachine | undefined;
  let sms: SmsSink;
  let pushCalls: unknown[];
  let pushBehaviour: (payload: unknown, call: number) => Promise<unknown>;

  const pushLambda: LocalLambda = async (payload) => {
    pushCalls.push(payload);
    return pushBehaviour(payload, pushCalls.length);
  };

  const newMachine = (timeScale = 0.001): LocalStateMachine => {
    machine = new LocalStateMachine(
      extracted.definition,
      createTaskMapper({
        dynamodb: dynamo.client,
        sms,
        tableNames,
        resources: extracted.resources,
        lambdas: (logicalId, entry) => {
          if (entry === PUSH_ENTRY) return pushLambda;
          throw new Error(`No local function for ${logicalId}`);
        },
      }),
      { timeScale, stateMachineName: extracted.stateMachineName }
    );
    return machine;
  };

  const input = (id: string, overrides: Record<string, unknown> = {}) => ({
    id,
    acked: true,
    waitSeconds: 60,
    ...overrides,
  });

  beforeAll(async () => {
    templates = synthTemplates({ build: buildTestStack });
    const template = templates.EngineTest;
    if (!template) throw new Error('EngineTest stack not synthesized');
    dynamo = await startDynalite();
    tableNames = await createTablesFromTemplate(dynamo.client, template, {
      prefix: 'engine-',
    });
    extracted = extractStateMachine(templates, { prefix: 'engine-' });
  });

  afterAll(async () => {
    await dynamo.close();
  });

  beforeEach(() => {
    sms = new SmsSink();
    pushCalls = [];
    pushBehaviour = async (payload) => payload;
  });

  afterEach(async () => {
    await machine?.close();
    machine = undefined;
  });

  it('extracts a definition that asl-validator accepts with ARN and path checks', () => {
    // Prepare
    const { definition } = extracted;

    // Act
    const result = aslValidator(definition, {
      checkArn: true,
      checkPaths: true,
    });

    // Assess
    expect(result.errorsText('\n')).toBe('');
    expect(result.isValid).toBe(true);
    const claim = definition.States.Claim as unknown as {
      Parameters: { TableName: string };
    };
    expect(claim.Parameters.TableName).toMatch(/^engine-DeliveriesTable/);
    const push = definition.States.Push as unknown as {
      Parameters: { FunctionName: string };
    };
    expect(push.Parameters.FunctionName).toMatch(
      /^arn:aws:lambda:us-east-1:123456789012:function:PushFunction/
    );
  });

  it('wraps lambda results in Payload and runs the machine against dynalite', async () => {
    // Prepare
    const local = newMachine();

    // Act
    await local.startExecution({ name: 'happy-1', input: input('happy-1') });
    const result = await local.waitForExecution('happy-1');

    // Assess
    expect(result.status).toBe('SUCCEEDED');
    const output = result.output as {
      push: { Payload: unknown; StatusCode: number; ExecutedVersion: string };
      read: { Item: { status: { S: string }; claimedAt: { S: string } } };
    };
    expect(output.push.Payload).toEqual({ id: 'happy-1', acked: true });
    expect(output.push.StatusCode).toBe(200);
    expect(output.push.ExecutedVersion).toBe('$LATEST');
    expect(output.read.Item.status.S).toBe('claimed');
    const claimedAt = Date.parse(output.read.Item.claimedAt.S);
    expect(claimedAt).toBeGreaterThanOrEqual(result.startDate.getTime());
    expect(claimedAt).toBeLessThanOrEqual(Date.now());
    expect(sms.list()).toEqual([]);
  });

  it('retries the lambda on the thrown error name and fails on others', async () => {
    // Prepare
    const local = newMachine();
    pushBehaviour = async (payload, call) => {
      const { id } = payload as { id: string };
      if (id === 'retry-1' && call <= 2) {
        throw Object.assign(new Error('429 from JPush'), {
          name: 'RateLimitedError',
        });
      }
      if (id === 'bad-1') {
        throw Object.assign(new Error('audience is empty'), {
          name: 'BadInputError',
        });
      }
      return payload;
    };

    const started = Date.now();

    // Act
    await local.startExecution({ name: 'retry-1', input: input('retry-1') });
    const retried = await local.waitForExecution('retry-1');
    const retryMs = Date.now() - started;
    const callsForRetry = pushCalls.length;
    await local.startExecution({ name: 'bad-1', input: input('bad-1') });
    const failed = await local.waitForExecution('bad-1');

    // Assess
    expect(retried.status).toBe('SUCCEEDED');
    expect(callsForRetry).toBe(3);
    // Unscaled, the two pauses (2 s, then 4 s, full jitter) average 3 s.
    expect(retryMs).toBeLessThan(1000);
    const retries = local
      .getExecutionHistory('retry-1')
      .filter((e) => e.type === 'StateRetried');
    expect(retries.length).toBe(2);
    expect(failed.status).toBe('FAILED');
    expect(failed.error).toBe('BadInputError');
    expect(JSON.parse(failed.cause ?? '{}')).toMatchObject({
      errorType: 'BadInputError',
      errorMessage: 'audience is empty',
    });
    expect(pushCalls.length).toBe(callsForRetry + 1);
  });

  it('takes the ConditionalCheckFailed catch path when the item is already claimed', async () => {
    // Prepare
    const local = newMachine();
    await dynamo.client.send(
      new PutItemCommand({
        TableName: Object.values(tableNames)[0],
        Item: { id: { S: 'claimed-1' }, status: { S: 'claimed' } },
      })
    );

    // Act
    await local.startExecution({
      name: 'claimed-1',
      input: input('claimed-1'),
    });
    const result = await local.waitForExecution('claimed-1');

    // Assess
    expect(result.status).toBe('SUCCEEDED');
    expect(result.output).toMatchObject({
      claimError: { Error: 'DynamoDB.ConditionalCheckFailedException' },
    });
    expect(pushCalls).toEqual([]);
  });

  it('records exactly one SMS when the SNS publish is retried after a failure', async () => {
    // Prepare
    const local = newMachine();
    sms.failNext(1);

    // Act
    await local.startExecution({
      name: 'escalate-1',
      input: input('escalate-1', { acked: false }),
    });
    const result = await local.waitForExecution('escalate-1');

    // Assess
    expect(result.status).toBe('SUCCEEDED');
    const sent = sms.list();
    expect(sent.length).toBe(1);
    expect(sent[0]?.text).toBe('Message escalate-1 was not delivered');
    expect(sent[0]?.to).toMatch(/^EscalationTopic/);
    expect(
      local
        .getExecutionHistory('escalate-1')
        .filter((e) => e.type === 'StateRetried')
        .map((e) => ('state' in e ? e.state.name : ''))
    ).toEqual(['Escalate']);
    expect(result.output).toMatchObject({
      sns: { MessageId: expect.any(String) },
    });
  });

  it('finishes a 60 s Wait in well under a second with timeScale 0.001', async () => {
    // Prepare
    const local = newMachine(0.001);
    const started = Date.now();

    // Act
    await local.startExecution({
      name: 'wait-1',
      input: input('wait-1', { waitSeconds: 60 }),
    });
    const result = await local.waitForExecution('wait-1');

    // Assess
    expect(result.status).toBe('SUCCEEDED');
    expect(Date.now() - started).toBeLessThan(1000);
    expect(result.output).toMatchObject({ waitSeconds: 60 });
  });

  it('fails like Step Functions when SecondsPath is not a non-negative integer', async () => {
    // Prepare
    const local = newMachine();

    // Act
    await local.startExecution({
      name: 'wait-bad',
      input: input('wait-bad', { waitSeconds: 'soon' }),
    });
    const result = await local.waitForExecution('wait-bad');

    // Assess
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('States.Runtime');
  });

  it('starts one execution for the same name and input twice', async () => {
    // Prepare
    const local = newMachine();
    const same = input('twice-1', { waitSeconds: 300 });

    // Act
    const first = await local.startExecution({ name: 'twice-1', input: same });
    const second = await local.startExecution({ name: 'twice-1', input: same });
    const result = await local.waitForExecution('twice-1');

    // Assess
    expect(second).toEqual(first);
    expect(local.listExecutions().length).toBe(1);
    expect(result.status).toBe('SUCCEEDED');
    expect(pushCalls.length).toBe(1);
  });

  it('throws ExecutionAlreadyExists for the same name with another input or once closed', async () => {
    // Prepare
    const local = newMachine();
    await local.startExecution({
      name: 'dup-1',
      input: input('dup-1', { waitSeconds: 300 }),
    });

    // Act
    const differentInput = await local
      .startExecution({
        name: 'dup-1',
        input: input('dup-1', { waitSeconds: 301 }),
      })
      .catch((error: unknown) => error);
    await local.waitForExecution('dup-1');
    const afterClose = await local
      .startExecution({
        name: 'dup-1',
        input: input('dup-1', { waitSeconds: 300 }),
      })
      .catch((error: unknown) => error);

    // Assess
    expect(differentInput).toMatchObject({ name: 'ExecutionAlreadyExists' });
    expect(afterClose).toMatchObject({ name: 'ExecutionAlreadyExists' });
    expect(local.listExecutions().length).toBe(1);
  });

  it('rejects execution names that Step Functions rejects', async () => {
    // Prepare
    const local = newMachine();
    const bad = [
      '',
      'a'.repeat(81),
      'has space',
      'a/b',
      'a:b',
      'tab\there',
      'x\u0001',
    ];

    // Act
    const outcomes = await Promise.allSettled(
      bad.map((name) => local.startExecution({ name, input: input('n') }))
    );

    // Assess
    for (const outcome of outcomes) {
      expect(outcome.status).toBe('rejected');
      expect(outcome.status === 'rejected' && outcome.reason.name).toBe(
        'InvalidName'
      );
    }
    expect(local.listExecutions()).toEqual([]);
  });

  it('aborts a running execution and calls no task after that', async () => {
    // Prepare
    const local = newMachine(1);
    await local.startExecution({
      name: 'stop-1',
      input: input('stop-1', { waitSeconds: 3600 }),
    });
    await new Promise((resolve) => setTimeout(resolve, 200));

    // Act
    await local.stopExecution('stop-1');
    const result = await local.waitForExecution('stop-1');
    await new Promise((resolve) => setTimeout(resolve, 50));

    // Assess
    expect(result.status).toBe('ABORTED');
    expect(result.stopDate).toBeInstanceOf(Date);
    expect(pushCalls.length).toBe(1);
    const { Item } = await dynamo.client.send(
      new GetItemCommand({
        TableName: Object.values(tableNames)[0],
        Key: { id: { S: 'stop-1' } },
      })
    );
    expect(Item?.status?.S).toBe('claimed');
  });

  it('scales each retry pause per attempt, honouring BackoffRate', async () => {
    // Prepare
    const events: string[] = [];
    const local = new LocalStateMachine(
      {
        StartAt: 'Flaky',
        States: {
          Flaky: {
            Type: 'Task',
            Resource: 'arn:aws:states:::lambda:invoke',
            Parameters: {
              FunctionName:
                'arn:aws:lambda:us-east-1:123456789012:function:Flaky',
              'Payload.$': '$',
            },
            Retry: [
              {
                ErrorEquals: ['Busy'],
                IntervalSeconds: 1,
                BackoffRate: 10,
                MaxAttempts: 2,
              },
            ],
            End: true,
          },
        },
      },
      createTaskMapper({
        dynamodb: dynamo.client,
        sms,
        tableNames,
        lambdas: () => async () => {
          throw Object.assign(new Error('busy'), { name: 'Busy' });
        },
      }),
      { timeScale: 0.01, onEvent: ({ event }) => events.push(event.type) }
    );
    machine = local;

    // Act
    await local.startExecution({ name: 'backoff-1' });
    const result = await local.waitForExecution('backoff-1');

    // Assess
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('Busy');
    const history = local.getExecutionHistory('backoff-1');
    const failedAt = history
      .filter((e) => e.type === 'StateFailed')
      .map((e) => e.timestamp);
    const retriedAt = history
      .filter((e) => e.type === 'StateRetried')
      .map((e) => e.timestamp);
    expect(retriedAt.length).toBe(2);
    // 1 s then 10 s, scaled by 0.01: 10 ms then 100 ms.
    const pauses = retriedAt.map((at, i) => at - (failedAt[i] ?? at));
    expect(pauses[0]).toBeGreaterThanOrEqual(9);
    expect(pauses[0]).toBeLessThan(90);
    expect(pauses[1]).toBeGreaterThanOrEqual(99);
    expect(pauses[1]).toBeLessThan(600);
    expect(events).toContain('StateRetried');
    expect(events.at(-1)).toBe('ExecutionFailed');
  });

  it('fails at construction, not mid-run, for a resource with no local stand-in', () => {
    // Prepare
    const unsupported = extractStateMachine(
      synthTemplates({ build: buildUnsupportedStack })
    );
    const mapper = createTaskMapper({
      dynamodb: dynamo.client,
      sms,
      tableNames,
      lambdas: () => pushLambda,
    });

    // Act
    const construct = () =>
      new LocalStateMachine(unsupported.definition, mapper);

    // Assess
    expect(construct).toThrow(
      'Task state "Enqueue": not supported locally: arn:aws:states:::sqs:sendMessage'
    );
  });
});
