/**
 * The simulator's device and message model (reference §2, §3.3, §4, §5).
 * Pure: no I/O, an injected clock and random source; deliveries are reported
 * through a callback.
 */
import { randomUUID } from 'node:crypto';
import { ApiError } from './api-error.ts';
import {
  aliasProblem,
  contentFor,
  type PushContent,
  REGISTRATION_ID_PATTERN,
  type ValidatedPush,
} from './push-object.ts';
import type {
  ReceivedPush,
  SimDeviceSettings,
  SimDeviceState,
} from './types.ts';

/** Offline messages kept per device (reference §5: the 5 most recent). */
export const OFFLINE_QUEUE_LIMIT = 5;

/** Devices one alias may hold since 2020-03-10 (reference §4, §4.2). */
export const MAX_DEVICES_PER_ALIAS = 10;

/** How long `override_msg_id` can refer to a message (reference §2.5). */
const OVERRIDE_WINDOW_MS = 86_400_000;

/** First msg_id: the 17-digit example of reference §2.7, above 2^53. */
const FIRST_MSG_ID = 18_100_528_814_460_569n;

/** A bad argument to a local control (not a JPush API error). */
export class SimulatorValidationError extends Error {
  /** @param message what is wrong */
  constructor(message: string) {
    super(message);
    this.name = 'SimulatorValidationError';
  }
}

/** Why a target did or did not get a message. Only 'delivered' maps to 0. */
export type Outcome =
  | 'delivered'
  | 'queued'
  | 'dropped'
  | 'expired'
  | 'evicted'
  | 'replaced'
  | 'withdrawn'
  | 'offline';

interface QueueItem {
  msgId: string;
  /** 'jpush': JPush's offline store; 'apns': APNs keeps the last one. */
  channel: 'jpush' | 'apns';
  expiresAt?: number;
  content: PushContent;
  /** What this push replaces on the device when it is shown. */
  replaces: Replaces;
}

/** What a push replaces in the tray when it is shown. */
interface Replaces {
  /** `override_msg_id`: Android notifications (§2.5). */
  overrideMsgId?: string;
  /** `apns_collapse_id`: iOS notifications (§2.5). */
  collapseId?: string;
}

interface Device {
  registrationId: string;
  platform: 'android' | 'ios';
  alias: string | null;
  tags: Set<string>;
  mobile: string | null;
  online: boolean;
  autoAck: boolean;
  ackDelayMs: number;
  dropRate: number;
  /** iOS: a Notification Service Extension ACKs notifications. */
  extension: boolean;
  /** Android: notifications come through the vendor's channel. */
  vendorChannel: boolean;
  received: ReceivedPush[];
  queue: QueueItem[];
}

interface Target {
  platform: 'android' | 'ios';
  kind: PushContent['kind'];
  /** An Android notification through the vendor's channel (§3.2). */
  vendor: boolean;
  outcome: Outcome;
}

/** Whether a push reaches an Android device through the vendor's channel. */
const viaVendor = (device: Device, content: PushContent): boolean =>
  device.platform === 'android' &&
  device.vendorChannel &&
  content.kind === 'notification';

interface MessageRecord {
  msgId: string;
  sentAt: number;
  targets: Map<string, Target>;
}

/** A row of `/v3/received/detail` (counters null when there is no data). */
export interface ReceivedDetailRow {
  msg_id: bigint;
  jpush_received: number | null;
  android_pns_sent: number | null;
  android_pns_received: number | null;
  ios_apns_sent: number | null;
  ios_apns_received: number | null;
  ios_msg_received: number | null;
  live_acivity_sent: number | null;
  live_acivity_received: number | null;
  wp_mpns_sent: number | null;
  quickapp_jpush_received: number | null;
  quickapp_pns_sent: number | null;
  hmos_hmpns_sent: number | null;
  hmos_hmpns_received: number | null;
  hmos_msg_sent: number | null;
  hmos_msg_received: number | null;
}

/** Options of {@link SimulatorModel}. */
export interface ModelOptions {
  appKey: string;
  now: () => number;
  /** In [0, 1), for drop rolls. */
  random: () => number;
  /** Called synchronously for every delivery. */
  onDelivered?: (device: SimDeviceState, push: ReceivedPush) => void;
  /** First msg_id to issue. @default 18100528814460569 */
  firstMsgId?: bigint;
}

/** The result of a push that reached at least one target. */
export interface PushAccepted {
  sendno: string;
  msgId: string;
}

/**
 * The day of a timestamp in Beijing time (UTC+8), `yyyy-mm-dd`: JPush is a
 * Chinese service and `/v3/status/message` looks up per day (reference §3.3).
 * @param ms epoch milliseconds
 */
export const beijingDate = (ms: number): string =>
  new Date(ms + 8 * 3_600_000).toISOString().slice(0, 10);

const iso = (ms: number): string => new Date(ms).toISOString();

/** JPush's state: devices, aliases, messages, offline queues, cids. */
export class SimulatorModel {
  readonly #devices = new Map<string, Device>();
  readonly #messages = new Map<string, MessageRecord>();
  readonly #cidResults = new Map<string, PushAccepted>();
  readonly #options: ModelOptions;
  #nextMsgId: bigint;

  /** @param options clock, random source, delivery callback */
  constructor(options: ModelOptions) {
    this.#options = options;
    this.#nextMsgId = options.firstMsgId ?? FIRST_MSG_ID;
  }

  /**
   * Create or change a device; going online delivers its offline queue.
   * @param registrationId the device's id
   * @param settings the fields to change
   * @throws SimulatorValidationError on a malformed id or setting
   */
  setDevice(
    registrationId: string,
    settings: SimDeviceSettings = {}
  ): SimDeviceState {
    if (!REGISTRATION_ID_PATTERN.test(registrationId)) {
      throw new SimulatorValidationError(
        `registration id '${registrationId}' must match ${REGISTRATION_ID_PATTERN}`
      );
    }
    checkSettings(settings);
    let device = this.#devices.get(registrationId);
    const platform = settings.platform ?? device?.platform ?? 'android';
    if ((settings.extension ?? device?.extension) && platform !== 'ios') {
      throw new SimulatorValidationError(
        'extension (a Notification Service Extension) is for iOS devices only'
      );
    }
    if (
      (settings.vendorChannel ?? device?.vendorChannel) &&
      platform !== 'android'
    ) {
      throw new SimulatorValidationError(
        'vendorChannel is for Android devices only'
      );
    }
    const wasOnline = device?.online ?? false;
    if (!device) {
      device = {
        registrationId,
        platform: 'android',
        alias: null,
        tags: new Set(),
        mobile: null,
        online: true,
        autoAck: false,
        ackDelayMs: 0,
        dropRate: 0,
        extension: false,
        vendorChannel: false,
        received: [],
        queue: [],
      };
      this.#devices.set(registrationId, device);
    }
    device.platform = settings.platform ?? device.platform;
    device.online = settings.online ?? device.online;
    device.autoAck = settings.autoAck ?? device.autoAck;
    device.ackDelayMs = settings.ackDelayMs ?? device.ackDelayMs;
    device.dropRate = settings.dropRate ?? device.dropRate;
    device.extension = settings.extension ?? device.extension;
    device.vendorChannel = settings.vendorChannel ?? device.vendorChannel;
    if (device.online && !wasOnline) this.#drainQueue(device);
    return this.#state(device);
  }

  /** @param registrationId the device's id */
  getDevice(registrationId: string): SimDeviceState | undefined {
    const device = this.#devices.get(registrationId);
    return device && this.#state(device);
  }

  /** All devices, in creation order. */
  listDevices(): SimDeviceState[] {
    return [...this.#devices.values()].map((d) => this.#state(d));
  }

  /**
   * New idempotency keys `<appKey>-<uuid>` (reference §2.9).
   * @param count how many
   */
  issueCids(count: number): string[] {
    return Array.from(
      { length: count },
      () => `${this.#options.appKey}-${randomUUID()}`
    );
  }

  /**
   * Send a push: deliver to online targets, queue for offline ones.
   * @param push a validated push object
   * @throws ApiError 1011 (with `msg_id`) when nothing matches the audience,
   *   1003 for a foreign cid or an unknown `override_msg_id`
   */
  push(push: ValidatedPush): PushAccepted {
    if (push.cid !== undefined) {
      // A cid is `<appKey>-<uuid>` (§2.9). UNCONFIRMED what JPush says to a
      // foreign cid; chosen: 1003. Any cid with our prefix is accepted, so
      // cids kept across a simulator restart still work.
      if (!push.cid.startsWith(`${this.#options.appKey}-`)) {
        throw new ApiError(400, 1003, `Invalid parameter: cid ${push.cid}`);
      }
      const first = this.#cidResults.get(push.cid);
      if (first) return first; // used before: same result, no new push (§2.9)
    }
    const now = this.#options.now();
    if (push.overrideMsgId !== undefined) {
      const old = this.#messages.get(push.overrideMsgId);
      if (!old || now - old.sentAt > OVERRIDE_WINDOW_MS) {
        // §2.5: unknown within 1 day → 1003 and nothing is pushed.
        throw new ApiError(
          400,
          1003,
          `Invalid parameter: override_msg_id ${push.overrideMsgId} does not exist`
        );
      }
    }
    const msgId = this.#allocateMsgId();
    const targets = this.#resolveTargets(push);
    if (targets.length === 0) {
      throw new ApiError(
        400,
        1011,
        'cannot find user by this audience or has been inactive for more than 255 days',
        { msg_id: BigInt(msgId) }
      );
    }
    const record: MessageRecord = { msgId, sentAt: now, targets: new Map() };
    this.#messages.set(msgId, record);
    for (const [device, content] of targets) {
      record.targets.set(device.registrationId, {
        platform: device.platform,
        kind: content.kind,
        vendor: viaVendor(device, content),
        outcome: 'queued',
      });
      this.#send(device, msgId, content, push, now);
    }
    const result = { sendno: push.sendno, msgId };
    if (push.cid !== undefined) this.#cidResults.set(push.cid, result);
    return result;
  }

  /**
   * Validate a push and match its audience without sending (`/v3/push/validate`).
   * @param push a validated push object
   * @throws ApiError 1011 when nothing matches the audience
   */
  validateOnly(push: ValidatedPush): PushAccepted {
    if (this.#resolveTargets(push).length === 0) {
      throw new ApiError(
        400,
        1011,
        'cannot find user by this audience or has been inactive for more than 255 days'
      );
    }
    return { sendno: push.sendno, msgId: '0' };
  }

  /**
   * Withdraw a message: drop it from offline queues and mark delivered copies.
   * @param msgId the message
   * @throws ApiError 1003 when the msg_id is unknown (UNCONFIRMED code; §2.9
   *   does not document errors, 1003 is Push's "illegal parameter value")
   */
  withdraw(msgId: string): void {
    const record = this.#messages.get(msgId);
    if (!record) {
      throw new ApiError(
        400,
        1003,
        `Invalid parameter: msg_id ${msgId} does not exist`
      );
    }
    for (const [rid, target] of record.targets) {
      const device = this.#devices.get(rid);
      if (!device) continue;
      const before = device.queue.length;
      device.queue = device.queue.filter((item) => item.msgId !== msgId);
      if (device.queue.length < before) target.outcome = 'withdrawn';
      for (const copy of device.received) {
        if (copy.msgId === msgId) copy.withdrawn = true;
      }
    }
  }

  /**
   * Per-device status of a message (reference §3.3): 0 delivered, 1 not
   * delivered, 2 unknown to the app, 3 not a target.
   * @param msgId the message
   * @param registrationIds devices to report on
   * @param date `yyyy-mm-dd` (Beijing time) of the send; default today
   * @throws ApiError 3002 when no message with that id was sent on that date
   */
  messageStatus(
    msgId: string,
    registrationIds: readonly string[],
    date?: string
  ): Record<string, { status: number }> {
    const record = this.#messages.get(msgId);
    const day = date ?? beijingDate(this.#options.now());
    if (!record || beijingDate(record.sentAt) !== day) {
      // UNCONFIRMED code: a 3p library saw 400 "Msgid does not exist" (§3.3).
      throw new ApiError(400, 3002, 'Msgid does not exist');
    }
    this.#expireAll();
    const result: Record<string, { status: number }> = {};
    for (const rid of registrationIds) {
      const target = record.targets.get(rid);
      let status = 3;
      if (!this.#devices.has(rid)) status = 2;
      else if (target) status = target.outcome === 'delivered' ? 0 : 1;
      result[rid] = { status };
    }
    return result;
  }

  /**
   * Delivery counters of a message (reference §3.2); null where no data.
   * @param msgId the message
   */
  receivedDetail(msgId: string): ReceivedDetailRow {
    const record = this.#messages.get(msgId);
    const count = (
      match: (t: Target) => boolean,
      delivered: boolean
    ): number | null => {
      const targets = [...(record?.targets.values() ?? [])].filter(match);
      if (targets.length === 0) return null;
      return delivered
        ? targets.filter((t) => t.outcome === 'delivered').length
        : targets.length;
    };
    const android = (t: Target) => t.platform === 'android' && !t.vendor;
    const vendor = (t: Target) => t.platform === 'android' && t.vendor;
    const apns = (t: Target) => t.platform === 'ios' && t.kind !== 'message';
    const iosMsg = (t: Target) => t.platform === 'ios' && t.kind === 'message';
    return {
      msg_id: BigInt(msgId),
      jpush_received: count(android, true),
      android_pns_sent: count(vendor, false),
      android_pns_received: count(vendor, true),
      ios_apns_sent: count(apns, false),
      ios_apns_received: count(apns, true),
      ios_msg_received: count(iosMsg, true),
      live_acivity_sent: null,
      live_acivity_received: null,
      wp_mpns_sent: null,
      quickapp_jpush_received: null,
      quickapp_pns_sent: null,
      hmos_hmpns_sent: null,
      hmos_hmpns_received: null,
      hmos_msg_sent: null,
      hmos_msg_received: null,
    };
  }

  /**
   * Device API view of a device (reference §4.1).
   * @param registrationId the device's id
   * @throws ApiError 7002 for an unknown id (UNCONFIRMED, §4.1)
   */
  deviceInfo(registrationId: string): {
    tags: string[];
    alias: string;
    mobile: string | null;
  } {
    const device = this.#requireDevice(registrationId);
    // An empty alias is "" as observed (§4.1), not null as the docs say.
    return {
      tags: [...device.tags],
      alias: device.alias ?? '',
      mobile: device.mobile,
    };
  }

  /**
   * Apply a `POST /v3/devices/{rid}` update (reference §4.2).
   * @param registrationId the device's id
   * @param update validated fields; `alias: ''` clears the alias
   * @throws ApiError 7002 unknown device or bad alias/tag, 7015 alias full
   */
  updateDevice(
    registrationId: string,
    update: {
      alias?: string;
      mobile?: string;
      tags?: '' | { add?: string[]; remove?: string[] };
    }
  ): void {
    const device = this.#requireDevice(registrationId);
    const { alias, tags } = update;
    for (const tag of tags === '' ? [] : [...(tags?.add ?? [])]) {
      const problem = aliasProblem(tag);
      if (problem) throw new ApiError(400, 7002, `tag '${tag}' ${problem}`);
    }
    if (alias !== undefined && alias !== '' && alias !== device.alias) {
      const problem = aliasProblem(alias);
      if (problem) throw new ApiError(400, 7002, `alias '${alias}' ${problem}`);
      if (this.#aliasDevices(alias).length >= MAX_DEVICES_PER_ALIAS) {
        // HTTP status UNCONFIRMED (§4.6); chosen 400, the policy default (§1.3).
        throw new ApiError(
          400,
          7015,
          `alias already bound to ${MAX_DEVICES_PER_ALIAS} devices`
        );
      }
    }
    if (alias !== undefined) device.alias = alias === '' ? null : alias;
    if (update.mobile !== undefined) {
      device.mobile = update.mobile === '' ? null : update.mobile;
    }
    if (tags === '') device.tags.clear();
    else if (tags) {
      for (const tag of tags.add ?? []) device.tags.add(tag);
      for (const tag of tags.remove ?? []) device.tags.delete(tag);
    }
  }

  /**
   * Registration ids bound to an alias, at most 10 (reference §4.3).
   * @param alias the alias
   * @param platforms only devices of these platforms; default all
   */
  aliasDevices(alias: string, platforms?: ReadonlySet<string>): string[] {
    return this.#aliasDevices(alias, platforms)
      .slice(0, MAX_DEVICES_PER_ALIAS)
      .map((d) => d.registrationId);
  }

  /**
   * Unbind devices from an alias.
   * @param alias the alias
   * @param registrationIds only these devices; default all
   * @param platforms only devices of these platforms; default all
   */
  unbindAlias(
    alias: string,
    registrationIds?: readonly string[],
    platforms?: ReadonlySet<string>
  ): void {
    for (const device of this.#aliasDevices(alias, platforms)) {
      if (!registrationIds || registrationIds.includes(device.registrationId)) {
        device.alias = null;
      }
    }
  }

  #aliasDevices(alias: string, platforms?: ReadonlySet<string>): Device[] {
    return [...this.#devices.values()].filter(
      (d) => d.alias === alias && (!platforms || platforms.has(d.platform))
    );
  }

  #requireDevice(registrationId: string): Device {
    const device = this.#devices.get(registrationId);
    if (!device) {
      throw new ApiError(
        400,
        7002,
        `registration_id ${registrationId} does not exist`
      );
    }
    return device;
  }

  #allocateMsgId(): string {
    const id = this.#nextMsgId;
    // Strictly increasing, with gaps like real ids.
    this.#nextMsgId += BigInt(1 + Math.floor(this.#options.random() * 97));
    return id.toString();
  }

  /** Devices matching audience and platform, with what each receives. */
  #resolveTargets(push: ValidatedPush): Array<[Device, PushContent]> {
    const { audience } = push;
    const matches = (d: Device): boolean => {
      if (audience === 'all') return true;
      // Keys combine with AND; values inside a key as the key defines (§2.2).
      return Object.entries(audience).every(([key, values = []]) => {
        switch (key) {
          case 'registration_id':
            return values.includes(d.registrationId);
          case 'alias':
            return d.alias !== null && values.includes(d.alias);
          case 'tag':
            return values.some((t) => d.tags.has(t));
          case 'tag_and':
            return values.every((t) => d.tags.has(t));
          case 'tag_not':
            return !values.some((t) => d.tags.has(t));
          default:
            return false; // segment, abtest, live activities: not simulated
        }
      });
    };
    const result: Array<[Device, PushContent]> = [];
    for (const device of this.#devices.values()) {
      const content = contentFor(push, device.platform);
      if (content && matches(device)) result.push([device, content]);
    }
    return result;
  }

  #send(
    device: Device,
    msgId: string,
    content: PushContent,
    push: ValidatedPush,
    now: number
  ): void {
    const replaces = {
      ...(push.overrideMsgId === undefined
        ? {}
        : { overrideMsgId: push.overrideMsgId }),
      ...(push.apnsCollapseId === undefined
        ? {}
        : { collapseId: push.apnsCollapseId }),
    };
    if (device.online) {
      this.#deliver(device, msgId, content, replaces);
      return;
    }
    // iOS notifications go through APNs, which ignores time_to_live and keeps
    // only the last notification per device (§5); everything else uses
    // JPush's offline store: TTL, the 5 newest, override_msg_id.
    const apns = device.platform === 'ios' && content.kind === 'notification';
    if (!apns && push.ttlSeconds === 0) {
      this.#setOutcome(msgId, device, 'offline'); // online devices only (§5)
      return;
    }
    const item: QueueItem = apns
      ? { msgId, channel: 'apns', content, replaces }
      : {
          msgId,
          channel: 'jpush',
          expiresAt: now + push.ttlSeconds * 1000,
          content,
          replaces,
        };
    this.#expire(device);
    const replaced =
      !apns && push.overrideMsgId !== undefined
        ? device.queue.findIndex(
            (q) => q.channel === 'jpush' && q.msgId === push.overrideMsgId
          )
        : -1;
    const old = device.queue[replaced];
    if (old) {
      device.queue[replaced] = item; // in place (§2.5, §5)
      this.#setOutcome(old.msgId, device, 'replaced');
      return;
    }
    device.queue.push(item);
    const limit = apns ? 1 : OFFLINE_QUEUE_LIMIT;
    const sameChannel = device.queue.filter((q) => q.channel === item.channel);
    for (const evicted of sameChannel.slice(0, -limit)) {
      device.queue.splice(device.queue.indexOf(evicted), 1);
      this.#setOutcome(evicted.msgId, device, 'evicted');
    }
  }

  #deliver(
    device: Device,
    msgId: string,
    content: PushContent,
    replaces: Replaces = {}
  ): void {
    if (device.dropRate > 0 && this.#options.random() < device.dropRate) {
      this.#setOutcome(msgId, device, 'dropped');
      return;
    }
    // A notification replaces the one still shown in the tray: on Android the
    // one with its override_msg_id, on iOS the one with its APNs collapse id
    // (§2.5, §5). One copy remains shown.
    if (content.kind === 'notification') {
      for (const copy of device.received) {
        const overridden =
          device.platform === 'android' &&
          replaces.overrideMsgId !== undefined &&
          copy.msgId === replaces.overrideMsgId;
        const collapsed =
          device.platform === 'ios' &&
          replaces.collapseId !== undefined &&
          copy.collapseId === replaces.collapseId;
        if (overridden || collapsed) copy.replaced = true;
      }
    }
    const vendor = viaVendor(device, content);
    const target = this.#messages
      .get(msgId)
      ?.targets.get(device.registrationId);
    if (target) target.vendor = vendor;
    // iOS runs the Notification Service Extension on a notification with
    // mutable-content before it shows it, the app running or not (§2.3).
    const extension =
      device.platform === 'ios' &&
      device.extension &&
      content.kind === 'notification' &&
      content.mutableContent === true;
    const push: ReceivedPush = {
      msgId,
      ...(device.platform === 'ios' &&
      content.kind === 'notification' &&
      replaces.collapseId !== undefined
        ? { collapseId: replaces.collapseId }
        : {}),
      ...(extension ? { serviceExtension: true } : {}),
      ...(vendor ? { vendorChannel: true } : {}),
      at: iso(this.#options.now()),
      ...(content.title === undefined ? {} : { title: content.title }),
      alert: content.alert,
      extras: structuredClone(content.extras),
    };
    device.received.push(push);
    this.#setOutcome(msgId, device, 'delivered');
    this.#options.onDelivered?.(this.#state(device), structuredClone(push));
  }

  #drainQueue(device: Device): void {
    this.#expire(device);
    const items = device.queue;
    device.queue = [];
    for (const item of items) {
      this.#deliver(device, item.msgId, item.content, item.replaces);
    }
  }

  #expire(device: Device): void {
    const now = this.#options.now();
    device.queue = device.queue.filter((item) => {
      const alive = item.expiresAt === undefined || item.expiresAt > now;
      if (!alive) this.#setOutcome(item.msgId, device, 'expired');
      return alive;
    });
  }

  #expireAll(): void {
    for (const device of this.#devices.values()) this.#expire(device);
  }

  #setOutcome(msgId: string, device: Device, outcome: Outcome): void {
    const target = this.#messages
      .get(msgId)
      ?.targets.get(device.registrationId);
    if (target) target.outcome = outcome;
  }

  #state(device: Device): SimDeviceState {
    this.#expire(device);
    return {
      registrationId: device.registrationId,
      platform: device.platform,
      alias: device.alias,
      online: device.online,
      autoAck: device.autoAck,
      ackDelayMs: device.ackDelayMs,
      dropRate: device.dropRate,
      extension: device.extension,
      vendorChannel: device.vendorChannel,
      received: structuredClone(device.received),
      queued: device.queue.length,
    };
  }
}

const checkSettings = (settings: SimDeviceSettings): void => {
  const fail = (message: string): never => {
    throw new SimulatorValidationError(message);
  };
  const { online, autoAck, ackDelayMs, dropRate, platform } = settings;
  if (online !== undefined && typeof online !== 'boolean')
    fail('online must be a boolean');
  if (autoAck !== undefined && typeof autoAck !== 'boolean')
    fail('autoAck must be a boolean');
  for (const flag of ['extension', 'vendorChannel'] as const) {
    const value = settings[flag];
    if (value !== undefined && typeof value !== 'boolean')
      fail(`${flag} must be a boolean`);
  }
  if (
    ackDelayMs !== undefined &&
    (typeof ackDelayMs !== 'number' ||
      !Number.isFinite(ackDelayMs) ||
      ackDelayMs < 0)
  )
    fail('ackDelayMs must be a number >= 0');
  if (
    dropRate !== undefined &&
    (typeof dropRate !== 'number' || !(dropRate >= 0 && dropRate <= 1))
  )
    fail('dropRate must be a number between 0 and 1');
  if (platform !== undefined && platform !== 'android' && platform !== 'ios')
    fail("platform must be 'android' or 'ios'");
};
