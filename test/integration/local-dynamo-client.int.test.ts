import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localDynamoClient } from '../../local/dynamo.ts';

// The local DynamoDB client (local/dynamo.ts) under a burst against a slow
// endpoint, as dynalite behind the streams' proxy is under load: every
// request waits its turn and is answered, on at most the SDK's 50 sockets,
// which hold dynalite to what it can do at once. With the 2 s connection
// timeout the client had (the SDK counts it from the request, its wait for
// a free socket included), 65 of these 200 requests failed with
// TimeoutError; with 1024 sockets instead, all were answered but local
// mode's delivery benchmark acknowledged 7 of 100 messages in time, not
// about 75.
const ANSWER_MS = 1200;
const REQUESTS = 200;

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
  it(`answers all ${REQUESTS} requests sent at once, each taking ${ANSWER_MS} ms, on at most 50 connections, none timed out waiting for one`, async () => {
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
    expect(mostOpen).toBeLessThanOrEqual(50);
    expect(mostOpen).toBeGreaterThan(1);
  }, 30_000);
});
