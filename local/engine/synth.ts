/**
 * Synthesizes the project's CDK app in-process, fast and offline, for the
 * local engine: the templates are the ones `cdk synth` produces, except that
 * Lambda code is not bundled (nothing local runs the bundles).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { buildApp } from '../../infra/app.ts';
import type { CfnTemplate } from '../dynamo.ts';

/**
 * CDK context key listing the stacks whose assets are bundled (see
 * `Stack.bundlingRequired` in aws-cdk-lib: `tryGetContext(BUNDLING_STACKS) ??
 * ['**']`, matched against each stack's path). An empty list bundles nothing,
 * so NodejsFunction never starts esbuild.
 */
export const BUNDLING_STACKS_CONTEXT = 'aws:cdk:bundling-stacks';

/** Options of {@link synthTemplates}. */
export interface SynthOptions {
  /** Extra CDK context (e.g. `{ stage: 'test' }`), over cdk.json's. */
  context?: Record<string, unknown>;
  /** Builds the stacks into the app. @default buildApp from infra/app.ts */
  build?: (app: App) => unknown;
  /**
   * Whether validation errors (cdk-nag) fail the synthesis, as they fail
   * `cdk synth`; local mode may turn this off to run while a rule is being
   * fixed (CDK still prints the report).
   * @default true
   */
  failOnValidationErrors?: boolean;
}

/** CDK context key that makes validation errors fail synthesis (or not). */
export const FAIL_ON_VALIDATION_ERRORS_CONTEXT =
  '@aws-cdk/core:failSynthOnValidationErrors';

const readCdkJsonContext = (): Record<string, unknown> => {
  try {
    const cdkJson = JSON.parse(
      readFileSync(new URL('../../cdk.json', import.meta.url), 'utf8')
    ) as { context?: Record<string, unknown> };
    return cdkJson.context ?? {};
  } catch {
    return {};
  }
};

/**
 * Builds the CDK app in-process with bundling skipped and returns every
 * stack's CloudFormation template. Feature flags come from cdk.json, as with
 * `cdk synth`. cdk-nag runs as CDK Validations, so a failing rule fails here
 * too (unless `failOnValidationErrors` is false).
 * @param options extra context, the app builder, validation strictness
 * @returns templates by stack name
 * @throws whatever synthesis throws (validation failures included)
 */
export const synthTemplates = (
  options: SynthOptions = {}
): Record<string, CfnTemplate> => {
  const outdir = mkdtempSync(join(tmpdir(), 'local-synth-'));
  try {
    return synthInto(outdir, options, false);
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
};

/**
 * Synthesizes the app as `cdk synth` does, Lambda bundles included (esbuild
 * runs), into `outdir`, which the caller removes.
 * @param outdir the cloud assembly directory: templates and `asset.*`
 * bundles
 * @param options extra context, the app builder, validation strictness
 * @returns templates by stack name
 */
export const synthWithBundles = (
  outdir: string,
  options: SynthOptions = {}
): Record<string, CfnTemplate> => synthInto(outdir, options, true);

const synthInto = (
  outdir: string,
  options: SynthOptions,
  bundle: boolean
): Record<string, CfnTemplate> => {
  const app = new App({
    outdir,
    context: {
      ...readCdkJsonContext(),
      ...options.context,
      ...(bundle ? {} : { [BUNDLING_STACKS_CONTEXT]: [] }),
      ...(options.failOnValidationErrors === false
        ? { [FAIL_ON_VALIDATION_ERRORS_CONTEXT]: false }
        : {}),
    },
  });
  (options.build ?? buildApp)(app);
  const assembly = app.synth();
  const templates: Record<string, CfnTemplate> = {};
  for (const stack of assembly.stacks) {
    templates[stack.stackName] = stack.template as CfnTemplate;
  }
  return templates;
};
