import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  type JPushSimulator,
  type SimulatorOptions,
  startJPushSimulator,
} from '../../local/jpush-simulator/index.ts';

const APP_KEY = 'testAppKey00000000000000';
const SECRET = 'testMasterSecret00000000';
const AUTH = `Basic ${Buffer.from(`${APP_KEY}:${SECRET}`).toString('base64')}`;
const TWO_POW_53 = 2n ** 53n;

let sim: JPushSimulator;

const start = async (options: SimulatorOptions = {}): Promise<void> => {
  await sim?.close();
  sim = await startJPushSimulator({
    appKey: APP_KEY,
    masterSecret: SECRET,
    ...options,
  });
};

interface CallOptions {
  method?: string;
  /** An object is sent as JSON; a string is sent as is. */
  body?: unknown;
  /** null: no Authorization header. */
  auth?: string | null;
}

const call = async (path: string, options: CallOptions = {}) => {
  const headers: Record<string, string> = {
    'content-type': 'application/json',
  };
  const auth = options.auth === undefined ? AUTH : options.auth;
  if (auth !== null) headers.authorization = auth;
  const body =
    options.body === undefined || typeof options.body === 'string'
      ? (options.body as string | undefined)
      : JSON.stringify(options.body);
  const response = await fetch(`${sim.url}${path}`, {
    method: options.method ?? (body === undefined ? 'GET' : 'POST'),
    headers,
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

/** The `error.code` of a JSON error body. */
const codeOf = (json: unknown): unknown =>
  (json as { error?: { code?: unknown } } | undefined)?.error?.code;

const notification = (extras: Record<string, unknown> = {}) => ({
  android: { alert: 'Your parcel arrived', title: 'Parcel', extras },
});

const pushTo = (
  rids: string[],
  extra: Record<string, unknown> = {}
): Record<string, unknown> => ({
  platform: 'all',
  audience: { registration_id: rids },
  notification: notification(),
  ...extra,
});

/** Push and return the msg_id (asserts success). */
const push = async (body: unknown): Promise<string> => {
  const result = await call('/v3/push', { body });
  expect(result.status, result.text).toBe(200);
  return (result.json as { msg_id: string }).msg_id;
};

const statusOf = async (msgId: string, rids: string[], date?: string) => {
  const dateJson = date === undefined ? '' : `,"date":"${date}"`;
  return call('/v3/status/message', {
    body: `{"msg_id":${msgId},"registration_ids":${JSON.stringify(rids)}${dateJson}}`,
  });
};

beforeEach(async () => {
  await start();
});

afterEach(async () => {
  await sim.close();
});

describe('JPush simulator: auth, routing, wire format', () => {
  it('rejects bad credentials per API family with 1004, 3001, 7004 and 7001', async () => {
    // Prepare
    const wrong = `Basic ${Buffer.from(`${APP_KEY}:nope`).toString('base64')}`;
    sim.setDevice('dev1', {});

    // Act
    const pushed = await call('/v3/push', {
      body: pushTo(['dev1']),
      auth: wrong,
    });
    const report = await call('/v3/received/detail?msg_ids=1', { auth: null });
    const device = await call('/v3/devices/dev1', { auth: wrong });
    const empty = await call('/v3/devices/dev1', { auth: null });

    // Assess
    expect(pushed.status).toBe(401);
    expect(pushed.json).toEqual({
      error: { code: 1004, message: 'Authen failed' },
    });
    expect([report.status, codeOf(report.json)]).toEqual([401, 3001]);
    expect([device.status, codeOf(device.json)]).toEqual([401, 7004]);
    expect([empty.status, codeOf(empty.json)]).toEqual([401, 7001]);
    expect(sim.getDevice('dev1')?.received).toEqual([]);
  });

  it('sends JSON content type and the rate-limit headers on every API answer', async () => {
    // Act
    const result = await call('/v3/aliases/nobody');

    // Assess
    expect(result.status).toBe(200);
    expect(result.headers.get('content-type')).toBe(
      'application/json; charset=utf-8'
    );
    expect(result.headers.get('x-rate-limit-limit')).toBe('600');
    expect(result.headers.get('x-rate-limit-quota')).toBe('600');
    expect(result.headers.get('x-rate-limit-remaining')).toBe('599');
    expect(Number(result.headers.get('x-rate-limit-reset'))).toBeGreaterThan(0);
  });

  it('answers 405/1001 to a GET on /v3/push and 404/7010 to an unknown route', async () => {
    // Act
    const wrongMethod = await call('/v3/push');
    const unknown = await call('/v3/devices/dev1/whatever');

    // Assess
    expect([wrongMethod.status, codeOf(wrongMethod.json)]).toEqual([405, 1001]);
    expect(unknown.status).toBe(404);
    expect(unknown.json).toEqual({
      error: { code: 7010, message: "request api doesn't exist" },
    });
  });

  it('answers 413/1005 to a body over 1 MiB', async () => {
    // Act
    const result = await call('/v3/push', {
      body: 'x'.repeat(1024 * 1024 + 1),
    });

    // Assess
    expect([result.status, codeOf(result.json)]).toEqual([413, 1005]);
  });

  it('logs API requests but not /local requests', async () => {
    // Prepare
    await call('/local/devices/dev1', { method: 'PUT', body: {} });

    // Act
    await call('/v3/aliases/a1/?platform=android');

    // Assess
    const log = sim.requests();
    expect(log).toHaveLength(1);
    expect(log[0]).toMatchObject({
      method: 'GET',
      path: '/v3/aliases/a1/?platform=android',
      body: '',
    });
  });
});

describe('JPush simulator: push validation', () => {
  it('answers 1002 when platform, audience or both notification and message are missing', async () => {
    // Act
    const noPlatform = await call('/v3/push', {
      body: { audience: 'all', notification: { alert: 'x' } },
    });
    const noContent = await call('/v3/push', {
      body: { platform: 'all', audience: 'all' },
    });

    // Assess
    expect([noPlatform.status, codeOf(noPlatform.json)]).toEqual([400, 1002]);
    expect(codeOf(noContent.json)).toBe(1002);
  });

  it('answers 1009 to an unknown key, including the documented typos', async () => {
    // Act
    const topLevel = await call('/v3/push', {
      body: { ...pushTo(['dev1']), bogus: 1 },
    });
    const typo = await call('/v3/push', {
      body: pushTo(['dev1'], {
        notification: { ios: { alert: 'x', content_available: true } },
      }),
    });

    // Assess
    expect([topLevel.status, codeOf(topLevel.json)]).toEqual([400, 1009]);
    expect(codeOf(typo.json)).toBe(1009);
  });

  it('answers 1003 to a non-JSON body, an empty audience value, a bad id or alias', async () => {
    // Act
    const results = await Promise.all([
      call('/v3/push', { body: '{not json' }),
      call('/v3/push', { body: pushTo(['']) }),
      call('/v3/push', { body: pushTo(['bad id!']) }),
      call('/v3/push', {
        body: { ...pushTo([]), audience: { alias: ['a'.repeat(41)] } },
      }),
      call('/v3/push', {
        body: { ...pushTo([]), audience: { alias: ['semi;colon'] } },
      }),
    ]);

    // Assess
    for (const result of results) {
      expect([result.status, codeOf(result.json)], result.text).toEqual([
        400, 1003,
      ]);
    }
  });

  it('answers 1005 when the android notification and message exceed 4000 bytes', async () => {
    // Prepare
    sim.setDevice('dev1', {});

    // Act
    const result = await call('/v3/push', {
      body: pushTo(['dev1'], {
        message: { msg_content: 'x'.repeat(3990) },
      }),
    });

    // Assess
    expect([result.status, codeOf(result.json)]).toEqual([400, 1005]);
  });

  it('answers 1011 with a numeric msg_id above 2^53 when no device matches', async () => {
    // Act
    const result = await call('/v3/push', { body: pushTo(['ghost']) });

    // Assess
    expect(result.status).toBe(400);
    expect(codeOf(result.json)).toBe(1011);
    expect((result.json as { error: { message: string } }).error.message).toBe(
      'cannot find user by this audience or has been inactive for more than 255 days'
    );
    const digits = /"msg_id":(\d+)[,}]/.exec(result.text)?.[1];
    expect(digits).toBeDefined();
    expect(BigInt(digits ?? '0')).toBeGreaterThan(TWO_POW_53);
  });
});

describe('JPush simulator: pushing', () => {
  it('answers string msg_ids above 2^53 that strictly increase, and echoes sendno', async () => {
    // Prepare
    sim.setDevice('dev1', {});

    // Act
    const first = await call('/v3/push', {
      body: pushTo(['dev1'], { options: { sendno: 42 } }),
    });
    const second = await call('/v3/push', { body: pushTo(['dev1']) });

    // Assess
    const a = first.json as { sendno: string; msg_id: string };
    const b = second.json as { sendno: string; msg_id: string };
    expect(a.sendno).toBe('42');
    expect(b.sendno).toBe('0');
    expect(first.text).toMatch(/"msg_id":"\d{17,}"/);
    expect(BigInt(a.msg_id)).toBeGreaterThan(TWO_POW_53);
    expect(BigInt(b.msg_id)).toBeGreaterThan(BigInt(a.msg_id));
  });

  it('delivers to an online device with title, alert and extras, and notifies listeners', async () => {
    // Prepare
    sim.setDevice('dev1', { online: true });
    const seen: string[] = [];
    const unsubscribe = sim.onDelivered((rid, received) =>
      seen.push(`${rid}:${received.msgId}`)
    );

    // Act
    const msgId = await push(
      pushTo(['dev1'], { notification: notification({ messageId: 'm-1' }) })
    );
    unsubscribe();
    await push(pushTo(['dev1']));

    // Assess
    expect(seen).toEqual([`dev1:${msgId}`]);
    expect(sim.getDevice('dev1')?.received[0]).toMatchObject({
      msgId,
      title: 'Parcel',
      alert: 'Your parcel arrived',
      extras: { messageId: 'm-1' },
    });
  });

  it('returns the first result for a reused cid and delivers only once', async () => {
    // Prepare
    sim.setDevice('dev1', {});
    const cids = await call('/v3/push/cid?count=2&type=push');
    const [cid] = (cids.json as { cidlist: string[] }).cidlist;

    // Act
    const first = await push(pushTo(['dev1'], { cid }));
    const again = await push(pushTo(['dev1'], { cid }));

    // Assess
    expect((cids.json as { cidlist: string[] }).cidlist).toHaveLength(2);
    expect(cid).toMatch(new RegExp(`^${APP_KEY}-[0-9a-f-]{36}$`));
    expect(again).toBe(first);
    expect(sim.getDevice('dev1')?.received).toHaveLength(1);
  });

  it('keeps only the 5 newest of 7 offline pushes and delivers them in order on coming online', async () => {
    // Prepare
    sim.setDevice('dev1', { online: false });
    const ids: string[] = [];
    for (let i = 0; i < 7; i++) ids.push(await push(pushTo(['dev1'])));

    // Act
    const queued = sim.getDevice('dev1')?.queued;
    const state = sim.setDevice('dev1', { online: true });
    const status = await statusOf(ids[6] ?? '', ['dev1']);
    const statuses = await Promise.all(
      ids.map(async (id) => {
        const r = await statusOf(id, ['dev1']);
        return (r.json as Record<string, { status: number }>).dev1?.status;
      })
    );
    const detail = await call(`/v3/received/detail?msg_ids=${ids.join(',')}`);

    // Assess
    expect(queued).toBe(5);
    expect(state.received.map((r) => r.msgId)).toEqual(ids.slice(2));
    expect(state.queued).toBe(0);
    expect(status.json).toEqual({ dev1: { status: 0 } });
    expect(statuses).toEqual([1, 1, 0, 0, 0, 0, 0]);
    const rows = detail.json as Array<{ jpush_received: number | null }>;
    expect(rows.map((r) => r.jpush_received)).toEqual([0, 0, 1, 1, 1, 1, 1]);
    expect(rows.reduce((sum, r) => sum + (r.jpush_received ?? 0), 0)).toBe(5);
    expect(detail.text).toMatch(new RegExp(`"msg_id":${ids[0]},`));
  });

  it('never delivers a time_to_live 0 push to an offline device', async () => {
    // Prepare
    sim.setDevice('dev1', { online: false });
    const msgId = await push(
      pushTo(['dev1'], { options: { time_to_live: 0 } })
    );

    // Act
    const state = sim.setDevice('dev1', { online: true });
    const status = await statusOf(msgId, ['dev1']);

    // Assess
    expect(state.received).toEqual([]);
    expect(status.json).toEqual({ dev1: { status: 1 } });
  });

  it('drops queued pushes whose time_to_live has passed (injected clock)', async () => {
    // Prepare
    let clock = Date.parse('2026-03-01T02:00:00Z');
    await start({ now: () => clock });
    sim.setDevice('dev1', { online: false });
    const short = await push(
      pushTo(['dev1'], { options: { time_to_live: 60 } })
    );
    const long = await push(
      pushTo(['dev1'], { options: { time_to_live: 3600 } })
    );

    // Act
    clock += 61_000;
    const state = sim.setDevice('dev1', { online: true });
    const status = await statusOf(short, ['dev1']);

    // Assess
    expect(state.received.map((r) => r.msgId)).toEqual([long]);
    expect(state.received[0]?.at).toBe('2026-03-01T02:01:01.000Z');
    expect(status.json).toEqual({ dev1: { status: 1 } });
  });

  it('replaces the queued copy in place with override_msg_id, so the device gets one copy', async () => {
    // Prepare
    sim.setDevice('dev1', { online: false });
    const old = await push(pushTo(['dev1']));
    const body = JSON.stringify(
      pushTo(['dev1'], { options: { override_msg_id: 0 } })
    ).replace('"override_msg_id":0', `"override_msg_id":${old}`);

    // Act
    const replacement = await push(body);
    const unknown = await call('/v3/push', {
      body: body.replace(old, '12345678901234567'),
    });
    const state = sim.setDevice('dev1', { online: true });

    // Assess
    expect([unknown.status, codeOf(unknown.json)]).toEqual([400, 1003]);
    expect(state.received.map((r) => r.msgId)).toEqual([replacement]);
    const statuses = await statusOf(old, ['dev1']);
    expect(statuses.json).toEqual({ dev1: { status: 1 } });
  });

  it('replaces a notification still shown on an online Android device with override_msg_id', async () => {
    // Prepare
    sim.setDevice('and1', { online: true, platform: 'android' });
    const old = await push(pushTo(['and1']));
    const body = JSON.stringify(
      pushTo(['and1'], { options: { override_msg_id: 0 } })
    ).replace('"override_msg_id":0', `"override_msg_id":${old}`);

    // Act
    const replacement = await push(body);

    // Assess
    const shown = (rid: string) =>
      sim
        .getDevice(rid)
        ?.received.filter((r) => !r.replaced)
        .map((r) => r.msgId);
    expect(shown('and1')).toEqual([replacement]);
    expect(sim.getDevice('and1')?.received.map((r) => r.msgId)).toEqual([
      old,
      replacement,
    ]);
  });

  it('replaces an iOS notification shown with the same APNs collapse id', async () => {
    // Prepare
    sim.setDevice('ios1', { online: true, platform: 'ios' });
    const iosPush = (collapse: string) => ({
      platform: ['ios'],
      audience: { registration_id: ['ios1'] },
      notification: { ios: { alert: 'Your parcel arrived', extras: {} } },
      options: { apns_collapse_id: collapse },
    });
    const first = await push(iosPush('order-1009'));

    // Act
    const second = await push(iosPush('order-1009'));
    const other = await push(iosPush('order-1010'));
    const tooLong = await call('/v3/push', { body: iosPush('x'.repeat(65)) });

    // Assess
    const received = sim.getDevice('ios1')?.received ?? [];
    expect(received.map((r) => [r.msgId, r.replaced === true])).toEqual([
      [first, true],
      [second, false],
      [other, false],
    ]);
    expect([tooLong.status, codeOf(tooLong.json)]).toEqual([400, 1003]);
  });

  it('withdraws a message: drops queued copies and marks received ones', async () => {
    // Prepare
    sim.setDevice('on1', { online: true });
    sim.setDevice('off1', { online: false });
    const msgId = await push(pushTo(['on1', 'off1']));

    // Act
    const withdrawn = await call(`/v3/push/${msgId}`, { method: 'DELETE' });
    const unknown = await call('/v3/push/12345678901234567', {
      method: 'DELETE',
    });
    const off = sim.setDevice('off1', { online: true });

    // Assess
    expect([withdrawn.status, withdrawn.text]).toEqual([200, '']);
    expect([unknown.status, codeOf(unknown.json)]).toEqual([400, 1003]);
    expect(sim.getDevice('on1')?.received[0]?.withdrawn).toBe(true);
    expect(off.received).toEqual([]);
  });

  it('posts the ACK with the token to ackBaseUrl for autoAck devices', async () => {
    // Prepare
    const acks: Array<{ path: string; body: string }> = [];
    const { promise: acked, resolve } = Promise.withResolvers<void>();
    const ackServer: Server = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk) => {
        body += chunk;
      });
      req.on('end', () => {
        acks.push({ path: req.url ?? '', body });
        res.writeHead(204).end();
        resolve();
      });
    });
    await new Promise<void>((r) => ackServer.listen(0, '127.0.0.1', r));
    const { port } = ackServer.address() as AddressInfo;
    await start({ ackBaseUrl: `http://127.0.0.1:${port}` });
    sim.setDevice('dev1', { autoAck: true, ackDelayMs: 10 });

    // Act
    await push(
      pushTo(['dev1'], {
        notification: notification({ messageId: 'msg-7', ackToken: 'tok-7' }),
      })
    );
    await acked;
    await new Promise<void>((r) => ackServer.close(() => r()));

    // Assess
    expect(acks).toEqual([
      {
        path: '/v1/messages/msg-7/ack',
        body: '{"token":"tok-7","registrationId":"dev1"}',
      },
    ]);
  });

  it("ACKs from an iOS device's extension for mutable-content, never from an Android device on a vendor channel", async () => {
    // Prepare
    const acks: string[] = [];
    const ackServer: Server = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk) => {
        body += chunk;
      });
      req.on('end', () => {
        acks.push(`${req.url} ${body}`);
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => ackServer.listen(0, '127.0.0.1', r));
    const { port } = ackServer.address() as AddressInfo;
    await start({ ackBaseUrl: `http://127.0.0.1:${port}` });
    sim.setDevice('nse1', { platform: 'ios', extension: true });
    sim.setDevice('ios1', { platform: 'ios' });
    sim.setDevice('vendor1', { autoAck: true, vendorChannel: true });
    const extras = (id: string) => ({ messageId: id, ackToken: `tok-${id}` });

    // Act
    await push({
      platform: ['ios'],
      audience: { registration_id: ['nse1', 'ios1'] },
      notification: {
        ios: { alert: 'a', 'mutable-content': true, extras: extras('m1') },
      },
    });
    await push({
      platform: ['ios'],
      audience: { registration_id: ['nse1'] },
      notification: { ios: { alert: 'b', extras: extras('m2') } },
    });
    const vendorMsgId = await push(
      pushTo(['vendor1'], { notification: notification(extras('m3')) })
    );
    await new Promise((r) => setTimeout(r, 300));
    await new Promise<void>((r) => ackServer.close(() => r()));

    // Assess: only the extension ACKed, once; the app code of the vendor
    // phone never ran.
    expect(acks).toEqual([
      '/v1/messages/m1/ack {"token":"tok-m1","registrationId":"nse1"}',
    ]);
    expect(sim.getDevice('vendor1')?.received).toMatchObject([
      { msgId: vendorMsgId, vendorChannel: true },
    ]);
  });
});

describe('JPush simulator: report', () => {
  it('rejects a string msg_id in status/message with 3002', async () => {
    // Act
    const result = await call('/v3/status/message', {
      body: { msg_id: '18100528814460569', registration_ids: ['dev1'] },
    });

    // Assess
    expect(result.status).toBe(400);
    expect(result.json).toEqual({
      error: { code: 3002, message: 'Invalid parameter `msg_id`.' },
    });
  });

  it('reports 2 for an unknown device and 3 for a known non-target', async () => {
    // Prepare
    sim.setDevice('dev1', {});
    sim.setDevice('dev2', {});
    const msgId = await push(pushTo(['dev1']));

    // Act
    const result = await statusOf(msgId, ['dev1', 'dev2', 'ghost']);
    const legacy = await call(`/v3/received?msg_ids=${msgId}`);

    // Assess
    expect(result.json).toEqual({
      dev1: { status: 0 },
      dev2: { status: 3 },
      ghost: { status: 2 },
    });
    expect(legacy.text).toBe(
      `[{"msg_id":${msgId},"android_received":1,"ios_apns_sent":null,"ios_apns_received":null,"ios_msg_received":null,"wp_mpns_sent":null}]`
    );
  });

  it('counts iOS pushes as ios_apns_sent at push and ios_apns_received on delivery', async () => {
    // Prepare
    sim.setDevice('ios1', { platform: 'ios', online: false });
    const msgId = await push({
      platform: ['ios'],
      audience: { registration_id: ['ios1'] },
      notification: { ios: { alert: { title: 'T', body: 'B' } } },
    });
    const before = await call(`/v3/received/detail?msg_ids=${msgId}`);

    // Act
    const state = sim.setDevice('ios1', { online: true });
    const after = await call(`/v3/received/detail?msg_ids=${msgId}`);

    // Assess
    expect(before.json).toMatchObject([
      { ios_apns_sent: 1, ios_apns_received: 0, jpush_received: null },
    ]);
    expect(after.json).toMatchObject([{ ios_apns_received: 1 }]);
    expect(state.received[0]).toMatchObject({ title: 'T', alert: 'B' });
  });

  it('counts a vendor-channel phone in android_pns_sent and android_pns_received, and in the legacy android_received', async () => {
    // Prepare
    sim.setDevice('vendor1', { vendorChannel: true });
    sim.setDevice('jpush1', {});

    // Act
    const vendorOnly = await push(pushTo(['vendor1']));
    const both = await push(pushTo(['vendor1', 'jpush1']));
    const detail = await call(
      `/v3/received/detail?msg_ids=${vendorOnly},${both}`
    );
    const legacy = await call(`/v3/received?msg_ids=${vendorOnly},${both}`);
    const status = await statusOf(vendorOnly, ['vendor1']);

    // Assess
    expect(detail.json).toMatchObject([
      { jpush_received: null, android_pns_sent: 1, android_pns_received: 1 },
      { jpush_received: 1, android_pns_sent: 1, android_pns_received: 1 },
    ]);
    expect(legacy.json).toMatchObject([
      { android_received: 1 },
      { android_received: 2 },
    ]);
    expect(status.json).toEqual({ vendor1: { status: 0 } });
  });

  it('rejects more than 100 msg_ids with 3002', async () => {
    // Act
    const ids = Array.from({ length: 101 }, (_, i) => String(i + 1));
    const result = await call(`/v3/received/detail?msg_ids=${ids.join(',')}`);

    // Assess
    expect([result.status, codeOf(result.json)]).toEqual([400, 3002]);
  });

  it('answers 403/2006 to status/message for a non-VIP app', async () => {
    // Prepare
    await start({ vip: false });

    // Act
    const result = await statusOf('18100528814460569', ['dev1']);

    // Assess
    expect([result.status, codeOf(result.json)]).toEqual([403, 2006]);
  });
});

describe('JPush simulator: device API', () => {
  it('accepts {"tags": {}, "alias": "x"} and clears with {"tags": "", "alias": ""}', async () => {
    // Prepare
    sim.setDevice('dev1', {});

    // Act
    const set = await call('/v3/devices/dev1', {
      body: { tags: {}, alias: 'user1' },
    });
    const shown = await call('/v3/devices/dev1/');
    const cleared = await call('/v3/devices/dev1', {
      body: { tags: '', alias: '' },
    });
    const after = await call('/v3/devices/dev1');

    // Assess
    expect([set.status, set.text]).toEqual([200, '']);
    expect(shown.json).toEqual({ tags: [], alias: 'user1', mobile: null });
    expect(cleared.status).toBe(200);
    expect(after.json).toEqual({ tags: [], alias: '', mobile: null });
    expect(sim.getDevice('dev1')?.alias).toBeNull();
  });

  it('rejects unknown keys, bad types and unknown devices with 7002', async () => {
    // Prepare
    sim.setDevice('dev1', {});

    // Act
    const results = await Promise.all([
      call('/v3/devices/dev1', { body: { nickname: 'x' } }),
      call('/v3/devices/dev1', { body: { alias: 5 } }),
      call('/v3/devices/dev1', { body: { tags: ['a'] } }),
      call('/v3/devices/ghost'),
    ]);

    // Assess
    for (const result of results) {
      expect([result.status, codeOf(result.json)]).toEqual([400, 7002]);
    }
  });

  it('binds up to 10 devices to an alias and answers 7015 for the 11th', async () => {
    // Prepare
    for (let i = 1; i <= 11; i++) sim.setDevice(`dev${i}`, {});
    for (let i = 1; i <= 10; i++) {
      const r = await call(`/v3/devices/dev${i}`, {
        body: { alias: 'family' },
      });
      expect(r.status).toBe(200);
    }

    // Act
    const eleventh = await call('/v3/devices/dev11', {
      body: { alias: 'family' },
    });
    const listed = await call('/v3/aliases/family/?platform=android,ios');

    // Assess
    expect(eleventh.status).toBe(400);
    expect(codeOf(eleventh.json)).toBe(7015);
    expect(
      (eleventh.json as { error: { message: string } }).error.message
    ).toMatch(/10 devices/);
    expect(
      (listed.json as { registration_ids: string[] }).registration_ids
    ).toHaveLength(10);
  });

  it('pushes to an alias and unbinds with POST and DELETE /v3/aliases', async () => {
    // Prepare
    sim.setDevice('a1', {});
    sim.setDevice('a2', { platform: 'ios' });
    await call('/v3/devices/a1', { body: { alias: 'bob' } });
    await call('/v3/devices/a2', { body: { alias: 'bob' } });
    await push({
      platform: 'all',
      audience: { alias: ['bob'] },
      notification: { alert: 'hi' },
    });

    // Act
    const androidOnly = await call('/v3/aliases/bob?platform=android');
    const removed = await call('/v3/aliases/bob', {
      body: { registration_ids: { remove: ['a1'] } },
    });
    const afterRemove = await call('/v3/aliases/bob/');
    const deleted = await call('/v3/aliases/bob', { method: 'DELETE' });
    const afterDelete = await call('/v3/aliases/bob');

    // Assess
    expect(sim.getDevice('a1')?.received).toHaveLength(1);
    expect(sim.getDevice('a2')?.received).toHaveLength(1);
    expect(androidOnly.json).toEqual({ registration_ids: ['a1'] });
    expect([removed.status, removed.text]).toEqual([200, '']);
    expect(afterRemove.json).toEqual({ registration_ids: ['a2'] });
    expect([deleted.status, deleted.text]).toEqual([200, '']);
    expect(afterDelete.json).toEqual({ registration_ids: [] });
  });
});

describe('JPush simulator: faults', () => {
  it('answers 429/2002 with X-Rate-Limit-Reset over the per-minute limit', async () => {
    // Prepare
    sim.setFaults({
      rateLimitPerMinute: { push: 600, report: 2400, device: 2 },
    });
    await call('/v3/aliases/a');
    await call('/v3/aliases/a');

    // Act
    const limited = await call('/v3/aliases/a');
    const otherFamily = await call('/v3/received?msg_ids=1');

    // Assess
    expect(limited.status).toBe(429);
    expect(limited.json).toEqual({
      error: { code: 2002, message: 'Rate limit exceeded' },
    });
    expect(limited.headers.get('x-rate-limit-limit')).toBe('2');
    expect(limited.headers.get('x-rate-limit-remaining')).toBe('0');
    const reset = Number(limited.headers.get('x-rate-limit-reset'));
    expect(reset).toBeGreaterThan(0);
    expect(reset).toBeLessThanOrEqual(60);
    expect(otherFamily.status).toBe(200);
  });

  it('serves an injected non-JSON 502 once, then answers normally', async () => {
    // Prepare
    sim.setDevice('dev1', {});
    sim.injectFaults({
      path: '/v3/push',
      status: 502,
      body: '<html>502 Bad Gateway</html>',
      headers: { 'content-type': 'text/html' },
    });

    // Act
    const faulty = await call('/v3/push', { body: pushTo(['dev1']) });
    const normal = await call('/v3/push', { body: pushTo(['dev1']) });

    // Assess
    expect(faulty.status).toBe(502);
    expect(faulty.text).toBe('<html>502 Bad Gateway</html>');
    expect(faulty.headers.get('content-type')).toBe('text/html');
    expect(normal.status).toBe(200);
    expect(sim.getDevice('dev1')?.received).toHaveLength(1);
  });

  it('drops the connection for an injected drop fault', async () => {
    // Prepare
    sim.injectFaults({
      path: /^\/v3\/push$/,
      method: 'POST',
      status: 0,
      drop: true,
    });

    // Act
    const attempt = call('/v3/push', { body: pushTo(['dev1']) });

    // Assess
    await expect(attempt).rejects.toThrow();
    expect((await call('/v3/push/cid')).status).toBe(200);
  });

  it('answers 500 with the family code at serverErrorRate 1', async () => {
    // Prepare
    sim.setFaults({ serverErrorRate: 1 });

    // Act
    const pushed = await call('/v3/push/cid');
    const report = await call('/v3/received?msg_ids=1');
    const device = await call('/v3/aliases/a');

    // Assess
    expect([pushed.status, codeOf(pushed.json)]).toEqual([500, 1000]);
    expect(codeOf(report.json)).toBe(10);
    expect(codeOf(device.json)).toBe(7000);
  });
});

describe('JPush simulator: /local/devices controls', () => {
  it('creates, changes, shows and lists devices without auth', async () => {
    // Act
    const created = await call('/local/devices/dev1', {
      method: 'PUT',
      auth: null,
      body: {
        online: false,
        autoAck: true,
        ackDelayMs: 5,
        dropRate: 0,
        platform: 'ios',
      },
    });
    const shown = await call('/local/devices/dev1/', { auth: null });
    const listed = await call('/local/devices', { auth: null });

    // Assess
    expect(created.status).toBe(200);
    expect(created.json).toEqual({
      registrationId: 'dev1',
      platform: 'ios',
      alias: null,
      online: false,
      autoAck: true,
      ackDelayMs: 5,
      dropRate: 0,
      extension: false,
      vendorChannel: false,
      received: [],
      queued: 0,
    });
    expect(shown.json).toEqual(created.json);
    expect(listed.json).toEqual([created.json]);
  });

  it('answers 400 ValidationError to bad settings and 404 to an unknown device', async () => {
    // Act
    const badType = await call('/local/devices/dev1', {
      method: 'PUT',
      body: { online: 'yes' },
    });
    const badRate = await call('/local/devices/dev1', {
      method: 'PUT',
      body: { dropRate: 2 },
    });
    const badJson = await call('/local/devices/dev1', {
      method: 'PUT',
      body: '{',
    });
    const badId = await call('/local/devices/bad%20id', {
      method: 'PUT',
      body: {},
    });
    const unknown = await call('/local/devices/ghost');

    // Assess
    for (const result of [badType, badRate, badJson, badId]) {
      expect([result.status, codeOf(result.json)]).toEqual([
        400,
        'ValidationError',
      ]);
    }
    expect(unknown.status).toBe(404);
    expect(sim.listDevices()).toEqual([]);
  });
});
