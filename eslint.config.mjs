import nx from '@nx/eslint-plugin';

// Module boundaries follow ARCHITECTURE.md 4: the core depends on no plugin; a plugin
// depends on the core and on the plugins it declares; outputs and the CLI sit on top.
export default [
  ...nx.configs['flat/base'],
  ...nx.configs['flat/typescript'],
  { ignores: ['**/dist', '**/node_modules', 'reports', 'tracelab-out', '.nx', 'tools/bench/results'] },
  {
    files: ['**/*.ts', '**/*.mjs'],
    rules: {
      '@nx/enforce-module-boundaries': [
        'error',
        {
          enforceBuildableLibDependency: true,
          allow: [],
          depConstraints: [
            { sourceTag: 'type:core', onlyDependOnLibsWithTags: ['type:core'] },
            // Trace formats (CTF, Chrome JSON) are a leaf on the core: the ring buffer lays its
            // sub-buffers out as CTF packets through them, and the CLI writes and reads them.
            { sourceTag: 'type:format', onlyDependOnLibsWithTags: ['type:core'] },
            { sourceTag: 'type:plugin', onlyDependOnLibsWithTags: ['type:core', 'type:plugin', 'type:format'] },
            { sourceTag: 'type:lib', onlyDependOnLibsWithTags: ['type:core', 'type:plugin', 'type:format', 'type:lib'] },
            { sourceTag: 'type:app', onlyDependOnLibsWithTags: ['type:core', 'type:plugin', 'type:format', 'type:lib'] },
            { sourceTag: 'type:tool', onlyDependOnLibsWithTags: ['type:core', 'type:plugin', 'type:format', 'type:lib', 'type:app'] },
          ],
        },
      ],
    },
  },
  {
    // Tests exercise each package through its public name, as its users do; configs are
    // workspace glue. Boundaries are about what src/ imports.
    files: ['**/test/**/*.ts', '**/vitest.config.ts', 'vitest.*.ts', 'eslint.config.mjs'],
    rules: { '@nx/enforce-module-boundaries': 'off' },
  },
  {
    files: ['**/*.ts'],
    rules: {
      // noUncheckedIndexedAccess is on: a `!` marks an index the code has just checked.
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
];
