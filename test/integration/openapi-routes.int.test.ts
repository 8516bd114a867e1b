import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  openApiDocument,
  openApiRoutes,
} from '../../functions/shared/openapi.ts';
import { serveOpenApi } from '../../local/openapi-routes.ts';

describe('serveOpenApi on a plain HTTP server', () => {
  let server: Server;
  let url: string;

  beforeAll(async () => {
    server = createServer((req, res) => {
      if (serveOpenApi(req, res, new URL(req.url ?? '/', 'http://x'))) return;
      res.writeHead(404).end('next route');
    });
    await new Promise<void>((resolve) =>
      server.listen(0, '127.0.0.1', resolve)
    );
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it('serves the OpenAPI document at /openapi.json', async () => {
    // Act
    const res = await fetch(`${url}/openapi.json`);

    // Assess
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await res.json()).toEqual(openApiDocument());
  });

  it('serves a reference page at /docs with every operation, loading nothing from elsewhere', async () => {
    // Act
    const res = await fetch(`${url}/docs`);
    const html = await res.text();
    const slash = await fetch(`${url}/docs/`);

    // Assess
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    expect(html).toMatch(/^<!doctype html>/);
    expect(html).toContain('Guaranteed push delivery API');
    const paths = openApiDocument().paths as Record<
      string,
      Record<string, { operationId: string }>
    >;
    for (const { method, path } of openApiRoutes()) {
      const id = paths[path]?.[method.toLowerCase()]?.operationId;
      expect(html, `${method} ${path}`).toContain(`id="${id}"`);
    }
    expect(html).toContain('id="schema-SendMessageRequest"');
    expect(html).not.toMatch(/<script/);
    expect(html).not.toMatch(/(src|href)=["']?(https?:)?\/\//);
    expect(slash.status).toBe(200);
  });

  it('answers another method 405 with the error envelope and leaves other paths to the next route', async () => {
    // Act
    const post = await fetch(`${url}/docs`, { method: 'POST' });
    const other = await fetch(`${url}/openapi.yaml`);

    // Assess
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
    expect(
      ((await post.json()) as { error: { code: string } }).error.code
    ).toBe('MethodNotAllowed');
    expect(other.status).toBe(404);
    expect(await other.text()).toBe('next route');
  });
});
