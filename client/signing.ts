import { Sha256 } from '@aws-crypto/sha256-js';
import { SignatureV4 } from '@smithy/signature-v4';

/** AWS credentials, as the SDK's providers give them. */
export interface AwsCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
  readonly expiration?: Date;
}

/** A function that gives credentials (refreshed as it sees fit). */
export type AwsCredentialsProvider = () => Promise<AwsCredentials>;

/** What is signed: a request as it will be sent. */
export interface RequestToSign {
  readonly method: string;
  readonly url: URL;
  readonly headers: Headers;
  readonly body: string | undefined;
}

/** Signs a request; gives the headers to send with it. */
export type RequestSigner = (request: RequestToSign) => Promise<Headers>;

/**
 * The default provider chain of the AWS SDK (environment, SSO, the shared
 * files, web identity, ECS and EC2 metadata), loaded on first use: a
 * client given its credentials never loads it.
 */
const defaultCredentials = (): AwsCredentialsProvider => {
  let provider: Promise<AwsCredentialsProvider> | undefined;
  return async () => {
    provider ??= import('@aws-sdk/credential-provider-node').then((m) =>
      m.defaultProvider()
    );
    return (await provider)();
  };
};

/**
 * A SigV4 signer for API Gateway (service `execute-api`): signs the
 * method, the path (encoded twice, as API Gateway expects), the query, the
 * headers with `host`, and the body's SHA-256 (`x-amz-content-sha256`);
 * adds `x-amz-date`, `authorization` and, with temporary credentials,
 * `x-amz-security-token`.
 * @param region the API's region
 * @param credentials the credentials or their provider; the SDK's default
 *   provider chain when undefined
 */
export const sigV4Signer = (
  region: string,
  credentials: AwsCredentials | AwsCredentialsProvider | undefined
): RequestSigner => {
  const signer = new SignatureV4({
    service: 'execute-api',
    region,
    credentials: credentials ?? defaultCredentials(),
    sha256: Sha256,
  });
  return async ({ method, url, headers, body }) => {
    const toSign: Record<string, string> = { host: url.host };
    headers.forEach((value, name) => {
      toSign[name] = value;
    });
    const query: Record<string, string | string[]> = {};
    for (const name of new Set(url.searchParams.keys())) {
      const values = url.searchParams.getAll(name);
      query[name] = values.length === 1 ? (values[0] ?? '') : values;
    }
    const signed = await signer.sign({
      method,
      protocol: url.protocol,
      hostname: url.hostname,
      ...(url.port ? { port: Number(url.port) } : {}),
      path: url.pathname,
      query,
      headers: toSign,
      body,
    });
    const out = new Headers();
    for (const [name, value] of Object.entries(signed.headers)) {
      // fetch sets Host itself, to the same value.
      if (name.toLowerCase() !== 'host') out.set(name, value);
    }
    return out;
  };
};
