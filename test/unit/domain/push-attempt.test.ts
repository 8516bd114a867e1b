import { describe, expect, it } from 'vitest';
import { isValidAckToken } from '../../../functions/domain/ack-token.ts';
import {
  JPushNoTargetError,
  JPushPacedError,
  JPushRateLimitError,
  JPushRejectedError,
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
const TOKEN = 'task-token-attempt-1';
const CID_1 = '8103a4c628a0b98974ec1949-cid-1';
const CID_2 = '8103a4c628a0b98974ec1949-cid-2';

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
  /** Runs the Push step of an attempt of delivery 1. */
  const push = (attempt = 1, taskToken = TOKEN) =>
    runPushAttempt({ messageId, delivery: 1, attempt, taskToken }, deps);
  /** The stored message. */
  const message = async () => {
    const found = await deps.messages.get(messageId);
    if (!found) throw new Error(`no message ${messageId}`);
    return found;
  };
  return { deps, messageId, push, message };
};

/**
 * Makes the first cid fetch wait until the returned function is called: the
 * step that asks first stalls there, after it read the message.
 */
const stallFirstCid = (deps: { cids: { next(): Promise<string> } }) => {
  const fetchCid = deps.cids.next.bind(deps.cids);
  let release = () => {};
  const stalled = new Promise<void>((resolve) => {
    release = resolve;
  });
  let calls = 0;
  deps.cids.next = async () => {
    calls += 1;
    if (calls === 1) await stalled;
    return fetchCid();
  };
  return () => release();
};

describe('runPushAttempt', () => {
  it('pushes to the registration ids of the current sessions, never to an alias', async () => {
    // Prepare
    const { deps, push } = await prepare({
      sessions: [session(ANDROID_RID), session(IOS_RID, 'ios')],
    });

    // Act
    const result = await push();

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

  it('keeps the task token with the attempt and leaves the wait to the ACK', async () => {
    // Prepare
    const { deps, push, message } = await prepare();

    // Act
    const result = await push(1, TOKEN);

    // Assess: the step keeps waiting; the ACK route ends it with the token.
    expect(result.outcome).toBe('pushed');
    expect((await message()).taskToken).toBe(TOKEN);
    expect(deps.callbacks.succeeded).toEqual([]);
  });

  it('carries messageId, a valid ackToken and the recipient in the extras', async () => {
    // Prepare
    const { deps, messageId, push } = await prepare({
      sessions: [session(ANDROID_RID), session(IOS_RID, 'ios')],
      from: 'user_7',
    });

    // Act
    await push();

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
    const key = await fakeAckKey.keys();
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

  it('sets mutable-content on iOS so the Notification Service Extension can ACK, and keeps the collapse id on every attempt', async () => {
    // Prepare
    const { deps, messageId, push } = await prepare({
      sessions: [session(ANDROID_RID), session(IOS_RID, 'ios')],
    });
    await push(1);
    deps.clock.advance(60_000);

    // Act
    await push(2, 'task-token-attempt-2');

    // Assess
    expect(deps.jpush.pushes).toHaveLength(2);
    for (const payload of deps.jpush.pushes) {
      expect(payload.notification?.ios).toMatchObject({
        'mutable-content': true,
        sound: 'default',
        extras: { messageId, ackToken: expect.any(String) },
      });
      expect(payload.options?.apns_collapse_id).toBe(messageId);
    }
    // Android has no such flag: its receiver runs the app's code.
    expect(deps.jpush.pushes[0]?.notification?.android).not.toHaveProperty(
      'mutable-content'
    );
  });

  it('leaves mutable-content and the collapse id out of a push to Android only', async () => {
    // Prepare
    const { deps, push } = await prepare();

    // Act
    await push();

    // Assess
    const payload = deps.jpush.pushes[0];
    expect(payload?.platform).toEqual(['android']);
    expect(payload?.notification?.ios).toBeUndefined();
    expect(payload?.options).not.toHaveProperty('apns_collapse_id');
  });

  it('asks JPush to keep the push no longer than the message lives', async () => {
    // Prepare
    const { deps, push } = await prepare({ expiresInSeconds: 600 });
    deps.clock.advance(100_000);

    // Act
    await push();

    // Assess
    expect(deps.jpush.pushes[0]?.options?.time_to_live).toBe(500);
  });

  it('caps the time to live at the 10 days JPush keeps offline messages', async () => {
    // Prepare
    const { deps, push } = await prepare({ expiresInSeconds: 864_000 });

    // Act
    await push();

    // Assess
    const ttl = deps.jpush.pushes[0]?.options?.time_to_live ?? Infinity;
    expect(ttl).toBeLessThanOrEqual(864_000);
  });

  it('records the push before JPush is called, with its cid, targets and time to live', async () => {
    // Prepare
    const { deps, push, message } = await prepare({ expiresInSeconds: 600 });
    let recorded: unknown;
    const send = deps.jpush.push.bind(deps.jpush);
    deps.jpush.push = async (payload) => {
      recorded = (await message()).pushes['1.1'];
      return send(payload);
    };

    // Act
    await push();

    // Assess
    expect(recorded).toEqual({
      attempt: 1,
      delivery: 1,
      state: 'pending',
      cid: CID_1,
      registrationIds: [ANDROID_RID],
      platforms: ['android'],
      ttlSeconds: 600,
      at: '2026-11-27T08:00:00.000Z',
    });
    expect(deps.jpush.pushes[0]?.cid).toBe(CID_1);
    expect((await message()).pushes['1.1']).toMatchObject({
      state: 'pushed',
      cid: CID_1,
      jpushMsgId: expect.stringMatching(/^\d{17}$/),
    });
  });

  it('replaces the previous push on the next attempt and skips devices that have it', async () => {
    // Prepare
    const { deps, push, messageId, message } = await prepare({
      sessions: [session(ANDROID_RID), session(IOS_RID, 'ios')],
    });
    const first = await push(1);
    await deps.messages.update(messageId, {
      putInMap: [
        { map: 'deliveredTo', key: ANDROID_RID, value: '2026-11-27T08:01:00Z' },
      ],
    });
    deps.clock.advance(60_000);

    // Act
    const second = await push(2, 'task-token-attempt-2');

    // Assess
    expect(second.outcome).toBe('pushed');
    expect(second.targets).toEqual([IOS_RID]);
    const payload = deps.jpush.pushes[1];
    expect(payload?.options?.override_msg_id).toBe(first.jpushMsgId);
    expect(payload?.audience.registration_id).toEqual([IOS_RID]);
    expect(payload?.platform).toEqual(['ios']);
    expect(payload?.cid).toBe(CID_2);
    expect(payload?.cid).not.toBe(deps.jpush.pushes[0]?.cid);
    const stored = await message();
    expect(stored.attempts).toBe(2);
    expect(stored.taskToken).toBe('task-token-attempt-2');
    expect(stored.pushes['1.2']?.overrideMsgId).toBe(first.jpushMsgId);
  });

  it('replaces no push older than the day override_msg_id works for', async () => {
    // Prepare
    const { deps, push } = await prepare({ expiresInSeconds: 864_000 });
    await push(1);
    deps.clock.advance(86_000_000);

    // Act
    await push(2);

    // Assess
    expect(deps.jpush.pushes[1]?.options?.override_msg_id).toBeUndefined();
  });

  it('waits for the ACK without pushing when every device already has the message', async () => {
    // Prepare
    const { deps, messageId, push, message } = await prepare();
    await deps.messages.update(messageId, {
      putInMap: [
        { map: 'deliveredTo', key: ANDROID_RID, value: '2026-11-27T08:01:00Z' },
      ],
    });

    // Act
    const result = await push(2, 'task-token-attempt-2');

    // Assess
    expect(result).toEqual({ outcome: 'awaiting-ack', targets: [] });
    expect(deps.jpush.pushes).toEqual([]);
    expect(deps.callbacks.succeeded).toEqual([]);
    const stored = await message();
    expect(stored.taskToken).toBe('task-token-attempt-2');
    expect(stored.timeline.at(-1)).toMatchObject({
      event: 'waiting',
      detail: expect.stringContaining("waiting for the app's ACK"),
    });
  });

  it('returns the recorded push when the same attempt runs again, without pushing twice, and waits with the new token', async () => {
    // Prepare
    const { deps, push, message } = await prepare();
    const first = await push(1, TOKEN);
    deps.clock.advance(1_000);

    // Act
    const again = await push(1, 'task-token-retried');

    // Assess
    expect(again).toEqual(first);
    expect(deps.jpush.pushes).toHaveLength(1);
    const stored = await message();
    expect(stored.timeline.filter((e) => e.event === 'pushed')).toHaveLength(1);
    expect(stored.taskToken).toBe('task-token-retried');
    expect(deps.callbacks.succeeded).toEqual([]);
  });

  it('lets a slow step whose wait ran out neither push nor take the wait from the step that runs its attempt again', async () => {
    // Prepare: the slow step stalls fetching its cid past the interval; the
    // cycle then runs the attempt again with a new token.
    const { deps, push, message } = await prepare();
    const release = stallFirstCid(deps);
    const slow = push(1, 'task-token-slow');
    await new Promise((resolve) => setTimeout(resolve, 10));
    deps.callbacks.ended.add('task-token-slow');

    // Act
    const rerun = await push(1, 'task-token-rerun');
    release();
    const late = await slow;

    // Assess
    expect(rerun.outcome).toBe('pushed');
    expect(late.outcome).toBe('done');
    expect(deps.jpush.pushes).toHaveLength(1);
    expect((await message()).taskToken).toBe('task-token-rerun');
  });

  it('takes over the wait of an attempt a slow step recorded, when its own wait still runs', async () => {
    // Prepare: a slow step recorded and pushed attempt 1 after the rerun
    // step read the message.
    const { deps, push, message } = await prepare();
    const release = stallFirstCid(deps);
    const rerun = push(1, 'task-token-rerun');
    await new Promise((resolve) => setTimeout(resolve, 10));

    // Act
    const slow = await push(1, 'task-token-slow');
    release();
    const result = await rerun;

    // Assess: one push; the live step waits on it with its token.
    expect(slow.outcome).toBe('pushed');
    expect(result).toEqual(slow);
    expect(deps.jpush.pushes).toHaveLength(1);
    expect((await message()).taskToken).toBe('task-token-rerun');
  });

  it('starts over when the attempt before recorded its push after this step read the message, and replaces that push', async () => {
    // Prepare: attempt 2's step reads the message, then stalls fetching a
    // cid while attempt 1's slow step records and pushes.
    const { deps, push, message } = await prepare();
    const release = stallFirstCid(deps);
    const second = push(2, 'task-token-2');
    await new Promise((resolve) => setTimeout(resolve, 10));

    // Act
    const first = await push(1, 'task-token-1');
    release();
    const result = await second;

    // Assess: one live copy: attempt 2 replaces attempt 1's push.
    expect(first.outcome).toBe('pushed');
    expect(result.outcome).toBe('pushed');
    expect(deps.jpush.pushes).toHaveLength(2);
    expect(deps.jpush.pushes[1]?.options?.override_msg_id).toBe(
      first.jpushMsgId
    );
    expect(Object.keys((await message()).pushes).sort()).toEqual([
      '1.1',
      '1.2',
    ]);
  });

  it('resolves a push whose answer was lost by sending it again with its cid, taking no new cid', async () => {
    // Prepare: JPush pushed, but its answer never came back.
    const { deps, push, message } = await prepare();
    deps.jpush.idempotentCids = true;
    deps.jpush.loseAnswers = 1;
    await expect(push(1, TOKEN)).rejects.toBeInstanceOf(
      JPushUnknownOutcomeError
    );
    const pending = (await message()).pushes['1.1'];

    // Act: the state machine retries the step with a new token.
    const retried = await push(1, 'task-token-retried');

    // Assess
    expect(pending).toMatchObject({ state: 'pending', cid: CID_1 });
    expect(retried.outcome).toBe('pushed');
    const [lost, resent] = deps.jpush.pushes;
    expect(lost?.cid).toBe(CID_1);
    expect(resent?.cid).toBe(CID_1);
    // JPush answers a known cid with its first result: one push on the phone.
    expect(retried.jpushMsgId).toBe(deps.jpush.resultsByCid.get(CID_1)?.msgId);
    const stored = await message();
    expect(stored.pushes['1.1']).toMatchObject({
      state: 'pushed',
      cid: CID_1,
      jpushMsgId: retried.jpushMsgId,
    });
    expect(stored.taskToken).toBe('task-token-retried');
    expect(stored.timeline.at(-1)).toMatchObject({
      event: 'pushed',
      detail: `attempt 1 of 3: JPush msg_id ${retried.jpushMsgId} to 1 device(s) (its earlier try got no answer or was held back: sent again with its cid)`,
    });
    // No cid was spent on the retry: the next attempt gets the second one.
    deps.clock.advance(60_000);
    await push(2);
    expect(deps.jpush.pushes.at(-1)?.cid).toBe(CID_2);
  });

  it('resolves an earlier attempt whose answer was lost first, then replaces its push', async () => {
    // Prepare: attempt 1's answer was lost and its retries ran out.
    const { deps, push, message } = await prepare();
    deps.jpush.idempotentCids = true;
    deps.jpush.loseAnswers = 1;
    await expect(push(1, TOKEN)).rejects.toBeInstanceOf(
      JPushUnknownOutcomeError
    );
    deps.clock.advance(60_000);

    // Act
    const second = await push(2, 'task-token-attempt-2');

    // Assess
    const firstMsgId = deps.jpush.resultsByCid.get(CID_1)?.msgId;
    expect(deps.jpush.pushes.map((p) => p.cid)).toEqual([CID_1, CID_1, CID_2]);
    expect(deps.jpush.pushes[2]?.options?.override_msg_id).toBe(firstMsgId);
    expect(second.outcome).toBe('pushed');
    expect(second.jpushMsgId).not.toBe(firstMsgId);
    const stored = await message();
    expect(stored.pushes['1.1']).toMatchObject({
      state: 'pushed',
      jpushMsgId: firstMsgId,
    });
    expect(stored.pushes['1.2']).toMatchObject({
      state: 'pushed',
      cid: CID_2,
      overrideMsgId: firstMsgId,
    });
    expect(stored.attempts).toBe(2);
    expect(stored.taskToken).toBe('task-token-attempt-2');
    expect(stored.timeline).toContainEqual(
      expect.objectContaining({
        event: 'pushed',
        detail: `attempt 1 of 3: JPush msg_id ${firstMsgId} to 1 device(s) (an earlier attempt got no answer: sent again with its cid)`,
      })
    );
  });

  it('records a no-target answer with its msg_id and waits', async () => {
    // Prepare
    const { deps, push, message } = await prepare();
    deps.jpush.pushAnswers.push(
      new JPushNoTargetError('cannot find user by this audience', {
        httpStatus: 400,
        code: 1011,
        msgId: '18100528814460999',
      })
    );

    // Act
    const result = await push();

    // Assess
    expect(result).toEqual({
      outcome: 'no-target',
      jpushMsgId: '18100528814460999',
      targets: [ANDROID_RID],
    });
    expect(deps.callbacks.succeeded).toEqual([]);
    const stored = await message();
    expect(stored.timeline.at(-1)).toMatchObject({
      event: 'not-delivered',
      detail:
        'attempt 1: JPush 1011: cannot find user by this audience (msg_id 18100528814460999)',
    });
    expect(stored.pushes['1.1']).toMatchObject({
      state: 'not-delivered',
      cid: CID_1,
      jpushMsgId: '18100528814460999',
    });
  });

  it.each([
    ['JPushServerError', new JPushServerError('server busy')],
    [
      'JPushUnknownOutcomeError',
      new JPushUnknownOutcomeError('JPush did not answer in 10000 ms'),
    ],
  ])(
    'lets %s propagate for the state machine to retry, keeping the push pending',
    async (name, error) => {
      // Prepare
      const { deps, push, message } = await prepare();
      deps.jpush.pushAnswers.push(error);

      // Act
      const attempt = push();

      // Assess
      await expect(attempt).rejects.toMatchObject({ name });
      expect((await message()).pushes['1.1']).toMatchObject({
        state: 'pending',
        cid: CID_1,
      });
      expect(deps.callbacks.succeeded).toEqual([]);
    }
  );

  it('paces a 429: ends the step with the wait until the next window, not counted as an attempt', async () => {
    // Prepare
    const { deps, push, message } = await prepare();
    deps.jpush.pushAnswers.push(
      new JPushRateLimitError('Request times exceeds the limit', {
        httpStatus: 429,
        code: 2002,
        rateLimit: { limit: 600, remaining: 0, resetSeconds: 30 },
      })
    );

    // Act
    const paced = await push(1, TOKEN);

    // Assess
    expect(paced).toEqual({
      outcome: 'paced',
      waitSeconds: expect.any(Number),
      targets: [],
    });
    const waitSeconds = paced.waitSeconds ?? 0;
    expect(waitSeconds).toBeGreaterThanOrEqual(30);
    expect(waitSeconds).toBeLessThanOrEqual(33);
    expect(deps.callbacks.succeeded).toEqual([
      { taskToken: TOKEN, output: { outcome: 'paced', waitSeconds } },
    ]);
    const stored = await message();
    expect(stored.timeline.at(-1)).toEqual({
      at: '2026-11-27T08:00:00.000Z',
      event: 'paced',
      detail: `attempt 1: JPush's rate limit is used up (JPush (429)); waiting ${waitSeconds} s for the next window, not counted as an attempt`,
    });
    expect(stored.status).toBe('sending');
  });

  it('runs the same attempt again after the wait, with the same cid and one record', async () => {
    // Prepare
    const { deps, push, message } = await prepare();
    deps.jpush.pushAnswers.push(
      new JPushRateLimitError('Request times exceeds the limit', {
        httpStatus: 429,
        code: 2002,
        rateLimit: { remaining: 0, resetSeconds: 30 },
      })
    );
    await push(1, TOKEN);
    deps.clock.advance(33_000);

    // Act
    const again = await push(1, 'task-token-after-wait');

    // Assess
    expect(again.outcome).toBe('pushed');
    expect(deps.jpush.pushes.map((p) => p.cid)).toEqual([CID_1, CID_1]);
    const stored = await message();
    expect(Object.keys(stored.pushes)).toEqual(['1.1']);
    expect(stored.attempts).toBe(1);
    expect(stored.taskToken).toBe('task-token-after-wait');
    expect(deps.callbacks.succeeded).toHaveLength(1);
  });

  it('paces when the shared pacing holds the push back, without calling JPush', async () => {
    // Prepare
    const { deps, push, message } = await prepare();
    const pacedError = new JPushPacedError(
      "JPush's push rate limit is used up for 12 s more (shared pacing; not sent)",
      { rateLimit: { remaining: 0, resetSeconds: 12 } }
    );
    deps.jpush.push = async () => {
      throw pacedError;
    };

    // Act
    const paced = await push(1, TOKEN);

    // Assess
    expect(paced.outcome).toBe('paced');
    const waitSeconds = paced.waitSeconds ?? 0;
    expect(waitSeconds).toBeGreaterThanOrEqual(12);
    expect(waitSeconds).toBeLessThanOrEqual(15);
    expect(deps.callbacks.succeeded).toEqual([
      { taskToken: TOKEN, output: { outcome: 'paced', waitSeconds } },
    ]);
    expect((await message()).timeline.at(-1)).toMatchObject({
      event: 'paced',
      detail: expect.stringContaining('(the shared pacing)'),
    });
  });

  it('paces when fetching cids is held back, before anything is recorded', async () => {
    // Prepare
    const { deps, push, message } = await prepare();
    deps.cids = {
      next: async () => {
        throw new JPushPacedError('used up (shared pacing; not sent)', {
          rateLimit: { remaining: 0, resetSeconds: 4 },
        });
      },
    } as unknown as typeof deps.cids;

    // Act
    const paced = await push(1, TOKEN);

    // Assess
    expect(paced.outcome).toBe('paced');
    expect(deps.jpush.pushes).toEqual([]);
    const stored = await message();
    expect(stored.pushes).toEqual({});
    expect(stored.attempts).toBe(0);
  });

  it('waits 5 s and a little when a 429 says nothing about its window', async () => {
    // Prepare
    const { deps, push } = await prepare();
    deps.jpush.pushAnswers.push(new JPushRateLimitError('too many requests'));

    // Act
    const paced = await push();

    // Assess
    expect(paced.outcome).toBe('paced');
    expect(paced.waitSeconds).toBeGreaterThanOrEqual(5);
    expect(paced.waitSeconds).toBeLessThanOrEqual(8);
  });

  it('expires the message when JPush’s window would open after its life', async () => {
    // Prepare
    const { deps, push, message } = await prepare({ expiresInSeconds: 20 });
    deps.jpush.pushAnswers.push(
      new JPushRateLimitError('Request times exceeds the limit', {
        httpStatus: 429,
        code: 2002,
        rateLimit: { remaining: 0, resetSeconds: 30 },
      })
    );

    // Act
    const result = await push(1, TOKEN);

    // Assess
    expect(result).toEqual({ outcome: 'expired', targets: [] });
    expect(deps.callbacks.succeeded).toEqual([
      { taskToken: TOKEN, output: { outcome: 'expired' } },
    ]);
    const stored = await message();
    expect(stored.status).toBe('expired');
    expect(stored.timeline.at(-1)).toMatchObject({
      event: 'expired',
      detail: expect.stringContaining(
        "JPush's rate limit stayed used up until the message's life ended"
      ),
    });
  });

  it('marks the message failed when JPush refuses the push for good', async () => {
    // Prepare
    const { deps, push, message } = await prepare();
    deps.jpush.pushAnswers.push(
      new JPushRejectedError('appkey and masterSecret do not match', {
        httpStatus: 401,
        code: 1004,
      })
    );

    // Act
    const result = await push(1, TOKEN);
    const after = await push(1, 'task-token-retried');

    // Assess
    expect(result).toEqual({ outcome: 'failed', targets: [] });
    expect(after.outcome).toBe('done');
    expect(deps.jpush.pushes).toHaveLength(1);
    expect(deps.callbacks.succeeded).toEqual([
      { taskToken: TOKEN, output: { outcome: 'failed' } },
      { taskToken: 'task-token-retried', output: { outcome: 'done' } },
    ]);
    const stored = await message();
    expect(stored).toMatchObject({
      status: 'failed',
      failureReason: 'appkey and masterSecret do not match',
    });
    expect(stored.timeline.at(-1)).toMatchObject({
      event: 'failed',
      detail:
        'JPush refused the push for good (JPush 1004: appkey and masterSecret do not match)',
    });
  });

  it('does nothing for an acknowledged message and ends the step at once', async () => {
    // Prepare
    const { deps, messageId, push } = await prepare();
    await deps.messages.update(messageId, {
      set: { status: 'acknowledged', ackedAt: '2026-11-27T08:00:30.000Z' },
    });

    // Act
    const result = await push(1, TOKEN);

    // Assess
    expect(result).toEqual({ outcome: 'done', targets: [] });
    expect(deps.jpush.pushes).toEqual([]);
    expect(deps.callbacks.succeeded).toEqual([
      { taskToken: TOKEN, output: { outcome: 'done' } },
    ]);
  });

  it('does nothing for an unknown message or a superseded delivery', async () => {
    // Prepare
    const { deps, messageId } = await prepare();

    // Act
    const unknown = await runPushAttempt(
      {
        messageId: 'kDoesNotExist',
        delivery: 1,
        attempt: 1,
        taskToken: 'token-unknown',
      },
      deps
    );
    const superseded = await runPushAttempt(
      { messageId, delivery: 2, attempt: 1, taskToken: 'token-superseded' },
      deps
    );

    // Assess
    expect(unknown.outcome).toBe('done');
    expect(superseded.outcome).toBe('done');
    expect(deps.jpush.pushes).toEqual([]);
    expect(deps.callbacks.succeeded.map((c) => c.taskToken)).toEqual([
      'token-unknown',
      'token-superseded',
    ]);
  });

  it('marks a message whose life ended as expired without pushing', async () => {
    // Prepare
    const { deps, push, message } = await prepare({ expiresInSeconds: 600 });
    deps.clock.advance(600_000);

    // Act
    const result = await push(2, TOKEN);

    // Assess
    expect(result).toEqual({ outcome: 'expired', targets: [] });
    expect(deps.jpush.pushes).toEqual([]);
    expect(deps.callbacks.succeeded).toEqual([
      { taskToken: TOKEN, output: { outcome: 'expired' } },
    ]);
    const stored = await message();
    expect(stored.status).toBe('expired');
    expect(stored.timeline.at(-1)?.event).toBe('expired');
  });

  it('puts the message back in the offline store for the next delivery when the user logged out', async () => {
    // Prepare
    const { deps, messageId, push, message } = await prepare();
    await deps.sessions.delete('user_42', ANDROID_RID);

    // Act
    const result = await push(1, TOKEN);

    // Assess
    expect(result).toEqual({ outcome: 'stored', targets: [] });
    expect(deps.jpush.pushes).toEqual([]);
    expect(deps.callbacks.succeeded).toEqual([
      { taskToken: TOKEN, output: { outcome: 'stored' } },
    ]);
    expect(await message()).toMatchObject({ status: 'stored', delivery: 2 });
    expect(await deps.offline.list('user_42')).toEqual([
      expect.objectContaining({ messageId, delivery: 2 }),
    ]);
  });

  it('never pushes to a device whose session belongs to another user', async () => {
    // Prepare
    const { deps, push } = await prepare();
    await deps.sessions.delete('user_42', ANDROID_RID);
    await deps.sessions.put(session(ANDROID_RID, 'android', 'user_99'));

    // Act
    const result = await push();

    // Assess
    expect(result.outcome).toBe('stored');
    expect(deps.jpush.pushes).toEqual([]);
  });

  it('records the push with its msg_id and time in the timeline; the time gives the Report API date', async () => {
    // Prepare: 23:30 UTC is already the next day in JPush's UTC+8.
    const { deps, push, message } = await prepare({ expiresInSeconds: 86_400 });
    deps.clock.advance(15.5 * 3_600_000);

    // Act
    const result = await push();

    // Assess
    expect(result.jpushMsgId).toMatch(/^\d{17}$/);
    const stored = await message();
    const record = stored.pushes['1.1'];
    expect(record).toMatchObject({
      state: 'pushed',
      jpushMsgId: result.jpushMsgId,
      registrationIds: [ANDROID_RID],
      at: '2026-11-27T23:30:00.000Z',
    });
    expect(jpushDate(new Date(record?.at ?? ''))).toBe('2026-11-28');
    expect(stored.timeline.at(-1)).toEqual({
      at: '2026-11-27T23:30:00.000Z',
      event: 'pushed',
      detail: `attempt 1 of 3: JPush msg_id ${result.jpushMsgId} to 1 device(s)`,
      // Structured, for programs (the live view): no parsing of the prose.
      attempt: 1,
      jpushMsgId: result.jpushMsgId,
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
