import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalSystem, startLocalSystem } from '../../local/system.ts';
import {
  api,
  newRegistrationId,
  newUserId,
  seedSession,
} from '../helpers/local-system.ts';

// `policy.confirmBy` through the synthesized state machine, dynalite and the
// JPush simulator over HTTP: one system whose app has JPush's per-device
// status API (VIP), one whose app has only the delivery counters. Waits run
// 20 times faster, as in delivery-cycle.int.test.ts.
const TIME_SCALE = 0.05;

interface MessageView {
  status: string;
  attempts: number;
  confirmedBy?: string;
  acknowledgedAt?: string;
  policy: { confirmBy: string };
  timeline: Array<{ event: string; detail?: string; confirmedBy?: string }>;
}

let vip: LocalSystem;
let countersOnly: LocalSystem;

beforeAll(async () => {
  const settings = {
    timeScale: TIME_SCALE,
    onCallPhoneNumbers: ['+10000000001'],
    smsCountries: ['CN'],
    sms: { onCallWindowSeconds: 1 },
  };
  [vip, countersOnly] = await Promise.all([
    startLocalSystem(settings),
    startLocalSystem({ ...settings, simulator: { vip: false } }),
  ]);
});

afterAll(async () => {
  await Promise.all([vip?.close(), countersOnly?.close()]);
});

/** Sends a message and waits for its delivery to end. */
const deliver = async (
  system: LocalSystem,
  body: Record<string, unknown>
): Promise<MessageView> => {
  const res = await api(system, 'POST', '/v1/messages', body);
  expect(res.status).toBe(202);
  const { messageId } = res.json as { messageId: string };
  const run = await system.stateMachine.waitForExecution(messageId, 30_000);
  expect(run.status).toBe('SUCCEEDED');
  const view = await api(system, 'GET', `/v1/messages/${messageId}`);
  expect(view.status).toBe(200);
  return view.json as MessageView;
};

/** A phone logged in for a new user. */
const phoneOf = async (
  system: LocalSystem,
  settings: Record<string, unknown>
) => {
  const user = newUserId();
  const rid = newRegistrationId();
  system.simulator?.setDevice(rid, settings);
  await seedSession(system, user, rid);
  return { user, rid };
};

const named = (m: MessageView, event: string) =>
  m.timeline.filter((e) => e.event === event);

describe('policy.confirmBy (synthesized state machine, dynalite, JPush simulator)', () => {
  it('confirms by the per-device report under report, for an app that never ACKs', async () => {
    // Prepare
    const { user, rid } = await phoneOf(vip, { online: true, autoAck: false });

    // Act
    const message = await deliver(vip, {
      to: user,
      body: 'Your parcel left the warehouse.',
      policy: { intervalSeconds: 20, maxAttempts: 3, confirmBy: 'report' },
    });

    // Assess
    expect(message).toMatchObject({
      status: 'acknowledged',
      // The first report usually confirms it; on a loaded machine the
      // phone may get the push after that check, and a later one does.
      attempts: expect.toSatisfy((n: number) => n >= 1 && n <= 3),
      confirmedBy: 'report',
      policy: { confirmBy: 'report' },
    });
    expect(named(message, 'acknowledged')).toEqual([
      expect.objectContaining({
        confirmedBy: 'report',
        detail: expect.stringContaining(`delivered to ${rid}`),
      }),
    ]);
    expect(named(message, 'escalated')).toEqual([]);
  });

  it('confirms by the counters under report for an app without the status API', async () => {
    // Prepare
    const { user } = await phoneOf(countersOnly, {
      online: true,
      autoAck: false,
    });

    // Act
    const message = await deliver(countersOnly, {
      to: user,
      body: 'Meeting moved to 3 pm.',
      policy: { intervalSeconds: 20, maxAttempts: 3, confirmBy: 'report' },
    });

    // Assess
    expect(message).toMatchObject({
      status: 'acknowledged',
      // The first report usually confirms it; on a loaded machine the
      // phone may get the push after that check, and a later one does.
      attempts: expect.toSatisfy((n: number) => n >= 1 && n <= 3),
      confirmedBy: 'report',
    });
  });

  it('still takes the ACK under report, and says the ACK confirmed it', async () => {
    // Prepare
    const { user } = await phoneOf(vip, {
      online: true,
      autoAck: true,
      ackDelayMs: 100,
    });

    // Act
    const message = await deliver(vip, {
      to: user,
      body: 'Door code changed.',
      // 120 s of policy time is 6 s here: the ACK (100 ms) comes first.
      policy: { intervalSeconds: 120, maxAttempts: 3, confirmBy: 'report' },
    });

    // Assess
    expect(message).toMatchObject({
      status: 'acknowledged',
      confirmedBy: 'ack',
    });
    expect(named(message, 'report')).toEqual([]);
  });

  it('escalates under ack, the default, though the report says the phone got it', async () => {
    // Prepare
    const { user } = await phoneOf(vip, { online: true, autoAck: false });

    // Act
    const message = await deliver(vip, {
      to: user,
      body: 'Server down.',
      // 1 s scaled: on a loaded machine a shorter wait can end before the
      // Report API is asked (as the report-confirmed cases above).
      policy: { intervalSeconds: 20, maxAttempts: 2 },
    });

    // Assess
    expect(message.status).toBe('escalated');
    expect(message.policy.confirmBy).toBe('ack');
    expect(message.confirmedBy).toBeUndefined();
    expect(named(message, 'report').map((e) => e.detail ?? '')).toContainEqual(
      expect.stringMatching(/delivered to 1 of 1/)
    );
  });

  it('escalates under report when no report of the phone came', async () => {
    // Prepare
    const { user } = await phoneOf(vip, { online: false, autoAck: false });

    // Act
    const message = await deliver(vip, {
      to: user,
      body: 'Server down.',
      policy: { intervalSeconds: 5, maxAttempts: 2, confirmBy: 'report' },
    });

    // Assess
    expect(message).toMatchObject({ status: 'escalated', attempts: 2 });
    expect(message.confirmedBy).toBeUndefined();
  });

  it.each([
    ['the per-device report', () => vip],
    ['the vendor counters', () => countersOnly],
  ])(
    'confirms an Android vendor-channel phone under ackOrReport by %s',
    async (_how, systemOf) => {
      // Prepare: the app's code never runs for a vendor-channel notification,
      // so nothing ACKs it, whatever autoAck says.
      const system = systemOf();
      const { user, rid } = await phoneOf(system, {
        online: true,
        autoAck: true,
        vendorChannel: true,
      });

      // Act
      const message = await deliver(system, {
        to: user,
        body: 'Your code is 4711.',
        policy: {
          intervalSeconds: 20,
          maxAttempts: 3,
          confirmBy: 'ackOrReport',
        },
      });

      // Assess
      expect(message).toMatchObject({
        status: 'acknowledged',
        // The first report usually confirms it; on a loaded machine the
        // phone may get the push after that check, and a later one does.
        attempts: expect.toSatisfy((n: number) => n >= 1 && n <= 3),
        confirmedBy: 'report',
      });
      expect(system.simulator?.getDevice(rid)?.received[0]?.vendorChannel).toBe(
        true
      );
    }
  );
});
