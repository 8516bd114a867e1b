import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DEFAULT_FAULTS,
  type JPushSimulator,
  startJPushSimulator,
} from '../../local/jpush-simulator/index.ts';
import { type LocalSystem, startLocalSystem } from '../../local/system.ts';
import { api } from '../helpers/local-system.ts';

// The simulator's fault controls on the local system's own port; in local
// mode against configured JPush hosts there is no simulator to control.
const APP_KEY = 'testAppKey00000000000000';
const SECRET = 'testMasterSecret00000000';
const faultsUrl = '/local/jpush/faults';

describe('JPush simulator faults through the local system', () => {
  let system: LocalSystem;
  let realMode: LocalSystem;
  let realJPush: JPushSimulator;

  beforeAll(async () => {
    realJPush = await startJPushSimulator({
      appKey: APP_KEY,
      masterSecret: SECRET,
    });
    [system, realMode] = await Promise.all([
      startLocalSystem({ timeScale: 0.02 }),
      startLocalSystem({
        timeScale: 0.02,
        jpush: {
          appKey: APP_KEY,
          masterSecret: SECRET,
          pushBaseUrl: realJPush.url,
          reportBaseUrl: realJPush.url,
          deviceBaseUrl: realJPush.url,
        },
      }),
    ]);
  });

  afterAll(async () => {
    await Promise.all([system?.close(), realMode?.close()]);
    await realJPush?.close();
  });

  it("sets the simulator's faults with PUT /local/jpush/faults on the system's port; with real JPush it is 404", async () => {
    // Act
    const set = await api(system, 'PUT', faultsUrl, {
      lostResponseRate: 0.05,
      rateLimitPerMinute: { push: 60 },
    });
    const shown = await api(system, 'GET', faultsUrl);
    const bad = await api(system, 'PUT', faultsUrl, { lostResponseRate: 2 });
    const reset = await api(system, 'DELETE', faultsUrl);
    const real = await api(realMode, 'PUT', faultsUrl, {
      lostResponseRate: 0.05,
    });

    // Assess
    expect(set.status).toBe(200);
    expect(set.json.lostResponseRate).toBe(0.05);
    expect(set.json.rateLimitPerMinute).toEqual({
      push: 60,
      report: 2400,
      device: 600,
    });
    expect(shown.json).toEqual(set.json);
    expect(bad.status).toBe(400);
    expect(reset.json).toEqual(DEFAULT_FAULTS);
    expect(system.simulator?.getFaults()).toEqual(DEFAULT_FAULTS);
    expect(real.status).toBe(404);
    expect(real.json.error.code).toBe('NotFound');
    expect(realJPush.getFaults()).toEqual(DEFAULT_FAULTS);
  });
});
