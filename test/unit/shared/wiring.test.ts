import { afterEach, describe, expect, it, vi } from 'vitest';
import { ENV } from '../../../functions/shared/names.ts';
import { clock } from '../../../functions/shared/wiring/clock.ts';
import { tables } from '../../../functions/shared/wiring/dynamo.ts';
import { jpush } from '../../../functions/shared/wiring/jpush.ts';
import { ackKey } from '../../../functions/shared/wiring/keys.ts';
import { wire } from '../../../functions/shared/wiring/part.ts';
import { stepFunctions } from '../../../functions/shared/wiring/sfn.ts';
import { sms } from '../../../functions/shared/wiring/sns.ts';

afterEach(() => {
  vi.unstubAllEnvs();
});

describe('wire', () => {
  it('builds each property on its first read, once', () => {
    // Prepare
    const build = vi.fn(() => ({ n: 1 }));
    const deps = wire(
      () => ({ a: build }),
      () => ({ b: () => 'b' })
    );

    // Act
    const first = deps.a;
    const second = deps.a;

    // Assess
    expect(build).toHaveBeenCalledTimes(1);
    expect(second).toBe(first);
    expect(deps.b).toBe('b');
    expect(Object.keys(deps)).toEqual(['a', 'b']);
  });

  it('calls no factory before a property is read', () => {
    // Prepare
    const build = vi.fn(() => 1);

    // Act
    wire(() => ({ a: build }));

    // Assess
    expect(build).not.toHaveBeenCalled();
  });
});

describe('the Lambda parts', () => {
  it('need the environment of a dependency only when it is first used', () => {
    // Prepare: no table names, no ARNs.
    for (const name of Object.values(ENV)) {
      vi.stubEnv(name, '');
    }
    vi.stubEnv('AWS_REGION', 'us-east-1');
    vi.stubEnv(ENV.messagesTable, 'Messages');

    // Act
    const deps = wire(tables, stepFunctions, jpush, ackKey, sms, clock);

    // Assess
    expect(deps.messages).toBeDefined();
    expect(() => deps.sessions).toThrow(/sessions/);
    expect(() => deps.deliveries).toThrow(ENV.stateMachineArn);
    expect(() => deps.ackKey).toThrow(ENV.ackKeySecretArn);
    expect(() => deps.jpush).toThrow(/pacing/);
    // The SNS topic and the JPush secret are read when first called.
    expect(deps.sms).toBeDefined();
    expect(deps.callbacks).toBeDefined();
    expect(deps.reportMode).toBeDefined();
    expect(deps.clock.now()).toBeInstanceOf(Date);
  });
});
