import { MockAgent, fetch as undiciFetch } from 'undici';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { JPushClient } from '../../../functions/adapters/jpush-client.ts';
import { ackTokenFor } from '../../../functions/domain/ack-token.ts';
import {
  DeliveryStatus,
  JPushRateLimitError,
  JPushRejectedError,
  JPushServerError,
} from '../../../functions/domain/jpush.ts';
import type { Session } from '../../../functions/domain/ports.ts';
import { logout } from '../../../functions/domain/sessions.ts';
import { createHandler as createAckHandler } from '../../../functions/handlers/ack-message.ts';
import { createHandler as createCheckReportHandler } from '../../../functions/handlers/check-report.ts';
import { createHandler as createEscalateHandler } from '../../../functions/handlers/escalate.ts';
import { createHandler as createGetHandler } from '../../../functions/handlers/get-message.ts';
import { createHandler as createPushHandler } from '../../../functions/handlers/push.ts';
import { createHandler as createSendHandler } from '../../../functions/handlers/send-message.ts';
import { createHandler as createWithdrawSweeperHandler } from '../../../functions/handlers/withdraw-sweeper.ts';
import { logger } from '../../../functions/shared/powertools.ts';
import {
  ackMessageEvent,
  apiEvent,
  getMessageEvent,
  sendMessageEvent,
} from '../../helpers/api-events.ts';
import { fakeAckKey, inMemoryDeps } from '../../helpers/fakes.ts';
import { RecordingJPush } from '../../helpers/recording-jpush.ts';

const RID = '1a0018970a9c2ce5b0';
const session: Session = {
  userId: 'user_42',
  registrationId: RID,
  platform: 'android',
  since: '2026-11-27T07:00:00.000Z',
};

const TASK_TOKEN = 'task-token-attempt-1';
const TIMED_OUT = { Error: 'States.Timeout', Cause: 'the interval passed' };

const appDeps = () => ({ ...inMemoryDeps(), jpush: new RecordingJPush() });

/** A message accepted for user_42, who is logged in on RID. */
const prepareAccepted = async (body: Record<string, unknown> = {}) => {
  const deps = appDeps();
  await deps.sessions.put(session);
  const { messageId } = json(
    await createSendHandler(deps)(
      sendMessageEvent({ to: 'user_42', body: 'hi', ...body })
    )
  ) as { messageId: string };
  return { deps, messageId };
};

const json = (response: { body?: string }) =>
  JSON.parse(response.body ?? '') as Record<string, unknown>;

beforeEach(() => {
  // Keep the handlers' log lines out of the test output.
  vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
  vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
});

afterEach(() => {
  logger.resetKeys();
  vi.restoreAllMocks();
});

describe('POST /v1/messages', () => {
  it('accepts a message with 202 and its id and status as JSON', async () => {
    // Prepare
    const deps = appDeps();
    await deps.sessions.put(session);
    const handle = createSendHandler(deps);

    // Act
    const response = await handle(
      sendMessageEvent({
        to: 'user_42',
        body: 'Your parcel left the warehouse.',
        idempotencyKey: 'order-1009-shipped',
      })
    );

    // Assess
    expect(response.statusCode).toBe(202);
    expect(response.headers?.['content-type']).toMatch(/^application\/json/);
    const body = json(response);
    expect(body).toEqual({ messageId: expect.any(String), status: 'sending' });
    expect(deps.deliveries.started).toEqual([
      expect.objectContaining({ messageId: body.messageId, delivery: 1 }),
    ]);
  });

  it('takes the key from the Idempotency-Key header, says when an answer is a replay, and answers 409 to the key reused for another request', async () => {
    // Prepare
    const handle = createSendHandler(appDeps());
    const withKey = (body: unknown, key: string) => ({
      ...sendMessageEvent(body),
      headers: { 'content-type': 'application/json', 'idempotency-key': key },
    });

    // Act
    const first = await handle(withKey({ to: 'u1', body: 'hi' }, 'order-9'));
    const replay = await handle(withKey({ to: 'u1', body: 'hi' }, 'order-9'));
    const sameInBody = await handle(
      withKey({ to: 'u1', body: 'hi', idempotencyKey: 'order-9' }, 'order-9')
    );
    const reused = await handle(withKey({ to: 'u2', body: 'hi' }, 'order-9'));
    const differing = await handle(
      withKey({ to: 'u1', body: 'hi', idempotencyKey: 'order-10' }, 'order-9')
    );

    // Assess
    expect(first.statusCode).toBe(202);
    expect(first.headers?.['idempotent-replayed']).toBeUndefined();
    expect(replay.statusCode).toBe(202);
    expect(replay.headers?.['idempotent-replayed']).toBe('true');
    expect(json(replay)).toEqual(json(first));
    expect(json(sameInBody)).toEqual(json(first));
    expect(reused.statusCode).toBe(409);
    expect(json(reused)).toEqual({
      error: {
        code: 'Conflict',
        message: expect.stringContaining('different request'),
      },
    });
    expect(differing.statusCode).toBe(400);
  });

  it('scopes idempotency keys per IAM caller: another role gets its own message, another session of one role the same', async () => {
    // Prepare
    const handle = createSendHandler(appDeps());
    const signedBy = (userArn: string) => {
      const event = sendMessageEvent({
        to: 'u1',
        body: 'hi',
        idempotencyKey: 'order-11',
      });
      return {
        ...event,
        requestContext: {
          ...event.requestContext,
          authorizer: { iam: { userArn } },
        },
      } as typeof event;
    };
    const billing = 'arn:aws:sts::123456789012:assumed-role/billing-backend';
    const shipping = 'arn:aws:sts::123456789012:assumed-role/shipping-backend';

    // Act
    const a = json(await handle(signedBy(`${billing}/i-0a1`)));
    const sameRole = json(await handle(signedBy(`${billing}/i-0b2`)));
    const otherRole = await handle(signedBy(`${shipping}/i-0a1`));

    // Assess
    expect(sameRole.messageId).toBe(a.messageId);
    expect(otherRole.statusCode).toBe(202);
    expect(json(otherRole).messageId).not.toBe(a.messageId);
  });

  it('answers stored for a recipient with no session', async () => {
    // Prepare
    const handle = createSendHandler(appDeps());

    // Act
    const response = await handle(sendMessageEvent({ to: 'u1', body: 'hi' }));

    // Assess
    expect(response.statusCode).toBe(202);
    expect(json(response).status).toBe('stored');
  });

  it('reads a base64-encoded body', async () => {
    // Prepare
    const handle = createSendHandler(appDeps());

    // Act
    const response = await handle(
      sendMessageEvent({ to: 'u1', body: 'hi' }, { base64: true })
    );

    // Assess
    expect(response.statusCode).toBe(202);
  });

  it.each([
    ['malformed JSON', '{"to": "u1", "body": ', 'not valid JSON'],
    ['no body at all', undefined, 'needs a JSON body'],
    ['a JSON array', '[]', 'Invalid request body'],
    ['JSON null', 'null', 'Invalid request body'],
    ['a number for to', { to: 42, body: 'hi' }, 'to: must be a string'],
    ['a missing body field', { to: 'u1' }, 'body: is required'],
    ['an object as body', { to: 'u1', body: { text: 'hi' } }, 'body: '],
    ['an unknown field', { to: 'u1', body: 'hi', prio: 1 }, '"prio"'],
    [
      'a policy out of range',
      { to: 'u1', body: 'hi', policy: { maxAttempts: 0 } },
      'policy.maxAttempts: must be at least 1',
    ],
    ['a string policy', { to: 'u1', body: 'hi', policy: 'fast' }, 'policy: '],
    [
      'a phone number that is not E.164',
      { to: 'u1', body: 'hi', escalation: { smsTo: '0800' } },
      'escalation.smsTo: must be a phone number in E.164 form',
    ],
    [
      'data with a non-string value',
      { to: 'u1', body: 'hi', data: { orderId: 1009 } },
      'data.orderId',
    ],
  ])(
    'answers %s with 400 and a JSON error, changing nothing',
    async (_case, body, message) => {
      // Prepare
      const deps = appDeps();
      const handle = createSendHandler(deps);
      const event =
        body === undefined
          ? apiEvent('POST /v1/messages', '/v1/messages')
          : sendMessageEvent(body);

      // Act
      const response = await handle(event);

      // Assess
      expect(response.statusCode).toBe(400);
      expect(json(response)).toEqual({
        error: {
          code: 'ValidationError',
          message: expect.stringContaining(message),
        },
      });
      expect(deps.messages.items.size).toBe(0);
      expect(deps.deliveries.started).toEqual([]);
    }
  );

  it('answers a body over 64 KiB with 413', async () => {
    // Prepare
    const handle = createSendHandler(appDeps());

    // Act
    const response = await handle(
      sendMessageEvent({ to: 'u1', body: 'x'.repeat(70_000) })
    );

    // Assess
    expect(response.statusCode).toBe(413);
    expect(json(response)).toMatchObject({
      error: { code: 'PayloadTooLarge' },
    });
  });

  it('answers a failing dependency with a 500 that reveals nothing', async () => {
    // Prepare
    const deps = appDeps();
    deps.sessions.listByUser = async () => {
      throw new Error('ResourceNotFoundException: table SessionsTable-1A2B');
    };
    const handle = createSendHandler(deps);

    // Act
    const response = await handle(sendMessageEvent({ to: 'u1', body: 'hi' }));

    // Assess
    expect(response.statusCode).toBe(500);
    expect(response.body).not.toContain('SessionsTable');
    expect(json(response)).toMatchObject({ error: { code: 'InternalError' } });
  });
});

describe('GET /v1/messages/{messageId}', () => {
  it('shows a message with status and timeline', async () => {
    // Prepare
    const deps = appDeps();
    const sent = json(
      await createSendHandler(deps)(sendMessageEvent({ to: 'u1', body: 'hi' }))
    );

    // Act
    const response = await createGetHandler(deps)(
      getMessageEvent(String(sent.messageId))
    );

    // Assess
    expect(response.statusCode).toBe(200);
    expect(json(response)).toMatchObject({
      messageId: sent.messageId,
      to: 'u1',
      status: 'stored',
      attempts: 0,
      createdAt: '2026-11-27T08:00:00.000Z',
      timeline: [
        expect.objectContaining({ event: 'accepted' }),
        expect.objectContaining({ event: 'stored' }),
      ],
    });
  });

  it('answers an unknown id with 404 and a JSON error', async () => {
    // Prepare
    const handle = createGetHandler(appDeps());

    // Act
    const response = await handle(getMessageEvent('kNoSuchMessage'));

    // Assess
    expect(response.statusCode).toBe(404);
    expect(json(response)).toEqual({
      error: {
        code: 'NotFound',
        message: 'No message with id kNoSuchMessage.',
      },
    });
  });
});

describe('POST /v1/messages/{messageId}/ack', () => {
  /** Another phone, which the push did not target. */
  const OTHER_RID = '1a0018970a9c2ce5ff';

  /** A message for user_42, pushed to RID, and its real ACK token. */
  const prepareSent = async () => {
    const { deps, messageId } = await prepareAccepted();
    await createPushHandler(deps)({
      messageId,
      delivery: 1,
      attempt: 1,
      taskToken: TASK_TOKEN,
    });
    const token = ackTokenFor(await fakeAckKey.keys(), messageId, 'user_42');
    return { deps, messageId, token };
  };

  it('answers the real token from the pushed device with 204 and no body, and the message is acknowledged', async () => {
    // Prepare
    const { deps, messageId, token } = await prepareSent();
    const handle = createAckHandler(deps);

    // Act
    const first = await handle(
      ackMessageEvent(messageId, { token, registrationId: RID })
    );
    const repeat = await handle(
      ackMessageEvent(messageId, { token, registrationId: RID })
    );

    // Assess
    expect(first.statusCode).toBe(204);
    expect(first.body).toBe('');
    expect(repeat.statusCode).toBe(204);
    expect((await deps.messages.get(messageId))?.status).toBe('acknowledged');
  });

  it('answers a wrong token, a wrong device or an unknown message with the same 403 and changes nothing', async () => {
    // Prepare
    const { deps, messageId, token } = await prepareSent();
    const handle = createAckHandler(deps);
    const before = await deps.messages.get(messageId);

    // Act
    const wrong = await handle(
      ackMessageEvent(messageId, { token: 'guess', registrationId: RID })
    );
    const device = await handle(
      ackMessageEvent(messageId, { token, registrationId: OTHER_RID })
    );
    const unknown = await handle(
      ackMessageEvent('kUnknown', { token, registrationId: RID })
    );

    // Assess
    expect(wrong.statusCode).toBe(403);
    expect(device.statusCode).toBe(403);
    expect(unknown.statusCode).toBe(403);
    expect(json(wrong)).toEqual(json(unknown));
    expect(json(device)).toEqual(json(wrong));
    expect(json(wrong)).toMatchObject({ error: { code: 'Forbidden' } });
    expect(await deps.messages.get(messageId)).toEqual(before);
  });

  it.each([
    ['no body', undefined],
    ['a missing token', { registrationId: RID }],
    ['a numeric token', { token: 7, registrationId: RID }],
    ['malformed JSON', '{"token":'],
    ['a token without registrationId', { token: 'a' }],
    ['a malformed registrationId', { token: 'a', registrationId: 'rid-1!' }],
    ['a too short registrationId', { token: 'a', registrationId: '1a00' }],
    ['a numeric registrationId', { token: 'a', registrationId: 1234567890 }],
    ['an unknown field', { token: 'a', registrationId: RID, device: RID }],
  ])('answers %s with 400', async (_case, body) => {
    // Prepare
    const { deps, messageId } = await prepareSent();

    // Act
    const response = await createAckHandler(deps)(
      body === undefined
        ? apiEvent(
            'POST /v1/messages/{messageId}/ack',
            `/v1/messages/${messageId}/ack`,
            { pathParameters: { messageId } }
          )
        : ackMessageEvent(messageId, body)
    );

    // Assess
    expect(response.statusCode).toBe(400);
    expect(json(response)).toMatchObject({
      error: { code: 'ValidationError', message: expect.any(String) },
    });
    expect((await deps.messages.get(messageId))?.ackedAt).toBeUndefined();
  });

  it('names registrationId and what it must be in the 400', async () => {
    // Prepare
    const { deps, messageId, token } = await prepareSent();

    // Act
    const malformed = await createAckHandler(deps)(
      ackMessageEvent(messageId, { token, registrationId: 'x/../y' })
    );
    const missing = await createAckHandler(deps)(
      ackMessageEvent(messageId, { token })
    );

    // Assess
    expect(json(malformed)).toEqual({
      error: {
        code: 'ValidationError',
        message:
          'Invalid request body: registrationId: must be the 8 to 64 letters and digits the JPush SDK returns.',
      },
    });
    expect(json(missing)).toEqual({
      error: {
        code: 'ValidationError',
        message: 'Invalid request body: registrationId: is required.',
      },
    });
  });

  it('accepts the token alone with ackRequiresDevice off, and still checks a given device', async () => {
    // Prepare
    const { deps, messageId, token } = await prepareSent();
    const handle = createAckHandler({ ...deps, ackRequiresDevice: false });

    // Act
    const malformed = await handle(
      ackMessageEvent(messageId, { token, registrationId: 'rid-1!' })
    );
    const wrongDevice = await handle(
      ackMessageEvent(messageId, { token, registrationId: OTHER_RID })
    );
    const tokenOnly = await handle(ackMessageEvent(messageId, { token }));

    // Assess
    expect(malformed.statusCode).toBe(400);
    expect(wrongDevice.statusCode).toBe(403);
    expect(tokenOnly.statusCode).toBe(204);
    expect((await deps.messages.get(messageId))?.status).toBe('acknowledged');
  });
});

describe('Push and Check Report steps', () => {
  it('push, then check the report, through the step handlers', async () => {
    // Prepare
    const { deps, messageId } = await prepareAccepted();
    deps.jpush.statusAnswers.push({ [RID]: DeliveryStatus.delivered });

    // Act
    const push = await createPushHandler(deps)({
      messageId,
      delivery: 1,
      attempt: 1,
      taskToken: TASK_TOKEN,
    });
    const report = await createCheckReportHandler(deps)({
      messageId,
      delivery: 1,
      attempt: 1,
      maxAttempts: 3,
      wait: TIMED_OUT,
    });

    // Assess
    expect(push).toMatchObject({ outcome: 'pushed', targets: [RID] });
    expect(report).toEqual({
      action: 'push',
      attempt: 2,
      delivered: [RID],
      pending: [],
    });
    const message = await deps.messages.get(messageId);
    expect(message?.status).toBe('received');
    expect(message?.taskToken).toBe(TASK_TOKEN);
    // The step keeps waiting: only the ACK or the interval ends it.
    expect(deps.callbacks.succeeded).toEqual([]);
  });

  it('ends the Push step with the ACK, through the ACK route', async () => {
    // Prepare
    const { deps, messageId } = await prepareAccepted();
    await createPushHandler(deps)({
      messageId,
      delivery: 1,
      attempt: 1,
      taskToken: TASK_TOKEN,
    });
    const token = ackTokenFor(await fakeAckKey.keys(), messageId, 'user_42');

    // Act
    const response = await createAckHandler(deps)(
      ackMessageEvent(messageId, { token, registrationId: RID })
    );

    // Assess
    expect(response.statusCode).toBe(204);
    expect(deps.callbacks.succeeded).toEqual([
      { taskToken: TASK_TOKEN, output: { outcome: 'acknowledged' } },
    ]);
  });

  it('ends the Push step itself with paced and the wait when JPush answers 429', async () => {
    // Prepare
    const { deps, messageId } = await prepareAccepted();
    deps.jpush.pushAnswers.push(
      new JPushRateLimitError('Request times exceeds the limit', {
        httpStatus: 429,
        code: 2002,
        rateLimit: { remaining: 0, resetSeconds: 10 },
      })
    );

    // Act
    const push = await createPushHandler(deps)({
      messageId,
      delivery: 1,
      attempt: 1,
      taskToken: TASK_TOKEN,
    });

    // Assess
    expect(push).toEqual({
      outcome: 'paced',
      waitSeconds: expect.any(Number),
      targets: [],
    });
    expect(deps.callbacks.succeeded).toEqual([
      {
        taskToken: TASK_TOKEN,
        output: { outcome: 'paced', waitSeconds: push.waitSeconds },
      },
    ]);
  });

  it('answers failed, not an error, when JPush refuses the push for good', async () => {
    // Prepare
    const { deps, messageId } = await prepareAccepted();
    deps.jpush.pushAnswers.push(
      new JPushRejectedError('appkey and masterSecret do not match', {
        httpStatus: 401,
        code: 1004,
      })
    );

    // Act
    const push = await createPushHandler(deps)({
      messageId,
      delivery: 1,
      attempt: 1,
      taskToken: TASK_TOKEN,
    });

    // Assess
    expect(push.outcome).toBe('failed');
    expect((await deps.messages.get(messageId))?.status).toBe('failed');
    expect(deps.callbacks.succeeded).toEqual([
      { taskToken: TASK_TOKEN, output: { outcome: 'failed' } },
    ]);
  });

  it('rethrows a retryable JPush error by its name, for the state machine to retry', async () => {
    // Prepare
    const { deps, messageId } = await prepareAccepted();
    deps.jpush.pushAnswers.push(new JPushServerError('server busy'));

    // Act
    const push = createPushHandler(deps)({
      messageId,
      delivery: 1,
      attempt: 1,
      taskToken: TASK_TOKEN,
    });

    // Assess
    await expect(push).rejects.toMatchObject({ name: 'JPushServerError' });
    expect(deps.callbacks.succeeded).toEqual([]);
  });

  it('records a push step that failed after its retries and goes on to the next attempt', async () => {
    // Prepare
    const { deps, messageId } = await prepareAccepted();

    // Act
    const report = await createCheckReportHandler(deps)({
      messageId,
      delivery: 1,
      attempt: 1,
      maxAttempts: 3,
      wait: { Error: 'JPushServerError', Cause: '{"errorMessage":"busy"}' },
    });

    // Assess
    expect(report).toEqual({
      action: 'push',
      attempt: 2,
      delivered: [],
      pending: [],
    });
    expect(deps.jpush.statusCalls).toEqual([]);
    expect((await deps.messages.get(messageId))?.timeline.at(-1)?.event).toBe(
      'push-failed'
    );
  });

  it.each([
    ['a missing task token', { messageId: 'm1', delivery: 1, attempt: 1 }],
    ['delivery 0', { messageId: '', delivery: 0, taskToken: 't' }],
  ])(
    'rejects a malformed Push event (%s) without calling JPush',
    async (_case, event) => {
      // Prepare
      const deps = appDeps();

      // Act
      const push = createPushHandler(deps)(event);

      // Assess
      await expect(push).rejects.toThrow();
      expect(deps.jpush.pushes).toEqual([]);
      expect(deps.callbacks.succeeded).toEqual([]);
    }
  );

  it('rejects a Check Report event without maxAttempts', async () => {
    // Prepare
    const deps = appDeps();

    // Act
    const check = createCheckReportHandler(deps)({
      messageId: 'm1',
      delivery: 1,
      attempt: 1,
    });

    // Assess
    await expect(check).rejects.toThrow();
    expect(deps.jpush.statusCalls).toEqual([]);
  });
});

describe('Escalate step', () => {
  it('marks the message escalated and sends the on-call and recipient SMS', async () => {
    // Prepare
    const { deps, messageId } = await prepareAccepted({
      escalation: { smsTo: '+8613800000000' },
    });

    // Act
    const result = await createEscalateHandler(deps)({
      messageId,
      delivery: 1,
      attempt: 3,
    });

    // Assess
    expect(result).toEqual({
      outcome: 'escalated',
      sent: ['onCall', 'recipient'],
      failed: [],
      suppressed: [],
    });
    expect(deps.sms.sent.map((m) => m.to)).toEqual([
      'on-call',
      '+8613800000000',
    ]);
    expect((await deps.messages.get(messageId))?.status).toBe('escalated');
  });

  it('returns the failed channels without the SNS error, which the execution history would keep', async () => {
    // Prepare
    const { deps, messageId } = await prepareAccepted({
      escalation: { onCall: false, smsTo: '+8613800000000' },
    });
    deps.sms.failingTo.add('+8613800000000');
    vi.useFakeTimers({ toFake: ['setTimeout'] });

    // Act
    const running = createEscalateHandler(deps)({
      messageId,
      delivery: 1,
      attempt: 3,
    });
    await vi.runAllTimersAsync();
    const result = await running;
    vi.useRealTimers();

    // Assess
    expect(result).toEqual({
      outcome: 'escalated',
      sent: [],
      failed: ['recipient'],
      suppressed: [],
    });
    expect(JSON.stringify(result)).not.toContain('Simulated SNS failure');
  });

  it('rejects a malformed event without sending anything', async () => {
    // Prepare
    const deps = appDeps();

    // Act
    const escalate = createEscalateHandler(deps)({ messageId: 'm1' });

    // Assess
    await expect(escalate).rejects.toThrow();
    expect(deps.sms.tries).toEqual([]);
  });
});

describe('Withdraw sweeper', () => {
  it('tries the due withdrawals and answers what became of them', async () => {
    // Prepare: a logout whose withdrawal JPush failed to answer.
    const { deps, messageId } = await prepareAccepted();
    const push = await createPushHandler(deps)({
      messageId,
      delivery: 1,
      attempt: 1,
      taskToken: TASK_TOKEN,
    });
    deps.jpush.withdrawAnswers.push(new JPushServerError('busy'));
    await logout({ userId: 'user_42', registrationId: RID }, deps);
    deps.clock.advance(2_000);

    // Act
    const counts = await createWithdrawSweeperHandler(deps)({});

    // Assess
    expect(counts).toEqual({
      withdrawn: 1,
      refused: 0,
      retrying: 0,
      nothing: 0,
      expired: 0,
    });
    expect(deps.jpush.withdrawn).toEqual([push.jpushMsgId, push.jpushMsgId]);
    expect(deps.outbox.entries.size).toBe(0);
  });
});

describe('log hygiene', () => {
  const APP_KEY = 'fakeAppKey00000000000000';
  const MASTER_SECRET = 'test-only-master-secret-0000';
  // The suite runs at WARN (vitest.config.ts); this test reads every line.
  let previousLevel: ReturnType<typeof logger.getLevelName>;
  beforeEach(() => {
    previousLevel = logger.getLevelName();
    logger.setLogLevel('DEBUG');
  });
  afterEach(() => {
    logger.setLogLevel(previousLevel);
  });

  it('writes JSON lines with the messageId and never a token or a secret', async () => {
    // Prepare
    const written: string[] = [];
    const capture = (chunk: unknown) => {
      written.push(String(chunk));
      return true;
    };
    vi.spyOn(process.stdout, 'write').mockImplementation(capture);
    vi.spyOn(process.stderr, 'write').mockImplementation(capture);
    const mockAgent = new MockAgent();
    mockAgent.disableNetConnect();
    const api = mockAgent.get('https://api.jpush.cn');
    const report = mockAgent.get('https://report.jpush.cn');
    const pushed: string[] = [];
    api
      .intercept({ path: '/v3/push', method: 'POST' })
      .reply(
        429,
        '{"error":{"code":2002,"message":"Request times exceeds the limit"}}',
        {
          headers: {
            'content-type': 'application/json',
            'x-rate-limit-limit': '600',
            'x-rate-limit-remaining': '0',
            'x-rate-limit-reset': '30',
          },
        }
      );
    api
      .intercept({ path: '/v3/push', method: 'POST' })
      .reply(503, '{"error":{"code":1000,"message":"System busy"}}', {
        headers: { 'content-type': 'application/json' },
      });
    api.intercept({ path: '/v3/push', method: 'POST' }).reply(
      200,
      (options) => {
        pushed.push(String(options.body));
        return '{"sendno":"0","msg_id":"18100528814460569"}';
      },
      { headers: { 'content-type': 'application/json' } }
    );
    report
      .intercept({ path: '/v3/status/message', method: 'POST' })
      .reply(200, `{"${RID}":{"status":0}}`, {
        headers: { 'content-type': 'application/json' },
      });
    const jpush = new JPushClient({
      appKey: APP_KEY,
      masterSecret: MASTER_SECRET,
      fetch: (url, init) =>
        undiciFetch(url, { ...init, dispatcher: mockAgent } as never) as never,
    });
    const deps = { ...inMemoryDeps(), jpush };
    await deps.sessions.put(session);
    /** A task token as Step Functions makes them, one per Push step. */
    const taskToken = (n: number) => `AQCEAAAAKgAAAA${n}sfnTaskToken`;
    const step = async <T>(run: () => Promise<T>): Promise<T> => {
      // What injectLambdaContext({ resetKeys: true }) does per invocation.
      logger.resetKeys();
      return run();
    };

    // Act
    const sent = await step(() =>
      createSendHandler(deps)(
        sendMessageEvent({ to: 'user_42', body: 'Order 1009 shipped' })
      )
    );
    const { messageId } = json(sent) as { messageId: string };
    const input = { messageId, delivery: 1, attempt: 1 };
    const paced = await step(() =>
      createPushHandler(deps)({
        ...input,
        taskToken: taskToken(1),
      })
    );
    const busy = await step(() =>
      createPushHandler(deps)({
        ...input,
        taskToken: taskToken(2),
      }).catch((error: unknown) => error)
    );
    const push = await step(() =>
      createPushHandler(deps)({
        ...input,
        taskToken: taskToken(3),
      })
    );
    await step(() =>
      createCheckReportHandler(deps)({
        ...input,
        maxAttempts: 3,
        wait: TIMED_OUT,
      })
    );
    const extras = (
      JSON.parse(pushed[0] ?? '{}') as {
        notification: { android: { extras: { ackToken: string } } };
      }
    ).notification.android.extras;
    const refused = await step(() =>
      createAckHandler(deps)(
        ackMessageEvent(messageId, {
          token: `${extras.ackToken}x`,
          registrationId: RID,
        })
      )
    );
    const acked = await step(() =>
      createAckHandler(deps)(
        ackMessageEvent(messageId, {
          token: extras.ackToken,
          registrationId: RID,
        })
      )
    );
    await mockAgent.close();

    // Assess
    expect(paced.outcome).toBe('paced');
    expect(busy).toMatchObject({ name: 'JPushServerError' });
    expect(push.outcome).toBe('pushed');
    expect([sent.statusCode, refused.statusCode, acked.statusCode]).toEqual([
      202, 403, 204,
    ]);
    const lines = written
      .join('')
      .split('\n')
      .filter((line) => line.trim() !== '');
    expect(lines.length).toBeGreaterThanOrEqual(4);
    const records = lines.map(
      (line) => JSON.parse(line) as Record<string, unknown>
    );
    for (const record of records) {
      expect(record).toMatchObject({
        level: expect.any(String),
        message: expect.any(String),
        messageId,
      });
    }
    expect(records.map((r) => r.message)).toEqual(
      expect.arrayContaining([
        'Message accepted',
        'JPush call failed',
        'Push attempt',
        'Report checked',
        'ACK received',
      ])
    );
    const everything = lines.join('\n');
    const ackKey = (await fakeAckKey.keys()).current.key.toString('utf8');
    const basic = Buffer.from(`${APP_KEY}:${MASTER_SECRET}`).toString('base64');
    expect(extras.ackToken).toMatch(/^1\.[\w-]{43}$/);
    // Whoever holds a task token can end the delivery step: never logged.
    const taskTokens = [1, 2, 3].map(taskToken);
    for (const secret of [
      extras.ackToken,
      ackKey,
      MASTER_SECRET,
      basic,
      ...taskTokens,
    ]) {
      expect(everything).not.toContain(secret);
    }
  });
});
