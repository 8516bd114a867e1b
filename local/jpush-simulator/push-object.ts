/**
 * Validation of the push object of `POST /v3/push` (reference §2), and the
 * content a device of each platform gets from it. Pure.
 */
import { ApiError } from './api-error.ts';
import { byteLength, isObject, toJson } from './json.ts';

/** Platforms a push object may name (reference §2.1). */
const KNOWN_PLATFORMS = ['android', 'ios', 'winphone', 'quickapp', 'hmos'];

/** Top-level keys (reference §2.1, newer keys included). */
const TOP_KEYS = new Set([
  'platform',
  'audience',
  'notification',
  'message',
  'sms_message',
  'options',
  'cid',
  'inapp_message',
  'live_activity',
  'notification_3rd',
  'callback',
]);

/** Audience keys (reference §2.2). */
const AUDIENCE_KEYS = new Set([
  'tag',
  'tag_and',
  'tag_not',
  'alias',
  'registration_id',
  'segment',
  'abtest',
  'live_activity_id',
  'file',
]);

/** Max values per audience key (reference §2.2). */
const AUDIENCE_MAX: Record<string, number> = {
  tag: 20,
  tag_and: 20,
  tag_not: 20,
  alias: 1000,
  registration_id: 1000,
  segment: 1,
  abtest: 1,
};

const NOTIFICATION_KEYS = new Set([
  'alert',
  'android',
  'ios',
  'winphone',
  'hmos',
  'quickapp',
  'voip',
]);

/**
 * Documented android keys plus common newer ones. `sound` and `build_id` are
 * absent on purpose: the docs give them as examples of 1009 (reference §2.1).
 */
const ANDROID_KEYS = new Set([
  'alert',
  'title',
  'builder_id',
  'channel_id',
  'priority',
  'category',
  'style',
  'alert_type',
  'big_text',
  'inbox',
  'big_pic_path',
  'extras',
  'large_icon',
  'small_icon_uri',
  'intent',
  'uri_activity',
  'uri_action',
  'badge_add_num',
  'badge_set_num',
  'badge_class',
  'show_begin_time',
  'show_end_time',
  'display_foreground',
]);

/** `content_available` is absent on purpose (reference §2.1, 1009 example). */
const IOS_KEYS = new Set([
  'alert',
  'sound',
  'badge',
  'content-available',
  'mutable-content',
  'category',
  'thread-id',
  'extras',
  'interruption-level',
  'relevance-score',
  'target-content-id',
]);

const WINPHONE_KEYS = new Set(['alert', 'title', '_open_page', 'extras']);
const MESSAGE_KEYS = new Set([
  'msg_content',
  'title',
  'content_type',
  'extras',
]);

/** Options keys (reference §2.5). */
const OPTIONS_KEYS = new Set([
  'sendno',
  'time_to_live',
  'override_msg_id',
  'apns_production',
  'apns_collapse_id',
  'big_push_duration',
  'third_party_channel',
  'classification',
  'target_event',
  'test_message',
  'receipt_id',
  'active_push',
  'need_backup',
  'business_operation_code',
  'notification_3rd_ver',
  'test_model',
]);

/** Default `time_to_live`: one day (reference §2.5, §5). */
export const DEFAULT_TTL_SECONDS = 86_400;

/**
 * TTL cap. UNCONFIRMED (reference §8.3: 10 days in the 2019 docs, 3 days for
 * non-VIP in newer SDKs). Chosen: 10 days, and a larger value is rejected
 * with 1003 rather than clamped, so that a client bug shows up.
 */
export const MAX_TTL_SECONDS = 10 * 86_400;

/**
 * Registration id format the simulator accepts. Real ids are short
 * alphanumeric strings (reference §2.2); `-` and `_` are allowed so tests can
 * use readable ids such as `device-1`.
 */
export const REGISTRATION_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * Alias and tag characters: letters, digits, `_`, Chinese characters and
 * `@!#$&*+=.|￥` (reference §2.2), and `-`, which JPush accepts since 2016
 * (jpush/jpush-api-java-client#72: "现在已经支持特殊字符了").
 */
const ALIAS_PATTERN = /^[\p{L}\p{Script=Han}0-9_@!#$&*+=.|￥-]+$/u;

/** Max alias/tag size in UTF-8 bytes (reference §2.2). */
export const MAX_ALIAS_BYTES = 40;

/**
 * Why an alias or tag is illegal, or undefined when it is fine.
 * @param value the alias or tag
 */
export const aliasProblem = (value: string): string | undefined => {
  if (value === '') return 'must not be empty';
  if (byteLength(value) > MAX_ALIAS_BYTES)
    return `is longer than ${MAX_ALIAS_BYTES} bytes`;
  if (!ALIAS_PATTERN.test(value)) return 'contains illegal characters';
  return undefined;
};

/** An audience after validation; empty arrays are dropped. */
export type Audience = 'all' | Partial<Record<string, string[]>>;

/** A validated push object. */
export interface ValidatedPush {
  /** Platforms targeted ('all' expanded). */
  platforms: ReadonlySet<string>;
  audience: Audience;
  notification?: Record<string, unknown>;
  message?: Record<string, unknown>;
  /** Echoed back as a string; '0' when absent. */
  sendno: string;
  ttlSeconds: number;
  overrideMsgId?: string;
  /** APNs collapse id: replaces an iOS notification with the same id (§2.5). */
  apnsCollapseId?: string;
  cid?: string;
}

/** What a device of a platform receives from a push. */
export interface PushContent {
  /** 'notification' for the tray (APNs on iOS), 'message' for in-app. */
  kind: 'notification' | 'message';
  title?: string;
  alert: string;
  extras: Record<string, unknown>;
  /**
   * An iOS notification with `mutable-content: true`: iOS runs the app's
   * Notification Service Extension on it before showing it (§2.3).
   */
  mutableContent?: true;
}

const missing = (what: string): ApiError =>
  new ApiError(400, 1002, `Missing parameter: ${what}`);
const invalid = (what: string): ApiError =>
  new ApiError(400, 1003, `Invalid parameter: ${what}`);

const checkKeys = (
  value: Record<string, unknown>,
  allowed: ReadonlySet<string>,
  where: string
): void => {
  for (const key of Object.keys(value)) {
    if (!allowed.has(key)) {
      throw new ApiError(400, 1009, `Unsupported key '${key}' in ${where}`);
    }
  }
};

const checkExtras = (block: Record<string, unknown>, where: string): void => {
  if (block.extras !== undefined && !isObject(block.extras)) {
    throw invalid(`${where}.extras must be a JSON object`);
  }
};

const checkTitle = (block: Record<string, unknown>, where: string): void => {
  if (block.title !== undefined && typeof block.title !== 'string') {
    throw invalid(`${where}.title must be a string`);
  }
};

const validatePlatform = (value: unknown): Set<string> => {
  if (value === 'all') return new Set(KNOWN_PLATFORMS);
  if (!Array.isArray(value) || value.length === 0) {
    throw invalid('platform must be "all" or a non-empty array');
  }
  for (const item of value) {
    if (typeof item !== 'string' || !KNOWN_PLATFORMS.includes(item)) {
      throw invalid(`platform ${toJson(item)} is unknown`);
    }
  }
  return new Set(value as string[]);
};

const validateAudience = (value: unknown): Audience => {
  if (value === 'all') return 'all';
  if (!isObject(value)) {
    throw invalid('audience must be "all" or a JSON object');
  }
  checkKeys(value, AUDIENCE_KEYS, 'audience');
  const audience: Record<string, string[]> = {};
  for (const [key, raw] of Object.entries(value)) {
    if (key === 'file') continue; // file audiences are not simulated
    if (!Array.isArray(raw)) {
      throw invalid('Audience value must be JSON Array format!');
    }
    if (raw.length === 0) continue; // an empty array counts as absent (§2.2)
    const max = AUDIENCE_MAX[key];
    if (max !== undefined && raw.length > max) {
      throw invalid(`audience.${key} has more than ${max} values`);
    }
    for (const item of raw) {
      if (typeof item !== 'string' || item === '') {
        throw invalid(`audience.${key} holds an empty or non-string value`);
      }
      if (key === 'registration_id' && !REGISTRATION_ID_PATTERN.test(item)) {
        throw invalid(`The registration_id ${item} is invalid!`);
      }
      if (key.startsWith('tag') || key === 'alias') {
        const problem = aliasProblem(item);
        if (problem) throw invalid(`audience.${key} '${item}' ${problem}`);
      }
    }
    audience[key] = raw as string[];
  }
  if (Object.keys(audience).length === 0) throw missing('audience');
  return audience;
};

const validateNotification = (
  value: unknown,
  platforms: ReadonlySet<string>
): Record<string, unknown> => {
  if (!isObject(value)) throw invalid('notification must be a JSON object');
  checkKeys(value, NOTIFICATION_KEYS, 'notification');
  const alert = value.alert;
  if (alert !== undefined && typeof alert !== 'string') {
    throw invalid('notification.alert must be a string');
  }
  const blocks: Array<[string, ReadonlySet<string> | undefined]> = [
    ['android', ANDROID_KEYS],
    ['ios', IOS_KEYS],
    ['winphone', WINPHONE_KEYS],
    ['hmos', undefined],
    ['quickapp', undefined],
    ['voip', undefined],
  ];
  for (const [name, keys] of blocks) {
    const block = value[name];
    if (block === undefined) continue;
    if (!isObject(block)) {
      throw invalid(`notification.${name} must be a JSON object`);
    }
    if (!keys) continue;
    checkKeys(block, keys, `notification.${name}`);
    checkExtras(block, `notification.${name}`);
    checkTitle(block, `notification.${name}`);
    if (block.alert === undefined && alert === undefined) {
      throw missing(`notification.${name}.alert`);
    }
    const ok =
      block.alert === undefined ||
      typeof block.alert === 'string' ||
      (name === 'ios' && isObject(block.alert));
    if (!ok) throw invalid(`notification.${name}.alert`);
    for (const flag of ['content-available', 'mutable-content']) {
      const set = block[flag];
      if (name === 'ios' && set !== undefined && typeof set !== 'boolean') {
        throw invalid(`notification.ios.${flag} must be a boolean`);
      }
    }
  }
  const hasTarget = [...platforms].some(
    (p) => alert !== undefined || value[p] !== undefined
  );
  if (!hasTarget) throw missing('notification.alert');
  return value;
};

const validateMessage = (value: unknown): Record<string, unknown> => {
  if (!isObject(value)) throw invalid('message must be a JSON object');
  checkKeys(value, MESSAGE_KEYS, 'message');
  if (value.msg_content === undefined) throw missing('message.msg_content');
  if (typeof value.msg_content !== 'string') {
    throw invalid('message.msg_content must be a string');
  }
  checkTitle(value, 'message');
  checkExtras(value, 'message');
  return value;
};

const isInteger = (value: unknown): value is number | bigint =>
  typeof value === 'bigint' ||
  (typeof value === 'number' && Number.isInteger(value));

const validateOptions = (
  value: unknown
): Pick<
  ValidatedPush,
  'sendno' | 'ttlSeconds' | 'overrideMsgId' | 'apnsCollapseId'
> => {
  if (value === undefined) {
    return { sendno: '0', ttlSeconds: DEFAULT_TTL_SECONDS };
  }
  if (!isObject(value)) throw invalid('options must be a JSON object');
  checkKeys(value, OPTIONS_KEYS, 'options');
  const { sendno, time_to_live: ttl, override_msg_id: override } = value;
  if (sendno !== undefined && !isInteger(sendno)) {
    throw invalid('options.sendno must be an integer');
  }
  if (ttl !== undefined && (!isInteger(ttl) || ttl < 0)) {
    throw invalid('options.time_to_live must be an integer >= 0');
  }
  if (ttl !== undefined && ttl > MAX_TTL_SECONDS) {
    throw invalid(`options.time_to_live must be <= ${MAX_TTL_SECONDS}`);
  }
  let overrideMsgId: string | undefined;
  if (override !== undefined) {
    // Documented as a long; a digit string is accepted too (lenient).
    const ok =
      (isInteger(override) && override > 0) ||
      (typeof override === 'string' && /^[1-9][0-9]{0,19}$/.test(override));
    if (!ok) throw invalid('options.override_msg_id');
    overrideMsgId = String(override);
  }
  const collapse = value.apns_collapse_id;
  if (
    collapse !== undefined &&
    (typeof collapse !== 'string' ||
      collapse === '' ||
      byteLength(collapse) > 64)
  ) {
    throw invalid('options.apns_collapse_id must be a string of 1 to 64 bytes');
  }
  for (const key of ['apns_production', 'need_backup', 'test_message']) {
    if (value[key] !== undefined && typeof value[key] !== 'boolean') {
      throw invalid(`options.${key} must be a boolean`);
    }
  }
  return {
    sendno: sendno === undefined ? '0' : String(sendno),
    ttlSeconds: ttl === undefined ? DEFAULT_TTL_SECONDS : Number(ttl),
    overrideMsgId,
    ...(typeof collapse === 'string' ? { apnsCollapseId: collapse } : {}),
  };
};

const checkSizes = (
  notification: Record<string, unknown> | undefined,
  message: Record<string, unknown> | undefined,
  platforms: ReadonlySet<string>
): void => {
  const messageBytes = message ? byteLength(toJson(message)) : 0;
  const tooLarge = (what: string, limit: number): ApiError =>
    new ApiError(400, 1005, `${what} is larger than ${limit} bytes`);
  if (platforms.has('android')) {
    const android =
      notification?.android ??
      (notification?.alert !== undefined ? { alert: notification.alert } : {});
    if (byteLength(toJson(android)) + messageBytes > 4000) {
      throw tooLarge('android notification + message', 4000);
    }
  }
  if (platforms.has('ios')) {
    if (notification?.ios && byteLength(toJson(notification.ios)) > 2000) {
      throw tooLarge('ios notification', 2000);
    }
    if (messageBytes > 4000) throw tooLarge('ios message', 4000);
  }
  if (platforms.has('winphone') && notification?.winphone) {
    if (byteLength(toJson(notification.winphone)) > 1000) {
      throw tooLarge('winphone notification', 1000);
    }
  }
};

/**
 * Validate a parsed push object (reference §2.1–§2.6).
 * @param body the JSON-parsed request body (bigint for large integers)
 * @returns the push in a normalised shape
 * @throws ApiError 1002 missing parameter, 1003 bad value, 1005 too large,
 *   1009 unknown key
 */
export const validatePush = (body: unknown): ValidatedPush => {
  if (!isObject(body)) throw invalid('the push object must be a JSON object');
  checkKeys(body, TOP_KEYS, 'the push object');
  if (body.platform === undefined) throw missing('platform');
  if (body.audience === undefined) throw missing('audience');
  if (body.notification === undefined && body.message === undefined) {
    throw missing('notification or message');
  }
  const platforms = validatePlatform(body.platform);
  const audience = validateAudience(body.audience);
  const notification =
    body.notification === undefined
      ? undefined
      : validateNotification(body.notification, platforms);
  const message =
    body.message === undefined ? undefined : validateMessage(body.message);
  if (body.cid !== undefined && (typeof body.cid !== 'string' || !body.cid)) {
    throw invalid('cid must be a non-empty string');
  }
  checkSizes(notification, message, platforms);
  return {
    platforms,
    audience,
    notification,
    message,
    cid: body.cid as string | undefined,
    ...validateOptions(body.options),
  };
};

const objectOr = (value: unknown): Record<string, unknown> | undefined =>
  isObject(value) ? value : undefined;

/**
 * What a device of `platform` receives from a validated push, or undefined
 * when the push has nothing for that platform (such devices are no targets).
 * Notifications win over messages when both are present.
 * @param push the validated push
 * @param platform 'android' or 'ios'
 */
export const contentFor = (
  push: ValidatedPush,
  platform: string
): PushContent | undefined => {
  if (!push.platforms.has(platform)) return undefined;
  const n = push.notification;
  const block = objectOr(n?.[platform]);
  if (n && (block || n.alert !== undefined)) {
    const rawAlert = block?.alert ?? n.alert;
    let alert = typeof rawAlert === 'string' ? rawAlert : '';
    let title = typeof block?.title === 'string' ? block.title : undefined;
    if (isObject(rawAlert)) {
      // iOS APNs alert object: {title, body, ...}
      alert = typeof rawAlert.body === 'string' ? rawAlert.body : '';
      title = typeof rawAlert.title === 'string' ? rawAlert.title : title;
    }
    return {
      kind: 'notification',
      alert,
      ...(title === undefined ? {} : { title }),
      extras: { ...(objectOr(block?.extras) ?? {}) },
      ...(platform === 'ios' && block?.['mutable-content'] === true
        ? { mutableContent: true as const }
        : {}),
    };
  }
  const m = push.message;
  if (!m) return undefined;
  return {
    kind: 'message',
    alert: String(m.msg_content),
    ...(typeof m.title === 'string' ? { title: m.title } : {}),
    extras: { ...(objectOr(m.extras) ?? {}) },
  };
};
