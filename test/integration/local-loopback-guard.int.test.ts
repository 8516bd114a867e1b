import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LiveSystem, startLiveSystem } from '../../local/live/index.ts';
import { api, newRegistrationId, newUserId } from '../helpers/local-system.ts';

// Local mode on loopback is not a CSRF or DNS-rebinding target: what a
// page of another site can send (its Origin; a Host of its own name) is
// refused before any route runs, on the system's port (API, live view,
// simulator controls) and on the JPush simulator's own port.

interface Answer {
  readonly status: number;
  // biome-ignore lint/suspicious/noExplicitAny: answers are asserted field by field
  readonly json: any;
}

/** A request with the headers a browser would send (fetch cannot set Host). */
const send = (
  base: string,
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: unknown
): Promise<Answer> =>
  new Promise((resolve, reject) => {
    const text = body === undefined ? undefined : JSON.stringify(body);
    const req = request(
      new URL(path, base),
      {
        method,
        headers: {
          ...(text === undefined ? {} : { 'content-type': 'application/json' }),
          ...headers,
        },
        timeout: 10_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const raw = Buffer.concat(chunks).toString('utf8');
          let json: unknown;
          try {
            json = JSON.parse(raw);
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, json });
        });
      }
    );
    req.on('error', reject);
    req.end(text);
  });

let live: LiveSystem;
let port: string;

beforeAll(async () => {
  live = await startLiveSystem({ timeScale: 0.05 });
  port = new URL(live.system.url).port;
});

afterAll(async () => {
  await live?.close();
});

describe('local mode refuses what another site can send (live system, over HTTP)', () => {
  it('refuses a message posted by another site’s page with 403, and stores nothing', async () => {
    // Prepare
    const user = newUserId();

    // Act
    const answer = await send(
      live.system.url,
      'POST',
      '/v1/messages',
      { origin: 'https://attacker.example' },
      { to: user, body: 'forged' }
    );
    const history = await api(live.system, 'GET', `/v1/users/${user}/messages`);

    // Assess
    expect(answer.status).toBe(403);
    expect(answer.json.error.code).toBe('Forbidden');
    expect(answer.json.error.message).toContain(
      'the Origin "https://attacker.example" is not this server'
    );
    expect(history.json.items).toEqual([]);
  });

  it.each([
    ['GET', '/'],
    ['GET', '/local/messages'],
    ['GET', '/local/live-events'],
    ['GET', '/v1/messages/m1'],
    ['PUT', '/local/devices/1a0018970a9c2ce5b0'],
    ['PUT', '/local/jpush/faults'],
    ['PUT', '/local/secrets/jpush'],
  ])('refuses %s %s under a rebound name with 421', async (method, path) => {
    // Act
    const answer = await send(live.system.url, method, path, {
      host: `attacker.example:${port}`,
    });

    // Assess
    expect(answer.status).toBe(421);
    expect(answer.json.error.code).toBe('MisdirectedRequest');
    expect(answer.json.error.message).toContain(
      `answers only requests addressed to localhost:${port}, 127.0.0.1:${port} or [::1]:${port}`
    );
  });

  it('refuses a simulated phone changed by another site, and leaves it as it was', async () => {
    // Prepare
    const rid = newRegistrationId();

    // Act
    const answer = await send(
      live.system.url,
      'PUT',
      `/local/devices/${rid}`,
      { origin: 'http://127.0.0.1:8080' },
      { online: true }
    );

    // Assess
    expect(answer.status).toBe(403);
    expect(live.system.simulator?.getDevice(rid)).toBeUndefined();
  });

  it('serves its own page, curl and a backend (same Origin, or none)', async () => {
    // Act
    const page = await send(live.system.url, 'GET', '/', {
      host: `localhost:${port}`,
    });
    const sameOrigin = await send(
      live.system.url,
      'PUT',
      `/local/devices/${newRegistrationId()}`,
      { origin: live.system.url },
      { online: true }
    );
    const noOrigin = await send(
      live.system.url,
      'POST',
      '/v1/sessions',
      {},
      {
        userId: newUserId(),
        registrationId: newRegistrationId(),
        platform: 'android',
      }
    );

    // Assess
    expect(page.status).toBe(200);
    expect(sameOrigin.status).toBe(200);
    expect(noOrigin.status).toBe(200);
  });
});

describe('the JPush simulator’s own port refuses them too', () => {
  it('refuses its controls to another site (403) and its API under a rebound name (421)', async () => {
    // Prepare
    const simulatorUrl = live.system.simulator?.url ?? '';
    const simulatorPort = new URL(simulatorUrl).port;

    // Act
    const faults = await send(
      simulatorUrl,
      'PUT',
      '/local/jpush/faults',
      { origin: 'https://attacker.example' },
      { lostResponseRate: 1 }
    );
    const cids = await send(simulatorUrl, 'GET', '/v3/push/cid', {
      host: `attacker.example:${simulatorPort}`,
    });
    const own = await send(simulatorUrl, 'GET', '/local/jpush/faults', {});

    // Assess
    expect(faults.status).toBe(403);
    expect(cids.status).toBe(421);
    expect(own.status).toBe(200);
    expect(own.json.lostResponseRate).toBe(0);
  });
});
