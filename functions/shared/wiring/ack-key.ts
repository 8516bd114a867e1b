import { SecretsManagerAckKey } from '../../adapters/secrets.ts';
import type { AckKeySource } from '../../domain/ports.ts';
import { requireEnv } from '../env.ts';
import { ENV } from '../names.ts';
import type { Part } from './part.ts';

/** What the ACK key part provides. */
export interface AckKeyDeps {
  /** The key ACK tokens are signed with (Secrets Manager, cached). */
  readonly ackKey: AckKeySource;
}

/** The ACK key part: the secret named by `ACK_KEY_SECRET_ARN`. */
export const ackKey: Part<AckKeyDeps> = () => ({
  ackKey: () => new SecretsManagerAckKey(requireEnv(ENV.ackKeySecretArn)),
});
