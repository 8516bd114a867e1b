import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

/** The repository's root, where `npm start` runs. */
export const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

/** A port nobody listens on right now (listen on 0, read it, close). */
export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });

/** A TypeScript entry of the repository running as a child process. */
export interface ChildScript {
  readonly child: ChildProcess;
  /** stdout and stderr so far, interleaved as they came. */
  output(): string;
  /**
   * Resolves with the first match of `pattern` in the output.
   * @throws Error when the process exits first or after `ms`
   */
  waitFor(pattern: RegExp, ms: number): Promise<RegExpMatchArray>;
  /** Resolves with the exit code (or the signal's name). */
  exited: Promise<number | string>;
  /** Sends a signal and waits for the exit, at most `ms`. */
  stop(signal: NodeJS.Signals, ms: number): Promise<number | string>;
  /** SIGKILLs the process if it still runs, and waits for the exit. */
  kill(): Promise<void>;
}

/**
 * Runs `node --import tsx <script>` from the repository root, as `npm start`
 * and `npm run demo` do through tsx, as one process that gets signals
 * directly.
 * @param script e.g. 'local/start.ts'
 * @param env variables set on top of this process's environment (undefined
 * removes one)
 */
export const runScript = (
  script: string,
  env: Record<string, string | undefined>
): ChildScript => {
  const childEnv: NodeJS.ProcessEnv = { ...process.env };
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined) delete childEnv[name];
    else childEnv[name] = value;
  }
  const child = spawn(process.execPath, ['--import', 'tsx', script], {
    cwd: repoRoot,
    env: childEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const listeners = new Set<() => void>();
  const append = (chunk: Buffer) => {
    output += chunk.toString('utf8');
    for (const listener of listeners) listener();
  };
  child.stdout?.on('data', append);
  child.stderr?.on('data', append);
  const exited = once(child, 'exit').then(
    ([code, signal]) => (code ?? signal) as number | string
  );
  let done = false;
  void exited.then(() => {
    done = true;
    for (const listener of listeners) listener();
  });

  const waitFor = (pattern: RegExp, ms: number) =>
    new Promise<RegExpMatchArray>((resolve, reject) => {
      const timer = setTimeout(() => {
        listeners.delete(check);
        reject(new Error(`No ${pattern} within ${ms} ms. Output:\n${output}`));
      }, ms);
      const check = () => {
        const match = output.match(pattern);
        if (match) {
          clearTimeout(timer);
          listeners.delete(check);
          resolve(match);
        } else if (done) {
          clearTimeout(timer);
          listeners.delete(check);
          reject(
            new Error(`Exited before ${pattern} appeared. Output:\n${output}`)
          );
        }
      };
      listeners.add(check);
      check();
    });

  const stop = async (signal: NodeJS.Signals, ms: number) => {
    child.kill(signal);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`Still running ${ms} ms after ${signal}`)),
        ms
      );
    });
    try {
      return await Promise.race([exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  };

  return {
    child,
    output: () => output,
    waitFor,
    exited,
    stop,
    kill: async () => {
      if (!done) {
        child.kill('SIGKILL');
        await exited;
      }
    },
  };
};
