import { AsyncLocalStorage } from 'node:async_hooks';
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import {
  type DynamoDBDocumentClient,
  GetCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import {
  type CallOptions,
  type DeviceUpdate,
  JPushError,
  JPushNoTargetError,
  JPushPacedError,
  type JPushPort,
  JPushRateLimitError,
  type Platform,
  type PushPayload,
  type RateLimit,
} from '../domain/jpush.ts';
import type { JPushFamily, KeyOf } from '../shared/names.ts';

/** The API families JPush rate-limits separately (reference §1.5). */
export type PacedFamily = JPushFamily;

/**
 * Told what became of the paced calls that did not succeed, e.g. to count
 * them: each method is called at most once per call, and must not throw.
 */
export interface JPushCallObserver {
  /** The shared pacing held a call back for `waitMs` (it was not made). */
  held(family: PacedFamily, waitMs: number): void;
  /** JPush answered a call 429. */
  rateLimited(family: PacedFamily): void;
  /**
   * JPush answered a call with another error, or its answer was lost
   * (not 1011, which says JPush knows none of the devices).
   */
  failed(family: PacedFamily, error: JPushError): void;
}

/** A reservation: a call may go, with what the shared window said. */
export type Reservation =
  | { readonly go: true; readonly window?: WindowView }
  | { readonly go: false; readonly waitMs: number };

/** The shared view of one family's window. */
export interface WindowView {
  /** Calls left in the window after this one. */
  readonly remaining: number;
  /** ms epoch at which JPush opens the next window. */
  readonly endsAt: number;
}

/** Where the windows of every function meet. */
export interface PacingStore {
  /** Takes one call from the family's window, or says how long to wait. */
  reserve(family: PacedFamily): Promise<Reservation>;
  /** Records what JPush's `X-Rate-Limit-*` headers said after a call. */
  observe(
    family: PacedFamily,
    rateLimit: RateLimit,
    reserved?: WindowView
  ): Promise<void>;
}

/** JPush's window (reference §1.5). */
const WINDOW_MS = 60_000;
/** Reset times within this of each other are the same window. */
const SAME_WINDOW_MS = 2_000;
/** A 429 without headers: assume the window opens this much later. */
const UNKNOWN_RESET_SECONDS = 5;

/**
 * JPush's rate-limit windows in one DynamoDB item per family (partition key
 * `family`): `remaining`, `windowEndsAt` (ms epoch) and `limit`, shared by
 * every concurrent invocation.
 * - A call reserves a slot with one conditional decrement (one write).
 * - An ended window is opened again at the last known limit, so a burst is
 *   paced from its first call; only the very first window, before JPush
 *   ever said its limit, is optimistic.
 * - JPush's headers correct the item when they disagree with it: another
 *   window (its reset time differs) or fewer calls left than the item says.
 *   A 429 sets `remaining` to 0 until the reset.
 */
export class DynamoPacing implements PacingStore {
  /**
   * @param db the document client
   * @param tableName the pacing table
   * @param now ms clock
   */
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly now: () => number = Date.now
  ) {}

  async reserve(family: PacedFamily): Promise<Reservation> {
    for (let round = 0; round < 3; round++) {
      const now = this.now();
      const taken = await this.#update(family, {
        UpdateExpression: 'SET #r = #r - :one',
        ConditionExpression: '#r > :zero AND #w > :now',
        ExpressionAttributeNames: { '#r': 'remaining', '#w': 'windowEndsAt' },
        ExpressionAttributeValues: { ':one': 1, ':zero': 0, ':now': now },
      });
      if (taken) return { go: true, window: viewOf(taken) };
      const { Item } = await this.db.send(
        new GetCommand({
          TableName: this.tableName,
          Key: { family } satisfies KeyOf<'pacing'>,
          ConsistentRead: true,
        })
      );
      if (!Item) return { go: true };
      const endsAt = Number(Item.windowEndsAt);
      if (endsAt > now) return { go: false, waitMs: endsAt - now };
      const limit = Number(Item.limit);
      if (!(limit > 0)) return { go: true };
      // The window ended: open the next one at the limit JPush gave.
      const opened = await this.#update(family, {
        UpdateExpression: 'SET #r = :left, #w = :ends',
        ConditionExpression: '#w <= :now',
        ExpressionAttributeNames: { '#r': 'remaining', '#w': 'windowEndsAt' },
        ExpressionAttributeValues: {
          ':left': limit - 1,
          ':ends': now + WINDOW_MS,
          ':now': now,
        },
      });
      if (opened) return { go: true, window: viewOf(opened) };
      // Someone else opened it first: take a slot of theirs.
    }
    return { go: true };
  }

  async observe(
    family: PacedFamily,
    rateLimit: RateLimit,
    reserved?: WindowView
  ): Promise<void> {
    if (rateLimit.remaining === undefined) return;
    const endsAt =
      this.now() + (rateLimit.resetSeconds ?? UNKNOWN_RESET_SECONDS) * 1000;
    if (
      reserved &&
      Math.abs(reserved.endsAt - endsAt) <= SAME_WINDOW_MS &&
      reserved.remaining <= rateLimit.remaining
    ) {
      return; // The item already says as much.
    }
    await this.#update(family, {
      UpdateExpression: `SET #r = :r, #w = :w${rateLimit.limit === undefined ? '' : ', #l = :l'}`,
      ConditionExpression:
        'attribute_not_exists(#r) OR #w < :low OR #w > :high OR #r > :r',
      ExpressionAttributeNames: {
        '#r': 'remaining',
        '#w': 'windowEndsAt',
        ...(rateLimit.limit === undefined ? {} : { '#l': 'limit' }),
      },
      ExpressionAttributeValues: {
        ':r': rateLimit.remaining,
        ':w': endsAt,
        ':low': endsAt - SAME_WINDOW_MS,
        ':high': endsAt + SAME_WINDOW_MS,
        ...(rateLimit.limit === undefined ? {} : { ':l': rateLimit.limit }),
      },
    });
  }

  async #update(
    family: PacedFamily,
    params: Pick<
      ConstructorParameters<typeof UpdateCommand>[0],
      | 'UpdateExpression'
      | 'ConditionExpression'
      | 'ExpressionAttributeNames'
      | 'ExpressionAttributeValues'
    >
  ): Promise<Record<string, unknown> | undefined> {
    try {
      const { Attributes } = await this.db.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { family } satisfies KeyOf<'pacing'>,
          ReturnValues: 'ALL_NEW',
          ...params,
        })
      );
      return Attributes;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return undefined;
      throw error;
    }
  }
}

const viewOf = (item: Record<string, unknown>): WindowView => ({
  remaining: Number(item.remaining),
  endsAt: Number(item.windowEndsAt),
});

/** The headers of the call now running, per async context. */
const calls = new AsyncLocalStorage<{ rateLimit?: RateLimit }>();

/**
 * Give this to the JPush client as its `onRateLimit`: it hands the
 * `X-Rate-Limit-*` headers of every response to the {@link PacedJPush} call
 * that made it, whatever the call returns.
 * @param rateLimit what the headers said
 */
export const recordRateLimit = (rateLimit: RateLimit): void => {
  const slot = calls.getStore();
  if (slot) slot.rateLimit = rateLimit;
};

/**
 * A JPush client that waits its turn: every call first reserves a slot in
 * its family's shared window, and a closed window throws
 * {@link JPushPacedError} (a {@link JPushRateLimitError} that never reached
 * JPush) with the seconds until it opens. What JPush's headers say after
 * each call, successful or not, goes back into the shared window.
 */
export class PacedJPush implements JPushPort {
  /**
   * @param inner the JPush client
   * @param pacing the shared windows
   * @param observer told of calls held back, 429s and other failures
   */
  constructor(
    private readonly inner: JPushPort,
    private readonly pacing: PacingStore,
    private readonly observer?: JPushCallObserver
  ) {}

  async #paced<T>(family: PacedFamily, call: () => Promise<T>): Promise<T> {
    const reservation = await this.pacing.reserve(family);
    if (!reservation.go) {
      const resetSeconds = Math.max(1, Math.ceil(reservation.waitMs / 1000));
      this.observer?.held(family, reservation.waitMs);
      throw new JPushPacedError(
        `JPush's ${family} rate limit is used up for ${resetSeconds} s more (shared pacing; not sent)`,
        { rateLimit: { remaining: 0, resetSeconds } }
      );
    }
    const slot: { rateLimit?: RateLimit } = {};
    try {
      const result = await calls.run(slot, call);
      const rateLimit =
        slot.rateLimit ??
        (result as { rateLimit?: RateLimit } | undefined)?.rateLimit;
      if (rateLimit) {
        await this.pacing.observe(family, rateLimit, reservation.window);
      }
      return result;
    } catch (error) {
      if (error instanceof JPushRateLimitError) {
        this.observer?.rateLimited(family);
        await this.pacing.observe(family, {
          ...(slot.rateLimit ?? error.rateLimit),
          remaining: 0,
        });
      } else if (error instanceof JPushError) {
        if (!(error instanceof JPushNoTargetError)) {
          this.observer?.failed(family, error);
        }
        const rateLimit = slot.rateLimit ?? error.rateLimit;
        if (rateLimit) {
          await this.pacing.observe(family, rateLimit, reservation.window);
        }
      }
      throw error;
    }
  }

  push(payload: PushPayload, options?: CallOptions) {
    return this.#paced('push', () => this.inner.push(payload, options));
  }

  getCids(count?: number, options?: CallOptions) {
    return this.#paced('push', () => this.inner.getCids(count, options));
  }

  withdraw(msgId: string, options?: CallOptions) {
    return this.#paced('push', () => this.inner.withdraw(msgId, options));
  }

  messageStatus(
    msgId: string,
    registrationIds: readonly string[],
    date?: string,
    options?: CallOptions
  ) {
    return this.#paced('report', () =>
      this.inner.messageStatus(msgId, registrationIds, date, options)
    );
  }

  receivedDetail(msgIds: readonly string[], options?: CallOptions) {
    return this.#paced('report', () =>
      this.inner.receivedDetail(msgIds, options)
    );
  }

  getDevice(registrationId: string, options?: CallOptions) {
    return this.#paced('device', () =>
      this.inner.getDevice(registrationId, options)
    );
  }

  updateDevice(
    registrationId: string,
    update: DeviceUpdate,
    options?: CallOptions
  ) {
    return this.#paced('device', () =>
      this.inner.updateDevice(registrationId, update, options)
    );
  }

  getAliasDevices(
    alias: string,
    platform?: readonly Platform[],
    options?: CallOptions
  ) {
    return this.#paced('device', () =>
      this.inner.getAliasDevices(alias, platform, options)
    );
  }

  deleteAlias(
    alias: string,
    platform?: readonly Platform[],
    options?: CallOptions
  ) {
    return this.#paced('device', () =>
      this.inner.deleteAlias(alias, platform, options)
    );
  }

  removeDevicesFromAlias(
    alias: string,
    registrationIds: readonly string[],
    options?: CallOptions
  ) {
    return this.#paced('device', () =>
      this.inner.removeDevicesFromAlias(alias, registrationIds, options)
    );
  }
}
