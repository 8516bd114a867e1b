import 'aws-sdk-client-mock-vitest/extend';
import {
  ExecutionAlreadyExists,
  ExecutionLimitExceeded,
  SFNClient,
  StartExecutionCommand,
} from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import {
  deliveryInput,
  SfnDeliveryStarter,
} from '../../../functions/adapters/sfn-delivery-starter.ts';

const ARN =
  'arn:aws:states:us-east-1:123456789012:stateMachine:PushDelivery-test';
const sfn = mockClient(SFNClient);
const starter = new SfnDeliveryStarter(
  new SFNClient({ region: 'us-east-1' }),
  ARN
);
const request = {
  messageId: 'kAbCdEf0123456789',
  delivery: 1,
  intervalSeconds: 60,
  maxAttempts: 3,
};

afterEach(() => {
  sfn.reset();
});

describe('SfnDeliveryStarter', () => {
  it('names the first delivery after the message id', async () => {
    // Prepare
    sfn.on(StartExecutionCommand).resolves({ executionArn: `${ARN}:x` });

    // Act
    await starter.start(request);

    // Assess
    expect(sfn).toHaveReceivedCommandWith(StartExecutionCommand, {
      stateMachineArn: ARN,
      name: 'kAbCdEf0123456789',
      input:
        '{"messageId":"kAbCdEf0123456789","delivery":1,"intervalSeconds":60,"maxAttempts":3,"cycle":{"attempt":1}}',
    });
  });

  it('suffixes later deliveries with their number', async () => {
    // Prepare
    sfn.on(StartExecutionCommand).resolves({});

    // Act
    await starter.start({ ...request, delivery: 2 });

    // Assess
    expect(sfn).toHaveReceivedCommandWith(StartExecutionCommand, {
      name: 'kAbCdEf0123456789-d2',
    });
  });

  it('treats an execution that already exists as started', async () => {
    // Prepare
    sfn
      .on(StartExecutionCommand)
      .rejects(
        new ExecutionAlreadyExists({ message: 'exists', $metadata: {} })
      );

    // Act
    const start = starter.start(request);

    // Assess
    await expect(start).resolves.toBeUndefined();
  });

  it('lets other errors propagate', async () => {
    // Prepare
    sfn
      .on(StartExecutionCommand)
      .rejects(new ExecutionLimitExceeded({ message: 'limit', $metadata: {} }));

    // Act
    const start = starter.start(request);

    // Assess
    await expect(start).rejects.toBeInstanceOf(ExecutionLimitExceeded);
  });
});

describe('deliveryInput', () => {
  it('keeps one key order whatever order the request has', () => {
    // Prepare
    const shuffled = {
      maxAttempts: 3,
      intervalSeconds: 60,
      delivery: 1,
      messageId: 'kAbCdEf0123456789',
    };

    // Act
    const a = deliveryInput(request);
    const b = deliveryInput(shuffled);

    // Assess
    expect(a).toBe(b);
    expect(Object.keys(JSON.parse(a))).toEqual([
      'messageId',
      'delivery',
      'intervalSeconds',
      'maxAttempts',
      'cycle',
    ]);
  });

  it('starts the cycle at attempt 1, the counter the Check Report step moves on', () => {
    // Act
    const input = JSON.parse(deliveryInput({ ...request, delivery: 3 }));

    // Assess
    expect(input.cycle).toEqual({ attempt: 1 });
  });
});
