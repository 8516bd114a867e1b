import { Duration } from 'aws-cdk-lib';
import type { IHttpStage } from 'aws-cdk-lib/aws-apigatewayv2';
import {
  Dashboard,
  GraphWidget,
  type IMetric,
  MathExpression,
  Metric,
  Stats,
  TextWidget,
} from 'aws-cdk-lib/aws-cloudwatch';
import type { IStateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import {
  JPUSH_FAMILIES,
  JPUSH_FAMILY_DIMENSION,
  type JPushFamily,
  METRIC,
  METRICS_NAMESPACE,
  SERVICE_NAME,
} from '../../functions/shared/names.ts';

/** Props of {@link DeliveryDashboard}. */
export interface DeliveryDashboardProps {
  /** The deployment stage; the dashboard is `PushDelivery-<stage>`. */
  readonly stage: string;
  /** The delivery state machine (its `AWS/States` metrics). */
  readonly stateMachine: IStateMachine;
  /** The HTTP API's stage (its `AWS/ApiGateway` metrics, `ApiId` and `Stage`). */
  readonly apiStage: IHttpStage;
  /**
   * The period of every graph's data points.
   * @default Duration.minutes(5)
   */
  readonly period?: Duration;
}

/** The outcomes a message can have, as the messages table's stream counts them. */
const OUTCOMES = [
  ['accepted', METRIC.MessageAccepted],
  ['stored', METRIC.MessageStored],
  ['received', METRIC.MessageReceived],
  ['acknowledged', METRIC.MessageAcknowledged],
  ['escalated', METRIC.MessageEscalated],
  ['expired', METRIC.MessageExpired],
  ['failed', METRIC.MessageFailed],
  ['cancelled', METRIC.MessageCancelled],
  ['late ACK', METRIC.MessageAcknowledgedLate],
] as const;

const WIDTH = 12;
const HEIGHT = 6;

/**
 * One CloudWatch dashboard, `PushDelivery-<stage>`, of what an operator
 * looks at first: messages by outcome, the time from acceptance to
 * acknowledgement, JPush's errors, 429s and the pacing's waits by family,
 * the SMS, the delivery executions and the API. Every custom metric is
 * one of `METRIC` in the `PushDelivery` namespace with the `service`
 * dimension Powertools puts on it.
 */
export class DeliveryDashboard extends Construct {
  public readonly dashboard: Dashboard;

  /**
   * @param scope the stack
   * @param id the construct id
   * @param props the stage, the state machine and the API stage
   */
  constructor(scope: Construct, id: string, props: DeliveryDashboardProps) {
    super(scope, id);
    const period = props.period ?? Duration.minutes(5);
    const custom = (
      metricName: string,
      label: string,
      statistic: string = Stats.SUM,
      dimensions: Record<string, string> = {}
    ) =>
      new Metric({
        namespace: METRICS_NAMESPACE,
        metricName,
        dimensionsMap: { service: SERVICE_NAME, ...dimensions },
        statistic,
        period,
        label,
      });
    const byFamily = (
      metricName: string,
      statistic: string,
      label: (family: JPushFamily) => string
    ) =>
      JPUSH_FAMILIES.map((family) =>
        custom(metricName, label(family), statistic, {
          [JPUSH_FAMILY_DIMENSION]: family,
        })
      );
    const graph = (
      title: string,
      left: IMetric[],
      more: Partial<ConstructorParameters<typeof GraphWidget>[0]> = {}
    ) =>
      new GraphWidget({
        title,
        left,
        width: WIDTH,
        height: HEIGHT,
        period,
        ...more,
      });

    const { stateMachine: machine, apiStage } = props;
    const executions = {
      started: machine.metricStarted({ period, label: 'started' }),
      succeeded: machine.metricSucceeded({ period }),
      failed: machine.metricFailed({ period, label: 'failed' }),
      aborted: machine.metricAborted({ period }),
      timedOut: machine.metricTimedOut({ period }),
    };

    this.dashboard = new Dashboard(this, 'Dashboard', {
      dashboardName: `PushDelivery-${props.stage}`,
      widgets: [
        [
          new TextWidget({
            markdown: [
              `# Push delivery (${props.stage})`,
              'Outcomes come from the messages table (the `outcome-metrics` function); the JPush graphs count only the calls that did not succeed. Every metric is listed in the README (Deploy).',
            ].join('\n\n'),
            width: 2 * WIDTH,
            height: 2,
          }),
        ],
        [
          graph(
            'Messages by outcome',
            OUTCOMES.map(([label, name]) => custom(name, label))
          ),
          graph(
            'Time from accept to acknowledgement',
            [
              custom(METRIC.TimeToAcknowledge, 'p50', Stats.p(50)),
              custom(METRIC.TimeToAcknowledge, 'p95', Stats.p(95)),
            ],
            { leftYAxis: { label: 'ms', showUnits: false, min: 0 } }
          ),
        ],
        [
          graph(
            'JPush errors by family (not 429)',
            byFamily(METRIC.JPushCallFailed, Stats.SUM, (f) => f)
          ),
          graph(
            'JPush 429s by family',
            byFamily(METRIC.JPushRateLimited, Stats.SUM, (f) => f)
          ),
        ],
        [
          graph(
            'Pacing: calls held back and their wait, by family',
            byFamily(METRIC.JPushPacingWait, Stats.p(95), (f) => `${f} p95`),
            {
              leftYAxis: { label: 'ms waited', showUnits: false, min: 0 },
              right: byFamily(
                METRIC.JPushPacingWait,
                Stats.SAMPLE_COUNT,
                (f) => `${f} held`
              ),
              rightYAxis: { label: 'calls', showUnits: false, min: 0 },
            }
          ),
          graph('SMS', [
            custom(METRIC.SmsSent, 'sent'),
            custom(METRIC.SmsSuppressed, 'suppressed'),
            custom(METRIC.SmsFailed, 'failed'),
            custom(METRIC.OnCallGrouped, 'grouped into a summary'),
          ]),
        ],
        [
          graph(
            'Delivery executions',
            [executions.started, executions.failed],
            {
              right: [
                new MathExpression({
                  // AWS/States has no count of the executions running: this
                  // is what started less what ended, summed over the graph's
                  // range (so relative to the range's start).
                  expression:
                    'RUNNING_SUM(FILL(started, 0) - FILL(succeeded, 0) - FILL(failed, 0) - FILL(aborted, 0) - FILL(timedOut, 0))',
                  usingMetrics: executions,
                  label: 'running (change over the range)',
                  period,
                }),
              ],
            }
          ),
          graph(
            'API',
            [
              apiStage.metricClientError({ period, label: '4xx' }),
              apiStage.metricServerError({ period, label: '5xx' }),
            ],
            {
              right: [
                apiStage.metricLatency({
                  period,
                  statistic: Stats.p(50),
                  label: 'latency p50',
                }),
                apiStage.metricLatency({
                  period,
                  statistic: Stats.p(95),
                  label: 'latency p95',
                }),
              ],
              rightYAxis: { label: 'ms', showUnits: false, min: 0 },
            }
          ),
        ],
      ],
    });
  }
}
