import * as z from 'zod';
import {
  CONFIRM_POLICIES,
  CONFIRMATIONS,
  MESSAGE_STATUSES,
  TIMELINE_EVENTS,
} from './names.ts';

/**
 * The API's responses as zod schemas: what each route answers, for the
 * OpenAPI document (`functions/shared/openapi.ts`) and the contract tests.
 * The handlers' and use cases' result types are inferred from them, so a
 * field added to an answer without its schema does not type-check.
 * Responses are described as they are sent: `z.object`, whose JSON Schema
 * (output) allows no other field.
 */

/** ISO 8601 UTC time, as `Date.toISOString()` writes it. */
const time = (description: string) =>
  z.string().meta({ format: 'date-time', description });

const status = z
  .enum(MESSAGE_STATUSES)
  .meta({ description: 'Where the message is in its life.' });

/** The error envelope: `{"error": {"code", "message"}}`. */
export const ErrorBody = z
  .object({
    error: z.object({
      code: z.string().meta({
        description:
          'What kind of error: ValidationError (400), Forbidden (403), NotFound (404), MethodNotAllowed (405, local mode), Conflict (409), PayloadTooLarge (413), MisdirectedRequest (421, local mode), InternalError (500).',
      }),
      message: z.string().meta({ description: 'What is wrong, for a person.' }),
    }),
    messageId: z.string().optional().meta({
      description:
        'On a 409 of `DELETE /v1/messages/{messageId}`: the message that already ended.',
    }),
    status: z.enum(MESSAGE_STATUSES).optional().meta({
      description:
        'On a 409 of `DELETE /v1/messages/{messageId}`: the status it ended with.',
    }),
  })
  .meta({
    description:
      'The error envelope of every error the functions (and local mode) answer.',
  });
export type ErrorBody = z.infer<typeof ErrorBody>;

/**
 * What API Gateway answers itself, before any function runs: `429` beyond
 * a route's limit, `403` for a request without a valid SigV4 signature on
 * an IAM route, `413` over its payload limit, `500`/`503` when the
 * function failed or timed out.
 */
export const GatewayError = z
  .object({
    message: z.string().meta({
      description:
        'API Gateway\'s text, e.g. "Too Many Requests", "Forbidden", "Internal Server Error".',
    }),
  })
  .meta({
    description:
      "API Gateway's own answer (not the error envelope): the request did not reach the function.",
  });

/** `202` of `POST /v1/messages`. */
export const SendMessageResponse = z
  .object({
    messageId: z.string().meta({
      description:
        'The message id: pass it to `GET /v1/messages/{messageId}`, `DELETE /v1/messages/{messageId}`.',
    }),
    status: z.enum(MESSAGE_STATUSES).meta({
      description:
        "`sending` (a session exists: being pushed) or `stored` (no session: kept for the next login); an idempotent repeat answers the first message's status now.",
    }),
  })
  .meta({ description: 'The message was accepted.' });
export type SendMessageResponse = z.infer<typeof SendMessageResponse>;

/** One result of a batch: sent, or the single send's error. */
export const BatchItemResponse = z.union([
  z
    .object({
      messageId: z.string(),
      status: z.enum(MESSAGE_STATUSES),
      replayed: z.literal(true).optional().meta({
        description:
          'An idempotent repeat: the first answer, nothing new sent.',
      }),
    })
    .meta({ description: 'The item was sent (or was a repeat).' }),
  ErrorBody,
]);

/** `207` of `POST /v1/messages/batch`. */
export const SendBatchResponse = z
  .object({
    results: z.array(BatchItemResponse).meta({
      description:
        "One result per message, in the request's order: `{messageId, status}` or the single send's error envelope.",
    }),
  })
  .meta({ description: 'One result per message, in order.' });
export type SendBatchResponse = z.infer<typeof SendBatchResponse>;

/** One line of a message's timeline. */
export const TimelineEventView = z.object({
  at: time('When it happened.'),
  event: z.enum(TIMELINE_EVENTS),
  detail: z
    .string()
    .optional()
    .meta({ description: 'What happened, in a sentence.' }),
  attempt: z
    .number()
    .int()
    .optional()
    .meta({ description: 'The attempt it belongs to, for push events.' }),
  jpushMsgId: z
    .string()
    .optional()
    .meta({ description: "JPush's msg_id of the push it is about." }),
  confirmedBy: z
    .enum(CONFIRMATIONS)
    .optional()
    .meta({ description: 'On `acknowledged`: what confirmed the message.' }),
});

/** `200` of `GET /v1/messages/{messageId}`. */
export const MessageView = z
  .object({
    messageId: z.string(),
    to: z.string(),
    from: z.string().optional(),
    title: z.string().optional(),
    body: z.string(),
    data: z.record(z.string(), z.string()).optional(),
    status,
    attempts: z
      .number()
      .int()
      .meta({ description: 'Delivery attempts begun so far.' }),
    policy: z.object({
      intervalSeconds: z.number().int(),
      maxAttempts: z.number().int(),
      expiresInSeconds: z.number().int(),
      confirmBy: z.enum(CONFIRM_POLICIES),
    }),
    createdAt: time('When it was accepted.'),
    updatedAt: time('When it last changed.'),
    expiresAt: time('When its delivery gives up (`expired`).'),
    acknowledgedAt: time('When it was confirmed.').optional(),
    confirmedBy: z.enum(CONFIRMATIONS).optional().meta({
      description:
        "What confirmed an acknowledged message: the app's ACK or JPush's report.",
    }),
    failureReason: z
      .string()
      .optional()
      .meta({ description: 'Why a `failed` message failed.' }),
    timeline: z
      .array(TimelineEventView)
      .meta({ description: "The message's story, oldest first." }),
  })
  .meta({ description: 'The message, its status and its timeline.' });
export type MessageView = z.infer<typeof MessageView>;

/** One line of a user's history. */
export const MessageSummary = z.object({
  messageId: z.string(),
  direction: z.enum(['in', 'out']).meta({
    description: '`in`: the user received it; `out`: the user sent it (chat).',
  }),
  to: z.string(),
  from: z.string().optional(),
  title: z.string().optional(),
  body: z.string(),
  status,
  createdAt: time('When it was accepted.'),
  updatedAt: time('When it last changed.'),
});
export type MessageSummary = z.infer<typeof MessageSummary>;

/** `200` of `GET /v1/users/{userId}/messages`. */
export const HistoryPage = z
  .object({
    items: z.array(MessageSummary).meta({ description: 'Newest first.' }),
    nextCursor: z.string().optional().meta({
      description:
        'Pass it as `cursor` for the next page; absent on the last page.',
    }),
  })
  .meta({ description: "A page of the user's messages, newest first." });
export type HistoryPage = z.infer<typeof HistoryPage>;

/** Why a JPush call failed, as far as JPush said. */
export const JPushFailureView = z.object({
  code: z.number().int().optional().meta({ description: "JPush's code." }),
  message: z.string(),
});

/** `200` of `POST /v1/sessions`. */
export const LoginResponse = z
  .object({
    drained: z.number().int().meta({
      description: 'Stored messages whose delivery started now.',
    }),
    alias: z.enum(['bound', 'failed']).meta({
      description:
        'Whether JPush bound the alias; a failure does not fail the login (pushes go to registration ids).',
    }),
    aliasError: JPushFailureView.optional(),
  })
  .meta({ description: 'The session is recorded.' });
export type LoginResponse = z.infer<typeof LoginResponse>;

/** `200` of `DELETE /v1/messages/{messageId}`. */
export const CancelMessageResponse = z
  .object({
    messageId: z.string(),
    status: z.literal('cancelled'),
    repeated: z.boolean().meta({
      description:
        'True when it had been cancelled before: nothing changed now.',
    }),
    deliveryStopped: z.boolean().meta({
      description: "Whether a running delivery's wait for the ACK ended now.",
    }),
    pushesWithdrawn: z
      .number()
      .int()
      .meta({ description: 'Pushes JPush withdrew now.' }),
    withdrawalsPending: z.number().int().meta({
      description:
        'Withdrawals JPush failed or did not answer: retried until JPush confirms or the push expires.',
    }),
  })
  .meta({ description: 'The message is cancelled.' });
export type CancelMessageResponse = z.infer<typeof CancelMessageResponse>;

/** `200` of `DELETE /v1/users/{userId}`. */
export const EraseUserResponse = z
  .object({
    userId: z.string(),
    messages: z.number().int().meta({
      description: 'Messages to or from the user erased.',
    }),
    history: z.number().int().meta({
      description:
        "History entries erased: the user's, and the other side's of each chat message.",
    }),
    sessions: z.number().int(),
    offline: z
      .number()
      .int()
      .meta({ description: 'Messages that waited in the offline store.' }),
    deliveriesStopped: z.number().int(),
    pushesWithdrawn: z.number().int(),
    alias: z.enum(['cleared', 'failed']).meta({
      description:
        '`failed`: JPush did not answer or refused (`aliasError`); erasing again tries again.',
    }),
    aliasError: JPushFailureView.optional(),
  })
  .meta({
    description:
      'What was erased, by kind (zeros when there was nothing; repeating it is harmless).',
  });
export type EraseUserResponse = z.infer<typeof EraseUserResponse>;
