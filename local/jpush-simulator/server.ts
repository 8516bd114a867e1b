/**
 * The simulator's HTTP side: routing, auth, rate limits, faults and the JSON
 * wire format of JPush's Push, Report and Device APIs (reference §1–§4), plus
 * the local device controls (`/local/devices`).
 */
import {
  createServer,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { z } from 'zod';
import { ApiError } from './api-error.ts';
import { isObject, parseJson, toJson } from './json.ts';
import { SimulatorModel, SimulatorValidationError } from './model.ts';
import { validatePush } from './push-object.ts';
import { type ApiFamily, RateLimiter } from './rate-limit.ts';
import type {
  Faults,
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
  setFaults(faults: Partial<Faults>): void;
  /** Queued, consumed in order by matching requests, before normal handling. */
  injectFaults(...faults: ScriptedFault[]): void;
  /** Log of received API requests (not /local/*), the newest 50,000. */
  requests(): LoggedRequest[];
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

/** Largest request body accepted. */
const MAX_BODY_BYTES = 1024 * 1024;

const DEFAULT_FAULTS: Faults = {
  // Free-tier limits per minute (reference §1.5).
  rateLimitPerMinute: { push: 600, report: 2400, device: 600 },
  serverErrorRate: 0,
  latencyMs: 0,
  dropConnectionRate: 0,
};

/** Per-family error codes (reference §2.8, §3.6, §4.6). */
const CODES: Record<
  ApiFamily,
  { auth: [number, string]; internal: number; invalid: number }
> = {
  push: { auth: [1004, 'Authen failed'], internal: 1000, invalid: 1003 },
  report: {
    auth: [3001, 'Basic authentication failed'],
    internal: 10,
    invalid: 3002,
  },
  device: {
    auth: [7004, 'Authentication failed'],
    internal: 7000,
    invalid: 7002,
  },
};

const KNOWN_PLATFORMS = new Set([
  'android',
  'ios',
  'winphone',
  'quickapp',
  'hmos',
]);

interface Reply {
  status: number;
  /** undefined → empty body. */
  body?: unknown;
}

interface Context {
  method: string;
  params: string[];
  query: URLSearchParams;
  body: string;
}

type Handler = (ctx: Context) => Reply;

interface Route {
  family: ApiFamily;
  pattern: RegExp;
  methods: Record<string, Handler>;
}

const sleep = (ms: number): Promise<void> =>
  ms > 0 ? new Promise((r) => setTimeout(r, ms)) : Promise.resolve();

const familyOf = (path: string): ApiFamily => {
  if (/^\/v3\/(push|grouppush|schedules)(\/|$)/.test(path)) return 'push';
  if (/^\/v3\/(received|status|messages|users)(\/|$)/.test(path)) {
    return 'report';
  }
  return 'device';
};

const validationBody = (message: string) => ({
  error: { code: 'ValidationError', message },
});

/** Body of `PUT /local/devices/{rid}`. */
const DeviceSettingsSchema = z.strictObject({
  online: z.boolean().optional(),
  autoAck: z.boolean().optional(),
  ackDelayMs: z.number().int().min(0).max(3_600_000).optional(),
  dropRate: z.number().min(0).max(1).optional(),
  platform: z.enum(['android', 'ios']).optional(),
});

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
  const masterSecret =
    options.masterSecret ??
    process.env.JPUSH_MASTER_SECRET ??
    DEFAULT_MASTER_SECRET;
  const now = options.now ?? Date.now;
  const random = options.random ?? Math.random;
  const vip = options.vip ?? true;
  let faults: Faults = mergeFaults(DEFAULT_FAULTS, options.faults);
  const scripted: Array<ScriptedFault & { left: number }> = [];
  const log: LoggedRequest[] = [];
  const MAX_LOGGED_REQUESTS = 50_000;
  const listeners = new Set<(rid: string, push: ReceivedPush) => void>();
  const ackTimers = new Set<NodeJS.Timeout>();
  const ackAborts = new Set<AbortController>();
  const ackInFlight = new Set<Promise<void>>();
  const limiter = new RateLimiter(now);

  const postAck = (messageId: string, token: unknown): void => {
    const controller = new AbortController();
    ackAborts.add(controller);
    const url = `${options.ackBaseUrl?.replace(/\/+$/, '')}/v1/messages/${encodeURIComponent(messageId)}/ack`;
    const request = fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token }),
      signal: controller.signal,
    })
      .then(async (response) => {
        await response.arrayBuffer();
        if (!response.ok) {
          console.warn(`[jpush-simulator] ACK ${url} → ${response.status}`);
        }
      })
      .catch((error: unknown) => {
        if (!controller.signal.aborted) {
          console.warn(`[jpush-simulator] ACK ${url} failed: ${String(error)}`);
        }
      })
      .finally(() => {
        ackAborts.delete(controller);
        ackInFlight.delete(request);
      });
    ackInFlight.add(request);
  };

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
      if (
        device.autoAck &&
        options.ackBaseUrl &&
        typeof messageId === 'string'
      ) {
        const timer = setTimeout(() => {
          ackTimers.delete(timer);
          postAck(messageId, ackToken);
        }, device.ackDelayMs);
        ackTimers.add(timer);
      }
    },
  });

  const parseBody = (ctx: Context, family: ApiFamily): unknown => {
    try {
      return parseJson(ctx.body);
    } catch {
      // Not JSON: no documented code; 1003 (push) / 3002 / 7002 are the
      // families' "illegal parameter" codes (reference §2.8, §3.6, §4.6).
      throw new ApiError(400, CODES[family].invalid, 'Invalid JSON body');
    }
  };

  const platformsOf = (query: URLSearchParams): Set<string> | undefined => {
    const raw = query.get('platform');
    if (raw === null || raw === '' || raw === 'all') return undefined;
    const platforms = new Set(raw.split(',').map((p) => p.trim()));
    for (const p of platforms) {
      if (!KNOWN_PLATFORMS.has(p)) {
        throw new ApiError(400, 7002, `Invalid platform '${p}'`);
      }
    }
    return platforms;
  };

  const msgIdsOf = (query: URLSearchParams): string[] => {
    const raw = query.get('msg_ids');
    if (!raw) throw new ApiError(400, 3002, 'Missing parameter `msg_ids`.');
    const ids = raw.split(',').map((id) => id.trim());
    if (ids.length > 100 || ids.some((id) => !/^[0-9]{1,20}$/.test(id))) {
      throw new ApiError(400, 3002, 'Invalid parameter `msg_ids`.');
    }
    return ids;
  };

  const stringArray = (value: unknown, max: number): value is string[] =>
    Array.isArray(value) &&
    value.length <= max &&
    value.every((v) => typeof v === 'string');

  const pushHandler =
    (send: boolean): Handler =>
    (ctx) => {
      const push = validatePush(parseBody(ctx, 'push'));
      const result = send ? model.push(push) : model.validateOnly(push);
      // Both values are strings on success (reference §2.7).
      return {
        status: 200,
        body: { sendno: result.sendno, msg_id: result.msgId },
      };
    };

  const routes: Route[] = [
    {
      family: 'push',
      pattern: /^\/v3\/push$/,
      methods: { POST: pushHandler(true) },
    },
    {
      family: 'push',
      pattern: /^\/v3\/push\/validate$/,
      methods: { POST: pushHandler(false) },
    },
    {
      family: 'push',
      pattern: /^\/v3\/push\/cid$/,
      methods: {
        GET: ({ query }) => {
          const count = Number(query.get('count') ?? '1');
          const type = query.get('type') ?? 'push';
          if (!Number.isInteger(count) || count < 1 || count > 1000) {
            throw new ApiError(400, 1003, 'Invalid parameter: count');
          }
          if (type !== 'push' && type !== 'schedule') {
            throw new ApiError(400, 1003, 'Invalid parameter: type');
          }
          return { status: 200, body: { cidlist: model.issueCids(count) } };
        },
      },
    },
    {
      family: 'push',
      pattern: /^\/v3\/push\/([0-9]{1,20})$/,
      methods: {
        DELETE: ({ params }) => {
          model.withdraw(params[0] ?? '');
          // Response of withdraw is undocumented (§2.9); an empty 200 like
          // the other delete calls (§1.3).
          return { status: 200 };
        },
      },
    },
    {
      family: 'report',
      pattern: /^\/v3\/received\/detail$/,
      methods: {
        GET: ({ query }) => ({
          status: 200,
          body: msgIdsOf(query).map((id) => model.receivedDetail(id)),
        }),
      },
    },
    {
      family: 'report',
      pattern: /^\/v3\/received$/,
      methods: {
        GET: ({ query }) => ({
          status: 200,
          body: msgIdsOf(query).map((id) => {
            const row = model.receivedDetail(id);
            // msg_id as a number, as observed (reference §3.1).
            return {
              msg_id: row.msg_id,
              android_received: row.jpush_received,
              ios_apns_sent: row.ios_apns_sent,
              ios_apns_received: row.ios_apns_received,
              ios_msg_received: row.ios_msg_received,
              wp_mpns_sent: null,
            };
          }),
        }),
      },
    },
    {
      family: 'report',
      pattern: /^\/v3\/status\/message$/,
      methods: {
        POST: (ctx) => {
          if (!vip) {
            // VIP-only today (reference §3.3); code 2006 from §2.8.
            throw new ApiError(403, 2006, 'not a VIP user');
          }
          const body = parseBody(ctx, 'report');
          if (!isObject(body)) {
            throw new ApiError(400, 3002, 'Invalid parameter `msg_id`.');
          }
          const { msg_id: msgId, registration_ids: rids, date } = body;
          // A string msg_id is rejected as observed in 2021 (§1.6, §3.3).
          const numeric =
            typeof msgId === 'bigint' ||
            (typeof msgId === 'number' && Number.isInteger(msgId) && msgId > 0);
          if (!numeric) {
            throw new ApiError(400, 3002, 'Invalid parameter `msg_id`.');
          }
          if (!stringArray(rids, 1000) || rids.length === 0) {
            throw new ApiError(
              400,
              3002,
              'Invalid parameter `registration_ids`.'
            );
          }
          if (
            date !== undefined &&
            (typeof date !== 'string' || !/^\d{4}-\d{2}-\d{2}$/.test(date))
          ) {
            throw new ApiError(400, 3002, 'Invalid parameter `date`.');
          }
          return {
            status: 200,
            body: model.messageStatus(String(msgId), rids, date),
          };
        },
      },
    },
    {
      family: 'device',
      pattern: /^\/v3\/devices\/status$/,
      methods: {
        POST: (ctx) => {
          if (!vip) throw new ApiError(403, 2006, 'not a VIP user');
          const body = parseBody(ctx, 'device');
          const rids = isObject(body) ? body.registration_ids : undefined;
          if (!stringArray(rids, 1000)) {
            throw new ApiError(400, 7002, 'Invalid parameter registration_ids');
          }
          const result: Record<string, { online: boolean }> = {};
          for (const rid of rids) {
            const device = model.getDevice(rid);
            // Unknown ids come back empty (reference §4.5).
            if (device) result[rid] = { online: device.online };
          }
          return { status: 200, body: result };
        },
      },
    },
    {
      family: 'device',
      pattern: /^\/v3\/devices\/([^/]+)$/,
      methods: {
        GET: ({ params }) => ({
          status: 200,
          body: model.deviceInfo(params[0] ?? ''),
        }),
        POST: (ctx) => {
          const body = parseBody(ctx, 'device');
          const bad = (what: string) =>
            new ApiError(400, 7002, `Invalid parameter: ${what}`);
          if (!isObject(body)) throw bad('body must be a JSON object');
          for (const key of Object.keys(body)) {
            if (!['tags', 'alias', 'mobile'].includes(key)) throw bad(key);
          }
          const { tags, alias, mobile } = body;
          if (tags !== undefined && tags !== '') {
            if (!isObject(tags)) throw bad('tags');
            for (const key of Object.keys(tags)) {
              if (key !== 'add' && key !== 'remove') throw bad(`tags.${key}`);
            }
            if (tags.add !== undefined && !stringArray(tags.add, 100)) {
              throw bad('tags.add');
            }
            if (tags.remove !== undefined && !stringArray(tags.remove, 100)) {
              throw bad('tags.remove');
            }
          }
          if (alias !== undefined && typeof alias !== 'string') {
            throw bad('alias');
          }
          if (mobile !== undefined && typeof mobile !== 'string') {
            throw bad('mobile');
          }
          model.updateDevice(ctx.params[0] ?? '', {
            tags: tags as '' | { add?: string[]; remove?: string[] },
            alias,
            mobile,
          });
          return { status: 200 };
        },
      },
    },
    {
      family: 'device',
      pattern: /^\/v3\/aliases\/([^/]+)$/,
      methods: {
        GET: ({ params, query }) => ({
          status: 200,
          body: {
            registration_ids: model.aliasDevices(
              params[0] ?? '',
              platformsOf(query)
            ),
          },
        }),
        DELETE: ({ params, query }) => {
          model.unbindAlias(params[0] ?? '', undefined, platformsOf(query));
          return { status: 200 };
        },
        POST: (ctx) => {
          const body = parseBody(ctx, 'device');
          const ids = isObject(body) ? body.registration_ids : undefined;
          const keysOk =
            isObject(body) &&
            Object.keys(body).every((k) => k === 'registration_ids') &&
            isObject(ids) &&
            Object.keys(ids).every((k) => k === 'remove');
          const remove = isObject(ids) ? ids.remove : undefined;
          if (!keysOk || !stringArray(remove, 1000)) {
            throw new ApiError(
              400,
              7002,
              'Invalid parameter: expected {"registration_ids":{"remove":[...]}}'
            );
          }
          model.unbindAlias(ctx.params[0] ?? '', remove);
          return { status: 200 };
        },
      },
    },
  ];

  const send = (
    res: ServerResponse,
    status: number,
    body: string,
    headers: Record<string, string> = {}
  ): void => {
    if (res.headersSent || res.destroyed) return;
    const merged: Record<string, string> = {
      'content-type': 'application/json; charset=utf-8',
    };
    for (const [name, value] of Object.entries(headers)) {
      merged[name.toLowerCase()] = value;
    }
    merged['content-length'] = String(Buffer.byteLength(body));
    res.writeHead(status, merged);
    res.end(body);
  };

  const errorBody = (code: number | string, message: string): string =>
    toJson({ error: { code, message } });

  const rateHeaders = (
    family: ApiFamily,
    consume: boolean
  ): { headers: Record<string, string>; allowed: boolean } => {
    const state = limiter.hit(
      family,
      faults.rateLimitPerMinute[family],
      consume
    );
    // Real responses send -Limit, the docs name it -Quota (§1.5): send both.
    return {
      allowed: state.allowed,
      headers: {
        'X-Rate-Limit-Limit': String(state.limit),
        'X-Rate-Limit-Quota': String(state.limit),
        'X-Rate-Limit-Remaining': String(state.remaining),
        'X-Rate-Limit-Reset': String(state.resetSeconds),
      },
    };
  };

  const drop = (req: IncomingMessage, res: ServerResponse): void => {
    res.destroy();
    req.socket.destroy();
  };

  const takeScriptedFault = (
    method: string,
    path: string
  ): ScriptedFault | undefined => {
    const index = scripted.findIndex(
      (f) =>
        (f.method === undefined || f.method.toUpperCase() === method) &&
        (f.path === undefined ||
          (typeof f.path === 'string'
            ? f.path.replace(/\/+$/, '') === path
            : f.path.test(path)))
    );
    const fault = scripted[index];
    if (!fault) return undefined;
    fault.left -= 1;
    if (fault.left <= 0) scripted.splice(index, 1);
    return fault;
  };

  const defaultCode = (family: ApiFamily, status: number): number => {
    if (status === 429) return 2002;
    if (status === 401) return CODES[family].auth[0];
    if (status >= 500) return CODES[family].internal;
    return CODES[family].invalid;
  };

  const checkAuth = (
    req: IncomingMessage,
    family: ApiFamily
  ): ApiError | undefined => {
    const header = req.headers.authorization ?? '';
    const match = /^Basic\s+(\S*)\s*$/i.exec(header);
    const decoded = match
      ? Buffer.from(match[1] ?? '', 'base64').toString('utf8')
      : '';
    if (decoded === `${appKey}:${masterSecret}`) return undefined;
    if (family === 'device' && (decoded === '' || decoded === ':')) {
      return new ApiError(401, 7001, 'Authentication credentials are empty');
    }
    const [code, message] = CODES[family].auth;
    return new ApiError(401, code, message);
  };

  const handleApi = async (
    req: IncomingMessage,
    res: ServerResponse,
    method: string,
    path: string,
    query: URLSearchParams,
    body: string
  ): Promise<void> => {
    await sleep(faults.latencyMs);
    const family = familyOf(path);
    const fault = takeScriptedFault(method, path);
    if (fault) {
      await sleep(fault.delayMs ?? 0);
      if (fault.drop) return drop(req, res);
      const text =
        fault.body ??
        errorBody(
          fault.code ?? defaultCode(family, fault.status),
          fault.message ?? 'Scripted fault'
        );
      // A raw body stands for a proxy's page (e.g. nginx's 502): HTML.
      const type: Record<string, string> =
        fault.body === undefined ? {} : { 'content-type': 'text/html' };
      return send(res, fault.status, text, {
        ...rateHeaders(family, false).headers,
        ...type,
        ...fault.headers,
      });
    }
    if (faults.dropConnectionRate > 0 && random() < faults.dropConnectionRate) {
      return drop(req, res);
    }
    let route: Route | undefined;
    let params: string[] = [];
    for (const candidate of routes) {
      const match = candidate.pattern.exec(path);
      if (match) {
        route = candidate;
        params = match.slice(1).map((p) => decodeURIComponent(p));
        break;
      }
    }
    if (!route) {
      // 7010 is observed for the Device API (§4.2). For Push and Report no
      // source shows an unknown route; chosen: 404 with the family's
      // "illegal parameter" code and the same message.
      const code = family === 'device' ? 7010 : CODES[family].invalid;
      return send(
        res,
        404,
        errorBody(code, "request api doesn't exist"),
        rateHeaders(family, false).headers
      );
    }
    const authError = checkAuth(req, family);
    if (authError) {
      return send(
        res,
        authError.status,
        errorBody(authError.code, authError.message),
        rateHeaders(family, false).headers
      );
    }
    const rate = rateHeaders(family, true);
    if (!rate.allowed) {
      return send(
        res,
        429,
        errorBody(2002, 'Rate limit exceeded'),
        rate.headers
      );
    }
    const handler = route.methods[method];
    if (!handler) {
      // Push: 405 / 1001 (§2.8). Device: 404 / 7010, the reading of §4.2.
      // Report: undocumented; 405 with 3002.
      const [status, code] =
        family === 'push'
          ? [405, 1001]
          : family === 'device'
            ? [404, 7010]
            : [405, 3002];
      const message =
        family === 'device'
          ? "request api doesn't exist"
          : `Method ${method} not allowed`;
      return send(res, status, errorBody(code, message), rate.headers);
    }
    if (faults.serverErrorRate > 0 && random() < faults.serverErrorRate) {
      return send(
        res,
        500,
        errorBody(CODES[family].internal, 'Server internal error'),
        rate.headers
      );
    }
    try {
      const reply = handler({ method, params, query, body });
      send(
        res,
        reply.status,
        reply.body === undefined ? '' : toJson(reply.body),
        rate.headers
      );
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      send(
        res,
        error.status,
        toJson({
          ...error.extra,
          error: { code: error.code, message: error.message },
        }),
        rate.headers
      );
    }
  };

  const handleLocal = (method: string, path: string, body: string): Reply => {
    const json = (status: number, value: unknown): Reply => ({
      status,
      body: value,
    });
    if (path === '/local/devices') {
      if (method !== 'GET') {
        return json(405, {
          error: { code: 'MethodNotAllowed', message: `${method} ${path}` },
        });
      }
      return json(200, model.listDevices());
    }
    const match = /^\/local\/devices\/([^/]+)$/.exec(path);
    if (!match) {
      return json(404, {
        error: { code: 'NotFound', message: `No route ${method} ${path}` },
      });
    }
    const rid = decodeURIComponent(match[1] ?? '');
    if (method === 'GET') {
      const device = model.getDevice(rid);
      return device
        ? json(200, device)
        : json(404, {
            error: { code: 'NotFound', message: `Unknown device ${rid}` },
          });
    }
    if (method !== 'PUT') {
      return json(405, {
        error: { code: 'MethodNotAllowed', message: `${method} ${path}` },
      });
    }
    let raw: unknown = {};
    if (body.trim() !== '') {
      try {
        raw = JSON.parse(body);
      } catch {
        return json(400, validationBody('Body is not valid JSON'));
      }
    }
    const parsed = DeviceSettingsSchema.safeParse(raw);
    if (!parsed.success) {
      const message = parsed.error.issues
        .map((i) => `${i.path.join('.') || 'body'}: ${i.message}`)
        .join('; ');
      return json(400, validationBody(message));
    }
    try {
      return json(200, model.setDevice(rid, parsed.data));
    } catch (error) {
      if (error instanceof SimulatorValidationError) {
        return json(400, validationBody(error.message));
      }
      throw error;
    }
  };

  const readBody = (
    req: IncomingMessage
  ): Promise<{ text: string; tooLarge: boolean }> =>
    new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      let tooLarge = false;
      req.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_BODY_BYTES) tooLarge = true;
        else chunks.push(chunk);
      });
      req.on('end', () =>
        resolve({ text: Buffer.concat(chunks).toString('utf8'), tooLarge })
      );
      req.on('error', reject);
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
    if (!isLocal) {
      log.push({
        method,
        path: target,
        body: text,
        at: new Date(now()).toISOString(),
      });
      // Bounded, so a long-running local mode does not grow without end.
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
      return send(res, reply.status, toJson(reply.body));
    }
    return handleApi(req, res, method, path, url.searchParams, text);
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
    setFaults: (partial) => {
      faults = mergeFaults(faults, partial);
    },
    injectFaults: (...items) => {
      for (const fault of items) {
        scripted.push({ ...fault, left: fault.times ?? 1 });
      }
    },
    requests: () => log.map((entry) => ({ ...entry })),
    onDelivered: (listener) => {
      listeners.add(listener);
      return () => {
        listeners.delete(listener);
      };
    },
    handle,
    shutdown: async () => {
      for (const timer of ackTimers) clearTimeout(timer);
      ackTimers.clear();
      for (const controller of ackAborts) controller.abort();
      await Promise.allSettled([...ackInFlight]);
    },
  };
};

const mergeFaults = (base: Faults, partial: Partial<Faults> = {}): Faults => ({
  ...base,
  ...partial,
  rateLimitPerMinute: {
    ...base.rateLimitPerMinute,
    ...partial.rateLimitPerMinute,
  },
});

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
  const server = createServer(simulator.handle);
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
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
