import { NotFoundError } from './errors.ts';
import { type Message, toMessageView } from './message.ts';
import type { Clock, MessageRepository } from './ports.ts';

/**
 * A message as the status route shows it. A stored message whose life ended
 * shows as `expired` even before the offline store's TTL removed it.
 */
export const viewOf = (message: Message, now: Date) =>
  toMessageView(
    message.status === 'stored' &&
      Date.parse(message.expiresAt) <= now.getTime()
      ? { ...message, status: 'expired' }
      : message
  );

/**
 * Reads a message's status and timeline.
 * @throws NotFoundError when there is no such message
 */
export const getMessage = async (
  messageId: string,
  deps: { messages: MessageRepository; clock: Clock }
) => {
  const message = await deps.messages.get(messageId);
  if (!message) throw new NotFoundError(`No message with id ${messageId}.`);
  return viewOf(message, deps.clock.now());
};
