import { describe, expect, it } from 'vitest';
import { ackTokenFor } from '../../../functions/domain/ack-token.ts';
import { acknowledge } from '../../../functions/domain/acknowledge.ts';
import { ForbiddenError } from '../../../functions/domain/errors.ts';
import { sendMessage } from '../../../functions/domain/send-message.ts';
import { fakeAckKey, inMemoryDeps } from '../../helpers/fakes.ts';

const TASK_TOKEN = 'task-token-attempt-1';

/** One message in delivery, and its real ACK token. */
const prepare = async () => {
  const deps = inMemoryDeps();
  await deps.sessions.put({
    userId: 'user_42',
    registrationId: '1a0018970a9c2ce5b0',
    platform: 'android',
    since: '2026-11-27T07:00:00.000Z',
  });
  const { messageId } = await sendMessage({ to: 'user_42', body: 'hi' }, deps);
  const token = ackTokenFor(await fakeAckKey.keys(), messageId, 'user_42');
  deps.clock.advance(30_000);
  return { deps, messageId, token };
};

describe('acknowledge', () => {
  it('marks the message acknowledged with the real token', async () => {
    // Prepare
    const { deps, messageId, token } = await prepare();

    // Act
    const result = await acknowledge({ messageId, token }, deps);

    // Assess
    expect(result).toBe('acknowledged');
    const message = await deps.messages.get(messageId);
    expect(message).toMatchObject({
      status: 'acknowledged',
      ackedAt: '2026-11-27T08:00:30.000Z',
    });
    expect(message?.timeline.at(-1)).toEqual({
      at: '2026-11-27T08:00:30.000Z',
      event: 'acknowledged',
      detail: 'the app confirmed receipt',
    });
  });

  it('acknowledges a message JPush already reported received', async () => {
    // Prepare
    const { deps, messageId, token } = await prepare();
    await deps.messages.update(messageId, { set: { status: 'received' } });

    // Act
    const result = await acknowledge({ messageId, token }, deps);

    // Assess
    expect(result).toBe('acknowledged');
    expect((await deps.messages.get(messageId))?.status).toBe('acknowledged');
  });

  it('answers a repeated ACK with repeated and changes nothing', async () => {
    // Prepare
    const { deps, messageId, token } = await prepare();
    await acknowledge({ messageId, token }, deps);
    const before = await deps.messages.get(messageId);
    deps.clock.advance(5_000);

    // Act
    const result = await acknowledge({ messageId, token }, deps);

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
    const wrong = acknowledge({ messageId, token: 'not-the-token' }, deps);
    const foreign = acknowledge({ messageId, token: otherToken }, deps);

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
    const unknown = acknowledge({ messageId: 'kUnknown', token }, deps);
    const wrong = acknowledge({ messageId, token: 'x' }, deps);

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
    const attempt = acknowledge({ messageId, token: secondToken }, deps);

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
    const result = await acknowledge({ messageId, token }, deps);
    const repeat = await acknowledge({ messageId, token }, deps);

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

  it('acknowledges a stored message whose push reached the app before logout', async () => {
    // Prepare
    const { deps, messageId, token } = await prepare();
    await deps.messages.update(messageId, {
      set: { status: 'stored', delivery: 2 },
    });

    // Act
    const result = await acknowledge({ messageId, token }, deps);

    // Assess
    expect(result).toBe('acknowledged');
    expect((await deps.messages.get(messageId))?.status).toBe('acknowledged');
  });

  it('ends the waiting Push step with the task token kept with the attempt', async () => {
    // Prepare: the Push step of attempt 1 waits with this token.
    const { deps, messageId, token } = await prepare();
    await deps.messages.update(messageId, { set: { taskToken: TASK_TOKEN } });

    // Act
    const result = await acknowledge({ messageId, token }, deps);

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
    const first = acknowledge({ messageId, token }, deps);
    await expect(first).rejects.toMatchObject({ name: 'ThrottlingException' });
    const retried = await acknowledge({ messageId, token }, deps);

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
    await acknowledge({ messageId, token }, deps);

    // Act
    const repeat = await acknowledge({ messageId, token }, deps);

    // Assess
    expect(repeat).toBe('repeated');
    expect(deps.callbacks.succeeded).toHaveLength(1);
    expect(await deps.callbacks.succeed(TASK_TOKEN, {})).toBe('expired');
  });

  it('calls back nobody when no step waits yet', async () => {
    // Prepare
    const { deps, messageId, token } = await prepare();

    // Act
    const result = await acknowledge({ messageId, token }, deps);

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
    const wrong = acknowledge({ messageId, token: 'not-the-token' }, deps);
    await expect(wrong).rejects.toBeInstanceOf(ForbiddenError);
    const late = await acknowledge({ messageId, token }, deps);
    const repeat = await acknowledge({ messageId, token }, deps);

    // Assess
    expect([late, repeat]).toEqual(['late', 'repeated']);
    expect(deps.callbacks.succeeded).toEqual([]);
  });
});
