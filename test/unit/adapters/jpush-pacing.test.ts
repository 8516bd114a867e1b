import 'aws-sdk-client-mock-vitest/extend';
import {
  ConditionalCheckFailedException,
  DynamoDBClient,
  ProvisionedThroughputExceededException,
} from '@aws-sdk/client-dynamodb';
import {
  DynamoDBDocumentClient,
  GetCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  DynamoPacing,
  type JPushCallObserver,
  type PacedFamily,
  PacedJPush,
  type PacingStore,
  type Reservation,
  recordRateLimit,
  type WindowView,
} from '../../../functions/adapters/jpush-pacing.ts';
import {
  JPushNoTargetError,
  JPushPacedError,
  type JPushPort,
  JPushRateLimitError,
  JPushServerError,
  type PushPayload,
  type RateLimit,
} from '../../../functions/domain/jpush.ts';
import { jpushCallMetrics } from '../../../functions/shared/jpush-log.ts';
import {
  METRIC,
  METRICS_NAMESPACE,
  SERVICE_NAME,
} from '../../../functions/shared/names.ts';
import { RecordingJPush } from '../../helpers/recording-jpush.ts';

const T0 = Date.parse('2026-11-27T08:00:00.000Z');

/**
 * JPush's windows in memory, as {@link DynamoPacing} keeps them: a window
 * per family with the calls left and its end; an ended window opens again at
 * the last limit JPush gave. Records what it is asked.
 */
class InMemoryPacing implements PacingStore {
  readonly windows = new Map<
    PacedFamily,
    { remaining: number; endsAt: number; limit?: number }
  >();
  readonly reserved: PacedFamily[] = [];
  readonly observed: {
    family: PacedFamily;
    rateLimit: RateLimit;
    reserved?: WindowView;
  }[] = [];

  /** @param now ms clock */
  constructor(private readonly now: () => number) {}

  async reserve(family: PacedFamily): Promise<Reservation> {
    this.reserved.push(family);
    const window = this.windows.get(family);
    const now = this.now();
    if (!window) return { go: true };
    if (window.endsAt <= now) {
      if (window.limit === undefined) return { go: true };
      window.remaining = window.limit;
      window.endsAt = now + 60_000;
    }
    if (window.remaining <= 0) {
      return { go: false, waitMs: window.endsAt - now };
    }
    window.remaining -= 1;
    return {
      go: true,
      window: { remaining: window.remaining, endsAt: window.endsAt },
    };
  }

  async observe(
    family: PacedFamily,
    rateLimit: RateLimit,
    reserved?: WindowView
  ): Promise<void> {
    this.observed.push({
      family,
      rateLimit,
      ...(reserved === undefined ? {} : { reserved }),
    });
    if (rateLimit.remaining === undefined) return;
    const limit = rateLimit.limit ?? this.windows.get(family)?.limit;
    this.windows.set(family, {
      remaining: rateLimit.remaining,
      endsAt: this.now() + (rateLimit.resetSeconds ?? 5) * 1000,
      ...(limit === undefined ? {} : { limit }),
    });
  }
}

const payload: PushPayload = {
  platform: ['android'],
  audience: { registration_id: ['1a0018970a9c2ce5b0'] },
  notification: { android: { alert: 'hi' } },
  cid: '8103a4c628a0b98974ec1949-cid-1',
};

/** A paced JPush over a recording one, with a clock that moves when told. */
const prepare = () => {
  let now = T0;
  const pacing = new InMemoryPacing(() => now);
  const inner = new RecordingJPush();
  const jpush = new PacedJPush(inner, pacing);
  return {
    pacing,
    inner,
    jpush,
    advance: (ms: number) => {
      now += ms;
    },
  };
};

/**
 * Makes the inner client's pushes report JPush's headers the way the JPush
 * client does (its `onRateLimit` is {@link recordRateLimit}).
 */
const withHeaders = (inner: RecordingJPush, rateLimit: RateLimit) => {
  const push = inner.push.bind(inner);
  inner.push = async (p) => {
    recordRateLimit(rateLimit);
    return push(p);
  };
};

describe('PacedJPush', () => {
  it('reserves a slot, makes the call and hands JPush’s headers to the pacing', async () => {
    // Prepare
    const { pacing, inner, jpush } = prepare();
    const headers = { limit: 600, remaining: 598, resetSeconds: 42 };
    withHeaders(inner, headers);

    // Act
    const result = await jpush.push(payload);

    // Assess
    expect(result.msgId).toMatch(/^\d{17}$/);
    expect(inner.pushes).toHaveLength(1);
    expect(pacing.reserved).toEqual(['push']);
    expect(pacing.observed).toEqual([{ family: 'push', rateLimit: headers }]);
  });

  it('takes the headers from the result when the client gave none on the side', async () => {
    // Prepare
    const { pacing, inner, jpush } = prepare();
    inner.pushAnswers.push({
      msgId: '18100528814460569',
      sendno: '0',
      rateLimit: { limit: 600, remaining: 10, resetSeconds: 3 },
    });

    // Act
    await jpush.push(payload);

    // Assess
    expect(pacing.observed).toEqual([
      {
        family: 'push',
        rateLimit: { limit: 600, remaining: 10, resetSeconds: 3 },
      },
    ]);
  });

  it('passes the reserved window along, so the store can skip a write that says nothing new', async () => {
    // Prepare
    const { pacing, inner, jpush } = prepare();
    pacing.windows.set('push', {
      remaining: 100,
      endsAt: T0 + 30_000,
      limit: 600,
    });
    withHeaders(inner, { limit: 600, remaining: 99, resetSeconds: 30 });

    // Act
    await jpush.push(payload);

    // Assess
    expect(pacing.observed[0]?.reserved).toEqual({
      remaining: 99,
      endsAt: T0 + 30_000,
    });
  });

  it('throws JPushPacedError for a closed window, without calling JPush', async () => {
    // Prepare
    const { pacing, inner, jpush } = prepare();
    pacing.windows.set('push', { remaining: 0, endsAt: T0 + 12_300 });

    // Act
    const error = await jpush.push(payload).catch((e: unknown) => e);

    // Assess
    expect(error).toBeInstanceOf(JPushPacedError);
    expect(error).toBeInstanceOf(JPushRateLimitError);
    expect(error).toMatchObject({
      name: 'JPushPacedError',
      paced: true,
      rateLimit: { remaining: 0, resetSeconds: 13 },
      message:
        "JPush's push rate limit is used up for 13 s more (shared pacing; not sent)",
    });
    expect(inner.pushes).toEqual([]);
    expect(pacing.observed).toEqual([]);
  });

  it('says at least a second to wait', async () => {
    // Prepare
    const { pacing, jpush } = prepare();
    pacing.windows.set('report', { remaining: 0, endsAt: T0 + 1 });

    // Act
    const error = await jpush
      .messageStatus('18100528814460569', ['1a0018970a9c2ce5b0'])
      .catch((e: unknown) => e);

    // Assess
    expect(error).toMatchObject({ rateLimit: { resetSeconds: 1 } });
  });

  it('closes the window on a 429 until JPush’s reset, then calls again', async () => {
    // Prepare
    const { pacing, inner, jpush, advance } = prepare();
    const tooMany = new JPushRateLimitError('Request times exceeds the limit', {
      httpStatus: 429,
      code: 2002,
      rateLimit: { limit: 600, remaining: 0, resetSeconds: 30 },
    });
    inner.pushAnswers.push(tooMany);

    // Act
    const first = await jpush.push(payload).catch((e: unknown) => e);
    const held = await jpush.push(payload).catch((e: unknown) => e);
    advance(30_000);
    const later = await jpush.push(payload);

    // Assess
    expect(first).toBe(tooMany);
    expect(held).toBeInstanceOf(JPushPacedError);
    expect(later.msgId).toMatch(/^\d{17}$/);
    expect(inner.pushes).toHaveLength(2);
    expect(pacing.observed[0]).toEqual({
      family: 'push',
      rateLimit: { limit: 600, remaining: 0, resetSeconds: 30 },
    });
    // The next window opened at JPush's limit, this call included.
    expect(pacing.windows.get('push')?.remaining).toBe(599);
  });

  it('records a 429 without headers as a used-up window', async () => {
    // Prepare
    const { pacing, inner, jpush } = prepare();
    inner.pushAnswers.push(new JPushRateLimitError('too many requests'));

    // Act
    await jpush.push(payload).catch(() => undefined);

    // Assess
    expect(pacing.observed).toEqual([
      { family: 'push', rateLimit: { remaining: 0 } },
    ]);
  });

  it('hands on the headers of other JPush errors and rethrows them', async () => {
    // Prepare
    const { pacing, inner, jpush } = prepare();
    const busy = new JPushServerError('system busy', {
      httpStatus: 503,
      rateLimit: { limit: 600, remaining: 50, resetSeconds: 20 },
    });
    inner.pushAnswers.push(busy);

    // Act
    const error = await jpush.push(payload).catch((e: unknown) => e);

    // Assess
    expect(error).toBe(busy);
    expect(pacing.observed).toEqual([
      {
        family: 'push',
        rateLimit: { limit: 600, remaining: 50, resetSeconds: 20 },
      },
    ]);
  });

  it('rethrows errors that are not JPush’s and observes nothing', async () => {
    // Prepare
    const { pacing, inner, jpush } = prepare();
    const bug = new TypeError('payload is not serialisable');
    inner.pushAnswers.push(bug);

    // Act
    const error = await jpush.push(payload).catch((e: unknown) => e);

    // Assess
    expect(error).toBe(bug);
    expect(pacing.observed).toEqual([]);
  });

  it('observes nothing when JPush sent no headers', async () => {
    // Prepare
    const { pacing, jpush } = prepare();

    // Act
    await jpush.push(payload);

    // Assess
    expect(pacing.reserved).toEqual(['push']);
    expect(pacing.observed).toEqual([]);
  });

  it.each([
    ['push', (j: JPushPort) => j.push(payload)],
    ['push', (j: JPushPort) => j.getCids(1000)],
    ['push', (j: JPushPort) => j.withdraw('18100528814460569')],
    ['report', (j: JPushPort) => j.messageStatus('1', ['1a0018970a9c2ce5b0'])],
    ['report', (j: JPushPort) => j.receivedDetail(['1'])],
    ['device', (j: JPushPort) => j.getDevice('1a0018970a9c2ce5b0')],
    [
      'device',
      (j: JPushPort) => j.updateDevice('1a0018970a9c2ce5b0', { alias: '' }),
    ],
    ['device', (j: JPushPort) => j.getAliasDevices('user_42')],
    ['device', (j: JPushPort) => j.deleteAlias('user_42')],
    [
      'device',
      (j: JPushPort) =>
        j.removeDevicesFromAlias('user_42', ['1a0018970a9c2ce5b0']),
    ],
  ] as const)('paces each call in its family (%s)', async (family, call) => {
    // Prepare
    const { pacing, jpush } = prepare();

    // Act
    await call(jpush);

    // Assess
    expect(pacing.reserved).toEqual([family]);
  });

  it('tells its observer of the calls held back, the 429s and the other failures, by family', async () => {
    // Prepare
    const told: unknown[][] = [];
    const observer: JPushCallObserver = {
      held: (...args) => told.push(['held', ...args]),
      rateLimited: (...args) => told.push(['rateLimited', ...args]),
      failed: (family, error) => told.push(['failed', family, error.name]),
    };
    let now = T0;
    const pacing = new InMemoryPacing(() => now);
    const inner = new RecordingJPush();
    const jpush = new PacedJPush(inner, pacing, observer);
    inner.pushAnswers.push(
      new JPushServerError('system busy', { httpStatus: 503 }),
      new JPushNoTargetError('cannot find user by this audience', {
        code: 1011,
      }),
      new TypeError('not JPush'),
      new JPushRateLimitError('too many', {
        httpStatus: 429,
        rateLimit: { remaining: 0, resetSeconds: 30 },
      })
    );

    // Act
    for (let i = 0; i < 5; i++) {
      await jpush.push(payload).catch(() => undefined);
    }
    now += 30_000;
    await jpush.push(payload);

    // Assess: 1011 and errors that are not JPush's are no failure of a
    // call; the fifth call found the window closed for 30 s.
    expect(told).toEqual([
      ['failed', 'push', 'JPushServerError'],
      ['rateLimited', 'push'],
      ['held', 'push', 30_000],
    ]);
  });

  it('keeps the headers of concurrent calls apart', async () => {
    // Prepare: the report call answers first, the push call second.
    const { pacing, inner, jpush } = prepare();
    let answerPush = () => {};
    const pushAnswered = new Promise<void>((resolve) => {
      answerPush = resolve;
    });
    const push = inner.push.bind(inner);
    inner.push = async (p) => {
      await pushAnswered;
      recordRateLimit({ remaining: 1, resetSeconds: 1 });
      return push(p);
    };
    inner.messageStatus = async () => {
      recordRateLimit({ remaining: 2, resetSeconds: 2 });
      answerPush();
      return {};
    };

    // Act
    await Promise.all([
      jpush.push(payload),
      jpush.messageStatus('18100528814460569', ['1a0018970a9c2ce5b0']),
    ]);

    // Assess
    expect(pacing.observed).toEqual(
      expect.arrayContaining([
        { family: 'report', rateLimit: { remaining: 2, resetSeconds: 2 } },
        { family: 'push', rateLimit: { remaining: 1, resetSeconds: 1 } },
      ])
    );
  });

  it('ignores headers recorded outside a paced call', () => {
    // Act
    const record = () => recordRateLimit({ remaining: 5 });

    // Assess
    expect(record).not.toThrow();
  });
});

describe('jpushCallMetrics', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('writes each one as a metric of its own with the family beside the service', () => {
    // Prepare
    const lines: string[] = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
      lines.push(String(chunk));
      return true;
    });

    // Act
    jpushCallMetrics.held('report', 12_300);
    jpushCallMetrics.rateLimited('push');
    jpushCallMetrics.failed('device', new JPushServerError('busy'));

    // Assess
    const emf = lines
      .flatMap((l) => l.split('\n'))
      .filter((l) => l.includes('_aws'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(emf).toHaveLength(3);
    const [held, limited, failed] = emf;
    expect(held).toMatchObject({
      service: SERVICE_NAME,
      family: 'report',
      [METRIC.JPushPacingWait]: 12_300,
      _aws: {
        CloudWatchMetrics: [
          {
            Namespace: METRICS_NAMESPACE,
            Dimensions: [['service', 'family']],
            Metrics: [{ Name: METRIC.JPushPacingWait, Unit: 'Milliseconds' }],
          },
        ],
      },
    });
    expect(limited).toMatchObject({
      family: 'push',
      [METRIC.JPushRateLimited]: 1,
    });
    expect(failed).toMatchObject({
      family: 'device',
      [METRIC.JPushCallFailed]: 1,
    });
  });
});

describe('DynamoPacing', () => {
  const TABLE = 'PacingTable-test';
  const db = mockClient(DynamoDBDocumentClient);
  const pacing = new DynamoPacing(
    DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1' })),
    TABLE,
    () => T0
  );
  const conditionFailed = () =>
    new ConditionalCheckFailedException({
      message: 'The conditional request failed',
      $metadata: {},
    });

  afterEach(() => {
    db.reset();
  });

  it('takes a slot with one conditional decrement', async () => {
    // Prepare
    db.on(UpdateCommand).resolves({
      Attributes: { family: 'push', remaining: 41, windowEndsAt: T0 + 9_000 },
    });

    // Act
    const reservation = await pacing.reserve('push');

    // Assess
    expect(reservation).toEqual({
      go: true,
      window: { remaining: 41, endsAt: T0 + 9_000 },
    });
    expect(db).toHaveReceivedCommandTimes(UpdateCommand, 1);
    expect(db).toHaveReceivedCommandWith(UpdateCommand, {
      TableName: TABLE,
      Key: { family: 'push' },
      ConditionExpression: '#r > :zero AND #w > :now',
    });
  });

  it('lets the very first call go before JPush ever said its limit', async () => {
    // Prepare
    db.on(UpdateCommand).rejects(conditionFailed());
    db.on(GetCommand).resolves({});

    // Act
    const reservation = await pacing.reserve('report');

    // Assess
    expect(reservation).toEqual({ go: true });
  });

  it('says how long to wait when the window is used up', async () => {
    // Prepare
    db.on(UpdateCommand).rejects(conditionFailed());
    db.on(GetCommand).resolves({
      Item: {
        family: 'push',
        remaining: 0,
        windowEndsAt: T0 + 7_500,
        limit: 600,
      },
    });

    // Act
    const reservation = await pacing.reserve('push');

    // Assess
    expect(reservation).toEqual({ go: false, waitMs: 7_500 });
    expect(db).toHaveReceivedCommandWith(GetCommand, { ConsistentRead: true });
  });

  it('opens an ended window again at the last limit, this call included', async () => {
    // Prepare
    db.on(UpdateCommand)
      .rejectsOnce(conditionFailed())
      .resolvesOnce({
        Attributes: {
          family: 'push',
          remaining: 599,
          windowEndsAt: T0 + 60_000,
        },
      });
    db.on(GetCommand).resolves({
      Item: { family: 'push', remaining: 0, windowEndsAt: T0 - 1, limit: 600 },
    });

    // Act
    const reservation = await pacing.reserve('push');

    // Assess
    expect(reservation).toEqual({
      go: true,
      window: { remaining: 599, endsAt: T0 + 60_000 },
    });
    const opened = db.commandCalls(UpdateCommand)[1]?.args[0].input;
    expect(opened).toMatchObject({
      ConditionExpression: '#w <= :now',
      ExpressionAttributeValues: {
        ':left': 599,
        ':ends': T0 + 60_000,
        ':now': T0,
      },
    });
  });

  it('goes after three rounds lost to other callers rather than wait forever', async () => {
    // Prepare
    db.on(UpdateCommand).rejects(conditionFailed());
    db.on(GetCommand).resolves({
      Item: { family: 'push', remaining: 0, windowEndsAt: T0 - 1, limit: 600 },
    });

    // Act
    const reservation = await pacing.reserve('push');

    // Assess
    expect(reservation).toEqual({ go: true });
    expect(db).toHaveReceivedCommandTimes(UpdateCommand, 6);
  });

  it('lets other DynamoDB errors of reserve propagate', async () => {
    // Prepare
    db.on(UpdateCommand).rejects(
      new ProvisionedThroughputExceededException({
        message: 'slow down',
        $metadata: {},
      })
    );

    // Act
    const reserve = pacing.reserve('push');

    // Assess
    await expect(reserve).rejects.toBeInstanceOf(
      ProvisionedThroughputExceededException
    );
  });

  it('writes nothing for headers without the calls left', async () => {
    // Act
    await pacing.observe('push', { limit: 600, resetSeconds: 30 });

    // Assess
    expect(db).toHaveReceivedCommandTimes(UpdateCommand, 0);
  });

  it('writes nothing when the headers agree with the window it reserved from', async () => {
    // Act
    await pacing.observe(
      'push',
      { limit: 600, remaining: 120, resetSeconds: 30 },
      { remaining: 100, endsAt: T0 + 31_000 }
    );

    // Assess
    expect(db).toHaveReceivedCommandTimes(UpdateCommand, 0);
  });

  it('corrects the window when JPush says fewer calls are left', async () => {
    // Prepare
    db.on(UpdateCommand).resolves({});

    // Act
    await pacing.observe(
      'push',
      { limit: 600, remaining: 10, resetSeconds: 30 },
      { remaining: 100, endsAt: T0 + 30_000 }
    );

    // Assess
    expect(db).toHaveReceivedCommandWith(UpdateCommand, {
      Key: { family: 'push' },
      UpdateExpression: 'SET #r = :r, #w = :w, #l = :l',
      ExpressionAttributeValues: {
        ':r': 10,
        ':w': T0 + 30_000,
        ':low': T0 + 28_000,
        ':high': T0 + 32_000,
        ':l': 600,
      },
    });
  });

  it('takes a failed condition in observe as “the table already says less”', async () => {
    // Prepare
    db.on(UpdateCommand).rejects(conditionFailed());

    // Act
    const observe = pacing.observe('push', { remaining: 0, resetSeconds: 30 });

    // Assess
    await expect(observe).resolves.toBeUndefined();
  });
});
