import { createHash } from 'node:crypto';
import { Sha256 } from '@aws-crypto/sha256-js';
import { SignatureV4 } from '@smithy/signature-v4';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createPushDeliveryClient } from '../../../client/index.ts';

const credentials = {
  accessKeyId: 'AKIDEXAMPLE',
  secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
  sessionToken: 'session-token-example',
};
const BASE = 'https://abc123.execute-api.eu-west-1.amazonaws.com';

interface Seen {
  readonly method: string;
  readonly url: URL;
  readonly headers: Headers;
  readonly body: string;
}

/** A fetch that records each request and answers `status` with `body`. */
const recording = (status: number, body: unknown) => {
  const seen: Seen[] = [];
  const fetch = async (request: Request) => {
    seen.push({
      method: request.method,
      url: new URL(request.url),
      headers: request.headers,
      body: await request.text(),
    });
    return Response.json(body, { status });
  };
  return { seen, fetch };
};

/** The same request signed again by SignatureV4 itself, at the same time. */
const signedAgain = async (seen: Seen, region: string) => {
  const headers: Record<string, string> = { host: seen.url.host };
  seen.headers.forEach((value, name) => {
    if (!['authorization', 'x-amz-date', 'x-amz-security-token'].includes(name))
      headers[name] = value;
  });
  const signer = new SignatureV4({
    service: 'execute-api',
    region,
    credentials,
    sha256: Sha256,
  });
  return signer.sign({
    method: seen.method,
    protocol: seen.url.protocol,
    hostname: seen.url.hostname,
    path: seen.url.pathname,
    query: Object.fromEntries(seen.url.searchParams),
    headers,
    body: seen.body === '' ? undefined : seen.body,
  });
};

describe('the client signs with SigV4 (execute-api)', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(new Date('2026-03-04T05:06:07Z'));
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('signs a POST: the signature is SignatureV4 own, for the region and execute-api', async () => {
    // Prepare
    const { seen, fetch } = recording(202, {
      messageId: 'm1',
      status: 'sending',
    });
    const client = createPushDeliveryClient({
      baseUrl: BASE,
      region: 'eu-west-1',
      credentials,
      fetch,
    });
    const message = { to: 'user-42', body: 'Hello', idempotencyKey: 'k1' };

    // Act
    await client.sendMessage(message);

    // Assess
    const [request] = seen;
    if (!request) throw new Error('nothing was sent');
    const authorization = request.headers.get('authorization') ?? '';
    expect(authorization).toMatch(
      /^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/20260304\/eu-west-1\/execute-api\/aws4_request, SignedHeaders=[a-z0-9;-]+, Signature=[0-9a-f]{64}$/
    );
    expect(authorization).toMatch(/SignedHeaders=[^,]*\bhost\b/);
    expect(authorization).toMatch(/SignedHeaders=[^,]*\bcontent-type\b/);
    expect(request.headers.get('x-amz-date')).toBe('20260304T050607Z');
    expect(request.headers.get('x-amz-security-token')).toBe(
      credentials.sessionToken
    );
    expect(request.headers.get('x-amz-content-sha256')).toBe(
      createHash('sha256').update(request.body).digest('hex')
    );
    expect(JSON.parse(request.body)).toEqual(message);
    const again = await signedAgain(request, 'eu-west-1');
    expect(authorization).toBe(again.headers.authorization);
  });

  it('signs a GET with a query, and a path parameter that needs escaping', async () => {
    // Prepare
    const { seen, fetch } = recording(200, { items: [] });
    const client = createPushDeliveryClient({
      baseUrl: BASE,
      credentials,
      fetch,
    });

    // Act
    await client.listHistory('user@42', { limit: 10, cursor: 'a b+c' });

    // Assess
    const [request] = seen;
    if (!request) throw new Error('nothing was sent');
    expect(request.url.pathname).toBe('/v1/users/user%4042/messages');
    expect(request.url.searchParams.get('cursor')).toBe('a b+c');
    const authorization = request.headers.get('authorization') ?? '';
    // The region comes from the execute-api URL.
    expect(authorization).toContain('/eu-west-1/execute-api/aws4_request');
    expect(request.headers.get('x-amz-content-sha256')).toBe(
      createHash('sha256').update('').digest('hex')
    );
    const again = await signedAgain(request, 'eu-west-1');
    expect(authorization).toBe(again.headers.authorization);
  });

  it('sends no security token for long-term credentials, and takes a provider', async () => {
    // Prepare
    const { seen, fetch } = recording(200, { drained: 0, alias: 'bound' });
    const provider = vi.fn(async () => ({
      accessKeyId: 'AKIDLONGTERM',
      secretAccessKey: 'secret',
    }));
    const client = createPushDeliveryClient({
      baseUrl: 'https://api.example.com',
      region: 'ap-east-1',
      credentials: provider,
      fetch,
    });

    // Act
    await client.login({
      userId: 'u1',
      registrationId: '1a0018970a9c2ce5b0',
      platform: 'android',
    });

    // Assess
    const [request] = seen;
    expect(provider).toHaveBeenCalled();
    expect(request?.headers.get('x-amz-security-token')).toBeNull();
    expect(request?.headers.get('authorization')).toContain(
      'Credential=AKIDLONGTERM/20260304/ap-east-1/execute-api/aws4_request'
    );
  });

  it('does not sign with sign: false (local mode)', async () => {
    // Prepare
    const { seen, fetch } = recording(200, { drained: 0, alias: 'bound' });
    const client = createPushDeliveryClient({
      baseUrl: 'http://127.0.0.1:3000',
      sign: false,
      fetch,
    });

    // Act
    await client.getMessage('m1').catch(() => undefined);

    // Assess
    expect(seen[0]?.headers.get('authorization')).toBeNull();
    expect(seen[0]?.headers.get('x-amz-date')).toBeNull();
  });

  it('refuses to sign without a region', () => {
    // Prepare
    vi.stubEnv('AWS_REGION', '');
    vi.stubEnv('AWS_DEFAULT_REGION', '');

    // Act
    const create = () =>
      createPushDeliveryClient({ baseUrl: 'https://api.example.com' });

    // Assess
    expect(create).toThrow(/no region to sign for/);
    vi.unstubAllEnvs();
  });
});
