import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { LoginInput, login, type SessionDeps } from '../domain/sessions.ts';
import type { LoginResponse } from '../shared/api-schemas.ts';
import { jsonResponse, parseJsonBody, withHttpErrors } from '../shared/http.ts';
import { lambdaHandler } from '../shared/lambda.ts';
import { METRIC } from '../shared/names.ts';
import { logger, metrics } from '../shared/powertools.ts';
import { clock } from '../shared/wiring/clock.ts';
import { tables } from '../shared/wiring/dynamo.ts';
import { jpush } from '../shared/wiring/jpush.ts';
import { ackKey } from '../shared/wiring/keys.ts';
import { stepFunctions } from '../shared/wiring/sfn.ts';

/**
 * `POST /v1/sessions`: a user logged in on a device. Answers
 * `200 {"drained", "alias": "bound" | "failed", "aliasError"?}`; a failed
 * alias binding does not fail the login.
 */
export const createHandler = (deps: SessionDeps) =>
  withHttpErrors(async (event: APIGatewayProxyEventV2) => {
    const input = parseJsonBody(event, LoginInput);
    logger.appendKeys({
      userId: input.userId,
      registrationId: input.registrationId,
    });
    const result = await login(input, deps);
    if (result.replaced) {
      logger.info('Previous user signed out of the device', {
        previousUserId: result.replaced.userId,
        withdrawn: result.replaced.withdrawn,
        withdrawFailures: result.replaced.withdrawFailures,
        restored: result.replaced.restored,
        scanTruncated: result.replaced.scanTruncated,
      });
      metrics.addMetric(METRIC.SessionReplaced, MetricUnit.Count, 1);
    }
    if (result.aliasError) {
      logger.warn('JPush alias not bound', {
        jpushCode: result.aliasError.code,
        reason: result.aliasError.message,
      });
      metrics.addMetric(METRIC.AliasBindFailed, MetricUnit.Count, 1);
    }
    logger.info('User logged in', {
      platform: input.platform,
      drained: result.drained,
      alias: result.alias,
    });
    metrics.addMetric(METRIC.UserLoggedIn, MetricUnit.Count, 1);
    metrics.addMetric(METRIC.MessagesDrained, MetricUnit.Count, result.drained);
    return jsonResponse(200, {
      drained: result.drained,
      alias: result.alias,
      ...(result.aliasError ? { aliasError: result.aliasError } : {}),
    } satisfies LoginResponse);
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
