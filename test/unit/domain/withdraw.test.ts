import { describe, expect, it } from 'vitest';
import {
  JPushNoTargetError,
  JPushRateLimitError,
  JPushRejectedError,
  JPushServerError,
  JPushUnknownOutcomeError,
} from '../../../functions/domain/jpush.ts';
import type { PushRecord } from '../../../functions/domain/message.ts';
import type { Withdrawal } from '../../../functions/domain/ports.ts';
import { runPushAttempt } from '../../../functions/domain/push-attempt.ts';
import { sendMessage } from '../../../functions/domain/send-message.ts';
import {
  sweepWithdrawals,
  withdrawPush,
} from '../../../functions/domain/withdraw.ts';
import { inMemoryDeps } from '../../helpers/fakes.ts';
import { RecordingJPush } from '../../helpers/recording-jpush.ts';

const RID = '1a0018970a9c2ce5b0';
const WHY = `user_42 logged out of device ${RID}`;

/**
 * A message pushed (attempt 1) to one device that JPush confirmed, for an
 * hour's life.
 */
const preparePushed = async () => {
  const deps = { ...inMemoryDeps(), jpush: new RecordingJPush() };
  await deps.sessions.put({
    userId: 'user_42',
    registrationId: RID,
    platform: 'android',
    since: '2026-11-27T07:00:00.000Z',
  });
  const { messageId } = await sendMessage(
    {
      to: 'user_42',
      body: 'Your parcel left the warehouse.',
      policy: { expiresInSeconds: 3600 },
    },
    deps
  );
  const push = await runPushAttempt(
    { messageId, delivery: 1, attempt: 1, taskToken: 'task-token-1' },
    deps
  );
  await deps.messages.update(messageId, {
    putInMap: [
      { map: 'deliveredTo', key: RID, value: '2026-11-27T08:01:00.000Z' },
    ],
  });
  deps.clock.advance(60_000);
  /** The stored message. */
  const message = async () => {
    const found = await deps.messages.get(messageId);
    if (!found) throw new Error(`no message ${messageId}`);
    return found;
  };
  /** Withdraws attempt 1's push as a logout of RID would. */
  const withdraw = async () =>
    withdrawPush(await message(), '1.1', WHY, deps, RID);
  return {
    deps,
    messageId,
    msgId: push.jpushMsgId ?? '',
    message,
    withdraw,
  };
};

/** The outbox's entries. */
const entriesOf = (deps: { outbox: { entries: Map<string, Withdrawal> } }) => [
  ...deps.outbox.entries.values(),
];

describe('withdrawPush', () => {
  it('records the withdrawal in the outbox before asking JPush', async () => {
    // Prepare
    const { deps, messageId, withdraw } = await preparePushed();
    let recorded: Withdrawal[] = [];
    deps.jpush.withdraw = async () => {
      recorded = entriesOf(deps);
    };

    // Act
    await withdraw();

    // Assess
    expect(recorded).toEqual([
      {
        messageId,
        pushKey: '1.1',
        why: WHY,
        registrationId: RID,
        tries: 0,
        nextAt: '2026-11-27T08:01:00.000Z',
        // The push's time_to_live ends with the message's life.
        until: '2026-11-27T09:00:00.000Z',
      },
    ]);
  });

  it('marks the push withdrawn, drops the entry and the device’s delivery mark', async () => {
    // Prepare
    const { deps, msgId, message, withdraw } = await preparePushed();

    // Act
    const result = await withdraw();

    // Assess
    expect(result).toEqual({ outcome: 'withdrawn', msgId });
    expect(deps.jpush.withdrawn).toEqual([msgId]);
    expect(deps.outbox.entries.size).toBe(0);
    const stored = await message();
    expect(stored.pushes['1.1']).toMatchObject({
      state: 'pushed',
      jpushMsgId: msgId,
      withdrawnAt: '2026-11-27T08:01:00.000Z',
    });
    expect(stored.deliveredTo).toEqual({});
    expect(stored.timeline.at(-1)).toEqual({
      at: '2026-11-27T08:01:00.000Z',
      event: 'withdrawn',
      detail: `attempt 1: ${WHY}; JPush msg_id ${msgId} withdrawn`,
    });
  });

  it('keeps the delivery marks when no device left (a newer delivery replaced it)', async () => {
    // Prepare
    const { deps, message } = await preparePushed();

    // Act
    await withdrawPush(await message(), '1.1', 'delivery 2 replaced it', deps);

    // Assess
    expect((await message()).deliveredTo).toEqual({
      [RID]: '2026-11-27T08:01:00.000Z',
    });
  });

  it('withdraws nothing twice, and nothing that was never recorded', async () => {
    // Prepare
    const { deps, message, withdraw } = await preparePushed();
    await withdraw();

    // Act
    const again = await withdraw();
    const unknown = await withdrawPush(await message(), '1.9', WHY, deps);

    // Assess
    expect(again).toEqual({ outcome: 'nothing' });
    expect(unknown).toEqual({ outcome: 'nothing' });
    expect(deps.jpush.withdrawn).toHaveLength(1);
    expect(deps.outbox.entries.size).toBe(0);
    expect(
      (await message()).timeline.filter((e) => e.event === 'withdrawn')
    ).toHaveLength(1);
  });

  it('sends a push whose answer was lost again with its cid first, then withdraws it', async () => {
    // Prepare: attempt 2 was recorded; JPush's answer never came.
    const { deps, messageId, message } = await preparePushed();
    const pending: PushRecord = {
      attempt: 2,
      delivery: 1,
      state: 'pending',
      cid: '8103a4c628a0b98974ec1949-cid-lost',
      registrationIds: [RID],
      platforms: ['android'],
      ttlSeconds: 3540,
      at: '2026-11-27T08:01:00.000Z',
    };
    await deps.messages.update(messageId, {
      putInMap: [{ map: 'pushes', key: '1.2', value: pending }],
    });
    const pushesBefore = deps.jpush.pushes.length;

    // Act
    const result = await withdrawPush(await message(), '1.2', WHY, deps, RID);

    // Assess
    const resent = deps.jpush.pushes.slice(pushesBefore);
    expect(resent.map((p) => p.cid)).toEqual([pending.cid]);
    expect(resent[0]?.audience.registration_id).toEqual([RID]);
    expect(result.outcome).toBe('withdrawn');
    expect(deps.jpush.withdrawn).toEqual([result.msgId]);
    const stored = await message();
    expect(stored.pushes['1.2']).toMatchObject({
      state: 'pushed',
      cid: pending.cid,
      jpushMsgId: result.msgId,
      withdrawnAt: '2026-11-27T08:01:00.000Z',
    });
    expect(stored.timeline.slice(-2).map((e) => e.detail)).toEqual([
      `attempt 2 of 3: JPush msg_id ${result.msgId} to 1 device(s) (resolved before its withdrawal: sent again with its cid)`,
      `attempt 2: ${WHY}; JPush msg_id ${result.msgId} withdrawn`,
    ]);
  });

  it('has nothing to withdraw when the resolved push reached no device (1011)', async () => {
    // Prepare
    const { deps, messageId, message } = await preparePushed();
    await deps.messages.update(messageId, {
      putInMap: [
        {
          map: 'pushes',
          key: '1.2',
          value: {
            attempt: 2,
            delivery: 1,
            state: 'pending',
            cid: '8103a4c628a0b98974ec1949-cid-lost',
            registrationIds: [RID],
            platforms: ['android'],
            ttlSeconds: 3540,
            at: '2026-11-27T08:01:00.000Z',
          },
        },
      ],
    });
    deps.jpush.pushAnswers.push(
      new JPushNoTargetError('cannot find user by this audience', {
        httpStatus: 400,
        code: 1011,
      })
    );

    // Act
    const result = await withdrawPush(await message(), '1.2', WHY, deps, RID);

    // Assess
    expect(result).toEqual({ outcome: 'nothing' });
    expect(deps.jpush.withdrawn).toEqual([]);
    expect(deps.outbox.entries.size).toBe(0);
    expect((await message()).pushes['1.2']?.state).toBe('not-delivered');
  });

  it('takes a refusal as final: drops the entry and says why in the timeline', async () => {
    // Prepare
    const { deps, msgId, message, withdraw } = await preparePushed();
    deps.jpush.withdrawAnswers.push(
      new JPushRejectedError('msg_id already delivered', {
        httpStatus: 400,
        code: 1003,
      })
    );

    // Act
    const result = await withdraw();
    await sweepWithdrawals(deps);

    // Assess
    expect(result).toEqual({
      outcome: 'refused',
      msgId,
      code: 1003,
      reason: 'msg_id already delivered',
    });
    expect(deps.jpush.withdrawn).toEqual([msgId]);
    expect(deps.outbox.entries.size).toBe(0);
    const stored = await message();
    expect(stored.pushes['1.1']?.withdrawnAt).toBeUndefined();
    expect(stored.timeline.at(-1)).toEqual({
      at: '2026-11-27T08:01:00.000Z',
      event: 'withdrawn',
      detail: `attempt 1: ${WHY}; JPush msg_id ${msgId} not withdrawn (JPush 1003: msg_id already delivered)`,
    });
  });

  it.each([
    ['JPushServerError', new JPushServerError('system busy')],
    [
      'JPushUnknownOutcomeError',
      new JPushUnknownOutcomeError('JPush did not answer in 10000 ms'),
    ],
  ])(
    'keeps the entry after a %s, for a try 2 s later',
    async (_name, error) => {
      // Prepare
      const { deps, msgId, message, withdraw } = await preparePushed();
      deps.jpush.withdrawAnswers.push(error);

      // Act
      const result = await withdraw();

      // Assess
      expect(result).toEqual({
        outcome: 'retrying',
        msgId,
        reason: error.message,
      });
      expect(entriesOf(deps)).toEqual([
        expect.objectContaining({
          pushKey: '1.1',
          tries: 1,
          nextAt: '2026-11-27T08:01:02.000Z',
        }),
      ]);
      const stored = await message();
      expect(stored.pushes['1.1']?.withdrawnAt).toBeUndefined();
      expect(stored.deliveredTo).toEqual({
        [RID]: '2026-11-27T08:01:00.000Z',
      });
      expect(stored.timeline.at(-1)).toEqual({
        at: '2026-11-27T08:01:00.000Z',
        event: 'withdraw-failed',
        detail: `attempt 1: ${WHY}; JPush msg_id ${msgId} not withdrawn yet (${error.message}); try 2 at 2026-11-27T08:01:02.000Z`,
      });
    }
  );

  it('keeps the entry when the lost push cannot be resolved yet', async () => {
    // Prepare
    const { deps, messageId, message } = await preparePushed();
    await deps.messages.update(messageId, {
      putInMap: [
        {
          map: 'pushes',
          key: '1.2',
          value: {
            attempt: 2,
            delivery: 1,
            state: 'pending',
            cid: '8103a4c628a0b98974ec1949-cid-lost',
            registrationIds: [RID],
            platforms: ['android'],
            ttlSeconds: 3540,
            at: '2026-11-27T08:01:00.000Z',
          },
        },
      ],
    });
    deps.jpush.pushAnswers.push(new JPushServerError('system busy'));

    // Act
    const result = await withdrawPush(await message(), '1.2', WHY, deps, RID);

    // Assess
    expect(result).toEqual({ outcome: 'retrying', reason: 'system busy' });
    expect(entriesOf(deps)).toEqual([
      expect.objectContaining({ pushKey: '1.2', tries: 1 }),
    ]);
    expect((await message()).timeline.at(-1)?.detail).toContain(
      'JPush did not answer the push (system busy)'
    );
  });

  it('waits out the window JPush gives with a 429', async () => {
    // Prepare
    const { deps, withdraw } = await preparePushed();
    deps.jpush.withdrawAnswers.push(
      new JPushRateLimitError('Request times exceeds the limit', {
        httpStatus: 429,
        code: 2002,
        rateLimit: { remaining: 0, resetSeconds: 40 },
      })
    );

    // Act
    const result = await withdraw();

    // Assess
    expect(result.outcome).toBe('retrying');
    expect(entriesOf(deps)[0]?.nextAt).toBe('2026-11-27T08:01:40.000Z');
  });
});

describe('sweepWithdrawals', () => {
  it('tries the due entries only, and withdraws them once JPush answers', async () => {
    // Prepare
    const { deps, msgId, message, withdraw } = await preparePushed();
    deps.jpush.withdrawAnswers.push(new JPushServerError('system busy'));
    await withdraw();

    // Act
    deps.clock.advance(1_999);
    const early = await sweepWithdrawals(deps);
    deps.clock.advance(1);
    const due = await sweepWithdrawals(deps);

    // Assess
    expect(early).toEqual({
      withdrawn: 0,
      refused: 0,
      retrying: 0,
      nothing: 0,
      expired: 0,
    });
    expect(due).toMatchObject({ withdrawn: 1, retrying: 0 });
    expect(deps.jpush.withdrawn).toEqual([msgId, msgId]);
    expect(deps.outbox.entries.size).toBe(0);
    const stored = await message();
    expect(stored.pushes['1.1']?.withdrawnAt).toBe('2026-11-27T08:01:02.000Z');
    expect(stored.deliveredTo).toEqual({});
    expect(stored.timeline.at(-1)).toMatchObject({
      event: 'withdrawn',
      detail: `attempt 1: ${WHY}; JPush msg_id ${msgId} withdrawn`,
    });
  });

  it('backs off 2 s, 4 s, 8 s ... up to 5 min between tries', async () => {
    // Prepare
    const { deps, withdraw } = await preparePushed();
    const failures = 10;
    for (let i = 0; i < failures; i++) {
      deps.jpush.withdrawAnswers.push(new JPushServerError('system busy'));
    }
    await withdraw();

    // Act
    const gaps: number[] = [];
    for (let i = 1; i < failures; i++) {
      const entry = entriesOf(deps)[0];
      const gap = Date.parse(entry?.nextAt ?? '') - deps.clock.now().getTime();
      gaps.push(gap / 1000);
      deps.clock.advance(gap);
      await sweepWithdrawals(deps);
    }

    // Assess
    expect(gaps).toEqual([2, 4, 8, 16, 32, 64, 128, 256, 300]);
    expect(entriesOf(deps)[0]?.tries).toBe(10);
  });

  it('backs off as the deps say', async () => {
    // Prepare
    const { deps, messageId, message } = await preparePushed();
    const custom = { ...deps, withdrawRetry: { baseMs: 1_000, maxMs: 3_000 } };
    for (let i = 0; i < 4; i++) {
      deps.jpush.withdrawAnswers.push(new JPushServerError('system busy'));
    }
    await withdrawPush(await message(), '1.1', WHY, custom, RID);

    // Act
    const gaps: number[] = [];
    for (let i = 0; i < 3; i++) {
      const entry = deps.outbox.entries.get(`${messageId}#1.1`);
      const gap = Date.parse(entry?.nextAt ?? '') - deps.clock.now().getTime();
      gaps.push(gap);
      deps.clock.advance(gap);
      await sweepWithdrawals(custom);
    }

    // Assess
    expect(gaps).toEqual([1_000, 2_000, 3_000]);
  });

  it('ends an entry whose push’s time_to_live has passed, without asking JPush', async () => {
    // Prepare
    const { deps, msgId, message, withdraw } = await preparePushed();
    deps.jpush.withdrawAnswers.push(
      new JPushServerError('system busy'),
      new JPushServerError('system busy')
    );
    await withdraw();
    deps.clock.advance(2_000);
    await sweepWithdrawals(deps);
    deps.clock.advance(3600_000);

    // Act
    const counts = await sweepWithdrawals(deps);

    // Assess
    expect(counts).toMatchObject({ expired: 1, withdrawn: 0, retrying: 0 });
    expect(deps.jpush.withdrawn).toEqual([msgId, msgId]);
    expect(deps.outbox.entries.size).toBe(0);
    expect((await message()).timeline.at(-1)).toEqual({
      at: '2026-11-27T09:01:02.000Z',
      event: 'withdraw-ended',
      detail: `attempt 1: ${WHY}; the push's time_to_live has passed after 2 failed withdrawal(s), so JPush no longer delivers it`,
    });
  });

  it('drops entries of a push withdrawn meanwhile or of a message that is gone', async () => {
    // Prepare
    const { deps, messageId, message, withdraw } = await preparePushed();
    deps.jpush.withdrawAnswers.push(new JPushServerError('system busy'));
    await withdraw();
    const stale: Withdrawal = {
      messageId: 'kGone',
      pushKey: '1.1',
      why: WHY,
      tries: 1,
      nextAt: '2026-11-27T08:00:00.000Z',
      until: '2026-11-27T09:00:00.000Z',
    };
    await deps.outbox.put(stale);
    const record = (await message()).pushes['1.1'] as PushRecord;
    await deps.messages.update(messageId, {
      putInMap: [
        {
          map: 'pushes',
          key: '1.1',
          value: { ...record, withdrawnAt: '2026-11-27T08:01:01.000Z' },
        },
      ],
    });
    deps.clock.advance(2_000);

    // Act
    const counts = await sweepWithdrawals(deps);

    // Assess
    expect(counts).toMatchObject({ nothing: 2, withdrawn: 0 });
    expect(deps.jpush.withdrawn).toHaveLength(1);
    expect(deps.outbox.entries.size).toBe(0);
  });

  it('tries at most the given number of entries in one run', async () => {
    // Prepare
    const { deps, withdraw } = await preparePushed();
    deps.jpush.withdrawAnswers.push(new JPushServerError('system busy'));
    await withdraw();
    await deps.outbox.put({
      messageId: 'kGone',
      pushKey: '1.1',
      why: WHY,
      tries: 1,
      nextAt: '2026-11-27T08:00:00.000Z',
      until: '2026-11-27T09:00:00.000Z',
    });
    deps.clock.advance(2_000);

    // Act
    const counts = await sweepWithdrawals(deps, 1);

    // Assess: the oldest due entry first.
    expect(counts).toMatchObject({ nothing: 1, withdrawn: 0 });
    expect(deps.outbox.entries.size).toBe(1);
  });
});
