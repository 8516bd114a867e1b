import {
  type EventBridgeClient,
  PutEventsCommand,
  type PutEventsRequestEntry,
} from '@aws-sdk/client-eventbridge';
import type {
  OutcomeEvent,
  OutcomeEventPublisher,
} from '../domain/outcome-events.ts';

/** PutEvents takes at most 10 entries per call. */
const ENTRIES_PER_CALL = 10;

/**
 * Outcome events on an EventBridge bus. Entries that PutEvents refuses
 * (it answers 200 with `FailedEntryCount`, e.g. throttled) are put again, up
 * to {@link EventBridgePublisher.tries} times; after that the events from
 * the first refused one on are left to the caller to publish again, so that
 * a message's events are never put out of order by this publisher.
 */
export class EventBridgePublisher implements OutcomeEventPublisher {
  /**
   * @param events the EventBridge client
   * @param busName the bus (its name or ARN)
   * @param tries times an entry is put before it counts as failed
   */
  constructor(
    private readonly events: Pick<EventBridgeClient, 'send'>,
    private readonly busName: () => string,
    private readonly tries = 3
  ) {}

  async publish(events: readonly OutcomeEvent[]): Promise<number> {
    let published = 0;
    while (published < events.length) {
      const chunk = events.slice(published, published + ENTRIES_PER_CALL);
      const accepted = await this.#put(chunk);
      published += accepted;
      if (accepted < chunk.length) break;
    }
    return published;
  }

  /** How many of the chunk, from the first, are on the bus. */
  async #put(chunk: readonly OutcomeEvent[]): Promise<number> {
    let pending = chunk.map((event, index) => ({ index, event }));
    let firstFailed = chunk.length;
    for (
      let attempt = 1;
      attempt <= this.tries && pending.length > 0;
      attempt++
    ) {
      const { Entries = [] } = await this.events.send(
        new PutEventsCommand({
          Entries: pending.map(({ event }) => this.#entry(event)),
        })
      );
      // Entries answer in the order they were put; a failed one has an
      // ErrorCode instead of an EventId.
      pending = pending.filter((_, i) => {
        const answer = Entries[i];
        return (
          answer === undefined ||
          answer.ErrorCode !== undefined ||
          !answer.EventId
        );
      });
      firstFailed = pending[0]?.index ?? chunk.length;
    }
    return firstFailed;
  }

  #entry(event: OutcomeEvent): PutEventsRequestEntry {
    return {
      EventBusName: this.busName(),
      Source: event.source,
      DetailType: event.detailType,
      ...(Number.isNaN(Date.parse(event.time))
        ? {}
        : { Time: new Date(event.time) }),
      Resources: [],
      Detail: JSON.stringify(event.detail),
    };
  }
}
