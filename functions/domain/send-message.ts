import { createHash, randomBytes } from 'node:crypto';
import * as z from 'zod';
import {
  type DispatchDeps,
  startDelivery,
  storedItemOf,
  storeForLater,
} from './dispatch.ts';
import { ConflictError } from './errors.ts';
import {
  type Message,
  type MessageStatus,
  resolvePolicy,
  type SendMessageInput,
  smsTextOf,
} from './message.ts';
import type { HistoryRepository } from './ports.ts';
import { checkSmsTo } from './sms-limits.ts';

/** What sending needs. */
export interface SendMessageDeps extends DispatchDeps {
  readonly history: HistoryRepository;
  /** The countries (ISO 3166-1 alpha-2) an `smsTo` may be in. */
  readonly smsCountries: readonly string[];
}

/** What the backend gets back. */
export interface SendMessageResult {
  readonly messageId: string;
  readonly status: MessageStatus;
  /** false when the idempotency key matched an earlier message. */
  readonly created: boolean;
}

/**
 * The message id: derived from the idempotency key when there is one (so two
 * concurrent requests with one key compute one id and one execution name),
 * else time-ordered and random.
 */
export const messageIdFor = (
  idempotencyKey: string | undefined,
  now: Date,
  caller = ''
) =>
  idempotencyKey === undefined
    ? `m${now.getTime().toString(36)}${randomBytes(8).toString('hex')}`
    : `k${createHash('sha256')
        .update(caller === '' ? idempotencyKey : `${caller}\n${idempotencyKey}`)
        .digest('base64url')
        .slice(0, 32)}`;

/** JSON with its object keys sorted, so equal requests give equal text. */
const canonical = (value: unknown): string =>
  Array.isArray(value)
    ? `[${value.map(canonical).join(',')}]`
    : typeof value === 'object' && value !== null
      ? `{${Object.entries(value)
          .filter(([, v]) => v !== undefined)
          .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
          .map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`)
          .join(',')}}`
      : JSON.stringify(value);

/**
 * What identifies a request under its idempotency key: everything it asks
 * for, the key itself left out.
 */
export const requestHashOf = (input: SendMessageInput): string => {
  const { idempotencyKey: _key, ...request } = input;
  return createHash('sha256').update(canonical(request)).digest('base64url');
};

/**
 * Accepts a message for delivery. `caller` scopes the idempotency key: the
 * same key from two callers names two messages ('' in local mode: one
 * caller).
 * Primary course: 1. refuse an `smsTo` outside the allowed countries
 * 2. derive the id  3. return the earlier message for a repeated
 * idempotency key  4. store the message  5. record it in the history of
 * both users  6. start the delivery cycle when the recipient has a session,
 * else keep it in the offline store.
 */
export const sendMessage = async (
  input: SendMessageInput,
  deps: SendMessageDeps,
  caller = ''
): Promise<SendMessageResult> => {
  if (input.escalation?.smsTo !== undefined) {
    checkSmsTo(input.escalation.smsTo, deps.smsCountries);
  }
  const now = deps.clock.now();
  const messageId = messageIdFor(input.idempotencyKey, now, caller);
  // Only a request under a key can be repeated, so only it is hashed.
  const requestHash =
    input.idempotencyKey === undefined ? undefined : requestHashOf(input);
  const earlier = await deps.messages.get(messageId);
  if (earlier) return resume(earlier, requestHash, deps);

  const sessions = await deps.sessions.listByUser(input.to);
  const policy = resolvePolicy(input.policy);
  const at = now.toISOString();
  const message: Message = {
    messageId,
    to: input.to,
    ...(input.from === undefined ? {} : { from: input.from }),
    ...(input.title === undefined ? {} : { title: input.title }),
    body: input.body,
    ...(input.data === undefined ? {} : { data: input.data }),
    ...(input.idempotencyKey === undefined
      ? {}
      : { idempotencyKey: input.idempotencyKey, requestHash }),
    policy,
    escalationOnCall: input.escalation?.onCall ?? true,
    escalationSmsTo: input.escalation?.smsTo ?? '',
    smsText: smsTextOf(input.title, input.body),
    status: sessions.length > 0 ? 'sending' : 'stored',
    attempts: 0,
    delivery: 1,
    createdAt: at,
    updatedAt: at,
    expiresAt: new Date(
      now.getTime() + policy.expiresInSeconds * 1000
    ).toISOString(),
    timeline: [
      {
        at,
        event: 'accepted',
        detail: input.from
          ? `chat message from ${input.from} to ${input.to}`
          : `message to ${input.to}`,
      },
    ],
    pushes: {},
    deliveredTo: {},
    notified: {},
  };
  if (!(await deps.messages.create(message))) {
    const winner = await deps.messages.get(messageId);
    if (winner) return resume(winner, requestHash, deps);
  }
  await deps.history.add({
    userId: message.to,
    messageId,
    createdAt: at,
    direction: 'in',
    messageExpiresAt: message.expiresAt,
  });
  if (message.from !== undefined && message.from !== message.to) {
    await deps.history.add({
      userId: message.from,
      messageId,
      createdAt: at,
      direction: 'out',
      messageExpiresAt: message.expiresAt,
    });
  }
  if (sessions.length > 0) {
    await startDelivery(message, 1, deps);
    return { messageId, status: 'sending', created: true };
  }
  const stored = await storeForLater(
    message,
    1,
    `${message.to} has no session; kept until the next login`,
    deps
  );
  return { messageId, status: stored ? 'stored' : 'sending', created: true };
};

/**
 * Answers a repeated idempotency key. If the first request died between
 * storing the message and starting its delivery, this starts it (the start
 * is idempotent by execution name, so a delivery already running is not
 * doubled).
 * @throws ConflictError when the key was used for a different request
 */
const resume = async (
  message: Message,
  requestHash: string | undefined,
  deps: SendMessageDeps
): Promise<SendMessageResult> => {
  if (
    message.requestHash !== undefined &&
    message.requestHash !== requestHash
  ) {
    throw new ConflictError(
      `This idempotencyKey was already used for a different request (message ${message.messageId}); send a new message with a new key, or repeat the first request unchanged.`
    );
  }
  if (message.status === 'sending' && message.attempts === 0) {
    await startDelivery(message, message.delivery, deps);
  } else if (message.status === 'stored') {
    await deps.offline.put(storedItemOf(message, message.delivery));
  }
  return {
    messageId: message.messageId,
    status: message.status,
    created: false,
  };
};

/** The most messages one batch takes. */
export const MAX_BATCH_MESSAGES = 100;

/**
 * Body of `POST /v1/messages/batch`. Each item is checked on its own
 * (`SendMessageInput`), so one bad item fails alone.
 */
export const SendBatchInput = z.strictObject({
  messages: z
    .array(z.unknown(), {
      error: 'is required and must be an array of messages',
    })
    .min(1, { error: 'must hold at least one message' })
    .max(MAX_BATCH_MESSAGES, {
      error: `must hold at most ${MAX_BATCH_MESSAGES} messages; send more in several batches`,
    }),
});
export type SendBatchInput = z.infer<typeof SendBatchInput>;

/** One item's outcome: sent (or an idempotent repeat), or why not. */
export type BatchItemResult =
  | { readonly ok: true; readonly result: SendMessageResult }
  | { readonly ok: false; readonly error: unknown };

/** How many items of a batch are sent at once. */
const BATCH_CONCURRENCY = 10;

/**
 * Sends many messages, each as {@link sendMessage} sends one (with its own
 * idempotency key), a few at a time.
 * Primary course: for each item in order: an item that did not parse
 * arrives as its error and is answered with it; the others are sent. An
 * item that fails (a refused `smsTo`, a key reused for another request,
 * anything unexpected) fails alone: the others go on.
 * @param items each message, or the error its validation gave
 * @returns one result per item, in the items' order
 */
export const sendBatch = async (
  items: readonly (SendMessageInput | Error)[],
  deps: SendMessageDeps,
  caller = ''
): Promise<BatchItemResult[]> => {
  const results: BatchItemResult[] = [];
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      const item = items[i] as SendMessageInput | Error;
      if (item instanceof Error) {
        results[i] = { ok: false, error: item };
        continue;
      }
      try {
        results[i] = {
          ok: true,
          result: await sendMessage(item, deps, caller),
        };
      } catch (error) {
        results[i] = { ok: false, error };
      }
    }
  };
  await Promise.all(
    Array.from({ length: Math.min(BATCH_CONCURRENCY, items.length) }, worker)
  );
  return results;
};
