import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  OUTCOME_EVENT_SOURCE,
  OUTCOME_EVENT_TYPES,
  type OutcomeKind,
} from '../../functions/shared/names.ts';
import type { BusEvent } from '../../local/event-bus.ts';
import { type LocalSystem, startLocalSystem } from '../../local/system.ts';
import {
  api,
  eventually,
  loginVia,
  newRegistrationId,
  newUserId,
  seedSession,
} from '../helpers/local-system.ts';

// The outcome events of the seed scenarios, end to end in local mode: the
// synthesized state machine, dynalite behind the local stream, the stream's
// consumer (the OutcomeEvents function's handler), the local bus and a
// webhook receiver over HTTP that refuses its first POSTs. The oracle is the
// messages table's stream itself: the statuses a message went through, as
// the images of its records show them, whatever the timing made them.
const TIME_SCALE = 0.05;
/** The webhook answers 503 to this many POSTs first. */
const REFUSED_FIRST = 2;

interface Receiver {
  readonly url: string;
  /** Events the webhook took (answered 2xx), in arrival order. */
  readonly taken: BusEvent[];
  /** POSTs it refused. */
  refused: number;
  close(): Promise<void>;
}

const startReceiver = async (): Promise<Receiver> => {
  const taken: BusEvent[] = [];
  const receiver = { taken, refused: 0 } as Receiver & { refused: number };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (receiver.refused < REFUSED_FIRST) {
        receiver.refused += 1;
        res.writeHead(503).end();
        return;
      }
      taken.push(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve())
  );
  const { port } = server.address() as AddressInfo;
  return Object.assign(receiver, {
    url: `http://127.0.0.1:${port}/outcomes`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  });
};

let system: LocalSystem;
let receiver: Receiver;
/** Each message's statuses, from its stream records' new images. */
const statusesOf = new Map<string, string[]>();
/** Messages whose stream showed an ACK recorded after they had ended. */
const lateAcked = new Set<string>();

beforeAll(async () => {
  receiver = await startReceiver();
  system = await startLocalSystem({
    timeScale: TIME_SCALE,
    onCallPhoneNumbers: ['+10000000001'],
    smsCountries: ['CN'],
    sms: { onCallWindowSeconds: 1 },
    outcomeWebhookUrl: receiver.url,
  });
  system.streams.subscribe((_table, record) => {
    const image = (raw: unknown) =>
      raw
        ? (unmarshall(raw as Record<string, AttributeValue>) as {
            messageId: string;
            status: string;
            ackedAt?: string;
          })
        : undefined;
    const before = image(record.dynamodb?.OldImage);
    const after = image(record.dynamodb?.NewImage);
    if (!after) return;
    const seen = statusesOf.get(after.messageId) ?? [];
    if (seen.at(-1) !== after.status) seen.push(after.status);
    statusesOf.set(after.messageId, seen);
    if (
      before &&
      after.ackedAt &&
      !before.ackedAt &&
      after.status === before.status
    ) {
      lateAcked.add(after.messageId);
    }
  });
});

afterAll(async () => {
  await system?.close();
  await receiver?.close();
});

const TERMINAL = [
  'acknowledged',
  'escalated',
  'expired',
  'failed',
  'cancelled',
];

/** Waits until a message's status is one of `statuses`. */
const reaches = async (messageId: string, statuses = TERMINAL) =>
  eventually(
    async () => {
      const res = await api(system, 'GET', `/v1/messages/${messageId}`);
      return statuses.includes(res.json?.status) ? res.json : undefined;
    },
    `message ${messageId} to become ${statuses.join(' or ')}`,
    30_000
  );

/** What the stream says the message's events must be, in order. */
const expectedKinds = (messageId: string): OutcomeKind[] => {
  const [first, ...rest] = statusesOf.get(messageId) ?? [];
  return [
    'accepted',
    ...(first && first !== 'sending' ? [first as OutcomeKind] : []),
    ...(rest as OutcomeKind[]),
    ...(lateAcked.has(messageId) ? (['late-ack'] as const) : []),
  ];
};

/**
 * The events the webhook took for a message, once the stream and the
 * webhook have caught up, checked against `/local/events`.
 */
const webhookEventsOf = async (messageId: string): Promise<BusEvent[]> => {
  await system.streams.idle();
  await eventually(
    () => (system.events.pending === 0 ? true : undefined),
    'the webhook to take every event'
  );
  const listed = await api(
    system,
    'GET',
    `/local/events?messageId=${messageId}`
  );
  expect(listed.status).toBe(200);
  const taken = receiver.taken.filter((e) => e.detail.messageId === messageId);
  expect(taken.map((e) => e.id)).toEqual(
    (listed.json as BusEvent[]).map((e) => e.id)
  );
  return taken;
};

/** Asserts the events are exactly the transitions, in order, well formed. */
const expectTransitions = (
  messageId: string,
  events: BusEvent[],
  kinds: OutcomeKind[]
) => {
  expect(events.map((e) => e.detail.kind)).toEqual(kinds);
  expect(events.map((e) => e.detail.kind)).toEqual(expectedKinds(messageId));
  expect(events.map((e) => e['detail-type'])).toEqual(
    kinds.map((k) => OUTCOME_EVENT_TYPES[k])
  );
  const sequences = events.map((e) => e.detail.sequence);
  expect([...sequences].sort((a, b) => a - b)).toEqual(sequences);
  expect(new Set(events.map((e) => e.detail.eventId)).size).toBe(events.length);
  let previous: string | null = null;
  for (const event of events) {
    expect(event).toMatchObject({
      version: '0',
      source: OUTCOME_EVENT_SOURCE,
      detail: { messageId, to: expect.any(String) },
    });
    expect(Object.keys(event.detail)).not.toContain('body');
    if (event.detail.kind !== 'accepted') {
      expect(event.detail.previousStatus).toBe(
        event.detail.kind === 'late-ack' ? event.detail.status : previous
      );
    }
    // A message stored at once: its Message Stored has no status before it.
    previous =
      event.detail.kind === 'accepted' && event.detail.status !== 'sending'
        ? null
        : event.detail.status;
  }
};

const phone = async (settings: Record<string, unknown>) => {
  const user = newUserId('events');
  const rid = newRegistrationId();
  system.simulator?.setDevice(rid, settings);
  await seedSession(system, user, rid);
  return { user, rid };
};

const send = async (body: Record<string, unknown>): Promise<string> => {
  const res = await api(system, 'POST', '/v1/messages', body);
  expect(res.status).toBe(202);
  return res.json.messageId as string;
};

describe('outcome events (local mode: stream, OutcomeEvents handler, bus, webhook over HTTP)', () => {
  it('a message the app ACKs: accepted, acknowledged by the ACK', async () => {
    // Prepare
    const { user } = await phone({ online: true, autoAck: true });

    // Act
    const messageId = await send({
      to: user,
      body: 'Your order shipped.',
      idempotencyKey: 'order-7-shipped',
      policy: { intervalSeconds: 20, maxAttempts: 3 },
    });
    await reaches(messageId);
    const events = await webhookEventsOf(messageId);

    // Assess
    expectTransitions(messageId, events, ['accepted', 'acknowledged']);
    expect(events[1]?.detail).toMatchObject({
      status: 'acknowledged',
      previousStatus: 'sending',
      confirmedBy: 'ack',
      attempt: 1,
      delivery: 1,
      idempotencyKey: 'order-7-shipped',
    });
    expect(receiver.refused).toBe(REFUSED_FIRST);
  });

  it('a message JPush reports delivered, under report: acknowledged by the report', async () => {
    // Prepare
    const { user } = await phone({ online: true, autoAck: false });

    // Act
    const messageId = await send({
      to: user,
      body: 'Meeting moved to 3 pm.',
      policy: { intervalSeconds: 20, maxAttempts: 3, confirmBy: 'report' },
    });
    await reaches(messageId);
    const events = await webhookEventsOf(messageId);

    // Assess
    expectTransitions(messageId, events, ['accepted', 'acknowledged']);
    expect(events[1]?.detail.confirmedBy).toBe('report');
  });

  it('a message never ACKed: received, escalated, then a late ACK', async () => {
    // Prepare
    const { user, rid } = await phone({ online: true, autoAck: false });
    const messageId = await send({
      to: user,
      body: 'Server room temperature high.',
      policy: { intervalSeconds: 20, maxAttempts: 2 },
    });
    await reaches(messageId);
    const token = system.simulator?.getDevice(rid)?.received[0]?.extras
      .ackToken as string;

    // Act
    const ack = await api(system, 'POST', `/v1/messages/${messageId}/ack`, {
      token,
      registrationId: rid,
    });
    await eventually(
      () => (lateAcked.has(messageId) ? true : undefined),
      'the late ACK to reach the stream'
    );
    const events = await webhookEventsOf(messageId);

    // Assess
    expect(ack.status).toBe(204);
    expectTransitions(messageId, events, [
      'accepted',
      'received',
      'escalated',
      'late-ack',
    ]);
    expect(events[3]?.detail).toMatchObject({
      status: 'escalated',
      confirmedBy: 'ack',
    });
  });

  it('a message for a logged-out user: stored, then sent and acknowledged at the next login', async () => {
    // Prepare
    const user = newUserId('events');
    const rid = newRegistrationId();
    system.simulator?.setDevice(rid, { online: true, autoAck: true });
    const messageId = await send({ to: user, body: 'You have a new invoice.' });
    await reaches(messageId, ['stored']);

    // Act
    await loginVia(system, user, rid);
    await reaches(messageId);
    const events = await webhookEventsOf(messageId);

    // Assess
    expectTransitions(messageId, events, [
      'accepted',
      'stored',
      'sending',
      'acknowledged',
    ]);
    expect(events[1]?.detail.previousStatus).toBeNull();
    expect(events[3]?.detail.delivery).toBeGreaterThanOrEqual(1);
  });

  it('an account switch on the device: the first user’s message is stored again and delivered at their next login', async () => {
    // Prepare: A's phone does not ACK at first.
    const rid = newRegistrationId();
    const a = newUserId('events-a');
    const b = newUserId('events-b');
    system.simulator?.setDevice(rid, { online: false, autoAck: false });
    await loginVia(system, a, rid);
    const messageId = await send({
      to: a,
      body: 'Chat: are you there?',
      policy: { intervalSeconds: 60, maxAttempts: 3 },
    });
    await eventually(async () => {
      const m = await api(system, 'GET', `/v1/messages/${messageId}`);
      return m.json.attempts >= 1 ? true : undefined;
    }, 'the first push');

    // Act: B logs in on A's device; later A logs in again, and ACKs.
    await loginVia(system, b, rid);
    await reaches(messageId, ['stored']);
    system.simulator?.setDevice(rid, { online: true, autoAck: true });
    await loginVia(system, a, rid);
    await reaches(messageId);
    const events = await webhookEventsOf(messageId);

    // Assess
    expectTransitions(messageId, events, [
      'accepted',
      'stored',
      'sending',
      'acknowledged',
    ]);
    expect(events[1]?.detail).toMatchObject({
      status: 'stored',
      previousStatus: 'sending',
    });
    expect(events[3]?.detail.delivery).toBe(2);
  });

  it('a cancelled message: accepted, cancelled', async () => {
    // Prepare
    const { user } = await phone({ online: false, autoAck: false });
    const messageId = await send({
      to: user,
      body: 'Flash sale starts now.',
      policy: { intervalSeconds: 60, maxAttempts: 3 },
    });

    // Act
    const cancel = await api(system, 'DELETE', `/v1/messages/${messageId}`);
    await reaches(messageId);
    const events = await webhookEventsOf(messageId);

    // Assess
    expect(cancel.status).toBe(200);
    expectTransitions(messageId, events, ['accepted', 'cancelled']);
  });

  it('a stored message whose life ends before the login: stored, expired', async () => {
    // Prepare
    const user = newUserId('events');
    const rid = newRegistrationId();
    system.simulator?.setDevice(rid, { online: true, autoAck: true });
    const messageId = await send({
      to: user,
      body: 'Your code is valid for a moment.',
      policy: { expiresInSeconds: 10 },
    });
    await reaches(messageId, ['stored']);

    // Act: past its life (10 s: a message's life is clock time), the user
    // logs in.
    await eventually(async () => {
      const m = await api(system, 'GET', `/v1/messages/${messageId}`);
      return m.json.status === 'expired' ? true : undefined;
    }, 'the message to read as expired');
    await loginVia(system, user, rid);
    await reaches(messageId);
    const events = await webhookEventsOf(messageId);

    // Assess
    expectTransitions(messageId, events, ['accepted', 'stored', 'expired']);
  });
  // Last: it leaves this system's JPush refusing every call.
  it('a message JPush refuses for good: accepted, failed, with the reason', async () => {
    // Prepare: the master secret rotated at JPush, not in the secret store.
    const { user } = await phone({ online: true, autoAck: false });
    const rotated = await api(system, 'PUT', '/local/jpush/master-secret', {
      masterSecret: 'rotatedMasterSecret00001',
    });
    expect(rotated.status).toBe(200);

    // Act
    const messageId = await send({ to: user, body: 'Your code is 4711.' });
    await reaches(messageId);
    const events = await webhookEventsOf(messageId);

    // Assess
    expectTransitions(messageId, events, ['accepted', 'failed']);
    expect(events[1]?.detail.failureReason).toContain('401');
  });
});
