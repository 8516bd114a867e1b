import { describe, expect, it } from 'vitest';
import {
  mergeFaults,
  parseFaultsUpdate,
  rollFault,
} from '../../../local/jpush-simulator/faults.ts';
import {
  callFamilyOf,
  DEFAULT_FAULTS,
  type Faults,
} from '../../../local/jpush-simulator/index.ts';

/** A random source that plays `values` in turn and counts its calls. */
const scripted = (...values: number[]) => {
  let calls = 0;
  return {
    random: () => values[calls++ % values.length] ?? 0,
    calls: () => calls,
  };
};

const faults = (changes: Partial<Faults>): Faults => ({
  ...mergeFaults(DEFAULT_FAULTS),
  ...changes,
});

describe('callFamilyOf', () => {
  it.each([
    ['POST', '/v3/push', 'push'],
    ['POST', '/v3/push/validate', 'push'],
    ['GET', '/v3/push/cid?count=2', 'cid'],
    ['get', '/v3/push/cid/', 'cid'],
    ['DELETE', '/v3/push/18100528814460569', 'withdraw'],
    ['GET', '/v3/push/18100528814460569', 'push'],
    ['POST', '/v3/schedules', 'push'],
    ['GET', '/v3/received?msg_ids=1', 'report'],
    ['GET', '/v3/received/detail?msg_ids=1', 'report'],
    ['POST', '/v3/status/message', 'report'],
    ['GET', '/v3/devices/abc', 'device'],
    ['POST', '/v3/devices/status', 'device'],
    ['DELETE', '/v3/aliases/a1?platform=android', 'device'],
    ['GET', '/v3/tags', 'device'],
  ] as const)('%s %s is a %s call', (method, path, family) => {
    // Act
    const result = callFamilyOf(method, path);

    // Assess
    expect(result).toBe(family);
  });
});

describe('rollFault', () => {
  it('strikes at each stage with its own rate', () => {
    // Prepare
    const settings = faults({
      dropConnectionRate: 0.5,
      rateLimitRate: 0.5,
      serverErrorRate: 0.5,
      lostResponseRate: 0.5,
    });
    const { random } = scripted(0.1);

    // Act
    const kinds = (['arrival', 'admission', 'acting', 'answer'] as const).map(
      (stage) => rollFault(settings, 'push', stage, random)
    );

    // Assess
    expect(kinds).toEqual([
      'dropped',
      'rate-limited',
      'server-error',
      'lost-response',
    ]);
  });

  it('spares a roll above the rate', () => {
    // Prepare
    const settings = faults({ lostResponseRate: 0.5 });
    const { random } = scripted(0.5);

    // Act
    const kind = rollFault(settings, 'push', 'answer', random);

    // Assess
    expect(kind).toBeUndefined();
  });

  it('draws no random number at rate 0 or for a family not in families, so seeded runs replay', () => {
    // Prepare
    const settings = faults({ lostResponseRate: 1, families: ['push'] });
    const source = scripted(0);

    // Act
    const otherFamily = rollFault(settings, 'report', 'answer', source.random);
    const zeroRate = rollFault(settings, 'push', 'arrival', source.random);

    // Assess
    expect([otherFamily, zeroRate]).toEqual([undefined, undefined]);
    expect(source.calls()).toBe(0);
  });
});

describe('mergeFaults', () => {
  it('merges per-family limits one by one and ignores undefined values', () => {
    // Prepare
    const base = mergeFaults(DEFAULT_FAULTS, { lostResponseRate: 0.1 });

    // Act
    const merged = mergeFaults(base, {
      rateLimitPerMinute: { push: 60 },
      latencyMs: undefined,
      families: ['push', 'push'],
    });

    // Assess
    expect(merged).toEqual({
      ...DEFAULT_FAULTS,
      lostResponseRate: 0.1,
      rateLimitPerMinute: { push: 60, report: 2400, device: 600 },
      families: ['push'],
    });
    expect(DEFAULT_FAULTS.rateLimitPerMinute.push).toBe(600);
  });
});

describe('parseFaultsUpdate', () => {
  it('accepts any subset of the faults', () => {
    // Act
    const parsed = parseFaultsUpdate({
      lostResponseRate: 0.05,
      rateLimitPerMinute: { push: 60 },
      families: ['push', 'report'],
    });

    // Assess
    expect(parsed).toEqual({
      ok: true,
      update: {
        lostResponseRate: 0.05,
        rateLimitPerMinute: { push: 60 },
        families: ['push', 'report'],
      },
    });
  });

  it.each([
    [{ lostRate: 1 }, 'Unknown field "lostRate"; the faults are'],
    [{ serverErrorRate: 1.5 }, 'serverErrorRate must be a number from 0 to 1'],
    [{ rateLimitRate: '0.5' }, 'rateLimitRate must be a number from 0 to 1'],
    [{ latencyMs: -1 }, 'latencyMs must be a number of milliseconds from 0'],
    [
      { rateLimitPerMinute: { push: 1.5 } },
      'rateLimitPerMinute.push must be a whole number of calls per minute',
    ],
    [
      { rateLimitPerMinute: { sms: 1 } },
      'rateLimitPerMinute has an unknown family "sms"',
    ],
    [{ families: ['push', 'sms'] }, 'families[1] is an unknown family "sms"'],
    [{ families: 'push' }, 'families must be a list of API families'],
    [[1], 'The faults must be a JSON object'],
  ])('explains what is wrong with %j', (input, message) => {
    // Act
    const parsed = parseFaultsUpdate(input);

    // Assess
    expect(parsed.ok).toBe(false);
    expect(parsed.ok ? '' : parsed.message).toContain(message);
  });
});
