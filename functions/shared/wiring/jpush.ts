import { BatchedCids } from '../../adapters/batched-cids.ts';
import { JPushClient } from '../../adapters/jpush-client.ts';
import { PacedJPush, recordRateLimit } from '../../adapters/jpush-pacing.ts';
import { InMemoryReportMode } from '../../adapters/report-mode.ts';
import { readJPushCredentials } from '../../adapters/secrets.ts';
import type { JPushPort } from '../../domain/jpush.ts';
import type { CidSource, ReportModeMemory } from '../../domain/ports.ts';
import { optionalEnv, requireEnv } from '../env.ts';
import { jpushCallMetrics } from '../jpush-log.ts';
import { ENV } from '../names.ts';
import { lambdaRepositories } from './dynamo.ts';
import { once, type Part } from './part.ts';

/** What the JPush part provides. */
export interface JPushDeps {
  /** JPush, paced by the shared rate-limit windows (the Pacing table). */
  readonly jpush: JPushPort;
  /** JPush cids, fetched in batches. */
  readonly cids: CidSource;
  /** Whether the app has JPush's per-device status API. */
  readonly reportMode: ReportModeMemory;
}

/**
 * The JPush part: the HTTPS client with its credentials from Secrets
 * Manager (read on the first call, and again past the cache when JPush
 * answers 401), paced through the Pacing table.
 */
export const jpush: Part<JPushDeps> = () => {
  const paced = once(
    (): JPushPort =>
      new PacedJPush(
        new JPushClient({
          // A 401 (the secret was rotated) reads it again, past the cache.
          credentials: ({ refresh }) =>
            readJPushCredentials(requireEnv(ENV.jpushCredentialsSecretArn), {
              refresh,
            }),
          pushBaseUrl: optionalEnv(ENV.jpushPushBaseUrl),
          reportBaseUrl: optionalEnv(ENV.jpushReportBaseUrl),
          deviceBaseUrl: optionalEnv(ENV.jpushDeviceBaseUrl),
          timeoutMs: Number(optionalEnv(ENV.jpushTimeoutMs) ?? 10_000),
          onRateLimit: recordRateLimit,
        }),
        lambdaRepositories().pacing,
        jpushCallMetrics
      )
  );
  return {
    jpush: paced,
    cids: () => new BatchedCids(paced()),
    reportMode: () => new InMemoryReportMode(),
  };
};
