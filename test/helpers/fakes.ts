import { InvalidCursorError } from '../../functions/domain/errors.ts';
import type { Message } from '../../functions/domain/message.ts';
import type {
  AckKeySource,
  Clock,
  DeliveryRequest,
  DeliveryStarter,
  DeviceOwner,
  DeviceRepository,
  HistoryEntry,
  HistoryPage,
  HistoryRepository,
  MessageRepository,
  MessageUpdate,
  OfflineStore,
  Session,
  SessionRepository,
  StoredMessage,
} from '../../functions/domain/ports.ts';

const clone = <T>(value: T): T => structuredClone(value);

/** Messages in memory, with the same update semantics as DynamoDB's. */
export class InMemoryMessages implements MessageRepository {
  readonly items = new Map<string, Message>();

  async create(message: Message): Promise<boolean> {
    if (this.items.has(message.messageId)) return false;
    this.items.set(message.messageId, clone(message));
    return true;
  }

  async get(messageId: string): Promise<Message | undefined> {
    const item = this.items.get(messageId);
    return item && clone(item);
  }

  async getMany(messageIds: readonly string[]): Promise<Message[]> {
    return messageIds.flatMap((id) => {
      const item = this.items.get(id);
      return item ? [clone(item)] : [];
    });
  }

  async update(
    messageId: string,
    update: MessageUpdate
  ): Promise<Message | undefined> {
    const current = this.items.get(messageId);
    if (!current) return undefined;
    const when = update.when ?? {};
    if (when.statusIn && !when.statusIn.includes(current.status))
      return undefined;
    if (when.delivery !== undefined && current.delivery !== when.delivery) {
      return undefined;
    }
    if (when.notAcked && current.ackedAt !== undefined) return undefined;
    if (when.pushAbsent !== undefined && current.pushes[when.pushAbsent]) {
      return undefined;
    }
    const next = clone(current) as unknown as Record<string, unknown>;
    Object.assign(next, update.set ?? {});
    for (const entry of update.putInMap ?? []) {
      const map = next[entry.map] as Record<string, unknown>;
      if ('onlyIfAbsent' in entry && entry.onlyIfAbsent && entry.key in map) {
        continue;
      }
      map[entry.key] = clone(entry.value);
    }
    for (const entry of update.removeFromMap ?? []) {
      delete (next[entry.map] as Record<string, unknown>)[entry.key];
    }
    next.timeline = [...current.timeline, ...(update.timeline ?? [])];
    next.updatedAt = new Date().toISOString();
    this.items.set(messageId, next as unknown as Message);
    return clone(next as unknown as Message);
  }
}

/** Sessions in memory. */
export class InMemorySessions implements SessionRepository {
  readonly items = new Map<string, Session>();

  async listByUser(userId: string): Promise<Session[]> {
    return [...this.items.values()]
      .filter((s) => s.userId === userId)
      .sort((a, b) => a.registrationId.localeCompare(b.registrationId));
  }

  async put(session: Session): Promise<void> {
    this.items.set(`${session.userId}|${session.registrationId}`, {
      ...session,
    });
  }

  async delete(userId: string, registrationId: string): Promise<void> {
    this.items.delete(`${userId}|${registrationId}`);
  }
}

/** Device owners in memory. */
export class InMemoryDevices implements DeviceRepository {
  readonly items = new Map<string, DeviceOwner>();

  async get(registrationId: string): Promise<DeviceOwner | undefined> {
    return this.items.get(registrationId);
  }

  async put(owner: DeviceOwner): Promise<DeviceOwner | undefined> {
    const previous = this.items.get(owner.registrationId);
    this.items.set(owner.registrationId, { ...owner });
    return previous;
  }

  async deleteIfOwner(registrationId: string, userId: string): Promise<void> {
    if (this.items.get(registrationId)?.userId === userId) {
      this.items.delete(registrationId);
    }
  }
}

/** The offline store in memory. */
export class InMemoryOfflineStore implements OfflineStore {
  readonly items = new Map<string, StoredMessage>();

  async put(item: StoredMessage): Promise<void> {
    this.items.set(`${item.userId}|${item.storedKey}`, { ...item });
  }

  async list(userId: string): Promise<StoredMessage[]> {
    return [...this.items.values()]
      .filter((i) => i.userId === userId)
      .sort((a, b) => a.storedKey.localeCompare(b.storedKey));
  }

  async delete(userId: string, storedKey: string): Promise<void> {
    this.items.delete(`${userId}|${storedKey}`);
  }
}

/** History in memory; the cursor is the index of the next entry. */
export class InMemoryHistory implements HistoryRepository {
  readonly entries: HistoryEntry[] = [];

  async add(entry: HistoryEntry): Promise<void> {
    this.entries.push({ ...entry });
  }

  async page(
    userId: string,
    limit: number,
    cursor?: string
  ): Promise<HistoryPage> {
    const mine = this.entries
      .filter((e) => e.userId === userId)
      .sort((a, b) =>
        `${b.createdAt}#${b.messageId}`.localeCompare(
          `${a.createdAt}#${a.messageId}`
        )
      );
    const start = cursor === undefined ? 0 : Number(cursor);
    if (!Number.isInteger(start) || start < 0) {
      throw new InvalidCursorError('cursor is not valid');
    }
    const entries = mine.slice(start, start + limit);
    return {
      entries,
      ...(start + limit < mine.length
        ? { nextCursor: String(start + limit) }
        : {}),
    };
  }
}

/** Records the deliveries it was asked to start; starting twice is a no-op. */
export class RecordingDeliveryStarter implements DeliveryStarter {
  readonly started: DeliveryRequest[] = [];

  async start(request: DeliveryRequest): Promise<void> {
    if (
      !this.started.some(
        (r) =>
          r.messageId === request.messageId && r.delivery === request.delivery
      )
    ) {
      this.started.push(request);
    }
  }
}

/** A clock that moves only when told. */
export class FakeClock implements Clock {
  constructor(private current = new Date('2026-11-27T08:00:00.000Z')) {}

  now(): Date {
    return new Date(this.current);
  }

  advance(ms: number): void {
    this.current = new Date(this.current.getTime() + ms);
  }
}

/** A fixed, obviously fake ACK key. */
export const fakeAckKey: AckKeySource = {
  key: async () => Buffer.from('test-only-ack-key-not-a-secret-0123456789'),
};

/** Every in-memory port, for domain tests. */
export const inMemoryDeps = () => ({
  messages: new InMemoryMessages(),
  sessions: new InMemorySessions(),
  devices: new InMemoryDevices(),
  offline: new InMemoryOfflineStore(),
  history: new InMemoryHistory(),
  deliveries: new RecordingDeliveryStarter(),
  clock: new FakeClock(),
  ackKey: fakeAckKey,
});
