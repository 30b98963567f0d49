import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { readCtfTrace, validateChromeTrace } from '@tracelab/formats';
import { main } from '@tracelab/cli';
import { parseExploreArgs } from '../src/explore.js';

function io() {
  const cwd = mkdtempSync(join(tmpdir(), 'tracelab-explore-'));
  const out: string[] = [];
  const err: string[] = [];
  const progress: string[] = [];
  return {
    cwd,
    out,
    err,
    progress,
    io: { cwd, out: (t: string) => void out.push(t), err: (t: string) => void err.push(t), progress: (t: string) => void progress.push(t) },
  };
}

describe('tracelab explore', () => {
  it('says when it started fewer workers than asked (capped at the CPUs and the chunks in the budget)', () => {
    const t = io();
    expect(main(['explore', 'fork-flag-race', '--variant', 'fixed', '--budget', '32', '--workers', '100'], t.io)).toBe(0);
    expect(t.out.join('\n')).toMatch(/[12] worker\(s\) \(100 workers asked, [12] started: /);
  });

  it('finds the unsafe variant: exit 1, the trace per CPU, the replay string, events.ndjson and trace.json; replay reproduces it', () => {
    const t = io();
    expect(main(['explore', 'fork-flag-race', '--variant', 'no-recopy', '--budget', '200'], t.io)).toBe(1);
    const text = t.out.join('\n');
    expect(text).toMatch(/VIOLATION ktrace\/flag/);
    expect(text).toMatch(/cpu0 .*\| cpu1/);
    const replayString = /replay string {2}(\S+)/.exec(text)![1]!;
    const hash = /log hash {7}([0-9a-f]{64})/.exec(text)![1]!;
    expect(replayString.length).toBeLessThan(100);
    expect(t.progress.some((p) => /schedules/.test(p))).toBe(true);
    const log = readFileSync(join(t.cwd, 'tracelab-explore', 'events.ndjson'), 'utf8');
    expect(createHash('sha256').update(log).digest('hex')).toBe(hash);
    expect(validateChromeTrace(JSON.parse(readFileSync(join(t.cwd, 'tracelab-explore', 'trace.json'), 'utf8')))).toEqual([]);

    const r = io();
    expect(main(['replay', 'fork-flag-race', replayString, '--json'], r.io)).toBe(1);
    const j = JSON.parse(r.out.join('\n'));
    expect(j.violation.name).toBe('ktrace/flag');
    expect(j.logHash).toBe(hash);
  });

  it("writes the failing run's CTF trace for a scenario with the ring buffer: the damaged sub-buffer is the packet that never arrives", () => {
    const t = io();
    expect(main(['explore', 'commit-after-migration', '--variant', 'local-only', '--budget', '300'], t.io)).toBe(1);
    const text = t.out.join('\n');
    expect(text).toMatch(/VIOLATION ring-buffer\/delivery: .*a commit was lost/);
    expect(text).toMatch(/wrote .*ctf\/ \(kernel\/metadata, kernel\/channel0_0, kernel\/channel0_1\): the failing schedule re-run to its end/);
    const damaged = Number(/VIOLATION ring-buffer\/delivery: cpu (\d) sub-buffer/.exec(text)![1]);
    const ctf = readCtfTrace(join(t.cwd, 'tracelab-explore', 'ctf'));
    expect(ctf.errors).toEqual([]);
    // Every open was recorded, but the records of the sub-buffer whose commit was lost never
    // reach the consumer: that CPU's stream has no packet, the other's does.
    const packets = ctf.streams.map((st) => st.packets);
    expect(packets[damaged]).toBe(0);
    expect(packets[1 - damaged]).toBeGreaterThan(0);
    expect(ctf.events.length).toBeGreaterThan(0);
    const j = io();
    expect(main(['explore', 'commit-after-migration', '--variant', 'local-only', '--budget', '300', '--json'], j.io)).toBe(1);
    expect(JSON.parse(j.out.join('\n')).failure.ctf).toMatchObject({ files: ['kernel/metadata', 'kernel/channel0_0', 'kernel/channel0_1'], done: true });
  });

  it('says so, and writes no ctf/, when the scenario has no ring buffer', () => {
    const t = io();
    expect(main(['explore', 'detach-during-callback', '--variant', 'no-barrier', '--budget', '100'], t.io)).toBe(1);
    expect(t.out.join('\n')).toMatch(/ctf {12}none: this scenario's stack has no ring buffer/);
    expect(existsSync(join(t.cwd, 'tracelab-explore', 'events.ndjson'))).toBe(true);
    expect(existsSync(join(t.cwd, 'tracelab-explore', 'ctf'))).toBe(false);
  });

  it('exits 0 when the fixed variant is clean within the budget; --json prints the result', () => {
    const t = io();
    expect(main(['explore', 'marker-array-free', '--variant', 'fixed', '--budget', '40', '--json'], t.io)).toBe(0);
    const j = JSON.parse(t.out.join('\n'));
    expect(j).toMatchObject({ scenario: 'marker-array-free', variant: 'fixed', found: false, schedules: 40, failure: null });
    const d = io();
    expect(main(['explore', 'fork-flag-race', '--variant', 'fixed', '--strategy', 'dfs', '--bound', '0'], d.io)).toBe(0);
    expect(d.out.join('\n')).toMatch(/no violation in the whole tree within preemption bound 0/);
  });

  it('explore, replay and scenarios --help show their own usage lines, whole (not lines cut from another command)', () => {
    const help = (cmd: string): string => {
      const t = io();
      expect(main([cmd, '--help'], t.io)).toBe(0);
      return t.out.join('\n');
    };
    const ex = help('explore');
    expect(ex).toContain('[--reduction R]');
    expect(ex).toMatch(/--strategy dpor \(budget 1000000/);
    expect(ex).toMatch(/--time-limit stops a dfs or dpor/);
    expect(ex).toMatch(/e\.g\. its smallest for a full verification/);
    const rp = help('replay');
    expect(rp).toContain('tracelab replay <scenario> <replay-string> [--json]');
    expect(rp).not.toMatch(/DIR\/ctf|--coverage/);
    const sc = help('scenarios');
    expect(sc).toContain('the catalog of races with their variants');
    expect(sc).not.toMatch(/--coverage|--strategy/);
  });

  it('--reduction visible-steps: the dfs skips preemptions before task-local steps and says what its verdict rests on; bad values and other strategies are refused', () => {
    const tree = (extra: string[]) => {
      const t = io();
      expect(main(['explore', 'fork-flag-race', '--variant', 'fixed', '--strategy', 'dfs', '--bound', '1', '--json', ...extra], t.io)).toBe(0);
      return JSON.parse(t.out.join('\n'));
    };
    const sound = tree([]);
    const reduced = tree(['--reduction', 'visible-steps']);
    expect(sound).toMatchObject({ complete: true, found: false, dfs: { reduction: 'none', reduced: 0 } });
    expect(reduced).toMatchObject({ complete: true, found: false, dfs: { reduction: 'visible-steps' } });
    expect(reduced.dfs.reduced).toBeGreaterThan(0);
    expect(reduced.schedules).toBeLessThan(sound.schedules);
    const text = io();
    expect(main(['explore', 'fork-flag-race', '--variant', 'fixed', '--strategy', 'dfs', '--bound', '1', '--reduction', 'visible-steps'], text.io)).toBe(0);
    expect(text.out.join('\n')).toMatch(
      new RegExp(
        `within preemption bound 1 \\(${reduced.schedules} schedules, visible-step reduction: ${reduced.dfs.reduced} alternatives skipped, sound only if`,
      ),
    );
    const plain = io();
    expect(main(['explore', 'fork-flag-race', '--variant', 'fixed', '--strategy', 'dfs', '--bound', '0'], plain.io)).toBe(0);
    expect(plain.out.join('\n')).not.toMatch(/visible-step/);
    const badValue = io();
    expect(main(['explore', 'fork-flag-race', '--variant', 'fixed', '--strategy', 'dfs', '--reduction', 'visible'], badValue.io)).toBe(2);
    expect(badValue.err.join('\n')).toMatch(/--reduction must be one of none, visible-steps, got "visible"/);
    const dpor = io();
    expect(main(['explore', 'fork-flag-race', '--variant', 'fixed', '--strategy', 'dpor', '--reduction', 'none'], dpor.io)).toBe(2);
    expect(dpor.err.join('\n')).toMatch(/--reduction applies to --strategy dfs, not dpor/);
  }, 60_000);

  it('--strategy dpor: "verified" with the trace and schedule counts when the search completes (text and --json); "not verified" when the budget ends it', () => {
    const t = io();
    expect(main(['explore', 'fork-flag-race', '--variant', 'fixed', '--strategy', 'dpor', '--bound', '0'], t.io)).toBe(0);
    const m = /verified: every interleaving up to 0 preemptions \((\d+) traces?, (\d+) schedules? run\)/.exec(t.out.join('\n'));
    expect(m).not.toBeNull();
    // A tree with races says what made them, the largest first, as --json's dpor.backtrackReasons.
    const b = io();
    expect(main(['explore', 'fork-flag-race', '--variant', 'fixed', '--strategy', 'dpor', '--bound', '1'], b.io)).toBe(0);
    const line = /backtracks by {2}(.*) \(what added DPOR's backtrack points/.exec(b.out.join('\n'));
    expect(line, b.out.join('\n')).not.toBeNull();
    const counts = line![1]!.split(', ').map((x) => Number(x.split(' ').at(-1)));
    expect(counts.length).toBeGreaterThan(0);
    expect([...counts].sort((x, y) => y - x)).toEqual(counts);
    const j = io();
    expect(main(['explore', 'fork-flag-race', '--variant', 'fixed', '--strategy', 'dpor', '--bound', '0', '--json'], j.io)).toBe(0);
    const r = JSON.parse(j.out.join('\n'));
    expect(r).toMatchObject({ strategy: 'dpor', complete: true, verified: true, found: false, schedules: Number(m![2]) });
    expect(r.dpor).toMatchObject({ bound: 0, traces: Number(m![1]) });
    const cut = io();
    expect(main(['explore', 'fork-flag-race', '--variant', 'fixed', '--strategy', 'dpor', '--bound', '2', '--budget', '3'], cut.io)).toBe(0);
    expect(cut.out.join('\n')).toMatch(/no violation in 3 schedules run of the dpor search \(budget spent\): not verified/);
    // A bounded search that stops short gets no run-length hint; an unbounded one does, with its
    // runs' mean length (steps over schedules, as --json gives them).
    expect(cut.out.join('\n')).not.toMatch(/runs of about/);
    const u = io();
    expect(main(['explore', 'trampoline-free', '--variant', 'fixed', '--strategy', 'dpor', '--scale', '1', '--budget', '5'], u.io)).toBe(0);
    const uj = io();
    expect(main(['explore', 'trampoline-free', '--variant', 'fixed', '--strategy', 'dpor', '--scale', '1', '--budget', '5', '--json'], uj.io)).toBe(0);
    const ur = JSON.parse(uj.out.join('\n'));
    expect(ur).toMatchObject({ complete: false, schedules: 5 });
    const hint = /runs of about (\d+) steps: on two CPUs the catalog's unbounded searches end for runs of up to about 25 steps.*--bound 2 verifies/.exec(
      u.out.join('\n'),
    );
    expect(hint, u.out.join('\n')).not.toBeNull();
    expect(Number(hint![1])).toBe(Math.round(ur.steps / ur.schedules));
    expect(Number(hint![1])).toBeGreaterThan(30);
    // A complete unbounded search has none either.
    const done = io();
    expect(main(['explore', 'utrace-exit-flags', '--variant', 'fixed', '--strategy', 'dpor'], done.io)).toBe(0);
    expect(done.out.join('\n')).toMatch(/verified: all \d+ traces/);
    expect(done.out.join('\n')).not.toMatch(/runs of about/);
  });

  it('a clean search whose runs were cut at maxSteps says so beside its verdict (text), and counts them (--json cut)', async () => {
    const capped = `${join(__dirname, '../../explore/test/fixtures/capped.mjs')}#capped`;
    for (const argv of [
      ['--strategy', 'dpor', '--bound', '1'],
      ['--strategy', 'dfs', '--bound', '1'],
      ['--strategy', 'random', '--budget', '7'],
    ]) {
      const t = io();
      expect(await main(['explore', capped, '--variant', 'fixed', ...argv], t.io), argv.join(' ')).toBe(0);
      const j = io();
      expect(await main(['explore', capped, '--variant', 'fixed', ...argv, '--json'], j.io)).toBe(0);
      const r = JSON.parse(j.out.join('\n'));
      expect(r.found).toBe(false);
      expect(r.cut, argv.join(' ')).toBe(r.schedules);
      expect(t.out.join('\n')).toMatch(new RegExp(`\\n {2}${r.cut} runs? cut at maxSteps with no violation: the verdict covers`));
    }
    // A catalog search with no cut run prints no such line.
    const clean = io();
    expect(main(['explore', 'fork-flag-race', '--variant', 'fixed', '--strategy', 'dpor', '--bound', '0'], clean.io)).toBe(0);
    expect(clean.out.join('\n')).not.toMatch(/cut at maxSteps/);
  });

  it('a dpor search whose runs were cut with a CPU starved says verified only up to maxSteps, and how many were cut (--json verified false)', async () => {
    // sleep-poll: DPOR's reversed races leave runs where the default keeps a sleeping poller's
    // CPU and starves the other until maxSteps. DPOR searches their continuations within the
    // fairness window, not past it, so the runs stay counted as cut (docs/explore.md §4a).
    const poll = `${join(__dirname, '../../explore/test/fixtures/sleep-poll.mjs')}#sleepPoll`;
    const t = io();
    expect(await main(['explore', poll, '--variant', 'any', '--strategy', 'dpor'], t.io)).toBe(0);
    const j = io();
    expect(await main(['explore', poll, '--variant', 'any', '--strategy', 'dpor', '--json'], j.io)).toBe(0);
    const r = JSON.parse(j.out.join('\n'));
    // Complete and clean, but not a full verdict: the cut runs' continuations past the window were not searched.
    expect(r).toMatchObject({ found: false, complete: true, verified: false });
    expect(r.cut).toBeGreaterThan(0);
    expect(r.dpor.backtrackReasons.starved).toBeGreaterThan(0);
    const text = t.out.join('\n');
    expect(text).toMatch(/verified up to maxSteps: all \d+ traces/);
    expect(text).not.toMatch(/verified: all/);
    expect(text).toMatch(new RegExp(`\\n {2}${r.cut} runs? cut at maxSteps with no violation: the verdict covers`));
  });

  it('--time-limit stops a dfs or dpor search and says so (not verified); a seeded strategy refuses it', () => {
    // The clock, driven: the first few reads (the progress line's, the deadline's, the first
    // schedule's check) at 0, then an hour later: the second second has passed.
    const timed = (argv: string[]) => {
      const now = vi.spyOn(performance, 'now').mockReturnValueOnce(0).mockReturnValueOnce(0).mockReturnValueOnce(0).mockReturnValue(3_600_000);
      try {
        const t = io();
        expect(main(argv, t.io)).toBe(0);
        return t.out.join('\n');
      } finally {
        now.mockRestore();
      }
    };
    const r = JSON.parse(timed(['explore', 'trampoline-free', '--variant', 'fixed', '--strategy', 'dpor', '--time-limit', '1', '--json']));
    expect(r).toMatchObject({ complete: false, verified: false, stoppedBy: 'time', found: false });
    expect(r.schedules).toBeLessThanOrEqual(2);
    expect(timed(['explore', 'trampoline-free', '--variant', 'fixed', '--strategy', 'dfs', '--time-limit', '1'])).toMatch(
      /no violation in [12] schedules of the bound-2 tree \(time limit reached\)/,
    );
    const seeded = io();
    expect(main(['explore', 'trampoline-free', '--variant', 'fixed', '--time-limit', '1'], seeded.io)).toBe(2);
    expect(seeded.err.join('\n')).toMatch(/--time-limit applies to --strategy dfs or dpor, not portfolio/);
    const zero = io();
    expect(main(['explore', 'trampoline-free', '--variant', 'fixed', '--strategy', 'dpor', '--time-limit', '0'], zero.io)).toBe(2);
    expect(zero.err.join('\n')).toMatch(/--time-limit must be an integer >= 1, got "0"/);
  }, 60_000);

  it('--scale sets the scale knob: an unbounded dpor verification at the smallest scale says the scale; a scenario without a knob, or a scale out of range, is refused', async () => {
    const t = io();
    expect(main(['explore', 'marker-publish', '--variant', 'fixed', '--strategy', 'dpor', '--scale', '1', '--budget', '20000'], t.io)).toBe(0);
    // marker-publish declares its CPUs interchangeable: the traces are one of each mirror-image pair.
    const m =
      /verified: all (\d+) traces \((\d+) schedules run\), at probes 1, up to swapping the CPUs; determinism self-check (\d+) re-runs ok, (\d+) mirror images alike/.exec(
        t.out.join('\n'),
      );
    expect(m, t.out.join('\n')).not.toBeNull();
    // Schedule 0 and every 16th after it is re-run mirrored.
    expect(Number(m![4])).toBe(Math.ceil(Number(m![2]) / 16));
    const j = io();
    expect(main(['explore', 'marker-publish', '--variant', 'fixed', '--strategy', 'dpor', '--bound', '1', '--scale', '1', '--json'], j.io)).toBe(0);
    expect(JSON.parse(j.out.join('\n'))).toMatchObject({ scale: 1, complete: true, verified: true });
    const none = io();
    expect(main(['explore', 'utrace-exit-flags', '--variant', 'fixed', '--scale', '1'], none.io)).toBe(2);
    expect(none.err.join('\n')).toMatch(/--scale: scenario utrace-exit-flags has no scale knob/);
    const low = io();
    expect(main(['explore', 'marker-publish', '--variant', 'fixed', '--scale', '0'], low.io)).toBe(2);
    expect(low.err.join('\n')).toMatch(/--scale \(probes\) must be from 1 to 64 for scenario marker-publish, got 0/);
    const high = io();
    expect(await main(['explore', 'marker-publish', '--variant', 'fixed', '--scale', '65', '--shard', '0/1'], high.io)).toBe(2);
    expect(high.err.join('\n')).toMatch(/--scale \(probes\) must be from 1 to 64 for scenario marker-publish, got 65/);
    // A shard runs at the scale asked, and the merged result says it.
    const sh = io();
    const file = join(sh.cwd, 'shard.json');
    expect(
      await main(['explore', 'marker-publish', '--variant', 'fixed', '--budget', '32', '--scale', '1', '--shard', '0/1', '--result', file, '--json'], sh.io),
    ).toBe(0);
    const merged = io();
    expect(await main(['merge', file, '--json'], merged.io)).toBe(0);
    expect(JSON.parse(merged.out.join('\n'))).toMatchObject({ scale: 1, schedules: 32, found: false });
  }, 120_000);

  it('--strategy dpor finds an unsafe variant and prints a replay string that replays it exactly', () => {
    const t = io();
    expect(main(['explore', 'fork-flag-race', '--variant', 'no-recopy', '--strategy', 'dpor', '--bound', '2', '--json'], t.io)).toBe(1);
    const r = JSON.parse(t.out.join('\n'));
    expect(r.found).toBe(true);
    expect(r.failure.foundBy).toBe('dpor(bound=2)');
    const again = io();
    expect(main(['replay', 'fork-flag-race', r.failure.replay, '--json'], again.io)).toBe(1);
    expect(JSON.parse(again.out.join('\n')).logHash).toBe(r.failure.logHash);
  });

  it('--coverage counts the races the schedules met and those met in both orders (text and --json); without it there is none', () => {
    const t = io();
    expect(main(['explore', 'trampoline-free', '--variant', 'fixed', '--budget', '64', '--coverage'], t.io)).toBe(0);
    const m = /races met +(\d+) pairs of conflicting steps of two CPUs, (\d+) in both orders/.exec(t.out.join('\n'));
    expect(m).not.toBeNull();
    expect(Number(m![1])).toBeGreaterThan(0);
    expect(Number(m![2])).toBeLessThanOrEqual(Number(m![1]));
    const j = io();
    expect(main(['explore', 'trampoline-free', '--variant', 'fixed', '--budget', '64', '--coverage', '--json'], j.io)).toBe(0);
    expect(JSON.parse(j.out.join('\n')).races).toMatchObject({ races: Number(m![1]), bothOrders: Number(m![2]) });
    const n = io();
    expect(main(['explore', 'trampoline-free', '--variant', 'fixed', '--budget', '64', '--json'], n.io)).toBe(0);
    expect(JSON.parse(n.out.join('\n')).races).toBeNull();
  });

  it('exits 2 on bad usage, naming what is known', () => {
    const a = io();
    expect(main(['explore', 'nope', '--variant', 'x'], a.io)).toBe(2);
    expect(a.err.join('\n')).toMatch(
      /unknown scenario "nope"; scenarios: fork-flag-race, marker-array-free, detach-during-callback, trampoline-free, commit-after-migration/,
    );
    const b = io();
    expect(main(['explore', 'fork-flag-race', '--variant', 'x'], b.io)).toBe(2);
    expect(b.err.join('\n')).toMatch(/no variant "x"; variants: fixed, no-recopy, rcu-walk/);
    const c = io();
    expect(main(['explore', 'fork-flag-race'], c.io)).toBe(2);
    expect(c.err.join('\n')).toMatch(/needs --variant/);
    const d = io();
    expect(main(['replay', 'fork-flag-race', 'garbage'], d.io)).toBe(2);
    const e = io();
    expect(main(['explore', 'fork-flag-race', '--variant', 'fixed', '--strategy', 'magic'], e.io)).toBe(2);
  });
});

describe('tracelab scenarios', () => {
  it('lists the catalog with each variant, fixed or unsafe', () => {
    const t = io();
    expect(main(['scenarios'], t.io)).toBe(0);
    const text = t.out.join('\n');
    expect(text).toMatch(/^fork-flag-race /m);
    expect(text).toMatch(/^fork-flag-race .*\n {4}scale: children, default 2, from 1 to \d+$/m);
    expect(text).not.toMatch(/^utrace-exit-flags .*\n {4}scale:/m);
    // Which scenarios have interchangeable CPUs (dpor's symmetry rule).
    expect(text).toMatch(/^fork-flag-race .*\n.*\n {4}cpus: 2, interchangeable/m);
    expect(text).not.toMatch(/^trampoline-free .*\n(.*\n)? {4}cpus:/m);
    expect(text).toMatch(/^ {4}no-recopy +unsafe/m);
    expect(text).toMatch(/^ {4}fixed +fixed/m);
    expect(text).toMatch(/^marker-array-free /m);
    expect(text).toMatch(/free-immediately +unsafe/);
    expect(text).toMatch(/^trampoline-free /m);
    expect(text).toMatch(/^ {4}no-rude +unsafe/m);
    expect(text).toMatch(/^commit-after-migration /m);
    expect(text).toMatch(/^ {4}temporary-buffer +fixed/m);
    expect(text).toMatch(/^detach-during-callback /m);
    expect(text).toMatch(/^ {4}no-barrier +unsafe/m);
  });
});

describe('a scenario of your own, by module path (path/to/file.mjs#exportName)', () => {
  const fixture = join(__dirname, '../../explore-queue/test/fixtures/my-race.mjs');

  it('explore finds its unsafe variant (exit 1) and its fixed one comes out clean (exit 0); replay takes the same path and reproduces the failure', async () => {
    const t = io();
    expect(await main(['explore', `${fixture}#myRace`, '--variant', 'no-recopy', '--budget', '200', '--out', 'found'], t.io)).toBe(1);
    const text = t.out.join('\n');
    expect(text).toMatch(/VIOLATION ktrace\/flag/);
    const replayString = /replay string {2}(\S+)/.exec(text)![1]!;
    // The printed command names the module, as typed, so it can be pasted back.
    expect(text).toContain(`re-run with    tracelab replay ${fixture}#myRace '${replayString}'`);
    expect(existsSync(join(t.cwd, 'found', 'events.ndjson'))).toBe(true);
    const r = io();
    expect(await main(['replay', `${fixture}#myRace`, replayString], r.io)).toBe(1);
    expect(r.out.join('\n')).toMatch(/VIOLATION ktrace\/flag/);
    const c = io();
    expect(await main(['explore', `${fixture}#myRace`, '--variant', 'fixed', '--budget', '100', '--workers', '2'], c.io)).toBe(0);
  });

  it('a module that is not there, or an export that is not a scenario, is a coded error (exit 2)', async () => {
    const t = io();
    expect(await main(['explore', './nowhere.mjs#x', '--variant', 'fixed'], t.io)).toBe(2);
    expect(t.err.join('\n')).toMatch(/^tracelab: cannot import scenario module .*nowhere\.mjs/);
    const u = io();
    expect(await main(['explore', `${fixture}#nothing`, '--variant', 'fixed'], u.io)).toBe(2);
    expect(u.err.join('\n')).toMatch(/exports no scenario named nothing/);
  });
});

describe('tracelab explore --audit: dpor against the unreduced dfs on a stack of your own', () => {
  const fixture = join(__dirname, '../../explore/test/fixtures/stash-read.mjs');

  it('exits 1 and prints a replay of each final state dpor missed when a plugin writes its outside data without an event; replay reaches it', async () => {
    const t = io();
    expect(await main(['explore', `${fixture}#stashRead`, '--variant', 'silent', '--audit'], t.io)).toBe(1);
    const text = t.out.join('\n');
    expect(text).toMatch(/--audit: dpor against the unreduced dfs, bound 1/);
    expect(text).toMatch(/DISAGREES: dpor missed 1 final state or violation/);
    expect(text).toMatch(/dpor: \d+ schedules, 2 final states, no violation/);
    expect(text).toMatch(/dfs: {2}\d+ schedules, 3 final states, no violation/);
    const replayString = /missed final state [0-9a-f]{16}: tracelab replay \S+ '([^']+)'/.exec(text)![1]!;
    const r = io();
    expect(await main(['replay', `${fixture}#stashRead`, replayString, '--json'], r.io)).toBe(0);
    expect(JSON.parse(r.out.join('\n')).done).toBe(true);
  });

  it('a dpor search that verifies a stack of your own says how to audit it; a catalog one does not', async () => {
    const t = io();
    expect(await main(['explore', `${fixture}#stashRead`, '--variant', 'evented', '--strategy', 'dpor', '--bound', '1'], t.io)).toBe(0);
    expect(t.out.join('\n')).toContain(`it rests on your plugins' footprints: tracelab explore ${fixture}#stashRead --variant evented --audit checks them`);
    const c = io();
    expect(main(['explore', 'fork-flag-race', '--variant', 'fixed', '--strategy', 'dpor', '--bound', '0'], c.io)).toBe(0);
    expect(c.out.join('\n')).not.toContain('--audit');
  });

  it('--unbounded audits both searches without a bound', async () => {
    const t = io();
    expect(await main(['explore', `${fixture}#stashRead`, '--variant', 'silent', '--audit', '--unbounded'], t.io)).toBe(1);
    expect(t.out.join('\n')).toMatch(/--audit: dpor against the unreduced dfs, unbounded\n {2}DISAGREES/);
  });

  it('exits 0 when the plugin logs its write; --json gives both searches and the differences', async () => {
    const t = io();
    expect(await main(['explore', `${fixture}#stashRead`, '--variant', 'evented', '--audit', '--bound', '2', '--json'], t.io)).toBe(0);
    const a = JSON.parse(t.out.join('\n'));
    expect(a).toMatchObject({ scenario: 'stash-read', variant: 'evented', bound: 2, agrees: true, missed: [], extra: [], stoppedBy: null });
    expect(a.dpor.states).toBe(3);
    expect(a.dfs.states).toBe(3);
    expect(a.dpor.schedules).toBeLessThan(a.dfs.schedules);
  });

  it('agrees on a catalog variant at its smallest scale, and says when a search stopped short', () => {
    const t = io();
    expect(main(['explore', 'fork-flag-race', '--variant', 'fixed', '--audit', '--scale', '1'], t.io)).toBe(0);
    expect(t.out.join('\n')).toMatch(/agrees: dpor reached every final state and violation the unreduced dfs reached/);
    const u = io();
    expect(main(['explore', 'fork-flag-race', '--variant', 'fixed', '--audit', '--scale', '1', '--budget', '5'], u.io)).toBe(0);
    expect(u.out.join('\n')).toMatch(/not complete: the dpor search stopped at its budget; nothing compared/);
  });

  it('refuses the search options the audit does not take, naming them (exit 2)', () => {
    for (const [extra, named] of [
      [['--strategy', 'dfs'], '--strategy dfs'],
      [['--workers', '2'], '--workers'],
      [['--seed', '3'], '--seed'],
      [['--coverage'], '--coverage'],
      [['--reduction', 'visible-steps'], '--reduction'],
      [['--out', 'somewhere'], '--out'],
    ] as const) {
      const t = io();
      expect(main(['explore', 'fork-flag-race', '--variant', 'fixed', '--audit', ...extra], t.io)).toBe(2);
      expect(t.err.join('\n')).toContain(`--audit runs dpor and the unreduced dfs itself, on this thread; ${named} does not apply to it`);
    }
    const u = io();
    expect(main(['explore', 'fork-flag-race', '--variant', 'fixed', '--unbounded'], u.io)).toBe(2);
    expect(u.err.join('\n')).toContain('--unbounded applies to --audit');
    const v = io();
    expect(main(['explore', 'fork-flag-race', '--variant', 'fixed', '--audit', '--unbounded', '--bound', '1'], v.io)).toBe(2);
    expect(v.err.join('\n')).toContain('--unbounded and --bound contradict each other');
    // dpor is what it audits: saying so is allowed, and keeps the audit's budget.
    expect(parseExploreArgs(['fork-flag-race', '--variant', 'fixed', '--audit', '--strategy', 'dpor'], io().io)).toMatchObject({
      audit: true,
      bound: 1,
      budget: 200_000,
    });
    const ok = io();
    expect(main(['explore', 'fork-flag-race', '--variant', 'fixed', '--audit', '--strategy', 'dpor', '--scale', '1', '--budget', '5'], ok.io)).toBe(0);
  });
});

describe('tracelab run <scenario>: one schedule of a race scenario, the same Scenario type explore and replay take', () => {
  it('runs a catalog variant once: its files, a summary with the replay string, and replay gives the same log', async () => {
    const t = io();
    const code = main(['run', 'marker-array-free', '--variant', 'free-immediately', '--seed', '1', '--out', 'r', '--json'], t.io);
    const summary = JSON.parse(t.out.join('\n'));
    expect(summary).toMatchObject({ scenario: 'marker-array-free', variant: 'free-immediately', safe: false, seed: 1, cpus: 2 });
    // The unsafe variant's free races the reader in this schedule: the exit code says so.
    expect(code).toBe(summary.violation === null ? 0 : 1);
    expect(summary.violation?.name).toMatch(/^markers\//);
    const log = readFileSync(join(t.cwd, 'r', 'events.ndjson'), 'utf8');
    expect(log.trim().split('\n')).toHaveLength(summary.events);
    expect(createHash('sha256').update(log).digest('hex')).toBe(summary.logHash);
    const { out, files, ...written } = summary;
    expect(JSON.parse(readFileSync(join(t.cwd, 'r', 'summary.json'), 'utf8'))).toEqual(written);
    expect(out).toBe(join(t.cwd, 'r'));
    expect(files).toEqual(['events.ndjson', 'trace.json', 'summary.json']);
    expect(validateChromeTrace(JSON.parse(readFileSync(join(t.cwd, 'r', 'trace.json'), 'utf8')))).toEqual([]);
    const r = io();
    expect(await main(['replay', 'marker-array-free', summary.replay, '--json'], r.io)).toBe(code);
    expect(JSON.parse(r.out.join('\n')).logHash).toBe(summary.logHash);
  });

  it('defaults to the fixed variant, runs clean, and seeds choose the schedule', () => {
    const a = io();
    expect(main(['run', 'fork-flag-race', '--seed', '5', '--json', '--out', 'a'], a.io)).toBe(0);
    const s5 = JSON.parse(a.out.join('\n'));
    expect(s5).toMatchObject({ variant: 'fixed', safe: true, violation: null, done: true });
    const b = io();
    main(['run', 'fork-flag-race', '--seed', '5', '--json', '--out', 'a'], b.io);
    expect(JSON.parse(b.out.join('\n')).logHash).toBe(s5.logHash);
    const c = io();
    main(['run', 'fork-flag-race', '--seed', '6', '--json', '--out', 'a'], c.io);
    expect(JSON.parse(c.out.join('\n')).replay).not.toBe(s5.replay);
  });

  it('writes the CTF trace when the scenario stack has the ring buffer', () => {
    const t = io();
    expect(main(['run', 'commit-after-migration', '--out', 'c', '--json'], t.io)).toBe(0);
    const summary = JSON.parse(t.out.join('\n'));
    expect(summary.files).toContain(join('ctf', 'kernel', 'metadata'));
    expect(readCtfTrace(join(t.cwd, 'c', 'ctf', 'kernel')).events.length).toBeGreaterThan(0);
  });

  it('runs a scenario module of your own, and the printed replay names the module', async () => {
    const fixture = join(__dirname, '../../explore-queue/test/fixtures/my-race.mjs');
    const t = io();
    expect(await main(['run', `${fixture}#myRace`, '--variant', 'no-recopy', '--seed', '1', '--out', 'm'], t.io)).toBe(1);
    const text = t.out.join('\n');
    expect(text).toMatch(/VIOLATION /);
    const replayString = new RegExp(`tracelab replay ${fixture.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}#myRace '([^']+)'`).exec(text)![1]!;
    const r = io();
    expect(await main(['replay', `${fixture}#myRace`, replayString], r.io)).toBe(1);
  });

  it('refuses what does not apply, naming it: an unknown scenario, --cpus, --variant on a session, an unknown variant', async () => {
    const t = io();
    expect(main(['run', 'nope'], t.io)).toBe(2);
    expect(t.err.join('\n')).toMatch(/unknown scenario "nope"; sessions: default; race scenarios: fork-flag-race, /);
    const u = io();
    expect(main(['run', 'fork-flag-race', '--cpus', '4'], u.io)).toBe(2);
    expect(u.err.join('\n')).toMatch(/--cpus does not apply to fork-flag-race/);
    const v = io();
    expect(main(['run', 'default', '--variant', 'fixed'], v.io)).toBe(2);
    expect(v.err.join('\n')).toMatch(/--variant is for a race scenario/);
    const w = io();
    expect(await main(['run', 'fork-flag-race', '--variant', 'nope'], w.io)).toBe(2);
    expect(w.err.join('\n')).toMatch(/has no variant "nope"; variants: fixed, no-recopy, rcu-walk/);
  });
});
