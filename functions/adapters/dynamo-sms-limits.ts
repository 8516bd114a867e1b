import { createHash, randomBytes } from 'node:crypto';
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import {
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type {
  OnCallGroups,
  OnCallJoin,
  OnCallWindow,
  SmsBudget,
  SmsHoldReason,
} from '../domain/ports.ts';
import { type KeyOf, TABLE_KEYS, TTL_ATTRIBUTE } from '../shared/names.ts';
import { queryPartition } from './dynamo-query.ts';

/** How many message ids a window keeps for its summary. */
export const WINDOW_IDS_KEPT = 5;

const DAY_S = 86_400;
const ON_CALL = 'oncall';
const CURRENT = 'current';
const WINDOW = 'window#';

const key = (scope: string, slot: string): KeyOf<'smsLimits'> => ({
  [TABLE_KEYS.smsLimits.partition]: scope,
  [TABLE_KEYS.smsLimits.sort]: slot,
});

const epochS = (at: Date | string) => Math.ceil(new Date(at).getTime() / 1000);

const conditionFailed = (error: unknown) =>
  error instanceof ConditionalCheckFailedException ||
  (error instanceof Error && error.name === 'ConditionalCheckFailedException');

/**
 * The SMS limits table (partition `scope`, sort key `slot`):
 * - `number#<hash>` / `<UTC hour>`: SMS to one recipient number in that
 *   hour. The number is kept only as a SHA-256 hash: this table needs to
 *   tell numbers apart, not to know them.
 * - `daily` / `<UTC date>`: all SMS of that day.
 * - `oncall` / `current`: the open on-call window, and `oncall` /
 *   `window#<id>`: each window's count, first message ids and summary state.
 *
 * Every item expires (the table's TTL attribute) a day or two after it
 * stops mattering.
 */
export class DynamoSmsLimits implements SmsBudget, OnCallGroups {
  /**
   * @param db the document client
   * @param tableName the SMS limits table
   */
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly tableName: string
  ) {}

  async take(
    phoneNumber: string | undefined,
    at: Date,
    limits: { readonly perNumberPerHour: number; readonly dailyCap: number }
  ): Promise<SmsHoldReason | undefined> {
    const iso = at.toISOString();
    if (phoneNumber !== undefined) {
      const hash = createHash('sha256').update(phoneNumber).digest('base64url');
      const taken = await this.#count(
        key(`number#${hash}`, iso.slice(0, 13)),
        limits.perNumberPerHour,
        epochS(at) + DAY_S
      );
      if (!taken) return 'number-rate';
    }
    const taken = await this.#count(
      key('daily', iso.slice(0, 10)),
      limits.dailyCap,
      epochS(at) + 2 * DAY_S
    );
    return taken ? undefined : 'daily-cap';
  }

  /** Adds one to a counter unless it has reached `limit`. */
  async #count(
    item: KeyOf<'smsLimits'>,
    limit: number,
    expiresAtEpoch: number
  ): Promise<boolean> {
    if (limit <= 0) return false;
    try {
      await this.db.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: item,
          UpdateExpression: 'ADD #count :one SET #ttl = :ttl',
          ConditionExpression:
            'attribute_not_exists(#count) OR #count < :limit',
          ExpressionAttributeNames: {
            '#count': 'count',
            '#ttl': TTL_ATTRIBUTE,
          },
          ExpressionAttributeValues: {
            ':one': 1,
            ':limit': limit,
            ':ttl': expiresAtEpoch,
          },
        })
      );
      return true;
    } catch (error) {
      if (conditionFailed(error)) return false;
      throw error;
    }
  }

  async join(
    messageId: string,
    at: Date,
    windowMs: number
  ): Promise<OnCallJoin> {
    const now = at.toISOString();
    // Two rounds suffice: a lost race to open a window means another
    // escalation just opened one, which this one then joins.
    for (let round = 0; ; round++) {
      const current = await this.db.send(
        new GetCommand({
          TableName: this.tableName,
          Key: key(ON_CALL, CURRENT),
          ConsistentRead: true,
        })
      );
      const open = current.Item as
        | { windowId: string; closesAt: string }
        | undefined;
      if (
        open &&
        open.closesAt > now &&
        (await this.#add(open, messageId, now))
      ) {
        return {
          page: false,
          windowId: open.windowId,
          closesAt: open.closesAt,
        };
      }
      const opened = await this.#open(messageId, at, windowMs, open?.windowId);
      if (opened) return opened;
      if (round >= 3) {
        throw new Error('The on-call window changed hands too often; retry.');
      }
    }
  }

  /** Counts an escalation in an open window; false once it has closed. */
  async #add(
    window: { windowId: string },
    messageId: string,
    now: string
  ): Promise<boolean> {
    try {
      const out = await this.db.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: key(ON_CALL, `${WINDOW}${window.windowId}`),
          UpdateExpression: 'ADD #count :one',
          ConditionExpression: '#closesAt > :now AND #state = :open',
          ExpressionAttributeNames: {
            '#count': 'count',
            '#closesAt': 'closesAt',
            '#state': 'state',
          },
          ExpressionAttributeValues: {
            ':one': 1,
            ':now': now,
            ':open': 'open',
          },
          ReturnValues: 'UPDATED_NEW',
        })
      );
      const count = Number(out.Attributes?.count ?? 0);
      if (count <= WINDOW_IDS_KEPT) {
        await this.db.send(
          new UpdateCommand({
            TableName: this.tableName,
            Key: key(ON_CALL, `${WINDOW}${window.windowId}`),
            UpdateExpression: 'SET #ids = list_append(#ids, :id)',
            ExpressionAttributeNames: { '#ids': 'messageIds' },
            ExpressionAttributeValues: { ':id': [messageId] },
          })
        );
      }
      return true;
    } catch (error) {
      if (conditionFailed(error)) return false;
      throw error;
    }
  }

  /**
   * Opens a window, unless another escalation opened one since `seen` (the
   * window id read, if any) was read.
   */
  async #open(
    messageId: string,
    at: Date,
    windowMs: number,
    seen: string | undefined
  ): Promise<OnCallJoin | undefined> {
    const openedAt = at.toISOString();
    const closesAt = new Date(at.getTime() + windowMs).toISOString();
    const windowId = `w${openedAt.replace(/[-:.]/g, '')}-${randomBytes(3).toString('hex')}`;
    const expires = epochS(closesAt) + 2 * DAY_S;
    // The window first: a crash before `current` points at it leaves an
    // empty window, which no summary is sent for.
    await this.db.send(
      new PutCommand({
        TableName: this.tableName,
        Item: {
          ...key(ON_CALL, `${WINDOW}${windowId}`),
          windowId,
          openedAt,
          closesAt,
          openedBy: messageId,
          count: 0,
          messageIds: [],
          state: 'open',
          [TTL_ATTRIBUTE]: expires,
        },
      })
    );
    try {
      await this.db.send(
        new PutCommand({
          TableName: this.tableName,
          Item: {
            ...key(ON_CALL, CURRENT),
            windowId,
            closesAt,
            [TTL_ATTRIBUTE]: expires,
          },
          ConditionExpression:
            seen === undefined
              ? 'attribute_not_exists(#windowId)'
              : '#windowId = :seen',
          ExpressionAttributeNames: { '#windowId': 'windowId' },
          ...(seen === undefined
            ? {}
            : { ExpressionAttributeValues: { ':seen': seen } }),
        })
      );
      return { page: true, windowId, closesAt };
    } catch (error) {
      if (conditionFailed(error)) return undefined;
      throw error;
    }
  }

  async due(at: Date): Promise<OnCallWindow[]> {
    const now = at.toISOString();
    const items = await queryPartition(this.db, this.tableName, {
      name: TABLE_KEYS.smsLimits.partition,
      value: ON_CALL,
    });
    return items
      .filter((item) => String(item.slot).startsWith(WINDOW))
      .filter(
        (item) =>
          Number(item.count) > 0 &&
          String(item.closesAt) <= now &&
          (item.state === 'open' ||
            (item.state === 'sending' && String(item.leaseUntil) <= now))
      )
      .map(toWindow)
      .sort((a, b) => a.closesAt.localeCompare(b.closesAt));
  }

  async claim(
    windowId: string,
    at: Date,
    leaseMs: number
  ): Promise<OnCallWindow | undefined> {
    const now = at.toISOString();
    try {
      const out = await this.db.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: key(ON_CALL, `${WINDOW}${windowId}`),
          UpdateExpression: 'SET #state = :sending, #lease = :until',
          ConditionExpression:
            '#state = :open OR (#state = :sending AND #lease <= :now)',
          ExpressionAttributeNames: {
            '#state': 'state',
            '#lease': 'leaseUntil',
          },
          ExpressionAttributeValues: {
            ':open': 'open',
            ':sending': 'sending',
            ':now': now,
            ':until': new Date(at.getTime() + leaseMs).toISOString(),
          },
          ReturnValues: 'ALL_NEW',
        })
      );
      return out.Attributes ? toWindow(out.Attributes) : undefined;
    } catch (error) {
      if (conditionFailed(error)) return undefined;
      throw error;
    }
  }

  async settle(windowId: string, at: Date): Promise<void> {
    await this.db.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: key(ON_CALL, `${WINDOW}${windowId}`),
        UpdateExpression: 'SET #state = :sent, #sentAt = :at REMOVE #lease',
        ExpressionAttributeNames: {
          '#state': 'state',
          '#sentAt': 'sentAt',
          '#lease': 'leaseUntil',
        },
        ExpressionAttributeValues: { ':sent': 'sent', ':at': at.toISOString() },
      })
    );
  }

  async release(windowId: string): Promise<void> {
    try {
      await this.db.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: key(ON_CALL, `${WINDOW}${windowId}`),
          UpdateExpression: 'SET #state = :open REMOVE #lease',
          ConditionExpression: '#state = :sending',
          ExpressionAttributeNames: {
            '#state': 'state',
            '#lease': 'leaseUntil',
          },
          ExpressionAttributeValues: { ':open': 'open', ':sending': 'sending' },
        })
      );
    } catch (error) {
      if (!conditionFailed(error)) throw error;
    }
  }
}

const toWindow = (item: Record<string, unknown>): OnCallWindow => ({
  windowId: String(item.windowId),
  openedAt: String(item.openedAt),
  closesAt: String(item.closesAt),
  openedBy: String(item.openedBy),
  count: Number(item.count),
  messageIds: (item.messageIds as string[] | undefined) ?? [],
});
