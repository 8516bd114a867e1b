import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { DynamoHistoryRepository } from '../../adapters/dynamo-history-repository.ts';
import { DynamoMessageRepository } from '../../adapters/dynamo-message-repository.ts';
import { DynamoOfflineStore } from '../../adapters/dynamo-offline-store.ts';
import {
  DynamoDeviceRepository,
  DynamoSessionRepository,
} from '../../adapters/dynamo-session-repository.ts';
import { DynamoSmsLimits } from '../../adapters/dynamo-sms-limits.ts';
import { DynamoWithdrawalOutbox } from '../../adapters/dynamo-withdrawal-outbox.ts';
import { DynamoPacing } from '../../adapters/jpush-pacing.ts';
import type {
  DeviceRepository,
  HistoryRepository,
  MessageRepository,
  OfflineStore,
  SessionRepository,
  WithdrawalOutbox,
} from '../../domain/ports.ts';
import { optionalEnv } from '../env.ts';
import { DEFAULT_RETENTION_DAYS, ENV, TABLE_ENV } from '../names.ts';
import { lazily, once, type Part } from './part.ts';

/** Names of the tables, as the stacks pass them in environment variables. */
export interface TableNames {
  readonly messages: string;
  readonly sessions: string;
  readonly devices: string;
  readonly offline: string;
  readonly history: string;
  readonly pacing: string;
  readonly withdrawals: string;
  readonly smsLimits: string;
}

/** A document client that stores `undefined` fields as absent. */
export const documentClient = (client: DynamoDBClient) =>
  DynamoDBDocumentClient.from(client, {
    marshallOptions: { removeUndefinedValues: true },
  });

/**
 * Builds the repositories over one document client.
 * @param db the DynamoDB document client
 * @param tables the table name of each repository (a name is read only when
 * its repository is first used, so a function needs only its own tables)
 * @param clock ms clock of the JPush pacing windows
 * @param retentionDays days a message and its history are kept after it
 * ends (read when the messages or the history are first used)
 */
export const dynamoRepositories = (
  db: DynamoDBDocumentClient | (() => DynamoDBDocumentClient),
  tables: () => Partial<TableNames>,
  clock: () => number = Date.now,
  retentionDays: () => number = () => DEFAULT_RETENTION_DAYS
) => {
  const client = typeof db === 'function' ? db : () => db;
  const name = (key: keyof TableNames) => {
    const value = tables()[key];
    if (!value) throw new Error(`No table name configured for ${key}.`);
    return value;
  };
  return lazily({
    messages: () =>
      new DynamoMessageRepository(client(), name('messages'), retentionDays()),
    sessions: () => new DynamoSessionRepository(client(), name('sessions')),
    devices: () => new DynamoDeviceRepository(client(), name('devices')),
    offline: () => new DynamoOfflineStore(client(), name('offline')),
    history: () =>
      new DynamoHistoryRepository(client(), name('history'), retentionDays()),
    outbox: () => new DynamoWithdrawalOutbox(client(), name('withdrawals')),
    pacing: () => new DynamoPacing(client(), name('pacing'), clock),
    smsLimits: () => new DynamoSmsLimits(client(), name('smsLimits')),
  });
};

/** The function's one DynamoDB document client, built on first use. */
export const lambdaDocumentClient = once(() =>
  documentClient(new DynamoDBClient({}))
);

/** The repositories over the function's tables, named by its environment. */
export const lambdaRepositories = once(() =>
  dynamoRepositories(
    lambdaDocumentClient,
    () =>
      Object.fromEntries(
        Object.entries(TABLE_ENV).map(([key, envVar]) => [
          key,
          process.env[envVar],
        ])
      ),
    Date.now,
    () => retentionDaysOf(optionalEnv(ENV.retentionDays))
  )
);

/**
 * The retention the stack passes, in days.
 * @throws Error when it is not a whole number of at least 1
 */
export const retentionDaysOf = (value: string | undefined): number => {
  if (value === undefined) return DEFAULT_RETENTION_DAYS;
  const days = Number(value);
  if (!Number.isInteger(days) || days < 1) {
    throw new Error(
      `${ENV.retentionDays} must be a whole number of days of at least 1.`
    );
  }
  return days;
};

/** The tables the use cases read and write (DynamoDB). */
export interface Tables {
  readonly messages: MessageRepository;
  readonly sessions: SessionRepository;
  readonly devices: DeviceRepository;
  readonly offline: OfflineStore;
  readonly history: HistoryRepository;
  /** Withdrawals JPush has not confirmed yet. */
  readonly outbox: WithdrawalOutbox;
}

/**
 * The DynamoDB part: every repository, each built when first used (so a
 * function needs only the table names and grants of the ones it touches).
 */
export const tables: Part<Tables> = () => {
  const repositories = lambdaRepositories();
  return {
    messages: () => repositories.messages,
    sessions: () => repositories.sessions,
    devices: () => repositories.devices,
    offline: () => repositories.offline,
    history: () => repositories.history,
    outbox: () => repositories.outbox,
  };
};
