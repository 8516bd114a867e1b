import {
  type DynamoDBDocumentClient,
  ScanCommand,
  type ScanCommandOutput,
} from '@aws-sdk/lib-dynamodb';
import type { Message, TimelineEvent } from '../../functions/domain/message.ts';
import type { Session } from '../../functions/domain/ports.ts';
import { documentClient } from '../../functions/shared/deps.ts';
import type { LocalExecutionEvent } from '../engine/index.ts';
import type { LocalSystem } from '../system.ts';
import type {
  LiveEventBody,
  LiveEventBus,
  LiveMessageStatus,
} from './events.ts';

/** How often the tables are read even when nothing pokes the watcher. */
const BACKSTOP_MS = 1000;

/** How long a phone's receipt waits for its push to reach the timeline. */
const DELIVERED_WAIT_MS = 3000;

type DeliveredEvent = Extract<LiveEventBody, { kind: 'delivered' }>;

const tableName = (system: LocalSystem, prefix: string): string => {
  const data = Object.entries(system.templates).find(([name]) =>
    name.includes('-Data-')
  )?.[1];
  const id = Object.keys(data?.Resources ?? {}).find((logicalId) =>
    logicalId.startsWith(prefix)
  );
  // The local table name is the logical id (see local/dynamo.ts).
  if (!id) throw new Error(`The data stack has no ${prefix}.`);
  return id;
};

/**
 * Watches a running local system and publishes what happens in it on a
 * {@link LiveEventBus}, derived from what the system already records:
 * - each message's stored timeline (new entries) and status (changes), read
 *   from the messages table whenever something may have changed it (an API
 *   request finished, a state machine event, a push reached a phone, an SMS)
 *   and once a second besides;
 * - logins and logouts, as sessions appearing in and leaving the sessions
 *   table;
 * - pushes reaching simulated phones (the simulator's `onDelivered`), SMS
 *   (the sink's `onSms`), changes of simulated phones made through
 *   `/local/devices`, and executions that failed or were aborted.
 */
export class SystemWatcher {
  readonly #bus: LiveEventBus;
  #system: LocalSystem | undefined;
  #db: DynamoDBDocumentClient | undefined;
  readonly #messages = new Map<
    string,
    { count: number; status: LiveMessageStatus }
  >();
  readonly #sessions = new Map<string, Session>();
  readonly #devices = new Map<
    string,
    { online: boolean; autoAck: boolean; alias: string | null }
  >();
  /** JPush msg_ids whose `pushed` entry is in a timeline already. */
  readonly #pushed = new Set<string>();
  /** Receipts waiting for their push's timeline entry, by msg_id. */
  readonly #waiting = new Map<
    string,
    { event: DeliveredEvent; timer: NodeJS.Timeout }
  >();
  readonly #unsubscribe: Array<() => void> = [];
  #timer: NodeJS.Timeout | undefined;
  #scanning: Promise<void> | undefined;
  #again = false;
  #closed = false;

  /** @param bus where the events go */
  constructor(bus: LiveEventBus) {
    this.#bus = bus;
  }

  /**
   * Starts watching a system. What it holds already (messages, sessions,
   * e.g. from a data directory) is taken as the starting point, not
   * announced as new.
   * @param system the running local system
   * @returns how many messages and sessions it held
   */
  async attach(
    system: LocalSystem
  ): Promise<{ messages: number; sessions: number }> {
    this.#system = system;
    this.#db = documentClient(system.dynamo.client);
    const [messages, sessions] = await Promise.all([
      this.listMessages(),
      this.#listSessions(),
    ]);
    for (const m of messages) {
      this.#messages.set(m.messageId, {
        count: m.timeline.length,
        status: m.status,
      });
      for (const entry of m.timeline) this.#notePushed(entry);
    }
    for (const s of sessions) this.#sessions.set(sessionKey(s), s);
    for (const device of system.simulator?.listDevices() ?? []) {
      this.#devices.set(device.registrationId, device);
    }
    this.#unsubscribe.push(
      system.sms.onSms((sms) => {
        this.#bus.emit({ kind: 'sms', at: sms.at, to: sms.to, text: sms.text });
        this.poke();
      })
    );
    if (system.simulator) {
      this.#unsubscribe.push(
        system.simulator.onDelivered((registrationId, push) => {
          const { messageId, to } = push.extras;
          this.#delivered({
            kind: 'delivered',
            at: push.at,
            registrationId,
            msgId: push.msgId,
            ...(typeof messageId === 'string' ? { messageId } : {}),
            ...(typeof to === 'string' ? { to } : {}),
            ...(push.title === undefined ? {} : { title: push.title }),
            alert: push.alert,
          });
          this.poke();
        })
      );
    }
    this.#timer = setInterval(() => this.poke(), BACKSTOP_MS);
    return { messages: messages.length, sessions: sessions.length };
  }

  /** Reads the tables again soon; calls while a read runs coalesce. */
  poke(): void {
    if (this.#closed || !this.#system) return;
    if (this.#scanning) {
      this.#again = true;
      return;
    }
    this.#scanning = this.#scan()
      .catch((error: unknown) => {
        if (!this.#closed) console.error('live view: reading failed', error);
      })
      .finally(() => {
        this.#scanning = undefined;
        if (this.#again) {
          this.#again = false;
          this.poke();
        }
      });
  }

  /**
   * For the system's `onExecutionEvent`: reads the tables again and reports
   * executions that did not end normally.
   * @param event the state machine event
   */
  onExecutionEvent(event: LocalExecutionEvent): void {
    if (this.#closed) return;
    const e = event.event;
    if (
      e.type === 'ExecutionFailed' ||
      e.type === 'ExecutionAborted' ||
      e.type === 'ExecutionTimeout'
    ) {
      this.#bus.emit({
        kind: 'execution',
        at: new Date(e.timestamp).toISOString(),
        name: event.name,
        outcome:
          e.type === 'ExecutionFailed'
            ? 'failed'
            : e.type === 'ExecutionAborted'
              ? 'aborted'
              : 'timed-out',
        ...('Error' in e && e.Error ? { error: String(e.Error) } : {}),
        ...('Cause' in e && e.Cause !== undefined
          ? { cause: String(e.Cause) }
          : {}),
      });
    }
    this.poke();
  }

  /**
   * Reports a simulated phone's settings after a `/local/devices` change,
   * when they differ from what was last seen.
   * @param registrationId the phone
   * @param at when the change was asked for (ISO 8601) @default now
   */
  deviceChanged(registrationId: string, at = new Date().toISOString()): void {
    const device = this.#system?.simulator?.getDevice(registrationId);
    if (!device || this.#closed) return;
    const before = this.#devices.get(registrationId);
    const now = {
      online: device.online,
      autoAck: device.autoAck,
      alias: device.alias,
    };
    this.#devices.set(registrationId, now);
    if (
      before &&
      before.online === now.online &&
      before.autoAck === now.autoAck &&
      before.alias === now.alias
    ) {
      return;
    }
    this.#bus.emit({
      kind: 'device',
      at,
      registrationId,
      ...now,
      created: before === undefined,
    });
  }

  /** Whether {@link attach} has run. */
  get attached(): boolean {
    return this.#db !== undefined;
  }

  /**
   * Every message the system holds, newest first (a consistent scan of the
   * messages table).
   */
  async listMessages(): Promise<Message[]> {
    const items = await this.#scanTable<Message>('MessagesTable');
    return items.sort(
      (a, b) =>
        b.createdAt.localeCompare(a.createdAt) ||
        b.messageId.localeCompare(a.messageId)
    );
  }

  /** Stops watching; waits for a read in progress. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer) clearInterval(this.#timer);
    for (const unsubscribe of this.#unsubscribe.splice(0)) unsubscribe();
    await this.#scanning;
    for (const { event, timer } of this.#waiting.values()) {
      clearTimeout(timer);
      this.#bus.emit(event);
    }
    this.#waiting.clear();
  }

  /**
   * A phone received a push. The simulator reports it while the push call
   * is still running, before the push is written to the message's
   * timeline; the receipt waits (a few seconds at most) for that entry, so
   * that "pushed" comes before "on phone".
   */
  #delivered(event: DeliveredEvent): void {
    if (event.messageId === undefined || this.#pushed.has(event.msgId)) {
      this.#bus.emit(event);
    } else {
      const timer = setTimeout(() => {
        this.#waiting.delete(event.msgId);
        this.#bus.emit(event);
      }, DELIVERED_WAIT_MS);
      this.#waiting.set(event.msgId, { event, timer });
    }
    this.poke();
  }

  #notePushed(entry: TimelineEvent): void {
    if (entry.event === 'pushed' && entry.jpushMsgId) {
      this.#pushed.add(entry.jpushMsgId);
    }
  }

  async #scan(): Promise<void> {
    const [messages, sessions] = await Promise.all([
      this.listMessages(),
      this.#listSessions(),
    ]);
    if (this.#closed) return;
    for (const m of [...messages].reverse()) {
      const seen = this.#messages.get(m.messageId);
      for (const entry of m.timeline.slice(seen?.count ?? 0)) {
        this.#notePushed(entry);
        this.#bus.emit({
          kind: 'timeline',
          at: entry.at,
          messageId: m.messageId,
          to: m.to,
          event: entry.event,
          ...(entry.detail === undefined ? {} : { detail: entry.detail }),
        });
      }
      if (seen && seen.status !== m.status) {
        this.#bus.emit({
          kind: 'status',
          at: m.updatedAt,
          messageId: m.messageId,
          to: m.to,
          previous: seen.status,
          status: m.status,
        });
      }
      this.#messages.set(m.messageId, {
        count: m.timeline.length,
        status: m.status,
      });
    }

    for (const [msgId, { event, timer }] of this.#waiting) {
      if (!this.#pushed.has(msgId)) continue;
      clearTimeout(timer);
      this.#waiting.delete(msgId);
      this.#bus.emit(event);
    }

    const now = new Date().toISOString();
    const current = new Map(sessions.map((s) => [sessionKey(s), s]));
    for (const [key, session] of this.#sessions) {
      if (current.has(key)) continue;
      this.#sessions.delete(key);
      this.#bus.emit({
        kind: 'session',
        at: now,
        action: 'logout',
        userId: session.userId,
        registrationId: session.registrationId,
      });
    }
    for (const [key, session] of current) {
      // A new key, or the same user logging in again on the same phone.
      if (this.#sessions.get(key)?.since === session.since) continue;
      this.#sessions.set(key, session);
      this.#bus.emit({
        kind: 'session',
        at: session.since,
        action: 'login',
        userId: session.userId,
        registrationId: session.registrationId,
        platform: session.platform,
      });
    }
  }

  #listSessions(): Promise<Session[]> {
    return this.#scanTable<Session>('SessionsTable');
  }

  async #scanTable<T>(prefix: string): Promise<T[]> {
    const system = this.#system;
    const db = this.#db;
    if (!system || !db) {
      throw new Error('The watcher is not attached to a system.');
    }
    const items: T[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const page: ScanCommandOutput = await db.send(
        new ScanCommand({
          TableName: tableName(system, prefix),
          ConsistentRead: true,
          ...(start ? { ExclusiveStartKey: start } : {}),
        })
      );
      items.push(...((page.Items ?? []) as T[]));
      start = page.LastEvaluatedKey;
    } while (start);
    return items;
  }
}

const sessionKey = (s: Pick<Session, 'userId' | 'registrationId'>) =>
  `${s.userId}\u0000${s.registrationId}`;
