import { DeliveryStatus, type JPushPort, JPushRejectedError } from './jpush.ts';
import type { Clock, MessageRepository } from './ports.ts';
import type { PushAttemptResult } from './push-attempt.ts';

/** What the state machine's Check Report step passes. */
export interface CheckReportInput {
  readonly messageId: string;
  readonly delivery: number;
  readonly attempt: number;
  /** The attempt's push (none when the attempt did not push). */
  readonly push: Pick<PushAttemptResult, 'jpushMsgId' | 'targets' | 'pushDate'>;
}

/** What the Report API said about this attempt's push. */
export interface CheckReportResult {
  /** Registration ids JPush delivered to. */
  readonly delivered: string[];
  /** Registration ids JPush has not delivered to (yet). */
  readonly pending: string[];
}

/** What checking a report needs. */
export interface CheckReportDeps {
  readonly messages: MessageRepository;
  readonly jpush: JPushPort;
  readonly clock: Clock;
}

/** Codes JPush gives apps that may not use the per-device status API. */
const NOT_VIP_CODES = new Set([2003, 2006, 2007]);

const STATUS_TEXT: Record<number, string> = {
  [DeliveryStatus.delivered]: 'delivered',
  [DeliveryStatus.notDelivered]: 'not delivered',
  [DeliveryStatus.notThisApp]: 'not a device of this app',
  [DeliveryStatus.notTarget]: 'not a target',
  [DeliveryStatus.systemError]: 'JPush system error',
};

/**
 * Asks JPush's Report API whether this attempt's push reached each device.
 * Primary course: 1. per-device status (`/v3/status/message`)  2. record the
 * devices that have it (they are not pushed again) and the report in the
 * timeline  3. status `received` when any device has it.
 * Apps without the VIP status API fall back to the delivery counters of
 * `/v3/received/detail`: all devices count as delivered only when the
 * counters cover them all.
 * @throws JPushError (retryable ones are retried by the state machine)
 */
export const checkReport = async (
  input: CheckReportInput,
  deps: CheckReportDeps
): Promise<CheckReportResult> => {
  const { jpushMsgId, targets, pushDate } = input.push;
  if (jpushMsgId === undefined || targets.length === 0) {
    return { delivered: [], pending: [] };
  }
  const statuses = await perDeviceStatus(jpushMsgId, targets, pushDate, deps);
  const delivered = targets.filter(
    (rid) => statuses[rid] === DeliveryStatus.delivered
  );
  const pending = targets.filter((rid) => !delivered.includes(rid));
  const at = deps.clock.now().toISOString();
  const detail = targets
    .map((rid) => `${rid}: ${STATUS_TEXT[statuses[rid] ?? -1] ?? 'unknown'}`)
    .join(', ');
  await deps.messages.update(input.messageId, {
    putInMap: delivered.map((rid) => ({
      map: 'deliveredTo' as const,
      key: rid,
      value: at,
    })),
    timeline: [
      {
        at,
        event: 'report',
        detail: `attempt ${input.attempt}, JPush msg_id ${jpushMsgId}: delivered to ${delivered.length} of ${targets.length} device(s) (${detail})`,
      },
    ],
    when: { delivery: input.delivery },
  });
  if (delivered.length > 0) {
    await deps.messages.update(input.messageId, {
      set: { status: 'received' },
      when: { statusIn: ['sending'], delivery: input.delivery },
    });
  }
  return { delivered, pending };
};

const perDeviceStatus = async (
  msgId: string,
  targets: readonly string[],
  date: string | undefined,
  deps: CheckReportDeps
): Promise<Record<string, number>> => {
  try {
    return await deps.jpush.messageStatus(msgId, targets, date);
  } catch (error) {
    if (
      !(error instanceof JPushRejectedError) ||
      !NOT_VIP_CODES.has(error.code ?? 0)
    ) {
      throw error;
    }
    const [row] = await deps.jpush.receivedDetail([msgId]);
    const received =
      (row?.jpushReceived ?? 0) +
      (row?.iosApnsReceived ?? 0) +
      (row?.iosMsgReceived ?? 0);
    const status =
      received >= targets.length
        ? DeliveryStatus.delivered
        : DeliveryStatus.notDelivered;
    return Object.fromEntries(targets.map((rid) => [rid, status]));
  }
};
