/**
 * Fault settings and scripted faults: their defaults, merging, and which
 * scripted fault a request consumes. Pure apart from the scripted queue.
 */
import type { ApiFamily } from './rate-limit.ts';
import type { Faults, ScriptedFault } from './types.ts';

/** No faults; JPush's free-tier limits per minute (reference §1.5). */
export const DEFAULT_FAULTS: Faults = {
  rateLimitPerMinute: { push: 600, report: 2400, device: 600 },
  serverErrorRate: 0,
  latencyMs: 0,
  dropConnectionRate: 0,
};

/**
 * `base` with `partial` laid over it; per-family limits merge one by one.
 * @param base the current settings
 * @param partial the changes
 */
export const mergeFaults = (
  base: Faults,
  partial: Partial<Faults> = {}
): Faults => ({
  ...base,
  ...partial,
  rateLimitPerMinute: {
    ...base.rateLimitPerMinute,
    ...partial.rateLimitPerMinute,
  },
});

/**
 * The rate-limit family of an API path (reference §1.5): pushes, cids,
 * withdraw, group pushes and schedules are Push; received, status, messages
 * and users are Report; everything else is Device.
 * @param path request path without query
 */
export const apiFamilyOf = (path: string): ApiFamily => {
  if (/^\/v3\/(push|grouppush|schedules)(\/|$)/.test(path)) return 'push';
  if (/^\/v3\/(received|status|messages|users)(\/|$)/.test(path)) {
    return 'report';
  }
  return 'device';
};

/** Scripted faults in order; each answers up to `times` matching requests. */
export class ScriptedFaults {
  readonly #queue: Array<ScriptedFault & { left: number }> = [];

  /** Queue faults after those already queued. */
  add(...faults: ScriptedFault[]): void {
    for (const fault of faults) {
      this.#queue.push({ ...fault, left: fault.times ?? 1 });
    }
  }

  /**
   * Consume the first fault matching a request.
   * @param method upper-case HTTP method
   * @param path request path without query or trailing slash
   * @returns the fault, or undefined when none matches
   */
  take(method: string, path: string): ScriptedFault | undefined {
    const index = this.#queue.findIndex(
      (f) =>
        (f.method === undefined || f.method.toUpperCase() === method) &&
        (f.path === undefined ||
          (typeof f.path === 'string'
            ? f.path.replace(/\/+$/, '') === path
            : f.path.test(path)))
    );
    const fault = this.#queue[index];
    if (!fault) return undefined;
    fault.left -= 1;
    if (fault.left <= 0) this.#queue.splice(index, 1);
    return fault;
  }
}
