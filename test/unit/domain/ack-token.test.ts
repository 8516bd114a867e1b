import { describe, expect, it } from 'vitest';
import {
  ackTokenFor,
  isValidAckToken,
} from '../../../functions/domain/ack-token.ts';
import { signingKeys } from '../../../functions/domain/signing-keys.ts';

const KEY_BYTES = Buffer.from('test-only-ack-key-not-a-secret-0123456789');
const OTHER_BYTES = Buffer.from('another-test-only-key-not-a-secret-000000');
/** A plain secret string, as the ACK key was before keys had versions. */
const KEY = signingKeys({ version: '0', key: KEY_BYTES });
const OTHER_KEY = signingKeys({ version: '0', key: OTHER_BYTES });

describe('ackTokenFor', () => {
  it('is URL-safe and the same for the same message and recipient', () => {
    // Act
    const a = ackTokenFor(KEY, 'm1', 'user_42');
    const b = ackTokenFor(KEY, 'm1', 'user_42');

    // Assess
    expect(a).toBe(b);
    expect(a).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it('differs per message, per recipient and per key', () => {
    // Act
    const tokens = new Set([
      ackTokenFor(KEY, 'm1', 'user_42'),
      ackTokenFor(KEY, 'm2', 'user_42'),
      ackTokenFor(KEY, 'm1', 'user_43'),
      ackTokenFor(OTHER_KEY, 'm1', 'user_42'),
    ]);

    // Assess
    expect(tokens.size).toBe(4);
  });

  it('cannot be shifted between message id and recipient', () => {
    // Act
    const a = ackTokenFor(KEY, 'm1', 'x_user');
    const b = ackTokenFor(KEY, 'm1x', '_user');

    // Assess
    expect(a).not.toBe(b);
  });
});

describe('isValidAckToken', () => {
  it('accepts the token of the message and recipient', () => {
    // Prepare
    const token = ackTokenFor(KEY, 'm1', 'user_42');

    // Act
    const valid = isValidAckToken(KEY, 'm1', 'user_42', token);

    // Assess
    expect(valid).toBe(true);
  });

  it('rejects another message’s token, a truncated, empty or altered token', () => {
    // Prepare
    const token = ackTokenFor(KEY, 'm1', 'user_42');
    const altered = `${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}`;

    // Act
    const results = [
      isValidAckToken(KEY, 'm2', 'user_42', token),
      isValidAckToken(KEY, 'm1', 'user_43', token),
      isValidAckToken(KEY, 'm1', 'user_42', token.slice(0, 20)),
      isValidAckToken(KEY, 'm1', 'user_42', ''),
      isValidAckToken(KEY, 'm1', 'user_42', altered),
      isValidAckToken(OTHER_KEY, 'm1', 'user_42', token),
    ];

    // Assess
    expect(results).toEqual([false, false, false, false, false, false]);
  });
});

describe('ACK keys with versions (rotation)', () => {
  const v1 = signingKeys({ version: '1', key: KEY_BYTES });
  const rotated = signingKeys({ version: '2', key: OTHER_BYTES }, [
    ['1', KEY_BYTES],
  ]);
  const retired = signingKeys({ version: '2', key: OTHER_BYTES });

  it('names the key version in the token, and none for the unversioned key', () => {
    // Act
    const versioned = ackTokenFor(v1, 'm1', 'user_42');
    const plain = ackTokenFor(KEY, 'm1', 'user_42');

    // Assess
    expect(versioned).toMatch(/^1\.[A-Za-z0-9_-]{43}$/);
    expect(plain).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(versioned.slice(2)).toBe(plain);
  });

  it('accepts a token of an older key while it is listed, and signs with the new one', () => {
    // Prepare
    const old = ackTokenFor(v1, 'm1', 'user_42');

    // Act
    const fresh = ackTokenFor(rotated, 'm1', 'user_42');

    // Assess
    expect(isValidAckToken(rotated, 'm1', 'user_42', old)).toBe(true);
    expect(fresh.startsWith('2.')).toBe(true);
    expect(isValidAckToken(rotated, 'm1', 'user_42', fresh)).toBe(true);
  });

  it('refuses a token once its key is no longer listed, and one with a made-up version', () => {
    // Prepare
    const old = ackTokenFor(v1, 'm1', 'user_42');
    const relabelled = `2.${old.slice(2)}`;

    // Act
    const results = [
      isValidAckToken(retired, 'm1', 'user_42', old),
      isValidAckToken(rotated, 'm1', 'user_42', relabelled),
      isValidAckToken(rotated, 'm1', 'user_42', `9.${old.slice(2)}`),
      isValidAckToken(rotated, 'm1', 'user_42', old.slice(2)),
    ];

    // Assess
    expect(results).toEqual([false, false, false, false]);
  });
});
