/**
 * The local execution engine: synthesize the CDK app, extract the state
 * machine, map its Task states to local stand-ins and run it.
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
  type StartExecutionParams,
} from './local-state-machine.ts';
export { readReferencePath } from './reference-path.ts';
export {
  BUNDLING_STACKS_CONTEXT,
  FAIL_ON_VALIDATION_ERRORS_CONTEXT,
  type SynthOptions,
  synthTemplates,
} from './synth.ts';
export {
  type AnyState,
  createTaskMapper,
  type LocalLambda,
  type LocalTaskHandler,
  type TaskMapper,
  type TaskMapperOptions,
  type TaskState,
} from './task-mapper.ts';
