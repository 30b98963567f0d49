import { createHash } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { createKernel, encodeSchedule, replay, replaySchedule, type KernelEvent } from '@tracelab/core';
import { defaultScale, explore, lenientReplay, runSchedule } from '@tracelab/explore';
import { catalog, scenario } from '@tracelab/scenarios';
import { rcuTasks } from '@tracelab/rcu-tasks';
import { srcu } from '@tracelab/srcu';
import { tracepoints } from '@tracelab/tracepoints';
import { describe, expect, it } from 'vitest';
import { BUNDLED_PLUGINS, counterexampleOf, loadLog, parseNdjson, renderViewer, stackOf, stateDigest, viewerBundle } from '../src/index.js';
import { Sha256 } from '../src/internal/sha256.js';
import { diffStates } from '../src/internal/page/diff.js';
import { ndjson, tracedRun } from './fixtures.js';

const run = tracedRun({ shells: 1, jobs: 3, files: 2 });
const text = ndjson(run);
const lines = text.split('\n').slice(0, -1);

describe('sha256 (the page hashes its log with it)', () => {
  it('equals node:crypto for empty, short, block-sized, multi-byte and long inputs, fed whole or in pieces', () => {
    const inputs = ['', 'abc', 'a'.repeat(55), 'a'.repeat(56), 'a'.repeat(64), 'x'.repeat(1000), 'é→☃ tracelab \u{1f600}', text.slice(0, 100_000)];
    for (const s of inputs) {
      expect(new Sha256().update(s).hex()).toBe(createHash('sha256').update(s).digest('hex'));
      const h = new Sha256();
      for (let i = 0; i < s.length; i += 37) h.update(s.slice(i, i + 37));
      expect(h.hex()).toBe(createHash('sha256').update(s).digest('hex'));
    }
  });

  it('copy() forks the hash: both go on independently', () => {
    const a = new Sha256().update('kernel/');
    const b = a.copy();
    a.update('created');
    b.update('oops');
    expect(a.hex()).toBe(createHash('sha256').update('kernel/created').digest('hex'));
    expect(b.hex()).toBe(createHash('sha256').update('kernel/oops').digest('hex'));
  });
});

describe('loadLog: the stack from the log header, and damaged logs', () => {
  it('rebuilds every bundled plugin from its recorded options: same hash as the run', () => {
    const loaded = loadLog(text);
    expect(loaded.error).toBeNull();
    expect(loaded.kernel!.logHash()).toBe(run.logHash());
    const registered = run.log.filter((e) => e.type === 'kernel/plugin-registered').map((e) => (e as KernelEvent<'kernel/plugin-registered'>).name);
    // memory-model, kprobes: the catalog's stacks below; srcu: the next test. (tracepoints is in
    // this stack: the ring buffer's tracepoints run on it.)
    expect(registered.sort()).toEqual(BUNDLED_PLUGINS.filter((p) => !['memory-model', 'kprobes', 'srcu'].includes(p)).sort());
  });

  it('rebuilds a stack with tracepoints and srcu, options included', () => {
    const k = createKernel({ cpus: 2, seed: 3, plugins: [rcuTasks(), tracepoints({ unsafe: ['free-immediately'] }), srcu({ retryDelay: 3 })] });
    k.spawn(function* (u) {
      yield u.syscall('getpid', {});
      yield u.exit(0);
    });
    k.run({ maxSteps: 10_000 });
    const loaded = loadLog(ndjson(k));
    expect(loaded.error).toBeNull();
    expect(loaded.kernel!.logHash()).toBe(k.logHash());
    expect(stackOf(k.log).map((p) => (p ? p.name : null))).toEqual(['rcu-tasks', 'tracepoints', 'srcu']);
  });

  it("rebuilds the catalog's stacks, unsafe variants' options included", () => {
    for (const sc of catalog.values()) {
      for (const v of sc.variants) {
        // The all-defaults schedule of each variant.
        const r = runSchedule(sc, v.name, defaultScale(sc), lenientReplay([]));
        const log = r.kernel.log.map((e) => JSON.stringify(e)).join('\n') + '\n';
        const loaded = loadLog(log);
        expect(loaded.error, `${sc.name} ${v.name}`).toBeNull();
        expect(loaded.kernel!.logHash(), `${sc.name} ${v.name}`).toBe(r.kernel.logHash());
      }
    }
  });

  it('a log cut inside a line: the events before it, and the line', () => {
    const cut = lines.slice(0, 99).join('\n') + '\n' + lines[99]!.slice(0, 20);
    const loaded = loadLog(cut);
    expect(loaded.error).toMatchObject({ line: 100, code: 'LOG_TRUNCATED' });
    expect(loaded.events.length).toBe(99);
    expect(loaded.kernel!.logHash()).toBe(replay(lines.slice(0, 99).join('\n') + '\n', { plugins: stackOf(run.log) }).logHash());
  });

  it('bad JSON, a sequence gap and an undeclared type each stop the log at their line', () => {
    const at = (i: number, body: string) => [...lines.slice(0, i), body, ...lines.slice(i + 1)].join('\n') + '\n';
    expect(loadLog(at(40, '{"seq":')).error).toMatchObject({ line: 41, code: 'LOG_CORRUPT' });
    expect(loadLog(at(40, '{"seq":')).events.length).toBe(40);
    const e40 = JSON.parse(lines[40]!) as Record<string, unknown>;
    const gap = loadLog(at(40, JSON.stringify({ ...e40, seq: 41 })));
    expect(gap.error).toMatchObject({ line: 41, code: 'LOG_SEQUENCE' });
    expect(gap.kernel!.log.length).toBe(40);
    const alien = loadLog(at(40, JSON.stringify({ ...e40, type: 'nobody/knows' })));
    expect(alien.error).toMatchObject({ line: 41, code: 'LOG_INVALID_EVENT' });
    expect(alien.kernel!.log.length).toBe(40);
  });

  it('a plugin the viewer does not bundle: VIEWER_UNKNOWN_PLUGIN at its registration line', () => {
    const e = JSON.parse(lines[7]!) as Record<string, unknown>;
    expect(e['type']).toBe('kernel/plugin-registered');
    const changed = [...lines.slice(0, 7), JSON.stringify({ ...e, name: 'lttng-modules' }), ...lines.slice(8)].join('\n') + '\n';
    const loaded = loadLog(changed);
    expect(loaded.error).toMatchObject({ line: 8, code: 'VIEWER_UNKNOWN_PLUGIN' });
    expect(loaded.events.length).toBe(7);
  });

  it('parseNdjson: an empty line in the middle is corrupt, a final newline is not', () => {
    expect(parseNdjson('{"a":1}\n\n{"a":2}\n').error).toMatchObject({ line: 2, code: 'LOG_CORRUPT' });
    expect(parseNdjson('{"a":1}\n{"a":2}\n')).toEqual({ events: [{ a: 1 }, { a: 2 }], error: null });
  });
});

describe('state digests and diffs', () => {
  const kernel = loadLog(text).kernel!;

  it('the digest of a replayed state equals the live kernel state, and moves when the state moves', () => {
    for (const seq of [0, 50, 200, run.log.length - 1]) expect(stateDigest(kernel.stateAt(seq))).toBe(stateDigest(run.stateAt(seq)));
    const sw = run.log.find((e) => e.type === 'sched/switch')!;
    expect(stateDigest(kernel.stateAt(sw.seq))).not.toBe(stateDigest(kernel.stateAt(sw.seq - 1)));
  });

  it('a context switch shows as the CPU changing task; an unchanged state has no diff', () => {
    const sw = run.log.find((e) => e.type === 'sched/switch' && (e as KernelEvent<'sched/switch'>).next !== 0) as KernelEvent<'sched/switch'>;
    const changes = diffStates(kernel.stateAt(sw.seq - 1), kernel.stateAt(sw.seq));
    expect(changes).toContainEqual({ path: `cpus[${sw.cpu}].curr`, before: sw.prev, after: sw.next });
    expect(changes).toContainEqual({ path: `tasks[${sw.next}].state`, before: 'runnable', after: 'running' });
    // The runqueue, a list of pids, is one change: the task left it.
    const rq = changes.find((c) => c.path === 'runqueue')!;
    expect(rq.before).toContain(sw.next);
    expect(rq.after).not.toContain(sw.next);
    expect(diffStates(kernel.stateAt(10), kernel.stateAt(10))).toEqual([]);
    // Copies with the same values are no change; a changed element of a nested list is one.
    expect(diffStates({ rq: [1, 2], l: { w: [] } }, { rq: [1, 2], l: { w: [] } })).toEqual([]);
    expect(diffStates({ rq: [1, 2] }, { rq: [2, 1] })).toEqual([{ path: 'rq', before: [1, 2], after: [2, 1] }]);
  });
});

describe('renderViewer', () => {
  it('carries the log byte for byte, and nothing that ends a script early or loads a resource', () => {
    const log = lines.slice(0, 30).join('\n') + '\n' + JSON.stringify({ type: 'x', seq: 30, time: 0, cpu: 0, text: '</script><!-- <script>' }) + '\n{"cut';
    const html = renderViewer({ log, meta: { title: 'a </title> test', violations: [{ name: 'x', message: '</script>', seq: 1 }] } });
    const m = /<script type="application\/gzip;base64" id="tl-log">([A-Za-z0-9+/=]*)<\/script>/.exec(html)!;
    expect(gunzipSync(Buffer.from(m[1]!, 'base64')).toString('utf8')).toBe(log);
    const meta = /<script type="application\/json" id="tl-meta">([\s\S]*?)<\/script>/.exec(html)!;
    expect(meta[1]!.includes('<')).toBe(false);
    expect(JSON.parse(meta[1]!).violations[0].message).toBe('</script>');
    expect(html).not.toContain('a </title> test');
    // Nothing to fetch: no element loads a resource.
    expect(html).not.toMatch(/<(script|link|img|iframe)[^>]+(src|href)=/);
  });

  it('is at most 1.5 times the log plus the bundle', () => {
    const html = renderViewer({ log: text });
    expect(Buffer.byteLength(html)).toBeLessThanOrEqual(1.5 * Buffer.byteLength(text) + Buffer.byteLength(viewerBundle()));
  });
});

describe('counterexampleOf', () => {
  it("gives one step per choice of the failing schedule, at the log positions of explore's own run", () => {
    const sc = scenario('fork-flag-race');
    const r = explore(sc, { variant: 'no-recopy', budget: 300 });
    const f = r.failure!;
    const view = counterexampleOf(sc, f.replay);
    expect(view.logHash).toBe(f.logHash);
    expect(view.violation).toMatchObject({ name: f.invariant, seq: f.log.length - 1 });
    expect(view.counterexample.preemptions).toBe(f.preemptions);
    // Every choice replayed through the core's own replaySchedule gives the same log.
    const values = view.counterexample.steps.map((s) => s.value);
    const k = createKernel({ cpus: sc.cpus, seed: 1, plugins: sc.plugins('no-recopy'), strategy: replaySchedule(encodeSchedule(values)) });
    sc.setup(k, { variant: 'no-recopy', scale: f.scale });
    k.run({ maxSteps: sc.maxSteps });
    expect(k.logHash()).toBe(f.logHash);
    const ats = view.counterexample.steps.map((s) => s.at);
    expect(ats).toEqual([...ats].sort((a, b) => a - b));
    expect(ats.every((a) => a >= 0 && a <= f.log.length)).toBe(true);
  });
});

describe('the lanes mark interrupts', () => {
  it('each irq/entry is an irq mark on its CPU at its event, labelled by the interrupt', async () => {
    const { buildModel } = await import('../src/internal/page/model.js');
    const k = createKernel({ cpus: 2, seed: 4, interrupts: { timer: { period: 3 }, nmi: { period: 7 } } });
    k.spawnKthread(
      (function* () {
        for (let i = 0; i < 60; i++) yield* [];
      })(),
    );
    k.spawn(function* busy(u) {
      yield u.compute(80);
    });
    k.run({ maxSteps: 2_000 });
    const entries = k.log.filter((e): e is KernelEvent<'irq/entry'> => e.type === 'irq/entry');
    expect(new Set(entries.map((e) => e.name))).toEqual(new Set(['timer', 'nmi']));
    const marks = buildModel(k.log).marks.filter((m) => m.kind === 'irq');
    expect(marks.map((m) => [m.cpu, m.seq, m.label])).toEqual(entries.map((e) => [e.cpu, e.seq, `${e.name} interrupt`]));
  });
});
