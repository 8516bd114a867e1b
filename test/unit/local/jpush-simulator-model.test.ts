import { describe, expect, it } from 'vitest';
import {
  ApiError,
  beijingDate,
  SimulatorModel,
  SimulatorValidationError,
  validatePush,
} from '../../../local/jpush-simulator/index.ts';
import { parseJson } from '../../../local/jpush-simulator/json.ts';

const APP_KEY = 'testAppKey00000000000000';

const makeModel = (
  overrides: { now?: () => number; random?: () => number } = {}
) => {
  const delivered: string[] = [];
  const model = new SimulatorModel({
    appKey: APP_KEY,
    now: overrides.now ?? (() => Date.parse('2026-03-01T02:00:00Z')),
    random: overrides.random ?? (() => 0.5),
    onDelivered: (device, push) =>
      delivered.push(`${device.registrationId}:${push.msgId}`),
  });
  return { model, delivered };
};

const pushTo = (rids: string[], options?: Record<string, unknown>) =>
  validatePush({
    platform: 'all',
    audience: { registration_id: rids },
    notification: { alert: 'hello' },
    ...(options ? { options } : {}),
  });

const apiErrorOf = (fn: () => unknown): ApiError => {
  try {
    fn();
  } catch (error) {
    if (error instanceof ApiError) return error;
    throw error;
  }
  throw new Error('expected an ApiError');
};

describe('validatePush', () => {
  it('keeps a 17-digit override_msg_id exact', () => {
    // Prepare
    const body = parseJson(
      '{"platform":"all","audience":"all","message":{"msg_content":"x"},"options":{"override_msg_id":18100528814460571}}'
    );

    // Act
    const push = validatePush(body);

    // Assess
    expect(push.overrideMsgId).toBe('18100528814460571');
    expect(push.ttlSeconds).toBe(86_400);
    expect(push.sendno).toBe('0');
  });

  it('rejects a time_to_live above 10 days with 1003', () => {
    // Act
    const error = apiErrorOf(() =>
      pushTo(['dev1'], { time_to_live: 10 * 86_400 + 1 })
    );

    // Assess
    expect([error.status, error.code]).toEqual([400, 1003]);
  });

  it('requires an alert for a platform block without notification.alert (1002)', () => {
    // Act
    const error = apiErrorOf(() =>
      validatePush({
        platform: ['android'],
        audience: 'all',
        notification: { android: { title: 'no alert' } },
      })
    );

    // Assess
    expect(error.code).toBe(1002);
  });
});

describe('SimulatorModel', () => {
  it('loses a push to a device with dropRate 1 and reports it as not delivered', () => {
    // Prepare
    const { model, delivered } = makeModel({ random: () => 0.3 });
    model.setDevice('dev1', { dropRate: 0.5 });

    // Act
    const { msgId } = model.push(pushTo(['dev1']));

    // Assess
    expect(delivered).toEqual([]);
    expect(model.getDevice('dev1')?.received).toEqual([]);
    expect(model.messageStatus(msgId, ['dev1'])).toEqual({
      dev1: { status: 1 },
    });
    expect(model.receivedDetail(msgId).jpush_received).toBe(0);
  });

  it('keeps only the last APNs notification for an offline iOS device, ignoring ttl 0', () => {
    // Prepare
    const { model } = makeModel();
    model.setDevice('ios1', { platform: 'ios', online: false });
    const first = model.push(pushTo(['ios1'], { time_to_live: 0 }));
    const second = model.push(pushTo(['ios1'], { time_to_live: 0 }));

    // Act
    const state = model.setDevice('ios1', { online: true });

    // Assess
    expect(state.received.map((r) => r.msgId)).toEqual([second.msgId]);
    expect(model.messageStatus(first.msgId, ['ios1'])).toEqual({
      ios1: { status: 1 },
    });
  });

  it('counts expiry lazily: the queue length drops once the ttl passed', () => {
    // Prepare
    let clock = 1_000_000;
    const { model } = makeModel({ now: () => clock });
    model.setDevice('dev1', { online: false });
    model.push(pushTo(['dev1'], { time_to_live: 10 }));

    // Act
    const before = model.getDevice('dev1')?.queued;
    clock += 10_000;
    const after = model.getDevice('dev1')?.queued;

    // Assess
    expect([before, after]).toEqual([1, 0]);
  });

  it('looks status up per Beijing day: another date answers 3002', () => {
    // Prepare
    const { model } = makeModel();
    model.setDevice('dev1', {});
    const { msgId } = model.push(pushTo(['dev1']));

    // Act
    const error = apiErrorOf(() =>
      model.messageStatus(msgId, ['dev1'], '2026-02-28')
    );
    const sameDay = model.messageStatus(msgId, ['dev1'], '2026-03-01');

    // Assess
    expect([error.status, error.code]).toEqual([400, 3002]);
    expect(sameDay).toEqual({ dev1: { status: 0 } });
    expect(beijingDate(Date.parse('2026-03-01T16:30:00Z'))).toBe('2026-03-02');
  });

  it('rejects a foreign cid with 1003 and consumes no msg_id for it', () => {
    // Prepare
    const { model } = makeModel();
    model.setDevice('dev1', {});

    // Act
    const error = apiErrorOf(() =>
      model.push(
        validatePush({
          platform: 'all',
          audience: 'all',
          notification: { alert: 'x' },
          cid: 'otherApp-123',
        })
      )
    );

    // Assess
    expect(error.code).toBe(1003);
    expect(model.getDevice('dev1')?.received).toEqual([]);
  });

  it('rebinding the same alias to a device of a full alias is a no-op, not 7015', () => {
    // Prepare
    const { model } = makeModel();
    for (let i = 1; i <= 10; i++) {
      model.setDevice(`dev${i}`, {});
      model.updateDevice(`dev${i}`, { alias: 'team' });
    }

    // Act
    model.updateDevice('dev3', { alias: 'team' });

    // Assess
    expect(model.aliasDevices('team')).toHaveLength(10);
  });

  it('rejects malformed device ids and settings', () => {
    // Prepare
    const { model } = makeModel();

    // Act / Assess
    expect(() => model.setDevice('bad id', {})).toThrow(
      SimulatorValidationError
    );
    expect(() => model.setDevice('dev1', { ackDelayMs: -1 })).toThrow(
      SimulatorValidationError
    );
    expect(model.listDevices()).toEqual([]);
  });
});

describe('SimulatorModel: how the app handles a push', () => {
  const iosPush = (rids: string[], ios: Record<string, unknown> = {}) =>
    validatePush({
      platform: ['ios'],
      audience: { registration_id: rids },
      notification: {
        ios: { alert: 'hello', extras: { messageId: 'm-1' }, ...ios },
      },
    });

  it("runs an iOS device's Notification Service Extension on a notification with mutable-content, also after it was offline", () => {
    // Prepare
    const { model } = makeModel();
    model.setDevice('nse1', { platform: 'ios', extension: true });
    model.setDevice('nse2', {
      platform: 'ios',
      extension: true,
      online: false,
    });
    model.setDevice('plain', { platform: 'ios' });

    // Act
    model.push(iosPush(['nse1', 'nse2', 'plain'], { 'mutable-content': true }));
    model.push(iosPush(['nse1']));
    const back = model.setDevice('nse2', { online: true });

    // Assess
    const nse1 = model.getDevice('nse1');
    expect(nse1).toMatchObject({ extension: true, vendorChannel: false });
    expect(nse1?.received.map((r) => r.serviceExtension)).toEqual([
      true,
      undefined,
    ]);
    expect(back.received[0]?.serviceExtension).toBe(true);
    expect(model.getDevice('plain')?.received[0]).not.toHaveProperty(
      'serviceExtension'
    );
  });

  it("counts an Android vendor-channel device's notifications in android_pns_sent and android_pns_received, not in jpush_received", () => {
    // Prepare
    const { model } = makeModel();
    model.setDevice('vendor1', { vendorChannel: true });
    model.setDevice('vendor2', { vendorChannel: true, online: false });
    model.setDevice('jpush1', {});

    // Act
    const both = model.push(pushTo(['vendor1', 'vendor2', 'jpush1']));
    const before = model.receivedDetail(both.msgId);
    model.setDevice('vendor2', { online: true });
    const after = model.receivedDetail(both.msgId);
    const vendorOnly = model.push(pushTo(['vendor1']));

    // Assess
    expect(before).toMatchObject({
      jpush_received: 1,
      android_pns_sent: 2,
      android_pns_received: 1,
    });
    expect(after).toMatchObject({
      jpush_received: 1,
      android_pns_sent: 2,
      android_pns_received: 2,
    });
    expect(model.receivedDetail(vendorOnly.msgId)).toMatchObject({
      jpush_received: null,
      android_pns_sent: 1,
      android_pns_received: 1,
    });
    expect(model.messageStatus(vendorOnly.msgId, ['vendor1'])).toEqual({
      vendor1: { status: 0 },
    });
    expect(model.getDevice('vendor1')?.received[0]?.vendorChannel).toBe(true);
    expect(model.getDevice('jpush1')?.received[0]).not.toHaveProperty(
      'vendorChannel'
    );
  });

  it('keeps extension to iOS and vendorChannel to Android, as booleans', () => {
    // Prepare
    const { model } = makeModel();
    model.setDevice('ios1', { platform: 'ios', extension: true });

    // Act / Assess
    expect(() => model.setDevice('and1', { extension: true })).toThrow(
      /iOS devices only/
    );
    expect(() =>
      model.setDevice('ios2', { platform: 'ios', vendorChannel: true })
    ).toThrow(/Android devices only/);
    expect(() => model.setDevice('ios1', { platform: 'android' })).toThrow(
      /iOS devices only/
    );
    expect(() =>
      model.setDevice('and1', { vendorChannel: 'yes' as unknown as boolean })
    ).toThrow(SimulatorValidationError);
    expect(model.listDevices().map((d) => d.registrationId)).toEqual(['ios1']);
    expect(
      model.setDevice('ios1', { platform: 'android', extension: false })
    ).toMatchObject({ platform: 'android', extension: false });
  });

  it('refuses a mutable-content that is not a boolean with 1003', () => {
    // Act
    const error = apiErrorOf(() =>
      iosPush(['ios1'], { 'mutable-content': 'yes' })
    );

    // Assess
    expect([error.status, error.code]).toEqual([400, 1003]);
  });
});
