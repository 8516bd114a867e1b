/**
 * The JPush API pipeline of one request, in order: latency, a scripted
 * fault, a dropped connection, routing, HTTP Basic auth (reference §1.2), a
 * random 429, the per-minute rate limits (§1.5), a random 500, the route's
 * handler, and its answer in JPush's wire format, unless the answer is lost.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ApiError } from './api-error.ts';
import {
  apiFamilyOf,
  type FaultStage,
  latencyFor,
  rollFault,
  type ScriptedFaults,
} from './faults.ts';
import { drop, errorBody, rateLimitHeaders, send, sleep } from './http.ts';
import { toJson } from './json.ts';
import type { ApiFamily, RateLimiter } from './rate-limit.ts';
import { CODES, type Route } from './routes/route.ts';
import type { FaultKind, Faults } from './types.ts';

/** What the pipeline works with. */
export interface ApiOptions {
  appKey: string;
  /** The master secret in force (it can be rotated while running). */
  masterSecret: () => string;
  routes: Route[];
  /** The fault settings in force. */
  faults: () => Faults;
  scripted: ScriptedFaults;
  limiter: RateLimiter;
  random: () => number;
}

/** One API request, its body already read. */
export interface ApiRequest {
  req: IncomingMessage;
  res: ServerResponse;
  /** Upper case. */
  method: string;
  /** Without query or trailing slash. */
  path: string;
  query: URLSearchParams;
  body: string;
  /** Records the fault the request met, before it is applied. */
  onFault: (fault: FaultKind) => void;
  /** Records what JPush answered after handling it, sent or lost. */
  onAnswer?: (status: number, text: string) => void;
}

const defaultCode = (family: ApiFamily, status: number): number => {
  if (status === 429) return 2002;
  if (status === 401) return CODES[family].auth[0];
  if (status >= 500) return CODES[family].internal;
  return CODES[family].invalid;
};

/**
 * Build the handler of JPush API requests.
 * @param options see {@link ApiOptions}
 */
export const createApiHandler = (options: ApiOptions) => {
  const { appKey, masterSecret, routes, scripted, limiter, random } = options;

  const rateHeaders = (
    family: ApiFamily,
    consume: boolean
  ): { headers: Record<string, string>; allowed: boolean } => {
    const state = limiter.hit(
      family,
      options.faults().rateLimitPerMinute[family],
      consume
    );
    return { allowed: state.allowed, headers: rateLimitHeaders(state) };
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
    if (decoded === `${appKey}:${masterSecret()}`) return undefined;
    if (family === 'device' && (decoded === '' || decoded === ':')) {
      return new ApiError(401, 7001, 'Authentication credentials are empty');
    }
    const [code, message] = CODES[family].auth;
    return new ApiError(401, code, message);
  };

  return async (request: ApiRequest): Promise<void> => {
    const { req, res, method, path, query, body, onFault, onAnswer } = request;
    const family = apiFamilyOf(path);
    await sleep(latencyFor(options.faults(), family));
    const faults = options.faults();
    const scriptedFault = scripted.take(method, path);
    // A request meets at most one fault: a scripted one, else random ones.
    const randomly = scriptedFault === undefined;
    const roll = (stage: FaultStage): FaultKind | undefined =>
      randomly ? rollFault(faults, family, stage, random) : undefined;
    const lose = (): void => {
      onFault('lost-response');
      drop(req, res);
    };
    /**
     * The normal answer, unless it is lost on the way back (a scripted loss
     * after its delay: the request has acted, the caller still waits).
     */
    const answer = async (
      status: number,
      text: string,
      headers: Record<string, string>
    ): Promise<void> => {
      onAnswer?.(status, text);
      if (scriptedFault?.afterActing) {
        await sleep(scriptedFault.delayMs ?? 0);
        lose();
      } else if (roll('answer')) lose();
      else send(res, status, text, headers);
    };

    if (scriptedFault && !scriptedFault.afterActing) {
      await sleep(scriptedFault.delayMs ?? 0);
      if (scriptedFault.drop) {
        onFault('dropped');
        return drop(req, res);
      }
      onFault('scripted');
      const status = scriptedFault.status ?? 500;
      const text =
        scriptedFault.body ??
        errorBody(
          scriptedFault.code ?? defaultCode(family, status),
          scriptedFault.message ?? 'Scripted fault'
        );
      // A raw body stands for a proxy's page (e.g. nginx's 502): HTML.
      const type: Record<string, string> =
        scriptedFault.body === undefined ? {} : { 'content-type': 'text/html' };
      return send(res, status, text, {
        ...rateHeaders(family, false).headers,
        ...type,
        ...scriptedFault.headers,
      });
    }
    if (roll('arrival')) {
      onFault('dropped');
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
      return answer(
        404,
        errorBody(code, "request api doesn't exist"),
        rateHeaders(family, false).headers
      );
    }
    const authError = checkAuth(req, family);
    if (authError) {
      return answer(
        authError.status,
        errorBody(authError.code, authError.message),
        rateHeaders(family, false).headers
      );
    }
    if (roll('admission')) {
      // As if the window were used up: nothing counted, Remaining 0.
      onFault('rate-limited');
      return send(res, 429, errorBody(2002, 'Rate limit exceeded'), {
        ...rateHeaders(family, false).headers,
        'X-Rate-Limit-Remaining': '0',
      });
    }
    const rate = rateHeaders(family, true);
    if (!rate.allowed) {
      onFault('rate-limited');
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
      return answer(status, errorBody(code, message), rate.headers);
    }
    if (roll('acting')) {
      onFault('server-error');
      return send(
        res,
        500,
        errorBody(CODES[family].internal, 'Server internal error'),
        rate.headers
      );
    }
    let status: number;
    let text: string;
    try {
      const reply = handler({ method, params, query, body });
      status = reply.status;
      text = reply.body === undefined ? '' : toJson(reply.body);
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      status = error.status;
      text = toJson({
        ...error.extra,
        error: { code: error.code, message: error.message },
      });
    }
    await answer(status, text, rate.headers);
  };
};
