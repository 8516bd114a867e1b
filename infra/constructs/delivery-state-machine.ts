import {
  type CfnElement,
  Duration,
  type RemovalPolicy,
  Stack,
  Validations,
} from 'aws-cdk-lib';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import {
  Choice,
  Condition,
  DefinitionBody,
  Errors,
  IntegrationPattern,
  JitterType,
  JsonPath,
  LogLevel,
  type RetryProps,
  StateMachine,
  StateMachineType,
  Succeed,
  TaskInput,
  Timeout,
  Wait,
  WaitTime,
} from 'aws-cdk-lib/aws-stepfunctions';
import { LambdaInvoke } from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import type { CycleAction, PushOutcome } from '../../functions/shared/names.ts';

/** Props of {@link DeliveryStateMachine}. */
export interface DeliveryStateMachineProps {
  /** Physical name; the API functions build the ARN from it. */
  readonly stateMachineName: string;
  /** The Push step (JPush Push API), run with a task token. */
  readonly pushFunction: IFunction;
  /** The Check Report step (JPush Report API) and the cycle's decision. */
  readonly checkReportFunction: IFunction;
  /** The Escalate step: marks the message, sends the SMS. */
  readonly escalateFunction: IFunction;
  readonly logRetention: RetentionDays;
  readonly logRemovalPolicy: RemovalPolicy;
  /**
   * What the execution log records.
   * @default LogLevel.ERROR
   */
  readonly logLevel?: LogLevel;
  /**
   * Whether log lines carry the state input and output (ids and the policy:
   * the state carries no message content either way).
   * @default false
   */
  readonly logExecutionData?: boolean;
}

/** Errors of JPush that a later try may fix (the Lambda rethrows them by name). */
const RETRYABLE_JPUSH = ['JPushServerError', 'JPushUnknownOutcomeError'];
const LAMBDA_TRANSIENT = [
  'Lambda.ServiceException',
  'Lambda.AWSLambdaException',
  'Lambda.SdkClientException',
  'Lambda.TooManyRequestsException',
];
/**
 * Faults of JPush or Lambda that a later try may fix. Not a 429: the Push
 * step paces itself (it ends its wait with `paced`), and not
 * `States.Timeout`: on the Push step that is the interval ending.
 */
const TRANSIENT_RETRY: RetryProps = {
  errors: [...RETRYABLE_JPUSH, ...LAMBDA_TRANSIENT],
  interval: Duration.seconds(2),
  backoffRate: 2,
  maxAttempts: 3,
  maxDelay: Duration.seconds(30),
  jitterStrategy: JitterType.FULL,
};
/** Lambda itself failing (throttled, or the service). */
const LAMBDA_RETRY: RetryProps = {
  errors: [...LAMBDA_TRANSIENT, Errors.TIMEOUT],
  interval: Duration.seconds(2),
  backoffRate: 2,
  maxAttempts: 4,
  maxDelay: Duration.seconds(30),
  jitterStrategy: JitterType.FULL,
};

/** The Push step's outcome (its result is at `$.push`) is `outcome`. */
const outcomeIs = (outcome: PushOutcome) =>
  Condition.stringEquals('$.push.outcome', outcome);

/** CheckReport's decision (its result is at `$.cycle`) is `action`. */
const actionIs = (action: CycleAction) =>
  Condition.stringEquals('$.cycle.action', action);

const TASK_TIMEOUT = Timeout.duration(Duration.seconds(90));

/**
 * The delivery cycle, one execution per delivery of a message (its name is
 * the message id):
 *
 *   Push ── waits for the ACK (task token) or the interval (timeout) ──┐
 *     │ ACK ─▶ Acknowledged            paced ─▶ WaitForJPush ─▶ Push   │
 *     │ nothing to wait for ─▶ Finished                                 │
 *     │ failed after retries ─▶ WaitAfterFailure ─▶ CheckReport ◀───────┘
 *   CheckReport (Report API, then decides) ─▶ Decide
 *     push ─▶ Push (next attempt) · escalate ─▶ Escalate ─▶ Escalated
 *     acknowledged ─▶ Acknowledged · done ─▶ Finished
 *
 * Every state entered is billed, so the bookkeeping (attempts, decisions,
 * timeline, escalation marks, SMS) lives in the three Lambdas: an ACK after
 * the first push costs 3 transitions, after the second 6, three
 * unacknowledged attempts and the escalation 11. The state carries ids, the
 * policy and the attempt counter only: no message content.
 */
export class DeliveryStateMachine extends Construct {
  public readonly stateMachine: StateMachine;

  constructor(scope: Construct, id: string, props: DeliveryStateMachineProps) {
    super(scope, id);
    const acknowledged = new Succeed(this, 'Acknowledged');
    const finished = new Succeed(this, 'Finished', {
      comment: 'Ended elsewhere: stored again, expired, failed or superseded.',
    });
    const escalated = new Succeed(this, 'Escalated');

    const push = new LambdaInvoke(this, 'Push', {
      lambdaFunction: props.pushFunction,
      integrationPattern: IntegrationPattern.WAIT_FOR_TASK_TOKEN,
      payload: TaskInput.fromObject({
        'messageId.$': '$.messageId',
        'delivery.$': '$.delivery',
        'attempt.$': '$.cycle.attempt',
        taskToken: JsonPath.taskToken,
      }),
      resultPath: '$.push',
      // The wait for the ACK: the message's interval.
      taskTimeout: Timeout.at('$.intervalSeconds'),
      retryOnServiceExceptions: false,
      comment:
        'Pushes (or resolves a push whose answer was lost), then waits for the app ACK, which ends the wait through the task token.',
    }).addRetry(TRANSIENT_RETRY);

    const afterPush = new Choice(this, 'AfterPush')
      .when(outcomeIs('acknowledged'), acknowledged)
      .when(
        outcomeIs('paced'),
        new Wait(this, 'WaitForJPush', {
          comment:
            "JPush's rate-limit window is used up: the same attempt again when it opens.",
          time: WaitTime.secondsPath('$.push.waitSeconds'),
        }).next(push)
      )
      .otherwise(finished);

    const checkReport = new LambdaInvoke(this, 'CheckReport', {
      lambdaFunction: props.checkReportFunction,
      payload: TaskInput.fromObject({
        'messageId.$': '$.messageId',
        'delivery.$': '$.delivery',
        'attempt.$': '$.cycle.attempt',
        'maxAttempts.$': '$.maxAttempts',
        'wait.$': '$.wait',
      }),
      resultSelector: {
        'action.$': '$.Payload.action',
        'attempt.$': '$.Payload.attempt',
      },
      resultPath: '$.cycle',
      taskTimeout: TASK_TIMEOUT,
      retryOnServiceExceptions: false,
    }).addRetry(LAMBDA_RETRY);

    const waitAfterFailure = new Wait(this, 'WaitAfterFailure', {
      comment: 'JPush kept failing: the next check comes after the interval.',
      time: WaitTime.secondsPath('$.intervalSeconds'),
    }).next(checkReport);

    const escalate = new LambdaInvoke(this, 'Escalate', {
      lambdaFunction: props.escalateFunction,
      payload: TaskInput.fromObject({
        'messageId.$': '$.messageId',
        'delivery.$': '$.delivery',
        'attempt.$': '$.cycle.attempt',
      }),
      resultPath: JsonPath.DISCARD,
      taskTimeout: TASK_TIMEOUT,
      retryOnServiceExceptions: false,
    })
      .addRetry(LAMBDA_RETRY)
      .next(escalated);

    const decide = new Choice(this, 'Decide')
      .when(actionIs('push'), push)
      .when(actionIs('escalate'), escalate)
      .when(actionIs('acknowledged'), acknowledged)
      .otherwise(finished);

    push.addCatch(checkReport, {
      errors: [Errors.TIMEOUT],
      resultPath: '$.wait',
    });
    push.addCatch(waitAfterFailure, {
      errors: [Errors.ALL],
      resultPath: '$.wait',
    });
    push.next(afterPush);
    checkReport.next(decide);

    const logGroup = new LogGroup(this, 'Logs', {
      retention: props.logRetention,
      removalPolicy: props.logRemovalPolicy,
    });
    this.stateMachine = new StateMachine(this, 'StateMachine', {
      stateMachineName: props.stateMachineName,
      stateMachineType: StateMachineType.STANDARD,
      definitionBody: DefinitionBody.fromChainable(push),
      comment:
        'Guaranteed push delivery: push through JPush, wait, check the Report API and the app ACK, repeat or escalate by SMS.',
      // X-Ray records the transitions and their timing; it captures no
      // state input or output, and the Lambda segments no response.
      tracingEnabled: true,
      logs: {
        destination: logGroup,
        level: props.logLevel ?? LogLevel.ERROR,
        includeExecutionData: props.logExecutionData ?? false,
      },
      timeout: Duration.days(11),
    });
    if ((props.logLevel ?? LogLevel.ERROR) !== LogLevel.ALL) {
      Validations.of(this.stateMachine).acknowledge({
        id: 'AwsSolutions-SF1',
        reason:
          'Errors only by default (the stateMachineLogLevel setting): each message has its timeline in its item and metrics count the outcomes, and logging every event of every execution keeps, for the log retention, a record of who was sent what when. The setting turns ALL on for an investigation.',
      });
    }
    const arn = (fn: IFunction) =>
      `<${Stack.of(this).getLogicalId(fn.node.defaultChild as CfnElement)}.Arn>:*`;
    Validations.of(this.stateMachine).acknowledge(
      {
        id: `AwsSolutions-IAM5[Resource::${arn(props.pushFunction)}]`,
        reason: 'Invoking any version or alias of the Push function.',
      },
      {
        id: `AwsSolutions-IAM5[Resource::${arn(props.checkReportFunction)}]`,
        reason: 'Invoking any version or alias of the Check Report function.',
      },
      {
        id: `AwsSolutions-IAM5[Resource::${arn(props.escalateFunction)}]`,
        reason: 'Invoking any version or alias of the Escalate function.',
      },
      {
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason:
          'X-Ray tracing and CloudWatch Logs delivery for Step Functions support no resource-level permissions.',
      }
    );
  }
}
