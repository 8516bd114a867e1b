import * as z from 'zod';
import { AckInput } from '../domain/acknowledge.ts';
import { EraseUserInput } from '../domain/erase-user.ts';
import { HistoryPath, HistoryQuery } from '../domain/history.ts';
import { MessagePath, SendMessageInput } from '../domain/message.ts';
import { MAX_BATCH_MESSAGES } from '../domain/send-message.ts';
import { LoginInput, LogoutInput } from '../domain/sessions.ts';
import {
  CancelMessageResponse,
  EraseUserResponse,
  ErrorBody,
  GatewayError,
  HistoryPage,
  LoginResponse,
  MessageView,
  SendBatchResponse,
  SendMessageResponse,
} from './api-schemas.ts';

/**
 * The OpenAPI 3.1 document of the HTTP API, generated from the zod schemas
 * the handlers parse requests with (`functions/domain/*.ts`) and the
 * response schemas (`functions/shared/api-schemas.ts`), with
 * `z.toJSONSchema` (JSON Schema 2020-12, OpenAPI 3.1's dialect). Local
 * mode serves it at `GET /openapi.json`; `npm run openapi` writes it to a
 * file. Not bundled into any Lambda: only local mode and the tests use it.
 */

/** A JSON value of the document. */
type Json = Record<string, unknown>;

type Method = 'get' | 'post' | 'delete';

/** One operation: a route of `infra/stacks/service-stack.ts`. */
interface Route {
  readonly method: Method;
  readonly path: string;
  readonly operationId: string;
  readonly tag: 'messages' | 'sessions' | 'users' | 'app';
  readonly summary: string;
  readonly description: string;
  /** `iam`: SigV4-signed (the backend routes); `none`: the app's ACK. */
  readonly auth: 'iam' | 'none';
  readonly pathParams?: z.ZodObject;
  readonly query?: z.ZodObject;
  readonly idempotencyHeader?: boolean;
  readonly body?: { readonly schema: string; readonly limit: string };
  readonly success: {
    readonly status: string;
    readonly description: string;
    readonly schema?: string;
  };
  /** Error statuses this route's function answers, with why. */
  readonly errors: Readonly<Record<string, string>>;
}

const BATCH_LIMIT = '1 MiB';
const BODY_LIMIT = '64 KiB';

/** Every route of the API, as the stack creates them. */
const ROUTES: readonly Route[] = [
  {
    method: 'post',
    path: '/v1/messages',
    operationId: 'sendMessage',
    tag: 'messages',
    summary: 'Send a message that must be received',
    description:
      "Pushes it to the recipient's devices, checks the ACK and the Report API, pushes again and escalates by SMS after the attempts allowed. `stored` when the recipient has no session: it waits for the next login. With an idempotency key (the header or the body's `idempotencyKey`) the same request again answers the first answer with `Idempotent-Replayed: true`.",
    auth: 'iam',
    idempotencyHeader: true,
    body: { schema: 'SendMessageRequest', limit: BODY_LIMIT },
    success: {
      status: '202',
      description:
        'Accepted (or an idempotent repeat: the first answer, with `Idempotent-Replayed: true`).',
      schema: 'SendMessageResponse',
    },
    errors: {
      '400':
        "The body is not a valid message (the message names each field), the `Idempotency-Key` header differs from the body's key, or `escalation.smsTo` is not in an allowed country.",
      '409':
        'The idempotency key was used before for another request; nothing is stored.',
      '413': `The body is larger than ${BODY_LIMIT}.`,
    },
  },
  {
    method: 'post',
    path: '/v1/messages/batch',
    operationId: 'sendMessageBatch',
    tag: 'messages',
    summary: `Send up to ${MAX_BATCH_MESSAGES} messages at once`,
    description: `Each message as \`POST /v1/messages\` takes one, each with its own \`idempotencyKey\`. A bad message fails alone: its result is the single send's error, the others are sent. An \`Idempotency-Key\` header is refused (400): it names one message.`,
    auth: 'iam',
    body: { schema: 'SendBatchRequest', limit: BATCH_LIMIT },
    success: {
      status: '207',
      description: 'One result per message, in order.',
      schema: 'SendBatchResponse',
    },
    errors: {
      '400': `The body is no list of 1 to ${MAX_BATCH_MESSAGES} messages, or an \`Idempotency-Key\` header was given.`,
      '413': `The body is larger than ${BATCH_LIMIT}.`,
    },
  },
  {
    method: 'get',
    path: '/v1/messages/{messageId}',
    operationId: 'getMessage',
    tag: 'messages',
    summary: 'Status and timeline of a message',
    description:
      'A stored message whose life ended shows as `expired`. `confirmedBy` says what confirmed an acknowledged message.',
    auth: 'iam',
    pathParams: MessagePath,
    success: {
      status: '200',
      description: 'The message.',
      schema: 'MessageView',
    },
    errors: {
      '400': 'The path holds no message id.',
      '404': 'No message has this id (or it was erased or expired).',
    },
  },
  {
    method: 'delete',
    path: '/v1/messages/{messageId}',
    operationId: 'cancelMessage',
    tag: 'messages',
    summary: 'Cancel a message that has not ended',
    description:
      'Ends it `cancelled`: the delivery stops, a stored message leaves the offline store, unacknowledged pushes are withdrawn. Repeating it answers `200` with `repeated: true`.',
    auth: 'iam',
    pathParams: MessagePath,
    success: {
      status: '200',
      description: 'Cancelled (now or before).',
      schema: 'CancelMessageResponse',
    },
    errors: {
      '400': 'The path holds no message id.',
      '404': 'No message has this id.',
      '409':
        'The message already ended: the body names its `messageId` and `status` (`acknowledged`, `escalated`, `expired`, `failed`).',
    },
  },
  {
    method: 'post',
    path: '/v1/messages/{messageId}/ack',
    operationId: 'ackMessage',
    tag: 'app',
    summary: 'The app confirms receipt',
    description:
      'Called by the app with the `ackToken` from the push extras and its own registration id (a device this delivery pushed to). Not IAM-signed: the token authorizes it. Idempotent. Deployed with `ackRequiresDevice=false`, `registrationId` may be left out (the token alone). The route has its own request limit (429 beyond it); retry a 429 or 5xx with backoff, no other 4xx.',
    auth: 'none',
    pathParams: MessagePath,
    body: { schema: 'AckRequest', limit: BODY_LIMIT },
    success: { status: '204', description: 'Acknowledged (now or before).' },
    errors: {
      '400':
        'The path holds no message id, or the body is no ACK (a missing or malformed `registrationId`).',
      '403':
        "A wrong token, an unknown message, or a device this delivery did not push to (one answer for all); local mode also answers a request from another site's page (its `Origin`) so.",
      '413': `The body is larger than ${BODY_LIMIT}.`,
    },
  },
  {
    method: 'get',
    path: '/v1/users/{userId}/messages',
    operationId: 'listHistory',
    tag: 'users',
    summary: "A user's messages, newest first",
    description:
      "Messages to and from the user (chat messages are in both users' histories), a page at a time.",
    auth: 'iam',
    pathParams: HistoryPath,
    query: HistoryQuery,
    success: {
      status: '200',
      description: 'A page of the history.',
      schema: 'HistoryPage',
    },
    errors: {
      '400':
        'The user id is not one, `limit` is not 1 to 100, the cursor was not made for this user, or an unknown query parameter.',
    },
  },
  {
    method: 'delete',
    path: '/v1/users/{userId}',
    operationId: 'eraseUser',
    tag: 'users',
    summary: 'Erase everything kept about a user',
    description:
      'Their messages, history, sessions and offline store, and their JPush alias. Running deliveries stop and their pushes are withdrawn. Repeating it is harmless (zeros).',
    auth: 'iam',
    pathParams: EraseUserInput,
    success: {
      status: '200',
      description: 'What was erased.',
      schema: 'EraseUserResponse',
    },
    errors: { '400': 'The path holds no user id.' },
  },
  {
    method: 'post',
    path: '/v1/sessions',
    operationId: 'login',
    tag: 'sessions',
    summary: 'A user logged in on a device',
    description:
      "Binds the JPush alias, ends any other user's session on the device (the multi-account case), records the session and delivers the user's stored messages.",
    auth: 'iam',
    body: { schema: 'LoginRequest', limit: BODY_LIMIT },
    success: {
      status: '200',
      description: 'Logged in.',
      schema: 'LoginResponse',
    },
    errors: {
      '400': 'The body is no login.',
      '413': `The body is larger than ${BODY_LIMIT}.`,
    },
  },
  {
    method: 'delete',
    path: '/v1/sessions/{userId}/{registrationId}',
    operationId: 'logout',
    tag: 'sessions',
    summary: 'A user is logging out of a device',
    description:
      "Clears the device's alias, ends the session and withdraws what may still be on its way to the device. Idempotent: `204` also when there was no such session.",
    auth: 'iam',
    pathParams: LogoutInput,
    success: { status: '204', description: 'Logged out (or was not).' },
    errors: {
      '400': 'The path holds no user id or no registration id.',
    },
  },
];

const SendMessageRequest = SendMessageInput.meta({
  description: 'A message that must be received. Required: `to`, `body`.',
});

/** The request bodies, by component name. */
const REQUESTS: Record<string, z.ZodType> = {
  SendMessageRequest,
  // Each item is parsed alone (SendBatchInput takes any items), so the
  // document says what each must be.
  SendBatchRequest: z
    .strictObject({
      messages: z
        .array(SendMessageRequest)
        .min(1)
        .max(MAX_BATCH_MESSAGES)
        .meta({
          description: `1 to ${MAX_BATCH_MESSAGES} bodies of \`POST /v1/messages\`; each is checked alone, so a bad one fails alone (its result is a 400 error envelope naming it as \`messages[i]\`).`,
        }),
    })
    .meta({ description: 'Up to 100 messages.' }),
  AckRequest: AckInput.meta({
    description:
      "The ACK: the token from the push extras and this device's registration id.",
  }),
  LoginRequest: LoginInput.meta({ description: 'Who logged in, where.' }),
};

/** The response bodies, by component name. */
const RESPONSES: Record<string, z.ZodType> = {
  SendMessageResponse,
  SendBatchResponse,
  MessageView,
  CancelMessageResponse,
  HistoryPage,
  EraseUserResponse,
  LoginResponse,
  ErrorBody,
  GatewayError,
};

/** The error envelope with one code, e.g. `ValidationError`. */
const errorWithCode = (code: string): z.ZodType =>
  ErrorBody.extend({
    error: ErrorBody.shape.error.extend({ code: z.literal(code) }),
  }).meta({ description: `The error envelope, code \`${code}\`.` });

/** The error envelope by HTTP status, as `errorOf` maps errors. */
const ERROR_CODES = {
  '400': 'ValidationError',
  '403': 'Forbidden',
  '404': 'NotFound',
  '405': 'MethodNotAllowed',
  '409': 'Conflict',
  '413': 'PayloadTooLarge',
  '500': 'InternalError',
} as const;

const errorSchemaName = (status: keyof typeof ERROR_CODES) =>
  `${ERROR_CODES[status]}Body`;

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });

/** JSON Schemas of a set of zod schemas, referring to each other by name. */
const jsonSchemas = (
  schemas: Record<string, z.ZodType>,
  io: 'input' | 'output'
): Record<string, Json> => {
  const registry = z.registry<{ id: string }>();
  for (const [id, schema] of Object.entries(schemas)) {
    registry.add(schema, { id });
  }
  const { schemas: out } = z.toJSONSchema(registry, {
    target: 'draft-2020-12',
    io,
    uri: (id) => `#/components/schemas/${id}`,
  });
  return Object.fromEntries(
    Object.entries(out).map(([id, schema]) => {
      const { $schema: _s, $id: _i, ...rest } = schema as Json;
      return [id, rest];
    })
  );
};

/** The JSON Schema of one field of a zod object (a parameter). */
const fieldSchema = (schema: z.ZodType): Json => {
  const { $schema: _s, ...rest } = z.toJSONSchema(schema, {
    target: 'draft-2020-12',
    io: 'input',
  }) as Json;
  return rest;
};

const parameters = (
  where: 'path' | 'query',
  object: z.ZodObject | undefined
): Json[] =>
  Object.entries(object?.shape ?? {}).map(([name, field]) => {
    const schema = fieldSchema(field as z.ZodType);
    const { description, ...rest } = schema;
    return {
      name,
      in: where,
      required:
        where === 'path' || !(field as z.ZodType).safeParse(undefined).success,
      ...(typeof description === 'string' ? { description } : {}),
      schema: rest,
    };
  });

const json = (schema: Json) => ({ 'application/json': { schema } });

/** Responses every route can get, before or around its function. */
const COMMON_RESPONSES = {
  TooManyRequests: {
    description:
      "The route's request limit (API Gateway's token bucket per route): retry with backoff and jitter. Local mode has no limits.",
    content: json(ref('GatewayError')),
  },
  InternalError: {
    description:
      "Something failed on the server side (logged): the error envelope from the function, or API Gateway's answer when the function itself failed. Retry with backoff.",
    content: json({
      oneOf: [ref(errorSchemaName('500')), ref('GatewayError')],
    }),
  },
  ServiceUnavailable: {
    description:
      'API Gateway: the function did not answer in time. Retry with backoff.',
    content: json(ref('GatewayError')),
  },
  IamForbidden: {
    description:
      "API Gateway refused the request: it is not signed with SigV4 by a principal allowed to call the API. Local mode does not check signatures, but refuses a request from another site's page (its `Origin`) with the error envelope.",
    content: json({
      oneOf: [ref('GatewayError'), ref(errorSchemaName('403'))],
    }),
  },
};

const operation = (route: Route): Json => {
  const responses: Json = {
    [route.success.status]: {
      description: route.success.description,
      ...(route.success.schema
        ? { content: json(ref(route.success.schema)) }
        : {}),
      ...(route.idempotencyHeader
        ? {
            headers: {
              'Idempotent-Replayed': {
                description:
                  '`true` when the answer is an idempotent repeat of the first.',
                schema: { type: 'string', enum: ['true'] },
              },
            },
          }
        : {}),
    },
  };
  for (const [status, why] of Object.entries(route.errors)) {
    const code = status as keyof typeof ERROR_CODES;
    const envelope = ref(errorSchemaName(code));
    responses[status] = {
      description: why,
      // 413 and 403 may also come from API Gateway (its 10 MB limit, an
      // unsigned request) in its own shape.
      content: json(
        status === '413' || status === '403'
          ? { oneOf: [envelope, ref('GatewayError')] }
          : envelope
      ),
    };
  }
  if (route.auth === 'iam' && responses['403'] === undefined) {
    responses['403'] = { $ref: '#/components/responses/IamForbidden' };
  }
  responses['429'] = { $ref: '#/components/responses/TooManyRequests' };
  responses['500'] = { $ref: '#/components/responses/InternalError' };
  responses['503'] = { $ref: '#/components/responses/ServiceUnavailable' };
  const params = [
    ...parameters('path', route.pathParams),
    ...parameters('query', route.query),
    ...(route.idempotencyHeader
      ? [
          {
            name: 'Idempotency-Key',
            in: 'header',
            required: false,
            description:
              "The message's idempotency key (as the body's `idempotencyKey`; both: equal).",
            schema: fieldSchema(SendMessageInput.shape.idempotencyKey.unwrap()),
          },
        ]
      : []),
  ];
  return {
    operationId: route.operationId,
    tags: [route.tag],
    summary: route.summary,
    description: route.description,
    ...(params.length > 0 ? { parameters: params } : {}),
    ...(route.body
      ? {
          requestBody: {
            required: true,
            description: `JSON, at most ${route.body.limit}. Field names \`__proto__\`, \`constructor\` and \`prototype\` are refused anywhere (400).`,
            content: json(ref(route.body.schema)),
          },
        }
      : {}),
    responses,
    // The backend routes take the document's security; the ACK none.
    ...(route.auth === 'none' ? { security: [] } : {}),
  };
};

/** The routes of the document: method and path (for tests). */
export const openApiRoutes = (): {
  method: string;
  path: string;
  auth: 'iam' | 'none';
}[] =>
  ROUTES.map((r) => ({
    method: r.method.toUpperCase(),
    path: r.path,
    auth: r.auth,
  }));

let built: string | undefined;

/**
 * The OpenAPI 3.1 document of the API, built from the zod schemas (once;
 * each call returns a fresh copy).
 */
export const openApiDocument = (): Json => {
  built ??= JSON.stringify(buildDocument());
  return JSON.parse(built) as Json;
};

const buildDocument = (): Json => {
  const paths: Record<string, Json> = {};
  for (const route of ROUTES) {
    paths[route.path] = {
      ...paths[route.path],
      [route.method]: operation(route),
    };
  }
  const errorSchemas = Object.fromEntries(
    (Object.keys(ERROR_CODES) as (keyof typeof ERROR_CODES)[]).map((s) => [
      errorSchemaName(s),
      errorWithCode(ERROR_CODES[s]),
    ])
  );
  return {
    openapi: '3.1.0',
    info: {
      title: 'Guaranteed push delivery API',
      version: '1.0.0',
      summary:
        'Push a message through JPush until the app acknowledges it, escalate by SMS when it does not.',
      description: [
        'Backends call the routes signed with AWS Signature Version 4 (IAM); the app calls the ACK route with the token it got in the push.',
        'Errors have the shape `{"error": {"code", "message"}}`; API Gateway\'s own answers (429, an unsigned 403, 5xx when a function failed) are `{"message"}`.',
        'A method a path does not take is `404 {"message": "Not Found"}` on AWS and `405 MethodNotAllowed` with an `Allow` header in local mode; an unknown path `404`. A path parameter with a malformed percent-escape is `400`.',
        'Local mode (`npm start`) serves this document at `/openapi.json` and a reference page at `/docs`; it checks no signatures, and refuses a request whose `Host` is not its own (421) or whose `Origin` is another site (403).',
      ].join('\n\n'),
      license: { name: 'Apache-2.0', identifier: 'Apache-2.0' },
    },
    servers: [
      {
        url: 'https://{apiId}.execute-api.{region}.amazonaws.com',
        description:
          "The deployed HTTP API: its id and region (the stack's ApiUrl output)",
        variables: {
          apiId: { default: 'abc123' },
          region: { default: 'us-east-1' },
        },
      },
      { url: 'http://127.0.0.1:3000', description: 'Local mode (npm start)' },
    ],
    security: [{ sigv4: [] }],
    tags: [
      { name: 'messages', description: 'Send, read and cancel messages.' },
      { name: 'app', description: 'Called by the mobile app.' },
      { name: 'sessions', description: 'Logins and logouts of devices.' },
      { name: 'users', description: "A user's history; erasing a user." },
    ],
    paths,
    components: {
      schemas: {
        ...jsonSchemas(REQUESTS, 'input'),
        ...jsonSchemas({ ...RESPONSES, ...errorSchemas }, 'output'),
      },
      responses: COMMON_RESPONSES,
      securitySchemes: {
        sigv4: {
          type: 'apiKey',
          in: 'header',
          name: 'Authorization',
          description:
            "AWS Signature Version 4 (service `execute-api`), with the `X-Amz-Date` header (and `X-Amz-Security-Token` for temporary credentials): API Gateway's IAM authorization. The caller needs `execute-api:Invoke` on the route. Local mode checks no signature.",
          'x-amazon-apigateway-authtype': 'awsSigv4',
        },
      },
    },
  };
};
