import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalSystem, startLocalSystem } from '../../local/system.ts';
import {
  api,
  loginVia,
  newRegistrationId,
  newUserId,
} from '../helpers/local-system.ts';

// How apps handle a push, as the simulator's phones model it (README, "What
// an app must do with a push"), in local mode: the synthesized state
// machine, dynalite, the JPush simulator over HTTP, ACKs through the API.
// Waits run 20 times faster: an interval of 5 s takes 250 ms.
const TIME_SCALE = 0.05;

let system: LocalSystem;

beforeAll(async () => {
  system = await startLocalSystem({
    timeScale: TIME_SCALE,
    onCallPhoneNumbers: ['+10000000001'],
    smsCountries: ['CN'],
    sms: { onCallWindowSeconds: 1 },
  });
});

afterAll(async () => {
  await system?.close();
});

interface MessageView {
  status: string;
  attempts: number;
  ackedAt?: string;
  timeline: Array<{ event: string; detail?: string }>;
}

const phone = async (rid: string, settings: Record<string, unknown>) => {
  const res = await api(system, 'PUT', `/local/devices/${rid}`, settings);
  expect(res.status, res.text).toBe(200);
};

/** Sends a message, waits for its delivery to end, returns the message. */
const deliver = async (
  to: string,
  policy: { intervalSeconds: number; maxAttempts: number }
) => {
  const sent = await api(system, 'POST', '/v1/messages', {
    to,
    title: 'Order 1009 shipped',
    body: 'Your parcel left the warehouse.',
    policy,
  });
  expect(sent.status, sent.text).toBe(202);
  const messageId = sent.json.messageId as string;
  const run = await system.stateMachine.waitForExecution(messageId, 30_000);
  expect(run.status).toBe('SUCCEEDED');
  const res = await api(system, 'GET', `/v1/messages/${messageId}`);
  expect(res.status).toBe(200);
  return { messageId, message: res.json as MessageView };
};

const events = (m: MessageView, name?: string) =>
  m.timeline
    .map((e) => e.event)
    .filter((e) => name === undefined || e === name);

/** The JPush msg_ids of the pushes in a timeline. */
const msgIds = (m: MessageView) =>
  m.timeline
    .filter((e) => e.event === 'pushed')
    .map((e) => /msg_id (\d{17})/.exec(e.detail ?? '')?.[1] as string);

describe('app handling in local mode (the simulated phones)', () => {
  it("ends acknowledged by an iOS phone's Notification Service Extension though the app never runs and the notification is not opened", async () => {
    // Prepare: the app is not running (no autoAck); the extension is there.
    const user = newUserId('ios');
    const rid = newRegistrationId();
    await phone(rid, {
      platform: 'ios',
      online: true,
      autoAck: false,
      extension: true,
    });
    await loginVia(system, user, rid, 'ios');
    const before = system.simulator?.requests().length ?? 0;

    // Act
    const { messageId, message } = await deliver(user, {
      // 120 s of policy time is 6 s here: the extension's ACK comes first.
      intervalSeconds: 120,
      maxAttempts: 3,
    });

    // Assess
    expect(message.status).toBe('acknowledged');
    expect(message.attempts).toBe(1);
    expect(events(message)).toEqual(['accepted', 'pushed', 'acknowledged']);
    const received = system.simulator?.getDevice(rid)?.received ?? [];
    expect(received).toHaveLength(1);
    expect(received[0]).toMatchObject({
      serviceExtension: true,
      collapseId: messageId,
      extras: { messageId, to: user },
    });
    const pushBody = system.simulator
      ?.requests()
      .slice(before)
      .find((r) => r.path === '/v3/push' && r.body.includes(messageId))?.body;
    expect(JSON.parse(pushBody ?? '{}')).toMatchObject({
      notification: { ios: { 'mutable-content': true } },
      options: { apns_collapse_id: messageId },
    });
  });

  it('escalates for an iOS phone without an extension whose app does not run: a notification nobody opens is never ACKed', async () => {
    // Prepare
    const user = newUserId('ios');
    const rid = newRegistrationId();
    await phone(rid, { platform: 'ios', online: true, autoAck: false });
    await loginVia(system, user, rid, 'ios');

    // Act
    const { message } = await deliver(user, {
      intervalSeconds: 5,
      maxAttempts: 1,
    });

    // Assess
    expect(message.status).toBe('escalated');
    expect(events(message, 'acknowledged')).toEqual([]);
    expect(system.simulator?.getDevice(rid)?.received).toHaveLength(1);
  });

  it('never gets an ACK from an Android phone on a vendor channel, whose app code never runs, and the report counts it in the vendor counters', async () => {
    // Prepare: autoAck is on, but the app's process is not running.
    const user = newUserId('vendor');
    const rid = newRegistrationId();
    await phone(rid, { online: true, autoAck: true, vendorChannel: true });
    await loginVia(system, user, rid, 'android');

    // Act
    const { message } = await deliver(user, {
      intervalSeconds: 5,
      maxAttempts: 2,
    });

    // Assess: delivered (the report says so), never acknowledged.
    expect(message.status).not.toBe('acknowledged');
    expect(message.ackedAt).toBeUndefined();
    expect(events(message, 'acknowledged')).toEqual([]);
    expect(events(message, 'late-ack')).toEqual([]);
    expect(message.timeline.find((e) => e.event === 'report')?.detail).toMatch(
      /delivered to 1 of 1/
    );
    // Delivered once, so the second attempt only waited: one push.
    const [msgId] = msgIds(message);
    expect(msgIds(message)).toHaveLength(1);
    const received = system.simulator?.getDevice(rid)?.received ?? [];
    expect(received).toMatchObject([{ msgId, vendorChannel: true }]);
    const [row] = (await system.deps.jpush.receivedDetail([msgId ?? ''])) ?? [];
    expect(row).toMatchObject({
      androidPnsSent: 1,
      androidPnsReceived: 1,
      jpushReceived: null,
    });
  });
});
