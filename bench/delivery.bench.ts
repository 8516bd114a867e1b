/**
 * Delivery benchmark on the local system (everything on loopback): how fast
 * the API accepts messages and how long a message takes from acceptance to
 * the app's ACK, with the synthesized state machine, dynalite and the JPush
 * simulator. Prints figures; asserts nothing (these machines are shared and
 * noisy, so targets are read here, not enforced in tests).
 *
 *   npm run bench -- --messages 300 --concurrency 20 --devices 50
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { createPushDeliveryClient } from '../client/index.ts';

// No metric or info lines in the middle of the figures; set before the
// Powertools singletons are built.
process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';
process.env.POWERTOOLS_LOG_LEVEL ??= 'WARN';
const { startLocalSystem } = await import('../local/system.ts');

const { values } = parseArgs({
  options: {
    messages: { type: 'string', default: '300' },
    concurrency: { type: 'string', default: '20' },
    devices: { type: 'string', default: '50' },
    'time-scale': { type: 'string', default: '0.01' },
  },
});
const total = Number(values.messages);
const concurrency = Number(values.concurrency);
const deviceCount = Number(values.devices);
const timeScale = Number(values['time-scale']);

const percentile = (sorted: number[], p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ??
  Number.NaN;
const summary = (label: string, samples: number[]) => {
  const sorted = [...samples].sort((a, b) => a - b);
  const f = (n: number) => `${n.toFixed(1)} ms`;
  console.log(
    `${label.padEnd(28)} n=${sorted.length}  p50 ${f(percentile(sorted, 50))}  p95 ${f(percentile(sorted, 95))}  p99 ${f(percentile(sorted, 99))}  max ${f(sorted.at(-1) ?? Number.NaN)}`
  );
};

const main = async () => {
  const startup = performance.now();
  const system = await startLocalSystem({ timeScale });
  console.log(
    `local system up in ${(performance.now() - startup).toFixed(0)} ms`
  );
  const simulator = system.simulator;
  if (!simulator) throw new Error('the benchmark needs the JPush simulator');
  // The API through the typed client, unsigned (local mode checks no
  // signature) and never retried: each figure is one attempt.
  const api = createPushDeliveryClient({
    baseUrl: system.url,
    sign: false,
    retries: 0,
  });

  const users: string[] = [];
  for (let i = 0; i < deviceCount; i++) {
    const userId = `bench_${i}_${randomBytes(3).toString('hex')}`;
    const registrationId = `1a${randomBytes(8).toString('hex')}`;
    simulator.setDevice(registrationId, { online: true, autoAck: true });
    await api.login({ userId, registrationId, platform: 'android' });
    users.push(userId);
  }

  const accept: number[] = [];
  const sentAt = new Map<string, number>();
  const rssBefore = process.memoryUsage().rss;
  const began = performance.now();
  let next = 0;
  const worker = async () => {
    while (next < total) {
      const i = next++;
      const t0 = performance.now();
      const { messageId } = await api.sendMessage({
        to: users[i % users.length] ?? '',
        body: `Benchmark message ${i}`,
        policy: { intervalSeconds: 1, maxAttempts: 3 },
      });
      accept.push(performance.now() - t0);
      sentAt.set(messageId, t0);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const acceptSeconds = (performance.now() - began) / 1000;

  const toAck: number[] = [];
  const outcomes = new Map<string, number>();
  for (const [messageId, t0] of sentAt) {
    const run = await system.stateMachine.waitForExecution(messageId, 120_000);
    const message = await system.deps.messages.get(messageId);
    const status = message?.status ?? 'missing';
    outcomes.set(status, (outcomes.get(status) ?? 0) + 1);
    if (status === 'acknowledged' && message?.ackedAt && run.stopDate) {
      toAck.push(Date.parse(message.ackedAt) - (performance.timeOrigin + t0));
    }
  }
  const allSeconds = (performance.now() - began) / 1000;

  console.log(
    `\n${total} messages, ${concurrency} concurrent senders, ${deviceCount} online autoAck devices, time scale ${timeScale}`
  );
  console.log(
    `accepted: ${(total / acceptSeconds).toFixed(0)} msg/s; all settled in ${allSeconds.toFixed(1)} s (${(total / allSeconds).toFixed(0)} msg/s end to end)`
  );
  summary('POST /v1/messages latency', accept);
  summary('accepted → acknowledged', toAck);
  console.log(`outcomes: ${JSON.stringify(Object.fromEntries(outcomes))}`);
  console.log(
    `RSS: ${(rssBefore / 2 ** 20).toFixed(0)} MiB before sending, ${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} MiB after`
  );
  await system.close();
};

await main();
