import {
  ExecutionAlreadyExists,
  type SFNClient,
  StartExecutionCommand,
} from '@aws-sdk/client-sfn';
import { executionName } from '../domain/message.ts';
import type { DeliveryRequest, DeliveryStarter } from '../domain/ports.ts';

/**
 * Starts the delivery state machine. The execution name is the message id
 * (plus the delivery number after a message went back to the offline store),
 * so a second start of the same delivery is a no-op: Step Functions returns
 * the running execution for the same name and input.
 */
export class SfnDeliveryStarter implements DeliveryStarter {
  /**
   * @param sfn the Step Functions client
   * @param stateMachineArn the delivery state machine
   */
  constructor(
    private readonly sfn: SFNClient,
    private readonly stateMachineArn: string
  ) {}

  async start(request: DeliveryRequest): Promise<void> {
    try {
      await this.sfn.send(
        new StartExecutionCommand({
          stateMachineArn: this.stateMachineArn,
          name: executionName(request.messageId, request.delivery),
          input: deliveryInput(request),
        })
      );
    } catch (error) {
      // Same name, other input: only possible if a message's policy changed,
      // which it cannot; the delivery exists either way.
      if (!(error instanceof ExecutionAlreadyExists)) throw error;
    }
  }
}

/** The execution input, with a fixed key order so a repeat is identical. */
export const deliveryInput = (request: DeliveryRequest): string =>
  JSON.stringify({
    messageId: request.messageId,
    delivery: request.delivery,
    intervalSeconds: request.intervalSeconds,
    maxAttempts: request.maxAttempts,
    // The cycle's counter: the Check Report step sets the next attempt.
    cycle: { attempt: 1 },
  });
