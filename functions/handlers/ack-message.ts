import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import * as z from 'zod';
import { type AcknowledgeDeps, acknowledge } from '../domain/acknowledge.ts';
import { RegistrationId } from '../domain/message.ts';
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

const token = z
  .string({ error: 'is required: the ackToken from the push extras' })
  .min(1, { error: 'must not be empty' })
  .max(200, { error: 'is too long to be an ACK token' });

/** The ACK of an app that names its device (required by default). */
const AckInput = z.strictObject({ token, registrationId: RegistrationId });

/** With `ackRequiresDevice` off: the token alone, as older apps send it. */
const TokenOnlyAckInput = z.strictObject({
  token,
  registrationId: RegistrationId.optional(),
});

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
