import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DynamoPacing,
  type Reservation,
} from '../../functions/adapters/jpush-pacing.ts';
import { documentClient } from '../../functions/shared/deps.ts';
import {
  type CfnTemplate,
  createTablesFromTemplate,
  type LocalDynamo,
  startDynalite,
} from '../../local/dynamo.ts';
import { synthTemplates } from '../../local/engine/synth.ts';

const T0 = Date.parse('2026-11-27T08:00:00.000Z');

describe('DynamoPacing on DynamoDB (dynalite)', () => {
  let dynamo: LocalDynamo;
  let pacingTemplate: CfnTemplate;
  let tables = 0;

  beforeAll(async () => {
    // cdk-nag compliance is the nag test's concern; only the table matters.
    const templates = synthTemplates({
      context: { stage: 'test' },
      failOnValidationErrors: false,
    });
    const data = Object.entries(templates).find(([name]) =>
      name.startsWith('PushDelivery-Data-')
    )?.[1];
    const pacing = Object.entries(data?.Resources ?? {}).find(([id]) =>
      id.startsWith('PacingTable')
    );
    if (!pacing) throw new Error('no pacing table in the data stack');
    pacingTemplate = { Resources: { [pacing[0]]: pacing[1] } };
    dynamo = await startDynalite();
  });

  afterAll(async () => {
    await dynamo?.close();
  });

  /**
   * A pacing store on a table of its own, with a ms clock that moves only
   * when told.
   */
  const prepare = async () => {
    tables += 1;
    const names = await createTablesFromTemplate(
      dynamo.client,
      pacingTemplate,
      { prefix: `t${tables}-` }
    );
    const tableName = Object.values(names)[0] ?? '';
    const db = documentClient(dynamo.client);
    let now = T0;
    const pacing = new DynamoPacing(db, tableName, () => now);
    /** The family's item as stored. */
    const item = async (family: string) =>
      (
        await db.send(
          new GetCommand({
            TableName: tableName,
            Key: { family },
            ConsistentRead: true,
          })
        )
      ).Item;
    return {
      pacing,
      item,
      advance: (ms: number) => {
        now += ms;
      },
    };
  };

  /** How many reservations let their call go. */
  const gone = (reservations: Reservation[]) =>
    reservations.filter((r) => r.go).length;

  it('lets the first calls go before JPush said its limit, writing nothing', async () => {
    // Prepare
    const { pacing, item } = await prepare();

    // Act
    const reservation = await pacing.reserve('push');

    // Assess
    expect(reservation).toEqual({ go: true });
    expect(await item('push')).toBeUndefined();
  });

  it('keeps the window JPush’s headers describe and hands out its calls', async () => {
    // Prepare
    const { pacing, item, advance } = await prepare();
    await pacing.observe('push', {
      limit: 600,
      remaining: 2,
      resetSeconds: 30,
    });

    // Act
    const first = await pacing.reserve('push');
    const second = await pacing.reserve('push');
    advance(10_000);
    const third = await pacing.reserve('push');

    // Assess
    expect(first).toEqual({
      go: true,
      window: { remaining: 1, endsAt: T0 + 30_000 },
    });
    expect(second).toEqual({
      go: true,
      window: { remaining: 0, endsAt: T0 + 30_000 },
    });
    expect(third).toEqual({ go: false, waitMs: 20_000 });
    expect(await item('push')).toEqual({
      family: 'push',
      remaining: 0,
      windowEndsAt: T0 + 30_000,
      limit: 600,
    });
  });

  it('keeps each family’s window apart', async () => {
    // Prepare
    const { pacing } = await prepare();
    await pacing.observe('push', {
      limit: 600,
      remaining: 0,
      resetSeconds: 30,
    });

    // Act
    const push = await pacing.reserve('push');
    const report = await pacing.reserve('report');

    // Assess
    expect(push.go).toBe(false);
    expect(report).toEqual({ go: true });
  });

  it('opens the next window at the last limit once the window ended', async () => {
    // Prepare
    const { pacing, advance } = await prepare();
    await pacing.observe('push', {
      limit: 600,
      remaining: 0,
      resetSeconds: 30,
    });
    advance(30_000);

    // Act
    const reservation = await pacing.reserve('push');

    // Assess
    expect(reservation).toEqual({
      go: true,
      window: { remaining: 599, endsAt: T0 + 90_000 },
    });
  });

  it('corrects the window when JPush says fewer calls are left, or another window began', async () => {
    // Prepare
    const { pacing, item, advance } = await prepare();
    await pacing.observe('push', {
      limit: 600,
      remaining: 100,
      resetSeconds: 30,
    });

    // Act
    await pacing.observe('push', { remaining: 150, resetSeconds: 30 });
    const unchanged = await item('push');
    await pacing.observe('push', { remaining: 40, resetSeconds: 30 });
    const fewer = await item('push');
    advance(40_000);
    await pacing.observe('push', { remaining: 590, resetSeconds: 20 });
    const next = await item('push');

    // Assess
    expect(unchanged).toMatchObject({ remaining: 100 });
    expect(fewer).toMatchObject({
      remaining: 40,
      windowEndsAt: T0 + 30_000,
      limit: 600,
    });
    expect(next).toMatchObject({
      remaining: 590,
      windowEndsAt: T0 + 60_000,
      limit: 600,
    });
  });

  it('closes the window until the reset after a 429', async () => {
    // Prepare
    const { pacing, advance } = await prepare();
    await pacing.observe('push', {
      limit: 600,
      remaining: 300,
      resetSeconds: 45,
    });

    // Act
    await pacing.observe('push', {
      limit: 600,
      remaining: 0,
      resetSeconds: 45,
    });
    const held = await pacing.reserve('push');
    advance(45_000);
    const after = await pacing.reserve('push');

    // Assess
    expect(held).toEqual({ go: false, waitMs: 45_000 });
    expect(after.go).toBe(true);
  });

  it('never lets concurrent reservations exceed the calls left', async () => {
    // Prepare
    const { pacing, item } = await prepare();
    await pacing.observe('push', {
      limit: 10,
      remaining: 10,
      resetSeconds: 60,
    });

    // Act
    const reservations = await Promise.all(
      Array.from({ length: 30 }, () => pacing.reserve('push'))
    );

    // Assess
    expect(gone(reservations)).toBe(10);
    expect(
      reservations.filter((r) => !r.go).every((r) => r.waitMs === 60_000)
    ).toBe(true);
    expect((await item('push'))?.remaining).toBe(0);
  });

  it('never lets concurrent reservations exceed the limit of a window they open together', async () => {
    // Prepare
    const { pacing, item, advance } = await prepare();
    await pacing.observe('push', { limit: 10, remaining: 0, resetSeconds: 60 });
    advance(60_000);

    // Act
    const reservations = await Promise.all(
      Array.from({ length: 30 }, () => pacing.reserve('push'))
    );

    // Assess
    expect(gone(reservations)).toBe(10);
    expect(await item('push')).toMatchObject({
      remaining: 0,
      windowEndsAt: T0 + 120_000,
    });
  });
});
