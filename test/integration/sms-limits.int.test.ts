import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalSystem, startLocalSystem } from '../../local/system.ts';
import {
  api,
  eventually,
  newRegistrationId,
  newUserId,
  seedSession,
} from '../helpers/local-system.ts';

// The SMS limits and the on-call grouping in local mode: the synthesized
// state machine and schedules, dynalite, the JPush simulator over HTTP.
// Policy time runs 10 times faster: the 5-minute on-call window takes 30 s,
// the summary's 1-minute schedule 6 s (faster, and a loaded machine spreads
// 20 escalations over more than a minute of policy time).
const TIME_SCALE = 0.1;
const ON_CALL = '+8613800000100';
const POLICY_MINUTE_MS = 60_000 * TIME_SCALE;

let system: LocalSystem;

beforeAll(async () => {
  system = await startLocalSystem({
    timeScale: TIME_SCALE,
    onCallPhoneNumbers: [ON_CALL],
  });
});

afterAll(async () => {
  await system?.close();
});

interface View {
  status: string;
  timeline: { at: string; event: string; detail?: string }[];
}

const view = async (messageId: string): Promise<View> =>
  (await api(system, 'GET', `/v1/messages/${messageId}`)).json as View;

/** A user logged in on a phone that gets pushes but never ACKs. */
const silentUser = async () => {
  const user = newUserId('pager');
  const rid = newRegistrationId();
  system.simulator?.setDevice(rid, { online: true, autoAck: false });
  await seedSession(system, user, rid);
  return user;
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('SMS limits and on-call grouping (local mode)', () => {
  it('pages the on-call person at most twice for 20 escalations within one minute, and every escalation shows in its timeline', async () => {
    // Prepare
    const user = await silentUser();
    const onCallSms = () => system.sms.list().filter((s) => s.to === ON_CALL);
    const before = onCallSms().length;

    // Act: 20 messages at once, each escalating after one unacknowledged
    // attempt (their escalations come within one minute of policy time).
    const ids = await Promise.all(
      Array.from({ length: 20 }, async (_, i) => {
        const res = await api(system, 'POST', '/v1/messages', {
          to: user,
          body: `Disk ${i} failing`,
          policy: { intervalSeconds: 1, maxAttempts: 1 },
        });
        expect(res.status).toBe(202);
        return res.json.messageId as string;
      })
    );
    const views = await eventually(
      async () => {
        const all = await Promise.all(ids.map(view));
        return all.every((v) => v.status === 'escalated') ? all : undefined;
      },
      'every message escalated',
      30_000
    );
    const summary = await eventually(
      () =>
        onCallSms()
          .slice(before)
          .find((s) => s.text.includes('more')),
      'the summary SMS at the window end',
      60_000
    );
    // Nothing more comes for this window.
    await sleep(2 * POLICY_MINUTE_MS);
    const sent = onCallSms().slice(before);
    const ended = await Promise.all(ids.map(view));

    // Assess
    const escalatedAt = views.map((v) =>
      Date.parse(v.timeline.find((e) => e.event === 'escalated')?.at ?? '')
    );
    const spanMs = Math.max(...escalatedAt) - Math.min(...escalatedAt);
    console.log(
      `on-call grouping: ${ids.length} escalations within ${(spanMs / POLICY_MINUTE_MS).toFixed(2)} policy minute(s) gave ${sent.length} on-call SMS`
    );
    expect(spanMs).toBeLessThanOrEqual(POLICY_MINUTE_MS);
    expect(sent.length).toBeLessThanOrEqual(2);
    expect(sent).toHaveLength(2);
    expect(summary.text).toMatch(
      /^Push not acknowledged: 19 more message\(s\) in the 5 min after m\w+ \(\d\d:\d\d-\d\d:\d\d UTC\): m\w+, m\w+, m\w+ and 16 more\. Window w\w+-\w+\.$/
    );
    for (const v of ended) {
      const events = v.timeline.map((e) => e.event);
      expect(events).toContain('escalated');
      expect(
        events.filter((e) => e === 'sms-sent' || e === 'sms-grouped')
      ).toHaveLength(1);
    }
    expect(
      ended.filter((v) => v.timeline.some((e) => e.event === 'sms-grouped'))
    ).toHaveLength(19);
    expect(sent.map((s) => s.text).join('\n')).not.toContain('Disk');
  }, 120_000);

  it('holds back the recipient SMS past 5 an hour to one number, as sms-suppressed', async () => {
    // Prepare
    const user = await silentUser();
    const smsTo = '+8613912345678';

    // Act
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) {
      const res = await api(system, 'POST', '/v1/messages', {
        to: user,
        body: `Reminder ${i}`,
        policy: { intervalSeconds: 1, maxAttempts: 1 },
        escalation: { onCall: false, smsTo },
      });
      ids.push(res.json.messageId);
    }
    const views = await eventually(
      async () => {
        const all = await Promise.all(ids.map(view));
        const settled = all.every((v) =>
          v.timeline.some(
            (e) => e.event === 'sms-sent' || e.event === 'sms-suppressed'
          )
        );
        return settled ? all : undefined;
      },
      'every escalation SMS sent or held back',
      30_000
    );

    // Assess
    expect(system.sms.list().filter((s) => s.to === smsTo)).toHaveLength(5);
    const held = views.flatMap((v) =>
      v.timeline.filter((e) => e.event === 'sms-suppressed')
    );
    expect(held).toEqual([
      expect.objectContaining({
        detail:
          "to the recipient's number: the number had its 5 SMS of this hour (the smsPerNumberPerHour limit)",
      }),
    ]);
    expect(JSON.stringify(views)).not.toContain(smsTo);
  }, 60_000);

  it('refuses an smsTo outside the on-call numbers\u2019 countries with a 400 that says why, and stores nothing', async () => {
    // Act
    const premium = await api(system, 'POST', '/v1/messages', {
      to: 'nobody_here',
      body: 'x',
      escalation: { smsTo: '+88212345678' },
    });
    const abroad = await api(system, 'POST', '/v1/messages', {
      to: 'nobody_here',
      body: 'x',
      escalation: { smsTo: '+12025550123' },
    });
    const history = await api(system, 'GET', '/v1/users/nobody_here/messages');

    // Assess
    expect(premium.status).toBe(400);
    expect(premium.json.error.message).toBe(
      'Invalid request body: escalation.smsTo +88212345678 is not a phone number of any country (numbers of international and premium networks are refused).'
    );
    expect(abroad.status).toBe(400);
    expect(abroad.json.error.message).toBe(
      'Invalid request body: escalation.smsTo +12025550123 is in US, and SMS go only to CN (the smsCountries setting).'
    );
    expect(history.json.items).toEqual([]);
  });
});
