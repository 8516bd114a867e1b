/**
 * Names that the code emitting metrics and the infrastructure watching them
 * must agree on. Both import them from here, so an alarm cannot watch a
 * name that nothing emits.
 */

/** The CloudWatch namespace of every custom metric (Powertools' namespace). */
export const METRICS_NAMESPACE = 'PushDelivery';

/** The `service` dimension Powertools puts on every custom metric. */
export const SERVICE_NAME = 'push-delivery';

/** Metric names, PascalCase past-tense events. */
export const METRIC = {
  /** A message JPush refused for good (from the messages table's stream). */
  MessageFailed: 'MessageFailed',
  /**
   * An `sms-failed` event recorded on a message: an escalation SMS whose
   * publish failed three times (from the messages table's stream).
   */
  EscalationSmsFailed: 'EscalationSmsFailed',
  /**
   * SMS that failed in one run of the Escalate function, as that function
   * counts them (the same failures as `EscalationSmsFailed`).
   */
  SmsFailed: 'SmsFailed',
} as const;
