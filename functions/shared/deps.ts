import type { JPushPort } from '../domain/jpush.ts';
import type { OutcomeEventPublisher } from '../domain/outcome-events.ts';
import type {
  CidSource,
  Clock,
  DeliveryStarter,
  DeviceRepository,
  HistoryRepository,
  MessageRepository,
  OfflineStore,
  OnCallGroups,
  ReportModeMemory,
  SessionRepository,
  SigningKeySource,
  SmsBudget,
  SmsSender,
  TaskCallbacks,
  WithdrawalOutbox,
} from '../domain/ports.ts';
import type { SmsSettings } from '../domain/sms-limits.ts';
import type { WithdrawDeps } from '../domain/withdraw.ts';

// On Lambda each handler wires only the parts it uses (./wiring/*, passed to
// lambdaHandler); these are re-exported for the local mode and the tests.
export {
  documentClient,
  dynamoRepositories,
  type TableNames,
} from './wiring/dynamo.ts';

/**
 * Everything a handler may need; each handler uses a few. The local mode
 * builds one of these for every handler; on Lambda a handler gets only the
 * parts it names (see `lambdaHandler`).
 */
export interface AppDeps {
  readonly messages: MessageRepository;
  readonly sessions: SessionRepository;
  readonly devices: DeviceRepository;
  readonly offline: OfflineStore;
  readonly history: HistoryRepository;
  readonly deliveries: DeliveryStarter;
  readonly jpush: JPushPort;
  /** JPush cids, fetched in batches. */
  readonly cids: CidSource;
  /** Ends the delivery step's wait (Step Functions task tokens). */
  readonly callbacks: TaskCallbacks;
  /** Withdrawals JPush has not confirmed yet. */
  readonly outbox: WithdrawalOutbox;
  /** Escalation SMS. */
  readonly sms: SmsSender;
  /** The SMS limits: the daily cap and each number's hourly rate. */
  readonly smsBudget: SmsBudget;
  /** The on-call windows that group escalations into summaries. */
  readonly onCallGroups: OnCallGroups;
  readonly smsSettings: SmsSettings;
  /** The countries an `smsTo` may be in. */
  readonly smsCountries: readonly string[];
  /** Whether the app has JPush's per-device status API. */
  readonly reportMode: ReportModeMemory;
  readonly ackKey: SigningKeySource;
  /**
   * Whether an ACK must name its device (`ackRequiresDevice`).
   * @default true
   */
  readonly ackRequiresDevice?: boolean;
  /** Signs history cursors. */
  readonly cursorKeys: SigningKeySource;
  readonly clock: Clock;
  /** The outcome events' bus. */
  readonly outcomeEvents: OutcomeEventPublisher;
  /** Whether outcome events carry the message's title, body and data. */
  readonly eventsIncludeContent: boolean;
  /** Backoff of withdrawal retries. @default 2 s doubling, at most 5 min */
  readonly withdrawRetry?: WithdrawDeps['withdrawRetry'];
}
