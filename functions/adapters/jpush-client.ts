/**
 * The JPush adapter: implements {@link JPushPort} over HTTPS with Node's own
 * `fetch` (keep-alive through Node's global dispatcher; nothing bundled).
 *
 * Wire details it takes care of (see the JPush API reference):
 * - msg_ids stay strings end to end. Response bodies are parsed with
 *   lossless-json, so 17-digit ids keep every digit whether JPush sends them
 *   as strings (push success) or as numbers (1011 errors, report rows).
 *   Requests that want a numeric msg_id (`/v3/status/message`,
 *   `options.override_msg_id`) get the digits written unquoted into the JSON
 *   text, never through a JS number.
 * - Every response's `X-Rate-Limit-*` headers end up on the result
 *   (`PushResult.rateLimit`), on every error, and in `onRateLimit`.
 * - Errors are the port's typed errors. A push whose outcome is unknown
 *   (timeout, dropped connection, abort) throws
 *   {@link JPushUnknownOutcomeError}: retry it with the same `cid`. The other
 *   calls are reads or idempotent updates, so their transport failures throw
 *   the retryable {@link JPushServerError}.
 * - A 401 with credentials from a provider (a rotated secret) reads them
 *   again, bypassing the cache, and sends the call once more; a second 401
 *   is the {@link JPushRejectedError} it always was.
 */
import { LosslessNumber, parse, stringify } from 'lossless-json';
import {
  type CallOptions,
  type DeviceInfo,
  type DeviceUpdate,
  type JPushError,
  type JPushErrorDetails,
  JPushNoTargetError,
  type JPushPort,
  JPushRateLimitError,
  JPushRejectedError,
  JPushServerError,
  JPushUnknownOutcomeError,
  type Platform,
  type PushPayload,
  type PushResult,
  type RateLimit,
  type ReceivedDetail,
} from '../domain/jpush.ts';

/** JPush app credentials (HTTP Basic user and password). */
export interface JPushCredentials {
  readonly appKey: string;
  readonly masterSecret: string;
}

/** Options of {@link JPushClient}. */
export interface JPushClientOptions {
  /** The app key. Give it with `masterSecret`, or use `credentials`. */
  readonly appKey?: string;
  /** The master secret. Never logged, never put in an error message. */
  readonly masterSecret?: string;
  /**
   * Loads the credentials lazily (e.g. from Secrets Manager) on the first
   * call. The result is cached; a failed load is retried on the next call.
   * When JPush answers HTTP 401 (its credentials were rotated), they are
   * loaded again with `refresh: true` (bypass any cache of the secret) and
   * the call is sent once more with them, if they changed. Used when
   * `appKey`/`masterSecret` are not given.
   */
  readonly credentials?: (
    request: CredentialsRequest
  ) => Promise<JPushCredentials>;
  /** @default 'https://api.jpush.cn' */
  readonly pushBaseUrl?: string;
  /** @default 'https://report.jpush.cn' */
  readonly reportBaseUrl?: string;
  /** @default 'https://device.jpush.cn' */
  readonly deviceBaseUrl?: string;
  /**
   * Per-call timeout in ms, applied from the start of the call (connecting
   * included) to the response headers, and to every pause while the body
   * streams in.
   * @default 10000
   */
  readonly timeoutMs?: number;
  /**
   * The `fetch` to send through, e.g. undici's with a `MockAgent` as its
   * dispatcher in tests.
   * @default globalThis.fetch
   */
  readonly fetch?: FetchLike;
  /** @default 'jpush-guaranteed-delivery/0.1 (jpush-client)' */
  readonly userAgent?: string;
  /**
   * Called with the rate-limit headers of every response that has them,
   * including those of calls whose result type cannot carry them. Errors it
   * throws are ignored.
   * @default no callback
   */
  readonly onRateLimit?: (rateLimit: RateLimit, operation: string) => void;
}

/** What {@link JPushClientOptions.credentials} is asked for. */
export interface CredentialsRequest {
  /**
   * True after JPush refused the credentials last given (HTTP 401): read
   * them from their source, not from a cache.
   */
  readonly refresh: boolean;
}

/** The part of `fetch` the client uses. */
export type FetchLike = (url: string, init: RequestInit) => Promise<Response>;

/** The most ids `/v3/received/detail` takes in one call. */
export const MAX_RECEIVED_DETAIL_IDS = 100;

const DEFAULT_PUSH_BASE_URL = 'https://api.jpush.cn';
const DEFAULT_REPORT_BASE_URL = 'https://report.jpush.cn';
const DEFAULT_DEVICE_BASE_URL = 'https://device.jpush.cn';
const DEFAULT_TIMEOUT_MS = 10_000;
const DEFAULT_USER_AGENT = 'jpush-guaranteed-delivery/0.1 (jpush-client)';
const MAX_REGISTRATION_IDS = 1000;
const MAX_CIDS = 1000;
const MAX_SNIPPET_CHARS = 200;
const MIN_SCRUBBED_SECRET_CHARS = 8;

/** JPush codes meaning "internal error / busy, retry later". */
const SERVER_ERROR_CODES: ReadonlySet<number> = new Set([
  10, 1000, 1030, 7000, 7030,
]);
const RATE_LIMIT_CODE = 2002;
const NO_TARGET_CODE = 1011;

/** A JSON number; leading zeros would make the spliced JSON invalid. */
const MSG_ID_PATTERN = /^(?:0|[1-9]\d{0,19})$/;
const DATE_PATTERN = /^\d{4}-\d{2}-\d{2}$/;

type Api = 'push' | 'report' | 'device';
type Method = 'GET' | 'POST' | 'DELETE';

interface CallSpec {
  /** Names the method in error messages, e.g. `push`, `getDevice`. */
  readonly operation: string;
  readonly api: Api;
  readonly method: Method;
  /** Path and query, already encoded. */
  readonly path: string;
  /** JSON text of the request body. */
  readonly body?: string;
  /** Transport failures leave the outcome unknown (only `push`). */
  readonly unknownOutcomeOnTransportFailure?: boolean;
}

interface CallResult {
  /** The parsed body, or undefined when it was empty. */
  readonly json: unknown;
  readonly rateLimit?: RateLimit;
}

interface ResolvedCredentials {
  readonly authorization: string;
  /** Strings to scrub from anything that ends up in an error message. */
  readonly secrets: readonly string[];
}

type JsonObject = Record<string, unknown>;

/**
 * JPushPort over HTTPS (`fetch`, keep-alive). One instance per process.
 */
export class JPushClient implements JPushPort {
  readonly #baseUrls: Readonly<Record<Api, string>>;
  readonly #timeoutMs: number;
  readonly #fetch: FetchLike;
  readonly #userAgent: string;
  readonly #loadCredentials: (
    request: CredentialsRequest
  ) => Promise<JPushCredentials>;
  /** False for fixed credentials: reading them again cannot change them. */
  readonly #refreshable: boolean;
  readonly #onRateLimit?: (rateLimit: RateLimit, operation: string) => void;
  #credentials?: Promise<ResolvedCredentials>;
  /** A 401 asked for the credentials past the cache; not loaded yet. */
  #refreshNext = false;

  /**
   * Creates the client; no I/O happens until the first call.
   * @param options credentials, base URLs, timeout and `fetch`
   * @throws TypeError when the credentials are missing, half a pair or
   *   empty, or when `timeoutMs` or a base URL is invalid
   */
  constructor(options: JPushClientOptions) {
    const { appKey, masterSecret, credentials } = options;
    if (appKey !== undefined || masterSecret !== undefined) {
      if (appKey === undefined || masterSecret === undefined) {
        throw new TypeError(
          'JPushClient: give both appKey and masterSecret, or a credentials provider'
        );
      }
      const fixed = { appKey, masterSecret };
      try {
        toResolvedCredentials(fixed);
      } catch (error) {
        throw new TypeError(`JPushClient: ${describeCredentialError(error)}`);
      }
      this.#loadCredentials = () => Promise.resolve(fixed);
      this.#refreshable = false;
    } else if (credentials !== undefined) {
      this.#loadCredentials = credentials;
      this.#refreshable = true;
    } else {
      throw new TypeError(
        'JPushClient: no credentials (appKey + masterSecret, or credentials)'
      );
    }
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) {
      throw new TypeError('JPushClient: timeoutMs must be a positive number');
    }
    this.#timeoutMs = timeoutMs;
    this.#baseUrls = {
      push: normalizeBaseUrl(options.pushBaseUrl ?? DEFAULT_PUSH_BASE_URL),
      report: normalizeBaseUrl(
        options.reportBaseUrl ?? DEFAULT_REPORT_BASE_URL
      ),
      device: normalizeBaseUrl(
        options.deviceBaseUrl ?? DEFAULT_DEVICE_BASE_URL
      ),
    };
    this.#userAgent = options.userAgent ?? DEFAULT_USER_AGENT;
    this.#onRateLimit = options.onRateLimit;
    this.#fetch = options.fetch ?? ((url, init) => fetch(url, init));
  }

  /**
   * Kept for callers that close what they open: the client owns no
   * connection pool (Node's global dispatcher does), so there is nothing to
   * release.
   */
  async close(): Promise<void> {}

  /**
   * Sends a push (`POST /v3/push`).
   * @param payload the push object; `options.override_msg_id` is sent as a
   *   JSON number
   * @param options per-call options (abort signal)
   * @returns msg_id and sendno as strings, with the rate-limit headers
   * @throws JPushUnknownOutcomeError on timeout, dropped connection, abort or
   *   an unreadable 200 body: retry with the same `cid`
   * @throws JPushNoTargetError (1011), JPushRateLimitError,
   *   JPushServerError, JPushRejectedError
   */
  async push(payload: PushPayload, options?: CallOptions): Promise<PushResult> {
    const operation = 'push';
    const overrideMsgId = payload.options?.override_msg_id;
    const body =
      overrideMsgId === undefined
        ? payload
        : {
            ...payload,
            options: {
              ...payload.options,
              override_msg_id: numericMsgId(
                operation,
                overrideMsgId,
                'options.override_msg_id'
              ),
            },
          };
    const { json, rateLimit } = await this.#call(
      {
        operation,
        api: 'push',
        method: 'POST',
        path: '/v3/push',
        body: toJson(body),
        unknownOutcomeOnTransportFailure: true,
      },
      options
    );
    const msgId = isObject(json) ? idString(json.msg_id) : undefined;
    if (msgId === undefined) {
      // The push was accepted (2xx) but we cannot tell its id: retrying with
      // the same cid returns the first result.
      throw new JPushUnknownOutcomeError(
        `JPush push outcome unknown: HTTP 2xx without a msg_id in the body: ${snippet(json)}`,
        { rateLimit }
      );
    }
    const sendno = isObject(json) ? json.sendno : undefined;
    return {
      msgId,
      sendno:
        typeof sendno === 'string' || typeof sendno === 'number'
          ? String(sendno)
          : '0',
      ...(rateLimit ? { rateLimit } : {}),
    };
  }

  /**
   * Gets idempotency keys for pushes (`GET /v3/push/cid?count=n`).
   * @param count how many, 1..1000
   * @param options per-call options (abort signal)
   * @returns the cids
   * @throws JPushRejectedError when `count` is out of range, or any
   *   {@link JPushError} the call raises
   */
  async getCids(count = 1, options?: CallOptions): Promise<string[]> {
    const operation = 'getCids';
    if (!Number.isInteger(count) || count < 1 || count > MAX_CIDS) {
      throw invalidArgument(
        operation,
        `count must be an integer from 1 to ${MAX_CIDS}`
      );
    }
    const { json } = await this.#call(
      {
        operation,
        api: 'push',
        method: 'GET',
        path: `/v3/push/cid?count=${count}`,
      },
      options
    );
    return stringArray(operation, json, 'cidlist');
  }

  /**
   * Withdraws a message not yet delivered (`DELETE /v3/push/{msg_id}`).
   * @param msgId the message's id (digits)
   * @param options per-call options (abort signal)
   * @throws JPushRejectedError for a malformed msg_id, or any
   *   {@link JPushError} the call raises
   */
  async withdraw(msgId: string, options?: CallOptions): Promise<void> {
    const operation = 'withdraw';
    assertMsgId(operation, msgId, 'msgId');
    await this.#call(
      {
        operation,
        api: 'push',
        method: 'DELETE',
        path: `/v3/push/${msgId}`,
      },
      options
    );
  }

  /**
   * Per-device delivery status (`POST /v3/status/message`), with `msg_id`
   * sent as a JSON number.
   * @param msgId the message's id (digits)
   * @param registrationIds the devices to ask about (at most 1000; none
   *   answers `{}` without a call)
   * @param date the send date `yyyy-mm-dd` (JPush defaults to today)
   * @param options per-call options (abort signal)
   * @returns the {@link DeliveryStatus} code per registration id
   * @throws JPushRejectedError for bad arguments, or any {@link JPushError}
   *   the call raises
   */
  async messageStatus(
    msgId: string,
    registrationIds: readonly string[],
    date?: string,
    options?: CallOptions
  ): Promise<Record<string, number>> {
    const operation = 'messageStatus';
    const id = numericMsgId(operation, msgId, 'msgId');
    assertMaxLength(
      operation,
      registrationIds,
      MAX_REGISTRATION_IDS,
      'registrationIds'
    );
    if (date !== undefined && !DATE_PATTERN.test(date)) {
      throw invalidArgument(operation, 'date must look like yyyy-mm-dd');
    }
    if (registrationIds.length === 0) {
      return {};
    }
    const { json } = await this.#call(
      {
        operation,
        api: 'report',
        method: 'POST',
        path: '/v3/status/message',
        body: toJson({
          msg_id: id,
          registration_ids: registrationIds,
          ...(date === undefined ? {} : { date }),
        }),
      },
      options
    );
    if (!isObject(json)) {
      throw unexpectedBody(operation, json);
    }
    const statuses: Record<string, number> = {};
    for (const [rid, entry] of Object.entries(json)) {
      const status = isObject(entry) ? toCount(entry.status) : null;
      if (status === null) {
        throw unexpectedBody(operation, json);
      }
      statuses[rid] = status;
    }
    return statuses;
  }

  /**
   * Delivery counters per message (`GET /v3/received/detail?msg_ids=...`).
   * @param msgIds at most 100 ids (none answers `[]` without a call)
   * @param options per-call options (abort signal)
   * @returns one row per id JPush knows, counters null when it has no data
   * @throws JPushRejectedError for more than 100 or malformed ids, or any
   *   {@link JPushError} the call raises
   */
  async receivedDetail(
    msgIds: readonly string[],
    options?: CallOptions
  ): Promise<ReceivedDetail[]> {
    const operation = 'receivedDetail';
    assertMaxLength(operation, msgIds, MAX_RECEIVED_DETAIL_IDS, 'msgIds');
    for (const msgId of msgIds) {
      assertMsgId(operation, msgId, 'msgIds[]');
    }
    if (msgIds.length === 0) {
      return [];
    }
    const { json } = await this.#call(
      {
        operation,
        api: 'report',
        method: 'GET',
        path: `/v3/received/detail?msg_ids=${msgIds.join(',')}`,
      },
      options
    );
    if (!Array.isArray(json)) {
      throw unexpectedBody(operation, json);
    }
    return json.map((row: unknown): ReceivedDetail => {
      const msgId = isObject(row) ? idString(row.msg_id) : undefined;
      if (msgId === undefined || !isObject(row)) {
        throw unexpectedBody(operation, json);
      }
      return {
        msgId,
        jpushReceived: toCount(row.jpush_received),
        androidPnsSent: toCount(row.android_pns_sent),
        androidPnsReceived: toCount(row.android_pns_received),
        iosApnsSent: toCount(row.ios_apns_sent),
        iosApnsReceived: toCount(row.ios_apns_received),
        iosMsgReceived: toCount(row.ios_msg_received),
        hmosHmpnsReceived: toCount(row.hmos_hmpns_received),
        hmosMsgReceived: toCount(row.hmos_msg_received),
      };
    });
  }

  /**
   * A device's alias, tags and mobile (`GET /v3/devices/{rid}`).
   * @param registrationId the device
   * @param options per-call options (abort signal)
   * @returns the device; an empty alias or mobile comes back as null
   * @throws JPushRejectedError for an empty id, or any {@link JPushError}
   *   the call raises
   */
  async getDevice(
    registrationId: string,
    options?: CallOptions
  ): Promise<DeviceInfo> {
    const operation = 'getDevice';
    const rid = pathSegment(operation, registrationId, 'registrationId');
    const { json } = await this.#call(
      { operation, api: 'device', method: 'GET', path: `/v3/devices/${rid}` },
      options
    );
    if (!isObject(json)) {
      throw unexpectedBody(operation, json);
    }
    const tags = json.tags;
    return {
      alias: nonEmptyString(json.alias),
      tags: Array.isArray(tags)
        ? tags.filter((tag): tag is string => typeof tag === 'string')
        : [],
      mobile: nonEmptyString(json.mobile),
    };
  }

  /**
   * Sets or clears a device's alias, tags, mobile (`POST /v3/devices/{rid}`).
   * The body is sent as given; `alias: ''` clears the alias.
   * @param registrationId the device
   * @param update the changes
   * @param options per-call options (abort signal)
   * @throws JPushRejectedError (e.g. code 7015: the alias already has 10
   *   devices), or any {@link JPushError} the call raises
   */
  async updateDevice(
    registrationId: string,
    update: DeviceUpdate,
    options?: CallOptions
  ): Promise<void> {
    const operation = 'updateDevice';
    const rid = pathSegment(operation, registrationId, 'registrationId');
    await this.#call(
      {
        operation,
        api: 'device',
        method: 'POST',
        path: `/v3/devices/${rid}`,
        body: toJson(update),
      },
      options
    );
  }

  /**
   * The registration ids bound to an alias (`GET /v3/aliases/{alias}`).
   * @param alias the alias
   * @param platform limits the answer to these platforms (default: all)
   * @param options per-call options (abort signal)
   * @returns the registration ids (JPush lists at most 10)
   * @throws JPushRejectedError for an empty alias, or any
   *   {@link JPushError} the call raises
   */
  async getAliasDevices(
    alias: string,
    platform?: readonly Platform[],
    options?: CallOptions
  ): Promise<string[]> {
    const operation = 'getAliasDevices';
    const segment = pathSegment(operation, alias, 'alias');
    const { json } = await this.#call(
      {
        operation,
        api: 'device',
        method: 'GET',
        path: `/v3/aliases/${segment}${platformQuery(platform)}`,
      },
      options
    );
    return stringArray(operation, json, 'registration_ids');
  }

  /**
   * Removes an alias from all its devices (`DELETE /v3/aliases/{alias}`).
   * @param alias the alias
   * @param platform only on these platforms (default: all)
   * @param options per-call options (abort signal)
   * @throws JPushRejectedError for an empty alias, or any
   *   {@link JPushError} the call raises
   */
  async deleteAlias(
    alias: string,
    platform?: readonly Platform[],
    options?: CallOptions
  ): Promise<void> {
    const operation = 'deleteAlias';
    const segment = pathSegment(operation, alias, 'alias');
    await this.#call(
      {
        operation,
        api: 'device',
        method: 'DELETE',
        path: `/v3/aliases/${segment}${platformQuery(platform)}`,
      },
      options
    );
  }

  /**
   * Unbinds some devices from an alias (`POST /v3/aliases/{alias}` with
   * `registration_ids.remove`). No ids: nothing to do, no call.
   * @param alias the alias
   * @param registrationIds the devices to unbind (at most 1000)
   * @param options per-call options (abort signal)
   * @throws JPushRejectedError for bad arguments, or any {@link JPushError}
   *   the call raises
   */
  async removeDevicesFromAlias(
    alias: string,
    registrationIds: readonly string[],
    options?: CallOptions
  ): Promise<void> {
    const operation = 'removeDevicesFromAlias';
    const segment = pathSegment(operation, alias, 'alias');
    assertMaxLength(
      operation,
      registrationIds,
      MAX_REGISTRATION_IDS,
      'registrationIds'
    );
    if (registrationIds.length === 0) {
      return;
    }
    await this.#call(
      {
        operation,
        api: 'device',
        method: 'POST',
        path: `/v3/aliases/${segment}`,
        body: toJson({ registration_ids: { remove: registrationIds } }),
      },
      options
    );
  }

  /**
   * Sends one request; returns the parsed 2xx body or throws typed. A 401
   * (the credentials were rotated) reloads the credentials bypassing any
   * cache and sends the request once more, if they changed: nothing was
   * done on a 401, so even a push is safe to send again.
   */
  async #call(spec: CallSpec, options?: CallOptions): Promise<CallResult> {
    const credentials = await this.#resolveCredentials(spec.operation);
    try {
      return await this.#send(spec, credentials, options);
    } catch (error) {
      const refused =
        error instanceof JPushRejectedError && error.httpStatus === 401;
      if (!refused || !this.#refreshable) {
        throw error;
      }
      const fresh = await this.#refreshCredentials(spec.operation, credentials);
      if (fresh.authorization === credentials.authorization) {
        throw stillRefused(error, 'the credentials read again were the same');
      }
      try {
        return await this.#send(spec, fresh, options);
      } catch (retryError) {
        throw retryError instanceof JPushRejectedError &&
          retryError.httpStatus === 401
          ? stillRefused(retryError, 'also with the credentials read again')
          : retryError;
      }
    }
  }

  /** Sends one request with these credentials. */
  async #send(
    spec: CallSpec,
    credentials: ResolvedCredentials,
    options?: CallOptions
  ): Promise<CallResult> {
    const url = `${this.#baseUrls[spec.api]}${spec.path}`;
    let status: number;
    let headers: Headers;
    let text: string;
    const transfer = new TimedTransfer(this.#timeoutMs, options?.signal);
    try {
      const response = await this.#fetch(url, {
        method: spec.method,
        headers: {
          authorization: credentials.authorization,
          accept: 'application/json',
          'content-type': 'application/json; charset=utf-8',
          'user-agent': this.#userAgent,
        },
        ...(spec.body === undefined ? {} : { body: spec.body }),
        // A redirect is an answer to map, not a place to send the secret.
        redirect: 'manual',
        signal: transfer.signal,
      });
      status = response.status;
      headers = response.headers;
      text = await transfer.readText(response);
    } catch (error) {
      throw this.#transportError(spec, error, transfer, credentials);
    } finally {
      transfer.end();
    }
    const rateLimit = readRateLimit(headers);
    if (rateLimit) {
      this.#reportRateLimit(rateLimit, spec.operation);
    }
    const parsed = parseBody(text);
    const envelope = parsed.ok ? errorEnvelope(parsed.value) : undefined;
    if (status >= 200 && status < 300 && envelope === undefined) {
      if (!parsed.ok) {
        const outcome = spec.unknownOutcomeOnTransportFailure
          ? 'outcome unknown'
          : 'failed';
        const message = scrub(
          `JPush ${spec.operation} ${outcome}: HTTP ${status} with a body that is not JSON: ${snippet(text)}`,
          credentials
        );
        const details = { httpStatus: status, rateLimit };
        // A 2xx push was accepted: only its msg_id is missing.
        throw spec.unknownOutcomeOnTransportFailure
          ? new JPushUnknownOutcomeError(message, details)
          : new JPushServerError(message, details);
      }
      return { json: parsed.value, ...(rateLimit ? { rateLimit } : {}) };
    }
    throw httpError(
      spec.operation,
      status,
      parsed.ok ? parsed.value : undefined,
      envelope,
      text,
      rateLimit,
      credentials
    );
  }

  /** Maps a failure without a usable response to a typed error. */
  #transportError(
    spec: CallSpec,
    error: unknown,
    transfer: TimedTransfer,
    credentials: ResolvedCredentials
  ): JPushError {
    const reason = scrub(
      describeTransportError(error, this.#timeoutMs, transfer.timedOut),
      { secrets: credentials.secrets }
    );
    if (spec.unknownOutcomeOnTransportFailure) {
      return new JPushUnknownOutcomeError(
        `JPush ${spec.operation} outcome unknown: ${reason}; it may have been sent (retry with the same cid)`,
        { cause: error }
      );
    }
    return new JPushServerError(`JPush ${spec.operation} failed: ${reason}`, {
      cause: error,
    });
  }

  /**
   * Loads the credentials again, bypassing any cache, unless another call
   * has done so since `stale` was loaded: calls that met the same 401
   * share one reload.
   */
  async #refreshCredentials(
    operation: string,
    stale: ResolvedCredentials
  ): Promise<ResolvedCredentials> {
    const current = this.#credentials;
    const settled = await current?.catch(() => undefined);
    if (this.#credentials === current && (settled ?? stale) === stale) {
      this.#credentials = undefined;
      this.#refreshNext = true;
    }
    return this.#resolveCredentials(operation);
  }

  /**
   * Loads the credentials once; a failed load is retried next call (past
   * the cache, while a reload after a 401 has not succeeded).
   */
  async #resolveCredentials(operation: string): Promise<ResolvedCredentials> {
    this.#credentials ??= this.#loadCredentials({
      refresh: this.#refreshNext,
    }).then((loaded) => {
      this.#refreshNext = false;
      return toResolvedCredentials(loaded);
    });
    const loading = this.#credentials;
    try {
      return await loading;
    } catch (error) {
      // Forget the failure so that the next call loads again.
      if (this.#credentials === loading) {
        this.#credentials = undefined;
      }
      const message = `JPush ${operation} failed: the JPush credentials could not be loaded (${describeCredentialError(error)})`;
      // Nothing was sent, so even a push may simply be retried once the
      // provider recovers; unusable credentials need someone to fix them.
      throw error instanceof InvalidCredentialsError
        ? new JPushRejectedError(message)
        : new JPushServerError(message, { cause: error });
    }
  }

  #reportRateLimit(rateLimit: RateLimit, operation: string): void {
    try {
      this.#onRateLimit?.(rateLimit, operation);
    } catch {
      // An observer must not break the call it observes.
    }
  }
}

/** A 401 that reading the credentials again did not cure. */
const stillRefused = (
  error: JPushRejectedError,
  why: string
): JPushRejectedError =>
  new JPushRejectedError(`${error.message} (${why})`, error);

/** Thrown by credential validation; its message never holds a value. */
class InvalidCredentialsError extends Error {}

const toResolvedCredentials = (
  credentials: JPushCredentials
): ResolvedCredentials => {
  // Secrets pasted into Secrets Manager often carry a trailing newline; JPush
  // keys are alphanumeric, so trimming cannot damage a valid key.
  const appKey =
    typeof credentials?.appKey === 'string' ? credentials.appKey.trim() : '';
  const masterSecret =
    typeof credentials?.masterSecret === 'string'
      ? credentials.masterSecret.trim()
      : '';
  if (appKey === '' || masterSecret === '') {
    throw new InvalidCredentialsError('appKey or masterSecret is empty');
  }
  if (appKey.includes(':')) {
    throw new InvalidCredentialsError('appKey contains a colon');
  }
  const token = Buffer.from(`${appKey}:${masterSecret}`, 'utf8').toString(
    'base64'
  );
  return {
    authorization: `Basic ${token}`,
    // A very short secret (a test value) would blank out ordinary letters.
    secrets: [masterSecret, token].filter(
      (secret) => secret.length >= MIN_SCRUBBED_SECRET_CHARS
    ),
  };
};

const describeCredentialError = (error: unknown): string =>
  error instanceof InvalidCredentialsError
    ? error.message
    : 'the credentials provider failed';

const normalizeBaseUrl = (value: string): string => {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new TypeError(`JPushClient: invalid base URL "${value}"`);
  }
  if (url.search !== '' || url.hash !== '' || url.username !== '') {
    throw new TypeError(
      `JPushClient: a base URL takes no query, fragment or credentials ("${url.origin}")`
    );
  }
  return `${url.origin}${url.pathname}`.replace(/\/+$/, '');
};

const toJson = (value: unknown): string => {
  const text = stringify(value);
  if (text === undefined) {
    throw new TypeError('JPush request body has no JSON representation');
  }
  return text;
};

type Parsed =
  | { readonly ok: true; readonly value: unknown }
  | { readonly ok: false };

/**
 * Parses JSON without losing digits: integers beyond 2^53 stay strings
 * (msg_ids), every other number becomes a JS number. Empty text is
 * `undefined` (JPush answers some calls with an empty 200).
 */
const parseBody = (text: string): Parsed => {
  if (text.trim() === '') {
    return { ok: true, value: undefined };
  }
  try {
    return {
      ok: true,
      value: parse(text, null, {
        parseNumber: (digits) =>
          /^-?\d+$/.test(digits) && !Number.isSafeInteger(Number(digits))
            ? digits
            : Number(digits),
        // Last one wins, as with JSON.parse.
        onDuplicateKey: ({ newValue }) => newValue,
      }),
    };
  } catch {
    return { ok: false };
  }
};

interface Envelope {
  readonly code?: number;
  readonly message?: string;
  readonly msgId?: string;
}

/**
 * Finds JPush's `{error:{code,message}}` (plus a top-level `msg_id`), also
 * inside an array's first element as JPush's Java SDK tolerates.
 */
const errorEnvelope = (value: unknown): Envelope | undefined => {
  const holder = Array.isArray(value) ? value[0] : value;
  if (!isObject(holder) || !isObject(holder.error)) {
    return undefined;
  }
  const { code, message } = holder.error;
  const numericCode =
    typeof code === 'number'
      ? code
      : typeof code === 'string' && /^\d+$/.test(code)
        ? Number(code)
        : undefined;
  return {
    ...(numericCode === undefined ? {} : { code: numericCode }),
    ...(typeof message === 'string' && message !== '' ? { message } : {}),
    ...(idString(holder.msg_id) === undefined
      ? {}
      : { msgId: idString(holder.msg_id) }),
  };
};

/** Maps a non-2xx response (or a 2xx error envelope) to a typed error. */
const httpError = (
  operation: string,
  status: number,
  json: unknown,
  envelope: Envelope | undefined,
  text: string,
  rateLimit: RateLimit | undefined,
  credentials: ResolvedCredentials
): JPushError => {
  const code = envelope?.code;
  let explanation: string;
  if (envelope) {
    const parts = [
      code === undefined ? undefined : `code ${code}`,
      envelope.message,
    ].filter((part) => part !== undefined);
    explanation = parts.length > 0 ? parts.join(': ') : snippet(json);
  } else if (text.trim() === '') {
    explanation = 'empty body';
  } else {
    explanation = snippet(json === undefined ? text : json);
  }
  const message = scrub(
    `JPush ${operation} failed: HTTP ${status}, ${explanation}`,
    credentials
  );
  const details: JPushErrorDetails = {
    httpStatus: status,
    ...(code === undefined ? {} : { code }),
    ...(envelope?.msgId === undefined ? {} : { msgId: envelope.msgId }),
    ...(rateLimit ? { rateLimit } : {}),
  };
  if (status === 429 || code === RATE_LIMIT_CODE) {
    return new JPushRateLimitError(message, details);
  }
  if (code === NO_TARGET_CODE) {
    return new JPushNoTargetError(message, details);
  }
  if (status >= 500 || (code !== undefined && SERVER_ERROR_CODES.has(code))) {
    return new JPushServerError(message, details);
  }
  // 4xx, and odd statuses (3xx): the request or the setup is wrong.
  return new JPushRejectedError(message, details);
};

const readRateLimit = (headers: Headers): RateLimit | undefined => {
  const limit =
    headerInt(headers.get('x-rate-limit-limit')) ??
    headerInt(headers.get('x-rate-limit-quota'));
  const remaining = headerInt(headers.get('x-rate-limit-remaining'));
  const resetSeconds = headerInt(headers.get('x-rate-limit-reset'));
  if (
    limit === undefined &&
    remaining === undefined &&
    resetSeconds === undefined
  ) {
    return undefined;
  }
  return {
    ...(limit === undefined ? {} : { limit }),
    ...(remaining === undefined ? {} : { remaining }),
    ...(resetSeconds === undefined ? {} : { resetSeconds }),
  };
};

const headerInt = (value: string | null): number | undefined => {
  // Headers joins repeated fields with ", "; the first one counts.
  const first = value?.split(',')[0]?.trim();
  if (first === undefined || !/^\d{1,15}$/.test(first)) {
    return undefined;
  }
  return Number(first);
};

/**
 * One call's deadline: the response headers within `timeoutMs` of the start,
 * then no pause longer than `timeoutMs` while the body streams in. Aborts
 * the request when the deadline passes or when the caller's signal aborts.
 */
class TimedTransfer {
  readonly #controller = new AbortController();
  readonly #timeoutMs: number;
  readonly #callerSignal?: AbortSignal;
  readonly #onCallerAbort = () =>
    this.#controller.abort(this.#callerSignal?.reason);
  #timer?: ReturnType<typeof setTimeout>;
  /** Which deadline passed, if one did. */
  timedOut?: 'headers' | 'body';

  constructor(timeoutMs: number, callerSignal?: AbortSignal) {
    this.#timeoutMs = timeoutMs;
    if (callerSignal) {
      this.#callerSignal = callerSignal;
      if (callerSignal.aborted) {
        this.#onCallerAbort();
      } else {
        callerSignal.addEventListener('abort', this.#onCallerAbort, {
          once: true,
        });
      }
    }
    this.#arm('headers');
  }

  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  /** Reads the body as UTF-8 text, each pause under the deadline. */
  async readText(response: Response): Promise<string> {
    if (response.body === null) {
      return '';
    }
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let text = '';
    for (;;) {
      this.#arm('body');
      const { done, value } = await reader.read();
      if (done) {
        return text + decoder.decode();
      }
      text += decoder.decode(value, { stream: true });
    }
  }

  /** Stops the clock and forgets the caller's signal. */
  end(): void {
    clearTimeout(this.#timer);
    this.#callerSignal?.removeEventListener('abort', this.#onCallerAbort);
  }

  #arm(phase: 'headers' | 'body'): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.timedOut = phase;
      this.#controller.abort();
    }, this.#timeoutMs);
  }
}

const describeTransportError = (
  error: unknown,
  timeoutMs: number,
  timedOut: 'headers' | 'body' | undefined
): string => {
  if (timedOut === 'headers') {
    return `no response within ${timeoutMs} ms`;
  }
  if (timedOut === 'body') {
    return `the response body stalled for ${timeoutMs} ms`;
  }
  if (error instanceof Error && error.name === 'AbortError') {
    return 'the call was aborted';
  }
  // fetch rejects with "fetch failed"; the socket's error is the cause.
  const cause =
    error instanceof Error && error.cause instanceof Error
      ? error.cause
      : error;
  const code =
    isObject(cause) && typeof cause.code === 'string' ? cause.code : undefined;
  const text = cause instanceof Error ? cause.message : String(cause);
  return code === undefined || text.includes(code) ? text : `${text} (${code})`;
};

const scrub = (
  message: string,
  credentials: Pick<ResolvedCredentials, 'secrets'>
): string =>
  credentials.secrets.reduce(
    (text, secret) => text.split(secret).join('[redacted]'),
    message
  );

/** A readable excerpt of a body for an error message. */
const snippet = (value: unknown): string => {
  let text: string;
  if (value === undefined) {
    return 'empty body';
  }
  if (typeof value === 'string') {
    // HTML error pages (nginx): keep the words, drop the markup.
    text = value.replace(/<[^>]*>/g, ' ');
  } else {
    text = toJson(value);
  }
  text = text.replace(/\s+/g, ' ').trim();
  return text.length > MAX_SNIPPET_CHARS
    ? `${text.slice(0, MAX_SNIPPET_CHARS)}…`
    : text;
};

const unexpectedBody = (operation: string, json: unknown): JPushServerError =>
  new JPushServerError(
    `JPush ${operation} failed: unexpected response body: ${snippet(json)}`
  );

const invalidArgument = (
  operation: string,
  problem: string
): JPushRejectedError =>
  new JPushRejectedError(`JPush ${operation} not sent: ${problem}`);

const assertMsgId = (operation: string, msgId: string, name: string): void => {
  if (typeof msgId !== 'string' || !MSG_ID_PATTERN.test(msgId)) {
    throw invalidArgument(
      operation,
      `${name} must be 1 to 20 digits without leading zeros`
    );
  }
};

/** The msg_id as a JSON number token: written unquoted, digits intact. */
const numericMsgId = (
  operation: string,
  msgId: string,
  name: string
): LosslessNumber => {
  assertMsgId(operation, msgId, name);
  return new LosslessNumber(msgId);
};

const assertMaxLength = (
  operation: string,
  values: readonly unknown[],
  max: number,
  name: string
): void => {
  if (!Array.isArray(values)) {
    throw invalidArgument(operation, `${name} must be an array`);
  }
  if (values.length > max) {
    throw invalidArgument(
      operation,
      `${name} has ${values.length} entries; JPush takes at most ${max} per call`
    );
  }
};

/**
 * Encodes one path segment. `.` and `..` are refused: URL parsing would
 * resolve them (even percent-encoded) and hit another path.
 */
const pathSegment = (operation: string, value: string, name: string) => {
  if (typeof value !== 'string' || value === '') {
    throw invalidArgument(operation, `${name} must be a non-empty string`);
  }
  if (value === '.' || value === '..') {
    throw invalidArgument(operation, `${name} cannot be "${value}"`);
  }
  return encodeURIComponent(value);
};

const platformQuery = (platform: readonly Platform[] | undefined): string =>
  platform === undefined || platform.length === 0
    ? ''
    : `?platform=${platform.map(encodeURIComponent).join(',')}`;

const stringArray = (
  operation: string,
  json: unknown,
  key: string
): string[] => {
  const list = isObject(json) ? json[key] : undefined;
  if (!Array.isArray(list) || !list.every((item) => typeof item === 'string')) {
    throw unexpectedBody(operation, json);
  }
  return list;
};

/** A msg_id from a body (string or number) as a string of digits. */
const idString = (value: unknown): string | undefined => {
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) {
    return String(value);
  }
  // Unsafe integers arrive as digit strings from parseBody.
  if (typeof value === 'string' && /^\d+$/.test(value)) {
    return value;
  }
  return undefined;
};

const toCount = (value: unknown): number | null => {
  if (typeof value === 'number' && Number.isFinite(value)) {
    return value;
  }
  if (typeof value === 'string' && /^\d+$/.test(value)) {
    return Number(value);
  }
  return null;
};

/** `""`, null and absent are "no value"; numbers (mobile) become strings. */
const nonEmptyString = (value: unknown): string | null => {
  if (typeof value === 'number') {
    return String(value);
  }
  return typeof value === 'string' && value !== '' ? value : null;
};

const isObject = (value: unknown): value is JsonObject =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
