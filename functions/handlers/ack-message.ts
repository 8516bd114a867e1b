import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import {
  AckInput,
  type AcknowledgeDeps,
  acknowledge,
  TokenOnlyAckInput,
} from '../domain/acknowledge.ts';
import {
  jsonResponse,
  messageIdOf,
  parseJsonBody,
  withHttpErrors,
} from '../shared/http.ts';
import { lambdaHandler } from '../shared/lambda.ts';
import { METRIC } from '../shared/names.ts';
import { logger, metrics } from '../shared/powertools.ts';
import { ackSettings } from '../shared/wiring/ack-settings.ts';
import { clock } from '../shared/wiring/clock.ts';
import { tables } from '../shared/wiring/dynamo.ts';
import { ackKey } from '../shared/wiring/keys.ts';
import { stepFunctions } from '../shared/wiring/sfn.ts';

/** `POST /v1/messages/{messageId}/ack`: the app confirms receipt. */
export const createHandler = (deps: AcknowledgeDeps) =>
  withHttpErrors(async (event: APIGatewayProxyEventV2) => {
    const messageId = messageIdOf(event);
    logger.appendKeys({ messageId });
    const { token, registrationId } = parseJsonBody(
      event,
      deps.ackRequiresDevice === false ? TokenOnlyAckInput : AckInput
    );
    const result = await acknowledge(
      {
        messageId,
        token,
        ...(registrationId === undefined ? {} : { registrationId }),
      },
      deps
    );
    // Outcomes are counted from the messages table's stream
    // (outcome-metrics.ts); this counts the ACK calls themselves.
    logger.info('ACK received', { result });
    metrics.addMetric(METRIC.AckReceived, MetricUnit.Count, 1);
    return jsonResponse(204);
  });

/** The Lambda entry point. */
export const handler = lambdaHandler(
  createHandler,
  tables,
  stepFunctions,
  ackKey,
  ackSettings,
  clock
);
