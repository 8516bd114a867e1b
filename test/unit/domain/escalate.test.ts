import { afterEach, describe, expect, it, vi } from 'vitest';
import { escalate, onCallText } from '../../../functions/domain/escalate.ts';
import type { SendMessageInput } from '../../../functions/domain/message.ts';
import { sendMessage } from '../../../functions/domain/send-message.ts';
import { inMemoryDeps } from '../../helpers/fakes.ts';

const RID = '1a0018970a9c2ce5b0';
const SMS_TO = '+8613800000000';
const SNS_FAILURE = 'InternalErrorException: Simulated SNS failure';

/**
 * One message in delivery 1 whose attempts all went unacknowledged.
 * @param input what the backend sent, on top of a recipient and a body
 */
const prepare = async (input: Partial<SendMessageInput> = {}) => {
  const deps = inMemoryDeps();
  await deps.sessions.put({
    userId: 'user_42',
    registrationId: RID,
    platform: 'android',
    since: '2026-11-27T07:00:00.000Z',
  });
  const { messageId } = await sendMessage(
    {
      to: 'user_42',
      title: 'Order 1009',
      body: 'Your parcel left the warehouse.',
      ...input,
    },
    deps
  );
  deps.clock.advance(180_000);
  /** Runs the Escalate step of delivery 1 after 3 attempts. */
  const run = () => escalate({ messageId, delivery: 1, attempt: 3 }, deps);
  /** The stored message. */
  const message = async () => {
    const found = await deps.messages.get(messageId);
    if (!found) throw new Error(`no message ${messageId}`);
    return found;
  };
  return { deps, messageId, run, message };
};

/**
 * Runs an escalation without waiting for its SMS retry pauses.
 * @param run the escalation
 */
const withoutPauses = async <T>(run: () => Promise<T>): Promise<T> => {
  vi.useFakeTimers({ toFake: ['setTimeout'] });
  const running = run();
  await vi.runAllTimersAsync();
  return running;
};

afterEach(() => {
  vi.useRealTimers();
});

describe('escalate', () => {
  it('marks the message escalated and tells the on-call topic', async () => {
    // Prepare
    const { deps, messageId, run, message } = await prepare();

    // Act
    const result = await run();

    // Assess
    expect(result).toEqual({
      outcome: 'escalated',
      sent: ['onCall'],
      failed: [],
    });
    const stored = await message();
    expect(stored).toMatchObject({
      status: 'escalated',
      escalatedAt: '2026-11-27T08:03:00.000Z',
      notified: { onCall: '2026-11-27T08:03:00.000Z' },
    });
    expect(deps.sms.sent).toEqual([
      {
        to: 'on-call',
        text: `Push not acknowledged: message ${messageId} to user user_42 after 3 attempt(s). Text: Order 1009: Your parcel left the warehouse.`,
      },
    ]);
    expect(stored.timeline.slice(-2)).toEqual([
      {
        at: '2026-11-27T08:03:00.000Z',
        event: 'escalated',
        detail: 'not acknowledged after 3 attempt(s)',
      },
      {
        at: '2026-11-27T08:03:00.000Z',
        event: 'sms-sent',
        detail: 'to the on-call topic',
      },
    ]);
  });

  it('writes the on-call text from the message and the attempts', async () => {
    // Prepare
    const { message } = await prepare({ title: undefined, body: 'Door open' });

    // Act
    const text = onCallText(await message(), 2);

    // Assess
    expect(text).toMatch(
      /^Push not acknowledged: message \w+ to user user_42 after 2 attempt\(s\)\. Text: Door open$/
    );
  });

  it('sends the recipient the message text only when the backend gave a number', async () => {
    // Prepare
    const withNumber = await prepare({ escalation: { smsTo: SMS_TO } });
    const without = await prepare();

    // Act
    const sentWith = await withNumber.run();
    const sentWithout = await without.run();

    // Assess
    expect(sentWith.sent).toEqual(['onCall', 'recipient']);
    expect(withNumber.deps.sms.sent.at(-1)).toEqual({
      to: SMS_TO,
      text: 'Order 1009: Your parcel left the warehouse.',
    });
    expect((await withNumber.message()).timeline.at(-1)).toMatchObject({
      event: 'sms-sent',
      detail: `to the recipient at ${SMS_TO}`,
    });
    expect(sentWithout.sent).toEqual(['onCall']);
    expect(without.deps.sms.sent.map((m) => m.to)).toEqual(['on-call']);
  });

  it('leaves the on-call topic alone when the message asks so', async () => {
    // Prepare
    const { deps, run, message } = await prepare({
      escalation: { onCall: false, smsTo: SMS_TO },
    });

    // Act
    const result = await run();

    // Assess
    expect(result.sent).toEqual(['recipient']);
    expect(deps.sms.sent.map((m) => m.to)).toEqual([SMS_TO]);
    expect((await message()).status).toBe('escalated');
  });

  it('escalates once per delivery: a second call sends nothing and records nothing', async () => {
    // Prepare
    const { deps, run, message } = await prepare({
      escalation: { smsTo: SMS_TO },
    });
    await run();
    const after = await message();
    deps.clock.advance(5_000);

    // Act
    const again = await run();

    // Assess
    expect(again.sent).toEqual([]);
    expect(again.failed).toEqual([]);
    expect(deps.sms.tries).toHaveLength(2);
    expect((await message()).timeline).toEqual(after.timeline);
    expect((await message()).escalatedAt).toBe(after.escalatedAt);
  });

  // Differs from the code (functions/domain/escalate.ts, the last return of
  // escalate): EscalateResult says `done` when an earlier escalation came
  // first, but a second call answers `escalated` again.
  it('answers done to a second call once the first escalated', async () => {
    // Prepare
    const { run } = await prepare();
    await run();

    // Act
    const again = await run();

    // Assess
    expect(again.outcome).toBe('done');
  });

  it.each([
    [
      'acknowledged',
      { status: 'acknowledged', ackedAt: '2026-11-27T08:02:59.000Z' },
    ],
    ['stored again for a new delivery', { status: 'stored', delivery: 2 }],
    ['superseded by a new delivery', { status: 'sending', delivery: 2 }],
    ['expired', { status: 'expired' }],
  ] as const)('does nothing for a message that was %s', async (_case, set) => {
    // Prepare
    const { deps, messageId, run, message } = await prepare({
      escalation: { smsTo: SMS_TO },
    });
    await deps.messages.update(messageId, { set });
    const before = await message();

    // Act
    const result = await run();

    // Assess
    expect(result).toEqual({ outcome: 'done', sent: [], failed: [] });
    expect(deps.sms.tries).toEqual([]);
    expect(await message()).toEqual(before);
  });

  it('never escalates a message whose ACK came late, after a re-store', async () => {
    // Prepare: acknowledged while stored, so no status change to escalate.
    const { deps, messageId, run, message } = await prepare();
    await deps.messages.update(messageId, {
      set: { status: 'sending', ackedAt: '2026-11-27T08:02:00.000Z' },
    });

    // Act
    const result = await run();

    // Assess
    expect(result.outcome).toBe('done');
    expect(deps.sms.tries).toEqual([]);
    expect((await message()).status).toBe('sending');
  });

  it('records an SMS that fails three times as sms-failed, and the message stays escalated', async () => {
    // Prepare
    const { deps, run, message } = await prepare();
    deps.sms.failNext = 3;

    // Act
    const result = await withoutPauses(run);

    // Assess
    expect(result).toEqual({
      outcome: 'escalated',
      sent: [],
      failed: [{ channel: 'onCall', reason: SNS_FAILURE }],
    });
    expect(deps.sms.tries).toHaveLength(3);
    expect(deps.sms.sent).toEqual([]);
    const stored = await message();
    expect(stored.status).toBe('escalated');
    expect(stored.notified).toEqual({});
    expect(stored.timeline.at(-1)).toEqual({
      at: '2026-11-27T08:03:00.000Z',
      event: 'sms-failed',
      detail: `to the on-call topic: ${SNS_FAILURE}`,
    });
  });

  it('tries a failing SMS again 100 ms and then 300 ms later', async () => {
    // Prepare
    const { deps, run } = await prepare();
    deps.sms.failNext = 3;
    vi.useFakeTimers({ toFake: ['setTimeout'] });

    // Act
    const running = run();
    await vi.advanceTimersByTimeAsync(99);
    const beforeFirstPause = deps.sms.tries.length;
    await vi.advanceTimersByTimeAsync(1);
    const afterFirstPause = deps.sms.tries.length;
    await vi.advanceTimersByTimeAsync(299);
    const beforeSecondPause = deps.sms.tries.length;
    await vi.advanceTimersByTimeAsync(1);
    await running;

    // Assess
    expect([beforeFirstPause, afterFirstPause, beforeSecondPause]).toEqual([
      1, 2, 2,
    ]);
    expect(deps.sms.tries).toHaveLength(3);
  });

  it('sends an SMS that fails once and then succeeds exactly once', async () => {
    // Prepare
    const { deps, run, message } = await prepare();
    deps.sms.failNext = 1;

    // Act
    const result = await withoutPauses(run);

    // Assess
    expect(result).toEqual({
      outcome: 'escalated',
      sent: ['onCall'],
      failed: [],
    });
    expect(deps.sms.tries).toHaveLength(2);
    expect(deps.sms.sent).toHaveLength(1);
    const events = (await message()).timeline.map((e) => e.event);
    expect(events.filter((e) => e.startsWith('sms-'))).toEqual(['sms-sent']);
  });

  it('sends each channel once across retries of the step', async () => {
    // Prepare: the recipient's SMS fails on the first try of the step.
    const { deps, run, message } = await prepare({
      escalation: { smsTo: SMS_TO },
    });
    deps.sms.failingTo.add(SMS_TO);
    const first = await withoutPauses(run);
    deps.sms.failingTo.clear();

    // Act
    const retried = await run();
    const again = await run();

    // Assess
    expect(first).toMatchObject({
      sent: ['onCall'],
      failed: [{ channel: 'recipient', reason: SNS_FAILURE }],
    });
    expect(retried.sent).toEqual(['recipient']);
    expect(again.sent).toEqual([]);
    expect(deps.sms.sent.map((m) => m.to)).toEqual(['on-call', SMS_TO]);
    const stored = await message();
    expect(Object.keys(stored.notified).sort()).toEqual([
      'onCall',
      'recipient',
    ]);
    expect(stored.timeline.filter((e) => e.event === 'escalated')).toHaveLength(
      1
    );
    expect(
      stored.timeline
        .filter((e) => e.event.startsWith('sms-'))
        .map((e) => `${e.event} ${e.detail}`)
    ).toEqual([
      'sms-sent to the on-call topic',
      `sms-failed to the recipient at ${SMS_TO}: ${SNS_FAILURE}`,
      `sms-sent to the recipient at ${SMS_TO}`,
    ]);
  });
});
