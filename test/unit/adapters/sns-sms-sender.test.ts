import 'aws-sdk-client-mock-vitest/extend';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { SnsSmsSender } from '../../../functions/adapters/sns-sms-sender.ts';

const TOPIC = 'arn:aws:sns:us-east-1:123456789012:OnCallTopic-test';

describe('SnsSmsSender', () => {
  const sns = mockClient(SNSClient);
  let topicReads = 0;
  const sender = new SnsSmsSender(
    new SNSClient({ region: 'us-east-1' }),
    () => {
      topicReads += 1;
      return TOPIC;
    }
  );

  afterEach(() => {
    sns.reset();
  });

  it('publishes the on-call text to the topic', async () => {
    // Prepare
    sns.on(PublishCommand).resolves({ MessageId: 'm-1' });

    // Act
    await sender.toOnCall('Push not acknowledged: message m1');

    // Assess
    expect(sns).toHaveReceivedCommandWith(PublishCommand, {
      TopicArn: TOPIC,
      Message: 'Push not acknowledged: message m1',
    });
  });

  it('sends the recipient one transactional SMS, without reading the topic', async () => {
    // Prepare
    sns.on(PublishCommand).resolves({ MessageId: 'm-2' });
    const reads = topicReads;

    // Act
    await sender.toNumber('+8613800000000', 'Order 1009: shipped');

    // Assess
    expect(sns).toHaveReceivedCommandWith(PublishCommand, {
      PhoneNumber: '+8613800000000',
      Message: 'Order 1009: shipped',
      MessageAttributes: {
        'AWS.SNS.SMS.SMSType': {
          DataType: 'String',
          StringValue: 'Transactional',
        },
      },
    });
    expect(topicReads).toBe(reads);
  });

  it('lets SNS errors propagate, for the escalation to try again', async () => {
    // Prepare
    sns.on(PublishCommand).rejects(new Error('Throttling'));

    // Act
    const send = sender.toOnCall('text');

    // Assess
    await expect(send).rejects.toThrow('Throttling');
  });
});
