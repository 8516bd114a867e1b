import * as z from 'zod';
import type { MessageView } from '../shared/api-schemas.ts';
import {
  CONFIRM_POLICIES,
  type Confirmation,
  type ConfirmPolicy,
  type MessageStatus,
  type TimelineEventName,
} from '../shared/names.ts';

export type {
  Confirmation,
  ConfirmPolicy,
  MessageStatus,
} from '../shared/names.ts';

/** Statuses after which nothing more happens to a message (a late ACK aside). */
export const TERMINAL_STATUSES: readonly MessageStatus[] = [
  'acknowledged',
  'escalated',
  'expired',
  'failed',
  'cancelled',
];

/** One line of a message's story. */
export interface TimelineEvent {
  /** ISO 8601 UTC. */
  readonly at: string;
  readonly event: TimelineEventName;
  /** For a person: what happened, in a sentence. */
  readonly detail?: string;
  /** The attempt it belongs to, for push events. */
  readonly attempt?: number;
  /** JPush's msg_id of the push it is about, when JPush gave one. */
  readonly jpushMsgId?: string;
  /** On `acknowledged`: what confirmed the message. */
  readonly confirmedBy?: Confirmation;
}

/**
 * Where a push stands with JPush:
 * - `pending`: recorded before JPush was called, and no answer came yet (or
 *   it was lost). Sent again with the same `cid` before anything else is
 *   pushed: JPush then returns the first result and pushes nothing new.
 * - `pushed`: JPush accepted it; `jpushMsgId` is known.
 * - `not-delivered`: JPush knew none of its devices (1011).
 */
export type PushState = 'pending' | 'pushed' | 'not-delivered';

/** One push of one delivery attempt, recorded before JPush is called. */
export interface PushRecord {
  readonly attempt: number;
  readonly delivery: number;
  readonly state: PushState;
  /** JPush's idempotency key for this push (`/v3/push/cid`). */
  readonly cid: string;
  /** Set once JPush answered (`pushed`, and `not-delivered` when it gave one). */
  readonly jpushMsgId?: string;
  readonly registrationIds: readonly string[];
  /** The platforms of those devices, to build the same push again. */
  readonly platforms: readonly ('android' | 'ios')[];
  /** `time_to_live` it was sent with, in seconds. */
  readonly ttlSeconds: number;
  /** The push it replaces (`override_msg_id`). */
  readonly overrideMsgId?: string;
  /** ISO time of the push; its date is what the Report API is asked for. */
  readonly at: string;
  /** When a logout or an account switch withdrew it from JPush. */
  readonly withdrawnAt?: string;
}

/** How often and how long the system tries. */
export interface DeliveryPolicy {
  readonly intervalSeconds: number;
  readonly maxAttempts: number;
  readonly expiresInSeconds: number;
  /**
   * What confirms the message: the app's ACK, JPush's report that a device
   * got it, or either. An ACK confirms under every policy (it is the
   * stronger evidence). Absent on messages sent before it existed: `ack`.
   */
  readonly confirmBy: ConfirmPolicy;
}

/** The stored message. */
export interface Message {
  readonly messageId: string;
  readonly to: string;
  readonly from?: string;
  readonly title?: string;
  readonly body: string;
  readonly data?: Record<string, string>;
  readonly idempotencyKey?: string;
  /**
   * SHA-256 of the request that carried the idempotency key, so that the
   * key used again for another request is refused (absent on messages sent
   * before it was kept).
   */
  readonly requestHash?: string;
  readonly policy: DeliveryPolicy;
  readonly escalationOnCall: boolean;
  /** E.164 number of the recipient for an escalation SMS, or ''. */
  readonly escalationSmsTo: string;
  /** Text of the recipient's escalation SMS. */
  readonly smsText: string;
  readonly status: MessageStatus;
  readonly attempts: number;
  /** Which delivery (execution) is current; a re-stored message gets a new one. */
  readonly delivery: number;
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly expiresAt: string;
  readonly timeline: readonly TimelineEvent[];
  /** Pushes by "delivery.attempt". */
  readonly pushes: Readonly<Record<string, PushRecord>>;
  /** Registration ids the Report API confirmed, with the time it did. */
  readonly deliveredTo: Readonly<Record<string, string>>;
  /**
   * Task token of the delivery step now waiting for the ACK
   * (`.waitForTaskToken`); the ACK route ends that wait with it.
   */
  readonly taskToken?: string;
  /** Escalation SMS already sent, by channel, with the time. */
  readonly notified: Readonly<Partial<Record<SmsChannel, string>>>;
  /**
   * When the message was confirmed: the app's ACK, a late ACK after it
   * ended, or JPush's report under a policy that lets the report confirm.
   */
  readonly ackedAt?: string;
  /** What confirmed an acknowledged message (absent on a late ACK). */
  readonly confirmedBy?: Confirmation;
  readonly escalatedAt?: string;
  readonly failureReason?: string;
}

/** Defaults and limits of the delivery policy. */
export const POLICY_LIMITS = {
  intervalSeconds: { default: 60, min: 1, max: 3600 },
  maxAttempts: { default: 3, min: 1, max: 20 },
  // JPush keeps offline messages at most 10 days (reference §2.5).
  expiresInSeconds: { default: 86_400, min: 10, max: 864_000 },
} as const;

/**
 * JPush's alias rule: ≤ 40 bytes of letters, digits, `_`, CJK and
 * `@!#$&*+=.|￥` (reference §2.2), plus `-`: JPush added it at users' request
 * in 2016 (jpush/jpush-api-java-client#72), API.md's own example uses it
 * (`user-42`), and UUID user ids need it.
 */
const ALIAS_CHARS = /^[\p{L}\p{N}_@!#$&*+=.|￥-]+$/u;

/** A user id usable as a JPush alias. */
export const UserId = z
  .string({ error: 'must be a string' })
  .min(1, { error: 'must not be empty' })
  .refine((v) => Buffer.byteLength(v, 'utf8') <= 40, {
    error: 'must be at most 40 bytes (it is used as the JPush alias)',
  })
  .refine((v) => ALIAS_CHARS.test(v), {
    error:
      'may contain only letters, digits, _, - and @!#$&*+=.|￥ (it is used as the JPush alias)',
  })
  .meta({
    description:
      'A user id, used as the JPush alias: at most 40 bytes (UTF-8) of letters, digits, `_`, `-` and `@!#$&*+=.|￥`.',
    examples: ['user-42'],
  });

/**
 * A message id in the alphabet this API makes them in (`m` + time and random,
 * or `k` + a hash of the idempotency key: letters, digits, `_` and `-`), at
 * most 64 characters. Checked before anything is read or logged, so a
 * crafted path (thousands of bytes, past DynamoDB's 2 KB key limit) gets a
 * 400, not a 500; a well-formed id that names no message is still a 404.
 */
export const MessageId = z
  .string({ error: 'must be a string' })
  .regex(/^[0-9A-Za-z_-]{1,64}$/, {
    error:
      'is not a message id (the messageId that send returned: at most 64 letters, digits, _ and -)',
  })
  .meta({ description: 'The `messageId` that send returned.' });

/** The path of the routes of one message. */
export const MessagePath = z.strictObject({ messageId: MessageId });

/** A JPush registration id as the app gets it from the JPush SDK. */
export const RegistrationId = z
  .string({ error: 'must be a string' })
  .regex(/^[0-9a-zA-Z]{8,64}$/, {
    error: 'must be the 8 to 64 letters and digits the JPush SDK returns',
  })
  .meta({
    description:
      "The device's JPush registration id, as the JPush SDK returns it.",
    examples: ['1a0018970a9c2ce5b0'],
  });

const E164 = z.string().regex(/^\+[1-9]\d{6,14}$/, {
  error: 'must be a phone number in E.164 form, like +8613800000000',
});

const int = (limits: { min: number; max: number }) =>
  z
    .number({ error: 'must be a number' })
    .int({ error: 'must be a whole number' })
    .min(limits.min, { error: `must be at least ${limits.min}` })
    .max(limits.max, { error: `must be at most ${limits.max}` });

/** Body of `POST /v1/messages`. */
export const SendMessageInput = z.strictObject({
  to: UserId,
  from: UserId.optional().meta({
    description:
      'The sender, for a chat message from one user to another: it appears in both histories.',
  }),
  title: z
    .string()
    .max(200, { error: 'must be at most 200 characters' })
    .optional(),
  body: z
    .string({ error: 'is required and must be a string' })
    .min(1, { error: 'must not be empty' })
    .refine((v) => Buffer.byteLength(v, 'utf8') <= 2000, {
      error: 'must be at most 2000 bytes (JPush limits a push to 4000)',
    })
    .meta({ description: 'The text: at most 2000 bytes (UTF-8).' }),
  data: z
    .record(z.string(), z.string(), {
      error: 'must be an object of string values',
    })
    .refine((v) => Buffer.byteLength(JSON.stringify(v), 'utf8') <= 1000, {
      error: 'must be at most 1000 bytes as JSON',
    })
    .optional()
    .meta({
      description:
        "String values carried in the push's extras: at most 1000 bytes as JSON.",
    }),
  idempotencyKey: z
    .string()
    .min(1, { error: 'must not be empty' })
    .max(200, { error: 'must be at most 200 characters' })
    .optional()
    .meta({
      description:
        'The same key with the same request answers the first answer again; with another request, 409. Or the `Idempotency-Key` header (both: equal).',
    }),
  policy: z
    .strictObject({
      intervalSeconds: int(POLICY_LIMITS.intervalSeconds).optional(),
      maxAttempts: int(POLICY_LIMITS.maxAttempts).optional(),
      expiresInSeconds: int(POLICY_LIMITS.expiresInSeconds).optional(),
      confirmBy: z
        .enum(CONFIRM_POLICIES, {
          error: `must be one of ${CONFIRM_POLICIES.map((p) => `"${p}"`).join(', ')}`,
        })
        .optional(),
    })
    .optional()
    .meta({
      description: `How often and how long it is tried. Defaults: intervalSeconds ${POLICY_LIMITS.intervalSeconds.default} (the wait between a push and its check), maxAttempts ${POLICY_LIMITS.maxAttempts.default} (before escalating), expiresInSeconds ${POLICY_LIMITS.expiresInSeconds.default} (its life), confirmBy "ack" (what confirms it: the app's ACK, JPush's report, or either).`,
    }),
  escalation: z
    .strictObject({
      onCall: z.boolean({ error: 'must be true or false' }).optional(),
      smsTo: E164.optional(),
    })
    .optional()
    .meta({
      description:
        'When it is not confirmed after every attempt: SMS the on-call topic (onCall, default true) and, when given, the recipient (smsTo, E.164, in the allowed countries).',
    }),
});
export type SendMessageInput = z.infer<typeof SendMessageInput>;

/** Fills a policy's defaults. */
export const resolvePolicy = (
  policy: SendMessageInput['policy']
): DeliveryPolicy => ({
  intervalSeconds:
    policy?.intervalSeconds ?? POLICY_LIMITS.intervalSeconds.default,
  maxAttempts: policy?.maxAttempts ?? POLICY_LIMITS.maxAttempts.default,
  expiresInSeconds:
    policy?.expiresInSeconds ?? POLICY_LIMITS.expiresInSeconds.default,
  confirmBy: policy?.confirmBy ?? 'ack',
});

/**
 * What confirms a stored message (`ack` for one sent before the policy
 * had `confirmBy`).
 */
export const confirmPolicyOf = (
  policy: Partial<Pick<DeliveryPolicy, 'confirmBy'>> | undefined
): ConfirmPolicy => policy?.confirmBy ?? 'ack';

/** Whether JPush's report that a device got it confirms the message. */
export const reportConfirms = (
  policy: Partial<Pick<DeliveryPolicy, 'confirmBy'>> | undefined
): boolean => confirmPolicyOf(policy) !== 'ack';

/** The text of the recipient's escalation SMS: title and body, ≤ 500 chars. */
export const smsTextOf = (title: string | undefined, body: string): string => {
  const text = title ? `${title}: ${body}` : body;
  return text.length > 500 ? `${text.slice(0, 497)}...` : text;
};

/** Who an escalation SMS goes to. */
export type SmsChannel = 'onCall' | 'recipient';

/** Key of an attempt in the `pushes` map. */
export const attemptKey = (delivery: number, attempt: number): string =>
  `${delivery}.${attempt}`;

/**
 * The devices the pushes of the message's current delivery targeted, any
 * attempt (pending, withdrawn or not): the devices that may ACK it. A
 * message stored again has none until its next delivery pushes.
 */
export const deliveryTargets = (message: Message): string[] => [
  ...new Set(
    Object.values(message.pushes)
      .filter((p) => p.delivery === message.delivery)
      .flatMap((p) => p.registrationIds)
  ),
];

/** Step Functions execution name of a message's nth delivery. */
export const executionName = (messageId: string, delivery: number): string =>
  delivery <= 1 ? messageId : `${messageId}-d${delivery}`;

/** What `GET /v1/messages/{id}` shows. */
export const toMessageView = (m: Message): MessageView => ({
  messageId: m.messageId,
  to: m.to,
  ...(m.from === undefined ? {} : { from: m.from }),
  ...(m.title === undefined ? {} : { title: m.title }),
  body: m.body,
  ...(m.data === undefined ? {} : { data: m.data }),
  status: m.status,
  attempts: m.attempts,
  policy: { ...m.policy, confirmBy: confirmPolicyOf(m.policy) },
  createdAt: m.createdAt,
  updatedAt: m.updatedAt,
  expiresAt: m.expiresAt,
  ...(m.ackedAt === undefined ? {} : { acknowledgedAt: m.ackedAt }),
  ...(m.confirmedBy === undefined ? {} : { confirmedBy: m.confirmedBy }),
  ...(m.failureReason === undefined ? {} : { failureReason: m.failureReason }),
  timeline: [...m.timeline],
});
