import { describe, expect, it } from 'vitest';
import {
  ackTokenFor,
  isValidAckToken,
} from '../../../functions/domain/ack-token.ts';

const KEY = Buffer.from('test-only-ack-key-not-a-secret-0123456789');
const OTHER_KEY = Buffer.from('another-test-only-key-not-a-secret-000000');

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
