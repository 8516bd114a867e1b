import { MetricUnit } from '@aws-lambda-powertools/metrics';
import * as z from 'zod';
import { METRIC } from '#shared/names';
import {
  type EscalateDeps,
  type EscalateResult,
  escalate,
} from '../domain/escalate.ts';
import { lambdaHandler } from '../shared/lambda.ts';
import { logger, metrics } from '../shared/powertools.ts';
import { clock } from '../shared/wiring/clock.ts';
import { tables } from '../shared/wiring/dynamo.ts';
import { smsLimits } from '../shared/wiring/sms-limits.ts';
import { sms } from '../shared/wiring/sns.ts';

const EscalateEvent = z.object({
  messageId: z.string().min(1),
  delivery: z.number().int().min(1),
  attempt: z.number().int().min(1),
});

/**
 * The Escalate step of the delivery cycle: marks the message escalated,
 * pages the on-call person or adds it to the open window's summary, and
 * SMSes the recipient, within the SMS limits.
 */
export const createHandler =
  (deps: EscalateDeps) =>
  async (event: unknown): Promise<EscalateOutput> => {
    const input = EscalateEvent.parse(event);
    logger.appendKeys({ messageId: input.messageId, attempt: input.attempt });
    const result = await escalate(input, deps);
    logger.info('Escalation', {
      outcome: result.outcome,
      sent: result.sent,
      failed: result.failed.map((f) => f.channel),
      suppressed: result.suppressed,
      // Every escalation of a window logs its id, which the summary names.
      ...(result.groupedIn === undefined ? {} : { windowId: result.groupedIn }),
    });
    if (result.sent.length > 0) {
      metrics.addMetric(METRIC.SmsSent, MetricUnit.Count, result.sent.length);
    }
    if (result.groupedIn !== undefined) {
      metrics.addMetric(METRIC.OnCallGrouped, MetricUnit.Count, 1);
    }
    if (result.suppressed.length > 0) {
      logger.warn('Escalation SMS held back by a limit', {
        suppressed: result.suppressed,
      });
      metrics.addMetric(
        METRIC.SmsSuppressed,
        MetricUnit.Count,
        result.suppressed.length
      );
    }
    if (result.failed.length > 0) {
      logger.warn('Escalation SMS failed', { failed: result.failed });
      metrics.addMetric(
        METRIC.SmsFailed,
        MetricUnit.Count,
        result.failed.length
      );
    }
    // What Step Functions keeps in the execution history: channels and
    // limits, not the SNS errors (which may quote a number).
    return {
      outcome: result.outcome,
      sent: result.sent,
      failed: result.failed.map((f) => f.channel),
      suppressed: result.suppressed,
      ...(result.groupedIn === undefined
        ? {}
        : { groupedIn: result.groupedIn }),
    };
  };

/** The Escalate step's result, as the execution history keeps it. */
export type EscalateOutput = Omit<EscalateResult, 'failed'> & {
  readonly failed: EscalateResult['failed'][number]['channel'][];
};

/** The Lambda entry point. */
export const handler = lambdaHandler(
  createHandler,
  tables,
  sms,
  smsLimits,
  clock
);
