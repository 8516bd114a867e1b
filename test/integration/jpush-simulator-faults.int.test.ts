import { afterEach, describe, expect, it } from 'vitest';
import {
  DEFAULT_FAULTS,
  type JPushSimulator,
  type SimulatorOptions,
  startJPushSimulator,
} from '../../local/jpush-simulator/index.ts';

const APP_KEY = 'testAppKey00000000000000';
const SECRET = 'testMasterSecret00000000';
const AUTH = `Basic ${Buffer.from(`${APP_KEY}:${SECRET}`).toString('base64')}`;

let sim: JPushSimulator | undefined;

const start = async (options: SimulatorOptions = {}) => {
  await sim?.close();
  sim = await startJPushSimulator({
    appKey: APP_KEY,
    masterSecret: SECRET,
    ...options,
  });
  return sim;
};

afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

interface CallOptions {
  method?: string;
  /** An object is sent as JSON; a string is sent as is. */
  body?: unknown;
}

interface Answer {
  status: number;
  headers: Headers;
  text: string;
  // biome-ignore lint/suspicious/noExplicitAny: answers are asserted field by field
  json: any;
}

/** An HTTP call with JPush credentials; rejects on a socket error. */
const call = async (
  base: string,
  path: string,
  options: CallOptions = {}
): Promise<Answer> => {
  const body =
    options.body === undefined || typeof options.body === 'string'
      ? (options.body as string | undefined)
      : JSON.stringify(options.body);
  const response = await fetch(`${base}${path}`, {
    method: options.method ?? (body === undefined ? 'GET' : 'POST'),
    headers: { 'content-type': 'application/json', authorization: AUTH },
    body,
  });
  const text = await response.text();
  let json: unknown;
  try {
    json = text === '' ? undefined : JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: response.status, headers: response.headers, text, json };
};

/** The undici error code of a call that got no answer, or 'answered'. */
const socketErrorOf = async (answer: Promise<Answer>): Promise<string> =>
  answer.then(
    () => 'answered',
    (error: unknown) =>
      String((error as { cause?: { code?: unknown } }).cause?.code)
  );

const pushTo = (rids: string[], extra: Record<string, unknown> = {}) => ({
  platform: 'all',
  audience: { registration_id: rids },
  notification: { android: { alert: 'Your parcel arrived' } },
  ...extra,
});

const faultsUrl = '/local/jpush/faults';

/** A seeded random source in [0, 1) (mulberry32). */
const seeded = (seed: number) => {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
};

describe('JPush simulator faults: lost responses and dropped connections', () => {
  it('loses the answer of a push it delivered; the same cid then answers the first msg_id and the phone keeps one copy', async () => {
    // Prepare
    const jpush = await start();
    jpush.setDevice('dev1', { online: true });
    const cid = (await call(jpush.url, '/v3/push/cid')).json.cidlist[0];
    jpush.setFaults({ lostResponseRate: 1 });

    // Act
    const lost = await socketErrorOf(
      call(jpush.url, '/v3/push', { body: pushTo(['dev1'], { cid }) })
    );
    const received = jpush.getDevice('dev1')?.received ?? [];
    jpush.setFaults({ lostResponseRate: 0 });
    const again = await call(jpush.url, '/v3/push', {
      body: pushTo(['dev1'], { cid }),
    });

    // Assess
    expect(lost).toBe('UND_ERR_SOCKET');
    expect(received).toHaveLength(1);
    expect(again.status).toBe(200);
    expect(again.json.msg_id).toBe(received[0]?.msgId);
    expect(jpush.getDevice('dev1')?.received).toHaveLength(1);
  });

  it('loses the answer of a withdraw it did (scripted afterActing)', async () => {
    // Prepare
    const jpush = await start();
    jpush.setDevice('dev1', { online: true });
    const { msg_id: msgId } = (
      await call(jpush.url, '/v3/push', { body: pushTo(['dev1']) })
    ).json;
    jpush.injectFaults({ method: 'DELETE', afterActing: true });

    // Act
    const lost = await socketErrorOf(
      call(jpush.url, `/v3/push/${msgId}`, { method: 'DELETE' })
    );
    const again = await call(jpush.url, `/v3/push/${msgId}`, {
      method: 'DELETE',
    });

    // Assess
    expect(lost).toBe('UND_ERR_SOCKET');
    expect(jpush.getDevice('dev1')?.received[0]?.withdrawn).toBe(true);
    expect(again.status).toBe(200);
  });

  it('loses the answer of an alias set when only device calls are lost', async () => {
    // Prepare
    const jpush = await start();
    jpush.setDevice('dev1', {});
    jpush.setFaults({ lostResponseRate: 1, families: ['device'] });

    // Act
    const lost = await socketErrorOf(
      call(jpush.url, '/v3/devices/dev1', { body: { alias: 'alice' } })
    );
    const push = await call(jpush.url, '/v3/push', {
      body: { ...pushTo([]), audience: { alias: ['alice'] } },
    });

    // Assess
    expect(lost).toBe('UND_ERR_SOCKET');
    expect(jpush.getDevice('dev1')?.alias).toBe('alice');
    expect(push.status).toBe(200);
    expect(jpush.getDevice('dev1')?.received).toHaveLength(1);
  });

  it('drops the connection before acting at dropConnectionRate 1: nothing is delivered', async () => {
    // Prepare
    const jpush = await start();
    jpush.setDevice('dev1', { online: true });
    jpush.setFaults({ dropConnectionRate: 1 });

    // Act
    const dropped = await socketErrorOf(
      call(jpush.url, '/v3/push', { body: pushTo(['dev1']) })
    );

    // Assess
    expect(dropped).toBe('UND_ERR_SOCKET');
    expect(jpush.getDevice('dev1')?.received).toEqual([]);
    expect(jpush.getDevice('dev1')?.queued).toBe(0);
  });
});

describe('JPush simulator faults: rate limits, server errors, latency', () => {
  it('answers 429 code 2002 with the rate-limit headers at rateLimitRate 1, and delivers nothing', async () => {
    // Prepare
    const jpush = await start();
    jpush.setDevice('dev1', { online: true });
    jpush.setFaults({ rateLimitRate: 1 });

    // Act
    const limited = await call(jpush.url, '/v3/push', {
      body: pushTo(['dev1']),
    });
    jpush.setFaults({ rateLimitRate: 0 });
    const next = await call(jpush.url, '/v3/push', { body: pushTo(['dev1']) });

    // Assess
    expect(limited.status).toBe(429);
    expect(limited.json).toEqual({
      error: { code: 2002, message: 'Rate limit exceeded' },
    });
    expect(limited.headers.get('x-rate-limit-limit')).toBe('600');
    expect(limited.headers.get('x-rate-limit-quota')).toBe('600');
    expect(limited.headers.get('x-rate-limit-remaining')).toBe('0');
    const reset = Number(limited.headers.get('x-rate-limit-reset'));
    expect(reset).toBeGreaterThan(0);
    expect(reset).toBeLessThanOrEqual(60);
    // The 429 used none of the window, and nothing was pushed.
    expect(next.headers.get('x-rate-limit-remaining')).toBe('599');
    expect(jpush.getDevice('dev1')?.received).toHaveLength(1);
  });

  it('applies random faults only to the families set: pushes fail, reports and device calls work', async () => {
    // Prepare
    const jpush = await start();
    jpush.setDevice('dev1', { online: true });
    jpush.setFaults({ rateLimitRate: 1, families: ['push'] });

    // Act
    const pushed = await call(jpush.url, '/v3/push', {
      body: pushTo(['dev1']),
    });
    const cid = await call(jpush.url, '/v3/push/cid');
    const report = await call(jpush.url, '/v3/received?msg_ids=1');
    const device = await call(jpush.url, '/v3/aliases/nobody');

    // Assess
    expect([pushed.status, pushed.json.error.code]).toEqual([429, 2002]);
    expect(cid.status).toBe(429);
    expect(report.status).toBe(200);
    expect(device.status).toBe(200);
    expect(jpush.getDevice('dev1')?.received).toEqual([]);
  });

  it('answers 500 code 1000 without pushing at serverErrorRate 1', async () => {
    // Prepare
    const jpush = await start();
    jpush.setDevice('dev1', { online: true });
    jpush.setFaults({ serverErrorRate: 1 });

    // Act
    const failed = await call(jpush.url, '/v3/push', {
      body: pushTo(['dev1']),
    });

    // Assess
    expect(failed.status).toBe(500);
    expect(failed.json).toEqual({
      error: { code: 1000, message: 'Server internal error' },
    });
    expect(jpush.getDevice('dev1')?.received).toEqual([]);
  });

  it('delays the answers of the families set by latencyMs', async () => {
    // Prepare
    const jpush = await start();
    jpush.setFaults({ latencyMs: 300, families: ['report'] });

    // Act
    const started = performance.now();
    const report = await call(jpush.url, '/v3/received?msg_ids=1');
    const reportMs = performance.now() - started;
    const deviceStarted = performance.now();
    const device = await call(jpush.url, '/v3/aliases/nobody');
    const deviceMs = performance.now() - deviceStarted;

    // Assess
    expect(report.status).toBe(200);
    expect(reportMs).toBeGreaterThanOrEqual(290);
    expect(device.status).toBe(200);
    expect(deviceMs).toBeLessThan(300);
  });

  it('takes per-family limits at run time: push 2/min → the third push is 429 with a Reset header, reports still pass', async () => {
    // Prepare
    const jpush = await start();
    jpush.setDevice('dev1', { online: true });
    const set = await call(jpush.url, faultsUrl, {
      method: 'PUT',
      body: { rateLimitPerMinute: { push: 2 } },
    });
    await call(jpush.url, '/v3/push', { body: pushTo(['dev1']) });
    await call(jpush.url, '/v3/push', { body: pushTo(['dev1']) });

    // Act
    const third = await call(jpush.url, '/v3/push', { body: pushTo(['dev1']) });
    const report = await call(jpush.url, '/v3/received?msg_ids=1');

    // Assess
    expect(set.json.rateLimitPerMinute).toEqual({
      push: 2,
      report: 2400,
      device: 600,
    });
    expect([third.status, third.json.error.code]).toEqual([429, 2002]);
    expect(third.headers.get('x-rate-limit-limit')).toBe('2');
    expect(third.headers.get('x-rate-limit-remaining')).toBe('0');
    expect(Number(third.headers.get('x-rate-limit-reset'))).toBeGreaterThan(0);
    expect(report.status).toBe(200);
    expect(jpush.getDevice('dev1')?.received).toHaveLength(2);
  });

  it('replays the same faults with the same seeded random', async () => {
    // Prepare
    const run = async () => {
      const jpush = await start({
        random: seeded(42),
        faults: { lostResponseRate: 0.3, serverErrorRate: 0.3 },
      });
      for (let i = 0; i < 12; i += 1) {
        await socketErrorOf(call(jpush.url, '/v3/aliases/nobody'));
      }
      return jpush.requests().map((entry) => entry.fault ?? 'none');
    };

    // Act
    const first = await run();
    const second = await run();

    // Assess
    expect(second).toEqual(first);
    expect(new Set(first).size).toBeGreaterThan(1);
  });
});

describe('JPush simulator faults: request log and call counts', () => {
  it('records the fault and the call family of each request', async () => {
    // Prepare
    const jpush = await start();
    jpush.setDevice('dev1', { online: true });
    jpush.injectFaults(
      { path: '/v3/push', afterActing: true },
      { path: '/v3/push/cid', drop: true },
      { path: '/v3/received', status: 502, body: '<html>502</html>' }
    );

    // Act
    await socketErrorOf(
      call(jpush.url, '/v3/push', { body: pushTo(['dev1']) })
    );
    await socketErrorOf(call(jpush.url, '/v3/push/cid'));
    await call(jpush.url, '/v3/received?msg_ids=1');
    jpush.setFaults({ serverErrorRate: 1, families: ['device'] });
    await call(jpush.url, '/v3/aliases/a1');
    jpush.setFaults({ serverErrorRate: 0, rateLimitRate: 1 });
    await call(jpush.url, '/v3/devices/dev1');
    const msgId = jpush.getDevice('dev1')?.received[0]?.msgId;
    await call(jpush.url, `/v3/push/${msgId}`, { method: 'DELETE' });

    // Assess
    expect(
      jpush.requests().map(({ family, fault }) => ({ family, fault }))
    ).toEqual([
      { family: 'push', fault: 'lost-response' },
      { family: 'cid', fault: 'dropped' },
      { family: 'report', fault: 'scripted' },
      { family: 'device', fault: 'server-error' },
      { family: 'device', fault: 'rate-limited' },
      { family: 'withdraw', fault: undefined },
    ]);
  });

  it('counts calls by family, cid and withdraw apart from push, until reset', async () => {
    // Prepare
    const jpush = await start();
    jpush.setDevice('dev1', { online: true });

    // Act
    const msgId = (
      await call(jpush.url, '/v3/push', { body: pushTo(['dev1']) })
    ).json.msg_id;
    await call(jpush.url, '/v3/push/validate', { body: pushTo(['dev1']) });
    await call(jpush.url, '/v3/push/cid?count=2');
    await call(jpush.url, `/v3/push/${msgId}`, { method: 'DELETE' });
    await call(jpush.url, `/v3/received/detail?msg_ids=${msgId}`);
    await call(jpush.url, '/v3/aliases/nobody');
    await call(jpush.url, '/local/devices');
    const counts = jpush.callCounts();
    jpush.resetRequests();

    // Assess
    expect(counts).toEqual({
      push: 2,
      cid: 1,
      withdraw: 1,
      report: 1,
      device: 1,
    });
    expect(jpush.callCounts()).toEqual({
      push: 0,
      cid: 0,
      withdraw: 0,
      report: 0,
      device: 0,
    });
    expect(jpush.requests()).toEqual([]);
  });
});

describe('JPush simulator faults: settings in process', () => {
  it('merges a change into the current faults, hands out copies and resets to the start settings', async () => {
    // Prepare
    const jpush = await start({ faults: { serverErrorRate: 0.5 } });

    // Act
    jpush.setFaults({ rateLimitPerMinute: { push: 60 }, families: ['push'] });
    const shown = jpush.getFaults();
    shown.rateLimitPerMinute.push = 1;
    shown.families.push('device');

    // Assess
    expect(jpush.getFaults()).toEqual({
      ...DEFAULT_FAULTS,
      serverErrorRate: 0.5,
      rateLimitPerMinute: { push: 60, report: 2400, device: 600 },
      families: ['push'],
    });
    expect(jpush.resetFaults()).toEqual({
      ...DEFAULT_FAULTS,
      serverErrorRate: 0.5,
    });
  });

  it('rejects bad faults set in process with a message, changing nothing', async () => {
    // Prepare
    const jpush = await start();

    // Act
    const attempt = () =>
      jpush.setFaults({ lostResponseRate: 0.5, latencyMs: -1 });

    // Assess
    expect(attempt).toThrow(/latencyMs must be a number of milliseconds/);
    expect(jpush.getFaults()).toEqual(DEFAULT_FAULTS);
  });
});

describe('JPush simulator faults: /local/jpush/faults', () => {
  it('merges a PUT into the current faults, shows them on GET and goes back to the start settings on DELETE', async () => {
    // Prepare
    const jpush = await start({ faults: { latencyMs: 5 } });
    const atStart = { ...DEFAULT_FAULTS, latencyMs: 5 };

    // Act
    const first = await call(jpush.url, faultsUrl, {
      method: 'PUT',
      body: { lostResponseRate: 0.05, rateLimitPerMinute: { push: 60 } },
    });
    const second = await call(jpush.url, `${faultsUrl}/`, {
      method: 'PUT',
      body: { families: ['push'], rateLimitPerMinute: { device: 30 } },
    });
    const shown = await call(jpush.url, faultsUrl);
    const inProcess = jpush.getFaults();
    const reset = await call(jpush.url, faultsUrl, { method: 'DELETE' });

    // Assess
    expect(first.status).toBe(200);
    expect(first.json).toEqual({
      ...atStart,
      lostResponseRate: 0.05,
      rateLimitPerMinute: { push: 60, report: 2400, device: 600 },
    });
    const expected = {
      ...atStart,
      lostResponseRate: 0.05,
      rateLimitPerMinute: { push: 60, report: 2400, device: 30 },
      families: ['push'],
    };
    expect(second.json).toEqual(expected);
    expect(shown.json).toEqual(expected);
    expect(inProcess).toEqual(expected);
    expect(reset.status).toBe(200);
    expect(reset.json).toEqual(atStart);
    expect(jpush.getFaults()).toEqual(atStart);
    expect(jpush.requests()).toEqual([]);
  });

  it.each([
    ['a body that is not JSON', '{"lostResponseRate": ', 'not valid JSON'],
    ['an unknown field', { lostRate: 0.1 }, 'Unknown field "lostRate"'],
    [
      'a rate above 1',
      { lostResponseRate: 1.5 },
      'lostResponseRate must be a number from 0 to 1',
    ],
    [
      'a negative latency',
      { latencyMs: -10 },
      'latencyMs must be a number of milliseconds',
    ],
    [
      'an unknown family',
      { families: ['push', 'sms'] },
      'families[1] is an unknown family "sms"',
    ],
    [
      'an unknown family in the limits',
      { rateLimitPerMinute: { sms: 10 } },
      'rateLimitPerMinute has an unknown family "sms"',
    ],
    [
      'a rate as a string',
      { serverErrorRate: '0.5' },
      'serverErrorRate must be a number from 0 to 1',
    ],
    [
      'a fractional limit',
      { rateLimitPerMinute: { push: 2.5 } },
      'rateLimitPerMinute.push must be a whole number',
    ],
    [
      'families that are not a list',
      { families: 'push' },
      'families must be a list of API families',
    ],
    ['a list as the body', [0.5], 'The faults must be a JSON object'],
    [
      'one bad field next to a good one',
      { dropConnectionRate: 0.5, rateLimitRate: -1 },
      'rateLimitRate must be a number from 0 to 1',
    ],
  ])(
    'answers 400 ValidationError to %s and changes nothing',
    async (_, body, message) => {
      // Prepare
      const jpush = await start();
      const before = jpush.getFaults();

      // Act
      const result = await call(jpush.url, faultsUrl, { method: 'PUT', body });

      // Assess
      expect(result.status).toBe(400);
      expect(result.json.error.code).toBe('ValidationError');
      expect(result.json.error.message).toContain(message);
      expect((await call(jpush.url, faultsUrl)).json).toEqual(before);
    }
  );

  it('answers 405 with allow to other methods', async () => {
    // Prepare
    const jpush = await start();

    // Act
    const posted = await call(jpush.url, faultsUrl, {
      method: 'POST',
      body: { lostResponseRate: 1 },
    });
    const patched = await call(jpush.url, faultsUrl, {
      method: 'PATCH',
      body: {},
    });

    // Assess
    for (const result of [posted, patched]) {
      expect(result.status).toBe(405);
      expect(result.headers.get('allow')).toBe('GET, PUT, DELETE');
      expect(result.json.error.code).toBe('MethodNotAllowed');
    }
    expect(jpush.getFaults().lostResponseRate).toBe(0);
  });
});
