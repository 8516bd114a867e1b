/**
 * Device API routes (reference §4): devices, their status, and aliases.
 */
import { ApiError } from '../api-error.ts';
import { isObject } from '../json.ts';
import type { SimulatorModel } from '../model.ts';
import { parseBody, type Route, stringArray } from './route.ts';

const KNOWN_PLATFORMS = new Set([
  'android',
  'ios',
  'winphone',
  'quickapp',
  'hmos',
]);

const platformsOf = (query: URLSearchParams): Set<string> | undefined => {
  const raw = query.get('platform');
  if (raw === null || raw === '' || raw === 'all') return undefined;
  const platforms = new Set(raw.split(',').map((p) => p.trim()));
  for (const p of platforms) {
    if (!KNOWN_PLATFORMS.has(p)) {
      throw new ApiError(400, 7002, `Invalid platform '${p}'`);
    }
  }
  return platforms;
};

/**
 * The Device API's routes over a model.
 * @param model the simulated JPush
 * @param vip false → `/v3/devices/status` answers 403 code 2006
 */
export const deviceRoutes = (model: SimulatorModel, vip: boolean): Route[] => [
  {
    family: 'device',
    pattern: /^\/v3\/devices\/status$/,
    methods: {
      POST: (ctx) => {
        if (!vip) throw new ApiError(403, 2006, 'not a VIP user');
        const body = parseBody(ctx, 'device');
        const rids = isObject(body) ? body.registration_ids : undefined;
        if (!stringArray(rids, 1000)) {
          throw new ApiError(400, 7002, 'Invalid parameter registration_ids');
        }
        const result: Record<string, { online: boolean }> = {};
        for (const rid of rids) {
          const device = model.getDevice(rid);
          // Unknown ids come back empty (reference §4.5).
          if (device) result[rid] = { online: device.online };
        }
        return { status: 200, body: result };
      },
    },
  },
  {
    family: 'device',
    pattern: /^\/v3\/devices\/([^/]+)$/,
    methods: {
      GET: ({ params }) => ({
        status: 200,
        body: model.deviceInfo(params[0] ?? ''),
      }),
      POST: (ctx) => {
        const body = parseBody(ctx, 'device');
        const bad = (what: string) =>
          new ApiError(400, 7002, `Invalid parameter: ${what}`);
        if (!isObject(body)) throw bad('body must be a JSON object');
        for (const key of Object.keys(body)) {
          if (!['tags', 'alias', 'mobile'].includes(key)) throw bad(key);
        }
        const { tags, alias, mobile } = body;
        if (tags !== undefined && tags !== '') {
          if (!isObject(tags)) throw bad('tags');
          for (const key of Object.keys(tags)) {
            if (key !== 'add' && key !== 'remove') throw bad(`tags.${key}`);
          }
          if (tags.add !== undefined && !stringArray(tags.add, 100)) {
            throw bad('tags.add');
          }
          if (tags.remove !== undefined && !stringArray(tags.remove, 100)) {
            throw bad('tags.remove');
          }
        }
        if (alias !== undefined && typeof alias !== 'string') {
          throw bad('alias');
        }
        if (mobile !== undefined && typeof mobile !== 'string') {
          throw bad('mobile');
        }
        model.updateDevice(ctx.params[0] ?? '', {
          tags: tags as '' | { add?: string[]; remove?: string[] },
          alias,
          mobile,
        });
        return { status: 200 };
      },
    },
  },
  {
    family: 'device',
    pattern: /^\/v3\/aliases\/([^/]+)$/,
    methods: {
      GET: ({ params, query }) => ({
        status: 200,
        body: {
          registration_ids: model.aliasDevices(
            params[0] ?? '',
            platformsOf(query)
          ),
        },
      }),
      DELETE: ({ params, query }) => {
        model.unbindAlias(params[0] ?? '', undefined, platformsOf(query));
        return { status: 200 };
      },
      POST: (ctx) => {
        const body = parseBody(ctx, 'device');
        const ids = isObject(body) ? body.registration_ids : undefined;
        const keysOk =
          isObject(body) &&
          Object.keys(body).every((k) => k === 'registration_ids') &&
          isObject(ids) &&
          Object.keys(ids).every((k) => k === 'remove');
        const remove = isObject(ids) ? ids.remove : undefined;
        if (!keysOk || !stringArray(remove, 1000)) {
          throw new ApiError(
            400,
            7002,
            'Invalid parameter: expected {"registration_ids":{"remove":[...]}}'
          );
        }
        model.unbindAlias(ctx.params[0] ?? '', remove);
        return { status: 200 };
      },
    },
  },
];
