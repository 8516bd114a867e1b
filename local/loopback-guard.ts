/**
 * Keeps a server on loopback from being reached through a browser: a page
 * of another site may post to `http://127.0.0.1:<port>` (CSRF), or point a
 * name of its own at 127.0.0.1 and read the answers (DNS rebinding). The
 * guard refuses
 * - a request whose `Host` is not this server: `localhost`, `127.0.0.1`,
 *   `[::1]` or the address it is bound to, with its port (421 Misdirected
 *   Request); a rebinding page's requests carry its own name;
 * - a request whose `Origin` is another site's (403): a browser sends it
 *   with every cross-site POST, PUT and DELETE, and with fetches.
 * Requests without `Origin` (curl, the backends, the simulator's ACKs,
 * tests) and the server's own pages pass.
 */
import type { IncomingHttpHeaders, ServerResponse } from 'node:http';

/** Why a request is refused, in the API's error shape. */
export interface Refusal {
  readonly status: 403 | 421;
  readonly code: 'Forbidden' | 'MisdirectedRequest';
  readonly message: string;
}

/** Where the server listens. */
export interface BoundAddress {
  /** As given to `listen`, e.g. `127.0.0.1`, `::1`, `0.0.0.0`. */
  readonly host: string;
  readonly port: number;
}

const LOOPBACK_NAMES: readonly string[] = ['localhost', '127.0.0.1', '[::1]'];
const WILDCARDS: ReadonlySet<string> = new Set(['', '0.0.0.0', '::', '[::]']);
/** `name[:port]` or `[v6][:port]`; nothing else (no path, no user). */
const HOST_HEADER = /^(\[[0-9a-f:.]+\]|[a-z0-9.-]+)(?::(\d{1,5}))?$/;
const IPV4 = /^\d{1,3}(?:\.\d{1,3}){3}$/;
const MAX_SHOWN_CHARS = 100;

const shown = (value: string): string =>
  value.length > MAX_SHOWN_CHARS
    ? `${value.slice(0, MAX_SHOWN_CHARS)}…`
    : value;

/** A host as it appears in a URL: IPv6 in brackets, lower case. */
const urlHost = (host: string): string => {
  const lower = host.toLowerCase();
  return lower.includes(':') && !lower.startsWith('[') ? `[${lower}]` : lower;
};

/**
 * The guard of a server bound to `bound`.
 * @returns a check of a request's headers: a {@link Refusal}, or
 *   undefined when the request may be served
 */
export const loopbackGuard = (bound: BoundAddress) => {
  const boundHost = urlHost(bound.host);
  const wildcard = WILDCARDS.has(boundHost);
  const names = new Set([...LOOPBACK_NAMES, ...(wildcard ? [] : [boundHost])]);
  const port = String(bound.port);
  const expected = `localhost:${port}, 127.0.0.1:${port} or [::1]:${port}${
    wildcard || LOOPBACK_NAMES.includes(boundHost)
      ? ''
      : ` or ${boundHost}:${port}`
  }`;

  /** The Host's `name:port`, when it is this server; else undefined. */
  const ownHost = (header: string | undefined): string | undefined => {
    const match = HOST_HEADER.exec((header ?? '').toLowerCase());
    if (!match) return undefined;
    const [, name = '', hostPort = '80'] = match;
    // Bound to every address: any IP literal is this machine, and an IP
    // literal cannot be rebound; a name other than localhost can.
    const known =
      names.has(name) ||
      (wildcard && (IPV4.test(name) || name.startsWith('[')));
    return known && Number(hostPort) === bound.port
      ? `${name}:${hostPort}`
      : undefined;
  };

  return (headers: IncomingHttpHeaders): Refusal | undefined => {
    const host = ownHost(headers.host);
    if (host === undefined) {
      return {
        status: 421,
        code: 'MisdirectedRequest',
        message: `This local server answers only requests addressed to ${expected}, not to "${shown(headers.host ?? '')}". A page of another site may be trying to reach it under a name of its own (DNS rebinding); open it as http://127.0.0.1:${port}/ instead.`,
      };
    }
    const origin = headers.origin;
    if (origin === undefined) return undefined;
    let sameOrigin = false;
    try {
      const url = new URL(origin);
      sameOrigin =
        url.protocol === 'http:' &&
        url.host === new URL(`http://${host}`).host &&
        origin.toLowerCase() === url.origin;
    } catch {
      sameOrigin = false;
    }
    if (sameOrigin) return undefined;
    return {
      status: 403,
      code: 'Forbidden',
      message: `Requests from another site's page are refused: the Origin "${shown(origin)}" is not this server (http://${host}). Local mode takes requests from its own pages, and from clients that send no Origin (curl, a backend).`,
    };
  };
};

/**
 * Answers a refused request with the API's error shape.
 * @returns true when the request was refused (and answered)
 */
export const refuse = (
  res: ServerResponse,
  refusal: Refusal | undefined
): boolean => {
  if (refusal === undefined) return false;
  res.writeHead(refusal.status, {
    'content-type': 'application/json; charset=utf-8',
    // The request is not read: close rather than leave its body behind.
    connection: 'close',
  });
  res.end(
    JSON.stringify({ error: { code: refusal.code, message: refusal.message } })
  );
  return true;
};
