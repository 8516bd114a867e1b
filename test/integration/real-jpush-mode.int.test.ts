import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type JPushSimulator,
  startJPushSimulator,
} from '../../local/jpush-simulator/index.ts';
import { type LocalSystem, startLocalSystem } from '../../local/system.ts';
import {
  api,
  eventually,
  newRegistrationId,
  newUserId,
} from '../helpers/local-system.ts';

// Local mode with JPush credentials pushes through "real" JPush: here a
// separate JPush simulator with its own credentials and hosts stands in for
// JPush, reached only through the configured base URLs, as real JPush would.
const APP_KEY = 'otherAppKey0000000000000';
const MASTER_SECRET = 'otherMasterSecret0000000';

let jpush: JPushSimulator;
let system: LocalSystem;

beforeAll(async () => {
  jpush = await startJPushSimulator({
    appKey: APP_KEY,
    masterSecret: MASTER_SECRET,
  });
  system = await startLocalSystem({
    timeScale: 0.02,
    jpush: {
      appKey: APP_KEY,
      masterSecret: MASTER_SECRET,
      pushBaseUrl: jpush.url,
      reportBaseUrl: jpush.url,
      deviceBaseUrl: jpush.url,
    },
  });
});

afterAll(async () => {
  await system?.close();
  await jpush?.close();
});

describe('local mode against configured JPush hosts', () => {
  it('binds the alias, pushes, and takes the ACK through the configured JPush, with no simulated phones of its own', async () => {
    // Prepare
    const user = newUserId();
    const rid = newRegistrationId();
    jpush.setDevice(rid, { online: true });

    // Act
    const login = await api(system, 'POST', '/v1/sessions', {
      userId: user,
      registrationId: rid,
      platform: 'android',
    });
    const sent = await api(system, 'POST', '/v1/messages', {
      to: user,
      body: 'Through the configured hosts.',
    });
    const received = await eventually(
      () => jpush.getDevice(rid)?.received[0],
      'the push on the phone'
    );
    const ack = await api(
      system,
      'POST',
      `/v1/messages/${sent.json.messageId}/ack`,
      { token: received.extras.ackToken, registrationId: rid }
    );
    const message = await api(
      system,
      'GET',
      `/v1/messages/${sent.json.messageId}`
    );
    const localDevices = await api(system, 'GET', `/local/devices/${rid}`);

    // Assess
    expect(login.json).toEqual({ drained: 0, alias: 'bound' });
    expect(jpush.getDevice(rid)?.alias).toBe(user);
    expect(system.simulator).toBeUndefined();
    expect(localDevices.status).toBe(404);
    expect(ack.status).toBe(204);
    expect(message.json.status).toBe('acknowledged');
  });
});
