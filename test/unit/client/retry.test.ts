import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  createPushDeliveryClient,
  isRepeatable,
  PushDeliveryApiError,
} from '../../../client/index.ts';
import { retryAfterMs, retryDelayMs } from '../../../client/retry.ts';

type Answer = Response | Error;

/** A fetch that gives the answers in turn, and records what it was sent. */
const scripted = (...answers: (() => Answer)[]) => {
  const sent: { method: string; path: string; at: number }[] = [];
  const fetch = vi.fn(async (request: Request) => {
    sent.push({
      method: request.method,
      path: new URL(request.url).pathname,
      at: Date.now(),
    });
    const answer = answers[sent.length - 1]?.();
    if (answer === undefined) throw new Error('no more answers');
    if (answer instanceof Error) throw answer;
    return answer;
  });
  return { fetch, sent };
};

const json =
  (status: number, body: unknown, headers?: Record<string, string>) => () =>
    Response.json(body, { status, headers });
const gateway = (
  status: number,
  message: string,
  headers?: Record<string, string>
) => json(status, { message }, headers);
const networkError = () => () => new TypeError('fetch failed');

const accepted = json(202, { messageId: 'm1', status: 'sending' });
const view = json(200, {
  messageId: 'm1',
  to: 'u1',
  body: 'x',
  status: 'acknowledged',
  attempts: 1,
  policy: {
    intervalSeconds: 60,
    maxAttempts: 3,
    expiresInSeconds: 86400,
    confirmBy: 'ack',
  },
  createdAt: '2026-01-01T00:00:00.000Z',
  updatedAt: '2026-01-01T00:00:00.000Z',
  expiresAt: '2026-01-02T00:00:00.000Z',
  timeline: [],
});

const client = (fetch: (r: Request) => Promise<Response>, retries = 3) =>
  createPushDeliveryClient({
    baseUrl: 'http://127.0.0.1:3000',
    sign: false,
    fetch,
    retries,
    retryDelay: { baseMs: 1, maxMs: 5_000 },
  });

describe('the client retries what is safe to repeat', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('sends a message with an idempotency key again after a 429: 429, then 202', async () => {
    // Prepare
    const { fetch, sent } = scripted(
      gateway(429, 'Too Many Requests'),
      accepted
    );

    // Act
    const result = await client(fetch).sendMessage({
      to: 'u1',
      body: 'x',
      idempotencyKey: 'k1',
    });

    // Assess
    expect(result).toEqual({
      messageId: 'm1',
      status: 'sending',
      replayed: false,
    });
    expect(sent).toHaveLength(2);
  });

  it('reads a message again after a 503: 503, then 200', async () => {
    // Prepare
    const { fetch, sent } = scripted(gateway(503, 'Service Unavailable'), view);

    // Act
    const message = await client(fetch).getMessage('m1');

    // Assess
    expect(message.status).toBe('acknowledged');
    expect(sent.map((s) => `${s.method} ${s.path}`)).toEqual([
      'GET /v1/messages/m1',
      'GET /v1/messages/m1',
    ]);
  });

  it('waits as long as Retry-After says', async () => {
    // Prepare
    vi.useFakeTimers();
    const { fetch, sent } = scripted(
      gateway(429, 'Too Many Requests', { 'retry-after': '2' }),
      accepted
    );

    // Act
    const sending = client(fetch).sendMessage({
      to: 'u1',
      body: 'x',
      idempotencyKey: 'k1',
    });
    await vi.advanceTimersByTimeAsync(1_990);
    const before = sent.length;
    await vi.advanceTimersByTimeAsync(20);
    const result = await sending;

    // Assess
    expect(before).toBe(1);
    expect(sent).toHaveLength(2);
    expect((sent[1]?.at ?? 0) - (sent[0]?.at ?? 0)).toBeGreaterThanOrEqual(
      2_000
    );
    expect(result.messageId).toBe('m1');
  });

  it('does not send a message without an idempotency key again after a 5xx: it might be sent twice', async () => {
    // Prepare
    const { fetch, sent } = scripted(
      gateway(503, 'Service Unavailable'),
      accepted
    );

    // Act
    const error = await client(fetch)
      .sendMessage({ to: 'u1', body: 'x' })
      .catch((e: unknown) => e);

    // Assess
    expect(sent).toHaveLength(1);
    expect(error).toBeInstanceOf(PushDeliveryApiError);
    expect(error).toMatchObject({
      status: 503,
      code: 'GatewayError',
      apiMessage: 'Service Unavailable',
    });
  });

  it('does not send a message without an idempotency key again after a network error', async () => {
    // Prepare
    const { fetch, sent } = scripted(networkError(), accepted);

    // Act
    const sending = client(fetch).sendMessage({ to: 'u1', body: 'x' });

    // Assess
    await expect(sending).rejects.toThrow('fetch failed');
    expect(sent).toHaveLength(1);
  });

  it('sends a message without an idempotency key again after a 429: API Gateway refused it before any function ran', async () => {
    // Prepare
    const { fetch, sent } = scripted(
      gateway(429, 'Too Many Requests'),
      accepted
    );

    // Act
    await client(fetch).sendMessage({ to: 'u1', body: 'x' });

    // Assess
    expect(sent).toHaveLength(2);
  });

  it('retries a network error of a GET, and a batch whose every message has a key', async () => {
    // Prepare
    const reads = scripted(networkError(), view);
    const batches = scripted(
      gateway(500, 'Internal Server Error'),
      json(207, { results: [{ messageId: 'm1', status: 'sending' }] })
    );

    // Act
    await client(reads.fetch).getMessage('m1');
    const batch = await client(batches.fetch).sendBatch([
      { to: 'u1', body: 'x', idempotencyKey: 'k1' },
    ]);

    // Assess
    expect(reads.sent).toHaveLength(2);
    expect(batches.sent).toHaveLength(2);
    expect(batch.results).toHaveLength(1);
  });

  it('does not retry a batch in which one message has no key', async () => {
    // Prepare
    const { fetch, sent } = scripted(
      gateway(500, 'Internal Server Error'),
      json(207, { results: [] })
    );

    // Act
    const sending = client(fetch).sendBatch([
      { to: 'u1', body: 'x', idempotencyKey: 'k1' },
      { to: 'u1', body: 'y' },
    ]);

    // Assess
    await expect(sending).rejects.toMatchObject({ status: 500 });
    expect(sent).toHaveLength(1);
  });

  it('gives up after `retries` retries, with the last answer as the error', async () => {
    // Prepare
    const { fetch, sent } = scripted(
      gateway(503, 'Service Unavailable'),
      gateway(503, 'Service Unavailable'),
      gateway(503, 'Service Unavailable'),
      json(500, { error: { code: 'InternalError', message: 'Internal error' } })
    );

    // Act
    const reading = client(fetch, 3).getMessage('m1');

    // Assess
    await expect(reading).rejects.toMatchObject({
      status: 500,
      code: 'InternalError',
    });
    expect(sent).toHaveLength(4);
  });

  it('does not retry a 4xx other than 429', async () => {
    // Prepare
    const { fetch, sent } = scripted(
      json(404, { error: { code: 'NotFound', message: 'No such message' } }),
      view
    );

    // Act
    const reading = client(fetch).getMessage('m1');

    // Assess
    await expect(reading).rejects.toMatchObject({ status: 404 });
    expect(sent).toHaveLength(1);
  });

  it('stops at once when the caller aborts', async () => {
    // Prepare
    const { fetch, sent } = scripted(
      gateway(503, 'Service Unavailable', { 'retry-after': '3' }),
      view
    );
    const abort = new AbortController();

    // Act
    const reading = client(fetch).getMessage('m1', { signal: abort.signal });
    setTimeout(() => abort.abort(new Error('stop')), 20);

    // Assess
    await expect(reading).rejects.toThrow('stop');
    expect(sent).toHaveLength(1);
  });
});

describe('isRepeatable', () => {
  const no = new Headers();
  it.each([
    ['GET', '/v1/messages/m1', no, undefined, true],
    ['DELETE', '/v1/messages/m1', no, undefined, true],
    ['DELETE', '/v1/sessions/u1/1a00', no, undefined, true],
    ['DELETE', '/v1/users/u1', no, undefined, true],
    ['POST', '/v1/sessions', no, '{"userId":"u1"}', true],
    ['POST', '/v1/messages/m1/ack', no, '{"token":"t"}', true],
    ['POST', '/v1/messages', no, '{"to":"u1","body":"x"}', false],
    ['POST', '/v1/messages', no, '{"idempotencyKey":"k"}', true],
    ['POST', '/v1/messages', no, '{"idempotencyKey":""}', false],
    [
      'POST',
      '/v1/messages',
      new Headers({ 'Idempotency-Key': 'k' }),
      '{}',
      true,
    ],
    ['POST', '/prod/v1/messages', no, '{"idempotencyKey":"k"}', true],
    ['POST', '/v1/messages/batch', no, '{"messages":[]}', false],
    [
      'POST',
      '/v1/messages/batch',
      no,
      '{"messages":[{"idempotencyKey":"a"},{"idempotencyKey":"b"}]}',
      true,
    ],
    ['POST', '/v1/messages', no, 'not json', false],
    ['PUT', '/v1/messages', no, '{"idempotencyKey":"k"}', false],
  ] as const)('%s %s (%s %s): %s', (method, path, headers, body, expected) => {
    expect(isRepeatable(method, path, headers, body)).toBe(expected);
  });
});

describe('the backoff', () => {
  const policy = { retries: 3, baseDelayMs: 100, maxDelayMs: 1_000 };

  it('is a random time up to base · 2^retry, at most maxDelayMs', () => {
    expect(retryDelayMs(0, null, policy, 0.999, 0)).toBe(99);
    expect(retryDelayMs(2, null, policy, 0.5, 0)).toBe(200);
    expect(retryDelayMs(6, null, policy, 0.999, 0)).toBe(999);
    expect(retryDelayMs(3, null, policy, 0, 0)).toBe(0);
  });

  it('takes Retry-After in seconds or as an HTTP date, capped', () => {
    const now = Date.parse('2026-03-04T05:06:07Z');
    expect(retryAfterMs('1', now)).toBe(1_000);
    expect(retryAfterMs('Wed, 04 Mar 2026 05:06:09 GMT', now)).toBe(2_000);
    expect(retryAfterMs('Wed, 04 Mar 2026 05:06:00 GMT', now)).toBe(0);
    expect(retryAfterMs('soon', now)).toBeUndefined();
    expect(retryAfterMs(null, now)).toBeUndefined();
    expect(retryDelayMs(0, '30', policy, 0.5, now)).toBe(1_000);
  });
});
