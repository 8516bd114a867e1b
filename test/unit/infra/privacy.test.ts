import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { deliveryInput } from '../../../functions/adapters/sfn-delivery-starter.ts';
import { ENV, TTL_ATTRIBUTE } from '../../../functions/shared/names.ts';
import { buildApp } from '../../../infra/app.ts';
import { getConfig, PRIVACY_DEFAULTS } from '../../../infra/config.ts';
import type { CfnTemplate } from '../../../local/dynamo.ts';
import { extractStateMachine } from '../../../local/engine/index.ts';

type Resource = { Type: string; Properties: Record<string, unknown> };

/** Templates by their context, each built once (a synth takes seconds). */
const built = new Map<string, ReturnType<typeof build>>();

/** The two templates of an app built with these CDK context values. */
const synth = (context: Record<string, unknown> = {}) => {
  const key = JSON.stringify(context);
  const found = built.get(key) ?? build(context);
  built.set(key, found);
  return found;
};

const build = (context: Record<string, unknown>) => {
  const { service, data } = buildApp(
    new App({ context: { 'aws:cdk:bundling-stacks': [], ...context } })
  );
  return {
    service: Template.fromStack(service),
    data: Template.fromStack(data),
  };
};

const resourcesOf = (template: Template, type: string) =>
  Object.entries(
    template.toJSON().Resources as Record<string, Resource>
  ).filter(([, r]) => r.Type === type);

const configWith = (context: Record<string, unknown>) =>
  getConfig('dev', (key) => context[key]);

describe('privacy settings (getConfig)', () => {
  it('defaults to 30 days of retention and a state machine that logs errors without execution data', () => {
    // Act
    const { privacy } = configWith({});

    // Assess
    expect(privacy).toEqual({
      retentionDays: 30,
      stateMachineLogLevel: 'ERROR',
      stateMachineLogExecutionData: false,
    });
    expect(privacy).toEqual(PRIVACY_DEFAULTS);
  });

  it('reads each setting as text (`-c key=value`) or as JSON (cdk.json)', () => {
    // Act
    const fromText = configWith({
      retentionDays: ' 7 ',
      stateMachineLogLevel: 'all',
      stateMachineLogExecutionData: 'true',
    }).privacy;
    const fromJson = configWith({
      retentionDays: 365,
      stateMachineLogLevel: 'FATAL',
      stateMachineLogExecutionData: false,
    }).privacy;

    // Assess
    expect(fromText).toEqual({
      retentionDays: 7,
      stateMachineLogLevel: 'ALL',
      stateMachineLogExecutionData: true,
    });
    expect(fromJson).toEqual({
      retentionDays: 365,
      stateMachineLogLevel: 'FATAL',
      stateMachineLogExecutionData: false,
    });
  });

  it.each([
    [
      'retentionDays',
      '0',
      'retentionDays: "0" is not a whole number of at least 1',
    ],
    [
      'retentionDays',
      1.5,
      'retentionDays: 1.5 is not a whole number of at least 1',
    ],
    [
      'retentionDays',
      'forever',
      'retentionDays: "forever" is not a whole number of at least 1',
    ],
    ['retentionDays', 3651, 'retentionDays: 3651 is more than 3650 (10 years)'],
    [
      'stateMachineLogLevel',
      'DEBUG',
      'stateMachineLogLevel: "DEBUG" is not one of OFF, FATAL, ERROR, ALL',
    ],
    [
      'stateMachineLogExecutionData',
      'yes',
      'stateMachineLogExecutionData: "yes" is not true or false',
    ],
  ])('stops the synth on %s = %j', (key, value, message) => {
    // Act
    const build = () => configWith({ [key]: value });

    // Assess
    expect(build).toThrow(message);
  });
});

describe('what the logs and traces carry', { timeout: 120_000 }, () => {
  it('logs the state machine at the configured level, errors without execution data by default', () => {
    // Act
    const byDefault = synth().service;
    const verbose = synth({
      stateMachineLogLevel: 'ALL',
      stateMachineLogExecutionData: 'true',
    }).service;

    // Assess
    const logging = (t: Template) =>
      resourcesOf(t, 'AWS::StepFunctions::StateMachine').map(([, r]) => {
        const { Level, IncludeExecutionData } = r.Properties
          .LoggingConfiguration as Record<string, unknown>;
        return { Level, IncludeExecutionData };
      });
    expect(logging(byDefault)).toEqual([
      { Level: 'ERROR', IncludeExecutionData: false },
    ]);
    expect(logging(verbose)).toEqual([
      { Level: 'ALL', IncludeExecutionData: true },
    ]);
  });

  it('keeps no event in a function log and no response in a trace, on every function', () => {
    // Act
    const functions = resourcesOf(synth().service, 'AWS::Lambda::Function');

    // Assess
    expect(functions.length).toBeGreaterThan(5);
    for (const [id, fn] of functions) {
      const variables = (
        fn.Properties.Environment as { Variables: Record<string, unknown> }
      ).Variables;
      expect(variables.POWERTOOLS_LOGGER_LOG_EVENT, id).toBe('false');
      expect(variables.POWERTOOLS_TRACER_CAPTURE_RESPONSE, id).toBe('false');
      // Lambda's own segments only: no Powertools Tracer, no X-Ray SDK.
      expect(fn.Properties.TracingConfig, id).toEqual({ Mode: 'Active' });
    }
  });

  it('has no tracer in the functions that could record a response', () => {
    // Prepare
    const dir = join(import.meta.dirname, '../../../functions');
    const files = readdirSync(dir, { recursive: true, encoding: 'utf8' })
      .filter((f) => f.endsWith('.ts'))
      .map((f) => readFileSync(join(dir, f), 'utf8'));

    // Act
    const tracing = files.filter((text) =>
      /from '(@aws-lambda-powertools\/tracer|aws-xray-sdk[^']*)'/.test(text)
    );

    // Assess
    expect(files.length).toBeGreaterThan(10);
    expect(tracing).toEqual([]);
  });

  it('gives every execution ids, numbers and the policy, and each Lambda step ids only', () => {
    // Prepare
    const { service, data } = synth();
    const { definition } = extractStateMachine({
      Data: data.toJSON() as CfnTemplate,
      Service: service.toJSON() as CfnTemplate,
    }) as unknown as {
      definition: {
        States: Record<
          string,
          { Type: string; Parameters?: { Payload?: Record<string, unknown> } }
        >;
      };
    };

    // Act
    const input = JSON.parse(
      deliveryInput({
        messageId: 'm1',
        delivery: 1,
        intervalSeconds: 60,
        maxAttempts: 3,
      })
    );
    const payloads = Object.fromEntries(
      Object.entries(definition.States)
        .filter(([, s]) => s.Type === 'Task')
        .map(([name, s]) => [name, Object.keys(s.Parameters?.Payload ?? {})])
    );

    // Assess
    expect(input).toEqual({
      messageId: 'm1',
      delivery: 1,
      intervalSeconds: 60,
      maxAttempts: 3,
      cycle: { attempt: 1 },
    });
    expect(payloads).toEqual({
      Push: ['messageId.$', 'delivery.$', 'attempt.$', 'taskToken.$'],
      CheckReport: [
        'messageId.$',
        'delivery.$',
        'attempt.$',
        'maxAttempts.$',
        'wait.$',
      ],
      Escalate: ['messageId.$', 'delivery.$', 'attempt.$'],
    });
  });
});

describe('how long messages are kept', { timeout: 120_000 }, () => {
  it('expires messages and history by DynamoDB TTL, as the offline store and the outbox', () => {
    // Act
    const tables = resourcesOf(synth().data, 'AWS::DynamoDB::Table').map(
      ([id, r]) => [
        id.replace(/[0-9A-F]{8}$/, ''),
        r.Properties.TimeToLiveSpecification,
      ]
    );

    // Assess
    const ttl = { AttributeName: TTL_ATTRIBUTE, Enabled: true };
    expect(Object.fromEntries(tables)).toMatchObject({
      MessagesTable: ttl,
      HistoryTable: ttl,
      OfflineStoreTable: ttl,
      WithdrawalsTable: ttl,
    });
  });

  it('tells every function that writes messages or history the retention, from the setting', () => {
    // Act
    const retention = (context: Record<string, unknown>) =>
      Object.fromEntries(
        resourcesOf(synth(context).service, 'AWS::Lambda::Function').map(
          ([id, fn]) => [
            id.replace(/[0-9A-F]{8}$/, ''),
            (
              fn.Properties.Environment as {
                Variables: Record<string, unknown>;
              }
            ).Variables[ENV.retentionDays],
          ]
        )
      );
    const byDefault = retention({});
    const configured = retention({ retentionDays: '7' });

    // Assess
    for (const writer of [
      'SendMessageFunction',
      'PushFunction',
      'CheckReportFunction',
      'EscalateFunction',
      'AckMessageFunction',
      'LoginFunction',
      'LogoutFunction',
      'WithdrawSweeperFunction',
    ]) {
      expect(byDefault[writer], writer).toBe('30');
      expect(configured[writer], writer).toBe('7');
    }
    expect(byDefault.GetMessageFunction).toBeUndefined();
  });
});
