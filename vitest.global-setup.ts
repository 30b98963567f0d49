import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/**
 * Builds the workspace once (`tsc -b`, incremental) before any test file runs. Tests that start
 * worker threads or `tracelab` processes run the built dist/ and build it in their beforeAll;
 * test files run in parallel, and two tsc -b writing the same dist/ at once could hand a worker
 * a half-written file. Built here first, their own builds find everything up to date and write
 * nothing.
 */
export default function setup(): void {
  const root = fileURLToPath(new URL('.', import.meta.url));
  execFileSync(process.execPath, [`${root}node_modules/typescript/bin/tsc`, '-b'], { cwd: root, stdio: 'inherit' });
}
