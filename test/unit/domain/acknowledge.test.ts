import { describe, expect, it } from 'vitest';
import { ackTokenFor } from '../../../functions/domain/ack-token.ts';
import { acknowledge } from '../../../functions/domain/acknowledge.ts';
import { ForbiddenError } from '../../../functions/domain/errors.ts';
import {
  attemptKey,
  type ConfirmPolicy,
  type PushRecord,
} from '../../../functions/domain/message.ts';
import { sendMessage } from '../../../functions/domain/send-message.ts';
import { fakeAckKey, inMemoryDeps } from '../../helpers/fakes.ts';

const TASK_TOKEN = 'task-token-attempt-1';
/** The phone user_42 is logged in on, which the first push targets. */
const RID = '1a0018970a9c2ce5b0';
/** Another phone. */
const OTHER_RID = '1a0018970a9c2ce5ff';

type Deps = ReturnType<typeof inMemoryDeps>;

/** Records a push of one attempt of a delivery, as the Push step does. */
const recordPush = async (
  deps: Deps,
  messageId: string,
  registrationIds: string[],
  at: { delivery: number; attempt: number } = { delivery: 1, attempt: 1 }
) => {
  const record: PushRecord = {
    ...at,
    state: 'pushed',
    cid: `cid-${at.delivery}-${at.attempt}`,
    jpushMsgId: `1810052881446${at.delivery}${at.attempt}`,
    registrationIds,
    platforms: ['android'],
    ttlSeconds: 86_400,
    at: deps.clock.now().toISOString(),
  };
  await deps.messages.update(messageId, {
    set: { attempts: at.attempt },
    putInMap: [
      {
        map: 'pushes',
        key: attemptKey(at.delivery, at.attempt),
        value: record,
      },
    ],
  });
};

/**
 * One message in delivery, pushed to RID, and its real ACK token.
 * @param confirmBy the message's `policy.confirmBy` (none: the default)
 */
const prepare = async (confirmBy?: ConfirmPolicy) => {
  const deps = inMemoryDeps();
  await deps.sessions.put({
    userId: 'user_42',
    registrationId: RID,
    platform: 'android',
    since: '2026-11-27T07:00:00.000Z',
  });
  const { messageId } = await sendMessage(
    {
      to: 'user_42',
      body: 'hi',
      ...(confirmBy === undefined ? {} : { policy: { confirmBy } }),
    },
    deps
  );
  await recordPush(deps, messageId, [RID]);
  const token = ackTokenFor(await fakeAckKey.keys(), messageId, 'user_42');
  deps.clock.advance(30_000);
  return { deps, messageId, token };
};

describe('acknowledge', () => {
  it('marks the message acknowledged with the real token', async () => {
    // Prepare
    const { deps, messageId, token } = await prepare();

    // Act
    const result = await acknowledge(
      { messageId, token, registrationId: RID },
      deps
    );

    // Assess
    expect(result).toBe('acknowledged');
    const message = await deps.messages.get(messageId);
    expect(message).toMatchObject({
      status: 'acknowledged',
      ackedAt: '2026-11-27T08:00:30.000Z',
      confirmedBy: 'ack',
    });
    expect(message?.timeline.at(-1)).toEqual({
      at: '2026-11-27T08:00:30.000Z',
      event: 'acknowledged',
      detail: 'the app confirmed receipt',
      confirmedBy: 'ack',
    });
  });

  it.each(['report', 'ackOrReport'] as const)(
    'accepts the ACK under confirmBy %s, the stronger evidence: confirmed by the ACK',
    async (confirmBy) => {
      // Prepare
      const { deps, messageId, token } = await prepare(confirmBy);

      // Act
      const result = await acknowledge(
        { messageId, token, registrationId: RID },
        deps
      );

      // Assess
      expect(result).toBe('acknowledged');
      const message = await deps.messages.get(messageId);
      expect(message).toMatchObject({
        status: 'acknowledged',
        confirmedBy: 'ack',
      });
    }
  );

  it('changes nothing when the ACK comes after the report confirmed the message', async () => {
    // Prepare: the Check Report step confirmed it by the report.
    const { deps, messageId, token } = await prepare('report');
    await deps.messages.update(messageId, {
      set: {
        status: 'acknowledged',
        ackedAt: '2026-11-27T08:00:10.000Z',
        confirmedBy: 'report',
      },
    });
    const before = await deps.messages.get(messageId);

    // Act
    const result = await acknowledge(
      { messageId, token, registrationId: RID },
      deps
    );

    // Assess
    expect(result).toBe('repeated');
    const message = await deps.messages.get(messageId);
    expect(message?.confirmedBy).toBe('report');
    expect(message?.timeline).toEqual(before?.timeline);
  });

  it('records a late ACK without a confirmation', async () => {
    // Prepare
    const { deps, messageId, token } = await prepare();
    await deps.messages.update(messageId, { set: { status: 'escalated' } });

    // Act
    const result = await acknowledge(
      { messageId, token, registrationId: RID },
      deps
    );

    // Assess
    expect(result).toBe('late');
    const message = await deps.messages.get(messageId);
    expect(message?.status).toBe('escalated');
    expect(message?.confirmedBy).toBeUndefined();
  });

  it('acknowledges a message JPush already reported received', async () => {
    // Prepare
    const { deps, messageId, token } = await prepare();
    await deps.messages.update(messageId, { set: { status: 'received' } });

    // Act
    const result = await acknowledge(
      { messageId, token, registrationId: RID },
      deps
    );

    // Assess
    expect(result).toBe('acknowledged');
    expect((await deps.messages.get(messageId))?.status).toBe('acknowledged');
  });

  it('answers a repeated ACK with repeated and changes nothing', async () => {
    // Prepare
    const { deps, messageId, token } = await prepare();
    await acknowledge({ messageId, token, registrationId: RID }, deps);
    const before = await deps.messages.get(messageId);
    deps.clock.advance(5_000);

    // Act
    const result = await acknowledge(
      { messageId, token, registrationId: RID },
      deps
    );

    // Assess
    expect(result).toBe('repeated');
    expect(await deps.messages.get(messageId)).toEqual(before);
  });

  it('refuses a wrong token and changes nothing', async () => {
    // Prepare
    const { deps, messageId, token } = await prepare();
    const before = await deps.messages.get(messageId);
    const otherToken = ackTokenFor(
      await fakeAckKey.keys(),
      messageId,
      'user_99'
    );

    // Act
    const wrong = acknowledge(
      { messageId, token: 'not-the-token', registrationId: RID },
      deps
    );
    const foreign = acknowledge(
      { messageId, token: otherToken, registrationId: RID },
      deps
    );

    // Assess
    await expect(wrong).rejects.toBeInstanceOf(ForbiddenError);
    await expect(foreign).rejects.toBeInstanceOf(ForbiddenError);
    expect(await deps.messages.get(messageId)).toEqual(before);
    expect(token).not.toBe(otherToken);
  });

  it('refuses an unknown message with the same error as a wrong token', async () => {
    // Prepare
    const { deps, messageId, token } = await prepare();

    // Act
    const unknown = acknowledge(
      { messageId: 'kUnknown', token, registrationId: RID },
      deps
    );
    const wrong = acknowledge(
      { messageId, token: 'x', registrationId: RID },
      deps
    );

    // Assess
    const [unknownError, wrongError] = await Promise.allSettled([
      unknown,
      wrong,
    ]);
    expect(unknownError).toMatchObject({
      status: 'rejected',
      reason: expect.any(ForbiddenError),
    });
    expect(wrongError).toMatchObject({
      status: 'rejected',
      reason: expect.any(ForbiddenError),
    });
    expect(
      unknownError.status === 'rejected' && unknownError.reason.message
    ).toBe(wrongError.status === 'rejected' && wrongError.reason.message);
    expect(deps.messages.items.has('kUnknown')).toBe(false);
  });

  it('refuses the token of another message', async () => {
    // Prepare
    const { deps, messageId } = await prepare();
    const second = await sendMessage({ to: 'user_42', body: 'two' }, deps);
    const secondToken = ackTokenFor(
      await fakeAckKey.keys(),
      second.messageId,
      'user_42'
    );

    // Act
    const attempt = acknowledge(
      { messageId, token: secondToken, registrationId: RID },
      deps
    );

    // Assess
    await expect(attempt).rejects.toBeInstanceOf(ForbiddenError);
    expect((await deps.messages.get(messageId))?.ackedAt).toBeUndefined();
  });

  it('records a late ACK after escalation and keeps the status escalated', async () => {
    // Prepare
    const { deps, messageId, token } = await prepare();
    await deps.messages.update(messageId, {
      set: { status: 'escalated', escalatedAt: '2026-11-27T08:00:20.000Z' },
    });

    // Act
    const result = await acknowledge(
      { messageId, token, registrationId: RID },
      deps
    );
    const repeat = await acknowledge(
      { messageId, token, registrationId: RID },
      deps
    );

    // Assess
    expect(result).toBe('late');
    expect(repeat).toBe('repeated');
    const message = await deps.messages.get(messageId);
    expect(message).toMatchObject({
      status: 'escalated',
      ackedAt: '2026-11-27T08:00:30.000Z',
    });
    expect(message?.timeline.filter((e) => e.event === 'late-ack')).toEqual([
      {
        at: '2026-11-27T08:00:30.000Z',
        event: 'late-ack',
        detail: 'the app confirmed receipt after the message was escalated',
      },
    ]);
  });

  it('refuses the phone of a delivery before, once the message is stored again', async () => {
    // Prepare: user_42 left RID (an account switch); the message went back
    // to the offline store for its next delivery.
    const { deps, messageId, token } = await prepare();
    await deps.messages.update(messageId, {
      set: { status: 'stored', delivery: 2 },
    });
    const before = await deps.messages.get(messageId);

    // Act
    const result = acknowledge({ messageId, token, registrationId: RID }, deps);

    // Assess
    await expect(result).rejects.toBeInstanceOf(ForbiddenError);
    expect(await deps.messages.get(messageId)).toEqual(before);
  });

  it('refuses the old phone in the new delivery and accepts the new one', async () => {
    // Prepare: delivery 2 pushes to the phone user_42 logged in on next.
    const { deps, messageId, token } = await prepare();
    await deps.messages.update(messageId, {
      set: { status: 'sending', delivery: 2, attempts: 0 },
    });
    await recordPush(deps, messageId, [OTHER_RID], { delivery: 2, attempt: 1 });

    // Act
    const old = acknowledge({ messageId, token, registrationId: RID }, deps);
    await expect(old).rejects.toBeInstanceOf(ForbiddenError);
    const acked = await deps.messages.get(messageId);
    const result = await acknowledge(
      { messageId, token, registrationId: OTHER_RID },
      deps
    );

    // Assess
    expect(acked?.ackedAt).toBeUndefined();
    expect(result).toBe('acknowledged');
  });

  it('accepts a device of any attempt of the current delivery', async () => {
    // Prepare: attempt 2 pushed only to a second phone; RID had attempt 1.
    const { deps, messageId, token } = await prepare();
    await recordPush(deps, messageId, [OTHER_RID], { delivery: 1, attempt: 2 });

    // Act
    const first = await acknowledge(
      { messageId, token, registrationId: RID },
      deps
    );
    const second = await acknowledge(
      { messageId, token, registrationId: OTHER_RID },
      deps
    );

    // Assess
    expect([first, second]).toEqual(['acknowledged', 'repeated']);
  });

  it('refuses a device this delivery never pushed to, with the right token', async () => {
    // Prepare
    const { deps, messageId, token } = await prepare();
    const before = await deps.messages.get(messageId);

    // Act
    const result = acknowledge(
      { messageId, token, registrationId: OTHER_RID },
      deps
    );

    // Assess
    await expect(result).rejects.toBeInstanceOf(ForbiddenError);
    expect(await deps.messages.get(messageId)).toEqual(before);
  });

  it('refuses a wrong device with the same error as a wrong token', async () => {
    // Prepare
    const { deps, messageId, token } = await prepare();

    // Act
    const [device, wrongToken, both, unknown] = await Promise.allSettled([
      acknowledge({ messageId, token, registrationId: OTHER_RID }, deps),
      acknowledge({ messageId, token: 'x', registrationId: RID }, deps),
      acknowledge({ messageId, token: 'x', registrationId: OTHER_RID }, deps),
      acknowledge({ messageId: 'kUnknown', token, registrationId: RID }, deps),
    ]);

    // Assess
    const reasons = [device, wrongToken, both, unknown].map((r) =>
      r.status === 'rejected' ? r.reason : r.value
    );
    for (const reason of reasons) {
      expect(reason).toBeInstanceOf(ForbiddenError);
    }
    expect(new Set(reasons.map((r) => (r as Error).message)).size).toBe(1);
  });

  it('refuses a token without a device by default', async () => {
    // Prepare
    const { deps, messageId, token } = await prepare();

    // Act
    const result = acknowledge({ messageId, token }, deps);

    // Assess
    await expect(result).rejects.toBeInstanceOf(ForbiddenError);
    expect((await deps.messages.get(messageId))?.ackedAt).toBeUndefined();
  });

  describe('with ackRequiresDevice off (apps in the field)', () => {
    it('accepts the token alone, also on a message stored again', async () => {
      // Prepare
      const { deps, messageId, token } = await prepare();
      await deps.messages.update(messageId, {
        set: { status: 'stored', delivery: 2 },
      });
      const lenient = { ...deps, ackRequiresDevice: false };

      // Act
      const result = await acknowledge({ messageId, token }, lenient);

      // Assess
      expect(result).toBe('acknowledged');
      expect((await deps.messages.get(messageId))?.status).toBe('acknowledged');
    });

    it('still checks a device that is given', async () => {
      // Prepare
      const { deps, messageId, token } = await prepare();
      const lenient = { ...deps, ackRequiresDevice: false };

      // Act
      const wrong = acknowledge(
        { messageId, token, registrationId: OTHER_RID },
        lenient
      );
      await expect(wrong).rejects.toBeInstanceOf(ForbiddenError);
      const right = await acknowledge(
        { messageId, token, registrationId: RID },
        lenient
      );

      // Assess
      expect(right).toBe('acknowledged');
    });

    it('still refuses a wrong token', async () => {
      // Prepare
      const { deps, messageId } = await prepare();
      const lenient = { ...deps, ackRequiresDevice: false };

      // Act
      const result = acknowledge({ messageId, token: 'x' }, lenient);

      // Assess
      await expect(result).rejects.toBeInstanceOf(ForbiddenError);
    });
  });

  it('ends the waiting Push step with the task token kept with the attempt', async () => {
    // Prepare: the Push step of attempt 1 waits with this token.
    const { deps, messageId, token } = await prepare();
    await deps.messages.update(messageId, { set: { taskToken: TASK_TOKEN } });

    // Act
    const result = await acknowledge(
      { messageId, token, registrationId: RID },
      deps
    );

    // Assess
    expect(result).toBe('acknowledged');
    expect(deps.callbacks.succeeded).toEqual([
      { taskToken: TASK_TOKEN, output: { outcome: 'acknowledged' } },
    ]);
  });

  it('ends the wait again on a repeated ACK, which finishes the job of a failed callback', async () => {
    // Prepare: Step Functions throttles the first callback.
    const { deps, messageId, token } = await prepare();
    await deps.messages.update(messageId, { set: { taskToken: TASK_TOKEN } });
    const succeed = deps.callbacks.succeed.bind(deps.callbacks);
    let throttled = 1;
    deps.callbacks.succeed = async (taskToken, output) => {
      if (throttled-- > 0) {
        throw Object.assign(new Error('Rate exceeded'), {
          name: 'ThrottlingException',
        });
      }
      return succeed(taskToken, output);
    };

    // Act
    const first = acknowledge({ messageId, token, registrationId: RID }, deps);
    await expect(first).rejects.toMatchObject({ name: 'ThrottlingException' });
    const retried = await acknowledge(
      { messageId, token, registrationId: RID },
      deps
    );

    // Assess
    expect(retried).toBe('repeated');
    expect((await deps.messages.get(messageId))?.status).toBe('acknowledged');
    expect(deps.callbacks.succeeded).toEqual([
      { taskToken: TASK_TOKEN, output: { outcome: 'acknowledged' } },
    ]);
  });

  it('answers repeated when the step already ended, as Step Functions says', async () => {
    // Prepare
    const { deps, messageId, token } = await prepare();
    await deps.messages.update(messageId, { set: { taskToken: TASK_TOKEN } });
    await acknowledge({ messageId, token, registrationId: RID }, deps);

    // Act
    const repeat = await acknowledge(
      { messageId, token, registrationId: RID },
      deps
    );

    // Assess
    expect(repeat).toBe('repeated');
    expect(deps.callbacks.succeeded).toHaveLength(1);
    expect(await deps.callbacks.succeed(TASK_TOKEN, {})).toBe('expired');
  });

  it('calls back nobody when no step waits yet', async () => {
    // Prepare
    const { deps, messageId, token } = await prepare();

    // Act
    const result = await acknowledge(
      { messageId, token, registrationId: RID },
      deps
    );

    // Assess
    expect(result).toBe('acknowledged');
    expect(deps.callbacks.succeeded).toEqual([]);
  });

  it('leaves the cycle alone on a late ACK or a refused token', async () => {
    // Prepare
    const { deps, messageId, token } = await prepare();
    await deps.messages.update(messageId, {
      set: {
        status: 'escalated',
        escalatedAt: '2026-11-27T08:00:20.000Z',
        taskToken: TASK_TOKEN,
      },
    });

    // Act
    const wrong = acknowledge(
      { messageId, token: 'not-the-token', registrationId: RID },
      deps
    );
    await expect(wrong).rejects.toBeInstanceOf(ForbiddenError);
    const late = await acknowledge(
      { messageId, token, registrationId: RID },
      deps
    );
    const repeat = await acknowledge(
      { messageId, token, registrationId: RID },
      deps
    );

    // Assess
    expect([late, repeat]).toEqual(['late', 'repeated']);
    expect(deps.callbacks.succeeded).toEqual([]);
  });
});
