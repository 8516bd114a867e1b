/**
 * One loopback HTTP endpoint that speaks the wire protocols of the AWS
 * services the functions call, so the synthesized bundles run against it
 * unchanged through the standard `AWS_ENDPOINT_URL_*` variables:
 *
 * - DynamoDB (AWS JSON 1.0): forwarded to dynalite;
 * - Step Functions (AWS JSON 1.0): StartExecution, SendTaskSuccess,
 *   SendTaskFailure and SendTaskHeartbeat, on the local engine;
 * - SNS (AWS Query): Publish, to a topic or a phone number, recorded;
 * - Secrets Manager (AWS JSON 1.1): GetSecretValue of the secrets given;
 * - EventBridge (AWS JSON 1.1): PutEvents, recorded.
 *
 * The service is read from the SigV4 credential scope of each request, the
 * caller from its access key id (each bundle runs with its own), so every
 * call is recorded as caller, IAM action and resource ARNs: what the IAM
 * simulation then checks against the synthesized policies.
 */
import { randomUUID } from 'node:crypto';
import {
  createServer,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { LOCAL_ACCOUNT, LOCAL_REGION } from '../../local/engine/extract.ts';
import type { LocalStateMachine } from '../../local/engine/local-state-machine.ts';

/** One AWS API call as IAM sees it. */
export interface AwsCall {
  /** The access key id it was signed with: the calling function. */
  readonly caller: string;
  /** The IAM action, e.g. `dynamodb:UpdateItem`. */
  readonly action: string;
  /** The resources IAM authorizes it on (`*` when it has none). */
  readonly resources: readonly string[];
  /** Whether the endpoint answered with success. */
  readonly ok: boolean;
}

/** An SNS Publish the endpoint took. */
export interface PublishedSms {
  readonly caller: string;
  readonly topicArn?: string;
  readonly phoneNumber?: string;
  readonly message: string;
}

/** An event PutEvents took. */
export interface PutEvent {
  readonly caller: string;
  /** The bus's ARN. */
  readonly busArn: string;
  readonly source: string;
  readonly detailType: string;
  readonly detail: Record<string, unknown>;
}

/** Options of {@link startAwsLoopback}. */
export interface AwsLoopbackOptions {
  /** dynalite's endpoint, where DynamoDB calls go. */
  readonly dynamoEndpoint: string;
  /** The state machines by ARN. */
  readonly stateMachines: () => ReadonlyMap<string, LocalStateMachine>;
  /** Secret values by secret ARN. */
  readonly secrets: Readonly<Record<string, string>>;
}

/** A running loopback endpoint. */
export interface AwsLoopback {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  /** Every call so far, in order. */
  readonly calls: AwsCall[];
  /** Every SNS Publish so far. */
  readonly published: PublishedSms[];
  /** Every event put on a bus so far. */
  readonly events: PutEvent[];
  /** The `AWS_ENDPOINT_URL_*` variables that point the SDK here. */
  readonly environment: Record<string, string>;
  close(): Promise<void>;
}

class AwsError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status = 400
  ) {
    super(message);
  }
}

const SIGV4 = /Credential=([^/]+)\/\d{8}\/([^/]+)\/([^/]+)\/aws4_request/;

const readBody = async (req: IncomingMessage): Promise<string> => {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
};

const arn = (service: string, resource: string) =>
  `arn:aws:${service}:${LOCAL_REGION}:${LOCAL_ACCOUNT}:${resource}`;

const tableArn = (table: unknown, index?: unknown) =>
  arn(
    'dynamodb',
    `table/${String(table)}${index === undefined ? '' : `/index/${String(index)}`}`
  );

/** The IAM view of a DynamoDB request: one entry per action it needs. */
const dynamoCalls = (
  operation: string,
  body: Record<string, unknown>
): Array<{ action: string; resources: string[] }> => {
  const items = (body.RequestItems ?? {}) as Record<string, unknown>;
  switch (operation) {
    case 'BatchGetItem':
    case 'BatchWriteItem':
      return [
        {
          action: `dynamodb:${operation}`,
          resources: Object.keys(items).map((t) => tableArn(t)),
        },
      ];
    case 'TransactWriteItems':
    case 'TransactGetItems': {
      const kinds: Record<string, string> = {
        Put: 'PutItem',
        Update: 'UpdateItem',
        Delete: 'DeleteItem',
        ConditionCheck: 'ConditionCheckItem',
        Get: 'GetItem',
      };
      return ((body.TransactItems ?? []) as Record<string, unknown>[]).flatMap(
        (item) =>
          Object.entries(item).map(([kind, spec]) => ({
            action: `dynamodb:${kinds[kind] ?? kind}`,
            resources: [
              tableArn((spec as { TableName?: unknown }).TableName ?? '?'),
            ],
          }))
      );
    }
    default:
      return [
        {
          action: `dynamodb:${operation}`,
          resources: [tableArn(body.TableName, body.IndexName)],
        },
      ];
  }
};

/**
 * Starts the endpoint on a free loopback port.
 * @param options where DynamoDB goes, the engine, the secrets
 */
export const startAwsLoopback = async (
  options: AwsLoopbackOptions
): Promise<AwsLoopback> => {
  const calls: AwsCall[] = [];
  const published: PublishedSms[] = [];
  const events: PutEvent[] = [];

  const machineOfToken = (): LocalStateMachine => {
    const [machine] = options.stateMachines().values();
    if (!machine) throw new AwsError('InvalidToken', 'No state machine');
    return machine;
  };

  const states = async (
    operation: string,
    body: Record<string, unknown>,
    record: (action: string, resources: string[]) => void
  ): Promise<unknown> => {
    if (operation === 'StartExecution') {
      const machineArn = String(body.stateMachineArn);
      record('states:StartExecution', [machineArn]);
      const machine = options.stateMachines().get(machineArn);
      if (!machine) {
        throw new AwsError(
          'StateMachineDoesNotExist',
          `State Machine Does Not Exist: '${machineArn}'`
        );
      }
      const started = await machine.startExecution({
        name: String(body.name),
        input: body.input ?? '{}',
      });
      return {
        executionArn: started.executionArn,
        startDate: started.startDate.getTime() / 1000,
      };
    }
    const machine = machineOfToken();
    record(`states:${operation}`, [machine.stateMachineArn]);
    const token = String(body.taskToken);
    switch (operation) {
      case 'SendTaskSuccess':
        return machine.sendTaskSuccess({
          taskToken: token,
          output: String(body.output),
        });
      case 'SendTaskFailure':
        return machine.sendTaskFailure({
          taskToken: token,
          ...(body.error === undefined ? {} : { error: String(body.error) }),
          ...(body.cause === undefined ? {} : { cause: String(body.cause) }),
        });
      case 'SendTaskHeartbeat':
        return machine.sendTaskHeartbeat({ taskToken: token });
      default:
        throw new AwsError(
          'UnknownOperationException',
          `Unknown operation ${operation}`
        );
    }
  };

  const secretsManager = (
    operation: string,
    body: Record<string, unknown>,
    record: (action: string, resources: string[]) => void
  ): unknown => {
    const id = String(body.SecretId);
    record(`secretsmanager:${operation}`, [id]);
    if (operation !== 'GetSecretValue') {
      throw new AwsError(
        'UnknownOperationException',
        `Unknown operation ${operation}`
      );
    }
    const value = options.secrets[id];
    if (value === undefined) {
      throw new AwsError(
        'ResourceNotFoundException',
        "Secrets Manager can't find the specified secret."
      );
    }
    return {
      ARN: id,
      Name: id.split(':').at(-1),
      SecretString: value,
      VersionId: '00000000-0000-4000-8000-000000000001',
      VersionStages: ['AWSCURRENT'],
      CreatedDate: 1_796_000_000,
    };
  };

  const eventBridge = (
    caller: string,
    operation: string,
    body: Record<string, unknown>,
    record: (action: string, resources: string[]) => void
  ): unknown => {
    const entries = (body.Entries ?? []) as {
      EventBusName?: string;
      Source?: string;
      DetailType?: string;
      Detail?: string;
    }[];
    // A bus named, not given by ARN, is one of the caller's account.
    const busArns = entries.map(({ EventBusName: bus = 'default' }) =>
      bus.startsWith('arn:') ? bus : arn('events', `event-bus/${bus}`)
    );
    record(`events:${operation}`, [...new Set(busArns)]);
    if (operation !== 'PutEvents') {
      throw new AwsError(
        'UnknownOperationException',
        `Unknown operation ${operation}`
      );
    }
    entries.forEach((entry, i) => {
      events.push({
        caller,
        busArn: busArns[i] as string,
        source: String(entry.Source),
        detailType: String(entry.DetailType),
        detail: JSON.parse(entry.Detail ?? '{}') as Record<string, unknown>,
      });
    });
    return {
      FailedEntryCount: 0,
      Entries: entries.map(() => ({ EventId: randomUUID() })),
    };
  };

  const sns = (
    caller: string,
    form: URLSearchParams,
    record: (action: string, resources: string[]) => void
  ): string => {
    const action = form.get('Action') ?? '';
    if (action !== 'Publish') {
      record(`sns:${action}`, ['*']);
      throw new AwsError('InvalidAction', `Unknown action ${action}`);
    }
    const topicArn = form.get('TopicArn') ?? undefined;
    const phoneNumber = form.get('PhoneNumber') ?? undefined;
    // Publishing to a phone number has no resource: IAM evaluates "*".
    record('sns:Publish', [topicArn ?? '*']);
    published.push({
      caller,
      ...(topicArn === undefined ? {} : { topicArn }),
      ...(phoneNumber === undefined ? {} : { phoneNumber }),
      message: form.get('Message') ?? '',
    });
    return `<PublishResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><PublishResult><MessageId>${randomUUID()}</MessageId></PublishResult><ResponseMetadata><RequestId>${randomUUID()}</RequestId></ResponseMetadata></PublishResponse>`;
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const text = await readBody(req);
    const scope = SIGV4.exec(String(req.headers.authorization ?? ''));
    const caller = scope?.[1] ?? 'unsigned';
    const service = scope?.[3] ?? 'unknown';
    const target = String(req.headers['x-amz-target'] ?? '');
    const operation = target.split('.').at(-1) ?? '';
    const pending: Array<{ action: string; resources: string[] }> = [];
    const record = (action: string, resources: string[]) => {
      pending.push({ action, resources });
    };
    let ok = false;
    try {
      if (service === 'dynamodb') {
        pending.push(
          ...dynamoCalls(operation, JSON.parse(text || '{}') as never)
        );
        const answer = await fetch(options.dynamoEndpoint, {
          method: 'POST',
          headers: {
            'content-type': String(req.headers['content-type']),
            'x-amz-target': target,
            ...(req.headers.authorization
              ? { authorization: String(req.headers.authorization) }
              : {}),
            ...(req.headers['x-amz-date']
              ? { 'x-amz-date': String(req.headers['x-amz-date']) }
              : {}),
          },
          body: text,
        });
        const body = await answer.text();
        ok = answer.ok;
        res.writeHead(answer.status, {
          'content-type':
            answer.headers.get('content-type') ?? 'application/x-amz-json-1.0',
          'x-amzn-requestid': randomUUID(),
        });
        res.end(body);
        return;
      }
      if (service === 'sns') {
        const xml = sns(caller, new URLSearchParams(text), record);
        ok = true;
        res.writeHead(200, { 'content-type': 'text/xml' });
        res.end(xml);
        return;
      }
      const body = JSON.parse(text || '{}') as Record<string, unknown>;
      let result: unknown;
      if (service === 'states') result = await states(operation, body, record);
      else if (service === 'secretsmanager') {
        result = secretsManager(operation, body, record);
      } else if (service === 'events') {
        result = eventBridge(caller, operation, body, record);
      } else {
        record(`${service}:${operation}`, ['*']);
        throw new AwsError(
          'UnknownServiceException',
          `The loopback endpoint does not speak ${service}`
        );
      }
      ok = true;
      res.writeHead(200, {
        'content-type':
          service === 'states'
            ? 'application/x-amz-json-1.0'
            : 'application/x-amz-json-1.1',
        'x-amzn-requestid': randomUUID(),
      });
      res.end(JSON.stringify(result ?? {}));
    } catch (error) {
      const code =
        error instanceof AwsError
          ? error.code
          : error instanceof Error
            ? error.name
            : 'InternalFailure';
      const message = error instanceof Error ? error.message : String(error);
      const status = error instanceof AwsError ? error.status : 400;
      if (service === 'sns') {
        res.writeHead(status, { 'content-type': 'text/xml' });
        res.end(
          `<ErrorResponse><Error><Type>Sender</Type><Code>${code}</Code><Message>${message}</Message></Error><RequestId>${randomUUID()}</RequestId></ErrorResponse>`
        );
      } else {
        res.writeHead(status, {
          'content-type': 'application/x-amz-json-1.0',
          'x-amzn-errortype': code,
        });
        res.end(JSON.stringify({ __type: code, message }));
      }
    } finally {
      for (const call of pending) calls.push({ caller, ...call, ok });
    }
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      res.writeHead(500);
      res.end(String(error));
    });
  });
  await new Promise<void>((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve())
  );
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    calls,
    published,
    events,
    environment: {
      AWS_ENDPOINT_URL: url,
      AWS_ENDPOINT_URL_DYNAMODB: url,
      AWS_ENDPOINT_URL_SFN: url,
      AWS_ENDPOINT_URL_SNS: url,
      AWS_ENDPOINT_URL_SECRETS_MANAGER: url,
      AWS_ENDPOINT_URL_EVENTBRIDGE: url,
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
};
