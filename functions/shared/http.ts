import type {
  APIGatewayProxyEventV2,
  APIGatewayProxyStructuredResultV2,
} from 'aws-lambda';
import type { z } from 'zod';
import {
  ConflictError,
  ForbiddenError,
  MessageEndedError,
  NotFoundError,
  ValidationError,
} from '../domain/errors.ts';
import { MessagePath } from '../domain/message.ts';
import type { ErrorBody } from './api-schemas.ts';
import { logger } from './powertools.ts';

/** The largest request body the API reads, unless a route says otherwise. */
const MAX_BODY_BYTES = 64 * 1024;

/** The body is larger than the API accepts. */
export class PayloadTooLargeError extends Error {
  public readonly name = 'PayloadTooLargeError';
}

/** A JSON response. */
export const jsonResponse = (
  statusCode: number,
  body?: unknown
): APIGatewayProxyStructuredResultV2 => ({
  statusCode,
  headers: { 'content-type': 'application/json; charset=utf-8' },
  body: body === undefined ? '' : JSON.stringify(body),
});

/**
 * Parses and validates a JSON request body.
 * @param maxBytes the largest body read (a batch takes more than one
 * message) @default 64 KiB
 * @throws ValidationError naming every field that is wrong
 * @throws PayloadTooLargeError over `maxBytes`
 */
export const parseJsonBody = <S extends z.ZodType>(
  event: Pick<APIGatewayProxyEventV2, 'body' | 'isBase64Encoded'>,
  schema: S,
  maxBytes = MAX_BODY_BYTES
): z.infer<S> => {
  const text = event.isBase64Encoded
    ? Buffer.from(event.body ?? '', 'base64').toString('utf8')
    : (event.body ?? '');
  if (Buffer.byteLength(text, 'utf8') > maxBytes) {
    throw new PayloadTooLargeError(
      `The request body is larger than ${maxBytes / 1024} KiB.`
    );
  }
  if (text.trim() === '') {
    throw new ValidationError('The request needs a JSON body.');
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new ValidationError('The request body is not valid JSON.');
  }
  const refused = refusedKeyPath(json);
  if (refused !== undefined) {
    throw new ValidationError(
      `Invalid request body: ${refused}: field names __proto__, constructor and prototype are not accepted anywhere in a body.`
    );
  }
  return parseWith(schema, json, 'body');
};

/** Field names that mean something to JavaScript objects. */
const REFUSED_KEYS: ReadonlySet<string> = new Set([
  '__proto__',
  'constructor',
  'prototype',
]);

/** The path of the first refused field name in a parsed body, if any. */
const refusedKeyPath = (value: unknown, path = ''): string | undefined => {
  if (typeof value !== 'object' || value === null) return undefined;
  for (const [key, child] of Object.entries(value)) {
    const at = path === '' ? key : `${path}.${key}`;
    if (REFUSED_KEYS.has(key)) return at;
    const deeper = refusedKeyPath(child, at);
    if (deeper !== undefined) return deeper;
  }
  return undefined;
};

/**
 * Validates a value (a body, a path or query parameter set) with a schema.
 * @param where what the value is, for the message ("body", "query")
 * @throws ValidationError naming every field that is wrong
 */
export const parseWith = <S extends z.ZodType>(
  schema: S,
  value: unknown,
  where: string
): z.infer<S> => {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    const path = issue.path.map(String).join('.');
    if (issue.code === 'unrecognized_keys') {
      return `${path ? `${path}: ` : ''}unknown field(s) ${issue.keys.map((k) => `"${k}"`).join(', ')}`;
    }
    // zod 4 leaves `issue.input` out unless asked to (and it should stay
    // out: it may be a secret), so look up whether the field was given.
    if (
      issue.code === 'invalid_type' &&
      valueAt(value, issue.path) === undefined
    ) {
      return `${path || where}: is required`;
    }
    return `${path || where}: ${issue.message}`;
  });
  throw new ValidationError(
    `Invalid request ${where}: ${problems.join('; ')}.`
  );
};

/**
 * The message id of a `/v1/messages/{messageId}` route, checked before
 * anything is read or logged.
 * @throws ValidationError when it is not a message id
 */
export const messageIdOf = (event: APIGatewayProxyEventV2): string =>
  parseWith(MessagePath, { messageId: event.pathParameters?.messageId }, 'path')
    .messageId;

const valueAt = (value: unknown, path: readonly PropertyKey[]): unknown =>
  path.reduce<unknown>(
    (node, key) =>
      typeof node === 'object' && node !== null
        ? (node as Record<PropertyKey, unknown>)[key]
        : undefined,
    value
  );

/**
 * The error envelope of the API: `{"error": {"code", "message"}}`, with a
 * message that has already ended's id and status (409 only).
 */
export type { ErrorBody } from './api-schemas.ts';

/**
 * The one mapping from errors to HTTP statuses and error bodies (a whole
 * response's, or one item's of a batch). Anything unexpected is a 500
 * whose body says nothing about the error; the error goes to the log.
 */
export const errorOf = (
  error: unknown
): { readonly statusCode: number; readonly body: ErrorBody } => {
  const as = (statusCode: number, code: string, message: string) => ({
    statusCode,
    body: { error: { code, message } },
  });
  if (error instanceof ValidationError) {
    return as(400, 'ValidationError', error.message);
  }
  if (error instanceof ForbiddenError) {
    return as(403, 'Forbidden', error.message);
  }
  if (error instanceof MessageEndedError) {
    return {
      statusCode: 409,
      body: {
        ...as(409, 'Conflict', error.message).body,
        messageId: error.messageId,
        status: error.status,
      },
    };
  }
  if (error instanceof ConflictError) {
    return as(409, 'Conflict', error.message);
  }
  if (error instanceof NotFoundError) {
    return as(404, 'NotFound', error.message);
  }
  if (error instanceof PayloadTooLargeError) {
    return as(413, 'PayloadTooLarge', error.message);
  }
  logger.error('Request failed', { error });
  return as(
    500,
    'InternalError',
    'Something went wrong on our side. It has been logged; please retry.'
  );
};

/** An error as the HTTP response {@link errorOf} maps it to. */
export const errorResponse = (
  error: unknown
): APIGatewayProxyStructuredResultV2 => {
  const { statusCode, body } = errorOf(error);
  return jsonResponse(statusCode, body);
};

/**
 * Who is calling, for scoping idempotency keys: the IAM principal that
 * signed the request (API Gateway's IAM authorizer), a role without its
 * session name (a backend's sessions change, its role does not); '' when
 * unsigned (local mode).
 */
export const callerOf = (event: APIGatewayProxyEventV2): string => {
  const iam = (
    event.requestContext as {
      authorizer?: { iam?: { userArn?: string | null } };
    }
  ).authorizer?.iam;
  const arn = iam?.userArn ?? '';
  const role = /^(arn:[^:]+:sts::\d+:assumed-role\/[^/]+)\/.+$/.exec(arn);
  return role?.[1] ?? arn;
};

/** Wraps an HTTP handler so every error becomes a JSON error response. */
export const withHttpErrors =
  (
    handler: (
      event: APIGatewayProxyEventV2
    ) => Promise<APIGatewayProxyStructuredResultV2>
  ) =>
  async (
    event: APIGatewayProxyEventV2
  ): Promise<APIGatewayProxyStructuredResultV2> => {
    try {
      return await handler(event);
    } catch (error) {
      return errorResponse(error);
    }
  };
