import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import {
  HISTORY_LIMITS,
  HistoryPath,
  HistoryQuery,
  type ListHistoryDeps,
  listHistory,
} from '../domain/history.ts';
import { jsonResponse, parseWith, withHttpErrors } from '../shared/http.ts';
import { lambdaHandler } from '../shared/lambda.ts';
import { logger } from '../shared/powertools.ts';
import { clock } from '../shared/wiring/clock.ts';
import { tables } from '../shared/wiring/dynamo.ts';
import { cursorKey } from '../shared/wiring/keys.ts';

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
