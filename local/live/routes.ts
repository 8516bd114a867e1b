import type { IncomingMessage, ServerResponse } from 'node:http';
import { toMessageView } from '../../functions/domain/message.ts';
import { sendJsonError } from '../http-api.ts';
import type { LiveEvent, LiveEventBus } from './events.ts';
import { livePageHtml } from './page.ts';
import type { SystemWatcher } from './watcher.ts';

/** Options of {@link createLiveRoutes}. */
export interface LiveRoutesOptions {
  readonly bus: LiveEventBus;
  readonly watcher: SystemWatcher;
  /** Which JPush the system pushes through, for the page's header. */
  readonly jpush: 'simulator' | 'real';
  /** Keep-alive comment interval of the event stream, in ms. @default 15000 */
  readonly keepAliveMs?: number;
}

/** The live view's routes, for `startLocalSystem({ extraRoutes })`. */
export interface LiveRoutes {
  /** The `extraRoutes` function. */
  readonly handle: (
    req: IncomingMessage,
    res: ServerResponse,
    url: URL
  ) => boolean | Promise<boolean>;
  /** Ends every open event stream. */
  close(): void;
}

const JSON_TYPE = 'application/json; charset=utf-8';

/**
 * The local-only routes of the live view (none of them is in the
 * synthesized API):
 * - `GET /`: the live page;
 * - `GET /local/live-events`: Server-Sent Events, one per {@link LiveEvent},
 *   starting with the recent ones (after `Last-Event-ID` when reconnecting);
 * - `GET /local/messages`: every message the system holds, newest first,
 *   as `GET /v1/messages/{id}` shows it (with its timeline).
 * Every other request passes through; when it has finished, the watcher is
 * told that something may have changed.
 * @param options the bus, the watcher and the JPush mode
 */
export const createLiveRoutes = (options: LiveRoutesOptions): LiveRoutes => {
  const { bus, watcher } = options;
  const streams = new Set<ServerResponse>();
  const page = livePageHtml({ jpush: options.jpush });

  const only = (req: IncomingMessage, res: ServerResponse): boolean => {
    if (req.method === 'GET' || req.method === 'HEAD') return true;
    sendJsonError(
      res,
      405,
      'MethodNotAllowed',
      `${req.method} is not allowed here; use GET.`,
      { allow: 'GET' }
    );
    return false;
  };

  const stream = (req: IncomingMessage, res: ServerResponse, url: URL) => {
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    const write = (event: LiveEvent) => {
      res.write(`id: ${event.seq}\ndata: ${JSON.stringify(event)}\n\n`);
    };
    res.write('retry: 2000\n\n');
    const after = Number(
      req.headers['last-event-id'] ?? url.searchParams.get('after') ?? 0
    );
    for (const event of bus.recent(Number.isFinite(after) ? after : 0)) {
      write(event);
    }
    const unsubscribe = bus.subscribe(write);
    const keepAlive = setInterval(
      () => res.write(': keep-alive\n\n'),
      options.keepAliveMs ?? 15_000
    );
    streams.add(res);
    const end = () => {
      clearInterval(keepAlive);
      unsubscribe();
      streams.delete(res);
    };
    res.on('close', end);
  };

  const handle = async (
    req: IncomingMessage,
    res: ServerResponse,
    url: URL
  ): Promise<boolean> => {
    const path = url.pathname;
    if (path === '/' || path === '/index.html') {
      if (!only(req, res)) return true;
      res.writeHead(200, {
        'content-type': 'text/html; charset=utf-8',
        'cache-control': 'no-store',
      });
      res.end(req.method === 'HEAD' ? undefined : page);
      return true;
    }
    if (path === '/local/live-events') {
      if (only(req, res)) stream(req, res, url);
      return true;
    }
    if (path === '/local/messages') {
      if (!only(req, res)) return true;
      if (!watcher.attached) {
        sendJsonError(res, 503, 'NotReady', 'The system is still starting.');
        return true;
      }
      const messages = await watcher.listMessages();
      res.writeHead(200, { 'content-type': JSON_TYPE });
      res.end(JSON.stringify(messages.map(toMessageView)));
      return true;
    }
    const arrived = new Date().toISOString();
    res.on('finish', () => {
      const device = /^\/local\/devices\/([^/]+)\/?$/.exec(path);
      if (device?.[1] && req.method === 'PUT' && res.statusCode === 200) {
        watcher.deviceChanged(safeDecode(device[1]), arrived);
      } else if (req.method !== 'GET' && req.method !== 'HEAD') {
        watcher.poke();
      }
    });
    return false;
  };

  return {
    handle,
    close: () => {
      for (const res of streams) res.end();
      streams.clear();
    },
  };
};

const safeDecode = (part: string): string => {
  try {
    return decodeURIComponent(part);
  } catch {
    return part;
  }
};
