import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { SendMessageInput } from '../domain/message.ts';
import { type SendMessageDeps, sendMessage } from '../domain/send-message.ts';
import { jsonResponse, parseJsonBody, withHttpErrors } from '../shared/http.ts';
import { lambdaHandler } from '../shared/lambda.ts';
import { logger, metrics } from '../shared/powertools.ts';
import { clock } from '../shared/wiring/clock.ts';
import { tables } from '../shared/wiring/dynamo.ts';
import { stepFunctions } from '../shared/wiring/sfn.ts';

/** `POST /v1/messages`: accepts a message that must be received. */
export const createHandler = (deps: SendMessageDeps) =>
  withHttpErrors(async (event: APIGatewayProxyEventV2) => {
    const input = parseJsonBody(event, SendMessageInput);
    const result = await sendMessage(input, deps);
    logger.appendKeys({ messageId: result.messageId });
    logger.info(result.created ? 'Message accepted' : 'Idempotent repeat', {
      status: result.status,
      to: input.to,
    });
    if (result.created) {
      metrics.addMetric('MessageAccepted', MetricUnit.Count, 1);
    }
    return jsonResponse(202, {
      messageId: result.messageId,
      status: result.status,
    });
  });

/** The Lambda entry point. */
export const handler = lambdaHandler(
  createHandler,
  tables,
  stepFunctions,
  clock
);
