import { SFNClient } from '@aws-sdk/client-sfn';
import { SfnDeliveryStarter } from '../../adapters/sfn-delivery-starter.ts';
import { SfnTaskCallbacks } from '../../adapters/sfn-task-callbacks.ts';
import type { DeliveryStarter, TaskCallbacks } from '../../domain/ports.ts';
import { requireEnv } from '../env.ts';
import { ENV } from '../names.ts';
import { once, type Part } from './part.ts';

/** What the Step Functions part provides. */
export interface StepFunctionsDeps {
  /** Starts delivery executions (the state machine's ARN from the environment). */
  readonly deliveries: DeliveryStarter;
  /** Ends the delivery step's wait (Step Functions task tokens). */
  readonly callbacks: TaskCallbacks;
}

/** The Step Functions part: one client for both. */
export const stepFunctions: Part<StepFunctionsDeps> = () => {
  const client = once(() => new SFNClient({}));
  return {
    deliveries: () =>
      new SfnDeliveryStarter(client(), requireEnv(ENV.stateMachineArn)),
    callbacks: () => new SfnTaskCallbacks(client()),
  };
};
