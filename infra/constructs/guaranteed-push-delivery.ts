import {
  ArnFormat,
  Duration,
  RemovalPolicy,
  Stack,
  Validations,
} from 'aws-cdk-lib';
import type { HttpStage as HttpStageType } from 'aws-cdk-lib/aws-apigatewayv2';
import {
  type CfnRoute,
  type CfnStage,
  HttpApi,
  HttpMethod,
  HttpNoneAuthorizer,
  HttpStage,
  LogGroupLogDestination,
} from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpIamAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import {
  Alarm,
  ComparisonOperator,
  type IMetric,
  MathExpression,
  Metric,
  TreatMissingData,
  Unit,
} from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import type { ITable, Table } from 'aws-cdk-lib/aws-dynamodb';
import {
  EventBus,
  type IEventBus,
  Rule,
  Schedule,
} from 'aws-cdk-lib/aws-events';
import { LambdaFunction as LambdaFunctionTarget } from 'aws-cdk-lib/aws-events-targets';
import {
  type IRole,
  PolicyStatement,
  ServicePrincipal,
} from 'aws-cdk-lib/aws-iam';
import { type IKey, Key } from 'aws-cdk-lib/aws-kms';
import { StartingPosition } from 'aws-cdk-lib/aws-lambda';
import {
  DynamoEventSource,
  SqsDlq,
} from 'aws-cdk-lib/aws-lambda-event-sources';
import { FilterPattern, LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import {
  type ITopic,
  Subscription,
  SubscriptionProtocol,
  Topic,
} from 'aws-cdk-lib/aws-sns';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import type { StateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import { LogLevel } from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import {
  countriesOf,
  SMS_DEFAULTS,
} from '../../functions/domain/sms-limits.ts';
import {
  ENV,
  METRIC,
  METRICS_NAMESPACE,
  SERVICE_NAME,
  TABLE_ENV,
  type TableName,
} from '../../functions/shared/names.ts';
import {
  API_DEFAULTS,
  type EnvironmentConfig,
  JPUSH_DEFAULTS,
  PRIVACY_DEFAULTS,
  type PrivacyConfig,
  type RouteThrottle,
  type SmsConfig,
} from '../config.ts';
import { DeliveryDashboard } from './dashboard.ts';
import { DeliveryStateMachine } from './delivery-state-machine.ts';
import { PushDeliveryData } from './push-delivery-data.ts';
import { type DynamoAction, ServiceFunction } from './service-function.ts';

/**
 * The dimension of {@link METRIC.ApiRequestThrottled}: the route key
 * (`POST /v1/messages`) the access log line carries.
 */
const ROUTE_DIMENSION = 'route';

/** Props of {@link GuaranteedPushDelivery}; every one has a default. */
export interface GuaranteedPushDeliveryProps {
  /**
   * The tables and secrets, e.g. from a data stack of the team's own.
   * @default a `PushDeliveryData` made inside this construct (id `Data`)
   */
  readonly data?: PushDeliveryData;
  /**
   * Names what is named per deployment: the state machine and the dashboard
   * `PushDelivery-<stage>`, the alarms `PushDelivery-<alarm>-<stage>`, the
   * bus `PushDeliveryOutcomes-<stage>`. Two deployments in one account and
   * region need two stages.
   * @default 'dev'
   */
  readonly stage?: string;
  /**
   * E.164 numbers subscribed by SMS to the on-call topic (and the ops topic).
   * @default none
   */
  readonly onCallPhoneNumbers?: readonly string[];
  /**
   * JPush's API hosts.
   * @default https://api.jpush.cn, https://report.jpush.cn, https://device.jpush.cn
   */
  readonly jpush?: Partial<EnvironmentConfig['jpush']>;
  /** Time one JPush call may take. @default 10 seconds */
  readonly jpushTimeout?: Duration;
  /**
   * SMS limits and the on-call grouping.
   * @default 5 an hour to a number, 1000 a day, `smsTo` in the on-call
   * numbers' countries, a 300 s on-call window, no title in the page, the
   * SmsSuppressed alarm from the first held back
   */
  readonly sms?: Partial<SmsConfig>;
  /** The functions' Powertools log level. @default 'INFO' */
  readonly logLevel?: EnvironmentConfig['logLevel'];
  /** Retention of every log group. @default RetentionDays.ONE_MONTH */
  readonly logRetention?: RetentionDays;
  /**
   * What happens to the log groups (and to the data, when this construct
   * makes it) when they leave the stack.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
  /**
   * Retention of ended messages (days), and what the state machine logs.
   * @default 30 days; ERROR, without execution data
   */
  readonly privacy?: Partial<PrivacyConfig>;
  /**
   * The API's request limits (requests per second, bucket), whether an ACK
   * must name its device, and the API alarms' thresholds.
   * @default ACK route 100/s (200), each backend route 200/s (400), the
   * device required, alarms at 100 ACK 4xx, 100 ACK 429, 10 backend 429
   */
  readonly api?: {
    readonly ackThrottle?: RouteThrottle;
    readonly backendThrottle?: RouteThrottle;
    readonly ackRequiresDevice?: boolean;
    readonly alarms?: Partial<EnvironmentConfig['api']['alarms']>;
  };
  /**
   * The outcome events: the bus they go to and whether they carry the
   * message's content.
   * @default a bus of its own, `PushDeliveryOutcomes-<stage>`; ids and
   * statuses only
   */
  readonly events?: {
    readonly eventBus?: IEventBus;
    readonly includeContent?: boolean;
  };
  /**
   * An existing topic for the on-call SMS (and the alarms that page). Its
   * policy must let CloudWatch publish for the alarms, and its key (give it
   * as `onCallTopicKey`) let them and the functions encrypt.
   * @default a topic of its own, encrypted with a key of its own, the
   * on-call numbers subscribed
   */
  readonly onCallTopic?: ITopic;
  /**
   * The key of `onCallTopic`, or the key to encrypt the topic this
   * construct makes.
   * @default a key of its own, rotated yearly
   */
  readonly onCallTopicKey?: IKey;
}

/** Every setting, defaults filled in. */
type Settings = Omit<EnvironmentConfig, 'env' | 'events'> & {
  readonly events: { readonly includeContent: boolean };
};

const E164 = /^\+[1-9]\d{6,14}$/;

/**
 * The props with their defaults.
 * @throws Error when an on-call number is not in E.164 form
 */
const resolveSettings = (props: GuaranteedPushDeliveryProps): Settings => {
  const phones = props.onCallPhoneNumbers ?? [];
  for (const phone of phones) {
    if (!E164.test(phone)) {
      throw new Error(
        `onCallPhoneNumbers: "${phone}" is not an E.164 number like +8613800000000`
      );
    }
  }
  return {
    stage: props.stage ?? 'dev',
    logLevel: props.logLevel ?? 'INFO',
    logRetention: props.logRetention ?? RetentionDays.ONE_MONTH,
    removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
    onCallPhoneNumbers: phones,
    jpush: { ...JPUSH_DEFAULTS, ...props.jpush },
    jpushTimeout: props.jpushTimeout ?? Duration.seconds(10),
    sms: {
      ...SMS_DEFAULTS,
      countries: countriesOf(phones),
      suppressedAlarmThreshold: 1,
      ...props.sms,
    },
    privacy: { ...PRIVACY_DEFAULTS, ...props.privacy },
    api: {
      ackThrottle: props.api?.ackThrottle ?? API_DEFAULTS.ackThrottle,
      backendThrottle:
        props.api?.backendThrottle ?? API_DEFAULTS.backendThrottle,
      ackRequiresDevice:
        props.api?.ackRequiresDevice ?? API_DEFAULTS.ackRequiresDevice,
      alarms: { ...API_DEFAULTS.alarms, ...props.api?.alarms },
    },
    events: { includeContent: props.events?.includeContent ?? false },
  };
};

/**
 * Guaranteed push delivery: the HTTP API, the functions, the delivery state
 * machine (push through JPush, check its report and the app's ACK, push
 * again, escalate by SMS), the on-call and ops topics, the outcome events'
 * bus, the alarms and the dashboard, on the tables and secrets of a
 * {@link PushDeliveryData} (given, or made inside).
 *
 * cdk-nag (AwsSolutions, Serverless) passes on it as it is: each finding it
 * accepts is acknowledged on the exact resource, with its reason.
 */
export class GuaranteedPushDelivery extends Construct {
  /** The HTTP API (IAM on the backend routes; the ACK route by its token). */
  public readonly api: HttpApi;
  /** Its `$default` stage (the API's URL: `api.apiEndpoint`). */
  public readonly apiStage: HttpStageType;
  /** The delivery state machine and its steps. */
  public readonly delivery: DeliveryStateMachine;
  /** The delivery state machine. */
  public readonly stateMachine: StateMachine;
  /** The tables and secrets. */
  public readonly data: PushDeliveryData;
  /** The tables, by the name the functions know them by. */
  public readonly tables: Readonly<Record<TableName, Table>>;
  /** Where escalation SMS go: the on-call numbers. */
  public readonly onCallTopic: ITopic;
  /** The on-call topic (the issue's `topic`). */
  public get topic(): ITopic {
    return this.onCallTopic;
  }
  /**
   * Tells the operators that the on-call path itself failed (an SMS whose
   * publish failed); its own key, so it does not fail with the on-call one.
   */
  public readonly opsTopic: Topic;
  /** The bus the outcome events are put on (its own, or the one given). */
  public readonly eventBus: IEventBus;
  /** The outcome events' bus (the issue's `bus`). */
  public get bus(): IEventBus {
    return this.eventBus;
  }
  /** Messages by outcome, JPush, SMS, executions and the API. */
  public readonly dashboard: DeliveryDashboard;

  constructor(
    scope: Construct,
    id: string,
    props: GuaranteedPushDeliveryProps = {}
  ) {
    super(scope, id);
    const stack = Stack.of(this);
    const config = resolveSettings(props);
    const data = props.data ?? new PushDeliveryData(this, 'Data');
    this.data = data;
    const stateMachineName = `PushDelivery-${config.stage}`;
    // Built from the name rather than taken from the state machine: the Push
    // function may start a delivery (a re-stored message whose user logged
    // in at that moment) and is itself a step of the machine.
    const stateMachineArn = stack.formatArn({
      service: 'states',
      resource: 'stateMachine',
      resourceName: stateMachineName,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });

    const tables = {
      messages: data.messages,
      sessions: data.sessions,
      devices: data.devices,
      offline: data.offlineStore,
      history: data.history,
      pacing: data.pacing,
      withdrawals: data.withdrawals,
      smsLimits: data.smsLimits,
    } as const satisfies Record<TableName, ITable>;
    /**
     * A function with the DynamoDB actions it makes on the tables it names,
     * and nothing else.
     */
    const fn = (
      id: string,
      handlerName: string,
      access: Partial<Record<TableName, readonly DynamoAction[]>>,
      timeout = 10
    ) => {
      const f = new ServiceFunction(this, id, {
        handlerName,
        timeout: Duration.seconds(timeout),
        logRetention: config.logRetention,
        logRemovalPolicy: config.removalPolicy,
        logLevel: config.logLevel,
        // What the alarms watch: the namespace and dimension are the ones
        // they are built with, not only the construct's defaults.
        environment: {
          POWERTOOLS_SERVICE_NAME: SERVICE_NAME,
          POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
        },
      });
      for (const [name, actions] of Object.entries(access)) {
        const table = name as TableName;
        f.bindTable({
          table: tables[table],
          actions,
          envVar: TABLE_ENV[table],
        });
      }
      // Whoever writes messages or history sets how long they are kept.
      const writes = (actions: readonly DynamoAction[] = []) =>
        actions.some((a) => a === 'PutItem' || a === 'UpdateItem');
      if (writes(access.messages) || writes(access.history)) {
        f.fn.addEnvironment(
          ENV.retentionDays,
          String(config.privacy.retentionDays)
        );
      }
      return f;
    };
    const useJPush = (f: ServiceFunction) => {
      f.fn.addEnvironment(ENV.jpushPushBaseUrl, config.jpush.pushBaseUrl);
      f.fn.addEnvironment(ENV.jpushReportBaseUrl, config.jpush.reportBaseUrl);
      f.fn.addEnvironment(ENV.jpushDeviceBaseUrl, config.jpush.deviceBaseUrl);
      f.fn.addEnvironment(
        ENV.jpushTimeoutMs,
        String(config.jpushTimeout.toMilliseconds())
      );
      return f.bindSecret({
        secret: data.jpushCredentials,
        envVar: ENV.jpushCredentialsSecretArn,
      });
    };
    const startsDeliveries = (f: ServiceFunction) => {
      f.fn.addEnvironment(ENV.stateMachineArn, stateMachineArn);
      f.fn.addToRolePolicy(
        new PolicyStatement({
          actions: ['states:StartExecution'],
          resources: [stateMachineArn],
        })
      );
      return f;
    };
    // Ends the Push step's wait (the task token kept with the attempt); the
    // Push step also asks whether its own wait still runs (a heartbeat)
    // before it takes over an attempt another try of the step recorded.
    const endsWaits = (
      f: ServiceFunction,
      actions = ['states:SendTaskSuccess']
    ) => {
      f.fn.addToRolePolicy(
        new PolicyStatement({ actions, resources: [stateMachineArn] })
      );
      return f;
    };
    const signsAcks = (f: ServiceFunction) =>
      f.bindSecret({
        secret: data.ackSigningKey,
        envVar: ENV.ackKeySecretArn,
      });

    // The delivery cycle's code steps. Push may put a message back in the
    // offline store (no session left) and start it again at once, and
    // withdraws a push whose device was left while it was sent.
    const push = fn(
      'PushFunction',
      'push',
      {
        messages: ['GetItem', 'UpdateItem'],
        sessions: ['Query'],
        // Back to the offline store when no session is left, and out of it
        // at once when one came back meanwhile.
        offline: ['PutItem', 'Query', 'DeleteItem'],
        pacing: ['GetItem', 'UpdateItem'],
        withdrawals: ['PutItem', 'DeleteItem'],
      },
      30
    );
    useJPush(push);
    signsAcks(push);
    startsDeliveries(push);
    endsWaits(push, ['states:SendTaskSuccess', 'states:SendTaskHeartbeat']);
    const checkReport = fn(
      'CheckReportFunction',
      'check-report',
      {
        messages: ['GetItem', 'UpdateItem'],
        pacing: ['GetItem', 'UpdateItem'],
      },
      30
    );
    useJPush(checkReport);

    // SMS that SNS could not hand to the carrier end here, from both topics
    // (cdk-nag's Serverless-SNSRedrivePolicy); the ops topic's alarm below
    // watches it.
    const smsUndelivered = new Queue(this, 'SmsUndelivered', {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    Validations.of(smsUndelivered).acknowledge(
      {
        id: 'AwsSolutions-SQS3',
        reason:
          'This queue is itself the dead-letter destination of the SMS subscriptions.',
      },
      {
        id: 'Serverless-SQSRedrivePolicy',
        reason:
          'This queue is itself the dead-letter destination of the SMS subscriptions.',
      }
    );
    // (SmsSubscription takes no dead-letter queue, so the subscription is
    // built directly.)
    const subscribeNumbers = (topic: Topic) => {
      config.onCallPhoneNumbers.forEach((phone, i) => {
        new Subscription(this, `${topic.node.id}Sms${i + 1}`, {
          topic,
          protocol: SubscriptionProtocol.SMS,
          endpoint: phone,
          deadLetterQueue: smsUndelivered,
        });
      });
    };

    if (props.onCallTopic) {
      this.onCallTopic = props.onCallTopic;
    } else {
      const topic = new Topic(this, 'OnCallTopic', {
        displayName: 'Push delivery escalations',
        masterKey:
          props.onCallTopicKey ??
          new Key(this, 'OnCallTopicKey', {
            enableKeyRotation: true,
            description: 'Encrypts the on-call escalation topic.',
          }),
        enforceSSL: true,
      });
      subscribeNumbers(topic);
      this.onCallTopic = topic;
    }

    // The SMS limits, as the Escalate and on-call summary functions read them.
    const limitsSms = (f: ServiceFunction) => {
      const { sms } = config;
      f.fn.addEnvironment(
        ENV.smsPerNumberPerHour,
        String(sms.perNumberPerHour)
      );
      f.fn.addEnvironment(ENV.smsDailyCap, String(sms.dailyCap));
      f.fn.addEnvironment(
        ENV.onCallWindowSeconds,
        String(sms.onCallWindowSeconds)
      );
      f.fn.addEnvironment(
        ENV.onCallSmsIncludesTitle,
        String(sms.onCallIncludesTitle)
      );
      return f;
    };
    const pagesOnCall = (f: ServiceFunction) => {
      f.fn.addEnvironment(ENV.onCallTopicArn, this.onCallTopic.topicArn);
      this.onCallTopic.grantPublish(f.fn);
      // A topic given from outside: its key, when given, is granted too.
      if (props.onCallTopic && props.onCallTopicKey) {
        props.onCallTopicKey.grant(f.fn, 'kms:GenerateDataKey*', 'kms:Decrypt');
      }
      Validations.of(f.fn.role as IRole).acknowledge({
        id: 'AwsSolutions-IAM5[Action::kms:GenerateDataKey*]',
        reason:
          "Publishing to the encrypted on-call topic needs GenerateDataKey* on the topic's own key, and on that key only.",
      });
      return limitsSms(f);
    };
    const escalate = pagesOnCall(
      fn(
        'EscalateFunction',
        'escalate',
        {
          messages: ['UpdateItem'],
          // Counters (UpdateItem), the open window (GetItem) and a new one
          // (PutItem).
          smsLimits: ['GetItem', 'PutItem', 'UpdateItem'],
        },
        30
      )
    );
    escalate.fn.addToRolePolicy(
      new PolicyStatement({
        actions: ['sns:Publish'],
        // SMS to a phone number has no resource ARN.
        notResources: [`arn:${stack.partition}:sns:*:*:*`],
      })
    );

    this.delivery = new DeliveryStateMachine(this, 'Delivery', {
      stateMachineName,
      pushFunction: push.fn,
      checkReportFunction: checkReport.fn,
      escalateFunction: escalate.fn,
      logRetention: config.logRetention,
      logRemovalPolicy: config.removalPolicy,
      logLevel: LogLevel[config.privacy.stateMachineLogLevel],
      logExecutionData: config.privacy.stateMachineLogExecutionData,
    });

    // The on-call windows that have closed get their summary SMS, every
    // minute.
    const onCallSummary = pagesOnCall(
      fn('OnCallSummaryFunction', 'on-call-summary', {
        smsLimits: ['Query', 'UpdateItem'],
      })
    );
    const summarySchedule = new Rule(this, 'OnCallSummarySchedule', {
      description: 'Sends the summary SMS of the on-call windows that closed.',
      schedule: Schedule.rate(Duration.minutes(1)),
      targets: [new LambdaFunctionTarget(onCallSummary.fn)],
    });
    Validations.of(summarySchedule).acknowledge({
      id: 'Serverless-EventBusDLQ',
      reason:
        'A missed run loses nothing: the closed windows stay in the SMS limits table and the next minute takes them.',
    });

    // Withdrawals JPush did not confirm at once are tried again every minute.
    const withdrawSweeper = fn(
      'WithdrawSweeperFunction',
      'withdraw-sweeper',
      {
        messages: ['GetItem', 'UpdateItem'],
        withdrawals: ['Query', 'PutItem', 'DeleteItem'],
        pacing: ['GetItem', 'UpdateItem'],
      },
      60
    );
    useJPush(withdrawSweeper);
    // A withdrawal of a push whose answer was lost sends it again first
    // (same cid, same payload, ACK token included) to learn its msg_id.
    signsAcks(withdrawSweeper);
    const sweepSchedule = new Rule(this, 'WithdrawSweepSchedule', {
      description: 'Retries the withdrawals JPush has not confirmed yet.',
      schedule: Schedule.rate(Duration.minutes(1)),
      targets: [new LambdaFunctionTarget(withdrawSweeper.fn)],
    });
    Validations.of(sweepSchedule).acknowledge({
      id: 'Serverless-EventBusDLQ',
      reason:
        'A missed sweep loses nothing: the entries stay in the outbox table and the next minute takes them.',
    });

    // The API.
    const sendMessage = startsDeliveries(
      fn('SendMessageFunction', 'send-message', {
        messages: ['PutItem', 'GetItem', 'UpdateItem'],
        sessions: ['Query'],
        offline: ['PutItem'],
        history: ['PutItem'],
      })
    );
    sendMessage.fn.addEnvironment(
      ENV.smsCountries,
      config.sms.countries.join(',')
    );
    // Up to 100 messages, each sent as the one above sends it: the same
    // grants, more time (ten at once, each a few calls).
    const sendBatch = startsDeliveries(
      fn(
        'SendMessageBatchFunction',
        'send-message-batch',
        {
          messages: ['PutItem', 'GetItem', 'UpdateItem'],
          sessions: ['Query'],
          offline: ['PutItem'],
          history: ['PutItem'],
        },
        30
      )
    );
    sendBatch.fn.addEnvironment(
      ENV.smsCountries,
      config.sms.countries.join(',')
    );
    const getMessage = fn('GetMessageFunction', 'get-message', {
      messages: ['GetItem'],
    });
    const ackMessage = endsWaits(
      signsAcks(
        fn('AckMessageFunction', 'ack-message', {
          messages: ['GetItem', 'UpdateItem'],
        })
      )
    );
    // Whether an ACK must name a device the message's delivery pushed to.
    ackMessage.fn.addEnvironment(
      ENV.ackRequiresDevice,
      String(config.api.ackRequiresDevice)
    );

    // Login and logout both end sessions (an account switch ends the
    // previous user's), which withdraws pushes and may put messages back in
    // the offline store; login drains it. Both therefore start deliveries
    // (a re-stored message whose user logged in meanwhile starts at once).
    const sessionFunction = (
      id: string,
      handlerName: string,
      access: Parameters<typeof fn>[2]
    ) => signsAcks(startsDeliveries(useJPush(fn(id, handlerName, access, 30))));
    // A logout, and the login that ends another user's session on the
    // device, withdraw that user's recent pushes (history → messages) and
    // put what is still undelivered back in the offline store.
    const endsSessions = {
      messages: ['GetItem', 'UpdateItem', 'BatchGetItem'],
      history: ['Query'],
      withdrawals: ['PutItem', 'DeleteItem'],
      pacing: ['GetItem', 'UpdateItem'],
    } as const;
    const login = sessionFunction('LoginFunction', 'login', {
      ...endsSessions,
      sessions: ['PutItem', 'Query', 'DeleteItem'],
      devices: ['GetItem', 'PutItem', 'DeleteItem'],
      offline: ['Query', 'DeleteItem', 'PutItem'],
    });
    const logout = sessionFunction('LogoutFunction', 'logout', {
      ...endsSessions,
      sessions: ['Query', 'DeleteItem'],
      devices: ['GetItem', 'DeleteItem'],
      offline: ['PutItem', 'Query', 'DeleteItem'],
    });
    const history = fn('HistoryFunction', 'list-history', {
      history: ['Query'],
      messages: ['BatchGetItem'],
    }).bindSecret({
      secret: data.historyCursorKey,
      envVar: ENV.cursorKeySecretArn,
    });
    // Erasing a user: their sessions and devices, every message of their
    // history (and the other side's entry of a chat), their offline store
    // and the pending withdrawals of those messages; the alias through
    // JPush's Device API, the pushes still queued through its Push API, and
    // the running deliveries' waits through their task tokens.
    const eraseUser = endsWaits(
      useJPush(
        fn(
          'EraseUserFunction',
          'erase-user',
          {
            messages: ['BatchGetItem', 'DeleteItem'],
            history: ['Query', 'DeleteItem'],
            sessions: ['Query', 'DeleteItem'],
            devices: ['DeleteItem'],
            offline: ['Query', 'DeleteItem'],
            withdrawals: ['DeleteItem'],
            pacing: ['GetItem', 'UpdateItem'],
          },
          60
        )
      )
    );

    // Cancelling a message: it ends `cancelled` (one conditional update),
    // its running delivery's wait ends through the task token, it leaves
    // the offline store, and its pushes are withdrawn through the outbox (a
    // push whose answer was lost is sent again with its cid first, hence
    // the ACK key).
    const cancelMessage = endsWaits(
      signsAcks(
        useJPush(
          fn(
            'CancelMessageFunction',
            'cancel-message',
            {
              messages: ['GetItem', 'UpdateItem'],
              offline: ['DeleteItem'],
              withdrawals: ['PutItem', 'DeleteItem'],
              pacing: ['GetItem', 'UpdateItem'],
            },
            30
          )
        )
      )
    );

    // Outcome metrics from the messages table's stream: escalations and
    // failures are decided by direct integrations, so they are counted here.
    const outcomeMetrics = fn('OutcomeMetricsFunction', 'outcome-metrics', {});
    const streamFailures = new Queue(this, 'OutcomeMetricsFailures', {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    Validations.of(streamFailures).acknowledge(
      {
        id: 'AwsSolutions-SQS3',
        reason:
          'This queue is itself the dead-letter destination of the stream consumer.',
      },
      {
        id: 'Serverless-SQSRedrivePolicy',
        reason:
          'This queue is itself the dead-letter destination of the stream consumer.',
      }
    );
    outcomeMetrics.fn.addEventSource(
      new DynamoEventSource(data.messages, {
        startingPosition: StartingPosition.LATEST,
        batchSize: 100,
        maxBatchingWindow: Duration.seconds(5),
        bisectBatchOnError: true,
        reportBatchItemFailures: true,
        retryAttempts: 3,
        onFailure: new SqsDlq(streamFailures),
      })
    );
    // Outcome events from the same stream: every status change, in order
    // per message, at least once, on the bus. A record whose events cannot
    // be put is tried again (and every later one of its shard after it), for
    // as long as the stream keeps it; then it goes to the dead-letter queue,
    // which alarms.
    this.eventBus =
      props.events?.eventBus ??
      new EventBus(this, 'OutcomeEventBus', {
        eventBusName: `PushDeliveryOutcomes-${config.stage}`,
        description:
          'Outcome events of push delivery: one per status change of a message.',
      });
    const outcomeEvents = fn('OutcomeEventsFunction', 'outcome-events', {});
    outcomeEvents.fn.addEnvironment(
      ENV.eventBusName,
      this.eventBus.eventBusArn
    );
    outcomeEvents.fn.addEnvironment(
      ENV.eventsIncludeContent,
      String(config.events.includeContent)
    );
    this.eventBus.grantPutEventsTo(outcomeEvents.fn);
    const eventFailures = new Queue(this, 'OutcomeEventsFailures', {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    Validations.of(eventFailures).acknowledge(
      {
        id: 'AwsSolutions-SQS3',
        reason:
          'This queue is itself the dead-letter destination of the outcome events consumer.',
      },
      {
        id: 'Serverless-SQSRedrivePolicy',
        reason:
          'This queue is itself the dead-letter destination of the outcome events consumer.',
      }
    );
    outcomeEvents.fn.addEventSource(
      new DynamoEventSource(data.messages, {
        startingPosition: StartingPosition.LATEST,
        batchSize: 100,
        maxBatchingWindow: Duration.seconds(1),
        // Not bisected: a batch stops at its first failed record, which
        // comes again with every later one, so the order holds.
        bisectBatchOnError: false,
        reportBatchItemFailures: true,
        retryAttempts: 10_000,
        maxRecordAge: Duration.days(1),
        // One batch at a time per shard: a message's changes in order.
        parallelizationFactor: 1,
        onFailure: new SqsDlq(eventFailures),
      })
    );
    // The ops topic tells that the on-call path failed, so it shares
    // nothing with it but the numbers; operators subscribe more endpoints.
    this.opsTopic = new Topic(this, 'OpsTopic', {
      displayName: 'Push delivery operations',
      masterKey: new Key(this, 'OpsTopicKey', {
        enableKeyRotation: true,
        description:
          'Encrypts the ops topic, which reports failed on-call SMS; apart from the on-call key so as not to fail with it.',
      }),
      enforceSSL: true,
    });
    subscribeNumbers(this.opsTopic);
    // Alarms. Each has a name, so that the key and topic policies below can
    // name exactly the alarms that may use them (an ARN taken from the alarm
    // would make the key depend on the alarm, which depends on the topic,
    // which depends on the key). Those policies are written after the last
    // alarm, the API's, at the end.
    const alarmsOf = new Map<ITopic, string[]>();
    const alarm = (
      id: string,
      topic: ITopic,
      metric: IMetric,
      description: string,
      threshold = 1
    ) => {
      const alarmName = `PushDelivery-${id}-${config.stage}`;
      new Alarm(this, `${id}Alarm`, {
        alarmName,
        metric,
        threshold,
        evaluationPeriods: 1,
        comparisonOperator:
          ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: TreatMissingData.NOT_BREACHING,
        alarmDescription: description,
      }).addAlarmAction(new SnsAction(topic));
      alarmsOf.set(topic, [...(alarmsOf.get(topic) ?? []), alarmName]);
    };
    const outcome = (metricName: string) =>
      new Metric({
        namespace: METRICS_NAMESPACE,
        metricName,
        dimensionsMap: { service: SERVICE_NAME },
        statistic: 'Sum',
        period: Duration.minutes(5),
      });
    alarm(
      'MessagesFailed',
      this.onCallTopic,
      outcome(METRIC.MessageFailed),
      'JPush refused messages for good (check the JPush credentials and payloads).'
    );
    alarm(
      'DeliveryExecutionsFailed',
      this.onCallTopic,
      this.delivery.stateMachine.metricFailed({ period: Duration.minutes(5) }),
      'Delivery executions failed: messages may be stuck; see the state machine logs.'
    );
    alarm(
      'OutcomeStreamFailures',
      this.onCallTopic,
      streamFailures.metricApproximateNumberOfMessagesVisible({
        period: Duration.minutes(5),
      }),
      'The outcome metrics consumer could not process stream records.'
    );
    alarm(
      'SmsUndelivered',
      this.opsTopic,
      smsUndelivered.metricApproximateNumberOfMessagesVisible({
        period: Duration.minutes(5),
      }),
      'SNS could not deliver an on-call or ops SMS to the carrier; the messages wait in the SmsUndelivered queue.'
    );
    // Not through the on-call topic: when publishing to it fails (its key,
    // its policy, the topic itself), this alarm must still be heard.
    alarm(
      'SmsFailed',
      this.opsTopic,
      outcome(METRIC.EscalationSmsFailed),
      'An escalation SMS could not be sent (the on-call topic or the recipient number); see the sms-failed events in the message timelines.'
    );
    alarm(
      'SmsSuppressed',
      this.opsTopic,
      outcome(METRIC.SmsSuppressed),
      "Escalation SMS were held back by a limit (a number's hourly rate or the daily cap); see the sms-suppressed events in the message timelines, and raise smsDailyCap if the cap is too low.",
      config.sms.suppressedAlarmThreshold
    );
    alarm(
      'OutcomeEventsUndelivered',
      this.opsTopic,
      eventFailures.metricApproximateNumberOfMessagesVisible({
        period: Duration.minutes(5),
      }),
      'Outcome events could not be put on the bus for a day; the stream records wait in the OutcomeEventsFailures queue (see the OutcomeEvents function log).'
    );
    const accessLogs = new LogGroup(this, 'ApiAccessLogs', {
      retention: config.logRetention,
      removalPolicy: config.removalPolicy,
    });
    this.api = new HttpApi(this, 'Api', {
      description: 'Guaranteed push delivery API (v1)',
      createDefaultStage: false,
      defaultAuthorizer: new HttpIamAuthorizer(),
    });
    const stage = new HttpStage(this, 'DefaultStage', {
      httpApi: this.api,
      stageName: '$default',
      autoDeploy: true,
      accessLogSettings: {
        destination: new LogGroupLogDestination(accessLogs),
      },
      // Only for a route without settings of its own (each route below
      // has them): the backend routes' limits.
      throttle: config.api.backendThrottle,
    });
    // The L2 stage has no access log format setting; JSON lines, no bodies.
    (stage.node.defaultChild as CfnStage).addPropertyOverride(
      'AccessLogSettings.Format',
      JSON.stringify({
        requestId: '$context.requestId',
        ip: '$context.identity.sourceIp',
        caller: '$context.identity.caller',
        requestTime: '$context.requestTime',
        routeKey: '$context.routeKey',
        status: '$context.status',
        responseLength: '$context.responseLength',
        integrationError: '$context.integrationErrorMessage',
      })
    );
    Validations.of(stage).acknowledge({
      id: 'Serverless-APIGWStructuredLogging',
      reason:
        'The format is JSON, set by the property override above, which cdk-nag does not see.',
    });
    // Each route has its own token bucket (the stage's RouteSettings, keyed
    // by the route key each route is created with): the open route, the
    // apps' ACK, has the ACK limits, so a flood of it is answered 429 there
    // and takes nothing from the backend routes' budgets. The ACK route also
    // has detailed metrics (its own 4xx, Count, Latency), which its alarm
    // watches.
    const routeSettings: Record<
      string,
      {
        ThrottlingRateLimit: number;
        ThrottlingBurstLimit: number;
        DetailedMetricsEnabled: boolean;
      }
    > = {};
    const route = (
      method: HttpMethod,
      path: string,
      f: ServiceFunction,
      open = false
    ) => {
      const [created] = this.api.addRoutes({
        path,
        methods: [method],
        integration: new HttpLambdaIntegration(`${f.node.id}Integration`, f.fn),
        ...(open ? { authorizer: new HttpNoneAuthorizer() } : {}),
      });
      if (!created) throw new Error(`No route for ${method} ${path}`);
      const { routeKey } = created.node.defaultChild as CfnRoute;
      const limits = open ? config.api.ackThrottle : config.api.backendThrottle;
      routeSettings[routeKey] = {
        ThrottlingRateLimit: limits.rateLimit,
        ThrottlingBurstLimit: limits.burstLimit,
        DetailedMetricsEnabled: open,
      };
      // API Gateway refuses settings for a route that does not exist yet.
      stage.node.addDependency(created);
      return { route: created, routeKey };
    };
    const backendRouteKeys = [
      route(HttpMethod.POST, '/v1/messages', sendMessage),
      route(HttpMethod.POST, '/v1/messages/batch', sendBatch),
      route(HttpMethod.GET, '/v1/messages/{messageId}', getMessage),
      route(HttpMethod.DELETE, '/v1/messages/{messageId}', cancelMessage),
      route(HttpMethod.GET, '/v1/users/{userId}/messages', history),
      route(HttpMethod.POST, '/v1/sessions', login),
      route(
        HttpMethod.DELETE,
        '/v1/sessions/{userId}/{registrationId}',
        logout
      ),
      route(HttpMethod.DELETE, '/v1/users/{userId}', eraseUser),
    ].map((r) => r.routeKey);
    const ackRoute = route(
      HttpMethod.POST,
      '/v1/messages/{messageId}/ack',
      ackMessage,
      true
    );
    Validations.of(ackRoute.route).acknowledge({
      id: 'AwsSolutions-APIG4',
      reason:
        'The app ACK route is authorized by the HMAC token that only the pushed device holds; it is checked in constant time by the function.',
    });
    // The L2 stage has no per-route settings; CloudFormation takes them as
    // JSON, hence the property names as the API spells them.
    (stage.node.defaultChild as CfnStage).routeSettings = routeSettings;

    // The API's alarms. HTTP APIs count 429s in 4xx and have no metric of
    // their own for them: the access log's status gives one, by route.
    const fiveMinutes = Duration.minutes(5);
    const throttled = accessLogs.addMetricFilter('ThrottledRequests', {
      filterPattern: FilterPattern.stringValue('$.status', '=', '429'),
      metricNamespace: METRICS_NAMESPACE,
      metricName: METRIC.ApiRequestThrottled,
      metricValue: '1',
      dimensions: { [ROUTE_DIMENSION]: '$.routeKey' },
      unit: Unit.COUNT,
    });
    const throttledOn = (routeKey: string) =>
      throttled.metric({
        dimensionsMap: { [ROUTE_DIMENSION]: routeKey },
        statistic: 'Sum',
        period: fiveMinutes,
      });
    alarm(
      'ApiServerErrors',
      this.onCallTopic,
      stage.metricServerError({ period: fiveMinutes }),
      'The API answered 5xx: a function failed or timed out (see its logs, and integrationError in the API access log); senders, logins or ACKs may be failing.'
    );
    alarm(
      'AckClientErrors',
      this.opsTopic,
      stage.metricClientError({ period: fiveMinutes }).with({
        dimensionsMap: {
          ApiId: this.api.apiId,
          Stage: stage.stageName,
          Route: ackRoute.routeKey,
        },
      }),
      'The ACK route answered many 4xx (429 included): a flood, forged tokens or a broken app release; see the API access log by status.',
      config.api.alarms.ackClientErrors
    );
    alarm(
      'AckThrottled',
      this.opsTopic,
      throttledOn(ackRoute.routeKey),
      'The ACK route answered many 429 (its own limit): a flood, or real ACKs beyond the limit (the apps retry; unconfirmed messages are pushed again or escalated).',
      config.api.alarms.ackThrottled
    );
    alarm(
      'BackendThrottled',
      this.opsTopic,
      new MathExpression({
        // A route without a 429 has no data point: it counts as 0.
        expression: backendRouteKeys
          .map((_, i) => `FILL(route${i}, 0)`)
          .join(' + '),
        usingMetrics: Object.fromEntries(
          backendRouteKeys.map((key, i) => [`route${i}`, throttledOn(key)])
        ),
        label: '429 answers of the backend routes',
        period: fiveMinutes,
      }),
      'The backend routes answered 429 (their own limits): a backend sends or logs in faster than its budget and must retry; see ApiRequestThrottled by route.',
      config.api.alarms.backendThrottled
    );

    // CloudWatch publishes as cloudwatch.amazonaws.com, which no IAM policy
    // can allow: the topic policy (which replaces SNS's default one) and the
    // key policy must, for these alarms of this account only. After every
    // alarm: an alarm added below this would be missing from the lists.
    for (const [topic, alarmNames] of alarmsOf) {
      const conditions = {
        StringEquals: { 'aws:SourceAccount': stack.account },
        ArnEquals: {
          'aws:SourceArn': alarmNames.map((name) =>
            stack.formatArn({
              service: 'cloudwatch',
              resource: 'alarm',
              resourceName: name,
              arnFormat: ArnFormat.COLON_RESOURCE_NAME,
            })
          ),
        },
      };
      const cloudWatch = new ServicePrincipal('cloudwatch.amazonaws.com');
      topic.addToResourcePolicy(
        new PolicyStatement({
          sid: 'AlarmsPublish',
          principals: [cloudWatch],
          actions: ['sns:Publish'],
          resources: [topic.topicArn],
          conditions,
        })
      );
      (topic as Partial<Topic>).masterKey?.addToResourcePolicy(
        new PolicyStatement({
          sid: 'AlarmsPublishToTheEncryptedTopic',
          principals: [cloudWatch],
          actions: ['kms:GenerateDataKey*', 'kms:Decrypt'],
          resources: ['*'],
          conditions,
        })
      );
    }

    this.dashboard = new DeliveryDashboard(this, 'Dashboard', {
      stage: config.stage,
      stateMachine: this.delivery.stateMachine,
      apiStage: stage,
    });

    this.apiStage = stage;
    this.stateMachine = this.delivery.stateMachine;
    this.tables = data.tables;
  }
}
