import { getSecret } from '@aws-lambda-powertools/parameters/secrets';
import { describe, expect, it, vi } from 'vitest';
import {
  parseSigningKeys,
  readJPushCredentials,
} from '../../../functions/adapters/secrets.ts';

vi.mock('@aws-lambda-powertools/parameters/secrets', () => ({
  getSecret: vi.fn(),
}));

const A = 'a'.repeat(32);
const B = 'b'.repeat(40);

describe('parseSigningKeys', () => {
  it('reads a plain string as the unversioned key 0', () => {
    // Act
    const keys = parseSigningKeys(A, 'ACK token');

    // Assess
    expect(keys.current).toEqual({ version: '0', key: Buffer.from(A) });
    expect([...keys.accepted.keys()]).toEqual(['0']);
  });

  it('reads a key ring: the current version signs, the others are accepted', () => {
    // Act
    const keys = parseSigningKeys(
      JSON.stringify({ current: '2', key0: A, key2: B }),
      'ACK token'
    );

    // Assess
    expect(keys.current).toEqual({ version: '2', key: Buffer.from(B) });
    expect(keys.accepted.get('0')).toEqual(Buffer.from(A));
    expect(keys.accepted.get('2')).toEqual(Buffer.from(B));
  });

  it.each([
    [undefined, 'is missing or not a string'],
    ['short', 'is shorter than 32 bytes'],
    ['{"current": "1", ', 'starts with { but is not JSON'],
    ['{"key1": "x"}', 'has no "current" version'],
    [JSON.stringify({ current: 'v-1', key1: A }), 'has no "current" version'],
    [JSON.stringify({ current: '1', key2: A }), 'has no key1'],
    [JSON.stringify({ current: '1', key1: 'short' }), 'has a key1 shorter'],
    [JSON.stringify({ current: '1', key1: A, other: A }), '"other"'],
  ])('refuses %s, saying what is wrong and never the value', (value, why) => {
    // Act
    const parse = () => parseSigningKeys(value, 'history cursor');

    // Assess
    expect(parse).toThrow(`The history cursor signing key secret`);
    expect(parse).toThrow(why);
    try {
      parse();
    } catch (error) {
      expect(String(error)).not.toContain(A);
    }
  });
});

describe('readJPushCredentials', () => {
  const SECRET_ARN =
    'arn:aws:secretsmanager:eu-west-1:111111111111:secret:JPush-abc';

  it('reads through the five-minute cache, and past it when asked to refresh', async () => {
    // Prepare
    vi.mocked(getSecret).mockResolvedValue({
      appKey: 'fakeAppKey00000000000000',
      masterSecret: 'fakeMasterSecret00000000',
    } as never);

    // Act
    const cached = await readJPushCredentials(SECRET_ARN);
    const fresh = await readJPushCredentials(SECRET_ARN, { refresh: true });

    // Assess
    expect(cached).toEqual(fresh);
    expect(vi.mocked(getSecret).mock.calls).toEqual([
      [SECRET_ARN, { maxAge: 300, transform: 'json', forceFetch: false }],
      [SECRET_ARN, { maxAge: 300, transform: 'json', forceFetch: true }],
    ]);
  });
});
