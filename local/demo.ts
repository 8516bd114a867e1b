/**
 * `npm run demo`: drives a running local system (`npm start`) over HTTP
 * through the seed's scenarios and prints what happens, step by step:
 * (a) an acknowledged message, (b) an offline phone coming back online,
 * (c) a message never acknowledged, escalated by SMS, (d) logout, a stored
 * message, login drains it, (e) an account switch on one phone.
 *
 * `DEMO_URL` is the system's base URL (default http://127.0.0.1:3000). Every
 * check is made against what the system answers; the exit code is 0 when
 * every scenario went as the seed says, 1 otherwise. It calls the API as a
 * backend would, through the typed client (`client/`), unsigned (local
 * mode checks no signature); the simulator's `/local/*` routes by fetch.
 */
import { randomBytes } from 'node:crypto';
import {
  createPushDeliveryClient,
  type MessageView,
  type PushDeliveryClient,
} from '../client/index.ts';

const base = (process.env.DEMO_URL || 'http://127.0.0.1:3000').replace(
  /\/+$/,
  ''
);
const run = randomBytes(2).toString('hex');
const color = Boolean(process.stdout.isTTY) && !process.env.NO_COLOR;
const paint = (code: string, text: string) =>
  color ? `\u001b[${code}m${text}\u001b[0m` : text;

interface DeviceView {
  registrationId: string;
  alias: string | null;
  online: boolean;
  received: Array<{ msgId: string; extras: Record<string, unknown> }>;
}
interface Reply {
  status: number;
  json: unknown;
  text: string;
}

/** Nothing answers at the base URL. */
class NotRunningError extends Error {}

const TERMINAL: readonly string[] = [
  'acknowledged',
  'escalated',
  'expired',
  'failed',
  'cancelled',
];
let failures = 0;

const call = async (
  method: string,
  path: string,
  body?: unknown
): Promise<Reply> => {
  let res: Response;
  try {
    res = await fetch(`${base}${path}`, {
      method,
      ...(body === undefined
        ? {}
        : {
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify(body),
          }),
      signal: AbortSignal.timeout(15_000),
    });
  } catch (error) {
    throw new NotRunningError(
      `${method} ${base}${path} failed: ${error instanceof Error ? ((error.cause as Error | undefined)?.message ?? error.message) : String(error)}`
    );
  }
  const text = await res.text();
  let json: unknown;
  try {
    json = text === '' ? undefined : JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, json, text };
};

const say = (text: string) => console.log(`  ${paint('1', '▸')} ${text}`);
const show = (method: string, path: string, sent: unknown, reply: Reply) => {
  const cut = (text: string) =>
    text.length > 100 ? `${text.slice(0, 97)}...` : text;
  // What was asked for the controls, what was answered for the API.
  const asked = method === 'PUT' ? ` ${JSON.stringify(sent)}` : '';
  const answered =
    (method === 'POST' || reply.status >= 400) && reply.text
      ? ` ${cut(reply.text)}`
      : '';
  console.log(
    paint('2', `      ${method} ${path}${asked}  → ${reply.status}${answered}`)
  );
};
const plural = (n: number, one: string, many: string) =>
  `${n} ${n === 1 ? one : many}`;
const check = (ok: boolean, text: string) => {
  if (!ok) failures += 1;
  console.log(`  ${ok ? paint('32', '✓') : paint('31', '✗')} ${text}`);
  return ok;
};

/** A request that must answer `expected`; prints it. */
const request = async (
  method: string,
  path: string,
  body: unknown,
  expected: number
): Promise<Reply> => {
  const reply = await call(method, path, body);
  show(method, path, body, reply);
  if (reply.status !== expected) {
    throw new Error(
      `${method} ${path} answered ${reply.status}, expected ${expected}: ${reply.text}`
    );
  }
  return reply;
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The API through the typed client; `printed` prints each call and its
 * answer (the last one, after any retry), `quiet` does not (the polling).
 * Nothing answering (a network error the retries did not cure) is
 * {@link NotRunningError}.
 */
const apiClient = (print: boolean): PushDeliveryClient => {
  const client = createPushDeliveryClient({ baseUrl: base, sign: false });
  client.raw.use({
    onResponse: async ({ request, response }) => {
      if (!print) return;
      const text = await response.clone().text();
      show(request.method, new URL(request.url).pathname, undefined, {
        status: response.status,
        json: undefined,
        text,
      });
    },
    onError: ({ request, error }) =>
      new NotRunningError(
        `${request.method} ${request.url} failed: ${error instanceof Error ? ((error.cause as Error | undefined)?.message ?? error.message) : String(error)}`
      ),
  });
  return client;
};
const printed = apiClient(true);
const quiet = apiClient(false);

const message = (messageId: string): Promise<MessageView> =>
  printed.getMessage(messageId);

/**
 * Prints a message's timeline as it unfolds until `done` holds.
 * @throws Error after `timeoutMs`
 */
const follow = async (
  messageId: string,
  done: (m: MessageView) => boolean,
  what: string,
  printed: { count: number },
  timeoutMs = 30_000
): Promise<MessageView> => {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const m = await quiet.getMessage(messageId);
    for (const entry of m.timeline.slice(printed.count)) {
      const offset = (Date.parse(entry.at) - Date.parse(m.createdAt)) / 1000;
      console.log(
        `        ${paint('2', `+${offset.toFixed(2)} s`.padStart(9))}  ${entry.event.padEnd(14)} ${entry.detail ?? ''}`
      );
    }
    printed.count = m.timeline.length;
    if (done(m)) return m;
    if (Date.now() > deadline) {
      throw new Error(
        `timed out waiting for ${what} (status ${m.status} after ${timeoutMs / 1000} s)`
      );
    }
    await sleep(150);
  }
};

const events = (m: MessageView, name: string) =>
  m.timeline.filter((e) => e.event === name);

const newPhone = () => `1a${randomBytes(8).toString('hex')}`;

const phone = async (
  rid: string,
  settings: Record<string, unknown>
): Promise<void> => {
  await request('PUT', `/local/devices/${rid}`, settings, 200);
};

const device = async (rid: string): Promise<DeviceView> =>
  (await request('GET', `/local/devices/${rid}`, undefined, 200))
    .json as DeviceView;

const login = async (userId: string, rid: string): Promise<number> =>
  (
    await printed.login({
      userId,
      registrationId: rid,
      platform: 'android',
    })
  ).drained;

const logout = (userId: string, rid: string): Promise<void> =>
  printed.logout(userId, rid);

const send = (
  body: Parameters<PushDeliveryClient['sendMessage']>[0]
): Promise<{ messageId: string; status: string }> => printed.sendMessage(body);

const user = (name: string) => `${name}_${run}`;

const scenarios: Array<[string, () => Promise<void>]> = [
  [
    '(a) A message the app acknowledges',
    async () => {
      const rid = newPhone();
      const alice = user('alice');
      say(`phone ${rid} is online; its app acknowledges what it receives`);
      await phone(rid, { online: true, autoAck: true });
      say(`${alice} logs in on it`);
      await login(alice, rid);
      say(`the backend sends "Order 1009 shipped" to ${alice}`);
      const sent = await send({
        to: alice,
        title: 'Order 1009 shipped',
        body: 'Your parcel left the warehouse.',
        data: { orderId: '1009' },
        policy: { intervalSeconds: 1, maxAttempts: 3 },
      });
      const m = await follow(
        sent.messageId,
        (x) => TERMINAL.includes(x.status),
        'the end of the delivery',
        { count: 0 }
      );
      check(
        m.status === 'acknowledged',
        `${m.status} after ${plural(events(m, 'pushed').length, 'push', 'pushes')}`
      );
      const d = await device(rid);
      check(
        d.received.length === 1 &&
          d.received[0]?.extras.messageId === sent.messageId &&
          typeof d.received[0]?.extras.ackToken === 'string',
        `the phone holds ${plural(d.received.length, 'copy', 'copies')}; its extras carry messageId, ackToken and to=${String(d.received[0]?.extras.to)}`
      );
    },
  ],
  [
    '(b) A phone that is offline, then comes back',
    async () => {
      const rid = newPhone();
      const bob = user('bob');
      say(`phone ${rid} is offline (JPush queues what is pushed to it)`);
      await phone(rid, { online: false, autoAck: true });
      say(`${bob} logged in on it earlier`);
      await login(bob, rid);
      say(
        `the backend sends "Meeting moved to 3 pm" (every 1 s, up to 10 attempts)`
      );
      const sent = await send({
        to: bob,
        body: 'Meeting moved to 3 pm.',
        policy: { intervalSeconds: 1, maxAttempts: 10 },
      });
      const printed = { count: 0 };
      await follow(
        sent.messageId,
        (x) => events(x, 'pushed').length >= 2 || TERMINAL.includes(x.status),
        'a second push',
        printed
      );
      say('the phone comes back online');
      await phone(rid, { online: true });
      const m = await follow(
        sent.messageId,
        (x) => TERMINAL.includes(x.status),
        'the end of the delivery',
        printed
      );
      const pushes = events(m, 'pushed').length;
      const reports = events(m, 'report').slice(0, pushes - 1);
      check(m.status === 'acknowledged', `${m.status} after ${pushes} pushes`);
      check(
        pushes >= 2 &&
          reports.every((r) => /delivered to 0 of/.test(r.detail ?? '')),
        'each push again came after a Report that said "not received"'
      );
      const d = await device(rid);
      check(
        d.received.length === 1,
        `the phone holds ${plural(d.received.length, 'copy', 'copies')} (each push replaced the one JPush had queued)`
      );
    },
  ],
  [
    '(c) A message nobody acknowledges: escalated by SMS',
    async () => {
      const rid = newPhone();
      const carol = user('carol');
      const smsTo = '+8613800000000';
      say(`phone ${rid} is online, but its app never acknowledges`);
      await phone(rid, { online: true, autoAck: false });
      say(`${carol} logs in on it`);
      await login(carol, rid);
      say(
        `the backend sends "Server down" (every 1 s, 2 attempts, then SMS to on-call and ${smsTo})`
      );
      const sent = await send({
        to: carol,
        title: 'Server down',
        body: 'Database primary unreachable.',
        policy: { intervalSeconds: 1, maxAttempts: 2 },
        escalation: { onCall: true, smsTo },
      });
      const m = await follow(
        sent.messageId,
        (x) =>
          (TERMINAL.includes(x.status) && x.status !== 'escalated') ||
          (x.status === 'escalated' &&
            events(x, 'sms-sent').length +
              events(x, 'sms-grouped').length +
              events(x, 'sms-failed').length >=
              2),
        'the escalation SMS',
        { count: 0 }
      );
      check(
        m.status === 'escalated',
        `${m.status} after ${m.attempts} attempts`
      );
      say('the SMS sink shows what was sent');
      const sms = (await request('GET', '/local/sms', undefined, 200))
        .json as Array<{ to: string; text: string; at: string }>;
      const ours = sms.filter(
        (s) =>
          s.at >= m.createdAt &&
          (s.text.includes(sent.messageId) ||
            (s.to === smsTo &&
              s.text === 'Server down: Database primary unreachable.'))
      );
      for (const s of ours) {
        console.log(`        SMS to ${s.to}: "${s.text}"`);
      }
      // A run within the on-call window of an earlier escalation (a second
      // demo within 5 minutes) joins that window's summary instead of paging.
      const grouped = events(m, 'sms-grouped')[0];
      if (grouped) {
        console.log(`        on-call: ${grouped.detail}`);
      }
      check(
        ours.some((s) => s.to === smsTo) &&
          (grouped !== undefined ||
            ours.some(
              (s) => s.to !== smsTo && s.text.includes(sent.messageId)
            )),
        grouped
          ? `one SMS to the recipient (${smsTo}); on-call gets the window's summary`
          : `one SMS to the recipient (${smsTo}) and one to on-call`
      );
    },
  ],
  [
    '(d) Logged out: stored, then drained at the next login',
    async () => {
      const rid = newPhone();
      const dave = user('dave');
      await phone(rid, { online: true, autoAck: true });
      say(`${dave} logs in on phone ${rid}, then logs out`);
      await login(dave, rid);
      await logout(dave, rid);
      say(`the backend sends "Your invoice is ready" to ${dave}`);
      const sent = await send({
        to: dave,
        body: 'Your invoice is ready.',
        policy: { intervalSeconds: 1 },
      });
      check(
        sent.status === 'stored',
        `accepted as ${sent.status}: nothing is pushed`
      );
      await sleep(1500);
      const waiting = await message(sent.messageId);
      const d0 = await device(rid);
      check(
        waiting.status === 'stored' && d0.received.length === 0,
        `1.5 s later it is still ${waiting.status}; the phone received ${d0.received.length}`
      );
      say(`${dave} logs in again`);
      const drained = await login(dave, rid);
      check(
        drained === 1,
        `the login drained ${plural(drained, 'stored message', 'stored messages')}`
      );
      const m = await follow(
        sent.messageId,
        (x) => TERMINAL.includes(x.status),
        'the end of the delivery',
        { count: 0 }
      );
      check(m.status === 'acknowledged', `${m.status}`);
    },
  ],
  [
    '(e) Account switch on one phone',
    async () => {
      const rid = newPhone();
      const erin = user('erin');
      const frank = user('frank');
      await phone(rid, { online: true, autoAck: true });
      say(
        `${erin} logs in on phone ${rid}, then logs out (the alias is cleared)`
      );
      await login(erin, rid);
      await logout(erin, rid);
      say(`${frank} logs in on the same phone`);
      await login(frank, rid);
      const d = await device(rid);
      check(d.alias === frank, `the phone's alias is now ${d.alias}`);
      say(`the backend sends a message to ${erin}, and one to ${frank}`);
      const toErin = await send({
        to: erin,
        body: `For ${erin} only.`,
        policy: { intervalSeconds: 1 },
      });
      const toFrank = await send({
        to: frank,
        body: `For ${frank}.`,
        policy: { intervalSeconds: 1 },
      });
      check(
        toErin.status === 'stored',
        `the message to ${erin} is ${toErin.status}`
      );
      const m = await follow(
        toFrank.messageId,
        (x) => TERMINAL.includes(x.status),
        'the end of the delivery',
        { count: 0 }
      );
      check(
        m.status === 'acknowledged',
        `the message to ${frank} is ${m.status}`
      );
      await sleep(1500);
      const after = await device(rid);
      const forErin = after.received.filter((p) => p.extras.to === erin);
      const stillStored = await message(toErin.messageId);
      check(
        forErin.length === 0 && stillStored.status === 'stored',
        `the phone received ${plural(after.received.length, 'push', 'pushes')}, ${forErin.length} for ${erin}; ${erin}'s message is still ${stillStored.status}, kept for her next login`
      );
    },
  ],
];

const main = async (): Promise<number> => {
  console.log(`Demo against ${base} (users end in _${run})`);
  const sms = await call('GET', '/local/sms');
  if (sms.status !== 200) {
    console.error(
      `${base} answers, but not as the local system: GET /local/sms → ${sms.status}.`
    );
    return 1;
  }
  const devices = await call('GET', '/local/devices');
  if (devices.status !== 200) {
    console.error(
      'The demo needs simulated phones, and this system pushes through real JPush (GET /local/devices → ' +
        `${devices.status}). Start it without JPUSH_APP_KEY/JPUSH_MASTER_SECRET.`
    );
    return 1;
  }
  const started = Date.now();
  for (const [title, scenario] of scenarios) {
    console.log(`\n${paint('1', title)}`);
    try {
      await scenario();
    } catch (error) {
      if (error instanceof NotRunningError) throw error;
      check(false, error instanceof Error ? error.message : String(error));
    }
  }
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  console.log(
    failures === 0
      ? `\nAll ${scenarios.length} scenarios went as expected (${seconds} s). Watch them on ${base}/`
      : `\n${failures} check(s) failed (${seconds} s).`
  );
  return failures === 0 ? 0 : 1;
};

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    if (error instanceof NotRunningError) {
      console.error(
        `Nothing answers at ${base} (${error.message}).\n` +
          'Start the local system first with `npm start` (in another terminal), ' +
          'or set DEMO_URL to where it runs.'
      );
    } else {
      console.error(error);
    }
    process.exit(1);
  }
);
