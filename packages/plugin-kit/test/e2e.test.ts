import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, rmSync, rmdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { names } from '@nx/devkit';
import internals from 'nx/src/devkit-internals';
import { pluginGenerator } from '../src/index.js';

/**
 * The generator for real: a package generated into a scratch folder of this workspace
 * (`tmp/plugin-kit-e2e-*`, not packages/, so the workspace's own checks that walk packages/ never
 * meet it, and the root tsconfig.json is left alone: the tree test checks that update), then
 * built, typechecked, linted and tested, and its scenario explored with the tracelab CLI. The
 * folder is removed in a `finally`, whatever failed. Needs the built workspace (the global setup's
 * `tsc -b`): the CLI and the generator Nx loads run from dist/.
 */
const root = resolve(import.meta.dirname, '../../..');
const bin = (path: string) => join(root, 'node_modules', path);

/** Runs a node script from the workspace, outside vitest's environment; returns status and output. */
function run(args: string[], cwd = root) {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('VITEST') && k !== 'NODE_OPTIONS'));
  const r = spawnSync(process.execPath, args, {
    cwd,
    encoding: 'utf8',
    env: { ...env, NX_DAEMON: 'false', NX_NO_CLOUD: 'true', FORCE_COLOR: '0', NO_COLOR: '1' },
    timeout: 120_000,
  });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

function ok(args: string[], cwd = root): string {
  const r = run(args, cwd);
  expect(r.status, `${args.join(' ')}:\n${r.out}`).toBe(0);
  return r.out;
}

/** Generates `<scratch>/<name>` into the workspace for real (the package's files only). */
async function generate(scratch: string, name: string): Promise<string> {
  const dir = `${scratch}/${name}`;
  const tree = new internals.FsTree(root, false);
  await pluginGenerator(tree, { name, directory: scratch });
  for (const c of tree.listChanges()) {
    if (!c.path.startsWith(`${dir}/`)) continue; // the changeset and the root tsconfig.json stay as they are
    mkdirSync(dirname(join(root, c.path)), { recursive: true });
    writeFileSync(join(root, c.path), c.content!);
  }
  return dir;
}

/** Removes a scratch folder, and tmp/ when nothing else is in it. */
function cleanUp(scratch: string): void {
  rmSync(join(root, scratch), { recursive: true, force: true });
  try {
    rmdirSync(join(root, 'tmp')); // only when empty: another run may be using it
  } catch {
    // not empty, or already gone
  }
}

const scratchName = () => `tmp/plugin-kit-e2e-${process.pid}-${randomBytes(3).toString('hex')}`;

describe('the plugin generator, end to end', () => {
  it('Nx resolves @tracelab/plugin-kit:plugin from the workspace (--dry-run writes nothing)', () => {
    const out = ok([bin('nx/dist/bin/nx.js'), 'g', '@tracelab/plugin-kit:plugin', 'zz-dry-run', '--dry-run', '--no-interactive']);
    expect(out).toContain('CREATE packages/zz-dry-run/src/zz-dry-run.ts');
    expect(out).toContain('CREATE .changeset/zz-dry-run-initial.md');
    expect(out).toContain('UPDATE tsconfig.json');
    expect(out).toMatch(/no changes were made/);
  }, 120_000);

  it('generates a package that builds, typechecks, lints, passes its tests, and whose unsafe variant explore finds', async () => {
    const scratch = scratchName();
    const name = `zz-gen-${randomBytes(3).toString('hex')}`;
    const rootTsconfig = readFileSync(join(root, 'tsconfig.json'), 'utf8');
    try {
      const dir = await generate(scratch, name);
      expect(readdirSync(join(root, dir, 'src')).sort()).toEqual(['events.ts', 'index.ts', `${name}.ts`, 'scenario.ts', 'state.ts'].sort());

      ok([bin('typescript/bin/tsc'), '-b', `${dir}/tsconfig.lib.json`]);
      ok([bin('typescript/bin/tsc'), '-p', dir]);
      ok([bin('eslint/bin/eslint.js'), dir]);
      ok([bin('prettier/bin/prettier.cjs'), '--check', dir]);
      const tests = ok([bin('vitest/vitest.mjs'), 'run'], join(root, dir));
      expect(tests).toMatch(/Tests\s+5 passed/);

      const cli = join(root, 'packages/cli/dist/bin.js');
      const unsafe = run([cli, 'explore', `${dir}/dist/scenario.js`, '--variant', 'unsafe', '--out', `${scratch}/explore`]);
      expect(unsafe.status, unsafe.out).toBe(1);
      expect(unsafe.out).toContain(`VIOLATION ${name}/no-lost-update`);
      const fixed = run([cli, 'explore', `${dir}/dist/scenario.js`, '--variant', 'fixed', '--budget', '300', '--out', `${scratch}/explore`]);
      expect(fixed.status, fixed.out).toBe(0);
      expect(fixed.out).toContain('no violation in 300 schedules');
    } finally {
      cleanUp(scratch);
      expect(readFileSync(join(root, 'tsconfig.json'), 'utf8')).toBe(rootTsconfig);
    }
  }, 180_000);

  it("docs/writing-a-plugin.md: the tutorial's own mechanism, taken from the page, finds its race and proves its fix", async () => {
    // Every `// packages/my-mech/...` block of the page replaces the generated file of that name,
    // with my-mech renamed to this run's name.
    const page = readFileSync(join(root, 'docs/writing-a-plugin.md'), 'utf8');
    const blocks = [...page.matchAll(/```ts\n\/\/ packages\/my-mech\/(\S+)\n([\s\S]*?)```/g)].map((m) => ({ file: m[1]!, code: m[2]! }));
    expect(blocks.map((b) => b.file).sort()).toEqual([
      'src/events.ts',
      'src/index.ts',
      'src/my-mech.ts',
      'src/scenario.ts',
      'src/state.ts',
      'test/my-mech.test.ts',
    ]);
    const scratch = scratchName();
    const hex = randomBytes(3).toString('hex');
    const name = `zz-tut-${hex}`;
    const n = names(name);
    const rename = (text: string) =>
      text
        .replaceAll('my-mech', name)
        .replaceAll('myMech', n.propertyName)
        .replaceAll('MyMech', n.className)
        .replaceAll('MY_MECH', n.constantName)
        .replaceAll('my_mech', name.replaceAll('-', '_'));
    try {
      const dir = await generate(scratch, name);
      for (const b of blocks) writeFileSync(join(root, dir, rename(b.file)), rename(b.code));
      ok([bin('typescript/bin/tsc'), '-b', `${dir}/tsconfig.lib.json`]);
      ok([bin('typescript/bin/tsc'), '-p', dir]);
      expect(ok([bin('vitest/vitest.mjs'), 'run'], join(root, dir))).toMatch(/Tests\s+4 passed/);
      const cli = join(root, 'packages/cli/dist/bin.js');
      const unsafe = run([cli, 'explore', `${dir}/dist/scenario.js`, '--variant', 'unsafe', '--out', `${scratch}/explore`]);
      expect(unsafe.status, unsafe.out).toBe(1);
      expect(unsafe.out).toContain(`VIOLATION ${name}/no-use-after-free`);
      const args = ['--variant', 'fixed', '--strategy', 'dfs', '--bound', '2', '--budget', '100000', '--out', `${scratch}/explore`];
      const fixed = run([cli, 'explore', `${dir}/dist/scenario.js`, ...args]);
      expect(fixed.status, fixed.out).toBe(0);
      // The page's outputs, figures included, are what the commands print.
      const shown = (pattern: RegExp): string => {
        const m = page.match(pattern);
        expect(m, `docs/writing-a-plugin.md shows no line matching ${pattern}`).not.toBeNull();
        return m![0];
      };
      expect(fixed.out).toContain(shown(/no violation in the whole tree within preemption bound 2 \(\d+ schedules\).*/));
      // The page's last steps: dpor verifies the same bound with its partial-order reduction, and
      // at one lookup every interleaving, unbounded.
      const dpor = run([cli, 'explore', `${dir}/dist/scenario.js`, '--variant', 'fixed', '--strategy', 'dpor', '--bound', '2', '--out', `${scratch}/explore`]);
      expect(dpor.status, dpor.out).toBe(0);
      // The whole result lines: the figures, the self-check, and what added the backtrack points.
      const bounded = shown(/verified: every interleaving up to 2 preemptions \(\d+ traces, \d+ schedules run\), at lookups 2.*\n.*backtracks by .*/);
      expect(dpor.out).toContain(rename(bounded));
      const all = run([cli, 'explore', `${dir}/dist/scenario.js`, '--variant', 'fixed', '--strategy', 'dpor', '--scale', '1', '--out', `${scratch}/explore`]);
      expect(all.status, all.out).toBe(0);
      expect(all.out).toContain(rename(shown(/verified: all \d+ traces \(\d+ schedules run\), at lookups 1.*\n.*backtracks by .*/)));
      // And the audit of its footprints: DPOR against the unreduced DFS, as the page shows it.
      const audit = run([cli, 'explore', `${dir}/dist/scenario.js`, '--variant', 'fixed', '--audit', '--bound', '2', '--scale', '1']);
      expect(audit.status, audit.out).toBe(0);
      expect(audit.out).toContain(shown(/ {2}agrees: dpor reached every final state and violation the unreduced dfs reached\n {2}dpor: .*\n {2}dfs: .*/));
      // The DPOR runs' last line names the audit, with the scenario's own path.
      expect(dpor.out).toContain(
        `it rests on your plugins' footprints: tracelab explore ${dir}/dist/scenario.js --variant fixed --audit --scale 1 checks them`,
      );
    } finally {
      cleanUp(scratch);
    }
  }, 180_000);
});
