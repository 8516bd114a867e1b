import {
  BatchProcessor,
  EventType,
  processPartialResponse,
} from '@aws-lambda-powertools/batch';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type {
  DynamoDBBatchResponse,
  DynamoDBRecord,
  DynamoDBStreamEvent,
} from 'aws-lambda';
import type { MessageStatus } from '../domain/message.ts';
import { lambdaHandler } from '../shared/lambda.ts';
import { METRIC } from '../shared/names.ts';
import { logger, metrics } from '../shared/powertools.ts';
import { streamImage } from '../shared/stream-image.ts';

/** The metric each status change counts. */
const METRIC_OF: Partial<Record<MessageStatus, string>> = {
  stored: METRIC.MessageStored,
  received: METRIC.MessageReceived,
  acknowledged: METRIC.MessageAcknowledged,
  escalated: METRIC.MessageEscalated,
  expired: METRIC.MessageExpired,
  failed: METRIC.MessageFailed,
  cancelled: METRIC.MessageCancelled,
};

type Image = {
  status?: MessageStatus;
  ackedAt?: string;
  createdAt?: string;
  messageId?: string;
  timeline?: { event?: string }[];
};

const imageOf = (image: Record<string, unknown> | undefined): Image =>
  streamImage<Image>(image) ?? {};

const eventsIn = (image: Image, event: string): number =>
  (image.timeline ?? []).filter((e) => e.event === event).length;

/**
 * The metrics one change of a message stands for: one per new status
 * (`MessageEscalated`, `MessageFailed`, ...), `MessageAcknowledgedLate` for
 * an ACK that came after the message had ended, and `EscalationSmsFailed`
 * for each `sms-failed` event the change added to the timeline.
 * @param record a DynamoDB stream record of the messages table
 */
export const outcomeMetricsOf = (record: DynamoDBRecord): string[] => {
  const before = imageOf(record.dynamodb?.OldImage);
  const after = imageOf(record.dynamodb?.NewImage);
  const found: string[] = [];
  if (after.status && after.status !== before.status) {
    const metric = METRIC_OF[after.status];
    if (metric) found.push(metric);
  }
  if (
    after.ackedAt &&
    !before.ackedAt &&
    after.status !== 'acknowledged' &&
    before.status !== undefined
  ) {
    found.push(METRIC.MessageAcknowledgedLate);
  }
  // The timeline only grows (list_append): what the change added is the
  // difference of the counts.
  const smsFailed =
    eventsIn(after, 'sms-failed') - eventsIn(before, 'sms-failed');
  for (let i = 0; i < smsFailed; i++) found.push(METRIC.EscalationSmsFailed);
  return found;
};

/**
 * How long a message took from the API taking it to its confirmation (ms),
 * when this change made it acknowledged; otherwise (another change, a late
 * ACK, times that cannot be read) `undefined`.
 * @param record a DynamoDB stream record of the messages table
 */
export const timeToAcknowledgeOf = (
  record: DynamoDBRecord
): number | undefined => {
  const before = imageOf(record.dynamodb?.OldImage);
  const after = imageOf(record.dynamodb?.NewImage);
  if (after.status !== 'acknowledged' || before.status === 'acknowledged') {
    return undefined;
  }
  const ms =
    Date.parse(after.ackedAt ?? '') - Date.parse(after.createdAt ?? '');
  // Two clocks (the API's and the confirming function's) may disagree by
  // a little: never a negative time.
  return Number.isFinite(ms) ? Math.max(0, ms) : undefined;
};

const processor = new BatchProcessor(EventType.DynamoDBStreams);

/**
 * Counts message outcomes from the messages table's stream, so that every
 * outcome is counted from what was recorded on the message, whichever step
 * recorded it (an SMS that failed included), and measures each
 * acknowledged message's time from acceptance (`TimeToAcknowledge`).
 * Reports partial batch failures.
 */
export const createHandler =
  (_deps: object) =>
  async (event: DynamoDBStreamEvent): Promise<DynamoDBBatchResponse> =>
    processPartialResponse(
      event,
      async (record: DynamoDBRecord) => {
        for (const name of outcomeMetricsOf(record)) {
          metrics.addMetric(name, MetricUnit.Count, 1);
          logger.info('Message outcome', {
            metric: name,
            messageId: imageOf(record.dynamodb?.NewImage).messageId,
          });
        }
        const took = timeToAcknowledgeOf(record);
        if (took !== undefined) {
          metrics.addMetric(
            METRIC.TimeToAcknowledge,
            MetricUnit.Milliseconds,
            took
          );
        }
      },
      processor
    );

/** The Lambda entry point. */
export const handler = lambdaHandler(createHandler);
