/**
 * The typed client of the push delivery API, for a backend: every call is
 * typed by the OpenAPI document (`client/api-types.ts`, generated from it
 * by `npm run client:types`), signed with SigV4 (`execute-api`) and sent
 * again on 429, 5xx and network errors when that is safe (`retry.ts`).
 *
 * ```ts
 * const push = createPushDeliveryClient({ baseUrl, region: 'eu-west-1' });
 * const { messageId } = await push.sendMessage({
 *   to: 'user-42', body: 'Your parcel left the warehouse.',
 *   idempotencyKey: 'order-1009-shipped',
 * });
 * ```
 */
import createClient, { type Client } from 'openapi-fetch';
import type { components, operations, paths } from './api-types.ts';
import { PushDeliveryApiError } from './errors.ts';
import { DEFAULT_RETRY_POLICY } from './retry.ts';
import {
  type AwsCredentials,
  type AwsCredentialsProvider,
  sigV4Signer,
} from './signing.ts';
import { type FetchLike, resilientFetch } from './transport.ts';

export type { components, operations, paths } from './api-types.ts';
export {
  type ErrorBody,
  type GatewayErrorBody,
  PushDeliveryApiError,
} from './errors.ts';
export { isRepeatable, type RetryPolicy } from './retry.ts';
export type { AwsCredentials, AwsCredentialsProvider } from './signing.ts';
export type { FetchLike } from './transport.ts';

type Schemas = components['schemas'];
/** The body of `POST /v1/messages` (and each item of a batch). */
export type SendMessageRequest = Schemas['SendMessageRequest'];
/** `POST /v1/messages`'s answer. */
export type SendMessageResponse = Schemas['SendMessageResponse'];
/** `POST /v1/messages/batch`'s answer: one result per message, in order. */
export type SendBatchResponse = Schemas['SendBatchResponse'];
/** One result of a batch: the message sent, or the single send's error. */
export type BatchItemResult = SendBatchResponse['results'][number];
/** A batch item that was sent (or was an idempotent repeat: `replayed`). */
export type BatchItemSent = Exclude<BatchItemResult, Schemas['ErrorBody']>;

/**
 * Whether a batch item was sent (else it is the single send's error
 * envelope, `{"error": {"code", "message"}}`).
 * @param result one of `sendBatch(...).results`
 */
export const isBatchItemSent = (
  result: BatchItemResult
): result is BatchItemSent => !('error' in result);

/** `GET /v1/messages/{messageId}`'s answer. */
export type MessageView = Schemas['MessageView'];
/** A message's status. */
export type MessageStatus = MessageView['status'];
/** `DELETE /v1/messages/{messageId}`'s answer. */
export type CancelMessageResponse = Schemas['CancelMessageResponse'];
/** `GET /v1/users/{userId}/messages`'s answer. */
export type HistoryPage = Schemas['HistoryPage'];
/** The body of `POST /v1/sessions`. */
export type LoginRequest = Schemas['LoginRequest'];
/** `POST /v1/sessions`'s answer. */
export type LoginResponse = Schemas['LoginResponse'];
/** `DELETE /v1/users/{userId}`'s answer. */
export type EraseUserResponse = Schemas['EraseUserResponse'];

/** The answer to `sendMessage`. */
export interface SendMessageResult extends SendMessageResponse {
  /** True when the API answered an idempotent repeat (`Idempotent-Replayed`). */
  readonly replayed: boolean;
}

/** Options of {@link createPushDeliveryClient}. */
export interface PushDeliveryClientOptions {
  /**
   * The API's URL: the stack's `ApiUrl` output
   * (`https://<api-id>.execute-api.<region>.amazonaws.com`), or local
   * mode's `http://127.0.0.1:3000`.
   */
  readonly baseUrl: string;
  /**
   * The API's region, for the signature.
   * @default the region in an `execute-api` URL, else `AWS_REGION`, else
   *   `AWS_DEFAULT_REGION`
   */
  readonly region?: string;
  /**
   * The credentials to sign with, or a provider of them.
   * @default the AWS SDK's default provider chain
   */
  readonly credentials?: AwsCredentials | AwsCredentialsProvider;
  /**
   * Sign requests with SigV4. Local mode checks no signature: `false`
   * there (signed requests pass too).
   * @default true
   */
  readonly sign?: boolean;
  /**
   * Retries after the first attempt, for the requests safe to repeat.
   * @default 3
   */
  readonly retries?: number;
  /**
   * The backoff: the first retry waits up to `baseMs` (random), each next
   * up to twice as long, none (nor a `Retry-After`) more than `maxMs`.
   * @default { baseMs: 200, maxMs: 20000 }
   */
  readonly retryDelay?: { readonly baseMs?: number; readonly maxMs?: number };
  /**
   * The longest one attempt may take, in ms (API Gateway's own limit for
   * an answer is 30 s).
   * @default 30000
   */
  readonly timeoutMs?: number;
  /**
   * What sends each attempt (for tests).
   * @default globalThis.fetch, looked up at each call
   */
  readonly fetch?: FetchLike;
}

/** Per-call options. */
export interface CallOptions {
  /** Ends the call (and its retries) when aborted. */
  readonly signal?: AbortSignal;
}

/** The typed client; see {@link createPushDeliveryClient}. */
export interface PushDeliveryClient {
  /**
   * `POST /v1/messages`: sends a message that must be received. Give it an
   * `idempotencyKey`: only then is it retried after a 5xx or a network
   * error (the API answers the repeat with the first answer).
   * @throws PushDeliveryApiError on 400 (not a message), 409 (the key was
   *   used for another request), 413, and errors left after the retries
   */
  sendMessage(
    message: SendMessageRequest,
    options?: CallOptions
  ): Promise<SendMessageResult>;
  /**
   * `POST /v1/messages/batch`: 1 to 100 messages; one result per message,
   * in order (a bad one fails alone, as its error envelope). Retried after
   * a 5xx or a network error only when every message has its
   * `idempotencyKey`.
   * @throws PushDeliveryApiError on 400 (no list of 1 to 100), 413, …
   */
  sendBatch(
    messages: readonly SendMessageRequest[],
    options?: CallOptions
  ): Promise<SendBatchResponse>;
  /**
   * `GET /v1/messages/{messageId}`: the message, its status and timeline.
   * @throws PushDeliveryApiError on 404 (no such message), …
   */
  getMessage(messageId: string, options?: CallOptions): Promise<MessageView>;
  /**
   * `DELETE /v1/messages/{messageId}`: cancels a message that has not
   * ended (again: `repeated: true`).
   * @throws PushDeliveryApiError on 404, and 409 when it already ended
   *   (the error's `body.status` says how)
   */
  cancelMessage(
    messageId: string,
    options?: CallOptions
  ): Promise<CancelMessageResponse>;
  /**
   * `GET /v1/users/{userId}/messages`: a page of the user's messages,
   * newest first; pass `nextCursor` as `cursor` for the next.
   * @throws PushDeliveryApiError on 400 (a bad limit or cursor), …
   */
  listHistory(
    userId: string,
    page?: { readonly limit?: number; readonly cursor?: string },
    options?: CallOptions
  ): Promise<HistoryPage>;
  /**
   * `POST /v1/sessions`: the user logged in on a device (binds the alias,
   * delivers the stored messages).
   * @throws PushDeliveryApiError on 400, 413, …
   */
  login(session: LoginRequest, options?: CallOptions): Promise<LoginResponse>;
  /**
   * `DELETE /v1/sessions/{userId}/{registrationId}`: the user is logging
   * out of the device (also fine when there was no session).
   * @throws PushDeliveryApiError on 400, …
   */
  logout(
    userId: string,
    registrationId: string,
    options?: CallOptions
  ): Promise<void>;
  /**
   * `DELETE /v1/users/{userId}`: erases everything kept about the user.
   * @throws PushDeliveryApiError on 400, …
   */
  eraseUser(userId: string, options?: CallOptions): Promise<EraseUserResponse>;
  /**
   * The openapi-fetch client underneath, typed by the document, for any
   * other call (e.g. `raw.POST('/v1/messages/{messageId}/ack', …)`): signed
   * and retried alike, but it answers `{ data, error, response }` instead
   * of throwing.
   */
  readonly raw: Client<paths>;
}

const EXECUTE_API_HOST = /\.execute-api\.([a-z0-9-]+)\.amazonaws\.com$/;

const env = (name: string): string | undefined =>
  typeof process === 'undefined' ? undefined : process.env[name] || undefined;

/** The region to sign for: the option, the URL's, or the environment's. */
const regionOf = (options: PushDeliveryClientOptions): string | undefined =>
  options.region ??
  EXECUTE_API_HOST.exec(new URL(options.baseUrl).hostname)?.[1] ??
  env('AWS_REGION') ??
  env('AWS_DEFAULT_REGION');

type Result = { data?: unknown; error?: unknown; response: Response };

/** The success's body, or the error the answer is. */
const ok = <R extends Result>(
  result: R,
  what: string
): NonNullable<R['data']> => {
  if (!result.response.ok) {
    throw new PushDeliveryApiError(what, result.response, result.error);
  }
  return result.data as NonNullable<R['data']>;
};

const segment = (value: string) => encodeURIComponent(value);

/**
 * Creates the typed client of the push delivery API.
 * @param options where the API is, how to sign, retry and send
 * @throws Error when signing and no region is given or found
 */
export const createPushDeliveryClient = (
  options: PushDeliveryClientOptions
): PushDeliveryClient => {
  const sign = options.sign ?? true;
  const region = regionOf(options);
  if (sign && region === undefined) {
    throw new Error(
      'createPushDeliveryClient: no region to sign for: pass `region` or set AWS_REGION (or `sign: false` for local mode).'
    );
  }
  const send = options.fetch ?? ((request: Request) => fetch(request));
  const raw = createClient<paths>({
    baseUrl: options.baseUrl,
    fetch: resilientFetch({
      fetch: send,
      signer:
        sign && region !== undefined
          ? sigV4Signer(region, options.credentials)
          : undefined,
      retry: {
        retries: options.retries ?? DEFAULT_RETRY_POLICY.retries,
        baseDelayMs:
          options.retryDelay?.baseMs ?? DEFAULT_RETRY_POLICY.baseDelayMs,
        maxDelayMs:
          options.retryDelay?.maxMs ?? DEFAULT_RETRY_POLICY.maxDelayMs,
      },
      timeoutMs: options.timeoutMs ?? 30_000,
      random: Math.random,
    }),
  });

  return {
    raw,
    sendMessage: async (message, call) => {
      const result = await raw.POST('/v1/messages', {
        body: message,
        signal: call?.signal,
      });
      return {
        ...ok(result, 'POST /v1/messages'),
        replayed: result.response.headers.get('idempotent-replayed') === 'true',
      };
    },
    sendBatch: async (messages, call) =>
      ok(
        await raw.POST('/v1/messages/batch', {
          body: { messages: [...messages] },
          signal: call?.signal,
        }),
        'POST /v1/messages/batch'
      ),
    getMessage: async (messageId, call) =>
      ok(
        await raw.GET('/v1/messages/{messageId}', {
          params: { path: { messageId } },
          signal: call?.signal,
        }),
        `GET /v1/messages/${segment(messageId)}`
      ),
    cancelMessage: async (messageId, call) =>
      ok(
        await raw.DELETE('/v1/messages/{messageId}', {
          params: { path: { messageId } },
          signal: call?.signal,
        }),
        `DELETE /v1/messages/${segment(messageId)}`
      ),
    listHistory: async (userId, page, call) => {
      const query: NonNullable<
        operations['listHistory']['parameters']['query']
      > = {
        ...(page?.limit === undefined ? {} : { limit: String(page.limit) }),
        ...(page?.cursor === undefined ? {} : { cursor: page.cursor }),
      };
      return ok(
        await raw.GET('/v1/users/{userId}/messages', {
          params: { path: { userId }, query },
          signal: call?.signal,
        }),
        `GET /v1/users/${segment(userId)}/messages`
      );
    },
    login: async (session, call) =>
      ok(
        await raw.POST('/v1/sessions', { body: session, signal: call?.signal }),
        'POST /v1/sessions'
      ),
    logout: async (userId, registrationId, call) => {
      const result = await raw.DELETE(
        '/v1/sessions/{userId}/{registrationId}',
        {
          params: { path: { userId, registrationId } },
          signal: call?.signal,
        }
      );
      ok(
        result,
        `DELETE /v1/sessions/${segment(userId)}/${segment(registrationId)}`
      );
    },
    eraseUser: async (userId, call) =>
      ok(
        await raw.DELETE('/v1/users/{userId}', {
          params: { path: { userId } },
          signal: call?.signal,
        }),
        `DELETE /v1/users/${segment(userId)}`
      ),
  };
};
