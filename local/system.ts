import './polyfills.ts';
import { randomBytes } from 'node:crypto';
import {
  createServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import type { DynamoDBBatchResponse, DynamoDBStreamEvent } from 'aws-lambda';
import { BatchedCids } from '../functions/adapters/batched-cids.ts';
import {
  JPushClient,
  type JPushCredentials,
} from '../functions/adapters/jpush-client.ts';
import {
  PacedJPush,
  recordRateLimit,
} from '../functions/adapters/jpush-pacing.ts';
import { InMemoryReportMode } from '../functions/adapters/report-mode.ts';
import { deliveryInput } from '../functions/adapters/sfn-delivery-starter.ts';
import type { JPushPort } from '../functions/domain/jpush.ts';
import { executionName } from '../functions/domain/message.ts';
import {
  type Clock,
  type DeliveryRequest,
  type DeliveryStarter,
  systemClock,
} from '../functions/domain/ports.ts';
import { signingKeys } from '../functions/domain/signing-keys.ts';
import {
  countriesOf,
  SMS_DEFAULTS,
  type SmsSettings,
} from '../functions/domain/sms-limits.ts';
import {
  type AppDeps,
  documentClient,
  dynamoRepositories,
} from '../functions/shared/deps.ts';
import { ENV } from '../functions/shared/names.ts';
import { logger } from '../functions/shared/powertools.ts';
import {
  type CfnTemplate,
  createTablesFromTemplate,
  type LocalDynamo,
  startDynalite,
} from './dynamo.ts';
import {
  createTaskMapper,
  extractStateMachine,
  type LocalExecutionEvent,
  LocalStateMachine,
  LocalTaskCallbacks,
  synthTemplates,
} from './engine/index.ts';
import { LocalEventBus } from './event-bus.ts';
import {
  type ApiHandler,
  matchRoute,
  readBody,
  routesFromTemplate,
  sendApiResult,
  sendJsonError,
  toApiEvent,
} from './http-api.ts';
import {
  DEFAULT_APP_KEY,
  DEFAULT_MASTER_SECRET,
  type JPushSimulator,
  type SimulatorOptions,
  startJPushSimulator,
} from './jpush-simulator/index.ts';
import { loopbackGuard, refuse } from './loopback-guard.ts';
import { serveOpenApi } from './openapi-routes.ts';
import { startSchedules } from './schedules.ts';
import { LocalSecret, serveJPushSecret } from './secrets.ts';
import { LocalSmsSender, SmsSink } from './sms-sink.ts';
import { type LocalStreams, startStreams, streamsOf } from './streams.ts';

/** Real JPush credentials and hosts, for local mode against real JPush. */
export interface RealJPushOptions {
  readonly appKey: string;
  readonly masterSecret: string;
  readonly pushBaseUrl?: string;
  readonly reportBaseUrl?: string;
  readonly deviceBaseUrl?: string;
}

/** Options of {@link startLocalSystem}. */
export interface LocalSystemOptions {
  /** @default '127.0.0.1' */
  readonly host?: string;
  /** @default 0 (a free port) */
  readonly port?: number;
  /** Multiplies every wait and retry interval of the state machine. @default 1 */
  readonly timeScale?: number;
  /** dynalite data directory. @default in memory */
  readonly dataDir?: string;
  /** Push through real JPush instead of the simulator. */
  readonly jpush?: RealJPushOptions;
  /** Simulator settings (simulator mode only). */
  readonly simulator?: Omit<SimulatorOptions, 'host' | 'port' | 'ackBaseUrl'>;
  /** Phone numbers subscribed to the on-call topic. */
  readonly onCallPhoneNumbers?: readonly string[];
  /**
   * SMS limits (the deployed settings' names and defaults). The on-call
   * window is policy time: it shrinks with `timeScale`, as the summary's
   * schedule does; the hourly and daily counters run on the clock.
   */
  readonly sms?: Partial<SmsSettings>;
  /**
   * Countries an `smsTo` may be in. @default the on-call numbers'
   * countries, as deployed
   */
  readonly smsCountries?: readonly string[];
  /** ACK signing key. @default random per start */
  readonly ackKey?: Buffer;
  readonly clock?: Clock;
  /** Every state machine event, for a live view. */
  readonly onExecutionEvent?: (event: LocalExecutionEvent) => void;
  /**
   * The `ackRequiresDevice` setting, given to the synthesis as CDK context
   * (`false`: the ACK route also accepts the token alone). The ACK handler
   * gets what the template gives the ACK function. @default true
   */
  readonly ackRequiresDevice?: boolean;
  /**
   * Where every outcome event is also POSTed as JSON (`OUTCOME_WEBHOOK_URL`),
   * in order, tried again until it answers 2xx.
   */
  readonly outcomeWebhookUrl?: string;
  /** Extra routes served before the API (e.g. the live page). */
  readonly extraRoutes?: (
    req: IncomingMessage,
    res: ServerResponse,
    url: URL
  ) => boolean | Promise<boolean>;
}

/** The whole system running on one machine. */
export interface LocalSystem {
  /** Base URL of the HTTP API (and of `/local/*`). */
  readonly url: string;
  /** The JPush simulator, unless real JPush is used. */
  readonly simulator?: JPushSimulator;
  /**
   * The JPush credentials secret (Secrets Manager's stand-in), also
   * replaced by `PUT /local/secrets/jpush`.
   */
  readonly jpushSecret: LocalSecret<JPushCredentials>;
  readonly sms: SmsSink;
  /** The outcome events' bus (`GET /local/events`). */
  readonly events: LocalEventBus;
  /** The messages table's stream and its consumers. */
  readonly streams: LocalStreams;
  readonly stateMachine: LocalStateMachine;
  readonly deps: AppDeps;
  readonly dynamo: LocalDynamo;
  readonly templates: Record<string, CfnTemplate>;
  close(): Promise<void>;
}

/** Starts deliveries on the local state machine, like `SfnDeliveryStarter`. */
class LocalDeliveryStarter implements DeliveryStarter {
  constructor(private readonly machine: () => LocalStateMachine) {}

  async start(request: DeliveryRequest): Promise<void> {
    try {
      await this.machine().startExecution({
        name: executionName(request.messageId, request.delivery),
        input: JSON.parse(deliveryInput(request)),
      });
    } catch (error) {
      if (
        !(error instanceof Error && error.name === 'ExecutionAlreadyExists')
      ) {
        throw error;
      }
    }
  }
}

const byPrefix = (names: Record<string, string>, prefix: string): string => {
  const id = Object.keys(names).find((logicalId) =>
    logicalId.startsWith(prefix)
  );
  if (!id) throw new Error(`The template has no ${prefix}.`);
  return names[id] as string;
};

/** A module under functions/handlers, loaded once. */
const loadHandlerModule = (() => {
  const modules = new Map<string, Promise<Record<string, unknown>>>();
  return (entry: string) => {
    let mod = modules.get(entry);
    if (!mod) {
      mod = import(new URL(`../${entry}`, import.meta.url).href) as Promise<
        Record<string, unknown>
      >;
      modules.set(entry, mod);
    }
    return mod;
  };
})();

/**
 * Makes a handler from a module's `createHandler(deps)`, as the Lambda entry
 * does with its AWS dependencies.
 */
const handlerFor = <E, R>(entry: string, deps: AppDeps) => {
  let handler: Promise<(event: E) => Promise<R>> | undefined;
  return async (event: E): Promise<R> => {
    handler ??= loadHandlerModule(entry).then((mod) => {
      const create = mod.createHandler;
      if (typeof create !== 'function') {
        throw new Error(`${entry} exports no createHandler(deps).`);
      }
      return create(deps) as (event: E) => Promise<R>;
    });
    const handle = await handler;
    // On Lambda, middy resets the logger's keys between invocations.
    logger.resetKeys();
    return handle(event);
  };
};

/**
 * Starts the whole system on loopback: dynalite with the tables of the
 * synthesized data stack, the JPush simulator (or real JPush), the SMS sink,
 * the synthesized delivery state machine on aws-local-stepfunctions, and the
 * HTTP API, whose routes and handlers are read from the synthesized
 * template and run with the same handler code as on Lambda.
 */
export const startLocalSystem = async (
  options: LocalSystemOptions = {}
): Promise<LocalSystem> => {
  const templates = synthTemplates(
    options.ackRequiresDevice === undefined
      ? {}
      : { context: { ackRequiresDevice: options.ackRequiresDevice } }
  );
  const dataTemplate = Object.entries(templates).find(([name]) =>
    name.includes('-Data-')
  )?.[1];
  const serviceTemplate = Object.entries(templates).find(([name]) =>
    name.includes('-Service-')
  )?.[1];
  if (!dataTemplate || !serviceTemplate) {
    throw new Error('The CDK app has no data and service stacks.');
  }

  const dynalite = await startDynalite(
    options.dataDir === undefined ? {} : { path: options.dataDir }
  );
  const closers: Array<() => Promise<void>> = [() => dynalite.close()];
  try {
    const tableNames = await createTablesFromTemplate(
      dynalite.client,
      dataTemplate
    );
    // Every write goes through the streams' proxy, so that the stream
    // consumers (outcome metrics, outcome events) see every change, as the
    // messages table's stream gives them on AWS.
    let deps: AppDeps | undefined;
    const streams = await startStreams({
      dynamoEndpoint: dynalite.endpoint,
      ...streamsOf(dataTemplate, serviceTemplate, tableNames),
      handlerFor: ({ entry }) => {
        let handle:
          | ((event: DynamoDBStreamEvent) => Promise<unknown>)
          | undefined;
        return async (event) => {
          if (!deps) throw new Error('The system is not wired yet.');
          handle ??= handlerFor<DynamoDBStreamEvent, unknown>(entry, deps);
          return (await handle(event)) as DynamoDBBatchResponse | undefined;
        };
      },
    });
    closers.unshift(() => streams.close());
    const dynamo: LocalDynamo = {
      endpoint: streams.endpoint,
      client: streams.client,
      close: () => dynalite.close(),
    };
    const events = new LocalEventBus(
      options.outcomeWebhookUrl === undefined
        ? {}
        : { webhookUrl: options.outcomeWebhookUrl }
    );
    closers.unshift(async () => events.close());
    const host = options.host ?? '127.0.0.1';
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 0, host, () => resolve());
    });
    closers.unshift(() => closeServer(server));
    const { port } = server.address() as AddressInfo;
    const url = `http://${host}:${port}`;

    const timeScale = options.timeScale ?? 1;
    // Policy time: what the state machine's scaled waits measure. JPush's
    // rate-limit windows are a wait too, so the simulator's minute and the
    // shared pacing's view of it run on this clock.
    const started = Date.now();
    const policyNow = () => started + (Date.now() - started) / timeScale;
    let simulator: JPushSimulator | undefined;
    let jpush: JPushClient;
    // The credentials are read from a local secret, as the functions read
    // theirs from Secrets Manager: a 401 reads it again (see jpushSecret).
    let jpushSecret: LocalSecret<JPushCredentials>;
    const fromSecret = async () => jpushSecret.read();
    if (options.jpush) {
      const { appKey, masterSecret, ...hosts } = options.jpush;
      jpushSecret = new LocalSecret({ appKey, masterSecret });
      jpush = new JPushClient({
        ...hosts,
        credentials: fromSecret,
        onRateLimit: recordRateLimit,
      });
    } else {
      const appKey = options.simulator?.appKey ?? DEFAULT_APP_KEY;
      const masterSecret =
        options.simulator?.masterSecret ?? DEFAULT_MASTER_SECRET;
      const sim = await startJPushSimulator({
        ...options.simulator,
        rateLimitNow: policyNow,
        appKey,
        masterSecret,
        ackBaseUrl: url,
      });
      simulator = sim;
      closers.unshift(() => sim.close());
      jpushSecret = new LocalSecret({ appKey, masterSecret });
      jpush = new JPushClient({
        credentials: fromSecret,
        pushBaseUrl: simulator.url,
        reportBaseUrl: simulator.url,
        deviceBaseUrl: simulator.url,
        onRateLimit: recordRateLimit,
      });
    }
    const client = jpush;
    closers.unshift(() => client.close());

    // Fresh keys per start (version 1), as the stack's generated secrets are.
    const ackKeys = signingKeys({
      version: '1',
      key: options.ackKey ?? randomBytes(32),
    });
    const cursorKeys = signingKeys({ version: '1', key: randomBytes(32) });
    const sms = new SmsSink();
    let machine: LocalStateMachine | undefined;
    const clock = options.clock ?? systemClock;
    const repositories = dynamoRepositories(
      documentClient(dynamo.client),
      () => ({
        messages: byPrefix(tableNames, 'MessagesTable'),
        sessions: byPrefix(tableNames, 'SessionsTable'),
        devices: byPrefix(tableNames, 'DevicesTable'),
        offline: byPrefix(tableNames, 'OfflineStoreTable'),
        history: byPrefix(tableNames, 'HistoryTable'),
        pacing: byPrefix(tableNames, 'PacingTable'),
        withdrawals: byPrefix(tableNames, 'WithdrawalsTable'),
        smsLimits: byPrefix(tableNames, 'SmsLimitsTable'),
      }),
      // The simulator's windows and the shared pacing run in policy time.
      options.jpush ? () => clock.now().getTime() : policyNow
    );
    const paced: JPushPort = new PacedJPush(jpush, repositories.pacing);
    const smsLimits = repositories.smsLimits;
    const onCallTopic = onCallTopicOf(serviceTemplate);
    deps = {
      messages: repositories.messages,
      sessions: repositories.sessions,
      devices: repositories.devices,
      offline: repositories.offline,
      history: repositories.history,
      deliveries: new LocalDeliveryStarter(() => {
        if (!machine) throw new Error('The state machine is not running yet.');
        return machine;
      }),
      jpush: paced,
      cids: new BatchedCids(paced, () => clock.now().getTime()),
      callbacks: new LocalTaskCallbacks(() => {
        if (!machine) throw new Error('The state machine is not running yet.');
        return machine;
      }),
      outbox: repositories.outbox,
      sms: new LocalSmsSender(sms, onCallTopic),
      smsBudget: smsLimits,
      onCallGroups: {
        join: (messageId, at, windowMs) =>
          smsLimits.join(messageId, at, windowMs * timeScale),
        due: (at) => smsLimits.due(at),
        claim: (windowId, at, leaseMs) =>
          smsLimits.claim(windowId, at, leaseMs * timeScale),
        settle: (windowId, at) => smsLimits.settle(windowId, at),
        release: (windowId) => smsLimits.release(windowId),
      },
      smsSettings: { ...SMS_DEFAULTS, ...options.sms },
      smsCountries:
        options.smsCountries ?? countriesOf(options.onCallPhoneNumbers ?? []),
      reportMode: new InMemoryReportMode(),
      ackKey: { keys: async () => ackKeys },
      ackRequiresDevice: ackRequiresDeviceOf(serviceTemplate),
      cursorKeys: { keys: async () => cursorKeys },
      outcomeEvents: events,
      eventsIncludeContent:
        functionEnvOf(serviceTemplate, ENV.eventsIncludeContent) === 'true',
      clock,
      // Withdrawal retries keep pace with the state machine's time scale.
      withdrawRetry: {
        baseMs: 2_000 * timeScale,
        maxMs: 300_000 * timeScale,
        windowScale: timeScale,
      },
    };

    const extracted = extractStateMachine(templates);
    for (const phone of options.onCallPhoneNumbers ?? []) {
      for (const [id, resource] of Object.entries(
        serviceTemplate.Resources ?? {}
      )) {
        if (resource.Type === 'AWS::SNS::Topic') sms.subscribe(id, phone);
      }
    }
    const stateMachine = new LocalStateMachine(
      extracted.definition,
      createTaskMapper({
        dynamodb: dynamo.client,
        sms,
        tableNames,
        resources: extracted.resources,
        lambdas: (logicalId, entry) => {
          if (!entry) throw new Error(`Lambda ${logicalId} has no LocalEntry.`);
          return handlerFor(entry, deps);
        },
      }),
      {
        timeScale,
        stateMachineName: extracted.stateMachineName,
        ...(options.onExecutionEvent
          ? { onEvent: options.onExecutionEvent }
          : {}),
      }
    );
    machine = stateMachine;
    closers.unshift(async () => stateMachine.close());
    // Scheduled functions (the withdrawal sweeper) on timers, time-scaled.
    const schedules = startSchedules(
      serviceTemplate,
      (entry) => handlerFor<unknown, unknown>(entry, deps),
      timeScale
    );
    closers.unshift(() => schedules.close());

    const routes = routesFromTemplate(serviceTemplate);
    const handlers = new Map<string, ApiHandler>(
      routes.map((r) => [r.routeKey, handlerFor(r.entry, deps)])
    );
    server.on('request', (req, res) => {
      void serve(req, res).catch((error: unknown) => {
        console.error('local API: request failed', error);
        if (!res.headersSent) {
          sendJsonError(
            res,
            500,
            'InternalError',
            'The local server failed; see its log.'
          );
        } else res.end();
      });
    });
    const guard = loopbackGuard({ host, port });
    const serve = async (req: IncomingMessage, res: ServerResponse) => {
      // Not a CSRF or DNS-rebinding target: before any route, the live
      // page's and the simulator's controls included.
      if (refuse(res, guard(req.headers))) return;
      const requestUrl = new URL(req.url ?? '/', url);
      // The API's OpenAPI document and its reference page.
      if (serveOpenApi(req, res, requestUrl)) return;
      if (
        options.extraRoutes &&
        (await options.extraRoutes(req, res, requestUrl))
      ) {
        return;
      }
      if (await serveJPushSecret(req, res, requestUrl, jpushSecret)) {
        return;
      }
      if (requestUrl.pathname === '/local/events') {
        events.serve(res, requestUrl, req.method ?? 'GET');
        return;
      }
      if (requestUrl.pathname === '/local/sms' && req.method !== 'GET') {
        sendJsonError(
          res,
          405,
          'MethodNotAllowed',
          `${req.method} is not allowed here; use GET.`,
          { allow: 'GET' }
        );
        return;
      }
      if (requestUrl.pathname === '/local/sms') {
        res.writeHead(200, {
          'content-type': 'application/json; charset=utf-8',
        });
        res.end(
          JSON.stringify(
            sms.list().map(({ to, text, at }) => ({ to, text, at }))
          )
        );
        return;
      }
      // The simulator's controls: its phones and its faults.
      const jpushControl = /^\/local\/jpush(\/|$)/.test(requestUrl.pathname);
      if (requestUrl.pathname.startsWith('/local/devices') || jpushControl) {
        if (simulator) {
          simulator.handle(req, res);
          return;
        }
        sendJsonError(
          res,
          404,
          'NotFound',
          jpushControl
            ? 'JPush faults can be set only when the JPush simulator is used.'
            : 'Simulated devices exist only when the JPush simulator is used.'
        );
        return;
      }
      const method = req.method ?? 'GET';
      const match = matchRoute(routes, method, requestUrl.pathname);
      if (!match.route) {
        if (match.malformed !== undefined) {
          sendJsonError(
            res,
            400,
            'ValidationError',
            `The path's ${match.malformed} has a malformed percent-escape (% must be followed by two hex digits).`
          );
        } else if (match.allowed.length > 0) {
          sendJsonError(
            res,
            405,
            'MethodNotAllowed',
            `${method} is not allowed here; use ${match.allowed.join(' or ')}.`,
            { allow: match.allowed.join(', ') }
          );
        } else {
          sendJsonError(
            res,
            404,
            'NotFound',
            `No route ${method} ${requestUrl.pathname}.`
          );
        }
        return;
      }
      const body = await readBody(req);
      if (body === undefined) {
        sendJsonError(
          res,
          413,
          'PayloadTooLarge',
          'The request body is larger than 1 MiB.'
        );
        return;
      }
      const handler = handlers.get(match.route.routeKey) as ApiHandler;
      sendApiResult(
        res,
        await handler(
          toApiEvent(req, requestUrl, body, match.route, match.params)
        )
      );
    };

    return {
      url,
      ...(simulator ? { simulator } : {}),
      jpushSecret,
      sms,
      events,
      streams,
      stateMachine,
      deps,
      dynamo,
      templates,
      close: async () => {
        for (const close of closers.splice(0)) {
          await close().catch(() => undefined);
        }
      },
    };
  } catch (error) {
    for (const close of closers.splice(0)) await close().catch(() => undefined);
    throw error;
  }
};

const closeServer = (server: Server) =>
  new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });

/**
 * The logical id of the topic escalation SMS go to: the one the stack passes
 * to a function in {@link ENV.onCallTopicArn} (a `Ref`, as CDK writes a
 * topic's ARN).
 * @throws Error when no function is given one
 */
const onCallTopicOf = (template: CfnTemplate): string => {
  const ref = (
    functionEnvOf(template, ENV.onCallTopicArn) as { Ref?: unknown } | undefined
  )?.Ref;
  if (typeof ref === 'string') return ref;
  throw new Error(
    `No function of the service stack is given ${ENV.onCallTopicArn}.`
  );
};

/**
 * What the stack gives a function in an environment variable: the first
 * function of the template that is given it.
 */
const functionEnvOf = (
  template: CfnTemplate,
  name: string
): unknown | undefined => {
  for (const resource of Object.values(template.Resources ?? {})) {
    if (resource.Type !== 'AWS::Lambda::Function') continue;
    const value = (
      resource.Properties as
        | { Environment?: { Variables?: Record<string, unknown> } }
        | undefined
    )?.Environment?.Variables?.[name];
    if (value !== undefined) return value;
  }
  return undefined;
};

/**
 * What the stack gives the ACK function in {@link ENV.ackRequiresDevice}.
 * @throws Error when no function is given it, or something but true/false
 */
const ackRequiresDeviceOf = (template: CfnTemplate): boolean => {
  const value = functionEnvOf(template, ENV.ackRequiresDevice);
  if (value === 'true' || value === 'false') return value === 'true';
  throw new Error(
    `No function of the service stack is given ${ENV.ackRequiresDevice} (true or false).`
  );
};
