/**
 * `npm start`: the whole system on one machine, with a live view.
 *
 * Environment:
 * - `HOST` (default 127.0.0.1), `PORT` (default 3000);
 * - `LOCAL_DATA_DIR`: dynalite's data directory (default: in memory);
 * - `TIME_SCALE`: multiplies every wait and retry pause (default 1);
 * - `ONCALL_PHONE_NUMBERS`: comma-separated numbers on the on-call topic
 *   (default one obviously fake number);
 * - `JPUSH_APP_KEY` and `JPUSH_MASTER_SECRET`: push through real JPush
 *   instead of the simulator, with optional `JPUSH_PUSH_BASE_URL`,
 *   `JPUSH_REPORT_BASE_URL` and `JPUSH_DEVICE_BASE_URL`;
 * - `SMS_COUNTRIES` (default `CN,US` here, the examples' numbers; deployed,
 *   the on-call numbers' countries), `SMS_PER_NUMBER_PER_HOUR`,
 *   `SMS_DAILY_CAP`, `ON_CALL_WINDOW_SECONDS` and
 *   `ON_CALL_SMS_INCLUDES_TITLE`: the SMS limits, as the deployed functions
 *   read them;
 * - `ACK_REQUIRES_DEVICE`: `true` (default) or `false`, the
 *   `ackRequiresDevice` setting: `false` also accepts ACKs that carry the
 *   token alone, from apps released before ACKs named their device;
 * - `OUTCOME_WEBHOOK_URL`: every outcome event (one per status change of a
 *   message, as the deployed stack puts them on EventBridge) is also
 *   POSTed there as JSON, in order, tried again until it answers 2xx;
 * - `POWERTOOLS_LOG_LEVEL`: the handlers' log level (default WARN here, so
 *   the console shows the live events, not every handler's info log).
 *
 * Prints the URLs, then one line per event as it happens; stops on Ctrl-C
 * or SIGTERM, closing everything, with exit code 0.
 */
import type { RealJPushOptions } from './system.ts';

// Before the handlers' logger is created (it reads the level once).
process.env.POWERTOOLS_LOG_LEVEL ??= 'WARN';

/** A 555-01xx number: reserved for fiction in the North American plan. */
const DEFAULT_ONCALL = '+15555550100';

function fail(message: string): never {
  console.error(`npm start: ${message}`);
  process.exit(2);
}

const env = process.env;
const host = env.HOST || '127.0.0.1';
const port = Number(env.PORT || '3000');
if (!Number.isInteger(port) || port < 0 || port > 65_535) {
  fail(`PORT must be a port number (0-65535), not "${env.PORT}".`);
}
const timeScale = Number(env.TIME_SCALE || '1');
if (!Number.isFinite(timeScale) || timeScale <= 0) {
  fail(`TIME_SCALE must be a positive number, not "${env.TIME_SCALE}".`);
}
const onCallPhoneNumbers = (env.ONCALL_PHONE_NUMBERS ?? DEFAULT_ONCALL)
  .split(',')
  .map((n) => n.trim())
  .filter((n) => n !== '');
const dataDir = env.LOCAL_DATA_DIR || undefined;
const ackRequiresDevice = env.ACK_REQUIRES_DEVICE?.trim() || 'true';
if (ackRequiresDevice !== 'true' && ackRequiresDevice !== 'false') {
  fail(
    `ACK_REQUIRES_DEVICE must be true or false, not "${env.ACK_REQUIRES_DEVICE}".`
  );
}
const { parseCountries } = await import('../functions/domain/sms-limits.ts');
const { smsSettingsOf } = await import(
  '../functions/shared/wiring/sms-limits.ts'
);
let sms: ReturnType<typeof smsSettingsOf>;
let smsCountries: string[];
try {
  sms = smsSettingsOf();
  smsCountries = parseCountries(env.SMS_COUNTRIES ?? 'CN,US');
} catch (error) {
  fail(error instanceof Error ? error.message : String(error));
}
const { parseWebhookUrl } = await import('./event-bus.ts');
let outcomeWebhookUrl: string | undefined;
if (env.OUTCOME_WEBHOOK_URL?.trim()) {
  try {
    outcomeWebhookUrl = parseWebhookUrl(env.OUTCOME_WEBHOOK_URL.trim());
  } catch (error) {
    fail(error instanceof Error ? error.message : String(error));
  }
}
let jpush: RealJPushOptions | undefined;
if (env.JPUSH_APP_KEY || env.JPUSH_MASTER_SECRET) {
  if (!env.JPUSH_APP_KEY || !env.JPUSH_MASTER_SECRET) {
    fail('real JPush needs both JPUSH_APP_KEY and JPUSH_MASTER_SECRET.');
  }
  jpush = {
    appKey: env.JPUSH_APP_KEY as string,
    masterSecret: env.JPUSH_MASTER_SECRET as string,
    ...(env.JPUSH_PUSH_BASE_URL
      ? { pushBaseUrl: env.JPUSH_PUSH_BASE_URL }
      : {}),
    ...(env.JPUSH_REPORT_BASE_URL
      ? { reportBaseUrl: env.JPUSH_REPORT_BASE_URL }
      : {}),
    ...(env.JPUSH_DEVICE_BASE_URL
      ? { deviceBaseUrl: env.JPUSH_DEVICE_BASE_URL }
      : {}),
  };
}

const { startLiveSystem } = await import('./live/index.ts');
const { formatEventLine } = await import('./live/console.ts');

const color = Boolean(process.stdout.isTTY) && !env.NO_COLOR;
console.log('Starting the local system (synthesizing the CDK app)...');
let live: Awaited<ReturnType<typeof startLiveSystem>>;
try {
  live = await startLiveSystem({
    host,
    port,
    timeScale,
    onCallPhoneNumbers,
    ackRequiresDevice: ackRequiresDevice === 'true',
    sms,
    smsCountries,
    ...(dataDir ? { dataDir } : {}),
    ...(jpush ? { jpush } : {}),
    ...(outcomeWebhookUrl ? { outcomeWebhookUrl } : {}),
  });
} catch (error) {
  const code = (error as { code?: unknown }).code;
  fail(
    code === 'EADDRINUSE'
      ? `${host}:${port} is in use; set PORT to another port.`
      : `could not start: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`
  );
}

const { system } = live;
const url = system.url;
const lines = [
  `Local system listening on ${url}`,
  `  API         ${url}/v1/messages  (routes of the synthesized HTTP API)`,
  `  Live page   ${url}/`,
  `  API docs    ${url}/docs  (the OpenAPI document: ${url}/openapi.json)`,
  system.simulator
    ? `  Simulator   ${url}/local/devices  (JPush simulator, its JPush API on ${system.simulator.url})`
    : `  JPush       real JPush, app key ${maskKey(jpush?.appKey ?? '')}${jpush?.pushBaseUrl ? ` at ${jpush.pushBaseUrl}` : ''}; no simulated phones`,
  `  SMS sent    ${url}/local/sms`,
  `  Live events ${url}/local/live-events  (Server-Sent Events)  ·  all messages: ${url}/local/messages`,
  `  Outcomes    ${url}/local/events  (outcome events, as EventBridge gets them)${outcomeWebhookUrl ? `; POSTed to ${outcomeWebhookUrl}` : '; set OUTCOME_WEBHOOK_URL to have them POSTed'}`,
  `  Data        ${dataDir ? `dynalite in ${dataDir}` : 'dynalite in memory (gone when stopped)'}${live.held.messages + live.held.sessions > 0 ? `; holds ${live.held.messages} message(s), ${live.held.sessions} session(s)` : ''}`,
  `  Time scale  ${timeScale}${timeScale === 1 ? ' (waits run in real time)' : ` (a 10 s wait takes ${10 * timeScale} s)`}`,
  `  On-call     ${onCallPhoneNumbers.length > 0 ? onCallPhoneNumbers.join(', ') : 'nobody'}; escalations within ${sms.onCallWindowSeconds} s of a page come as one summary`,
  `  SMS limits  smsTo in ${smsCountries.length > 0 ? smsCountries.join(', ') : 'no country'}; ${sms.perNumberPerHour} an hour to a number, ${sms.dailyCap} a day`,
  `  ACKs        ${ackRequiresDevice === 'true' ? 'token and registrationId (a device the delivery pushed to)' : 'the token alone accepted too (ACK_REQUIRES_DEVICE=false: weaker)'}`,
  'Events follow, one line each. Ctrl-C stops.',
];
console.log(lines.join('\n'));

live.bus.subscribe((event) => {
  console.log(formatEventLine(event, color));
});

let stopping = false;
const stop = (signal: NodeJS.Signals): void => {
  if (stopping) {
    console.log(`${signal} again: exiting without waiting.`);
    process.exit(130);
  }
  stopping = true;
  console.log(`${signal}: stopping...`);
  const force = setTimeout(() => {
    console.error('Did not stop within 10 s; exiting.');
    process.exit(1);
  }, 10_000);
  force.unref();
  live.close().then(
    () => {
      console.log('Stopped.');
      process.exit(0);
    },
    (error: unknown) => {
      console.error('Stopping failed:', error);
      process.exit(1);
    }
  );
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);

function maskKey(key: string): string {
  return key.length > 6 ? `${key.slice(0, 4)}…` : '…';
}
