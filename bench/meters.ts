/**
 * Meters for the cost benchmark: DynamoDB request units (middleware on the
 * low-level client every repository and the state machine share) and API
 * Lambda invocations (every request to `/v1/...` the local API serves).
 */

import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  DescribeTableCommand,
  DynamoDBClient,
  GetItemCommand,
} from '@aws-sdk/client-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';

// biome-ignore lint/suspicious/noExplicitAny: AttributeValue maps of any shape
type AttributeMap = Record<string, any>;

/**
 * An item's size as DynamoDB bills it (its documented rules): per attribute
 * the UTF-8 length of the name plus the value's size; strings their UTF-8
 * length, numbers (digits ÷ 2) + 1, binaries their length, booleans and null
 * 1, lists and maps 3 + their elements (+ 1 per element).
 */
export const itemSize = (item: AttributeMap | undefined): number => {
  if (!item) return 0;
  let size = 0;
  for (const [name, value] of Object.entries(toAttributeValues(item))) {
    size += Buffer.byteLength(name) + valueSize(value);
  }
  return size;
};

const AV_TYPES = new Set([
  'S',
  'N',
  'B',
  'BOOL',
  'NULL',
  'M',
  'L',
  'SS',
  'NS',
  'BS',
]);

/**
 * The middleware runs outside the document client's (un)marshalling, so its
 * commands show plain JS items: those are marshalled here first (an item
 * whose every value already looks like an AttributeValue is taken as one).
 */
export const toAttributeValues = (item: AttributeMap): AttributeMap => {
  const marshalled = Object.values(item).every(
    (v) =>
      typeof v === 'object' &&
      v !== null &&
      Object.keys(v).length === 1 &&
      AV_TYPES.has(Object.keys(v)[0] as string)
  );
  return marshalled
    ? item
    : marshall(item, {
        removeUndefinedValues: true,
        convertClassInstanceToMap: true,
      });
};

const valueSize = (value: AttributeMap): number => {
  if ('S' in value) return Buffer.byteLength(String(value.S));
  if ('N' in value) return Math.ceil(String(value.N).length / 2) + 1;
  if ('B' in value) return (value.B as Uint8Array).length;
  if ('BOOL' in value || 'NULL' in value) return 1;
  if ('SS' in value) {
    return (value.SS as string[]).reduce((n, s) => n + Buffer.byteLength(s), 0);
  }
  if ('NS' in value) {
    return (value.NS as string[]).reduce(
      (n, s) => n + Math.ceil(s.length / 2) + 1,
      0
    );
  }
  if ('L' in value) {
    return (value.L as AttributeMap[]).reduce(
      (n, v) => n + 1 + valueSize(v),
      3
    );
  }
  if ('M' in value) return 3 + itemSize(value.M as AttributeMap);
  return 0;
};

/** Request units counted so far. */
export interface DynamoUnits {
  rru: number;
  wru: number;
  calls: number;
}

const READ_UNIT = 4096;
const WRITE_UNIT = 1024;

/**
 * Counts on-demand request units of every command sent through `client`.
 * How (an approximation of DynamoDB's billing, good enough for a per-path
 * comparison):
 * - item sizes follow DynamoDB's size rules ({@link itemSize}) on the items
 *   as the low-level client sees them;
 * - GetItem and BatchGetItem: per item read, its size rounded up to 4 KB
 *   (at least one unit, also for a missing item); Query and Scan: the sum of
 *   the returned items rounded up to 4 KB (at least one unit). Items a
 *   filter dropped are not seen, so filtered queries are undercounted;
 * - eventually consistent reads cost half a unit per 4 KB, strongly
 *   consistent ones a whole unit;
 * - PutItem, UpdateItem and DeleteItem: the larger of the item before and
 *   after, rounded up to 1 KB (at least one unit). Before: a strongly
 *   consistent GetItem of the key just before the write, on a separate,
 *   unmetered client (racy under concurrency, exact when paths run one at
 *   a time). After: `Attributes` when the caller asked for ALL_NEW, the
 *   request's item for PutItem, else a GetItem just after. A write whose
 *   condition failed costs like one that succeeded (DynamoDB bills it);
 * - BatchWriteItem: per request item, its item's size (puts) or 1 (deletes).
 * `exclude` drops calls that are no message's cost (the sweeper's scans).
 */
export class DynamoMeter {
  units: DynamoUnits = { rru: 0, wru: 0, calls: 0 };
  readonly byCommand = new Map<string, DynamoUnits>();
  enabled = true;
  readonly #probe: DynamoDBClient;
  readonly #keys = new Map<string, Promise<string[]>>();

  constructor(
    client: DynamoDBClient,
    endpoint: string,
    private readonly exclude: (command: string, input: AttributeMap) => boolean
  ) {
    this.#probe = new DynamoDBClient({
      endpoint,
      region: 'local',
      credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' },
      maxAttempts: 1,
    });
    client.middlewareStack.add(
      (next, context) => async (args) => {
        const command = context.commandName ?? 'unknown';
        const input = args.input as AttributeMap;
        if (!this.enabled || this.exclude(command, input)) return next(args);
        const before = await this.#before(command, input);
        let output: AttributeMap | undefined;
        try {
          const result = await next(args);
          output = result.output as AttributeMap;
          return result;
        } finally {
          await this.#count(command, input, output, before).catch(
            (error: unknown) => {
              console.error(`DynamoMeter: ${command} not counted`, error);
            }
          );
        }
      },
      { step: 'initialize', name: 'benchDynamoMeter' }
    );
  }

  /** Units since the last reset, and starts again from zero. */
  take(): DynamoUnits {
    const units = this.units;
    this.units = { rru: 0, wru: 0, calls: 0 };
    return units;
  }

  close(): void {
    this.#probe.destroy();
  }

  #add(command: string, rru: number, wru: number) {
    this.units.rru += rru;
    this.units.wru += wru;
    this.units.calls += 1;
    const by = this.byCommand.get(command) ?? { rru: 0, wru: 0, calls: 0 };
    by.rru += rru;
    by.wru += wru;
    by.calls += 1;
    this.byCommand.set(command, by);
  }

  async #keyNames(table: string): Promise<string[]> {
    let keys = this.#keys.get(table);
    if (!keys) {
      keys = this.#probe
        .send(new DescribeTableCommand({ TableName: table }))
        .then((out) =>
          (out.Table?.KeySchema ?? []).map((k) => k.AttributeName as string)
        );
      this.#keys.set(table, keys);
    }
    return keys;
  }

  async #read(table: string, key: AttributeMap): Promise<number> {
    const out = await this.#probe.send(
      new GetItemCommand({
        TableName: table,
        Key: toAttributeValues(key),
        ConsistentRead: true,
      })
    );
    return itemSize(out.Item);
  }

  async #keyOf(command: string, input: AttributeMap) {
    if (command !== 'PutItemCommand') return input.Key as AttributeMap;
    const names = await this.#keyNames(input.TableName);
    return Object.fromEntries(names.map((n) => [n, input.Item?.[n]]));
  }

  async #before(command: string, input: AttributeMap): Promise<number> {
    if (
      command !== 'PutItemCommand' &&
      command !== 'UpdateItemCommand' &&
      command !== 'DeleteItemCommand'
    ) {
      return 0;
    }
    try {
      return await this.#read(
        input.TableName,
        await this.#keyOf(command, input)
      );
    } catch {
      return 0;
    }
  }

  async #count(
    command: string,
    input: AttributeMap,
    output: AttributeMap | undefined,
    before: number
  ) {
    const half = (consistent: unknown) => (consistent === true ? 1 : 0.5);
    const reads = (size: number) => Math.max(1, Math.ceil(size / READ_UNIT));
    const writes = (size: number) => Math.max(1, Math.ceil(size / WRITE_UNIT));
    switch (command) {
      case 'GetItemCommand':
        this.#add(
          command,
          reads(itemSize(output?.Item)) * half(input.ConsistentRead),
          0
        );
        return;
      case 'BatchGetItemCommand': {
        let rru = 0;
        for (const [table, items] of Object.entries(
          (output?.Responses ?? {}) as Record<string, AttributeMap[]>
        )) {
          const consistent = input.RequestItems?.[table]?.ConsistentRead;
          for (const item of items) {
            rru += reads(itemSize(item)) * half(consistent);
          }
        }
        this.#add(command, rru, 0);
        return;
      }
      case 'QueryCommand':
      case 'ScanCommand': {
        const size = ((output?.Items ?? []) as AttributeMap[]).reduce(
          (n, item) => n + itemSize(item),
          0
        );
        this.#add(command, reads(size) * half(input.ConsistentRead), 0);
        return;
      }
      case 'PutItemCommand':
      case 'UpdateItemCommand':
      case 'DeleteItemCommand': {
        let after = 0;
        if (command === 'PutItemCommand') after = itemSize(input.Item);
        else if (input.ReturnValues === 'ALL_NEW' && output?.Attributes) {
          after = itemSize(output.Attributes);
        } else if (command === 'UpdateItemCommand') {
          after = await this.#read(input.TableName, input.Key).catch(() => 0);
        }
        this.#add(command, 0, writes(Math.max(before, after)));
        return;
      }
      case 'BatchWriteItemCommand': {
        let wru = 0;
        for (const requests of Object.values(
          (input.RequestItems ?? {}) as Record<string, AttributeMap[]>
        )) {
          for (const r of requests) {
            wru += r.PutRequest ? writes(itemSize(r.PutRequest.Item)) : 1;
          }
        }
        this.#add(command, 0, wru);
        return;
      }
      default:
        // Control plane (CreateTable, DescribeTable, …): not request units.
        return;
    }
  }
}

/**
 * Counts the API's Lambda invocations: each request to `/v1/...` is one
 * invocation of one API function (the ACKs the simulated phones send
 * included). Pass {@link ApiCounter.route} as `extraRoutes`.
 */
export class ApiCounter {
  count = 0;
  inFlight = 0;
  readonly byRoute = new Map<string, number>();

  readonly route = (
    req: IncomingMessage,
    res: ServerResponse,
    url: URL
  ): boolean => {
    if (!url.pathname.startsWith('/v1/')) return false;
    this.count += 1;
    const route = `${req.method} /v1${url.pathname.slice(3).replace(/\/[^/]*[0-9][^/]*(?=\/|$)/g, '/{id}')}`;
    this.byRoute.set(route, (this.byRoute.get(route) ?? 0) + 1);
    this.inFlight += 1;
    res.once('close', () => {
      this.inFlight -= 1;
    });
    return false;
  };

  take(): number {
    const count = this.count;
    this.count = 0;
    return count;
  }
}

/**
 * Prints rows as an aligned table: the first row is the header, underlined;
 * the first column is left-aligned, the others right-aligned.
 * @param rows the cells, header first
 * @param out where each line goes
 */
export const printTable = (
  rows: readonly (readonly string[])[],
  out: (line: string) => void
): void => {
  const widths = (rows[0] ?? []).map((_, i) =>
    Math.max(...rows.map((row) => (row[i] ?? '').length))
  );
  for (const [i, row] of rows.entries()) {
    out(
      row
        .map((cell, c) =>
          c === 0 ? cell.padEnd(widths[c] ?? 0) : cell.padStart(widths[c] ?? 0)
        )
        .join('  ')
    );
    if (i === 0) out(widths.map((w) => '-'.repeat(w)).join('  '));
  }
};
