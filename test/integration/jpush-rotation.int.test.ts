import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DEFAULT_APP_KEY,
  DEFAULT_MASTER_SECRET,
  type JPushSimulator,
  startJPushSimulator,
} from '../../local/jpush-simulator/index.ts';
import { type LocalSystem, startLocalSystem } from '../../local/system.ts';
import {
  api,
  eventually,
  loginVia,
  newRegistrationId,
  newUserId,
} from '../helpers/local-system.ts';

// The JPush master secret rotated while a message is in flight: the JPush
// client has the old one in hand, JPush (the simulator, over HTTP) takes
// only the new one, the secret store (local mode's stand-in for Secrets
// Manager) holds the new one. Each test has a system of its own, since a
// rotation is for the whole app. 20 times faster than real time.
const TIME_SCALE = 0.05;

interface MessageView {
  status: string;
  attempts: number;
  timeline: Array<{ event: string; detail?: string }>;
}

const view = async (
  system: LocalSystem,
  messageId: string
): Promise<MessageView> => {
  const res = await api(system, 'GET', `/v1/messages/${messageId}`);
  expect(res.status).toBe(200);
  return res.json as MessageView;
};

const sim = (system: LocalSystem): JPushSimulator => {
  if (!system.simulator) throw new Error('The JPush simulator is not running.');
  return system.simulator;
};

const count = (message: MessageView, event: string) =>
  message.timeline.filter((e) => e.event === event).length;

/** A message in flight: pushed once to a phone that is offline. */
const messageInFlight = async (system: LocalSystem) => {
  const user = newUserId();
  const rid = newRegistrationId();
  sim(system).setDevice(rid, { online: false, autoAck: true });
  await loginVia(system, user, rid);
  const sent = await api(system, 'POST', '/v1/messages', {
    to: user,
    body: 'Your parcel left the warehouse.',
    // One interval is 1 s here.
    policy: { intervalSeconds: 20, maxAttempts: 10 },
  });
  expect(sent.status).toBe(202);
  const messageId = (sent.json as { messageId: string }).messageId;
  await eventually(async () => {
    const message = await view(system, messageId);
    return count(message, 'pushed') >= 1 ? message : undefined;
  }, 'the first push');
  return { messageId, rid };
};

const rotate = async (
  system: LocalSystem,
  path: '/local/secrets/jpush' | '/local/jpush/master-secret',
  masterSecret: string
) => {
  const res = await api(system, 'PUT', path, { masterSecret });
  expect(res.status).toBe(200);
  expect(res.text).not.toContain(masterSecret);
};

const NEW_SECRET = 'rotatedMasterSecret00001';

describe('a JPush master secret rotated mid-flight (local mode, JPush simulator over HTTP)', () => {
  let system: LocalSystem;

  beforeAll(async () => {
    system = await startLocalSystem({ timeScale: TIME_SCALE });
  });

  afterAll(async () => {
    await system?.close();
  });

  it('is read again from the secret store at the first 401, and the message is delivered, not failed', async () => {
    // Prepare
    const { messageId, rid } = await messageInFlight(system);
    sim(system).resetRequests();

    // Act: the new secret in the store, then JPush taking only it (in
    // this order, so that no call meets a JPush ahead of the store).
    await rotate(system, '/local/secrets/jpush', NEW_SECRET);
    await rotate(system, '/local/jpush/master-secret', NEW_SECRET);
    const pushedAgain = await eventually(async () => {
      const message = await view(system, messageId);
      return count(message, 'pushed') >= 2 ? message : undefined;
    }, 'a push after the rotation');
    sim(system).setDevice(rid, { online: true });
    const done = await eventually(async () => {
      const message = await view(system, messageId);
      return message.status === 'acknowledged' ? message : undefined;
    }, 'the ACK');

    // Assess
    const answers = sim(system)
      .requests()
      .map((r) => r.answer?.status);
    // The call made with the old secret got 401, the same call again 200.
    expect(answers[0]).toBe(401);
    expect(answers[1]).toBe(200);
    expect(answers.filter((s) => s === 401)).toHaveLength(1);
    expect(pushedAgain.status).toBe('sending');
    expect(done.timeline.map((e) => e.event)).not.toContain('failed');
  });
});

describe('a JPush master secret rotated at JPush only', () => {
  let system: LocalSystem;

  beforeAll(async () => {
    system = await startLocalSystem({ timeScale: TIME_SCALE });
  });

  afterAll(async () => {
    await system?.close();
  });

  it('fails the message after one retry, as a refusal, saying the secret read again was the same', async () => {
    // Prepare
    const { messageId } = await messageInFlight(system);
    sim(system).resetRequests();

    // Act: the secret store was not updated.
    await rotate(system, '/local/jpush/master-secret', NEW_SECRET);
    const failed = await eventually(async () => {
      const message = await view(system, messageId);
      return message.status === 'failed' ? message : undefined;
    }, 'the message to fail');

    // Assess
    const detail = failed.timeline.find((e) => e.event === 'failed')?.detail;
    expect(detail).toContain('401');
    expect(detail).toContain('the credentials read again were the same');
    // Each refused call (the Report, then the push) was sent once: not
    // again with the same credentials.
    const refused = sim(system)
      .requests()
      .filter((r) => r.answer?.status === 401);
    expect(refused.map((r) => r.family)).toContain('push');
    expect(new Set(refused.map((r) => `${r.path} ${r.body}`)).size).toBe(
      refused.length
    );
  });
});

describe('the rotation controls', () => {
  let simulator: JPushSimulator;

  beforeAll(async () => {
    simulator = await startJPushSimulator({
      appKey: DEFAULT_APP_KEY,
      masterSecret: DEFAULT_MASTER_SECRET,
    });
  });

  afterAll(async () => {
    await simulator?.close();
  });

  const cids = (masterSecret: string) =>
    fetch(`${simulator.url}/v3/push/cid`, {
      headers: {
        authorization: `Basic ${Buffer.from(`${DEFAULT_APP_KEY}:${masterSecret}`).toString('base64')}`,
      },
    });

  it('the simulator takes only the new master secret once it is rotated', async () => {
    // Act
    const rotated = await api(simulator, 'PUT', '/local/jpush/master-secret', {
      masterSecret: NEW_SECRET,
    });
    const withOld = await cids(DEFAULT_MASTER_SECRET);
    const withNew = await cids(NEW_SECRET);
    simulator.setMasterSecret(DEFAULT_MASTER_SECRET);

    // Assess
    expect(rotated).toMatchObject({ status: 200, json: { rotated: true } });
    expect(withOld.status).toBe(401);
    expect(await withOld.json()).toEqual({
      error: { code: 1004, message: 'Authen failed' },
    });
    expect(withNew.status).toBe(200);
  });

  it.each([
    ['PUT', '', 400, 'not valid JSON'],
    ['PUT', { masterSecret: '' }, 400, 'non-empty'],
    ['PUT', { masterSecret: ' padded ' }, 400, 'space'],
    ['PUT', { masterSecret: 'x', appKey: 'y' }, 400, 'exactly'],
    ['GET', undefined, 405, 'never shown'],
  ])(
    'the simulator answers %s %j with %i',
    async (method, body, status, why) => {
      // Act
      const res = await api(
        simulator,
        method,
        '/local/jpush/master-secret',
        body
      );

      // Assess
      expect(res.status).toBe(status);
      expect(res.json.error.message).toContain(why);
      expect(await cids(DEFAULT_MASTER_SECRET).then((r) => r.status)).toBe(200);
    }
  );
});

describe('the local secret route', () => {
  let system: LocalSystem;

  beforeAll(async () => {
    system = await startLocalSystem({ timeScale: TIME_SCALE });
  });

  afterAll(async () => {
    await system?.close();
  });

  it.each([
    ['PUT', 'nonsense', 400, 'not a JSON object'],
    ['PUT', { masterSecret: ' ' }, 400, 'masterSecret must be'],
    ['PUT', { masterSecret: 'x', appKey: 'a:b' }, 400, 'without a colon'],
    ['PUT', { masterSecret: 'x', region: 'cn' }, 400, '"region"'],
    ['GET', undefined, 405, 'never shown'],
  ])(
    'answers %s %j with %i and the error envelope',
    async (method, body, status, why) => {
      // Act
      const res = await api(system, method, '/local/secrets/jpush', body);

      // Assess
      expect(res.status).toBe(status);
      expect(res.json.error.code).toMatch(
        /^(ValidationError|MethodNotAllowed)$/
      );
      expect(res.json.error.message).toContain(why);
      expect(system.jpushSecret.read().masterSecret).toBe(
        DEFAULT_MASTER_SECRET
      );
    }
  );

  it('keeps the app key when only the master secret is given', async () => {
    // Act
    const res = await api(system, 'PUT', '/local/secrets/jpush', {
      masterSecret: NEW_SECRET,
    });

    // Assess
    expect(res).toMatchObject({ status: 200, json: { stored: true } });
    expect(system.jpushSecret.read()).toEqual({
      appKey: DEFAULT_APP_KEY,
      masterSecret: NEW_SECRET,
    });
  });
});
