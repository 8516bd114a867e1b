/**
 * Which requests the client may send again, and when.
 *
 * Sent again on 429, 5xx and network errors, with exponential backoff and
 * full jitter (or after `Retry-After`), only when repeating cannot do twice
 * what was asked once:
 * - `GET` and `DELETE` always: reading, cancelling, logging out and
 *   erasing give the same end state when repeated (`DELETE` of a cancelled
 *   message answers `200` with `repeated: true`, a logout `204`, an erase
 *   zeros);
 * - `POST /v1/sessions` (login) always: it sets the session, the alias
 *   and the drain, and a second login drains what the first left, nothing
 *   twice (each stored message's delivery starts once, by its name);
 * - `POST /v1/messages/{id}/ack` always: an ACK is idempotent;
 * - `POST /v1/messages` only with an idempotency key (the body's
 *   `idempotencyKey` or the `Idempotency-Key` header), and
 *   `POST /v1/messages/batch` only when every message has its
 *   `idempotencyKey`: without one, a request that reached the function but
 *   whose answer was lost (a 5xx, a reset connection) would send the
 *   message twice. The API answers the repeat with the first answer;
 * - any other request: never.
 * A 429 is retried for every request: API Gateway answers it before the
 * request reaches a function (the route's limit), so nothing was done.
 */

/** How the client backs off between attempts. */
export interface RetryPolicy {
  /** Retries after the first attempt (0: none). */
  readonly retries: number;
  /** The first backoff's ceiling; it doubles with each retry. */
  readonly baseDelayMs: number;
  /** The longest wait, for the backoff and for `Retry-After` alike. */
  readonly maxDelayMs: number;
}

/** The client's retry policy unless told otherwise. */
export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  retries: 3,
  baseDelayMs: 200,
  maxDelayMs: 20_000,
};

const SEND = /\/v1\/messages$/;
const BATCH = /\/v1\/messages\/batch$/;
const LOGIN = /\/v1\/sessions$/;
const ACK = /\/v1\/messages\/[^/]+\/ack$/;

const hasKey = (value: unknown): boolean =>
  typeof value === 'object' &&
  value !== null &&
  typeof (value as { idempotencyKey?: unknown }).idempotencyKey === 'string' &&
  (value as { idempotencyKey: string }).idempotencyKey !== '';

const parse = (body: string | undefined): unknown => {
  try {
    return body ? JSON.parse(body) : undefined;
  } catch {
    return undefined;
  }
};

/**
 * Whether a request may be sent again after a 5xx or a network error
 * without doing twice what it asks (see the module's comment).
 * @param method the HTTP method
 * @param pathname the URL's path (a base path before `/v1` is allowed)
 * @param headers the request's headers
 * @param body the request's body as sent
 */
export const isRepeatable = (
  method: string,
  pathname: string,
  headers: Headers,
  body: string | undefined
): boolean => {
  switch (method.toUpperCase()) {
    case 'GET':
    case 'HEAD':
    case 'DELETE':
      return true;
    case 'POST':
      if (LOGIN.test(pathname) || ACK.test(pathname)) return true;
      if (SEND.test(pathname)) {
        return Boolean(headers.get('idempotency-key')) || hasKey(parse(body));
      }
      if (BATCH.test(pathname)) {
        const messages = (parse(body) as { messages?: unknown } | undefined)
          ?.messages;
        return (
          Array.isArray(messages) &&
          messages.length > 0 &&
          messages.every(hasKey)
        );
      }
      return false;
    default:
      return false;
  }
};

/**
 * The wait a `Retry-After` header asks for, in ms: delay-seconds or an
 * HTTP date; undefined when absent or unreadable.
 * @param value the header's value
 * @param now the current time in ms since the epoch
 */
export const retryAfterMs = (
  value: string | null,
  now: number
): number | undefined => {
  if (value === null || value.trim() === '') return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
};

/**
 * How long to wait before retry number `retry` (0 for the first): the
 * `Retry-After` when the answer had one, else a random time up to
 * `baseDelayMs · 2^retry` (full jitter); never more than `maxDelayMs`.
 * @param retry which retry this is, from 0
 * @param retryAfter the answer's `Retry-After` header, if any
 * @param policy the backoff's figures
 * @param random a number in [0, 1)
 * @param now the current time in ms since the epoch
 */
export const retryDelayMs = (
  retry: number,
  retryAfter: string | null,
  policy: RetryPolicy,
  random: number,
  now: number
): number => {
  const asked = retryAfterMs(retryAfter, now);
  const delay =
    asked ??
    Math.floor(
      random * Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** retry)
    );
  return Math.min(policy.maxDelayMs, delay);
};
