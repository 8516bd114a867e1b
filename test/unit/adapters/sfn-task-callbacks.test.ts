import 'aws-sdk-client-mock-vitest/extend';
import {
  InvalidOutput,
  InvalidToken,
  SendTaskFailureCommand,
  SendTaskHeartbeatCommand,
  SendTaskSuccessCommand,
  SFNClient,
  SFNServiceException,
  TaskDoesNotExist,
  TaskTimedOut,
} from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import {
  callbackResult,
  SfnTaskCallbacks,
} from '../../../functions/adapters/sfn-task-callbacks.ts';

const sfn = mockClient(SFNClient);
const callbacks = new SfnTaskCallbacks(new SFNClient({ region: 'us-east-1' }));
const TOKEN = 'AQCEAAAAKgAAAAMAAAAAAAAAAfakeTaskToken';

/** The errors Step Functions answers for a task that no longer waits. */
const endedTaskErrors = () => [
  new TaskTimedOut({ message: 'Task Timed Out', $metadata: {} }),
  new TaskDoesNotExist({ message: 'Task does not exist', $metadata: {} }),
  new InvalidToken({ message: 'Invalid Token', $metadata: {} }),
];

afterEach(() => {
  sfn.reset();
});

describe('SfnTaskCallbacks', () => {
  it('ends the waiting task with its output as JSON', async () => {
    // Prepare
    sfn.on(SendTaskSuccessCommand).resolves({});

    // Act
    const result = await callbacks.succeed(TOKEN, {
      outcome: 'paced',
      waitSeconds: 31,
    });

    // Assess
    expect(result).toBe('delivered');
    expect(sfn).toHaveReceivedCommandWith(SendTaskSuccessCommand, {
      taskToken: TOKEN,
      output: '{"outcome":"paced","waitSeconds":31}',
    });
  });

  it('fails the waiting task with an error name and cause', async () => {
    // Prepare
    sfn.on(SendTaskFailureCommand).resolves({});

    // Act
    const result = await callbacks.fail(TOKEN, 'PushFailed', 'JPush refused');

    // Assess
    expect(result).toBe('delivered');
    expect(sfn).toHaveReceivedCommandWith(SendTaskFailureCommand, {
      taskToken: TOKEN,
      error: 'PushFailed',
      cause: 'JPush refused',
    });
  });

  it('sends a heartbeat for the token', async () => {
    // Prepare
    sfn.on(SendTaskHeartbeatCommand).resolves({});

    // Act
    const result = await callbacks.heartbeat(TOKEN);

    // Assess
    expect(result).toBe('delivered');
    expect(sfn).toHaveReceivedCommandWith(SendTaskHeartbeatCommand, {
      taskToken: TOKEN,
    });
  });

  it.each(endedTaskErrors().map((error) => [error.name, error] as const))(
    'answers expired when Step Functions says %s, for every callback',
    async (_name, error) => {
      // Prepare
      sfn.on(SendTaskSuccessCommand).rejects(error);
      sfn.on(SendTaskFailureCommand).rejects(error);
      sfn.on(SendTaskHeartbeatCommand).rejects(error);

      // Act
      const results = [
        await callbacks.succeed(TOKEN, { outcome: 'acknowledged' }),
        await callbacks.fail(TOKEN, 'E', 'c'),
        await callbacks.heartbeat(TOKEN),
      ];

      // Assess
      expect(results).toEqual(['expired', 'expired', 'expired']);
    }
  );

  it.each([
    [
      'InvalidOutput',
      new InvalidOutput({ message: 'output too large', $metadata: {} }),
    ],
    [
      'ThrottlingException',
      new SFNServiceException({
        name: 'ThrottlingException',
        $fault: 'client',
        message: 'Rate exceeded',
        $metadata: {},
      }),
    ],
  ])('rethrows %s', async (name, error) => {
    // Prepare
    sfn.on(SendTaskSuccessCommand).rejects(error);

    // Act
    const succeed = callbacks.succeed(TOKEN, { outcome: 'acknowledged' });

    // Assess
    await expect(succeed).rejects.toMatchObject({ name });
  });
});

describe('callbackResult', () => {
  it('tells an ended task by the error name alone', async () => {
    // Act
    const ended = await callbackResult(async () => {
      throw Object.assign(new Error('gone'), { name: 'TaskDoesNotExist' });
    });
    const other = callbackResult(async () => {
      throw new Error('network down');
    });

    // Assess
    expect(ended).toBe('expired');
    await expect(other).rejects.toThrow('network down');
  });

  it('rethrows what is not an Error', async () => {
    // Act
    const thrown = callbackResult(async () => {
      throw 'TaskTimedOut';
    });

    // Assess
    await expect(thrown).rejects.toBe('TaskTimedOut');
  });
});
