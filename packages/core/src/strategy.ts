import { TracelabError } from './errors.js';
import { createPrng } from './internal/prng.js';
import type { ChoiceKind } from './paths.js';

/**
 * Every nondeterministic decision of a run is a choice among `n` options made by a strategy:
 * which CPU steps next (`cpu`), whether a preemptible task is preempted (`preempt`: 0 no,
 * 1 yes), which runnable task a CPU switches to (`task`), whether an allocation fails
 * (`fault`: 0 no, 1 yes). Only choices with n > 1 are asked, and each is recorded, so the
 * list of choices (the schedule string) replays the run exactly.
 */
export interface Chooser {
  /**
   * Picks one of `n` options (0..n-1). `pids` says who each option stands for, so a strategy
   * can reason about tasks rather than indices (PCT gives tasks priorities):
   * - `cpu`: `pids[i]` is the task running on the i-th eligible CPU (0: its idle task);
   * - `task`: `pids[i]` is the i-th task on the runqueue (oldest first);
   * - `preempt`: `pids[0]` is the running task, the rest the runqueue it could yield to;
   * - `fault`: `pids[0]` is the allocating task.
   * The kernel builds `pids` only for a chooser whose `choose` declares the third parameter
   * (`choose.length >= 3`); others get an empty array.
   */
  choose(kind: ChoiceKind, n: number, pids: readonly number[]): number;
}

export interface Strategy {
  readonly name: string;
  /** Makes the chooser for one run; `seed` is the kernel's seed. */
  create(seed: number): Chooser;
}

export interface RandomStrategyOptions {
  /** Probability of preempting at a point where preemption is possible. Default 0.1. */
  readonly preemptProbability?: number;
  /** Probability that an allocation fails when fault injection asks. Default 0.1. */
  readonly faultProbability?: number;
}

/** The default: every choice drawn from a PRNG seeded with the kernel's seed. */
export function randomStrategy(options: RandomStrategyOptions = {}): Strategy {
  const p = options.preemptProbability ?? 0.1;
  const f = options.faultProbability ?? 0.1;
  for (const [name, v] of [['preemptProbability', p], ['faultProbability', f]] as const) {
    if (!(v >= 0 && v <= 1)) throw new TracelabError('INVALID_OPTION', `randomStrategy: ${name} must be within [0, 1], got ${v}`);
  }
  return {
    name: p === 0.1 && f === 0.1 ? 'random' : `random(p=${p},f=${f})`,
    create(seed) {
      const rng = createPrng(seed);
      return {
        choose(kind, n) {
          if (kind === 'preempt') return rng.next() < p ? 1 : 0;
          if (kind === 'fault') return rng.next() < f ? 1 : 0;
          return rng.below(n);
        },
      };
    },
  };
}

/**
 * Re-runs a schedule string: each choice is taken from the string in order. Past its end
 * every choice is 0 (the lowest eligible CPU, no preemption, the oldest runnable task, no
 * fault), so a shortened string still names one exact run. A choice out of range means the
 * run has diverged from the one that wrote the string (another scenario, stack or kernel
 * version) and throws `SCHEDULE_DIVERGED` with the position.
 */
export function replaySchedule(schedule: string): Strategy {
  const choices = decodeSchedule(schedule);
  return {
    name: 'replay',
    create() {
      let i = 0;
      return {
        choose(kind, n) {
          if (i >= choices.length) return 0;
          const c = choices[i]!;
          if (c >= n) {
            throw new TracelabError(
              'SCHEDULE_DIVERGED',
              `schedule choice #${i} is ${c}, but the run offers only ${n} options for '${kind}' there: the schedule was recorded on another scenario, stack or kernel version`,
              { index: i, choice: c, options: n, kind },
            );
          }
          i++;
          return c;
        },
      };
    },
  };
}

// ---- the schedule string ------------------------------------------------------------------
//
// `S1:` then one token per choice: a base-36 digit for 0..35, `(n)` in base 36 for larger
// values; a token followed by `{k}` (decimal) stands for k repetitions. Example: `S1:0{12}1a(1z)`.

const PREFIX = 'S1:';

export function encodeSchedule(choices: readonly number[]): string {
  let out = PREFIX;
  let i = 0;
  while (i < choices.length) {
    const c = choices[i]!;
    let j = i + 1;
    while (j < choices.length && choices[j] === c) j++;
    const token = c < 36 ? c.toString(36) : `(${c.toString(36)})`;
    const run = j - i;
    out += run >= 3 ? `${token}{${run}}` : token.repeat(run);
    i = j;
  }
  return out;
}

export function decodeSchedule(schedule: string): number[] {
  if (typeof schedule !== 'string' || !schedule.startsWith(PREFIX)) {
    throw new TracelabError('SCHEDULE_INVALID', `a schedule string starts with '${PREFIX}'; got ${JSON.stringify(String(schedule).slice(0, 20))}`);
  }
  const out: number[] = [];
  let i = PREFIX.length;
  const fail = (what: string): never => {
    throw new TracelabError('SCHEDULE_INVALID', `schedule string: ${what} at character ${i}`, { position: i });
  };
  while (i < schedule.length) {
    let value: number;
    const ch = schedule[i]!;
    if (ch === '(') {
      const end = schedule.indexOf(')', i);
      if (end < 0) fail('unclosed (');
      value = parseInt(schedule.slice(i + 1, end), 36);
      if (!Number.isFinite(value)) fail('bad number in ( )');
      i = end + 1;
    } else if (/[0-9a-z]/.test(ch)) {
      value = parseInt(ch, 36);
      i++;
    } else {
      return fail(`unexpected '${ch}'`);
    }
    let count = 1;
    if (schedule[i] === '{') {
      const end = schedule.indexOf('}', i);
      if (end < 0) fail('unclosed {');
      count = Number(schedule.slice(i + 1, end));
      if (!Number.isInteger(count) || count < 1) fail('bad repeat count');
      i = end + 1;
    }
    for (let k = 0; k < count; k++) out.push(value!);
  }
  return out;
}
