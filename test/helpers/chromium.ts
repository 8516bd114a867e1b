import { spawnSync } from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';

// Finds the Chromium the browser test drives (playwright-core downloads no
// browser): CHROME_PATH (CHROMIUM_PATH is an alias), then the usual commands
// on PATH and the usual install locations. When there is none and this is a
// root process on a machine with apt-get, it installs Debian's `chromium`
// (CHROME_INSTALL=no forbids that); otherwise the answer is one line that
// says what to install and how to point the tests at a browser.

/** What the browser test is given: a browser to launch, or why there is none. */
export type ChromiumLookup =
  | { readonly path: string; readonly installed?: boolean }
  | { readonly error: string };

/** The machine, as far as finding and installing a browser goes. */
export interface BrowserMachine {
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly platform: NodeJS.Platform;
  /** True when this process runs as root (uid 0). */
  readonly isRoot: boolean;
  isExecutable(path: string): boolean;
  /** Runs a shell command; `output` is what it wrote (for a failure's line). */
  run(command: string): { readonly ok: boolean; readonly output: string };
  log(line: string): void;
}

/** Commands looked up on PATH, in this order. */
export const BROWSER_COMMANDS = [
  'chromium',
  'chromium-browser',
  'google-chrome',
  'google-chrome-stable',
  'chrome',
] as const;

/** Install locations tried after PATH (Linux, macOS). */
export const BROWSER_LOCATIONS = [
  '/usr/bin/chromium',
  '/usr/bin/chromium-browser',
  '/usr/bin/google-chrome',
  '/usr/bin/google-chrome-stable',
  '/snap/bin/chromium',
  '/opt/google/chrome/chrome',
  '/Applications/Google Chrome.app/Contents/MacOS/Google Chrome',
  '/Applications/Chromium.app/Contents/MacOS/Chromium',
] as const;

/** What the setup runs when it may install (what it prints is shorter). */
export const APT_INSTALL =
  'apt-get update && apt-get install -y --no-install-recommends chromium';
const APT_COMMAND =
  'apt-get update -qq && apt-get install -y -qq --no-install-recommends -o DPkg::Lock::Timeout=300 chromium';

/** What to do about a missing browser, for the one line of a failure. */
const whatToDo = (platform: NodeJS.Platform): string => {
  const install =
    platform === 'darwin'
      ? 'brew install --cask chromium'
      : 'sudo apt-get install chromium on Debian, or your distribution’s Chromium';
  return `install Chromium (${install}), or point the tests at a Chrome or Chromium you have: CHROME_PATH=/path/to/chrome npm test`;
};

/** The one line given when no browser is found and none may be installed. */
export const installHint = (platform: NodeJS.Platform): string =>
  `The browser test found no Chromium: ${whatToDo(platform)}.`;

/** The browser on this machine, without installing anything. */
export const findChromium = (machine: BrowserMachine): ChromiumLookup => {
  const named = nonEmpty(machine.env.CHROME_PATH)
    ? { variable: 'CHROME_PATH', path: machine.env.CHROME_PATH }
    : nonEmpty(machine.env.CHROMIUM_PATH)
      ? { variable: 'CHROMIUM_PATH', path: machine.env.CHROMIUM_PATH }
      : undefined;
  if (named !== undefined) {
    return machine.isExecutable(named.path)
      ? { path: named.path }
      : {
          error: `${named.variable}=${named.path} is not an executable file: set it to a Chrome or Chromium binary (e.g. CHROME_PATH=/usr/bin/chromium npm test), or unset it to search the usual places.`,
        };
  }
  const found = candidates(machine).find((path) => machine.isExecutable(path));
  return found === undefined
    ? { error: installHint(machine.platform) }
    : { path: found };
};

/** The browser, installing Debian's `chromium` when none is found and allowed. */
export const ensureChromium = (machine: BrowserMachine): ChromiumLookup => {
  const first = findChromium(machine);
  const named =
    nonEmpty(machine.env.CHROME_PATH) || nonEmpty(machine.env.CHROMIUM_PATH);
  if ('path' in first || named || !mayInstall(machine)) return first;
  machine.log(
    `Browser test: no Chromium found; installing Debian's chromium as root (${APT_INSTALL}) ...`
  );
  const result = machine.run(APT_COMMAND);
  const after = findChromium(machine);
  if ('path' in after) return { path: after.path, installed: true };
  const last = result.ok
    ? 'it installed, yet no binary was found'
    : lastLine(result.output);
  return {
    error: `The browser test found no Chromium and installing it with apt-get did not help${last === undefined ? '' : ` (${last})`}: ${whatToDo(machine.platform)}.`,
  };
};

/** This process's machine. */
export const thisMachine = (): BrowserMachine => ({
  env: process.env,
  platform: process.platform,
  isRoot: process.getuid?.() === 0,
  isExecutable: (path) => {
    try {
      accessSync(path, constants.X_OK);
      return statSync(path).isFile();
    } catch {
      return false;
    }
  },
  run: (command) => {
    const child = spawnSync('sh', ['-c', command], {
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
      encoding: 'utf8',
      maxBuffer: 64 * 1024 * 1024,
      timeout: 20 * 60_000,
    });
    return {
      ok: child.status === 0,
      output: `${child.stdout ?? ''}${child.stderr ?? ''}${child.error ? String(child.error) : ''}`,
    };
  },
  log: (line) => process.stderr.write(`${line}\n`),
});

const candidates = (machine: BrowserMachine): string[] => {
  const dirs = (machine.env.PATH ?? '')
    .split(delimiter)
    .filter((dir) => dir !== '');
  const onPath = BROWSER_COMMANDS.flatMap((command) =>
    dirs.map((dir) => join(dir, command))
  );
  return [...new Set([...onPath, ...BROWSER_LOCATIONS])];
};

const mayInstall = (machine: BrowserMachine): boolean =>
  machine.platform === 'linux' &&
  machine.isRoot &&
  !['no', '0', 'false'].includes(
    (machine.env.CHROME_INSTALL ?? '').toLowerCase()
  ) &&
  (machine.env.PATH ?? '')
    .split(delimiter)
    .some((dir) => dir !== '' && machine.isExecutable(join(dir, 'apt-get')));

const nonEmpty = (value: string | undefined): value is string =>
  value !== undefined && value !== '';

const lastLine = (output: string): string | undefined =>
  output
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '')
    .at(-1);
