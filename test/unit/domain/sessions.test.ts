import { describe, expect, it } from 'vitest';
import {
  type JPushPort,
  JPushRejectedError,
  JPushServerError,
  type PushPayload,
  type PushResult,
} from '../../../functions/domain/jpush.ts';
import { runPushAttempt } from '../../../functions/domain/push-attempt.ts';
import { sendMessage } from '../../../functions/domain/send-message.ts';
import { login, logout } from '../../../functions/domain/sessions.ts';
import { sweepWithdrawals } from '../../../functions/domain/withdraw.ts';
import { inMemoryDeps } from '../../helpers/fakes.ts';
import { RecordingJPush } from '../../helpers/recording-jpush.ts';

const RID_D = '1a0018970a9c2ce5b0';
const RID_E = '191e35f7e0a9c2e9d01';

/**
 * A hand-written JPush port: pushes and report calls go to the shared
 * recording fake; the Device API and withdraw calls are recorded here, can
 * fail, and can run a step of a concurrent request in the middle of a call.
 */
class DeviceJPush implements JPushPort {
  readonly base = new RecordingJPush();
  readonly deviceUpdates: Array<{ registrationId: string; alias?: string }> =
    [];
  readonly withdrawn: string[] = [];
  updateDeviceError?: Error;
  withdrawError?: Error;
  /** Errors of the next withdraw calls, in order; then `withdrawError`. */
  readonly withdrawErrors: Error[] = [];
  /** Runs while JPush handles an updateDevice call. */
  onUpdateDevice?: (registrationId: string, alias?: string) => Promise<void>;
  /** Runs once, while JPush handles the next push, before it answers. */
  duringPush?: () => Promise<void>;

  async updateDevice(
    registrationId: string,
    update: Parameters<JPushPort['updateDevice']>[1]
  ): Promise<void> {
    this.deviceUpdates.push({
      registrationId,
      ...(update.alias === undefined ? {} : { alias: update.alias }),
    });
    await this.onUpdateDevice?.(registrationId, update.alias);
    if (this.updateDeviceError) throw this.updateDeviceError;
  }

  async withdraw(msgId: string): Promise<void> {
    this.withdrawn.push(msgId);
    const error = this.withdrawErrors.shift() ?? this.withdrawError;
    if (error) throw error;
  }

  async push(payload: PushPayload): Promise<PushResult> {
    const hook = this.duringPush;
    this.duringPush = undefined;
    await hook?.();
    return this.base.push(payload);
  }

  getCids = (count?: number) => this.base.getCids(count);
  messageStatus: JPushPort['messageStatus'] = (msgId, rids, date) =>
    this.base.messageStatus(msgId, rids, date);
  receivedDetail: JPushPort['receivedDetail'] = (msgIds) =>
    this.base.receivedDetail(msgIds);
  getDevice: JPushPort['getDevice'] = () => this.base.getDevice();
  getAliasDevices: JPushPort['getAliasDevices'] = () =>
    this.base.getAliasDevices();
  deleteAlias: JPushPort['deleteAlias'] = () => this.base.deleteAlias();
  removeDevicesFromAlias: JPushPort['removeDevicesFromAlias'] = () =>
    this.base.removeDevicesFromAlias();
}

const prepare = () => {
  const jpush = new DeviceJPush();
  // As JPush does: a push sent again with its cid gets its first answer.
  jpush.base.idempotentCids = true;
  const deps = { ...inMemoryDeps(), jpush };
  const send = async (to: string, body: string) => {
    const { messageId } = await sendMessage({ to, body }, deps);
    deps.clock.advance(1000);
    return messageId;
  };
  const pushNow = async (messageId: string, attempt = 1) => {
    const message = await deps.messages.get(messageId);
    const delivery = message?.delivery ?? 1;
    return runPushAttempt(
      {
        messageId,
        delivery,
        attempt,
        taskToken: `token-${messageId}-${delivery}.${attempt}`,
      },
      deps
    );
  };
  const message = async (messageId: string) => {
    const found = await deps.messages.get(messageId);
    if (!found) throw new Error(`no message ${messageId}`);
    return found;
  };
  return { deps, jpush, send, pushNow, message };
};

describe('login', () => {
  it('records the session and the device owner and binds the alias to the user', async () => {
    // Prepare
    const { deps, jpush } = prepare();

    // Act
    const result = await login(
      { userId: 'user_b', registrationId: RID_D, platform: 'android' },
      deps
    );

    // Assess
    expect(result).toEqual({ drained: 0, alias: 'bound' });
    expect(await deps.sessions.listByUser('user_b')).toEqual([
      expect.objectContaining({ registrationId: RID_D, platform: 'android' }),
    ]);
    expect((await deps.devices.get(RID_D))?.userId).toBe('user_b');
    expect(jpush.deviceUpdates).toEqual([
      { registrationId: RID_D, alias: 'user_b' },
    ]);
  });

  it('starts the delivery of every stored message, oldest first, and counts them', async () => {
    // Prepare
    const { deps, send, message } = prepare();
    const ids = [
      await send('user_b', 'first'),
      await send('user_b', 'second'),
      await send('user_b', 'third'),
    ];
    await send('user_c', 'for someone else');

    // Act
    const result = await login(
      { userId: 'user_b', registrationId: RID_D, platform: 'ios' },
      deps
    );

    // Assess
    expect(result.drained).toBe(3);
    expect(deps.deliveries.started.map((r) => r.messageId)).toEqual(ids);
    expect(await deps.offline.list('user_b')).toEqual([]);
    expect(await deps.offline.list('user_c')).toHaveLength(1);
    for (const id of ids) expect((await message(id)).status).toBe('sending');
  });

  it('logs in and drains even when JPush refuses the alias (7015: already on 10 devices)', async () => {
    // Prepare
    const { deps, jpush, send } = prepare();
    await send('user_b', 'waiting');
    jpush.updateDeviceError = new JPushRejectedError(
      'alias already bound to 10 devices',
      { httpStatus: 400, code: 7015 }
    );

    // Act
    const result = await login(
      { userId: 'user_b', registrationId: RID_D, platform: 'android' },
      deps
    );

    // Assess
    expect(result).toEqual({
      drained: 1,
      alias: 'failed',
      aliasError: { code: 7015, message: 'alias already bound to 10 devices' },
    });
    expect(await deps.sessions.listByUser('user_b')).toHaveLength(1);
  });

  it('on an account switch ends the previous user’s session, withdraws their pushes to the device and binds the alias to the new user', async () => {
    // Prepare
    const { deps, jpush, send, pushNow, message } = prepare();
    await login(
      { userId: 'user_b', registrationId: RID_D, platform: 'android' },
      deps
    );
    const forB = await send('user_b', 'for B only');
    const push = await pushNow(forB);
    jpush.deviceUpdates.length = 0;

    // Act
    const result = await login(
      { userId: 'user_c', registrationId: RID_D, platform: 'android' },
      deps
    );

    // Assess
    expect(await deps.sessions.listByUser('user_b')).toEqual([]);
    expect(await deps.sessions.listByUser('user_c')).toHaveLength(1);
    expect((await deps.devices.get(RID_D))?.userId).toBe('user_c');
    expect(jpush.withdrawn).toEqual([push.jpushMsgId]);
    expect(jpush.deviceUpdates).toEqual([
      { registrationId: RID_D, alias: 'user_c' },
    ]);
    expect(result.replaced).toMatchObject({
      userId: 'user_b',
      alias: 'not-owner',
      withdrawn: [push.jpushMsgId],
      restored: [forB],
    });
    const stored = await message(forB);
    expect(stored).toMatchObject({ status: 'stored', delivery: 2 });
    expect(await deps.offline.list('user_b')).toEqual([
      expect.objectContaining({ messageId: forB, delivery: 2 }),
    ]);
  });

  it('on an account switch keeps the previous user’s messages going when they are logged in elsewhere', async () => {
    // Prepare
    const { deps, jpush, send, pushNow, message } = prepare();
    await login(
      { userId: 'user_b', registrationId: RID_D, platform: 'android' },
      deps
    );
    await login(
      { userId: 'user_b', registrationId: RID_E, platform: 'ios' },
      deps
    );
    const forB = await send('user_b', 'for B');
    const push = await pushNow(forB);

    // Act
    await login(
      { userId: 'user_c', registrationId: RID_D, platform: 'android' },
      deps
    );

    // Assess
    expect(jpush.withdrawn).toEqual([push.jpushMsgId]);
    expect(await message(forB)).toMatchObject({
      status: 'sending',
      delivery: 1,
    });
    expect(await deps.sessions.listByUser('user_b')).toEqual([
      expect.objectContaining({ registrationId: RID_E }),
    ]);
    const next = await pushNow(forB, 2);
    expect(next.targets).toEqual([RID_E]);
  });

  it('withdraws nothing when the same user logs in again on the same device', async () => {
    // Prepare
    const { deps, jpush, send, pushNow, message } = prepare();
    await login(
      { userId: 'user_b', registrationId: RID_D, platform: 'android' },
      deps
    );
    const forB = await send('user_b', 'hello');
    await pushNow(forB);

    // Act
    await login(
      { userId: 'user_b', registrationId: RID_D, platform: 'android' },
      deps
    );

    // Assess
    expect(jpush.withdrawn).toEqual([]);
    expect((await message(forB)).status).toBe('sending');
    expect(await deps.sessions.listByUser('user_b')).toHaveLength(1);
  });
});

describe('logout', () => {
  it('clears the alias, ends the session and forgets the device owner', async () => {
    // Prepare
    const { deps, jpush } = prepare();
    await login(
      { userId: 'user_b', registrationId: RID_D, platform: 'android' },
      deps
    );

    // Act
    const result = await logout(
      { userId: 'user_b', registrationId: RID_D },
      deps
    );

    // Assess
    expect(result.alias).toBe('cleared');
    expect(jpush.deviceUpdates.at(-1)).toEqual({
      registrationId: RID_D,
      alias: '',
    });
    expect(await deps.sessions.listByUser('user_b')).toEqual([]);
    expect(await deps.devices.get(RID_D)).toBeUndefined();
  });

  it('leaves the alias alone when another user has logged in on the device since', async () => {
    // Prepare
    const { deps, jpush } = prepare();
    await login(
      { userId: 'user_b', registrationId: RID_D, platform: 'android' },
      deps
    );
    await login(
      { userId: 'user_c', registrationId: RID_D, platform: 'android' },
      deps
    );
    jpush.deviceUpdates.length = 0;

    // Act
    const result = await logout(
      { userId: 'user_b', registrationId: RID_D },
      deps
    );

    // Assess
    expect(result.alias).toBe('not-owner');
    expect(jpush.deviceUpdates).toEqual([]);
    expect((await deps.devices.get(RID_D))?.userId).toBe('user_c');
    expect(await deps.sessions.listByUser('user_c')).toHaveLength(1);
  });

  it('binds the alias again for a user whose login raced the clearing', async () => {
    // Prepare
    const { deps, jpush } = prepare();
    await login(
      { userId: 'user_b', registrationId: RID_D, platform: 'android' },
      deps
    );
    jpush.onUpdateDevice = async (registrationId, alias) => {
      if (alias !== '') return;
      // user_c's login records itself as the owner while JPush clears.
      await deps.devices.put({
        registrationId,
        userId: 'user_c',
        platform: 'android',
        since: deps.clock.now().toISOString(),
      });
    };

    // Act
    const result = await logout(
      { userId: 'user_b', registrationId: RID_D },
      deps
    );

    // Assess
    expect(result.aliasRestoredFor).toBe('user_c');
    expect(jpush.deviceUpdates.slice(-2)).toEqual([
      { registrationId: RID_D, alias: '' },
      { registrationId: RID_D, alias: 'user_c' },
    ]);
    expect((await deps.devices.get(RID_D))?.userId).toBe('user_c');
  });

  it('is idempotent: logging out again, or without a session, changes nothing and fails nothing', async () => {
    // Prepare
    const { deps, jpush, send, pushNow, message } = prepare();
    await login(
      { userId: 'user_b', registrationId: RID_D, platform: 'android' },
      deps
    );
    const forB = await send('user_b', 'hello');
    await pushNow(forB);
    await logout({ userId: 'user_b', registrationId: RID_D }, deps);
    const after = await message(forB);
    const updates = jpush.deviceUpdates.length;

    // Act
    const again = await logout(
      { userId: 'user_b', registrationId: RID_D },
      deps
    );
    const stranger = await logout(
      { userId: 'nobody', registrationId: RID_E },
      deps
    );

    // Assess
    expect(again).toMatchObject({
      alias: 'not-owner',
      withdrawn: [],
      restored: [],
    });
    expect(stranger).toMatchObject({ alias: 'not-owner', restored: [] });
    expect(jpush.deviceUpdates).toHaveLength(updates);
    expect(await message(forB)).toEqual(after);
    expect(await deps.offline.list('user_b')).toHaveLength(1);
  });

  it('with no session left puts in-flight messages back in the offline store under a new delivery, which the next login starts', async () => {
    // Prepare
    const { deps, jpush, send, pushNow, message } = prepare();
    await login(
      { userId: 'user_b', registrationId: RID_D, platform: 'android' },
      deps
    );
    const pushed = await send('user_b', 'pushed already');
    const push = await pushNow(pushed);
    const notYet = await send('user_b', 'not pushed yet');

    // Act
    const result = await logout(
      { userId: 'user_b', registrationId: RID_D },
      deps
    );

    // Assess
    expect(result).toMatchObject({
      withdrawn: [push.jpushMsgId],
      restored: [pushed, notYet],
      sessionsLeft: 0,
    });
    expect(jpush.withdrawn).toEqual([push.jpushMsgId]);
    const stored = await message(pushed);
    expect(stored).toMatchObject({ status: 'stored', delivery: 2 });
    expect(stored.timeline.map((t) => t.event)).toEqual(
      expect.arrayContaining(['withdrawn', 'stored'])
    );
    expect(stored.timeline.at(-1)?.detail).toBe(
      'user_b logged out of every device; kept until the next login'
    );
    expect((await message(notYet)).delivery).toBe(2);
    // The running execution (delivery 1) ends at its next step.
    expect((await pushNow(pushed, 2)).outcome).toBe('done');

    const relogin = await login(
      { userId: 'user_b', registrationId: RID_E, platform: 'ios' },
      deps
    );
    expect(relogin.drained).toBe(2);
    expect(
      deps.deliveries.started
        .filter((r) => r.delivery === 2)
        .map((r) => r.messageId)
    ).toEqual([pushed, notYet]);
  });

  it('with a session left elsewhere withdraws the pushes to this device and keeps the delivery going', async () => {
    // Prepare
    const { deps, jpush, send, pushNow, message } = prepare();
    await login(
      { userId: 'user_b', registrationId: RID_D, platform: 'android' },
      deps
    );
    await login(
      { userId: 'user_b', registrationId: RID_E, platform: 'ios' },
      deps
    );
    const forB = await send('user_b', 'hello');
    const push = await pushNow(forB);

    // Act
    const result = await logout(
      { userId: 'user_b', registrationId: RID_D },
      deps
    );

    // Assess
    expect(result).toMatchObject({
      withdrawn: [push.jpushMsgId],
      restored: [],
      sessionsLeft: 1,
    });
    expect(jpush.withdrawn).toEqual([push.jpushMsgId]);
    expect(await message(forB)).toMatchObject({
      status: 'sending',
      delivery: 1,
    });
  });

  it('tolerates JPush refusing to clear the alias or to withdraw', async () => {
    // Prepare
    const { deps, jpush, send, pushNow, message } = prepare();
    await login(
      { userId: 'user_b', registrationId: RID_D, platform: 'android' },
      deps
    );
    const forB = await send('user_b', 'hello');
    const push = await pushNow(forB);
    jpush.updateDeviceError = new JPushServerError('system busy', {
      httpStatus: 503,
      code: 7030,
    });
    jpush.withdrawError = new JPushRejectedError('msg_id already delivered', {
      httpStatus: 400,
      code: 1003,
    });

    // Act
    const result = await logout(
      { userId: 'user_b', registrationId: RID_D },
      deps
    );

    // Assess
    expect(result).toMatchObject({
      alias: 'failed',
      aliasError: { code: 7030, message: 'system busy' },
      withdrawn: [],
      withdrawFailures: [
        {
          msgId: push.jpushMsgId,
          code: 1003,
          message: 'msg_id already delivered',
        },
      ],
      restored: [forB],
    });
    expect(await deps.sessions.listByUser('user_b')).toEqual([]);
    const timeline = (await message(forB)).timeline;
    expect(timeline.find((t) => t.event === 'withdrawn')?.detail).toContain(
      'not withdrawn (JPush 1003: msg_id already delivered)'
    );
  });

  it('leaves alone acknowledged messages that JPush confirmed on the device, and other users’ messages', async () => {
    // Prepare
    const { deps, jpush, send, pushNow, message } = prepare();
    await login(
      { userId: 'user_b', registrationId: RID_D, platform: 'android' },
      deps
    );
    await login(
      { userId: 'user_c', registrationId: RID_E, platform: 'android' },
      deps
    );
    const acked = await send('user_b', 'read it');
    await pushNow(acked);
    const at = deps.clock.now().toISOString();
    await deps.messages.update(acked, {
      set: { status: 'acknowledged', ackedAt: at },
      putInMap: [{ map: 'deliveredTo', key: RID_D, value: at }],
    });
    const forC = await send('user_c', 'for C');
    await pushNow(forC);

    // Act
    const result = await logout(
      { userId: 'user_b', registrationId: RID_D },
      deps
    );

    // Assess
    expect(result).toMatchObject({ withdrawn: [], restored: [] });
    expect(jpush.withdrawn).toEqual([]);
    expect((await message(acked)).status).toBe('acknowledged');
    expect((await message(forC)).status).toBe('sending');
  });

  it('withdraws an acknowledged message’s push that JPush never confirmed on the device', async () => {
    // Prepare: acknowledged elsewhere while the copy for D may still wait in
    // JPush's offline queue.
    const { deps, jpush, send, pushNow, message } = prepare();
    await login(
      { userId: 'user_b', registrationId: RID_D, platform: 'android' },
      deps
    );
    const acked = await send('user_b', 'read it elsewhere');
    await pushNow(acked);
    await deps.messages.update(acked, {
      set: { status: 'acknowledged', ackedAt: deps.clock.now().toISOString() },
    });
    const msgId = Object.values((await message(acked)).pushes)[0]?.jpushMsgId;

    // Act
    const result = await logout(
      { userId: 'user_b', registrationId: RID_D },
      deps
    );

    // Assess
    expect(msgId).toBeDefined();
    expect(result.withdrawn).toEqual([msgId]);
    expect(jpush.withdrawn).toEqual([msgId]);
    expect((await message(acked)).status).toBe('acknowledged');
  });
});

describe('logout withdrawing through the outbox', () => {
  it('keeps a withdrawal JPush failed to answer for the sweeper, which withdraws it later', async () => {
    // Prepare
    const { deps, jpush, send, pushNow, message } = prepare();
    await login(
      { userId: 'user_b', registrationId: RID_D, platform: 'android' },
      deps
    );
    const forB = await send('user_b', 'hello');
    const push = await pushNow(forB);
    jpush.withdrawErrors.push(
      new JPushServerError('system busy', { httpStatus: 503 })
    );

    // Act
    const result = await logout(
      { userId: 'user_b', registrationId: RID_D },
      deps
    );
    const kept = [...deps.outbox.entries.values()];
    deps.clock.advance(2_000);
    const swept = await sweepWithdrawals(deps);

    // Assess
    expect(result.withdrawn).toEqual([]);
    expect(result.withdrawFailures).toEqual([
      {
        msgId: push.jpushMsgId,
        message: 'system busy; retried until JPush confirms',
      },
    ]);
    expect(kept).toEqual([
      expect.objectContaining({ messageId: forB, pushKey: '1.1', tries: 1 }),
    ]);
    expect(swept).toMatchObject({ withdrawn: 1, retrying: 0 });
    expect(jpush.withdrawn).toEqual([push.jpushMsgId, push.jpushMsgId]);
    expect(deps.outbox.entries.size).toBe(0);
    const stored = await message(forB);
    expect(stored.pushes['1.1']?.withdrawnAt).toBe('2026-11-27T08:00:03.000Z');
    expect(
      stored.timeline
        .filter((e) => e.event.startsWith('withdraw'))
        .map((e) => e.event)
    ).toEqual(['withdraw-failed', 'withdrawn']);
  });

  it('resolves a push whose answer was lost with its cid before withdrawing it', async () => {
    // Prepare: JPush pushed, its answer was lost, the step's retries wait.
    const { deps, jpush, send, pushNow, message } = prepare();
    await login(
      { userId: 'user_b', registrationId: RID_D, platform: 'android' },
      deps
    );
    const forB = await send('user_b', 'hello');
    jpush.base.loseAnswers = 1;
    await expect(pushNow(forB)).rejects.toMatchObject({
      name: 'JPushUnknownOutcomeError',
    });
    const cid = (await message(forB)).pushes['1.1']?.cid ?? '';

    // Act
    const result = await logout(
      { userId: 'user_b', registrationId: RID_D },
      deps
    );

    // Assess
    const msgId = jpush.base.resultsByCid.get(cid)?.msgId;
    expect(msgId).toBeDefined();
    expect(jpush.base.pushes.map((p) => p.cid)).toEqual([cid, cid]);
    expect(result.withdrawn).toEqual([msgId]);
    expect(jpush.withdrawn).toEqual([msgId]);
    const stored = await message(forB);
    expect(stored.pushes['1.1']).toMatchObject({
      state: 'pushed',
      jpushMsgId: msgId,
      withdrawnAt: expect.any(String),
    });
    expect(stored).toMatchObject({ status: 'stored', delivery: 2 });
  });

  it('takes the device’s delivery mark with the withdrawn copy and keeps the others', async () => {
    // Prepare
    const { deps, send, pushNow, message } = prepare();
    await login(
      { userId: 'user_b', registrationId: RID_D, platform: 'android' },
      deps
    );
    await login(
      { userId: 'user_b', registrationId: RID_E, platform: 'ios' },
      deps
    );
    const forB = await send('user_b', 'hello');
    await pushNow(forB);
    const at = deps.clock.now().toISOString();
    await deps.messages.update(forB, {
      set: { status: 'received' },
      putInMap: [
        { map: 'deliveredTo', key: RID_D, value: at },
        { map: 'deliveredTo', key: RID_E, value: at },
      ],
    });

    // Act
    await logout({ userId: 'user_b', registrationId: RID_D }, deps);

    // Assess
    expect((await message(forB)).deliveredTo).toEqual({ [RID_E]: at });
  });

  it('on an account switch keeps a withdrawal JPush failed to answer, and logs the new user in', async () => {
    // Prepare
    const { deps, jpush, send, pushNow } = prepare();
    await login(
      { userId: 'user_b', registrationId: RID_D, platform: 'android' },
      deps
    );
    const forB = await send('user_b', 'for B only');
    const push = await pushNow(forB);
    jpush.withdrawErrors.push(
      new JPushServerError('system busy', { httpStatus: 503 })
    );

    // Act
    const result = await login(
      { userId: 'user_c', registrationId: RID_D, platform: 'android' },
      deps
    );

    // Assess
    expect(result).toMatchObject({ alias: 'bound' });
    expect(result.replaced).toMatchObject({
      userId: 'user_b',
      withdrawn: [],
      withdrawFailures: [
        {
          msgId: push.jpushMsgId,
          message: 'system busy; retried until JPush confirms',
        },
      ],
      restored: [forB],
    });
    expect([...deps.outbox.entries.values()]).toEqual([
      expect.objectContaining({
        messageId: forB,
        pushKey: '1.1',
        why: `another user logged in on device ${RID_D}`,
        registrationId: RID_D,
      }),
    ]);
    expect(await deps.sessions.listByUser('user_c')).toHaveLength(1);
  });

  it('records one withdrawn entry per push, however often the user logs out', async () => {
    // Prepare
    const { deps, jpush, send, pushNow, message } = prepare();
    await login(
      { userId: 'user_b', registrationId: RID_D, platform: 'android' },
      deps
    );
    const forB = await send('user_b', 'hello');
    await pushNow(forB);

    // Act
    await logout({ userId: 'user_b', registrationId: RID_D }, deps);
    await logout({ userId: 'user_b', registrationId: RID_D }, deps);

    // Assess
    expect(jpush.withdrawn).toHaveLength(1);
    expect(
      (await message(forB)).timeline.filter((e) => e.event === 'withdrawn')
    ).toHaveLength(1);
    expect(deps.outbox.entries.size).toBe(0);
  });
});

describe('logging out and in again on the same device', () => {
  it('pushes the message to the device again, though JPush had confirmed the withdrawn copy', async () => {
    // Prepare: delivered to D (confirmed by the Report API), not acknowledged.
    const { deps, jpush, send, pushNow, message } = prepare();
    const session = { userId: 'user_b', registrationId: RID_D } as const;
    await login({ ...session, platform: 'android' }, deps);
    const id = await send('user_b', 'still unread');
    await pushNow(id);
    await deps.messages.update(id, {
      set: { status: 'received' },
      putInMap: [
        {
          map: 'deliveredTo',
          key: RID_D,
          value: deps.clock.now().toISOString(),
        },
      ],
    });

    // Act
    await logout(session, deps);
    const stored = await message(id);
    await login({ ...session, platform: 'android' }, deps);
    const again = await pushNow(id);

    // Assess
    expect(stored).toMatchObject({
      status: 'stored',
      delivery: 2,
      deliveredTo: {},
    });
    expect(again).toMatchObject({ outcome: 'pushed', targets: [RID_D] });
    expect(jpush.base.pushes).toHaveLength(2);
  });
});

describe('runPushAttempt racing a logout', () => {
  it('withdraws the push and notes it when a target logged out while it was pushed', async () => {
    // Prepare
    const { deps, jpush, send, pushNow, message } = prepare();
    await login(
      { userId: 'user_b', registrationId: RID_D, platform: 'android' },
      deps
    );
    const forB = await send('user_b', 'hello');
    jpush.duringPush = () => deps.sessions.delete('user_b', RID_D);

    // Act
    const result = await pushNow(forB);

    // Assess
    expect(result.outcome).toBe('pushed');
    expect(jpush.withdrawn).toEqual([result.jpushMsgId]);
    expect((await message(forB)).timeline.at(-1)).toMatchObject({
      event: 'withdrawn',
      detail: `attempt 1: user_b left device(s) ${RID_D} while it was pushed; JPush msg_id ${result.jpushMsgId} withdrawn`,
    });
  });

  it('withdraws nothing when every target is still logged in', async () => {
    // Prepare
    const { deps, jpush, send, pushNow, message } = prepare();
    await login(
      { userId: 'user_b', registrationId: RID_D, platform: 'android' },
      deps
    );
    const forB = await send('user_b', 'hello');

    // Act
    await pushNow(forB);

    // Assess
    expect(jpush.withdrawn).toEqual([]);
    expect((await message(forB)).timeline.at(-1)?.event).toBe('pushed');
  });

  it('withdraws its push when the user logged out and in again while it was pushed, so only the new delivery reaches the device', async () => {
    // Prepare
    const { deps, jpush, send, pushNow, message } = prepare();
    const session = { userId: 'user_b', registrationId: RID_D } as const;
    await login({ ...session, platform: 'android' }, deps);
    const forB = await send('user_b', 'hello');
    let loggedOut: Awaited<ReturnType<typeof logout>> | undefined;
    jpush.duringPush = async () => {
      loggedOut = await logout(session, deps);
      await login({ ...session, platform: 'android' }, deps);
    };

    // Act
    const first = await pushNow(forB);
    const second = await pushNow(forB);

    // Assess: the logout found the push recorded before JPush answered,
    // sent it again with its cid (same msg_id) and withdrew it.
    expect(loggedOut?.withdrawn).toEqual([first.jpushMsgId]);
    expect(new Set(jpush.withdrawn)).toEqual(new Set([first.jpushMsgId]));
    expect(second).toMatchObject({ outcome: 'pushed', targets: [RID_D] });
    expect(second.jpushMsgId).not.toBe(first.jpushMsgId);
    expect(jpush.withdrawn).not.toContain(second.jpushMsgId);
    const stored = await message(forB);
    expect(stored.delivery).toBe(2);
    expect(stored.timeline).toContainEqual(
      expect.objectContaining({
        event: 'withdrawn',
        detail: `attempt 1: user_b logged out of device ${RID_D}; JPush msg_id ${first.jpushMsgId} withdrawn`,
      })
    );
  });

  it('and the logout together never leave a push on the device: the logout resolves the recorded push with its cid, withdraws it and re-stores', async () => {
    // Prepare
    const { deps, jpush, send, pushNow, message } = prepare();
    await login(
      { userId: 'user_b', registrationId: RID_D, platform: 'android' },
      deps
    );
    const forB = await send('user_b', 'hello');
    let logoutResult: Awaited<ReturnType<typeof logout>> | undefined;
    // The whole logout runs after the push was recorded and before JPush
    // answered it: the logout's scan finds it pending.
    jpush.duringPush = async () => {
      logoutResult = await logout(
        { userId: 'user_b', registrationId: RID_D },
        deps
      );
    };

    // Act
    const result = await pushNow(forB);

    // Assess
    expect(logoutResult?.withdrawn).toEqual([result.jpushMsgId]);
    expect(logoutResult?.restored).toEqual([forB]);
    expect(jpush.withdrawn).toContain(result.jpushMsgId);
    // Sent twice with one cid: JPush pushed it once.
    const [sent, resent] = jpush.base.pushes;
    expect(resent?.cid).toBe(sent?.cid);
    expect(await message(forB)).toMatchObject({
      status: 'stored',
      delivery: 2,
    });
    expect(await deps.offline.list('user_b')).toHaveLength(1);
  });

  // Guards sendRecordedPush: JPush's answer is written into the record in
  // place, so the withdrawal a logout recorded meanwhile (withdrawnAt)
  // stays and the push is not withdrawn a second time.
  it('withdraws a push that a concurrent logout withdrew once, with one withdrawn entry', async () => {
    // Prepare
    const { deps, jpush, send, pushNow, message } = prepare();
    await login(
      { userId: 'user_b', registrationId: RID_D, platform: 'android' },
      deps
    );
    const forB = await send('user_b', 'hello');
    jpush.duringPush = async () => {
      await logout({ userId: 'user_b', registrationId: RID_D }, deps);
    };

    // Act
    const result = await pushNow(forB);

    // Assess
    expect(jpush.withdrawn).toEqual([result.jpushMsgId]);
    const stored = await message(forB);
    expect(stored.timeline.filter((e) => e.event === 'withdrawn')).toHaveLength(
      1
    );
  });

  // Same guard: with a session left elsewhere and the user back on the
  // device before the push step reads the sessions again, nothing would
  // withdraw it a second time, so the record must keep saying withdrawn.
  it('keeps the withdrawal of a push a logout withdrew while it was sent', async () => {
    // Prepare
    const { deps, jpush, send, pushNow, message } = prepare();
    const onD = { userId: 'user_b', registrationId: RID_D } as const;
    await login({ ...onD, platform: 'android' }, deps);
    await login(
      { userId: 'user_b', registrationId: RID_E, platform: 'ios' },
      deps
    );
    const forB = await send('user_b', 'hello');
    jpush.duringPush = async () => {
      await logout(onD, deps);
      await login({ ...onD, platform: 'android' }, deps);
    };

    // Act
    const result = await pushNow(forB);

    // Assess
    expect(jpush.withdrawn).toEqual([result.jpushMsgId]);
    const stored = await message(forB);
    expect(stored.pushes['1.1']?.withdrawnAt).toBeDefined();
    // JPush's answer came after the withdrawal and is recorded after it;
    // the withdrawal stays.
    expect(stored.timeline.map((e) => e.event).slice(-2)).toEqual([
      'withdrawn',
      'pushed',
    ]);
  });
});
