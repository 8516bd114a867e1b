import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { ValidationError } from '../domain/errors.ts';
import { SendMessageInput } from '../domain/message.ts';
import {
  SendBatchInput,
  type SendMessageDeps,
  sendBatch,
} from '../domain/send-message.ts';
import type { SendBatchResponse } from '../shared/api-schemas.ts';
import {
  callerOf,
  errorOf,
  jsonResponse,
  parseJsonBody,
  parseWith,
  withHttpErrors,
} from '../shared/http.ts';
import { lambdaHandler } from '../shared/lambda.ts';
import { METRIC } from '../shared/names.ts';
import { logger, metrics } from '../shared/powertools.ts';
import { clock } from '../shared/wiring/clock.ts';
import { tables } from '../shared/wiring/dynamo.ts';
import { stepFunctions } from '../shared/wiring/sfn.ts';
import { smsCountries } from '../shared/wiring/sms-limits.ts';

/**
 * The largest batch body: 100 messages of the largest size (2000 bytes of
 * body, 1000 of data, a title) fit, with room for JSON escapes. The local
 * server takes as much; API Gateway takes 10 MB.
 */
const MAX_BATCH_BODY_BYTES = 1024 * 1024;

/**
 * `POST /v1/messages/batch`: up to 100 messages, each as `POST
 * /v1/messages` takes one. `207 {"results": [...]}`, one per message in
 * order: `{"messageId", "status"}` (with `"replayed": true` for an
 * idempotent repeat) or `{"error": {"code", "message"}}` as the single
 * send would have answered it. A body that is not such a list (empty, more
 * than 100, not JSON) is `400` for the whole request, and so is an
 * `Idempotency-Key` header: in a batch each message carries its own key.
 */
export const createHandler = (deps: SendMessageDeps) =>
  withHttpErrors(async (event: APIGatewayProxyEventV2) => {
    if (event.headers?.['idempotency-key'] !== undefined) {
      throw new ValidationError(
        "The Idempotency-Key header names one message (POST /v1/messages); in a batch give each message its own body's idempotencyKey."
      );
    }
    const { messages } = parseJsonBody(
      event,
      SendBatchInput,
      MAX_BATCH_BODY_BYTES
    );
    const items = messages.map((item, i) => {
      try {
        return parseWith(SendMessageInput, item, `messages[${i}]`);
      } catch (error) {
        if (error instanceof ValidationError) return error;
        throw error;
      }
    });
    const outcomes = await sendBatch(items, deps, callerOf(event));
    const results = outcomes.map((outcome) =>
      outcome.ok
        ? {
            messageId: outcome.result.messageId,
            status: outcome.result.status,
            ...(outcome.result.created ? {} : { replayed: true as const }),
          }
        : errorOf(outcome.error).body
    );
    const created = outcomes.filter((o) => o.ok && o.result.created).length;
    const refused = outcomes.filter((o) => !o.ok).length;
    logger.info('Batch accepted', {
      messages: outcomes.length,
      created,
      replayed: outcomes.length - created - refused,
      refused,
    });
    if (created > 0) {
      metrics.addMetric(METRIC.MessageAccepted, MetricUnit.Count, created);
    }
    return jsonResponse(207, { results } satisfies SendBatchResponse);
  });

/** The Lambda entry point. */
export const handler = lambdaHandler(
  createHandler,
  tables,
  stepFunctions,
  smsCountries,
  clock
);
