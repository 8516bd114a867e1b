import { SNSClient } from '@aws-sdk/client-sns';
import { SnsSmsSender } from '../../adapters/sns-sms-sender.ts';
import type { SmsSender } from '../../domain/ports.ts';
import { requireEnv } from '../env.ts';
import { ENV } from '../names.ts';
import type { Part } from './part.ts';

/** What the SNS part provides. */
export interface SmsDeps {
  /** Escalation SMS (the on-call topic, and numbers directly). */
  readonly sms: SmsSender;
}

/** The SNS part. */
export const sms: Part<SmsDeps> = () => ({
  sms: () =>
    new SnsSmsSender(new SNSClient({}), () => requireEnv(ENV.onCallTopicArn)),
});
