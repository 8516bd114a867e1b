import { PublishCommand, type SNSClient } from '@aws-sdk/client-sns';
import type { SmsSender } from '../domain/ports.ts';

/** Escalation SMS through SNS: the on-call topic, or a phone number. */
export class SnsSmsSender implements SmsSender {
  /**
   * @param sns the SNS client
   * @param onCallTopicArn the topic the on-call numbers subscribe to
   */
  constructor(
    private readonly sns: Pick<SNSClient, 'send'>,
    private readonly onCallTopicArn: () => string
  ) {}

  async toOnCall(text: string): Promise<void> {
    await this.sns.send(
      new PublishCommand({ TopicArn: this.onCallTopicArn(), Message: text })
    );
  }

  async toNumber(phoneNumber: string, text: string): Promise<void> {
    await this.sns.send(
      new PublishCommand({
        PhoneNumber: phoneNumber,
        Message: text,
        MessageAttributes: {
          // Escalations must arrive: SNS's highest delivery priority.
          'AWS.SNS.SMS.SMSType': {
            DataType: 'String',
            StringValue: 'Transactional',
          },
        },
      })
    );
  }
}
