import { isValidAckToken } from './ack-token.ts';
import { ForbiddenError } from './errors.ts';
import type { MessageStatus } from './message.ts';
import type { AckKeySource, Clock, MessageRepository } from './ports.ts';

/** What acknowledging needs. */
export interface AcknowledgeDeps {
  readonly messages: MessageRepository;
  readonly ackKey: AckKeySource;
  readonly clock: Clock;
}

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
 * Primary course: 1. find the message  2. check the token in constant time
 * 3. mark it acknowledged (or record a late ACK when it had already ended).
 * Idempotent: a repeated ACK changes nothing.
 * @throws ForbiddenError for an unknown message or a wrong token (one message
 * for both, so the route tells nothing about which ids exist)
 */
export const acknowledge = async (
  input: { messageId: string; token: string },
  deps: AcknowledgeDeps
): Promise<AcknowledgeResult> => {
  const forbidden = new ForbiddenError(
    'This ACK token is not valid for this message.'
  );
  const message = await deps.messages.get(input.messageId);
  const key = await deps.ackKey.key();
  if (!message) {
    isValidAckToken(key, input.messageId, '', input.token);
    throw forbidden;
  }
  if (!isValidAckToken(key, message.messageId, message.to, input.token)) {
    throw forbidden;
  }
  if (message.ackedAt !== undefined) return 'repeated';
  const at = deps.clock.now().toISOString();
  const acked = await deps.messages.update(message.messageId, {
    set: { status: 'acknowledged', ackedAt: at },
    timeline: [
      { at, event: 'acknowledged', detail: 'the app confirmed receipt' },
    ],
    when: { statusIn: ACKABLE, notAcked: true },
  });
  if (acked) return 'acknowledged';
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
