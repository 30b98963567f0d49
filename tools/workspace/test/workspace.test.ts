import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';
import { CORE_VERSION } from '@tracelab/core';

const root = resolve(import.meta.dirname, '../../..');
const packages = readdirSync(join(root, 'packages')).filter((d) => existsSync(join(root, 'packages', d, 'package.json')));
const manifest = (dir: string) => JSON.parse(readFileSync(join(root, 'packages', dir, 'package.json'), 'utf8'));

describe('module boundaries', () => {
  it('hold across the tree, and the rule does catch the core importing a plugin', async () => {
    process.env['NX_DAEMON'] = 'false';
    // The Nx rule reads only a cached project graph and silently skips itself without one
    // (as on a fresh clone): build the graph first.
    const { createProjectGraphAsync } = await import('@nx/devkit');
    await createProjectGraphAsync({ exitOnError: false });
    const eslint = new ESLint({ cwd: root });
    const results = await eslint.lintFiles(packages.map((p) => `packages/${p}/src`));
    const boundary = results.flatMap((r) =>
      r.messages.filter((m) => m.ruleId === '@nx/enforce-module-boundaries').map((m) => `${r.filePath}:${m.line} ${m.message}`),
    );
    expect(boundary).toEqual([]);
    const [bad] = await eslint.lintText("import { toChromeTrace } from '@tracelab/formats';\nexport const x = toChromeTrace;\n", {
      filePath: join(root, 'packages/core/src/forbidden.ts'),
    });
    expect(bad!.messages.some((m) => m.ruleId === '@nx/enforce-module-boundaries')).toBe(true);
  }, 120_000);
});

describe('package manifests', () => {
  it.each(packages)('%s exports ESM with types, is side-effect free and has a README', (dir) => {
    const m = manifest(dir);
    expect(m.name).toBe(`@tracelab/${dir}`);
    expect(m.type).toBe('module');
    expect(m.sideEffects).toBe(false);
    expect(m.exports['.'].types).toBe('./dist/index.d.ts');
    expect(m.exports['.'].import).toBe('./dist/index.js');
    expect(m.files).toContain('dist');
    expect(existsSync(join(root, 'packages', dir, 'README.md'))).toBe(true);
    expect(existsSync(join(root, 'packages', dir, 'src', 'index.ts'))).toBe(true);
  });

  it('the core reports the version its package.json has, and plugins peer-depend on a range of it', () => {
    expect(CORE_VERSION).toBe(manifest('core').version);
    for (const dir of packages.filter((d) => d !== 'core' && d !== 'cli')) {
      expect(manifest(dir).peerDependencies?.['@tracelab/core'], dir).toBeDefined();
    }
    expect(manifest('core').dependencies?.['@tracelab/formats']).toBeUndefined();
  });

  it('changesets version packages independently', () => {
    const config = JSON.parse(readFileSync(join(root, '.changeset/config.json'), 'utf8'));
    expect(config.fixed).toEqual([]);
    expect(config.linked).toEqual([]);
  });
});

describe('README', () => {
  it('opens with the two commands a newcomer types, and .ci/run runs the same test command', () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const blocks = [...readme.matchAll(/```(?:sh|bash)?\n([\s\S]*?)```/g)].map((m) => m[1]!.trim());
    expect(blocks[0]).toBe('npm ci && npm start');
    expect(blocks[1]).toBe('npm ci && npm test');
    expect(readFileSync(join(root, '.ci/run'), 'utf8')).toMatch(/^npm ci && npm test/m);
    const scripts = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).scripts;
    expect(scripts.start).toMatch(/tracelab|bin\.js run/);
    expect(scripts.test).toBe('vitest run');
  });
});
