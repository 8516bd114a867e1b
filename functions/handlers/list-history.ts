import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import * as z from 'zod';
import {
  HISTORY_LIMITS,
  type ListHistoryDeps,
  listHistory,
} from '../domain/history.ts';
import { UserId } from '../domain/message.ts';
import { jsonResponse, parseWith, withHttpErrors } from '../shared/http.ts';
import { lambdaHandler } from '../shared/lambda.ts';
import { logger } from '../shared/powertools.ts';
import { clock } from '../shared/wiring/clock.ts';
import { tables } from '../shared/wiring/dynamo.ts';
import { cursorKey } from '../shared/wiring/keys.ts';

const limitError = `must be a whole number from ${HISTORY_LIMITS.min} to ${HISTORY_LIMITS.max}`;

const HistoryPath = z.strictObject({ userId: UserId });

/** Query of the history route (its values arrive as strings). */
const HistoryQuery = z.strictObject({
  limit: z
    .string()
    .regex(/^\d{1,3}$/, { error: limitError })
    .transform(Number)
    .pipe(
      z
        .number()
        .min(HISTORY_LIMITS.min, { error: limitError })
        .max(HISTORY_LIMITS.max, { error: limitError })
    )
    .optional(),
  cursor: z
    .string()
    .min(1, { error: 'must not be empty: leave it out for the first page' })
    .max(2048, { error: 'is too long to be a cursor of this API' })
    .optional(),
});

/**
 * `GET /v1/users/{userId}/messages?limit=50&cursor=...`: the user's messages,
 * newest first. `limit` is 1..100 (default 50); `nextCursor` comes with
 * every page but the last.
 */
export const createHandler = (deps: ListHistoryDeps) =>
  withHttpErrors(async (event: APIGatewayProxyEventV2) => {
    const { userId } = parseWith(
      HistoryPath,
      { userId: event.pathParameters?.userId },
      'path'
    );
    const { limit, cursor } = parseWith(
      HistoryQuery,
      event.queryStringParameters ?? {},
      'query'
    );
    logger.appendKeys({ userId });
    const page = await listHistory(
      userId,
      { limit: limit ?? HISTORY_LIMITS.default, ...(cursor ? { cursor } : {}) },
      deps
    );
    return jsonResponse(200, page);
  });

/** The Lambda entry point. */
export const handler = lambdaHandler(createHandler, tables, cursorKey, clock);
