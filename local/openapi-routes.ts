import type { IncomingMessage, ServerResponse } from 'node:http';
import { openApiDocument } from '../functions/shared/openapi.ts';
import { sendJsonError } from './http-api.ts';
import { renderApiReference } from './openapi-page.ts';

/** The paths served here, and what each is. */
const ROUTES = {
  '/openapi.json': 'application/json; charset=utf-8',
  '/docs': 'text/html; charset=utf-8',
} as const;

let cache: { json: string; html: string } | undefined;

/** The document and the page, built on first use. */
const built = () => {
  if (cache === undefined) {
    const document = openApiDocument();
    cache = {
      json: `${JSON.stringify(document, null, 2)}\n`,
      html: renderApiReference(document),
    };
  }
  return cache;
};

/**
 * Local mode's API reference: `GET /openapi.json`, the OpenAPI 3.1
 * document, and `GET /docs` (or `/docs/`), a page rendered from it that
 * loads nothing from elsewhere. Another method on either path gets `405`.
 * @returns true when the request was one of these paths (and is answered)
 */
export const serveOpenApi = (
  req: IncomingMessage,
  res: ServerResponse,
  url: URL
): boolean => {
  const path = url.pathname === '/docs/' ? '/docs' : url.pathname;
  if (path !== '/openapi.json' && path !== '/docs') return false;
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    sendJsonError(
      res,
      405,
      'MethodNotAllowed',
      `${req.method} is not allowed here; use GET.`,
      { allow: 'GET, HEAD' }
    );
    return true;
  }
  const { json, html } = built();
  const body = path === '/docs' ? html : json;
  res.writeHead(200, {
    'content-type': ROUTES[path],
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-cache',
  });
  res.end(req.method === 'HEAD' ? undefined : body);
  return true;
};
