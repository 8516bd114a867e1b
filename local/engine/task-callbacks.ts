/**
 * The project's {@link TaskCallbacks} port over the local engine: what an SFN
 * client is on AWS, a {@link LocalStateMachine} is locally.
 */

import { callbackResult } from '../../functions/adapters/sfn-task-callbacks.ts';
import type {
  CallbackResult,
  TaskCallbacks,
} from '../../functions/domain/ports.ts';
import type { LocalStateMachine } from './local-state-machine.ts';

/** Sends task callbacks to a local state machine. */
export class LocalTaskCallbacks implements TaskCallbacks {
  readonly #machine: () => LocalStateMachine;

  /**
   * @param machine the engine, or a getter of it (for one created later)
   */
  constructor(machine: LocalStateMachine | (() => LocalStateMachine)) {
    this.#machine = typeof machine === 'function' ? machine : () => machine;
  }

  /**
   * SendTaskSuccess with `JSON.stringify(output)`.
   * @throws the engine's other errors (`InvalidOutput`)
   */
  succeed(taskToken: string, output: unknown): Promise<CallbackResult> {
    return this.#send(() =>
      this.#machine().sendTaskSuccess({
        taskToken,
        output: JSON.stringify(output),
      })
    );
  }

  /**
   * SendTaskFailure.
   * @throws the engine's other errors (`ValidationException`)
   */
  fail(
    taskToken: string,
    error: string,
    cause: string
  ): Promise<CallbackResult> {
    return this.#send(() =>
      this.#machine().sendTaskFailure({ taskToken, error, cause })
    );
  }

  /** SendTaskHeartbeat. */
  heartbeat(taskToken: string): Promise<CallbackResult> {
    return this.#send(() => this.#machine().sendTaskHeartbeat({ taskToken }));
  }

  #send(call: () => Promise<unknown>): Promise<CallbackResult> {
    // The same reading of Step Functions' answers as on AWS.
    return callbackResult(call);
  }
}
