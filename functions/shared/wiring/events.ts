import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { EventBridgePublisher } from '../../adapters/eventbridge-publisher.ts';
import type { OutcomeEventPublisher } from '../../domain/outcome-events.ts';
import { booleanEnv, requireEnv } from '../env.ts';
import { ENV } from '../names.ts';
import type { Part } from './part.ts';

/** What the EventBridge part provides. */
export interface OutcomeEventDeps {
  /** The outcome events' bus. */
  readonly outcomeEvents: OutcomeEventPublisher;
  /** Whether the events carry the message's title, body and data. */
  readonly eventsIncludeContent: boolean;
}

/** The EventBridge part. */
export const outcomeEvents: Part<OutcomeEventDeps> = () => ({
  outcomeEvents: () =>
    new EventBridgePublisher(new EventBridgeClient({}), () =>
      requireEnv(ENV.eventBusName)
    ),
  eventsIncludeContent: () => booleanEnv(ENV.eventsIncludeContent, false),
});
