import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    setupFiles: ['test/helpers/setup.ts'],
    // Finds Chromium for the browser test, or installs Debian's as root,
    // before any test starts (only when the browser test is in the run).
    globalSetup: ['test/helpers/chromium-setup.ts'],
    // Function logs at WARN keep test output readable; the log hygiene test
    // turns the level up for itself.
    env: { POWERTOOLS_LOG_LEVEL: 'WARN' },
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Integration tests start their own dynalite and JPush simulator on
    // loopback; two workers fit the 2-core machines this runs on.
    maxWorkers: 2,
  },
});
