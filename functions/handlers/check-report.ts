import { z } from 'zod';
import { type CheckReportResult, checkReport } from '../domain/check-report.ts';
import type { AppDeps } from '../shared/deps.ts';
import { logJPushFailure } from '../shared/jpush-log.ts';
import { lambdaHandler } from '../shared/lambda.ts';
import { logger } from '../shared/powertools.ts';

const CheckReportEvent = z.object({
  messageId: z.string().min(1),
  delivery: z.number().int().min(1),
  attempt: z.number().int().min(1),
  push: z.object({
    outcome: z.enum([
      'pushed',
      'no-target',
      'awaiting-ack',
      'done',
      'stored',
      'expired',
      'push-failed',
    ]),
    jpushMsgId: z.string().regex(/^\d+$/).optional(),
    targets: z.array(z.string()),
    pushDate: z.string().optional(),
  }),
});

/** The Check Report step of the delivery cycle. */
export const createHandler =
  (deps: AppDeps) =>
  async (event: unknown): Promise<CheckReportResult> => {
    const input = CheckReportEvent.parse(event);
    logger.appendKeys({ messageId: input.messageId, attempt: input.attempt });
    try {
      const result = await checkReport(input, deps);
      logger.info('Report checked', {
        jpushMsgId: input.push.jpushMsgId,
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
export const handler = lambdaHandler(createHandler);
