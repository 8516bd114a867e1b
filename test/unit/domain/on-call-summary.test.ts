import { afterEach, describe, expect, it, vi } from 'vitest';
import { escalate } from '../../../functions/domain/escalate.ts';
import {
  sendOnCallSummaries,
  summaryText,
} from '../../../functions/domain/on-call-summary.ts';
import { sendMessage } from '../../../functions/domain/send-message.ts';
import { inMemoryDeps } from '../../helpers/fakes.ts';

const RID = '1a0018970a9c2ce5b0';

/** `n` escalations 3 s apart (one minute in all for 20), on one set of deps. */
const escalations = async (n: number) => {
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
      { to: 'user_42', body: `Alert ${i}` },
      deps
    );
    ids.push(messageId);
  }
  for (const messageId of ids) {
    deps.clock.advance(3_000);
    await escalate({ messageId, delivery: 1, attempt: 3 }, deps);
  }
  return { deps, ids };
};

afterEach(() => {
  vi.useRealTimers();
});

describe('sendOnCallSummaries', () => {
  it('turns 20 escalations within a minute into one page and one summary', async () => {
    // Prepare
    const { deps, ids } = await escalations(20);
    const early = await sendOnCallSummaries(deps);
    deps.clock.advance(300_000);

    // Act
    const result = await sendOnCallSummaries(deps);
    const again = await sendOnCallSummaries(deps);

    // Assess
    expect(early.sent).toEqual([]);
    expect(result.sent).toEqual(['w1']);
    expect(again.sent).toEqual([]);
    expect(deps.sms.sent).toHaveLength(2);
    expect(deps.sms.sent[1]).toEqual({
      to: 'on-call',
      text: `Push not acknowledged: 19 more message(s) in the 5 min after ${ids[0]} (08:00-08:05 UTC): ${ids[1]}, ${ids[2]}, ${ids[3]} and 16 more. Window w1.`,
    });
    for (const id of ids) {
      const events = (await deps.messages.get(id))?.timeline.map(
        (e) => e.event
      );
      expect(events).toContain('escalated');
      expect(
        events?.filter((e) => e === 'sms-sent' || e === 'sms-grouped')
      ).toHaveLength(1);
    }
  });

  it('tries a summary whose publish failed again at the next run', async () => {
    // Prepare
    const { deps } = await escalations(2);
    deps.clock.advance(300_000);
    deps.sms.failNext = 3;
    vi.useFakeTimers({ toFake: ['setTimeout'] });
    const running = sendOnCallSummaries(deps);
    await vi.runAllTimersAsync();
    const failed = await running;

    // Act
    const next = await sendOnCallSummaries(deps);

    // Assess
    expect(failed.failed).toEqual([
      {
        windowId: 'w1',
        reason: 'InternalErrorException: Simulated SNS failure',
      },
    ]);
    expect(next.sent).toEqual(['w1']);
    expect(deps.sms.sent.map((s) => s.text)).toEqual([
      expect.stringMatching(/^Push not acknowledged: message /),
      expect.stringMatching(/^Push not acknowledged: 1 more message\(s\)/),
    ]);
  });

  it('holds a summary back for good when the daily cap is spent', async () => {
    // Prepare: the page took the only SMS of the day.
    const { deps } = await escalations(1);
    deps.smsSettings = { ...deps.smsSettings, dailyCap: 1 };
    const second = await sendMessage({ to: 'user_42', body: 'x' }, deps);
    await escalate(
      { messageId: second.messageId, delivery: 1, attempt: 3 },
      deps
    );
    deps.clock.advance(300_000);

    // Act
    const result = await sendOnCallSummaries(deps);
    const again = await sendOnCallSummaries(deps);

    // Assess
    expect(result.suppressed).toEqual([
      { windowId: 'w1', reason: 'daily-cap' },
    ]);
    expect(again).toEqual({ sent: [], suppressed: [], failed: [] });
    expect(deps.sms.sent).toHaveLength(1);
  });

  it('names every id when the window holds three or fewer', () => {
    // Act
    const text = summaryText(
      {
        windowId: 'w9',
        openedAt: '2026-11-27T08:00:00.000Z',
        closesAt: '2026-11-27T08:05:00.000Z',
        openedBy: 'm1',
        count: 2,
        messageIds: ['m2', 'm3'],
      },
      {
        perNumberPerHour: 5,
        dailyCap: 10,
        onCallWindowSeconds: 300,
        onCallIncludesTitle: false,
      }
    );

    // Assess
    expect(text).toBe(
      'Push not acknowledged: 2 more message(s) in the 5 min after m1 (08:00-08:05 UTC): m2, m3. Window w9.'
    );
  });
});
