import { ListTablesCommand, ScanCommand } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalSystem, startLocalSystem } from '../../local/system.ts';
import {
  api,
  eventually,
  loginVia,
  newRegistrationId,
  newUserId,
} from '../helpers/local-system.ts';

// Issue 11, items 5 and 6, in local mode: the routes of the synthesized
// HTTP API, the synthesized state machine, dynalite and the JPush
// simulator. Real time, with intervals long enough that no second push
// comes during a test.
let system: LocalSystem;

beforeAll(async () => {
  system = await startLocalSystem({ timeScale: 1 });
});

afterAll(async () => {
  await system?.close();
});

const sim = () => {
  if (!system.simulator) throw new Error('The JPush simulator is not running.');
  return system.simulator;
};

/** Every item of a table whose logical name starts with `prefix`. */
const scan = async (prefix: string): Promise<Record<string, unknown>[]> => {
  const { TableNames = [] } = await system.dynamo.client.send(
    new ListTablesCommand({})
  );
  const table = TableNames.find((name) => name.includes(prefix));
  if (!table) throw new Error(`No table ${prefix}`);
  const items: Record<string, unknown>[] = [];
  let start: Record<string, never> | undefined;
  do {
    const out = await system.dynamo.client.send(
      new ScanCommand({ TableName: table, ExclusiveStartKey: start })
    );
    items.push(...(out.Items ?? []).map((i) => unmarshall(i)));
    start = out.LastEvaluatedKey as Record<string, never> | undefined;
  } while (start);
  return items;
};

const statusOf = async (messageId: string) =>
  (await api(system, 'GET', `/v1/messages/${messageId}`)).json as {
    status: string;
    timeline: { event: string; detail?: string }[];
  };

const copiesOn = (rid: string, messageId: string) =>
  (sim().getDevice(rid)?.received ?? []).filter(
    (p) => p.extras.messageId === messageId
  );

describe('POST /v1/messages/batch in local mode', () => {
  it('a batch of 100 with 3 bad items gives 97 messages', async () => {
    // Prepare: 100 messages to a logged-out user, each with its own key;
    // items 10, 50 and 99 are bad (no body, a user id JPush refuses as an
    // alias, an smsTo of no allowed country).
    const user = newUserId('batch');
    const bad = new Map<number, Record<string, unknown>>([
      [10, { to: user }],
      [50, { to: 'not an alias!', body: 'x' }],
      [99, { to: user, body: 'x', escalation: { smsTo: '+882123456789' } }],
    ]);
    const messages = Array.from(
      { length: 100 },
      (_, i) =>
        bad.get(i) ?? {
          to: user,
          body: `Message ${i}`,
          idempotencyKey: `batch-${user}-${i}`,
        }
    );

    // Act
    const res = await api(system, 'POST', '/v1/messages/batch', { messages });
    const again = await api(system, 'POST', '/v1/messages/batch', {
      messages,
    });

    // Assess: one result per item, in order; the bad ones fail alone.
    expect(res.status).toBe(207);
    const results = res.json.results as Array<{
      messageId?: string;
      status?: string;
      error?: { code: string; message: string };
    }>;
    expect(results).toHaveLength(100);
    const failed = results.flatMap((r, i) => (r.error ? [i] : []));
    expect(failed).toEqual([10, 50, 99]);
    for (const i of failed) {
      expect(results[i]).toEqual({
        error: { code: 'ValidationError', message: expect.any(String) },
      });
    }
    const ids = results.flatMap((r) => (r.messageId ? [r.messageId] : []));
    expect(new Set(ids).size).toBe(97);
    expect(results.filter((r) => r.status === 'stored')).toHaveLength(97);
    const stored = (await scan('MessagesTable')).filter((m) => m.to === user);
    expect(stored).toHaveLength(97);
    expect(
      (await scan('OfflineStoreTable')).filter((m) => m.userId === user)
    ).toHaveLength(97);
    // Idempotency per item: the same batch again makes nothing new.
    expect(again.status).toBe(207);
    expect(
      (again.json.results as Array<{ messageId?: string }>).flatMap((r) =>
        r.messageId ? [r.messageId] : []
      )
    ).toEqual(ids);
    expect(
      (await scan('MessagesTable')).filter((m) => m.to === user)
    ).toHaveLength(97);
  }, 60_000);

  it('refuses an empty batch and one of 101 with 400 and stores nothing', async () => {
    // Prepare
    const user = newUserId('batch');
    const one = { to: user, body: 'hi' };

    // Act
    const empty = await api(system, 'POST', '/v1/messages/batch', {
      messages: [],
    });
    const tooMany = await api(system, 'POST', '/v1/messages/batch', {
      messages: Array.from({ length: 101 }, () => one),
    });

    // Assess
    expect(empty.status).toBe(400);
    expect(tooMany.status).toBe(400);
    expect(tooMany.json.error.message).toContain('at most 100');
    expect(
      (await scan('MessagesTable')).filter((m) => m.to === user)
    ).toHaveLength(0);
  });
});

describe('DELETE /v1/messages/{messageId} in local mode', () => {
  it('a cancel withdraws from the phone', async () => {
    // Prepare: an offline phone; JPush holds the push for it.
    const user = newUserId('cancel');
    const rid = newRegistrationId();
    sim().setDevice(rid, { platform: 'android', online: false });
    await loginVia(system, user, rid);
    const sent = await api(system, 'POST', '/v1/messages', {
      to: user,
      body: 'Your code is 4711',
      policy: { intervalSeconds: 60, maxAttempts: 2 },
    });
    const messageId = String(sent.json.messageId);
    await eventually(
      async () =>
        (await statusOf(messageId)).timeline.some((e) => e.event === 'pushed')
          ? true
          : undefined,
      'the push'
    );

    // Act
    const cancel = await api(system, 'DELETE', `/v1/messages/${messageId}`);
    const again = await api(system, 'DELETE', `/v1/messages/${messageId}`);
    sim().setDevice(rid, { online: true });

    // Assess
    expect(cancel).toMatchObject({
      status: 200,
      json: {
        messageId,
        status: 'cancelled',
        deliveryStopped: true,
        pushesWithdrawn: 1,
      },
    });
    expect(again).toMatchObject({
      status: 200,
      json: { messageId, status: 'cancelled' },
    });
    await eventually(
      () =>
        system.stateMachine
          .listExecutions({ statusFilter: 'SUCCEEDED' })
          .some((e) => e.name === messageId)
          ? true
          : undefined,
      'the delivery to end'
    );
    // The phone came online and got nothing: JPush no longer held it.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(copiesOn(rid, messageId)).toEqual([]);
    const view = await statusOf(messageId);
    expect(view.status).toBe('cancelled');
    expect(view.timeline.map((e) => e.event)).toEqual(
      expect.arrayContaining(['pushed', 'cancelled', 'withdrawn'])
    );
  }, 60_000);

  it('withdraws a copy the phone got and did not acknowledge', async () => {
    // Prepare: an online phone that does not ACK.
    const user = newUserId('cancel');
    const rid = newRegistrationId();
    sim().setDevice(rid, { platform: 'android', online: true, autoAck: false });
    await loginVia(system, user, rid);
    const sent = await api(system, 'POST', '/v1/messages', {
      to: user,
      body: 'Meeting moved',
      policy: { intervalSeconds: 60, maxAttempts: 2 },
    });
    const messageId = String(sent.json.messageId);
    await eventually(
      () => (copiesOn(rid, messageId).length > 0 ? true : undefined),
      'the push to reach the phone'
    );

    // Act
    const cancel = await api(system, 'DELETE', `/v1/messages/${messageId}`);

    // Assess
    expect(cancel.status).toBe(200);
    expect(copiesOn(rid, messageId).map((p) => p.withdrawn)).toEqual([true]);
  }, 60_000);

  it('takes a stored message out of the offline store: the next login delivers nothing', async () => {
    // Prepare
    const user = newUserId('cancel');
    const rid = newRegistrationId();
    sim().setDevice(rid, { platform: 'android', online: true });
    const sent = await api(system, 'POST', '/v1/messages', {
      to: user,
      body: 'While you were away',
    });
    const messageId = String(sent.json.messageId);

    // Act
    const cancel = await api(system, 'DELETE', `/v1/messages/${messageId}`);
    const login = await loginVia(system, user, rid);

    // Assess
    expect(sent.json.status).toBe('stored');
    expect(cancel.json).toMatchObject({ status: 'cancelled' });
    expect(login.drained).toBe(0);
    expect(
      (await scan('OfflineStoreTable')).filter((m) => m.userId === user)
    ).toEqual([]);
    expect((await statusOf(messageId)).status).toBe('cancelled');
  });

  it('answers 409 with the status for an acknowledged message, 404 for an unknown one', async () => {
    // Prepare: an online phone that ACKs.
    const user = newUserId('cancel');
    const rid = newRegistrationId();
    sim().setDevice(rid, { platform: 'android', online: true, autoAck: true });
    await loginVia(system, user, rid);
    const sent = await api(system, 'POST', '/v1/messages', {
      to: user,
      body: 'Acknowledged',
    });
    const messageId = String(sent.json.messageId);
    await eventually(
      async () =>
        (await statusOf(messageId)).status === 'acknowledged'
          ? true
          : undefined,
      'the ACK'
    );

    // Act
    const ended = await api(system, 'DELETE', `/v1/messages/${messageId}`);
    const unknown = await api(system, 'DELETE', '/v1/messages/m-unknown');

    // Assess
    expect(ended.status).toBe(409);
    expect(ended.json).toEqual({
      error: {
        code: 'Conflict',
        message: expect.stringContaining('is already acknowledged'),
      },
      messageId,
      status: 'acknowledged',
    });
    expect(unknown.status).toBe(404);
    expect((await statusOf(messageId)).status).toBe('acknowledged');
  }, 30_000);
});
