import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import {
  type CancelMessageDeps,
  cancelMessage,
} from '../domain/cancel-message.ts';
import { jsonResponse, messageIdOf, withHttpErrors } from '../shared/http.ts';
import { lambdaHandler } from '../shared/lambda.ts';
import { logger } from '../shared/powertools.ts';
import { clock } from '../shared/wiring/clock.ts';
import { tables } from '../shared/wiring/dynamo.ts';
import { jpush } from '../shared/wiring/jpush.ts';
import { ackKey } from '../shared/wiring/keys.ts';
import { stepFunctions } from '../shared/wiring/sfn.ts';

/**
 * `DELETE /v1/messages/{messageId}`: cancels a message that has not ended.
 * `200 {"messageId", "status": "cancelled", ...}`, also when it was
 * cancelled before (repeating it is harmless); `404` for an unknown id;
 * `409` with its `status` when it already ended.
 */
export const createHandler = (deps: CancelMessageDeps) =>
  withHttpErrors(async (event: APIGatewayProxyEventV2) => {
    const messageId = messageIdOf(event);
    logger.appendKeys({ messageId });
    const result = await cancelMessage(messageId, deps);
    logger.info(result.repeated ? 'Cancel repeated' : 'Message cancelled', {
      deliveryStopped: result.deliveryStopped,
      pushesWithdrawn: result.pushesWithdrawn,
      withdrawalsPending: result.withdrawalsPending,
    });
    return jsonResponse(200, result);
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
