import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type {
  DynamoDBBatchResponse,
  DynamoDBRecord,
  DynamoDBStreamEvent,
} from 'aws-lambda';
import {
  type MessageImage,
  type OutcomeEvent,
  outcomeEventsOf,
} from '../domain/outcome-events.ts';
import { lambdaHandler } from '../shared/lambda.ts';
import { METRIC } from '../shared/names.ts';
import { logger, metrics } from '../shared/powertools.ts';
import { streamImage } from '../shared/stream-image.ts';
import {
  type OutcomeEventDeps,
  outcomeEvents,
} from '../shared/wiring/events.ts';

/**
 * The outcome events of one stream record of the messages table.
 * @param record a DynamoDB stream record (NEW_AND_OLD_IMAGES)
 */
export const outcomeEventsOfRecord = (
  record: DynamoDBRecord,
  includeContent = false
): OutcomeEvent[] =>
  outcomeEventsOf(
    streamImage<MessageImage>(record.dynamodb?.OldImage),
    streamImage<MessageImage>(record.dynamodb?.NewImage),
    { includeContent }
  );

/**
 * Puts every status change of a message on the outcome events' bus, from
 * the messages table's stream, whichever step made the change.
 *
 * In order and at least once: the records are published one after the
 * other, and at the first that cannot be, the batch stops and reports that
 * record as its failure. Lambda then gives that record and every later one
 * of the shard again, so nothing is skipped and nothing published before an
 * earlier change of the same message; an event already published may come
 * again, with the same `eventId`.
 */
export const createHandler =
  (deps: OutcomeEventDeps) =>
  async (event: DynamoDBStreamEvent): Promise<DynamoDBBatchResponse> => {
    for (const record of event.Records) {
      const events = outcomeEventsOfRecord(record, deps.eventsIncludeContent);
      let published = 0;
      try {
        published = await deps.outcomeEvents.publish(events);
      } catch (error) {
        logger.warn('Outcome events not published', {
          error: error instanceof Error ? error.message : String(error),
          messageId: events[0]?.detail.messageId,
        });
      }
      if (published > 0) {
        metrics.addMetric(
          METRIC.OutcomeEventPublished,
          MetricUnit.Count,
          published
        );
      }
      if (published < events.length) {
        metrics.addMetric(METRIC.OutcomeEventFailed, MetricUnit.Count, 1);
        const sequenceNumber = record.dynamodb?.SequenceNumber;
        // Without its sequence number the record cannot be named: the whole
        // batch is given again.
        if (!sequenceNumber) throw new Error('Outcome events not published.');
        return { batchItemFailures: [{ itemIdentifier: sequenceNumber }] };
      }
    }
    return { batchItemFailures: [] };
  };

/** The Lambda entry point. */
export const handler = lambdaHandler(createHandler, outcomeEvents);
