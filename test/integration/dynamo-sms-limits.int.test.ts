import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoSmsLimits } from '../../functions/adapters/dynamo-sms-limits.ts';
import { documentClient } from '../../functions/shared/deps.ts';
import {
  type CfnTemplate,
  createTablesFromTemplate,
  type LocalDynamo,
  startDynalite,
} from '../../local/dynamo.ts';
import { synthTemplates } from '../../local/engine/synth.ts';

// The SMS limits table as the data stack creates it, on dynalite: the
// limits hold when escalations race (every Escalate step is its own Lambda).
let dynamo: LocalDynamo;
let tableName: string;
let fresh = 0;

beforeAll(async () => {
  const templates = synthTemplates({
    context: { stage: 'test' },
    failOnValidationErrors: false,
  });
  const data = Object.entries(templates).find(([name]) =>
    name.startsWith('PushDelivery-Data-')
  )?.[1] as CfnTemplate;
  dynamo = await startDynalite();
  const names = await createTablesFromTemplate(dynamo.client, data);
  tableName = Object.entries(names).find(([id]) =>
    id.startsWith('SmsLimitsTable')
  )?.[1] as string;
});

afterAll(async () => {
  await dynamo?.close();
});

/** A limits store over a table of its own (a test's windows stay its own). */
const limits = async () => {
  fresh += 1;
  const table = `${tableName}-${fresh}`;
  const { CreateTableCommand, DescribeTableCommand } = await import(
    '@aws-sdk/client-dynamodb'
  );
  const { Table } = await dynamo.client.send(
    new DescribeTableCommand({ TableName: tableName })
  );
  await dynamo.client.send(
    new CreateTableCommand({
      TableName: table,
      KeySchema: Table?.KeySchema,
      AttributeDefinitions: Table?.AttributeDefinitions,
      BillingMode: 'PAY_PER_REQUEST',
    })
  );
  return new DynamoSmsLimits(documentClient(dynamo.client), table);
};

const AT = new Date('2026-12-03T11:00:00.000Z');
const LIMITS = { perNumberPerHour: 5, dailyCap: 1000 };

describe('DynamoSmsLimits', () => {
  it('lets exactly 5 of 12 concurrent SMS to one number through in an hour, and others through', async () => {
    // Prepare
    const store = await limits();

    // Act
    const results = await Promise.all(
      Array.from({ length: 12 }, () => store.take('+8613800000000', AT, LIMITS))
    );
    const other = await store.take('+8613900000000', AT, LIMITS);
    const nextHour = await store.take(
      '+8613800000000',
      new Date(AT.getTime() + 3_600_000),
      LIMITS
    );

    // Assess
    expect(results.filter((r) => r === undefined)).toHaveLength(5);
    expect(results.filter((r) => r === 'number-rate')).toHaveLength(7);
    expect(other).toBeUndefined();
    expect(nextHour).toBeUndefined();
  });

  it('keeps no phone number in the table, only its hash', async () => {
    // Prepare
    const store = await limits();

    // Act
    await store.take('+8613800000000', AT, LIMITS);

    // Assess
    const { ScanCommand } = await import('@aws-sdk/client-dynamodb');
    const table = (store as unknown as { tableName: string }).tableName;
    const { Items } = await dynamo.client.send(
      new ScanCommand({ TableName: table })
    );
    expect(JSON.stringify(Items)).not.toContain('13800000000');
    expect(Items).toHaveLength(2);
  });

  it('stops at the daily cap, across numbers and the on-call topic', async () => {
    // Prepare
    const store = await limits();
    const cap = { perNumberPerHour: 5, dailyCap: 3 };

    // Act
    const results = await Promise.all([
      store.take(undefined, AT, cap),
      store.take('+8613800000000', AT, cap),
      store.take('+8613900000000', AT, cap),
      store.take(undefined, AT, cap),
      store.take('+12025550123', AT, cap),
    ]);

    // Assess
    expect(results.filter((r) => r === undefined)).toHaveLength(3);
    expect(results.filter((r) => r === 'daily-cap')).toHaveLength(2);
  });

  it('opens one window for 20 concurrent escalations: one pages, 19 join it', async () => {
    // Prepare
    const store = await limits();
    const ids = Array.from({ length: 20 }, (_, i) => `m${i}`);

    // Act
    const joins = await Promise.all(
      ids.map((id) => store.join(id, AT, 300_000))
    );
    const before = await store.due(new Date(AT.getTime() + 299_000));
    const due = await store.due(new Date(AT.getTime() + 300_000));

    // Assess
    expect(joins.filter((j) => j.page)).toHaveLength(1);
    expect(new Set(joins.map((j) => j.windowId)).size).toBe(1);
    expect(before).toEqual([]);
    expect(due).toHaveLength(1);
    expect(due[0]?.count).toBe(19);
    expect(due[0]?.messageIds).toHaveLength(5);
    const pager = joins.findIndex((j) => j.page);
    expect(due[0]?.openedBy).toBe(ids[pager]);
    expect(due[0]?.messageIds).not.toContain(ids[pager]);
  });

  it('gives a closed window to one claimer, takes it back on release, and is done once settled', async () => {
    // Prepare
    const store = await limits();
    await store.join('m1', AT, 60_000);
    const later = new Date(AT.getTime() + 1_000);
    await store.join('m2', later, 60_000);
    const closed = new Date(AT.getTime() + 61_000);
    const [window] = await store.due(closed);
    const windowId = window?.windowId as string;

    // Act
    const claims = await Promise.all([
      store.claim(windowId, closed, 60_000),
      store.claim(windowId, closed, 60_000),
    ]);
    await store.release(windowId);
    const reclaimed = await store.claim(windowId, closed, 60_000);
    const whileLeased = await store.due(closed);
    const afterLease = await store.due(new Date(closed.getTime() + 60_000));
    await store.settle(windowId, closed);
    const settled = await store.due(new Date(closed.getTime() + 120_000));
    const next = await store.join('m3', new Date(closed.getTime() + 1), 60_000);

    // Assess
    expect(claims.filter((c) => c !== undefined)).toHaveLength(1);
    expect(reclaimed).toMatchObject({ windowId, count: 1, messageIds: ['m2'] });
    expect(whileLeased).toEqual([]);
    expect(afterLease.map((w) => w.windowId)).toEqual([windowId]);
    expect(settled).toEqual([]);
    expect(next.page).toBe(true);
    expect(next.windowId).not.toBe(windowId);
  });
});
