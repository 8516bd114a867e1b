/**
 * What the JPush API routes share: the route table's shape, the per-family
 * error codes and body parsing.
 */
import { ApiError } from '../api-error.ts';
import { parseJson } from '../json.ts';
import type { ApiFamily } from '../rate-limit.ts';

/** What a route handler gets of a request. */
export interface Context {
  method: string;
  /** The route pattern's captures, URI-decoded. */
  params: string[];
  query: URLSearchParams;
  body: string;
}

/** A route's answer: status and JSON body (undefined → empty body). */
export interface ApiReply {
  status: number;
  body?: unknown;
}

/** Answers a request or throws an {@link ApiError}. */
export type Handler = (ctx: Context) => ApiReply;

/** A path of one API family and its handlers by HTTP method. */
export interface Route {
  family: ApiFamily;
  pattern: RegExp;
  methods: Record<string, Handler>;
}

/** Per-family error codes (reference §2.8, §3.6, §4.6). */
export const CODES: Record<
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

/**
 * Parse a request body as JSON (big integers kept exact).
 * @param ctx the request
 * @param family whose "illegal parameter" code a non-JSON body gets
 * @throws ApiError 400 when the body is not JSON
 */
export const parseBody = (ctx: Context, family: ApiFamily): unknown => {
  try {
    return parseJson(ctx.body);
  } catch {
    // Not JSON: no documented code; 1003 (push) / 3002 / 7002 are the
    // families' "illegal parameter" codes (reference §2.8, §3.6, §4.6).
    throw new ApiError(400, CODES[family].invalid, 'Invalid JSON body');
  }
};

/** True for an array of at most `max` strings. */
export const stringArray = (value: unknown, max: number): value is string[] =>
  Array.isArray(value) &&
  value.length <= max &&
  value.every((v) => typeof v === 'string');
