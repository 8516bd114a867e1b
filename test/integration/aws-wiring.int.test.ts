import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  LOCAL_ACCOUNT,
  LOCAL_REGION,
  resolveIntrinsics,
} from '../../local/engine/extract.ts';
import {
  type BundledSystem,
  startBundledSystem,
} from '../helpers/bundled-system.ts';
import {
  evaluate,
  grantsOf,
  impliedCalls,
  resourcePolicyOf,
  rolesOf,
  usesGrant,
} from '../helpers/iam-simulation.ts';
import {
  eventually,
  newRegistrationId,
  newUserId,
} from '../helpers/local-system.ts';

// The synthesized esbuild bundles, each in its own process with the
// environment its template resource gives it, run one whole delivery cycle
// against loopback AWS endpoints (dynalite, the local engine over the Step
// Functions protocol, SNS and Secrets Manager over theirs) and the JPush
// simulator over HTTP. Every AWS call they make is recorded for the IAM
// checks in iam-simulation below.
let system: BundledSystem;

beforeAll(async () => {
  system = await startBundledSystem();
}, 240_000);

afterAll(async () => {
  await system?.close();
});

const serviceStackName = () =>
  Object.keys(system.templates).find((n) => n.includes('-Service-')) ?? '';

const statusOf = async (messageId: string) => {
  const res = await system.api('GET', `/v1/messages/${messageId}`);
  return res.json as {
    status: string;
    timeline: Array<{ event: string; detail?: string }>;
  };
};

const settled = (messageId: string, status: string) =>
  eventually(
    async () =>
      (await statusOf(messageId)).status === status ? true : undefined,
    `${messageId} to be ${status}`,
    30_000
  );

describe('the synthesized bundles, run as Lambda runs them', () => {
  const user = newUserId('bundle');
  const phone = newRegistrationId();

  it('logs in, sends, pushes through JPush and ends the cycle at the ACK', async () => {
    // Prepare
    system.simulator.setDevice(phone, { platform: 'android', online: true });

    // Act
    const login = await system.api('POST', '/v1/sessions', {
      userId: user,
      registrationId: phone,
      platform: 'android',
    });
    const sent = await system.api('POST', '/v1/messages', {
      to: user,
      body: 'Order 1009 shipped',
      policy: { intervalSeconds: 5, maxAttempts: 2 },
    });
    const messageId = String(sent.json.messageId);
    const push = await eventually(
      () =>
        system.simulator
          .getDevice(phone)
          ?.received.find((p) => p.extras.messageId === messageId),
      'the push to reach the phone'
    );
    const ack = await system.api('POST', `/v1/messages/${messageId}/ack`, {
      token: push.extras.ackToken,
      registrationId: phone,
    });

    // Assess
    expect(login.status).toBe(200);
    expect(sent).toMatchObject({ status: 202, json: { status: 'sending' } });
    expect(ack.status).toBe(204);
    await settled(messageId, 'acknowledged');
    await eventually(
      () =>
        system.stateMachine
          .listExecutions({ statusFilter: 'SUCCEEDED' })
          .some((e) => e.name.startsWith(messageId))
          ? true
          : undefined,
      'the execution to end at the ACK'
    );
    // The OutcomeEvents bundle, fed by the messages table's stream, put the
    // message's transitions on the stack's bus, in order.
    const busArn = String(
      resolveIntrinsics(
        {
          'Fn::GetAtt': [
            Object.entries(
              system.templates[serviceStackName()]?.Resources ?? {}
            ).find(([, r]) => r.Type === 'AWS::Events::EventBus')?.[0],
            'Arn',
          ],
        },
        system.templates,
        serviceStackName()
      )
    );
    const outcomes = await eventually(() => {
      const put = system.aws.events.filter(
        (e) => e.detail.messageId === messageId
      );
      return put.length >= 2 ? put : undefined;
    }, 'the outcome events of the message');
    expect(
      outcomes.map((e) => [e.source, e.detailType, e.detail.status])
    ).toEqual([
      ['push-delivery', 'Message Accepted', 'sending'],
      ['push-delivery', 'Message Acknowledged', 'acknowledged'],
    ]);
    expect(new Set(outcomes.map((e) => e.busArn))).toEqual(new Set([busArn]));
    expect(outcomes[0]?.caller).toMatch(/^OutcomeEventsFunction/);
  }, 60_000);

  it('asks the Report API, pushes again and escalates by SMS when no ACK comes, grouping the on-call pages of a window', async () => {
    // Prepare: the phone is off; JPush keeps the push.
    system.simulator.setDevice(phone, { online: false });

    // Act: two messages that escalate together; the second joins the
    // window the first one's page opened (2 s here).
    const [sent, other] = await Promise.all([
      system.api('POST', '/v1/messages', {
        to: user,
        body: 'Your code is 4711',
        policy: { intervalSeconds: 1, maxAttempts: 2 },
        escalation: { onCall: true, smsTo: '+12025550123' },
      }),
      system.api('POST', '/v1/messages', {
        to: user,
        body: 'Your code is 4712',
        policy: { intervalSeconds: 1, maxAttempts: 2 },
      }),
    ]);
    const messageId = String(sent.json.messageId);
    const otherId = String(other.json.messageId);
    await settled(messageId, 'escalated');
    await settled(otherId, 'escalated');
    const onCall = () =>
      system.aws.published.filter((p) => p.topicArn?.includes('OnCallTopic'));
    const page = await eventually(
      () =>
        onCall().find(
          (p) => p.message.includes(messageId) || p.message.includes(otherId)
        ),
      'the on-call page'
    );
    const recipient = await eventually(
      () => system.aws.published.find((p) => p.phoneNumber === '+12025550123'),
      'the recipient SMS'
    );
    // The schedule runs the summary every minute; here, until it has sent.
    const summary = await eventually(async () => {
      await new Promise((resolve) => setTimeout(resolve, 500));
      await system.invoke('OnCallSummary', {
        'detail-type': 'Scheduled Event',
        source: 'aws.events',
        detail: {},
      });
      return onCall().find((p) => p.message.includes('1 more message(s)'));
    }, 'the summary of the window');

    // Assess
    const events = (await statusOf(messageId)).timeline.map((e) => e.event);
    expect(events).toEqual(expect.arrayContaining(['pushed', 'report']));
    expect(events.filter((e) => e === 'pushed')).toHaveLength(2);
    expect(recipient.message).toBe('Your code is 4711');
    expect(page.message).not.toContain('Your code');
    const grouped = page.message.includes(messageId) ? otherId : messageId;
    expect(summary.message).toContain(grouped);
    expect(
      [
        ...(await statusOf(messageId)).timeline,
        ...(await statusOf(otherId)).timeline,
      ]
        .map((e) => e.event)
        .filter((e) => e === 'sms-grouped')
    ).toHaveLength(1);
  }, 60_000);

  it('stores for a logged-out user, withdraws at logout, and delivers at the next login', async () => {
    // Prepare
    system.simulator.setDevice(phone, { online: true });

    // Act
    const logout = await system.api('DELETE', `/v1/sessions/${user}/${phone}`);
    const sent = await system.api('POST', '/v1/messages', {
      to: user,
      body: 'While you were away',
      policy: { intervalSeconds: 5, maxAttempts: 2 },
    });
    const messageId = String(sent.json.messageId);
    const login = await system.api('POST', '/v1/sessions', {
      userId: user,
      registrationId: phone,
      platform: 'android',
    });
    const push = await eventually(
      () =>
        system.simulator
          .getDevice(phone)
          ?.received.find((p) => p.extras.messageId === messageId),
      'the stored message to be pushed at login'
    );
    await system.api('POST', `/v1/messages/${messageId}/ack`, {
      token: push.extras.ackToken,
      registrationId: phone,
    });
    const history = await system.api('GET', `/v1/users/${user}/messages`);
    const sweep = await system.invoke('WithdrawSweeper', {
      'detail-type': 'Scheduled Event',
      source: 'aws.events',
      detail: {},
    });

    // Assess
    expect(logout.status).toBe(204);
    expect(sent.json.status).toBe('stored');
    expect(login.status).toBe(200);
    await settled(messageId, 'acknowledged');
    expect(history.status).toBe(200);
    expect(
      (history.json.items as Array<{ messageId: string }>).map(
        (i) => i.messageId
      )
    ).toContain(messageId);
    expect(sweep).toBeDefined();
  }, 60_000);

  it('waits for a 429 window and resolves a push whose answer was lost, with its cid', async () => {
    // Prepare: JPush answers the push 429, then loses the answer of the
    // next one after acting.
    system.simulator.setDevice(phone, { online: true });
    system.simulator.injectFaults(
      {
        path: '/v3/push',
        method: 'POST',
        status: 429,
        code: 2002,
        headers: { 'X-Rate-Limit-Remaining': '0', 'X-Rate-Limit-Reset': '1' },
      },
      { path: '/v3/push', method: 'POST', afterActing: true }
    );
    const from = system.simulator.requests().length;
    const faultOf = (kind: string) => () =>
      system.simulator
        .requests()
        .slice(from)
        .some((r) => r.fault === kind)
        ? true
        : undefined;

    // Act
    const sent = await system.api('POST', '/v1/messages', {
      to: user,
      body: 'Paced and lost',
      policy: { intervalSeconds: 5, maxAttempts: 2 },
    });
    const messageId = String(sent.json.messageId);
    await eventually(faultOf('scripted'), 'the 429');
    await eventually(faultOf('lost-response'), 'the lost answer', 30_000);
    const copies = await eventually(
      () => {
        const found = (
          system.simulator.getDevice(phone)?.received ?? []
        ).filter((p) => p.extras.messageId === messageId);
        return found.length > 0 ? found : undefined;
      },
      'the push to reach the phone',
      30_000
    );
    await system.api('POST', `/v1/messages/${messageId}/ack`, {
      token: copies[0]?.extras.ackToken,
      registrationId: phone,
    });

    // Assess: one copy, paced rather than failed.
    await settled(messageId, 'acknowledged');
    expect(copies).toHaveLength(1);
    const events = (await statusOf(messageId)).timeline.map((e) => e.event);
    expect(events).toContain('paced');
    expect(events).not.toContain('push-failed');
  }, 90_000);

  it('switches accounts on a device, retrying the withdrawal JPush failed', async () => {
    // Prepare: the user has a push on the phone; JPush fails withdrawals.
    const other = newUserId('bundle');
    const sent = await system.api('POST', '/v1/messages', {
      to: user,
      body: 'For the first account only',
      policy: { intervalSeconds: 30, maxAttempts: 2 },
    });
    const messageId = String(sent.json.messageId);
    await eventually(
      () =>
        system.simulator
          .getDevice(phone)
          ?.received.find((p) => p.extras.messageId === messageId),
      'the push to reach the phone'
    );
    system.simulator.injectFaults({
      path: /^\/v3\/push\/\d+$/,
      method: 'DELETE',
      status: 500,
      // More than the client's own retries within one call.
      times: 6,
    });

    // Act: another account logs in on the phone; later the sweeper runs.
    const login = await system.api('POST', '/v1/sessions', {
      userId: other,
      registrationId: phone,
      platform: 'android',
    });
    const withdrawn = () =>
      system.simulator
        .getDevice(phone)
        ?.received.find((p) => p.extras.messageId === messageId)?.withdrawn
        ? true
        : undefined;
    const before = withdrawn();
    // The schedule runs the sweeper every minute; here, until it is done
    // (the entry is due after its backoff).
    await eventually(
      async () => {
        await new Promise((resolve) => setTimeout(resolve, 250));
        await system.invoke('WithdrawSweeper', {
          'detail-type': 'Scheduled Event',
          source: 'aws.events',
          detail: {},
        });
        return withdrawn();
      },
      'the sweeper to withdraw the push',
      30_000
    );

    // Assess
    expect(login.status).toBe(200);
    expect(before).toBeUndefined();
    expect(withdrawn()).toBe(true);
    const status = (await statusOf(messageId)).status;
    expect(['stored', 'sending']).toContain(status);
  }, 60_000);

  it('erases a user: the running delivery ends, their sessions, messages and alias go', async () => {
    // Prepare: a user on a phone of their own, a message waiting for its
    // ACK, and a chat to the first user, who has no session (stored).
    const erased = newUserId('bundle');
    const own = newRegistrationId();
    system.simulator.setDevice(own, { platform: 'android', online: true });
    await system.api('POST', '/v1/sessions', {
      userId: erased,
      registrationId: own,
      platform: 'android',
    });
    const waiting = await system.api('POST', '/v1/messages', {
      to: erased,
      body: 'Never acknowledged',
      policy: { intervalSeconds: 60, maxAttempts: 2 },
    });
    const messageId = String(waiting.json.messageId);
    await eventually(
      () =>
        system.simulator
          .getDevice(own)
          ?.received.find((p) => p.extras.messageId === messageId),
      'the push to reach the phone'
    );
    await system.api('POST', '/v1/messages', {
      to: user,
      from: erased,
      body: 'See you',
    });

    // Act
    const res = await system.api('DELETE', `/v1/users/${erased}`);

    // Assess
    expect(res).toMatchObject({
      status: 200,
      json: {
        userId: erased,
        messages: 2,
        sessions: 1,
        deliveriesStopped: 1,
        alias: 'cleared',
      },
    });
    expect((await system.api('GET', `/v1/messages/${messageId}`)).status).toBe(
      404
    );
    expect(system.simulator.getDevice(own)?.alias ?? '').toBe('');
    await eventually(
      () =>
        system.stateMachine
          .listExecutions({ statusFilter: 'SUCCEEDED' })
          .some((e) => e.name === messageId)
          ? true
          : undefined,
      'the delivery to end'
    );
  }, 60_000);

  it('sends a batch, then cancels a message: its wait ends and its push is withdrawn from the phone', async () => {
    // Prepare: a user on a phone of their own, and one with no session.
    const someone = newUserId('bundle');
    const away = newUserId('bundle');
    const own = newRegistrationId();
    system.simulator.setDevice(own, { platform: 'android', online: true });
    await system.api('POST', '/v1/sessions', {
      userId: someone,
      registrationId: own,
      platform: 'android',
    });

    // Act
    const batch = await system.api('POST', '/v1/messages/batch', {
      messages: [
        {
          to: someone,
          body: 'Cancel me',
          policy: { intervalSeconds: 60, maxAttempts: 2 },
        },
        { to: away, body: 'Stored, then cancelled' },
        { to: someone },
      ],
    });
    const results = batch.json.results as Array<{
      messageId?: string;
      status?: string;
      error?: { code: string };
    }>;
    const messageId = String(results[0]?.messageId);
    await eventually(
      async () =>
        (await statusOf(messageId)).timeline.some((e) => e.event === 'pushed')
          ? true
          : undefined,
      'the push'
    );
    const cancel = await system.api('DELETE', `/v1/messages/${messageId}`);
    const cancelStored = await system.api(
      'DELETE',
      `/v1/messages/${results[1]?.messageId}`
    );

    // Assess
    expect(batch.status).toBe(207);
    expect(results.map((r) => r.status ?? r.error?.code)).toEqual([
      'sending',
      'stored',
      'ValidationError',
    ]);
    expect(cancel).toMatchObject({
      status: 200,
      json: { status: 'cancelled', deliveryStopped: true, pushesWithdrawn: 1 },
    });
    expect(cancelStored).toMatchObject({
      status: 200,
      json: { status: 'cancelled' },
    });
    expect(
      system.simulator
        .getDevice(own)
        ?.received.filter((p) => p.extras.messageId === messageId)
        .map((p) => p.withdrawn)
    ).toEqual([true]);
    await eventually(
      () =>
        system.stateMachine
          .listExecutions({ statusFilter: 'SUCCEEDED' })
          .some((e) => e.name === messageId)
          ? true
          : undefined,
      'the delivery to end'
    );
  }, 60_000);

  it('signs every call with the credentials Lambda puts in the environment, carrying no other credential source', () => {
    // The cycle above ran each bundle with only AWS_ACCESS_KEY_ID,
    // AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN; the loopback endpoint
    // named each caller by its key id (see the IAM checks below).
    // Assess: none of the chain's other links (SSO, profiles, STS) is in a
    // bundle, since HOUSE_BUNDLING aliases the chain to its first link.
    const withChain = system.functions.filter((fn) =>
      /sso_start_url|AssumeRoleWithWebIdentity/.test(
        readFileSync(fn.bundle, 'utf8')
      )
    );
    expect(withChain.map((fn) => fn.logicalId)).toEqual([]);
    expect(system.functions.length).toBeGreaterThan(0);
  });

  it('turns bad input into a 4xx JSON error, in the bundle too', async () => {
    // Act
    const res = await system.api('POST', '/v1/messages', { to: '' });

    // Assess
    expect(res.status).toBe(400);
    expect(res.json).toMatchObject({ error: { code: expect.any(String) } });
  });
});

/** Calls the Lambda service makes with a function's role, not its code. */
const RUNTIME_CALLS: Array<{ action: RegExp; why: string }> = [
  {
    action: /^logs:(CreateLogStream|PutLogEvents)$/,
    why: 'the runtime writes the logs',
  },
  {
    action: /^xray:(PutTraceSegments|PutTelemetryRecords)$/,
    why: "Lambda's X-Ray daemon sends the traces",
  },
  {
    action:
      /^dynamodb:(DescribeStream|GetRecords|GetShardIterator|ListStreams)$/,
    why: 'the event source mapping reads the stream',
  },
  {
    action: /^sqs:(SendMessage|GetQueueAttributes|GetQueueUrl)$/,
    why: "the event source mapping sends failed batches to the consumer's dead-letter queue",
  },
];

/**
 * Grants for paths the cycle above does not reach, with the path. The
 * check below fails on any other unused grant, and on an entry here that
 * names no grant any more.
 */
const NOT_REACHED_BY_THE_CYCLE: Record<string, string> = {
  'PushFunction dynamodb:PutItem OfflineStoreTable':
    'no session left at push time: the message goes back to the offline store',
  'PushFunction dynamodb:Query OfflineStoreTable':
    'a session came back while it was stored again: drained at once',
  'PushFunction dynamodb:DeleteItem OfflineStoreTable':
    'a session came back while it was stored again: drained at once',
  'PushFunction states:StartExecution PushDelivery':
    'a session came back while it was stored again: a new delivery starts',
  'PushFunction dynamodb:PutItem WithdrawalsTable':
    'a device was left while its push was sent: the withdrawal is recorded',
  'PushFunction dynamodb:DeleteItem WithdrawalsTable':
    'a device was left while its push was sent, and JPush confirmed the withdrawal',
  'PushFunction states:SendTaskHeartbeat PushDelivery':
    'a try of the Push step takes over an attempt another try recorded',
  'WithdrawSweeperFunction dynamodb:GetItem PacingTable':
    "the shared pacing reads the window when a reservation's condition fails",
  'EraseUserFunction dynamodb:GetItem PacingTable':
    "the shared pacing reads the window when a reservation's condition fails",
  'LogoutFunction dynamodb:GetItem PacingTable':
    "the shared pacing reads the window when a reservation's condition fails",
  'WithdrawSweeperFunction secretsmanager:GetSecretValue AckSigningKey':
    'a withdrawal of a push whose answer was lost sends it again with its cid first',
  'LogoutFunction secretsmanager:GetSecretValue AckSigningKey':
    'a withdrawal of a push whose answer was lost sends it again with its cid first',
  'LoginFunction dynamodb:GetItem MessagesTable':
    'draining a stored message whose update found it changed reads it again',
  'LogoutFunction dynamodb:GetItem MessagesTable':
    'draining a stored message whose update found it changed reads it again',
  'LoginFunction dynamodb:DeleteItem WithdrawalsTable':
    'JPush confirms at once the withdrawal of the previous user’s push',
  'LogoutFunction dynamodb:PutItem OfflineStoreTable':
    'the last session ends while a message is in flight: stored again',
  'LogoutFunction dynamodb:Query OfflineStoreTable':
    'a session came back while it was stored again: drained at once',
  'LogoutFunction dynamodb:DeleteItem OfflineStoreTable':
    'a session came back while it was stored again: drained at once',
  'LogoutFunction states:StartExecution PushDelivery':
    'a session came back while it was stored again: a new delivery starts',
  'CancelMessageFunction dynamodb:GetItem PacingTable':
    "the shared pacing reads the window when a reservation's condition fails",
  'CancelMessageFunction secretsmanager:GetSecretValue AckSigningKey':
    'a withdrawal of a push whose answer was lost sends it again with its cid first',
};

/** `<function> <action> <resource>` without the generated suffixes. */
const grantKey = (logicalId: string, action: string, resource: string) =>
  [
    logicalId.replace(/[0-9A-F]{8}$/, ''),
    action,
    (resource.split(/[:/]/).at(-1) ?? resource)
      .replace(/[0-9A-F]{8}$/, '')
      .replace(/-[a-z]+$/, ''),
  ].join(' ');

describe('IAM, as AWS evaluates it, for every call the bundles and the state machine made', () => {
  const callers = () => {
    const roleOfCaller = new Map(
      system.functions.map((f) => [f.logicalId, f.roleLogicalId])
    );
    roleOfCaller.set(system.stateMachineRoleId, system.stateMachineRoleId);
    return roleOfCaller;
  };
  const withImplied = () =>
    system.calls.flatMap((call) => [
      { ...call, context: {} as Record<string, string> },
      ...impliedCalls(system.templates, call),
    ]);

  it('allows every call each function and the state machine made', async () => {
    // Prepare
    const roles = rolesOf(system.templates);
    const roleOfCaller = callers();
    const calls = withImplied();

    // Act
    const denied: string[] = [];
    for (const call of calls) {
      const role = roles.get(roleOfCaller.get(call.caller) ?? '');
      if (!role) {
        denied.push(`${call.caller}: no role for this caller`);
        continue;
      }
      for (const resource of call.resources) {
        const { decision, detail } = await evaluate({
          principal: role.roleArn,
          action: call.action,
          resource,
          context: call.context,
          identityPolicies: role.policies,
          ...(resourcePolicyOf(system.templates, resource)
            ? { resourcePolicy: resourcePolicyOf(system.templates, resource) }
            : {}),
        });
        if (decision !== 'Allowed') {
          denied.push(
            `${call.caller} ${call.action} ${resource}: ${decision}${detail ? ` ${detail}` : ''}`
          );
        }
      }
    }

    // Assess
    const kinds = new Set(calls.map((c) => c.action));
    expect(kinds).toEqual(
      expect.objectContaining({ size: expect.any(Number) })
    );
    for (const action of [
      'dynamodb:UpdateItem',
      'states:StartExecution',
      'states:SendTaskSuccess',
      'sns:Publish',
      'kms:GenerateDataKey',
      'secretsmanager:GetSecretValue',
      'lambda:InvokeFunction',
    ]) {
      expect([...kinds]).toContain(action);
    }
    expect([...new Set(denied)]).toEqual([]);
  });

  it('lets every alarm notify through its encrypted topic', async () => {
    // Prepare
    const all = Object.entries(system.templates).flatMap(([stackName, t]) =>
      Object.entries(t.Resources ?? {})
        .filter(([, r]) => r.Type === 'AWS::CloudWatch::Alarm')
        .map(([id, r]) => ({ stackName, id, r }))
    );

    // Act
    const denied: string[] = [];
    for (const { stackName, id, r } of all) {
      const props = resolveIntrinsics(
        r.Properties,
        system.templates,
        stackName
      ) as { AlarmActions?: string[]; AlarmName?: string };
      const alarmArn = `arn:aws:cloudwatch:${LOCAL_REGION}:${LOCAL_ACCOUNT}:alarm:${props.AlarmName ?? id}`;
      const context = {
        'aws:SourceArn': alarmArn,
        'aws:SourceAccount': LOCAL_ACCOUNT,
      };
      for (const topicArn of props.AlarmActions ?? []) {
        const publish = {
          caller: 'cloudwatch.amazonaws.com',
          action: 'sns:Publish',
          resources: [topicArn],
          ok: true,
        };
        for (const call of [
          { ...publish, context },
          ...impliedCalls(system.templates, publish).map((c) => ({
            ...c,
            context: { ...c.context, ...context },
          })),
        ]) {
          const resource = call.resources[0] as string;
          const policy = resourcePolicyOf(system.templates, resource);
          const { decision } = await evaluate({
            principal: 'cloudwatch.amazonaws.com',
            action: call.action,
            resource,
            context: call.context,
            identityPolicies: [],
            ...(policy ? { resourcePolicy: policy } : {}),
          });
          if (decision !== 'Allowed') {
            denied.push(`${id} ${call.action} ${resource}: ${decision}`);
          }
        }
      }
    }

    // Assess
    expect(all.length).toBeGreaterThan(0);
    expect(denied).toEqual([]);
  });

  it('allows each function nothing beyond what it used', () => {
    // Prepare
    const roles = rolesOf(system.templates);
    const calls = withImplied();

    // Act
    const unused: string[] = [];
    const granted = new Set<string>();
    for (const fn of system.functions) {
      const role = roles.get(fn.roleLogicalId);
      const own = calls.filter((c) => c.caller === fn.logicalId);
      for (const grant of grantsOf(role as NonNullable<typeof role>)) {
        if (RUNTIME_CALLS.some((r) => r.action.test(grant.action))) continue;
        granted.add(grantKey(fn.logicalId, grant.action, grant.resource));
        if (own.some((call) => usesGrant(grant, call))) continue;
        unused.push(grantKey(fn.logicalId, grant.action, grant.resource));
      }
    }

    // Assess
    // (Whether the cycle reaches a listed path may vary from run to run;
    // each entry must still name a grant that exists.)
    expect(unused.filter((key) => !(key in NOT_REACHED_BY_THE_CYCLE))).toEqual(
      []
    );
    expect(
      Object.keys(NOT_REACHED_BY_THE_CYCLE).filter((key) => !granted.has(key))
    ).toEqual([]);
  });

  it('denies a call whose grant was removed from the template', async () => {
    // Prepare: the Push function's role without its grants on the messages
    // table.
    const push = system.functions.find((f) => f.logicalId.startsWith('Push'));
    const role = rolesOf(system.templates).get(push?.roleLogicalId ?? '');
    const update = system.calls.find(
      (c) => c.caller === push?.logicalId && c.action === 'dynamodb:UpdateItem'
    );
    const resource = update?.resources[0] ?? '';
    const stripped = (role?.policies ?? []).map(({ name, policy }) => ({
      name,
      policy: {
        ...policy,
        Statement: policy.Statement.filter(
          (s) => ![s.Resource].flat().some((r) => String(r) === resource)
        ),
      },
    }));

    // Act
    const before = await evaluate({
      principal: role?.roleArn ?? '',
      action: 'dynamodb:UpdateItem',
      resource,
      identityPolicies: role?.policies ?? [],
    });
    const after = await evaluate({
      principal: role?.roleArn ?? '',
      action: 'dynamodb:UpdateItem',
      resource,
      identityPolicies: stripped,
    });

    // Assess
    expect(before.decision).toBe('Allowed');
    expect(after.decision).toBe('ImplicitlyDenied');
  });
});
