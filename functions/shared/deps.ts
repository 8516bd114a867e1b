import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SFNClient } from '@aws-sdk/client-sfn';
import { SNSClient } from '@aws-sdk/client-sns';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { BatchedCids } from '../adapters/batched-cids.ts';
import { DynamoHistoryRepository } from '../adapters/dynamo-history-repository.ts';
import { DynamoMessageRepository } from '../adapters/dynamo-message-repository.ts';
import { DynamoOfflineStore } from '../adapters/dynamo-offline-store.ts';
import {
  DynamoDeviceRepository,
  DynamoSessionRepository,
} from '../adapters/dynamo-session-repository.ts';
import { DynamoWithdrawalOutbox } from '../adapters/dynamo-withdrawal-outbox.ts';
import { JPushClient } from '../adapters/jpush-client.ts';
import {
  DynamoPacing,
  PacedJPush,
  recordRateLimit,
} from '../adapters/jpush-pacing.ts';
import { InMemoryReportMode } from '../adapters/report-mode.ts';
import {
  readJPushCredentials,
  SecretsManagerAckKey,
} from '../adapters/secrets.ts';
import { SfnDeliveryStarter } from '../adapters/sfn-delivery-starter.ts';
import { SfnTaskCallbacks } from '../adapters/sfn-task-callbacks.ts';
import { SnsSmsSender } from '../adapters/sns-sms-sender.ts';
import type { JPushPort } from '../domain/jpush.ts';
import {
  type AckKeySource,
  type CidSource,
  type Clock,
  type DeliveryStarter,
  type DeviceRepository,
  type HistoryRepository,
  type MessageRepository,
  type OfflineStore,
  type ReportModeMemory,
  type SessionRepository,
  type SmsSender,
  systemClock,
  type TaskCallbacks,
  type WithdrawalOutbox,
} from '../domain/ports.ts';
import type { WithdrawDeps } from '../domain/withdraw.ts';
import { requireEnv } from './env.ts';
import { tracer } from './powertools.ts';

/** Everything a handler may need; each handler uses a few. */
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
  /** Whether the app has JPush's per-device status API. */
  readonly reportMode: ReportModeMemory;
  readonly ackKey: AckKeySource;
  readonly clock: Clock;
  /** Backoff of withdrawal retries. @default 2 s doubling, at most 5 min */
  readonly withdrawRetry?: WithdrawDeps['withdrawRetry'];
}

/** Names of the tables, as the stacks pass them in environment variables. */
export interface TableNames {
  readonly messages: string;
  readonly sessions: string;
  readonly devices: string;
  readonly offline: string;
  readonly history: string;
  readonly pacing: string;
  readonly withdrawals: string;
}

/**
 * Builds the repositories over one document client.
 * @param db the DynamoDB document client
 * @param tables the table name of each repository (a name is read only when
 * its repository is first used, so a function needs only its own tables)
 * @param clock ms clock of the JPush pacing windows
 */
export const dynamoRepositories = (
  db: DynamoDBDocumentClient,
  tables: () => Partial<TableNames>,
  clock: () => number = Date.now
) => {
  const name = (key: keyof TableNames) => {
    const value = tables()[key];
    if (!value) throw new Error(`No table name configured for ${key}.`);
    return value;
  };
  return lazily({
    messages: () => new DynamoMessageRepository(db, name('messages')),
    sessions: () => new DynamoSessionRepository(db, name('sessions')),
    devices: () => new DynamoDeviceRepository(db, name('devices')),
    offline: () => new DynamoOfflineStore(db, name('offline')),
    history: () => new DynamoHistoryRepository(db, name('history')),
    outbox: () => new DynamoWithdrawalOutbox(db, name('withdrawals')),
    pacing: () => new DynamoPacing(db, name('pacing'), clock),
  });
};

/** A document client that stores `undefined` fields as absent. */
export const documentClient = (client: DynamoDBClient) =>
  DynamoDBDocumentClient.from(client, {
    marshallOptions: { removeUndefinedValues: true },
  });

/**
 * The dependencies on AWS, from the function's environment variables.
 * Each part is built on first use: a function only needs the variables and
 * permissions of the parts it touches.
 */
export const lambdaDeps = (): AppDeps => {
  const db = documentClient(tracer.captureAWSv3Client(new DynamoDBClient({})));
  const env = (name: string) => () => requireEnv(name);
  const repositories = dynamoRepositories(db, () => ({
    messages: process.env.MESSAGES_TABLE_NAME,
    sessions: process.env.SESSIONS_TABLE_NAME,
    devices: process.env.DEVICES_TABLE_NAME,
    offline: process.env.OFFLINE_STORE_TABLE_NAME,
    history: process.env.HISTORY_TABLE_NAME,
    pacing: process.env.PACING_TABLE_NAME,
    withdrawals: process.env.WITHDRAWALS_TABLE_NAME,
  }));
  const jpush = lazily({
    client: (): JPushPort => {
      const secretArn = env('JPUSH_CREDENTIALS_SECRET_ARN')();
      return new PacedJPush(
        new JPushClient({
          credentials: () => readJPushCredentials(secretArn),
          pushBaseUrl: process.env.JPUSH_PUSH_BASE_URL,
          reportBaseUrl: process.env.JPUSH_REPORT_BASE_URL,
          deviceBaseUrl: process.env.JPUSH_DEVICE_BASE_URL,
          timeoutMs: Number(process.env.JPUSH_TIMEOUT_MS ?? 10_000),
          onRateLimit: recordRateLimit,
        }),
        repositories.pacing
      );
    },
  });
  const sfn = lazily({
    client: () => tracer.captureAWSv3Client(new SFNClient({})),
  });
  return lazily({
    messages: () => repositories.messages,
    sessions: () => repositories.sessions,
    devices: () => repositories.devices,
    offline: () => repositories.offline,
    history: () => repositories.history,
    outbox: () => repositories.outbox,
    deliveries: () =>
      new SfnDeliveryStarter(sfn.client, env('STATE_MACHINE_ARN')()),
    callbacks: () => new SfnTaskCallbacks(sfn.client),
    jpush: () => jpush.client,
    cids: () => new BatchedCids(jpush.client),
    sms: () =>
      new SnsSmsSender(
        tracer.captureAWSv3Client(new SNSClient({})),
        env('ON_CALL_TOPIC_ARN')
      ),
    reportMode: () => new InMemoryReportMode(),
    ackKey: () => new SecretsManagerAckKey(env('ACK_KEY_SECRET_ARN')()),
    clock: () => systemClock,
  });
};

/**
 * An object whose properties are built on first read, then kept.
 * @param factories one factory per property
 */
export const lazily = <T extends object>(
  factories: {
    [K in keyof T]: () => T[K];
  }
): T => {
  const cache = new Map<PropertyKey, unknown>();
  const target = {} as T;
  for (const key of Object.keys(factories) as (keyof T)[]) {
    Object.defineProperty(target, key, {
      enumerable: true,
      get: () => {
        if (!cache.has(key)) cache.set(key, factories[key]());
        return cache.get(key);
      },
    });
  }
  return target;
};
