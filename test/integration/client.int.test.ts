import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createPushDeliveryClient,
  isBatchItemSent,
  PushDeliveryApiError,
  type PushDeliveryClient,
} from '../../client/index.ts';
import { type LocalSystem, startLocalSystem } from '../../local/system.ts';
import {
  eventually,
  newRegistrationId,
  newUserId,
} from '../helpers/local-system.ts';

// The typed client (client/) against local mode: the routes of the
// synthesized HTTP API, the state machine, dynalite and the JPush
// simulator. Local mode checks no signature, so the signing client's
// requests (with Authorization, X-Amz-Date, …) must pass as the unsigned
// client's do.
let system: LocalSystem;
const authorizations: (string | null)[] = [];

beforeAll(async () => {
  system = await startLocalSystem({ timeScale: 1 });
});

afterAll(async () => {
  await system?.close();
});

const clients: [string, () => PushDeliveryClient][] = [
  [
    'unsigned (sign: false)',
    () => createPushDeliveryClient({ baseUrl: system.url, sign: false }),
  ],
  [
    'signed with SigV4',
    () =>
      createPushDeliveryClient({
        baseUrl: system.url,
        region: 'eu-west-1',
        credentials: {
          accessKeyId: 'AKIDEXAMPLE',
          secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
          sessionToken: 'session-token',
        },
        fetch: (request) => {
          authorizations.push(request.headers.get('authorization'));
          return fetch(request);
        },
      }),
  ],
];

describe.each(clients)('the typed client, %s, in local mode', (label, make) => {
  let client: PushDeliveryClient;
  beforeAll(() => {
    client = make();
  });

  it('logs a user in, sends a message the phone acknowledges, and sends it again with its key (replayed)', async () => {
    // Prepare
    const user = newUserId('client');
    const rid = newRegistrationId();
    system.simulator?.setDevice(rid, { online: true, autoAck: true });
    const login = await client.login({
      userId: user,
      registrationId: rid,
      platform: 'android',
    });
    const message = {
      to: user,
      title: 'Order 1009 shipped',
      body: 'Your parcel left the warehouse.',
      idempotencyKey: `client-${user}`,
      policy: { intervalSeconds: 1 },
    };

    // Act
    const sent = await client.sendMessage(message);
    const acknowledged = await eventually(async () => {
      const view = await client.getMessage(sent.messageId);
      return view.status === 'acknowledged' ? view : undefined;
    }, `${sent.messageId} acknowledged`);
    const again = await client.sendMessage(message);

    // Assess
    expect(login).toMatchObject({ drained: 0, alias: 'bound' });
    expect(sent).toMatchObject({ status: 'sending', replayed: false });
    expect(acknowledged.confirmedBy).toBe('ack');
    expect(acknowledged.timeline.map((e) => e.event)).toContain('pushed');
    expect(again).toEqual({
      messageId: sent.messageId,
      status: 'acknowledged',
      replayed: true,
    });
    if (label.startsWith('signed')) {
      expect(authorizations.length).toBeGreaterThan(0);
      expect(
        authorizations.every((a) =>
          a?.includes('/eu-west-1/execute-api/aws4_request')
        )
      ).toBe(true);
    }
  });

  it('sends a batch, cancels one (twice), reads the history a page at a time, and erases the user', async () => {
    // Prepare: a user with no session, so the messages are stored.
    const user = newUserId('client');

    // Act
    const batch = await client.sendBatch([
      { to: user, body: 'First', idempotencyKey: `${user}-1` },
      { to: user, body: 'Second', idempotencyKey: `${user}-2` },
      { to: user, body: '' },
    ]);
    const [first, second] = batch.results;
    if (
      !first ||
      !isBatchItemSent(first) ||
      !second ||
      !isBatchItemSent(second)
    )
      throw new Error(`the batch failed: ${JSON.stringify(batch)}`);
    const cancelled = await client.cancelMessage(first.messageId);
    const cancelledAgain = await client.cancelMessage(first.messageId);
    const page1 = await client.listHistory(user, { limit: 1 });
    const page2 = await client.listHistory(user, {
      limit: 1,
      cursor: page1.nextCursor,
    });
    const erased = await client.eraseUser(user);

    // Assess
    expect(batch.results).toHaveLength(3);
    expect(first.status).toBe('stored');
    expect(batch.results[2]).toMatchObject({
      error: { code: 'ValidationError' },
    });
    expect(cancelled).toMatchObject({
      messageId: first.messageId,
      status: 'cancelled',
      repeated: false,
    });
    expect(cancelledAgain.repeated).toBe(true);
    expect(page1.items).toHaveLength(1);
    expect(page1.nextCursor).toEqual(expect.any(String));
    expect(
      [...page1.items, ...page2.items].map((i) => i.messageId).sort()
    ).toEqual([first.messageId, second.messageId].sort());
    expect(erased).toMatchObject({ userId: user, messages: 2 });
  });

  it('throws PushDeliveryApiError with the envelope: 404 for an unknown message, 409 for cancelling an ended one, 400 for a bad body', async () => {
    // Prepare
    const user = newUserId('client');
    const rid = newRegistrationId();
    system.simulator?.setDevice(rid, { online: true, autoAck: true });
    await client.login({
      userId: user,
      registrationId: rid,
      platform: 'android',
    });
    const sent = await client.sendMessage({
      to: user,
      body: 'Done soon',
      policy: { intervalSeconds: 1 },
    });
    await eventually(
      async () =>
        (await client.getMessage(sent.messageId)).status === 'acknowledged'
          ? true
          : undefined,
      'acknowledged'
    );

    // Act
    const unknown = await client
      .getMessage('no-such-message')
      .catch((e: unknown) => e);
    const ended = await client
      .cancelMessage(sent.messageId)
      .catch((e: unknown) => e);
    const bad = await client
      .sendMessage({ to: user, body: '' })
      .catch((e: unknown) => e);
    await client.logout(user, rid);

    // Assess
    expect(unknown).toBeInstanceOf(PushDeliveryApiError);
    expect(unknown).toMatchObject({ status: 404, code: 'NotFound' });
    expect(ended).toMatchObject({
      status: 409,
      code: 'Conflict',
      body: { messageId: sent.messageId, status: 'acknowledged' },
    });
    expect(bad).toMatchObject({ status: 400, code: 'ValidationError' });
    expect((bad as PushDeliveryApiError).apiMessage).toMatch(/body/);
  });
});
