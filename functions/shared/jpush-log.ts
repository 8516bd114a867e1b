import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { JPushCallObserver } from '../adapters/jpush-pacing.ts';
import { JPushError } from '../domain/jpush.ts';
import { JPUSH_FAMILY_DIMENSION, type JPushFamily, METRIC } from './names.ts';
import { logger, metrics } from './powertools.ts';

/**
 * Logs a failed JPush call with what JPush said (status, code, message,
 * rate limit), never the request: its payload holds the ACK token.
 * @param what what was being done, e.g. 'JPush push failed'
 * @param error anything thrown; only JPush errors are logged
 */
export const logJPushFailure = (what: string, error: unknown): void => {
  if (!(error instanceof JPushError)) return;
  logger.warn(what, {
    errorName: error.name,
    httpStatus: error.httpStatus,
    jpushCode: error.code,
    reason: error.message,
    rateLimit: error.rateLimit,
  });
};

/**
 * One metric with the call's family as a dimension. A single metric is
 * written at once as its own EMF line, so that the family does not become
 * a dimension of the invocation's other metrics; only calls that did not
 * succeed are counted, which keeps them few.
 */
const emit = (
  name: string,
  family: JPushFamily,
  unit: (typeof MetricUnit)[keyof typeof MetricUnit],
  value: number
): void => {
  const single = metrics.singleMetric();
  single.addDimension(JPUSH_FAMILY_DIMENSION, family);
  single.addMetric(name, unit, value);
};

/**
 * Counts the paced JPush calls that did not succeed, by family: the calls
 * the shared pacing held back with how long (`JPushPacingWait`), JPush's
 * 429s (`JPushRateLimited`) and its other errors (`JPushCallFailed`).
 */
export const jpushCallMetrics: JPushCallObserver = {
  held: (family, waitMs) =>
    emit(METRIC.JPushPacingWait, family, MetricUnit.Milliseconds, waitMs),
  rateLimited: (family) =>
    emit(METRIC.JPushRateLimited, family, MetricUnit.Count, 1),
  failed: (family) => emit(METRIC.JPushCallFailed, family, MetricUnit.Count, 1),
};
