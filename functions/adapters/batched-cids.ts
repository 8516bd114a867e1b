import type { JPushPort } from '../domain/jpush.ts';
import type { CidSource } from '../domain/ports.ts';

/** JPush hands out at most this many cids per call (reference §2.9). */
export const CID_BATCH = 1000;
/** A cid is valid for a day; fetch anew well before. */
const CID_MAX_AGE_MS = 20 * 3_600_000;

/**
 * cids fetched from JPush in batches of {@link CID_BATCH} and handed out one
 * per push, so a push costs one call, not two. The batch lives in this
 * process (a Lambda container, or the local system); concurrent callers
 * share one fetch. A cid is used once: an unused remainder is simply
 * forgotten when the process ends.
 */
export class BatchedCids implements CidSource {
  #cids: string[] = [];
  #fetchedAt = 0;
  #fetching: Promise<void> | undefined;

  /**
   * @param jpush the JPush client (its cid calls count against the push limit)
   * @param now ms clock
   */
  constructor(
    private readonly jpush: Pick<JPushPort, 'getCids'>,
    private readonly now: () => number = Date.now
  ) {}

  async next(): Promise<string> {
    for (;;) {
      if (this.now() - this.#fetchedAt > CID_MAX_AGE_MS) this.#cids = [];
      const cid = this.#cids.pop();
      if (cid !== undefined) return cid;
      this.#fetching ??= this.#fetch().finally(() => {
        this.#fetching = undefined;
      });
      await this.#fetching;
    }
  }

  async #fetch(): Promise<void> {
    const cids = await this.jpush.getCids(CID_BATCH);
    if (cids.length === 0) throw new Error('JPush returned no cids.');
    this.#cids = [...cids].reverse();
    this.#fetchedAt = this.now();
  }
}
