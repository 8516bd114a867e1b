/** Fixed one-minute windows per API family (reference §1.5). Pure. */

import type { ApiFamily } from './types.ts';

export type { ApiFamily };

/** What the `X-Rate-Limit-*` headers say after a call. */
export interface RateLimitState {
  limit: number;
  remaining: number;
  /** Seconds until the window resets (not an epoch time). */
  resetSeconds: number;
  /** false when this call is over the limit. */
  allowed: boolean;
}

const WINDOW_MS = 60_000;

/** Counts calls per family in one-minute windows. */
export class RateLimiter {
  readonly #windows = new Map<ApiFamily, { start: number; count: number }>();
  readonly #now: () => number;

  /** @param now ms clock */
  constructor(now: () => number) {
    this.#now = now;
  }

  /**
   * Count a call (when `consume`) and report the window's state.
   * @param family the API family
   * @param limit calls allowed per minute
   * @param consume false to only peek (e.g. for a 401)
   */
  hit(family: ApiFamily, limit: number, consume = true): RateLimitState {
    const now = this.#now();
    let window = this.#windows.get(family);
    if (!window || now - window.start >= WINDOW_MS || now < window.start) {
      window = { start: now, count: 0 };
      this.#windows.set(family, window);
    }
    const allowed = !consume || window.count < limit;
    if (consume && allowed) window.count += 1;
    return {
      limit,
      remaining: Math.max(0, limit - window.count),
      resetSeconds: Math.max(
        1,
        Math.ceil((window.start + WINDOW_MS - now) / 1000)
      ),
      allowed,
    };
  }
}
