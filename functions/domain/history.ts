import * as z from 'zod';
import type { HistoryPage, MessageSummary } from '../shared/api-schemas.ts';
import { InvalidCursorError } from './errors.ts';
import { viewOf } from './get-message.ts';
import { UserId } from './message.ts';
import type { Clock, HistoryRepository, MessageRepository } from './ports.ts';
import {
  macOf,
  type SigningKeySource,
  type SigningKeys,
  verifiesMac,
} from './signing-keys.ts';

/** Limits of a history page. */
export const HISTORY_LIMITS = { default: 50, min: 1, max: 100 } as const;

const limitError = `must be a whole number from ${HISTORY_LIMITS.min} to ${HISTORY_LIMITS.max}`;

/** Path of `GET /v1/users/{userId}/messages`. */
export const HistoryPath = z.strictObject({ userId: UserId });

/** Query of the history route (its values arrive as strings). */
export const HistoryQuery = z.strictObject({
  limit: z
    .string()
    .regex(/^\d{1,3}$/, { error: limitError })
    .transform(Number)
    .pipe(
      z
        .number()
        .min(HISTORY_LIMITS.min, { error: limitError })
        .max(HISTORY_LIMITS.max, { error: limitError })
    )
    .optional()
    .meta({
      description: `How many messages a page holds: ${HISTORY_LIMITS.min} to ${HISTORY_LIMITS.max}, ${HISTORY_LIMITS.default} by default.`,
    }),
  cursor: z
    .string()
    .min(1, { error: 'must not be empty: leave it out for the first page' })
    .max(2048, { error: 'is too long to be a cursor of this API' })
    .optional()
    .meta({
      description:
        "The previous page's `nextCursor` (made for this user); leave it out for the first page.",
    }),
});

/** One line of a user's history, as the history route shows it. */
export type { MessageSummary } from '../shared/api-schemas.ts';

/** A page of a user's history (the route's answer). */
export type HistoryListing = HistoryPage;

/** What listing history needs. */
export interface ListHistoryDeps {
  readonly history: HistoryRepository;
  readonly messages: MessageRepository;
  readonly clock: Clock;
  /** The keys cursors are signed with. */
  readonly cursorKeys: SigningKeySource;
}

const cursorMacText = (userId: string, version: string, inner: string) =>
  `history-cursor\n${userId}\n${version}\n${inner}`;

/**
 * Signs the store's cursor for one user: `<key version>.<cursor>.<mac>`, so
 * that only a cursor this system gave out, for this user, is ever read
 * back (the store's cursor holds a raw DynamoDB key).
 */
export const sealCursor = (
  keys: SigningKeys,
  userId: string,
  inner: string
): string => {
  const { version, key } = keys.current;
  return `${version}.${inner}.${macOf(key, cursorMacText(userId, version, inner))}`;
};

/**
 * The store's cursor inside a sealed one.
 * @throws InvalidCursorError when it was not sealed for this user by a key
 * still accepted
 */
export const openCursor = (
  keys: SigningKeys,
  userId: string,
  cursor: string
): string => {
  const [version = '', inner = '', mac = '', ...rest] = cursor.split('.');
  const signed = verifiesMac(
    keys,
    version,
    cursorMacText(userId, version, inner),
    mac
  );
  if (!signed || rest.length > 0) {
    throw new InvalidCursorError(
      'cursor is not valid: pass the nextCursor of the previous page unchanged, for the same user'
    );
  }
  return inner;
};

/**
 * A page of the messages to and from a user, newest first.
 * Primary course: 1. read a page of the user's history  2. read its messages
 * in one batch  3. summarise each in the page's order, with the status the
 * status route would show.
 * @param options `limit` 1..100, `cursor` from the previous page
 * @throws InvalidCursorError when the cursor was not made for this user
 * (signed with a key still accepted)
 */
export const listHistory = async (
  userId: string,
  options: { limit: number; cursor?: string },
  deps: ListHistoryDeps
): Promise<HistoryListing> => {
  const keys = await deps.cursorKeys.keys();
  const page = await deps.history.page(
    userId,
    options.limit,
    options.cursor === undefined
      ? undefined
      : openCursor(keys, userId, options.cursor)
  );
  const ids = [...new Set(page.entries.map((e) => e.messageId))];
  const messages = ids.length === 0 ? [] : await deps.messages.getMany(ids);
  const byId = new Map(messages.map((m) => [m.messageId, m]));
  const now = deps.clock.now();
  const items = page.entries.flatMap((entry): MessageSummary[] => {
    const message = byId.get(entry.messageId);
    // Lines are written after their message: a missing one was deleted.
    if (!message) return [];
    const view = viewOf(message, now);
    return [
      {
        messageId: view.messageId,
        direction: entry.direction,
        to: view.to,
        ...(view.from === undefined ? {} : { from: view.from }),
        ...(view.title === undefined ? {} : { title: view.title }),
        body: view.body,
        status: view.status,
        createdAt: view.createdAt,
        updatedAt: view.updatedAt,
      },
    ];
  });
  return {
    items,
    ...(page.nextCursor === undefined
      ? {}
      : { nextCursor: sealCursor(keys, userId, page.nextCursor) }),
  };
};
