import { getSecret } from '@aws-lambda-powertools/parameters/secrets';
import {
  KEY_VERSION,
  MIN_KEY_BYTES,
  type SigningKeySource,
  type SigningKeys,
  signingKeys,
  UNVERSIONED,
} from '../domain/signing-keys.ts';

/** Secrets are cached for this long in a warm Lambda. */
const MAX_AGE_SECONDS = 300;

/**
 * Reads a secret of signing keys and caches it (five minutes in a warm
 * Lambda, so a rotation is seen within that time).
 */
export class SecretsManagerSigningKeys implements SigningKeySource {
  /**
   * @param secretId ARN or name of the secret
   * @param what what the keys sign, for error messages ("ACK token")
   */
  constructor(
    private readonly secretId: string,
    private readonly what: string
  ) {}

  async keys(): Promise<SigningKeys> {
    const value = await getSecret(this.secretId, { maxAge: MAX_AGE_SECONDS });
    return parseSigningKeys(value, this.what);
  }
}

/**
 * The keys of a signing-key secret. Either JSON
 * `{"current": "2", "key1": "...", "key2": "..."}` (each `key<version>` at
 * least 32 characters; `current` names the one that signs, every other
 * listed version is still accepted), or a plain string of at least 32
 * characters, which is version `0` (tokens without a version).
 * @param value the secret string
 * @param what what the keys sign, for the error message
 * @throws Error naming what is wrong, never a value
 */
export const parseSigningKeys = (value: unknown, what: string): SigningKeys => {
  const fail = (why: string): never => {
    throw new Error(`The ${what} signing key secret ${why}.`);
  };
  if (typeof value !== 'string') return fail('is missing or not a string');
  if (!value.trimStart().startsWith('{')) {
    if (Buffer.byteLength(value) < MIN_KEY_BYTES) {
      fail(`is shorter than ${MIN_KEY_BYTES} bytes`);
    }
    return signingKeys({ version: UNVERSIONED, key: Buffer.from(value) });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    return fail('starts with { but is not JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    return fail('is not a JSON object');
  }
  const { current, ...versions } = parsed as Record<string, unknown>;
  if (typeof current !== 'string' || !KEY_VERSION.test(current)) {
    return fail('has no "current" version (1 to 8 letters or digits)');
  }
  const accepted = new Map<string, Buffer>();
  for (const [name, key] of Object.entries(versions)) {
    const version = /^key(.+)$/.exec(name)?.[1];
    if (version === undefined || !KEY_VERSION.test(version)) {
      return fail(
        `has a field "${name.slice(0, 20)}" that is not key<version>`
      );
    }
    if (typeof key !== 'string' || Buffer.byteLength(key) < MIN_KEY_BYTES) {
      return fail(`has a ${name} shorter than ${MIN_KEY_BYTES} bytes`);
    }
    accepted.set(version, Buffer.from(key));
  }
  const key = accepted.get(current);
  if (key === undefined)
    return fail(`has no key${current} for its current version`);
  accepted.delete(current);
  return signingKeys({ version: current, key }, accepted);
};

/** JPush credentials as stored in their secret. */
export interface JPushCredentials {
  readonly appKey: string;
  readonly masterSecret: string;
}

/**
 * Reads the JPush credentials secret (`{"appKey": "...", "masterSecret": "..."}`),
 * cached for five minutes.
 * @param secretId ARN or name of the secret
 * @param options `refresh`: read it from Secrets Manager, not the cache
 *   (JPush refused the cached credentials: the secret was rotated)
 * @throws Error naming what is wrong, never the values
 */
export const readJPushCredentials = async (
  secretId: string,
  options: { readonly refresh?: boolean } = {}
): Promise<JPushCredentials> => {
  const value = await getSecret(secretId, {
    maxAge: MAX_AGE_SECONDS,
    transform: 'json',
    forceFetch: options.refresh === true,
  });
  if (
    typeof value === 'object' &&
    value !== null &&
    'appKey' in value &&
    'masterSecret' in value &&
    typeof value.appKey === 'string' &&
    typeof value.masterSecret === 'string' &&
    value.appKey !== 'unset'
  ) {
    return { appKey: value.appKey, masterSecret: value.masterSecret };
  }
  throw new Error(
    'The JPush credentials secret must be JSON {"appKey": "...", "masterSecret": "..."}; set it with aws secretsmanager put-secret-value.'
  );
};
