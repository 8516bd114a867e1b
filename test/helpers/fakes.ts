import { InMemoryReportMode } from '../../functions/adapters/report-mode.ts';
import { InvalidCursorError } from '../../functions/domain/errors.ts';
import type { Message } from '../../functions/domain/message.ts';
import type {
  CallbackResult,
  CidSource,
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
  OnCallGroups,
  OnCallWindow,
  Session,
  SessionRepository,
  SigningKeySource,
  SmsBudget,
  SmsHoldReason,
  SmsSender,
  StoredMessage,
  TaskCallbacks,
  Withdrawal,
  WithdrawalOutbox,
} from '../../functions/domain/ports.ts';
import { signingKeys } from '../../functions/domain/signing-keys.ts';
import {
  SMS_DEFAULTS,
  type SmsSettings,
} from '../../functions/domain/sms-limits.ts';

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

  async getFields<K extends keyof Message>(
    messageId: string,
    fields: readonly K[]
  ): Promise<Pick<Message, K> | undefined> {
    const item = this.items.get(messageId);
    if (!item) return undefined;
    const picked: Partial<Pick<Message, K>> = {};
    for (const field of fields) {
      if (item[field] !== undefined) picked[field] = clone(item[field]);
    }
    return picked as Pick<Message, K>;
  }

  async getMany(messageIds: readonly string[]): Promise<Message[]> {
    return messageIds.flatMap((id) => {
      const item = this.items.get(id);
      return item ? [clone(item)] : [];
    });
  }

  async delete(messageId: string): Promise<boolean> {
    return this.items.delete(messageId);
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
    if (
      when.pushCount !== undefined &&
      Object.keys(current.pushes).length !== when.pushCount
    ) {
      return undefined;
    }
    if (
      when.attemptsAtMost !== undefined &&
      current.attempts > when.attemptsAtMost
    ) {
      return undefined;
    }
    const next = clone(current) as unknown as Record<string, unknown>;
    Object.assign(next, update.set ?? {});
    for (const entry of update.putInMap ?? []) {
      const map = next[entry.map] as Record<string, unknown>;
      map[entry.key] = clone(entry.value);
    }
    if (update.pushAnswer) {
      const { key, state, jpushMsgId } = update.pushAnswer;
      const pushes = next.pushes as Record<string, Record<string, unknown>>;
      const record = pushes[key];
      if (record) {
        record.state = state;
        if (jpushMsgId !== undefined) record.jpushMsgId = jpushMsgId;
      }
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

  async delete(
    entry: Pick<HistoryEntry, 'userId' | 'messageId' | 'createdAt'>
  ): Promise<boolean> {
    const at = this.entries.findIndex(
      (e) =>
        e.userId === entry.userId &&
        e.messageId === entry.messageId &&
        e.createdAt === entry.createdAt
    );
    if (at >= 0) this.entries.splice(at, 1);
    return at >= 0;
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
export const fakeAckKey: SigningKeySource = {
  keys: async () =>
    signingKeys({
      version: '1',
      key: Buffer.from('test-only-ack-key-not-a-secret-0123456789'),
    }),
};

/** A fixed, obviously fake history cursor key. */
export const fakeCursorKeys: SigningKeySource = {
  keys: async () =>
    signingKeys({
      version: '1',
      key: Buffer.from('test-only-cursor-key-not-a-secret-0123456'),
    }),
};

/** Hands out cids `cid-1`, `cid-2`, ... */
export class CountingCids implements CidSource {
  #next = 1;

  async next(): Promise<string> {
    return `8103a4c628a0b98974ec1949-cid-${this.#next++}`;
  }
}

/**
 * Records the task callbacks; tokens in `ended` answer `expired`, as Step
 * Functions does for a task that no longer waits.
 */
export class RecordingCallbacks implements TaskCallbacks {
  readonly succeeded: { taskToken: string; output: unknown }[] = [];
  readonly failed: { taskToken: string; error: string; cause: string }[] = [];
  readonly ended = new Set<string>();

  async succeed(taskToken: string, output: unknown): Promise<CallbackResult> {
    if (this.ended.has(taskToken)) return 'expired';
    this.succeeded.push({ taskToken, output: structuredClone(output) });
    this.ended.add(taskToken);
    return 'delivered';
  }

  async fail(
    taskToken: string,
    error: string,
    cause: string
  ): Promise<CallbackResult> {
    if (this.ended.has(taskToken)) return 'expired';
    this.failed.push({ taskToken, error, cause });
    this.ended.add(taskToken);
    return 'delivered';
  }

  async heartbeat(taskToken: string): Promise<CallbackResult> {
    return this.ended.has(taskToken) ? 'expired' : 'delivered';
  }
}

/** The withdrawal outbox in memory. */
export class InMemoryOutbox implements WithdrawalOutbox {
  readonly entries = new Map<string, Withdrawal>();

  async put(withdrawal: Withdrawal): Promise<void> {
    this.entries.set(
      `${withdrawal.messageId}#${withdrawal.pushKey}`,
      clone(withdrawal)
    );
  }

  async delete(messageId: string, pushKey: string): Promise<void> {
    this.entries.delete(`${messageId}#${pushKey}`);
  }

  async due(now: Date, limit: number): Promise<Withdrawal[]> {
    return [...this.entries.values()]
      .filter((w) => Date.parse(w.nextAt) <= now.getTime())
      .sort((a, b) => a.nextAt.localeCompare(b.nextAt))
      .slice(0, limit)
      .map(clone);
  }
}

/** Records the SMS it is asked to send; `failNext` makes sends throw. */
export class RecordingSms implements SmsSender {
  readonly sent: { to: string; text: string }[] = [];
  failNext = 0;
  /** Every send to these (`on-call`, or a phone number) throws. */
  readonly failingTo = new Set<string>();
  /** Every send tried, failed ones too. */
  readonly tries: { to: string; text: string }[] = [];

  async toOnCall(text: string): Promise<void> {
    this.#send('on-call', text);
  }

  async toNumber(phoneNumber: string, text: string): Promise<void> {
    this.#send(phoneNumber, text);
  }

  #send(to: string, text: string): void {
    this.tries.push({ to, text });
    if (this.failingTo.has(to) || this.failNext > 0) {
      if (!this.failingTo.has(to)) this.failNext -= 1;
      throw Object.assign(new Error('Simulated SNS failure'), {
        name: 'InternalErrorException',
      });
    }
    this.sent.push({ to, text });
  }
}

/**
 * The SMS limits and on-call windows in memory, with the semantics of
 * `DynamoSmsLimits` (whose own tests run against dynalite).
 */
export class InMemorySmsLimits implements SmsBudget, OnCallGroups {
  readonly counters = new Map<string, number>();
  readonly windows = new Map<
    string,
    OnCallWindow & { state: 'open' | 'sending' | 'sent'; leaseUntil?: string }
  >();
  current: { windowId: string; closesAt: string } | undefined;
  #next = 0;

  async take(
    phoneNumber: string | undefined,
    at: Date,
    limits: { perNumberPerHour: number; dailyCap: number }
  ): Promise<SmsHoldReason | undefined> {
    const iso = at.toISOString();
    const count = (key: string, limit: number) => {
      const n = this.counters.get(key) ?? 0;
      if (n >= limit) return false;
      this.counters.set(key, n + 1);
      return true;
    };
    if (
      phoneNumber !== undefined &&
      !count(`${phoneNumber}@${iso.slice(0, 13)}`, limits.perNumberPerHour)
    ) {
      return 'number-rate';
    }
    return count(`daily@${iso.slice(0, 10)}`, limits.dailyCap)
      ? undefined
      : 'daily-cap';
  }

  async join(messageId: string, at: Date, windowMs: number) {
    const now = at.toISOString();
    const open = this.current && this.windows.get(this.current.windowId);
    if (open && open.closesAt > now && open.state === 'open') {
      this.windows.set(open.windowId, {
        ...open,
        count: open.count + 1,
        messageIds:
          open.messageIds.length < 5
            ? [...open.messageIds, messageId]
            : open.messageIds,
      });
      return { page: false, windowId: open.windowId, closesAt: open.closesAt };
    }
    const windowId = `w${++this.#next}`;
    const closesAt = new Date(at.getTime() + windowMs).toISOString();
    this.windows.set(windowId, {
      windowId,
      openedAt: now,
      closesAt,
      openedBy: messageId,
      count: 0,
      messageIds: [],
      state: 'open',
    });
    this.current = { windowId, closesAt };
    return { page: true, windowId, closesAt };
  }

  async due(at: Date): Promise<OnCallWindow[]> {
    const now = at.toISOString();
    return [...this.windows.values()].filter(
      (w) =>
        w.count > 0 &&
        w.closesAt <= now &&
        (w.state === 'open' ||
          (w.state === 'sending' && (w.leaseUntil ?? '') <= now))
    );
  }

  async claim(windowId: string, at: Date, leaseMs: number) {
    const w = this.windows.get(windowId);
    const now = at.toISOString();
    if (
      !w ||
      !(
        w.state === 'open' ||
        (w.state === 'sending' && (w.leaseUntil ?? '') <= now)
      )
    ) {
      return undefined;
    }
    const claimed = {
      ...w,
      state: 'sending' as const,
      leaseUntil: new Date(at.getTime() + leaseMs).toISOString(),
    };
    this.windows.set(windowId, claimed);
    return claimed;
  }

  async settle(windowId: string): Promise<void> {
    const w = this.windows.get(windowId);
    if (w) this.windows.set(windowId, { ...w, state: 'sent' });
  }

  async release(windowId: string): Promise<void> {
    const w = this.windows.get(windowId);
    if (w?.state === 'sending')
      this.windows.set(windowId, { ...w, state: 'open' });
  }
}

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
  cursorKeys: fakeCursorKeys,
  cids: new CountingCids(),
  callbacks: new RecordingCallbacks(),
  outbox: new InMemoryOutbox(),
  sms: new RecordingSms(),
  ...smsLimitsDeps(),
  reportMode: new InMemoryReportMode(),
});

/** The SMS limits in memory, with the default settings and CN and US allowed. */
export const smsLimitsDeps = () => {
  const limits = new InMemorySmsLimits();
  return {
    smsBudget: limits,
    onCallGroups: limits,
    smsSettings: { ...SMS_DEFAULTS } as SmsSettings,
    smsCountries: ['CN', 'US'] as readonly string[],
  };
};
