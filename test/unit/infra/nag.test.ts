import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Stack, Stage, Validations } from 'aws-cdk-lib';
import {
  CfnRole,
  PolicyStatement,
  Role,
  ServicePrincipal,
} from 'aws-cdk-lib/aws-iam';
import {
  Code,
  Function as LambdaFunction,
  Runtime,
} from 'aws-cdk-lib/aws-lambda';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { AwsSolutionsChecks, NagPack, ServerlessChecks } from 'cdk-nag';
import { Construct, type IConstruct } from 'constructs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { buildApp } from '../../../infra/app.ts';

/** CDK's policy validation report (`validation-report.json`). */
interface ValidationReport {
  readonly pluginReports: ReadonlyArray<{
    readonly pluginName: string;
    readonly violations: ReadonlyArray<{
      readonly ruleName: string;
      readonly severity?: string;
      readonly violatingConstructs: ReadonlyArray<{
        readonly constructPath: string;
      }>;
    }>;
  }>;
}

const outdirs: string[] = [];

/** An app that synthesizes into a fresh directory, without bundling. */
const newApp = (failOnValidationErrors: boolean) => {
  const outdir = mkdtempSync(join(tmpdir(), 'nag-test-'));
  outdirs.push(outdir);
  const app = new App({
    outdir,
    context: {
      'aws:cdk:bundling-stacks': [],
      '@aws-cdk/core:failSynthOnValidationErrors': failOnValidationErrors,
    },
  });
  return { app, outdir };
};

/**
 * Synthesizes and returns every unacknowledged cdk-nag finding as
 * "severity rule at construct path" (acknowledged findings are not in the
 * report). Warnings count too: the Serverless pack rates a function without
 * tracing a warning, and the house wants none of those either.
 */
const nagFindings = (app: App, outdir: string): string[] => {
  app.synth();
  const file = join(outdir, 'validation-report.json');
  if (!existsSync(file)) return [];
  const report = JSON.parse(readFileSync(file, 'utf8')) as ValidationReport;
  return report.pluginReports.flatMap((plugin) =>
    plugin.violations.flatMap((v) =>
      v.violatingConstructs.map(
        (c) => `${v.severity ?? 'error'} ${v.ruleName} at ${c.constructPath}`
      )
    )
  );
};

/** A stack breaking two house rules: no SSL on a topic, no tracing. */
const addThrowawayStack = (app: App) => {
  const stack = new Stack(app, 'NagThrowaway');
  new Topic(stack, 'PlainTopic');
  new LambdaFunction(stack, 'UntracedFunction', {
    runtime: Runtime.NODEJS_22_X,
    handler: 'index.handler',
    code: Code.fromInline('exports.handler = async () => ({});'),
  });
  Validations.of(app).addPlugins(
    new AwsSolutionsChecks(app),
    new ServerlessChecks(app)
  );
};

/**
 * Rules that report each finding on its own (`AwsSolutions-IAM5[Action::s3:*]`):
 * acknowledging the bare rule id would also accept a finding added later.
 */
const GRANULAR_RULES = ['AwsSolutions-IAM4', 'AwsSolutions-IAM5'];

/** A rule acknowledged on a construct, with its reason. */
interface Acknowledgement {
  readonly id: string;
  readonly reason: string;
  readonly at: IConstruct;
}

/** Every `Validations.of(x).acknowledge(...)` in the tree, where it was made. */
const acknowledgementsIn = (root: IConstruct): Acknowledgement[] =>
  root.node.findAll().flatMap((at) =>
    at.node.metadata
      .filter((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
      .flatMap((m) =>
        Object.entries(m.data as Record<string, string>).map(
          ([id, reason]) => ({
            // CDK records ids without a plugin prefix as annotation ids.
            id: id.replace(/^annotation::/i, ''),
            reason,
            at,
          })
        )
      )
  );

/**
 * Synthesizes and returns every cdk-nag finding, acknowledged or not, as
 * rule id and construct path. cdk-nag reads the acknowledgements itself and
 * reports only the others, but it asks `isAcknowledged` once for each
 * finding, with the finding's exact id: that question is the finding.
 */
const everyFinding = (app: App): { id: string; path: string }[] => {
  const asked = vi.spyOn(
    NagPack.prototype as unknown as {
      isAcknowledged(node: IConstruct, ruleId: string): boolean;
    },
    'isAcknowledged'
  );
  try {
    app.synth();
    return asked.mock.calls.map(([node, id]) => ({ id, path: node.node.path }));
  } finally {
    asked.mockRestore();
  }
};

/**
 * What is wrong with the app's acknowledgements: a bare id of a rule that
 * reports granular findings, one made on a whole app, stage or stack, an
 * IAM one on a construct holding more than one role, one without a reason,
 * and one that no finding on its construct (or below it) matches (stale).
 */
const auditAcknowledgements = (app: App): string[] => {
  const findings = everyFinding(app);
  const granular = new Set([
    ...GRANULAR_RULES,
    ...findings
      .filter((f) => f.id.includes('['))
      .map((f) => f.id.slice(0, f.id.indexOf('['))),
  ]);
  const problems: string[] = [];
  for (const { id, reason, at } of acknowledgementsIn(app)) {
    const path = at.node.path;
    if (granular.has(id)) {
      problems.push(`bare ${id} at ${path}: name the finding, ${id}[...]`);
    }
    if (App.isApp(at) || Stage.isStage(at) || Stack.isStack(at)) {
      problems.push(`${id} at ${path}: acknowledged for a whole stack`);
    }
    const roles = at.node.findAll().filter((c) => c instanceof CfnRole);
    if (/^AwsSolutions-IAM[45]\b/.test(id) && roles.length > 1) {
      problems.push(`${id} at ${path}: on ${roles.length} roles, not one`);
    }
    if (reason.trim() === '') problems.push(`${id} at ${path}: no reason`);
    const matched = findings.some(
      (f) => f.id === id && (f.path === path || f.path.startsWith(`${path}/`))
    );
    if (!matched) problems.push(`stale ${id} at ${path}: no such finding`);
  }
  return problems;
};

/**
 * A stack whose acknowledgements break each rule of the audit once, and
 * one that keeps them.
 */
const addBadlyAcknowledgedStack = (app: App) => {
  const stack = new Stack(app, 'NagAcknowledgements');
  const role = (scope: Construct, id: string) => {
    const r = new Role(scope, id, {
      assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
    });
    r.addToPolicy(
      new PolicyStatement({
        actions: ['xray:PutTraceSegments'],
        resources: ['*'],
      })
    );
    return r;
  };
  Validations.of(role(stack, 'Bare')).acknowledge({
    id: 'AwsSolutions-IAM5',
    reason: 'Too broad.',
  });
  const exact = role(stack, 'Exact');
  Validations.of(exact).acknowledge({
    id: 'AwsSolutions-IAM5[Resource::*]',
    reason: 'X-Ray has no resource-level permissions.',
  });
  Validations.of(stack).acknowledge({
    id: 'AwsSolutions-IAM5[Resource::*]',
    reason: 'Every role of the stack.',
  });
  const pair = new Construct(stack, 'Pair');
  role(pair, 'First');
  role(pair, 'Second');
  Validations.of(pair).acknowledge({
    id: 'AwsSolutions-IAM5[Resource::*]',
    reason: 'Both roles.',
  });
  Validations.of(
    new Topic(stack, 'SecureTopic', { enforceSSL: true })
  ).acknowledge({ id: 'AwsSolutions-SNS3', reason: 'It enforces SSL.' });
  Validations.of(app).addPlugins(
    new AwsSolutionsChecks(app),
    new ServerlessChecks(app)
  );
};

afterEach(async () => {
  for (const dir of outdirs.splice(0)) {
    rmSync(dir, { recursive: true, force: true });
  }
});

describe('cdk-nag on the app', () => {
  it('synthesizes the app with the nag packs attached and no unacknowledged finding', () => {
    // Prepare
    const { app, outdir } = newApp(false);
    buildApp(app);

    // Act
    const findings = nagFindings(app, outdir);

    // Assess
    expect(findings).toEqual([]);
  });

  it('has no unacknowledged finding with on-call numbers subscribed either, each SMS subscription with a dead-letter queue', () => {
    // Prepare: the deploy most users make.
    const { app, outdir } = newApp(false);
    app.node.setContext('onCallPhoneNumbers', '+15555550100,+15555550101');
    const { service } = buildApp(app);

    // Act
    const findings = nagFindings(app, outdir);
    const template = app.synth().getStackByName(service.stackName).template as {
      Resources: Record<
        string,
        { Type: string; Properties: Record<string, unknown> }
      >;
    };
    const subscriptions = Object.values(template.Resources).filter(
      (r) => r.Type === 'AWS::SNS::Subscription'
    );

    // Assess: both topics, both numbers, each with its redrive policy.
    expect(findings).toEqual([]);
    expect(subscriptions).toHaveLength(4);
    for (const sub of subscriptions) {
      expect(sub.Properties.Protocol).toBe('sms');
      expect(JSON.stringify(sub.Properties.RedrivePolicy)).toContain(
        'SmsUndelivered'
      );
    }
  });

  it('does not fail synthesis when validation errors fail it, as cdk synth does', () => {
    // Prepare
    const { app } = newApp(true);
    buildApp(app);

    // Act
    const synth = () => app.synth();

    // Assess
    expect(synth).not.toThrow();
  });

  it('reports a violation added to the app, so the checks above can fail', () => {
    // Prepare
    const { app, outdir } = newApp(false);
    addThrowawayStack(app);

    // Act
    const findings = nagFindings(app, outdir);

    // Assess
    expect(findings).toEqual(
      expect.arrayContaining([
        'error AwsSolutions-SNS3 at NagThrowaway/PlainTopic/Resource',
        'warning Serverless-LambdaTracing at NagThrowaway/UntracedFunction/Resource',
        'error Serverless-LambdaDefaultTimeout at NagThrowaway/UntracedFunction/Resource',
      ])
    );
  });

  it('fails synthesis on such a violation by default', () => {
    // Prepare
    const { app } = newApp(true);
    addThrowawayStack(app);

    // Act
    let failure: unknown;
    try {
      app.synth();
    } catch (error) {
      failure = error;
    }

    // Assess
    expect(failure).toMatchObject({
      name: 'ValidationFailed',
      message: expect.stringContaining('AwsSolutions-SNS3'),
    });
  });
});

describe('cdk-nag acknowledgements', () => {
  it('acknowledge only findings cdk-nag reports, each by its exact id on the construct that has it', () => {
    // Prepare
    const { app } = newApp(false);
    buildApp(app);

    // Act
    const problems = auditAcknowledgements(app);

    // Assess
    expect(acknowledgementsIn(app).length).toBeGreaterThan(0);
    expect(problems).toEqual([]);
  });

  it('name the exact IAM findings the app has', () => {
    // Prepare
    const { app } = newApp(false);
    buildApp(app);

    // Act
    const iam = acknowledgementsIn(app)
      .filter((a) => a.id.startsWith('AwsSolutions-IAM'))
      .map((a) => a.id);

    // Assess
    expect(iam.length).toBeGreaterThan(0);
    for (const id of iam) {
      expect(id).toMatch(/^AwsSolutions-IAM[45]\[(Action|Resource)::.+\]$/);
    }
    expect(iam).toContain('AwsSolutions-IAM5[Action::kms:GenerateDataKey*]');
  });

  it('flags a bare id, a stack-wide or many-role acknowledgement, and a stale one', () => {
    // Prepare
    const { app } = newApp(false);
    addBadlyAcknowledgedStack(app);

    // Act
    const problems = auditAcknowledgements(app);

    // Assess
    expect(problems.sort()).toEqual(
      [
        'bare AwsSolutions-IAM5 at NagAcknowledgements/Bare: name the finding, AwsSolutions-IAM5[...]',
        'stale AwsSolutions-IAM5 at NagAcknowledgements/Bare: no such finding',
        'AwsSolutions-IAM5[Resource::*] at NagAcknowledgements: acknowledged for a whole stack',
        'AwsSolutions-IAM5[Resource::*] at NagAcknowledgements: on 4 roles, not one',
        'AwsSolutions-IAM5[Resource::*] at NagAcknowledgements/Pair: on 2 roles, not one',
        'stale AwsSolutions-SNS3 at NagAcknowledgements/SecureTopic: no such finding',
      ].sort()
    );
  });
});
