import { describe, expect, it } from 'vitest';
import { createKernel, definePlugin, emit, intMapGet, preemptDisable, schedPoint, type Kernel, type KPath, type Program } from '@tracelab/core';
import { markers, type MarkerProbe, type MarkerSite, type MarkersApi } from '@tracelab/markers';
import { SYSCALL_MARKERS, TIF_KERNEL_TRACE, ktrace } from '@tracelab/ktrace';
import { eventsOf, expectClean } from '@tracelab/testing';
import { forker, raceKernel } from './helpers.js';

/** A probe that records what the site passed it (probePrivate is the record list). */
const recorder: MarkerProbe = (probePrivate, _callPrivate, format, args) => {
  (probePrivate as Array<{ format: string; args: readonly unknown[] }>).push({ format, args: [...args] });
};

const busy: Program = function* busy(u) {
  yield u.syscall('getpid');
  yield u.syscall('write', { fd: 1, buf: 0x1000, count: 8 });
  yield u.compute(1);
  yield u.syscall('getppid');
};

/** Records grouped by their first argument (the pid), each group in its original order. */
function byPid(records: ReadonlyArray<readonly unknown[]>): Map<unknown, unknown[]> {
  const m = new Map<unknown, unknown[]>();
  for (const r of [...records].sort((a, b) => Number(a[0]) - Number(b[0]))) m.set(r[0], [...(m.get(r[0]) ?? []), r]);
  return m;
}

function connect(k: Kernel): { entries: Array<{ format: string; args: readonly unknown[] }>; exits: Array<{ format: string; args: readonly unknown[] }> } {
  const entries: Array<{ format: string; args: readonly unknown[] }> = [];
  const exits: Array<{ format: string; args: readonly unknown[] }> = [];
  expect(k.call(k.api.markers.probeRegister(SYSCALL_MARKERS.entry.name, SYSCALL_MARKERS.entry.format, recorder, entries))).toBe(0);
  expect(k.call(k.api.markers.probeRegister(SYSCALL_MARKERS.exit.name, SYSCALL_MARKERS.exit.format, recorder, exits))).toBe(0);
  return { entries, exits };
}

describe('the composed stack: ktrace decides who is traced, markers who listens', () => {
  it('defines kernel_syscall_entry/exit, and a flagged thread fires them with the syscall name and arguments', () => {
    // Stack order does not matter: markers, an optional dependency, registers first.
    const k = createKernel({ cpus: 2, seed: 5, plugins: [ktrace(), markers()] });
    const sites = k.api.markers.sites().map((s) => s.name);
    expect(sites).toContain('kernel_syscall_entry');
    expect(sites).toContain('kernel_syscall_exit');
    const { entries, exits } = connect(k);

    const before = k.spawn(busy, { comm: 'before' });
    k.run(); // unflagged: nothing reaches the probes
    expect(eventsOf(k, 'syscall/enter').filter((e) => e.pid === before).length).toBe(4); // 3 + exit_group
    expect(entries).toEqual([]);
    expect(exits).toEqual([]);

    const sh = k.spawn(function* sh(u) {
      yield u.sleep(20);
      yield* forker(2)(u);
    });
    k.call(k.api.ktrace.setKernelTraceFlagAllTasks());
    // Flagged by the walk if it had linked itself by then, else by its own fork tail.
    k.run({ until: (st) => intMapGet(st.tasks, sh)?.listed === true });
    expect(k.api.ktrace.isTraced(sh)).toBe(true);
    expectClean(k, k.run());

    // Every slow-path event has its marker call with the same content, in the same order per
    // thread (markers calls a probe after a scheduling point, so threads on two CPUs interleave).
    const kEntries = eventsOf(k, 'ktrace/syscall-entry');
    const kExits = eventsOf(k, 'ktrace/syscall-exit');
    expect(kEntries.length).toBeGreaterThan(8);
    expect(byPid(entries.map((r) => r.args))).toEqual(
      byPid(
        kEntries.map((e) => [
          e.pid,
          e.name,
          Object.entries(e.args)
            .map(([a, v]) => `${a}=${v}`)
            .join(' '),
        ]),
      ),
    );
    expect(byPid(exits.map((r) => r.args))).toEqual(byPid(kExits.map((e) => [e.pid, e.name, e.ret])));
    expect(entries[0]!.format).toBe('pid %d syscall %s args %s');
    expect(entries.some((r) => r.args[1] === 'write' && r.args[2] === 'fd=1 buf=4096 count=8')).toBe(true);
    // The forked children's first return to user (clone returning 0) is an exit on the slow path.
    expect(exits.some((r) => r.args[1] === 'clone' && r.args[2] === 0)).toBe(true);
  });

  it('with no probe connected the sites stay disarmed: ktrace still reports, nothing is called', () => {
    const k = createKernel({ cpus: 2, seed: 1, plugins: [markers(), ktrace()] });
    k.spawn(function* (u) {
      yield u.sleep(20);
      yield* busy(u);
    });
    k.call(k.api.ktrace.setKernelTraceFlagAllTasks());
    expectClean(k, k.run());
    expect(k.api.markers.site('kernel_syscall_entry')!.armed).toBe(false);
    // Flagged while asleep in nanosleep: that syscall's exit is on the slow path, not its entry.
    expect(eventsOf(k, 'ktrace/syscall-entry').map((e) => e.name)).toEqual(['getpid', 'write', 'getppid', 'exit_group']);
    expect(eventsOf(k, 'ktrace/syscall-exit').map((e) => e.name)).toEqual(['nanosleep', 'getpid', 'write', 'getppid']);
  });

  it('with markers disabled by an earlier oops, flagged syscalls are still traced and ktrace stays enabled', () => {
    const k = createKernel({ cpus: 2, seed: 3, plugins: [markers(), ktrace()] });
    const { entries, exits } = connect(k); // arms both sites
    // Disable markers as the core does: one of its reducers throws (a format change for an
    // entry that does not exist), the core logs an oops naming markers and disables it.
    k.call(
      (function* (): KPath<void> {
        yield* emit({ type: 'markers/format-set', name: 'no_such_marker', format: '%d' });
      })(),
    );
    expect(k.state.kernel.disabledPlugins.markers).toBeDefined();
    expect(k.api.markers.site(SYSCALL_MARKERS.entry.name)!.armed).toBe(true);

    const sh = k.spawn(function* sh(u) {
      yield u.sleep(20);
      yield* busy(u);
      yield* forker(1)(u);
    });
    k.call(k.api.ktrace.setKernelTraceFlagAllTasks());
    const result = k.run();
    expect(result.violations).toEqual([]);
    // The only oops is the one that disabled markers: ktrace was not blamed for it.
    expect(eventsOf(k, 'kernel/oops').map((e) => e.plugin)).toEqual(['markers']);
    expect(k.state.kernel.disabledPlugins.ktrace).toBeUndefined();
    const shEntries = eventsOf(k, 'ktrace/syscall-entry').filter((e) => e.pid === sh);
    expect(shEntries.map((e) => e.name).filter((n) => n !== 'nanosleep')).toEqual(['getpid', 'write', 'getppid', 'clone', 'wait4', 'exit_group']);
    // The fork re-copy still runs: the child is traced from its first return to user.
    const child = eventsOf(k, 'fork/dup').find((e) => e.parent === sh)!.child;
    expect(eventsOf(k, 'ktrace/syscall-exit').filter((e) => e.pid === child)[0]).toMatchObject({ name: 'clone', ret: 0 });
    // Nothing reached the probes, and each skipped firing is on record.
    expect(entries).toEqual([]);
    expect(exits).toEqual([]);
    const skipped = eventsOf(k, 'kernel/printk').filter((e) => e.text.includes(`${SYSCALL_MARKERS.entry.name} for pid ${sh} not fired: markers is disabled`));
    expect(skipped.length).toBe(shEntries.length);
  });

  it('a probe that throws does not take ktrace down: every flagged syscall is still traced', () => {
    const k = createKernel({ cpus: 2, seed: 3, plugins: [markers(), ktrace()] });
    const failing: MarkerProbe = () => {
      throw new Error('probe bug');
    };
    expect(k.call(k.api.markers.probeRegister(SYSCALL_MARKERS.entry.name, SYSCALL_MARKERS.entry.format, failing, null))).toBe(0);
    const sh = k.spawn(function* sh(u) {
      yield u.sleep(20);
      yield* busy(u);
      yield* forker(1)(u);
    });
    k.call(k.api.ktrace.setKernelTraceFlagAllTasks());
    const result = k.run();
    expect(result.violations).toEqual([]);
    expect(result.done).toBe(true);
    // Whether markers contains the probe itself or ktrace catches what comes out of mark,
    // ktrace is neither blamed nor disabled, and the preempt count is left balanced (no
    // "scheduling while atomic" oops).
    expect(k.state.kernel.disabledPlugins.ktrace).toBeUndefined();
    expect(eventsOf(k, 'kernel/oops').filter((e) => e.plugin !== 'markers')).toEqual([]);
    const shEntries = eventsOf(k, 'ktrace/syscall-entry').filter((e) => e.pid === sh);
    expect(shEntries.map((e) => e.name).filter((n) => n !== 'nanosleep')).toEqual(['getpid', 'write', 'getppid', 'clone', 'wait4', 'exit_group']);
    const child = eventsOf(k, 'fork/dup').find((e) => e.parent === sh)!.child;
    expect(k.log.some((e) => e.type === 'ktrace/syscall-entry' && e.pid === child)).toBe(true);
  });

  it('an error thrown out of mark is caught by ktrace: recorded, preemption re-enabled, ktrace still enabled', () => {
    // A stand-in for markers whose mark fails part-way, with preemption disabled (as marker_probe_cb
    // runs). The real markers now contains throwing probes itself; this keeps ktrace's own guard tested.
    const brokenMarkers = definePlugin<MarkersApi>({
      name: 'markers',
      version: '0.1.0',
      core: '^0.1.0',
      register: () =>
        ({
          defineMarker: (name: string, format: string) => ({ name, format, armed: true }) as unknown as MarkerSite,
          *mark(): KPath<void> {
            yield* preemptDisable();
            yield* schedPoint();
            throw new Error('mark blew up');
          },
        }) as unknown as MarkersApi,
    });
    const k = createKernel({ cpus: 2, seed: 3, plugins: [brokenMarkers, ktrace()] });
    const sh = k.spawn(function* sh(u) {
      yield u.sleep(20);
      yield* busy(u);
      yield* forker(1)(u);
    });
    k.call(k.api.ktrace.setKernelTraceFlagAllTasks());
    const result = k.run();
    expect(result.violations).toEqual([]);
    expect(result.done).toBe(true);
    expect(eventsOf(k, 'kernel/oops')).toEqual([]); // no plugin blamed, no "scheduling while atomic"
    expect(k.state.kernel.disabledPlugins).toEqual({});
    const shEntries = eventsOf(k, 'ktrace/syscall-entry').filter((e) => e.pid === sh);
    expect(shEntries.map((e) => e.name).filter((n) => n !== 'nanosleep')).toEqual(['getpid', 'write', 'getppid', 'clone', 'wait4', 'exit_group']);
    const failed = eventsOf(k, 'kernel/printk').filter((e) => e.text.includes(`${SYSCALL_MARKERS.entry.name} for pid ${sh} failed in markers: mark blew up`));
    expect(failed.length).toBe(shEntries.length);
  });

  it('a probe connected to a stack without ktrace never fires: nobody takes the slow path', () => {
    const k = createKernel({ cpus: 2, seed: 1, plugins: [markers()] });
    const entries: unknown[] = [];
    k.call(k.api.markers.probeRegister(SYSCALL_MARKERS.entry.name, SYSCALL_MARKERS.entry.format, recorder, entries));
    k.spawn(busy);
    expectClean(k, k.run());
    expect(entries).toEqual([]);
  });

  it('the race of the thread runs the same with markers in the stack: clean by default, each traced syscall heard', () => {
    for (let seed = 1; seed <= 40; seed++) {
      let entries: unknown[] = [];
      const k = raceKernel({ seed, extra: [markers()], before: (kk) => void ({ entries } = connect(kk)) });
      const result = k.run();
      expectClean(k, result);
      expect(entries.length).toBe(eventsOf(k, 'ktrace/syscall-entry').length);
      expect(entries.length).toBeGreaterThan(0);
      const flagged = k.log.filter((e) => e.type === 'task/flags' && e.set.includes(TIF_KERNEL_TRACE)).length;
      expect(flagged).toBeGreaterThan(0);
    }
  });
});
