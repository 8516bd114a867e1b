/**
 * The local execution engine: synthesize the CDK app, extract the state
 * machine, map its Task states to local stand-ins and run it; answer its
 * `.waitForTaskToken` tasks through {@link LocalTaskCallbacks}.
 */
export {
  type ExtractedStateMachine,
  type ExtractOptions,
  extractStateMachine,
  LOCAL_ACCOUNT,
  LOCAL_REGION,
  lambdaNameFromArn,
  localLambdaArn,
} from './extract.ts';
export {
  assertValidExecutionName,
  type ExecutionDescription,
  type ExecutionEventLog,
  type ExecutionStatus,
  type LocalExecutionEvent,
  LocalStateMachine,
  type LocalStateMachineOptions,
  randomExecutionName,
  type SendTaskFailureParams,
  type SendTaskHeartbeatParams,
  type SendTaskSuccessParams,
  type StartExecutionParams,
} from './local-state-machine.ts';
export { readReferencePath } from './reference-path.ts';
export {
  BUNDLING_STACKS_CONTEXT,
  FAIL_ON_VALIDATION_ERRORS_CONTEXT,
  type SynthOptions,
  synthTemplates,
} from './synth.ts';
export { LocalTaskCallbacks } from './task-callbacks.ts';
export {
  type AnyState,
  createTaskMapper,
  type LocalLambda,
  type LocalTaskContext,
  type LocalTaskHandler,
  type TaskMapper,
  type TaskMapperOptions,
  type TaskState,
  WAIT_FOR_TASK_TOKEN,
} from './task-mapper.ts';
