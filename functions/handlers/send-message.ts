import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { ValidationError } from '../domain/errors.ts';
import { SendMessageInput } from '../domain/message.ts';
import { type SendMessageDeps, sendMessage } from '../domain/send-message.ts';
import type { SendMessageResponse } from '../shared/api-schemas.ts';
import {
  callerOf,
  jsonResponse,
  parseJsonBody,
  withHttpErrors,
} from '../shared/http.ts';
import { lambdaHandler } from '../shared/lambda.ts';
import { METRIC } from '../shared/names.ts';
import { logger, metrics } from '../shared/powertools.ts';
import { clock } from '../shared/wiring/clock.ts';
import { tables } from '../shared/wiring/dynamo.ts';
import { stepFunctions } from '../shared/wiring/sfn.ts';
import { smsCountries } from '../shared/wiring/sms-limits.ts';

/** `POST /v1/messages`: accepts a message that must be received. */
export const createHandler = (deps: SendMessageDeps) =>
  withHttpErrors(async (event: APIGatewayProxyEventV2) => {
    const body = parseJsonBody(event, SendMessageInput);
    const input = withHeaderKey(body, event.headers?.['idempotency-key']);
    const result = await sendMessage(input, deps, callerOf(event));
    logger.appendKeys({ messageId: result.messageId });
    logger.info(result.created ? 'Message accepted' : 'Idempotent repeat', {
      status: result.status,
      to: input.to,
    });
    if (result.created) {
      metrics.addMetric(METRIC.MessageAccepted, MetricUnit.Count, 1);
    }
    const response = jsonResponse(202, {
      messageId: result.messageId,
      status: result.status,
    } satisfies SendMessageResponse);
    // A replay says so, as Stripe's API does; its body is the first answer's.
    return result.created
      ? response
      : {
          ...response,
          headers: { ...response.headers, 'idempotent-replayed': 'true' },
        };
  });

/**
 * The idempotency key of the `Idempotency-Key` header (IETF
 * draft-ietf-httpapi-idempotency-key-header) or of the body's field.
 * @throws ValidationError when both are given and differ, or the header is
 * not a key the body field would take
 */
const withHeaderKey = (
  input: SendMessageInput,
  header: string | undefined
): SendMessageInput => {
  if (header === undefined) return input;
  const key = SendMessageInput.shape.idempotencyKey.safeParse(header.trim());
  if (!key.success || key.data === undefined) {
    throw new ValidationError(
      'Invalid Idempotency-Key header: must be 1 to 200 characters.'
    );
  }
  if (input.idempotencyKey !== undefined && input.idempotencyKey !== key.data) {
    throw new ValidationError(
      "The Idempotency-Key header and the body's idempotencyKey differ: give one, or the same in both."
    );
  }
  return { ...input, idempotencyKey: key.data };
};

/** The Lambda entry point. */
export const handler = lambdaHandler(
  createHandler,
  tables,
  stepFunctions,
  smsCountries,
  clock
);
