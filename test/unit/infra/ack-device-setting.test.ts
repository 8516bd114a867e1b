import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { ENV } from '../../../functions/shared/names.ts';
import { buildApp } from '../../../infra/app.ts';
import { API_DEFAULTS, getConfig } from '../../../infra/config.ts';

/** A synthesis with cdk-nag takes seconds, more on a busy machine. */
const SYNTH_MS = 90_000;

/** Each function's environment, by logical id, synthesized with `context`. */
const environments = (context: Record<string, unknown> = {}) => {
  const { service } = buildApp(
    new App({ context: { 'aws:cdk:bundling-stacks': [], ...context } })
  );
  const functions = Template.fromStack(service).findResources(
    'AWS::Lambda::Function'
  ) as Record<
    string,
    { Properties: { Environment?: { Variables?: Record<string, unknown> } } }
  >;
  return Object.fromEntries(
    Object.entries(functions).map(([id, f]) => [
      id,
      f.Properties.Environment?.Variables ?? {},
    ])
  );
};

const settingOf = (envs: Record<string, Record<string, unknown>>) =>
  Object.entries(envs)
    .filter(([, variables]) => ENV.ackRequiresDevice in variables)
    .map(([id, variables]) => [
      id.replace(/[0-9A-F]{8}$/, ''),
      variables[ENV.ackRequiresDevice],
    ]);

describe('the ackRequiresDevice setting', () => {
  it(
    'gives the ACK function ACK_REQUIRES_DEVICE=true by default, and no other function',
    () => {
      // Act
      const envs = environments();

      // Assess
      expect(API_DEFAULTS.ackRequiresDevice).toBe(true);
      expect(settingOf(envs)).toEqual([['AckMessageFunction', 'true']]);
    },
    SYNTH_MS
  );

  it(
    'passes false from the CDK context to the ACK function',
    () => {
      // Act
      const envs = environments({ ackRequiresDevice: 'false' });

      // Assess
      expect(settingOf(envs)).toEqual([['AckMessageFunction', 'false']]);
    },
    SYNTH_MS
  );

  it.each([
    [undefined, true],
    ['', true],
    ['true', true],
    [' false ', false],
    [true, true],
    [false, false],
  ])('reads %j as %s', (value, expected) => {
    // Act
    const config = getConfig('dev', (key) =>
      key === 'ackRequiresDevice' ? value : undefined
    );

    // Assess
    expect(config.api.ackRequiresDevice).toBe(expected);
  });

  it.each(['no', '0', 1, 'FALSE!'])(
    'stops the synth on %j, naming the setting',
    (value) => {
      // Act
      const read = () =>
        getConfig('dev', (key) =>
          key === 'ackRequiresDevice' ? value : undefined
        );

      // Assess
      expect(read).toThrow(/^ackRequiresDevice: .* is not true or false$/);
    }
  );
});
