/**
 * Local mode's stand-in for the JPush credentials secret in Secrets
 * Manager: the JPush client reads it as the functions read theirs (on the
 * first call, and again after a 401), and it can be replaced while the
 * system runs (`PUT /local/secrets/jpush`), as `put-secret-value` replaces
 * the real one.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { JPushCredentials } from '../functions/adapters/jpush-client.ts';
import { readBody, sendJsonError } from './http-api.ts';

/** The path of the local secret's route. */
export const JPUSH_SECRET_PATH = '/local/secrets/jpush';

/** One secret value that can be replaced; never logged or shown. */
export class LocalSecret<T> {
  #value: T;

  constructor(value: T) {
    this.#value = value;
  }

  /** The value now, as GetSecretValue would answer. */
  read(): T {
    return this.#value;
  }

  /** Replaces the value, as `put-secret-value` does. */
  put(value: T): void {
    this.#value = value;
  }
}

/**
 * Serves `PUT /local/secrets/jpush` with `{"appKey"?, "masterSecret"}`
 * (the app key stays when not given); answers `{"stored": true}`, never the
 * secret.
 * @returns whether the request was this route's
 */
export const serveJPushSecret = async (
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  secret: LocalSecret<JPushCredentials>
): Promise<boolean> => {
  if (url.pathname.replace(/\/+$/, '') !== JPUSH_SECRET_PATH) return false;
  if (req.method !== 'PUT') {
    sendJsonError(
      res,
      405,
      'MethodNotAllowed',
      `${req.method} is not allowed here; use PUT (the secret is never shown).`,
      { allow: 'PUT' }
    );
    return true;
  }
  const body = await readBody(req, 4096);
  let parsed: unknown;
  try {
    parsed = JSON.parse(body?.toString('utf8') ?? '');
  } catch {
    parsed = undefined;
  }
  const problem = credentialsProblem(parsed);
  if (problem !== undefined) {
    sendJsonError(
      res,
      400,
      'ValidationError',
      `${problem}; send {"masterSecret": "<the new secret>"}, with "appKey" to change the app key too.`
    );
    return true;
  }
  const update = parsed as { appKey?: string; masterSecret: string };
  const current = secret.read();
  secret.put({
    appKey: update.appKey ?? current.appKey,
    masterSecret: update.masterSecret,
  });
  res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' });
  res.end(JSON.stringify({ stored: true }));
  return true;
};

/** What is wrong with a body of the route (never a value), or undefined. */
const credentialsProblem = (value: unknown): string | undefined => {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return 'The body is not a JSON object';
  }
  const fields = Object.keys(value);
  const unknown = fields.find((f) => f !== 'appKey' && f !== 'masterSecret');
  if (unknown !== undefined) {
    return `The field "${unknown.slice(0, 40)}" is not one of appKey, masterSecret`;
  }
  const { appKey, masterSecret } = value as Record<string, unknown>;
  if (typeof masterSecret !== 'string' || masterSecret.trim() === '') {
    return 'masterSecret must be a non-empty string';
  }
  if (
    appKey !== undefined &&
    (typeof appKey !== 'string' || appKey.trim() === '' || appKey.includes(':'))
  ) {
    return 'appKey must be a non-empty string without a colon';
  }
  return undefined;
};
