import * as z from 'zod';
import {
  type CheckReportDeps,
  type CheckReportResult,
  checkReport,
} from '../domain/check-report.ts';
import { logJPushFailure } from '../shared/jpush-log.ts';
import { lambdaHandler } from '../shared/lambda.ts';
import { logger } from '../shared/powertools.ts';
import { clock } from '../shared/wiring/clock.ts';
import { tables } from '../shared/wiring/dynamo.ts';
import { jpush } from '../shared/wiring/jpush.ts';

const CheckReportEvent = z.object({
  messageId: z.string().min(1),
  delivery: z.number().int().min(1),
  attempt: z.number().int().min(1),
  maxAttempts: z.number().int().min(1),
  // How the Push step's wait ended (its Catch): States.Timeout, or the
  // error that remained after its retries.
  wait: z
    .object({ Error: z.string().optional(), Cause: z.string().optional() })
    .optional(),
});

/**
 * The Check Report step of the delivery cycle: after a wait without an ACK,
 * asks the Report API and decides what the cycle does next.
 */
export const createHandler =
  (deps: CheckReportDeps) =>
  async (event: unknown): Promise<CheckReportResult> => {
    const input = CheckReportEvent.parse(event);
    logger.appendKeys({ messageId: input.messageId, attempt: input.attempt });
    try {
      const result = await checkReport(input, deps);
      logger.info('Report checked', {
        action: result.action,
        delivered: result.delivered.length,
        pending: result.pending.length,
      });
      return result;
    } catch (error) {
      logJPushFailure('JPush report call failed', error);
      throw error;
    }
  };

/** The Lambda entry point. */
export const handler = lambdaHandler(createHandler, tables, jpush, clock);
