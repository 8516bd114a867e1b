import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { SendMessageInput } from '../domain/message.ts';
import { sendMessage } from '../domain/send-message.ts';
import type { AppDeps } from '../shared/deps.ts';
import { jsonResponse, parseJsonBody, withHttpErrors } from '../shared/http.ts';
import { lambdaHandler } from '../shared/lambda.ts';
import { logger, metrics } from '../shared/powertools.ts';

/** `POST /v1/messages`: accepts a message that must be received. */
export const createHandler = (deps: AppDeps) =>
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
export const handler = lambdaHandler(createHandler);
