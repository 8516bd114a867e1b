import { describe, expect, it } from 'vitest';
import {
  createPushDeliveryClient,
  isBatchItemSent,
  PushDeliveryApiError,
} from '../../../client/index.ts';

const answering = (
  status: number,
  body: unknown,
  headers?: Record<string, string>
) =>
  createPushDeliveryClient({
    baseUrl: 'http://127.0.0.1:3000',
    sign: false,
    retries: 0,
    fetch: async () =>
      typeof body === 'string'
        ? new Response(body, { status, headers })
        : Response.json(body, { status, headers }),
  });

describe('PushDeliveryApiError', () => {
  it('carries the status, code and message of the error envelope', async () => {
    // Prepare
    const client = answering(
      404,
      { error: { code: 'NotFound', message: 'No message m1.' } },
      { 'apigw-requestid': 'req-1' }
    );

    // Act
    const error = await client.getMessage('m1').catch((e: unknown) => e);

    // Assess
    expect(error).toBeInstanceOf(PushDeliveryApiError);
    expect(error).toBeInstanceOf(Error);
    const apiError = error as PushDeliveryApiError;
    expect(apiError.status).toBe(404);
    expect(apiError.code).toBe('NotFound');
    expect(apiError.apiMessage).toBe('No message m1.');
    expect(apiError.requestId).toBe('req-1');
    expect(apiError.request).toBe('GET /v1/messages/m1');
    expect(apiError.message).toBe(
      'GET /v1/messages/m1 answered 404 NotFound: No message m1.'
    );
  });

  it("keeps the body: a cancel's 409 names the status the message ended with", async () => {
    // Prepare
    const client = answering(409, {
      error: { code: 'Conflict', message: 'The message already ended.' },
      messageId: 'm1',
      status: 'acknowledged',
    });

    // Act
    const error = await client.cancelMessage('m1').catch((e: unknown) => e);

    // Assess
    expect(error).toMatchObject({
      status: 409,
      code: 'Conflict',
      body: { messageId: 'm1', status: 'acknowledged' },
    });
  });

  it("names API Gateway's own answers GatewayError", async () => {
    // Act
    const error = await answering(403, { message: 'Forbidden' })
      .sendMessage({ to: 'u1', body: 'x' })
      .catch((e: unknown) => e);

    // Assess
    expect(error).toMatchObject({
      status: 403,
      code: 'GatewayError',
      apiMessage: 'Forbidden',
    });
  });

  it('takes a body that is no JSON as text', async () => {
    // Act
    const error = await answering(502, 'Bad Gateway', {
      'content-type': 'text/plain',
    })
      .eraseUser('u1')
      .catch((e: unknown) => e);

    // Assess
    expect(error).toMatchObject({
      status: 502,
      code: 'UnknownError',
      body: 'Bad Gateway',
    });
  });

  it('is not thrown by the raw client, which answers { error, response }', async () => {
    // Act
    const result = await answering(400, {
      error: { code: 'ValidationError', message: 'body: required' },
    }).raw.POST('/v1/messages', { body: { to: 'u1', body: '' } });

    // Assess
    expect(result.response.status).toBe(400);
    expect(result.error).toEqual({
      error: { code: 'ValidationError', message: 'body: required' },
    });
  });
});

describe('isBatchItemSent', () => {
  it("tells a batch's sent items from its errors", () => {
    // Assess
    expect(isBatchItemSent({ messageId: 'm1', status: 'stored' })).toBe(true);
    expect(
      isBatchItemSent({
        error: { code: 'ValidationError', message: 'messages[2].body' },
      })
    ).toBe(false);
  });
});
