/**
 * Report API routes (reference §3): `GET /v3/received`,
 * `GET /v3/received/detail` and `POST /v3/status/message`.
 */
import { ApiError } from '../api-error.ts';
import { isObject } from '../json.ts';
import type { SimulatorModel } from '../model.ts';
import { parseBody, type Route, stringArray } from './route.ts';

const msgIdsOf = (query: URLSearchParams): string[] => {
  const raw = query.get('msg_ids');
  if (!raw) throw new ApiError(400, 3002, 'Missing parameter `msg_ids`.');
  const ids = raw.split(',').map((id) => id.trim());
  if (ids.length > 100 || ids.some((id) => !/^[0-9]{1,20}$/.test(id))) {
    throw new ApiError(400, 3002, 'Invalid parameter `msg_ids`.');
  }
  return ids;
};

/**
 * The Report API's routes over a model.
 * @param model the simulated JPush
 * @param vip false → `/v3/status/message` answers 403 code 2006
 */
export const reportRoutes = (model: SimulatorModel, vip: boolean): Route[] => [
  {
    family: 'report',
    pattern: /^\/v3\/received\/detail$/,
    methods: {
      GET: ({ query }) => ({
        status: 200,
        body: msgIdsOf(query).map((id) => model.receivedDetail(id)),
      }),
    },
  },
  {
    family: 'report',
    pattern: /^\/v3\/received$/,
    methods: {
      GET: ({ query }) => ({
        status: 200,
        body: msgIdsOf(query).map((id) => {
          const row = model.receivedDetail(id);
          // msg_id as a number, as observed (reference §3.1).
          return {
            msg_id: row.msg_id,
            // Android deliveries, vendor channels included.
            android_received:
              row.jpush_received === null && row.android_pns_received === null
                ? null
                : (row.jpush_received ?? 0) + (row.android_pns_received ?? 0),
            ios_apns_sent: row.ios_apns_sent,
            ios_apns_received: row.ios_apns_received,
            ios_msg_received: row.ios_msg_received,
            wp_mpns_sent: null,
          };
        }),
      }),
    },
  },
  {
    family: 'report',
    pattern: /^\/v3\/status\/message$/,
    methods: {
      POST: (ctx) => {
        if (!vip) {
          // VIP-only today (reference §3.3); code 2006 from §2.8.
          throw new ApiError(403, 2006, 'not a VIP user');
        }
        const body = parseBody(ctx, 'report');
        if (!isObject(body)) {
          throw new ApiError(400, 3002, 'Invalid parameter `msg_id`.');
        }
        const { msg_id: msgId, registration_ids: rids, date } = body;
        // A string msg_id is rejected as observed in 2021 (§1.6, §3.3).
        const numeric =
          typeof msgId === 'bigint' ||
          (typeof msgId === 'number' && Number.isInteger(msgId) && msgId > 0);
        if (!numeric) {
          throw new ApiError(400, 3002, 'Invalid parameter `msg_id`.');
        }
        if (!stringArray(rids, 1000) || rids.length === 0) {
          throw new ApiError(
            400,
            3002,
            'Invalid parameter `registration_ids`.'
          );
        }
        if (
          date !== undefined &&
          (typeof date !== 'string' || !/^\d{4}-\d{2}-\d{2}$/.test(date))
        ) {
          throw new ApiError(400, 3002, 'Invalid parameter `date`.');
        }
        return {
          status: 200,
          body: model.messageStatus(String(msgId), rids, date),
        };
      },
    },
  },
];
