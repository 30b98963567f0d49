import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { readCtfTrace } from '@tracelab/formats';
import { main } from '@tracelab/cli';

const BIN = fileURLToPath(new URL('../dist/bin.js', import.meta.url));

function io() {
  const cwd = mkdtempSync(join(tmpdir(), 'tracelab-config-'));
  const out: string[] = [];
  const err: string[] = [];
  return { cwd, out, err, io: { cwd, out: (t: string) => void out.push(t), err: (t: string) => void err.push(t) } };
}

async function run(t: ReturnType<typeof io>, argv: string[]): Promise<number> {
  return await main(argv, t.io);
}

function summaryOf(t: ReturnType<typeof io>, dir: string): Record<string, unknown> & { logHash: string; seed: number; config?: string } {
  return JSON.parse(readFileSync(join(t.cwd, dir, 'summary.json'), 'utf8')) as Record<string, unknown> & { logHash: string; seed: number };
}

/** Event names in a run's CTF trace, with their counts. */
function ctfNames(t: ReturnType<typeof io>, dir: string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const e of readCtfTrace(join(t.cwd, dir, 'ctf')).events) counts.set(e.name, (counts.get(e.name) ?? 0) + 1);
  return counts;
}

describe('config files (tracelab run --config)', () => {
  it('an empty config is the default session: the same log, bit for bit, as `tracelab run` (what npm start runs)', async () => {
    const t = io();
    writeFileSync(join(t.cwd, 'empty.json'), '{}');
    expect(await run(t, ['run', '--config', 'empty.json', '--out', 'a', '-q'])).toBe(0);
    expect(await run(t, ['run', '--out', 'b', '-q'])).toBe(0);
    const a = summaryOf(t, 'a');
    expect(a.config).toBe(join(t.cwd, 'empty.json'));
    expect(a.logHash).toBe(summaryOf(t, 'b').logHash);
  });

  it('events: globs select what the ring buffer records from the start (only sched_* here)', async () => {
    const t = io();
    writeFileSync(join(t.cwd, 'c.json'), JSON.stringify({ events: ['sched_*'], outputs: { chrome: false } }));
    expect(await run(t, ['run', '--config', 'c.json', '--out', 'o', '-q'])).toBe(0);
    const names = [...ctfNames(t, 'o').keys()];
    expect(names.length).toBeGreaterThan(3);
    expect(names.filter((n) => !n.startsWith('sched_'))).toEqual([]);
    expect(existsSync(join(t.cwd, 'o', 'trace.json'))).toBe(false);
  });

  it('the timeline enables events mid-session: syscall entries are recorded after tick 1000 (they start at about 70), not before it and not from the start', async () => {
    const t = io();
    writeFileSync(join(t.cwd, 'late.json'), JSON.stringify({ events: ['sched_*'], timeline: [{ at: 1000, enable: ['syscall_entry_*'] }] }));
    writeFileSync(join(t.cwd, 'early.json'), JSON.stringify({ events: ['sched_*', 'syscall_entry_*'] }));
    expect(await run(t, ['run', '--config', 'late.json', '--out', 'late', '-q'])).toBe(0);
    expect(await run(t, ['run', '--config', 'early.json', '--out', 'early', '-q'])).toBe(0);
    const count = (m: Map<string, number>): number => [...m].filter(([n]) => n.startsWith('syscall_entry_')).reduce((s, [, c]) => s + c, 0);
    const late = count(ctfNames(t, 'late'));
    const early = count(ctfNames(t, 'early'));
    expect(late).toBeGreaterThan(0);
    expect(late).toBeLessThan(early);
    // The timeline's kernel thread did it, at its tick.
    const log = readFileSync(join(t.cwd, 'late', 'events.ndjson'), 'utf8')
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as { type: string; comm?: string; time: number });
    const spawned = log.find((e) => e.type === 'task/spawned' && e.comm === 'lttng-timeline');
    expect(spawned).toBeDefined();
    // The re-run from the config gives the same log.
    expect(await run(t, ['replay', 'late'])).toBe(0);
  });

  it('the timeline registers an ftrace ops on the functions its globs select and removes it: func_entry records only for those, only between the two ticks', async () => {
    const t = io();
    writeFileSync(
      join(t.cwd, 'ft.json'),
      JSON.stringify({
        tracers: { functionTracer: false },
        // At 1000 the workload has made its first open and read, so sys_open and sys_read are
        // defined (the core defines a syscall's function at its first call).
        timeline: [
          { at: 1000, ftrace: { register: ['sys_open*', 'sys_read'], label: 'io' } },
          { at: 2500, ftrace: { unregister: 'io' } },
        ],
      }),
    );
    expect(await run(t, ['run', '--config', 'ft.json', '--out', 'ft', '-q'])).toBe(0);
    const fn = readCtfTrace(join(t.cwd, 'ft', 'ctf')).events.filter((e) => e.name === 'func_entry');
    expect(fn.length).toBeGreaterThan(0);
    expect(new Set(fn.map((e) => String(e.fields['ip'])))).toEqual(
      new Set(['sys_open', 'sys_openat', 'sys_read'].filter((n) => fn.some((e) => e.fields['ip'] === n))),
    );
    expect(fn.every((e) => /^sys_(open|openat|read)$/.test(String(e.fields['ip'])))).toBe(true);
    const log = readFileSync(join(t.cwd, 'ft', 'events.ndjson'), 'utf8')
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as { type: string; time: number; label?: string });
    const reg = log.find((e) => e.type === 'ftrace/ops-registered');
    const unreg = log.find((e) => e.type === 'ftrace/ops-removed');
    expect(reg?.time).toBeGreaterThanOrEqual(1000);
    expect(unreg?.time).toBeGreaterThanOrEqual(2500);
    // An unregister of an ops no earlier step registered is the config's error.
    writeFileSync(join(t.cwd, 'bad.json'), JSON.stringify({ timeline: [{ at: 5, ftrace: { unregister: 'nope' } }] }));
    expect(await run(t, ['run', '--config', 'bad.json'])).toBe(2);
    expect(t.err.join('\n')).toMatch(/timeline\[0\]\.ftrace\.unregister: no earlier step registers an ops labelled "nope"/);
  });

  it('flags override the config; `tracelab run` finds tracelab.config.json in its directory, and a scenario name given ignores it', async () => {
    const t = io();
    writeFileSync(join(t.cwd, 'tracelab.config.json'), JSON.stringify({ seed: 3, cpus: 3 }));
    expect(await run(t, ['run', '--out', 'found', '-q'])).toBe(0);
    expect(summaryOf(t, 'found')).toMatchObject({ seed: 3, cpus: 3, config: join(t.cwd, 'tracelab.config.json') });
    expect(await run(t, ['run', '--seed', '5', '--out', 'flag', '-q'])).toBe(0);
    expect(summaryOf(t, 'flag')).toMatchObject({ seed: 5, cpus: 3 });
    expect(await run(t, ['run', 'default', '--out', 'named', '-q'])).toBe(0);
    expect(summaryOf(t, 'named')).toMatchObject({ seed: 1, cpus: 2 });
    expect(summaryOf(t, 'named').config).toBeUndefined();
  });

  it('a .mjs config with defineConfig, a workload module and a plugin of its own; replay re-reads it', async () => {
    // Inside the workspace, so that the config's `import '@tracelab/cli'` resolves as a user's would.
    const cwd = mkdtempSync(join(fileURLToPath(new URL('.', import.meta.url)), '.tmp-config-'));
    try {
      const t = { ...io(), cwd };
      t.io = { ...t.io, cwd };
      writeFileSync(join(cwd, 'work.mjs'), `export function* pinger(u) { for (let i = 0; i < 5; i++) yield u.syscall('getpid', {}); yield u.exit(0); }\n`);
      writeFileSync(
        join(cwd, 'tracelab.config.mjs'),
        `import { defineConfig } from '@tracelab/cli';
const counter = { name: 'counter', version: '1.0.0', core: '*', register(ctx) { ctx.tap('exit', () => undefined); return {}; } };
export default defineConfig({ workload: { module: './work.mjs', export: 'pinger' }, extraPlugins: [counter], tracers: { strace: false }, plugins: { utrace: false } });
`,
      );
      expect(await run(t, ['run', '--out', 'm', '-q'])).toBe(0);
      const log = readFileSync(join(cwd, 'm', 'events.ndjson'), 'utf8');
      expect(log).toMatch(/"type":"kernel\/plugin-registered"[^\n]*"name":"counter"|"name":"counter"[^\n]*"type":"kernel\/plugin-registered"/);
      const s = summaryOf(t, 'm') as unknown as { tasks: { byComm: Record<string, number> }; config: string };
      expect(s.config).toBe(join(cwd, 'tracelab.config.mjs'));
      expect(s.tasks.byComm['sh']).toBe(1);
      expect(s.tasks.byComm['cc1']).toBeUndefined();
      expect(log.split('\n').filter((l) => l.includes('"type":"syscall/enter"') && l.includes('"name":"getpid"')).length).toBeGreaterThanOrEqual(5);
      expect(await run(t, ['replay', 'm'])).toBe(0);
      // The same session through the built binary.
      const r = spawnSync(process.execPath, [BIN, 'run', '--out', 'bin', '-q'], { cwd, encoding: 'utf8' });
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      expect(JSON.parse(readFileSync(join(cwd, 'bin', 'summary.json'), 'utf8')).logHash).toBe(summaryOf(t, 'm').logHash);
    } finally {
      rmSync(cwd, { recursive: true, force: true });
    }
  });

  it('bad configs get INVALID_CONFIG naming the file, the key path and what is accepted (exit 2), before anything runs', async () => {
    const cases: Array<[string, string, RegExp]> = [
      [
        'typo.json',
        JSON.stringify({ plugins: { ringBufer: {} } }),
        /plugins\.ringBufer: unknown key; did you mean "ringBuffer"\? \(accepted: markers, ktrace, rcuTasks, ftrace, ringBuffer, utrace\)/,
      ],
      ['top.json', JSON.stringify({ sed: 3 }), /sed: unknown key; did you mean "seed"\?/],
      ['cpus.json', JSON.stringify({ cpus: 0 }), /cpus: must be an integer from 1 to 64, got 0/],
      ['tick.json', JSON.stringify({ timeline: [{ at: 0, enable: ['sched_*'] }] }), /timeline\[0\]\.at: must be an integer from 1/],
      ['noop.json', JSON.stringify({ timeline: [{ at: 5 }] }), /timeline\[0\]: does nothing/],
      [
        'opt.json',
        JSON.stringify({ plugins: { ringBuffer: { subbufSize: 100 } } }),
        /plugins\.ringBuffer: ring-buffer: option subbufSize must be a power of two from 128 to 2\^30, got 100/,
      ],
      [
        'geometry.json',
        JSON.stringify({ buffer: { numSubbuf: 3 } }),
        /plugins\.ringBuffer \(with buffer and events\): ring-buffer: option numSubbuf must be a power of two from 2 to 2\^30, got 3/,
      ],
      ['nobuf.json', JSON.stringify({ plugins: { ringBuffer: false }, events: ['sched_*'] }), /events: needs the ring buffer/],
      ['tracer.json', JSON.stringify({ plugins: { utrace: false }, tracers: { strace: true } }), /tracers\.strace: needs plugins\.utrace/],
      ['mode.json', JSON.stringify({ buffer: { mode: 'ring' } }), /buffer\.mode: must be 'discard' or 'overwrite'/],
      ['code.json', JSON.stringify({ extraPlugins: [] }), /extraPlugins: a JSON config cannot hold plugins/],
      ['broken.json', '{ "seed": ', /not valid JSON/],
      ['cfg.ts', 'export default {}', /a TypeScript config cannot be loaded on Node 20/],
    ];
    for (const [name, text, want] of cases) {
      const t = io();
      writeFileSync(join(t.cwd, name), text);
      expect(await run(t, ['run', '--config', name, '--out', 'o'])).toBe(2);
      expect(t.err.join('\n')).toMatch(new RegExp(`^tracelab: ${join(t.cwd, name).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: `));
      expect(t.err.join('\n')).toMatch(want);
      expect(existsSync(join(t.cwd, 'o'))).toBe(false);
    }
    const t = io();
    expect(await run(t, ['run', '--config', 'nowhere.json'])).toBe(2);
    expect(t.err.join('\n')).toMatch(/nowhere\.json: no such config file/);
    writeFileSync(join(t.cwd, 'w.json'), JSON.stringify({ workload: { module: './missing.mjs' } }));
    expect(await run(t, ['run', '--config', 'w.json'])).toBe(2);
    expect(t.err.join('\n')).toMatch(/the workload module could not be loaded/);
  });
});
