/**
 * The one place that decides what a Task state's `Resource` does locally.
 * Each supported integration returns what the real one returns and fails with
 * the error names real Step Functions uses, so `Retry`/`Catch` behave alike:
 *
 * - `arn:aws:states:::lambda:invoke`: calls the caller's function for the
 *   logical id encoded in `FunctionName`; the result is wrapped in `Payload`
 *   like the real integration; a thrown error fails the task with the error's
 *   `name` (Lambda's `errorType`) and a Lambda-style JSON `Cause`
 *   (`{"errorType","errorMessage","trace"}`) holding the message.
 * - a bare Lambda ARN as `Resource` (legacy form): the same, unwrapped.
 * - `arn:aws:states:::dynamodb:getItem|putItem|updateItem|deleteItem|query`:
 *   the matching DynamoDB command with the local table name; the SDK output
 *   without `$metadata`; errors named `DynamoDB.<Name>`.
 * - `arn:aws:states:::sns:publish`: {@link SmsSink.publish}; errors named
 *   `SNS.<Name>`.
 * - `arn:aws:states:::lambda:invoke.waitForTaskToken` and
 *   `arn:aws:states:::sns:publish.waitForTaskToken` (the callback pattern):
 *   the base integration is called with the evaluated Parameters exactly as
 *   above; if it throws, the task fails with that error; if it returns, its
 *   result is discarded and the task waits for its task token
 *   ({@link LocalTaskContext.waitForTaskToken}): its result is the output of
 *   SendTaskSuccess, SendTaskFailure fails it. Timeouts and heartbeats are
 *   the engine's business.
 *
 * Anything else (`.sync`, other `.waitForTaskToken` integrations,
 * `aws-sdk:*`, other services) is rejected when the mapper is asked for the
 * state's handler, i.e. when the engine is constructed, never in the middle
 * of a run.
 */
import { randomUUID } from 'node:crypto';
import {
  DeleteItemCommand,
  type DeleteItemCommandInput,
  type DynamoDBClient,
  GetItemCommand,
  type GetItemCommandInput,
  PutItemCommand,
  type PutItemCommandInput,
  QueryCommand,
  type QueryCommandInput,
  UpdateItemCommand,
  type UpdateItemCommandInput,
} from '@aws-sdk/client-dynamodb';
import type { StateMachineDefinition } from 'aws-local-stepfunctions';
import type { CfnResource } from '../dynamo.ts';
import type { SmsSink } from '../sms-sink.ts';
import { lambdaNameFromArn } from './extract.ts';

/** Any state of a definition. */
export type AnyState = StateMachineDefinition['States'][string];
/** A Task state of a definition. */
export type TaskState = Extract<AnyState, { Type: 'Task' }>;
/** What the engine gives a task handler besides its input, per attempt. */
export interface LocalTaskContext {
  /**
   * Waits for the callback of this attempt's task token (`$$.Task.Token`).
   * @returns the output of SendTaskSuccess (parsed JSON)
   * @throws the error of SendTaskFailure (`name` = its error, `message` = its
   * cause); rejects at once for a task whose resource does not end in
   * `.waitForTaskToken`
   */
  waitForTaskToken(): Promise<unknown>;
  /** Aborted when the attempt ends (done, timed out, execution stopped). */
  readonly signal: AbortSignal;
}
/**
 * What runs locally for one Task state: evaluated Parameters in, result out.
 * The engine passes a {@link LocalTaskContext} as the second argument.
 */
export type LocalTaskHandler = (
  input: unknown,
  task?: LocalTaskContext
) => Promise<unknown>;
/** A local Lambda function: event in, result out; throws like the function. */
export type LocalLambda = (payload: unknown) => Promise<unknown>;
/** Maps a Task state (and its name, for messages) to its local handler. */
export type TaskMapper = (
  state: TaskState,
  stateName?: string
) => LocalTaskHandler;

/** Options of {@link createTaskMapper}. */
export interface TaskMapperOptions {
  /** Client of the local DynamoDB. */
  dynamodb: DynamoDBClient;
  /** Where SNS publishes go. */
  sms: SmsSink;
  /**
   * Returns the local function for a Lambda's logical id; `entry` is the
   * resource's `Metadata.LocalEntry` (e.g. `functions/handlers/push.ts`).
   * Called once per function, when the engine is constructed when the
   * function name is static; it may throw for unknown functions.
   */
  lambdas: (logicalId: string, entry: string | undefined) => LocalLambda;
  /** Table logical id → local table name (from createTablesFromTemplate). */
  tableNames: Record<string, string>;
  /** Resources by logical id (from extractStateMachine), for `LocalEntry`. */
  resources?: Record<string, CfnResource>;
}

const LAMBDA_INVOKE = 'arn:aws:states:::lambda:invoke';
const SNS_PUBLISH = 'arn:aws:states:::sns:publish';
/** The suffix of a resource that uses the callback pattern. */
export const WAIT_FOR_TASK_TOKEN = '.waitForTaskToken';
const CALLBACK_BASES = new Set([LAMBDA_INVOKE, SNS_PUBLISH]);
const DYNAMODB_PREFIX = 'arn:aws:states:::dynamodb:';

type DynamoAction =
  | 'getItem'
  | 'putItem'
  | 'updateItem'
  | 'deleteItem'
  | 'query';

const DYNAMODB_ACTIONS = new Set<string>([
  'getItem',
  'putItem',
  'updateItem',
  'deleteItem',
  'query',
]);

// The evaluated Parameters are the low-level input of the matching command.
const sendDynamo = (
  client: DynamoDBClient,
  action: DynamoAction,
  params: Record<string, unknown>
): Promise<object> => {
  switch (action) {
    case 'getItem':
      return client.send(
        new GetItemCommand(params as unknown as GetItemCommandInput)
      );
    case 'putItem':
      return client.send(
        new PutItemCommand(params as unknown as PutItemCommandInput)
      );
    case 'updateItem':
      return client.send(
        new UpdateItemCommand(params as unknown as UpdateItemCommandInput)
      );
    case 'deleteItem':
      return client.send(
        new DeleteItemCommand(params as unknown as DeleteItemCommandInput)
      );
    case 'query':
      return client.send(
        new QueryCommand(params as unknown as QueryCommandInput)
      );
  }
};

const namedError = (name: string, message: string): Error => {
  const error = new Error(message);
  error.name = name;
  return error;
};

/** JSON semantics, as a value crossing the Step Functions boundary has. */
const toJson = (value: unknown): unknown =>
  value === undefined ? null : JSON.parse(JSON.stringify(value));

/**
 * Renames an AWS SDK (or stand-in) error the way Step Functions reports
 * service integration errors: `<Service>.<ErrorCode>`; errors that never
 * reached the service become `<Service>.SdkClientException`.
 */
const serviceError = (service: string, error: unknown): Error => {
  const e = error instanceof Error ? error : new Error(String(error));
  const meta = (
    e as { $metadata?: { httpStatusCode?: number; requestId?: string } }
  ).$metadata;
  const reachedService =
    meta?.httpStatusCode !== undefined || !('$metadata' in e);
  const name = reachedService ? e.name : 'SdkClientException';
  const details = meta?.httpStatusCode
    ? ` (Service: ${service}, Status Code: ${meta.httpStatusCode}, Request ID: ${meta.requestId ?? 'local'})`
    : '';
  return namedError(`${service}.${name}`, `${e.message}${details}`);
};

const lambdaError = (error: unknown): Error => {
  if (error instanceof Error) {
    const errorType = error.name || 'Error';
    return namedError(
      errorType,
      JSON.stringify({
        errorType,
        errorMessage: error.message,
        trace: (error.stack ?? '').split('\n'),
      })
    );
  }
  return namedError(
    'Error',
    JSON.stringify({
      errorType: 'Error',
      errorMessage: String(error),
      trace: [],
    })
  );
};

const withoutMetadata = (output: object): unknown => {
  const { $metadata: _ignored, ...rest } = output as Record<string, unknown>;
  return toJson(rest);
};

/**
 * Creates the task mapper: the function that gives each Task state of a
 * definition its local handler.
 * @param options clients, stand-ins and names of the local world
 * @returns the mapper; it throws `not supported locally: <resource>` for
 * resources with no local stand-in
 */
export const createTaskMapper = (options: TaskMapperOptions): TaskMapper => {
  const lambdaCache = new Map<string, LocalLambda>();
  const lambdaFor = (functionName: string): LocalLambda => {
    const logicalId = lambdaNameFromArn(functionName);
    let fn = lambdaCache.get(logicalId);
    if (!fn) {
      const entry = options.resources?.[logicalId]?.Metadata?.LocalEntry;
      fn = options.lambdas(
        logicalId,
        typeof entry === 'string' ? entry : undefined
      );
      lambdaCache.set(logicalId, fn);
    }
    return fn;
  };
  const localNames = new Set(Object.values(options.tableNames));
  const tableName = (name: unknown): unknown => {
    if (typeof name !== 'string') return name;
    const plain = name.startsWith('arn:') ? (name.split('/')[1] ?? name) : name;
    if (localNames.has(plain)) return plain;
    return options.tableNames[plain] ?? plain;
  };

  const invoke = async (
    fn: LocalLambda,
    payload: unknown
  ): Promise<unknown> => {
    try {
      return toJson(await fn(toJson(payload)));
    } catch (error) {
      throw lambdaError(error);
    }
  };

  const mapper: TaskMapper = (state, stateName = '(unnamed)') => {
    const resource = state.Resource;

    if (resource.endsWith(WAIT_FOR_TASK_TOKEN)) {
      const base = resource.slice(0, -WAIT_FOR_TASK_TOKEN.length);
      if (CALLBACK_BASES.has(base)) {
        const call = mapper({ ...state, Resource: base }, stateName);
        return async (input, task) => {
          if (!task) {
            throw new Error(
              `Task state "${stateName}": ${resource} runs only in the local engine`
            );
          }
          await call(input);
          return task.waitForTaskToken();
        };
      }
    }
    const parameters = (state.Parameters ?? {}) as Record<string, unknown>;

    if (resource === LAMBDA_INVOKE) {
      // Resolve a static function now, so an unknown one fails construction.
      const staticName = parameters.FunctionName;
      const staticFn =
        typeof staticName === 'string' ? lambdaFor(staticName) : undefined;
      return async (input) => {
        const params = (input ?? {}) as Record<string, unknown>;
        const fn = staticFn ?? lambdaFor(String(params.FunctionName));
        const payload = await invoke(fn, params.Payload);
        const requestId = randomUUID();
        return {
          ExecutedVersion: '$LATEST',
          Payload: payload,
          SdkHttpMetadata: {
            AllHttpHeaders: {
              'X-Amz-Executed-Version': ['$LATEST'],
              'x-amzn-RequestId': [requestId],
              'Content-Type': ['application/json'],
            },
            HttpHeaders: {
              'X-Amz-Executed-Version': '$LATEST',
              'x-amzn-RequestId': requestId,
              'Content-Type': 'application/json',
            },
            HttpStatusCode: 200,
          },
          SdkResponseMetadata: { RequestId: requestId },
          StatusCode: 200,
        };
      };
    }

    if (/^arn:aws:lambda:[^:]*:[^:]*:function:[^:]+(:[^:]+)?$/.test(resource)) {
      const fn = lambdaFor(resource);
      return (input) => invoke(fn, input);
    }

    if (resource.startsWith(DYNAMODB_PREFIX)) {
      const action = resource.slice(DYNAMODB_PREFIX.length);
      if (DYNAMODB_ACTIONS.has(action)) {
        return async (input) => {
          const params = { ...(input as Record<string, unknown>) };
          params.TableName = tableName(params.TableName);
          try {
            const output = await sendDynamo(
              options.dynamodb,
              action as DynamoAction,
              params
            );
            return withoutMetadata(output);
          } catch (error) {
            throw serviceError('DynamoDB', error);
          }
        };
      }
    }

    if (resource === SNS_PUBLISH) {
      return async (input) => {
        const params = input as Record<string, unknown>;
        const message = params.Message;
        try {
          return toJson(
            options.sms.publish({
              ...(typeof params.TopicArn === 'string'
                ? { TopicArn: params.TopicArn }
                : {}),
              ...(typeof params.PhoneNumber === 'string'
                ? { PhoneNumber: params.PhoneNumber }
                : {}),
              ...(typeof params.Subject === 'string'
                ? { Subject: params.Subject }
                : {}),
              Message:
                typeof message === 'string' ? message : JSON.stringify(message),
            })
          );
        } catch (error) {
          throw serviceError('SNS', error);
        }
      };
    }

    throw new Error(
      `Task state "${stateName}": not supported locally: ${resource}`
    );
  };
  return mapper;
};
