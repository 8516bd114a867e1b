/**
 * DynamoDB Streams for the local mode, which dynalite does not have: a
 * loopback proxy in front of dynalite that turns every write to a table with
 * a `StreamSpecification` into a stream record (old and new image, as
 * `NEW_AND_OLD_IMAGES` gives them), and hands the records to the functions
 * that the synthesized template maps to that stream
 * (`AWS::Lambda::EventSourceMapping`), in batches, as Lambda's poller does:
 * in order, a failed batch given again from its first failed record
 * (`ReportBatchItemFailures`) up to `MaximumRetryAttempts`, then dropped.
 *
 * The images are the item before and after the write, with the writes to
 * each item held one at a time so that they are exactly that: a single-item
 * write asks dynalite for the one it can return (`ReturnValues`), and the
 * rest is read around it.
 */
import { randomBytes } from 'node:crypto';
import {
  createServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  type AttributeValue,
  type DynamoDBClient,
  GetItemCommand,
} from '@aws-sdk/client-dynamodb';
import type {
  DynamoDBBatchResponse,
  DynamoDBRecord,
  DynamoDBStreamEvent,
} from 'aws-lambda';
import type { CfnResource, CfnTemplate } from './dynamo.ts';
import { LOCAL_REGION, localDynamoClient } from './dynamo.ts';

type Item = Record<string, AttributeValue>;

/** A table whose writes become stream records. */
export interface StreamedTable {
  /** The local table name. */
  readonly tableName: string;
  /** Its key attributes (partition, then sort). */
  readonly keys: readonly string[];
}

/** A function reading a stream, as its event source mapping sets it. */
export interface StreamConsumer {
  /** The local table whose stream it reads. */
  readonly tableName: string;
  /** The function's logical id. */
  readonly functionId: string;
  /** The function's handler module (its `LocalEntry`). */
  readonly entry: string;
  readonly batchSize: number;
  /** Times a failed batch is given again before its record is dropped. */
  readonly maxRetryAttempts: number;
}

/** Options of {@link startStreams}. */
export interface StartStreamsOptions {
  /** dynalite's endpoint. */
  readonly dynamoEndpoint: string;
  readonly tables: readonly StreamedTable[];
  readonly consumers: readonly StreamConsumer[];
  /** The handler of a consumer's function. */
  readonly handlerFor: (
    consumer: StreamConsumer
  ) => (
    event: DynamoDBStreamEvent
  ) => Promise<DynamoDBBatchResponse | undefined>;
  /** Wait before a failed batch is given again, ms. @default 200 */
  readonly retryDelayMs?: number;
  /**
   * Told when a consumer's handler throws (the whole batch is given again).
   * @default console.error with the consumer's entry
   */
  readonly onBatchError?: (consumer: StreamConsumer, error: unknown) => void;
}

/** The running streams. */
export interface LocalStreams {
  /** The proxy's endpoint: the DynamoDB the local system uses. */
  readonly endpoint: string;
  /** A client of the proxy. */
  readonly client: DynamoDBClient;
  /** Records dropped after their retries, by consumer entry. */
  readonly dropped: ReadonlyArray<{
    readonly entry: string;
    readonly record: DynamoDBRecord;
  }>;
  /** Calls `listener` with every record from now on, as it is made. */
  subscribe(
    listener: (tableName: string, record: DynamoDBRecord) => void
  ): () => void;
  /**
   * Resolves once every write that had begun has made its records, and
   * every record so far has been handed to every consumer.
   */
  idle(): Promise<void>;
  close(): Promise<void>;
}

/** The writes a request makes, by table: the key of each item written. */
const writesOf = (
  operation: string,
  input: Record<string, unknown>
): { tableName: string; key?: Item; item?: Item }[] => {
  const table = input.TableName as string | undefined;
  switch (operation) {
    case 'PutItem':
      return table ? [{ tableName: table, item: input.Item as Item }] : [];
    case 'UpdateItem':
    case 'DeleteItem':
      return table ? [{ tableName: table, key: input.Key as Item }] : [];
    case 'TransactWriteItems':
      return (
        (input.TransactItems ?? []) as Record<
          string,
          { TableName: string; Key?: Item; Item?: Item }
        >[]
      ).flatMap((entry) => {
        const write = entry.Put ?? entry.Update ?? entry.Delete;
        if (!write) return [];
        return [
          {
            tableName: write.TableName,
            ...(write.Key ? { key: write.Key } : {}),
            ...(write.Item ? { item: write.Item } : {}),
          },
        ];
      });
    case 'BatchWriteItem':
      return Object.entries(
        (input.RequestItems ?? {}) as Record<
          string,
          { PutRequest?: { Item: Item }; DeleteRequest?: { Key: Item } }[]
        >
      ).flatMap(([tableName, requests]) =>
        requests.map((r) => ({
          tableName,
          ...(r.PutRequest ? { item: r.PutRequest.Item } : {}),
          ...(r.DeleteRequest ? { key: r.DeleteRequest.Key } : {}),
        }))
      );
    default:
      return [];
  }
};

/** An item as canonical JSON: attributes (and map keys) in sorted order. */
const canonical = (value: unknown): unknown =>
  Array.isArray(value)
    ? value.map(canonical)
    : value && typeof value === 'object'
      ? Object.fromEntries(
          Object.keys(value)
            .sort()
            .map((k) => [k, canonical((value as Record<string, unknown>)[k])])
        )
      : value;

/** Whether two images are one item (or both none), whatever their order. */
const sameItem = (a: Item | undefined, b: Item | undefined): boolean =>
  JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));

/**
 * How a single-item write gives its own images: the request to send
 * instead (asking for `ReturnValues`), whether the caller asked for the
 * answer's `Attributes` itself, and the images it yields from them. Only
 * for the `ReturnValues` a caller may have set that give the same answer
 * (`NONE` or the one asked for); otherwise undefined: read around it.
 */
const ownImages = (
  operation: string,
  input: Record<string, unknown>
):
  | {
      request: Record<string, unknown>;
      keep: boolean;
      before?: (attributes: Item | undefined) => Item | undefined;
      after?: (attributes: Item | undefined) => Item | undefined;
    }
  | undefined => {
  const asked = (input.ReturnValues as string | undefined) ?? 'NONE';
  switch (operation) {
    case 'PutItem':
    case 'DeleteItem':
      // A put's new item is the one put, as it is stored; a delete has none.
      return asked === 'NONE' || asked === 'ALL_OLD'
        ? {
            request: { ...input, ReturnValues: 'ALL_OLD' },
            keep: asked === 'ALL_OLD',
            before: (attributes) => attributes,
            after: () =>
              operation === 'PutItem' ? (input.Item as Item) : undefined,
          }
        : undefined;
    case 'UpdateItem':
      return asked === 'NONE' || asked === 'ALL_NEW'
        ? {
            request: { ...input, ReturnValues: 'ALL_NEW' },
            keep: asked === 'ALL_NEW',
            after: (attributes) => attributes,
          }
        : undefined;
    default:
      return undefined;
  }
};

/**
 * dynalite's answer to a rewritten request with its `Attributes` read, and
 * taken out of the body when the caller did not ask for them.
 */
const withoutAsked = (
  answer: { status: number; headers: Headers; body: Buffer },
  keep: boolean
): { status: number; headers: Headers; body: Buffer; attributes?: Item } => {
  if (answer.status !== 200) return answer;
  const parsed = JSON.parse(answer.body.toString('utf8')) as {
    Attributes?: Item;
  };
  const attributes = parsed.Attributes;
  if (keep) return { ...answer, attributes };
  const { Attributes: _, ...rest } = parsed;
  const headers = new Headers(answer.headers);
  // The body changed: its checksum is dynalite's no more.
  headers.delete('x-amz-crc32');
  return {
    ...answer,
    headers,
    body: Buffer.from(JSON.stringify(rest)),
    attributes,
  };
};

/** Holds one write per key at a time. */
class KeyLocks {
  readonly #tails = new Map<string, Promise<void>>();

  /** Runs `work` holding every key (taken in order, so never a deadlock). */
  async with<T>(keys: readonly string[], work: () => Promise<T>): Promise<T> {
    const releases: (() => void)[] = [];
    for (const key of [...new Set(keys)].sort()) {
      const before = this.#tails.get(key) ?? Promise.resolve();
      let release!: () => void;
      const mine = new Promise<void>((resolve) => {
        release = resolve;
      });
      const tail = before.then(() => mine);
      this.#tails.set(key, tail);
      releases.push(() => {
        release();
        if (this.#tails.get(key) === tail) this.#tails.delete(key);
      });
      await before;
    }
    try {
      return await work();
    } finally {
      for (const release of releases) release();
    }
  }
}

/** Reads a whole request body. */
const readAll = async (req: IncomingMessage): Promise<Buffer> => {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
};

/**
 * Starts the proxy and the consumers.
 * @param options dynalite's endpoint, the streamed tables and the consumers
 */
export const startStreams = async (
  options: StartStreamsOptions
): Promise<LocalStreams> => {
  const tables = new Map(options.tables.map((t) => [t.tableName, t]));
  const direct = localDynamoClient(options.dynamoEndpoint);
  const locks = new KeyLocks();
  // Writes whose records are not made yet (a reader may already see them).
  const inflight = new Set<Promise<void>>();
  let sequence = 0;
  const pumps = new Map<string, ConsumerPump[]>();
  const dropped: { entry: string; record: DynamoDBRecord }[] = [];
  const listeners = new Set<
    (tableName: string, record: DynamoDBRecord) => void
  >();
  for (const consumer of options.consumers) {
    const pump = new ConsumerPump(
      consumer,
      options.handlerFor(consumer),
      options.retryDelayMs ?? 200,
      (record) => dropped.push({ entry: consumer.entry, record }),
      options.onBatchError ??
        ((failed, error) =>
          console.error(`local streams: ${failed.entry} failed a batch`, error))
    );
    pumps.set(consumer.tableName, [
      ...(pumps.get(consumer.tableName) ?? []),
      pump,
    ]);
  }

  const read = async (tableName: string, key: Item) =>
    (
      await direct.send(
        new GetItemCommand({
          TableName: tableName,
          Key: key,
          ConsistentRead: true,
        })
      )
    ).Item;

  const forward = async (
    req: IncomingMessage,
    body: Buffer
  ): Promise<{ status: number; headers: Headers; body: Buffer }> => {
    const headers = new Headers();
    for (const [name, value] of Object.entries(req.headers)) {
      // fetch sets the length of the body it sends (which may be rewritten).
      if (
        name === 'host' ||
        name === 'connection' ||
        name === 'content-length' ||
        value === undefined
      ) {
        continue;
      }
      headers.set(name, Array.isArray(value) ? value.join(', ') : value);
    }
    const answer = await fetch(`${options.dynamoEndpoint}${req.url ?? '/'}`, {
      method: req.method ?? 'POST',
      headers,
      ...(body.length > 0 ? { body } : {}),
    });
    return {
      status: answer.status,
      headers: answer.headers,
      body: Buffer.from(await answer.arrayBuffer()),
    };
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const body = await readAll(req);
    const operation = String(req.headers['x-amz-target'] ?? '').split('.')[1];
    let input: Record<string, unknown> = {};
    if (operation && body.length > 0) {
      try {
        input = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
      } catch {
        // dynalite answers the malformed body itself.
      }
    }
    const writes = writesOf(operation ?? '', input).flatMap((write) => {
      const table = tables.get(write.tableName);
      const source = write.key ?? write.item;
      if (!table || !source) return [];
      const key: Item = {};
      for (const name of table.keys) {
        const value = source[name];
        if (value === undefined) return [];
        key[name] = value;
      }
      return [{ table, key, id: `${table.tableName}|${JSON.stringify(key)}` }];
    });
    const send = (answer: Awaited<ReturnType<typeof forward>>) => {
      const headers: Record<string, string> = {};
      answer.headers.forEach((value, name) => {
        if (name !== 'content-length' && name !== 'connection') {
          headers[name] = value;
        }
      });
      res.writeHead(answer.status, headers);
      res.end(answer.body);
    };
    if (writes.length === 0) {
      send(await forward(req, body));
      return;
    }
    const writing = locks.with(
      writes.map((w) => w.id),
      async () => {
        // One item's write: the write itself says what it can (the old item
        // of a put or delete, the new one of an update), and only the rest
        // is read, so a put costs dynalite one call instead of three.
        const own =
          writes.length === 1 ? ownImages(operation ?? '', input) : undefined;
        const before = own?.before
          ? []
          : await Promise.all(
              writes.map((w) => read(w.table.tableName, w.key))
            );
        const answer: Awaited<ReturnType<typeof forward>> & {
          attributes?: Item;
        } = own
          ? withoutAsked(
              await forward(req, Buffer.from(JSON.stringify(own.request))),
              own.keep
            )
          : await forward(req, body);
        if (answer.status === 200) {
          const after = own?.after
            ? []
            : await Promise.all(
                writes.map((w) => read(w.table.tableName, w.key))
              );
          writes.forEach((write, i) => {
            const old = own?.before ? own.before(answer.attributes) : before[i];
            const now = own?.after ? own.after(answer.attributes) : after[i];
            if (sameItem(old, now)) return;
            sequence += 1;
            const record: DynamoDBRecord = {
              eventID: randomBytes(16).toString('hex'),
              eventName: !old ? 'INSERT' : !now ? 'REMOVE' : 'MODIFY',
              eventVersion: '1.1',
              eventSource: 'aws:dynamodb',
              awsRegion: LOCAL_REGION,
              eventSourceARN: `arn:aws:dynamodb:${LOCAL_REGION}:000000000000:table/${write.table.tableName}/stream/local`,
              dynamodb: {
                ApproximateCreationDateTime: Math.floor(Date.now() / 1000),
                Keys: write.key as never,
                ...(now ? { NewImage: now as never } : {}),
                ...(old ? { OldImage: old as never } : {}),
                SequenceNumber: String(sequence).padStart(21, '0'),
                SizeBytes: JSON.stringify(now ?? old).length,
                StreamViewType: 'NEW_AND_OLD_IMAGES',
              },
            };
            for (const listener of listeners) {
              listener(write.table.tableName, record);
            }
            for (const pump of pumps.get(write.table.tableName) ?? []) {
              pump.add(record);
            }
          });
        }
        send(answer);
      }
    );
    inflight.add(writing);
    try {
      await writing;
    } finally {
      inflight.delete(writing);
    }
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) {
        res.writeHead(500, { 'content-type': 'application/x-amz-json-1.0' });
        res.end(
          JSON.stringify({
            __type: 'com.amazonaws.dynamodb.v20120810#InternalServerError',
            message: `local streams proxy: ${error instanceof Error ? error.message : String(error)}`,
          })
        );
      } else res.end();
    });
  });
  const host = new URL(options.dynamoEndpoint).hostname;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const endpoint = `http://${host}:${port}`;
  const client = localDynamoClient(endpoint);
  const all = () => [...pumps.values()].flat();
  return {
    endpoint,
    client,
    dropped,
    subscribe: (listener) => {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    idle: async () => {
      await Promise.allSettled([...inflight]);
      for (;;) {
        const busy = all().filter((p) => !p.isIdle);
        if (busy.length === 0) return;
        await Promise.all(busy.map((p) => p.idle()));
      }
    },
    close: async () => {
      client.destroy();
      for (const pump of all()) pump.stop();
      await new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      });
      direct.destroy();
    },
  };
};

/** One consumer's poller: batches, in order, retried from the failure. */
class ConsumerPump {
  readonly #queue: DynamoDBRecord[] = [];
  #running: Promise<void> | undefined;
  #stopped = false;
  #retries = 0;

  constructor(
    private readonly consumer: StreamConsumer,
    private readonly handler: (
      event: DynamoDBStreamEvent
    ) => Promise<DynamoDBBatchResponse | undefined>,
    private readonly retryDelayMs: number,
    private readonly onDropped: (record: DynamoDBRecord) => void,
    private readonly onBatchError: (
      consumer: StreamConsumer,
      error: unknown
    ) => void
  ) {}

  get isIdle(): boolean {
    return this.#queue.length === 0 && this.#running === undefined;
  }

  add(record: DynamoDBRecord): void {
    if (this.#stopped) return;
    this.#queue.push(record);
    this.#kick();
  }

  /** Runs the loop unless it runs; again if records came as it ended. */
  #kick(): void {
    if (this.#running || this.#stopped) return;
    this.#running = this.#run().finally(() => {
      this.#running = undefined;
      if (this.#queue.length > 0) this.#kick();
    });
  }

  idle(): Promise<void> {
    return this.#running ?? Promise.resolve();
  }

  stop(): void {
    this.#stopped = true;
    this.#queue.length = 0;
  }

  async #run(): Promise<void> {
    // As Lambda's batching window, shortened: what came meanwhile joins.
    await new Promise((resolve) => setTimeout(resolve, 5));
    while (this.#queue.length > 0 && !this.#stopped) {
      const batch = this.#queue.slice(0, this.consumer.batchSize);
      let failedAt = batch.length;
      try {
        const answer = await this.handler({ Records: batch });
        const failed = new Set(
          (answer?.batchItemFailures ?? []).map((f) => f.itemIdentifier)
        );
        if (failed.size > 0) {
          const first = batch.findIndex((r) =>
            failed.has(r.dynamodb?.SequenceNumber ?? '')
          );
          failedAt = first === -1 ? 0 : first;
        }
      } catch (error) {
        this.onBatchError(this.consumer, error);
        failedAt = 0;
      }
      this.#queue.splice(0, failedAt);
      if (failedAt === batch.length) {
        this.#retries = 0;
        continue;
      }
      // The count is the first failed record's own: a batch that got past
      // some records starts a new checkpoint, as Lambda's does, so a record
      // is dropped only after it has failed 1 + MaximumRetryAttempts times.
      this.#retries = failedAt > 0 ? 1 : this.#retries + 1;
      if (this.#retries > this.consumer.maxRetryAttempts) {
        // As the mapping's on-failure destination takes it.
        const [record] = this.#queue.splice(0, 1);
        if (record) this.onDropped(record);
        this.#retries = 0;
        continue;
      }
      await new Promise((resolve) =>
        setTimeout(resolve, Math.min(this.retryDelayMs * this.#retries, 5_000))
      );
    }
  }
}

/**
 * The streamed tables of a data template and the stream consumers of a
 * service template.
 * @param tableNames local table name by logical id
 * @throws Error when a mapping reads a stream no table of the data stack
 * has, or its function has no `LocalEntry`
 */
export const streamsOf = (
  dataTemplate: CfnTemplate,
  serviceTemplate: CfnTemplate,
  tableNames: Record<string, string>
): { tables: StreamedTable[]; consumers: StreamConsumer[] } => {
  const data: Record<string, CfnResource> = dataTemplate.Resources ?? {};
  const tables: StreamedTable[] = [];
  for (const [id, resource] of Object.entries(data)) {
    if (resource.Type !== 'AWS::DynamoDB::Table') continue;
    if (!resource.Properties?.StreamSpecification) continue;
    const tableName = tableNames[id];
    if (!tableName) continue;
    const schema = (resource.Properties.KeySchema ?? []) as {
      AttributeName: string;
      KeyType: string;
    }[];
    tables.push({
      tableName,
      keys: [...schema]
        .sort((a) => (a.KeyType === 'HASH' ? -1 : 1))
        .map((k) => k.AttributeName),
    });
  }
  const exports = new Map<string, unknown>();
  for (const output of Object.values(
    (dataTemplate.Outputs ?? {}) as Record<
      string,
      { Value?: unknown; Export?: { Name?: string } }
    >
  )) {
    if (output.Export?.Name) exports.set(output.Export.Name, output.Value);
  }
  const tableOfStream = (arn: unknown): string | undefined => {
    const imported = (arn as { 'Fn::ImportValue'?: string })?.[
      'Fn::ImportValue'
    ];
    const value = imported === undefined ? arn : exports.get(imported);
    const [id, attribute] =
      (value as { 'Fn::GetAtt'?: [string, string] })?.['Fn::GetAtt'] ?? [];
    return attribute === 'StreamArn' && id ? tableNames[id] : undefined;
  };
  const service: Record<string, CfnResource> = serviceTemplate.Resources ?? {};
  const consumers: StreamConsumer[] = [];
  for (const [id, mapping] of Object.entries(service)) {
    if (mapping.Type !== 'AWS::Lambda::EventSourceMapping') continue;
    const props = mapping.Properties ?? {};
    const tableName = tableOfStream(props.EventSourceArn);
    if (!tableName) continue;
    const fnId = (props.FunctionName as { Ref?: string })?.Ref;
    const entry = fnId ? service[fnId]?.Metadata?.LocalEntry : undefined;
    if (typeof entry !== 'string') {
      throw new Error(`${id}: its function has no LocalEntry`);
    }
    consumers.push({
      tableName,
      functionId: fnId as string,
      entry,
      batchSize: Number(props.BatchSize ?? 100),
      maxRetryAttempts: Number(props.MaximumRetryAttempts ?? 10_000),
    });
  }
  return { tables, consumers };
};
