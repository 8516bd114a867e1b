import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalSystem, startLocalSystem } from '../../local/system.ts';
import {
  api,
  eventually,
  newRegistrationId,
  newUserId,
  seedSession,
} from '../helpers/local-system.ts';

// The synthesized state machine on aws-local-stepfunctions, dynalite, the
// JPush simulator over HTTP. Waits and retry pauses run 20 times faster:
// an interval of 5 s takes 250 ms (at 100 ms, an ACK or a Push step on a
// busy 2-core machine outlasted the interval and the cycle moved on).
const TIME_SCALE = 0.05;

let system: LocalSystem;

beforeAll(async () => {
  system = await startLocalSystem({
    timeScale: TIME_SCALE,
    onCallPhoneNumbers: ['+10000000001'],
    smsCountries: ['CN'],
    // 1 s of policy time (50 ms here): each test's escalation pages on its
    // own; the grouping has its tests in sms-limits.int.test.ts.
    sms: { onCallWindowSeconds: 1 },
  });
});

afterAll(async () => {
  await system?.close();
});

const send = async (body: Record<string, unknown>) => {
  const res = await api(system, 'POST', '/v1/messages', body);
  expect(res.status).toBe(202);
  return res.json as { messageId: string; status: string };
};

const finished = async (messageId: string) => {
  const run = await system.stateMachine.waitForExecution(messageId, 30_000);
  expect(run.status).toBe('SUCCEEDED');
  const res = await api(system, 'GET', `/v1/messages/${messageId}`);
  expect(res.status).toBe(200);
  return res.json as {
    status: string;
    attempts: number;
    failureReason?: string;
    timeline: Array<{ event: string; detail?: string }>;
  };
};

const events = (timeline: Array<{ event: string }>) =>
  timeline.map((e) => e.event);

/** Whether `wanted` appears in `list` in this order (not necessarily adjacent). */
const inOrder = (list: string[], wanted: string[]) => {
  let i = 0;
  for (const item of list) if (item === wanted[i]) i += 1;
  return i === wanted.length;
};

describe('delivery cycle (synthesized state machine, dynalite, JPush simulator)', () => {
  it('ends acknowledged after one push when the app ACKs the first push', async () => {
    // Prepare
    const user = newUserId();
    const rid = newRegistrationId();
    system.simulator?.setDevice(rid, {
      online: true,
      autoAck: true,
      ackDelayMs: 300,
    });
    await seedSession(system, user, rid);

    // Act
    const sent = await send({
      to: user,
      title: 'Order 1009 shipped',
      body: 'Your parcel left the warehouse.',
      // 120 s of policy time is 2.4 s here: the ACK (300 ms) comes first.
      policy: { intervalSeconds: 120, maxAttempts: 5 },
    });
    const message = await finished(sent.messageId);

    // Assess
    expect(sent.status).toBe('sending');
    expect(message.status).toBe('acknowledged');
    const timeline = events(message.timeline);
    // The ACK ended the wait: no Report call, no second push.
    expect(timeline).toEqual(['accepted', 'pushed', 'acknowledged']);
    expect(message.timeline.find((e) => e.event === 'pushed')?.detail).toMatch(
      /JPush msg_id \d{17}/
    );
    const device = system.simulator?.getDevice(rid);
    expect(device?.received).toHaveLength(1);
    expect(device?.received[0]?.extras).toMatchObject({
      messageId: sent.messageId,
      to: user,
      ackToken: expect.any(String),
    });
  });

  it('pushes again only while the Report says not received, and the device ends with one copy', async () => {
    // Prepare
    const user = newUserId();
    const rid = newRegistrationId();
    system.simulator?.setDevice(rid, { online: false, autoAck: true });
    await seedSession(system, user, rid);

    // Act
    const sent = await send({
      to: user,
      body: 'Meeting moved to 3 pm.',
      policy: { intervalSeconds: 5, maxAttempts: 10 },
    });
    await eventually(async () => {
      const res = await api(system, 'GET', `/v1/messages/${sent.messageId}`);
      const pushes = res.json.timeline.filter(
        (e: { event: string }) => e.event === 'pushed'
      );
      return pushes.length >= 2 ? true : undefined;
    }, 'a second push while the device is offline');
    system.simulator?.setDevice(rid, { online: true });
    const message = await finished(sent.messageId);

    // Assess
    expect(message.status).toBe('acknowledged');
    const timeline = events(message.timeline);
    const pushes = timeline.filter((e) => e === 'pushed').length;
    expect(pushes).toBeGreaterThanOrEqual(2);
    // Every re-push came after a report that said "not delivered".
    const reports = message.timeline.filter((e) => e.event === 'report');
    expect(
      reports
        .slice(0, pushes - 1)
        .every((r) => /delivered to 0 of 1/.test(r.detail ?? ''))
    ).toBe(true);
    expect(system.simulator?.getDevice(rid)?.received).toHaveLength(1);
  });

  it('escalates after maxAttempts with exactly one on-call SMS and one recipient SMS, even when SNS is retried', async () => {
    // Prepare
    const user = newUserId();
    const rid = newRegistrationId();
    system.simulator?.setDevice(rid, { online: true, autoAck: false });
    await seedSession(system, user, rid);
    system.sms.failNext(1);
    const before = system.sms.list().length;

    // Act
    const sent = await send({
      to: user,
      title: 'Server down',
      body: 'Database primary unreachable.',
      policy: { intervalSeconds: 5, maxAttempts: 2 },
      escalation: { onCall: true, smsTo: '+8613800000000' },
    });
    const message = await finished(sent.messageId);

    // Assess
    expect(message.status).toBe('escalated');
    expect(message.attempts).toBe(2);
    const sms = system.sms.list().slice(before);
    expect(sms.filter((s) => s.to === '+10000000001')).toHaveLength(1);
    expect(sms.filter((s) => s.to === '+8613800000000')).toEqual([
      expect.objectContaining({
        text: 'Server down: Database primary unreachable.',
      }),
    ]);
    expect(sms.find((s) => s.to === '+10000000001')?.text).toContain(
      sent.messageId
    );
    // Delivered by JPush but never ACKed: pushed once, not piled on the device.
    expect(events(message.timeline).filter((e) => e === 'pushed')).toHaveLength(
      1
    );
    expect(events(message.timeline)).toContain('escalated');
    const smsPage = await api(system, 'GET', '/local/sms');
    expect(smsPage.json).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ to: '+8613800000000' }),
      ])
    );
  });

  it('gets through a 429 without wasting an attempt', async () => {
    // Prepare
    const user = newUserId();
    const rid = newRegistrationId();
    system.simulator?.setDevice(rid, {
      online: true,
      autoAck: true,
      ackDelayMs: 0,
    });
    await seedSession(system, user, rid);
    system.simulator?.injectFaults({
      path: '/v3/push',
      method: 'POST',
      status: 429,
      code: 2002,
      message: 'Rate limit exceeded',
      headers: {
        'X-Rate-Limit-Limit': '600',
        'X-Rate-Limit-Remaining': '0',
        'X-Rate-Limit-Reset': '3',
      },
    });

    // Act
    const sent = await send({
      to: user,
      body: 'Rate limited once.',
      policy: { intervalSeconds: 5 },
    });
    const message = await finished(sent.messageId);

    // Assess
    expect(message.status).toBe('acknowledged');
    expect(message.attempts).toBe(1);
    expect(events(message.timeline).filter((e) => e === 'pushed')).toHaveLength(
      1
    );
  });

  it('goes on to the next attempt when JPush answers 5xx for longer than the retries', async () => {
    // Prepare
    const user = newUserId();
    const rid = newRegistrationId();
    system.simulator?.setDevice(rid, { online: true, autoAck: true });
    await seedSession(system, user, rid);
    system.simulator?.injectFaults({
      path: '/v3/push',
      method: 'POST',
      status: 502,
      body: '<html><body>502 Bad Gateway</body></html>',
      times: 4,
    });

    // Act
    const sent = await send({
      to: user,
      body: 'Through the outage.',
      policy: { intervalSeconds: 5, maxAttempts: 3 },
    });
    const message = await finished(sent.messageId);

    // Assess
    expect(message.status).toBe('acknowledged');
    expect(message.attempts).toBe(2);
    const timeline = events(message.timeline);
    expect(
      inOrder(timeline, ['accepted', 'push-failed', 'pushed', 'acknowledged'])
    ).toBe(true);
  });

  it('escalates instead of hanging when JPush stays down', async () => {
    // Prepare
    const user = newUserId();
    const rid = newRegistrationId();
    system.simulator?.setDevice(rid, { online: true, autoAck: true });
    await seedSession(system, user, rid);
    system.simulator?.injectFaults({
      path: '/v3/push',
      method: 'POST',
      status: 500,
      code: 1000,
      times: 8,
    });

    // Act
    const sent = await send({
      to: user,
      body: 'Nobody home.',
      policy: { intervalSeconds: 5, maxAttempts: 2 },
    });
    const message = await finished(sent.messageId);

    // Assess
    expect(message.status).toBe('escalated');
    expect(
      events(message.timeline).filter((e) => e === 'push-failed')
    ).toHaveLength(2);
  });

  it('records JPush 1011 (no such device) as not delivered, with the reason', async () => {
    // Prepare: a session whose registration id JPush does not know.
    const user = newUserId();
    await seedSession(system, user, newRegistrationId());

    // Act
    const sent = await send({
      to: user,
      body: 'To a phantom.',
      policy: { intervalSeconds: 5, maxAttempts: 2 },
    });
    const message = await finished(sent.messageId);

    // Assess
    expect(message.status).toBe('escalated');
    const notDelivered = message.timeline.filter(
      (e) => e.event === 'not-delivered'
    );
    expect(notDelivered).toHaveLength(2);
    expect(notDelivered[0]?.detail).toMatch(
      /1011.*cannot find user.*msg_id \d{17}/
    );
  });

  it('ends failed with the reason when JPush rejects the push for good', async () => {
    // Prepare
    const user = newUserId();
    const rid = newRegistrationId();
    system.simulator?.setDevice(rid, { online: true, autoAck: true });
    await seedSession(system, user, rid);
    system.simulator?.injectFaults({
      path: '/v3/push',
      method: 'POST',
      status: 401,
      code: 1004,
      message: 'Authen failed',
    });

    // Act
    const sent = await send({ to: user, body: 'Bad credentials.' });
    const message = await finished(sent.messageId);

    // Assess
    expect(message.status).toBe('failed');
    expect(message.failureReason).toMatch(/1004/);
    expect(system.simulator?.getDevice(rid)?.received).toHaveLength(0);
  });

  it('makes one message and one execution of the same idempotency key sent twice at once', async () => {
    // Prepare
    const user = newUserId();
    const rid = newRegistrationId();
    system.simulator?.setDevice(rid, { online: true, autoAck: true });
    await seedSession(system, user, rid);
    const body = {
      to: user,
      body: 'Once only.',
      idempotencyKey: `order-${user}`,
    };

    // Act
    const [a, b] = await Promise.all([send(body), send(body)]);
    const again = await send(body);
    const message = await finished(a.messageId);

    // Assess
    expect(b.messageId).toBe(a.messageId);
    expect(again.messageId).toBe(a.messageId);
    expect(message.status).toBe('acknowledged');
    const runs = system.stateMachine
      .listExecutions()
      .filter((e) => e.name.startsWith(a.messageId));
    expect(runs).toHaveLength(1);
    expect(system.simulator?.getDevice(rid)?.received).toHaveLength(1);
  });

  it('refuses a forged ACK and records a real ACK after escalation as late', async () => {
    // Prepare
    const user = newUserId();
    const rid = newRegistrationId();
    system.simulator?.setDevice(rid, { online: true, autoAck: false });
    await seedSession(system, user, rid);
    const sent = await send({
      to: user,
      body: 'Ack me late.',
      policy: { intervalSeconds: 5, maxAttempts: 1 },
    });
    const escalated = await finished(sent.messageId);
    const token = String(
      system.simulator?.getDevice(rid)?.received[0]?.extras.ackToken
    );

    // Act
    const forged = await api(
      system,
      'POST',
      `/v1/messages/${sent.messageId}/ack`,
      {
        token: `${token.slice(0, -2)}xx`,
        registrationId: rid,
      }
    );
    const unknown = await api(
      system,
      'POST',
      '/v1/messages/m-no-such-message/ack',
      { token, registrationId: rid }
    );
    const afterForged = await api(
      system,
      'GET',
      `/v1/messages/${sent.messageId}`
    );
    const real = await api(
      system,
      'POST',
      `/v1/messages/${sent.messageId}/ack`,
      { token, registrationId: rid }
    );
    const repeat = await api(
      system,
      'POST',
      `/v1/messages/${sent.messageId}/ack`,
      { token, registrationId: rid }
    );
    const after = await api(system, 'GET', `/v1/messages/${sent.messageId}`);

    // Assess
    expect(escalated.status).toBe('escalated');
    expect(forged.status).toBe(403);
    expect(forged.json.error.code).toBe('Forbidden');
    expect(unknown.status).toBe(403);
    expect(afterForged.json.timeline).toEqual(escalated.timeline);
    expect(real.status).toBe(204);
    expect(repeat.status).toBe(204);
    expect(after.json.status).toBe('escalated');
    expect(
      events(after.json.timeline).filter((e: string) => e === 'late-ack')
    ).toHaveLength(1);
  });
});
