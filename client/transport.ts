import { isRepeatable, type RetryPolicy, retryDelayMs } from './retry.ts';
import type { RequestSigner } from './signing.ts';

/** A fetch as openapi-fetch calls it. */
export type FetchLike = (request: Request) => Promise<Response>;

/** How the transport sends each request. */
export interface TransportOptions {
  /** Sends one attempt. */
  readonly fetch: FetchLike;
  /** Signs each attempt (again: a signature holds its time); none: unsigned. */
  readonly signer: RequestSigner | undefined;
  readonly retry: RetryPolicy;
  /** The longest one attempt may take, in ms. */
  readonly timeoutMs: number;
  /** A number in [0, 1), for the jitter. */
  readonly random: () => number;
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', abort);
      resolve();
    }, ms);
    const abort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    signal.addEventListener('abort', abort, { once: true });
  });

/**
 * The fetch the typed client calls: signs each attempt and sends it again
 * on 429, 5xx and network errors when that is safe (`retry.ts`), waiting
 * between attempts; gives the last answer, or throws the last network
 * error. The caller's `signal` ends it at once, without a retry.
 * @param options what to send with, how to sign and retry
 */
export const resilientFetch =
  (options: TransportOptions): FetchLike =>
  async (request) => {
    const method = request.method.toUpperCase();
    const body =
      method === 'GET' || method === 'HEAD' ? undefined : await request.text();
    const url = new URL(request.url);
    const repeatable = isRepeatable(
      method,
      url.pathname,
      request.headers,
      body
    );
    const { retry } = options;
    for (let attempt = 0; ; attempt++) {
      const headers = new Headers(request.headers);
      if (options.signer) {
        const signed = await options.signer({ method, url, headers, body });
        signed.forEach((value, name) => {
          headers.set(name, value);
        });
      }
      let response: Response;
      try {
        response = await options.fetch(
          new Request(url, {
            method,
            headers,
            ...(body === undefined || body === '' ? {} : { body }),
            redirect: request.redirect,
            signal: AbortSignal.any([
              request.signal,
              AbortSignal.timeout(options.timeoutMs),
            ]),
          })
        );
      } catch (error) {
        if (request.signal.aborted || !repeatable || attempt >= retry.retries) {
          throw error;
        }
        await sleep(
          retryDelayMs(attempt, null, retry, options.random(), Date.now()),
          request.signal
        );
        continue;
      }
      const again =
        response.status === 429 || (response.status >= 500 && repeatable);
      if (!again || attempt >= retry.retries) return response;
      // The answer is dropped: free its connection.
      await response.body?.cancel().catch(() => undefined);
      await sleep(
        retryDelayMs(
          attempt,
          response.headers.get('retry-after'),
          retry,
          options.random(),
          Date.now()
        ),
        request.signal
      );
    }
  };
