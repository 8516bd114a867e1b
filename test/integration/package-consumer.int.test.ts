import { execFile } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// The package as another project gets it: `npm pack` (which builds dist/:
// the constructs as ESM with declarations, the Lambda code prebuilt), then
// examples/consumer-app in a temporary directory installs the tarball
// beside aws-cdk-lib, constructs and cdk-nag only, and synthesizes with
// plain node: no tsx, no esbuild, no TypeScript.
const run = promisify(execFile);
const root = resolve(import.meta.dirname, '..', '..');
const work = mkdtempSync(join(tmpdir(), 'package-consumer-'));
const consumer = join(work, 'consumer-app');

interface ValidationReport {
  readonly pluginReports: ReadonlyArray<{
    readonly pluginName: string;
    readonly violations: ReadonlyArray<{
      readonly ruleName: string;
      readonly violatingConstructs: ReadonlyArray<{ constructPath: string }>;
    }>;
  }>;
}

let tarball: string;
let synth: { stdout: string; stderr: string };

beforeAll(async () => {
  const packed = await run(
    'npm',
    ['pack', '--json', '--pack-destination', work],
    { cwd: root, maxBuffer: 64 * 1024 * 1024 }
  );
  // prepack's build prints first; npm's JSON follows, from a line "[".
  const json = packed.stdout.slice(packed.stdout.search(/^\[/m));
  const [info] = JSON.parse(json) as { filename: string }[];
  tarball = join(work, info?.filename ?? '');
  cpSync(join(root, 'examples', 'consumer-app'), consumer, {
    recursive: true,
    filter: (src) => !/node_modules|cdk\.out/.test(src),
  });
  // The tarball, and the CDK libraries this machine already has (links:
  // nothing is fetched for them).
  const manifest = JSON.parse(
    readFileSync(join(consumer, 'package.json'), 'utf8')
  ) as Record<string, Record<string, string>>;
  const local = (name: string) => `file:${join(root, 'node_modules', name)}`;
  manifest.dependencies = {
    'aws-cdk-lib': local('aws-cdk-lib'),
    constructs: local('constructs'),
    'jpush-guaranteed-delivery': `file:${tarball}`,
  };
  manifest.devDependencies = { 'cdk-nag': local('cdk-nag') };
  writeFileSync(join(consumer, 'package.json'), JSON.stringify(manifest));
  await run(
    'npm',
    [
      'install',
      '--no-audit',
      '--no-fund',
      '--prefer-offline',
      '--ignore-scripts',
    ],
    { cwd: consumer, maxBuffer: 64 * 1024 * 1024 }
  );
  synth = await run(process.execPath, ['app.mjs'], {
    cwd: consumer,
    env: { ...process.env, CDK_OUTDIR: join(consumer, 'cdk.out') },
    maxBuffer: 64 * 1024 * 1024,
  });
}, 300_000);

afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

const template = (stack: string) =>
  JSON.parse(
    readFileSync(join(consumer, 'cdk.out', `${stack}.template.json`), 'utf8')
  ) as {
    Resources: Record<
      string,
      { Type: string; Properties: Record<string, unknown> }
    >;
  };

describe('the packed package in a consumer CDK app', () => {
  it('ships compiled ESM with declarations and the prebuilt Lambda code, no TypeScript source', () => {
    // Act
    const installed = join(
      consumer,
      'node_modules',
      'jpush-guaranteed-delivery'
    );
    const files = readdirSync(installed, { recursive: true }).map(String);

    // Assess
    expect(files).toContain(join('dist', 'infra', 'index.js'));
    expect(files).toContain(join('dist', 'infra', 'index.d.ts'));
    expect(files).toContain(join('dist', 'lambda', 'push', 'index.mjs'));
    expect(
      files.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))
    ).toEqual([]);
    // Nothing to build with: the consumer has neither esbuild nor tsx.
    expect(existsSync(join(consumer, 'node_modules', 'esbuild'))).toBe(false);
    expect(existsSync(join(consumer, 'node_modules', 'tsx'))).toBe(false);
  });

  it('synthesizes the data and service stacks with plain node, every function from the prebuilt code', () => {
    // Act
    const service = template('ShopPush');
    const data = template('ShopPushData');
    const functions = Object.values(service.Resources).filter(
      (r) => r.Type === 'AWS::Lambda::Function'
    );
    const assets = readdirSync(join(consumer, 'cdk.out')).filter((n) =>
      n.startsWith('asset.')
    );

    // Assess
    expect(synth.stderr).not.toMatch(/error/i);
    expect(
      Object.values(data.Resources).filter(
        (r) => r.Type === 'AWS::DynamoDB::Table'
      )
    ).toHaveLength(8);
    expect(functions.length).toBeGreaterThanOrEqual(16);
    for (const fn of functions) {
      expect(fn.Properties).toMatchObject({
        Handler: 'index.handler',
        Runtime: 'nodejs24.x',
      });
    }
    expect(assets.length).toBeGreaterThanOrEqual(16);
    for (const asset of assets) {
      expect(readdirSync(join(consumer, 'cdk.out', asset))).toContain(
        'index.mjs'
      );
    }
    expect(Object.values(service.Resources).map((r) => r.Type)).toEqual(
      expect.arrayContaining([
        'AWS::ApiGatewayV2::Api',
        'AWS::StepFunctions::StateMachine',
        'AWS::Events::EventBus',
        'AWS::CloudWatch::Dashboard',
        'AWS::SNS::Topic',
      ])
    );
  });

  it('passes cdk-nag (AwsSolutions and Serverless) with no finding left', () => {
    // Act
    const report = JSON.parse(
      readFileSync(join(consumer, 'cdk.out', 'validation-report.json'), 'utf8')
    ) as ValidationReport;
    const findings = report.pluginReports.flatMap((p) =>
      p.violations.flatMap((v) =>
        v.violatingConstructs.map((c) => `${v.ruleName} at ${c.constructPath}`)
      )
    );

    // Assess
    expect(findings).toEqual([]);
  });

  it('exports the typed client, which signs a call with SigV4 from the consumer too', async () => {
    // Prepare: a backend script in the consumer, its fetch a stand-in that
    // answers 202 and keeps what it was sent.
    writeFileSync(
      join(consumer, 'send.mjs'),
      `import { createPushDeliveryClient } from 'jpush-guaranteed-delivery/client';
let seen;
const push = createPushDeliveryClient({
  baseUrl: 'https://abc123.execute-api.eu-west-1.amazonaws.com',
  region: 'eu-west-1',
  credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'not-a-real-secret' },
  fetch: async (request) => {
    seen = request;
    return new Response(JSON.stringify({ messageId: 'm1', status: 'sending' }), {
      status: 202,
      headers: { 'content-type': 'application/json' },
    });
  },
});
const sent = await push.sendMessage({ to: 'user-42', body: 'Hi', idempotencyKey: 'k1' });
console.log(JSON.stringify({ sent, url: seen.url, authorization: seen.headers.get('authorization') }));
`
    );

    // Act
    const { stdout } = await run(process.execPath, ['send.mjs'], {
      cwd: consumer,
    });
    const out = JSON.parse(stdout) as {
      sent: { messageId: string };
      url: string;
      authorization: string;
    };

    // Assess
    expect(out.sent.messageId).toBe('m1');
    expect(out.url).toBe(
      'https://abc123.execute-api.eu-west-1.amazonaws.com/v1/messages'
    );
    expect(out.authorization).toMatch(
      /^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/\d{8}\/eu-west-1\/execute-api\/aws4_request/
    );
  });

  it('runs cdk-nag for real there: a topic without SSL beside the construct is reported', async () => {
    // Prepare: the example app, and one resource breaking a rule.
    const app = readFileSync(join(consumer, 'app.mjs'), 'utf8')
      .replace(
        "import { App, CfnOutput, Stack, Validations } from 'aws-cdk-lib';",
        "import { App, CfnOutput, Stack, Validations } from 'aws-cdk-lib';\nimport { Topic } from 'aws-cdk-lib/aws-sns';"
      )
      .replace(
        'app.synth();',
        "new Topic(serviceStack, 'PlainTopic');\napp.synth();"
      );
    writeFileSync(join(consumer, 'canary.mjs'), app);

    // Act
    const failed = await run(process.execPath, ['canary.mjs'], {
      cwd: consumer,
      env: { ...process.env, CDK_OUTDIR: join(consumer, 'cdk.canary') },
      maxBuffer: 64 * 1024 * 1024,
    }).then(
      () => undefined,
      (error: { stdout?: string; stderr?: string }) =>
        `${error.stdout ?? ''}${error.stderr ?? ''}`
    );

    // Assess
    expect(failed).toBeDefined();
    expect(failed).toContain('AwsSolutions-SNS3');
    expect(failed).toContain('PlainTopic');
    expect(failed).not.toMatch(/ShopPush\/Push\/(?!.*PlainTopic)/);
  });
});
