import { describe, expect, it } from 'vitest';
import {
  APT_INSTALL,
  type BrowserMachine,
  ensureChromium,
  findChromium,
  installHint,
} from '../../helpers/chromium.ts';

/** A machine with these executables, whose apt-get installs `installs`. */
const machine = (options: {
  env?: Record<string, string>;
  executables?: string[];
  isRoot?: boolean;
  platform?: NodeJS.Platform;
  aptInstalls?: string;
  aptOutput?: string;
}) => {
  const executables = new Set(options.executables ?? []);
  const commands: string[] = [];
  const lines: string[] = [];
  const fake: BrowserMachine = {
    env: { PATH: '/usr/local/bin:/usr/bin:/bin', ...options.env },
    platform: options.platform ?? 'linux',
    isRoot: options.isRoot ?? false,
    isExecutable: (path) => executables.has(path),
    run: (command) => {
      commands.push(command);
      if (options.aptInstalls === undefined) {
        return { ok: false, output: options.aptOutput ?? '' };
      }
      executables.add(options.aptInstalls);
      return { ok: true, output: '' };
    },
    log: (line) => lines.push(line),
  };
  return { fake, commands, lines };
};

const APT = '/usr/bin/apt-get';

describe('finding the browser for the browser test', () => {
  it('takes CHROME_PATH first, then its alias CHROMIUM_PATH', () => {
    const both = machine({
      env: { CHROME_PATH: '/opt/a/chrome', CHROMIUM_PATH: '/opt/b/chromium' },
      executables: ['/opt/a/chrome', '/opt/b/chromium', '/usr/bin/chromium'],
    });
    const alias = machine({
      env: { CHROMIUM_PATH: '/opt/b/chromium' },
      executables: ['/opt/b/chromium', '/usr/bin/chromium'],
    });

    expect(findChromium(both.fake)).toEqual({ path: '/opt/a/chrome' });
    expect(findChromium(alias.fake)).toEqual({ path: '/opt/b/chromium' });
  });

  it('refuses a CHROME_PATH that is not executable, without installing', () => {
    const { fake, commands } = machine({
      env: { CHROME_PATH: '/nowhere/chrome' },
      executables: [APT],
      isRoot: true,
    });

    const found = ensureChromium(fake);

    expect(found).toEqual({
      error: expect.stringContaining(
        'CHROME_PATH=/nowhere/chrome is not an executable file'
      ),
    });
    expect(commands).toEqual([]);
  });

  it('looks for the usual commands on PATH before the usual places', () => {
    const { fake } = machine({
      env: { PATH: '/home/me/bin:/usr/bin' },
      executables: ['/home/me/bin/chromium', '/usr/bin/chromium'],
    });
    const placed = machine({
      env: { PATH: '/bin' },
      executables: [
        '/Applications/Google Chrome.app/Contents/MacOS/Google Chrome',
      ],
      platform: 'darwin',
    });

    expect(findChromium(fake)).toEqual({ path: '/home/me/bin/chromium' });
    expect(findChromium(placed.fake)).toEqual({
      path: '/Applications/Google Chrome.app/Contents/MacOS/Google Chrome',
    });
  });

  it('installs Debian’s chromium as root with apt-get, saying so in one line', () => {
    const { fake, commands, lines } = machine({
      executables: [APT],
      isRoot: true,
      aptInstalls: '/usr/bin/chromium',
    });

    const found = ensureChromium(fake);

    expect(found).toEqual({ path: '/usr/bin/chromium', installed: true });
    expect(commands).toHaveLength(1);
    expect(commands[0]).toMatch(
      /^apt-get update -qq && apt-get install -y -qq --no-install-recommends .*chromium$/
    );
    expect(lines).toEqual([expect.stringContaining(APT_INSTALL)]);
  });

  it('fails with one line naming what to install and CHROME_PATH when it may not install', () => {
    const cases = [
      machine({ executables: [APT], isRoot: false }),
      machine({ executables: [], isRoot: true }),
      machine({
        executables: [APT],
        isRoot: true,
        env: { CHROME_INSTALL: 'no' },
      }),
      machine({ executables: [APT], isRoot: true, platform: 'darwin' }),
    ];

    for (const { fake, commands } of cases) {
      const found = ensureChromium(fake);

      expect(found).toEqual({ error: installHint(fake.platform) });
      expect(commands).toEqual([]);
    }
    const line = installHint('linux');
    expect(line).not.toContain('\n');
    expect(line).toContain('apt-get install chromium');
    expect(line).toContain('CHROME_PATH=/path/to/chrome npm test');
  });

  it('fails with apt-get’s last line when the install does not give a browser', () => {
    const { fake } = machine({
      executables: [APT],
      isRoot: true,
      aptOutput:
        'Reading package lists...\nE: Unable to locate package chromium\n',
    });

    const found = ensureChromium(fake);

    expect('error' in found && found.error).toMatch(
      /^The browser test found no Chromium and installing it with apt-get did not help \(E: Unable to locate package chromium\): .*CHROME_PATH=\/path\/to\/chrome npm test\.$/
    );
  });
});
