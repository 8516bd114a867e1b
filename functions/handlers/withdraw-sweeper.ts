import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { sweepWithdrawals } from '../domain/withdraw.ts';
import type { AppDeps } from '../shared/deps.ts';
import { lambdaHandler } from '../shared/lambda.ts';
import { logger, metrics } from '../shared/powertools.ts';

/**
 * Runs every minute (a schedule): tries the withdrawals JPush has not
 * confirmed yet, until it does or the push's time_to_live has passed.
 */
export const createHandler = (deps: AppDeps) => async (_event: unknown) => {
  const counts = await sweepWithdrawals(deps);
  const tried =
    counts.withdrawn + counts.refused + counts.retrying + counts.expired;
  if (tried > 0) logger.info('Withdrawals retried', { ...counts });
  if (counts.withdrawn > 0) {
    metrics.addMetric('PushesWithdrawn', MetricUnit.Count, counts.withdrawn);
  }
  if (counts.retrying > 0) {
    metrics.addMetric('WithdrawalsPending', MetricUnit.Count, counts.retrying);
  }
  if (counts.expired > 0) {
    metrics.addMetric('WithdrawalsAbandoned', MetricUnit.Count, counts.expired);
  }
  return counts;
};

/** The Lambda entry point. */
export const handler = lambdaHandler(createHandler);
