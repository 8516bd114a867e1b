/**
 * Public types of the JPush simulator. See `index.ts` for the entry point and
 * the project's JPush reference for the behaviour each type models.
 */

/** The API families JPush rate-limits separately (reference §1.5). */
export type ApiFamily = 'push' | 'report' | 'device';

/**
 * What a call is, for counting calls: `push` (`POST /v3/push`,
 * `/v3/push/validate` and other Push API paths), `cid` (`GET /v3/push/cid`),
 * `withdraw` (`DELETE /v3/push/{msg_id}`), `report` (`/v3/received*`,
 * `/v3/status/*`, …) and `device` (devices, aliases, tags). `cid` and
 * `withdraw` count against the push family's rate limit.
 */
export type CallFamily = 'push' | 'cid' | 'report' | 'device' | 'withdraw';

/**
 * The fault a request met, as its log entry records it:
 * - `lost-response`: handled fully (a push delivered or queued, a withdraw
 *   done, an alias set, a bad request rejected), then the connection was
 *   destroyed instead of answering (`lostResponseRate`, or a scripted fault
 *   with `afterActing`);
 * - `dropped`: the connection was destroyed before anything was done
 *   (`dropConnectionRate`, or a scripted fault with `drop`);
 * - `rate-limited`: 429 code 2002 without acting (`rateLimitRate`, or over
 *   `rateLimitPerMinute`);
 * - `server-error`: 500 with the family's code, without acting;
 * - `scripted`: answered by a scripted fault's status and body.
 */
export type FaultKind =
  | 'lost-response'
  | 'dropped'
  | 'rate-limited'
  | 'server-error'
  | 'scripted';

/** Fault settings that apply to every API request. */
export interface Faults {
  /** Calls per minute and API family; over the limit → HTTP 429 code 2002. */
  rateLimitPerMinute: { push: number; report: number; device: number };
  /** 0..1 probability of HTTP 500 (code 1000 push / 10 report / 7000 device). */
  serverErrorRate: number;
  /** Delay added before every API response, in ms. */
  latencyMs: number;
  /** 0..1 probability of destroying the socket without a response. */
  dropConnectionRate: number;
  /**
   * 0..1 probability that the request is handled fully (JPush acted), then
   * the socket is destroyed without a response.
   */
  lostResponseRate: number;
  /**
   * 0..1 probability of HTTP 429 code 2002 with `X-Rate-Limit-Remaining: 0`,
   * without acting; on top of the limits of `rateLimitPerMinute`.
   */
  rateLimitRate: number;
  /**
   * The API families the rates above and `latencyMs` apply to, so that e.g.
   * only pushes fail. @default ['push', 'report', 'device']
   */
  families: ApiFamily[];
}

/** A change of {@link Faults}: any subset; per-family limits merge too. */
export type FaultsUpdate = Partial<Omit<Faults, 'rateLimitPerMinute'>> & {
  rateLimitPerMinute?: Partial<Faults['rateLimitPerMinute']>;
};

/** Options of {@link startJPushSimulator}. */
export interface SimulatorOptions {
  /** @default '127.0.0.1' */
  host?: string;
  /** @default 0 (a free port) */
  port?: number;
  /** @default env JPUSH_APP_KEY, else 'simAppKey000000000000000' */
  appKey?: string;
  /** @default env JPUSH_MASTER_SECRET, else 'simMasterSecret000000000' */
  masterSecret?: string;
  /** Clock in ms, used for TTL expiry and dates. @default Date.now */
  now?: () => number;
  /**
   * Base URL of the system's API. autoAck devices (but not those on a
   * vendor channel) and iOS devices with an extension (for a notification
   * with `mutable-content`) POST
   * `${ackBaseUrl}/v1/messages/${extras.messageId}/ack` with
   * `{"token": extras.ackToken, "registrationId": <the device's own>}`.
   * @default no ACKs are sent
   */
  ackBaseUrl?: string;
  /**
   * The faults at start, and what `DELETE /local/jpush/faults` goes back to.
   * @default no faults, rate limits 600 / 2400 / 600 per minute
   */
  faults?: FaultsUpdate;
  /** false → `/v3/status/message` answers 403 code 2006. @default true */
  vip?: boolean;
  /** Random source in [0, 1) for fault and drop rolls. @default Math.random */
  random?: () => number;
  /**
   * Clock (ms) of the one-minute rate-limit windows. A time-scaled local
   * system runs them in its policy time, as it runs every other wait.
   * @default `now`
   */
  rateLimitNow?: () => number;
}

/** Settings of a simulated device; every field is optional. */
export interface SimDeviceSettings {
  online?: boolean;
  autoAck?: boolean;
  ackDelayMs?: number;
  /** 0..1 probability that a push to this device is lost in the network. */
  dropRate?: number;
  platform?: 'android' | 'ios';
  /**
   * iOS only: the app has a Notification Service Extension that ACKs. A
   * notification with `mutable-content` is ACKed when it arrives, whether
   * or not the app runs or the user opens it (`autoAck` is the app itself).
   */
  extension?: boolean;
  /**
   * Android only: notifications arrive through the phone maker's channel
   * (the app is not running): the system shows them, the app's code never
   * runs, so nothing ACKs them, whatever `autoAck` says; the report counts
   * them in `android_pns_sent` / `android_pns_received`, not in
   * `jpush_received`.
   */
  vendorChannel?: boolean;
}

/** A push as a device received it. */
export interface ReceivedPush {
  msgId: string;
  /** ISO time of delivery. */
  at: string;
  title?: string;
  alert: string;
  extras: Record<string, unknown>;
  /** true once the message was withdrawn (`DELETE /v3/push/{msg_id}`). */
  withdrawn?: boolean;
  /** The APNs collapse id it was shown with (iOS notifications). */
  collapseId?: string;
  /** true: the device's Notification Service Extension ran on it (iOS). */
  serviceExtension?: boolean;
  /** true: it came through the vendor's channel; no app code ran (Android). */
  vendorChannel?: boolean;
  /**
   * true once a later notification replaced it in the tray: on Android one
   * whose `override_msg_id` is this msg_id, on iOS one with the same APNs
   * collapse id.
   */
  replaced?: boolean;
}

/** A simulated device as the controls show it. */
export interface SimDeviceState {
  registrationId: string;
  platform: 'android' | 'ios';
  alias: string | null;
  online: boolean;
  autoAck: boolean;
  ackDelayMs: number;
  dropRate: number;
  /** iOS: a Notification Service Extension ACKs what arrives. */
  extension: boolean;
  /** Android: notifications come through the vendor's channel, unACKed. */
  vendorChannel: boolean;
  /** Oldest first. */
  received: ReceivedPush[];
  /** Offline queue length. */
  queued: number;
}

/** A one-off scripted answer, consumed by the next matching API request. */
export interface ScriptedFault {
  /** Matches the request's path (without query). @default any path */
  path?: string | RegExp;
  /** @default any method */
  method?: string;
  /** HTTP status of the answer; unused with `drop` or `afterActing`. @default 500 */
  status?: number;
  /** JPush error code of the JSON envelope. @default derived from status */
  code?: number;
  message?: string;
  /** Raw non-JSON body, e.g. '<html>502 Bad Gateway</html>'. */
  body?: string;
  headers?: Record<string, string>;
  /** How many requests it answers. @default 1 */
  times?: number;
  /** Destroy the socket instead of answering, before acting. */
  drop?: boolean;
  /**
   * Handle the request as usual (JPush acts), then destroy the socket
   * instead of answering: a lost response.
   */
  afterActing?: boolean;
  /**
   * Delay before answering or dropping, in ms; with `afterActing`, between
   * acting and losing the answer (the caller still waits meanwhile).
   */
  delayMs?: number;
}

/** An entry of the simulator's request log. */
export interface LoggedRequest {
  method: string;
  /** Path with query string, as received. */
  path: string;
  body: string;
  /** ISO time. */
  at: string;
  /** What the call is, see {@link CallFamily}. */
  family: CallFamily;
  /** The fault applied to it, if any. */
  fault?: FaultKind;
  /**
   * What JPush answered once it handled the request (HTTP status and body),
   * also when the answer was then lost; absent when it never got that far
   * (dropped, 429, 5xx, scripted).
   */
  answer?: { status: number; body: string };
}
