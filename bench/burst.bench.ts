/**
 * Burst benchmark: a burst of messages against JPush's push rate limit.
 * JPush allows 60 push-family calls a minute here (push, cid and withdraw
 * share it); the messages are sent at once to online phones that ACK, with
 * `maxAttempts` 3 and `intervalSeconds` 5. A 429 must never become an
 * attempt or an escalation: the cycle paces itself (`WaitForJPush`) until
 * the window opens. Prints the figures against the targets; exits 1 when a
 * target is missed.
 *
 *   npm run bench:burst -- --messages 150 --time-scale 1
 *
 * The local system's time scale also scales JPush's rate-limit windows (the
 * simulator's minute runs in policy time), so times are reported in policy
 * time: real time ÷ time scale. It does not scale the handlers' own time:
 * 150 Push steps at once on one process and dynalite now take longer than
 * 0.5 × the 5 s interval, so at 0.5 Push steps time out before they push
 * and the messages escalate (a local artefact, measured: 58 of 150
 * acknowledged; the default is 1). BENCH_DEBUG=1
 * prints the timeline and history of the first message not acknowledged.
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { createPushDeliveryClient } from '../client/index.ts';

process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';
process.env.POWERTOOLS_LOG_LEVEL = 'ERROR';
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
const { values } = parseArgs({
  options: {
    messages: { type: 'string', default: '150' },
    'time-scale': { type: 'string', default: '1' },
  },
});
const total = Number(values.messages);
const timeScale = Number(values['time-scale']);
const { startLocalSystem } = await import('../local/system.ts');
const { logger } = await import('../functions/shared/powertools.ts');
logger.setLogLevel('ERROR');

const PUSH_LIMIT = 60;
const TARGET_MINUTES = 4;
const TARGET_QUOTA_SHARE = 0.9;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const main = async () => {
  const system = await startLocalSystem({
    timeScale,
    simulator: {
      faults: {
        rateLimitPerMinute: { push: PUSH_LIMIT, report: 2400, device: 600 },
      },
    },
  });
  const sim = system.simulator;
  if (!sim) throw new Error('the burst benchmark needs the JPush simulator');
  // The API through the typed client, unsigned (local mode checks no
  // signature) and never retried: each figure is one attempt.
  const api = createPushDeliveryClient({
    baseUrl: system.url,
    sign: false,
    retries: 0,
  });

  // Phones and logins first (the device family allows 600 a minute).
  const users: string[] = [];
  for (let i = 0; i < total; i++) {
    const userId = `burst_${i}_${randomBytes(3).toString('hex')}`;
    const registrationId = `1a${randomBytes(8).toString('hex')}`;
    sim.setDevice(registrationId, {
      online: true,
      autoAck: true,
      ackDelayMs: 20,
    });
    await api.login({ userId, registrationId, platform: 'android' });
    users.push(userId);
  }
  // A fresh push window for the burst, and a log of the burst's calls only.
  await sleep((61_000 * timeScale) | 0);
  sim.resetRequests();

  const began = Date.now();
  const ids = await Promise.all(
    users.map(
      async (to, i) =>
        (
          await api.sendMessage({
            to,
            body: `Burst message ${i}`,
            policy: { intervalSeconds: 5, maxAttempts: 3 },
          })
        ).messageId
    )
  );
  const acceptedMs = Date.now() - began;

  // Every execution of every message closed (a re-stored message would get
  // `-d2`, so look by prefix).
  const deadline = began + 30 * 60_000 * timeScale;
  const mine = new Set(ids);
  const executionsOf = () =>
    system.stateMachine
      .listExecutions()
      .filter((e) => mine.has(e.name.replace(/-d\d+$/, '')));
  for (;;) {
    const runs = executionsOf();
    if (
      runs.length >= ids.length &&
      runs.every((e) => e.status !== 'RUNNING')
    ) {
      break;
    }
    if (Date.now() > deadline) {
      console.error('some executions still run after 30 policy minutes');
      break;
    }
    await sleep(50);
  }
  const lastStop = Math.max(
    ...executionsOf().map((e) => e.stopDate?.getTime() ?? Date.now())
  );
  await sleep(200);

  const statuses = new Map<string, number>();
  let pushFailed = 0;
  let paced = 0;
  let lastAck = began;
  let shown = false;
  for (const id of ids) {
    const message = await system.deps.messages.get(id);
    const status = message?.status ?? 'missing';
    statuses.set(status, (statuses.get(status) ?? 0) + 1);
    if (process.env.BENCH_DEBUG && status !== 'acknowledged' && !shown) {
      shown = true;
      console.error(JSON.stringify(message?.timeline, null, 1));
      console.error(
        JSON.stringify(
          system.stateMachine
            .getExecutionHistory(id)
            .filter((e) => e.type !== 'StateExited')
            .map((e) =>
              'state' in e
                ? `${e.type} ${e.state.name} ${'Error' in e ? e.Error : ''}`
                : e.type
            )
        )
      );
    }
    for (const entry of message?.timeline ?? []) {
      if (entry.event === 'push-failed') pushFailed += 1;
      if (entry.event === 'paced') paced += 1;
      if (entry.event === 'acknowledged') {
        lastAck = Math.max(lastAck, Date.parse(entry.at));
      }
    }
  }
  const requests = sim.requests();
  const answered = (family: string) =>
    requests.filter((r) => r.family === family && r.fault !== 'rate-limited')
      .length;
  const pushCalls = answered('push');
  const cidCalls = answered('cid');
  const withdrawCalls = answered('withdraw');
  const share = pushCalls / Math.max(1, pushCalls + cidCalls + withdrawCalls);
  const rateLimited = requests.filter((r) => r.fault === 'rate-limited');
  const settledMinutes = (lastStop - began) / timeScale / 60_000;
  const acknowledged = statuses.get('acknowledged') ?? 0;
  const escalated = statuses.get('escalated') ?? 0;
  await system.close();

  const checks: Array<[string, string, boolean]> = [
    [
      'acknowledged',
      `${acknowledged} (target ${total})`,
      acknowledged === total,
    ],
    [
      'attempts given up (push-failed)',
      `${pushFailed} (target 0)`,
      pushFailed === 0,
    ],
    ['escalations', `${escalated} (target 0)`, escalated === 0],
    [
      'push quota spent on pushes',
      `${(share * 100).toFixed(1)} % = ${pushCalls} pushes / (${pushCalls} + ${cidCalls} cid + ${withdrawCalls} withdraw) (target ≥ ${TARGET_QUOTA_SHARE * 100} %)`,
      share >= TARGET_QUOTA_SHARE,
    ],
    [
      'all settled after',
      `${settledMinutes.toFixed(2)} policy min (target ≤ ${TARGET_MINUTES})`,
      settledMinutes <= TARGET_MINUTES,
    ],
  ];
  console.log(
    `\n${total} messages at once, JPush push limit ${PUSH_LIMIT}/min, maxAttempts 3, intervalSeconds 5, time scale ${timeScale}`
  );
  console.log(
    `accepted in ${(acceptedMs / timeScale / 1000).toFixed(1)} policy s (${acceptedMs} ms real); outcomes ${JSON.stringify(Object.fromEntries(statuses))}`
  );
  for (const [what, figure, ok] of checks) {
    console.log(`${ok ? '✓' : '✗'} ${what.padEnd(32)} ${figure}`);
  }
  const byFamily = new Map<string, number>();
  for (const r of rateLimited) {
    byFamily.set(r.family, (byFamily.get(r.family) ?? 0) + 1);
  }
  console.log(
    `  ${'429s JPush answered'.padEnd(32)} ${rateLimited.length} ${JSON.stringify(Object.fromEntries(byFamily))}`
  );
  console.log(`  ${'paced waits (timeline)'.padEnd(32)} ${paced}`);
  console.log(
    `  ${'last ACK after'.padEnd(32)} ${((lastAck - began) / timeScale / 60_000).toFixed(2)} policy min`
  );
  console.log(
    `  ${'JPush calls (all)'.padEnd(32)} ${JSON.stringify(sim.callCounts())}`
  );
  const missed = checks.filter(([, , ok]) => !ok);
  if (missed.length > 0) {
    console.error(`targets missed: ${missed.map(([w]) => w).join(', ')}`);
    process.exitCode = 1;
  }
};

await main();
