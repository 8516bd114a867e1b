import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';

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
}

const E164 = /^\+[1-9]\d{6,14}$/;

/**
 * Builds the configuration of a stage from CDK context values
 * (`cdk deploy -c stage=prod -c onCallPhoneNumbers=+8613800000000,...`).
 * @param stage the stage name
 * @param context reads one CDK context value
 * @throws Error when a phone number is not in E.164 form
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
      pushBaseUrl: text('jpushPushBaseUrl') ?? 'https://api.jpush.cn',
      reportBaseUrl: text('jpushReportBaseUrl') ?? 'https://report.jpush.cn',
      deviceBaseUrl: text('jpushDeviceBaseUrl') ?? 'https://device.jpush.cn',
    },
    jpushTimeout: Duration.seconds(10),
  };
};
