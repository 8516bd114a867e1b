import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { LogoutInput, logout, type SessionDeps } from '../domain/sessions.ts';
import { jsonResponse, parseWith, withHttpErrors } from '../shared/http.ts';
import { lambdaHandler } from '../shared/lambda.ts';
import { METRIC } from '../shared/names.ts';
import { logger, metrics } from '../shared/powertools.ts';
import { clock } from '../shared/wiring/clock.ts';
import { tables } from '../shared/wiring/dynamo.ts';
import { jpush } from '../shared/wiring/jpush.ts';
import { ackKey } from '../shared/wiring/keys.ts';
import { stepFunctions } from '../shared/wiring/sfn.ts';

/**
 * `DELETE /v1/sessions/{userId}/{registrationId}`: a user is logging out of
 * a device. `204` whether or not there was a session; `400` for ids that
 * cannot be a user id or a registration id.
 */
export const createHandler = (deps: SessionDeps) =>
  withHttpErrors(async (event: APIGatewayProxyEventV2) => {
    const input = parseWith(
      LogoutInput,
      {
        userId: event.pathParameters?.userId,
        registrationId: event.pathParameters?.registrationId,
      },
      'path'
    );
    logger.appendKeys({
      userId: input.userId,
      registrationId: input.registrationId,
    });
    const result = await logout(input, deps);
    if (result.aliasError) {
      logger.warn('JPush alias not cleared', {
        jpushCode: result.aliasError.code,
        reason: result.aliasError.message,
      });
      metrics.addMetric(METRIC.AliasClearFailed, MetricUnit.Count, 1);
    }
    if (result.scanTruncated) {
      logger.warn('History scan stopped at its page limit');
    }
    logger.info('User logged out', {
      alias: result.alias,
      aliasRestoredFor: result.aliasRestoredFor,
      withdrawn: result.withdrawn,
      withdrawFailures: result.withdrawFailures,
      restored: result.restored,
      sessionsLeft: result.sessionsLeft,
    });
    metrics.addMetric(METRIC.UserLoggedOut, MetricUnit.Count, 1);
    if (result.withdrawn.length > 0) {
      metrics.addMetric(
        METRIC.PushesWithdrawn,
        MetricUnit.Count,
        result.withdrawn.length
      );
    }
    if (result.restored.length > 0) {
      metrics.addMetric(
        METRIC.MessagesRestored,
        MetricUnit.Count,
        result.restored.length
      );
    }
    return jsonResponse(204);
  });

/** The Lambda entry point. */
export const handler = lambdaHandler(
  createHandler,
  tables,
  stepFunctions,
  jpush,
  ackKey,
  clock
);
