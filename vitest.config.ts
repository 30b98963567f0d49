import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

// `npm test` runs every project; the JSON report is what .ci/run counts.
export default defineConfig({
  test: {
    projects: ['packages/*/vitest.config.ts', 'tools/*/vitest.config.ts'],
    // One build before the tests that run dist/ (worker threads, tracelab processes) start.
    globalSetup: ['./vitest.global-setup.ts'],
    // A test file per CPU. Vitest's default in a run is one fewer than the CPUs, which on CI's
    // two cores ran every file one after another; the exhaustive DPOR verifications are
    // single-threaded and take minutes each (docs/README.md, "A test file per CPU").
    maxWorkers: availableParallelism(),
    reporters: ['default', 'json'],
    outputFile: { json: 'reports/vitest.json' },
  },
});
