import { createRequire } from 'node:module';
import { App } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  ENV,
  METRIC,
  METRICS_NAMESPACE,
  SERVICE_NAME,
} from '../../../functions/shared/names.ts';
import { buildApp } from '../../../infra/app.ts';
import type { CfnTemplate } from '../../../local/dynamo.ts';
import { extractStateMachine } from '../../../local/engine/index.ts';

type AslValidator = (
  definition: unknown,
  options?: { checkArn?: boolean; checkPaths?: boolean }
) => { isValid: boolean; errorsText: (separator?: string) => string };
const aslValidator = createRequire(import.meta.url)(
  'asl-validator'
) as AslValidator;

type Resource = {
  Type: string;
  Properties: Record<string, unknown>;
  Metadata?: Record<string, unknown>;
};
type Statement = {
  Sid?: string;
  Action: string | string[];
  Effect: string;
  Principal?: unknown;
  Resource?: unknown;
  NotResource?: unknown;
  Condition?: Record<string, Record<string, unknown>>;
};

let template: Template;
let resources: Record<string, Resource>;
let dataTemplate: Template;
let stateMachineName: string;

beforeAll(() => {
  // No bundling: the templates are what matters here, not the bundles.
  const { service, data, config } = buildApp(
    new App({ context: { 'aws:cdk:bundling-stacks': [] } })
  );
  template = Template.fromStack(service);
  dataTemplate = Template.fromStack(data);
  resources = template.toJSON().Resources as Record<string, Resource>;
  stateMachineName = `PushDelivery-${config.stage}`;
});

const functionIds = () =>
  Object.entries(resources)
    .filter(([, r]) => r.Type === 'AWS::Lambda::Function')
    .map(([id]) => id);

/** The logical id of the function whose construct id starts with `name`. */
const functionId = (name: string): string => {
  const id = functionIds().find((i) => i.startsWith(name));
  if (!id) throw new Error(`No function ${name} in the service stack`);
  return id;
};

/** Every IAM statement attached to a function's role. */
const statementsOf = (fnId: string): Statement[] => {
  const fn = resources[fnId];
  if (!fn) throw new Error(`No resource ${fnId}`);
  return statementsOfRole(
    (fn.Properties.Role as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0]
  );
};

/** Every IAM statement attached to a role, by its logical id. */
const statementsOfRole = (role: string): Statement[] =>
  Object.values(resources)
    .filter(
      (r) =>
        r.Type === 'AWS::IAM::Policy' &&
        JSON.stringify(r.Properties.Roles).includes(`"${role}"`)
    )
    .flatMap(
      (r) =>
        (r.Properties.PolicyDocument as { Statement: Statement[] }).Statement
    );

/** A resource's properties, by its logical id. */
const propsOf = (id: string): Record<string, unknown> => {
  const resource = resources[id];
  if (!resource) throw new Error(`No resource ${id}`);
  return resource.Properties;
};

const actionsOf = (statements: Statement[]) =>
  statements.flatMap((s) => (Array.isArray(s.Action) ? s.Action : [s.Action]));

/** Functions whose role may read the secret exported under `exportPart`. */
const secretReaders = (exportPart: string) =>
  functionIds().filter((id) =>
    statementsOf(id).some(
      (s) =>
        actionsOf([s]).includes('secretsmanager:GetSecretValue') &&
        JSON.stringify(s.Resource).includes(exportPart)
    )
  );

const DYNAMO_READ = new Set([
  'dynamodb:BatchGetItem',
  'dynamodb:Query',
  'dynamodb:GetItem',
  'dynamodb:Scan',
  'dynamodb:ConditionCheckItem',
  'dynamodb:DescribeTable',
  'dynamodb:GetRecords',
  'dynamodb:GetShardIterator',
]);

describe('ServiceStack functions', () => {
  it('run every function on Node 22 or newer, arm64, traced, with explicit timeout and memory', () => {
    // Act
    const functions = functionIds().map((id) => [id, resources[id]] as const);

    // Assess
    expect(functions.length).toBeGreaterThanOrEqual(5);
    for (const [id, fn] of functions) {
      const props = fn?.Properties ?? {};
      const major = Number(/^nodejs(\d+)\.x$/.exec(String(props.Runtime))?.[1]);
      expect(major, `${id} runtime`).toBeGreaterThanOrEqual(22);
      expect(props.Architectures, id).toEqual(['arm64']);
      expect(props.TracingConfig, id).toEqual({ Mode: 'Active' });
      expect(props.Timeout, id).toEqual(expect.any(Number));
      expect(props.MemorySize, id).toEqual(expect.any(Number));
      expect(fn?.Metadata?.LocalEntry, id).toMatch(
        /^functions\/handlers\/[a-z-]+\.ts$/
      );
    }
  });

  it('lets the status function only read the messages table, and no secret', () => {
    // Prepare
    const statements = statementsOf(functionId('GetMessageFunction'));

    // Act
    const dynamo = statements.filter((s) =>
      actionsOf([s]).some((a) => a.startsWith('dynamodb:'))
    );
    const others = actionsOf(statements).filter(
      (a) => !a.startsWith('dynamodb:')
    );

    // Assess
    expect(dynamo.length).toBeGreaterThan(0);
    for (const action of actionsOf(dynamo)) {
      expect(DYNAMO_READ.has(action), action).toBe(true);
    }
    for (const s of dynamo) {
      expect(JSON.stringify(s.Resource)).toContain('MessagesTable');
      expect(JSON.stringify(s.Resource)).not.toMatch(
        /Sessions|Devices|OfflineStore|History/
      );
    }
    expect(
      others.every((a) => a.startsWith('logs:') || a.startsWith('xray:'))
    ).toBe(true);
    expect(JSON.stringify(statements)).not.toContain('secretsmanager');
  });

  it('lets only the functions that call JPush read the JPush credentials', () => {
    // Act
    const readers = secretReaders('JPushCredentials');

    // Assess
    expect(readers).toEqual(
      expect.arrayContaining([
        functionId('PushFunction'),
        functionId('CheckReportFunction'),
      ])
    );
    for (const name of [
      'SendMessageFunction',
      'GetMessageFunction',
      'AckMessageFunction',
    ]) {
      expect(readers).not.toContain(functionId(name));
    }
    for (const id of readers) {
      const env = JSON.stringify(resources[id]?.Properties.Environment);
      expect(env, id).toContain('JPUSH_CREDENTIALS_SECRET_ARN');
    }
  });

  it('lets only the functions that build pushes, and the ACK function, read the ACK signing key', () => {
    // Act
    const readers = secretReaders('AckSigningKey');

    // Assess: the Push function builds pushes; login, logout, cancelling
    // and the withdrawal sweeper may send a push whose answer was lost again
    // (same cid, same payload, ACK token included) before withdrawing it.
    expect([...readers].sort()).toEqual(
      [
        functionId('PushFunction'),
        functionId('AckMessageFunction'),
        functionId('LoginFunction'),
        functionId('LogoutFunction'),
        functionId('WithdrawSweeperFunction'),
        functionId('CancelMessageFunction'),
      ].sort()
    );
    for (const name of [
      'SendMessageFunction',
      'GetMessageFunction',
      'CheckReportFunction',
      'EscalateFunction',
      'HistoryFunction',
    ]) {
      expect(readers).not.toContain(functionId(name));
    }
  });

  it('never passes a secret value in an environment variable', () => {
    // Act
    const env = functionIds().map((id) =>
      JSON.stringify(resources[id]?.Properties.Environment ?? {})
    );

    // Assess
    for (const text of env) {
      expect(text).not.toContain('resolve:secretsmanager');
      expect(text).not.toMatch(/masterSecret/i);
    }
  });

  it('allows states:StartExecution, SendTaskSuccess and SendTaskHeartbeat only on the delivery state machine', () => {
    // Prepare
    const machineArn = `:stateMachine:${stateMachineName}`;
    const statesActionsOf = (fnId: string) =>
      actionsOf(statementsOf(fnId)).filter((a) => a.startsWith('states:'));

    // Act
    const grants = functionIds().flatMap((id) =>
      statementsOf(id).filter((s) =>
        actionsOf([s]).some((a) => a.startsWith('states:'))
      )
    );
    const endingWaits = functionIds().filter((id) =>
      statesActionsOf(id).includes('states:SendTaskSuccess')
    );

    // Assess
    expect(grants.length).toBeGreaterThan(0);
    for (const grant of grants) {
      expect([
        'states:StartExecution',
        'states:SendTaskSuccess',
        'states:SendTaskHeartbeat',
      ]).toEqual(expect.arrayContaining(actionsOf([grant])));
      const targets = Array.isArray(grant.Resource)
        ? grant.Resource
        : [grant.Resource];
      for (const target of targets) {
        expect(JSON.stringify(target)).toContain(machineArn);
        expect(JSON.stringify(target)).not.toContain('*');
      }
    }
    // The Push step ends its own wait; the ACK ends the wait of the step,
    // cancelling a message its delivery's, and erasing a user the waits of
    // their running deliveries.
    expect([...endingWaits].sort()).toEqual(
      [
        functionId('PushFunction'),
        functionId('AckMessageFunction'),
        functionId('CancelMessageFunction'),
        functionId('EraseUserFunction'),
      ].sort()
    );
    expect(statesActionsOf(functionId('GetMessageFunction'))).toEqual([]);
    // Only the Push step asks whether its own wait still runs.
    expect(
      functionIds().filter((id) =>
        statesActionsOf(id).includes('states:SendTaskHeartbeat')
      )
    ).toEqual([functionId('PushFunction')]);
    template.hasResourceProperties('AWS::StepFunctions::StateMachine', {
      StateMachineName: stateMachineName,
    });
  });
});

describe('ServiceStack delivery state machine', () => {
  const definition = () =>
    extractStateMachine({
      Data: dataTemplate.toJSON() as CfnTemplate,
      Service: template.toJSON() as CfnTemplate,
    }).definition as unknown as {
      States: Record<string, Record<string, unknown>>;
    };

  it('is a Standard state machine with tracing, logging errors without execution data', () => {
    // Assess
    template.resourceCountIs('AWS::StepFunctions::StateMachine', 1);
    template.hasResourceProperties('AWS::StepFunctions::StateMachine', {
      StateMachineType: 'STANDARD',
      TracingConfiguration: { Enabled: true },
      LoggingConfiguration: {
        Level: 'ERROR',
        IncludeExecutionData: false,
        Destinations: [
          {
            CloudWatchLogsLogGroup: {
              LogGroupArn: Match.anyValue(),
            },
          },
        ],
      },
    });
  });

  it('is a valid Amazon States Language definition', () => {
    // Act
    const result = aslValidator(definition(), {
      checkArn: true,
      checkPaths: true,
    });

    // Assess
    expect(result.errorsText('\n')).toBe('');
    expect(result.isValid).toBe(true);
  });

  it('gives every Task state a timeout, the Push step the message interval', () => {
    // Act
    const tasks = Object.entries(definition().States).filter(
      ([, state]) => state.Type === 'Task'
    );

    // Assess
    expect(tasks.map(([name]) => name).sort()).toEqual(
      ['CheckReport', 'Escalate', 'Push'].sort()
    );
    for (const [name, state] of tasks) {
      if (name === 'Push') {
        // The wait for the ACK ends when the interval has passed.
        expect(state.TimeoutSecondsPath, name).toBe('$.intervalSeconds');
      } else {
        expect(state.TimeoutSeconds, name).toEqual(expect.any(Number));
      }
    }
  });

  it('runs the Push step with a task token that the ACK ends', () => {
    // Act
    const push = definition().States.Push ?? {};

    // Assess
    expect(push.Resource).toBe(
      'arn:aws:states:::lambda:invoke.waitForTaskToken'
    );
    expect(
      (push.Parameters as { Payload: Record<string, unknown> }).Payload
    ).toMatchObject({
      'messageId.$': '$.messageId',
      'delivery.$': '$.delivery',
      'attempt.$': '$.cycle.attempt',
      'taskToken.$': '$$.Task.Token',
    });
    expect(push.Catch).toEqual([
      expect.objectContaining({
        ErrorEquals: ['States.Timeout'],
        ResultPath: '$.wait',
        Next: 'CheckReport',
      }),
      expect.objectContaining({
        ErrorEquals: ['States.ALL'],
        ResultPath: '$.wait',
        Next: 'WaitAfterFailure',
      }),
    ]);
    expect(definition().States.WaitAfterFailure).toMatchObject({
      Type: 'Wait',
      SecondsPath: '$.intervalSeconds',
      Next: 'CheckReport',
    });
  });

  it('retries JPush faults on Push with full jitter and a delay cap, and paces a rate limit instead of retrying it', () => {
    // Act
    const states = definition().States;

    // Assess
    const retries = (states.Push?.Retry ?? []) as Array<
      Record<string, unknown>
    >;
    expect(retries).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          ErrorEquals: expect.arrayContaining([
            'JPushServerError',
            'JPushUnknownOutcomeError',
          ]),
          JitterStrategy: 'FULL',
          MaxDelaySeconds: expect.any(Number),
          BackoffRate: expect.any(Number),
        }),
      ])
    );
    // A 429 never fails the step: it ends with `paced` and waits for the
    // window. And the interval ending is caught, not retried.
    const retried = retries.flatMap((r) => r.ErrorEquals as string[]);
    expect(retried).not.toContain('JPushRateLimitError');
    expect(retried).not.toContain('States.Timeout');
    expect(states.AfterPush?.Choices).toEqual(
      expect.arrayContaining([
        {
          Variable: '$.push.outcome',
          StringEquals: 'paced',
          Next: 'WaitForJPush',
        },
        {
          Variable: '$.push.outcome',
          StringEquals: 'acknowledged',
          Next: 'Acknowledged',
        },
      ])
    );
    expect(states.WaitForJPush).toMatchObject({
      Type: 'Wait',
      SecondsPath: '$.push.waitSeconds',
      Next: 'Push',
    });
    // Check Report tolerates the Report API failing: only Lambda is retried.
    const checkRetries = (
      (states.CheckReport?.Retry ?? []) as Array<Record<string, unknown>>
    ).flatMap((r) => r.ErrorEquals as string[]);
    expect(checkRetries.filter((e) => e.startsWith('JPush'))).toEqual([]);
    expect(checkRetries).toEqual(
      expect.arrayContaining(['Lambda.TooManyRequestsException'])
    );
  });

  it('decides in the Check Report step: push again, escalate, or end', () => {
    // Act
    const states = definition().States;

    // Assess
    expect(states.CheckReport?.ResultSelector).toEqual({
      'action.$': '$.Payload.action',
      'attempt.$': '$.Payload.attempt',
    });
    expect(states.CheckReport?.ResultPath).toBe('$.cycle');
    expect(states.Decide?.Choices).toEqual([
      { Variable: '$.cycle.action', StringEquals: 'push', Next: 'Push' },
      {
        Variable: '$.cycle.action',
        StringEquals: 'escalate',
        Next: 'Escalate',
      },
      {
        Variable: '$.cycle.action',
        StringEquals: 'acknowledged',
        Next: 'Acknowledged',
      },
    ]);
    expect(states.Decide?.Default).toBe('Finished');
    expect(states.Escalate?.Next).toBe('Escalated');
  });

  it('publishes escalations to an encrypted topic that requires TLS', () => {
    // Assess
    template.hasResourceProperties('AWS::SNS::Topic', {
      KmsMasterKeyId: Match.anyValue(),
    });
    template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Deny',
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          }),
        ]),
      },
    });
    template.hasResourceProperties('AWS::KMS::Key', {
      EnableKeyRotation: true,
    });
  });
});

/** The route keys of the API, as the template's routes have them. */
const routeKeys = () =>
  Object.values(resources)
    .filter((r) => r.Type === 'AWS::ApiGatewayV2::Route')
    .map((r) => String(r.Properties.RouteKey));
const ACK_ROUTE = 'POST /v1/messages/{messageId}/ack';
const BACKEND_ROUTES = [
  'POST /v1/messages',
  'POST /v1/messages/batch',
  'GET /v1/messages/{messageId}',
  'DELETE /v1/messages/{messageId}',
  'GET /v1/users/{userId}/messages',
  'POST /v1/sessions',
  'DELETE /v1/sessions/{userId}/{registrationId}',
  'DELETE /v1/users/{userId}',
];
/** The properties of the API's one stage. */
const stageProps = () => {
  const stages = Object.values(resources).filter(
    (r) => r.Type === 'AWS::ApiGatewayV2::Stage'
  );
  if (stages.length !== 1) throw new Error(`${stages.length} stages`);
  return (stages[0] as Resource).Properties;
};

describe('ServiceStack API', () => {
  it('authorizes every backend route with IAM and leaves only the ACK route open', () => {
    // Act
    const routes = Object.values(resources)
      .filter((r) => r.Type === 'AWS::ApiGatewayV2::Route')
      .map((r) => ({
        key: String(r.Properties.RouteKey),
        auth: r.Properties.AuthorizationType,
      }));

    // Assess
    expect(routes.map((r) => r.key)).toEqual(
      expect.arrayContaining([
        'POST /v1/messages',
        'GET /v1/messages/{messageId}',
        'POST /v1/messages/{messageId}/ack',
      ])
    );
    const open = routes.filter((r) => r.auth !== 'AWS_IAM');
    expect(open).toEqual([
      { key: 'POST /v1/messages/{messageId}/ack', auth: 'NONE' },
    ]);
  });

  it('logs access as JSON lines with the route key and the status', () => {
    // Act
    const format = String(
      (stageProps().AccessLogSettings as { Format: unknown }).Format
    );

    // Assess
    expect(stageProps().StageName).toBe('$default');
    expect(JSON.parse(format)).toMatchObject({
      requestId: '$context.requestId',
      routeKey: '$context.routeKey',
      status: '$context.status',
    });
  });

  it('gives the ACK route its own limits and detailed metrics, and each backend route the backend limits', () => {
    // Act
    const settings = stageProps().RouteSettings;

    // Assess: the documented defaults, one entry per route of the API.
    const backend = {
      ThrottlingRateLimit: 200,
      ThrottlingBurstLimit: 400,
      DetailedMetricsEnabled: false,
    };
    expect(settings).toEqual({
      ...Object.fromEntries(BACKEND_ROUTES.map((key) => [key, backend])),
      [ACK_ROUTE]: {
        ThrottlingRateLimit: 100,
        ThrottlingBurstLimit: 200,
        DetailedMetricsEnabled: true,
      },
    });
    expect(Object.keys(settings as object).sort()).toEqual(routeKeys().sort());
    // A route without settings of its own would get the backend limits.
    expect(stageProps().DefaultRouteSettings).toEqual({
      ThrottlingRateLimit: 200,
      ThrottlingBurstLimit: 400,
    });
  });

  it('takes the limits from the CDK context', () => {
    // Prepare: as `-c key=value` passes them (text), or cdk.json (numbers).
    const configured = Template.fromStack(
      buildApp(
        new App({
          context: {
            'aws:cdk:bundling-stacks': [],
            ackRateLimit: '7.5',
            ackBurstLimit: '15',
            backendRateLimit: 30,
            backendBurstLimit: 60,
          },
        })
      ).service
    );

    // Act
    const stages = Object.values(
      configured.findResources('AWS::ApiGatewayV2::Stage')
    ) as Resource[];

    // Assess
    expect(stages).toHaveLength(1);
    const props = stages[0]?.Properties ?? {};
    const settings = props.RouteSettings as Record<string, unknown>;
    expect(settings[ACK_ROUTE]).toEqual({
      ThrottlingRateLimit: 7.5,
      ThrottlingBurstLimit: 15,
      DetailedMetricsEnabled: true,
    });
    for (const key of BACKEND_ROUTES) {
      expect(settings[key], key).toEqual({
        ThrottlingRateLimit: 30,
        ThrottlingBurstLimit: 60,
        DetailedMetricsEnabled: false,
      });
    }
    expect(props.DefaultRouteSettings).toEqual({
      ThrottlingRateLimit: 30,
      ThrottlingBurstLimit: 60,
    });
  });

  it('creates the stage after every route its settings name', () => {
    // Prepare
    const stage = Object.values(resources).find(
      (r) => r.Type === 'AWS::ApiGatewayV2::Stage'
    ) as Resource & { DependsOn?: string[] };
    const routeIds = Object.entries(resources)
      .filter(([, r]) => r.Type === 'AWS::ApiGatewayV2::Route')
      .map(([id]) => id);

    // Assess
    expect(routeIds).toHaveLength(BACKEND_ROUTES.length + 1);
    expect(stage.DependsOn).toEqual(expect.arrayContaining(routeIds));
  });

  it('counts the 429 answers from the access log, by route, in the project namespace', () => {
    // Prepare
    const logGroup = (
      stageProps().AccessLogSettings as {
        DestinationArn: { 'Fn::GetAtt': [string, string] };
      }
    ).DestinationArn['Fn::GetAtt'][0];

    // Assess
    template.resourceCountIs('AWS::Logs::MetricFilter', 1);
    template.hasResourceProperties('AWS::Logs::MetricFilter', {
      LogGroupName: { Ref: logGroup },
      // The format writes the status as text.
      FilterPattern: '{ $.status = "429" }',
      MetricTransformations: [
        {
          MetricNamespace: METRICS_NAMESPACE,
          MetricName: METRIC.ApiRequestThrottled,
          MetricValue: '1',
          Unit: 'Count',
          Dimensions: [{ Key: 'route', Value: '$.routeKey' }],
        },
      ],
    });
  });
});

describe('ServiceStack alarms and their topics', () => {
  const CLOUDWATCH = { Service: 'cloudwatch.amazonaws.com' };

  /** The logical id of the resource whose logical id starts with `name`. */
  const idOf = (name: string, type: string): string => {
    const ids = Object.entries(resources)
      .filter(([id, r]) => r.Type === type && id.startsWith(name))
      .map(([id]) => id);
    if (ids.length !== 1) throw new Error(`${ids.length} ${type} ${name}`);
    return ids[0] as string;
  };
  const topicId = (name: 'OnCallTopic' | 'OpsTopic') =>
    idOf(name, 'AWS::SNS::Topic');
  /** The key a topic is encrypted with, by its logical id. */
  const keyOf = (topic: string): string =>
    (propsOf(topic).KmsMasterKeyId as { 'Fn::GetAtt': [string, string] })[
      'Fn::GetAtt'
    ][0];
  const alarms = () =>
    Object.values(resources).filter((r) => r.Type === 'AWS::CloudWatch::Alarm');
  /** The names of the alarms whose action is the topic. */
  const alarmsNotifying = (topic: string): string[] =>
    alarms()
      .filter((a) =>
        (a.Properties.AlarmActions as unknown[]).some(
          (action) => JSON.stringify(action) === JSON.stringify({ Ref: topic })
        )
      )
      .map((a) => String(a.Properties.AlarmName))
      .sort();
  /** An ARN as the template builds it, pseudo parameters as `${AWS::...}`. */
  const render = (value: unknown): string => {
    if (typeof value === 'string') return value;
    const v = value as Record<string, unknown>;
    if (typeof v.Ref === 'string') return `\${${v.Ref}}`;
    if (Array.isArray(v['Fn::Join'])) {
      const [separator, parts] = v['Fn::Join'] as [string, unknown[]];
      return parts.map(render).join(separator);
    }
    return JSON.stringify(value);
  };
  const alarmArn = (name: string) =>
    `arn:\${AWS::Partition}:cloudwatch:\${AWS::Region}:\${AWS::AccountId}:alarm:${name}`;
  /** The statements of a key policy or of the topic policy of a topic. */
  const keyPolicyOf = (key: string): Statement[] =>
    (propsOf(key).KeyPolicy as { Statement: Statement[] }).Statement;
  const topicPolicyOf = (topic: string): Statement[] =>
    Object.values(resources)
      .filter(
        (r) =>
          r.Type === 'AWS::SNS::TopicPolicy' &&
          JSON.stringify(r.Properties.Topics) ===
            JSON.stringify([{ Ref: topic }])
      )
      .flatMap(
        (r) =>
          (r.Properties.PolicyDocument as { Statement: Statement[] }).Statement
      );
  const forCloudWatch = (statements: Statement[]) =>
    statements.filter(
      (s) => JSON.stringify(s.Principal) === JSON.stringify(CLOUDWATCH)
    );
  /** The alarm ARNs a statement's aws:SourceArn condition allows. */
  const sourceArnsOf = (statement: Statement): string[] => {
    const arns = statement.Condition?.ArnEquals?.['aws:SourceArn'];
    if (!Array.isArray(arns)) throw new Error('No aws:SourceArn list');
    return arns.map(render).sort();
  };

  it.each(['EscalateFunction', 'OnCallSummaryFunction'])(
    'lets the %s use the on-call topic key for publishing, and no other key',
    (name) => {
      // Prepare
      const key = keyOf(topicId('OnCallTopic'));
      const pagers = [
        functionId('EscalateFunction'),
        functionId('OnCallSummaryFunction'),
      ];

      // Act
      const kms = statementsOf(functionId(name)).filter((s) =>
        actionsOf([s]).some((a) => a.startsWith('kms:'))
      );
      const othersOnTheKey = functionIds()
        .filter((id) => !pagers.includes(id))
        .filter((id) => JSON.stringify(statementsOf(id)).includes(`"${key}"`));

      // Assess
      expect(kms).toEqual([
        {
          Effect: 'Allow',
          Action: expect.arrayContaining([
            'kms:GenerateDataKey*',
            'kms:Decrypt',
          ]),
          Resource: { 'Fn::GetAtt': [key, 'Arn'] },
        },
      ]);
      expect(actionsOf(kms).sort()).toEqual(
        ['kms:Decrypt', 'kms:GenerateDataKey*'].sort()
      );
      expect(othersOnTheKey).toEqual([]);
    }
  );

  it('gives the state machine role no sns:Publish and no KMS: the Escalate function sends the SMS', () => {
    // Prepare
    const machine = Object.values(resources).find(
      (r) => r.Type === 'AWS::StepFunctions::StateMachine'
    );
    if (!machine) throw new Error('No state machine');
    const role = (
      machine.Properties.RoleArn as { 'Fn::GetAtt': [string, string] }
    )['Fn::GetAtt'][0];

    // Act
    const actions = actionsOf(statementsOfRole(role));

    // Assess
    expect(actions.length).toBeGreaterThan(0);
    expect(actions.filter((a) => /^(sns|kms):/i.test(a))).toEqual([]);
    expect(actions.some((a) => a === '*' || a === 'sns:*')).toBe(false);
  });

  it('lets CloudWatch use each topic and its key for exactly the alarms that notify through it, from this account only', () => {
    /** The one statement for CloudWatch, both conditions and nothing else. */
    const cloudWatchMay = (
      action: string | string[],
      resource: unknown,
      alarmCount: number
    ) =>
      Match.objectEquals({
        Sid: Match.anyValue(),
        Effect: 'Allow',
        Principal: CLOUDWATCH,
        Action: action,
        Resource: resource,
        Condition: {
          StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } },
          ArnEquals: {
            'aws:SourceArn': Array(alarmCount).fill(Match.anyValue()),
          },
        },
      });
    for (const topic of [topicId('OnCallTopic'), topicId('OpsTopic')]) {
      // Prepare
      const key = keyOf(topic);
      const expected = alarmsNotifying(topic);

      // Act
      const keys = template.findResources('AWS::KMS::Key', {
        Properties: {
          KeyPolicy: {
            Statement: Match.arrayWith([
              cloudWatchMay(
                ['kms:GenerateDataKey*', 'kms:Decrypt'],
                '*',
                expected.length
              ),
            ]),
          },
        },
      });
      const topicPolicies = template.findResources('AWS::SNS::TopicPolicy', {
        Properties: {
          Topics: [{ Ref: topic }],
          PolicyDocument: {
            Statement: Match.arrayWith([
              cloudWatchMay('sns:Publish', { Ref: topic }, expected.length),
            ]),
          },
        },
      });
      const statements = [
        ...forCloudWatch(keyPolicyOf(key)),
        ...forCloudWatch(topicPolicyOf(topic)),
      ];

      // Assess
      expect(expected.length, topic).toBeGreaterThan(0);
      expect(Object.keys(keys), topic).toContain(key);
      expect(Object.keys(topicPolicies), topic).toHaveLength(1);
      // One on the key, one on the topic: nothing broader for CloudWatch.
      expect(statements, topic).toHaveLength(2);
      for (const statement of statements) {
        expect(sourceArnsOf(statement), topic).toEqual(expected.map(alarmArn));
      }
    }
  });

  it('names every alarm after the stage, so that the policies can name it', () => {
    // Act
    const names = alarms().map((a) => a.Properties.AlarmName);

    // Assess
    expect(names.length).toBe(11);
    for (const name of names) {
      expect(name).toMatch(/^PushDelivery-[A-Za-z]+-dev$/);
    }
  });

  it('alarms on a failed escalation SMS through the ops topic, apart from the on-call topic and its key', () => {
    // Prepare
    const onCall = topicId('OnCallTopic');
    const ops = topicId('OpsTopic');

    // Act
    const smsAlarms = alarms().filter(
      (a) => a.Properties.MetricName === METRIC.EscalationSmsFailed
    );

    // Assess
    expect(smsAlarms).toHaveLength(1);
    expect(smsAlarms[0]?.Properties).toMatchObject({
      AlarmName: 'PushDelivery-SmsFailed-dev',
      Namespace: METRICS_NAMESPACE,
      Dimensions: [{ Name: 'service', Value: SERVICE_NAME }],
      Statistic: 'Sum',
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      AlarmActions: [{ Ref: ops }],
    });
    expect(alarmsNotifying(ops).sort()).toEqual([
      'PushDelivery-AckClientErrors-dev',
      'PushDelivery-AckThrottled-dev',
      'PushDelivery-BackendThrottled-dev',
      'PushDelivery-OutcomeEventsUndelivered-dev',
      'PushDelivery-SmsFailed-dev',
      'PushDelivery-SmsSuppressed-dev',
      'PushDelivery-SmsUndelivered-dev',
    ]);
    expect(alarmsNotifying(onCall)).not.toContain('PushDelivery-SmsFailed-dev');
    expect(keyOf(ops)).not.toBe(keyOf(onCall));
    template.hasResourceProperties('AWS::KMS::Key', {
      EnableKeyRotation: true,
      Description: Match.stringLikeRegexp('ops topic'),
    });
    template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      Topics: [{ Ref: ops }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Deny',
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          }),
        ]),
      },
    });
    template.hasOutput('OpsTopicArn', { Value: { Ref: ops } });
  });

  it('watches the metric names and namespace the functions emit, and the one the access log gives', () => {
    // Prepare
    const fromLogs = Object.values(resources)
      .filter((r) => r.Type === 'AWS::Logs::MetricFilter')
      .flatMap(
        (r) =>
          r.Properties.MetricTransformations as Array<{ MetricName: string }>
      )
      .map((t) => t.MetricName);

    // Act: an alarm's own metric, or those of its math expression.
    const watched = alarms()
      .flatMap((a) => [
        a.Properties,
        ...(
          (a.Properties.Metrics ?? []) as Array<{
            MetricStat?: { Metric: Record<string, unknown> };
          }>
        ).flatMap((m) => (m.MetricStat ? [m.MetricStat.Metric] : [])),
      ])
      .filter((m) => m.Namespace === METRICS_NAMESPACE)
      .map((m) => String(m.MetricName));

    // Assess
    expect(fromLogs).toEqual([METRIC.ApiRequestThrottled]);
    expect([...new Set(watched)].sort()).toEqual(
      [
        METRIC.MessageFailed,
        METRIC.EscalationSmsFailed,
        METRIC.SmsSuppressed,
        METRIC.ApiRequestThrottled,
      ].sort()
    );
    for (const id of functionIds()) {
      const env = (
        propsOf(id).Environment as { Variables: Record<string, unknown> }
      ).Variables;
      expect(env.POWERTOOLS_METRICS_NAMESPACE, id).toBe(METRICS_NAMESPACE);
      expect(env.POWERTOOLS_SERVICE_NAME, id).toBe(SERVICE_NAME);
    }
  });

  /** The properties of the alarm of that name (stage dev). */
  const alarmNamed = (id: string): Record<string, unknown> => {
    const found = alarms().filter(
      (a) => a.Properties.AlarmName === `PushDelivery-${id}-dev`
    );
    if (found.length !== 1) throw new Error(`${found.length} alarms ${id}`);
    return (found[0] as Resource).Properties;
  };
  /** The dimensions of the API's own metrics: the API and its stage. */
  const apiDimensions = () => [
    { Name: 'ApiId', Value: { Ref: idOf('Api', 'AWS::ApiGatewayV2::Api') } },
    { Name: 'Stage', Value: '$default' },
  ];
  /** The statements for CloudWatch on a topic's key and in its policy. */
  const cloudWatchStatementsOf = (topic: string) => [
    ...forCloudWatch(keyPolicyOf(keyOf(topic))),
    ...forCloudWatch(topicPolicyOf(topic)),
  ];

  it('alarms the on-call topic on any 5xx of the API in 5 minutes', () => {
    // Act
    const props = alarmNamed('ApiServerErrors');

    // Assess
    expect(props).toMatchObject({
      Namespace: 'AWS/ApiGateway',
      MetricName: '5xx',
      Dimensions: apiDimensions(),
      Statistic: 'Sum',
      Period: 300,
      EvaluationPeriods: 1,
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      TreatMissingData: 'notBreaching',
      AlarmActions: [{ Ref: topicId('OnCallTopic') }],
    });
    for (const statement of cloudWatchStatementsOf(topicId('OnCallTopic'))) {
      expect(sourceArnsOf(statement)).toContain(
        alarmArn('PushDelivery-ApiServerErrors-dev')
      );
    }
  });

  it('alarms the ops topic on a spike of 4xx and of 429 on the ACK route, with the documented thresholds', () => {
    // Act
    const clientErrors = alarmNamed('AckClientErrors');
    const throttled = alarmNamed('AckThrottled');

    // Assess: the route's own 4xx (detailed metrics) and 429 (access log).
    const common = {
      Statistic: 'Sum',
      Period: 300,
      EvaluationPeriods: 1,
      Threshold: 100,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      TreatMissingData: 'notBreaching',
      AlarmActions: [{ Ref: topicId('OpsTopic') }],
    };
    expect(clientErrors).toMatchObject({
      ...common,
      Namespace: 'AWS/ApiGateway',
      MetricName: '4xx',
    });
    expect(
      (clientErrors.Dimensions as Array<{ Name: string }>).sort((a, b) =>
        a.Name.localeCompare(b.Name)
      )
    ).toEqual([
      apiDimensions()[0],
      { Name: 'Route', Value: ACK_ROUTE },
      apiDimensions()[1],
    ]);
    expect(throttled).toMatchObject({
      ...common,
      Namespace: METRICS_NAMESPACE,
      MetricName: METRIC.ApiRequestThrottled,
      Dimensions: [{ Name: 'route', Value: ACK_ROUTE }],
    });
  });

  it('alarms the ops topic on 429 answers of the backend routes, all of them and only them', () => {
    // Act
    const props = alarmNamed('BackendThrottled');
    const metrics = props.Metrics as Array<{
      Id: string;
      Expression?: string;
      ReturnData?: boolean;
      MetricStat?: {
        Metric: {
          Namespace: string;
          MetricName: string;
          Dimensions: Array<{ Name: string; Value: string }>;
        };
        Period: number;
        Stat: string;
      };
    }>;
    const routes = metrics.filter((m) => m.MetricStat);
    const [expression] = metrics.filter((m) => m.Expression);

    // Assess
    expect(props).toMatchObject({
      EvaluationPeriods: 1,
      Threshold: 10,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      TreatMissingData: 'notBreaching',
      AlarmActions: [{ Ref: topicId('OpsTopic') }],
    });
    expect(routes.map((m) => m.MetricStat?.Metric.Dimensions).sort()).toEqual(
      BACKEND_ROUTES.map((key) => [{ Name: 'route', Value: key }]).sort()
    );
    for (const m of routes) {
      expect(m.MetricStat).toMatchObject({
        Metric: {
          Namespace: METRICS_NAMESPACE,
          MetricName: METRIC.ApiRequestThrottled,
        },
        Period: 300,
        Stat: 'Sum',
      });
      expect(m.ReturnData).toBe(false);
      // A route without a 429 in the period counts as 0.
      expect(expression?.Expression).toContain(`FILL(${m.Id}, 0)`);
    }
    expect(expression?.Expression?.split('+')).toHaveLength(
      BACKEND_ROUTES.length
    );
    expect(expression?.ReturnData).toBe(true);
  });

  it('lets the new API alarms use the ops topic and its key, by name', () => {
    // Act
    const statements = cloudWatchStatementsOf(topicId('OpsTopic'));

    // Assess
    expect(statements).toHaveLength(2);
    for (const statement of statements) {
      expect(sourceArnsOf(statement)).toEqual(
        expect.arrayContaining(
          ['AckClientErrors', 'AckThrottled', 'BackendThrottled'].map((id) =>
            alarmArn(`PushDelivery-${id}-dev`)
          )
        )
      );
    }
  });

  it('takes the API alarm thresholds from the CDK context', () => {
    // Prepare
    const configured = Template.fromStack(
      buildApp(
        new App({
          context: {
            'aws:cdk:bundling-stacks': [],
            ackClientErrorsAlarmThreshold: '11',
            ackThrottledAlarmThreshold: 12,
            backendThrottledAlarmThreshold: '13',
          },
        })
      ).service
    );

    // Act
    const thresholds = Object.fromEntries(
      (
        Object.values(
          configured.findResources('AWS::CloudWatch::Alarm')
        ) as Resource[]
      ).map((a) => [a.Properties.AlarmName, a.Properties.Threshold])
    );

    // Assess
    expect(thresholds).toMatchObject({
      'PushDelivery-AckClientErrors-dev': 11,
      'PushDelivery-AckThrottled-dev': 12,
      'PushDelivery-BackendThrottled-dev': 13,
      'PushDelivery-ApiServerErrors-dev': 1,
    });
  });
});

describe('ServiceStack SMS limits and on-call grouping', () => {
  const envOf = (name: string) =>
    (
      propsOf(functionId(name)).Environment as {
        Variables: Record<string, unknown>;
      }
    ).Variables;

  it('gives the Escalate and on-call summary functions the documented limits, and send the allowed countries', () => {
    // Act
    const escalate = envOf('EscalateFunction');
    const summary = envOf('OnCallSummaryFunction');
    const send = envOf('SendMessageFunction');

    // Assess
    for (const env of [escalate, summary]) {
      expect(env).toMatchObject({
        [ENV.smsPerNumberPerHour]: '5',
        [ENV.smsDailyCap]: '1000',
        [ENV.onCallWindowSeconds]: '300',
        [ENV.onCallSmsIncludesTitle]: 'false',
        [ENV.smsLimitsTable]: expect.anything(),
        [ENV.onCallTopicArn]: expect.anything(),
      });
    }
    // No on-call numbers in the default context: no country.
    expect(send[ENV.smsCountries]).toBe('');
    expect(send[ENV.smsDailyCap]).toBeUndefined();
  });

  it('takes the limits and the countries from the CDK context, the countries by default from the on-call numbers', () => {
    // Prepare
    const build = (context: Record<string, unknown>) => {
      const { service } = buildApp(
        new App({ context: { 'aws:cdk:bundling-stacks': [], ...context } })
      );
      const all = Template.fromStack(service).toJSON().Resources as Record<
        string,
        Resource
      >;
      const env = (name: string) =>
        (
          Object.entries(all).find(
            ([id, r]) =>
              r.Type === 'AWS::Lambda::Function' && id.startsWith(name)
          )?.[1]?.Properties.Environment as {
            Variables: Record<string, unknown>;
          }
        )?.Variables ?? {};
      return {
        escalate: env('EscalateFunction'),
        send: env('SendMessageFunction'),
      };
    };

    // Act
    const fromNumbers = build({
      onCallPhoneNumbers: '+8613800000100,+12025550100,+8613900000100',
    });
    const set = build({
      onCallPhoneNumbers: '+8613800000100',
      smsCountries: 'us, gb',
      smsPerNumberPerHour: '2',
      smsDailyCap: 50,
      onCallWindowSeconds: '120',
      onCallSmsIncludesTitle: 'true',
    });

    // Assess
    expect(fromNumbers.send[ENV.smsCountries]).toBe('CN,US');
    expect(set.send[ENV.smsCountries]).toBe('US,GB');
    expect(set.escalate).toMatchObject({
      [ENV.smsPerNumberPerHour]: '2',
      [ENV.smsDailyCap]: '50',
      [ENV.onCallWindowSeconds]: '120',
      [ENV.onCallSmsIncludesTitle]: 'true',
    });
  });

  it('runs the on-call summary every minute', () => {
    // Act
    const rules = Object.values(resources).filter(
      (r) =>
        r.Type === 'AWS::Events::Rule' &&
        JSON.stringify(r.Properties.Targets).includes(
          functionId('OnCallSummaryFunction')
        )
    );

    // Assess
    expect(rules).toHaveLength(1);
    expect(rules[0]?.Properties.ScheduleExpression).toBe('rate(1 minute)');
  });

  it('lets the on-call summary only query and update the SMS limits table, and the Escalate function also read and put there', () => {
    // Act
    const dynamo = (name: string) =>
      actionsOf(statementsOf(functionId(name)))
        .filter((a) => a.startsWith('dynamodb:'))
        .sort();

    // Assess
    expect(dynamo('OnCallSummaryFunction')).toEqual([
      'dynamodb:Query',
      'dynamodb:UpdateItem',
    ]);
    expect(dynamo('EscalateFunction')).toEqual(
      [
        'dynamodb:GetItem',
        'dynamodb:PutItem',
        'dynamodb:UpdateItem',
        'dynamodb:UpdateItem',
      ].sort()
    );
  });

  it('keeps the SMS limits table with a TTL and no point-in-time recovery', () => {
    // Assess
    dataTemplate.hasResourceProperties('AWS::DynamoDB::Table', {
      KeySchema: [
        { AttributeName: 'scope', KeyType: 'HASH' },
        { AttributeName: 'slot', KeyType: 'RANGE' },
      ],
      TimeToLiveSpecification: {
        AttributeName: 'expiresAtEpoch',
        Enabled: true,
      },
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: false },
    });
  });

  it('alarms the ops topic from the first SMS a limit held back', () => {
    // Act
    const alarm = Object.values(resources).find(
      (r) =>
        r.Type === 'AWS::CloudWatch::Alarm' &&
        r.Properties.AlarmName === 'PushDelivery-SmsSuppressed-dev'
    );

    // Assess
    expect(alarm?.Properties).toMatchObject({
      MetricName: METRIC.SmsSuppressed,
      Namespace: METRICS_NAMESPACE,
      Dimensions: [{ Name: 'service', Value: SERVICE_NAME }],
      Statistic: 'Sum',
      Threshold: 1,
      AlarmActions: [{ Ref: expect.stringMatching(/^OpsTopic/) }],
    });
  });
});
