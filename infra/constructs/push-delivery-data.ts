import { RemovalPolicy, Validations } from 'aws-cdk-lib';
import {
  AttributeType,
  BillingMode,
  StreamViewType,
  Table,
  TableEncryption,
  type TableProps,
} from 'aws-cdk-lib/aws-dynamodb';
import { Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import {
  TABLE_KEYS,
  type TableName,
  TTL_ATTRIBUTE,
} from '../../functions/shared/names.ts';

/** Props of {@link PushDeliveryData}. */
export interface PushDeliveryDataProps {
  /**
   * What happens to the tables and secrets when they leave the stack.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
  /**
   * Point-in-time recovery of the tables worth restoring (messages,
   * sessions, devices, offline store, history, withdrawals; never the
   * pacing windows or the SMS counters).
   * @default true
   */
  readonly pointInTimeRecovery?: boolean;
}

/** A table's key schema, from the names the functions use. */
const keysOf = (
  table: TableName
): Pick<TableProps, 'partitionKey' | 'sortKey'> => {
  const keys: { partition: string; sort?: string } = TABLE_KEYS[table];
  return {
    partitionKey: { name: keys.partition, type: AttributeType.STRING },
    ...(keys.sort === undefined
      ? {}
      : { sortKey: { name: keys.sort, type: AttributeType.STRING } }),
  };
};

/**
 * The stateful part of guaranteed push delivery: its DynamoDB tables and
 * secrets. Kept apart from `GuaranteedPushDelivery` so that a team
 * can keep it in a data stack of its own (with termination protection)
 * while the stateless part is replaced freely. Never rename a construct ID
 * here once deployed: a new ID is a new (empty) table.
 */
export class PushDeliveryData extends Construct {
  /** Every message: content, policy, status, attempts and timeline. */
  public readonly messages: Table;
  /** Who is logged in where: userId + registrationId. */
  public readonly sessions: Table;
  /** Who is logged in on each device (one user per device). */
  public readonly devices: Table;
  /** Messages waiting for their recipient's next login. */
  public readonly offlineStore: Table;
  /** Each user's messages, sent and received, newest first. */
  public readonly history: Table;
  /** JPush's rate-limit windows, one item per API family, shared by all. */
  public readonly pacing: Table;
  /** Withdrawals JPush has not confirmed yet (the durable outbox). */
  public readonly withdrawals: Table;
  /** SMS counters (per number and hour, per day) and the on-call windows. */
  public readonly smsLimits: Table;
  /** JPush appKey and masterSecret, filled in by the operator. */
  public readonly jpushCredentials: Secret;
  /** Key that signs ACK tokens (HMAC-SHA256). */
  public readonly ackSigningKey: Secret;
  /** Keys that sign history cursors (HMAC-SHA256), versioned. */
  public readonly historyCursorKey: Secret;

  /** The tables, by the name the functions know them by. */
  public readonly tables: Readonly<Record<TableName, Table>>;

  constructor(scope: Construct, id: string, props: PushDeliveryDataProps = {}) {
    super(scope, id);
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    const recovery = props.pointInTimeRecovery ?? true;
    const defaults: Omit<TableProps, 'partitionKey'> = {
      billingMode: BillingMode.PAY_PER_REQUEST,
      encryption: TableEncryption.AWS_MANAGED,
      pointInTimeRecoverySpecification: {
        pointInTimeRecoveryEnabled: recovery,
      },
      removalPolicy,
    };

    this.messages = new Table(this, 'MessagesTable', {
      ...defaults,
      ...keysOf('messages'),
      // Status changes feed the outcome metrics (escalated, failed, ...).
      stream: StreamViewType.NEW_AND_OLD_IMAGES,
      // Kept the retention after the message ends (README, "Privacy").
      timeToLiveAttribute: TTL_ATTRIBUTE,
    });
    this.sessions = new Table(this, 'SessionsTable', {
      ...defaults,
      ...keysOf('sessions'),
    });
    this.devices = new Table(this, 'DevicesTable', {
      ...defaults,
      ...keysOf('devices'),
    });
    this.offlineStore = new Table(this, 'OfflineStoreTable', {
      ...defaults,
      ...keysOf('offline'),
      timeToLiveAttribute: TTL_ATTRIBUTE,
    });
    this.history = new Table(this, 'HistoryTable', {
      ...defaults,
      ...keysOf('history'),
      // Kept the retention after the message's life ends.
      timeToLiveAttribute: TTL_ATTRIBUTE,
    });

    this.pacing = new Table(this, 'PacingTable', {
      ...defaults,
      ...keysOf('pacing'),
      // Windows last a minute: nothing here is worth restoring.
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: false },
    });
    Validations.of(this.pacing).acknowledge({
      id: 'AwsSolutions-DDB3',
      reason:
        "JPush's rate-limit windows last a minute; a restored copy would be wrong, an empty table is right.",
    });
    this.withdrawals = new Table(this, 'WithdrawalsTable', {
      ...defaults,
      ...keysOf('withdrawals'),
      timeToLiveAttribute: TTL_ATTRIBUTE,
    });

    this.smsLimits = new Table(this, 'SmsLimitsTable', {
      ...defaults,
      ...keysOf('smsLimits'),
      timeToLiveAttribute: TTL_ATTRIBUTE,
      // Counters of the hour and the day, and the on-call windows.
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: false },
    });
    Validations.of(this.smsLimits).acknowledge({
      id: 'AwsSolutions-DDB3',
      reason:
        'SMS counters of the hour and the day and 5-minute on-call windows; a restored copy would be stale, an empty table only lets the limits start again.',
    });

    this.jpushCredentials = new Secret(this, 'JPushCredentials', {
      description:
        'JPush credentials as JSON {"appKey": "...", "masterSecret": "..."}; set with aws secretsmanager put-secret-value after the first deploy.',
      generateSecretString: {
        secretStringTemplate: JSON.stringify({ appKey: 'unset' }),
        generateStringKey: 'masterSecret',
        excludePunctuation: true,
      },
      removalPolicy,
    });
    this.ackSigningKey = new Secret(this, 'AckSigningKey', {
      description:
        'HMAC-SHA256 key that signs the ACK tokens carried in pushes.',
      generateSecretString: { passwordLength: 64, excludePunctuation: true },
      removalPolicy,
    });
    // A key ring from the start: {"current": "1", "key1": "..."} (README,
    // "Rotating the keys").
    this.historyCursorKey = new Secret(this, 'HistoryCursorKey', {
      description:
        'HMAC-SHA256 keys that sign history page cursors, as JSON {"current": "<version>", "key<version>": "..."}.',
      generateSecretString: {
        secretStringTemplate: JSON.stringify({ current: '1' }),
        generateStringKey: 'key1',
        passwordLength: 64,
        excludePunctuation: true,
      },
      removalPolicy,
    });
    Validations.of(this.historyCursorKey).acknowledge({
      id: 'AwsSolutions-SMG4',
      reason:
        'A new key version is added by hand next to the old one (README, "Rotating the keys"); a rotation function that replaced the value would end every cursor in use.',
    });
    Validations.of(this.jpushCredentials).acknowledge({
      id: 'AwsSolutions-SMG4',
      reason:
        'JPush credentials are issued and rotated in the JPush console; the operator puts the new pair here.',
    });
    Validations.of(this.ackSigningKey).acknowledge({
      id: 'AwsSolutions-SMG4',
      reason:
        'A new key version is added by hand next to the old one, which stays accepted until the messages it signed have ended (README, "Rotating the keys"); a rotation function that replaced the value would break every token in flight.',
    });
    this.tables = {
      messages: this.messages,
      sessions: this.sessions,
      devices: this.devices,
      offline: this.offlineStore,
      history: this.history,
      pacing: this.pacing,
      withdrawals: this.withdrawals,
      smsLimits: this.smsLimits,
    };
  }
}
