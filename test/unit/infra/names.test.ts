import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  CYCLE_ACTIONS,
  ENV,
  PUSH_OUTCOMES,
  TABLE_ENV,
  TABLE_KEYS,
  TTL_ATTRIBUTE,
} from '../../../functions/shared/names.ts';
import { buildApp } from '../../../infra/app.ts';
import { extractStateMachine } from '../../../local/engine/index.ts';

// The names of functions/shared/names.ts, seen from the templates: what the
// stacks set, create and branch on is what the functions read, write and
// return.
type Resource = { Type: string; Properties: Record<string, unknown> };
let service: Record<string, Resource>;
let data: Record<string, Resource>;
let definition: { States: Record<string, unknown> };

beforeAll(() => {
  const app = buildApp(new App({ context: { 'aws:cdk:bundling-stacks': [] } }));
  const serviceJson = Template.fromStack(app.service).toJSON();
  const dataJson = Template.fromStack(app.data).toJSON();
  service = serviceJson.Resources as Record<string, Resource>;
  data = dataJson.Resources as Record<string, Resource>;
  definition = extractStateMachine({
    [app.data.stackName]: dataJson,
    [app.service.stackName]: serviceJson,
  }).definition as { States: Record<string, unknown> };
});

const ofType = (resources: Record<string, Resource>, type: string) =>
  Object.entries(resources).filter(([, r]) => r.Type === type);

describe('names shared by the stacks and the functions', () => {
  it('sets on the functions no environment variable outside ENV but the runtime’s own', () => {
    // Act
    const set = new Set(
      ofType(service, 'AWS::Lambda::Function').flatMap(([, r]) =>
        Object.keys(
          (r.Properties.Environment as { Variables?: object } | undefined)
            ?.Variables ?? {}
        )
      )
    );

    // Assess
    const known = new Set<string>(Object.values(ENV));
    const unknown = [...set].filter(
      (name) =>
        !known.has(name) &&
        !/^(POWERTOOLS_|AWS_)/.test(name) &&
        name !== 'NODE_OPTIONS'
    );
    expect(unknown).toEqual([]);
    // Every table's variable reaches some function.
    for (const name of Object.values(TABLE_ENV)) expect(set).toContain(name);
  });

  it('creates each table with the key attributes the functions write', () => {
    // Act
    const schemas = ofType(data, 'AWS::DynamoDB::Table').map(([, r]) => {
      const keys = r.Properties.KeySchema as Array<{
        AttributeName: string;
        KeyType: 'HASH' | 'RANGE';
      }>;
      const sort = keys.find((k) => k.KeyType === 'RANGE')?.AttributeName;
      return {
        partition: keys.find((k) => k.KeyType === 'HASH')?.AttributeName,
        ...(sort === undefined ? {} : { sort }),
      };
    });

    // Assess
    expect(schemas).toHaveLength(Object.keys(TABLE_KEYS).length);
    expect(schemas).toEqual(
      expect.arrayContaining(Object.values(TABLE_KEYS).map((k) => ({ ...k })))
    );
    const ttl = ofType(data, 'AWS::DynamoDB::Table').flatMap(([, r]) => {
      const spec = r.Properties.TimeToLiveSpecification as
        | { AttributeName?: string }
        | undefined;
      return spec?.AttributeName ? [spec.AttributeName] : [];
    });
    // Every table with a TTL reads the one attribute the functions write.
    expect(ttl.length).toBeGreaterThanOrEqual(4);
    expect(new Set(ttl)).toEqual(new Set([TTL_ATTRIBUTE]));
  });

  it('branches only on outcomes the Push step and actions CheckReport return', () => {
    // Act
    const compared = Object.values(definition.States).flatMap((state) => {
      const { Type, Choices } = state as {
        Type: string;
        Choices?: Array<{ Variable: string; StringEquals: string }>;
      };
      return Type === 'Choice' ? (Choices ?? []) : [];
    });

    // Assess
    expect(compared.length).toBeGreaterThan(0);
    for (const choice of compared) {
      const allowed: readonly string[] =
        choice.Variable === '$.push.outcome' ? PUSH_OUTCOMES : CYCLE_ACTIONS;
      expect(['$.push.outcome', '$.cycle.action']).toContain(choice.Variable);
      expect(allowed).toContain(choice.StringEquals);
    }
  });
});
