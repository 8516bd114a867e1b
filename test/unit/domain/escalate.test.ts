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
      suppressed: [],
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
        // Ids and counts: neither the user nor their text.
        text: `Push not acknowledged: message ${messageId} after 3 attempt(s). More within 5 min come as one summary.`,
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

  it('writes the on-call text from the ids and the attempts, with the title only when the settings ask', async () => {
    // Prepare
    const { deps, message } = await prepare({
      title:
        'Door open at the north gate, and this title goes on and on and on',
      body: 'Secret body',
    });
    const stored = await message();

    // Act
    const plain = onCallText(stored, 2, deps.smsSettings);
    const titled = onCallText(stored, 2, {
      ...deps.smsSettings,
      onCallIncludesTitle: true,
      onCallWindowSeconds: 90,
    });

    // Assess
    expect(plain).toBe(
      `Push not acknowledged: message ${stored.messageId} after 2 attempt(s). More within 5 min come as one summary.`
    );
    expect(titled).toBe(
      `Push not acknowledged: message ${stored.messageId} after 2 attempt(s). Title: "Door open at the north gate, and this title goes on and o...". More within 90 s come as one summary.`
    );
    expect(`${plain}${titled}`).not.toContain('Secret body');
    expect(`${plain}${titled}`).not.toContain('user_42');
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
      detail: "to the recipient's number",
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
    expect(result).toEqual({
      outcome: 'done',
      sent: [],
      failed: [],
      suppressed: [],
    });
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
      suppressed: [],
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
      suppressed: [],
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
      `sms-failed to the recipient's number: ${SNS_FAILURE}`,
      "sms-sent to the recipient's number",
    ]);
  });
});

describe('escalate within the SMS limits', () => {
  /**
   * Messages to one recipient, escalated one after another on one set of
   * deps (the same limits and on-call windows).
   */
  const many = async (
    n: number,
    input: Partial<SendMessageInput> = {},
    gapMs = 1_000
  ) => {
    const deps = inMemoryDeps();
    await deps.sessions.put({
      userId: 'user_42',
      registrationId: RID,
      platform: 'android',
      since: '2026-11-27T07:00:00.000Z',
    });
    const ids: string[] = [];
    for (let i = 0; i < n; i++) {
      const { messageId } = await sendMessage(
        { to: 'user_42', body: `Alert ${i}`, ...input },
        deps
      );
      ids.push(messageId);
    }
    const escalateNext = async (i: number) => {
      deps.clock.advance(gapMs);
      return escalate(
        { messageId: ids[i] as string, delivery: 1, attempt: 3 },
        deps
      );
    };
    const timeline = async (i: number) =>
      ((await deps.messages.get(ids[i] as string))?.timeline ?? []).map(
        (e) => `${e.event}${e.detail ? ` ${e.detail}` : ''}`
      );
    return { deps, ids, escalateNext, timeline };
  };

  it('pages the on-call person for the first escalation and groups the next ones of its window', async () => {
    // Prepare
    const { deps, escalateNext, timeline } = await many(3);

    // Act
    const results = [
      await escalateNext(0),
      await escalateNext(1),
      await escalateNext(2),
    ];

    // Assess
    expect(results.map((r) => r.sent)).toEqual([['onCall'], [], []]);
    expect(results.map((r) => r.groupedIn)).toEqual([undefined, 'w1', 'w1']);
    expect(deps.sms.sent).toHaveLength(1);
    expect(await timeline(1)).toEqual(
      expect.arrayContaining([
        'escalated not acknowledged after 3 attempt(s)',
        'sms-grouped in the on-call summary of window w1, sent when it closes at 2026-11-27T08:05:01.000Z',
      ])
    );
  });

  it('pages again once the window has closed', async () => {
    // Prepare: 5 minutes apart.
    const { deps, escalateNext } = await many(2, {}, 300_000);

    // Act
    await escalateNext(0);
    const second = await escalateNext(1);

    // Assess
    expect(second.sent).toEqual(['onCall']);
    expect(deps.sms.sent).toHaveLength(2);
  });

  it('holds back the recipient SMS past the hourly rate of the number, and lets it through the next hour', async () => {
    // Prepare: 7 messages a minute apart with one number, on-call off.
    const { deps, ids, escalateNext, timeline } = await many(
      7,
      { escalation: { onCall: false, smsTo: SMS_TO } },
      60_000
    );

    // Act
    const results = [];
    for (let i = 0; i < 6; i++) results.push(await escalateNext(i));
    deps.clock.advance(3_600_000);
    const nextHour = await escalateNext(6);

    // Assess
    expect(results.map((r) => r.sent.length)).toEqual([1, 1, 1, 1, 1, 0]);
    expect(results[5]?.suppressed).toEqual([
      { channel: 'recipient', reason: 'number-rate' },
    ]);
    expect((await timeline(5)).at(-1)).toBe(
      "sms-suppressed to the recipient's number: the number had its 5 SMS of this hour (the smsPerNumberPerHour limit)"
    );
    expect(nextHour.sent).toEqual(['recipient']);
    expect(deps.sms.sent.map((s) => s.to)).toEqual(Array(6).fill(SMS_TO));
    // Held back for good: a retried step does not send it later.
    const retried = await escalate(
      { messageId: ids[5] as string, delivery: 1, attempt: 3 },
      deps
    );
    expect(retried.sent).toEqual([]);
    expect(retried.suppressed).toEqual([]);
  });

  it('holds back every SMS past the daily cap, on-call pages included', async () => {
    // Prepare: a cap of 2, windows of 1 s (so each escalation would page).
    const { deps, escalateNext, timeline } = await many(
      2,
      { escalation: { smsTo: SMS_TO } },
      5_000
    );
    deps.smsSettings = {
      ...deps.smsSettings,
      dailyCap: 2,
      onCallWindowSeconds: 1,
    };

    // Act
    const first = await escalateNext(0);
    const second = await escalateNext(1);

    // Assess
    expect(first.sent).toEqual(['onCall', 'recipient']);
    expect(second.sent).toEqual([]);
    expect(second.suppressed).toEqual([
      { channel: 'onCall', reason: 'daily-cap' },
      { channel: 'recipient', reason: 'daily-cap' },
    ]);
    expect((await timeline(1)).filter((e) => e.startsWith('sms-'))).toEqual([
      'sms-suppressed to the on-call topic: the 2 SMS of today are spent (the smsDailyCap limit)',
      "sms-suppressed to the recipient's number: the 2 SMS of today are spent (the smsDailyCap limit)",
    ]);
    expect(deps.sms.sent).toHaveLength(2);
  });
});
