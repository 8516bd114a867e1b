import { describe, expect, it } from 'vitest';
import { eraseUser } from '../../../functions/domain/erase-user.ts';
import { JPushServerError } from '../../../functions/domain/jpush.ts';
import { runPushAttempt } from '../../../functions/domain/push-attempt.ts';
import { sendMessage } from '../../../functions/domain/send-message.ts';
import { inMemoryDeps } from '../../helpers/fakes.ts';
import { RecordingJPush } from '../../helpers/recording-jpush.ts';

const RID = '1a0018970a9c2ce5b0';

/** A user logged in on a phone, with one message pushed and waiting. */
const prepare = async () => {
  const jpush = new RecordingJPush();
  const deps = { ...inMemoryDeps(), jpush };
  const since = '2026-11-27T07:00:00.000Z';
  await deps.sessions.put({
    userId: 'user_42',
    registrationId: RID,
    platform: 'android',
    since,
  });
  await deps.devices.put({
    registrationId: RID,
    userId: 'user_42',
    platform: 'android',
    since,
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

describe('eraseUser', () => {
  it('erases the messages, history, sessions and devices of the user, ends the waiting delivery and withdraws its push', async () => {
    // Prepare
    const { deps, messageId } = await prepare();
    const chat = await sendMessage(
      { to: 'user_7', from: 'user_42', body: 'hi' },
      deps
    );

    // Act
    const result = await eraseUser({ userId: 'user_42' }, deps);

    // Assess
    expect(result).toEqual({
      userId: 'user_42',
      messages: 2,
      history: 3,
      sessions: 1,
      offline: 0,
      deliveriesStopped: 1,
      pushesWithdrawn: 1,
      alias: 'cleared',
    });
    expect(deps.messages.items.size).toBe(0);
    expect(deps.history.entries).toEqual([]);
    expect(await deps.sessions.listByUser('user_42')).toEqual([]);
    expect(await deps.devices.get(RID)).toBeUndefined();
    expect(await deps.offline.list('user_7')).toEqual([]);
    expect(deps.callbacks.succeeded).toEqual([
      { taskToken: 'token-1', output: { outcome: 'done' } },
    ]);
    expect(chat.status).toBe('stored');
    expect(messageId).toEqual(expect.any(String));
  });

  it('finds nothing the second time, and leaves other users alone', async () => {
    // Prepare
    const { deps } = await prepare();
    const theirs = await sendMessage({ to: 'user_7', body: 'theirs' }, deps);
    await eraseUser({ userId: 'user_42' }, deps);

    // Act
    const again = await eraseUser({ userId: 'user_42' }, deps);

    // Assess
    expect(again).toMatchObject({
      messages: 0,
      history: 0,
      sessions: 0,
      offline: 0,
      deliveriesStopped: 0,
      pushesWithdrawn: 0,
    });
    expect((await deps.messages.get(theirs.messageId))?.to).toBe('user_7');
    expect(await deps.offline.list('user_7')).toHaveLength(1);
  });

  it('erases the data even when JPush does not answer, and says the alias was not cleared', async () => {
    // Prepare
    const { deps, jpush } = await prepare();
    jpush.deleteAlias = async () => {
      throw new JPushServerError('system busy', { httpStatus: 503 });
    };

    // Act
    const result = await eraseUser({ userId: 'user_42' }, deps);

    // Assess
    expect(result).toMatchObject({
      messages: 1,
      alias: 'failed',
      aliasError: { message: 'system busy' },
    });
    expect(deps.messages.items.size).toBe(0);
  });
});
