/**
 * Standalone JPush simulator: `npm run jpush-sim -- --port 8080`.
 * Options: --port, --host, --ack-base-url, --latency-ms, --no-vip.
 */
import { parseArgs } from 'node:util';
import { startJPushSimulator } from './index.ts';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    host: { type: 'string', default: '127.0.0.1' },
    'ack-base-url': { type: 'string' },
    'latency-ms': { type: 'string', default: '0' },
    'no-vip': { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
  strict: true,
});

if (values.help) {
  console.log(
    'Usage: npm run jpush-sim -- [--port 8080] [--host 127.0.0.1] ' +
      '[--ack-base-url http://127.0.0.1:3000] [--latency-ms 0] [--no-vip]'
  );
  process.exit(0);
}

const port = Number(values.port);
const latencyMs = Number(values['latency-ms']);
if (!Number.isInteger(port) || port < 0 || port > 65_535) {
  console.error(`Invalid --port ${values.port}`);
  process.exit(2);
}
if (!Number.isFinite(latencyMs) || latencyMs < 0) {
  console.error(`Invalid --latency-ms ${values['latency-ms']}`);
  process.exit(2);
}

const simulator = await startJPushSimulator({
  host: values.host,
  port,
  ackBaseUrl: values['ack-base-url'],
  faults: { latencyMs },
  vip: !values['no-vip'],
});
const appKey =
  process.env.JPUSH_APP_KEY ?? 'simAppKey000000000000000 (default)';
console.log(`JPush simulator listening on ${simulator.url}`);
console.log(`appKey: ${appKey}`);

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
