import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  GetItemCommand,
  ListTablesCommand,
  PutItemCommand,
} from '@aws-sdk/client-dynamodb';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  type CfnTemplate,
  createTablesFromTemplate,
  type LocalDynamo,
  startDynalite,
} from '../../local/dynamo.ts';
import { synthTemplates } from '../../local/engine/synth.ts';

describe('createTablesFromTemplate', () => {
  let dataTemplate: CfnTemplate;
  const started: LocalDynamo[] = [];
  const dirs: string[] = [];

  beforeAll(() => {
    // cdk-nag compliance is the nag test's concern; here only the tables
    // matter, so a nag finding elsewhere in the app must not hide them.
    const templates = synthTemplates({
      context: { stage: 'test' },
      failOnValidationErrors: false,
    });
    const entry = Object.entries(templates).find(([name]) =>
      name.startsWith('PushDelivery-Data-')
    );
    if (!entry) throw new Error('no data stack in the app');
    dataTemplate = entry[1];
  });

  afterEach(async () => {
    await Promise.all(started.splice(0).map((dynamo) => dynamo.close()));
    await Promise.all(
      dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true }))
    );
  });

  it('creates every table of the data stack with its keys, on demand', async () => {
    // Prepare
    const dynamo = await startDynalite();
    started.push(dynamo);

    // Act
    const names = await createTablesFromTemplate(dynamo.client, dataTemplate, {
      prefix: 'test-',
    });

    // Assess
    expect(Object.keys(names).length).toBe(8);
    const keysOf = async (logicalIdStart: string) => {
      const id = Object.keys(names).find((k) => k.startsWith(logicalIdStart));
      const { Table } = await dynamo.client.send(
        new DescribeTableCommand({ TableName: names[id ?? ''] })
      );
      expect(Table?.TableStatus).toBe('ACTIVE');
      expect(Table?.BillingModeSummary?.BillingMode).toBe('PAY_PER_REQUEST');
      expect(Table?.TableName).toBe(`test-${id}`);
      return Table?.KeySchema?.map((k) => `${k.AttributeName}:${k.KeyType}`);
    };
    expect(await keysOf('MessagesTable')).toEqual(['messageId:HASH']);
    expect(await keysOf('SessionsTable')).toEqual([
      'userId:HASH',
      'registrationId:RANGE',
    ]);
    expect(await keysOf('DevicesTable')).toEqual(['registrationId:HASH']);
    expect(await keysOf('OfflineStoreTable')).toEqual([
      'userId:HASH',
      'storedKey:RANGE',
    ]);
    expect(await keysOf('PacingTable')).toEqual(['family:HASH']);
    expect(await keysOf('WithdrawalsTable')).toEqual([
      'queue:HASH',
      'entryKey:RANGE',
    ]);
    expect(await keysOf('HistoryTable')).toEqual([
      'userId:HASH',
      'sortKey:RANGE',
    ]);
  });

  it('skips TTL quietly because dynalite does not implement it', async () => {
    // Prepare
    const dynamo = await startDynalite();
    started.push(dynamo);

    // Act
    const names = await createTablesFromTemplate(dynamo.client, dataTemplate);

    // Assess
    const offline = Object.entries(names).find(([id]) =>
      id.startsWith('OfflineStoreTable')
    );
    const ttl = await dynamo.client.send(
      new DescribeTimeToLiveCommand({ TableName: offline?.[1] })
    );
    expect(ttl.TimeToLiveDescription?.TimeToLiveStatus).toBe('DISABLED');
  });

  it('keeps existing tables and items when a data directory is reused', async () => {
    // Prepare
    const dir = await mkdtemp(join(tmpdir(), 'dynalite-'));
    dirs.push(dir);
    const first = await startDynalite({ path: dir });
    const names = await createTablesFromTemplate(first.client, dataTemplate);
    const messages = Object.entries(names).find(([id]) =>
      id.startsWith('MessagesTable')
    )?.[1];
    await first.client.send(
      new PutItemCommand({
        TableName: messages,
        Item: { messageId: { S: 'm-1' }, status: { S: 'accepted' } },
      })
    );
    await first.close();

    // Act
    const second = await startDynalite({ path: dir });
    started.push(second);
    const again = await createTablesFromTemplate(second.client, dataTemplate);

    // Assess
    expect(again).toEqual(names);
    const { TableNames } = await second.client.send(new ListTablesCommand({}));
    expect(TableNames?.length).toBe(8);
    const { Item } = await second.client.send(
      new GetItemCommand({
        TableName: messages,
        Key: { messageId: { S: 'm-1' } },
      })
    );
    expect(Item?.status?.S).toBe('accepted');
  });
});
