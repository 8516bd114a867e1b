/**
 * Cost benchmark: what one message costs on each delivery path, measured on
 * the local system (the synthesized state machine on the local engine,
 * dynalite, the JPush simulator), one message per path, a fresh user and
 * phone each. Prints measured vs target and exits 1 when a target is missed.
 *
 *   npm run bench:cost            # a table
 *   npm run bench:cost -- --json  # one JSON object on stdout, nothing else
 *   BENCH_DEBUG=1 npm run bench:cost  # also timelines and units per command
 *
 * What is counted, per path, from the moment the message is sent (setup
 * such as the first login is not counted; the draining login of
 * `stored-drained` is) until its executions closed and the API is idle:
 * - transitions: billed state transitions (states entered + retries) of the
 *   message's executions (`<messageId>`, `<messageId>-d2`, …);
 * - lambdaInvocations: Push, CheckReport and Escalate entered or retried,
 *   plus one API function invocation per `/v1/...` request (the phone's ACK
 *   included); the scheduled withdrawal sweeper is no message's cost and is
 *   left out;
 * - dynamodb: request units, see {@link DynamoMeter} for the approximation;
 * - jpush: calls the simulator received per family; cid as its share of a
 *   batch (one `GET /v3/push/cid?count=1000` serves 1000 pushes), i.e.
 *   push calls ÷ 1000;
 * - stepFunctionsLogBytes: the definition logs at level ALL with execution
 *   data, so every history event is a log record: approximated as the JSON
 *   byte length of every event of the execution history (CloudWatch's own
 *   record envelope is not added);
 * - usdPerMillion: a million messages on that path at the list prices below.
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { createPushDeliveryClient } from '../client/index.ts';

// Before the Powertools singletons and the AWS SDK are loaded: no log lines
// or SDK warnings in the figures (and nothing but JSON on stdout).
process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';
process.env.POWERTOOLS_LOG_LEVEL = 'ERROR';
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
const { values } = parseArgs({
  options: {
    json: { type: 'boolean', default: false },
    'time-scale': { type: 'string', default: '0.01' },
  },
});
const json = values.json === true;
const timeScale = Number(values['time-scale']);
// Everything but the JSON goes to stderr in --json mode.
const out = json ? console.error : console.log;
if (json) console.log = console.error;
const { startLocalSystem } = await import('../local/system.ts');
const { logger } = await import('../functions/shared/powertools.ts');
const { ApiCounter, DynamoMeter, printTable } = await import('./meters.ts');
logger.setLogLevel('ERROR');

// ---------------------------------------------------------------------------
// Prices: us-east-1 list prices.
// ---------------------------------------------------------------------------
const PRICES = {
  // https://aws.amazon.com/step-functions/pricing/ (Standard workflows:
  // $0.025 per 1,000 state transitions)
  stepFunctionsPerTransition: 0.025 / 1_000,
  // https://aws.amazon.com/lambda/pricing/ ($0.20 per 1M requests; arm64
  // $0.0000133334 per GB-second, first tier)
  lambdaPerRequest: 0.2 / 1_000_000,
  lambdaPerGbSecond: 0.0000133334,
  // infra/constructs/service-function.ts: memorySize 512 on every function.
  lambdaMemoryGb: 512 / 1024,
  // Not measured (the local handlers' wall time on dynalite says little
  // about Lambda's): a fixed billed duration per invocation.
  lambdaBilledSeconds: 0.1,
  // https://aws.amazon.com/dynamodb/pricing/on-demand/ (after the
  // 1 Nov 2024 price cut: $0.125 per million read request units, $0.625 per
  // million write request units, Standard table class)
  dynamoPerRru: 0.125 / 1_000_000,
  dynamoPerWru: 0.625 / 1_000_000,
  // https://aws.amazon.com/cloudwatch/pricing/ (Logs ingestion, standard and
  // vended logs' first tier: $0.50 per GB)
  logsPerGb: 0.5,
  // JPush's free tier.
  jpushPerCall: 0,
} as const;

/** Figures of one path, as `--json` prints them. */
interface PathFigures {
  name: string;
  transitions: number;
  lambdaInvocations: number;
  dynamodb: { rru: number; wru: number };
  jpush: {
    push: number;
    cid: number;
    report: number;
    device: number;
    withdraw: number;
  };
  stepFunctionsLogBytes: number;
  usdPerMillion: number;
}

/** The issue's targets. */
const TARGETS: Record<
  string,
  Array<{ what: string; target: number; of: (f: PathFigures) => number }>
> = {
  'ack-first': [
    { what: 'transitions', target: 3, of: (f) => f.transitions },
    { what: 'jpush.push', target: 1, of: (f) => f.jpush.push },
    { what: 'jpush.report', target: 0, of: (f) => f.jpush.report },
  ],
  'ack-second': [{ what: 'transitions', target: 6, of: (f) => f.transitions }],
  escalated: [{ what: 'transitions', target: 14, of: (f) => f.transitions }],
};

const usdPerMillion = (f: Omit<PathFigures, 'usdPerMillion'>): number => {
  const perMessage =
    f.transitions * PRICES.stepFunctionsPerTransition +
    f.lambdaInvocations *
      (PRICES.lambdaPerRequest +
        PRICES.lambdaMemoryGb *
          PRICES.lambdaBilledSeconds *
          PRICES.lambdaPerGbSecond) +
    f.dynamodb.rru * PRICES.dynamoPerRru +
    f.dynamodb.wru * PRICES.dynamoPerWru +
    (f.stepFunctionsLogBytes / 2 ** 30) * PRICES.logsPerGb +
    (f.jpush.push + f.jpush.cid + f.jpush.report + f.jpush.device) *
      PRICES.jpushPerCall;
  return Math.round(perMessage * 1_000_000 * 100) / 100;
};

const LAMBDA_STATES = new Set(['Push', 'CheckReport', 'Escalate']);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const newUser = (label: string) =>
  `cost_${label.replace(/-/g, '_')}_${randomBytes(3).toString('hex')}`;
const newRid = () => `1a${randomBytes(8).toString('hex')}`;

const main = async () => {
  const api = new ApiCounter();
  const system = await startLocalSystem({
    timeScale,
    onCallPhoneNumbers: ['+15555550100'],
    smsCountries: ['US'],
    extraRoutes: api.route,
  });
  const sim = system.simulator;
  if (!sim) throw new Error('the cost benchmark needs the JPush simulator');
  const meter = new DynamoMeter(
    system.dynamo.client,
    system.dynamo.endpoint,
    // The withdrawal sweeper's scan of the outbox queue, every minute
    // whatever is sent: no message's cost.
    (command, input) =>
      command === 'QueryCommand' &&
      /withdrawal/i.test(String(input.TableName)) &&
      input.ExpressionAttributeNames?.['#pk'] === 'queue'
  );

  // The API through the typed client, unsigned (local mode checks no
  // signature) and never retried: a retry would be metered as a second
  // call.
  const client = createPushDeliveryClient({
    baseUrl: system.url,
    sign: false,
    retries: 0,
  });
  type Message = Parameters<typeof client.sendMessage>[0];
  const login = (userId: string, registrationId: string) =>
    client.login({ userId, registrationId, platform: 'android' });
  const send = async (
    to: string,
    policy: Message['policy'],
    escalation?: Message['escalation']
  ) =>
    (
      await client.sendMessage({
        to,
        body: `Cost benchmark for ${to}`,
        policy,
        ...(escalation ? { escalation } : {}),
      })
    ).messageId;

  // Starts counting: every meter from zero.
  const begin = () => {
    api.take();
    api.byRoute.clear();
    meter.byCommand.clear();
    meter.take();
    sim.resetRequests();
  };
  // Waits for the message's executions to close and the API to go idle,
  // then reads every meter.
  const finish = async (
    name: string,
    messageId: string
  ): Promise<PathFigures> => {
    const deadline = Date.now() + 120_000;
    const executions = () =>
      system.stateMachine
        .listExecutions()
        .filter(
          (e) => e.name === messageId || e.name.startsWith(`${messageId}-d`)
        );
    for (;;) {
      const runs = executions();
      if (runs.length > 0 && runs.every((e) => e.status !== 'RUNNING')) {
        // A late ACK or write may still be on its way.
        await sleep(300);
        if (api.inFlight === 0 && executions().length === runs.length) break;
      }
      if (Date.now() > deadline) throw new Error(`${name}: still running`);
      await sleep(20);
    }
    const dynamo = meter.take();
    const apiCalls = api.take();
    const counts = sim.callCounts();
    let transitions = 0;
    let lambdaStates = 0;
    let logBytes = 0;
    for (const run of executions()) {
      transitions += system.stateMachine.billedTransitions(run.name);
      for (const event of system.stateMachine.getExecutionHistory(run.name)) {
        logBytes += Buffer.byteLength(JSON.stringify(event));
        if (
          (event.type === 'StateEntered' || event.type === 'StateRetried') &&
          LAMBDA_STATES.has(event.state.name)
        ) {
          lambdaStates += 1;
        }
      }
    }
    meter.enabled = false;
    const message = await system.deps.messages.get(messageId);
    meter.enabled = true;
    out(
      `  ${name}: ${messageId} ended ${message?.status}; ${executions().length} execution(s); API ${[
        ...api.byRoute,
      ]
        .map(([r, n]) => `${r} ×${n}`)
        .join(', ')}`
    );
    api.byRoute.clear();
    if (process.env.BENCH_DEBUG) {
      out(JSON.stringify(message?.timeline, null, 1));
      out(JSON.stringify(Object.fromEntries(meter.byCommand)));
      meter.byCommand.clear();
    }
    const figures = {
      name,
      transitions,
      lambdaInvocations: lambdaStates + apiCalls,
      dynamodb: { rru: dynamo.rru, wru: dynamo.wru },
      jpush: {
        push: counts.push,
        cid: counts.push / 1000,
        report: counts.report,
        device: counts.device,
        withdraw: counts.withdraw,
      },
      stepFunctionsLogBytes: logBytes,
    };
    return { ...figures, usdPerMillion: usdPerMillion(figures) };
  };

  const paths: PathFigures[] = [];

  // The phone is online and ACKs at once; the interval is long, so the ACK
  // ends the first wait.
  {
    const user = newUser('ack-first');
    const rid = newRid();
    sim.setDevice(rid, { online: true, autoAck: true, ackDelayMs: 5 });
    await login(user, rid);
    begin();
    const id = await send(user, { intervalSeconds: 60, maxAttempts: 3 });
    paths.push(await finish('ack-first', id));
  }

  // The phone is offline through the first attempt and comes online once
  // JPush has the second push: it is ACKed during the second wait. Exactly
  // two pushes.
  {
    const user = newUser('ack-second');
    const rid = newRid();
    sim.setDevice(rid, { online: true, autoAck: true, ackDelayMs: 5 });
    await login(user, rid);
    sim.setDevice(rid, { online: false });
    begin();
    // JPush has the second push (queued for the offline phone): the phone
    // comes online and gets it (and the first, queued too) during the
    // second wait.
    let watching = true;
    const watch = (async () => {
      while (watching && sim.callCounts().push < 2) await sleep(2);
      if (watching) sim.setDevice(rid, { online: true });
    })();
    const id = await send(user, { intervalSeconds: 60, maxAttempts: 3 });
    const figures = await finish('ack-second', id);
    watching = false;
    await watch;
    paths.push(figures);
  }

  // Online, never ACKs: three attempts, then the escalation (on-call topic
  // and the recipient's SMS).
  {
    const user = newUser('escalated');
    const rid = newRid();
    sim.setDevice(rid, { online: true, autoAck: false });
    await login(user, rid);
    begin();
    const id = await send(
      user,
      { intervalSeconds: 60, maxAttempts: 3 },
      { onCall: true, smsTo: '+12025550123' }
    );
    paths.push(await finish('escalated', id));
  }

  // Logged out: the message is stored; the next login drains it.
  {
    const user = newUser('stored-drained');
    const rid = newRid();
    sim.setDevice(rid, { online: true, autoAck: true, ackDelayMs: 5 });
    await login(user, rid);
    await client.logout(user, rid);
    await sleep(200);
    begin();
    const id = await send(user, { intervalSeconds: 60, maxAttempts: 3 });
    await login(user, rid);
    paths.push(await finish('stored-drained', id));
  }

  // JPush answers the first two pushes 429 (window used up, reset in 1 s),
  // then accepts the third.
  {
    const user = newUser('rate-limited');
    const rid = newRid();
    sim.setDevice(rid, { online: true, autoAck: true, ackDelayMs: 5 });
    await login(user, rid);
    begin();
    sim.injectFaults({
      path: '/v3/push',
      method: 'POST',
      status: 429,
      code: 2002,
      times: 2,
      headers: { 'X-Rate-Limit-Remaining': '0', 'X-Rate-Limit-Reset': '1' },
    });
    const id = await send(user, { intervalSeconds: 60, maxAttempts: 3 });
    paths.push(await finish('rate-limited', id));
  }

  meter.close();
  await system.close();

  const misses: string[] = [];
  const checks = new Map<string, string[]>();
  for (const f of paths) {
    for (const t of TARGETS[f.name] ?? []) {
      const measured = t.of(f);
      const ok = measured <= t.target;
      if (!ok) misses.push(`${f.name} ${t.what} ${measured} > ${t.target}`);
      const list = checks.get(f.name) ?? [];
      list.push(`${t.what} ${measured} ≤ ${t.target} ${ok ? '✓' : '✗'}`);
      checks.set(f.name, list);
    }
  }

  if (json) {
    process.stdout.write(`${JSON.stringify({ paths })}\n`);
  } else {
    const fmt = (n: number, digits = 0) =>
      Number.isInteger(n) ? String(n) : n.toFixed(digits || 3);
    const rows = [
      [
        'path',
        'transitions',
        'lambdas',
        'RRU',
        'WRU',
        'push',
        'cid',
        'report',
        'device',
        'withdraw',
        'SFN log B',
        'USD / 1M',
      ],
      ...paths.map((f) => [
        f.name,
        fmt(f.transitions),
        fmt(f.lambdaInvocations),
        fmt(f.dynamodb.rru, 1),
        fmt(f.dynamodb.wru),
        fmt(f.jpush.push),
        fmt(f.jpush.cid),
        fmt(f.jpush.report),
        fmt(f.jpush.device),
        fmt(f.jpush.withdraw),
        fmt(f.stepFunctionsLogBytes),
        f.usdPerMillion.toFixed(2),
      ]),
    ];
    out('');
    printTable(rows, out);
    out('\nTargets (measured vs target):');
    for (const [name, list] of checks) out(`  ${name}: ${list.join(', ')}`);
    out(
      `\nUSD / 1M: Step Functions $0.025/1k transitions, Lambda $0.20/1M requests + ${PRICES.lambdaBilledSeconds * 1000} ms fixed at ${PRICES.lambdaMemoryGb * 1024} MB arm64, DynamoDB on-demand $0.125/1M RRU + $0.625/1M WRU, CloudWatch Logs $0.50/GB, JPush free tier.` +
        '\nNot included: API Gateway HTTP API ($1.00 per 1M requests, one per API invocation), SNS SMS of escalations, X-Ray, Lambda log ingestion.'
    );
  }
  if (misses.length > 0) {
    console.error(`targets missed: ${misses.join('; ')}`);
    process.exitCode = 1;
  }
};

await main();
