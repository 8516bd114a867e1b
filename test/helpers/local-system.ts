import { randomBytes } from 'node:crypto';
import type { LocalSystem } from '../../local/system.ts';

/** A registration id shaped like the JPush SDK's (18 hex characters). */
export const newRegistrationId = (): string =>
  `1a${randomBytes(8).toString('hex')}`;

/** A fresh user id, so tests sharing one system never collide. */
export const newUserId = (label = 'user'): string =>
  `${label}_${randomBytes(4).toString('hex')}`;

/** A JSON request against the local API. */
export const api = async (
  system: Pick<LocalSystem, 'url'>,
  method: string,
  path: string,
  body?: unknown
  // biome-ignore lint/suspicious/noExplicitAny: test responses are asserted field by field
): Promise<{ status: number; json: any; text: string }> => {
  const res = await fetch(`${system.url}${path}`, {
    // A request the system never answers fails the test, with its route,
    // instead of hanging it.
    signal: AbortSignal.timeout(20_000),
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body:
      body === undefined
        ? undefined
        : typeof body === 'string'
          ? body
          : JSON.stringify(body),
  }).catch((error: unknown) => {
    throw new Error(`${method} ${path} got no answer: ${String(error)}`);
  });
  const text = await res.text();
  let json: unknown;
  try {
    json = text === '' ? undefined : JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, json, text };
};

/** Logs a user in through the API (`POST /v1/sessions`); expects 200. */
export const loginVia = async (
  system: Pick<LocalSystem, 'url'>,
  userId: string,
  registrationId: string,
  platform: 'android' | 'ios' = 'android'
): Promise<{ drained: number }> => {
  const res = await api(system, 'POST', '/v1/sessions', {
    userId,
    registrationId,
    platform,
  });
  if (res.status !== 200) {
    throw new Error(`login answered ${res.status}: ${res.text}`);
  }
  return res.json as { drained: number };
};

/** Logs a user out through the API (`DELETE /v1/sessions/...`); expects 204. */
export const logoutVia = async (
  system: Pick<LocalSystem, 'url'>,
  userId: string,
  registrationId: string
): Promise<void> => {
  const res = await api(
    system,
    'DELETE',
    `/v1/sessions/${userId}/${registrationId}`
  );
  if (res.status !== 204) {
    throw new Error(`logout answered ${res.status}: ${res.text}`);
  }
};

/** Polls until `check` returns a value (not undefined), or fails after `ms`. */
export const eventually = async <T>(
  check: () => Promise<T | undefined> | T | undefined,
  what: string,
  ms = 15_000
): Promise<T> => {
  const deadline = Date.now() + ms;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(
    `Timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`
  );
};

/** Gives a user a session on a device directly in the sessions table. */
export const seedSession = async (
  system: LocalSystem,
  userId: string,
  registrationId: string,
  platform: 'android' | 'ios' = 'android'
): Promise<void> => {
  const since = new Date().toISOString();
  await system.deps.sessions.put({ userId, registrationId, platform, since });
  await system.deps.devices.put({ registrationId, userId, platform, since });
};
