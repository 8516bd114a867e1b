import { describe, expect, it } from 'vitest';
import { InvalidCursorError } from '../../../functions/domain/errors.ts';
import { listHistory } from '../../../functions/domain/history.ts';
import { sendMessage } from '../../../functions/domain/send-message.ts';
import { signingKeys } from '../../../functions/domain/signing-keys.ts';
import { inMemoryDeps } from '../../helpers/fakes.ts';

const prepare = () => {
  const deps = inMemoryDeps();
  const send = async (input: Parameters<typeof sendMessage>[0]) => {
    const { messageId } = await sendMessage(input, deps);
    deps.clock.advance(1000);
    return messageId;
  };
  return { deps, send };
};

describe('listHistory', () => {
  it('returns every message exactly once across pages, newest first', async () => {
    // Prepare
    const { deps, send } = prepare();
    const ids: string[] = [];
    for (let i = 0; i < 7; i++) {
      ids.push(
        i % 2 === 0
          ? await send({ to: 'user_a', body: `notice ${i}` })
          : await send({ to: 'user_b', from: 'user_a', body: `chat ${i}` })
      );
    }
    await send({ to: 'user_b', body: 'not in user_a’s history' });

    // Act
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await listHistory(
        'user_a',
        { limit: 3, ...(cursor === undefined ? {} : { cursor }) },
        deps
      );
      seen.push(...page.items.map((item) => item.messageId));
      cursor = page.nextCursor;
      pages += 1;
    } while (cursor !== undefined);

    // Assess
    expect(pages).toBe(3);
    expect(seen).toEqual([...ids].reverse());
  });

  it('summarises each message with its direction and the status the status route shows', async () => {
    // Prepare
    const { deps, send } = prepare();
    const chat = await send({
      to: 'user_b',
      from: 'user_a',
      title: 'Lunch?',
      body: 'At noon.',
    });
    const notice = await send({
      to: 'user_a',
      body: 'Order 1009 shipped',
      policy: { expiresInSeconds: 60 },
    });
    deps.clock.advance(120_000);

    // Act
    const sender = await listHistory('user_a', { limit: 10 }, deps);
    const recipient = await listHistory('user_b', { limit: 10 }, deps);

    // Assess
    expect(sender.nextCursor).toBeUndefined();
    expect(sender.items).toEqual([
      {
        messageId: notice,
        direction: 'in',
        to: 'user_a',
        body: 'Order 1009 shipped',
        status: 'expired',
        createdAt: expect.any(String),
        updatedAt: expect.any(String),
      },
      {
        messageId: chat,
        direction: 'out',
        to: 'user_b',
        from: 'user_a',
        title: 'Lunch?',
        body: 'At noon.',
        status: 'stored',
        createdAt: expect.any(String),
        updatedAt: expect.any(String),
      },
    ]);
    expect(recipient.items).toEqual([
      expect.objectContaining({ messageId: chat, direction: 'in' }),
    ]);
  });

  it('answers an empty history with one empty page and no cursor', async () => {
    // Prepare
    const { deps } = prepare();

    // Act
    const page = await listHistory('user_nobody', { limit: 50 }, deps);

    // Assess
    expect(page).toEqual({ items: [] });
  });

  it('rejects a cursor it did not make', async () => {
    // Prepare
    const { deps, send } = prepare();
    await send({ to: 'user_a', body: 'hello' });

    // Act
    const listing = listHistory(
      'user_a',
      { limit: 10, cursor: 'not-a-cursor' },
      deps
    );

    // Assess
    await expect(listing).rejects.toBeInstanceOf(InvalidCursorError);
  });

  it('refuses a cursor altered, given to another user, or signed by a key no longer accepted; accepts one of an older key still listed', async () => {
    // Prepare
    const { deps, send } = prepare();
    for (let i = 0; i < 3; i++) await send({ to: 'user_a', body: `n ${i}` });
    const first = await listHistory('user_a', { limit: 1 }, deps);
    const cursor = first.nextCursor as string;
    const [version, inner, mac] = cursor.split('.') as [string, string, string];
    const old = await deps.cursorKeys.keys();
    const newKey = Buffer.from('test-only-second-cursor-key-not-a-secret');
    const rotated = {
      keys: async () =>
        signingKeys({ version: '2', key: newKey }, old.accepted.entries()),
    };
    const retired = {
      keys: async () => signingKeys({ version: '2', key: newKey }),
    };
    const page = (c: string, user = 'user_a', keys = deps.cursorKeys) =>
      listHistory(user, { limit: 1, cursor: c }, { ...deps, cursorKeys: keys });

    // Act
    const refused = await Promise.allSettled([
      page(
        `${version}.${Buffer.from('{"u":"user_a","k":""}').toString('base64url')}.${mac}`
      ),
      page(`${version}.${inner}.${mac.slice(1)}A`),
      page(`9.${inner}.${mac}`),
      page(cursor, 'user_b'),
      page(cursor, 'user_a', retired),
      page(`${cursor}.x`),
      page(''),
    ]);
    const withOldKey = await page(cursor, 'user_a', rotated);

    // Assess
    expect(cursor).toMatch(/^1\.[\w-]+\.[\w-]{43}$/);
    for (const result of refused) {
      expect(result.status).toBe('rejected');
      expect((result as PromiseRejectedResult).reason).toBeInstanceOf(
        InvalidCursorError
      );
    }
    expect(withOldKey.items).toHaveLength(1);
    expect(withOldKey.nextCursor?.startsWith('2.')).toBe(true);
  });
});
