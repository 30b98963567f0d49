import { defineConfig } from 'vitest/config';

// `npm test` runs every project; the JSON report is what .ci/run counts.
export default defineConfig({
  test: {
    projects: ['packages/*/vitest.config.ts', 'tools/*/vitest.config.ts'],
    // One build before the tests that run dist/ (worker threads, tracelab processes) start.
    globalSetup: ['./vitest.global-setup.ts'],
    reporters: ['default', 'json'],
    outputFile: { json: 'reports/vitest.json' },
  },
});
