import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  type JPushPort,
  JPushRejectedError,
  JPushServerError,
} from '../../../functions/domain/jpush.ts';
import { runPushAttempt } from '../../../functions/domain/push-attempt.ts';
import { sendMessage } from '../../../functions/domain/send-message.ts';
import { createHandler as createHistoryHandler } from '../../../functions/handlers/list-history.ts';
import { createHandler as createLoginHandler } from '../../../functions/handlers/login.ts';
import { createHandler as createLogoutHandler } from '../../../functions/handlers/logout.ts';
import { apiEvent } from '../../helpers/api-events.ts';
import { inMemoryDeps } from '../../helpers/fakes.ts';
import { RecordingJPush } from '../../helpers/recording-jpush.ts';

const RID = '1a0018970a9c2ce5b0';

/** A recording JPush whose Device API calls are recorded and can fail. */
const aliasJPush = () => {
  const aliases: Array<{ registrationId: string; alias?: string }> = [];
  const fake = {
    aliases,
    updateDeviceError: undefined as Error | undefined,
  };
  const jpush: JPushPort = Object.assign(new RecordingJPush(), {
    updateDevice: async (
      registrationId: string,
      update: { alias?: string }
    ): Promise<void> => {
      aliases.push({ registrationId, alias: update.alias });
      if (fake.updateDeviceError) throw fake.updateDeviceError;
    },
  });
  return { jpush, fake };
};

const prepare = () => {
  const { jpush, fake } = aliasJPush();
  const deps = { ...inMemoryDeps(), jpush };
  return {
    deps,
    jpush: fake,
    login: createLoginHandler(deps),
    logout: createLogoutHandler(deps),
    history: createHistoryHandler(deps),
  };
};

const loginEvent = (body: unknown) =>
  apiEvent('POST /v1/sessions', '/v1/sessions', { body });

const logoutEvent = (userId: string, registrationId: string) =>
  apiEvent(
    'DELETE /v1/sessions/{userId}/{registrationId}',
    `/v1/sessions/${encodeURIComponent(userId)}/${encodeURIComponent(registrationId)}`,
    { pathParameters: { userId, registrationId } }
  );

const historyEvent = (userId: string, query?: Record<string, string>) =>
  apiEvent(
    'GET /v1/users/{userId}/messages',
    `/v1/users/${encodeURIComponent(userId)}/messages`,
    {
      pathParameters: { userId },
      ...(query ? { queryStringParameters: query } : {}),
    }
  );

const json = (response: { body?: string }) =>
  JSON.parse(response.body ?? '') as Record<string, unknown>;

beforeEach(() => {
  // Keep the handlers' log lines out of the test output.
  vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
  vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
});

afterEach(() => {
  vi.restoreAllMocks();
});

describe('POST /v1/sessions', () => {
  it('answers 200 with the number of drained messages and the alias binding', async () => {
    // Prepare
    const { deps, login } = prepare();
    await sendMessage({ to: 'user_42', body: 'waiting' }, deps);
    await sendMessage({ to: 'user_42', body: 'also waiting' }, deps);

    // Act
    const response = await login(
      loginEvent({ userId: 'user_42', registrationId: RID, platform: 'ios' })
    );

    // Assess
    expect(response.statusCode).toBe(200);
    expect(json(response)).toEqual({ drained: 2, alias: 'bound' });
    expect(deps.deliveries.started).toHaveLength(2);
  });

  it('still logs in when JPush refuses the alias, and says why', async () => {
    // Prepare
    const { deps, jpush, login } = prepare();
    jpush.updateDeviceError = new JPushRejectedError(
      'alias already bound to 10 devices',
      { httpStatus: 400, code: 7015 }
    );

    // Act
    const response = await login(
      loginEvent({
        userId: 'user_42',
        registrationId: RID,
        platform: 'android',
      })
    );

    // Assess
    expect(response.statusCode).toBe(200);
    expect(json(response)).toEqual({
      drained: 0,
      alias: 'failed',
      aliasError: { code: 7015, message: 'alias already bound to 10 devices' },
    });
    expect(await deps.sessions.listByUser('user_42')).toHaveLength(1);
  });

  it.each([
    [
      'a missing platform',
      { userId: 'user_42', registrationId: RID },
      'platform',
    ],
    [
      'an unknown platform',
      { userId: 'user_42', registrationId: RID, platform: 'web' },
      "must be 'android' or 'ios'",
    ],
    [
      'an unknown field',
      { userId: 'user_42', registrationId: RID, platform: 'ios', admin: true },
      'unknown field(s) "admin"',
    ],
    [
      'a user id that cannot be an alias',
      { userId: 'user 42', registrationId: RID, platform: 'ios' },
      'userId',
    ],
    [
      'a malformed registration id',
      { userId: 'user_42', registrationId: 'rid-1', platform: 'ios' },
      'registrationId',
    ],
  ])('answers 400 and changes nothing for %s', async (_case, body, says) => {
    // Prepare
    const { deps, jpush, login } = prepare();

    // Act
    const response = await login(loginEvent(body));

    // Assess
    expect(response.statusCode).toBe(400);
    const error = json(response).error as { code: string; message: string };
    expect(error.code).toBe('ValidationError');
    expect(error.message).toContain(says);
    expect(deps.sessions.items.size).toBe(0);
    expect(jpush.aliases).toEqual([]);
  });

  it('answers 400 for a body that is not JSON', async () => {
    // Prepare
    const { login } = prepare();

    // Act
    const response = await login(loginEvent('{"userId":'));

    // Assess
    expect(response.statusCode).toBe(400);
    expect(json(response)).toEqual({
      error: {
        code: 'ValidationError',
        message: 'The request body is not valid JSON.',
      },
    });
  });
});

describe('DELETE /v1/sessions/{userId}/{registrationId}', () => {
  it('answers 204, clears the alias and ends the session', async () => {
    // Prepare
    const { deps, jpush, login, logout } = prepare();
    await login(
      loginEvent({ userId: 'user_42', registrationId: RID, platform: 'ios' })
    );

    // Act
    const response = await logout(logoutEvent('user_42', RID));

    // Assess
    expect(response.statusCode).toBe(204);
    expect(response.body).toBe('');
    expect(jpush.aliases.at(-1)).toEqual({ registrationId: RID, alias: '' });
    expect(await deps.sessions.listByUser('user_42')).toEqual([]);
  });

  it('answers 204 when JPush fails to withdraw, and keeps the withdrawal for the sweeper', async () => {
    // Prepare
    const { deps, login, logout } = prepare();
    await login(
      loginEvent({ userId: 'user_42', registrationId: RID, platform: 'ios' })
    );
    const { messageId } = await sendMessage(
      { to: 'user_42', body: 'hi' },
      deps
    );
    await runPushAttempt(
      { messageId, delivery: 1, attempt: 1, taskToken: 'task-token-1' },
      deps
    );
    const recording = deps.jpush as RecordingJPush;
    recording.withdrawAnswers.push(new JPushServerError('system busy'));

    // Act
    const response = await logout(logoutEvent('user_42', RID));

    // Assess
    expect(response.statusCode).toBe(204);
    expect(recording.withdrawn).toHaveLength(1);
    expect([...deps.outbox.entries.values()]).toEqual([
      expect.objectContaining({ messageId, pushKey: '1.1', tries: 1 }),
    ]);
    expect((await deps.messages.get(messageId))?.status).toBe('stored');
  });

  it('answers 204 when there is no such session', async () => {
    // Prepare
    const { jpush, logout } = prepare();

    // Act
    const first = await logout(logoutEvent('user_42', RID));
    const second = await logout(logoutEvent('user_42', RID));

    // Assess
    expect([first.statusCode, second.statusCode]).toEqual([204, 204]);
    expect(jpush.aliases).toEqual([]);
  });

  it.each([
    ['a user id over 40 bytes', 'u'.repeat(41), RID, 'userId'],
    ['a user id with a space', 'user 42', RID, 'userId'],
    [
      'a registration id with a dash',
      'user_42',
      '1a00-18970a9c',
      'registrationId',
    ],
  ])('answers 400 for %s', async (_case, userId, registrationId, says) => {
    // Prepare
    const { logout } = prepare();

    // Act
    const response = await logout(logoutEvent(userId, registrationId));

    // Assess
    expect(response.statusCode).toBe(400);
    const error = json(response).error as { code: string; message: string };
    expect(error.code).toBe('ValidationError');
    expect(error.message).toContain(says);
  });
});

describe('GET /v1/users/{userId}/messages', () => {
  const sendMany = async (
    deps: ReturnType<typeof prepare>['deps'],
    count: number
  ) => {
    const ids: string[] = [];
    for (let i = 0; i < count; i++) {
      ids.push(
        (await sendMessage({ to: 'user_42', body: `n${i}` }, deps)).messageId
      );
      deps.clock.advance(1000);
    }
    return ids;
  };

  it('pages through the history newest first, 50 at a time by default', async () => {
    // Prepare
    const { deps, history } = prepare();
    const ids = await sendMany(deps, 55);

    // Act
    const first = json(await history(historyEvent('user_42')));
    const second = json(
      await history(
        historyEvent('user_42', { cursor: String(first.nextCursor) })
      )
    );

    // Assess
    const items = [
      ...(first.items as { messageId: string }[]),
      ...(second.items as { messageId: string }[]),
    ];
    expect((first.items as unknown[]).length).toBe(50);
    expect(second.nextCursor).toBeUndefined();
    expect(items.map((i) => i.messageId)).toEqual([...ids].reverse());
    expect(items[0]).toMatchObject({
      direction: 'in',
      to: 'user_42',
      body: 'n54',
      status: 'stored',
    });
  });

  it('honours a limit', async () => {
    // Prepare
    const { deps, history } = prepare();
    await sendMany(deps, 3);

    // Act
    const response = await history(historyEvent('user_42', { limit: '2' }));

    // Assess
    expect(response.statusCode).toBe(200);
    const body = json(response);
    expect(body.items).toHaveLength(2);
    expect(body.nextCursor).toEqual(expect.any(String));
  });

  it.each(['0', '101', 'abc', '1.5', '-3', ''])(
    'answers 400 for limit=%j',
    async (limit) => {
      // Prepare
      const { history } = prepare();

      // Act
      const response = await history(historyEvent('user_42', { limit }));

      // Assess
      expect(response.statusCode).toBe(400);
      expect(json(response)).toEqual({
        error: {
          code: 'ValidationError',
          message:
            'Invalid request query: limit: must be a whole number from 1 to 100.',
        },
      });
    }
  );

  it('answers 400 for a cursor it did not make', async () => {
    // Prepare
    const { deps, history } = prepare();
    await sendMany(deps, 1);

    // Act
    const response = await history(
      historyEvent('user_42', { cursor: 'forged' })
    );

    // Assess
    expect(response.statusCode).toBe(400);
    expect((json(response).error as { code: string }).code).toBe(
      'ValidationError'
    );
  });

  it('answers 400 for an unknown query parameter or a bad user id', async () => {
    // Prepare
    const { history } = prepare();

    // Act
    const unknown = await history(historyEvent('user_42', { page: '2' }));
    const badUser = await history(historyEvent('user 42'));

    // Assess
    expect(unknown.statusCode).toBe(400);
    expect((json(unknown).error as { message: string }).message).toContain(
      'unknown field(s) "page"'
    );
    expect(badUser.statusCode).toBe(400);
    expect((json(badUser).error as { message: string }).message).toContain(
      'userId'
    );
  });
});
