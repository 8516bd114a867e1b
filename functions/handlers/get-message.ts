import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { getMessage } from '../domain/get-message.ts';
import { jsonResponse, messageIdOf, withHttpErrors } from '../shared/http.ts';
import { lambdaHandler } from '../shared/lambda.ts';
import { logger } from '../shared/powertools.ts';
import { clock } from '../shared/wiring/clock.ts';
import { tables } from '../shared/wiring/dynamo.ts';

/** `GET /v1/messages/{messageId}`: status and timeline. */
export const createHandler = (deps: Parameters<typeof getMessage>[1]) =>
  withHttpErrors(async (event: APIGatewayProxyEventV2) => {
    const messageId = messageIdOf(event);
    logger.appendKeys({ messageId });
    return jsonResponse(200, await getMessage(messageId, deps));
  });

/** The Lambda entry point. */
export const handler = lambdaHandler(createHandler, tables, clock);
