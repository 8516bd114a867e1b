import { minutes, withRetries } from './escalate.ts';
import type {
  Clock,
  OnCallGroups,
  OnCallWindow,
  SmsBudget,
  SmsHoldReason,
  SmsSender,
} from './ports.ts';
import type { SmsSettings } from './sms-limits.ts';

/** What sending the on-call summaries needs. */
export interface OnCallSummaryDeps {
  readonly onCallGroups: OnCallGroups;
  readonly sms: SmsSender;
  readonly smsBudget: SmsBudget;
  readonly smsSettings: SmsSettings;
  readonly clock: Clock;
}

/** What one run did, by window id. */
export interface OnCallSummaryResult {
  readonly sent: string[];
  readonly suppressed: { windowId: string; reason: SmsHoldReason }[];
  readonly failed: { windowId: string; reason: string }[];
}

/** How many message ids a summary names. */
export const SUMMARY_IDS = 3;

/** How long one run may hold a window's summary before another may send it. */
const LEASE_MS = 60_000;

const hhmm = (iso: string) => iso.slice(11, 16);

/**
 * The summary SMS of a window: how many more escalations came after the
 * page, the first of their ids, and the window id (every escalation logs
 * it, and each message's timeline names it).
 */
export const summaryText = (
  window: OnCallWindow,
  settings: SmsSettings
): string => {
  const named = window.messageIds.slice(0, SUMMARY_IDS);
  const rest = window.count - named.length;
  const ids = `${named.join(', ')}${rest > 0 ? ` and ${rest} more` : ''}`;
  return `Push not acknowledged: ${window.count} more message(s) in the ${minutes(settings.onCallWindowSeconds)} after ${window.openedBy} (${hhmm(window.openedAt)}-${hhmm(window.closesAt)} UTC): ${ids}. Window ${window.windowId}.`;
};

/**
 * Sends the summary SMS of every on-call window that has closed with
 * escalations in it. Run on a schedule (every minute on AWS).
 * Primary course: 1. list the due windows  2. claim each (a lease, so two
 * runs never both send one, and a run that dies is taken over)  3. take it
 * from the daily cap  4. publish to the on-call topic  5. mark it sent.
 * A summary the daily cap holds back is settled as held (the escalations'
 * timelines already say they were grouped); one whose publish fails three
 * times is released, to be tried at the next run.
 */
export const sendOnCallSummaries = async (
  deps: OnCallSummaryDeps
): Promise<OnCallSummaryResult> => {
  const result: OnCallSummaryResult = { sent: [], suppressed: [], failed: [] };
  for (const due of await deps.onCallGroups.due(deps.clock.now())) {
    const window = await deps.onCallGroups.claim(
      due.windowId,
      deps.clock.now(),
      LEASE_MS
    );
    if (!window) continue;
    const held = await deps.smsBudget.take(
      undefined,
      deps.clock.now(),
      deps.smsSettings
    );
    if (held !== undefined) {
      result.suppressed.push({ windowId: window.windowId, reason: held });
      await deps.onCallGroups.settle(window.windowId, deps.clock.now());
      continue;
    }
    try {
      await withRetries(() =>
        deps.sms.toOnCall(summaryText(window, deps.smsSettings))
      );
      result.sent.push(window.windowId);
      await deps.onCallGroups.settle(window.windowId, deps.clock.now());
    } catch (error) {
      result.failed.push({
        windowId: window.windowId,
        reason:
          error instanceof Error
            ? `${error.name}: ${error.message}`
            : String(error),
      });
      await deps.onCallGroups.release(window.windowId);
    }
  }
  return result;
};
