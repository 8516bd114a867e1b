/**
 * What the bundles get instead of `@aws-sdk/credential-provider-node`
 * (esbuild aliases the package to this file; see HOUSE_BUNDLING in
 * infra/constructs/service-function.ts).
 *
 * On Lambda the default chain always ends at its first link: the runtime
 * puts the role's credentials in `AWS_ACCESS_KEY_ID`,
 * `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN`. The rest of the chain
 * (SSO, profiles, web identity, STS, instance metadata, with the nested STS
 * and SSO clients) is 140 KB that every client would parse at each cold
 * start, about 30 ms of module init (`npm run bench:cold`). Tests and local
 * mode import the real package; only the Lambda bundles use this one, and
 * the bundle-cycle test signs every call with it.
 */
import { fromEnv } from '@aws-sdk/credential-provider-env';

/**
 * The SDK clients' default credentials: the environment's.
 * @returns a provider reading `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`
 *   and `AWS_SESSION_TOKEN`, which throws when they are absent
 */
export const defaultProvider = (
  init?: Parameters<typeof fromEnv>[0]
): ReturnType<typeof fromEnv> => fromEnv(init);
