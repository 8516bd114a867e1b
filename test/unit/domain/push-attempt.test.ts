import { describe, expect, it } from 'vitest';
import { isValidAckToken } from '../../../functions/domain/ack-token.ts';
import {
  JPushNoTargetError,
  JPushRateLimitError,
  JPushServerError,
  JPushUnknownOutcomeError,
} from '../../../functions/domain/jpush.ts';
import type { Session } from '../../../functions/domain/ports.ts';
import {
  jpushDate,
  runPushAttempt,
} from '../../../functions/domain/push-attempt.ts';
import { sendMessage } from '../../../functions/domain/send-message.ts';
import { fakeAckKey, inMemoryDeps } from '../../helpers/fakes.ts';
import { RecordingJPush } from '../../helpers/recording-jpush.ts';

const ANDROID_RID = '1a0018970a9c2ce5b0';
const IOS_RID = '191e35f7e0a9c2e9d01';

const session = (
  registrationId: string,
  platform: Session['platform'] = 'android',
  userId = 'user_42'
): Session => ({
  userId,
  registrationId,
  platform,
  since: '2026-11-27T07:00:00.000Z',
});

/** In-memory ports, a recording JPush and one accepted message. */
const prepare = async (
  options: {
    sessions?: Session[];
    expiresInSeconds?: number;
    from?: string;
  } = {}
) => {
  const deps = { ...inMemoryDeps(), jpush: new RecordingJPush() };
  for (const s of options.sessions ?? [session(ANDROID_RID)]) {
    await deps.sessions.put(s);
  }
  const { messageId } = await sendMessage(
    {
      to: 'user_42',
      ...(options.from === undefined ? {} : { from: options.from }),
      title: 'Order 1009',
      body: 'Your parcel left the warehouse.',
      data: { orderId: '1009' },
      policy: { expiresInSeconds: options.expiresInSeconds ?? 3600 },
    },
    deps
  );
  return { deps, messageId };
};

describe('runPushAttempt', () => {
  it('pushes to the registration ids of the current sessions, never to an alias', async () => {
    // Prepare
    const { deps, messageId } = await prepare({
      sessions: [session(ANDROID_RID), session(IOS_RID, 'ios')],
    });

    // Act
    const result = await runPushAttempt(
      { messageId, delivery: 1, attempt: 1 },
      deps
    );

    // Assess
    expect(result.outcome).toBe('pushed');
    expect([...result.targets].sort()).toEqual([ANDROID_RID, IOS_RID].sort());
    expect(deps.jpush.pushes).toHaveLength(1);
    const [payload] = deps.jpush.pushes;
    expect(Object.keys(payload?.audience ?? {})).toEqual(['registration_id']);
    expect([...(payload?.audience.registration_id ?? [])].sort()).toEqual(
      [ANDROID_RID, IOS_RID].sort()
    );
    expect(payload?.audience.alias).toBeUndefined();
    expect(payload?.platform).toEqual(['android', 'ios']);
  });

  it('carries messageId, a valid ackToken and the recipient in the extras', async () => {
    // Prepare
    const { deps, messageId } = await prepare({
      sessions: [session(ANDROID_RID), session(IOS_RID, 'ios')],
      from: 'user_7',
    });

    // Act
    await runPushAttempt({ messageId, delivery: 1, attempt: 1 }, deps);

    // Assess
    const notification = deps.jpush.pushes[0]?.notification;
    const extras = notification?.android?.extras ?? {};
    expect(extras).toMatchObject({
      messageId,
      to: 'user_42',
      from: 'user_7',
      data: { orderId: '1009' },
    });
    expect(notification?.ios?.extras).toEqual(extras);
    const key = await fakeAckKey.key();
    expect(
      isValidAckToken(key, messageId, 'user_42', String(extras.ackToken))
    ).toBe(true);
    expect(notification?.android?.title).toBe('Order 1009');
    expect(notification?.ios?.alert).toEqual({
      title: 'Order 1009',
      body: 'Your parcel left the warehouse.',
    });
    // iOS has no override_msg_id: a re-push replaces the shown copy through
    // the APNs collapse id, the message id.
    expect(deps.jpush.pushes[0]?.options?.apns_collapse_id).toBe(messageId);
  });

  it('asks JPush to keep the push no longer than the message lives', async () => {
    // Prepare
    const { deps, messageId } = await prepare({ expiresInSeconds: 600 });
    deps.clock.advance(100_000);

    // Act
    await runPushAttempt({ messageId, delivery: 1, attempt: 1 }, deps);

    // Assess
    expect(deps.jpush.pushes[0]?.options?.time_to_live).toBe(500);
  });

  it('caps the time to live at the 10 days JPush keeps offline messages', async () => {
    // Prepare
    const { deps, messageId } = await prepare({ expiresInSeconds: 864_000 });

    // Act
    await runPushAttempt({ messageId, delivery: 1, attempt: 1 }, deps);

    // Assess
    const ttl = deps.jpush.pushes[0]?.options?.time_to_live ?? Infinity;
    expect(ttl).toBeLessThanOrEqual(864_000);
  });

  it('replaces the previous push on the next attempt and skips devices that have it', async () => {
    // Prepare
    const { deps, messageId } = await prepare({
      sessions: [session(ANDROID_RID), session(IOS_RID, 'ios')],
    });
    const first = await runPushAttempt(
      { messageId, delivery: 1, attempt: 1 },
      deps
    );
    await deps.messages.update(messageId, {
      putInMap: [
        { map: 'deliveredTo', key: ANDROID_RID, value: '2026-11-27T08:01:00Z' },
      ],
    });
    deps.clock.advance(60_000);

    // Act
    const second = await runPushAttempt(
      { messageId, delivery: 1, attempt: 2 },
      deps
    );

    // Assess
    expect(second.outcome).toBe('pushed');
    expect(second.targets).toEqual([IOS_RID]);
    const payload = deps.jpush.pushes[1];
    expect(payload?.options?.override_msg_id).toBe(first.jpushMsgId);
    expect(payload?.audience.registration_id).toEqual([IOS_RID]);
    expect(payload?.platform).toEqual(['ios']);
    expect(payload?.cid).not.toBe(deps.jpush.pushes[0]?.cid);
    const message = await deps.messages.get(messageId);
    expect(message?.attempts).toBe(2);
  });

  it('waits for the ACK without pushing when every device already has the message', async () => {
    // Prepare
    const { deps, messageId } = await prepare();
    await deps.messages.update(messageId, {
      putInMap: [
        { map: 'deliveredTo', key: ANDROID_RID, value: '2026-11-27T08:01:00Z' },
      ],
    });

    // Act
    const result = await runPushAttempt(
      { messageId, delivery: 1, attempt: 2 },
      deps
    );

    // Assess
    expect(result).toEqual({ outcome: 'awaiting-ack', targets: [] });
    expect(deps.jpush.pushes).toEqual([]);
    const message = await deps.messages.get(messageId);
    expect(message?.timeline.at(-1)).toMatchObject({
      event: 'waiting',
      detail: expect.stringContaining("waiting for the app's ACK"),
    });
  });

  it('returns the recorded push when the same attempt runs again, without pushing twice', async () => {
    // Prepare
    const { deps, messageId } = await prepare();
    const first = await runPushAttempt(
      { messageId, delivery: 1, attempt: 1 },
      deps
    );
    deps.clock.advance(1_000);

    // Act
    const again = await runPushAttempt(
      { messageId, delivery: 1, attempt: 1 },
      deps
    );

    // Assess
    expect(again).toEqual(first);
    expect(deps.jpush.pushes).toHaveLength(1);
    const message = await deps.messages.get(messageId);
    expect(message?.timeline.filter((e) => e.event === 'pushed')).toHaveLength(
      1
    );
  });

  it('keeps the attempt cid when the push is retried after an unknown outcome', async () => {
    // Prepare
    const { deps, messageId } = await prepare();
    deps.jpush.pushAnswers.push(
      new JPushUnknownOutcomeError('JPush did not answer in 10000 ms')
    );
    await expect(
      runPushAttempt({ messageId, delivery: 1, attempt: 1 }, deps)
    ).rejects.toBeInstanceOf(JPushUnknownOutcomeError);

    // Act
    const retried = await runPushAttempt(
      { messageId, delivery: 1, attempt: 1 },
      deps
    );

    // Assess
    expect(retried.outcome).toBe('pushed');
    const [lost, resent] = deps.jpush.pushes;
    expect(lost?.cid).toBeDefined();
    expect(resent?.cid).toBe(lost?.cid);
    const message = await deps.messages.get(messageId);
    expect(message?.cids['1.1']).toBe(lost?.cid);
  });

  it('records a no-target answer as an outcome with the reason in the timeline', async () => {
    // Prepare
    const { deps, messageId } = await prepare();
    deps.jpush.pushAnswers.push(
      new JPushNoTargetError('cannot find user by this audience', {
        httpStatus: 400,
        code: 1011,
        msgId: '18100528814460999',
      })
    );

    // Act
    const result = await runPushAttempt(
      { messageId, delivery: 1, attempt: 1 },
      deps
    );

    // Assess
    expect(result).toEqual({ outcome: 'no-target', targets: [] });
    const message = await deps.messages.get(messageId);
    expect(message?.timeline.at(-1)).toMatchObject({
      event: 'not-delivered',
      detail:
        'attempt 1: JPush 1011: cannot find user by this audience (msg_id 18100528814460999)',
    });
    expect(message?.pushes).toEqual({});
  });

  it.each([
    ['JPushRateLimitError', new JPushRateLimitError('too many requests')],
    ['JPushServerError', new JPushServerError('server busy')],
  ])(
    'lets %s propagate for the state machine to retry',
    async (name, error) => {
      // Prepare
      const { deps, messageId } = await prepare();
      deps.jpush.pushAnswers.push(error);

      // Act
      const attempt = runPushAttempt(
        { messageId, delivery: 1, attempt: 1 },
        deps
      );

      // Assess
      await expect(attempt).rejects.toMatchObject({ name });
      const message = await deps.messages.get(messageId);
      expect(message?.pushes).toEqual({});
    }
  );

  it('does nothing for an acknowledged message', async () => {
    // Prepare
    const { deps, messageId } = await prepare();
    await deps.messages.update(messageId, {
      set: { status: 'acknowledged', ackedAt: '2026-11-27T08:00:30.000Z' },
    });

    // Act
    const result = await runPushAttempt(
      { messageId, delivery: 1, attempt: 1 },
      deps
    );

    // Assess
    expect(result).toEqual({ outcome: 'done', targets: [] });
    expect(deps.jpush.pushes).toEqual([]);
  });

  it('does nothing for an unknown message or a superseded delivery', async () => {
    // Prepare
    const { deps, messageId } = await prepare();

    // Act
    const unknown = await runPushAttempt(
      { messageId: 'kDoesNotExist', delivery: 1, attempt: 1 },
      deps
    );
    const superseded = await runPushAttempt(
      { messageId, delivery: 2, attempt: 1 },
      deps
    );

    // Assess
    expect(unknown.outcome).toBe('done');
    expect(superseded.outcome).toBe('done');
    expect(deps.jpush.pushes).toEqual([]);
  });

  it('marks a message whose life ended as expired without pushing', async () => {
    // Prepare
    const { deps, messageId } = await prepare({ expiresInSeconds: 600 });
    deps.clock.advance(600_000);

    // Act
    const result = await runPushAttempt(
      { messageId, delivery: 1, attempt: 2 },
      deps
    );

    // Assess
    expect(result).toEqual({ outcome: 'expired', targets: [] });
    expect(deps.jpush.pushes).toEqual([]);
    const message = await deps.messages.get(messageId);
    expect(message?.status).toBe('expired');
    expect(message?.timeline.at(-1)?.event).toBe('expired');
  });

  it('puts the message back in the offline store for the next delivery when the user logged out', async () => {
    // Prepare
    const { deps, messageId } = await prepare();
    await deps.sessions.delete('user_42', ANDROID_RID);

    // Act
    const result = await runPushAttempt(
      { messageId, delivery: 1, attempt: 1 },
      deps
    );

    // Assess
    expect(result).toEqual({ outcome: 'stored', targets: [] });
    expect(deps.jpush.pushes).toEqual([]);
    const message = await deps.messages.get(messageId);
    expect(message).toMatchObject({ status: 'stored', delivery: 2 });
    expect(await deps.offline.list('user_42')).toEqual([
      expect.objectContaining({ messageId, delivery: 2 }),
    ]);
  });

  it('never pushes to a device whose session belongs to another user', async () => {
    // Prepare
    const { deps, messageId } = await prepare();
    await deps.sessions.delete('user_42', ANDROID_RID);
    await deps.sessions.put(session(ANDROID_RID, 'android', 'user_99'));

    // Act
    const result = await runPushAttempt(
      { messageId, delivery: 1, attempt: 1 },
      deps
    );

    // Assess
    expect(result.outcome).toBe('stored');
    expect(deps.jpush.pushes).toEqual([]);
  });

  it('records the push with its msg_id in the timeline and reports the JPush date', async () => {
    // Prepare: 23:30 UTC is already the next day in JPush's UTC+8.
    const { deps, messageId } = await prepare({ expiresInSeconds: 86_400 });
    deps.clock.advance(15.5 * 3_600_000);

    // Act
    const result = await runPushAttempt(
      { messageId, delivery: 1, attempt: 1 },
      deps
    );

    // Assess
    expect(result.pushDate).toBe('2026-11-28');
    expect(result.jpushMsgId).toMatch(/^\d{17}$/);
    const message = await deps.messages.get(messageId);
    expect(message?.pushes['1.1']).toMatchObject({
      jpushMsgId: result.jpushMsgId,
      registrationIds: [ANDROID_RID],
      at: '2026-11-27T23:30:00.000Z',
    });
    expect(message?.timeline.at(-1)).toMatchObject({
      event: 'pushed',
      detail: `attempt 1 of 3: JPush msg_id ${result.jpushMsgId} to 1 device(s)`,
    });
  });
});

describe('jpushDate', () => {
  it('gives the calendar day in UTC+8', () => {
    // Act
    const dates = [
      jpushDate(new Date('2026-11-27T15:59:59.999Z')),
      jpushDate(new Date('2026-11-27T16:00:00.000Z')),
      jpushDate(new Date('2026-12-31T23:30:00.000Z')),
    ];

    // Assess
    expect(dates).toEqual(['2026-11-27', '2026-11-28', '2027-01-01']);
  });
});
