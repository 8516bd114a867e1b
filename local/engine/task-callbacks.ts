/**
 * The project's {@link TaskCallbacks} port over the local engine: what an SFN
 * client is on AWS, a {@link LocalStateMachine} is locally.
 */
import type {
  CallbackResult,
  TaskCallbacks,
} from '../../functions/domain/ports.ts';
import type { LocalStateMachine } from './local-state-machine.ts';

/** The engine's errors for a task that no longer waits (the port's 'expired'). */
const EXPIRED = new Set(['TaskTimedOut', 'TaskDoesNotExist', 'InvalidToken']);

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

  async #send(call: () => Promise<unknown>): Promise<CallbackResult> {
    try {
      await call();
      return 'delivered';
    } catch (error) {
      if (error instanceof Error && EXPIRED.has(error.name)) return 'expired';
      throw error;
    }
  }
}
