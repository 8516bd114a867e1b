import { MetricUnit } from '@aws-lambda-powertools/metrics';
import * as z from 'zod';
import {
  type PushAttemptDeps,
  type PushAttemptResult,
  runPushAttempt,
} from '../domain/push-attempt.ts';
import { logJPushFailure } from '../shared/jpush-log.ts';
import { lambdaHandler } from '../shared/lambda.ts';
import { METRIC } from '../shared/names.ts';
import { logger, metrics } from '../shared/powertools.ts';
import { clock } from '../shared/wiring/clock.ts';
import { tables } from '../shared/wiring/dynamo.ts';
import { jpush } from '../shared/wiring/jpush.ts';
import { ackKey } from '../shared/wiring/keys.ts';
import { stepFunctions } from '../shared/wiring/sfn.ts';

/** What the state machine's Push step sends. */
export const PushEvent = z.object({
  messageId: z.string().min(1),
  delivery: z.number().int().min(1),
  attempt: z.number().int().min(1),
  taskToken: z.string().min(1),
});

/**
 * The Push step of the delivery cycle, run with a task token
 * (`.waitForTaskToken`): the step then waits for the ACK or its timeout,
 * unless the attempt ends it at once (nothing to push, paced, stored, ...).
 * Retryable JPush errors are rethrown with their class name
 * (`JPushServerError`, `JPushUnknownOutcomeError`), which the state
 * machine's Retry matches.
 */
export const createHandler =
  (deps: PushAttemptDeps) =>
  async (event: unknown): Promise<PushAttemptResult> => {
    const input = PushEvent.parse(event);
    logger.appendKeys({ messageId: input.messageId, attempt: input.attempt });
    try {
      const result = await runPushAttempt(input, deps);
      logger.info('Push attempt', {
        outcome: result.outcome,
        jpushMsgId: result.jpushMsgId,
        devices: result.targets.length,
      });
      if (result.outcome === 'pushed') {
        metrics.addMetric(METRIC.PushSent, MetricUnit.Count, 1);
      }
      if (result.outcome === 'paced') {
        metrics.addMetric(METRIC.PushPaced, MetricUnit.Count, 1);
        metrics.addMetric(
          METRIC.PacedWaitSeconds,
          MetricUnit.Seconds,
          result.waitSeconds ?? 0
        );
      }
      return result;
    } catch (error) {
      logJPushFailure('JPush call failed', error);
      throw error;
    }
  };

/** The Lambda entry point. */
export const handler = lambdaHandler(
  createHandler,
  tables,
  stepFunctions,
  jpush,
  ackKey,
  clock
);
