import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localDynamoClient } from '../../local/dynamo.ts';

// The local DynamoDB client (local/dynamo.ts) under a burst against a slow
// endpoint, as dynalite behind the streams' proxy is under load: every
// request waits its turn and is answered. The SDK's connection timeout
// (2 s) counts from the request, its wait for a free socket included, so
// with the SDK's default of 50 sockets 300 requests answered in 1.5 s each
// queue 6 deep, and 165 of them failed with TimeoutError after the client's
// 3 attempts (measured before the fix).
const ANSWER_MS = 1500;
const REQUESTS = 300;

let server: Server;
let endpoint: string;
let open = 0;
let mostOpen = 0;

beforeAll(async () => {
  server = createServer((req, res) => {
    open += 1;
    mostOpen = Math.max(mostOpen, open);
    req.resume();
    req.on('end', () => {
      setTimeout(() => {
        open -= 1;
        res.writeHead(200, { 'content-type': 'application/x-amz-json-1.0' });
        res.end('{}');
      }, ANSWER_MS);
    });
  });
  await new Promise<void>((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve())
  );
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });
});

describe('the local DynamoDB client under a burst against a slow endpoint', () => {
  it(`answers all ${REQUESTS} requests sent at once, each taking ${ANSWER_MS} ms, with none timed out waiting for a socket`, async () => {
    // Prepare
    const client = localDynamoClient(endpoint);

    // Act
    const outcomes = await Promise.allSettled(
      Array.from({ length: REQUESTS }, (_, i) =>
        client.send(
          new GetItemCommand({ TableName: 't', Key: { id: { S: `k${i}` } } })
        )
      )
    );
    client.destroy();

    // Assess
    const failed = outcomes.flatMap((o) =>
      o.status === 'rejected' ? [String((o.reason as Error).name)] : []
    );
    expect(failed).toEqual([]);
    expect(mostOpen).toBeGreaterThan(50);
  }, 30_000);
});
