import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

/**
 * The release policy of docs/releases.md, run for real: `changeset version` on a trial
 * changeset, in a scratch copy of the tracked tree (the repository itself is never touched).
 */
const root = resolve(import.meta.dirname, '../../..');
const scratch = mkdtempSync(join(tmpdir(), 'tracelab-release-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function copyTracked(): void {
  const tracked = execFileSync('git', ['ls-files', '-z'], { cwd: root, encoding: 'utf8' })
    .split('\0')
    .filter((f) => f !== '');
  for (const f of tracked) {
    if (!existsSync(join(root, f))) continue; // deleted in the working tree, not yet committed
    cpSync(join(root, f), join(scratch, f), { recursive: true });
  }
  symlinkSync(join(root, 'node_modules'), join(scratch, 'node_modules'), 'dir');
  // changesets reads the git history for new changesets: a repository of one commit.
  for (const f of readdirSync(join(scratch, '.changeset'))) if (f.endsWith('.md') && f !== 'README.md') rmSync(join(scratch, '.changeset', f));
  const git = (...args: string[]) =>
    execFileSync('git', ['-c', 'user.email=release@test', '-c', 'user.name=release-test', ...args], { cwd: scratch, stdio: 'ignore' });
  git('init', '-q');
  git('add', '-A');
  git('commit', '-qm', 'scratch');
}

type Manifest = { name: string; version: string; peerDependencies?: Record<string, string>; dependencies?: Record<string, string> };
const manifests = (dir: string): Manifest[] =>
  readdirSync(join(dir, 'packages'))
    .filter((d) => existsSync(join(dir, 'packages', d, 'package.json')))
    .map((d) => JSON.parse(readFileSync(join(dir, 'packages', d, 'package.json'), 'utf8')) as Manifest);

describe('changeset version', () => {
  it('a core minor bump moves core to the next minor and pushes no peer-dependent to a major', () => {
    copyTracked();
    writeFileSync(join(scratch, '.changeset', 'trial-core-minor.md'), '---\n"@tracelab/core": minor\n---\n\nA trial change.\n');
    const bin = join(root, 'node_modules', '@changesets', 'cli', 'bin.js');
    execFileSync(process.execPath, [bin, 'version'], { cwd: scratch, stdio: 'pipe' });
    const before = new Map(manifests(root).map((m) => [m.name, m]));
    const after = manifests(scratch);
    const core = after.find((m) => m.name === '@tracelab/core')!;
    const [maj, min] = before.get('@tracelab/core')!.version.split('.').map(Number) as [number, number];
    expect(core.version).toBe(`${maj}.${min + 1}.0`);
    for (const m of after) {
      if (m.name === '@tracelab/core') continue;
      const was = before.get(m.name)!;
      const [a, b] = was.version.split('.').map(Number) as [number, number];
      const [x, y] = m.version.split('.').map(Number) as [number, number];
      // No major (0.x: no minor either) for a peer-dependent: the peer range still holds.
      expect({ name: m.name, major: x, minor: y }).toEqual({ name: m.name, major: a, minor: b });
      if (m.peerDependencies?.['@tracelab/core'] !== undefined) {
        expect(m.peerDependencies['@tracelab/core'], `${m.name}'s peer range on core`).toBe(was.peerDependencies!['@tracelab/core']);
      }
    }
    // The cli depends on core directly: it moves by a patch, to take the new core.
    const cli = after.find((m) => m.name === '@tracelab/cli')!;
    expect(cli.version).not.toBe(before.get('@tracelab/cli')!.version);
    expect(cli.dependencies?.['@tracelab/core']).toContain(core.version);
    // Every package's changelog got its entry.
    expect(readFileSync(join(scratch, 'packages', 'core', 'CHANGELOG.md'), 'utf8')).toMatch(
      new RegExp(`## ${core.version.replace(/\./g, '\\.')}[\\s\\S]*A trial change`),
    );
  }, 120_000);
});
