/**
 * DPOR against the unreduced DFS on generated stacks (random-stack.ts; docs/explore.md §4a,
 * twentieth pass): for each seed DPOR must reach every final state and violation the DFS
 * reaches, at bounds 1 and 2 on stacks of two or three threads, and unbounded on stacks of two
 * small threads. CI runs a bounded share of seeds; `npm run fuzz:dpor` runs a campaign
 * (TRACELAB_FUZZ_SEEDS, TRACELAB_FUZZ_FROM, TRACELAB_FUZZ_BUDGET).
 *
 * The first seed failed before DPOR's violation rule (`pendingAtViolation`): its first run
 * stopped at the invariant before the other CPU ran, so no race led to the runs that let it run
 * between the load and the store of the increment, and two final states were never reached.
 */
import { describe, expect, it } from 'vitest';
import { auditReduction, type AuditOptions, type ReductionAudit } from '@tracelab/explore';
import { describeStack, randomStack, stackScenario, type RandomStack, type StackShape } from './random-stack.js';

const FROM = Number(process.env['TRACELAB_FUZZ_FROM'] ?? 1);
const SEEDS = Number(process.env['TRACELAB_FUZZ_SEEDS'] ?? 25);
/** Schedules each search may run: DPOR must complete within it for its verdict to count. */
const BUDGET = Number(process.env['TRACELAB_FUZZ_BUDGET'] ?? 2500);
/** Unbounded: two threads of at most two instructions each, no interrupt (the unreduced tree grows fast). */
const SMALL: StackShape = { tasks: 2, maxOps: 2, interrupts: false };

interface Tally {
  audits: number;
  /** Audits whose DPOR tree completed within the budget (the others compare only what the DFS reached). */
  complete: number;
  /** Audits whose DFS reached a violation. */
  withViolation: number;
  /** Audits in which both searches completed and reached more than one final state. */
  manyStates: number;
}

/** One audit of `stack`; fails the test with the programs and the schedules if DPOR missed anything. */
function audit(stack: RandomStack, bound: AuditOptions['bound'], tally: Tally): void {
  const a = auditReduction(stackScenario(stack), { variant: 'any', bound: bound ?? null, budget: BUDGET });
  const why = (x: ReductionAudit): string =>
    `${describeStack(stack)}\n${JSON.stringify({ bound: x.bound, dpor: x.dpor, dfs: x.dfs, missed: x.missed, extra: x.extra }, null, 1)}`;
  // What the DFS reached and DPOR did not, once DPOR finished its tree: an order DPOR missed.
  expect(a.missed, why(a)).toEqual([]);
  // What DPOR reached and the DFS did not, once the DFS finished: a run outside the bound.
  expect(a.extra, why(a)).toEqual([]);
  tally.audits++;
  if (a.dpor.complete) tally.complete++;
  if (a.dfs.violations.length > 0) tally.withViolation++;
  if (a.dpor.complete && a.dfs.complete && a.dfs.states > 1) tally.manyStates++;
}

describe(`DPOR on generated stacks (seeds ${FROM}..${FROM + SEEDS - 1})`, () => {
  it('misses nothing the unreduced DFS reaches at bounds 1 and 2', { timeout: 600_000 }, () => {
    const tally: Tally = { audits: 0, complete: 0, withViolation: 0, manyStates: 0 };
    for (let seed = FROM; seed < FROM + SEEDS; seed++) for (const bound of [1, 2]) audit(randomStack(seed), bound, tally);
    // The share must compare something: most trees finish within the budget, some stacks fail
    // (the invariant is reachable) and some reach several final states.
    expect(tally.complete).toBeGreaterThan(tally.audits / 2);
    expect(tally.withViolation).toBeGreaterThan(0);
    expect(tally.manyStates).toBeGreaterThan(tally.audits / 4);
  });

  it('misses nothing the unreduced DFS reaches, unbounded, on small stacks', { timeout: 600_000 }, () => {
    const tally: Tally = { audits: 0, complete: 0, withViolation: 0, manyStates: 0 };
    for (let seed = FROM; seed < FROM + SEEDS; seed++) audit(randomStack(seed, SMALL), null, tally);
    expect(tally.complete).toBeGreaterThan(tally.audits / 2);
    expect(tally.withViolation).toBeGreaterThan(0);
    expect(tally.manyStates).toBeGreaterThan(0);
  });

  it('seed 1 at bound 1 (the stack that found the violation rule missing) reaches what the DFS does', () => {
    // The stack reduced by hand from seed 1: an increment with preemption off, against two stores.
    const stack: RandomStack = {
      seed: 1,
      programs: [
        [{ op: 'no-preempt', body: [{ op: 'inc', slot: 1 }] }],
        [
          { op: 'cpu', slot: 1 },
          { op: 'cpu', slot: 0 },
        ],
      ],
      tick: 0,
      irqSlot: 0,
      irqValue: 1,
      bad: { a: 1, x: 1, b: 0, y: 0 },
    };
    for (const bound of [1, null]) {
      const a = auditReduction(stackScenario(stack), { variant: 'any', bound, budget: 10_000 });
      expect(a.agrees, JSON.stringify(a.missed)).toBe(true);
      // The states the rule is for: the other CPU's two stores between the load and the store.
      expect(a.dpor.states).toBe(a.dfs.states);
    }
  });
});
