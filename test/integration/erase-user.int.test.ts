import { ListTablesCommand, ScanCommand } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TTL_ATTRIBUTE } from '../../functions/shared/names.ts';
import { type LocalSystem, startLocalSystem } from '../../local/system.ts';
import {
  api,
  eventually,
  loginVia,
  logoutVia,
  newRegistrationId,
  newUserId,
} from '../helpers/local-system.ts';

// Issue 10, "Privacy", in local mode: the synthesized state machine, the
// handlers as Lambda runs them, dynalite and the JPush simulator. A user
// with every kind of data is erased through DELETE /v1/users/{userId};
// then every table is scanned for anything that names them.
// Real time: the withdrawal sweeper's minute does not come during the test,
// so the withdrawal JPush failed at the logout is still pending.
const TIME_SCALE = 1;
const DAY = 86_400;

let system: LocalSystem;

beforeAll(async () => {
  system = await startLocalSystem({ timeScale: TIME_SCALE });
});

afterAll(async () => {
  await system?.close();
});

const sim = () => {
  if (!system.simulator) throw new Error('The JPush simulator is not running.');
  return system.simulator;
};

const send = async (body: Record<string, unknown>) => {
  const res = await api(system, 'POST', '/v1/messages', body);
  expect(res.status).toBe(202);
  return res.json as { messageId: string; status: string };
};

const pushOf = (registrationId: string, messageId: string) =>
  eventually(
    () =>
      sim()
        .getDevice(registrationId)
        ?.received.find((p) => p.extras.messageId === messageId),
    `${messageId} on ${registrationId}`
  );

/** Every item of every table of the local DynamoDB, by table. */
const everything = async (): Promise<Record<string, unknown[]>> => {
  const tables: Record<string, unknown[]> = {};
  const { TableNames = [] } = await system.dynamo.client.send(
    new ListTablesCommand({})
  );
  for (const table of TableNames) {
    const items: unknown[] = [];
    let start: Record<string, never> | undefined;
    do {
      const out = await system.dynamo.client.send(
        new ScanCommand({ TableName: table, ExclusiveStartKey: start })
      );
      items.push(...(out.Items ?? []).map((i) => unmarshall(i)));
      start = out.LastEvaluatedKey as Record<string, never> | undefined;
    } while (start);
    tables[table] = items;
  }
  return tables;
};

/** The items of each table whose text names `text` anywhere. */
const naming = (tables: Record<string, unknown[]>, text: string) =>
  Object.fromEntries(
    Object.entries(tables)
      .map(
        ([table, items]) =>
          [
            table,
            items.filter((item) => JSON.stringify(item).includes(text)),
          ] as const
      )
      .filter(([, items]) => items.length > 0)
  );

const rawItem = async (tablePrefix: string, key: Record<string, string>) => {
  const tables = await everything();
  const name = Object.keys(tables).find((t) => t.includes(tablePrefix));
  return (tables[name ?? ''] ?? []).find((item) =>
    Object.entries(key).every(
      ([k, v]) => (item as Record<string, unknown>)[k] === v
    )
  ) as Record<string, unknown> | undefined;
};

describe('DELETE /v1/users/{userId}', () => {
  it('erases messages, history, sessions, the offline store and pending withdrawals, clears the alias, and leaves nothing that names the user', async () => {
    // Prepare: a user with an acknowledged message, chats both ways, a
    // withdrawal JPush failed at a logout, a running delivery waiting for
    // its ACK on a second phone, a session and a stored message.
    const user = newUserId('erase');
    const friend = newUserId('friend');
    const bystander = newUserId('other');
    const phone = newRegistrationId();
    const second = newRegistrationId();
    const theirs = newRegistrationId();
    sim().setDevice(phone, { platform: 'android', online: true });
    sim().setDevice(second, { platform: 'android', online: true });
    sim().setDevice(theirs, { platform: 'android', online: true });
    await loginVia(system, user, phone);
    await loginVia(system, bystander, theirs);
    const acked = await send({ to: user, body: 'Your code is 4711' });
    const push = await pushOf(phone, acked.messageId);
    const ack = await api(
      system,
      'POST',
      `/v1/messages/${acked.messageId}/ack`,
      { token: push.extras.ackToken, registrationId: phone }
    );
    expect(ack.status).toBe(204);
    const fromFriend = await send({ to: user, from: friend, body: 'Hi!' });
    const toFriend = await send({ to: friend, from: user, body: 'Hello.' });
    const away = await send({
      to: user,
      body: 'While you log out',
      policy: { intervalSeconds: 60, maxAttempts: 3 },
    });
    await pushOf(phone, away.messageId);
    sim().setFaults({ serverErrorRate: 1, families: ['push'] });
    await logoutVia(system, user, phone);
    sim().resetFaults();
    // The second phone's login drains the message: a delivery waits.
    await loginVia(system, user, second);
    await pushOf(second, away.messageId);
    const waiting = await eventually(
      async () => (await system.deps.messages.get(away.messageId))?.taskToken,
      'the delivery to wait for the ACK'
    );
    // A message stored again at that moment (a push step that found no
    // session), whose login has not drained it yet.
    const stored = await send({ to: user, body: 'Stored again' });
    await system.deps.offline.put({
      userId: user,
      storedKey: `${new Date().toISOString()}#${stored.messageId}`,
      messageId: stored.messageId,
      delivery: 1,
      expiresAt: new Date(Date.now() + DAY * 1000).toISOString(),
    });
    const forBystander = await send({ to: bystander, body: 'Not theirs' });
    const before = await everything();

    // Act
    const erased = await api(system, 'DELETE', `/v1/users/${user}`);
    const again = await api(system, 'DELETE', `/v1/users/${user}`);

    // Assess: the answer counts what went.
    expect(erased.status).toBe(200);
    expect(erased.json).toEqual({
      userId: user,
      messages: 5,
      // five of the user's, and the friend's entry of each chat
      history: 7,
      sessions: 1,
      offline: 1,
      deliveriesStopped: expect.any(Number),
      pushesWithdrawn: expect.any(Number),
      alias: 'cleared',
    });
    expect(erased.json.deliveriesStopped).toBeGreaterThanOrEqual(1);
    expect(erased.json.pushesWithdrawn).toBeGreaterThanOrEqual(1);
    expect(again.status).toBe(200);
    expect(again.json).toMatchObject({
      messages: 0,
      history: 0,
      sessions: 0,
      offline: 0,
      deliveriesStopped: 0,
      alias: 'cleared',
    });
    // Before, the user was everywhere; after, no item of any table names
    // them, nor the ids of their messages.
    const tablesNaming = Object.keys(naming(before, user)).join(' ');
    for (const table of [
      'MessagesTable',
      'HistoryTable',
      'SessionsTable',
      'DevicesTable',
      'OfflineStoreTable',
      'WithdrawalsTable',
    ]) {
      expect(tablesNaming, table).toContain(table);
    }
    const after = await everything();
    expect(naming(after, user)).toEqual({});
    for (const { messageId } of [acked, fromFriend, toFriend, away, stored]) {
      expect(naming(after, messageId), messageId).toEqual({});
    }
    // JPush no longer knows the alias; the phones are nobody's.
    expect(await system.deps.jpush.getAliasDevices(user)).toEqual([]);
    expect(sim().getDevice(phone)?.alias ?? '').toBe('');
    expect(sim().getDevice(second)?.alias ?? '').toBe('');
    // The running deliveries ended at once, cleanly (none failed).
    const run = await system.stateMachine.waitForExecution(
      `${away.messageId}-d2`,
      10_000
    );
    expect(run.status).toBe('SUCCEEDED');
    expect(waiting).toEqual(expect.any(String));
    expect(
      system.stateMachine
        .listExecutions({ statusFilter: 'FAILED' })
        .map((e) => e.name)
    ).toEqual([]);
    // Another user's data stays.
    expect((await system.deps.messages.get(forBystander.messageId))?.to).toBe(
      bystander
    );
    expect(await system.deps.sessions.listByUser(bystander)).toHaveLength(1);
    expect(sim().getDevice(theirs)?.alias).toBe(bystander);
  }, 90_000);

  it('answers 400 for an id that cannot be a user id, and changes nothing', async () => {
    // Prepare
    const before = await everything();

    // Act
    const res = await api(system, 'DELETE', `/v1/users/${'x'.repeat(41)}`);

    // Assess
    expect(res.status).toBe(400);
    expect(res.json).toEqual({
      error: { code: 'ValidationError', message: expect.any(String) },
    });
    expect(await everything()).toEqual(before);
  });
});

describe('how long a message and its history are kept', () => {
  it('keeps a message until its life ends plus the retention, then 30 days from the moment it ends; its history until its life ends plus 30 days', async () => {
    // Prepare
    const user = newUserId('keep');
    const phone = newRegistrationId();
    sim().setDevice(phone, { platform: 'android', online: true });
    await loginVia(system, user, phone);

    // Act
    const sent = await send({
      to: user,
      body: 'Kept a while',
      policy: { expiresInSeconds: 3600 },
    });
    const created = await rawItem('MessagesTable', {
      messageId: sent.messageId,
    });
    const push = await pushOf(phone, sent.messageId);
    await api(system, 'POST', `/v1/messages/${sent.messageId}/ack`, {
      token: push.extras.ackToken,
      registrationId: phone,
    });
    const ackedAt = Date.now() / 1000;
    const ended = await eventually(async () => {
      const item = await rawItem('MessagesTable', {
        messageId: sent.messageId,
      });
      return item?.status === 'acknowledged' ? item : undefined;
    }, 'the ACK');
    const history = await rawItem('HistoryTable', { userId: user });

    // Assess
    const lifeEnd = Date.parse(String(created?.expiresAt)) / 1000;
    expect(created?.[TTL_ATTRIBUTE]).toBe(Math.ceil(lifeEnd) + 30 * DAY);
    const endTtl = Number(ended[TTL_ATTRIBUTE]);
    expect(endTtl).toBeGreaterThanOrEqual(Math.floor(ackedAt) + 30 * DAY - 5);
    expect(endTtl).toBeLessThanOrEqual(Math.ceil(ackedAt) + 30 * DAY + 5);
    expect(history?.[TTL_ATTRIBUTE]).toBe(Math.ceil(lifeEnd) + 30 * DAY);
    // The API shows nothing of it.
    const view = await api(system, 'GET', `/v1/messages/${sent.messageId}`);
    expect(Object.keys(view.json)).not.toContain(TTL_ATTRIBUTE);
  }, 60_000);
});
