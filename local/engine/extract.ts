/**
 * Turns the `AWS::StepFunctions::StateMachine` of synthesized templates into
 * an Amazon States Language definition the local engine can run: every
 * CloudFormation intrinsic of the definition is replaced by a plausible value
 * that encodes the logical id it refers to (table names, function and topic
 * ARNs), so the task mapper can find the local stand-in again.
 */
import type { StateMachineDefinition } from 'aws-local-stepfunctions';
import {
  type CfnResource,
  type CfnTemplate,
  localTableName,
} from '../dynamo.ts';

/** Account id written into every local ARN. */
export const LOCAL_ACCOUNT = '123456789012';
/** Region written into every local ARN. */
export const LOCAL_REGION = 'us-east-1';

/** Options of {@link extractStateMachine}. */
export interface ExtractOptions {
  /** Table name prefix, the same as given to createTablesFromTemplate. @default '' */
  prefix?: string;
  /** Which state machine, when the templates hold several. */
  logicalId?: string;
}

/** What {@link extractStateMachine} found. */
export interface ExtractedStateMachine {
  /** The definition with every intrinsic replaced. */
  definition: StateMachineDefinition;
  /** The state machine's logical id. */
  logicalId: string;
  /** Its name: `StateMachineName` if set literally, else the logical id. */
  stateMachineName: string;
  /** The stack that holds it. */
  stackName: string;
  /** Every resource of every template by logical id (its own stack wins). */
  resources: Record<string, CfnResource>;
}

interface ResolveContext {
  templates: Record<string, CfnTemplate>;
  stackName: string;
  prefix: string;
}

/**
 * The ARN of a Lambda function in the local engine's world.
 * @param logicalId the function's logical id
 */
export const localLambdaArn = (logicalId: string): string =>
  `arn:aws:lambda:${LOCAL_REGION}:${LOCAL_ACCOUNT}:function:${logicalId}`;

/**
 * The function name (= logical id) in a Lambda ARN, partial ARN or name;
 * a version or alias qualifier is dropped.
 * @param functionName what a `FunctionName` parameter or `Resource` holds
 */
export const lambdaNameFromArn = (functionName: string): string => {
  const parts = functionName.split(':');
  if (parts[0] === 'arn') return parts[6] ?? functionName;
  // "123456789012:function:Name[:qualifier]" or "Name[:qualifier]"
  const index = parts.indexOf('function');
  if (index >= 0) return parts[index + 1] ?? functionName;
  return parts[0] ?? functionName;
};

const arn = (service: string, resource: string, region = LOCAL_REGION) =>
  `arn:aws:${service}:${region}:${LOCAL_ACCOUNT}:${resource}`;

/** A bus's name: the one the template gives it, else its logical id. */
const eventBusName = (id: string, resource: CfnResource | undefined) => {
  const name = resource?.Properties?.Name;
  return typeof name === 'string' ? name : id;
};

const refValue = (
  id: string,
  resource: CfnResource | undefined,
  ctx: ResolveContext
): string => {
  switch (resource?.Type) {
    case 'AWS::DynamoDB::Table':
    case 'AWS::DynamoDB::GlobalTable':
      return localTableName(id, ctx.prefix);
    case 'AWS::SNS::Topic':
      return arn('sns', id);
    case 'AWS::SQS::Queue':
      return `https://sqs.${LOCAL_REGION}.amazonaws.com/${LOCAL_ACCOUNT}/${id}`;
    case 'AWS::StepFunctions::StateMachine':
      return arn('states', `stateMachine:${id}`);
    case 'AWS::SecretsManager::Secret':
      return arn('secretsmanager', `secret:${id}`);
    case 'AWS::Events::EventBus':
      return eventBusName(id, resource);
    default:
      // Lambda functions, roles, buckets, …: Ref is the physical name.
      return id;
  }
};

const getAttValue = (
  id: string,
  attribute: string,
  resource: CfnResource | undefined,
  ctx: ResolveContext
): string => {
  const type = resource?.Type ?? '';
  if (attribute === 'Arn') {
    switch (type) {
      case 'AWS::DynamoDB::Table':
      case 'AWS::DynamoDB::GlobalTable':
        return arn('dynamodb', `table/${localTableName(id, ctx.prefix)}`);
      case 'AWS::Lambda::Function':
        return localLambdaArn(id);
      case 'AWS::SQS::Queue':
        return arn('sqs', id);
      case 'AWS::IAM::Role':
        return `arn:aws:iam::${LOCAL_ACCOUNT}:role/${id}`;
      case 'AWS::StepFunctions::StateMachine':
        return arn('states', `stateMachine:${id}`);
      case 'AWS::SecretsManager::Secret':
        return arn('secretsmanager', `secret:${id}`);
      case 'AWS::KMS::Key':
        return arn('kms', `key/${id}`);
      case 'AWS::Events::EventBus':
        return arn('events', `event-bus/${eventBusName(id, resource)}`);
      default: {
        const service = type.split('::')[1]?.toLowerCase() ?? 'local';
        return arn(service, id);
      }
    }
  }
  switch (attribute) {
    case 'TopicArn':
      return arn('sns', id);
    case 'StreamArn':
      return arn(
        'dynamodb',
        `table/${localTableName(id, ctx.prefix)}/stream/local`
      );
    case 'QueueUrl':
      return refValue(id, { Type: 'AWS::SQS::Queue' }, ctx);
    default:
      // TopicName, QueueName, Name, …
      return id;
  }
};

const pseudoValue = (name: string, ctx: ResolveContext): string | undefined => {
  switch (name) {
    case 'AWS::Partition':
      return 'aws';
    case 'AWS::Region':
      return LOCAL_REGION;
    case 'AWS::AccountId':
      return LOCAL_ACCOUNT;
    case 'AWS::URLSuffix':
      return 'amazonaws.com';
    case 'AWS::StackName':
      return ctx.stackName;
    case 'AWS::StackId':
      return arn('cloudformation', `stack/${ctx.stackName}/local`);
    default:
      return undefined;
  }
};

const NO_VALUE = Symbol('AWS::NoValue');

const resolveRef = (name: string, ctx: ResolveContext): unknown => {
  if (name === 'AWS::NoValue') return NO_VALUE;
  const pseudo = pseudoValue(name, ctx);
  if (pseudo !== undefined) return pseudo;
  const template = ctx.templates[ctx.stackName];
  const parameter = (
    template?.Parameters as Record<string, { Default?: unknown }> | undefined
  )?.[name];
  if (parameter) return parameter.Default ?? name;
  return refValue(name, template?.Resources?.[name], ctx);
};

const resolveImport = (exportName: string, ctx: ResolveContext): unknown => {
  for (const [stackName, template] of Object.entries(ctx.templates)) {
    const outputs = (template.Outputs ?? {}) as Record<
      string,
      { Value: unknown; Export?: { Name?: unknown } }
    >;
    const sub = { ...ctx, stackName };
    for (const output of Object.values(outputs)) {
      if (!output.Export) continue;
      if (resolveValue(output.Export.Name, sub) === exportName) {
        return resolveValue(output.Value, sub);
      }
    }
  }
  throw new Error(`Fn::ImportValue: no stack exports "${exportName}"`);
};

const resolveSub = (
  text: string,
  variables: Record<string, unknown>,
  ctx: ResolveContext
): string =>
  text.replace(/\$\{([^}!][^}]*)\}/g, (_match, name: string) => {
    if (name in variables) return String(resolveValue(variables[name], ctx));
    const dot = name.indexOf('.');
    if (dot > 0 && !name.startsWith('AWS::')) {
      const id = name.slice(0, dot);
      return getAttValue(
        id,
        name.slice(dot + 1),
        ctx.templates[ctx.stackName]?.Resources?.[id],
        ctx
      );
    }
    return String(resolveRef(name, ctx));
  });

/**
 * Resolves the CloudFormation intrinsics of a value (Ref, Fn::GetAtt,
 * Fn::Join, Fn::Sub, Fn::Select, Fn::Split, Fn::ImportValue and the pseudo
 * parameters) to local values.
 * @throws on intrinsics with no local meaning (Fn::If, Fn::GetAZs, …)
 */
const resolveValue = (value: unknown, ctx: ResolveContext): unknown => {
  if (Array.isArray(value)) {
    return value
      .map((item) => resolveValue(item, ctx))
      .filter((item) => item !== NO_VALUE);
  }
  if (value === null || typeof value !== 'object') return value;
  const entries = Object.entries(value as Record<string, unknown>);
  const [first] = entries;
  if (entries.length === 1 && first) {
    const [key, arg] = first;
    if (key === 'Ref') return resolveRef(String(arg), ctx);
    if (key === 'Fn::GetAtt') {
      const [id, ...attribute] = Array.isArray(arg)
        ? (arg as string[])
        : String(arg).split('.');
      const resource = ctx.templates[ctx.stackName]?.Resources?.[id ?? ''];
      return getAttValue(id ?? '', attribute.join('.'), resource, ctx);
    }
    if (key === 'Fn::Join') {
      const [delimiter, parts] = arg as [string, unknown[]];
      const resolved = resolveValue(parts, ctx) as unknown[];
      return resolved.map(String).join(delimiter);
    }
    if (key === 'Fn::Sub') {
      const [text, variables] = Array.isArray(arg)
        ? (arg as [string, Record<string, unknown>])
        : [String(arg), {}];
      return resolveSub(text, variables ?? {}, ctx);
    }
    if (key === 'Fn::Select') {
      const [index, list] = arg as [unknown, unknown];
      const items = resolveValue(list, ctx) as unknown[];
      return items[Number(resolveValue(index, ctx))];
    }
    if (key === 'Fn::Split') {
      const [delimiter, text] = arg as [string, unknown];
      return String(resolveValue(text, ctx)).split(delimiter);
    }
    if (key === 'Fn::ImportValue') {
      return resolveImport(String(resolveValue(arg, ctx)), ctx);
    }
    if (key.startsWith('Fn::') || key === 'Condition') {
      throw new Error(`Intrinsic ${key} is not supported locally`);
    }
  }
  const out: Record<string, unknown> = {};
  for (const [key, item] of entries) {
    const resolved = resolveValue(item, ctx);
    if (resolved !== NO_VALUE) out[key] = resolved;
  }
  return out;
};

/**
 * Resolves the CloudFormation intrinsics of a value the way the local engine
 * does (see {@link extractStateMachine}): what a function's environment, a
 * policy document or a definition refers to gets one local value everywhere.
 * @param value a template fragment
 * @param templates templates by stack name
 * @param stackName the stack the fragment belongs to
 * @param prefix the table name prefix
 * @throws on intrinsics with no local meaning (Fn::If, Fn::GetAZs, …)
 */
export const resolveIntrinsics = (
  value: unknown,
  templates: Record<string, CfnTemplate>,
  stackName: string,
  prefix = ''
): unknown => resolveValue(value, { templates, stackName, prefix });

const isTemplate = (value: unknown): value is CfnTemplate =>
  typeof value === 'object' &&
  value !== null &&
  typeof (value as CfnTemplate).Resources === 'object';

/**
 * Finds the state machine in synthesized templates and returns its
 * definition with every intrinsic replaced by a local value: a table's `Ref`
 * becomes the local table name (prefix + logical id), a function's ARN
 * `arn:aws:lambda:us-east-1:123456789012:function:<logicalId>`, a topic's
 * `arn:aws:sns:us-east-1:123456789012:<logicalId>`; cross-stack imports are
 * followed to the exporting stack.
 * @param templates templates by stack name (from synthTemplates), or one
 * template
 * @param options table prefix and which state machine
 * @returns the definition, its names and all resources by logical id
 * @throws when there is no state machine, several and no logicalId, or the
 * definition uses intrinsics with no local meaning
 */
export const extractStateMachine = (
  templates: Record<string, CfnTemplate> | CfnTemplate,
  options: ExtractOptions = {}
): ExtractedStateMachine => {
  const byStack: Record<string, CfnTemplate> = isTemplate(templates)
    ? { Template: templates }
    : templates;
  const found: Array<{ stackName: string; id: string; res: CfnResource }> = [];
  for (const [stackName, template] of Object.entries(byStack)) {
    for (const [id, res] of Object.entries(template.Resources ?? {})) {
      if (res.Type !== 'AWS::StepFunctions::StateMachine') continue;
      if (options.logicalId && options.logicalId !== id) continue;
      found.push({ stackName, id, res });
    }
  }
  const [match] = found;
  if (!match) {
    throw new Error(
      `No AWS::StepFunctions::StateMachine${options.logicalId ? ` with logical id ${options.logicalId}` : ''} in the templates`
    );
  }
  if (found.length > 1) {
    throw new Error(
      `Several state machines (${found.map((f) => f.id).join(', ')}): pass options.logicalId`
    );
  }
  const ctx: ResolveContext = {
    templates: byStack,
    stackName: match.stackName,
    prefix: options.prefix ?? '',
  };
  const props = match.res.Properties ?? {};
  let definition: unknown;
  if (props.DefinitionString !== undefined) {
    let text = String(resolveValue(props.DefinitionString, ctx));
    const substitutions = resolveValue(
      props.DefinitionSubstitutions ?? {},
      ctx
    ) as Record<string, unknown>;
    for (const [key, value] of Object.entries(substitutions)) {
      text = text.split(`\${${key}}`).join(String(value));
    }
    definition = JSON.parse(text);
  } else if (props.Definition !== undefined) {
    definition = resolveValue(props.Definition, ctx);
  } else {
    throw new Error(
      `State machine ${match.id} has no inline definition (DefinitionS3Location is not supported locally)`
    );
  }
  const resources: Record<string, CfnResource> = {};
  for (const template of Object.values(byStack)) {
    Object.assign(resources, template.Resources);
  }
  Object.assign(resources, byStack[match.stackName]?.Resources);
  const name = resolveValue(props.StateMachineName, ctx);
  return {
    definition: definition as StateMachineDefinition,
    logicalId: match.id,
    stateMachineName: typeof name === 'string' ? name : match.id,
    stackName: match.stackName,
    resources,
  };
};
