/**
 * The JPush port: what the domain needs from JPush, and the errors it can
 * raise. The adapter (`functions/adapters/jpush-client.ts`) implements it over
 * HTTP; tests may use the JPush simulator (`local/jpush-simulator/`).
 *
 * msg_ids are strings everywhere: JPush's ids have 17 digits and exceed
 * `Number.MAX_SAFE_INTEGER`.
 */

/** JPush's rate-limit headers (`X-Rate-Limit-*`), when present. */
export interface RateLimit {
  /** Calls allowed per window (`X-Rate-Limit-Limit`, or `-Quota`). */
  readonly limit?: number;
  /** Calls left in the current window. */
  readonly remaining?: number;
  /** Seconds until the window resets. */
  readonly resetSeconds?: number;
}

/** Platforms a push can target. */
export type Platform = 'android' | 'ios';

/** A JPush push object (`POST /v3/push`), typed for the fields we use. */
export interface PushPayload {
  readonly platform: 'all' | readonly Platform[];
  readonly audience: {
    readonly registration_id?: readonly string[];
    readonly alias?: readonly string[];
  };
  readonly notification?: {
    readonly alert?: string;
    readonly android?: {
      readonly alert: string;
      readonly title?: string;
      readonly extras?: Record<string, unknown>;
    };
    readonly ios?: {
      readonly alert: string | { title?: string; body: string };
      readonly sound?: string;
      readonly 'content-available'?: boolean;
      /** iOS runs the app's Notification Service Extension on it (it ACKs). */
      readonly 'mutable-content'?: boolean;
      readonly extras?: Record<string, unknown>;
    };
  };
  readonly message?: {
    readonly msg_content: string;
    readonly title?: string;
    readonly extras?: Record<string, unknown>;
  };
  readonly options?: {
    readonly sendno?: number;
    readonly time_to_live?: number;
    /** A previous msg_id (a string here; sent as a JSON number). */
    readonly override_msg_id?: string;
    readonly apns_production?: boolean;
    /** iOS: a notification with the same id replaces the one shown. */
    readonly apns_collapse_id?: string;
  };
  /** Idempotency key from {@link JPushPort.getCids}. */
  readonly cid?: string;
}

/** What `/v3/push` answered. */
export interface PushResult {
  readonly msgId: string;
  readonly sendno: string;
  readonly rateLimit?: RateLimit;
}

/** Per-device delivery status codes of `/v3/status/message`. */
export const DeliveryStatus = {
  delivered: 0,
  notDelivered: 1,
  notThisApp: 2,
  notTarget: 3,
  systemError: 4,
} as const;

/** A row of `/v3/received/detail`; any counter may be null. */
export interface ReceivedDetail {
  readonly msgId: string;
  readonly jpushReceived: number | null;
  readonly androidPnsSent: number | null;
  readonly androidPnsReceived: number | null;
  readonly iosApnsSent: number | null;
  readonly iosApnsReceived: number | null;
  readonly iosMsgReceived: number | null;
  /** HarmonyOS push service (`hmos_hmpns_received`). */
  readonly hmosHmpnsReceived?: number | null;
  /** HarmonyOS JPush channel (`hmos_msg_received`). */
  readonly hmosMsgReceived?: number | null;
}

/** A device as the Device API shows it. */
export interface DeviceInfo {
  readonly alias: string | null;
  readonly tags: readonly string[];
  readonly mobile: string | null;
}

/** The body of `POST /v3/devices/{rid}`; `alias: ''` clears the alias. */
export interface DeviceUpdate {
  readonly alias?: string;
  readonly mobile?: string;
  readonly tags?: '' | { add?: string[]; remove?: string[] };
}

/** Per-call options. */
export interface CallOptions {
  /** Aborts the call. */
  readonly signal?: AbortSignal;
}

/** What the domain needs from JPush. Every method throws a {@link JPushError}. */
export interface JPushPort {
  /** `POST /v3/push`. A timeout throws {@link JPushUnknownOutcomeError}. */
  push(payload: PushPayload, options?: CallOptions): Promise<PushResult>;
  /** `GET /v3/push/cid?count=n`: idempotency keys for pushes. */
  getCids(count?: number, options?: CallOptions): Promise<string[]>;
  /** `DELETE /v3/push/{msg_id}`: withdraws a message not yet delivered. */
  withdraw(msgId: string, options?: CallOptions): Promise<void>;
  /** `POST /v3/status/message`: status code per registration id. */
  messageStatus(
    msgId: string,
    registrationIds: readonly string[],
    date?: string,
    options?: CallOptions
  ): Promise<Record<string, number>>;
  /** `GET /v3/received/detail?msg_ids=...` (at most 100 ids). */
  receivedDetail(
    msgIds: readonly string[],
    options?: CallOptions
  ): Promise<ReceivedDetail[]>;
  /** `GET /v3/devices/{rid}`. */
  getDevice(registrationId: string, options?: CallOptions): Promise<DeviceInfo>;
  /**
   * `POST /v3/devices/{rid}`. `alias: ''` clears the device's alias.
   * Throws {@link JPushRejectedError} with code 7015 when the alias already
   * has 10 devices.
   */
  updateDevice(
    registrationId: string,
    update: DeviceUpdate,
    options?: CallOptions
  ): Promise<void>;
  /** `GET /v3/aliases/{alias}`: the registration ids bound to an alias. */
  getAliasDevices(
    alias: string,
    platform?: readonly Platform[],
    options?: CallOptions
  ): Promise<string[]>;
  /** `DELETE /v3/aliases/{alias}`: removes the alias from all its devices. */
  deleteAlias(
    alias: string,
    platform?: readonly Platform[],
    options?: CallOptions
  ): Promise<void>;
  /** `POST /v3/aliases/{alias}` with `registration_ids.remove`. */
  removeDevicesFromAlias(
    alias: string,
    registrationIds: readonly string[],
    options?: CallOptions
  ): Promise<void>;
}

/** Details every JPush error carries. */
export interface JPushErrorDetails {
  /** HTTP status, or undefined when no response came. */
  readonly httpStatus?: number;
  /** JPush's error code (`error.code`), when the body had one. */
  readonly code?: number;
  /** msg_id from an error body (e.g. 1011), as a string. */
  readonly msgId?: string;
  readonly rateLimit?: RateLimit;
  readonly cause?: unknown;
}

/** Base class of every error the JPush client throws. */
export class JPushError extends Error {
  public readonly httpStatus?: number;
  public readonly code?: number;
  public readonly msgId?: string;
  public readonly rateLimit?: RateLimit;

  constructor(message: string, details: JPushErrorDetails = {}) {
    super(message, { cause: details.cause });
    this.name = new.target.name;
    this.httpStatus = details.httpStatus;
    this.code = details.code;
    this.msgId = details.msgId;
    this.rateLimit = details.rateLimit;
  }
}

/** HTTP 429 / code 2002: retry after `rateLimit.resetSeconds`. */
export class JPushRateLimitError extends JPushError {
  /** True when the shared pacing held the call back: JPush was not called. */
  get paced(): boolean {
    return false;
  }
}

/**
 * The shared pacing saw JPush's window used up and did not make the call
 * (what a 429 would have said, without spending a request on it).
 */
export class JPushPacedError extends JPushRateLimitError {
  override get paced(): boolean {
    return true;
  }
}

/** 5xx, or JPush's "internal error, retry later" codes: retryable. */
export class JPushServerError extends JPushError {}

/**
 * The request may or may not have reached JPush (timeout, dropped
 * connection). A push retried with the same `cid` cannot duplicate.
 */
export class JPushUnknownOutcomeError extends JPushError {}

/** Code 1011: no device matches the audience. Carries msg_id when given. */
export class JPushNoTargetError extends JPushError {}

/** Any other 4xx: the request is wrong and retrying will not help. */
export class JPushRejectedError extends JPushError {}
