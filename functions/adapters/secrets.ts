import { getSecret } from '@aws-lambda-powertools/parameters/secrets';
import type { AckKeySource } from '../domain/ports.ts';

/** Secrets are cached for this long in a warm Lambda. */
const MAX_AGE_SECONDS = 300;

/** The ACK signing key, read from Secrets Manager and cached. */
export class SecretsManagerAckKey implements AckKeySource {
  /** @param secretId ARN or name of the secret holding the key */
  constructor(private readonly secretId: string) {}

  async key(): Promise<Buffer> {
    const value = await getSecret(this.secretId, { maxAge: MAX_AGE_SECONDS });
    if (typeof value !== 'string' || value.length < 32) {
      throw new Error('The ACK signing key secret is missing or too short.');
    }
    return Buffer.from(value, 'utf8');
  }
}

/** JPush credentials as stored in their secret. */
export interface JPushCredentials {
  readonly appKey: string;
  readonly masterSecret: string;
}

/**
 * Reads the JPush credentials secret (`{"appKey": "...", "masterSecret": "..."}`).
 * @throws Error naming what is wrong, never the values
 */
export const readJPushCredentials = async (
  secretId: string
): Promise<JPushCredentials> => {
  const value = await getSecret(secretId, {
    maxAge: MAX_AGE_SECONDS,
    transform: 'json',
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
