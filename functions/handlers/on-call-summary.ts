import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { METRIC } from '#shared/names';
import {
  type OnCallSummaryDeps,
  type OnCallSummaryResult,
  sendOnCallSummaries,
} from '../domain/on-call-summary.ts';
import { lambdaHandler } from '../shared/lambda.ts';
import { logger, metrics } from '../shared/powertools.ts';
import { clock } from '../shared/wiring/clock.ts';
import { smsLimits } from '../shared/wiring/sms-limits.ts';
import { sms } from '../shared/wiring/sns.ts';

/**
 * Scheduled every minute: sends the summary SMS of each on-call window that
 * has closed with escalations in it.
 */
export const createHandler =
  (deps: OnCallSummaryDeps) =>
  async (_event: unknown): Promise<OnCallSummaryResult> => {
    const result = await sendOnCallSummaries(deps);
    if (result.sent.length > 0) {
      logger.info('On-call summaries sent', { windows: result.sent });
      metrics.addMetric(METRIC.SmsSent, MetricUnit.Count, result.sent.length);
    }
    if (result.suppressed.length > 0) {
      logger.warn('On-call summaries held back by a limit', {
        suppressed: result.suppressed,
      });
      metrics.addMetric(
        METRIC.SmsSuppressed,
        MetricUnit.Count,
        result.suppressed.length
      );
    }
    if (result.failed.length > 0) {
      logger.warn('On-call summaries failed; tried again next run', {
        failed: result.failed,
      });
      metrics.addMetric(
        METRIC.SmsFailed,
        MetricUnit.Count,
        result.failed.length
      );
    }
    return result;
  };

/** The Lambda entry point. */
export const handler = lambdaHandler(createHandler, sms, smsLimits, clock);
