/**
 * HTTP plumbing of the simulator: writing answers, reading bodies, JPush's
 * error envelope (reference §1.4) and the `X-Rate-Limit-*` headers (§1.5).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { toJson } from './json.ts';
import type { RateLimitState } from './rate-limit.ts';

/** Largest request body accepted. */
export const MAX_BODY_BYTES = 1024 * 1024;

/** An answer of a route or a control, before serialisation. */
export interface Reply {
  status: number;
  /** undefined → empty body. */
  body?: unknown;
  /** Extra response headers. */
  headers?: Record<string, string>;
}

/** Resolves after `ms` (at once when 0 or less). */
export const sleep = (ms: number): Promise<void> =>
  ms > 0 ? new Promise((r) => setTimeout(r, ms)) : Promise.resolve();

/**
 * Write a whole answer with a JSON content type unless `headers` say
 * otherwise; does nothing once the answer was sent or the socket destroyed.
 * @param res the response
 * @param status HTTP status
 * @param body the body text
 * @param headers extra headers (names are lower-cased)
 */
export const send = (
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

/** JPush's error envelope `{"error":{"code","message"}}` as JSON text. */
export const errorBody = (code: number | string, message: string): string =>
  toJson({ error: { code, message } });

/** Body of a local control's 400: `{"error":{"code":"ValidationError"}}`. */
export const validationBody = (message: string) => ({
  error: { code: 'ValidationError', message },
});

/**
 * The `X-Rate-Limit-*` headers of a window state. Real responses send
 * `-Limit`, the docs name it `-Quota` (§1.5): both are sent.
 * @param state the window after the call
 */
export const rateLimitHeaders = (
  state: Pick<RateLimitState, 'limit' | 'remaining' | 'resetSeconds'>
): Record<string, string> => ({
  'X-Rate-Limit-Limit': String(state.limit),
  'X-Rate-Limit-Quota': String(state.limit),
  'X-Rate-Limit-Remaining': String(state.remaining),
  'X-Rate-Limit-Reset': String(state.resetSeconds),
});

/** Destroy the connection without answering. */
export const drop = (req: IncomingMessage, res: ServerResponse): void => {
  res.destroy();
  req.socket.destroy();
};

/**
 * Read the whole request body as UTF-8, keeping at most
 * {@link MAX_BODY_BYTES}.
 * @returns the text and whether the body was larger than the limit
 */
export const readBody = (
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
