import { defineConfig } from 'vitest/config';

/**
 * Shared by every package's vitest.config.ts: tests import sibling packages from their
 * TypeScript sources (the `@tracelab/source` export condition), so no build is needed first.
 */
export function packageConfig(name: string) {
  return defineConfig({
    resolve: { conditions: ['@tracelab/source', 'import', 'module', 'default'] },
    ssr: { resolve: { conditions: ['@tracelab/source', 'import', 'module', 'default'] } },
    test: {
      name,
      include: ['test/**/*.test.ts', 'src/**/*.test.ts'],
      environment: 'node',
      testTimeout: 60_000,
      typecheck: { enabled: true, include: ['test/**/*.test-d.ts'], tsconfig: './tsconfig.json' },
    },
  });
}
