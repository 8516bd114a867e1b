import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { sweepWithdrawals, type WithdrawDeps } from '../domain/withdraw.ts';
import { lambdaHandler } from '../shared/lambda.ts';
import { METRIC } from '../shared/names.ts';
import { logger, metrics } from '../shared/powertools.ts';
import { clock } from '../shared/wiring/clock.ts';
import { tables } from '../shared/wiring/dynamo.ts';
import { jpush } from '../shared/wiring/jpush.ts';
import { ackKey } from '../shared/wiring/keys.ts';

/** What the sweep uses. */
type Deps = WithdrawDeps;

/**
 * Runs every minute (a schedule): tries the withdrawals JPush has not
 * confirmed yet, until it does or the push's time_to_live has passed.
 */
export const createHandler = (deps: Deps) => async (_event: unknown) => {
  const counts = await sweepWithdrawals(deps);
  const tried =
    counts.withdrawn + counts.refused + counts.retrying + counts.expired;
  if (tried > 0) logger.info('Withdrawals retried', { ...counts });
  if (counts.withdrawn > 0) {
    metrics.addMetric(
      METRIC.PushesWithdrawn,
      MetricUnit.Count,
      counts.withdrawn
    );
  }
  if (counts.retrying > 0) {
    metrics.addMetric(
      METRIC.WithdrawalsPending,
      MetricUnit.Count,
      counts.retrying
    );
  }
  if (counts.expired > 0) {
    metrics.addMetric(
      METRIC.WithdrawalsAbandoned,
      MetricUnit.Count,
      counts.expired
    );
  }
  return counts;
};

/** The Lambda entry point. */
export const handler = lambdaHandler(
  createHandler,
  tables,
  jpush,
  ackKey,
  clock
);
