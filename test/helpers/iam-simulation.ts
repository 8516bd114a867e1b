/**
 * IAM as AWS evaluates it, on the synthesized templates: the identity
 * policies of each role, the resource policies (KMS key policies, topic
 * policies, Lambda permissions), and the calls AWS itself makes on a
 * caller's behalf (SNS asking KMS for a data key of an encrypted topic).
 * Requests are evaluated by `@cloud-copilot/iam-simulate` in strict mode.
 */
import {
  runSimulation,
  runUnsafeSimulation,
  type Simulation,
} from '@cloud-copilot/iam-simulate';
import type { CfnResource, CfnTemplate } from '../../local/dynamo.ts';
import {
  LOCAL_ACCOUNT,
  LOCAL_REGION,
  resolveIntrinsics,
} from '../../local/engine/extract.ts';
import type { AwsCall } from './aws-loopback.ts';

/** An IAM policy document. */
export interface PolicyDocument {
  Version?: string;
  Statement: PolicyStatement[];
}

/** One statement, as CloudFormation holds it (single values or lists). */
export interface PolicyStatement {
  Sid?: string;
  Effect: 'Allow' | 'Deny';
  Action?: string | string[];
  NotAction?: string | string[];
  Resource?: string | string[];
  NotResource?: string | string[];
  Principal?: unknown;
  Condition?: Record<string, Record<string, unknown>>;
}

/** A role and the identity policies attached to it. */
export interface RolePolicies {
  readonly roleId: string;
  readonly roleArn: string;
  readonly policies: Array<{ name: string; policy: PolicyDocument }>;
}

/** A request to evaluate. */
export interface IamRequest {
  /** A role ARN, or a service principal such as `cloudwatch.amazonaws.com`. */
  readonly principal: string;
  readonly action: string;
  readonly resource: string;
  readonly context?: Record<string, string | string[]>;
  /** Identity policies of the principal (none for a service principal). */
  readonly identityPolicies: Array<{ name: string; policy: PolicyDocument }>;
  /** The resource's own policy, when it has one. */
  readonly resourcePolicy?: PolicyDocument;
}

const list = <T>(value: T | T[] | undefined): T[] =>
  value === undefined ? [] : Array.isArray(value) ? value : [value];

type Located = { stackName: string; id: string; resource: CfnResource };

const everyResource = (templates: Record<string, CfnTemplate>): Located[] =>
  Object.entries(templates).flatMap(([stackName, t]) =>
    Object.entries(t.Resources ?? {}).map(([id, resource]) => ({
      stackName,
      id,
      resource,
    }))
  );

const resolved = <T>(
  templates: Record<string, CfnTemplate>,
  at: Located,
  value: unknown
): T => resolveIntrinsics(value, templates, at.stackName) as T;

const refId = (value: unknown): string | undefined =>
  (value as { Ref?: string })?.Ref ??
  (value as { 'Fn::GetAtt'?: [string] })?.['Fn::GetAtt']?.[0];

/** The ARN a role has in the local world. */
export const roleArnOf = (roleId: string): string =>
  `arn:aws:iam::${LOCAL_ACCOUNT}:role/${roleId}`;

/**
 * Every role of the templates with its identity policies: its inline
 * policies and every `AWS::IAM::Policy` attached to it.
 */
export const rolesOf = (
  templates: Record<string, CfnTemplate>
): Map<string, RolePolicies> => {
  const roles = new Map<string, RolePolicies>();
  const all = everyResource(templates);
  for (const at of all) {
    if (at.resource.Type !== 'AWS::IAM::Role') continue;
    const props = (at.resource.Properties ?? {}) as {
      Policies?: Array<{ PolicyName: string; PolicyDocument: unknown }>;
      ManagedPolicyArns?: unknown[];
    };
    if ((props.ManagedPolicyArns ?? []).length > 0) {
      throw new Error(
        `${at.id} has managed policies, which the templates do not hold`
      );
    }
    roles.set(at.id, {
      roleId: at.id,
      roleArn: roleArnOf(at.id),
      policies: (props.Policies ?? []).map((p) => ({
        name: p.PolicyName,
        policy: resolved<PolicyDocument>(templates, at, p.PolicyDocument),
      })),
    });
  }
  for (const at of all) {
    if (at.resource.Type !== 'AWS::IAM::Policy') continue;
    const props = at.resource.Properties as {
      PolicyDocument: unknown;
      Roles?: unknown[];
    };
    for (const role of props.Roles ?? []) {
      const id = refId(role);
      const entry = id ? roles.get(id) : undefined;
      if (!entry) continue;
      entry.policies.push({
        name: at.id,
        policy: resolved<PolicyDocument>(templates, at, props.PolicyDocument),
      });
    }
  }
  return roles;
};

const arnOf = (templates: Record<string, CfnTemplate>, at: Located) =>
  String(resolved(templates, at, { 'Fn::GetAtt': [at.id, 'Arn'] }));

/**
 * The resource policy AWS evaluates for a resource ARN: a KMS key's key
 * policy, a topic's topic policy, a function's permissions (as one policy).
 */
export const resourcePolicyOf = (
  templates: Record<string, CfnTemplate>,
  resourceArn: string
): PolicyDocument | undefined => {
  const all = everyResource(templates);
  for (const at of all) {
    const type = at.resource.Type;
    const props = (at.resource.Properties ?? {}) as Record<string, unknown>;
    if (type === 'AWS::KMS::Key' && arnOf(templates, at) === resourceArn) {
      return resolved<PolicyDocument>(templates, at, props.KeyPolicy);
    }
    if (type === 'AWS::SNS::TopicPolicy') {
      const topics = resolved<string[]>(templates, at, props.Topics);
      if (topics.includes(resourceArn)) {
        return resolved<PolicyDocument>(templates, at, props.PolicyDocument);
      }
    }
  }
  const permissions = all.filter((at) => {
    if (at.resource.Type !== 'AWS::Lambda::Permission') return false;
    const props = at.resource.Properties as { FunctionName: unknown };
    return String(resolved(templates, at, props.FunctionName)) === resourceArn;
  });
  if (permissions.length === 0) return undefined;
  return {
    Version: '2012-10-17',
    Statement: permissions.map((at) => {
      const p = resolved<{
        Action: string;
        Principal: string;
        SourceArn?: string;
        SourceAccount?: string;
      }>(templates, at, at.resource.Properties);
      const condition: Record<string, Record<string, unknown>> = {};
      if (p.SourceArn) condition.ArnLike = { 'aws:SourceArn': p.SourceArn };
      if (p.SourceAccount) {
        condition.StringEquals = { 'aws:SourceAccount': p.SourceAccount };
      }
      return {
        Sid: at.id,
        Effect: 'Allow' as const,
        Principal: p.Principal.endsWith('.amazonaws.com')
          ? { Service: p.Principal }
          : { AWS: p.Principal },
        Action: p.Action,
        Resource: resourceArn,
        ...(Object.keys(condition).length > 0 ? { Condition: condition } : {}),
      };
    }),
  };
};

/**
 * The calls AWS makes with the caller's permissions for a call: SNS asks
 * KMS for a data key when it publishes to a topic encrypted with a
 * customer-managed key (kms:GenerateDataKey, kms:Decrypt).
 */
export const impliedCalls = (
  templates: Record<string, CfnTemplate>,
  call: AwsCall
): Array<AwsCall & { context: Record<string, string> }> => {
  if (call.action !== 'sns:Publish') return [];
  return everyResource(templates).flatMap((at) => {
    if (at.resource.Type !== 'AWS::SNS::Topic') return [];
    const topicArn = String(resolved(templates, at, { Ref: at.id }));
    if (!call.resources.includes(topicArn)) return [];
    const props = (at.resource.Properties ?? {}) as Record<string, unknown>;
    if (props.KmsMasterKeyId === undefined) return [];
    const key = String(resolved(templates, at, props.KmsMasterKeyId));
    if (key.startsWith('alias/aws/')) return [];
    const context = {
      'kms:ViaService': `sns.${LOCAL_REGION}.amazonaws.com`,
      'kms:CallerAccount': LOCAL_ACCOUNT,
    };
    return ['kms:GenerateDataKey', 'kms:Decrypt'].map((action) => ({
      caller: call.caller,
      action,
      resources: [key],
      ok: call.ok,
      context,
    }));
  });
};

/**
 * Actions the Service Authorization Reference lists without resource types
 * (so the simulator insists on `"*"`), which Step Functions nonetheless
 * authorizes on the state machine the task token belongs to: its
 * AccessDenied names `…:stateMachine:<name>` as the resource, and CDK's
 * `grantTaskResponse` grants on the state machine's ARN. These are evaluated
 * on that ARN without the simulator's resource-type validation.
 */
export const TOKEN_SCOPED_ACTIONS = new Set([
  'states:SendTaskSuccess',
  'states:SendTaskFailure',
  'states:SendTaskHeartbeat',
]);

/** What AWS would decide, with the reason when it is not allowed. */
export const evaluate = async (
  request: IamRequest
): Promise<{ decision: string; detail?: string }> => {
  const simulation: Simulation = {
    request: {
      principal: request.principal,
      action: request.action,
      resource: { resource: request.resource, accountId: LOCAL_ACCOUNT },
      contextVariables: {
        'aws:SecureTransport': 'true',
        'aws:CurrentTime': new Date().toISOString(),
        ...(request.principal.startsWith('arn:')
          ? {
              'aws:PrincipalArn': request.principal,
              'aws:PrincipalAccount': LOCAL_ACCOUNT,
            }
          : {}),
        ...request.context,
      },
    },
    identityPolicies: request.identityPolicies,
    serviceControlPolicies: [],
    resourceControlPolicies: [],
    ...(request.resourcePolicy
      ? { resourcePolicy: request.resourcePolicy }
      : {}),
  };
  if (TOKEN_SCOPED_ACTIONS.has(request.action)) {
    return { decision: runUnsafeSimulation(simulation, {}) };
  }
  const result = await runSimulation(simulation, {});
  if (result.resultType === 'error') {
    return { decision: 'Error', detail: JSON.stringify(result.errors) };
  }
  return { decision: result.overallResult };
};

/** IAM's wildcard match (`*`, `?`); actions compare without case. */
export const iamMatch = (
  pattern: string,
  value: string,
  ignoreCase = false
): boolean => {
  const source = pattern
    .split('')
    .map((c) =>
      c === '*'
        ? '.*'
        : c === '?'
          ? '.'
          : c.replace(/[.+^${}()|[\]\\]/g, '\\$&')
    )
    .join('');
  return new RegExp(`^${source}$`, ignoreCase ? 'i' : '').test(value);
};

/** One (action, resource) a role's policies allow. */
export interface Grant {
  readonly policy: string;
  readonly action: string;
  /** The resource pattern, or `NOT <patterns>` for a NotResource. */
  readonly resource: string;
  readonly notResources?: readonly string[];
}

/** Every (action, resource) the Allow statements of a role name. */
export const grantsOf = (role: RolePolicies): Grant[] =>
  role.policies.flatMap(({ name, policy }) =>
    policy.Statement.filter((s) => s.Effect === 'Allow').flatMap((s) =>
      list(s.Action).flatMap((action) =>
        s.NotResource !== undefined
          ? [
              {
                policy: name,
                action,
                resource: `NOT ${list(s.NotResource).join(',')}`,
                notResources: list(s.NotResource),
              },
            ]
          : list(s.Resource).map((resource) => ({
              policy: name,
              action,
              resource,
            }))
      )
    )
  );

/** Whether a recorded call uses a grant. */
export const usesGrant = (grant: Grant, call: AwsCall): boolean =>
  iamMatch(grant.action, call.action, true) &&
  call.resources.some((r) =>
    grant.notResources
      ? !grant.notResources.some((p) => iamMatch(p, r))
      : iamMatch(grant.resource, r)
  );
