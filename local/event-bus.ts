/**
 * The outcome events' bus in local mode. The OutcomeEvents function puts
 * events here as it puts them on EventBridge; each is kept in the shape
 * EventBridge gives a subscriber (`version`, `id`, `detail-type`, `source`,
 * `time`, `detail`, …), listed at `GET /local/events`, and POSTed as JSON to
 * the outcome webhook when one is set: in order, one at a time, each tried
 * again with a growing wait until the webhook answers 2xx.
 */
import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import type {
  OutcomeEvent,
  OutcomeEventPublisher,
} from '../functions/domain/outcome-events.ts';
import { sendJsonError } from './http-api.ts';

/** An outcome event as a subscriber of the bus receives it. */
export interface BusEvent {
  readonly version: '0';
  /** The bus's id of this delivery (a redelivered event gets a new one). */
  readonly id: string;
  readonly 'detail-type': string;
  readonly source: string;
  readonly account: string;
  readonly time: string;
  readonly region: string;
  readonly resources: readonly string[];
  readonly detail: OutcomeEvent['detail'];
}

/** Options of {@link LocalEventBus}. */
export interface LocalEventBusOptions {
  /** Where each event is POSTed (`OUTCOME_WEBHOOK_URL`). */
  readonly webhookUrl?: string;
  /** First wait before a failed POST is tried again, ms. @default 500 */
  readonly retryBaseMs?: number;
  /** Longest wait between tries, ms. @default 30000 */
  readonly retryMaxMs?: number;
  /** Times a POST is tried before the event is given up. @default 20 */
  readonly maxTries?: number;
  /** Time one POST may take, ms. @default 10000 */
  readonly timeoutMs?: number;
}

/** Events kept for `GET /local/events`, oldest dropped first. */
const KEPT = 10_000;

/** A webhook URL as local mode takes it: http or https, nothing else. */
export const parseWebhookUrl = (text: string): string => {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new Error(
      `OUTCOME_WEBHOOK_URL: "${text}" is not a URL (e.g. http://127.0.0.1:9000/events)`
    );
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new Error(
      `OUTCOME_WEBHOOK_URL: "${text}" must be an http or https URL`
    );
  }
  return url.href;
};

/** The local bus: a list, and the webhook's queue. */
export class LocalEventBus implements OutcomeEventPublisher {
  readonly #events: BusEvent[] = [];
  readonly #outbox: BusEvent[] = [];
  readonly #listeners = new Set<(event: BusEvent) => void>();
  #sending: Promise<void> | undefined;
  #closed = false;
  #failures = 0;

  constructor(private readonly options: LocalEventBusOptions = {}) {
    if (options.webhookUrl !== undefined) parseWebhookUrl(options.webhookUrl);
  }

  async publish(events: readonly OutcomeEvent[]): Promise<number> {
    for (const event of events) {
      const busEvent: BusEvent = {
        version: '0',
        id: randomUUID(),
        'detail-type': event.detailType,
        source: event.source,
        account: '000000000000',
        time: event.time,
        region: 'us-east-1',
        resources: [],
        detail: event.detail,
      };
      this.#events.push(busEvent);
      if (this.#events.length > KEPT) this.#events.shift();
      for (const listener of this.#listeners) listener(busEvent);
      if (this.options.webhookUrl !== undefined && !this.#closed) {
        this.#outbox.push(busEvent);
        this.#send();
      }
    }
    return events.length;
  }

  /** Every event put on the bus, oldest first (the last 10,000). */
  list(): readonly BusEvent[] {
    return [...this.#events];
  }

  /** Calls `listener` with every event put from now on. */
  subscribe(listener: (event: BusEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Events not yet taken by the webhook. */
  get pending(): number {
    return this.#outbox.length;
  }

  /** Answers `GET /local/events` (`?messageId=` keeps one message's). */
  serve(res: ServerResponse, url: URL, method: string): void {
    if (method !== 'GET') {
      sendJsonError(
        res,
        405,
        'MethodNotAllowed',
        `${method} is not allowed here; use GET.`,
        { allow: 'GET' }
      );
      return;
    }
    const messageId = url.searchParams.get('messageId');
    const events =
      messageId === null
        ? this.list()
        : this.list().filter((e) => e.detail.messageId === messageId);
    res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' });
    res.end(JSON.stringify(events));
  }

  /** Stops the webhook's retries (what is pending is not sent). */
  close(): void {
    this.#closed = true;
    this.#outbox.length = 0;
  }

  #send(): void {
    if (this.#sending || this.#closed) return;
    this.#sending = this.#drain().finally(() => {
      this.#sending = undefined;
      if (this.#outbox.length > 0) this.#send();
    });
  }

  async #drain(): Promise<void> {
    const url = this.options.webhookUrl as string;
    const base = this.options.retryBaseMs ?? 500;
    const max = this.options.retryMaxMs ?? 30_000;
    const tries = this.options.maxTries ?? 20;
    while (this.#outbox.length > 0 && !this.#closed) {
      const event = this.#outbox[0] as BusEvent;
      const error = await this.#post(url, event);
      if (error === undefined) {
        this.#outbox.shift();
        this.#failures = 0;
        continue;
      }
      this.#failures += 1;
      if (this.#failures >= tries) {
        console.error(
          `outcome webhook: gave up event ${event.detail.eventId} after ${tries} tries (${error})`
        );
        this.#outbox.shift();
        this.#failures = 0;
        continue;
      }
      const wait = Math.min(base * 2 ** (this.#failures - 1), max);
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }

  /** POSTs one event; the reason it failed, or undefined. */
  async #post(url: string, event: BusEvent): Promise<string | undefined> {
    try {
      const answer = await fetch(url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          // What a receiver de-duplicates by.
          'x-event-id': event.detail.eventId,
        },
        body: JSON.stringify(event),
        signal: AbortSignal.timeout(this.options.timeoutMs ?? 10_000),
      });
      await answer.arrayBuffer().catch(() => undefined);
      return answer.ok ? undefined : `HTTP ${answer.status}`;
    } catch (error) {
      return error instanceof Error ? error.message : String(error);
    }
  }
}
