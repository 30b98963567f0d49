import { describe, expect, it } from 'vitest';
import { main } from '@tracelab/cli';
import { UNSAFE_OPTIONS } from '@tracelab/torture';

function io() {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, io: { cwd: process.cwd(), out: (t: string) => void out.push(t), err: (t: string) => void err.push(t) } };
}

describe('tracelab torture', () => {
  it('a clean safe run: exit 0, a block per mechanism with grace periods, the Reader Pipe and the ops', () => {
    const t = io();
    expect(main(['torture', '--mechanism', 'rcu-sched', '--seeds', '20'], t.io)).toBe(0);
    const text = t.out.join('\n');
    expect(text).toMatch(/^rcu-sched \[safe\] PASS: 20 seeds from 1/m);
    expect(text).toMatch(/grace periods {2}sched \d+/);
    expect(text).toMatch(/Reader Pipe {4}\d+ \d+ 0 0 0 0 0 0 0 0 0 {3}\(\d+ reads; none past slot 1\)/);
    expect(text).toMatch(/torture: 0 violations over 1 mechanism/);
  });

  it('--unsafe: exit 0 when caught, with the violation, its replay string and the shrunk one; --replay re-runs it (exit 1)', () => {
    const t = io();
    expect(main(['torture', '--unsafe', 'busted-rcu-sched-writer'], t.io)).toBe(0);
    const text = t.out.join('\n');
    expect(text).toMatch(/rcu-sched \[busted-rcu-sched-writer\] CAUGHT at seed 1 \(1 seed\(s\)\)/);
    expect(text).toMatch(/VIOLATION seed 1: torture\/checks/);
    const shrunk = /shrunk {7}(\S+)/.exec(text)![1]!;
    expect(shrunk).toMatch(/^rcu-sched#1:busted-rcu-sched-writer/);
    const r = io();
    expect(main(['torture', '--replay', shrunk], r.io)).toBe(1);
    expect(r.out.join('\n')).toMatch(/VIOLATION torture\/checks/);
  });

  it('--json prints the result object', () => {
    const t = io();
    expect(main(['torture', '--mechanism', 'locks', '--seeds', '5', '--json'], t.io)).toBe(0);
    const r = JSON.parse(t.out.join('')) as { ok: boolean; mechanisms: Array<{ mechanism: string; seeds: number }> };
    expect(r.ok).toBe(true);
    expect(r.mechanisms).toMatchObject([{ mechanism: 'locks', seeds: 5 }]);
  });

  it('bad usage is exit 2: an unknown --unsafe option lists every known one, an unknown mechanism lists the mechanisms', () => {
    const t = io();
    expect(main(['torture', '--unsafe', 'free-immediatly'], t.io)).toBe(2);
    const msg = t.err.join('\n');
    expect(msg).toMatch(/unknown unsafe option "free-immediatly"/);
    for (const u of UNSAFE_OPTIONS) expect(msg).toContain(u.name);
    const m = io();
    expect(main(['torture', '--mechanism', 'perf-events'], m.io)).toBe(2);
    expect(m.err.join('\n')).toMatch(/--mechanism must be one of markers, tracepoints/);
    expect(main(['torture', '--seeds', ''], io().io)).toBe(2);
  });
});
