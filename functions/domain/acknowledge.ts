import { createHash, timingSafeEqual } from 'node:crypto';
import * as z from 'zod';
import type { PushOutcome } from '../shared/names.ts';
import { isValidAckToken } from './ack-token.ts';
import { ForbiddenError } from './errors.ts';
import {
  deliveryTargets,
  type Message,
  type MessageStatus,
  RegistrationId,
} from './message.ts';
import type {
  Clock,
  MessageRepository,
  SigningKeySource,
  TaskCallbacks,
} from './ports.ts';

const token = z
  .string({ error: 'is required: the ackToken from the push extras' })
  .min(1, { error: 'must not be empty' })
  .max(200, { error: 'is too long to be an ACK token' })
  .meta({ description: 'The `ackToken` from the push extras.' });

/** The ACK of an app that names its device (required by default). */
export const AckInput = z.strictObject({
  token,
  registrationId: RegistrationId,
});

/** With `ackRequiresDevice` off: the token alone, as older apps send it. */
export const TokenOnlyAckInput = z.strictObject({
  token,
  registrationId: RegistrationId.optional(),
});

/** What acknowledging needs. */
export interface AcknowledgeDeps {
  readonly messages: MessageRepository;
  readonly ackKey: SigningKeySource;
  readonly clock: Clock;
  readonly callbacks: TaskCallbacks;
  /**
   * Whether an ACK must name the device it comes from (`registrationId`).
   * `false` also accepts the token alone, from apps released before ACKs
   * named their device: weaker, since the token is the same for every
   * delivery of the message, so a phone its user left still has it.
   * A registration id that is given is checked either way.
   * @default true
   */
  readonly ackRequiresDevice?: boolean;
}

/** What the delivery step waiting for the ACK is told. */
export const ACKNOWLEDGED_OUTPUT = {
  outcome: 'acknowledged',
} as const satisfies { outcome: PushOutcome };

/** What the ACK did. */
export type AcknowledgeResult =
  /** First ACK: the message is now acknowledged. */
  | 'acknowledged'
  /** First ACK, after the message had been escalated, expired or failed. */
  | 'late'
  /** Already acknowledged before: nothing changed. */
  | 'repeated';

const ACKABLE: readonly MessageStatus[] = ['sending', 'received', 'stored'];

/**
 * Records the app's confirmation that a message arrived.
 * Primary course: 1. find the message  2. check the token in constant time,
 * then the device: one a push of the message's current delivery targeted
 * (any attempt), also in constant time  3. mark it acknowledged (or record
 * a late ACK when it had already ended)  4. end the delivery step's wait with the task token kept with the attempt
 * (SendTaskSuccess), so the cycle ends now, not at the interval's end.
 * Idempotent: a repeated ACK changes nothing but ends the wait again, which
 * is harmless (Step Functions answers that the task has ended) and makes an
 * ACK retried after a failed callback finish the job.
 * The ACK confirms under every `policy.confirmBy`, `report` included: it
 * is the stronger evidence (the app ran and had the message, not only the
 * phone). A message JPush's report already confirmed has `ackedAt`, so an
 * ACK after that is a repeat and changes nothing.
 * A device the current delivery did not push to is refused even with the
 * right token: after an account switch the message is stored again and
 * delivered anew, and the phone its user left must not end that delivery.
 * @throws ForbiddenError for an unknown message, a wrong token, a device
 * this delivery did not target, or no device when one is required (one
 * message for all, so the route tells nothing about which part failed or
 * which ids exist)
 */
export const acknowledge = async (
  input: { messageId: string; token: string; registrationId?: string },
  deps: AcknowledgeDeps
): Promise<AcknowledgeResult> => {
  const message = await deps.messages.get(input.messageId);
  const key = await deps.ackKey.keys();
  // Both checks run whatever the other's result, so the time taken tells
  // nothing about which one failed.
  const tokenValid = isValidAckToken(
    key,
    input.messageId,
    message?.to ?? '',
    input.token
  );
  const deviceValid =
    input.registrationId === undefined
      ? deps.ackRequiresDevice === false
      : isTarget(message, input.registrationId);
  if (!message || !tokenValid || !deviceValid) {
    throw new ForbiddenError('This ACK is not valid for this message.');
  }
  if (message.ackedAt !== undefined) {
    if (message.status === 'acknowledged') await endWait(message, deps);
    return 'repeated';
  }
  const at = deps.clock.now().toISOString();
  const acked = await deps.messages.update(message.messageId, {
    set: { status: 'acknowledged', ackedAt: at, confirmedBy: 'ack' },
    timeline: [
      {
        at,
        event: 'acknowledged',
        detail: 'the app confirmed receipt',
        confirmedBy: 'ack',
      },
    ],
    when: { statusIn: ACKABLE, notAcked: true },
  });
  if (acked) {
    await endWait(acked, deps);
    return 'acknowledged';
  }
  const late = await deps.messages.update(message.messageId, {
    set: { ackedAt: at },
    timeline: [
      {
        at,
        event: 'late-ack',
        detail: `the app confirmed receipt after the message was ${message.status}`,
      },
    ],
    when: { notAcked: true },
  });
  return late ? 'late' : 'repeated';
};

/**
 * Whether a push of the message's current delivery targeted the device,
 * compared with every target in constant time (digests of equal length, no
 * early exit).
 */
const isTarget = (
  message: Message | undefined,
  registrationId: string
): boolean => {
  const given = digest(registrationId);
  const targets = message === undefined ? [] : deliveryTargets(message);
  let found = false;
  for (const target of targets) {
    found = timingSafeEqual(digest(target), given) || found;
  }
  if (targets.length === 0) timingSafeEqual(given, given);
  return found;
};

const digest = (text: string): Buffer =>
  createHash('sha256').update(text, 'utf8').digest();

const endWait = async (
  message: Message,
  deps: AcknowledgeDeps
): Promise<void> => {
  if (message.taskToken === undefined) return;
  await deps.callbacks.succeed(message.taskToken, ACKNOWLEDGED_OUTPUT);
};
