import { JPushError } from '../domain/jpush.ts';
import { logger } from './powertools.ts';

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
