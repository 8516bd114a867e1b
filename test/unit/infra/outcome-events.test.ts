import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { ENV } from '../../../functions/shared/names.ts';
import { buildApp } from '../../../infra/app.ts';

type Resource = { Type: string; Properties: Record<string, unknown> };
type Statement = { Action: string | string[]; Resource?: unknown };

/** The service stack's resources, with the given CDK context. */
const serviceResources = (context: Record<string, unknown> = {}) => {
  const { service } = buildApp(
    new App({ context: { 'aws:cdk:bundling-stacks': [], ...context } })
  );
  return Template.fromStack(service).toJSON().Resources as Record<
    string,
    Resource
  >;
};

const idOf = (
  resources: Record<string, Resource>,
  type: string,
  prefix: string
): string => {
  const id = Object.keys(resources).find(
    (key) => key.startsWith(prefix) && resources[key]?.Type === type
  );
  if (!id) throw new Error(`No ${type} ${prefix}`);
  return id;
};

const statementsOfFunction = (
  resources: Record<string, Resource>,
  fnId: string
): Statement[] => {
  const role = (
    resources[fnId]?.Properties.Role as
      | { 'Fn::GetAtt': [string, string] }
      | undefined
  )?.['Fn::GetAtt'][0];
  return Object.values(resources)
    .filter(
      (r) =>
        r.Type === 'AWS::IAM::Policy' &&
        (r.Properties.Roles as { Ref: string }[]).some((x) => x.Ref === role)
    )
    .flatMap(
      (r) =>
        (r.Properties.PolicyDocument as { Statement: Statement[] }).Statement
    );
};

const actionsOf = (statements: Statement[]) =>
  statements.flatMap((s) => (Array.isArray(s.Action) ? s.Action : [s.Action]));

describe('the outcome events in the service stack', () => {
  let resources: Record<string, Resource>;
  beforeAll(() => {
    resources = serviceResources();
  });

  it('creates a bus of its own, named after the stage, and gives its ARN to the OutcomeEvents function only', () => {
    // Prepare
    const busId = idOf(resources, 'AWS::Events::EventBus', 'OutcomeEventBus');
    const fnId = idOf(
      resources,
      'AWS::Lambda::Function',
      'OutcomeEventsFunction'
    );

    // Act
    const given = Object.entries(resources).filter(
      ([, r]) =>
        r.Type === 'AWS::Lambda::Function' &&
        (r.Properties.Environment as { Variables?: Record<string, unknown> })
          ?.Variables?.[ENV.eventBusName] !== undefined
    );

    // Assess
    expect(resources[busId]?.Properties.Name).toBe('PushDeliveryOutcomes-dev');
    expect(given.map(([id]) => id)).toEqual([fnId]);
    expect(
      (resources[fnId]?.Properties.Environment as { Variables?: object })
        ?.Variables
    ).toMatchObject({
      [ENV.eventBusName]: { 'Fn::GetAtt': [busId, 'Arn'] },
      [ENV.eventsIncludeContent]: 'false',
    });
  });

  it('lets the function put events on that bus and do nothing else but read the stream, write its logs and traces and fill its dead-letter queue', () => {
    // Prepare
    const busId = idOf(resources, 'AWS::Events::EventBus', 'OutcomeEventBus');
    const fnId = idOf(
      resources,
      'AWS::Lambda::Function',
      'OutcomeEventsFunction'
    );

    // Act
    const statements = statementsOfFunction(resources, fnId);
    const put = statements.filter((s) =>
      actionsOf([s]).includes('events:PutEvents')
    );

    // Assess
    expect(put).toEqual([
      expect.objectContaining({
        Action: 'events:PutEvents',
        Resource: { 'Fn::GetAtt': [busId, 'Arn'] },
      }),
    ]);
    // The stream read is the event source mapping's (dynamodb:GetRecords …).
    expect(
      actionsOf(statements)
        .filter((a) => !a.startsWith('dynamodb:') || a.includes('Item'))
        .sort()
    ).toEqual([
      'events:PutEvents',
      'logs:CreateLogStream',
      'logs:PutLogEvents',
      'sqs:GetQueueAttributes',
      'sqs:GetQueueUrl',
      'sqs:SendMessage',
      'xray:PutTelemetryRecords',
      'xray:PutTraceSegments',
    ]);
  });

  it('reads the messages stream in order: one batch at a time, stopping at the first failed record, retried for a day, then a dead-letter queue that alarms', () => {
    // Prepare
    const fnId = idOf(
      resources,
      'AWS::Lambda::Function',
      'OutcomeEventsFunction'
    );

    // Act
    const mappings = Object.values(resources).filter(
      (r) =>
        r.Type === 'AWS::Lambda::EventSourceMapping' &&
        (r.Properties.FunctionName as { Ref?: string }).Ref === fnId
    );
    const alarm = Object.values(resources).find(
      (r) =>
        r.Type === 'AWS::CloudWatch::Alarm' &&
        r.Properties.AlarmName === 'PushDelivery-OutcomeEventsUndelivered-dev'
    );

    // Assess
    expect(mappings).toHaveLength(1);
    const queueId = idOf(resources, 'AWS::SQS::Queue', 'OutcomeEventsFailures');
    expect(mappings[0]?.Properties).toMatchObject({
      StartingPosition: 'LATEST',
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      BisectBatchOnFunctionError: false,
      ParallelizationFactor: 1,
      MaximumRecordAgeInSeconds: 86_400,
      MaximumRetryAttempts: 10_000,
      DestinationConfig: {
        OnFailure: { Destination: { 'Fn::GetAtt': [queueId, 'Arn'] } },
      },
    });
    expect(alarm?.Properties).toMatchObject({
      Namespace: 'AWS/SQS',
      Dimensions: [
        { Name: 'QueueName', Value: { 'Fn::GetAtt': [queueId, 'QueueName'] } },
      ],
    });
  });

  it('puts the events on a bus it is given instead, creating none, and adds the content only when asked', () => {
    // Prepare
    const arn = 'arn:aws:events:eu-west-1:123456789012:event-bus/default';

    // Act
    const given = serviceResources({
      eventBusArn: arn,
      eventsIncludeContent: 'true',
    });
    const fnId = idOf(given, 'AWS::Lambda::Function', 'OutcomeEventsFunction');

    // Assess
    expect(
      Object.values(given).filter((r) => r.Type === 'AWS::Events::EventBus')
    ).toEqual([]);
    expect(
      (given[fnId]?.Properties.Environment as { Variables?: object })?.Variables
    ).toMatchObject({
      [ENV.eventBusName]: arn,
      [ENV.eventsIncludeContent]: 'true',
    });
    expect(
      statementsOfFunction(given, fnId).filter((s) =>
        actionsOf([s]).includes('events:PutEvents')
      )
    ).toEqual([expect.objectContaining({ Resource: arn })]);
  });

  it('refuses an eventBusArn that is no bus ARN, naming the setting', () => {
    expect(() => serviceResources({ eventBusArn: 'default' })).toThrow(
      /eventBusArn: "default" is not an EventBridge bus ARN/
    );
  });
});
