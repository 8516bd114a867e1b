import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type {
  APIGatewayProxyEventV2,
  APIGatewayProxyStructuredResultV2,
} from 'aws-lambda';
import type { CfnResource, CfnTemplate } from './dynamo.ts';

/** A handler of an API route, as its Lambda would run it. */
export type ApiHandler = (
  event: APIGatewayProxyEventV2
) => Promise<APIGatewayProxyStructuredResultV2>;

/** One route of the HTTP API, read from the synthesized template. */
export interface LocalRoute {
  /** e.g. `POST /v1/messages/{messageId}/ack` */
  readonly routeKey: string;
  readonly method: string;
  readonly pattern: RegExp;
  readonly paramNames: readonly string[];
  /** The function's `LocalEntry`, e.g. `functions/handlers/ack-message.ts`. */
  readonly entry: string;
  /** The function's logical id in the template. */
  readonly functionId: string;
  /** AWS_IAM or NONE, as on AWS (local mode does not check signatures). */
  readonly authorizationType: string;
}

const refOf = (value: unknown): string | undefined => {
  if (typeof value !== 'object' || value === null) return undefined;
  const v = value as Record<string, unknown>;
  if (typeof v.Ref === 'string') return v.Ref;
  const getAtt = v['Fn::GetAtt'];
  if (Array.isArray(getAtt) && typeof getAtt[0] === 'string') return getAtt[0];
  return undefined;
};

const targetIntegration = (target: unknown): string | undefined => {
  // Target: { "Fn::Join": ["", ["integrations/", { "Ref": "X" }]] }
  const join = (target as { 'Fn::Join'?: [string, unknown[]] })?.['Fn::Join'];
  return join ? join[1].map(refOf).find((id) => id !== undefined) : undefined;
};

/**
 * Reads the HTTP API's routes from a synthesized template: each route's key,
 * its Lambda integration and that function's `LocalEntry`. The same
 * template that `cdk deploy` would deploy decides what is served locally.
 * @throws Error when a route's function has no LocalEntry metadata
 */
export const routesFromTemplate = (template: CfnTemplate): LocalRoute[] => {
  const resources: Record<string, CfnResource> = template.Resources ?? {};
  const routes: LocalRoute[] = [];
  for (const resource of Object.values(resources)) {
    if (resource.Type !== 'AWS::ApiGatewayV2::Route') continue;
    const props = resource.Properties as Record<string, unknown>;
    const routeKey = String(props.RouteKey);
    const integrationId = targetIntegration(props.Target);
    const integration = integrationId ? resources[integrationId] : undefined;
    const functionId = refOf(
      (integration?.Properties as Record<string, unknown> | undefined)
        ?.IntegrationUri
    );
    const entry = functionId
      ? (resources[functionId]?.Metadata as Record<string, unknown> | undefined)
          ?.LocalEntry
      : undefined;
    if (typeof entry !== 'string' || functionId === undefined) {
      throw new Error(`Route ${routeKey}: its function has no LocalEntry.`);
    }
    const [method = 'GET', path = '/'] = routeKey.split(' ');
    const paramNames: string[] = [];
    const pattern = new RegExp(
      `^${path
        .split('/')
        .map((part) => {
          const param = /^\{([^}+]+)\}$/.exec(part);
          if (!param?.[1]) return part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
          paramNames.push(param[1]);
          return '([^/]+)';
        })
        .join('/')}/?$`
    );
    routes.push({
      routeKey,
      method,
      pattern,
      paramNames,
      entry,
      functionId,
      authorizationType: String(props.AuthorizationType ?? 'NONE'),
    });
  }
  return routes;
};

/** Finds the route of a request; `allowed` lists methods of a path match. */
export const matchRoute = (
  routes: readonly LocalRoute[],
  method: string,
  path: string
):
  | { route: LocalRoute; params: Record<string, string> }
  | { route: undefined; allowed: string[]; malformed?: string } => {
  const allowed: string[] = [];
  for (const route of routes) {
    const match = route.pattern.exec(path);
    if (!match) continue;
    if (route.method !== method) {
      allowed.push(route.method);
      continue;
    }
    const params: Record<string, string> = Object.create(null);
    for (const [i, name] of route.paramNames.entries()) {
      try {
        params[name] = decodeURIComponent(match[i + 1] ?? '');
      } catch {
        // API Gateway refuses such a path before any function runs.
        return { route: undefined, allowed: [], malformed: name };
      }
    }
    return { route, params: { ...params } };
  }
  return { route: undefined, allowed };
};

/** Reads a request body, refusing more than `limit` bytes. */
export const readBody = (
  req: IncomingMessage,
  limit = 1024 * 1024
): Promise<Buffer | undefined> =>
  new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        resolve(undefined);
        req.resume();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () =>
      resolve(size > limit ? undefined : Buffer.concat(chunks))
    );
    req.on('error', reject);
  });

/**
 * The API Gateway (HTTP API, payload 2.0) event for a local request, shaped
 * as API Gateway sends it to the route's Lambda.
 */
export const toApiEvent = (
  req: IncomingMessage,
  url: URL,
  body: Buffer,
  route: LocalRoute,
  params: Record<string, string>
): APIGatewayProxyEventV2 => {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined)
      headers[name] = Array.isArray(value) ? value.join(',') : value;
  }
  // Own properties only: a parameter named __proto__ is a parameter (which
  // the route then refuses as unknown), as it is in API Gateway's JSON.
  const values = new Map<string, string>();
  for (const [name, value] of url.searchParams) {
    const seen = values.get(name);
    values.set(name, seen === undefined ? value : `${seen},${value}`);
  }
  const query: Record<string, string> = Object.fromEntries(values);
  const now = new Date();
  return {
    version: '2.0',
    routeKey: route.routeKey,
    rawPath: url.pathname,
    rawQueryString: url.search.slice(1),
    headers,
    ...(Object.keys(query).length > 0 ? { queryStringParameters: query } : {}),
    ...(route.paramNames.length > 0 ? { pathParameters: params } : {}),
    requestContext: {
      accountId: '123456789012',
      apiId: 'local',
      domainName: url.host,
      domainPrefix: 'local',
      http: {
        method: route.method,
        path: url.pathname,
        protocol: `HTTP/${req.httpVersion}`,
        sourceIp: req.socket.remoteAddress ?? '127.0.0.1',
        userAgent: headers['user-agent'] ?? '',
      },
      requestId: randomUUID(),
      routeKey: route.routeKey,
      stage: '$default',
      time: now.toISOString(),
      timeEpoch: now.getTime(),
    },
    ...(body.length > 0
      ? { body: body.toString('utf8'), isBase64Encoded: false }
      : { isBase64Encoded: false }),
  };
};

/** Writes a JSON error in the API's error shape. */
export const sendJsonError = (
  res: ServerResponse,
  status: number,
  code: string,
  message: string,
  headers: Record<string, string> = {}
): void => {
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    ...headers,
  });
  res.end(JSON.stringify({ error: { code, message } }));
};

/** Writes a handler's result as API Gateway would. */
export const sendApiResult = (
  res: ServerResponse,
  result: APIGatewayProxyStructuredResultV2
): void => {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(result.headers ?? {})) {
    headers[name] = String(value);
  }
  res.writeHead(result.statusCode ?? 200, headers);
  res.end(
    result.isBase64Encoded && result.body
      ? Buffer.from(result.body, 'base64')
      : (result.body ?? '')
  );
};
