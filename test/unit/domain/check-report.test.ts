import { describe, expect, it } from 'vitest';
import {
  type CheckReportInput,
  checkReport,
} from '../../../functions/domain/check-report.ts';
import {
  DeliveryStatus,
  JPushNoTargetError,
  JPushPacedError,
  JPushRateLimitError,
  JPushRejectedError,
  JPushServerError,
  type ReceivedDetail,
} from '../../../functions/domain/jpush.ts';
import type {
  ConfirmPolicy,
  Message,
} from '../../../functions/domain/message.ts';
import type { Session } from '../../../functions/domain/ports.ts';
import { runPushAttempt } from '../../../functions/domain/push-attempt.ts';
import { sendMessage } from '../../../functions/domain/send-message.ts';
import { inMemoryDeps } from '../../helpers/fakes.ts';
import { RecordingJPush } from '../../helpers/recording-jpush.ts';

const RID_A = '1a0018970a9c2ce5b0';
const RID_B = '1a0018970a9c2ce5b1';
const TIMED_OUT = { Error: 'States.Timeout', Cause: 'the interval passed' };

const session = (registrationId: string): Session => ({
  userId: 'user_42',
  registrationId,
  platform: 'android',
  since: '2026-11-27T07:00:00.000Z',
});

/** A row of `/v3/received/detail` with every counter empty but these. */
const counters = (
  msgId: string,
  given: Partial<Omit<ReceivedDetail, 'msgId'>>
): ReceivedDetail => ({
  msgId,
  jpushReceived: null,
  androidPnsSent: null,
  androidPnsReceived: null,
  iosApnsSent: null,
  iosApnsReceived: null,
  iosMsgReceived: null,
  ...given,
});

/** What JPush answers an app without the VIP status API. */
const notVip = () =>
  new JPushRejectedError('no permission', { httpStatus: 403, code: 2006 });

/**
 * A message pushed to two devices in attempt 1, whose wait then timed out.
 * @param advanceMs time between the message and its push
 * @param confirmBy the message's `policy.confirmBy` (none: the default)
 */
const preparePushed = async (advanceMs = 0, confirmBy?: ConfirmPolicy) => {
  const deps = { ...inMemoryDeps(), jpush: new RecordingJPush() };
  await deps.sessions.put(session(RID_A));
  await deps.sessions.put(session(RID_B));
  const { messageId } = await sendMessage(
    {
      to: 'user_42',
      body: 'Order 1009 shipped',
      ...(confirmBy === undefined ? {} : { policy: { confirmBy } }),
    },
    deps
  );
  deps.clock.advance(advanceMs);
  /** Runs the Push step of an attempt. */
  const pushAttempt = (attempt: number) =>
    runPushAttempt(
      { messageId, delivery: 1, attempt, taskToken: `token-${attempt}` },
      deps
    );
  const push = await pushAttempt(1);
  deps.clock.advance(60_000);
  const input: CheckReportInput = {
    messageId,
    delivery: 1,
    attempt: 1,
    maxAttempts: 3,
    wait: TIMED_OUT,
  };
  return { deps, messageId, push, input, pushAttempt };
};

describe('checkReport reads only what it needs', () => {
  it('reads the state, the pushes and the policy of the message, never its text, recipient or numbers', async () => {
    // Prepare
    const { deps, input } = await preparePushed();
    deps.jpush.statusAnswers.push({
      [RID_A]: DeliveryStatus.delivered,
      [RID_B]: DeliveryStatus.notDelivered,
    });
    const fields: string[] = [];
    const messages = deps.messages;
    deps.messages = Object.assign(Object.create(messages), {
      get: async () => {
        throw new Error('checkReport read the whole message');
      },
      getFields: (id: string, asked: readonly (keyof Message)[]) => {
        fields.push(...asked);
        return messages.getFields(id, asked);
      },
    });

    // Act
    const result = await checkReport(input, deps);

    // Assess
    expect(result.action).toBe('push');
    expect([...new Set(fields)].sort()).toEqual(
      [
        'ackedAt',
        'attempts',
        'delivery',
        'expiresAt',
        'messageId',
        'policy',
        'pushes',
        'status',
      ].sort()
    );
  });
});

describe('checkReport', () => {
  it('records the devices JPush delivered to, marks the message received and pushes again', async () => {
    // Prepare
    const { deps, messageId, push, input } = await preparePushed();
    deps.jpush.statusAnswers.push({
      [RID_A]: DeliveryStatus.delivered,
      [RID_B]: DeliveryStatus.notDelivered,
    });

    // Act
    const result = await checkReport(input, deps);

    // Assess
    expect(result).toEqual({
      action: 'push',
      attempt: 2,
      delivered: [RID_A],
      pending: [RID_B],
    });
    expect(deps.jpush.statusCalls).toEqual([
      {
        msgId: push.jpushMsgId,
        registrationIds: push.targets,
        date: '2026-11-27',
      },
    ]);
    const message = await deps.messages.get(messageId);
    expect(message?.status).toBe('received');
    expect(message?.deliveredTo).toEqual({
      [RID_A]: '2026-11-27T08:01:00.000Z',
    });
    expect(message?.timeline.at(-1)).toEqual({
      at: '2026-11-27T08:01:00.000Z',
      event: 'report',
      detail: `attempt 1, JPush msg_id ${push.jpushMsgId}: delivered to 1 of 2 device(s) (${RID_A}: delivered, ${RID_B}: not delivered)`,
    });
  });

  it('asks the Report API for the push’s day in JPush’s UTC+8', async () => {
    // Prepare: pushed at 23:30 UTC, already the 28th in Beijing.
    const { deps, input } = await preparePushed(15.5 * 3_600_000);

    // Act
    await checkReport(input, deps);

    // Assess
    expect(deps.jpush.statusCalls[0]?.date).toBe('2026-11-28');
  });

  it('keeps the message sending when no device has it yet', async () => {
    // Prepare
    const { deps, messageId, input } = await preparePushed();
    deps.jpush.statusAnswers.push({
      [RID_A]: DeliveryStatus.notDelivered,
      [RID_B]: DeliveryStatus.systemError,
    });

    // Act
    const result = await checkReport(input, deps);

    // Assess
    expect(result.delivered).toEqual([]);
    const message = await deps.messages.get(messageId);
    expect(message?.status).toBe('sending');
    expect(message?.deliveredTo).toEqual({});
    expect(message?.timeline.at(-1)?.detail).toContain(
      `${RID_B}: JPush system error`
    );
  });

  it('names a device JPush did not report as unknown', async () => {
    // Prepare
    const { deps, messageId, input } = await preparePushed();
    deps.jpush.statusAnswers.push({ [RID_A]: DeliveryStatus.delivered });

    // Act
    await checkReport(input, deps);

    // Assess
    const message = await deps.messages.get(messageId);
    expect(message?.timeline.at(-1)?.detail).toContain(`${RID_B}: unknown`);
  });

  it('falls back to the delivery counters for an app without the VIP status API', async () => {
    // Prepare
    const { deps, messageId, push, input } = await preparePushed();
    deps.jpush.statusAnswers.push(notVip());
    deps.jpush.receivedDetailAnswers.push([
      counters(push.jpushMsgId ?? '', { jpushReceived: 1, iosMsgReceived: 1 }),
    ]);

    // Act
    const result = await checkReport(input, deps);

    // Assess
    expect(deps.jpush.receivedDetailCalls).toEqual([[push.jpushMsgId]]);
    expect([...result.delivered].sort()).toEqual([RID_A, RID_B]);
    const message = await deps.messages.get(messageId);
    expect(message?.status).toBe('received');
  });

  it('counts the vendor and HarmonyOS channels in the counters', async () => {
    // Prepare: one device reached through its vendor (FCM, Huawei...)
    // channel, the other through HarmonyOS's push service.
    const { deps, push, input } = await preparePushed();
    deps.jpush.statusAnswers.push(notVip());
    deps.jpush.receivedDetailAnswers.push([
      counters(push.jpushMsgId ?? '', {
        jpushReceived: 0,
        androidPnsSent: 1,
        androidPnsReceived: 1,
        hmosHmpnsReceived: 1,
      }),
    ]);

    // Act
    const result = await checkReport(input, deps);

    // Assess
    expect([...result.delivered].sort()).toEqual([RID_A, RID_B]);
  });

  it('counts the HarmonyOS JPush channel in the counters', async () => {
    // Prepare
    const { deps, push, input } = await preparePushed();
    deps.jpush.statusAnswers.push(notVip());
    deps.jpush.receivedDetailAnswers.push([
      counters(push.jpushMsgId ?? '', { jpushReceived: 1, hmosMsgReceived: 1 }),
    ]);

    // Act
    const result = await checkReport(input, deps);

    // Assess
    expect(result.pending).toEqual([]);
  });

  it('counts no device as delivered when the counters do not cover them all', async () => {
    // Prepare
    const { deps, messageId, push, input } = await preparePushed();
    deps.jpush.statusAnswers.push(notVip());
    deps.jpush.receivedDetailAnswers.push([
      counters(push.jpushMsgId ?? '', { jpushReceived: 1 }),
    ]);

    // Act
    const result = await checkReport(input, deps);

    // Assess
    expect(result.delivered).toEqual([]);
    expect(result.pending).toHaveLength(2);
    const message = await deps.messages.get(messageId);
    expect(message?.status).toBe('sending');
  });

  it('remembers for an hour that the app has only the counters', async () => {
    // Prepare: no device gets it, so every attempt pushes again.
    const { deps, input, pushAttempt } = await preparePushed();
    deps.jpush.statusAnswers.push(notVip(), notVip());
    await checkReport(input, deps);
    deps.clock.advance(30 * 60_000);
    await pushAttempt(2);
    deps.clock.advance(60_000);

    // Act
    const withinTheHour = await checkReport(
      { ...input, attempt: 2, wait: TIMED_OUT },
      deps
    );
    const statusCallsWithin = deps.jpush.statusCalls.length;
    deps.clock.advance(30 * 60_000);
    await pushAttempt(3);
    deps.clock.advance(60_000);
    const afterTheHour = await checkReport(
      { ...input, attempt: 3, wait: TIMED_OUT },
      deps
    );

    // Assess
    expect(withinTheHour).toMatchObject({ action: 'push', attempt: 3 });
    expect(statusCallsWithin).toBe(1);
    expect(deps.jpush.statusCalls).toHaveLength(2);
    expect(deps.jpush.receivedDetailCalls).toHaveLength(3);
    expect(afterTheHour.action).toBe('escalate');
  });

  it.each([
    ['JPushRateLimitError', new JPushRateLimitError('too many requests')],
    [
      'JPushPacedError',
      new JPushPacedError('used up (shared pacing; not sent)', {
        rateLimit: { remaining: 0, resetSeconds: 20 },
      }),
    ],
    ['JPushServerError', new JPushServerError('server busy')],
    [
      'JPushRejectedError',
      new JPushRejectedError('bad request', { httpStatus: 400, code: 1003 }),
    ],
  ])(
    'tolerates %s from the Report API and decides on the ACK alone',
    async (name, error) => {
      // Prepare
      const { deps, messageId, push, input } = await preparePushed();
      deps.jpush.statusAnswers.push(error);

      // Act
      const result = await checkReport(input, deps);

      // Assess
      expect(result).toEqual({
        action: 'push',
        attempt: 2,
        delivered: [],
        pending: [RID_A, RID_B],
      });
      expect(deps.jpush.receivedDetailCalls).toEqual([]);
      const message = await deps.messages.get(messageId);
      expect(message?.deliveredTo).toEqual({});
      expect(message?.timeline.at(-1)).toEqual({
        at: '2026-11-27T08:01:00.000Z',
        event: 'report',
        detail: `attempt 1, JPush msg_id ${push.jpushMsgId}: the Report API did not answer (${name}: ${error.message}); deciding on the ACK alone`,
      });
    }
  );

  it('tolerates the counters failing too', async () => {
    // Prepare
    const { deps, input } = await preparePushed();
    deps.jpush.statusAnswers.push(notVip());
    deps.jpush.receivedDetailAnswers.push(new JPushServerError('busy'));

    // Act
    const result = await checkReport(input, deps);

    // Assess
    expect(result).toMatchObject({ action: 'push', attempt: 2 });
  });

  it('escalates when the last attempt brought no ACK', async () => {
    // Prepare
    const { deps, input } = await preparePushed();
    deps.jpush.statusAnswers.push({
      [RID_A]: DeliveryStatus.delivered,
      [RID_B]: DeliveryStatus.delivered,
    });

    // Act
    const result = await checkReport({ ...input, maxAttempts: 1 }, deps);

    // Assess: delivered but not acknowledged is not enough.
    expect(result).toEqual({
      action: 'escalate',
      attempt: 1,
      delivered: [RID_A, RID_B],
      pending: [],
    });
  });

  it('answers acknowledged when the ACK came meanwhile, asking JPush nothing', async () => {
    // Prepare
    const { deps, messageId, input } = await preparePushed();
    await deps.messages.update(messageId, {
      set: { status: 'acknowledged', ackedAt: '2026-11-27T08:00:40.000Z' },
    });

    // Act
    const result = await checkReport(input, deps);

    // Assess
    expect(result).toEqual({
      action: 'acknowledged',
      attempt: 1,
      delivered: [],
      pending: [],
    });
    expect(deps.jpush.statusCalls).toEqual([]);
  });

  it.each([
    ['stored again', { status: 'stored', delivery: 2 }],
    ['expired', { status: 'expired' }],
    ['failed', { status: 'failed' }],
    ['escalated', { status: 'escalated' }],
    [
      'late-acknowledged after escalation',
      { status: 'escalated', ackedAt: '2026-11-27T08:00:50.000Z' },
    ],
  ] as const)('answers done for a message that was %s', async (_case, set) => {
    // Prepare
    const { deps, messageId, input } = await preparePushed();
    await deps.messages.update(messageId, { set });
    const before = await deps.messages.get(messageId);

    // Act
    const result = await checkReport(input, deps);

    // Assess
    expect(result).toEqual({
      action: 'done',
      attempt: 1,
      delivered: [],
      pending: [],
    });
    expect(deps.jpush.statusCalls).toEqual([]);
    expect(await deps.messages.get(messageId)).toEqual(before);
  });

  it('does not touch a message that moved on to another delivery', async () => {
    // Prepare
    const { deps, messageId, input } = await preparePushed();
    await deps.messages.update(messageId, {
      set: { status: 'sending', delivery: 2 },
    });
    deps.jpush.statusAnswers.push({
      [RID_A]: DeliveryStatus.delivered,
      [RID_B]: DeliveryStatus.delivered,
    });
    const before = await deps.messages.get(messageId);

    // Act
    const result = await checkReport(input, deps);

    // Assess
    expect(result.action).toBe('done');
    expect(await deps.messages.get(messageId)).toEqual(before);
  });

  it('asks JPush nothing when the attempt pushed nothing', async () => {
    // Prepare: attempt 2 found every device served and only waited.
    const { deps, input, pushAttempt } = await preparePushed();
    deps.jpush.statusAnswers.push({
      [RID_A]: DeliveryStatus.delivered,
      [RID_B]: DeliveryStatus.delivered,
    });
    await checkReport(input, deps);
    expect(await pushAttempt(2)).toMatchObject({ outcome: 'awaiting-ack' });

    // Act
    const result = await checkReport({ ...input, attempt: 2 }, deps);

    // Assess
    expect(result).toEqual({
      action: 'push',
      attempt: 3,
      delivered: [],
      pending: [],
    });
    expect(deps.jpush.statusCalls).toHaveLength(1);
  });

  it('runs an attempt again, uncounted, when its wait ran out before the step began', async () => {
    // Prepare: attempt 3 of 3 was started by the state machine, but its
    // Lambda had not begun (cold, throttled, slow) when the interval ran out.
    const { deps, messageId, input } = await preparePushed();

    // Act
    const result = await checkReport(
      { ...input, attempt: 3, maxAttempts: 3 },
      deps
    );

    // Assess: no escalation of a message the attempt never pushed.
    expect(result).toEqual({
      action: 'push',
      attempt: 3,
      delivered: [],
      pending: [],
    });
    expect(deps.jpush.statusCalls).toEqual([]);
    const message = await deps.messages.get(messageId);
    expect(message?.attempts).toBe(1);
    expect(message?.timeline.at(-1)).toEqual({
      at: '2026-11-27T08:01:00.000Z',
      event: 'retrying',
      detail:
        'attempt 3: the push step had not begun when its wait of the interval ran out; running it again, not counted as an attempt',
    });
  });

  it('expires a message whose attempt never began before its life ended', async () => {
    // Prepare
    const { deps, messageId, input } = await preparePushed();
    const message = await deps.messages.get(messageId);
    deps.clock.advance(
      Date.parse(message?.expiresAt ?? '') - deps.clock.now().getTime()
    );

    // Act
    const result = await checkReport({ ...input, attempt: 2 }, deps);

    // Assess
    expect(result).toMatchObject({ action: 'done', attempt: 2 });
    const after = await deps.messages.get(messageId);
    expect(after?.status).toBe('expired');
    expect(after?.timeline.at(-1)).toMatchObject({
      event: 'expired',
      detail: "attempt 2 never began before the message's life ended",
    });
  });

  it('waits again when a slow step began its attempt just as the wait ran out', async () => {
    // Prepare: the state machine saw the timeout of attempt 2; its slow
    // step then pushed.
    const { deps, input, pushAttempt } = await preparePushed();
    await pushAttempt(2);

    // Act
    const result = await checkReport({ ...input, attempt: 2 }, deps);

    // Assess: the attempt counted; the report of its push decides.
    expect(result).toMatchObject({ action: 'push', attempt: 3 });
    expect(deps.jpush.statusCalls).toHaveLength(1);
  });

  it('asks JPush nothing about a push that reached no device (1011)', async () => {
    // Prepare
    const deps = { ...inMemoryDeps(), jpush: new RecordingJPush() };
    await deps.sessions.put(session(RID_A));
    const { messageId } = await sendMessage({ to: 'user_42', body: 'x' }, deps);
    deps.jpush.pushAnswers.push(
      new JPushNoTargetError('cannot find user by this audience', {
        httpStatus: 400,
        code: 1011,
        msgId: '18100528814460999',
      })
    );
    await runPushAttempt(
      { messageId, delivery: 1, attempt: 1, taskToken: 'token-1' },
      deps
    );

    // Act
    const result = await checkReport(
      { messageId, delivery: 1, attempt: 1, maxAttempts: 3, wait: TIMED_OUT },
      deps
    );

    // Assess
    expect(result).toMatchObject({ action: 'push', attempt: 2 });
    expect(deps.jpush.statusCalls).toEqual([]);
    expect(deps.jpush.receivedDetailCalls).toEqual([]);
  });

  it('asks the Report API when the wait ended without saying how', async () => {
    // Prepare
    const { deps, input } = await preparePushed();
    const { wait: _wait, ...withoutWait } = input;

    // Act
    await checkReport(withoutWait, deps);

    // Assess
    expect(deps.jpush.statusCalls).toHaveLength(1);
  });

  it('records a push step that failed after its retries, without asking JPush, and goes on', async () => {
    // Prepare
    const { deps, messageId, input } = await preparePushed();
    const wait = {
      Error: 'JPushServerError',
      Cause: '{"errorMessage":"server busy"}',
    };

    // Act
    const next = await checkReport({ ...input, wait }, deps);
    const last = await checkReport(
      { ...input, attempt: 3, maxAttempts: 3, wait },
      deps
    );

    // Assess
    expect(next).toEqual({
      action: 'push',
      attempt: 2,
      delivered: [],
      pending: [],
    });
    expect(last).toMatchObject({ action: 'escalate', attempt: 3 });
    expect(deps.jpush.statusCalls).toEqual([]);
    const failures = (await deps.messages.get(messageId))?.timeline.filter(
      (e) => e.event === 'push-failed'
    );
    expect(failures).toEqual([
      {
        at: '2026-11-27T08:01:00.000Z',
        event: 'push-failed',
        detail:
          'attempt 1: JPush still failing after retries (JPushServerError); the next attempt will try again',
      },
      {
        at: '2026-11-27T08:01:00.000Z',
        event: 'push-failed',
        detail:
          'attempt 3: JPush still failing after retries (JPushServerError); no attempt left',
      },
    ]);
  });
});

describe('checkReport under policy.confirmBy', () => {
  it.each(['report', 'ackOrReport'] as const)(
    'ends the message acknowledged, confirmed by the report, when JPush reports a device got it (%s)',
    async (confirmBy) => {
      // Prepare
      const { deps, messageId, push, input } = await preparePushed(
        0,
        confirmBy
      );
      deps.jpush.statusAnswers.push({
        [RID_A]: DeliveryStatus.delivered,
        [RID_B]: DeliveryStatus.notDelivered,
      });

      // Act
      const result = await checkReport(input, deps);

      // Assess
      expect(result).toEqual({
        action: 'acknowledged',
        attempt: 1,
        delivered: [RID_A],
        pending: [RID_B],
      });
      const message = await deps.messages.get(messageId);
      expect(message).toMatchObject({
        status: 'acknowledged',
        ackedAt: '2026-11-27T08:01:00.000Z',
        confirmedBy: 'report',
        deliveredTo: { [RID_A]: '2026-11-27T08:01:00.000Z' },
      });
      expect(message?.timeline.at(-1)).toEqual({
        at: '2026-11-27T08:01:00.000Z',
        event: 'acknowledged',
        detail: `JPush's report confirmed receipt (policy confirmBy ${confirmBy}): attempt 1, JPush msg_id ${push.jpushMsgId} delivered to ${RID_A}`,
        confirmedBy: 'report',
      });
    }
  );

  it('leaves the message unconfirmed under ack, the default: the report only spares a new push', async () => {
    // Prepare
    const { deps, messageId, input } = await preparePushed(0, 'ack');
    deps.jpush.statusAnswers.push({
      [RID_A]: DeliveryStatus.delivered,
      [RID_B]: DeliveryStatus.delivered,
    });

    // Act
    const result = await checkReport({ ...input, maxAttempts: 1 }, deps);

    // Assess
    expect(result.action).toBe('escalate');
    const message = await deps.messages.get(messageId);
    expect(message?.status).toBe('received');
    expect(message?.confirmedBy).toBeUndefined();
    expect(message?.ackedAt).toBeUndefined();
  });

  it('pushes again under report while no device has it, and escalates after the last attempt', async () => {
    // Prepare
    const { deps, messageId, input } = await preparePushed(0, 'report');
    deps.jpush.statusAnswers.push(
      { [RID_A]: DeliveryStatus.notDelivered },
      { [RID_A]: DeliveryStatus.notDelivered }
    );

    // Act
    const next = await checkReport(input, deps);
    const last = await checkReport({ ...input, maxAttempts: 1 }, deps);

    // Assess
    expect(next).toMatchObject({ action: 'push', attempt: 2 });
    expect(last).toMatchObject({ action: 'escalate', attempt: 1 });
    const message = await deps.messages.get(messageId);
    expect(message?.status).toBe('sending');
    expect(message?.confirmedBy).toBeUndefined();
  });

  it('confirms under ackOrReport by the counters, vendor channels included, when they cover every device', async () => {
    // Prepare: an app without the VIP status API; one device reached
    // through its vendor's channel (no app code ran), one through JPush.
    const { deps, messageId, push, input } = await preparePushed(
      0,
      'ackOrReport'
    );
    deps.jpush.statusAnswers.push(notVip());
    deps.jpush.receivedDetailAnswers.push([
      counters(push.jpushMsgId ?? '', {
        jpushReceived: 1,
        androidPnsSent: 1,
        androidPnsReceived: 1,
      }),
    ]);

    // Act
    const result = await checkReport(input, deps);

    // Assess
    expect(result.action).toBe('acknowledged');
    const message = await deps.messages.get(messageId);
    expect(message).toMatchObject({
      status: 'acknowledged',
      confirmedBy: 'report',
    });
  });

  it('confirms under report by the vendor counters alone', async () => {
    // Prepare: both devices reached through their vendor's channel.
    const { deps, messageId, push, input } = await preparePushed(0, 'report');
    deps.jpush.statusAnswers.push(notVip());
    deps.jpush.receivedDetailAnswers.push([
      counters(push.jpushMsgId ?? '', {
        androidPnsSent: 2,
        androidPnsReceived: 2,
      }),
    ]);

    // Act
    const result = await checkReport(input, deps);

    // Assess
    expect(result.action).toBe('acknowledged');
    expect((await deps.messages.get(messageId))?.confirmedBy).toBe('report');
  });

  it('does not confirm by counters that cover only some of the devices', async () => {
    // Prepare
    const { deps, messageId, push, input } = await preparePushed(0, 'report');
    deps.jpush.statusAnswers.push(notVip());
    deps.jpush.receivedDetailAnswers.push([
      counters(push.jpushMsgId ?? '', {
        androidPnsSent: 2,
        androidPnsReceived: 1,
      }),
    ]);

    // Act
    const result = await checkReport({ ...input, maxAttempts: 1 }, deps);

    // Assess
    expect(result.action).toBe('escalate');
    const message = await deps.messages.get(messageId);
    expect(message?.status).toBe('sending');
    expect(message?.confirmedBy).toBeUndefined();
  });

  it('decides on the ACK alone under report when the Report API fails', async () => {
    // Prepare
    const { deps, messageId, input } = await preparePushed(0, 'report');
    deps.jpush.statusAnswers.push(new JPushServerError('server busy'));

    // Act
    const result = await checkReport({ ...input, maxAttempts: 1 }, deps);

    // Assess
    expect(result.action).toBe('escalate');
    expect((await deps.messages.get(messageId))?.status).toBe('sending');
  });

  it('keeps the ACK that came while the report was read: confirmed by the ACK', async () => {
    // Prepare: the app's ACK lands between the report and its recording.
    const { deps, messageId, input } = await preparePushed(0, 'report');
    deps.jpush.statusAnswers.push({
      [RID_A]: DeliveryStatus.delivered,
      [RID_B]: DeliveryStatus.delivered,
    });
    const messages = deps.messages;
    deps.messages = Object.assign(Object.create(messages), {
      update: async (
        id: string,
        update: Parameters<typeof messages.update>[1]
      ) => {
        if (update.set?.confirmedBy === 'report') {
          await messages.update(id, {
            set: {
              status: 'acknowledged',
              ackedAt: '2026-11-27T08:00:59.000Z',
              confirmedBy: 'ack',
            },
          });
        }
        return messages.update(id, update);
      },
    });

    // Act
    const result = await checkReport(input, deps);

    // Assess
    expect(result.action).toBe('acknowledged');
    const message = await messages.get(messageId);
    expect(message).toMatchObject({
      status: 'acknowledged',
      ackedAt: '2026-11-27T08:00:59.000Z',
      confirmedBy: 'ack',
    });
    expect(message?.timeline.filter((e) => e.event === 'acknowledged')).toEqual(
      []
    );
  });

  it('treats a message sent before confirmBy existed as ack', async () => {
    // Prepare: its stored policy has no confirmBy.
    const { deps, messageId, input } = await preparePushed(0, 'report');
    const stored = await deps.messages.get(messageId);
    const { confirmBy: _old, ...policy } = stored?.policy ?? {};
    const messages = deps.messages;
    deps.messages = Object.assign(Object.create(messages), {
      getFields: async (id: string, fields: readonly (keyof Message)[]) => {
        const found = await messages.getFields(id, fields);
        return found && { ...found, policy };
      },
    });
    deps.jpush.statusAnswers.push({ [RID_A]: DeliveryStatus.delivered });

    // Act
    const result = await checkReport({ ...input, maxAttempts: 1 }, deps);

    // Assess
    expect(result.action).toBe('escalate');
    expect((await messages.get(messageId))?.status).toBe('received');
  });
});
