import { describe, expect, it } from 'vitest';
import { ackTokenFor } from '../../../functions/domain/ack-token.ts';
import { acknowledge } from '../../../functions/domain/acknowledge.ts';
import { cancelMessage } from '../../../functions/domain/cancel-message.ts';
import { checkReport } from '../../../functions/domain/check-report.ts';
import {
  MessageEndedError,
  NotFoundError,
} from '../../../functions/domain/errors.ts';
import { JPushServerError } from '../../../functions/domain/jpush.ts';
import { runPushAttempt } from '../../../functions/domain/push-attempt.ts';
import { sendMessage } from '../../../functions/domain/send-message.ts';
import { fakeAckKey, inMemoryDeps } from '../../helpers/fakes.ts';
import { RecordingJPush } from '../../helpers/recording-jpush.ts';

const RID = '1a0018970a9c2ce5b0';

/** A user logged in on a phone, with one message pushed and waiting. */
const prepare = async () => {
  const jpush = new RecordingJPush();
  const deps = { ...inMemoryDeps(), jpush };
  await deps.sessions.put({
    userId: 'user_42',
    registrationId: RID,
    platform: 'android',
    since: '2026-11-27T07:00:00.000Z',
  });
  const { messageId } = await sendMessage(
    { to: 'user_42', body: 'Order 1009 shipped' },
    deps
  );
  await runPushAttempt(
    { messageId, delivery: 1, attempt: 1, taskToken: 'token-1' },
    deps
  );
  return { deps, jpush, messageId };
};

describe('cancelMessage', () => {
  it('ends the waiting delivery, withdraws the push and marks the message cancelled', async () => {
    // Prepare
    const { deps, jpush, messageId } = await prepare();
    const msgId = (await deps.messages.get(messageId))?.pushes['1.1']
      ?.jpushMsgId;

    // Act
    const result = await cancelMessage(messageId, deps);

    // Assess
    expect(result).toEqual({
      messageId,
      status: 'cancelled',
      repeated: false,
      deliveryStopped: true,
      pushesWithdrawn: 1,
      withdrawalsPending: 0,
    });
    expect(deps.callbacks.succeeded).toEqual([
      { taskToken: 'token-1', output: { outcome: 'done' } },
    ]);
    expect(jpush.withdrawn).toEqual([msgId]);
    const message = await deps.messages.get(messageId);
    expect(message?.status).toBe('cancelled');
    expect(message?.pushes['1.1']?.withdrawnAt).toEqual(expect.any(String));
    expect(message?.timeline.map((e) => e.event)).toEqual(
      expect.arrayContaining(['cancelled', 'withdrawn'])
    );
  });

  it('answers the same again and changes nothing', async () => {
    // Prepare
    const { deps, jpush, messageId } = await prepare();
    await cancelMessage(messageId, deps);
    const before = await deps.messages.get(messageId);

    // Act
    const again = await cancelMessage(messageId, deps);

    // Assess
    expect(again).toMatchObject({
      messageId,
      status: 'cancelled',
      repeated: true,
      pushesWithdrawn: 0,
    });
    expect(await deps.messages.get(messageId)).toEqual(before);
    expect(jpush.withdrawn).toHaveLength(1);
  });

  it('refuses an acknowledged message with its status, and an unknown one', async () => {
    // Prepare
    const { deps, messageId } = await prepare();
    await acknowledge(
      {
        messageId,
        token: ackTokenFor(await fakeAckKey.keys(), messageId, 'user_42'),
        registrationId: RID,
      },
      deps
    );

    // Act
    const ended = await cancelMessage(messageId, deps).catch((e) => e);
    const unknown = await cancelMessage('m-none', deps).catch((e) => e);

    // Assess
    expect(ended).toBeInstanceOf(MessageEndedError);
    expect(ended).toMatchObject({ status: 'acknowledged', messageId });
    expect(ended.message).toContain('is already acknowledged');
    expect(unknown).toBeInstanceOf(NotFoundError);
    expect((await deps.messages.get(messageId))?.status).toBe('acknowledged');
  });

  it('takes a stored message out of the offline store, and a login no longer delivers it', async () => {
    // Prepare
    const deps = { ...inMemoryDeps(), jpush: new RecordingJPush() };
    const { messageId, status } = await sendMessage(
      { to: 'user_7', body: 'While you were away' },
      deps
    );

    // Act
    const result = await cancelMessage(messageId, deps);

    // Assess
    expect(status).toBe('stored');
    expect(result).toMatchObject({ status: 'cancelled', pushesWithdrawn: 0 });
    expect(await deps.offline.list('user_7')).toEqual([]);
    expect((await deps.messages.get(messageId))?.status).toBe('cancelled');
  });

  it('leaves a withdrawal JPush failed to the outbox, and the cycle ends at its next check', async () => {
    // Prepare
    const { deps, jpush, messageId } = await prepare();
    jpush.withdrawAnswers.push(
      new JPushServerError('busy', { httpStatus: 503 })
    );
    deps.callbacks.ended.add('token-1');

    // Act
    const result = await cancelMessage(messageId, deps);
    const check = await checkReport(
      { messageId, delivery: 1, attempt: 1, maxAttempts: 3 },
      deps
    );

    // Assess
    expect(result).toMatchObject({
      deliveryStopped: false,
      pushesWithdrawn: 0,
      withdrawalsPending: 1,
    });
    expect(deps.outbox.entries.size).toBe(1);
    expect(check.action).toBe('done');
  });

  it('records a late ACK on a cancelled message and leaves it cancelled', async () => {
    // Prepare
    const { deps, messageId } = await prepare();
    await cancelMessage(messageId, deps);

    // Act
    const ack = await acknowledge(
      {
        messageId,
        token: ackTokenFor(await fakeAckKey.keys(), messageId, 'user_42'),
        registrationId: RID,
      },
      deps
    );

    // Assess
    expect(ack).toBe('late');
    expect((await deps.messages.get(messageId))?.status).toBe('cancelled');
  });
});
