import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Stack, Validations } from 'aws-cdk-lib';
import {
  Code,
  Function as LambdaFunction,
  Runtime,
} from 'aws-cdk-lib/aws-lambda';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { AwsSolutionsChecks, ServerlessChecks } from 'cdk-nag';
import { afterEach, describe, expect, it } from 'vitest';
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
