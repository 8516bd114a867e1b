/**
 * Contract tests: the JPush client (`functions/adapters/jpush-client.ts`)
 * against the JPush simulator (`local/jpush-simulator/`) over real HTTP on
 * loopback. Every JPush call goes through `JPushClient`; the simulator's
 * in-process controls only set up devices, faults and rate limits, and show
 * what a device received.
 *
 * The SDK-shaped raw requests (`{"tags": {}, "alias": ...}`,
 * `{"tags": "", "alias": ""}`, `/v3/aliases/{alias}/?platform=android,ios`,
 * a `platform: "all"` push to an alias) are covered by
 * `jpush-simulator.int.test.ts` and are not repeated here.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { JPushClient } from '../../functions/adapters/jpush-client.ts';
import {
  type JPushError,
  JPushNoTargetError,
  JPushRateLimitError,
  JPushRejectedError,
  JPushServerError,
  JPushUnknownOutcomeError,
  type PushPayload,
} from '../../functions/domain/jpush.ts';
import {
  type JPushSimulator,
  startJPushSimulator,
} from '../../local/jpush-simulator/index.ts';

// Obviously fake credentials, 24 characters like real ones.
const APP_KEY = 'contractAppKey0000000000';
const MASTER_SECRET = 'contractMasterSecret0000';
const WRONG_SECRET = 'wrongMasterSecret0000000';
const TWO_POW_53 = 2n ** 53n;

let sim: JPushSimulator;
let client: JPushClient;
const extraClients: JPushClient[] = [];

/** A client whose three base URLs all point at the simulator. */
const makeClient = (masterSecret = MASTER_SECRET): JPushClient =>
  new JPushClient({
    appKey: APP_KEY,
    masterSecret,
    pushBaseUrl: sim.url,
    reportBaseUrl: sim.url,
    deviceBaseUrl: sim.url,
    timeoutMs: 5_000,
  });

/** An Android notification to some registration ids. */
const notify = (
  registrationIds: readonly string[],
  extra: Pick<PushPayload, 'options' | 'cid'> = {}
): PushPayload => ({
  platform: ['android'],
  audience: { registration_id: registrationIds },
  notification: { android: { alert: 'Your parcel arrived', title: 'Parcel' } },
  ...extra,
});

/** Awaits a promise that must reject and returns what it threw. */
const caught = async (promise: Promise<unknown>): Promise<unknown> => {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the call to throw');
};

/** The msg_ids a device received, oldest first. */
const receivedIds = (rid: string): string[] =>
  sim.getDevice(rid)?.received.map((push) => push.msgId) ?? [];

beforeEach(async () => {
  sim = await startJPushSimulator({
    port: 0,
    appKey: APP_KEY,
    masterSecret: MASTER_SECRET,
    // Deterministic msg_ids: the first one is 18100528814460569, which a JS
    // number would round to ...568.
    random: () => 0,
  });
  client = makeClient();
});

afterEach(async () => {
  await Promise.all(extraClients.splice(0).map((extra) => extra.close()));
  await client.close();
  await sim.close();
});

describe('JPushClient against the JPush simulator', () => {
  describe('msg_id precision', () => {
    it('round-trips a 17-digit msg_id exactly through status, detail, override and withdraw', async () => {
      // Prepare
      sim.setDevice('dev1', { online: true });
      sim.setDevice('dev2', { online: false });

      // Act
      const pushed = await client.push(notify(['dev1']));
      const msgId = pushed.msgId;
      const statuses = await client.messageStatus(msgId, ['dev1']);
      const details = await client.receivedDetail([msgId]);
      const queued = await client.push(notify(['dev2']));
      const override = await client.push(
        notify(['dev2'], { options: { override_msg_id: queued.msgId } })
      );
      await client.withdraw(msgId);
      // The exact value of the double a lossy JSON.parse would give.
      const lossy = BigInt(Number(msgId)).toString();
      const rounded = await caught(client.withdraw(lossy));

      // Assess
      expect(msgId).toMatch(/^\d{17}$/);
      expect(BigInt(msgId)).toBeGreaterThan(TWO_POW_53);
      expect(lossy).not.toBe(msgId);
      expect(pushed.sendno).toBe('0');
      expect(statuses).toEqual({ dev1: 0 });
      expect(details).toEqual([
        {
          msgId,
          jpushReceived: 1,
          androidPnsSent: null,
          androidPnsReceived: null,
          iosApnsSent: null,
          iosApnsReceived: null,
          iosMsgReceived: null,
          hmosHmpnsReceived: null,
          hmosMsgReceived: null,
        },
      ]);
      expect(BigInt(override.msgId)).toBeGreaterThan(BigInt(queued.msgId));
      expect(sim.getDevice('dev1')?.received[0]).toMatchObject({
        msgId,
        withdrawn: true,
      });
      // The id rounded through a JS number names no message.
      expect(rounded).toBeInstanceOf(JPushRejectedError);
      expect(rounded).toMatchObject({ httpStatus: 400, code: 1003 });
      // On the wire: numeric msg_ids unquoted, every digit kept.
      const log = sim.requests();
      expect(
        log.some(
          (r) =>
            r.path === '/v3/status/message' &&
            r.body.includes(`"msg_id":${msgId},`)
        )
      ).toBe(true);
      expect(
        log.some((r) => r.body.includes(`"override_msg_id":${queued.msgId}`))
      ).toBe(true);
      expect(
        log.some((r) => r.method === 'DELETE' && r.path === `/v3/push/${msgId}`)
      ).toBe(true);
    });

    it('keeps the msg_id of a 1011 on JPushNoTargetError when no device matches', async () => {
      // Act
      const error = await caught(client.push(notify(['ghost'])));

      // Assess
      expect(error).toBeInstanceOf(JPushNoTargetError);
      const { msgId, code, httpStatus } = error as JPushNoTargetError;
      expect({ code, httpStatus }).toEqual({ code: 1011, httpStatus: 400 });
      expect(msgId).toMatch(/^\d{17}$/);
      expect(BigInt(msgId ?? '0')).toBeGreaterThan(TWO_POW_53);
      expect(BigInt(Number(msgId)).toString()).not.toBe(msgId);
    });
  });

  describe('rate limits', () => {
    it('surfaces the per-minute push limit as JPushRateLimitError with resetSeconds', async () => {
      // Prepare
      sim.setFaults({
        rateLimitPerMinute: { push: 2, report: 2400, device: 600 },
      });
      sim.setDevice('dev1', {});
      const first = await client.push(notify(['dev1']));
      await client.push(notify(['dev1']));

      // Act
      const error = await caught(client.push(notify(['dev1'])));
      const otherFamily = await client.getDevice('dev1');

      // Assess
      expect(first.rateLimit).toMatchObject({ limit: 2, remaining: 1 });
      expect(error).toBeInstanceOf(JPushRateLimitError);
      const limited = error as JPushRateLimitError;
      expect(limited).toMatchObject({
        httpStatus: 429,
        code: 2002,
        rateLimit: { limit: 2, remaining: 0 },
      });
      expect(limited.rateLimit?.resetSeconds).toBeGreaterThan(0);
      expect(limited.rateLimit?.resetSeconds).toBeLessThanOrEqual(60);
      expect(receivedIds('dev1')).toHaveLength(2);
      expect(otherFamily.alias).toBeNull();
    });

    it('reads the headers of a scripted 429 into JPushRateLimitError.rateLimit', async () => {
      // Prepare
      sim.setDevice('dev1', {});
      sim.injectFaults({
        path: '/v3/push',
        method: 'POST',
        status: 429,
        message: 'Rate limit exceeded',
        headers: {
          'X-Rate-Limit-Limit': '600',
          'X-Rate-Limit-Remaining': '0',
          'X-Rate-Limit-Reset': '17',
        },
      });

      // Act
      const error = await caught(client.push(notify(['dev1'])));
      const next = await client.push(notify(['dev1']));

      // Assess
      expect(error).toBeInstanceOf(JPushRateLimitError);
      expect(error).toMatchObject({
        httpStatus: 429,
        code: 2002,
        rateLimit: { limit: 600, remaining: 0, resetSeconds: 17 },
      });
      expect(receivedIds('dev1')).toEqual([next.msgId]);
    });
  });

  describe('transport and server faults', () => {
    it('maps an injected non-JSON 502 to JPushServerError without delivering', async () => {
      // Prepare
      sim.setDevice('dev1', {});
      sim.injectFaults({
        path: '/v3/push',
        status: 502,
        body: '<html><body>502 Bad Gateway</body></html>',
      });

      // Act
      const error = await caught(client.push(notify(['dev1'])));

      // Assess
      expect(error).toBeInstanceOf(JPushServerError);
      expect(error).toMatchObject({ httpStatus: 502, code: undefined });
      expect((error as Error).message).toContain('502 Bad Gateway');
      expect(receivedIds('dev1')).toEqual([]);
    });

    it('maps a dropped push connection to JPushUnknownOutcomeError; the cid retry delivers once', async () => {
      // Prepare
      sim.setDevice('dev1', {});
      const [cid] = await client.getCids(1);
      sim.injectFaults({
        path: '/v3/push',
        method: 'POST',
        status: 0,
        drop: true,
      });

      // Act
      const error = await caught(
        client.push(notify(['dev1'], { cid: cid ?? '' }))
      );
      const retried = await client.push(notify(['dev1'], { cid: cid ?? '' }));
      const again = await client.push(notify(['dev1'], { cid: cid ?? '' }));

      // Assess
      expect(cid).toMatch(new RegExp(`^${APP_KEY}-[0-9a-f-]{36}$`));
      expect(error).toBeInstanceOf(JPushUnknownOutcomeError);
      expect((error as JPushError).httpStatus).toBeUndefined();
      expect(again.msgId).toBe(retried.msgId);
      expect(receivedIds('dev1')).toEqual([retried.msgId]);
    });

    it('does not duplicate when a push landed but its answer was lost, and is retried with its cid', async () => {
      // Prepare
      sim.setDevice('dev1', {});
      const [cid] = await client.getCids(1);
      const lost = new AbortController();
      // The push reaches the device, then the caller loses the answer.
      const unsubscribe = sim.onDelivered(() => lost.abort());

      // Act
      const error = await caught(
        client.push(notify(['dev1'], { cid: cid ?? '' }), {
          signal: lost.signal,
        })
      );
      unsubscribe();
      const landed = receivedIds('dev1');
      const retried = await client.push(notify(['dev1'], { cid: cid ?? '' }));

      // Assess
      expect(error).toBeInstanceOf(JPushUnknownOutcomeError);
      expect(landed).toHaveLength(1);
      expect(retried.msgId).toBe(landed[0]);
      expect(receivedIds('dev1')).toEqual([retried.msgId]);
    });
  });

  describe('offline queue', () => {
    it('keeps the 5 newest of 7 offline pushes, delivers them in order, and reports 0/1 per message', async () => {
      // Prepare
      sim.setDevice('dev1', { online: false });
      const ids: string[] = [];
      for (let i = 0; i < 7; i++) {
        ids.push((await client.push(notify(['dev1']))).msgId);
      }
      const queued = sim.getDevice('dev1')?.queued;

      // Act
      sim.setDevice('dev1', { online: true });
      const statuses = [];
      for (const id of ids) {
        statuses.push((await client.messageStatus(id, ['dev1'])).dev1);
      }
      const details = await client.receivedDetail(ids);

      // Assess
      expect(queued).toBe(5);
      expect(receivedIds('dev1')).toEqual(ids.slice(2));
      expect(statuses).toEqual([1, 1, 0, 0, 0, 0, 0]);
      expect(details.map((row) => row.msgId)).toEqual(ids);
      expect(details.map((row) => row.jpushReceived)).toEqual([
        0, 0, 1, 1, 1, 1, 1,
      ]);
    });

    it('replaces the queued copy with override_msg_id, so the device gets one copy', async () => {
      // Prepare
      sim.setDevice('dev1', { online: false });
      const old = await client.push(notify(['dev1']));

      // Act
      const replacement = await client.push(
        notify(['dev1'], { options: { override_msg_id: old.msgId } })
      );
      sim.setDevice('dev1', { online: true });
      const oldStatus = await client.messageStatus(old.msgId, ['dev1']);
      const newStatus = await client.messageStatus(replacement.msgId, ['dev1']);

      // Assess
      expect(receivedIds('dev1')).toEqual([replacement.msgId]);
      expect(oldStatus).toEqual({ dev1: 1 });
      expect(newStatus).toEqual({ dev1: 0 });
    });
  });

  describe('report', () => {
    it('reports status 2 for a registration id not in the app and 3 for a known non-target', async () => {
      // Prepare
      sim.setDevice('dev1', {});
      sim.setDevice('dev2', {});
      const { msgId } = await client.push(notify(['dev1']));

      // Act
      const statuses = await client.messageStatus(msgId, [
        'dev1',
        'dev2',
        'ghost',
      ]);

      // Assess
      expect(statuses).toEqual({ dev1: 0, dev2: 3, ghost: 2 });
    });
  });

  describe('authentication', () => {
    it('rejects a wrong master secret with 1004/401 (3001, 7004 elsewhere) without echoing the secret', async () => {
      // Prepare
      sim.setDevice('dev1', {});
      const wrong = makeClient(WRONG_SECRET);
      extraClients.push(wrong);
      const token = Buffer.from(`${APP_KEY}:${WRONG_SECRET}`).toString(
        'base64'
      );

      // Act
      const pushError = await caught(wrong.push(notify(['dev1'])));
      const reportError = await caught(wrong.receivedDetail(['1']));
      const deviceError = await caught(wrong.getDevice('dev1'));

      // Assess
      expect(pushError).toBeInstanceOf(JPushRejectedError);
      expect(pushError).toMatchObject({ code: 1004, httpStatus: 401 });
      expect(reportError).toMatchObject({ code: 3001, httpStatus: 401 });
      expect(deviceError).toMatchObject({ code: 7004, httpStatus: 401 });
      for (const error of [pushError, reportError, deviceError]) {
        expect((error as Error).message).not.toContain(WRONG_SECRET);
        expect((error as Error).message).not.toContain(token);
      }
      expect(receivedIds('dev1')).toEqual([]);
    });
  });

  describe('device API', () => {
    it('shows an alias set with updateDevice in getDevice and getAliasDevices, and clears it with ""', async () => {
      // Prepare
      sim.setDevice('dev1', {});
      sim.setDevice('dev2', { platform: 'ios' });

      // Act
      await client.updateDevice('dev1', {
        alias: 'user1',
        tags: { add: ['vip'] },
      });
      await client.updateDevice('dev2', { alias: 'user1' });
      const device = await client.getDevice('dev1');
      const all = await client.getAliasDevices('user1');
      const androidOnly = await client.getAliasDevices('user1', ['android']);
      await client.updateDevice('dev1', { alias: '' });
      const cleared = await client.getDevice('dev1');
      const remaining = await client.getAliasDevices('user1');

      // Assess
      expect(device).toEqual({ alias: 'user1', tags: ['vip'], mobile: null });
      expect(all).toEqual(['dev1', 'dev2']);
      expect(androidOnly).toEqual(['dev1']);
      expect(cleared).toEqual({ alias: null, tags: ['vip'], mobile: null });
      expect(remaining).toEqual(['dev2']);
    });

    it('unbinds some devices with removeDevicesFromAlias and all with deleteAlias', async () => {
      // Prepare
      for (const rid of ['dev1', 'dev2', 'dev3']) {
        sim.setDevice(rid, {});
        await client.updateDevice(rid, { alias: 'family' });
      }

      // Act
      await client.removeDevicesFromAlias('family', ['dev1']);
      const afterRemove = await client.getAliasDevices('family');
      await client.deleteAlias('family');
      const afterDelete = await client.getAliasDevices('family');
      const dev2 = await client.getDevice('dev2');

      // Assess
      expect(afterRemove).toEqual(['dev2', 'dev3']);
      expect(afterDelete).toEqual([]);
      expect(dev2.alias).toBeNull();
    });

    it('rejects binding an alias that already has 10 devices with code 7015', async () => {
      // Prepare
      for (let i = 1; i <= 11; i++) sim.setDevice(`dev${i}`, {});
      for (let i = 1; i <= 10; i++) {
        await client.updateDevice(`dev${i}`, { alias: 'crowd' });
      }

      // Act
      const error = await caught(
        client.updateDevice('dev11', { alias: 'crowd' })
      );
      const bound = await client.getAliasDevices('crowd');

      // Assess
      expect(error).toBeInstanceOf(JPushRejectedError);
      expect(error).toMatchObject({ code: 7015, httpStatus: 400 });
      expect(bound).toHaveLength(10);
      expect(bound).not.toContain('dev11');
    });
  });
});
