import { SecretsManagerSigningKeys } from '../../adapters/secrets.ts';
import type { SigningKeySource } from '../../domain/ports.ts';
import { requireEnv } from '../env.ts';
import { ENV } from '../names.ts';
import type { Part } from './part.ts';

/** What the ACK key part provides. */
export interface AckKeyDeps {
  /** The keys ACK tokens are signed with (Secrets Manager, cached). */
  readonly ackKey: SigningKeySource;
}

/** The ACK key part: the secret named by `ACK_KEY_SECRET_ARN`. */
export const ackKey: Part<AckKeyDeps> = () => ({
  ackKey: () =>
    new SecretsManagerSigningKeys(requireEnv(ENV.ackKeySecretArn), 'ACK token'),
});

/** What the history cursor key part provides. */
export interface CursorKeyDeps {
  /** The keys history cursors are signed with (Secrets Manager, cached). */
  readonly cursorKeys: SigningKeySource;
}

/** The history cursor key part: the secret named by `HISTORY_CURSOR_KEY_SECRET_ARN`. */
export const cursorKey: Part<CursorKeyDeps> = () => ({
  cursorKeys: () =>
    new SecretsManagerSigningKeys(
      requireEnv(ENV.cursorKeySecretArn),
      'history cursor'
    ),
});
