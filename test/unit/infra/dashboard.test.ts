import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { HttpApi, HttpStage } from 'aws-cdk-lib/aws-apigatewayv2';
import {
  DefinitionBody,
  Pass,
  StateMachine,
} from 'aws-cdk-lib/aws-stepfunctions';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  JPUSH_FAMILIES,
  JPUSH_FAMILY_DIMENSION,
  METRIC,
  METRICS_NAMESPACE,
  SERVICE_NAME,
} from '../../../functions/shared/names.ts';
import { DeliveryDashboard } from '../../../infra/constructs/dashboard.ts';

/** A metric line of a dashboard widget, as CloudWatch's body has it. */
type MetricLine = (string | Record<string, unknown>)[];
type Widget = {
  type: string;
  properties: {
    title?: string;
    metrics?: MetricLine[];
    markdown?: string;
  };
};
/** One metric of a line: namespace, name, dimensions, options. */
type Seen = {
  widget: string;
  namespace: string;
  name: string;
  dimensions: Record<string, string>;
  options: Record<string, unknown>;
};

/** What each CloudFormation token of the body stood for, by placeholder. */
const tokens = new Map<string, unknown>();
let dashboardName: unknown;
let widgets: Widget[];
let seen: Seen[];
let stateMachineRef: string;
let apiRef: string;

/**
 * The dashboard body is an `Fn::Join` of strings and tokens (the state
 * machine's ARN, the API id, the region): each token becomes a placeholder
 * (it sits inside a JSON string), so the joined text parses as JSON.
 */
const parseBody = (body: unknown): { widgets: Widget[] } => {
  if (typeof body === 'string') return JSON.parse(body);
  const join = (body as { 'Fn::Join': [string, unknown[]] })['Fn::Join'];
  const [separator, parts] = join;
  const text = parts
    .map((part) => {
      if (typeof part === 'string') return part;
      // The same token is the same placeholder wherever it appears.
      const known = [...tokens].find(
        ([, token]) => JSON.stringify(token) === JSON.stringify(part)
      );
      if (known) return known[0];
      const placeholder = `@@token${tokens.size}@@`;
      tokens.set(placeholder, part);
      return placeholder;
    })
    .join(separator);
  return JSON.parse(text);
};

/** The placeholder that stands for `{ Ref: logicalId }`. */
const refTo = (logicalId: string): string => {
  const found = [...tokens].find(
    ([, token]) => JSON.stringify(token) === JSON.stringify({ Ref: logicalId })
  );
  if (!found) throw new Error(`No Ref to ${logicalId}`);
  return found[0];
};

beforeAll(() => {
  // Prepare: minimal stand-ins of the service stack's state machine and API.
  const stack = new Stack(new App(), 'DashboardTest');
  const stateMachine = new StateMachine(stack, 'Machine', {
    definitionBody: DefinitionBody.fromChainable(new Pass(stack, 'Step')),
  });
  const api = new HttpApi(stack, 'Api', { createDefaultStage: false });
  const apiStage = new HttpStage(stack, 'Stage', {
    httpApi: api,
    stageName: '$default',
    autoDeploy: true,
  });

  // Act
  new DeliveryDashboard(stack, 'Dashboard', {
    stage: 'dev',
    stateMachine,
    apiStage,
  });

  const template = Template.fromStack(stack);
  const dashboards = Object.values(
    template.findResources('AWS::CloudWatch::Dashboard')
  );
  expect(dashboards).toHaveLength(1);
  const properties = dashboards[0]?.Properties as {
    DashboardName: unknown;
    DashboardBody: unknown;
  };
  dashboardName = properties.DashboardName;
  widgets = parseBody(properties.DashboardBody).widgets;
  const logicalIdOf = (type: string) => {
    const ids = Object.keys(template.findResources(type));
    if (ids.length !== 1) throw new Error(`${ids.length} of ${type}`);
    return ids[0] as string;
  };
  stateMachineRef = refTo(logicalIdOf('AWS::StepFunctions::StateMachine'));
  apiRef = refTo(logicalIdOf('AWS::ApiGatewayV2::Api'));
  seen = widgets.flatMap((w) =>
    (w.properties.metrics ?? [])
      .filter((line) => typeof line[0] === 'string')
      .map((line) => {
        const last = line.at(-1);
        const options =
          typeof last === 'object' ? (last as Record<string, unknown>) : {};
        const [namespace, name, ...rest] = line.filter(
          (x): x is string => typeof x === 'string'
        );
        const dimensions: Record<string, string> = {};
        for (let i = 0; i + 1 < rest.length; i += 2) {
          dimensions[rest[i] as string] = rest[i + 1] as string;
        }
        return {
          widget: w.properties.title ?? '',
          namespace: namespace as string,
          name: name as string,
          dimensions,
          options,
        };
      })
  );
});

const root = fileURLToPath(new URL('../../../', import.meta.url));

/** Every TypeScript source file under functions/, by its path from the root. */
const functionSources = (): Map<string, string> => {
  const found = new Map<string, string>();
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.ts')) {
        found.set(relative(root, path), readFileSync(path, 'utf8'));
      }
    }
  };
  walk(join(root, 'functions'));
  return found;
};

const inWidget = (title: string) => seen.filter((m) => m.widget === title);
const titles = () => widgets.map((w) => w.properties.title);

describe('DeliveryDashboard', () => {
  it('is named for the stage and has every required widget', () => {
    // Assess
    expect(dashboardName).toBe('PushDelivery-dev');
    expect(titles()).toEqual(
      expect.arrayContaining([
        'Messages by outcome',
        'Time from accept to acknowledgement',
        'JPush errors by family (not 429)',
        'JPush 429s by family',
        'Pacing: calls held back and their wait, by family',
        'SMS',
        'Delivery executions',
        'API',
      ])
    );
    expect(
      inWidget('Messages by outcome').map((m) => [m.options.label, m.name])
    ).toEqual(
      expect.arrayContaining([
        ['stored', METRIC.MessageStored],
        ['received', METRIC.MessageReceived],
        ['acknowledged', METRIC.MessageAcknowledged],
        ['escalated', METRIC.MessageEscalated],
        ['expired', METRIC.MessageExpired],
        ['failed', METRIC.MessageFailed],
        ['cancelled', METRIC.MessageCancelled],
        ['late ACK', METRIC.MessageAcknowledgedLate],
      ])
    );
    expect(
      inWidget('Time from accept to acknowledgement').map((m) => [
        m.name,
        m.options.stat,
      ])
    ).toEqual([
      [METRIC.TimeToAcknowledge, 'p50'],
      [METRIC.TimeToAcknowledge, 'p95'],
    ]);
    expect(inWidget('SMS').map((m) => m.name)).toEqual(
      expect.arrayContaining([
        METRIC.SmsSent,
        METRIC.SmsSuppressed,
        METRIC.SmsFailed,
      ])
    );
  });

  it('shows the JPush errors, 429s and pacing waits of each family', () => {
    // Assess
    const families = (title: string, name: string, stat: string) =>
      inWidget(title)
        .filter((m) => m.name === name && m.options.stat === stat)
        .map((m) => m.dimensions[JPUSH_FAMILY_DIMENSION]);
    expect(
      families(
        'JPush errors by family (not 429)',
        METRIC.JPushCallFailed,
        'Sum'
      )
    ).toEqual([...JPUSH_FAMILIES]);
    expect(
      families('JPush 429s by family', METRIC.JPushRateLimited, 'Sum')
    ).toEqual([...JPUSH_FAMILIES]);
    const pacing = 'Pacing: calls held back and their wait, by family';
    expect(families(pacing, METRIC.JPushPacingWait, 'p95')).toEqual([
      ...JPUSH_FAMILIES,
    ]);
    expect(families(pacing, METRIC.JPushPacingWait, 'SampleCount')).toEqual([
      ...JPUSH_FAMILIES,
    ]);
  });

  it('watches only metrics of METRIC that some function emits, with the service dimension', () => {
    // Prepare: the files that emit metrics, and the METRIC keys they name.
    const sources = [...functionSources()].filter(
      ([path]) => path !== join('functions', 'shared', 'names.ts')
    );
    const emitters = sources.filter(([, text]) => text.includes('addMetric('));
    const emitted = new Set(
      emitters.flatMap(([, text]) =>
        [...text.matchAll(/\bMETRIC\.(\w+)/g)].map((m) => m[1] as string)
      )
    );
    const names = new Map(Object.entries(METRIC).map(([k, v]) => [v, k]));

    // Act
    const custom = seen.filter((m) => m.namespace === METRICS_NAMESPACE);

    // Assess
    expect(custom.length).toBeGreaterThan(0);
    for (const metric of custom) {
      const key = names.get(metric.name as never);
      expect(key, `${metric.name} is not in METRIC`).toBeDefined();
      expect(emitted.has(key as string), `nothing emits ${key}`).toBe(true);
      expect(metric.dimensions.service).toBe(SERVICE_NAME);
    }
    // Names come from METRIC only: no emitter writes a name of its own.
    const literal = emitters.filter(([, text]) =>
      /addMetric\(\s*['"`]/.test(text)
    );
    expect(literal.map(([path]) => path)).toEqual([]);
  });

  it('shows the state machine’s executions with its ARN as the dimension', () => {
    // Prepare
    const states = seen.filter((m) => m.namespace === 'AWS/States');
    const executions = widgets.find(
      (w) => w.properties.title === 'Delivery executions'
    );

    // Assess
    expect(states.map((m) => m.name)).toEqual(
      expect.arrayContaining([
        'ExecutionsStarted',
        'ExecutionsFailed',
        'ExecutionsSucceeded',
        'ExecutionsAborted',
        'ExecutionsTimedOut',
      ])
    );
    for (const metric of states) {
      expect(metric.dimensions).toEqual({ StateMachineArn: stateMachineRef });
    }
    // Running: what started less what ended, over the graph's range.
    const expression = executions?.properties.metrics?.find(
      (line) => typeof line[0] === 'object'
    )?.[0] as { expression?: string } | undefined;
    expect(expression?.expression).toMatch(/^RUNNING_SUM\(FILL\(started, 0\)/);
  });

  it('shows the API’s 4xx, 5xx and latency of its stage', () => {
    // Prepare
    const api = seen.filter((m) => m.namespace === 'AWS/ApiGateway');

    // Assess
    expect(api.map((m) => [m.name, m.options.stat])).toEqual([
      ['4xx', 'Sum'],
      ['5xx', 'Sum'],
      ['Latency', 'p50'],
      ['Latency', 'p95'],
    ]);
    for (const metric of api) {
      expect(metric.dimensions).toEqual({ ApiId: apiRef, Stage: '$default' });
    }
  });
});
