import { describe, expect, it } from 'vitest';
import {
  ConflictError,
  ValidationError,
} from '../../../functions/domain/errors.ts';
import {
  executionName,
  POLICY_LIMITS,
  resolvePolicy,
  SendMessageInput,
} from '../../../functions/domain/message.ts';
import type {
  DeliveryRequest,
  DeliveryStarter,
  Session,
} from '../../../functions/domain/ports.ts';
import { sendMessage } from '../../../functions/domain/send-message.ts';
import { parseWith } from '../../../functions/shared/http.ts';
import { inMemoryDeps } from '../../helpers/fakes.ts';

const session = (userId: string, registrationId: string): Session => ({
  userId,
  registrationId,
  platform: 'android',
  since: '2026-11-27T07:00:00.000Z',
});

/** The error message the API would answer for this body. */
const validationMessage = (body: unknown): string => {
  try {
    parseWith(SendMessageInput, body, 'body');
  } catch (error) {
    if (error instanceof ValidationError) return error.message;
    throw error;
  }
  throw new Error('expected the body to be rejected');
};

describe('SendMessageInput', () => {
  it('accepts a minimal message with only to and body', () => {
    // Prepare
    const body = { to: 'user_42', body: 'Your parcel left the warehouse.' };

    // Act
    const result = SendMessageInput.safeParse(body);

    // Assess
    expect(result.success).toBe(true);
  });

  it('rejects a recipient that cannot be a JPush alias, saying why', () => {
    // Prepare
    const tooLong = 'u'.repeat(41);

    // Act
    const spaces = validationMessage({ to: 'user 42', body: 'hi' });
    const long = validationMessage({ to: tooLong, body: 'hi' });
    const empty = validationMessage({ to: '', body: 'hi' });
    const missing = validationMessage({ body: 'hi' });
    const slash = validationMessage({ to: 'user/42', body: 'hi' });

    // Assess
    expect(slash).toContain('to: may contain only letters, digits');
    expect(spaces).toContain('to: may contain only letters, digits');
    expect(long).toContain('to: must be at most 40 bytes');
    expect(empty).toContain('to: must not be empty');
    expect(missing).toContain('to: is required');
  });

  it('counts the alias limit in bytes, not characters', () => {
    // Prepare: 14 CJK characters are 42 bytes in UTF-8.
    const cjk = '用'.repeat(14);

    // Act
    const message = validationMessage({ to: cjk, body: 'hi' });

    // Assess
    expect(message).toContain('at most 40 bytes');
    expect(SendMessageInput.safeParse({ to: '用户', body: 'hi' }).success).toBe(
      true
    );
  });

  it('rejects an empty or missing body', () => {
    // Act
    const empty = validationMessage({ to: 'user_42', body: '' });
    const missing = validationMessage({ to: 'user_42' });

    // Assess
    expect(empty).toBe('Invalid request body: body: must not be empty.');
    expect(missing).toBe('Invalid request body: body: is required.');
  });

  it('names unknown fields, also inside policy and escalation', () => {
    // Act
    const top = validationMessage({ to: 'u1', body: 'hi', priority: 'high' });
    const nested = validationMessage({
      to: 'u1',
      body: 'hi',
      policy: { retries: 5 },
    });

    // Assess
    expect(top).toContain('unknown field(s) "priority"');
    expect(nested).toContain('policy: unknown field(s) "retries"');
  });

  it('enforces the policy limits with the limit in the message', () => {
    // Act
    const interval = validationMessage({
      to: 'u1',
      body: 'hi',
      policy: { intervalSeconds: 0 },
    });
    const attempts = validationMessage({
      to: 'u1',
      body: 'hi',
      policy: { maxAttempts: 21 },
    });
    const expiry = validationMessage({
      to: 'u1',
      body: 'hi',
      policy: { expiresInSeconds: 864_001 },
    });
    const fraction = validationMessage({
      to: 'u1',
      body: 'hi',
      policy: { maxAttempts: 1.5 },
    });
    const text = validationMessage({
      to: 'u1',
      body: 'hi',
      policy: { maxAttempts: '3' },
    });

    // Assess
    expect(interval).toContain('policy.intervalSeconds: must be at least 1');
    expect(attempts).toContain('policy.maxAttempts: must be at most 20');
    expect(expiry).toContain('policy.expiresInSeconds: must be at most 864000');
    expect(fraction).toContain('policy.maxAttempts: must be a whole number');
    expect(text).toContain('policy.maxAttempts: must be a number');
  });

  it('accepts the confirmation policies and names them for any other value', () => {
    // Act
    const accepted = ['ack', 'report', 'ackOrReport'].map(
      (confirmBy) =>
        SendMessageInput.safeParse({
          to: 'u1',
          body: 'hi',
          policy: { confirmBy },
        }).success
    );
    const other = validationMessage({
      to: 'u1',
      body: 'hi',
      policy: { confirmBy: 'ACK' },
    });
    const text = validationMessage({
      to: 'u1',
      body: 'hi',
      policy: { confirmBy: 1 },
    });

    // Assess
    expect(accepted).toEqual([true, true, true]);
    expect(other).toContain(
      'policy.confirmBy: must be one of "ack", "report", "ackOrReport"'
    );
    expect(text).toContain('policy.confirmBy: must be one of');
  });

  it('rejects an escalation number that is not E.164', () => {
    // Act
    const local = validationMessage({
      to: 'u1',
      body: 'hi',
      escalation: { smsTo: '13800000000' },
    });

    // Assess
    expect(local).toContain(
      'escalation.smsTo: must be a phone number in E.164 form'
    );
    expect(
      SendMessageInput.safeParse({
        to: 'u1',
        body: 'hi',
        escalation: { smsTo: '+8613800000000' },
      }).success
    ).toBe(true);
  });

  it('lists every wrong field in one message', () => {
    // Act
    const message = validationMessage({ to: 7, body: '' });

    // Assess
    expect(message).toContain('to: must be a string');
    expect(message).toContain('body: must not be empty');
  });
});

describe('resolvePolicy', () => {
  it('fills every missing value with its default', () => {
    // Act
    const none = resolvePolicy(undefined);
    const partial = resolvePolicy({ maxAttempts: 5 });

    // Assess
    expect(none).toEqual({
      intervalSeconds: 60,
      maxAttempts: 3,
      expiresInSeconds: 86_400,
      confirmBy: 'ack',
    });
    expect(partial).toEqual({
      intervalSeconds: POLICY_LIMITS.intervalSeconds.default,
      maxAttempts: 5,
      expiresInSeconds: POLICY_LIMITS.expiresInSeconds.default,
      confirmBy: 'ack',
    });
  });

  it('keeps the confirmation policy asked for', () => {
    // Act
    const report = resolvePolicy({ confirmBy: 'report' });
    const either = resolvePolicy({ confirmBy: 'ackOrReport' });

    // Assess
    expect(report.confirmBy).toBe('report');
    expect(either.confirmBy).toBe('ackOrReport');
  });
});

describe('sendMessage', () => {
  it('starts one delivery when the recipient has a session', async () => {
    // Prepare
    const deps = inMemoryDeps();
    await deps.sessions.put(session('user_42', 'rid0000001'));

    // Act
    const result = await sendMessage(
      { to: 'user_42', body: 'Order 1009 shipped' },
      deps
    );

    // Assess
    expect(result).toEqual({
      messageId: expect.any(String),
      status: 'sending',
      created: true,
    });
    expect(deps.deliveries.started).toEqual([
      {
        messageId: result.messageId,
        delivery: 1,
        intervalSeconds: 60,
        maxAttempts: 3,
      },
    ]);
    const stored = await deps.messages.get(result.messageId);
    expect(stored?.status).toBe('sending');
    expect(stored?.timeline.map((e) => e.event)).toEqual(['accepted']);
    expect(deps.offline.items.size).toBe(0);
  });

  it('stores the message with its policy, expiry and escalation defaults', async () => {
    // Prepare
    const deps = inMemoryDeps();
    await deps.sessions.put(session('user_42', 'rid0000001'));

    // Act
    const { messageId } = await sendMessage(
      {
        to: 'user_42',
        title: 'Order 1009',
        body: 'shipped',
        policy: { expiresInSeconds: 600 },
      },
      deps
    );

    // Assess
    const message = await deps.messages.get(messageId);
    expect(message).toMatchObject({
      to: 'user_42',
      policy: { intervalSeconds: 60, maxAttempts: 3, expiresInSeconds: 600 },
      escalationOnCall: true,
      escalationSmsTo: '',
      smsText: 'Order 1009: shipped',
      attempts: 0,
      delivery: 1,
      createdAt: '2026-11-27T08:00:00.000Z',
      expiresAt: '2026-11-27T08:10:00.000Z',
    });
  });

  it('records a chat message in the history of both users', async () => {
    // Prepare
    const deps = inMemoryDeps();
    await deps.sessions.put(session('user_42', 'rid0000001'));

    // Act
    const { messageId } = await sendMessage(
      { to: 'user_42', from: 'user_7', body: 'hello' },
      deps
    );

    // Assess
    expect(deps.history.entries).toEqual([
      {
        userId: 'user_42',
        messageId,
        createdAt: '2026-11-27T08:00:00.000Z',
        direction: 'in',
        // A day's life (the default): kept the retention after it.
        messageExpiresAt: '2026-11-28T08:00:00.000Z',
      },
      {
        userId: 'user_7',
        messageId,
        createdAt: '2026-11-27T08:00:00.000Z',
        direction: 'out',
        // A day's life (the default): kept the retention after it.
        messageExpiresAt: '2026-11-28T08:00:00.000Z',
      },
    ]);
    const message = await deps.messages.get(messageId);
    expect(message?.timeline[0]?.detail).toBe(
      'chat message from user_7 to user_42'
    );
  });

  it('keeps a message for a user with no session in the offline store and starts nothing', async () => {
    // Prepare
    const deps = inMemoryDeps();

    // Act
    const result = await sendMessage({ to: 'user_42', body: 'hi' }, deps);

    // Assess
    expect(result.status).toBe('stored');
    expect(deps.deliveries.started).toEqual([]);
    expect(await deps.offline.list('user_42')).toEqual([
      {
        userId: 'user_42',
        storedKey: `2026-11-27T08:00:00.000Z#${result.messageId}`,
        messageId: result.messageId,
        delivery: 1,
        expiresAt: '2026-11-28T08:00:00.000Z',
      },
    ]);
    const message = await deps.messages.get(result.messageId);
    expect(message?.status).toBe('stored');
    expect(message?.timeline.map((e) => e.event)).toEqual([
      'accepted',
      'stored',
    ]);
    expect(deps.history.entries).toHaveLength(1);
  });

  it('gives the same idempotency key one message and one delivery', async () => {
    // Prepare
    const deps = inMemoryDeps();
    await deps.sessions.put(session('user_42', 'rid0000001'));
    const input = {
      to: 'user_42',
      body: 'Order 1009 shipped',
      idempotencyKey: 'order-1009-shipped',
    };

    // Act
    const first = await sendMessage(input, deps);
    deps.clock.advance(5_000);
    const second = await sendMessage(input, deps);

    // Assess
    expect(second.messageId).toBe(first.messageId);
    expect(second.created).toBe(false);
    expect(deps.messages.items.size).toBe(1);
    expect(deps.deliveries.started).toHaveLength(1);
    expect(deps.history.entries).toHaveLength(1);
  });

  it('gives two concurrent requests with one key one message and one execution name', async () => {
    // Prepare
    const deps = inMemoryDeps();
    await deps.sessions.put(session('user_42', 'rid0000001'));
    const calls: DeliveryRequest[] = [];
    const starter: DeliveryStarter = {
      start: async (request) => {
        calls.push(request);
        await deps.deliveries.start(request);
      },
    };
    const input = { to: 'user_42', body: 'hi', idempotencyKey: 'same-key' };

    // Act
    const results = await Promise.all([
      sendMessage(input, { ...deps, deliveries: starter }),
      sendMessage(input, { ...deps, deliveries: starter }),
    ]);

    // Assess
    expect(results[0].messageId).toBe(results[1].messageId);
    expect(results.filter((r) => r.created)).toHaveLength(1);
    expect(deps.messages.items.size).toBe(1);
    expect(deps.deliveries.started).toHaveLength(1);
    // Every start asks for the same execution, which Step Functions runs once.
    expect(
      new Set(calls.map((c) => executionName(c.messageId, c.delivery)))
    ).toEqual(new Set([results[0].messageId]));
    expect(deps.history.entries).toHaveLength(1);
  });

  it('refuses a key used again for a different request with a conflict, and changes nothing', async () => {
    // Prepare
    const deps = inMemoryDeps();
    const first = await sendMessage(
      { to: 'user_42', body: 'hi', idempotencyKey: 'order-7' },
      deps
    );
    const before = structuredClone([...deps.messages.items.values()]);

    // Act
    const other = sendMessage(
      { to: 'user_43', body: 'hi', idempotencyKey: 'order-7' },
      deps
    );

    // Assess
    await expect(other).rejects.toBeInstanceOf(ConflictError);
    await expect(other).rejects.toThrow(first.messageId);
    expect([...deps.messages.items.values()]).toEqual(before);
    expect(deps.history.entries).toHaveLength(1);
  });

  it('replays the same request under its key whatever the order of its fields', async () => {
    // Prepare
    const deps = inMemoryDeps();
    const first = await sendMessage(
      {
        to: 'user_42',
        body: 'hi',
        data: { a: '1', b: '2' },
        idempotencyKey: 'order-8',
      },
      deps
    );

    // Act
    const again = await sendMessage(
      {
        idempotencyKey: 'order-8',
        data: { b: '2', a: '1' },
        body: 'hi',
        to: 'user_42',
      },
      deps
    );

    // Assess
    expect(again).toEqual({ ...first, created: false });
  });

  it('starts the delivery on retry when the first request died between storing and starting', async () => {
    // Prepare
    const deps = inMemoryDeps();
    await deps.sessions.put(session('user_42', 'rid0000001'));
    const crashing: DeliveryStarter = {
      start: async () => {
        throw new Error('Lambda timed out');
      },
    };
    const input = { to: 'user_42', body: 'hi', idempotencyKey: 'crash-key' };
    await expect(
      sendMessage(input, { ...deps, deliveries: crashing })
    ).rejects.toThrow('Lambda timed out');
    expect(deps.deliveries.started).toEqual([]);

    // Act
    const retry = await sendMessage(input, deps);

    // Assess
    expect(retry).toMatchObject({ status: 'sending', created: false });
    expect(deps.deliveries.started).toEqual([
      expect.objectContaining({ messageId: retry.messageId, delivery: 1 }),
    ]);
    expect(deps.messages.items.size).toBe(1);
  });

  it('does not start a new delivery for a repeated key once attempts began', async () => {
    // Prepare
    const deps = inMemoryDeps();
    await deps.sessions.put(session('user_42', 'rid0000001'));
    const input = { to: 'user_42', body: 'hi', idempotencyKey: 'k-2' };
    const first = await sendMessage(input, deps);
    await deps.messages.update(first.messageId, { set: { attempts: 1 } });
    const calls: DeliveryRequest[] = [];

    // Act
    await sendMessage(input, {
      ...deps,
      deliveries: { start: async (r) => void calls.push(r) },
    });

    // Assess
    expect(calls).toEqual([]);
  });

  it('puts a repeated stored message back in the offline store without starting it', async () => {
    // Prepare
    const deps = inMemoryDeps();
    const input = { to: 'user_42', body: 'hi', idempotencyKey: 'stored-key' };
    const first = await sendMessage(input, deps);
    deps.offline.items.clear();

    // Act
    const second = await sendMessage(input, deps);

    // Assess
    expect(second).toEqual({
      messageId: first.messageId,
      status: 'stored',
      created: false,
    });
    expect(await deps.offline.list('user_42')).toHaveLength(1);
    expect(deps.deliveries.started).toEqual([]);
  });

  it('gives different messages without a key different ids', async () => {
    // Prepare
    const deps = inMemoryDeps();

    // Act
    const a = await sendMessage({ to: 'u1', body: 'a' }, deps);
    const b = await sendMessage({ to: 'u1', body: 'a' }, deps);

    // Assess
    expect(a.messageId).not.toBe(b.messageId);
    expect(deps.messages.items.size).toBe(2);
  });
});

describe('user ids', () => {
  it("accepts API.md's example recipient and UUID user ids", () => {
    // Prepare
    const examples = ['user-42', '550e8400-e29b-41d4-a716-446655440000'];

    // Act
    const results = examples.map(
      (to) => SendMessageInput.safeParse({ to, body: 'hi' }).success
    );

    // Assess
    expect(results).toEqual([true, true]);
  });
});
