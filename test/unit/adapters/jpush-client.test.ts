import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { MockAgent, fetch as undiciFetch } from 'undici';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  JPushClient,
  type JPushClientOptions,
} from '../../../functions/adapters/jpush-client.ts';
import {
  JPushError,
  JPushNoTargetError,
  JPushRateLimitError,
  JPushRejectedError,
  JPushServerError,
  JPushUnknownOutcomeError,
} from '../../../functions/domain/jpush.ts';

const APP_KEY = 'fakeAppKey00000000000000';
const MASTER_SECRET = 'fakeMasterSecret00000000';
const EXPECTED_AUTH = `Basic ${Buffer.from(`${APP_KEY}:${MASTER_SECRET}`).toString('base64')}`;
// 17 digits: above Number.MAX_SAFE_INTEGER, so JSON.parse would corrupt it.
const BIG_MSG_ID = '18100528814460569';
const BIGGER_MSG_ID = '9223372036854775807';

interface RecordedRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

interface Reply {
  readonly status?: number;
  readonly headers?: Record<string, string>;
  readonly body?: string;
}

/** A loopback HTTP server whose answers each test scripts. */
interface FakeJPush {
  readonly url: string;
  readonly requests: RecordedRequest[];
  /**
   * The next answer; `'hang'` never answers, `'stall'` sends the headers
   * and half a body, then nothing.
   */
  respond: (request: RecordedRequest) => Reply | 'hang' | 'stall';
  close(): Promise<void>;
}

const startFakeJPush = async (): Promise<FakeJPush> => {
  const requests: RecordedRequest[] = [];
  const fake = {
    requests,
    respond: (): Reply | 'hang' | 'stall' => ({ status: 200, body: '' }),
  } as Omit<FakeJPush, 'url' | 'close'>;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const recorded: RecordedRequest = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      };
      requests.push(recorded);
      const reply = fake.respond(recorded);
      if (reply === 'hang') {
        return;
      }
      if (reply === 'stall') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.write('{"sendno":"0","msg_');
        return;
      }
      res.writeHead(reply.status ?? 200, {
        'content-type': 'application/json',
        ...reply.headers,
      });
      res.end(reply.body ?? '');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return Object.assign(fake, {
    url: `http://127.0.0.1:${port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve, reject) =>
        server.close((error) => (error ? reject(error) : resolve()))
      );
    },
  });
};

const json = (status: number, body: unknown, headers = {}): Reply => ({
  status,
  body: typeof body === 'string' ? body : JSON.stringify(body),
  headers,
});

const samplePush = {
  platform: ['android', 'ios'],
  audience: { registration_id: ['1a0018970a5c9d2f4b3'] },
  notification: { alert: 'Your order shipped' },
  cid: 'fakeAppKey00000000000000-5f0b3c4e-0000-4a1b-9c2d-000000000001',
} as const;

/** Awaits a promise that must reject and returns what it threw. */
const caught = async (promise: Promise<unknown>): Promise<unknown> => {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the call to throw');
};

describe('JPushClient', () => {
  let fake: FakeJPush;
  let client: JPushClient;

  const makeClient = (options: Partial<JPushClientOptions> = {}) =>
    new JPushClient({
      appKey: APP_KEY,
      masterSecret: MASTER_SECRET,
      pushBaseUrl: fake.url,
      reportBaseUrl: fake.url,
      deviceBaseUrl: fake.url,
      ...options,
    });

  beforeEach(async () => {
    fake = await startFakeJPush();
    client = makeClient();
  });

  afterEach(async () => {
    await client.close();
    await fake.close();
  });

  describe('push', () => {
    it('returns a 17-digit msg_id and sendno exactly, with the rate limit', async () => {
      // Prepare
      fake.respond = () => ({
        status: 200,
        body: `{"sendno":"0","msg_id":"${BIG_MSG_ID}"}`,
        headers: {
          'X-Rate-Limit-Limit': '600',
          'X-Rate-Limit-Remaining': '599',
          'X-Rate-Limit-Reset': '60',
        },
      });

      // Act
      const result = await client.push(samplePush);

      // Assess
      expect(result).toEqual({
        msgId: BIG_MSG_ID,
        sendno: '0',
        rateLimit: { limit: 600, remaining: 599, resetSeconds: 60 },
      });
    });

    it('posts the payload as JSON to /v3/push with auth and JSON headers', async () => {
      // Prepare
      fake.respond = () => json(200, { sendno: '7', msg_id: BIG_MSG_ID });

      // Act
      await client.push(samplePush);

      // Assess
      const [request] = fake.requests;
      expect(request?.method).toBe('POST');
      expect(request?.url).toBe('/v3/push');
      expect(request?.headers.authorization).toBe(EXPECTED_AUTH);
      expect(request?.headers['content-type']).toBe(
        'application/json; charset=utf-8'
      );
      expect(request?.headers.accept).toBe('application/json');
      expect(request?.headers['user-agent']).toMatch(
        /jpush-guaranteed-delivery/
      );
      expect(JSON.parse(request?.body ?? '')).toEqual(samplePush);
    });

    it('writes options.override_msg_id as an unquoted JSON number', async () => {
      // Prepare
      fake.respond = () => json(200, { sendno: '0', msg_id: '1' });

      // Act
      await client.push({
        ...samplePush,
        options: { override_msg_id: BIGGER_MSG_ID, time_to_live: 0 },
      });

      // Assess
      expect(fake.requests[0]?.body).toContain(
        `"options":{"override_msg_id":${BIGGER_MSG_ID},"time_to_live":0}`
      );
    });

    it('rejects a malformed override_msg_id without calling JPush', async () => {
      // Act
      const error = await caught(
        client.push({
          ...samplePush,
          options: { override_msg_id: '123"}' },
        })
      );

      // Assess
      expect(error).toBeInstanceOf(JPushRejectedError);
      expect(fake.requests).toHaveLength(0);
    });

    it('throws JPushNoTargetError keeping the numeric msg_id of a 1011 exactly', async () => {
      // Prepare
      fake.respond = () => ({
        status: 400,
        body: `{"msg_id": ${BIG_MSG_ID}, "error": {"message": "cannot find user by this audience", "code": 1011}}`,
      });

      // Act
      const error = await caught(client.push(samplePush));

      // Assess
      expect(error).toBeInstanceOf(JPushNoTargetError);
      expect(error).toMatchObject({
        httpStatus: 400,
        code: 1011,
        msgId: BIG_MSG_ID,
        message:
          'JPush push failed: HTTP 400, code 1011: cannot find user by this audience',
      });
    });

    it('throws JPushRateLimitError with resetSeconds on HTTP 429', async () => {
      // Prepare
      fake.respond = () =>
        json(
          429,
          { error: { code: 2002, message: 'Rate limit exceeded' } },
          {
            'X-Rate-Limit-Limit': '600',
            'X-Rate-Limit-Remaining': '0',
            'X-Rate-Limit-Reset': '37',
          }
        );

      // Act
      const error = await caught(client.push(samplePush));

      // Assess
      expect(error).toBeInstanceOf(JPushRateLimitError);
      expect((error as JPushRateLimitError).rateLimit?.resetSeconds).toBe(37);
      expect(error).toMatchObject({
        httpStatus: 429,
        code: 2002,
        rateLimit: { limit: 600, remaining: 0, resetSeconds: 37 },
      });
    });

    it('throws JPushRateLimitError on a 429 without a JSON body or headers', async () => {
      // Prepare
      fake.respond = () => ({ status: 429, body: 'Too Many Requests' });

      // Act
      const error = await caught(client.push(samplePush));

      // Assess
      expect(error).toBeInstanceOf(JPushRateLimitError);
      expect((error as JPushRateLimitError).rateLimit).toBeUndefined();
    });

    it('throws JPushServerError with a readable message for an nginx HTML 502', async () => {
      // Prepare
      fake.respond = () => ({
        status: 502,
        headers: { 'content-type': 'text/html' },
        body: '<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n',
      });

      // Act
      const error = await caught(client.push(samplePush));

      // Assess
      expect(error).toBeInstanceOf(JPushServerError);
      expect(error).toMatchObject({ httpStatus: 502, code: undefined });
      expect((error as Error).message).toBe(
        'JPush push failed: HTTP 502, 502 Bad Gateway 502 Bad Gateway nginx'
      );
    });

    it.each([
      {
        status: 400,
        code: 1003,
        message: 'The registration_id 140fe1da9e22a23f92f is invalid!',
        type: JPushRejectedError,
      },
      {
        status: 401,
        code: 1004,
        message: 'Authen failed',
        type: JPushRejectedError,
      },
      {
        status: 500,
        code: 1000,
        message: 'internal error',
        type: JPushServerError,
      },
      {
        status: 503,
        code: 1030,
        message: 'service timeout',
        type: JPushServerError,
      },
      {
        status: 400,
        code: 2002,
        message: 'Rate limit exceeded',
        type: JPushRateLimitError,
      },
    ])('maps HTTP $status code $code to $type.name', async (row) => {
      // Prepare
      fake.respond = () =>
        json(row.status, { error: { code: row.code, message: row.message } });

      // Act
      const error = await caught(client.push(samplePush));

      // Assess
      expect(error).toBeInstanceOf(row.type);
      expect(error).toMatchObject({
        httpStatus: row.status,
        code: row.code,
        message: `JPush push failed: HTTP ${row.status}, code ${row.code}: ${row.message}`,
      });
    });

    it('reads an error envelope wrapped in a JSON array', async () => {
      // Prepare
      fake.respond = () =>
        json(400, [{ error: { code: 1009, message: 'unknown key' } }]);

      // Act
      const error = await caught(client.push(samplePush));

      // Assess
      expect(error).toBeInstanceOf(JPushRejectedError);
      expect(error).toMatchObject({ code: 1009 });
    });

    it('throws JPushUnknownOutcomeError when the response times out', async () => {
      // Prepare
      await client.close();
      client = makeClient({ timeoutMs: 150 });
      fake.respond = () => 'hang';

      // Act
      const error = await caught(client.push(samplePush));

      // Assess
      expect(error).toBeInstanceOf(JPushUnknownOutcomeError);
      expect((error as Error).message).toMatch(
        /^JPush push outcome unknown: no response within 150 ms/
      );
      expect(fake.requests).toHaveLength(1);
    });

    it('throws JPushUnknownOutcomeError when the body stalls after the headers', async () => {
      // Prepare
      await client.close();
      client = makeClient({ timeoutMs: 150 });
      fake.respond = () => 'stall';

      // Act
      const error = await caught(client.push(samplePush));

      // Assess
      expect(error).toBeInstanceOf(JPushUnknownOutcomeError);
      expect((error as Error).message).toMatch(
        /^JPush push outcome unknown: the response body stalled for 150 ms/
      );
    });

    it('throws JPushUnknownOutcomeError when the caller aborts', async () => {
      // Prepare
      fake.respond = () => 'hang';
      const controller = new AbortController();

      // Act
      const pending = caught(
        client.push(samplePush, { signal: controller.signal })
      );
      await vi.waitFor(() => expect(fake.requests).toHaveLength(1));
      controller.abort();
      const error = await pending;

      // Assess
      expect(error).toBeInstanceOf(JPushUnknownOutcomeError);
    });

    it('throws JPushUnknownOutcomeError for a 200 without a msg_id', async () => {
      // Prepare
      fake.respond = () => ({ status: 200, body: '' });

      // Act
      const error = await caught(client.push(samplePush));

      // Assess
      expect(error).toBeInstanceOf(JPushUnknownOutcomeError);
    });

    it('never puts the master secret into an error message', async () => {
      // Prepare: a server that echoes the credentials back in its error.
      fake.respond = (request) =>
        json(400, {
          error: {
            code: 1003,
            message: `bad ${MASTER_SECRET} ${request.headers.authorization}`,
          },
        });

      // Act
      const error = await caught(client.push(samplePush));

      // Assess
      const message = (error as Error).message;
      expect(message).not.toContain(MASTER_SECRET);
      expect(message).not.toContain(EXPECTED_AUTH.slice('Basic '.length));
      expect(message).toContain('[redacted]');
    });
  });

  describe('transport failures', () => {
    it('maps a refused connection to UnknownOutcome for push and ServerError for reads', async () => {
      // Prepare
      await fake.close();
      fake = await startFakeJPush();
      const deadUrl = fake.url;
      await fake.close();
      fake = await startFakeJPush();
      await client.close();
      client = makeClient({
        pushBaseUrl: deadUrl,
        deviceBaseUrl: deadUrl,
      });

      // Act
      const pushError = await caught(client.push(samplePush));
      const readError = await caught(client.getDevice('1a0018970a5c9d2f4b3'));

      // Assess
      expect(pushError).toBeInstanceOf(JPushUnknownOutcomeError);
      expect(readError).toBeInstanceOf(JPushServerError);
      expect((readError as Error).message).toMatch(
        /^JPush getDevice failed: .*ECONNREFUSED/
      );
    });
  });

  describe('getCids', () => {
    it('keeps the count query string and returns the cid list', async () => {
      // Prepare
      fake.respond = () => json(200, { cidlist: ['k-1', 'k-2', 'k-3'] });

      // Act
      const cids = await client.getCids(3);

      // Assess
      expect(cids).toEqual(['k-1', 'k-2', 'k-3']);
      expect(fake.requests[0]).toMatchObject({
        method: 'GET',
        url: '/v3/push/cid?count=3',
      });
    });

    it('rejects a count above 1000 without calling JPush', async () => {
      // Act
      const error = await caught(client.getCids(1001));

      // Assess
      expect(error).toBeInstanceOf(JPushRejectedError);
      expect(fake.requests).toHaveLength(0);
    });
  });

  describe('withdraw', () => {
    it('sends DELETE /v3/push/{msg_id}', async () => {
      // Prepare
      fake.respond = () => ({ status: 200, body: '' });

      // Act
      await client.withdraw(BIG_MSG_ID);

      // Assess
      expect(fake.requests[0]).toMatchObject({
        method: 'DELETE',
        url: `/v3/push/${BIG_MSG_ID}`,
      });
    });
  });

  describe('messageStatus', () => {
    it('sends msg_id as an unquoted JSON number and flattens the statuses', async () => {
      // Prepare
      fake.respond = () =>
        json(200, { rid1: { status: 0 }, rid2: { status: 3 } });

      // Act
      const statuses = await client.messageStatus(
        BIG_MSG_ID,
        ['rid1', 'rid2'],
        '2025-06-01'
      );

      // Assess
      expect(statuses).toEqual({ rid1: 0, rid2: 3 });
      const [request] = fake.requests;
      expect(request).toMatchObject({
        method: 'POST',
        url: '/v3/status/message',
      });
      expect(request?.body).toContain(`"msg_id":${BIG_MSG_ID}`);
      expect(request?.body).toBe(
        `{"msg_id":${BIG_MSG_ID},"registration_ids":["rid1","rid2"],"date":"2025-06-01"}`
      );
    });

    it.each(['12a', '', '0123', '123456789012345678901'])(
      'rejects msg_id %j without calling JPush',
      async (msgId) => {
        // Act
        const error = await caught(client.messageStatus(msgId, ['rid1']));

        // Assess
        expect(error).toBeInstanceOf(JPushRejectedError);
        expect(fake.requests).toHaveLength(0);
      }
    );

    it('maps Report API code 10 to JPushServerError', async () => {
      // Prepare
      fake.respond = () =>
        json(500, { error: { code: 10, message: 'internal error' } });

      // Act
      const error = await caught(client.messageStatus(BIG_MSG_ID, ['rid1']));

      // Assess
      expect(error).toBeInstanceOf(JPushServerError);
      expect(error).toMatchObject({ code: 10 });
    });
  });

  describe('receivedDetail', () => {
    it('keeps the msg_ids query and returns camelCased rows with exact ids', async () => {
      // Prepare: msg_id as a JSON number, as the 2016 log showed.
      fake.respond = () => ({
        status: 200,
        body: `[{"msg_id":${BIG_MSG_ID},"jpush_received":1,"android_pns_sent":null,"android_pns_received":null,"ios_apns_sent":2,"ios_apns_received":null,"ios_msg_received":0},{"msg_id":"3289406737"}]`,
      });

      // Act
      const rows = await client.receivedDetail([BIG_MSG_ID, '3289406737']);

      // Assess
      expect(fake.requests[0]?.url).toBe(
        `/v3/received/detail?msg_ids=${BIG_MSG_ID},3289406737`
      );
      expect(rows).toEqual([
        {
          msgId: BIG_MSG_ID,
          jpushReceived: 1,
          androidPnsSent: null,
          androidPnsReceived: null,
          iosApnsSent: 2,
          iosApnsReceived: null,
          iosMsgReceived: 0,
          hmosHmpnsReceived: null,
          hmosMsgReceived: null,
        },
        {
          msgId: '3289406737',
          jpushReceived: null,
          androidPnsSent: null,
          androidPnsReceived: null,
          iosApnsSent: null,
          iosApnsReceived: null,
          iosMsgReceived: null,
          hmosHmpnsReceived: null,
          hmosMsgReceived: null,
        },
      ]);
    });

    it('reads the HarmonyOS counters', async () => {
      // Prepare
      fake.respond = () => ({
        status: 200,
        body: `[{"msg_id":"${BIG_MSG_ID}","jpush_received":0,"hmos_hmpns_received":2,"hmos_msg_received":1}]`,
      });

      // Act
      const [row] = await client.receivedDetail([BIG_MSG_ID]);

      // Assess
      expect(row).toMatchObject({
        msgId: BIG_MSG_ID,
        jpushReceived: 0,
        hmosHmpnsReceived: 2,
        hmosMsgReceived: 1,
      });
    });

    it('rejects more than 100 msg_ids without calling JPush', async () => {
      // Prepare
      const ids = Array.from({ length: 101 }, (_, i) => String(1000 + i));

      // Act
      const error = await caught(client.receivedDetail(ids));

      // Assess
      expect(error).toBeInstanceOf(JPushRejectedError);
      expect((error as Error).message).toMatch(/101 entries.*at most 100/);
      expect(fake.requests).toHaveLength(0);
    });

    it('throws JPushServerError for a 200 that is not JSON', async () => {
      // Prepare
      fake.respond = () => ({ status: 200, body: '<html>oops</html>' });

      // Act
      const error = await caught(client.receivedDetail([BIG_MSG_ID]));

      // Assess
      expect(error).toBeInstanceOf(JPushServerError);
    });
  });

  describe('getDevice', () => {
    it('turns a numeric mobile into a string and an empty alias into null', async () => {
      // Prepare
      fake.respond = () =>
        json(200, {
          mobile: 18588888888,
          alias: '',
          tags: ['tageee', 'ddd'],
        });

      // Act
      const device = await client.getDevice('1a0018970a5c9d2f4b3');

      // Assess
      expect(device).toEqual({
        alias: null,
        tags: ['tageee', 'ddd'],
        mobile: '18588888888',
      });
      expect(fake.requests[0]).toMatchObject({
        method: 'GET',
        url: '/v3/devices/1a0018970a5c9d2f4b3',
      });
    });

    it('maps null fields to null and no tags', async () => {
      // Prepare
      fake.respond = () =>
        json(200, { mobile: null, alias: 'user-42', tags: null });

      // Act
      const device = await client.getDevice('rid');

      // Assess
      expect(device).toEqual({ alias: 'user-42', tags: [], mobile: null });
    });
  });

  describe('updateDevice', () => {
    it('accepts an empty 200 body and sends the update as given', async () => {
      // Prepare
      fake.respond = () => ({ status: 200, body: '' });

      // Act
      await client.updateDevice('rid/1', { alias: '', tags: '' });

      // Assess
      expect(fake.requests[0]).toMatchObject({
        method: 'POST',
        url: '/v3/devices/rid%2F1',
        body: '{"alias":"","tags":""}',
      });
    });

    it('throws JPushRejectedError with code 7015 when the alias is full', async () => {
      // Prepare
      fake.respond = () =>
        json(400, {
          error: { code: 7015, message: 'alias binds too many devices' },
        });

      // Act
      const error = await caught(
        client.updateDevice('rid', { alias: 'user-42' })
      );

      // Assess
      expect(error).toBeInstanceOf(JPushRejectedError);
      expect(error).toMatchObject({
        httpStatus: 400,
        code: 7015,
        message:
          'JPush updateDevice failed: HTTP 400, code 7015: alias binds too many devices',
      });
    });

    it('maps code 7030 to JPushServerError', async () => {
      // Prepare
      fake.respond = () =>
        json(503, { error: { code: 7030, message: 'system busy' } });

      // Act
      const error = await caught(client.updateDevice('rid', { mobile: '' }));

      // Assess
      expect(error).toBeInstanceOf(JPushServerError);
      expect(error).toMatchObject({ code: 7030 });
    });
  });

  describe('aliases', () => {
    it('encodes the alias path segment and keeps the platform query', async () => {
      // Prepare
      fake.respond = () => json(200, { registration_ids: ['r1', 'r2'] });

      // Act
      const rids = await client.getAliasDevices('用户#1&x', ['android', 'ios']);

      // Assess
      expect(rids).toEqual(['r1', 'r2']);
      expect(fake.requests[0]?.url).toBe(
        `/v3/aliases/${encodeURIComponent('用户#1&x')}?platform=android,ios`
      );
    });

    it('deletes an alias with DELETE and the platform query', async () => {
      // Prepare
      fake.respond = () => ({ status: 200, body: '' });

      // Act
      await client.deleteAlias('user-42', ['ios']);

      // Assess
      expect(fake.requests[0]).toMatchObject({
        method: 'DELETE',
        url: '/v3/aliases/user-42?platform=ios',
      });
    });

    it('removes devices from an alias with registration_ids.remove', async () => {
      // Prepare
      fake.respond = () => ({ status: 200, body: '' });

      // Act
      await client.removeDevicesFromAlias('user-42', ['r1', 'r2']);

      // Assess
      expect(fake.requests[0]).toMatchObject({
        method: 'POST',
        url: '/v3/aliases/user-42',
        body: '{"registration_ids":{"remove":["r1","r2"]}}',
      });
    });

    it('refuses a dot-segment alias that URL parsing would resolve away', async () => {
      // Act
      const error = await caught(client.deleteAlias('..'));

      // Assess
      expect(error).toBeInstanceOf(JPushRejectedError);
      expect(fake.requests).toHaveLength(0);
    });
  });

  describe('rate limit headers', () => {
    it('falls back to X-Rate-Limit-Quota and reports every response to onRateLimit', async () => {
      // Prepare
      const onRateLimit = vi.fn();
      await client.close();
      client = makeClient({ onRateLimit });
      fake.respond = () =>
        json(
          200,
          { tags: [], alias: null, mobile: null },
          { 'X-Rate-Limit-Quota': '1200', 'X-Rate-Limit-Remaining': '7' }
        );

      // Act
      await client.getDevice('rid');

      // Assess
      expect(onRateLimit).toHaveBeenCalledWith(
        { limit: 1200, remaining: 7 },
        'getDevice'
      );
    });
  });

  describe('credentials', () => {
    it('loads provider credentials once and retries a failed load', async () => {
      // Prepare
      const provider = vi
        .fn<() => Promise<{ appKey: string; masterSecret: string }>>()
        .mockRejectedValueOnce(new Error('Secrets Manager throttled'))
        .mockResolvedValue({
          appKey: APP_KEY,
          masterSecret: `${MASTER_SECRET}\n`,
        });
      await client.close();
      client = new JPushClient({
        credentials: provider,
        deviceBaseUrl: fake.url,
      });
      fake.respond = () => json(200, { tags: [], alias: null, mobile: null });

      // Act
      const first = await caught(client.getDevice('rid'));
      await client.getDevice('rid');
      await client.getDevice('rid');

      // Assess
      expect(first).toBeInstanceOf(JPushServerError);
      expect((first as Error).message).toBe(
        'JPush getDevice failed: the JPush credentials could not be loaded (the credentials provider failed)'
      );
      expect(provider).toHaveBeenCalledTimes(2);
      expect(fake.requests.map((r) => r.headers.authorization)).toEqual([
        EXPECTED_AUTH,
        EXPECTED_AUTH,
      ]);
    });

    it('throws JPushRejectedError when the provider returns an empty secret', async () => {
      // Prepare
      await client.close();
      client = new JPushClient({
        credentials: async () => ({ appKey: APP_KEY, masterSecret: ' ' }),
        deviceBaseUrl: fake.url,
      });

      // Act
      const error = await caught(client.getDevice('rid'));

      // Assess
      expect(error).toBeInstanceOf(JPushRejectedError);
      expect(fake.requests).toHaveLength(0);
    });

    it('refuses to build a client with an empty static secret', () => {
      // Act
      const build = () =>
        new JPushClient({ appKey: APP_KEY, masterSecret: '' });

      // Assess
      expect(build).toThrow(TypeError);
    });

    it('refuses to build a client without credentials', () => {
      // Act
      const build = () => new JPushClient({});

      // Assess
      expect(build).toThrow(TypeError);
    });
  });

  describe('a 401 after the credentials were rotated', () => {
    const ROTATED_SECRET = 'rotatedMasterSecret00000';
    const ROTATED_AUTH = `Basic ${Buffer.from(`${APP_KEY}:${ROTATED_SECRET}`).toString('base64')}`;
    const authFailed = json(401, {
      error: { code: 1004, message: 'Authen failed' },
    });
    /** A JPush that takes only the rotated secret. */
    const acceptOnlyRotated =
      (ok: Reply) =>
      (request: RecordedRequest): Reply =>
        request.headers.authorization === ROTATED_AUTH ? ok : authFailed;
    /** A secret store holding the old secret in its cache, the new one behind it. */
    const rotatedSecret = () =>
      vi.fn(async ({ refresh }: { refresh: boolean }) => ({
        appKey: APP_KEY,
        masterSecret: refresh ? ROTATED_SECRET : MASTER_SECRET,
      }));

    it('reads the secret again past the cache and sends the push once more', async () => {
      // Prepare
      const provider = rotatedSecret();
      client = makeClient({
        appKey: undefined,
        masterSecret: undefined,
        credentials: provider,
      });
      fake.respond = acceptOnlyRotated(
        json(200, { sendno: '0', msg_id: BIG_MSG_ID })
      );

      // Act
      const result = await client.push(samplePush);
      const next = await client.push(samplePush);

      // Assess
      expect(result.msgId).toBe(BIG_MSG_ID);
      expect(next.msgId).toBe(BIG_MSG_ID);
      expect(provider.mock.calls).toEqual([
        [{ refresh: false }],
        [{ refresh: true }],
      ]);
      expect(fake.requests.map((r) => r.headers.authorization)).toEqual([
        EXPECTED_AUTH,
        ROTATED_AUTH,
        ROTATED_AUTH,
      ]);
      // The same push, cid included: a 401 did nothing, so it is safe.
      expect(fake.requests[1]?.body).toBe(fake.requests[0]?.body);
    });

    it.each([
      {
        operation: 'messageStatus (Report API)',
        call: (c: JPushClient) => c.messageStatus(BIG_MSG_ID, ['rid']),
        ok: json(200, { rid: { status: 0 } }),
        code: 3001,
      },
      {
        operation: 'receivedDetail (Report API)',
        call: (c: JPushClient) => c.receivedDetail([BIG_MSG_ID]),
        ok: json(200, []),
        code: 3001,
      },
      {
        operation: 'updateDevice (Device API)',
        call: (c: JPushClient) => c.updateDevice('rid', { alias: 'user-42' }),
        ok: { status: 200, body: '' },
        code: 7004,
      },
      {
        operation: 'getAliasDevices (Device API)',
        call: (c: JPushClient) => c.getAliasDevices('user-42'),
        ok: json(200, { registration_ids: ['rid'] }),
        code: 7004,
      },
      {
        operation: 'getCids (Push API)',
        call: (c: JPushClient) => c.getCids(2),
        ok: json(200, { cidlist: ['a', 'b'] }),
        code: 1004,
      },
      {
        operation: 'withdraw (Push API)',
        call: (c: JPushClient) => c.withdraw(BIG_MSG_ID),
        ok: { status: 200, body: '' },
        code: 1004,
      },
    ])('does the same for $operation', async (row) => {
      // Prepare
      const provider = rotatedSecret();
      client = makeClient({
        appKey: undefined,
        masterSecret: undefined,
        credentials: provider,
      });
      fake.respond = (request) =>
        request.headers.authorization === ROTATED_AUTH
          ? row.ok
          : json(401, { error: { code: row.code, message: 'auth failed' } });

      // Act
      await row.call(client);

      // Assess
      expect(provider).toHaveBeenLastCalledWith({ refresh: true });
      expect(fake.requests.map((r) => r.headers.authorization)).toEqual([
        EXPECTED_AUTH,
        ROTATED_AUTH,
      ]);
    });

    it('fails as before on a second 401, after one retry', async () => {
      // Prepare: the secret store was not updated to JPush's new secret.
      const provider = vi.fn(async () => ({
        appKey: APP_KEY,
        masterSecret: ROTATED_SECRET,
      }));
      provider.mockResolvedValueOnce({
        appKey: APP_KEY,
        masterSecret: MASTER_SECRET,
      });
      client = makeClient({
        appKey: undefined,
        masterSecret: undefined,
        credentials: provider,
      });
      fake.respond = () => authFailed;

      // Act
      const error = await caught(client.push(samplePush));

      // Assess
      expect(error).toBeInstanceOf(JPushRejectedError);
      expect(error).toMatchObject({ httpStatus: 401, code: 1004 });
      expect((error as Error).message).toBe(
        'JPush push failed: HTTP 401, code 1004: Authen failed (also with the credentials read again)'
      );
      expect(fake.requests).toHaveLength(2);
      expect(provider).toHaveBeenCalledTimes(2);
    });

    it('does not send again when the secret read again is the same', async () => {
      // Prepare
      const provider = vi.fn(async () => ({
        appKey: APP_KEY,
        masterSecret: MASTER_SECRET,
      }));
      client = makeClient({
        appKey: undefined,
        masterSecret: undefined,
        credentials: provider,
      });
      fake.respond = () => authFailed;

      // Act
      const error = await caught(client.getDevice('rid'));

      // Assess
      expect(error).toBeInstanceOf(JPushRejectedError);
      expect((error as Error).message).toBe(
        'JPush getDevice failed: HTTP 401, code 1004: Authen failed (the credentials read again were the same)'
      );
      expect(provider.mock.calls).toEqual([
        [{ refresh: false }],
        [{ refresh: true }],
      ]);
      expect(fake.requests).toHaveLength(1);
    });

    it('reads the secret once for calls that met the same 401 together', async () => {
      // Prepare
      const provider = rotatedSecret();
      client = makeClient({
        appKey: undefined,
        masterSecret: undefined,
        credentials: provider,
      });
      fake.respond = acceptOnlyRotated(
        json(200, { tags: [], alias: null, mobile: null })
      );

      // Act
      await Promise.all([
        client.getDevice('rid-1'),
        client.getDevice('rid-2'),
        client.getDevice('rid-3'),
      ]);

      // Assess
      expect(provider.mock.calls).toEqual([
        [{ refresh: false }],
        [{ refresh: true }],
      ]);
      expect(
        fake.requests.filter((r) => r.headers.authorization === ROTATED_AUTH)
      ).toHaveLength(3);
    });

    it('is retryable when the secret cannot be read again, and reads it on the next call', async () => {
      // Prepare
      const provider = rotatedSecret();
      provider
        .mockResolvedValueOnce({ appKey: APP_KEY, masterSecret: MASTER_SECRET })
        .mockRejectedValueOnce(new Error('Secrets Manager throttled'));
      client = makeClient({
        appKey: undefined,
        masterSecret: undefined,
        credentials: provider,
      });
      fake.respond = acceptOnlyRotated(
        json(200, { sendno: '0', msg_id: BIG_MSG_ID })
      );

      // Act
      const error = await caught(client.push(samplePush));
      const result = await client.push(samplePush);

      // Assess
      expect(error).toBeInstanceOf(JPushServerError);
      expect((error as Error).message).toBe(
        'JPush push failed: the JPush credentials could not be loaded (the credentials provider failed)'
      );
      expect(result.msgId).toBe(BIG_MSG_ID);
      expect(fake.requests.map((r) => r.headers.authorization)).toEqual([
        EXPECTED_AUTH,
        ROTATED_AUTH,
      ]);
    });

    it('does not retry with fixed credentials, which cannot change', async () => {
      // Prepare
      fake.respond = () => authFailed;

      // Act
      const error = await caught(client.withdraw(BIG_MSG_ID));

      // Assess
      expect(error).toBeInstanceOf(JPushRejectedError);
      expect((error as Error).message).toBe(
        'JPush withdraw failed: HTTP 401, code 1004: Authen failed'
      );
      expect(fake.requests).toHaveLength(1);
    });

    it('does not read the secret again on other refusals', async () => {
      // Prepare
      const provider = rotatedSecret();
      client = makeClient({
        appKey: undefined,
        masterSecret: undefined,
        credentials: provider,
      });
      fake.respond = () =>
        json(403, { error: { code: 2003, message: 'no permission' } });

      // Act
      const error = await caught(client.push(samplePush));

      // Assess
      expect(error).toBeInstanceOf(JPushRejectedError);
      expect(provider).toHaveBeenCalledTimes(1);
      expect(fake.requests).toHaveLength(1);
    });

    it('sends once more through a given fetch too (undici MockAgent)', async () => {
      // Prepare
      const mockAgent = new MockAgent();
      mockAgent.disableNetConnect();
      const report = mockAgent.get('https://report.jpush.cn');
      report
        .intercept({
          path: '/v3/received/detail?msg_ids=1',
          method: 'GET',
          headers: { authorization: EXPECTED_AUTH },
        })
        .reply(
          401,
          '{"error":{"code":3001,"message":"Basic authentication failed"}}'
        );
      report
        .intercept({
          path: '/v3/received/detail?msg_ids=1',
          method: 'GET',
          headers: { authorization: ROTATED_AUTH },
        })
        .reply(200, '[{"msg_id":1,"jpush_received":1}]');
      const viaMock = new JPushClient({
        credentials: rotatedSecret(),
        fetch: (url, init) =>
          undiciFetch(url, {
            ...init,
            dispatcher: mockAgent,
          } as never) as never,
      });

      // Act
      const rows = await viaMock.receivedDetail(['1']);

      // Assess
      expect(rows[0]).toMatchObject({ msgId: '1', jpushReceived: 1 });
      mockAgent.assertNoPendingInterceptors();
      await mockAgent.close();
    });
  });

  describe('with a given fetch', () => {
    it('sends through it to the default JPush host', async () => {
      // Prepare
      const mockAgent = new MockAgent();
      mockAgent.disableNetConnect();
      const jpush = mockAgent.get('https://api.jpush.cn');
      for (const msgId of ['29273455998601743', '29273455998601744']) {
        jpush
          .intercept({ path: '/v3/push', method: 'POST' })
          .reply(200, `{"sendno":"0","msg_id":"${msgId}"}`, {
            headers: { 'content-type': 'application/json' },
          });
      }
      const first = new JPushClient({
        appKey: APP_KEY,
        masterSecret: MASTER_SECRET,
        fetch: (url, init) =>
          undiciFetch(url, {
            ...init,
            dispatcher: mockAgent,
          } as never) as never,
      });
      const second = new JPushClient({
        appKey: APP_KEY,
        masterSecret: MASTER_SECRET,
        fetch: (url, init) =>
          undiciFetch(url, {
            ...init,
            dispatcher: mockAgent,
          } as never) as never,
      });

      // Act
      const before = await first.push(samplePush);
      await first.close();
      const after = await second.push(samplePush);

      // Assess
      expect(before.msgId).toBe('29273455998601743');
      expect(after.msgId).toBe('29273455998601744');
      mockAgent.assertNoPendingInterceptors();
      await mockAgent.close();
    });
  });

  it('makes every error a JPushError', async () => {
    // Prepare
    fake.respond = () => ({ status: 404, body: 'not found' });

    // Act
    const error = await caught(client.getAliasDevices('user-42'));

    // Assess
    expect(error).toBeInstanceOf(JPushRejectedError);
    expect(error).toBeInstanceOf(JPushError);
    expect((error as Error).message).toBe(
      'JPush getAliasDevices failed: HTTP 404, not found'
    );
  });
});
