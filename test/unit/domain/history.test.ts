import { describe, expect, it } from 'vitest';
import { InvalidCursorError } from '../../../functions/domain/errors.ts';
import { listHistory } from '../../../functions/domain/history.ts';
import { sendMessage } from '../../../functions/domain/send-message.ts';
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
});
