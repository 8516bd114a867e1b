/**
 * Push API routes (reference §2, §2.9): `POST /v3/push`, `/v3/push/validate`,
 * `GET /v3/push/cid` and withdraw (`DELETE /v3/push/{msg_id}`).
 */
import { ApiError } from '../api-error.ts';
import type { SimulatorModel } from '../model.ts';
import { validatePush } from '../push-object.ts';
import { type Handler, parseBody, type Route } from './route.ts';

/**
 * The Push API's routes over a model.
 * @param model the simulated JPush
 */
export const pushRoutes = (model: SimulatorModel): Route[] => {
  const pushHandler =
    (send: boolean): Handler =>
    (ctx) => {
      const push = validatePush(parseBody(ctx, 'push'));
      const result = send ? model.push(push) : model.validateOnly(push);
      // Both values are strings on success (reference §2.7).
      return {
        status: 200,
        body: { sendno: result.sendno, msg_id: result.msgId },
      };
    };

  return [
    {
      family: 'push',
      pattern: /^\/v3\/push$/,
      methods: { POST: pushHandler(true) },
    },
    {
      family: 'push',
      pattern: /^\/v3\/push\/validate$/,
      methods: { POST: pushHandler(false) },
    },
    {
      family: 'push',
      pattern: /^\/v3\/push\/cid$/,
      methods: {
        GET: ({ query }) => {
          const count = Number(query.get('count') ?? '1');
          const type = query.get('type') ?? 'push';
          if (!Number.isInteger(count) || count < 1 || count > 1000) {
            throw new ApiError(400, 1003, 'Invalid parameter: count');
          }
          if (type !== 'push' && type !== 'schedule') {
            throw new ApiError(400, 1003, 'Invalid parameter: type');
          }
          return { status: 200, body: { cidlist: model.issueCids(count) } };
        },
      },
    },
    {
      family: 'push',
      pattern: /^\/v3\/push\/([0-9]{1,20})$/,
      methods: {
        DELETE: ({ params }) => {
          model.withdraw(params[0] ?? '');
          // Response of withdraw is undocumented (§2.9); an empty 200 like
          // the other delete calls (§1.3).
          return { status: 200 };
        },
      },
    },
  ];
};
