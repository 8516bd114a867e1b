import { describe, expect, it } from 'vitest';
import {
  BatchedCids,
  CID_BATCH,
} from '../../../functions/adapters/batched-cids.ts';
import { JPushPacedError } from '../../../functions/domain/jpush.ts';
import { RecordingJPush } from '../../helpers/recording-jpush.ts';

const HOUR_MS = 3_600_000;

/** A cid source over a recording JPush, with a clock that moves when told. */
const prepare = () => {
  const jpush = new RecordingJPush();
  let now = Date.parse('2026-11-27T08:00:00.000Z');
  const cids = new BatchedCids(jpush, () => now);
  return {
    jpush,
    cids,
    advance: (ms: number) => {
      now += ms;
    },
  };
};

describe('BatchedCids', () => {
  it('fetches 1000 cids in one call and hands them out one by one, in order', async () => {
    // Prepare
    const { jpush, cids } = prepare();

    // Act
    const taken: string[] = [];
    for (let i = 0; i < 5; i++) taken.push(await cids.next());

    // Assess
    expect(jpush.cidRequests).toEqual([CID_BATCH]);
    expect(CID_BATCH).toBe(1000);
    expect(taken).toEqual(
      [1, 2, 3, 4, 5].map((n) => `8103a4c628a0b98974ec1949-cid-${n}`)
    );
  });

  it('fetches the next batch when one is used up', async () => {
    // Prepare
    const { jpush, cids } = prepare();

    // Act
    const taken = new Set<string>();
    for (let i = 0; i < CID_BATCH + 1; i++) taken.add(await cids.next());

    // Assess
    expect(jpush.cidRequests).toEqual([CID_BATCH, CID_BATCH]);
    expect(taken.size).toBe(CID_BATCH + 1);
  });

  it('lets concurrent callers share one fetch, each with its own cid', async () => {
    // Prepare
    const { jpush, cids } = prepare();

    // Act
    const taken = await Promise.all(
      Array.from({ length: 20 }, () => cids.next())
    );

    // Assess
    expect(jpush.cidRequests).toEqual([CID_BATCH]);
    expect(new Set(taken).size).toBe(20);
  });

  it('fetches anew after 20 hours, well before a cid’s day ends', async () => {
    // Prepare
    const { jpush, cids, advance } = prepare();
    await cids.next();

    // Act
    advance(20 * HOUR_MS);
    const stillFresh = await cids.next();
    advance(1);
    const afterTwentyHours = await cids.next();

    // Assess
    expect(stillFresh).toBe('8103a4c628a0b98974ec1949-cid-2');
    expect(afterTwentyHours).toBe(
      `8103a4c628a0b98974ec1949-cid-${CID_BATCH + 1}`
    );
    expect(jpush.cidRequests).toEqual([CID_BATCH, CID_BATCH]);
  });

  it('fails every waiting caller when the fetch fails, and tries again on the next call', async () => {
    // Prepare
    const { jpush, cids } = prepare();
    const paced = new JPushPacedError('used up (shared pacing; not sent)', {
      rateLimit: { remaining: 0, resetSeconds: 9 },
    });
    const getCids = jpush.getCids.bind(jpush);
    let failures = 1;
    jpush.getCids = async (count) => {
      if (failures-- > 0) throw paced;
      return getCids(count);
    };

    // Act
    const waiting = await Promise.allSettled([cids.next(), cids.next()]);
    const later = await cids.next();

    // Assess
    expect(waiting).toEqual([
      { status: 'rejected', reason: paced },
      { status: 'rejected', reason: paced },
    ]);
    expect(later).toBe('8103a4c628a0b98974ec1949-cid-1');
  });

  it('refuses an empty batch', async () => {
    // Prepare
    const { jpush, cids } = prepare();
    jpush.getCids = async () => [];

    // Act
    const next = cids.next();

    // Assess
    await expect(next).rejects.toThrow('JPush returned no cids.');
  });
});
