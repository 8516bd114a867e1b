import { describe, expect, it } from 'vitest';
import { checkReport } from '../../../functions/domain/check-report.ts';
import {
  DeliveryStatus,
  JPushRateLimitError,
  JPushRejectedError,
  JPushServerError,
} from '../../../functions/domain/jpush.ts';
import type { Session } from '../../../functions/domain/ports.ts';
import { runPushAttempt } from '../../../functions/domain/push-attempt.ts';
import { sendMessage } from '../../../functions/domain/send-message.ts';
import { inMemoryDeps } from '../../helpers/fakes.ts';
import { RecordingJPush } from '../../helpers/recording-jpush.ts';

const RID_A = '1a0018970a9c2ce5b0';
const RID_B = '1a0018970a9c2ce5b1';

const session = (registrationId: string): Session => ({
  userId: 'user_42',
  registrationId,
  platform: 'android',
  since: '2026-11-27T07:00:00.000Z',
});

/** A message pushed to two devices in attempt 1. */
const preparePushed = async () => {
  const deps = { ...inMemoryDeps(), jpush: new RecordingJPush() };
  await deps.sessions.put(session(RID_A));
  await deps.sessions.put(session(RID_B));
  const { messageId } = await sendMessage(
    { to: 'user_42', body: 'Order 1009 shipped' },
    deps
  );
  const push = await runPushAttempt(
    { messageId, delivery: 1, attempt: 1 },
    deps
  );
  deps.clock.advance(60_000);
  return {
    deps,
    messageId,
    push,
    input: { messageId, delivery: 1, attempt: 1, push },
  };
};

describe('checkReport', () => {
  it('records the devices JPush delivered to and marks the message received', async () => {
    // Prepare
    const { deps, messageId, push, input } = await preparePushed();
    deps.jpush.statusAnswers.push({
      [RID_A]: DeliveryStatus.delivered,
      [RID_B]: DeliveryStatus.notDelivered,
    });

    // Act
    const result = await checkReport(input, deps);

    // Assess
    expect(result).toEqual({ delivered: [RID_A], pending: [RID_B] });
    expect(deps.jpush.statusCalls).toEqual([
      {
        msgId: push.jpushMsgId,
        registrationIds: push.targets,
        date: '2026-11-27',
      },
    ]);
    const message = await deps.messages.get(messageId);
    expect(message?.status).toBe('received');
    expect(message?.deliveredTo).toEqual({
      [RID_A]: '2026-11-27T08:01:00.000Z',
    });
    expect(message?.timeline.at(-1)).toEqual({
      at: '2026-11-27T08:01:00.000Z',
      event: 'report',
      detail: `attempt 1, JPush msg_id ${push.jpushMsgId}: delivered to 1 of 2 device(s) (${RID_A}: delivered, ${RID_B}: not delivered)`,
    });
  });

  it('keeps the message sending when no device has it yet', async () => {
    // Prepare
    const { deps, messageId, input } = await preparePushed();
    deps.jpush.statusAnswers.push({
      [RID_A]: DeliveryStatus.notDelivered,
      [RID_B]: DeliveryStatus.systemError,
    });

    // Act
    const result = await checkReport(input, deps);

    // Assess
    expect(result.delivered).toEqual([]);
    const message = await deps.messages.get(messageId);
    expect(message?.status).toBe('sending');
    expect(message?.deliveredTo).toEqual({});
    expect(message?.timeline.at(-1)?.detail).toContain(
      `${RID_B}: JPush system error`
    );
  });

  it('names a device JPush did not report as unknown', async () => {
    // Prepare
    const { deps, messageId, input } = await preparePushed();
    deps.jpush.statusAnswers.push({ [RID_A]: DeliveryStatus.delivered });

    // Act
    await checkReport(input, deps);

    // Assess
    const message = await deps.messages.get(messageId);
    expect(message?.timeline.at(-1)?.detail).toContain(`${RID_B}: unknown`);
  });

  it('falls back to the delivery counters for an app without the VIP status API', async () => {
    // Prepare
    const { deps, messageId, push, input } = await preparePushed();
    deps.jpush.statusAnswers.push(
      new JPushRejectedError('no permission', { httpStatus: 403, code: 2006 })
    );
    deps.jpush.receivedDetailAnswers.push([
      {
        msgId: push.jpushMsgId ?? '',
        jpushReceived: 1,
        androidPnsSent: null,
        androidPnsReceived: null,
        iosApnsSent: null,
        iosApnsReceived: null,
        iosMsgReceived: 1,
      },
    ]);

    // Act
    const result = await checkReport(input, deps);

    // Assess
    expect(deps.jpush.receivedDetailCalls).toEqual([[push.jpushMsgId]]);
    expect([...result.delivered].sort()).toEqual([RID_A, RID_B]);
    const message = await deps.messages.get(messageId);
    expect(message?.status).toBe('received');
  });

  it('counts no device as delivered when the counters do not cover them all', async () => {
    // Prepare
    const { deps, messageId, push, input } = await preparePushed();
    deps.jpush.statusAnswers.push(
      new JPushRejectedError('no permission', { httpStatus: 403, code: 2006 })
    );
    deps.jpush.receivedDetailAnswers.push([
      {
        msgId: push.jpushMsgId ?? '',
        jpushReceived: 1,
        androidPnsSent: null,
        androidPnsReceived: null,
        iosApnsSent: null,
        iosApnsReceived: null,
        iosMsgReceived: null,
      },
    ]);

    // Act
    const result = await checkReport(input, deps);

    // Assess
    expect(result.delivered).toEqual([]);
    expect(result.pending).toHaveLength(2);
    const message = await deps.messages.get(messageId);
    expect(message?.status).toBe('sending');
  });

  it.each([
    ['JPushRateLimitError', new JPushRateLimitError('too many requests')],
    ['JPushServerError', new JPushServerError('server busy')],
    [
      'JPushRejectedError',
      new JPushRejectedError('bad request', { httpStatus: 400, code: 1003 }),
    ],
  ])('lets %s propagate and changes nothing', async (name, error) => {
    // Prepare
    const { deps, messageId, input } = await preparePushed();
    deps.jpush.statusAnswers.push(error);
    const before = await deps.messages.get(messageId);

    // Act
    const check = checkReport(input, deps);

    // Assess
    await expect(check).rejects.toMatchObject({ name });
    expect(deps.jpush.receivedDetailCalls).toEqual([]);
    expect(await deps.messages.get(messageId)).toEqual(before);
  });

  it('asks JPush nothing when the attempt pushed nothing', async () => {
    // Prepare
    const { deps, messageId } = await preparePushed();

    // Act
    const result = await checkReport(
      {
        messageId,
        delivery: 1,
        attempt: 2,
        push: { targets: [] },
      },
      deps
    );

    // Assess
    expect(result).toEqual({ delivered: [], pending: [] });
    expect(deps.jpush.statusCalls).toEqual([]);
  });

  it('does not touch a message that moved on to another delivery', async () => {
    // Prepare
    const { deps, messageId, input } = await preparePushed();
    await deps.messages.update(messageId, {
      set: { status: 'sending', delivery: 2 },
    });
    deps.jpush.statusAnswers.push({
      [RID_A]: DeliveryStatus.delivered,
      [RID_B]: DeliveryStatus.delivered,
    });
    const before = await deps.messages.get(messageId);

    // Act
    await checkReport(input, deps);

    // Assess
    expect(await deps.messages.get(messageId)).toEqual(before);
  });
});
