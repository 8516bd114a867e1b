import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';

/** Options of {@link apiEvent}. */
export interface ApiEventOptions {
  /** Path parameters, as the route's `{name}` placeholders give them. */
  readonly pathParameters?: Record<string, string>;
  /** A body object is sent as JSON; a string is sent as is. */
  readonly body?: unknown;
  /** Sends the body base64-encoded, as API Gateway does for binary types. */
  readonly base64?: boolean;
  readonly headers?: Record<string, string>;
  readonly queryStringParameters?: Record<string, string>;
}

/**
 * An HTTP API (payload 2.0) event for a route, shaped like the ones API
 * Gateway sends.
 * @param routeKey e.g. `POST /v1/messages/{messageId}/ack`
 * @param rawPath the concrete path, e.g. `/v1/messages/m1/ack`
 */
export const apiEvent = (
  routeKey: string,
  rawPath: string,
  options: ApiEventOptions = {}
): APIGatewayProxyEventV2 => {
  const [method = 'GET'] = routeKey.split(' ');
  const text =
    options.body === undefined
      ? undefined
      : typeof options.body === 'string'
        ? options.body
        : JSON.stringify(options.body);
  const query = options.queryStringParameters;
  return {
    version: '2.0',
    routeKey,
    rawPath,
    rawQueryString: query ? new URLSearchParams(query).toString() : '',
    headers: {
      'content-type': 'application/json',
      host: 'abc123.execute-api.us-east-1.amazonaws.com',
      ...options.headers,
    },
    ...(query ? { queryStringParameters: query } : {}),
    ...(options.pathParameters
      ? { pathParameters: options.pathParameters }
      : {}),
    requestContext: {
      accountId: '123456789012',
      apiId: 'abc123',
      domainName: 'abc123.execute-api.us-east-1.amazonaws.com',
      domainPrefix: 'abc123',
      http: {
        method,
        path: rawPath,
        protocol: 'HTTP/1.1',
        sourceIp: '192.0.2.10',
        userAgent: 'vitest',
      },
      requestId: 'req-0001',
      routeKey,
      stage: '$default',
      time: '27/Nov/2026:08:00:00 +0000',
      timeEpoch: 1_795_766_400_000,
    },
    isBase64Encoded: options.base64 === true,
    ...(text === undefined
      ? {}
      : {
          body: options.base64 ? Buffer.from(text).toString('base64') : text,
        }),
  };
};

/** `POST /v1/messages`. */
export const sendMessageEvent = (
  body: unknown,
  options: Omit<ApiEventOptions, 'body'> = {}
) => apiEvent('POST /v1/messages', '/v1/messages', { ...options, body });

/** `GET /v1/messages/{messageId}`. */
export const getMessageEvent = (messageId: string) =>
  apiEvent('GET /v1/messages/{messageId}', `/v1/messages/${messageId}`, {
    pathParameters: { messageId },
  });

/** `POST /v1/messages/{messageId}/ack`. */
export const ackMessageEvent = (messageId: string, body: unknown) =>
  apiEvent(
    'POST /v1/messages/{messageId}/ack',
    `/v1/messages/${messageId}/ack`,
    { pathParameters: { messageId }, body }
  );

/** A Lambda context for handlers wrapped with Powertools middleware. */
export const lambdaContext = (functionName = 'TestFunction') =>
  ({
    callbackWaitsForEmptyEventLoop: true,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:us-east-1:123456789012:function:${functionName}`,
    memoryLimitInMB: '512',
    awsRequestId: 'c6af9ac6-7b61-11e6-9a41-93e812345678',
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: '2026/11/27/[$LATEST]abcdef0123456789',
    getRemainingTimeInMillis: () => 10_000,
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  }) satisfies Context;
