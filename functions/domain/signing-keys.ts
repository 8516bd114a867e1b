import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * A versioned set of HMAC keys: one signs, every one still listed is
 * accepted. Rotating a key is adding a version, making it current, and
 * removing the old one once nothing it signed is still in use.
 */
export interface SigningKeys {
  /** The key new signatures are made with. */
  readonly current: { readonly version: string; readonly key: Buffer };
  /** Every key still accepted, by version (the current one included). */
  readonly accepted: ReadonlyMap<string, Buffer>;
}

/** Where signing keys come from (Secrets Manager on AWS). */
export interface SigningKeySource {
  keys(): Promise<SigningKeys>;
}

/**
 * The version of a key kept as a plain secret string, as the ACK key was
 * before keys had versions: its tokens carry no version.
 */
export const UNVERSIONED = '0';

/** What a key version may look like (it is written into tokens). */
export const KEY_VERSION = /^[0-9A-Za-z]{1,8}$/;

/** The shortest key accepted, in bytes. */
export const MIN_KEY_BYTES = 32;

/**
 * A key set of one current key and the older ones still accepted.
 * @param current the version and key to sign with
 * @param older older versions still accepted
 */
export const signingKeys = (
  current: { version: string; key: Buffer },
  older: Iterable<[string, Buffer]> = []
): SigningKeys => ({
  current,
  accepted: new Map([...older, [current.version, current.key]]),
});

/**
 * HMAC-SHA256 of a text, base64url.
 * @param key the key
 * @param text what is signed
 */
export const macOf = (key: Buffer, text: string): string =>
  createHmac('sha256', key).update(text).digest('base64url');

/**
 * Compares a given MAC with the expected one in time independent of where
 * they differ (and of whether their lengths differ).
 */
export const sameMac = (expected: string, given: string): boolean => {
  const a = Buffer.from(expected);
  const b = Buffer.from(given);
  if (a.length !== b.length) {
    timingSafeEqual(a, a);
    return false;
  }
  return timingSafeEqual(a, b);
};

/**
 * Checks a MAC made with the key of `version`, in the same time whether or
 * not that version is still accepted (an unknown one is compared against
 * the current key, then refused).
 * @param text what was signed
 */
export const verifiesMac = (
  keys: SigningKeys,
  version: string,
  text: string,
  mac: string
): boolean => {
  const key = keys.accepted.get(version);
  return (
    sameMac(macOf(key ?? keys.current.key, text), mac) && key !== undefined
  );
};
