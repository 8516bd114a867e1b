import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Session } from '../../../functions/domain/ports.ts';
import { runPushAttempt } from '../../../functions/domain/push-attempt.ts';
import { createHandler as createCancelHandler } from '../../../functions/handlers/cancel-message.ts';
import { createHandler as createBatchHandler } from '../../../functions/handlers/send-message-batch.ts';
import { logger } from '../../../functions/shared/powertools.ts';
import { apiEvent } from '../../helpers/api-events.ts';
import { inMemoryDeps } from '../../helpers/fakes.ts';
import { RecordingJPush } from '../../helpers/recording-jpush.ts';

const RID = '1a0018970a9c2ce5b0';
const session: Session = {
  userId: 'user_42',
  registrationId: RID,
  platform: 'android',
  since: '2026-11-27T07:00:00.000Z',
};

const appDeps = () => ({ ...inMemoryDeps(), jpush: new RecordingJPush() });

const batchEvent = (body: unknown, headers: Record<string, string> = {}) =>
  apiEvent('POST /v1/messages/batch', '/v1/messages/batch', { body, headers });

const cancelEvent = (messageId: string) =>
  apiEvent(
    'DELETE /v1/messages/{messageId}',
    `/v1/messages/${encodeURIComponent(messageId)}`,
    { pathParameters: { messageId } }
  );

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

describe('POST /v1/messages/batch', () => {
  it('answers 207 with one result per item, in order, a bad item failing alone', async () => {
    // Prepare
    const deps = appDeps();
    await deps.sessions.put(session);
    const handle = createBatchHandler(deps);

    // Act
    const response = await handle(
      batchEvent({
        messages: [
          { to: 'user_42', body: 'first' },
          { to: 'user_42' },
          { to: 'user_7', body: 'stored' },
          {
            to: 'user_42',
            body: 'sms',
            escalation: { smsTo: '+882123456789' },
          },
          { to: 'user_42', body: 'last', idempotencyKey: 'k-last' },
        ],
      })
    );

    // Assess
    expect(response.statusCode).toBe(207);
    const { results } = json(response) as {
      results: Record<string, unknown>[];
    };
    expect(results).toEqual([
      { messageId: expect.any(String), status: 'sending' },
      {
        error: {
          code: 'ValidationError',
          message: expect.stringContaining('messages[1]: body: is required'),
        },
      },
      { messageId: expect.any(String), status: 'stored' },
      { error: { code: 'ValidationError', message: expect.any(String) } },
      { messageId: expect.any(String), status: 'sending' },
    ]);
    expect(deps.messages.items.size).toBe(3);
    expect(deps.deliveries.started).toHaveLength(2);
  });

  it('keeps idempotency per item: a repeat replays, a key reused for another request is a Conflict', async () => {
    // Prepare
    const deps = appDeps();
    await deps.sessions.put(session);
    const handle = createBatchHandler(deps);
    const first = json(
      await handle(
        batchEvent({
          messages: [{ to: 'user_42', body: 'once', idempotencyKey: 'k-1' }],
        })
      )
    ) as { results: { messageId: string }[] };

    // Act
    const again = json(
      await handle(
        batchEvent({
          messages: [
            { to: 'user_42', body: 'once', idempotencyKey: 'k-1' },
            { to: 'user_42', body: 'other', idempotencyKey: 'k-1' },
          ],
        })
      )
    ) as { results: Record<string, unknown>[] };

    // Assess
    expect(again.results).toEqual([
      {
        messageId: first.results[0]?.messageId,
        status: 'sending',
        replayed: true,
      },
      { error: { code: 'Conflict', message: expect.any(String) } },
    ]);
    expect(deps.messages.items.size).toBe(1);
  });

  it.each([
    ['an empty list', { messages: [] }],
    [
      'more than 100',
      { messages: Array.from({ length: 101 }, () => ({ to: 'u', body: 'b' })) },
    ],
    ['no list', { to: 'user_42', body: 'hi' }],
    ['not JSON', '{'],
  ])('refuses %s with 400 for the whole request', async (_what, body) => {
    // Prepare
    const deps = appDeps();

    // Act
    const response = await createBatchHandler(deps)(batchEvent(body));

    // Assess
    expect(response.statusCode).toBe(400);
    expect(json(response)).toEqual({
      error: { code: 'ValidationError', message: expect.any(String) },
    });
    expect(deps.messages.items.size).toBe(0);
  });

  it('refuses an Idempotency-Key header: each item carries its own key', async () => {
    // Act
    const response = await createBatchHandler(appDeps())(
      batchEvent(
        { messages: [{ to: 'user_42', body: 'hi' }] },
        { 'idempotency-key': 'k-batch' }
      )
    );

    // Assess
    expect(response.statusCode).toBe(400);
    expect(response.body).toContain('idempotencyKey');
  });

  it('takes a body of 100 large messages, and refuses one over 1 MiB with 413', async () => {
    // Prepare
    const deps = appDeps();
    const big = (n: number) => ({
      to: 'user_42',
      title: 't'.repeat(200),
      body: 'b'.repeat(2000),
      data: { text: 'd'.repeat(900) },
      idempotencyKey: `k-${n}`,
    });

    // Act
    const fits = await createBatchHandler(deps)(
      batchEvent({ messages: Array.from({ length: 100 }, (_, i) => big(i)) })
    );
    const tooBig = await createBatchHandler(deps)(
      batchEvent(`{"messages":[${' '.repeat(1024 * 1024)}]}`)
    );

    // Assess
    expect(fits.statusCode).toBe(207);
    expect(deps.messages.items.size).toBe(100);
    expect(tooBig.statusCode).toBe(413);
  });
});

describe('DELETE /v1/messages/{messageId}', () => {
  it('cancels with 200, again with 200, and answers 409 with the status for an ended message', async () => {
    // Prepare
    const deps = appDeps();
    await deps.sessions.put(session);
    const [sent, acked] = (
      json(
        await createBatchHandler(deps)(
          batchEvent({
            messages: [
              { to: 'user_42', body: 'cancel me' },
              { to: 'user_42', body: 'acknowledged' },
            ],
          })
        )
      ) as { results: { messageId: string }[] }
    ).results.map((r) => r.messageId) as [string, string];
    await runPushAttempt(
      { messageId: sent, delivery: 1, attempt: 1, taskToken: 'token-1' },
      deps
    );
    await deps.messages.update(acked, {
      set: { status: 'acknowledged', ackedAt: '2026-11-27T08:00:00.000Z' },
    });
    const handle = createCancelHandler(deps);

    // Act
    const first = await handle(cancelEvent(sent));
    const second = await handle(cancelEvent(sent));
    const ended = await handle(cancelEvent(acked));
    const unknown = await handle(cancelEvent('m-none'));
    const malformed = await handle(cancelEvent('m'.repeat(65)));

    // Assess
    expect(first.statusCode).toBe(200);
    expect(json(first)).toMatchObject({
      messageId: sent,
      status: 'cancelled',
      pushesWithdrawn: 1,
    });
    expect(second.statusCode).toBe(200);
    expect(json(second)).toMatchObject({
      messageId: sent,
      status: 'cancelled',
    });
    expect(ended.statusCode).toBe(409);
    expect(json(ended)).toEqual({
      error: {
        code: 'Conflict',
        message: expect.stringContaining('is already acknowledged'),
      },
      messageId: acked,
      status: 'acknowledged',
    });
    expect(unknown.statusCode).toBe(404);
    expect(malformed.statusCode).toBe(400);
  });
});
