import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import {
  type EraseUserDeps,
  EraseUserInput,
  eraseUser,
} from '../domain/erase-user.ts';
import { jsonResponse, parseWith, withHttpErrors } from '../shared/http.ts';
import { lambdaHandler } from '../shared/lambda.ts';
import { METRIC } from '../shared/names.ts';
import { logger, metrics } from '../shared/powertools.ts';
import { clock } from '../shared/wiring/clock.ts';
import { tables } from '../shared/wiring/dynamo.ts';
import { jpush } from '../shared/wiring/jpush.ts';
import { stepFunctions } from '../shared/wiring/sfn.ts';

/**
 * `DELETE /v1/users/{userId}`: erases everything the system keeps about a
 * user (messages, history, sessions, offline store) and clears their JPush
 * alias. `200` with the counts of what was erased, zeros when there was
 * nothing (repeating it is harmless); `400` for an id that cannot be a
 * user id.
 */
export const createHandler = (deps: EraseUserDeps) =>
  withHttpErrors(async (event: APIGatewayProxyEventV2) => {
    const input = parseWith(
      EraseUserInput,
      { userId: event.pathParameters?.userId },
      'path'
    );
    const result = await eraseUser(input, deps);
    // Counts only: the log keeps no trace of whom it was about.
    logger.info('User erased', {
      messages: result.messages,
      history: result.history,
      sessions: result.sessions,
      offline: result.offline,
      deliveriesStopped: result.deliveriesStopped,
      pushesWithdrawn: result.pushesWithdrawn,
      alias: result.alias,
    });
    if (result.aliasError) {
      logger.warn('JPush alias not cleared', {
        jpushCode: result.aliasError.code,
      });
    }
    metrics.addMetric(METRIC.UserErased, MetricUnit.Count, 1);
    return jsonResponse(200, result);
  });

/** The Lambda entry point. */
export const handler = lambdaHandler(
  createHandler,
  tables,
  stepFunctions,
  jpush,
  clock
);
