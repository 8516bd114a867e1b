import type { PushOutcome } from '../shared/names.ts';
import { isValidAckToken } from './ack-token.ts';
import { ForbiddenError } from './errors.ts';
import type { Message, MessageStatus } from './message.ts';
import type {
  Clock,
  MessageRepository,
  SigningKeySource,
  TaskCallbacks,
} from './ports.ts';

/** What acknowledging needs. */
export interface AcknowledgeDeps {
  readonly messages: MessageRepository;
  readonly ackKey: SigningKeySource;
  readonly clock: Clock;
  readonly callbacks: TaskCallbacks;
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
 * Primary course: 1. find the message  2. check the token in constant time
 * 3. mark it acknowledged (or record a late ACK when it had already ended)
 * 4. end the delivery step's wait with the task token kept with the attempt
 * (SendTaskSuccess), so the cycle ends now, not at the interval's end.
 * Idempotent: a repeated ACK changes nothing but ends the wait again, which
 * is harmless (Step Functions answers that the task has ended) and makes an
 * ACK retried after a failed callback finish the job.
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
  const key = await deps.ackKey.keys();
  if (!message) {
    isValidAckToken(key, input.messageId, '', input.token);
    throw forbidden;
  }
  if (!isValidAckToken(key, message.messageId, message.to, input.token)) {
    throw forbidden;
  }
  if (message.ackedAt !== undefined) {
    if (message.status === 'acknowledged') await endWait(message, deps);
    return 'repeated';
  }
  const at = deps.clock.now().toISOString();
  const acked = await deps.messages.update(message.messageId, {
    set: { status: 'acknowledged', ackedAt: at },
    timeline: [
      { at, event: 'acknowledged', detail: 'the app confirmed receipt' },
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

const endWait = async (
  message: Message,
  deps: AcknowledgeDeps
): Promise<void> => {
  if (message.taskToken === undefined) return;
  await deps.callbacks.succeed(message.taskToken, ACKNOWLEDGED_OUTPUT);
};
