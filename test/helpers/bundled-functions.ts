/**
 * The synthesized Lambda functions, run as Lambda runs them: each esbuild
 * bundle of the cloud assembly in its own Node process, with the
 * environment variables its template resource gives it (intrinsics resolved
 * as the local engine resolves them), its own access key id (so the loopback
 * endpoint knows the caller) and the AWS SDK pointed at loopback endpoints.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { join } from 'node:path';
import type { CfnResource, CfnTemplate } from '../../local/dynamo.ts';
import { resolveIntrinsics } from '../../local/engine/extract.ts';

/** One function of the templates, with what runs it. */
export interface BundledFunction {
  readonly logicalId: string;
  readonly stackName: string;
  readonly resource: CfnResource;
  /** The bundle file (`asset.<hash>/index.mjs`). */
  readonly bundle: string;
  /** Its environment variables, resolved. */
  readonly environment: Record<string, string>;
  /** The logical id of its execution role. */
  readonly roleLogicalId: string;
}

/**
 * Finds every Lambda function of the templates and its bundle.
 * @param templates templates by stack name (from synthWithBundles)
 * @param outdir the cloud assembly they were synthesized into
 */
export const bundledFunctions = (
  templates: Record<string, CfnTemplate>,
  outdir: string
): BundledFunction[] =>
  Object.entries(templates).flatMap(([stackName, template]) =>
    Object.entries(template.Resources ?? {})
      .filter(([, r]) => r.Type === 'AWS::Lambda::Function')
      .map(([logicalId, resource]) => {
        const props = (resource.Properties ?? {}) as {
          Environment?: { Variables?: unknown };
          Role?: { 'Fn::GetAtt'?: [string, string] };
        };
        const assetPath = (resource.Metadata as Record<string, unknown>)?.[
          'aws:asset:path'
        ];
        if (typeof assetPath !== 'string') {
          throw new Error(`${logicalId} has no bundled asset`);
        }
        const variables = resolveIntrinsics(
          props.Environment?.Variables ?? {},
          templates,
          stackName
        ) as Record<string, unknown>;
        return {
          logicalId,
          stackName,
          resource,
          bundle: join(outdir, assetPath, 'index.mjs'),
          environment: Object.fromEntries(
            Object.entries(variables).map(([k, v]) => [k, String(v)])
          ),
          roleLogicalId: props.Role?.['Fn::GetAtt']?.[0] ?? '',
        };
      })
  );

/** What Lambda reports for a function error. */
export class FunctionError extends Error {
  constructor(errorType: string, errorMessage: string) {
    super(errorMessage);
    this.name = errorType;
  }
}

/** A function's container: one process, invocations one at a time. */
export class FunctionContainer {
  readonly #child: ChildProcess;
  readonly #ready: Promise<void>;
  readonly #waiting = new Map<
    number,
    { resolve: (v: unknown) => void; reject: (e: Error) => void }
  >();
  #next = 0;
  #queue: Promise<unknown> = Promise.resolve();
  /** Everything the function wrote to stdout (logs, EMF metrics). */
  readonly output: string[] = [];

  /**
   * @param fn the function
   * @param extraEnvironment what the Lambda runtime adds (region,
   * credentials) and the loopback endpoints
   */
  constructor(fn: BundledFunction, extraEnvironment: Record<string, string>) {
    const timeout = Number(
      (fn.resource.Properties as { Timeout?: number }).Timeout ?? 3
    );
    this.#child = fork(
      new URL('./lambda-runner.mjs', import.meta.url).pathname,
      [fn.bundle, fn.logicalId, String(timeout * 1000)],
      {
        env: {
          PATH: process.env.PATH ?? '',
          ...fn.environment,
          ...extraEnvironment,
          AWS_LAMBDA_FUNCTION_NAME: fn.logicalId,
          AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(
            (fn.resource.Properties as { MemorySize?: number }).MemorySize ??
              128
          ),
          AWS_ACCESS_KEY_ID: fn.logicalId,
          AWS_SECRET_ACCESS_KEY: 'loopback-not-a-secret',
        },
        stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      }
    );
    this.#child.stdout?.on('data', (chunk: Buffer) => {
      this.output.push(chunk.toString('utf8'));
    });
    this.#child.stderr?.on('data', (chunk: Buffer) => {
      this.output.push(chunk.toString('utf8'));
    });
    this.#ready = new Promise((resolve, reject) => {
      this.#child.once('error', reject);
      this.#child.once('exit', (code) => {
        const error = new Error(
          `${fn.logicalId} exited (${code}): ${this.output.join('').slice(-2000)}`
        );
        reject(error);
        for (const waiter of this.#waiting.values()) waiter.reject(error);
      });
      this.#child.on(
        'message',
        (message: {
          ready?: boolean;
          id?: number;
          result?: unknown;
          error?: { errorType: string; errorMessage: string };
        }) => {
          if (message.ready) {
            resolve();
            return;
          }
          const waiter = this.#waiting.get(message.id ?? -1);
          if (!waiter) return;
          this.#waiting.delete(message.id ?? -1);
          if (message.error) {
            waiter.reject(
              new FunctionError(
                message.error.errorType,
                message.error.errorMessage
              )
            );
          } else waiter.resolve(message.result);
        }
      );
    });
  }

  /**
   * Invokes the function (one invocation at a time, as one container runs
   * them) and returns its result, JSON-copied as Lambda's are.
   * @throws FunctionError with the function's errorType and errorMessage
   */
  invoke(event: unknown): Promise<unknown> {
    const run = async () => {
      await this.#ready;
      const id = this.#next++;
      return new Promise<unknown>((resolve, reject) => {
        this.#waiting.set(id, { resolve, reject });
        this.#child.send({ id, event: JSON.parse(JSON.stringify(event)) });
      });
    };
    const result = this.#queue.then(run, run);
    this.#queue = result.catch(() => undefined);
    return result;
  }

  /** Stops the process. */
  async close(): Promise<void> {
    if (this.#child.exitCode !== null) return;
    const exited = new Promise((resolve) => this.#child.once('exit', resolve));
    this.#child.kill();
    await exited;
  }
}
