import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  api,
  eventually,
  loginVia,
  logoutVia,
  newRegistrationId,
  newUserId,
} from '../helpers/local-system.ts';
import { type ChildScript, freePort, runScript } from './child-process.ts';

// `npm start`'s entry as a child process on a free port, driven over HTTP
// only. Waits run in real time (TIME_SCALE 1) with 1-second intervals: every
// scenario here runs at the pace a person sees in the demo.
const STARTUP_MS = 120_000;
const ONCALL = ['+15555550100', '+15555550101'];

/** Variables that would change what the child does, removed. */
const CLEAN_ENV = {
  JPUSH_APP_KEY: undefined,
  JPUSH_MASTER_SECRET: undefined,
  LOCAL_DATA_DIR: undefined,
  SMS_COUNTRIES: undefined,
  SMS_PER_NUMBER_PER_HOUR: undefined,
  SMS_DAILY_CAP: undefined,
  ON_CALL_SMS_INCLUDES_TITLE: undefined,
  NO_COLOR: '1',
};

interface Timeline {
  at: string;
  event: string;
  detail?: string;
  confirmedBy?: string;
}
interface MessageView {
  messageId: string;
  to: string;
  from?: string;
  status: string;
  attempts: number;
  confirmedBy?: string;
  createdAt: string;
  updatedAt: string;
  timeline: Timeline[];
}

let start: ChildScript;
let url: string;
const system = { url: '' };

/** The backend's outcome webhook: every event POSTed to it, as received. */
const webhook = {
  url: '',
  received: [] as Array<{
    'detail-type': string;
    detail: Record<string, unknown>;
  }>,
  server: createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      webhook.received.push(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      res.writeHead(204).end();
    });
  }),
};

beforeAll(async () => {
  await new Promise<void>((resolve) =>
    webhook.server.listen(0, '127.0.0.1', () => resolve())
  );
  webhook.url = `http://127.0.0.1:${(webhook.server.address() as AddressInfo).port}/hooks/outcomes`;
  const port = await freePort();
  start = runScript('local/start.ts', {
    ...CLEAN_ENV,
    HOST: '127.0.0.1',
    PORT: String(port),
    TIME_SCALE: '1',
    ONCALL_PHONE_NUMBERS: ONCALL.join(','),
    // Each scenario's escalation pages on its own (grouping has its own
    // test in sms-limits.int.test.ts).
    ON_CALL_WINDOW_SECONDS: '1',
    OUTCOME_WEBHOOK_URL: webhook.url,
  });
  const match = await start.waitFor(
    /Local system listening on (http:\/\/\S+)/,
    STARTUP_MS
  );
  url = match[1] as string;
  system.url = url;
}, STARTUP_MS + 10_000);

afterAll(async () => {
  await start?.kill();
  webhook.server.closeAllConnections();
  webhook.server.close();
});

const send = async (body: Record<string, unknown>) => {
  const res = await api(system, 'POST', '/v1/messages', body);
  expect(res.status).toBe(202);
  return res.json as { messageId: string; status: string };
};

const getMessage = async (messageId: string): Promise<MessageView> => {
  const res = await api(system, 'GET', `/v1/messages/${messageId}`);
  expect(res.status).toBe(200);
  return res.json as MessageView;
};

const until = (
  messageId: string,
  done: (m: MessageView) => boolean,
  what: string,
  ms = 20_000
) =>
  eventually(
    async () => {
      const m = await getMessage(messageId);
      return done(m) ? m : undefined;
    },
    what,
    ms
  );

const phone = async (rid: string, settings: Record<string, unknown>) => {
  const res = await api(system, 'PUT', `/local/devices/${rid}`, settings);
  expect(res.status).toBe(200);
};

const device = async (rid: string) => {
  const res = await api(system, 'GET', `/local/devices/${rid}`);
  expect(res.status).toBe(200);
  return res.json as {
    alias: string | null;
    online: boolean;
    received: Array<{ msgId: string; extras: Record<string, unknown> }>;
  };
};

const login = (userId: string, registrationId: string) =>
  loginVia(system, userId, registrationId);

const logout = (userId: string, registrationId: string) =>
  logoutVia(system, userId, registrationId);

const events = (m: MessageView, name: string) =>
  m.timeline.filter((e) => e.event === name);

/** The console shows `label  subject  text` lines; waits for one. */
const consoleLine = (label: string, subject: string, text = '') =>
  start.waitFor(
    new RegExp(
      `^\\d\\d:\\d\\d:\\d\\d\\.\\d{3}  ${escapeRegExp(label)}\\s+${escapeRegExp(subject)}  .*${escapeRegExp(text)}`,
      'm'
    ),
    10_000
  );

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

describe('npm start (the local mode as a child process)', () => {
  it('prints the API, live page and simulator URLs and its settings', () => {
    // Prepare
    const output = start.output();

    // Act
    const lines = output.split('\n');

    // Assess
    expect(lines).toContain(`  Live page   ${url}/`);
    expect(output).toContain(`  API         ${url}/v1/messages`);
    expect(output).toMatch(
      new RegExp(
        `Simulator {3}${escapeRegExp(url)}/local/devices {2}\\(JPush simulator`
      )
    );
    expect(output).toContain(`  SMS sent    ${url}/local/sms`);
    expect(output).toContain('dynalite in memory');
    expect(output).toContain('Time scale  1 (waits run in real time)');
    expect(output).toContain(`On-call     ${ONCALL.join(', ')}`);
    expect(output).toContain('ACKs        token and registrationId');
  });

  it('serves a self-contained live page and the local-only JSON routes', async () => {
    // Prepare
    const fetchText = async (path: string) => {
      const res = await fetch(`${url}${path}`);
      return { res, text: await res.text() };
    };

    // Act
    const page = await fetchText('/');
    const messages = await api(system, 'GET', '/local/messages');
    const devices = await api(system, 'GET', '/local/devices');
    const sms = await api(system, 'GET', '/local/sms');
    const postMessages = await api(system, 'POST', '/local/messages', {});

    // Assess
    expect(page.res.status).toBe(200);
    expect(page.res.headers.get('content-type')).toMatch(/^text\/html/);
    expect(page.text).toMatch(/^<!doctype html>/);
    expect(page.text).toContain('<style>');
    expect(page.text).toContain("new EventSource('/local/live-events')");
    // No external assets: nothing is loaded from another origin.
    expect(page.text).not.toMatch(/(src|href)=["']?(https?:)?\/\//);
    expect(messages.status).toBe(200);
    expect(Array.isArray(messages.json)).toBe(true);
    expect(devices.status).toBe(200);
    expect(Array.isArray(devices.json)).toBe(true);
    expect(sms.status).toBe(200);
    expect(Array.isArray(sms.json)).toBe(true);
    expect(postMessages.status).toBe(405);
    expect(postMessages.json.error.code).toBe('MethodNotAllowed');
  });

  it('delivers a message to an online auto-ACK phone: pushed once, acknowledged, shown on the console', async () => {
    // Prepare
    const user = newUserId('alice');
    const rid = newRegistrationId();
    await phone(rid, { online: true, autoAck: true });
    const session = await login(user, rid);

    // Act
    const request = {
      to: user,
      from: 'ops_bot',
      title: 'Order 1009 shipped',
      body: 'Your parcel left the warehouse.',
      data: { orderId: '1009' },
      idempotencyKey: `order-1009-${user}`,
      policy: { intervalSeconds: 1, maxAttempts: 3 },
    };
    const sent = await send(request);
    const replay = await fetch(`${url}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(request),
    });
    const again = (await replay.json()) as { messageId: string };
    const reused = await api(system, 'POST', '/v1/messages', {
      to: user,
      body: 'Another text under the same key.',
      idempotencyKey: `order-1009-${user}`,
    });
    const message = await until(
      sent.messageId,
      (m) => m.status === 'acknowledged',
      'acknowledged'
    );

    // Assess
    expect(session.drained).toBe(0);
    expect(sent.status).toBe('sending');
    expect(replay.status).toBe(202);
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    expect(again.messageId).toBe(sent.messageId);
    expect(reused.status).toBe(409);
    expect(reused.json.error.code).toBe('Conflict');
    expect(message).toMatchObject({
      messageId: sent.messageId,
      to: user,
      from: 'ops_bot',
      attempts: 1,
    });
    expect(Date.parse(message.createdAt)).not.toBeNaN();
    expect(Date.parse(message.updatedAt)).not.toBeNaN();
    expect(events(message, 'pushed')).toHaveLength(1);
    expect(events(message, 'pushed')[0]?.detail).toMatch(/JPush msg_id \d{17}/);
    const d = await device(rid);
    expect(d.alias).toBe(user);
    expect(d.received).toHaveLength(1);
    expect(d.received[0]?.extras).toMatchObject({
      messageId: sent.messageId,
      to: user,
      ackToken: expect.any(String),
    });
    const all = await api(system, 'GET', '/local/messages');
    expect(
      (all.json as MessageView[]).find((m) => m.messageId === sent.messageId)
        ?.timeline
    ).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ event: 'acknowledged' }),
      ])
    );
    await consoleLine('login', user, `logged in on phone ${rid}`);
    await consoleLine(
      'accepted',
      sent.messageId,
      `chat message from ops_bot to ${user}`
    );
    const msgId = /msg_id (\d{17})/.exec(
      events(message, 'pushed')[0]?.detail ?? ''
    )?.[1] as string;
    await consoleLine('pushed', sent.messageId, `JPush msg_id ${msgId}`);
    await consoleLine(
      'on phone',
      sent.messageId,
      `phone ${rid} received JPush msg_id ${msgId}`
    );
    await consoleLine('acknowledged', sent.messageId);
    await consoleLine('status', sent.messageId, 'sending → acknowledged');
  });

  it("ends acknowledged by an iOS phone's Notification Service Extension: the app does not run and the notification is never opened", async () => {
    // Prepare
    const user = newUserId('ios');
    const rid = newRegistrationId();
    await phone(rid, {
      platform: 'ios',
      online: true,
      autoAck: false,
      extension: true,
    });
    await loginVia(system, user, rid, 'ios');

    // Act
    const sent = await send({
      to: user,
      body: 'Your parcel left the warehouse.',
      policy: { intervalSeconds: 5, maxAttempts: 2 },
    });
    const message = await until(
      sent.messageId,
      (m) => m.status === 'acknowledged',
      'acknowledged by the extension'
    );

    // Assess
    expect(message.attempts).toBe(1);
    expect(events(message, 'pushed')).toHaveLength(1);
    expect(events(message, 'report')).toEqual([]);
    const shown = await api(system, 'GET', `/local/devices/${rid}`);
    expect(shown.json).toMatchObject({
      platform: 'ios',
      extension: true,
      autoAck: false,
      received: [{ serviceExtension: true, collapseId: sent.messageId }],
    });
  });

  it('an app that never ACKs is confirmed by the report under `report`', async () => {
    // Prepare: the app has no ACK yet; JPush reports the phone got it.
    const user = newUserId('noack');
    const rid = newRegistrationId();
    await phone(rid, { online: true, autoAck: false });
    await login(user, rid);

    // Act
    const sent = await send({
      to: user,
      body: 'Your parcel left the warehouse.',
      policy: { intervalSeconds: 1, maxAttempts: 2, confirmBy: 'report' },
    });
    const message = await until(
      sent.messageId,
      (m) => m.status === 'acknowledged',
      'acknowledged by the report'
    );

    // Assess
    expect(message).toMatchObject({ attempts: 1, confirmedBy: 'report' });
    expect(events(message, 'acknowledged')).toEqual([
      expect.objectContaining({
        confirmedBy: 'report',
        detail: expect.stringContaining(`delivered to ${rid}`),
      }),
    ]);
    expect(events(message, 'escalated')).toEqual([]);
    expect((await device(rid)).received).toHaveLength(1);
  });

  it('an Android vendor-channel phone is confirmed under `ackOrReport`', async () => {
    // Prepare: notifications come through the maker's channel, so the
    // app's code never runs and nothing ACKs, whatever autoAck says.
    const user = newUserId('vendor');
    const rid = newRegistrationId();
    await phone(rid, { online: true, autoAck: true, vendorChannel: true });
    await login(user, rid);

    // Act
    const sent = await send({
      to: user,
      body: 'Your code is 4711.',
      policy: { intervalSeconds: 1, maxAttempts: 2, confirmBy: 'ackOrReport' },
    });
    const message = await until(
      sent.messageId,
      (m) => m.status === 'acknowledged',
      'acknowledged by the report'
    );

    // Assess
    expect(message).toMatchObject({ attempts: 1, confirmedBy: 'report' });
    expect(events(message, 'acknowledged')[0]?.confirmedBy).toBe('report');
    expect(events(message, 'escalated')).toEqual([]);
    const shown = await api(system, 'GET', `/local/devices/${rid}`);
    expect(shown.json).toMatchObject({
      vendorChannel: true,
      received: [{ vendorChannel: true }],
    });
  });

  it('escalates a message the phone never acknowledges after 2 attempts, with the SMS in /local/sms', async () => {
    // Prepare
    const user = newUserId('carol');
    const rid = newRegistrationId();
    await phone(rid, { online: true, autoAck: false });
    await login(user, rid);

    // Act
    const sent = await send({
      to: user,
      title: 'Server down',
      body: 'Database primary unreachable.',
      policy: { intervalSeconds: 1, maxAttempts: 2 },
      escalation: { onCall: true, smsTo: '+8613800000000' },
    });
    const message = await until(
      sent.messageId,
      (m) => m.status === 'escalated' && events(m, 'sms-sent').length >= 2,
      'escalated, both SMS sent'
    );
    const sms = await api(system, 'GET', '/local/sms');

    // Assess
    expect(message.attempts).toBe(2);
    const ours = (sms.json as Array<{ to: string; text: string; at: string }>)
      .filter((s) => s.at >= message.createdAt)
      .filter(
        (s) =>
          s.text.includes(sent.messageId) ||
          s.text === 'Server down: Database primary unreachable.'
      );
    expect(ours.map((s) => s.to).sort()).toEqual(
      [...ONCALL, '+8613800000000'].sort()
    );
    expect(ours.every((s) => !Number.isNaN(Date.parse(s.at)))).toBe(true);
    await consoleLine(
      'escalated',
      sent.messageId,
      'not acknowledged after 2 attempt(s)'
    );
    await consoleLine(
      'SMS',
      '+8613800000000',
      'Server down: Database primary unreachable.'
    );
    await consoleLine('SMS', ONCALL[1] as string, 'Push not acknowledged');
  });

  it('refuses a forged ACK token with 403 and changes nothing; the real token is accepted', async () => {
    // Prepare
    const user = newUserId('ivy');
    const rid = newRegistrationId();
    await phone(rid, { online: true, autoAck: false });
    await login(user, rid);
    const sent = await send({
      to: user,
      body: 'Ack me.',
      policy: { intervalSeconds: 30, maxAttempts: 1 },
    });
    const token = await eventually(
      async () => (await device(rid)).received[0]?.extras.ackToken as string,
      'the push on the phone'
    );
    // The phone may have the push before the Push step records it.
    const before = await until(
      sent.messageId,
      (m) => events(m, 'pushed').length > 0,
      'the push in the timeline'
    );

    // Act
    const forged = await api(
      system,
      'POST',
      `/v1/messages/${sent.messageId}/ack`,
      {
        token: `${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}`,
        registrationId: rid,
      }
    );
    const otherMessage = await api(
      system,
      'POST',
      '/v1/messages/m0000000000000000000000000/ack',
      { token, registrationId: rid }
    );
    const afterForged = await getMessage(sent.messageId);
    const real = await api(
      system,
      'POST',
      `/v1/messages/${sent.messageId}/ack`,
      { token, registrationId: rid }
    );
    const repeated = await api(
      system,
      'POST',
      `/v1/messages/${sent.messageId}/ack`,
      { token, registrationId: rid }
    );
    const after = await getMessage(sent.messageId);

    // Assess
    expect(forged.status).toBe(403);
    expect(forged.json.error).toEqual({
      code: 'Forbidden',
      message: expect.any(String),
    });
    expect(otherMessage.status).toBe(403);
    expect(afterForged.timeline).toEqual(before.timeline);
    expect(afterForged.status).toBe(before.status);
    expect(real.status).toBe(204);
    expect(repeated.status).toBe(204);
    expect(after.status).toBe('acknowledged');
    expect(events(after, 'acknowledged')).toHaveLength(1);
  });

  it('pushes again while the phone is offline and ends with one copy on it once it is online', async () => {
    // Prepare
    const user = newUserId('bob');
    const rid = newRegistrationId();
    await phone(rid, { online: false, autoAck: true });
    await login(user, rid);

    // Act
    const sent = await send({
      to: user,
      body: 'Meeting moved to 3 pm.',
      policy: { intervalSeconds: 1, maxAttempts: 10 },
    });
    await until(
      sent.messageId,
      (m) => events(m, 'pushed').length >= 2,
      'a second push'
    );
    await phone(rid, { online: true });
    const message = await until(
      sent.messageId,
      (m) => m.status === 'acknowledged',
      'acknowledged'
    );

    // Assess
    const pushes = events(message, 'pushed').length;
    expect(pushes).toBeGreaterThanOrEqual(2);
    expect(
      events(message, 'report')
        .slice(0, pushes - 1)
        .every((r) => /delivered to 0 of 1/.test(r.detail ?? ''))
    ).toBe(true);
    expect((await device(rid)).received).toHaveLength(1);
    await consoleLine('phone', rid, 'online');
  });

  it('stores a message for a logged-out user and delivers it when the user logs in again', async () => {
    // Prepare
    const user = newUserId('dave');
    const rid = newRegistrationId();
    await phone(rid, { online: true, autoAck: true });
    await login(user, rid);
    await logout(user, rid);
    await logout(user, rid);

    // Act
    const sent = await send({
      to: user,
      body: 'Your invoice is ready.',
      policy: { intervalSeconds: 1 },
    });
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const waiting = await getMessage(sent.messageId);
    const onPhoneBefore = (await device(rid)).received.length;
    const relogin = await login(user, rid);
    const message = await until(
      sent.messageId,
      (m) => m.status === 'acknowledged',
      'acknowledged after the drain'
    );

    // Assess
    expect(sent.status).toBe('stored');
    expect(waiting.status).toBe('stored');
    expect(onPhoneBefore).toBe(0);
    expect(relogin.drained).toBe(1);
    expect(events(message, 'drained')).toHaveLength(1);
    expect((await device(rid)).received).toHaveLength(1);
    await consoleLine('logout', user, `session on phone ${rid} ended`);
    await consoleLine('stored', sent.messageId, 'no session');
    await consoleLine('drained', sent.messageId);
  });

  it('never lets a message for A reach the phone B took over after A logged out', async () => {
    // Prepare
    const a = newUserId('erin');
    const b = newUserId('frank');
    const rid = newRegistrationId();
    await phone(rid, { online: true, autoAck: true });
    await login(a, rid);
    await logout(a, rid);
    await login(b, rid);

    // Act
    const toA = await send({
      to: a,
      body: 'For A only.',
      policy: { intervalSeconds: 1 },
    });
    const toB = await send({
      to: b,
      body: 'For B.',
      policy: { intervalSeconds: 1 },
    });
    await until(
      toB.messageId,
      (m) => m.status === 'acknowledged',
      'B acknowledged'
    );
    await new Promise((resolve) => setTimeout(resolve, 1500));

    // Assess
    const d = await device(rid);
    expect(d.alias).toBe(b);
    expect(toA.status).toBe('stored');
    expect((await getMessage(toA.messageId)).status).toBe('stored');
    expect(d.received.map((p) => p.extras.to)).toEqual([b]);
  });

  it("refuses the old phone's ACK after an account switch, once the message is stored again and re-delivered to the user's new phone", async () => {
    // Prepare: A's message reaches phone 1, whose app does not ACK it.
    const a = newUserId('gina');
    const b = newUserId('hank');
    const phone1 = newRegistrationId();
    const phone2 = newRegistrationId();
    await phone(phone1, { online: true, autoAck: false });
    await phone(phone2, { online: true, autoAck: false });
    await login(a, phone1);
    const sent = await send({
      to: a,
      body: 'For A, wherever A is.',
      policy: { intervalSeconds: 60, maxAttempts: 3 },
    });
    const first = await eventually(
      async () =>
        (await device(phone1)).received.find(
          (p) => p.extras.messageId === sent.messageId
        ),
      'the push on phone 1'
    );
    const token = String(first.extras.ackToken);
    const ack = (body: Record<string, unknown>) =>
      api(system, 'POST', `/v1/messages/${sent.messageId}/ack`, body);

    // Act: A logs out of phone 1 and B logs in there (an account switch): A
    // has no session left, so the message is stored again.
    await logout(a, phone1);
    await login(b, phone1);
    await until(sent.messageId, (m) => m.status === 'stored', 'stored again');
    const whileStored = await ack({ token, registrationId: phone1 });
    // A logs in on phone 2: the message's next delivery pushes there.
    await login(a, phone2);
    const second = await eventually(
      async () =>
        (await device(phone2)).received.find(
          (p) => p.extras.messageId === sent.messageId
        ),
      'the push on phone 2'
    );
    const oldPhone = await ack({ token, registrationId: phone1 });
    const tokenOnly = await ack({ token });
    const beforeAck = await getMessage(sent.messageId);
    const newPhone = await ack({
      token: String(second.extras.ackToken),
      registrationId: phone2,
    });
    const after = await getMessage(sent.messageId);

    // Assess
    expect(whileStored.status).toBe(403);
    expect(oldPhone.status).toBe(403);
    expect(oldPhone.json).toEqual(whileStored.json);
    expect(oldPhone.json.error.code).toBe('Forbidden');
    expect(tokenOnly.status).toBe(400);
    expect(tokenOnly.json.error).toEqual({
      code: 'ValidationError',
      message: expect.stringContaining('registrationId'),
    });
    expect(beforeAck.status).toBe('sending');
    expect(events(beforeAck, 'acknowledged')).toEqual([]);
    expect(second.extras.ackToken).toBe(token);
    expect(newPhone.status).toBe(204);
    expect(after.status).toBe('acknowledged');
    expect(events(after, 'drained')).toHaveLength(1);
  });

  it("lists a user's messages newest first, page by page, with chat messages in both users' history", async () => {
    // Prepare
    const alice = newUserId('alice');
    const bob = newUserId('bob');
    const first = await send({ to: alice, from: bob, body: 'Hi Alice' });
    const second = await send({ to: alice, body: 'Your order shipped' });

    // Act
    const page1 = await api(
      system,
      'GET',
      `/v1/users/${alice}/messages?limit=1`
    );
    const page2 = await api(
      system,
      'GET',
      `/v1/users/${alice}/messages?limit=1&cursor=${encodeURIComponent(page1.json.nextCursor)}`
    );
    const bobs = await api(system, 'GET', `/v1/users/${bob}/messages`);

    // Assess
    expect(page1.status).toBe(200);
    expect(page1.json.items.map((m: MessageView) => m.messageId)).toEqual([
      second.messageId,
    ]);
    expect(typeof page1.json.nextCursor).toBe('string');
    expect(page2.status).toBe(200);
    expect(page2.json.items.map((m: MessageView) => m.messageId)).toEqual([
      first.messageId,
    ]);
    expect(bobs.json.items.map((m: MessageView) => m.messageId)).toEqual([
      first.messageId,
    ]);
  });

  it('answers bad input with a 4xx JSON error, never a 5xx', async () => {
    // Prepare
    const rid = newRegistrationId();
    const cases: Array<[string, string, string | undefined, number]> = [
      ['POST', '/v1/messages', '{"to":', 400],
      ['POST', '/v1/messages', '', 400],
      ['POST', '/v1/messages', '[]', 400],
      ['POST', '/v1/messages', '{"to":"a","body":"x","colour":"red"}', 400],
      ['POST', '/v1/messages', '{"to":"a b","body":"x"}', 400],
      [
        'POST',
        '/v1/messages',
        JSON.stringify({ to: 'x'.repeat(41), body: 'x' }),
        400,
      ],
      ['POST', '/v1/messages', '{"to":"a"}', 400],
      [
        'POST',
        '/v1/messages',
        '{"to":"a","body":"x","policy":{"intervalSeconds":0}}',
        400,
      ],
      [
        'POST',
        '/v1/messages',
        '{"to":"a","body":"x","policy":{"maxAttempts":"3"}}',
        400,
      ],
      [
        'POST',
        '/v1/messages',
        '{"to":"a","body":"x","escalation":{"smsTo":"123"}}',
        400,
      ],
      // An international premium network, and a country outside smsCountries.
      [
        'POST',
        '/v1/messages',
        '{"to":"a","body":"x","escalation":{"smsTo":"+88212345678"}}',
        400,
      ],
      [
        'POST',
        '/v1/messages',
        '{"to":"a","body":"x","escalation":{"smsTo":"+4915123456789"}}',
        400,
      ],
      ['GET', '/v1/messages/no-such-message', undefined, 404],
      // Past DynamoDB's 2 KB key limit: refused before any read.
      ['GET', `/v1/messages/${'m'.repeat(3000)}`, undefined, 400],
      ['POST', `/v1/messages/${'m'.repeat(3000)}/ack`, '{"token":"a"}', 400],
      ['GET', '/v1/messages/m%E0%A4%A', undefined, 400],
      ['GET', '/v1/users/u%ZZ/messages', undefined, 400],
      ['GET', '/v1/users/u/messages?__proto__=x', undefined, 400],
      ['GET', '/v1/users/u/messages?constructor=x', undefined, 400],
      [
        'POST',
        '/v1/messages',
        '{"to":"a","body":"x","data":{"constructor":"y"}}',
        400,
      ],
      ['POST', '/v1/messages', '{"to":"a","body":"x","__proto__":{}}', 400],
      ['GET', '/v1/users/bad%20id/messages', undefined, 400],
      ['GET', '/v1/users/u/messages?limit=0', undefined, 400],
      ['GET', '/v1/users/u/messages?limit=abc', undefined, 400],
      ['GET', '/v1/users/u/messages?limit=1000', undefined, 400],
      ['GET', '/v1/users/u/messages?cursor=not-a-cursor', undefined, 400],
      ['POST', '/v1/sessions', '{"userId":', 400],
      [
        'POST',
        '/v1/sessions',
        `{"userId":"u","registrationId":"${rid}","platform":"windows"}`,
        400,
      ],
      [
        'POST',
        '/v1/sessions',
        '{"userId":"u","registrationId":"x","platform":"android"}',
        400,
      ],
      [
        'POST',
        '/v1/sessions',
        `{"userId":"u","registrationId":"${rid}","platform":"android","extra":1}`,
        400,
      ],
      ['DELETE', `/v1/sessions/bad%20user/${rid}`, undefined, 400],
      ['DELETE', '/v1/sessions/u/x', undefined, 400],
      ['POST', '/v1/messages/no-such-message/ack', '{}', 400],
      ['POST', '/v1/messages/no-such-message/ack', '{"token":', 400],
      ['POST', '/v1/messages/no-such-message/ack', '{"token":"abc"}', 400],
      [
        'POST',
        '/v1/messages/no-such-message/ack',
        '{"token":"abc","registrationId":"1a00/../x"}',
        400,
      ],
      [
        'POST',
        '/v1/messages/no-such-message/ack',
        `{"token":"abc","registrationId":"${rid}"}`,
        403,
      ],
      ['PUT', '/local/devices/1a00189700000000', '{"online":', 400],
      ['PUT', '/local/devices/1a00189700000000', '{"online":"yes"}', 400],
      ['GET', '/local/devices/1a00000000unknown', undefined, 404],
      ['GET', '/v1/nothing', undefined, 404],
      ['DELETE', '/v1/messages', undefined, 405],
      ['POST', '/local/live-events', '{}', 405],
    ];

    // Act
    const answers = await Promise.all(
      cases.map(async ([method, path, body]) => {
        const res = await fetch(`${url}${path}`, {
          method,
          ...(body === undefined
            ? {}
            : { headers: { 'content-type': 'application/json' }, body }),
        });
        const text = await res.text();
        return { status: res.status, text };
      })
    );

    // Assess
    answers.forEach((answer, i) => {
      const [method, path, body, status] = cases[i] as (typeof cases)[number];
      const what = `${method} ${path} ${body ?? ''} → ${answer.status} ${answer.text}`;
      expect(answer.status, what).toBe(status);
      expect(JSON.parse(answer.text), what).toEqual({
        error: { code: expect.any(String), message: expect.any(String) },
      });
    });
    const all = await api(system, 'GET', '/local/messages');
    expect(
      (all.json as MessageView[]).filter((m) => m.to === 'a' || m.to === 'u')
    ).toEqual([]);
  });

  it("refuses another site's page (its Origin, a rebound Host) with the error envelope, and serves curl", async () => {
    // Prepare
    const user = newUserId('csrf');
    const { port } = new URL(url);
    const rebound = () =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = request(
          `${url}/local/messages`,
          { headers: { host: `attacker.example:${port}` } },
          (res) => {
            let body = '';
            res.on('data', (chunk: Buffer) => {
              body += chunk.toString('utf8');
            });
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
          }
        );
        req.on('error', reject);
        req.end();
      });

    // Act
    const forged = await fetch(`${url}/v1/messages`, {
      method: 'POST',
      headers: {
        origin: 'https://attacker.example',
        'content-type': 'text/plain',
      },
      body: JSON.stringify({ to: user, body: 'forged' }),
    });
    const misdirected = await rebound();
    const curl = await api(system, 'GET', `/v1/users/${user}/messages`);

    // Assess
    expect(forged.status).toBe(403);
    expect(await forged.json()).toEqual({
      error: {
        code: 'Forbidden',
        message: expect.stringContaining('another site'),
      },
    });
    expect(misdirected.status).toBe(421);
    expect(JSON.parse(misdirected.body).error).toEqual({
      code: 'MisdirectedRequest',
      message: expect.stringContaining('DNS rebinding'),
    });
    expect(curl.status).toBe(200);
    expect(curl.json.items).toEqual([]);
  });

  it('streams every event over Server-Sent Events', async () => {
    // Prepare
    const user = newUserId('sse');
    const controller = new AbortController();
    const res = await fetch(`${url}/local/live-events`, {
      signal: controller.signal,
    });
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    const decoder = new TextDecoder();
    let received = '';

    // Act
    const sent = await send({ to: user, body: 'Over the stream.' });
    try {
      const deadline = Date.now() + 10_000;
      const stored = new RegExp(
        `"messageId":"${sent.messageId}","to":"[^"]*","event":"stored"`
      );
      while (!stored.test(received)) {
        if (Date.now() > deadline)
          throw new Error(`No stored event in ${received}`);
        const { value, done } = await reader.read();
        if (done) break;
        received += decoder.decode(value, { stream: true });
      }
    } finally {
      controller.abort();
    }

    // Assess
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const ours = received
      .split('\n\n')
      .map((block) => /^data: (.*)$/m.exec(block)?.[1])
      .filter((data): data is string => data !== undefined)
      .map((data) => JSON.parse(data))
      .filter((e) => e.messageId === sent.messageId);
    expect(ours.map((e) => e.event)).toEqual(['accepted', 'stored']);
    expect(ours[0]).toMatchObject({
      kind: 'timeline',
      label: 'accepted',
      subject: sent.messageId,
      to: user,
      seq: expect.any(Number),
    });
  });

  it('runs npm run demo against it: every scenario as the seed says', async () => {
    // Prepare
    const demo = runScript('local/demo.ts', { ...CLEAN_ENV, DEMO_URL: url });

    // Act
    const code = await demo.exited;

    // Assess
    const output = demo.output();
    expect(code, output).toBe(0);
    for (const title of ['(a)', '(b)', '(c)', '(d)', '(e)']) {
      expect(output).toContain(`\n${title} `);
    }
    expect(output).not.toContain('✗');
    expect(output).toContain('All 5 scenarios went as expected');
    expect(output).toMatch(/the login drained 1 stored message\n/);
  }, 90_000);

  describe('npm start: the API document', () => {
    it('serves the OpenAPI document at /openapi.json and its reference page at /docs', async () => {
      // Act
      const document = await api(system, 'GET', '/openapi.json');
      const docs = await fetch(`${url}/docs`);
      const page = await docs.text();

      // Assess
      expect(start.output()).toContain(`API docs    ${url}/docs`);
      expect(document.status).toBe(200);
      expect(document.json).toMatchObject({
        openapi: expect.stringMatching(/^3\.1/),
      });
      expect(Object.keys(document.json.paths)).toContain('/v1/messages');
      expect(docs.status).toBe(200);
      expect(docs.headers.get('content-type')).toContain('text/html');
      expect(page).toContain('/v1/messages/{messageId}/ack');
    });
  });

  describe('npm start: outcome events', () => {
    it('POSTs each status change of a message to OUTCOME_WEBHOOK_URL, in order, and lists them at /local/events', async () => {
      // Prepare
      const user = newUserId('hook');
      const rid = newRegistrationId();
      await phone(rid, { online: true, autoAck: true });
      await login(user, rid);

      // Act
      const sent = await send({ to: user, body: 'Order 1009 shipped' });
      await until(
        sent.messageId,
        (m) => m.status === 'acknowledged',
        'the ACK'
      );
      const posted = await eventually(() => {
        const mine = webhook.received.filter(
          (e) => e.detail.messageId === sent.messageId
        );
        return mine.length >= 2 ? mine : undefined;
      }, 'the webhook to receive the events');
      const listed = await api(
        system,
        'GET',
        `/local/events?messageId=${sent.messageId}`
      );

      // Assess
      expect(start.output()).toContain(
        `Outcomes    ${url}/local/events  (outcome events, as EventBridge gets them); POSTed to ${webhook.url}`
      );
      expect(
        posted.map((e) => [
          e['detail-type'],
          e.detail.status,
          e.detail.previousStatus,
        ])
      ).toEqual([
        ['Message Accepted', 'sending', null],
        ['Message Acknowledged', 'acknowledged', 'sending'],
      ]);
      expect(posted[1]?.detail).toMatchObject({
        confirmedBy: 'ack',
        to: user,
        eventId: `${sent.messageId}.${posted[1]?.detail.sequence}.acknowledged`,
      });
      expect(listed.status).toBe(200);
      expect(listed.json).toEqual(posted);
    });
  });

  it('stops on SIGINT: closes everything and exits 0 within a few seconds', async () => {
    // Act
    const code = await start.stop('SIGINT', 10_000);

    // Assess
    expect(code).toBe(0);
    expect(start.output()).toContain('\nSIGINT: stopping...\n');
    expect(start.output()).toMatch(/\nStopped\.\n$/);
    await expect(fetch(`${url}/local/sms`)).rejects.toThrow();
  });
});

describe('npm start with a bad setting', () => {
  it('stops at once with exit code 2 when OUTCOME_WEBHOOK_URL is not an http(s) URL', async () => {
    // Prepare
    const bad = runScript('local/start.ts', {
      ...CLEAN_ENV,
      PORT: String(await freePort()),
      OUTCOME_WEBHOOK_URL: 'ftp://127.0.0.1/outcomes',
    });

    // Act
    const code = await bad.exited;

    // Assess
    expect(code).toBe(2);
    expect(bad.output()).toContain(
      'npm start: OUTCOME_WEBHOOK_URL: "ftp://127.0.0.1/outcomes" must be an http or https URL'
    );
  });

  it('stops at once with exit code 2 when ACK_REQUIRES_DEVICE is not true or false', async () => {
    // Prepare
    const bad = runScript('local/start.ts', {
      ...CLEAN_ENV,
      PORT: String(await freePort()),
      ACK_REQUIRES_DEVICE: 'maybe',
    });

    // Act
    const code = await bad.exited;

    // Assess
    expect(code).toBe(2);
    expect(bad.output()).toContain(
      'npm start: ACK_REQUIRES_DEVICE must be true or false, not "maybe".'
    );
  });
});

describe('npm run demo without a running system', () => {
  it('fails with a clear message when nothing answers', async () => {
    // Prepare
    const port = await freePort();
    const demo = runScript('local/demo.ts', {
      ...CLEAN_ENV,
      DEMO_URL: `http://127.0.0.1:${port}`,
    });

    // Act
    const code = await demo.exited;

    // Assess
    expect(code).toBe(1);
    expect(demo.output()).toContain(
      `Nothing answers at http://127.0.0.1:${port}`
    );
    expect(demo.output()).toContain('npm start');
  });
});

describe('npm start with LOCAL_DATA_DIR', () => {
  let dir: string;
  let run: ChildScript | undefined;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'local-mode-data-'));
  });

  afterAll(async () => {
    await run?.kill();
    await rm(dir, { recursive: true, force: true });
  });

  const startWithData = async () => {
    const port = await freePort();
    run = runScript('local/start.ts', {
      ...CLEAN_ENV,
      PORT: String(port),
      LOCAL_DATA_DIR: dir,
    });
    const match = await run.waitFor(
      /Local system listening on (http:\/\/\S+)/,
      STARTUP_MS
    );
    return { url: match[1] as string, run };
  };

  it(
    'keeps messages across a restart and stops on SIGTERM with exit 0',
    async () => {
      // Prepare
      const first = await startWithData();
      const user = newUserId('kept');
      const sent = await api(first, 'POST', '/v1/messages', {
        to: user,
        body: 'Still here?',
      });
      const stopped = await first.run.stop('SIGTERM', 10_000);

      // Act
      const second = await startWithData();
      const after = await api(
        second,
        'GET',
        `/v1/messages/${sent.json.messageId}`
      );
      await second.run.stop('SIGTERM', 10_000);

      // Assess
      expect(sent.status).toBe(202);
      expect(stopped).toBe(0);
      expect(first.run.output()).toContain(`dynalite in ${dir}`);
      expect(second.run.output()).toMatch(
        /holds 1 message\(s\), 0 session\(s\)/
      );
      expect(after.status).toBe(200);
      expect(after.json).toMatchObject({ to: user, status: 'stored' });
    },
    2 * STARTUP_MS + 30_000
  );
});
