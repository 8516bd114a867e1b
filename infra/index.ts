/**
 * The package's entry (`import { GuaranteedPushDelivery } from
 * 'jpush-guaranteed-delivery'`): the constructs, their props, and the names
 * a backend matches on (the outcome events' source and detail-types, the
 * metrics).
 */

export type { OutcomeEventDetail } from '../functions/domain/outcome-events.ts';
export {
  MESSAGE_STATUSES,
  METRIC,
  METRICS_NAMESPACE,
  type MessageStatus,
  OUTCOME_EVENT_SOURCE,
  OUTCOME_EVENT_TYPES,
  type OutcomeEventType,
  type OutcomeKind,
} from '../functions/shared/names.ts';
export type {
  PrivacyConfig,
  RouteThrottle,
  SmsConfig,
} from './config.ts';
export { DeliveryDashboard } from './constructs/dashboard.ts';
export {
  GuaranteedPushDelivery,
  type GuaranteedPushDeliveryProps,
} from './constructs/guaranteed-push-delivery.ts';
export {
  PushDeliveryData,
  type PushDeliveryDataProps,
} from './constructs/push-delivery-data.ts';
