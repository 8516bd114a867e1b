import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalSystem, startLocalSystem } from '../../local/system.ts';
import {
  api,
  eventually,
  loginVia,
  logoutVia,
  newRegistrationId,
  newUserId,
} from '../helpers/local-system.ts';

// The local mode with `ackRequiresDevice` off, as a stage serving apps
// released before ACKs named their device: the setting goes through the
// synthesized template to the ACK handler. Waits run 20 times faster.
let system: LocalSystem;

beforeAll(async () => {
  system = await startLocalSystem({
    timeScale: 0.05,
    ackRequiresDevice: false,
  });
}, 120_000);

afterAll(async () => {
  await system?.close();
});

const statusOf = async (messageId: string): Promise<string> => {
  const res = await api(system, 'GET', `/v1/messages/${messageId}`);
  expect(res.status).toBe(200);
  return String(res.json.status);
};

describe('ackRequiresDevice off (token-only ACKs from apps in the field)', () => {
  it('accepts the token alone, still refuses a given device the delivery did not push to, and so lets the phone a user left end the next delivery: why it is weaker', async () => {
    // Prepare: A's message reaches phone 1, which does not ACK.
    const a = newUserId('ada');
    const b = newUserId('ben');
    const phone1 = newRegistrationId();
    const phone2 = newRegistrationId();
    system.simulator?.setDevice(phone1, { online: true, autoAck: false });
    system.simulator?.setDevice(phone2, { online: true, autoAck: false });
    await loginVia(system, a, phone1);
    const sent = await api(system, 'POST', '/v1/messages', {
      to: a,
      body: 'For A.',
      policy: { intervalSeconds: 600, maxAttempts: 3 },
    });
    const messageId = String(sent.json.messageId);
    const first = await eventually(
      () =>
        system.simulator
          ?.getDevice(phone1)
          ?.received.find((p) => p.extras.messageId === messageId),
      'the push on phone 1'
    );
    const token = String(first.extras.ackToken);
    const ack = (body: Record<string, unknown>) =>
      api(system, 'POST', `/v1/messages/${messageId}/ack`, body);
    await logoutVia(system, a, phone1);
    await loginVia(system, b, phone1);
    await eventually(
      async () => ((await statusOf(messageId)) === 'stored' ? true : undefined),
      'stored again'
    );
    await loginVia(system, a, phone2);
    await eventually(
      () =>
        system.simulator
          ?.getDevice(phone2)
          ?.received.find((p) => p.extras.messageId === messageId),
      'the push on phone 2'
    );

    // Act
    const namedOldPhone = await ack({ token, registrationId: phone1 });
    const malformed = await ack({ token, registrationId: 'phone-1' });
    const tokenOnly = await ack({ token });

    // Assess
    expect(namedOldPhone.status).toBe(403);
    expect(malformed.status).toBe(400);
    expect(tokenOnly.status).toBe(204);
    expect(await statusOf(messageId)).toBe('acknowledged');
  });
});
