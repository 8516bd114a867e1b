import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import {
  countriesOf,
  parseCountries,
  SMS_DEFAULTS,
  type SmsSettings,
} from '../functions/domain/sms-limits.ts';

/** API Gateway's token bucket for one route. */
export interface RouteThrottle {
  /** Steady-state requests per second. */
  readonly rateLimit: number;
  /** The bucket's size: how many requests may come at once. */
  readonly burstLimit: number;
}

/** Deployment settings for one stage (dev, prod, ...). */
export interface EnvironmentConfig {
  /** Stage name, suffixed to stack names. */
  readonly stage: string;
  /** AWS account and region; undefined means the CLI's defaults. */
  readonly env: { account?: string; region?: string };
  /** Powertools log level of every function. */
  readonly logLevel: 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';
  /** How long function logs are kept. */
  readonly logRetention: RetentionDays;
  /** What happens to tables, secrets and logs when the stack is deleted. */
  readonly removalPolicy: RemovalPolicy;
  /** Phone numbers (E.164) subscribed by SMS to the on-call topic. */
  readonly onCallPhoneNumbers: readonly string[];
  /** Base URLs of JPush's three API hosts (change for the Beijing data centre). */
  readonly jpush: {
    readonly pushBaseUrl: string;
    readonly reportBaseUrl: string;
    readonly deviceBaseUrl: string;
  };
  /** Upper bound of one JPush HTTP call. */
  readonly jpushTimeout: Duration;
  /** What is kept, how long, and what logs carry (README, "Privacy"). */
  readonly privacy: PrivacyConfig;
  /** Limits on escalation SMS and the on-call grouping (README, "SMS limits"). */
  readonly sms: SmsConfig;
  /** The outcome events. */
  readonly events: EventsConfig;
  /** Request limits and alarm thresholds of the HTTP API. */
  readonly api: {
    /** The open ACK route's own limits, apart from the backend routes'. */
    readonly ackThrottle: RouteThrottle;
    /** The limits of each IAM-authorized backend route. */
    readonly backendThrottle: RouteThrottle;
    /**
     * Whether an ACK must name its device (`registrationId`, one a push of
     * the message's current delivery targeted). `false` also accepts the
     * token alone, from apps released before: weaker (README, "What an app
     * must do with a push").
     */
    readonly ackRequiresDevice: boolean;
    /** Alarm thresholds, each a count of responses in 5 minutes. */
    readonly alarms: {
      /** 4xx answers of the ACK route (429 included). */
      readonly ackClientErrors: number;
      /** 429 answers of the ACK route. */
      readonly ackThrottled: number;
      /** 429 answers of the backend routes, all together. */
      readonly backendThrottled: number;
    };
  };
}

/** Limits on escalation SMS and the on-call grouping. */
export interface SmsConfig extends SmsSettings {
  /**
   * The countries (ISO 3166-1 alpha-2) an `smsTo` may be in: by default the
   * countries of the on-call numbers, none when there are none.
   */
  readonly countries: readonly string[];
  /** The SmsSuppressed alarm: SMS held back by a limit in 5 minutes. */
  readonly suppressedAlarmThreshold: number;
}

/** The state machine's log levels (Step Functions' own). */
export const STATE_MACHINE_LOG_LEVELS = [
  'OFF',
  'FATAL',
  'ERROR',
  'ALL',
] as const;

/** What is kept, how long, and what the logs carry. */
export interface PrivacyConfig {
  /**
   * Days a message and its history entries are kept after the message
   * ends (DynamoDB TTL); also the life of its idempotency key.
   */
  readonly retentionDays: number;
  /** What the delivery state machine logs. */
  readonly stateMachineLogLevel: (typeof STATE_MACHINE_LOG_LEVELS)[number];
  /**
   * Whether those log lines carry the execution data (state input and
   * output, ids and the policy only).
   */
  readonly stateMachineLogExecutionData: boolean;
}

/**
 * The defaults of {@link EnvironmentConfig.privacy}, which the README's
 * settings table documents: errors only, without execution data, and
 * messages kept 30 days after they end.
 */
export const PRIVACY_DEFAULTS = {
  retentionDays: 30,
  stateMachineLogLevel: 'ERROR',
  stateMachineLogExecutionData: false,
} as const satisfies PrivacyConfig;

/** JPush's API hosts (mainland China; JPush's other regions differ). */
export const JPUSH_DEFAULTS = {
  pushBaseUrl: 'https://api.jpush.cn',
  reportBaseUrl: 'https://report.jpush.cn',
  deviceBaseUrl: 'https://device.jpush.cn',
} as const satisfies EnvironmentConfig['jpush'];

/** The longest retention a setting may ask for (10 years). */
const MAX_RETENTION_DAYS = 3650;

/**
 * The defaults of {@link EnvironmentConfig.api}, which the README's settings
 * table documents.
 */
export const API_DEFAULTS = {
  // Real ACKs follow pushes: JPush's standard Push API quota is 600 calls a
  // minute (10/s), and each push is ACKed once by each device it reaches
  // (usually one or two), so 100/s leaves room for several devices per user
  // and a larger quota; the bucket of 200 absorbs phones coming back online
  // together. Beyond that is a flood, answered 429 by API Gateway before
  // the ACK function runs.
  ackThrottle: { rateLimit: 100, burstLimit: 200 },
  // The stage-wide limit the backends already lived with, now for each
  // backend route on its own, whatever the ACK route receives.
  backendThrottle: { rateLimit: 200, burstLimit: 400 },
  // An ACK binds the device: a phone its user left cannot end the message's
  // next delivery with the token it kept.
  ackRequiresDevice: true,
  alarms: {
    // An app answered 4xx repeats nothing the next request would fix; a
    // hundred in 5 minutes (one every 3 s) is a broken app release or
    // forged ACKs, not the odd expired message.
    ackClientErrors: 100,
    // A few 429s come from bursts beyond the bucket, and the apps retry
    // them; a hundred in 5 minutes is a flood or a limit set too low.
    ackThrottled: 100,
    // A backend answered 429 must retry its send or session call: tell
    // the operators from the tenth in 5 minutes.
    backendThrottled: 10,
  },
} as const satisfies EnvironmentConfig['api'];

const E164 = /^\+[1-9]\d{6,14}$/;

/** Where the outcome events go, and what they carry. */
export interface EventsConfig {
  /**
   * An existing EventBridge bus to put them on (`eventBusArn`), e.g. the
   * account's `default` bus. @default a bus the stack creates,
   * `PushDeliveryOutcomes-<stage>`
   */
  readonly eventBusArn?: string;
  /**
   * Add the message's title, body and data to each event
   * (`eventsIncludeContent`). @default false: ids and statuses only
   */
  readonly includeContent: boolean;
}

const EVENT_BUS_ARN =
  /^arn:aws[a-z-]*:events:[a-z0-9-]+:\d{12}:event-bus\/[\w.\-/]{1,256}$/;

/**
 * A true/false setting from the context: a JSON boolean (cdk.json) or its
 * text (`-c key=false`); the default when unset or empty.
 * @throws Error naming the setting when it is anything else
 */
const booleanSetting = (
  context: (key: string) => unknown,
  key: string,
  fallback: boolean
): boolean => {
  const value = context(key);
  if (value === undefined || value === null) return fallback;
  const given = typeof value === 'string' ? value.trim() : value;
  if (given === '') return fallback;
  if (given === true || given === 'true') return true;
  if (given === false || given === 'false') return false;
  throw new Error(`${key}: ${JSON.stringify(value)} is not true or false`);
};

/**
 * Builds the configuration of a stage from CDK context values
 * (`cdk deploy -c stage=prod -c onCallPhoneNumbers=+8613800000000,...`).
 * @param stage the stage name
 * @param context reads one CDK context value
 * @throws Error when a phone number is not in E.164 form, when a rate or
 * burst limit is not a number of at least 0 (a whole one for a burst),
 * when an alarm threshold is not a whole number of at least 1, when an SMS
 * limit is not a whole number of at least 0 (1 for the on-call window), or
 * when `smsCountries` names a code that is no country
 */
export const getConfig = (
  stage: string,
  context: (key: string) => unknown
): EnvironmentConfig => {
  const text = (key: string): string | undefined => {
    const value = context(key);
    return typeof value === 'string' && value.trim() !== ''
      ? value.trim()
      : undefined;
  };
  const phones = (text('onCallPhoneNumbers') ?? '')
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '');
  for (const phone of phones) {
    if (!E164.test(phone)) {
      throw new Error(
        `onCallPhoneNumbers: "${phone}" is not an E.164 number like +8613800000000`
      );
    }
  }
  /**
   * A number from the context: a JSON number (cdk.json) or its decimal
   * text (`-c key=100`); the default when unset or empty.
   */
  const number = (
    key: string,
    fallback: number,
    rule: { readonly min: 0 | 1; readonly whole: boolean }
  ): number => {
    const value = context(key);
    if (value === undefined || value === null) return fallback;
    if (typeof value === 'string' && value.trim() === '') return fallback;
    const parsed =
      typeof value === 'number'
        ? value
        : typeof value === 'string' && /^\d+(\.\d+)?$/.test(value.trim())
          ? Number(value.trim())
          : Number.NaN;
    if (
      !Number.isFinite(parsed) ||
      parsed < rule.min ||
      (rule.whole && !Number.isInteger(parsed))
    ) {
      throw new Error(
        `${key}: ${JSON.stringify(value)} is not ${rule.whole ? 'a whole number' : 'a number'} of at least ${rule.min}`
      );
    }
    return parsed;
  };
  const throttle = (prefix: string, fallback: RouteThrottle) => ({
    rateLimit: number(`${prefix}RateLimit`, fallback.rateLimit, {
      min: 0,
      whole: false,
    }),
    burstLimit: number(`${prefix}BurstLimit`, fallback.burstLimit, {
      min: 0,
      whole: true,
    }),
  });
  const threshold = (key: string, fallback: number) =>
    number(key, fallback, { min: 1, whole: true });
  const retentionDays = threshold(
    'retentionDays',
    PRIVACY_DEFAULTS.retentionDays
  );
  if (retentionDays > MAX_RETENTION_DAYS) {
    throw new Error(
      `retentionDays: ${retentionDays} is more than ${MAX_RETENTION_DAYS} (10 years)`
    );
  }
  const logLevelText = text('stateMachineLogLevel')?.toUpperCase();
  const stateMachineLogLevel =
    logLevelText === undefined
      ? PRIVACY_DEFAULTS.stateMachineLogLevel
      : STATE_MACHINE_LOG_LEVELS.find((level) => level === logLevelText);
  if (stateMachineLogLevel === undefined) {
    throw new Error(
      `stateMachineLogLevel: ${JSON.stringify(context('stateMachineLogLevel'))} is not one of ${STATE_MACHINE_LOG_LEVELS.join(', ')}`
    );
  }
  const stateMachineLogExecutionData = booleanSetting(
    context,
    'stateMachineLogExecutionData',
    PRIVACY_DEFAULTS.stateMachineLogExecutionData
  );
  const onCallIncludesTitle = booleanSetting(
    context,
    'onCallSmsIncludesTitle',
    SMS_DEFAULTS.onCallIncludesTitle
  );
  const countries = text('smsCountries');
  const sms: SmsConfig = {
    perNumberPerHour: number(
      'smsPerNumberPerHour',
      SMS_DEFAULTS.perNumberPerHour,
      { min: 0, whole: true }
    ),
    dailyCap: number('smsDailyCap', SMS_DEFAULTS.dailyCap, {
      min: 0,
      whole: true,
    }),
    countries:
      countries === undefined
        ? countriesOf(phones)
        : countries.toLowerCase() === 'none'
          ? []
          : parseCountries(countries),
    onCallWindowSeconds: number(
      'onCallWindowSeconds',
      SMS_DEFAULTS.onCallWindowSeconds,
      { min: 1, whole: true }
    ),
    onCallIncludesTitle,
    suppressedAlarmThreshold: threshold('smsSuppressedAlarmThreshold', 1),
  };
  const eventBusArn = text('eventBusArn');
  if (eventBusArn !== undefined && !EVENT_BUS_ARN.test(eventBusArn)) {
    throw new Error(
      `eventBusArn: "${eventBusArn}" is not an EventBridge bus ARN like arn:aws:events:eu-west-1:123456789012:event-bus/default`
    );
  }
  const events: EventsConfig = {
    ...(eventBusArn === undefined ? {} : { eventBusArn }),
    includeContent: booleanSetting(context, 'eventsIncludeContent', false),
  };
  const isProd = stage === 'prod';
  return {
    stage,
    env: {
      account: process.env.CDK_DEFAULT_ACCOUNT,
      region: process.env.CDK_DEFAULT_REGION,
    },
    logLevel: isProd ? 'INFO' : 'DEBUG',
    logRetention: isProd ? RetentionDays.SIX_MONTHS : RetentionDays.ONE_MONTH,
    removalPolicy: isProd ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
    onCallPhoneNumbers: phones,
    jpush: {
      pushBaseUrl: text('jpushPushBaseUrl') ?? JPUSH_DEFAULTS.pushBaseUrl,
      reportBaseUrl: text('jpushReportBaseUrl') ?? JPUSH_DEFAULTS.reportBaseUrl,
      deviceBaseUrl: text('jpushDeviceBaseUrl') ?? JPUSH_DEFAULTS.deviceBaseUrl,
    },
    jpushTimeout: Duration.seconds(10),
    sms,
    events,
    privacy: {
      retentionDays,
      stateMachineLogLevel,
      stateMachineLogExecutionData,
    },
    api: {
      ackThrottle: throttle('ack', API_DEFAULTS.ackThrottle),
      backendThrottle: throttle('backend', API_DEFAULTS.backendThrottle),
      ackRequiresDevice: booleanSetting(
        context,
        'ackRequiresDevice',
        API_DEFAULTS.ackRequiresDevice
      ),
      alarms: {
        ackClientErrors: threshold(
          'ackClientErrorsAlarmThreshold',
          API_DEFAULTS.alarms.ackClientErrors
        ),
        ackThrottled: threshold(
          'ackThrottledAlarmThreshold',
          API_DEFAULTS.alarms.ackThrottled
        ),
        backendThrottled: threshold(
          'backendThrottledAlarmThreshold',
          API_DEFAULTS.alarms.backendThrottled
        ),
      },
    },
  };
};
