import {
  type CfnElement,
  Duration,
  type RemovalPolicy,
  Stack,
  Validations,
} from 'aws-cdk-lib';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import {
  Choice,
  Condition,
  CustomState,
  DefinitionBody,
  Errors,
  JitterType,
  JsonPath,
  LogLevel,
  Pass,
  type RetryProps,
  StateMachine,
  StateMachineType,
  Succeed,
  TaskInput,
  Timeout,
  Wait,
  WaitTime,
} from 'aws-cdk-lib/aws-stepfunctions';
import {
  DynamoAttributeValue,
  DynamoGetItem,
  DynamoReturnValues,
  DynamoUpdateItem,
  LambdaInvoke,
  SnsPublish,
} from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';

/** Props of {@link DeliveryStateMachine}. */
export interface DeliveryStateMachineProps {
  /** Physical name; the API functions build the ARN from it. */
  readonly stateMachineName: string;
  readonly messagesTable: ITable;
  /** The Push step (JPush Push API). */
  readonly pushFunction: IFunction;
  /** The Check Report step (JPush Report API). */
  readonly checkReportFunction: IFunction;
  /** Escalation SMS to the on-call person. */
  readonly onCallTopic: ITopic;
  readonly logRetention: RetentionDays;
  readonly logRemovalPolicy: RemovalPolicy;
}

/** Errors of JPush that a later try may fix (the Lambda rethrows them by name). */
const RETRYABLE_JPUSH = ['JPushServerError', 'JPushUnknownOutcomeError'];
const LAMBDA_TRANSIENT = [
  'Lambda.ServiceException',
  'Lambda.AWSLambdaException',
  'Lambda.SdkClientException',
  'Lambda.TooManyRequestsException',
];
const DYNAMO_TRANSIENT = [
  'DynamoDB.ProvisionedThroughputExceededException',
  'DynamoDB.RequestLimitExceeded',
  'DynamoDB.ThrottlingException',
  'DynamoDB.InternalServerErrorException',
];
const SNS_TRANSIENT = [
  'SNS.InternalErrorException',
  'SNS.ThrottledException',
  'SNS.KMSThrottlingException',
];

/** Rate limited: JPush's window is a minute; back off up to that. */
const RATE_LIMIT_RETRY: RetryProps = {
  errors: ['JPushRateLimitError'],
  interval: Duration.seconds(5),
  backoffRate: 2,
  maxAttempts: 6,
  maxDelay: Duration.seconds(60),
  jitterStrategy: JitterType.FULL,
};
const TRANSIENT_RETRY: RetryProps = {
  errors: [...RETRYABLE_JPUSH, ...LAMBDA_TRANSIENT, Errors.TIMEOUT],
  interval: Duration.seconds(2),
  backoffRate: 2,
  maxAttempts: 3,
  maxDelay: Duration.seconds(30),
  jitterStrategy: JitterType.FULL,
};
const DYNAMO_RETRY: RetryProps = {
  errors: DYNAMO_TRANSIENT,
  interval: Duration.seconds(1),
  backoffRate: 2,
  maxAttempts: 5,
  jitterStrategy: JitterType.FULL,
};
const SNS_RETRY: RetryProps = {
  errors: SNS_TRANSIENT,
  interval: Duration.seconds(2),
  backoffRate: 2,
  maxAttempts: 4,
  maxDelay: Duration.seconds(30),
  jitterStrategy: JitterType.FULL,
};

const TASK_TIMEOUT = Timeout.duration(Duration.seconds(90));

/**
 * The delivery cycle: Push → Wait → Check Report → Check ACK → done, again,
 * or Escalate. One execution per delivery of a message; its name is the
 * message id. The state is small: the ids, the policy, the attempt counter
 * and the last push; everything else lives in the messages table.
 */
export class DeliveryStateMachine extends Construct {
  public readonly stateMachine: StateMachine;

  constructor(scope: Construct, id: string, props: DeliveryStateMachineProps) {
    super(scope, id);
    const table = props.messagesTable;
    const key = {
      messageId: DynamoAttributeValue.fromString(
        JsonPath.stringAt('$.messageId')
      ),
    };
    const timelineEvent = (event: string, detail: string) =>
      DynamoAttributeValue.fromList([
        DynamoAttributeValue.fromMap({
          at: DynamoAttributeValue.fromString(
            JsonPath.stringAt('$$.State.EnteredTime')
          ),
          event: DynamoAttributeValue.fromString(event),
          detail: DynamoAttributeValue.fromString(detail),
        }),
      ]);
    const appendTimeline = (stateId: string, event: string, detail: string) =>
      new DynamoUpdateItem(this, stateId, {
        table,
        key,
        updateExpression:
          'SET #timeline = list_append(if_not_exists(#timeline, :none), :event), updatedAt = :now',
        expressionAttributeNames: { '#timeline': 'timeline' },
        expressionAttributeValues: {
          ':event': timelineEvent(event, detail),
          ':none': DynamoAttributeValue.fromList([]),
          ':now': DynamoAttributeValue.fromString(
            JsonPath.stringAt('$$.State.EnteredTime')
          ),
        },
        resultPath: JsonPath.DISCARD,
        taskTimeout: TASK_TIMEOUT,
      }).addRetry(DYNAMO_RETRY);

    const acknowledged = new Succeed(this, 'Acknowledged');
    const finished = new Succeed(this, 'Finished', {
      comment: 'Ended elsewhere: stored again, expired, failed or superseded.',
    });
    const escalated = new Succeed(this, 'Escalated');

    const init = new Pass(this, 'Init', {
      parameters: {
        'messageId.$': '$.messageId',
        'delivery.$': '$.delivery',
        'intervalSeconds.$': '$.intervalSeconds',
        'maxAttempts.$': '$.maxAttempts',
        cycle: { attempt: 0 },
      },
    });
    const nextAttempt = new Pass(this, 'NextAttempt', {
      parameters: { 'attempt.$': 'States.MathAdd($.cycle.attempt, 1)' },
      resultPath: '$.cycle',
    });

    const push = new LambdaInvoke(this, 'Push', {
      lambdaFunction: props.pushFunction,
      payload: TaskInput.fromObject({
        'messageId.$': '$.messageId',
        'delivery.$': '$.delivery',
        'attempt.$': '$.cycle.attempt',
      }),
      resultSelector: { 'value.$': '$.Payload' },
      resultPath: '$.push',
      taskTimeout: TASK_TIMEOUT,
      retryOnServiceExceptions: false,
    })
      .addRetry(RATE_LIMIT_RETRY)
      .addRetry(TRANSIENT_RETRY);

    // JPush refused the push for good (bad credentials, invalid payload).
    const parseFailure = new Pass(this, 'ParseFailure', {
      parameters: { 'cause.$': 'States.StringToJson($.error.Cause)' },
      resultPath: '$.failure',
    });
    const markFailed = new DynamoUpdateItem(this, 'MarkFailed', {
      table,
      key,
      updateExpression:
        'SET #status = :failed, failureReason = :reason, updatedAt = :now, #timeline = list_append(if_not_exists(#timeline, :none), :event)',
      conditionExpression:
        '#status IN (:sending, :received) AND attribute_not_exists(ackedAt)',
      expressionAttributeNames: {
        '#status': 'status',
        '#timeline': 'timeline',
      },
      expressionAttributeValues: {
        ':failed': DynamoAttributeValue.fromString('failed'),
        ':sending': DynamoAttributeValue.fromString('sending'),
        ':received': DynamoAttributeValue.fromString('received'),
        ':reason': DynamoAttributeValue.fromString(
          JsonPath.stringAt('$.failure.cause.errorMessage')
        ),
        ':now': DynamoAttributeValue.fromString(
          JsonPath.stringAt('$$.State.EnteredTime')
        ),
        ':none': DynamoAttributeValue.fromList([]),
        ':event': timelineEvent(
          'failed',
          JsonPath.stringAt('$.failure.cause.errorMessage')
        ),
      },
      resultPath: JsonPath.DISCARD,
      taskTimeout: TASK_TIMEOUT,
    })
      .addRetry(DYNAMO_RETRY)
      .addCatch(finished, {
        errors: ['DynamoDB.ConditionalCheckFailedException'],
        resultPath: '$.error',
      });
    const failed = new Succeed(this, 'Failed', {
      comment: 'The message is marked failed with the reason.',
    });

    // Retries ran out (JPush down, or a bug): count the attempt, go on.
    const recordPushFailure = appendTimeline(
      'RecordPushFailure',
      'push-failed',
      JsonPath.format(
        'attempt {}: JPush still failing after retries ({}); the next attempt will try again',
        JsonPath.jsonToString(JsonPath.numberAt('$.cycle.attempt')),
        JsonPath.stringAt('$.error.Error')
      )
    );
    const pushFailed = new Pass(this, 'PushFailed', {
      parameters: { value: { outcome: 'push-failed', targets: [] } },
      resultPath: '$.push',
    });

    const wait = new Wait(this, 'WaitInterval', {
      time: WaitTime.secondsPath('$.intervalSeconds'),
    });

    const checkReport = new LambdaInvoke(this, 'CheckReport', {
      lambdaFunction: props.checkReportFunction,
      payload: TaskInput.fromObject({
        'messageId.$': '$.messageId',
        'delivery.$': '$.delivery',
        'attempt.$': '$.cycle.attempt',
        'push.$': '$.push.value',
      }),
      resultSelector: { 'value.$': '$.Payload' },
      resultPath: '$.report',
      taskTimeout: TASK_TIMEOUT,
      retryOnServiceExceptions: false,
    })
      .addRetry(RATE_LIMIT_RETRY)
      .addRetry(TRANSIENT_RETRY);

    const checkAck = new DynamoGetItem(this, 'CheckAck', {
      table,
      key,
      consistentRead: true,
      resultSelector: { 'status.$': '$.Item.status.S' },
      resultPath: '$.ack',
      taskTimeout: TASK_TIMEOUT,
    }).addRetry(DYNAMO_RETRY);

    const markEscalated = new DynamoUpdateItem(this, 'MarkEscalated', {
      table,
      key,
      updateExpression:
        'SET #status = :escalated, escalatedAt = :now, updatedAt = :now, #timeline = list_append(if_not_exists(#timeline, :none), :event)',
      // Once per delivery, and never after an ACK, however often retried.
      conditionExpression:
        '#status IN (:sending, :received) AND #delivery = :delivery AND attribute_not_exists(ackedAt)',
      expressionAttributeNames: {
        '#status': 'status',
        '#delivery': 'delivery',
        '#timeline': 'timeline',
      },
      expressionAttributeValues: {
        ':escalated': DynamoAttributeValue.fromString('escalated'),
        ':sending': DynamoAttributeValue.fromString('sending'),
        ':received': DynamoAttributeValue.fromString('received'),
        ':delivery': DynamoAttributeValue.numberFromString(
          JsonPath.jsonToString(JsonPath.numberAt('$.delivery'))
        ),
        ':now': DynamoAttributeValue.fromString(
          JsonPath.stringAt('$$.State.EnteredTime')
        ),
        ':none': DynamoAttributeValue.fromList([]),
        ':event': timelineEvent(
          'escalated',
          JsonPath.format(
            'not acknowledged after {} attempt(s)',
            JsonPath.jsonToString(JsonPath.numberAt('$.cycle.attempt'))
          )
        ),
      },
      returnValues: DynamoReturnValues.ALL_NEW,
      resultSelector: {
        'to.$': '$.Attributes.to.S',
        'onCall.$': '$.Attributes.escalationOnCall.BOOL',
        'smsTo.$': '$.Attributes.escalationSmsTo.S',
        'smsText.$': '$.Attributes.smsText.S',
      },
      resultPath: '$.escalation',
      taskTimeout: TASK_TIMEOUT,
    })
      .addRetry(DYNAMO_RETRY)
      .addCatch(finished, {
        errors: ['DynamoDB.ConditionalCheckFailedException'],
        resultPath: '$.error',
      });

    const notifyOnCall = new SnsPublish(this, 'NotifyOnCall', {
      topic: props.onCallTopic,
      message: TaskInput.fromJsonPathAt(
        "States.Format('Push not acknowledged: message {} to user {} after {} attempt(s). Text: {}', $.messageId, $.escalation.to, $.cycle.attempt, $.escalation.smsText)"
      ),
      resultPath: JsonPath.DISCARD,
      taskTimeout: TASK_TIMEOUT,
    }).addRetry(SNS_RETRY);
    const recordOnCall = appendTimeline(
      'RecordOnCallSms',
      'sms-sent',
      'to the on-call topic'
    );
    const recordOnCallFailure = appendTimeline(
      'RecordOnCallSmsFailure',
      'sms-failed',
      JsonPath.format(
        'to the on-call topic: {}',
        JsonPath.stringAt('$.error.Error')
      )
    );

    // The optimized SNS integration takes PhoneNumber, which the CDK task
    // does not expose: a raw state, with its IAM statement added below.
    const smsRecipient = new CustomState(this, 'SmsRecipient', {
      stateJson: {
        Type: 'Task',
        Resource: `arn:${Stack.of(this).partition}:states:::sns:publish`,
        Parameters: {
          'PhoneNumber.$': '$.escalation.smsTo',
          'Message.$': '$.escalation.smsText',
        },
        ResultPath: null,
        TimeoutSeconds: 90,
      },
    }).addRetry(SNS_RETRY);
    const recordRecipientSms = appendTimeline(
      'RecordRecipientSms',
      'sms-sent',
      JsonPath.format(
        'to the recipient at {}',
        JsonPath.stringAt('$.escalation.smsTo')
      )
    );
    const recordRecipientSmsFailure = appendTimeline(
      'RecordRecipientSmsFailure',
      'sms-failed',
      JsonPath.format(
        'to the recipient at {}: {}',
        JsonPath.stringAt('$.escalation.smsTo'),
        JsonPath.stringAt('$.error.Error')
      )
    );

    const recipientSms = new Choice(this, 'SmsToRecipient?')
      .when(
        Condition.and(
          Condition.isPresent('$.escalation.smsTo'),
          Condition.not(Condition.stringEquals('$.escalation.smsTo', ''))
        ),
        smsRecipient
      )
      .otherwise(escalated);
    smsRecipient.addCatch(recordRecipientSmsFailure, {
      errors: [Errors.ALL],
      resultPath: '$.error',
    });
    smsRecipient.next(recordRecipientSms);
    recordRecipientSms.next(escalated);
    recordRecipientSmsFailure.next(escalated);

    notifyOnCall.addCatch(recordOnCallFailure, {
      errors: [Errors.ALL],
      resultPath: '$.error',
    });
    notifyOnCall.next(recordOnCall);
    recordOnCall.next(recipientSms);
    recordOnCallFailure.next(recipientSms);

    markEscalated.next(
      new Choice(this, 'NotifyOnCall?')
        .when(
          Condition.booleanEquals('$.escalation.onCall', true),
          notifyOnCall
        )
        .otherwise(recipientSms)
    );

    const decide = new Choice(this, 'Decide')
      .when(
        Condition.stringEquals('$.ack.status', 'acknowledged'),
        acknowledged
      )
      .when(
        Condition.or(
          Condition.stringEquals('$.ack.status', 'stored'),
          Condition.stringEquals('$.ack.status', 'escalated'),
          Condition.stringEquals('$.ack.status', 'expired'),
          Condition.stringEquals('$.ack.status', 'failed')
        ),
        finished
      )
      .when(
        Condition.numberGreaterThanEqualsJsonPath(
          '$.cycle.attempt',
          '$.maxAttempts'
        ),
        markEscalated
      )
      .otherwise(nextAttempt);

    const afterPush = new Choice(this, 'AfterPush')
      .when(
        Condition.or(
          Condition.stringEquals('$.push.value.outcome', 'done'),
          Condition.stringEquals('$.push.value.outcome', 'stored'),
          Condition.stringEquals('$.push.value.outcome', 'expired')
        ),
        finished
      )
      .otherwise(wait);

    push.addCatch(parseFailure, {
      errors: ['JPushRejectedError'],
      resultPath: '$.error',
    });
    push.addCatch(recordPushFailure, {
      errors: [Errors.ALL],
      resultPath: '$.error',
    });
    parseFailure.next(markFailed);
    markFailed.next(failed);
    recordPushFailure.next(pushFailed);
    pushFailed.next(wait);

    checkReport.addCatch(checkAck, {
      errors: [Errors.ALL],
      resultPath: '$.reportError',
    });

    init.next(nextAttempt);
    nextAttempt.next(push);
    push.next(afterPush);
    wait.next(checkReport);
    checkReport.next(checkAck);
    checkAck.next(decide);

    const logGroup = new LogGroup(this, 'Logs', {
      retention: props.logRetention,
      removalPolicy: props.logRemovalPolicy,
    });
    this.stateMachine = new StateMachine(this, 'StateMachine', {
      stateMachineName: props.stateMachineName,
      stateMachineType: StateMachineType.STANDARD,
      definitionBody: DefinitionBody.fromChainable(init),
      comment:
        'Guaranteed push delivery: push through JPush, wait, check the Report API and the app ACK, repeat or escalate by SMS.',
      tracingEnabled: true,
      logs: {
        destination: logGroup,
        level: LogLevel.ALL,
        includeExecutionData: true,
      },
      timeout: Duration.days(11),
    });
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
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason:
          'X-Ray tracing and CloudWatch Logs delivery for Step Functions support no resource-level permissions.',
      }
    );
    this.stateMachine.addToRolePolicy(
      new PolicyStatement({
        actions: ['sns:Publish'],
        // SMS to a phone number has no resource ARN.
        notResources: [`arn:${Stack.of(this).partition}:sns:*:*:*`],
      })
    );
  }
}
