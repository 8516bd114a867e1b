import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * The ACK token of a message: HMAC-SHA256 over the message id and the
 * recipient, base64url. Only the pushed device (which gets it in the push
 * extras) and this system know it.
 * @param key the signing key (from Secrets Manager)
 * @param messageId the message
 * @param to the recipient's user id
 */
export const ackTokenFor = (
  key: Buffer,
  messageId: string,
  to: string
): string =>
  createHmac('sha256', key)
    .update(`ack\n${messageId}\n${to}`)
    .digest('base64url');

/**
 * Checks a token in constant time.
 * @returns true when `token` is the message's ACK token
 */
export const isValidAckToken = (
  key: Buffer,
  messageId: string,
  to: string,
  token: string
): boolean => {
  const expected = Buffer.from(ackTokenFor(key, messageId, to));
  const given = Buffer.from(token);
  // timingSafeEqual needs equal lengths; compare against itself to keep the
  // time independent of where a wrong token differs.
  if (given.length !== expected.length) {
    timingSafeEqual(expected, expected);
    return false;
  }
  return timingSafeEqual(given, expected);
};
