/**
 * The local system with its live view: the event bus, the watcher that
 * derives events from the running system, and the local-only routes (the
 * live page, `/local/live-events`, `/local/messages`). `npm start` and the
 * browser test wire the system the same way, through {@link startLiveSystem}.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { LocalExecutionEvent } from '../engine/index.ts';
import {
  type LocalSystem,
  type LocalSystemOptions,
  startLocalSystem,
} from '../system.ts';
import { LiveEventBus, type LiveEventBusOptions } from './events.ts';
import { createLiveRoutes } from './routes.ts';
import { SystemWatcher } from './watcher.ts';

export {
  describeEvent,
  type LiveEvent,
  type LiveEventBody,
  LiveEventBus,
} from './events.ts';
export { createLiveRoutes } from './routes.ts';
export { SystemWatcher } from './watcher.ts';

/** Options of {@link startLiveSystem}: the system's, and the bus's. */
export interface LiveSystemOptions extends LocalSystemOptions {
  readonly events?: LiveEventBusOptions;
}

/** A running local system with its live view. */
export interface LiveSystem {
  readonly system: LocalSystem;
  /** Every event, as the console and the page see them. */
  readonly bus: LiveEventBus;
  readonly watcher: SystemWatcher;
  /** What the system held when it started (from a data directory). */
  readonly held: { readonly messages: number; readonly sessions: number };
  /** Stops the live view, then the system. */
  close(): Promise<void>;
}

/**
 * Starts the local system with the live view wired in: the live routes are
 * served before the API (`extraRoutes`), and state machine events reach the
 * watcher (`onExecutionEvent`). The caller's own `extraRoutes` and
 * `onExecutionEvent`, if any, still run (after the live view's).
 * @param options the local system's options
 * @throws whatever {@link startLocalSystem} throws
 */
export const startLiveSystem = async (
  options: LiveSystemOptions = {}
): Promise<LiveSystem> => {
  const bus = new LiveEventBus(options.events);
  const watcher = new SystemWatcher(bus);
  const routes = createLiveRoutes({
    bus,
    watcher,
    jpush: options.jpush ? 'real' : 'simulator',
  });
  const extraRoutes = async (
    req: IncomingMessage,
    res: ServerResponse,
    url: URL
  ): Promise<boolean> =>
    (await routes.handle(req, res, url)) ||
    ((await options.extraRoutes?.(req, res, url)) ?? false);
  const onExecutionEvent = (event: LocalExecutionEvent) => {
    watcher.onExecutionEvent(event);
    options.onExecutionEvent?.(event);
  };
  const system = await startLocalSystem({
    ...options,
    extraRoutes,
    onExecutionEvent,
  });
  let held: LiveSystem['held'];
  try {
    held = await watcher.attach(system);
  } catch (error) {
    await watcher.close();
    await system.close();
    throw error;
  }
  let closed: Promise<void> | undefined;
  return {
    system,
    bus,
    watcher,
    held,
    close: () => {
      closed ??= (async () => {
        await watcher.close();
        bus.close();
        routes.close();
        await system.close();
      })();
      return closed;
    },
  };
};
