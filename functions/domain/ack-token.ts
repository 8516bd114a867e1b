import {
  macOf,
  type SigningKeys,
  UNVERSIONED,
  verifiesMac,
} from './signing-keys.ts';

const macText = (messageId: string, to: string) => `ack\n${messageId}\n${to}`;

/**
 * The ACK token of a message: HMAC-SHA256 over the message id and the
 * recipient, base64url, after the version of the key that made it
 * (`<version>.<mac>`; a key kept as a plain secret string makes tokens
 * without a version, as before keys had versions). Only the pushed device
 * (which gets it in the push extras) and this system know it.
 * @param keys the signing keys (from Secrets Manager): the current one signs
 * @param messageId the message
 * @param to the recipient's user id
 */
export const ackTokenFor = (
  keys: SigningKeys,
  messageId: string,
  to: string
): string => {
  const { version, key } = keys.current;
  const mac = macOf(key, macText(messageId, to));
  return version === UNVERSIONED ? mac : `${version}.${mac}`;
};

/**
 * Checks a token in constant time, with the key of the version it names,
 * while that version is still accepted.
 * @returns true when `token` is the message's ACK token
 */
export const isValidAckToken = (
  keys: SigningKeys,
  messageId: string,
  to: string,
  token: string
): boolean => {
  const dot = token.indexOf('.');
  const version = dot < 0 ? UNVERSIONED : token.slice(0, dot);
  const mac = dot < 0 ? token : token.slice(dot + 1);
  return verifiesMac(keys, version, macText(messageId, to), mac);
};
