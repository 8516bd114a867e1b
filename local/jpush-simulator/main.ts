/**
 * Standalone JPush simulator: `npm run jpush-sim -- --port 8080`.
 * Options: --port, --host, --ack-base-url, --latency-ms, --no-vip, and the
 * fault rates --lost-response-rate, --rate-limit-rate, --server-error-rate,
 * --drop-rate (0..1). Faults can be changed later with
 * `PUT /local/jpush/faults` on the same port.
 */
import { parseArgs } from 'node:util';
import { type FaultsUpdate, startJPushSimulator } from './index.ts';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    host: { type: 'string', default: '127.0.0.1' },
    'ack-base-url': { type: 'string' },
    'latency-ms': { type: 'string', default: '0' },
    'lost-response-rate': { type: 'string', default: '0' },
    'rate-limit-rate': { type: 'string', default: '0' },
    'server-error-rate': { type: 'string', default: '0' },
    'drop-rate': { type: 'string', default: '0' },
    'no-vip': { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
  strict: true,
});

if (values.help) {
  console.log(
    'Usage: npm run jpush-sim -- [--port 8080] [--host 127.0.0.1] ' +
      '[--ack-base-url http://127.0.0.1:3000] [--latency-ms 0] [--no-vip]\n' +
      '  [--lost-response-rate 0] [--rate-limit-rate 0] ' +
      '[--server-error-rate 0] [--drop-rate 0]   (probabilities, 0..1)\n' +
      'Change faults while it runs: PUT /local/jpush/faults on its port.'
  );
  process.exit(0);
}

const fail = (message: string): never => {
  console.error(message);
  process.exit(2);
};

const port = Number(values.port);
if (!Number.isInteger(port) || port < 0 || port > 65_535) {
  fail(`Invalid --port ${values.port}`);
}
const latencyMs = Number(values['latency-ms']);
if (!Number.isFinite(latencyMs) || latencyMs < 0) {
  fail(`Invalid --latency-ms ${values['latency-ms']}`);
}
/** A probability flag: a number from 0 to 1. */
const rate = (flag: keyof typeof values): number => {
  const text = String(values[flag]);
  const value = Number(text);
  if (text.trim() === '' || !(value >= 0 && value <= 1)) {
    fail(`Invalid --${flag} ${text}: expected a number from 0 to 1`);
  }
  return value;
};
const faults: FaultsUpdate = {
  latencyMs,
  lostResponseRate: rate('lost-response-rate'),
  rateLimitRate: rate('rate-limit-rate'),
  serverErrorRate: rate('server-error-rate'),
  dropConnectionRate: rate('drop-rate'),
};

const simulator = await startJPushSimulator({
  host: values.host,
  port,
  ackBaseUrl: values['ack-base-url'],
  faults,
  vip: !values['no-vip'],
}).catch((error: unknown) => fail(`Cannot start: ${String(error)}`));
const appKey =
  process.env.JPUSH_APP_KEY ?? 'simAppKey000000000000000 (default)';
console.log(`JPush simulator listening on ${simulator.url}`);
console.log(`appKey: ${appKey}`);
const active = Object.entries(faults).filter(([, value]) => value !== 0);
if (active.length > 0) {
  console.log(
    `faults: ${active.map(([name, value]) => `${name} ${value}`).join(', ')}`
  );
}

let stopping = false;
const stop = (signal: string): void => {
  if (stopping) return;
  stopping = true;
  console.log(`${signal}: stopping JPush simulator`);
  simulator.close().then(
    () => process.exit(0),
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    }
  );
};
process.on('SIGINT', () => stop('SIGINT'));
process.on('SIGTERM', () => stop('SIGTERM'));
