import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ReceivedPush } from '../../local/jpush-simulator/index.ts';
import { type LocalSystem, startLocalSystem } from '../../local/system.ts';
import {
  api,
  eventually,
  loginVia,
  logoutVia,
  newRegistrationId,
  newUserId,
} from '../helpers/local-system.ts';

// Issue 4 end to end: logins, logouts, account switches and the offline
// store, driven only through the HTTP API and the JPush simulator's device
// controls. The synthesized state machine runs on aws-local-stepfunctions
// 50 times faster than real time: an interval of 5 s takes 100 ms.
const TIME_SCALE = 0.02;

let system: LocalSystem;

beforeAll(async () => {
  system = await startLocalSystem({ timeScale: TIME_SCALE });
});

afterAll(async () => {
  await system?.close();
});

interface MessageView {
  messageId: string;
  to: string;
  status: string;
  attempts: number;
  createdAt: string;
  timeline: Array<{ at: string; event: string; detail?: string }>;
}

const sim = () => {
  if (!system.simulator) throw new Error('The JPush simulator is not running.');
  return system.simulator;
};

const login = (
  userId: string,
  registrationId: string,
  platform: 'android' | 'ios' = 'android'
) => loginVia(system, userId, registrationId, platform);

const logout = (userId: string, registrationId: string) =>
  logoutVia(system, userId, registrationId);

const send = async (body: Record<string, unknown>) => {
  const res = await api(system, 'POST', '/v1/messages', body);
  expect(res.status).toBe(202);
  return res.json as { messageId: string; status: string };
};

const view = async (messageId: string): Promise<MessageView> => {
  const res = await api(system, 'GET', `/v1/messages/${messageId}`);
  expect(res.status).toBe(200);
  return res.json as MessageView;
};

const waitFor = async (execution: string) => {
  const run = await system.stateMachine.waitForExecution(execution, 30_000);
  return run.status;
};

/** Every Push API request of the simulator's log that carries a message. */
const pushRequestsFor = (messageIds: readonly string[]) =>
  sim()
    .requests()
    .filter((r) => r.method === 'POST' && r.path === '/v3/push')
    .filter((r) => messageIds.some((id) => r.body.includes(id)));

/** What a device shows: got, not withdrawn, not replaced by a re-push. */
const kept = (registrationId: string): ReceivedPush[] =>
  (sim().getDevice(registrationId)?.received ?? []).filter(
    (p) => !p.withdrawn && !p.replaced
  );

const events = (message: MessageView) => message.timeline.map((e) => e.event);

describe('sessions: offline store, logout, account switch (HTTP API, local engine, JPush simulator)', () => {
  it('stores messages for a logged-out user without pushing and delivers them oldest first at the next login', async () => {
    // Prepare
    const a = newUserId('a');
    const d = newRegistrationId();
    sim().setDevice(d, { online: true, autoAck: true });
    await login(a, d);
    await logout(a, d);

    // Act
    const sent = [];
    for (const body of ['first', 'second', 'third']) {
      sent.push(await send({ to: a, body, policy: { intervalSeconds: 5 } }));
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    const ids = sent.map((s) => s.messageId);
    const storedViews = await Promise.all(ids.map(view));
    const pushesWhileOut = pushRequestsFor(ids).length;
    const relogin = await login(a, d);
    const statuses = await Promise.all(ids.map(waitFor));
    const after = await Promise.all(ids.map(view));

    // Assess
    expect(sent.map((s) => s.status)).toEqual(['stored', 'stored', 'stored']);
    expect(storedViews.map((m) => m.status)).toEqual([
      'stored',
      'stored',
      'stored',
    ]);
    expect(pushesWhileOut).toBe(0);
    expect(relogin.drained).toBe(3);
    expect(statuses).toEqual(['SUCCEEDED', 'SUCCEEDED', 'SUCCEEDED']);
    expect(after.map((m) => m.status)).toEqual([
      'acknowledged',
      'acknowledged',
      'acknowledged',
    ]);
    // Drained oldest first: the deliveries started in the order of sending.
    const drainedAt = after.map(
      (m) => m.timeline.find((e) => e.event === 'drained')?.at ?? ''
    );
    expect(drainedAt.every((at) => at !== '')).toBe(true);
    expect([...drainedAt].sort()).toEqual(drainedAt);
    const started = system.stateMachine
      .listExecutions()
      .filter((e) => ids.includes(e.name))
      .sort((x, y) => x.startDate.getTime() - y.startDate.getTime())
      .map((e) => e.name);
    expect(started).toEqual(ids);
    expect(
      kept(d)
        .map((p) => p.extras.messageId)
        .sort()
    ).toEqual([...ids].sort());
  });

  it('keeps messages for A away from the device B logged in on after A logged out, and the alias is B', async () => {
    // Prepare
    const a = newUserId('a');
    const b = newUserId('b');
    const d = newRegistrationId();
    sim().setDevice(d, { online: true, autoAck: true });
    await login(a, d);
    await logout(a, d);
    await login(b, d);

    // Act
    const toA = await send({ to: a, body: 'For A only.' });
    const toB = await send({ to: b, body: 'For B.' });
    const bStatus = await waitFor(toB.messageId);
    const device = await api(system, 'GET', `/local/devices/${d}`);

    // Assess
    expect(toA.status).toBe('stored');
    expect((await view(toA.messageId)).status).toBe('stored');
    expect(pushRequestsFor([toA.messageId])).toHaveLength(0);
    expect(bStatus).toBe('SUCCEEDED');
    expect((await view(toB.messageId)).status).toBe('acknowledged');
    expect(device.status).toBe(200);
    expect(device.json.alias).toBe(b);
    const received = device.json.received as ReceivedPush[];
    expect(received.filter((p) => p.extras.to === a)).toEqual([]);
    expect(received.map((p) => p.extras.messageId)).toEqual([toB.messageId]);
  });

  it("ends B's session on a device when C logs in there without B logging out", async () => {
    // Prepare
    const b = newUserId('b');
    const c = newUserId('c');
    const d = newRegistrationId();
    sim().setDevice(d, { online: true, autoAck: true });
    await login(b, d);

    // Act
    const switched = await login(c, d);
    const toB = await send({ to: b, body: 'B is gone from this phone.' });
    const toC = await send({ to: c, body: 'C is here.' });
    const cStatus = await waitFor(toC.messageId);

    // Assess
    expect(switched.drained).toBe(0);
    expect(toB.status).toBe('stored');
    expect((await view(toB.messageId)).status).toBe('stored');
    expect(pushRequestsFor([toB.messageId])).toHaveLength(0);
    expect(cStatus).toBe('SUCCEEDED');
    expect(kept(d).filter((p) => p.extras.to === b)).toEqual([]);
    expect(
      sim()
        .getDevice(d)
        ?.received.filter((p) => p.extras.to === b)
    ).toEqual([]);
    expect(sim().getDevice(d)?.alias).toBe(c);
  });

  it('pushes to every device of a user and ends acknowledged on an ACK from either', async () => {
    // Prepare
    const a = newUserId('a');
    const phone = newRegistrationId();
    const tablet = newRegistrationId();
    sim().setDevice(phone, { online: true, autoAck: false });
    sim().setDevice(tablet, {
      online: true,
      autoAck: false,
      platform: 'ios',
    });
    await login(a, phone, 'android');
    await login(a, tablet, 'ios');

    // Act
    const sent = await send({
      to: a,
      title: 'Two screens',
      body: 'Seen on both.',
      policy: { intervalSeconds: 60, maxAttempts: 3 },
    });
    const [onPhone, onTablet] = await eventually(() => {
      const p = kept(phone).find((x) => x.extras.messageId === sent.messageId);
      const t = kept(tablet).find((x) => x.extras.messageId === sent.messageId);
      return p && t ? [p, t] : undefined;
    }, 'the push on both devices');
    const ack = await api(
      system,
      'POST',
      `/v1/messages/${sent.messageId}/ack`,
      {
        token: onTablet?.extras.ackToken,
        registrationId: tablet,
      }
    );
    const status = await waitFor(sent.messageId);
    const message = await view(sent.messageId);

    // Assess
    expect(sent.status).toBe('sending');
    expect(onPhone?.extras.to).toBe(a);
    expect(onTablet?.extras.to).toBe(a);
    expect(ack.status).toBe(204);
    expect(status).toBe('SUCCEEDED');
    expect(message.status).toBe('acknowledged');
    expect(events(message).filter((e) => e === 'pushed')).toHaveLength(1);
  });

  it('withdraws the queued push when the user logs out during delivery and delivers it again at the next login', async () => {
    // Prepare
    const a = newUserId('a');
    const d = newRegistrationId();
    sim().setDevice(d, { online: false, autoAck: true });
    await login(a, d);
    const sent = await send({
      to: a,
      body: 'In flight at logout.',
      policy: { intervalSeconds: 60, maxAttempts: 3 },
    });
    await eventually(async () => {
      const m = await view(sent.messageId);
      return events(m).includes('pushed') &&
        (sim().getDevice(d)?.queued ?? 0) > 0
        ? true
        : undefined;
    }, 'the push queued on the offline device');

    // Act
    await logout(a, d);
    const afterLogout = await view(sent.messageId);
    const firstRun = await waitFor(sent.messageId);
    sim().setDevice(d, { online: true });
    const receivedWhileOut = sim().getDevice(d)?.received ?? [];
    const relogin = await login(a, d);
    const secondRun = await waitFor(`${sent.messageId}-d2`);
    const final = await view(sent.messageId);

    // Assess
    expect(afterLogout.status).toBe('stored');
    expect(events(afterLogout)).toContain('withdrawn');
    expect(firstRun).toBe('SUCCEEDED');
    expect(receivedWhileOut).toEqual([]);
    expect(sim().getDevice(d)?.alias).toBe(a);
    expect(relogin.drained).toBe(1);
    expect(secondRun).toBe('SUCCEEDED');
    expect(final.status).toBe('acknowledged');
    const copies = kept(d).filter((p) => p.extras.messageId === sent.messageId);
    expect(copies).toHaveLength(1);
  });
});

describe('history over HTTP', () => {
  it('pages through every message to and from a user exactly once, newest first', async () => {
    // Prepare
    const a = newUserId('a');
    const b = newUserId('b');
    const bodies: Array<Record<string, unknown>> = [
      { to: a, body: 'notice 1' },
      { to: a, from: b, body: 'chat b→a 1' },
      { to: b, from: a, body: 'chat a→b 1' },
      { to: b, body: 'not about a' },
      { to: a, body: 'notice 2' },
      { to: b, from: a, body: 'chat a→b 2' },
      { to: a, from: b, body: 'chat b→a 2' },
    ];
    const sent: Array<{ messageId: string; to: string; from?: string }> = [];
    for (const body of bodies) {
      const res = await send(body);
      sent.push({
        messageId: res.messageId,
        to: String(body.to),
        ...(body.from === undefined ? {} : { from: String(body.from) }),
      });
      await new Promise((resolve) => setTimeout(resolve, 3));
    }

    // Act
    const pages: Array<{
      items: Array<{
        messageId: string;
        direction: string;
        createdAt: string;
      }>;
      nextCursor?: string;
    }> = [];
    let cursor: string | undefined;
    do {
      const query = `limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
      const res = await api(system, 'GET', `/v1/users/${a}/messages?${query}`);
      expect(res.status).toBe(200);
      pages.push(res.json);
      cursor = res.json.nextCursor;
    } while (cursor !== undefined && pages.length < 20);

    // Assess
    const items = pages.flatMap((p) => p.items);
    const aboutA = sent.filter((s) => s.to === a || s.from === a);
    expect(items.map((i) => i.messageId)).toEqual(
      aboutA.map((s) => s.messageId).reverse()
    );
    expect(new Set(items.map((i) => i.messageId)).size).toBe(items.length);
    expect(items.map((i) => i.direction)).toEqual(
      aboutA.map((s) => (s.to === a ? 'in' : 'out')).reverse()
    );
    const created = items.map((i) => i.createdAt);
    expect([...created].sort().reverse()).toEqual(created);
    expect(pages.every((p) => p.items.length <= 2)).toBe(true);
    expect(pages.at(-1)?.nextCursor).toBeUndefined();
  });

  it.each([
    ['a cursor that is not one', 'cursor=not-a-cursor'],
    ['a limit of 0', 'limit=0'],
    ['a limit above 100', 'limit=101'],
    ['a limit that is not a number', 'limit=ten'],
  ])('answers %s with a 400 JSON error', async (_what, query) => {
    // Prepare
    const a = newUserId('a');
    await send({ to: a, body: 'one line of history' });

    // Act
    const res = await api(system, 'GET', `/v1/users/${a}/messages?${query}`);

    // Assess
    expect(res.status).toBe(400);
    expect(res.json.error).toEqual({
      code: expect.any(String),
      message: expect.any(String),
    });
  });

  it("answers another user's cursor with a 400 JSON error", async () => {
    // Prepare
    const a = newUserId('a');
    const b = newUserId('b');
    for (const to of [a, a, b, b]) await send({ to, body: 'line' });
    const first = await api(system, 'GET', `/v1/users/${a}/messages?limit=1`);

    // Act
    const res = await api(
      system,
      'GET',
      `/v1/users/${b}/messages?limit=1&cursor=${encodeURIComponent(first.json.nextCursor)}`
    );

    // Assess
    expect(first.json.nextCursor).toEqual(expect.any(String));
    expect(res.status).toBe(400);
    expect(res.json.error.code).toEqual(expect.any(String));
  });
});
