import type { TestProject } from 'vitest/node';
import {
  type ChromiumLookup,
  ensureChromium,
  thisMachine,
} from './chromium.ts';

// Global setup (vitest.config.ts): when the run includes a browser test
// (`npm test`, `npm run test:e2e`, the file alone), it finds Chromium or
// installs Debian's (as root) once, before any test starts, so an install
// competes with no timed test, and gives the browser test the result. The
// browser test fails with the lookup's one line when there is no browser;
// the other suites still run.
export default function setup(project: TestProject): void {
  if (runsBrowserTest(project)) {
    project.provide('chromium', ensureChromium(thisMachine()));
  }
}

const runsBrowserTest = (project: TestProject): boolean => {
  try {
    // The files of this run (Vitest's state API, marked experimental).
    return project.vitest.state
      .getPaths()
      .some((path) => path.endsWith('.browser.test.ts'));
  } catch {
    return true;
  }
};

declare module 'vitest' {
  export interface ProvidedContext {
    /** Unset when the run had no browser test at its start (watch mode). */
    chromium: ChromiumLookup | undefined;
  }
}
