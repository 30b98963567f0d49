import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, realpathSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';

/*
 * The built `tracelab` binary as a user runs it: the committed bin shim (packages/cli/bin),
 * which loads dist/ (the workspace's global test setup builds it first).
 */
const cliDir = join(dirname(fileURLToPath(import.meta.url)), '..');
const root = join(cliDir, '..', '..');
const BIN = join(cliDir, 'bin', 'tracelab.js');
const pkg = JSON.parse(readFileSync(join(cliDir, 'package.json'), 'utf8')) as { version: string; bin: Record<string, string>; files: string[] };

function tracelab(args: readonly string[], opts: { cwd?: string; env?: Record<string, string> } = {}) {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    cwd: opts.cwd ?? mkdtempSync(join(tmpdir(), 'tracelab-bin-')),
    encoding: 'utf8',
    env: { ...process.env, ...opts.env },
    timeout: 120_000,
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

const COMMANDS = ['run', 'replay', 'list', 'scenarios', 'convert', 'explore', 'worker', 'merge', 'torture', 'view', 'litmus'];

describe('the tracelab binary', () => {
  beforeAll(() => {
    expect(existsSync(join(cliDir, 'dist', 'bin.js'))).toBe(true);
  });

  it('is the committed shim, linked by npm at install time (before any build)', () => {
    expect(pkg.bin).toEqual({ tracelab: './bin/tracelab.js' });
    expect(pkg.files).toContain('bin');
    // npm ci linked it into the workspace's .bin, so `npx tracelab` finds it.
    const link = join(root, 'node_modules', '.bin', 'tracelab');
    expect(existsSync(link)).toBe(true);
    expect(realpathSync(link)).toBe(realpathSync(BIN));
    expect(execFileSync(link, ['--version'], { encoding: 'utf8' }).trim()).toBe(`tracelab ${pkg.version}`);
  });

  it('--version prints the package version (and JSON with --json)', () => {
    expect(tracelab(['--version'])).toMatchObject({ code: 0, out: `tracelab ${pkg.version}\n` });
    expect(JSON.parse(tracelab(['--version', '--json']).out)).toEqual({ name: '@tracelab/cli', version: pkg.version });
  });

  it("-h/--help on every command and help <command> print that command's help and exit 0", { timeout: 300_000 }, () => {
    // --help on every command; -h and `help <command>` on a few (a process each is slow here).
    const cases = [...COMMANDS.map((c) => [c, '--help']), ['explore', '-h'], ['help', 'run'], ['help', 'litmus']];
    for (const args of cases) {
      const cmd = args[0] === 'help' ? args[1]! : args[0]!;
      {
        const r = tracelab(args);
        expect({ args, code: r.code, err: r.err }).toEqual({ args, code: 0, err: '' });
        expect(r.out.startsWith(`tracelab ${cmd}: `)).toBe(true);
        expect(r.out).toMatch(/usage/);
      }
    }
    // `replay --help` is help, not a directory named --help.
    expect(tracelab(['replay', '--help']).out).toMatch(/usage: tracelab replay DIR/);
    const all = tracelab(['help']);
    expect(all.code).toBe(0);
    for (const cmd of COMMANDS) expect(all.out).toMatch(new RegExp(`^  ${cmd} +\\S`, 'm'));
    expect(tracelab(['help', 'nope'])).toMatchObject({ code: 2, err: expect.stringMatching(/no command "nope"; commands: run, replay/) });
  });

  it('exit codes: no command or an unknown one is 2, with the list of commands', () => {
    expect(tracelab([]).code).toBe(2);
    expect(tracelab(['frobnicate'])).toMatchObject({ code: 2, err: expect.stringMatching(/unknown command "frobnicate"; commands: run, replay, list/) });
    expect(tracelab(['run', '--seed', 'x'])).toMatchObject({ code: 2, err: expect.stringMatching(/--seed must be an integer/) });
  });

  it('a closed pipe ends quietly with exit 0 (`tracelab convert ... --to text | head -1`)', () => {
    const cwd = mkdtempSync(join(tmpdir(), 'tracelab-pipe-'));
    expect(tracelab(['run', '-q', '--out', 'o'], { cwd }).code).toBe(0);
    // The text trace is far more than a pipe buffer: tracelab writes on after head has gone.
    const p = spawnSync('bash', ['-c', `set -o pipefail; "${process.execPath}" "${BIN}" convert o/ctf --to text | head -1; echo "rc=\${PIPESTATUS[0]}"`], {
      cwd,
      encoding: 'utf8',
      timeout: 120_000,
    });
    const [first, rc] = p.stdout.trim().split('\n');
    expect(first).toMatch(/^\[\d+\.\d{9}\] tracelab \S+: \{ cpu_id = \d \}/);
    expect(rc).toBe('rc=0');
    expect(p.stderr).not.toMatch(/EPIPE|Error|at /);
  });

  it('--json on every command that runs without a service: one JSON document on stdout', () => {
    const cwd = mkdtempSync(join(tmpdir(), 'tracelab-json-'));
    const run = tracelab(['run', '--json', '--out', 'o'], { cwd });
    expect(run.code).toBe(0);
    const summary = JSON.parse(run.out) as { scenario: string; logHash: string; out: string; files: string[] };
    expect(summary).toMatchObject({ scenario: 'default', out: join(realpathSync(cwd), 'o') });
    expect(summary.logHash).toBe(JSON.parse(readFileSync(join(cwd, 'o', 'summary.json'), 'utf8')).logHash);
    expect(summary.files).toContain('ctf/');
    expect(JSON.parse(tracelab(['list', '--json']).out)[0]).toMatchObject({ name: 'default' });
    const sc = JSON.parse(tracelab(['scenarios', '--json']).out) as { command: string; exitCode: number; output: string[] };
    expect(sc).toMatchObject({ command: 'scenarios', exitCode: 0 });
    expect(sc.output.some((l) => l.startsWith('fork-flag-race'))).toBe(true);
    const rep = tracelab(['replay', 'o', '--json'], { cwd });
    expect(JSON.parse(rep.out)).toMatchObject({ ok: true, loggedHash: summary.logHash, fold: { ok: true }, rerun: { ok: true }, mismatches: [] });
    expect(rep.code).toBe(0);
    const conv = tracelab(['convert', join('o', 'ctf'), '--json'], { cwd });
    expect(JSON.parse(conv.out)).toMatchObject({ command: 'convert', exitCode: 0 });
  });

  it('-q prints nothing but errors; off a terminal a long explore prints periodic progress lines on stderr', () => {
    const cwd = mkdtempSync(join(tmpdir(), 'tracelab-q-'));
    const q = tracelab(['run', '-q', '--out', 'o'], { cwd });
    expect(q).toMatchObject({ code: 0, out: '', err: '' });
    expect(existsSync(join(cwd, 'o', 'summary.json'))).toBe(true);
    const e = tracelab(['explore', 'fork-flag-race', '--variant', 'fixed', '--budget', '60', '--out', 'x'], {
      cwd,
      env: { TRACELAB_PROGRESS_INTERVAL_MS: '0' },
    });
    expect(e.code).toBe(0);
    const lines = e.err.split('\n').filter((l) => l.startsWith('explore: '));
    expect(lines.length).toBeGreaterThan(1);
    expect(lines.at(-1)).toMatch(/^explore: \d+\/60 schedules \d+%, [\d.k]+ schedules\/s, ETA (\d\d:\d\d|--:--) \(\d\d:\d\d elapsed\)$/);
    expect(e.err).not.toMatch(/\r/);
  });

  it("a tree search's progress names the tree under way; dpor without --budget shows no total, which its tree, not the budget, decides", () => {
    const cwd = mkdtempSync(join(tmpdir(), 'tracelab-tree-'));
    const env = { TRACELAB_PROGRESS_INTERVAL_MS: '0' };
    const d = tracelab(['explore', 'detach-during-callback', '--variant', 'fixed', '--strategy', 'dpor', '--bound', '2', '--out', 'x'], { cwd, env });
    expect(d.code).toBe(0);
    const dl = d.err.split('\n').filter((l) => l.startsWith('explore: '));
    expect(dl.length).toBeGreaterThan(1);
    for (const l of dl) expect(l).toMatch(/^explore: \d+ schedules, [\d.k]+ schedules\/s, ETA --:--, bound-[012] tree \d+ \(\d\d:\d\d elapsed\)$/);
    // The iterative search reaches the bound-2 tree, and counts its schedules apart.
    const last = /^explore: (\d+) schedules, .* bound-2 tree (\d+) /.exec(dl.at(-1)!);
    expect(last).not.toBeNull();
    expect(Number(last![2])).toBeLessThan(Number(last![1]));
    // With a budget, the budget is the total, and the tree is still named.
    const b = tracelab(['explore', 'detach-during-callback', '--variant', 'fixed', '--strategy', 'dfs', '--budget', '200', '--out', 'y'], { cwd, env });
    const bl = b.err.split('\n').filter((l) => l.startsWith('explore: '));
    expect(bl.at(-1)).toMatch(/^explore: \d+\/200 schedules \d+%, .*, bound-\d tree \d+ \(/);
  });

  it('dfs without --budget runs its bounded tree to the end, as dpor does (the seeded strategies keep a budget of 1000)', () => {
    const cwd = mkdtempSync(join(tmpdir(), 'tracelab-dfs-'));
    // marker-array-free's bound-2 tree has more than 1000 schedules (3,887).
    const r = tracelab(['explore', 'marker-array-free', '--variant', 'fixed', '--strategy', 'dfs', '--json'], { cwd });
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out) as { complete: boolean; schedules: number; budget: number; stoppedBy: string | null };
    expect(j).toMatchObject({ complete: true, stoppedBy: null, budget: 1_000_000 });
    expect(j.schedules).toBeGreaterThan(1000);
    const p = JSON.parse(tracelab(['explore', 'marker-array-free', '--variant', 'fixed', '--json'], { cwd }).out) as { budget: number };
    expect(p.budget).toBe(1000);
  });
});
