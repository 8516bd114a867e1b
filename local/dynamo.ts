/**
 * Local DynamoDB for tests and local mode: an in-process dynalite server on
 * loopback, plus table creation from a synthesized CloudFormation template so
 * that the local tables are exactly the ones CDK declares.
 */

import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import {
  type AttributeDefinition,
  CreateTableCommand,
  type CreateTableCommandInput,
  DescribeTableCommand,
  DynamoDBClient,
  type GlobalSecondaryIndex,
  type KeySchemaElement,
  type LocalSecondaryIndex,
  type Projection,
  ResourceInUseException,
  UpdateTimeToLiveCommand,
} from '@aws-sdk/client-dynamodb';

/** A synthesized CloudFormation template (only the parts read here). */
export interface CfnTemplate {
  /** Resources by logical id. */
  Resources?: Record<string, CfnResource>;
  /** Anything else the template holds. */
  [section: string]: unknown;
}

/** One CloudFormation resource of a synthesized template. */
export interface CfnResource {
  /** e.g. `AWS::DynamoDB::Table`. */
  Type: string;
  /** The resource's properties, intrinsics unresolved. */
  Properties?: Record<string, unknown>;
  /** CDK and project metadata, e.g. `LocalEntry` on Lambda functions. */
  Metadata?: Record<string, unknown>;
  /** Anything else (DependsOn, UpdateReplacePolicy, …). */
  [key: string]: unknown;
}

/** A running local DynamoDB. */
export interface LocalDynamo {
  /** `http://127.0.0.1:<port>` */
  endpoint: string;
  /** A client for it, with obviously fake static credentials. */
  client: DynamoDBClient;
  /** Destroys the client and stops the server (flushing the data directory). */
  close(): Promise<void>;
}

/** Options of {@link startDynalite}. */
export interface StartDynaliteOptions {
  /** LevelDB data directory. @default in-memory */
  path?: string;
  /** Address to listen on. @default '127.0.0.1' */
  host?: string;
  /** Port to listen on. @default 0 (any free port) */
  port?: number;
}

interface DynaliteServer {
  listen(port: number, host: string, callback: (err?: Error) => void): void;
  address(): AddressInfo | string | null;
  close(callback: (err?: Error) => void): void;
  on(event: 'error', listener: (err: Error) => void): void;
}

type DynaliteFactory = (options: {
  path?: string;
  createTableMs?: number;
  deleteTableMs?: number;
  updateTableMs?: number;
}) => DynaliteServer;

// dynalite is CommonJS without type declarations: load it through require
// and describe the little of its API used here.
const require = createRequire(import.meta.url);
const dynalite = require('dynalite') as DynaliteFactory;

/** Region of every local client. */
export const LOCAL_REGION = 'us-east-1';

/** Obviously fake credentials: dynalite checks that a signature exists only. */
export const FAKE_CREDENTIALS = {
  accessKeyId: 'AKIALOCALFAKEKEY0000',
  secretAccessKey: 'local-fake-secret-not-a-real-key',
};

/**
 * A client of a local DynamoDB endpoint (dynalite, or the streams' proxy in
 * front of it), with obviously fake credentials.
 */
export const localDynamoClient = (endpoint: string): DynamoDBClient =>
  new DynamoDBClient({
    endpoint,
    region: LOCAL_REGION,
    credentials: FAKE_CREDENTIALS,
    // As on AWS: a connection dynalite closed under a keep-alive request
    // (ECONNRESET) is retried.
    maxAttempts: 3,
    // A request dynalite never answers is not held forever. No connection
    // timeout: on loopback a server that is gone refuses at once, and the
    // SDK counts that timeout from the request, its wait for one of the 50
    // sockets included, so a burst of sends (150 at once in
    // `npm run bench:burst`) queued behind the streams' proxy failed with
    // 500s after 2 s. The 50 sockets stay: they hold dynalite to what it
    // can do at once (with 1024, `npm run bench` acknowledged 7 of 100
    // messages in time instead of about 75).
    requestHandler: { requestTimeout: 10_000 },
  });

/**
 * Starts dynalite in this process on loopback.
 * @param options data directory, host and port
 * @returns the endpoint, a client for it and `close`
 * @throws when the port cannot be bound
 */
export const startDynalite = async (
  options: StartDynaliteOptions = {}
): Promise<LocalDynamo> => {
  const host = options.host ?? '127.0.0.1';
  const server = dynalite({
    ...(options.path ? { path: options.path } : {}),
    // Real DynamoDB takes seconds; locally there is nothing to wait for.
    createTableMs: 0,
    deleteTableMs: 0,
    updateTableMs: 0,
  });
  await new Promise<void>((resolve, reject) => {
    server.on('error', reject);
    server.listen(options.port ?? 0, host, (err) =>
      err ? reject(err) : resolve()
    );
  });
  const address = server.address();
  if (address === null || typeof address === 'string') {
    throw new Error('dynalite did not report a TCP address');
  }
  const endpoint = `http://${host}:${address.port}`;
  const client = localDynamoClient(endpoint);
  let closed: Promise<void> | undefined;
  return {
    endpoint,
    client,
    close: () => {
      closed ??= (async () => {
        client.destroy();
        await new Promise<void>((resolve, reject) =>
          server.close((err) => (err ? reject(err) : resolve()))
        );
      })();
      return closed;
    },
  };
};

/** Options of {@link createTablesFromTemplate}. */
export interface CreateTablesOptions {
  /** Put before each logical id to make the table name. @default '' */
  prefix?: string;
}

const TABLE_TYPES = new Set([
  'AWS::DynamoDB::Table',
  'AWS::DynamoDB::GlobalTable',
]);

/**
 * The local table name of a table's logical id; the engine uses the same rule
 * when it replaces a table's `Ref` in a state machine definition.
 * @param logicalId the table's logical id in the template
 * @param prefix the prefix given to {@link createTablesFromTemplate}
 */
export const localTableName = (logicalId: string, prefix = ''): string =>
  `${prefix}${logicalId}`;

/**
 * Creates every DynamoDB table of a synthesized template in the local
 * DynamoDB (keys, attribute definitions, GSIs, LSIs; always on-demand), waits
 * until each is ACTIVE and enables TTL where the template sets it and the
 * server supports it. Tables that already exist are left as they are.
 * @param client a client of the local DynamoDB
 * @param template the synthesized CloudFormation template
 * @param options table name prefix
 * @returns logical id → table name, for every table of the template
 * @throws when a table definition cannot be created
 */
export const createTablesFromTemplate = async (
  client: DynamoDBClient,
  template: CfnTemplate,
  options: CreateTablesOptions = {}
): Promise<Record<string, string>> => {
  const names: Record<string, string> = {};
  for (const [logicalId, resource] of Object.entries(
    template.Resources ?? {}
  )) {
    if (!TABLE_TYPES.has(resource.Type)) continue;
    const tableName = localTableName(logicalId, options.prefix);
    const props = resource.Properties ?? {};
    await createTableIfMissing(client, toCreateTableInput(tableName, props));
    await waitUntilActive(client, tableName);
    await enableTtl(client, tableName, props);
    names[logicalId] = tableName;
  }
  return names;
};

const toCreateTableInput = (
  tableName: string,
  props: Record<string, unknown>
): CreateTableCommandInput => {
  const gsis = (props.GlobalSecondaryIndexes ?? []) as Array<
    Record<string, unknown>
  >;
  // AWS::DynamoDB::GlobalTable keeps LSIs on the table but replica settings
  // elsewhere; the key shape is the same as AWS::DynamoDB::Table.
  const lsis = (props.LocalSecondaryIndexes ?? []) as Array<
    Record<string, unknown>
  >;
  return {
    TableName: tableName,
    KeySchema: props.KeySchema as KeySchemaElement[],
    AttributeDefinitions: props.AttributeDefinitions as AttributeDefinition[],
    BillingMode: 'PAY_PER_REQUEST',
    ...(gsis.length > 0
      ? {
          GlobalSecondaryIndexes: gsis.map(
            (index): GlobalSecondaryIndex => ({
              IndexName: index.IndexName as string,
              KeySchema: index.KeySchema as KeySchemaElement[],
              Projection: index.Projection as Projection,
            })
          ),
        }
      : {}),
    ...(lsis.length > 0
      ? {
          LocalSecondaryIndexes: lsis.map(
            (index): LocalSecondaryIndex => ({
              IndexName: index.IndexName as string,
              KeySchema: index.KeySchema as KeySchemaElement[],
              Projection: index.Projection as Projection,
            })
          ),
        }
      : {}),
  };
};

const createTableIfMissing = async (
  client: DynamoDBClient,
  input: CreateTableCommandInput
): Promise<void> => {
  try {
    await client.send(new CreateTableCommand(input));
  } catch (error) {
    // A reused data directory already holds the table: keep it and its items.
    if (error instanceof ResourceInUseException) return;
    throw error;
  }
};

const waitUntilActive = async (
  client: DynamoDBClient,
  tableName: string
): Promise<void> => {
  for (let i = 0; i < 200; i++) {
    const { Table } = await client.send(
      new DescribeTableCommand({ TableName: tableName })
    );
    if (Table?.TableStatus === 'ACTIVE') return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`Table ${tableName} did not become ACTIVE`);
};

const enableTtl = async (
  client: DynamoDBClient,
  tableName: string,
  props: Record<string, unknown>
): Promise<void> => {
  const ttl = props.TimeToLiveSpecification as
    | { AttributeName?: string; Enabled?: boolean }
    | undefined;
  if (!ttl?.Enabled || !ttl.AttributeName) return;
  try {
    await client.send(
      new UpdateTimeToLiveCommand({
        TableName: tableName,
        TimeToLiveSpecification: {
          AttributeName: ttl.AttributeName,
          Enabled: true,
        },
      })
    );
  } catch {
    // dynalite 4 does not implement UpdateTimeToLive (it answers
    // UnknownOperationException) and never expires items: skip quietly.
    // Code that relies on TTL must filter expired items itself, as real
    // DynamoDB may also return them for a while after they expire.
  }
};
