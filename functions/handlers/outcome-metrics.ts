import {
  BatchProcessor,
  EventType,
  processPartialResponse,
} from '@aws-lambda-powertools/batch';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type {
  DynamoDBBatchResponse,
  DynamoDBRecord,
  DynamoDBStreamEvent,
} from 'aws-lambda';
import type { MessageStatus } from '../domain/message.ts';
import type { AppDeps } from '../shared/deps.ts';
import { lambdaHandler } from '../shared/lambda.ts';
import { logger, metrics } from '../shared/powertools.ts';

/** The metric each status change counts. */
const METRIC_OF: Partial<Record<MessageStatus, string>> = {
  stored: 'MessageStored',
  received: 'MessageReceived',
  acknowledged: 'MessageAcknowledged',
  escalated: 'MessageEscalated',
  expired: 'MessageExpired',
  failed: 'MessageFailed',
};

type Image = { status?: MessageStatus; ackedAt?: string; messageId?: string };

const imageOf = (image: Record<string, unknown> | undefined): Image =>
  image ? (unmarshall(image as Record<string, AttributeValue>) as Image) : {};

/**
 * The metrics one change of a message stands for: one per new status
 * (`MessageEscalated`, `MessageFailed`, ...), and `MessageAcknowledgedLate`
 * for an ACK that came after the message had ended.
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
    found.push('MessageAcknowledgedLate');
  }
  return found;
};

const processor = new BatchProcessor(EventType.DynamoDBStreams);

/**
 * Counts message outcomes from the messages table's stream, so that the
 * outcomes decided by the state machine's direct integrations (escalated,
 * failed) are counted like the ones decided in functions. Reports partial
 * batch failures.
 */
export const createHandler =
  (_deps: AppDeps) =>
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
      },
      processor
    );

/** The Lambda entry point. */
export const handler = lambdaHandler(createHandler);
