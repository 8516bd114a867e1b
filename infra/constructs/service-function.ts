import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  type CfnResource,
  Duration,
  type RemovalPolicy,
  Validations,
} from 'aws-cdk-lib';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import {
  Architecture,
  Code,
  Function as LambdaFunction,
  Runtime,
  Tracing,
} from 'aws-cdk-lib/aws-lambda';
import {
  type BundlingOptions,
  NodejsFunction,
  type NodejsFunctionProps,
  OutputFormat,
} from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';

/**
 * The project root, or the package's `dist` when this module runs compiled
 * from an installed package (dist/infra/constructs/).
 */
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/**
 * The prebuilt bundle of a handler, when this module runs from the package
 * (`npm run build` puts each one in dist/lambda/<handler>/index.mjs):
 * a project that installs the package needs no esbuild to synthesize.
 */
const prebuiltOf = (handlerName: string): string | undefined => {
  const dir = join(root, 'lambda', handlerName);
  return existsSync(join(dir, 'index.mjs')) ? dir : undefined;
};

/** The DynamoDB actions the functions make. */
export type DynamoAction =
  | 'GetItem'
  | 'PutItem'
  | 'UpdateItem'
  | 'DeleteItem'
  | 'Query'
  | 'BatchGetItem';

/**
 * Packages the bundles replace, with their replacements (paths from the
 * project root, where bundling runs). The SDK's default credential chain
 * becomes its first link, which is what Lambda provides
 * (functions/shared/wiring/lambda-credentials.ts).
 */
export const BUNDLE_ALIASES: Readonly<Record<string, string>> = {
  '@aws-sdk/credential-provider-node':
    './functions/shared/wiring/lambda-credentials.ts',
};

/**
 * The house esbuild options of every function (a caller's `bundling` props
 * go over them). Exported for `npm run bench:cold`, which bundles the
 * handlers with them again to read esbuild's metafile.
 */
export const HOUSE_BUNDLING = {
  format: OutputFormat.ESM,
  minify: true,
  sourceMap: true,
  // The map keeps file, line and column, not the source text:
  // --enable-source-maps reads and parses the map when the bundle
  // loads, and without the text it is a third the size (6.2 → 2.1 MB
  // for push), about 25 ms off every cold start (npm run bench:cold).
  sourcesContent: false,
  keepNames: true,
  mainFields: ['module', 'main'],
  target: 'node24',
  // Bundle everything, the AWS SDK included: the versions tested here
  // are the versions that run, whatever the runtime ships.
  externalModules: [],
  esbuildArgs: {
    '--alias': Object.entries(BUNDLE_ALIASES).map(
      ([name, replacement]) => `${name}=${replacement}`
    ),
  },
  // Some bundled dependencies are CommonJS and call require().
  banner:
    "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);",
} as const satisfies BundlingOptions;

/**
 * {@link HOUSE_BUNDLING} as esbuild's own build options, for the builds
 * outside the synth: the package's prebuilt Lambda code (infra/build.ts)
 * and `npm run bench:cold`. Add `entryPoints`, `outfile` and
 * `absWorkingDir` (the project root).
 */
export const HOUSE_ESBUILD: {
  readonly bundle: true;
  readonly platform: 'node';
  readonly format: 'esm';
  readonly minify: boolean;
  readonly sourcemap: boolean;
  readonly sourcesContent: boolean;
  readonly keepNames: boolean;
  readonly mainFields: string[];
  readonly target: string;
  readonly external: string[];
  readonly banner: { readonly js: string };
  readonly alias: Record<string, string>;
} = {
  bundle: true,
  platform: 'node',
  format: 'esm',
  minify: HOUSE_BUNDLING.minify,
  sourcemap: HOUSE_BUNDLING.sourceMap,
  sourcesContent: HOUSE_BUNDLING.sourcesContent,
  keepNames: HOUSE_BUNDLING.keepNames,
  mainFields: [...HOUSE_BUNDLING.mainFields],
  target: HOUSE_BUNDLING.target,
  external: [...HOUSE_BUNDLING.externalModules],
  banner: { js: HOUSE_BUNDLING.banner },
  alias: { ...BUNDLE_ALIASES },
};

/** Props of {@link ServiceFunction}. */
export interface ServiceFunctionProps
  extends Omit<NodejsFunctionProps, 'entry' | 'handler'> {
  /** Handler file under `functions/handlers/`, without `.ts`. */
  readonly handlerName: string;
  /** Log retention of the function's log group. */
  readonly logRetention: RetentionDays;
  /** What happens to the log group when the stack is deleted. */
  readonly logRemovalPolicy: RemovalPolicy;
  /**
   * Powertools log level.
   * @default 'INFO'
   */
  readonly logLevel?: string;
}

/**
 * A Lambda function with the house defaults: the newest Node LTS runtime on
 * arm64, X-Ray tracing, an explicit log group, ESM bundles with source maps,
 * Powertools settings. Merge order: defaults, then the caller's props (the
 * environment is merged, not replaced), then what must hold.
 *
 * It also records the handler's entry file as CloudFormation metadata
 * (`LocalEntry`), which the local engine reads to run the same handler on one
 * machine.
 */
export class ServiceFunction extends Construct {
  /** The function. */
  public readonly fn: LambdaFunction;

  constructor(scope: Construct, id: string, props: ServiceFunctionProps) {
    super(scope, id);
    const {
      handlerName,
      logRetention,
      logRemovalPolicy,
      logLevel,
      environment,
      bundling,
      ...rest
    } = props;
    const entry = `functions/handlers/${handlerName}.ts`;
    const logGroup = new LogGroup(this, 'Logs', {
      retention: logRetention,
      removalPolicy: logRemovalPolicy,
    });
    // Its own role, allowed to write to its own log group only (instead of
    // the managed AWSLambdaBasicExecutionRole, which allows every group).
    const role = new Role(this, 'Role', {
      assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
    });
    logGroup.grantWrite(role);
    const common = {
      runtime: Runtime.NODEJS_24_X,
      architecture: Architecture.ARM_64,
      memorySize: 512,
      timeout: Duration.seconds(30),
      tracing: Tracing.ACTIVE,
      ...rest,
      environment: {
        NODE_OPTIONS: '--enable-source-maps',
        POWERTOOLS_SERVICE_NAME: 'push-delivery',
        POWERTOOLS_METRICS_NAMESPACE: 'PushDelivery',
        POWERTOOLS_LOG_LEVEL: logLevel ?? 'INFO',
        ...environment,
        // What must hold: no log line carries the event (a request body,
        // a message), and no trace a handler's response, whatever a
        // handler or a later Powertools Tracer would do by default.
        POWERTOOLS_LOGGER_LOG_EVENT: 'false',
        POWERTOOLS_TRACER_CAPTURE_RESPONSE: 'false',
      },
      logGroup,
      role,
    };
    const prebuilt = prebuiltOf(handlerName);
    this.fn = prebuilt
      ? new LambdaFunction(this, 'Function', {
          ...common,
          code: Code.fromAsset(prebuilt),
          handler: 'index.handler',
        })
      : new NodejsFunction(this, 'Function', {
          ...common,
          entry: join(root, entry),
          handler: 'handler',
          bundling: { ...HOUSE_BUNDLING, ...bundling },
        });
    (this.fn.node.defaultChild as CfnResource).addMetadata('LocalEntry', entry);
    Validations.of(role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'X-Ray PutTraceSegments/PutTelemetryRecords support no resource-level permissions.',
    });
    Validations.of(this.fn).acknowledge({
      id: 'Serverless-LambdaDLQ',
      reason:
        "Invoked synchronously (API Gateway, Step Functions, the stream's event source mapping, which has its own failure queue); the sweeper's scheduled runs leave what fails in the outbox table for the next minute.",
    });
  }

  /**
   * Grants exactly the DynamoDB actions the function's code makes on a
   * table, and passes the table's name in an environment variable. The
   * bundle-cycle test (test/integration/aws-wiring.int.test.ts) fails on an
   * action the code makes that is not listed, and on one listed that no
   * path uses.
   * @param actions DynamoDB API names, e.g. `['GetItem', 'UpdateItem']`
   */
  bindTable(props: {
    table: ITable;
    actions: readonly DynamoAction[];
    envVar: string;
  }): this {
    props.table.grant(this.fn, ...props.actions.map((a) => `dynamodb:${a}`));
    this.fn.addEnvironment(props.envVar, props.table.tableName);
    return this;
  }

  /**
   * Grants reading a secret's value (GetSecretValue, nothing else) and
   * passes its ARN, never its value.
   */
  bindSecret(props: { secret: ISecret; envVar: string }): this {
    this.fn.addToRolePolicy(
      new PolicyStatement({
        actions: ['secretsmanager:GetSecretValue'],
        resources: [props.secret.secretArn],
      })
    );
    props.secret.encryptionKey?.grantDecrypt(this.fn);
    this.fn.addEnvironment(props.envVar, props.secret.secretArn);
    return this;
  }
}
