import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * What `npm publish` would ship, per package (`npm pack --dry-run`, on the build the test run
 * made): the built code with its types, the README, the LICENSE and the CHANGELOG; no build
 * info, no source maps (they point at sources the tarball does not carry), no sources or tests.
 */
const root = resolve(import.meta.dirname, '../../..');
const packages = readdirSync(join(root, 'packages')).filter((d) => existsSync(join(root, 'packages', d, 'package.json')));
const npmCli = join(process.execPath, '..', '..', 'lib', 'node_modules', 'npm', 'bin', 'npm-cli.js');

function packed(dir: string): string[] {
  const cwd = join(root, 'packages', dir);
  const out = existsSync(npmCli)
    ? execFileSync(process.execPath, [npmCli, 'pack', '--dry-run', '--json', '--ignore-scripts'], { cwd, encoding: 'utf8' })
    : execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd, encoding: 'utf8' });
  return (JSON.parse(out) as Array<{ files: Array<{ path: string }> }>)[0]!.files.map((f) => f.path);
}

describe('npm pack --dry-run', () => {
  it.each(packages)(
    '%s ships its built code, types, README, LICENSE and CHANGELOG, and nothing of the build or the sources',
    (dir) => {
      const files = packed(dir);
      const manifest = JSON.parse(readFileSync(join(root, 'packages', dir, 'package.json'), 'utf8')) as { types: string; main: string };
      for (const must of ['package.json', 'README.md', 'LICENSE', 'CHANGELOG.md', manifest.main.replace(/^\.\//, ''), manifest.types.replace(/^\.\//, '')]) {
        expect(files, `${dir} ships ${must}`).toContain(must);
      }
      const stray = files.filter(
        (f) => f.endsWith('.map') || f.endsWith('.tsbuildinfo') || f.startsWith('src/') || f.startsWith('test/') || f.includes('/test/'),
      );
      expect(stray, `${dir} ships no build info, source maps, sources or tests`).toEqual([]);
      expect(readFileSync(join(root, 'packages', dir, 'LICENSE'), 'utf8')).toBe(readFileSync(join(root, 'LICENSE'), 'utf8'));
    },
    60_000,
  );
});

describe('package metadata', () => {
  it.each(packages)('%s says where it lives: repository with its own directory, homepage, bugs (docs/releases.md)', (dir) => {
    const manifest = JSON.parse(readFileSync(join(root, 'packages', dir, 'package.json'), 'utf8')) as {
      repository?: { type?: string; url?: string; directory?: string };
      homepage?: string;
      bugs?: string;
    };
    expect(manifest.repository).toEqual({ type: 'git', url: 'git+https://github.com/tracelab/tracelab.git', directory: `packages/${dir}` });
    expect(manifest.homepage).toBe(`https://github.com/tracelab/tracelab/tree/main/packages/${dir}#readme`);
    expect(manifest.bugs).toBe('https://github.com/tracelab/tracelab/issues');
  });
});
