/**
 * The system as `cdk synth` builds it, run on one machine: the synthesized
 * esbuild bundles (one process per function, with its template's
 * environment), the synthesized state machine on the local engine, dynalite
 * for the tables (behind the local stream, which feeds the stream
 * consumers' bundles), the JPush simulator over HTTP, and one loopback endpoint
 * for the AWS APIs the bundles call (see aws-loopback.ts). Nothing of the
 * functions is wired by hand: a wrong environment variable name, a missing
 * secret field or a bundling mistake fails here.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import {
  type CfnTemplate,
  createTablesFromTemplate,
  type LocalDynamo,
  startDynalite,
} from '../../local/dynamo.ts';
import {
  extractStateMachine,
  LOCAL_ACCOUNT,
  LOCAL_REGION,
  resolveIntrinsics,
} from '../../local/engine/extract.ts';
import { LocalStateMachine } from '../../local/engine/local-state-machine.ts';
import { synthWithBundles } from '../../local/engine/synth.ts';
import { createTaskMapper } from '../../local/engine/task-mapper.ts';
import { type LocalRoute, routesFromTemplate } from '../../local/http-api.ts';
import {
  type JPushSimulator,
  startJPushSimulator,
} from '../../local/jpush-simulator/index.ts';
import { SmsSink } from '../../local/sms-sink.ts';
import {
  type LocalStreams,
  startStreams,
  streamsOf,
} from '../../local/streams.ts';
import { apiEvent } from './api-events.ts';
import {
  type AwsCall,
  type AwsLoopback,
  startAwsLoopback,
} from './aws-loopback.ts';
import {
  type BundledFunction,
  bundledFunctions,
  FunctionContainer,
} from './bundled-functions.ts';

/** Test-only JPush app credentials (the simulator checks them). */
const APP_KEY = 'bundletestappkey000000000';
const MASTER_SECRET = 'bundle-test-master-secret-not-real';
const STAGE = 'bundletest';

/** A running bundled system. */
export interface BundledSystem {
  readonly templates: Record<string, CfnTemplate>;
  readonly functions: readonly BundledFunction[];
  readonly simulator: JPushSimulator;
  readonly aws: AwsLoopback;
  /** The messages table's stream, whose consumers are bundles too. */
  readonly streams: LocalStreams;
  readonly stateMachine: LocalStateMachine;
  /** The state machine's role logical id (the caller of its tasks). */
  readonly stateMachineRoleId: string;
  /** Every AWS call: the bundles' and the state machine's. */
  readonly calls: AwsCall[];
  /** Calls an HTTP API route's function with an API Gateway event. */
  api(
    method: string,
    path: string,
    body?: unknown
  ): Promise<{ status: number; json: Record<string, unknown> }>;
  /** Invokes a function by (a prefix of) its logical id. */
  invoke(logicalIdPrefix: string, event: unknown): Promise<unknown>;
  /** What a function wrote to stdout and stderr. */
  output(logicalIdPrefix: string): string;
  close(): Promise<void>;
}

const byPrefix = <T extends { logicalId: string }>(
  items: readonly T[],
  prefix: string
): T => {
  const found = items.find((i) => i.logicalId.startsWith(prefix));
  if (!found) throw new Error(`No function ${prefix}*`);
  return found;
};

/**
 * Synthesizes the app with its bundles and starts everything.
 * @param options time scale of the state machine's waits
 */
export const startBundledSystem = async (
  options: { timeScale?: number } = {}
): Promise<BundledSystem> => {
  const closers: Array<() => Promise<void> | void> = [];
  const close = async () => {
    for (const closer of closers.reverse()) await closer();
  };
  try {
    const simulator = await startJPushSimulator({
      appKey: APP_KEY,
      masterSecret: MASTER_SECRET,
    });
    closers.push(() => simulator.close());
    const outdir = mkdtempSync(join(tmpdir(), 'bundled-synth-'));
    closers.push(() => rmSync(outdir, { recursive: true, force: true }));
    const templates = synthWithBundles(outdir, {
      context: {
        // What the CDK CLI sets: each resource names its asset directory.
        'aws:cdk:enable-asset-metadata': true,
        stage: STAGE,
        jpushPushBaseUrl: simulator.url,
        jpushReportBaseUrl: simulator.url,
        jpushDeviceBaseUrl: simulator.url,
        // Test numbers (the 555-01xx range is reserved for fiction).
        onCallPhoneNumbers: '+15555550100',
        // Which no country's plan has, so the recipient's country is set.
        smsCountries: 'US',
        // Short, so that the cycle sees a window close and its summary.
        onCallWindowSeconds: 2,
      },
    });
    const functions = bundledFunctions(templates, outdir);
    const dataStack = Object.keys(templates).find((n) => n.includes('-Data-'));
    const serviceStack = Object.keys(templates).find((n) =>
      n.includes('-Service-')
    );
    if (!dataStack || !serviceStack) throw new Error('stacks not found');

    const dynalite: LocalDynamo = await startDynalite();
    closers.push(() => dynalite.close());
    const tableNames = await createTablesFromTemplate(
      dynalite.client,
      templates[dataStack] as CfnTemplate
    );
    // Every write goes through the stream's proxy; its records go to the
    // bundles the template maps to the stream, as Lambda's poller hands them.
    const containers = new Map<string, FunctionContainer>();
    const streams = await startStreams({
      dynamoEndpoint: dynalite.endpoint,
      ...streamsOf(
        templates[dataStack] as CfnTemplate,
        templates[serviceStack] as CfnTemplate,
        tableNames
      ),
      handlerFor: (consumer) => async (event) => {
        const container = containers.get(consumer.functionId);
        if (!container) throw new Error(`No function ${consumer.functionId}`);
        return (await container.invoke(event)) as never;
      },
    });
    closers.push(() => streams.close());
    const dynamo = { endpoint: streams.endpoint, client: streams.client };

    // The secrets as the operator fills them in after the first deploy.
    const secretArn = (prefix: string) => {
      const id = Object.entries(templates[dataStack]?.Resources ?? {}).find(
        ([key, r]) =>
          key.startsWith(prefix) && r.Type === 'AWS::SecretsManager::Secret'
      )?.[0];
      if (!id) throw new Error(`No secret ${prefix}*`);
      return String(
        resolveIntrinsics({ Ref: id }, templates, dataStack as string)
      );
    };
    const secrets = {
      [secretArn('JPushCredentials')]: JSON.stringify({
        appKey: APP_KEY,
        masterSecret: MASTER_SECRET,
      }),
      // As generated: the ACK key a plain string, the cursor keys a ring.
      [secretArn('AckSigningKey')]: randomBytes(32).toString('base64'),
      [secretArn('HistoryCursorKey')]: JSON.stringify({
        current: '1',
        key1: randomBytes(32).toString('base64'),
      }),
    };

    const machines = new Map<string, LocalStateMachine>();
    const aws = await startAwsLoopback({
      dynamoEndpoint: dynamo.endpoint,
      stateMachines: () => machines,
      secrets,
    });
    closers.push(() => aws.close());

    const runtime = {
      ...aws.environment,
      AWS_REGION: LOCAL_REGION,
      AWS_DEFAULT_REGION: LOCAL_REGION,
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    };
    for (const fn of functions) {
      containers.set(fn.logicalId, new FunctionContainer(fn, runtime));
    }
    closers.push(async () => {
      await Promise.all([...containers.values()].map((c) => c.close()));
    });

    const extracted = extractStateMachine(templates);
    const machineResource =
      templates[extracted.stackName]?.Resources?.[extracted.logicalId];
    const machineProps = (machineResource?.Properties ?? {}) as {
      RoleArn?: { 'Fn::GetAtt'?: [string] };
    };
    const stateMachineRoleId = String(
      machineProps.RoleArn?.['Fn::GetAtt']?.[0]
    );
    const sms = new SmsSink();
    const mapper = createTaskMapper({
      dynamodb: dynamo.client,
      sms,
      tableNames: {},
      resources: extracted.resources,
      lambdas: (logicalId) => {
        const container = containers.get(logicalId);
        if (!container) throw new Error(`No function ${logicalId}`);
        return async (payload) => {
          aws.calls.push({
            caller: stateMachineRoleId,
            action: 'lambda:InvokeFunction',
            resources: [
              `arn:aws:lambda:${LOCAL_REGION}:${LOCAL_ACCOUNT}:function:${logicalId}`,
            ],
            ok: true,
          });
          return container.invoke(payload);
        };
      },
    });
    const stateMachine = new LocalStateMachine(extracted.definition, mapper, {
      timeScale: options.timeScale ?? 1,
      stateMachineName: extracted.stateMachineName,
    });
    machines.set(stateMachine.stateMachineArn, stateMachine);
    closers.push(() => stateMachine.close());

    const routes: LocalRoute[] = routesFromTemplate(
      templates[serviceStack] as CfnTemplate
    );
    const containerOf = (prefix: string) => {
      const fn = byPrefix(functions, prefix);
      return containers.get(fn.logicalId) as FunctionContainer;
    };
    return {
      templates,
      functions,
      simulator,
      aws,
      streams,
      stateMachine,
      stateMachineRoleId,
      calls: aws.calls,
      api: async (method, path, body) => {
        const url = new URL(path, 'http://api.local');
        const route = routes.find(
          (r) => r.method === method && r.pattern.test(url.pathname)
        );
        if (!route) throw new Error(`No route ${method} ${path}`);
        const values = route.pattern.exec(url.pathname)?.slice(1) ?? [];
        const pathParameters = Object.fromEntries(
          route.paramNames.map((name, i) => [
            name,
            decodeURIComponent(values[i] ?? ''),
          ])
        );
        const query = Object.fromEntries(url.searchParams);
        const container = containers.get(route.functionId);
        if (!container) throw new Error(`No function ${route.functionId}`);
        const result = (await container.invoke(
          apiEvent(route.routeKey, url.pathname, {
            pathParameters,
            ...(body === undefined ? {} : { body }),
            ...(Object.keys(query).length > 0
              ? { queryStringParameters: query }
              : {}),
          })
        )) as APIGatewayProxyStructuredResultV2;
        return {
          status: result.statusCode ?? 200,
          json: result.body
            ? (JSON.parse(result.body) as Record<string, unknown>)
            : {},
        };
      },
      invoke: (prefix, event) => containerOf(prefix).invoke(event),
      output: (prefix) => containerOf(prefix).output.join(''),
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
};
