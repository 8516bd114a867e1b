import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BusEvent } from '../../local/event-bus.ts';
import { type LocalSystem, startLocalSystem } from '../../local/system.ts';
import { api, eventually, newUserId } from '../helpers/local-system.ts';

// A flood of sends at once through local mode (the synthesized HTTP API,
// the streams' proxy in front of dynalite, the outcome-events consumer):
// every send is answered as the contract says, none with a 5xx, and every
// accepted message is whole. 200 sends to logged-out users: each is stored
// (a write of the message and one of the offline store), which loads the
// send path and the stream without starting delivery cycles. Before the
// local clients could open more than the SDK's 50 sockets, a burst like
// this waited for a socket past the 2 s connection timeout and got 500s.
const SENDS = 200;

let system: LocalSystem;

beforeAll(async () => {
  system = await startLocalSystem({ timeScale: 1 });
});

afterAll(async () => {
  await system?.close();
});

describe('a flood of sends at once (local system, dynalite behind the streams proxy)', () => {
  it('answers every one of 200 sends with 202 stored, none with a 5xx, and stores each message whole with its outcome event', async () => {
    // Prepare
    const users = Array.from({ length: SENDS }, () => newUserId('flood'));

    // Act
    const answers = await Promise.all(
      users.map((to, i) =>
        api(system, 'POST', '/v1/messages', {
          to,
          body: `flood ${i}`,
          idempotencyKey: `flood-${to}`,
        })
      )
    );

    // Assess: the answers, then each message and its event.
    const statuses = answers.map((a) => a.status);
    expect(statuses.filter((s) => s >= 500)).toEqual([]);
    expect(statuses.every((s) => s === 202)).toBe(true);
    const ids = answers.map((a) => a.json.messageId as string);
    expect(new Set(ids).size).toBe(SENDS);
    expect(answers.every((a) => a.json.status === 'stored')).toBe(true);
    const views = await Promise.all(
      ids.map((id) => api(system, 'GET', `/v1/messages/${id}`))
    );
    views.forEach((view, i) => {
      expect(view.status).toBe(200);
      expect(view.json).toMatchObject({
        messageId: ids[i],
        to: users[i],
        body: `flood ${i}`,
        status: 'stored',
      });
    });
    const stored = await eventually(
      async () => {
        const { json } = await api(system, 'GET', '/local/events');
        const list = (json as BusEvent[])
          .filter((e) => e['detail-type'] === 'Message Stored')
          .map((e) => e.detail.messageId);
        return ids.every((id) => list.includes(id)) ? list : undefined;
      },
      `a Message Stored event for each of the ${SENDS} messages`,
      60_000
    );
    expect(new Set(stored.filter((id) => ids.includes(id))).size).toBe(SENDS);
  }, 120_000);
});
