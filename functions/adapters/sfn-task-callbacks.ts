import {
  SendTaskFailureCommand,
  SendTaskHeartbeatCommand,
  SendTaskSuccessCommand,
  type SFNClient,
} from '@aws-sdk/client-sfn';
import type { CallbackResult, TaskCallbacks } from '../domain/ports.ts';

/**
 * Step Functions' answers meaning "that task no longer waits": it timed out
 * or ended, or the token is not one of a waiting task.
 */
export const ENDED_TASK_ERRORS = new Set([
  'TaskTimedOut',
  'TaskDoesNotExist',
  'InvalidToken',
]);

/**
 * Maps the answer to a callback to its result: an ended task is
 * `expired`, anything else is rethrown.
 * @param send the callback call
 */
export const callbackResult = async (
  send: () => Promise<unknown>
): Promise<CallbackResult> => {
  try {
    await send();
    return 'delivered';
  } catch (error) {
    if (error instanceof Error && ENDED_TASK_ERRORS.has(error.name)) {
      return 'expired';
    }
    throw error;
  }
};

/** {@link TaskCallbacks} over the Step Functions API. */
export class SfnTaskCallbacks implements TaskCallbacks {
  /** @param sfn the Step Functions client */
  constructor(private readonly sfn: Pick<SFNClient, 'send'>) {}

  succeed(taskToken: string, output: unknown): Promise<CallbackResult> {
    return callbackResult(() =>
      this.sfn.send(
        new SendTaskSuccessCommand({
          taskToken,
          output: JSON.stringify(output),
        })
      )
    );
  }

  fail(
    taskToken: string,
    error: string,
    cause: string
  ): Promise<CallbackResult> {
    return callbackResult(() =>
      this.sfn.send(new SendTaskFailureCommand({ taskToken, error, cause }))
    );
  }

  heartbeat(taskToken: string): Promise<CallbackResult> {
    return callbackResult(() =>
      this.sfn.send(new SendTaskHeartbeatCommand({ taskToken }))
    );
  }
}
