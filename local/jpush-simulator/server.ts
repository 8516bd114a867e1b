/**
 * The simulator's composition: the model, the JPush API pipeline
 * (`api.ts`, `routes/`), the local controls (`controls.ts`), faults and the
 * request log, behind one request handler; and the loopback server.
 */
import {
  createServer,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { loopbackGuard, refuse } from '../loopback-guard.ts';
import { type AckSender, createAckSender } from './acks.ts';
import { createApiHandler } from './api.ts';
import { createControls, masterSecretProblem } from './controls.ts';
import {
  callFamilyOf,
  copyFaults,
  DEFAULT_FAULTS,
  mergeFaults,
  parseFaultsUpdate,
  ScriptedFaults,
} from './faults.ts';
import { errorBody, readBody, send } from './http.ts';
import { toJson } from './json.ts';
import { SimulatorModel, SimulatorValidationError } from './model.ts';
import { RateLimiter } from './rate-limit.ts';
import { deviceRoutes } from './routes/device.ts';
import { pushRoutes } from './routes/push.ts';
import { reportRoutes } from './routes/report.ts';
import { CODES } from './routes/route.ts';
import type {
  CallFamily,
  Faults,
  FaultsUpdate,
  LoggedRequest,
  ReceivedPush,
  ScriptedFault,
  SimDeviceSettings,
  SimDeviceState,
  SimulatorOptions,
} from './types.ts';

/** The running simulator. */
export interface JPushSimulator {
  /** Base URL of all three APIs, e.g. 'http://127.0.0.1:45123'. */
  readonly url: string;
  /** Stops listening, cancels pending ACKs, closes connections. */
  close(): Promise<void>;
  /** Creates or changes a device; going online delivers the offline queue. */
  setDevice(
    registrationId: string,
    settings: SimDeviceSettings
  ): SimDeviceState;
  getDevice(registrationId: string): SimDeviceState | undefined;
  listDevices(): SimDeviceState[];
  /**
   * Change the faults at run time: any subset, laid over the current ones
   * (per-family limits merge too).
   * @throws SimulatorValidationError naming the bad field; nothing changes
   */
  setFaults(faults: FaultsUpdate): void;
  /** The faults in force (a copy). */
  getFaults(): Faults;
  /** Back to the faults at start (`options.faults` over the defaults). */
  resetFaults(): Faults;
  /**
   * Rotates the app's master secret, as "reset master secret" in JPush's
   * console does: from now on only the new one is accepted (HTTP 401
   * otherwise).
   * @throws SimulatorValidationError when it is empty or too long
   */
  setMasterSecret(masterSecret: string): void;
  /** Queued, consumed in order by matching requests, before normal handling. */
  injectFaults(...faults: ScriptedFault[]): void;
  /**
   * Log of received API requests (not /local/*), the newest 50,000, each
   * with its call family and the fault applied to it.
   */
  requests(): LoggedRequest[];
  /**
   * API requests received by {@link CallFamily} (whatever their answer or
   * fault) since start or {@link resetRequests}; not bounded like the log.
   */
  callCounts(): Record<CallFamily, number>;
  /** Empties the request log and zeroes {@link callCounts}. */
  resetRequests(): void;
  /** Returns an unsubscribe function. */
  onDelivered(
    listener: (registrationId: string, push: ReceivedPush) => void
  ): () => void;
  /** The request handler, for mounting the simulator in a bigger server. */
  handle(req: IncomingMessage, res: ServerResponse): void;
}

/** Fake default credentials (24 characters, like real ones). */
export const DEFAULT_APP_KEY = 'simAppKey000000000000000';
/** Fake default master secret. */
export const DEFAULT_MASTER_SECRET = 'simMasterSecret000000000';

/** Requests kept in the log, so a long-running local mode stays bounded. */
const MAX_LOGGED_REQUESTS = 50_000;

/**
 * Build a simulator whose handler can be mounted anywhere; `listen` is left
 * to {@link startJPushSimulator}.
 * @param options see {@link SimulatorOptions}
 */
export const createJPushSimulatorHandler = (
  options: SimulatorOptions = {}
): Omit<JPushSimulator, 'url' | 'close'> & {
  /** Cancels pending ACK timers and aborts ACKs in flight. */
  shutdown(): Promise<void>;
} => {
  const appKey = options.appKey ?? process.env.JPUSH_APP_KEY ?? DEFAULT_APP_KEY;
  let masterSecret =
    options.masterSecret ??
    process.env.JPUSH_MASTER_SECRET ??
    DEFAULT_MASTER_SECRET;
  const now = options.now ?? Date.now;
  const random = options.random ?? Math.random;
  /** Checked and merged, or a {@link SimulatorValidationError}. */
  const withUpdate = (base: Faults, update: FaultsUpdate | undefined) => {
    const parsed = parseFaultsUpdate(update ?? {});
    if (!parsed.ok) throw new SimulatorValidationError(parsed.message);
    return mergeFaults(base, parsed.update);
  };
  const startFaults = withUpdate(copyFaults(DEFAULT_FAULTS), options.faults);
  let faults = copyFaults(startFaults);
  const scripted = new ScriptedFaults();
  const log: LoggedRequest[] = [];
  const noCalls = (): Record<CallFamily, number> => ({
    push: 0,
    cid: 0,
    withdraw: 0,
    report: 0,
    device: 0,
  });
  let counts = noCalls();
  const listeners = new Set<(rid: string, push: ReceivedPush) => void>();
  const acks: AckSender | undefined = options.ackBaseUrl
    ? createAckSender(options.ackBaseUrl)
    : undefined;

  const model = new SimulatorModel({
    appKey,
    now,
    random,
    firstMsgId: 18_100_528_814_460_569n + BigInt(Math.floor(random() * 1e9)),
    onDelivered: (device, push) => {
      for (const listener of listeners) {
        try {
          listener(device.registrationId, push);
        } catch (error) {
          console.warn(
            `[jpush-simulator] onDelivered listener threw: ${error}`
          );
        }
      }
      const { messageId, ackToken } = push.extras;
      // Who ACKs: the Notification Service Extension (iOS, mutable-content),
      // or the app's own code (autoAck), which never runs for a notification
      // that came through a vendor's channel. One ACK either way.
      const app = device.autoAck && push.vendorChannel !== true;
      const ack = push.serviceExtension === true || app;
      if (ack && acks && typeof messageId === 'string') {
        acks.schedule(
          messageId,
          ackToken,
          device.registrationId,
          device.ackDelayMs
        );
      }
    },
  });

  const vip = options.vip ?? true;
  const handleApi = createApiHandler({
    appKey,
    masterSecret: () => masterSecret,
    routes: [
      ...pushRoutes(model),
      ...reportRoutes(model, vip),
      ...deviceRoutes(model, vip),
    ],
    faults: () => faults,
    scripted,
    limiter: new RateLimiter(options.rateLimitNow ?? now),
    random,
  });
  const setFaults = (update: FaultsUpdate): Faults => {
    faults = withUpdate(faults, update);
    return copyFaults(faults);
  };
  const resetFaults = (): Faults => {
    faults = copyFaults(startFaults);
    return copyFaults(faults);
  };
  const setMasterSecret = (secret: string): void => {
    const problem = masterSecretProblem(secret);
    if (problem) throw new SimulatorValidationError(problem);
    masterSecret = secret;
  };
  const handleLocal = createControls({
    model,
    setMasterSecret,
    faults: {
      get: () => copyFaults(faults),
      set: setFaults,
      reset: resetFaults,
    },
  });

  const handleRequest = async (
    req: IncomingMessage,
    res: ServerResponse
  ): Promise<void> => {
    const method = (req.method ?? 'GET').toUpperCase();
    const target = req.url ?? '/';
    const url = new URL(target, 'http://simulator.invalid');
    const path =
      url.pathname.length > 1 ? url.pathname.replace(/\/+$/, '') : '/';
    const { text, tooLarge } = await readBody(req);
    const isLocal = path === '/local' || path.startsWith('/local/');
    let entry: LoggedRequest | undefined;
    if (!isLocal) {
      entry = {
        method,
        path: target,
        body: text,
        at: new Date(now()).toISOString(),
        family: callFamilyOf(method, path),
      };
      counts[entry.family] += 1;
      log.push(entry);
      if (log.length > MAX_LOGGED_REQUESTS) {
        log.splice(0, log.length - MAX_LOGGED_REQUESTS);
      }
    }
    if (tooLarge) {
      return send(
        res,
        413,
        errorBody(isLocal ? 'PayloadTooLarge' : 1005, 'Request body too large'),
        { Connection: 'close' }
      );
    }
    if (isLocal) {
      const reply = handleLocal(method, path, text);
      return send(res, reply.status, toJson(reply.body), reply.headers);
    }
    return handleApi({
      req,
      res,
      method,
      path,
      query: url.searchParams,
      body: text,
      onFault: (fault) => {
        if (entry) entry.fault = fault;
      },
      onAnswer: (status, body) => {
        if (entry) entry.answer = { status, body };
      },
    });
  };

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    req.on('error', () => undefined);
    res.on('error', () => undefined);
    handleRequest(req, res).catch((error: unknown) => {
      if (error instanceof URIError) {
        return send(
          res,
          400,
          errorBody(CODES.device.invalid, 'Bad URL encoding')
        );
      }
      console.warn(`[jpush-simulator] internal error: ${String(error)}`);
      if (res.headersSent) return res.destroy();
      send(res, 500, errorBody(1000, 'Server internal error'));
    });
  };

  return {
    setDevice: (rid, settings) => model.setDevice(rid, settings),
    getDevice: (rid) => model.getDevice(rid),
    listDevices: () => model.listDevices(),
    setFaults: (update) => {
      setFaults(update);
    },
    getFaults: () => copyFaults(faults),
    resetFaults,
    setMasterSecret,
    injectFaults: (...items) => scripted.add(...items),
    requests: () => log.map((entry) => ({ ...entry })),
    callCounts: () => ({ ...counts }),
    resetRequests: () => {
      log.length = 0;
      counts = noCalls();
    },
    onDelivered: (listener) => {
      listeners.add(listener);
      return () => {
        listeners.delete(listener);
      };
    },
    handle,
    shutdown: async () => {
      await acks?.shutdown();
    },
  };
};

/**
 * Start the JPush simulator on loopback.
 * @param options see {@link SimulatorOptions}
 * @returns the running simulator; call `close()` when done
 * @throws when the port cannot be bound
 */
export const startJPushSimulator = async (
  options: SimulatorOptions = {}
): Promise<JPushSimulator> => {
  const { shutdown, ...simulator } = createJPushSimulatorHandler(options);
  // Its controls have no auth and its default secrets are public: like
  // local mode's port, it refuses other sites' pages (see loopback-guard).
  let guard: ReturnType<typeof loopbackGuard> | undefined;
  const server = createServer((req, res) => {
    if (guard && refuse(res, guard(req.headers))) return;
    simulator.handle(req, res);
  });
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  guard = loopbackGuard({ host, port });
  const urlHost = host.includes(':') ? `[${host}]` : host;
  let closed: Promise<void> | undefined;
  return {
    ...simulator,
    url: `http://${urlHost}:${port}`,
    close: () => {
      closed ??= (async () => {
        await shutdown();
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        });
      })();
      return closed;
    },
  };
};
