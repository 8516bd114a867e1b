/**
 * Faults: the settings (defaults, validation, merging), which fault a
 * request meets (pure, given the settings, the random source and the API
 * family), the call families, and the queue of scripted faults.
 */
import { z } from 'zod';
import type {
  ApiFamily,
  CallFamily,
  FaultKind,
  Faults,
  FaultsUpdate,
  ScriptedFault,
} from './types.ts';

/** The API families, in the order JPush's docs list them. */
export const API_FAMILIES: readonly ApiFamily[] = ['push', 'report', 'device'];

/** Longest `latencyMs` accepted: 10 minutes. */
export const MAX_LATENCY_MS = 600_000;

/** No faults; JPush's free-tier limits per minute (reference §1.5). */
export const DEFAULT_FAULTS: Readonly<Faults> = Object.freeze({
  rateLimitPerMinute: Object.freeze({ push: 600, report: 2400, device: 600 }),
  serverErrorRate: 0,
  latencyMs: 0,
  dropConnectionRate: 0,
  lostResponseRate: 0,
  rateLimitRate: 0,
  families: Object.freeze([...API_FAMILIES]) as ApiFamily[],
});

/** A copy that shares nothing with `faults`. */
export const copyFaults = (faults: Readonly<Faults>): Faults => ({
  ...faults,
  rateLimitPerMinute: { ...faults.rateLimitPerMinute },
  families: [...faults.families],
});

/** A value as a person reads it in an error message, kept short. */
const show = (value: unknown): string => {
  if (typeof value === 'number' || typeof value === 'bigint') {
    return String(value);
  }
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch {
    text = undefined;
  }
  text ??= String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
};

const quoted = (keys: readonly PropertyKey[]): string =>
  keys.map((key) => `"${String(key)}"`).join(', ');

const rate = z
  .number({
    error: (issue) =>
      `must be a number from 0 to 1 (a probability), not ${show(issue.input)}`,
  })
  .min(0)
  .max(1)
  .optional();

const limit = z
  .number({
    error: (issue) =>
      `must be a whole number of calls per minute, 0 or more, not ${show(issue.input)}`,
  })
  .int()
  .min(0)
  .optional();

const FAMILY_LIST = API_FAMILIES.join(', ');

/** Any subset of {@link Faults}; rejects unknown fields and bad values. */
const FaultsUpdateSchema = z.strictObject(
  {
    rateLimitPerMinute: z
      .strictObject(
        { push: limit, report: limit, device: limit },
        {
          error: (issue) =>
            issue.code === 'unrecognized_keys'
              ? `has an unknown family ${quoted(issue.keys)} (the families are ${FAMILY_LIST})`
              : `must be an object of calls per minute by family, e.g. {"push": 60}, not ${show(issue.input)}`,
        }
      )
      .optional(),
    serverErrorRate: rate,
    latencyMs: z
      .number({
        error: (issue) =>
          `must be a number of milliseconds from 0 to ${MAX_LATENCY_MS}, not ${show(issue.input)}`,
      })
      .min(0)
      .max(MAX_LATENCY_MS)
      .optional(),
    dropConnectionRate: rate,
    lostResponseRate: rate,
    rateLimitRate: rate,
    families: z
      .array(
        z.enum(['push', 'report', 'device'], {
          error: (issue) =>
            `is an unknown family ${show(issue.input)} (the families are ${FAMILY_LIST})`,
        }),
        {
          error: (issue) =>
            `must be a list of API families, e.g. ["push"], not ${show(issue.input)}`,
        }
      )
      .optional(),
  },
  {
    error: (issue) =>
      issue.code === 'unrecognized_keys'
        ? `Unknown field${issue.keys.length > 1 ? 's' : ''} ${quoted(issue.keys)}; the faults are ${Object.keys(DEFAULT_FAULTS).join(', ')}`
        : `The faults must be a JSON object such as {"lostResponseRate": 0.05}, not ${show(issue.input)}`,
  }
);

const pathText = (path: readonly PropertyKey[]): string =>
  path
    .map((part, i) =>
      typeof part === 'number'
        ? `[${part}]`
        : `${i > 0 ? '.' : ''}${String(part)}`
    )
    .join('');

/**
 * Check a change of the faults.
 * @param input e.g. a parsed request body
 * @returns the change, or a message naming each bad field and what is wrong
 */
export const parseFaultsUpdate = (
  input: unknown
): { ok: true; update: FaultsUpdate } | { ok: false; message: string } => {
  const parsed = FaultsUpdateSchema.safeParse(input);
  if (parsed.success) return { ok: true, update: parsed.data };
  const message = parsed.error.issues
    .map((issue) =>
      issue.path.length === 0
        ? issue.message
        : `${pathText(issue.path)} ${issue.message}`
    )
    .join('; ');
  return { ok: false, message };
};

const defined = <T extends object>(value: T): Partial<T> =>
  Object.fromEntries(
    Object.entries(value).filter(([, v]) => v !== undefined)
  ) as Partial<T>;

/**
 * `base` with `update` laid over it; per-family limits merge one by one,
 * undefined values change nothing. Does not validate (see
 * {@link parseFaultsUpdate}).
 * @param base the current settings
 * @param update the changes
 */
export const mergeFaults = (
  base: Readonly<Faults>,
  update: FaultsUpdate = {}
): Faults => {
  const { rateLimitPerMinute, families, ...rest } = update;
  return {
    ...copyFaults(base),
    ...defined(rest),
    rateLimitPerMinute: {
      ...base.rateLimitPerMinute,
      ...defined(rateLimitPerMinute ?? {}),
    },
    families: [...new Set(families ?? base.families)],
  };
};

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

/**
 * What an API call is, for counting calls by kind: `cid` for
 * `GET /v3/push/cid`, `withdraw` for `DELETE /v3/push/{msg_id}`, otherwise
 * its rate-limit family (`push` for `POST /v3/push`, `/v3/push/validate`
 * and the other Push API paths, `report` for `/v3/received*`,
 * `/v3/status/*`, …, `device` for devices, aliases, tags and anything
 * else). Pure.
 * @param method HTTP method, any case
 * @param path request path; a query and trailing slashes are ignored
 */
export const callFamilyOf = (method: string, path: string): CallFamily => {
  const bare = path.split('?')[0]?.replace(/(.)\/+$/, '$1') ?? '';
  const verb = method.toUpperCase();
  if (verb === 'GET' && bare === '/v3/push/cid') return 'cid';
  if (verb === 'DELETE' && /^\/v3\/push\/[0-9]{1,20}$/.test(bare)) {
    return 'withdraw';
  }
  return apiFamilyOf(bare);
};

/**
 * The points of a request where a random fault may strike, in order:
 * `arrival` (dropped before anything is done), `admission` (429 after
 * auth), `acting` (500 instead of acting), `answer` (lost after acting).
 */
export type FaultStage = 'arrival' | 'admission' | 'acting' | 'answer';

const STAGES: Record<
  FaultStage,
  {
    rate:
      | 'dropConnectionRate'
      | 'rateLimitRate'
      | 'serverErrorRate'
      | 'lostResponseRate';
    kind: FaultKind;
  }
> = {
  arrival: { rate: 'dropConnectionRate', kind: 'dropped' },
  admission: { rate: 'rateLimitRate', kind: 'rate-limited' },
  acting: { rate: 'serverErrorRate', kind: 'server-error' },
  answer: { rate: 'lostResponseRate', kind: 'lost-response' },
};

/**
 * Roll the random fault of one stage of a request. Pure given `random`,
 * which is called only when the stage's rate is above 0 and `family` is one
 * of `faults.families`, so a seeded run replays the same faults.
 * @param faults the settings in force
 * @param family the request's API family
 * @param stage where the request is
 * @param random source in [0, 1)
 * @returns the fault, or undefined for none
 */
export const rollFault = (
  faults: Readonly<Faults>,
  family: ApiFamily,
  stage: FaultStage,
  random: () => number
): FaultKind | undefined => {
  const { rate, kind } = STAGES[stage];
  const probability = faults[rate];
  if (probability <= 0 || !faults.families.includes(family)) return undefined;
  return random() < probability ? kind : undefined;
};

/**
 * The delay before handling a request of `family`: `latencyMs` when the
 * family is one of `faults.families`, else 0.
 */
export const latencyFor = (
  faults: Readonly<Faults>,
  family: ApiFamily
): number => (faults.families.includes(family) ? faults.latencyMs : 0);

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
