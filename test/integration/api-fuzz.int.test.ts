import { ListTablesCommand, ScanCommand } from '@aws-sdk/client-dynamodb';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type LocalSystem, startLocalSystem } from '../../local/system.ts';

// Every route of the API, fed crafted input: ids of any length and bytes,
// malformed percent-escapes, bodies that are not JSON, JSON of any shape,
// field names that mean something to JavaScript, query parameters of any
// name. The promise: a 4xx with the error envelope or a success, never a
// 5xx, never no answer, and a refused request changes nothing in any table.
// `npm run test:fuzz` runs FUZZ_RUNS=1000 per route; `npm test` fewer.
// Replay with FC_SEED=<seed> (printed).

const RUNS = Number(process.env.FUZZ_RUNS) || 60;
const SEED = Number(process.env.FC_SEED) || Date.now() % 2 ** 31;

let system: LocalSystem;

// A fresh system per route, so that what one route's accepted requests
// started (a login draining messages another route stored) cannot run on
// while the next route is watched.
beforeEach(async () => {
  system = await startLocalSystem({ timeScale: 0.05 });
});

afterEach(async () => {
  await system?.close();
});

/** Every item of every table, as one comparable text. */
const snapshot = async (): Promise<string> => {
  const { TableNames = [] } = await system.dynamo.client.send(
    new ListTablesCommand({})
  );
  const tables = await Promise.all(
    TableNames.sort().map(async (TableName) => {
      const items: unknown[] = [];
      let start: Record<string, unknown> | undefined;
      do {
        const page = await system.dynamo.client.send(
          new ScanCommand({ TableName, ExclusiveStartKey: start as never })
        );
        items.push(...(page.Items ?? []));
        start = page.LastEvaluatedKey;
      } while (start);
      return [TableName, items.map((i) => JSON.stringify(i)).sort()];
    })
  );
  return JSON.stringify(tables);
};

/** Items that differ between two snapshots, by table. */
const changes = (before: string, after: string): string[] => {
  const items = (text: string) =>
    new Set(
      (JSON.parse(text) as [string, string[]][]).flatMap(([table, rows]) =>
        rows.map((row) => `${table} ${row}`)
      )
    );
  const a = items(before);
  const b = items(after);
  return [
    ...[...a].filter((i) => !b.has(i)).map((i) => `- ${i}`),
    ...[...b].filter((i) => !a.has(i)).map((i) => `+ ${i}`),
  ];
};

/**
 * Waits until the tables stop changing (what an accepted request started,
 * such as a login's alias binding, has finished), at most 5 s.
 */
const quiet = async (): Promise<void> => {
  let last = await snapshot();
  for (const deadline = Date.now() + 5_000; Date.now() < deadline; ) {
    await new Promise((resolve) => setTimeout(resolve, 150));
    const now = await snapshot();
    if (now === last) return;
    last = now;
  }
};

/** A path segment: plausible, crafted, huge, or with broken escapes. */
const segment = fc.oneof(
  fc.stringMatching(/^[0-9A-Za-z_-]{1,64}$/),
  fc.string({ maxLength: 80 }).map(encodeURIComponent),
  fc.string({ unit: 'binary', maxLength: 40 }).map(encodeURIComponent),
  fc.integer({ min: 65, max: 4000 }).map((n) => 'm'.repeat(n)),
  fc.constantFrom(
    '%',
    '%E0%A4%A',
    '%zz',
    '%00',
    '..',
    '%2F',
    '__proto__',
    'constructor'
  )
);

/** A field name, often one that means something to JavaScript. */
const key = fc.oneof(
  fc.string({ maxLength: 12 }),
  fc.constantFrom(
    '__proto__',
    'constructor',
    'prototype',
    'to',
    'body',
    'token',
    'userId'
  )
);

/** JSON text written out as it is (an object with crafted keys). */
class Raw {
  constructor(readonly text: string) {}
}
const toJson = (value: unknown): string =>
  value instanceof Raw
    ? value.text
    : Array.isArray(value)
      ? `[${value.map(toJson).join(',')}]`
      : (JSON.stringify(value) ?? 'null');

/** JSON text of any shape, with crafted keys anywhere. */
const jsonValue = fc
  .letrec((tie) => ({
    value: fc.oneof(
      { depthSize: 'small' },
      fc.string({ maxLength: 30 }),
      fc.integer(),
      fc.double(),
      fc.boolean(),
      fc.constant(null),
      fc.array(tie('value'), { maxLength: 4 }),
      tie('object')
    ),
    object: fc
      .array(fc.tuple(key, tie('value')), { maxLength: 5 })
      .map(
        (entries) =>
          new Raw(
            `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${toJson(v)}`).join(',')}}`
          )
      ),
  }))
  .object.map((raw) => (raw as Raw).text);

/** A body: close to what the route takes, any JSON, or not JSON at all. */
const bodyLike = (fields: Record<string, fc.Arbitrary<unknown>>) =>
  fc.oneof(
    fc.record(fields, { requiredKeys: [] }).chain((base) =>
      fc
        .tuple(fc.option(fc.tuple(key, fc.jsonValue()), { nil: undefined }))
        .map(([extra]) => {
          const text = JSON.stringify(base);
          if (!extra) return text;
          const more = `${JSON.stringify(extra[0])}:${JSON.stringify(extra[1]) ?? 'null'}`;
          return text === '{}' ? `{${more}}` : `${text.slice(0, -1)},${more}}`;
        })
    ),
    jsonValue,
    fc.string({ maxLength: 200 }),
    fc.constantFrom('', '{', '[]', 'null', '{"to":', '\u0000')
  );

const anyText = fc.oneof(
  fc.string({ maxLength: 50 }),
  fc.integer({ min: 0, max: 5000 }).map((n) => 'x'.repeat(n)),
  fc.jsonValue()
);

/** A valid request body with one field replaced (or added) by anything. */
const nearValid = (valid: Record<string, unknown>) =>
  fc
    .tuple(
      fc.oneof(fc.constantFrom(...Object.keys(valid)), key),
      fc.oneof(
        anyText,
        jsonValue.map((t) => JSON.parse(t))
      )
    )
    .map(([field, value]) => {
      const text = JSON.stringify({ ...valid, [field]: value });
      // A crafted key must reach the wire as a key, not as a prototype.
      return field === '__proto__'
        ? `${text.slice(0, -1)},"__proto__":${JSON.stringify(value) ?? 'null'}}`
        : text;
    });

interface Request {
  method: string;
  path: string;
  body?: string;
}

/** The routes, each with requests made for it. */
const routes: Record<string, fc.Arbitrary<Request>> = {
  'POST /v1/messages': fc
    .oneof(
      nearValid({ to: 'fuzz_nobody', body: 'Hello.' }),
      bodyLike({
        to: anyText,
        from: anyText,
        body: anyText,
        title: anyText,
        data: fc.oneof(
          jsonValue.map((t) => JSON.parse(t)),
          fc.jsonValue()
        ),
        policy: fc.jsonValue(),
        escalation: fc.jsonValue(),
        idempotencyKey: anyText,
      })
    )
    .map((body) => ({ method: 'POST', path: '/v1/messages', body })),
  'POST /v1/messages/batch': fc
    .oneof(
      nearValid({ messages: [{ to: 'fuzz_nobody', body: 'Hello.' }] }),
      fc
        .array(
          fc.oneof(
            nearValid({ to: 'fuzz_nobody', body: 'Hello.' }).map(
              (text) => new Raw(text)
            ),
            jsonValue.map((text) => new Raw(text)),
            fc.jsonValue()
          ),
          { maxLength: 4 }
        )
        .map((items) => `{"messages":${toJson(items)}}`),
      bodyLike({ messages: fc.jsonValue() })
    )
    .map((body) => ({ method: 'POST', path: '/v1/messages/batch', body })),
  'DELETE /v1/messages/{messageId}': segment.map((id) => ({
    method: 'DELETE',
    path: `/v1/messages/${id}`,
  })),
  'GET /v1/messages/{messageId}': segment.map((id) => ({
    method: 'GET',
    path: `/v1/messages/${id}`,
  })),
  'POST /v1/messages/{messageId}/ack': fc
    .tuple(segment, bodyLike({ token: anyText, registrationId: anyText }))
    .map(([id, body]) => ({
      method: 'POST',
      path: `/v1/messages/${id}/ack`,
      body,
    })),
  'GET /v1/users/{userId}/messages': fc
    .tuple(
      segment,
      fc.array(
        fc.tuple(
          fc.oneof(
            fc.constantFrom('limit', 'cursor', '__proto__', 'constructor'),
            fc.string({ maxLength: 8 })
          ),
          fc.oneof(
            fc.string({ maxLength: 40 }),
            fc.integer({ min: 0, max: 3000 }).map((n) => 'A'.repeat(n)),
            fc.constantFrom('1.e30.x', '1..', '0', '-1', '1e2')
          )
        ),
        { maxLength: 3 }
      )
    )
    .map(([user, query]) => ({
      method: 'GET',
      path: `/v1/users/${user}/messages${query.length === 0 ? '' : `?${new URLSearchParams(query)}`}`,
    })),
  'POST /v1/sessions': fc
    .oneof(
      nearValid({
        userId: 'fuzz_login',
        registrationId: '1a00f0220000000000',
        platform: 'android',
      }),
      bodyLike({
        userId: anyText,
        registrationId: anyText,
        platform: fc.oneof(fc.constantFrom('android', 'ios'), anyText),
      })
    )
    .map((body) => ({ method: 'POST', path: '/v1/sessions', body })),
  'DELETE /v1/sessions/{userId}/{registrationId}': fc
    .tuple(segment, segment)
    .map(([user, rid]) => ({
      method: 'DELETE',
      path: `/v1/sessions/${user}/${rid}`,
    })),
  'DELETE /v1/users/{userId}': segment.map((user) => ({
    method: 'DELETE',
    path: `/v1/users/${user}`,
  })),
};

describe(`the API under crafted input (${RUNS} requests per route, seed ${SEED})`, () => {
  it.each(Object.keys(routes))(
    '%s answers a 4xx with the error envelope or succeeds, never a 5xx, and a refused request changes nothing',
    async (route) => {
      // Prepare
      const answered = new Map<number, number>();

      // Act
      await fc.assert(
        fc.asyncProperty(routes[route] as fc.Arbitrary<Request>, async (r) => {
          const before = await snapshot();
          const res = await fetch(`${system.url}${r.path}`, {
            method: r.method,
            signal: AbortSignal.timeout(20_000),
            ...(r.body === undefined
              ? {}
              : {
                  headers: { 'content-type': 'application/json' },
                  body: r.body,
                }),
          });
          const text = await res.text();
          answered.set(res.status, (answered.get(res.status) ?? 0) + 1);
          const what = `${r.method} ${r.path} ${r.body ?? ''} → ${res.status} ${text}`;
          expect(res.status, what).toBeLessThan(500);
          if (res.status >= 400) {
            expect(JSON.parse(text), what).toEqual({
              error: { code: expect.any(String), message: expect.any(String) },
            });
            expect(changes(before, await snapshot()), what).toEqual([]);
          } else {
            await quiet();
          }
        }),
        { numRuns: RUNS, seed: SEED, endOnFailure: true }
      );
      console.info(
        `${route}: ${RUNS} requests (seed ${SEED}), answers ${JSON.stringify(Object.fromEntries(answered))}`
      );

      // Assess: fc.assert threw on the first request that broke the promise.
      const refused = [...answered].filter(([s]) => s >= 400 && s < 500);
      expect(refused.length).toBeGreaterThan(0);
    },
    900_000
  );
});
