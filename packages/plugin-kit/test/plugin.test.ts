import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readJson, type Tree } from '@nx/devkit';
import { createTreeWithEmptyWorkspace } from '@nx/devkit/testing';
import { pluginGenerator, pluginNameProblem } from '../src/index.js';

const root = resolve(import.meta.dirname, '../../..');

/** An empty Nx workspace with the root files the generator reads or updates. */
function workspace(): Tree {
  const tree = createTreeWithEmptyWorkspace();
  tree.write('LICENSE', readFileSync(join(root, 'LICENSE')));
  tree.write('tsconfig.json', JSON.stringify({ files: [], references: [{ path: 'packages/core/tsconfig.lib.json' }] }, null, 2));
  return tree;
}

// An empty tree has no formatter configured (Nx then tries oxfmt, which the workspace does not
// have): formatting is left to the end-to-end test, which checks the real workspace's Prettier.
const skipFormat = process.env['NX_SKIP_FORMAT'];
beforeAll(() => {
  process.env['NX_SKIP_FORMAT'] = 'true';
});
afterAll(() => {
  if (skipFormat === undefined) delete process.env['NX_SKIP_FORMAT'];
  else process.env['NX_SKIP_FORMAT'] = skipFormat;
});

const text = (tree: Tree, path: string) => tree.read(path, 'utf-8') ?? `(no ${path})`;

describe('the plugin generator on a tree', () => {
  it('writes the package, its changeset and its tsconfig reference', async () => {
    const tree = workspace();
    const after = await pluginGenerator(tree, { name: 'demo-lock' });
    expect(typeof after).toBe('function');
    const files = tree
      .listChanges()
      .map((c) => c.path)
      .filter((p) => p.startsWith('packages/demo-lock/'))
      .sort();
    expect(files).toEqual(
      [
        'CHANGELOG.md',
        'LICENSE',
        'README.md',
        'package.json',
        'src/demo-lock.ts',
        'src/events.ts',
        'src/index.ts',
        'src/scenario.ts',
        'src/state.ts',
        'test/demo-lock.test.ts',
        'tsconfig.json',
        'tsconfig.lib.json',
        'vitest.config.ts',
      ].map((f) => `packages/demo-lock/${f}`),
    );
    expect(readJson(tree, 'tsconfig.json').references).toEqual([{ path: 'packages/core/tsconfig.lib.json' }, { path: 'packages/demo-lock/tsconfig.lib.json' }]);
    expect(text(tree, '.changeset/demo-lock-initial.md')).toMatch(/^---\n'@tracelab\/demo-lock': minor\n---\n/);
    expect(text(tree, 'packages/demo-lock/LICENSE')).toBe(readFileSync(join(root, 'LICENSE'), 'utf8'));
  });

  it('names everything from the one name (names() of @nx/devkit), with no template left over', async () => {
    const tree = workspace();
    await pluginGenerator(tree, { name: 'demo-lock' });
    const pkg = readJson(tree, 'packages/demo-lock/package.json');
    expect(pkg.name).toBe('@tracelab/demo-lock');
    expect(pkg.version).toBe('0.1.0');
    expect(pkg.repository.directory).toBe('packages/demo-lock');
    expect(pkg.peerDependencies).toEqual({ '@tracelab/core': '>=0.1.0 <1.0.0', '@tracelab/explore': '>=0.1.0 <1.0.0' });
    expect(Object.keys(pkg.devDependencies)).toEqual(['@tracelab/core', '@tracelab/explore', '@tracelab/testing']);
    expect(pkg.exports['.'].import).toBe('./dist/index.js');
    const path = text(tree, 'packages/demo-lock/src/demo-lock.ts');
    expect(path).toContain('export function* demoLockIncrement(lock: boolean): KPath<number>');
    expect(path).toContain('export function demoLock(options: DemoLockOptions = {}): TracelabPlugin<DemoLockApi, DemoLockState>');
    expect(path).toMatch(
      /mutexLock\(DEMO_LOCK_MUTEX\)[\s\S]*getState\(\)[\s\S]*schedPoint\(\)[\s\S]*emit\([\s\S]*finally[\s\S]*mutexUnlock\(DEMO_LOCK_MUTEX\)/,
    );
    expect(text(tree, 'packages/demo-lock/src/state.ts')).toContain("export const DEMO_LOCK_MUTEX = 'demo_lock_mutex';");
    expect(text(tree, 'packages/demo-lock/src/state.ts')).toContain("export const DEMO_LOCK_NO_LOST_UPDATE = 'demo-lock/no-lost-update';");
    expect(text(tree, 'packages/demo-lock/src/events.ts')).toContain("'demo-lock/stored': { pid: number; read: number; value: number };");
    expect(text(tree, 'packages/demo-lock/src/events.ts')).toContain("'demo-lock': DemoLockApi;");
    const scenario = text(tree, 'packages/demo-lock/src/scenario.ts');
    expect(scenario).toContain("name: 'demo-lock'");
    expect(scenario).toContain('export default scenario;');
    expect(scenario).toMatch(/variants: \[[\s\S]*name: 'fixed'[\s\S]*name: 'unsafe'/);
    expect(text(tree, 'packages/demo-lock/test/demo-lock.test.ts')).toContain("from '@tracelab/testing'");
    expect(text(tree, 'packages/demo-lock/vitest.config.ts')).toContain("import { packageConfig } from '../../vitest.shared.js';");
    for (const c of tree.listChanges()) {
      const body = c.content?.toString('utf8') ?? '';
      expect(body, c.path).not.toMatch(/<%|%>|__[a-zA-Z]+__/);
    }
  });

  it('takes another directory, with the paths up to the root counted from it', async () => {
    const tree = workspace();
    await pluginGenerator(tree, { name: 'refcount', directory: 'plugins/mine' });
    expect(tree.exists('plugins/mine/refcount/src/refcount.ts')).toBe(true);
    expect(readJson(tree, 'plugins/mine/refcount/tsconfig.lib.json').extends).toBe('../../../tsconfig.base.json');
    expect(readJson(tree, 'plugins/mine/refcount/tsconfig.lib.json').references[0].path).toBe('../../../packages/core/tsconfig.lib.json');
    expect(readJson(tree, 'tsconfig.json').references.at(-1)).toEqual({ path: 'plugins/mine/refcount/tsconfig.lib.json' });
  });

  it.each([
    ['', 'a name is required'],
    ['MyMech', 'is not kebab-case'],
    ['my_mech', 'is not kebab-case'],
    ['my--mech', 'is not kebab-case'],
    ['-mech', 'is not kebab-case'],
    ['2mech', 'is not kebab-case'],
    ['delete', 'reserved word'],
  ])('refuses the name %j, saying why, and writes nothing', async (name, why) => {
    const tree = workspace();
    await expect(pluginGenerator(tree, { name })).rejects.toThrow(`@tracelab/plugin-kit:plugin: `);
    await expect(pluginGenerator(tree, { name })).rejects.toThrow(why);
    expect(tree.listChanges().filter((c) => c.path.startsWith('packages/'))).toEqual([]);
  });

  it('refuses a folder that exists', async () => {
    const tree = workspace();
    tree.write('packages/demo-lock/package.json', '{}');
    await expect(pluginGenerator(tree, { name: 'demo-lock' })).rejects.toThrow('packages/demo-lock already exists');
  });

  it('pluginNameProblem accepts kebab-case with digits', () => {
    expect(pluginNameProblem('my-mech')).toBeNull();
    expect(pluginNameProblem('rcu2-tasks')).toBeNull();
  });
});
