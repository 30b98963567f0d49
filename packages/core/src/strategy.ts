import type { KernelState } from './state.js';
import { TracelabError } from './errors.js';
import { createPrng } from './internal/prng.js';
import type { ChoiceKind } from './paths.js';

/**
 * Every nondeterministic decision of a run is a choice among `n` options made by a strategy:
 * which CPU steps next (`cpu`), whether a preemptible task is preempted (`preempt`: 0 no,
 * 1 yes), which runnable task a CPU switches to (`task`), whether an allocation fails
 * (`fault`: 0 no, 1 yes), which store a load reads (`memory`), and with interrupt sources
 * configured whether an NMI (`nmi`) or a hard interrupt (`irq`) arrives at a CPU's step (0 no,
 * 1 yes), and whether a pending inter-processor interrupt does (`ipi`). Only choices with n > 1 are asked, and each is recorded, so the list of choices (the
 * schedule string) replays the run exactly.
 */
export interface Chooser {
  /**
   * Picks one of `n` options (0..n-1). `pids` says who each option stands for, so a strategy
   * can reason about tasks rather than indices (PCT gives tasks priorities):
   * - `cpu`: `pids[i]` is the task running on the i-th eligible CPU (0: its idle task);
   * - `task`: `pids[i]` is the i-th task on the runqueue (oldest first);
   * - `preempt`: `pids[0]` is the running task, the rest the runqueue it could yield to;
   * - `fault`: `pids[0]` is the allocating task;
   * - `irq`, `nmi`, `ipi`: `pids[0]` is the task the interrupt would interrupt (0: the idle task).
   * The kernel builds `pids` only for a chooser whose `choose` declares the third parameter
   * (`choose.length >= 3`); others get an empty array.
   *
   * `state` is the kernel's working state at the choice, read-only and valid during this call
   * only: it changes in place afterwards, so a chooser that keeps anything of it copies it (or
   * reads `kernel.state`, an immutable snapshot, which costs a copy mid-step).
   */
  choose(kind: ChoiceKind, n: number, pids: readonly number[], state: KernelState): number;
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
  /**
   * Probability that a due interrupt arrives at a CPU's step (`irq`, `nmi` and `ipi` alike).
   * Default 0.1. Asked only of kernels with interrupt sources, or with an IPI pending.
   */
  readonly irqProbability?: number;
}

/** The default: every choice drawn from a PRNG seeded with the kernel's seed. */
export function randomStrategy(options: RandomStrategyOptions = {}): Strategy {
  const p = options.preemptProbability ?? 0.1;
  const f = options.faultProbability ?? 0.1;
  const q = options.irqProbability ?? 0.1;
  for (const [name, v] of [
    ['preemptProbability', p],
    ['faultProbability', f],
    ['irqProbability', q],
  ] as const) {
    if (!(v >= 0 && v <= 1)) throw new TracelabError('INVALID_OPTION', `randomStrategy: ${name} must be within [0, 1], got ${v}`);
  }
  return {
    name: p === 0.1 && f === 0.1 && q === 0.1 ? 'random' : q === 0.1 ? `random(p=${p},f=${f})` : `random(p=${p},f=${f},i=${q})`,
    create(seed) {
      const rng = createPrng(seed);
      return {
        choose(kind, n) {
          if (kind === 'preempt') return rng.next() < p ? 1 : 0;
          if (kind === 'fault') return rng.next() < f ? 1 : 0;
          if (kind === 'irq' || kind === 'nmi' || kind === 'ipi') return rng.next() < q ? 1 : 0;
          // Reclaim evicts a page (a uniform one) as often as an allocation fails.
          if (kind === 'evict') return rng.next() < f ? 1 + rng.below(n - 1) : 0;
          return rng.below(n);
        },
      };
    },
  };
}

/** What a replay strategy was told to expect: the recorded choice and step counts. */
export interface ReplayStrategy extends Strategy {
  readonly recorded: ScheduleInfo;
}

/**
 * Re-runs a schedule string: each choice is taken from the string in order, run-length groups
 * expanded one choice at a time (a string of 10^12 zeros costs nothing until it is run). Past
 * its end every choice is 0 (the lowest eligible CPU, no preemption, the oldest runnable task,
 * no fault), so a shortened string still names one exact run. A choice out of range means the
 * run has diverged from the one that wrote the string (another scenario, stack or kernel
 * version) and throws `SCHEDULE_DIVERGED` with the position. The string is checked whole
 * first (see {@link parseSchedule}); `recorded` holds its choice and step counts so a caller
 * can compare the re-run with them.
 */
export function replaySchedule(schedule: string, options: ScheduleContext = {}): ReplayStrategy {
  const recorded = parseSchedule(schedule, options);
  const runs = recorded.runs;
  return {
    name: 'replay',
    recorded,
    create() {
      // Cursor into the run-length groups; private to one chooser, so to one kernel.
      let run = 0;
      let left = runs.length > 0 ? runs[0]![1] : 0;
      let i = 0;
      return {
        choose(kind, n) {
          if (run >= runs.length) return 0;
          const c = runs[run]![0];
          if (c >= n) {
            throw new TracelabError(
              'SCHEDULE_DIVERGED',
              `schedule choice #${i} is ${c}, but the run offers only ${n} options for '${kind}' there: the schedule was recorded on another scenario, stack or kernel version`,
              { index: i, choice: c, options: n, kind },
            );
          }
          i++;
          if (--left === 0) {
            run++;
            left = run < runs.length ? runs[run]![1] : 0;
          }
          return c;
        },
      };
    },
  };
}

// ---- the schedule string ------------------------------------------------------------------
//
// Version 2: `S2:<choices>.<steps>:<body>:<check>`.
// - `<choices>` (decimal) is how many choices the body holds, `<steps>` (decimal) how many
//   scheduler steps the recorded run had taken when the string was made.
// - `<body>` is one token per choice: a base-36 digit for 0..35, `(n)` in base 36 for larger
//   values; a token followed by `{k}` (decimal) stands for k repetitions.
// - `<check>` is the CRC-32 (base 36, 7 digits) of the context (see `ScheduleContext`), a
//   newline, and everything before the last colon.
// Example: `S2:13.20:0{4}122z(10)(rs){3}0:1x2y3z4`.
// Version 1 (`S1:<body>`, no counts, no checksum) is refused with SCHEDULE_VERSION: a cut or
// altered S1 string still decodes, to another run, so nothing can tell a good one from a bad one.

const VERSION = 'S2:';
/** The largest choice value a string may hold (a choice is an index among CPUs or tasks). */
export const MAX_CHOICE_VALUE = 0x7fffffff;
/** `decodeSchedule` refuses to build an array longer than this; `replaySchedule` has no limit. */
export const MAX_EXPANDED_CHOICES = 10_000_000;

export interface ScheduleContext {
  /**
   * Text the checksum also covers, naming what the schedule is for (explore passes
   * `<variant>@<scale>`), so a valid string pasted for another target fails its check.
   * Default ''.
   */
  readonly context?: string;
}

export interface EncodeScheduleOptions extends ScheduleContext {
  /** Steps the run had taken (recorded in the string). Default 0. */
  readonly steps?: number;
}

/** A checked schedule string, still compressed: `runs` are `[value, count]` pairs. */
export interface ScheduleInfo {
  readonly version: 2;
  /** Choices the string holds (the sum of the runs' counts). */
  readonly choices: number;
  /** Steps of the recorded run. */
  readonly steps: number;
  readonly runs: ReadonlyArray<readonly [value: number, count: number]>;
}

export function encodeSchedule(choices: readonly number[], options: EncodeScheduleOptions = {}): string {
  const runs: Array<[number, number]> = [];
  let i = 0;
  while (i < choices.length) {
    const c = choices[i]!;
    let j = i + 1;
    while (j < choices.length && choices[j] === c) j++;
    runs.push([c, j - i]);
    i = j;
  }
  return encodeScheduleRuns(runs, options);
}

/** Encodes run-length groups directly (`[[0, 1e9]]` is a billion zeros, never built). */
export function encodeScheduleRuns(runs: ReadonlyArray<readonly [value: number, count: number]>, options: EncodeScheduleOptions = {}): string {
  const steps = options.steps ?? 0;
  if (!Number.isSafeInteger(steps) || steps < 0)
    throw new TracelabError('INVALID_OPTION', `encodeSchedule: steps must be a non-negative integer, got ${steps}`);
  let body = '';
  let total = 0;
  for (const [c, run] of runs) {
    if (!Number.isInteger(c) || c < 0 || c > MAX_CHOICE_VALUE)
      throw new TracelabError('INVALID_OPTION', `encodeSchedule: choice ${c} is not an integer from 0 to ${MAX_CHOICE_VALUE}`);
    if (!Number.isSafeInteger(run) || run < 1) throw new TracelabError('INVALID_OPTION', `encodeSchedule: run length ${run} is not a positive integer`);
    const token = c < 36 ? c.toString(36) : `(${c.toString(36)})`;
    body += run >= 3 ? `${token}{${run}}` : token.repeat(run);
    total += run;
  }
  const head = `${VERSION}${total}.${steps}:${body}`;
  return `${head}:${checksum(options.context ?? '', head)}`;
}

/** The choices of a schedule string as an array; refuses more than {@link MAX_EXPANDED_CHOICES}. */
export function decodeSchedule(schedule: string, options: ScheduleContext = {}): number[] {
  const info = parseSchedule(schedule, options);
  if (info.choices > MAX_EXPANDED_CHOICES) {
    throw new TracelabError(
      'SCHEDULE_INVALID',
      `schedule string: ${info.choices} choices are too long to expand into an array (limit ${MAX_EXPANDED_CHOICES}); replaySchedule reads it without expanding`,
      { choices: info.choices },
    );
  }
  const out: number[] = [];
  for (const [value, count] of info.runs) for (let k = 0; k < count; k++) out.push(value);
  return out;
}

/**
 * Checks a schedule string whole and returns it still compressed. Throws `SCHEDULE_VERSION`
 * for another version (S1 carries no checksum) and `SCHEDULE_INVALID` naming what is wrong and
 * the character where it is: a malformed header or token, a number past its bound, run counts
 * that do not add up to the header's choice count (checked as they are read, so
 * `0{10000000000}` fails at once), or a checksum that does not match.
 */
export function parseSchedule(schedule: string, options: ScheduleContext = {}): ScheduleInfo {
  if (typeof schedule !== 'string') throw new TracelabError('SCHEDULE_INVALID', `a schedule string is text, got ${typeof schedule}`);
  const shown = JSON.stringify(schedule.length > 40 ? `${schedule.slice(0, 40)}...` : schedule);
  let i = 0;
  const fail = (what: string, at = i): never => {
    throw new TracelabError('SCHEDULE_INVALID', `schedule string ${shown}: ${what} at character ${at}`, { position: at });
  };
  const version = /^S(\d+):/.exec(schedule);
  if (version === null) return fail(`does not start with '${VERSION}'`, 0);
  if (version[0] !== VERSION) {
    const v = version[1];
    throw new TracelabError(
      'SCHEDULE_VERSION',
      v === '1'
        ? `schedule string ${shown} is format S1, which has no checksum and no counts, so a damaged one cannot be told from a good one; re-run the exploration or the run that printed it to get an ${VERSION} string`
        : `schedule string ${shown} is format S${v}; this version of tracelab reads ${VERSION} strings`,
      { version: Number(v) },
    );
  }
  i = VERSION.length;
  const decimal = (what: string, end: string): number => {
    const start = i;
    while (i < schedule.length && schedule[i]! >= '0' && schedule[i]! <= '9') i++;
    if (i === start) fail(`expected the ${what} (decimal digits)`);
    const text = schedule.slice(start, i);
    const n = Number(text);
    if (text.length > 16 || !Number.isSafeInteger(n)) fail(`${what} ${text} is too large`, start);
    if (schedule[i] !== end) fail(`expected '${end}' after the ${what}`);
    i++;
    return n;
  };
  const choices = decimal('choice count', '.');
  const steps = decimal('step count', ':');
  const last = schedule.lastIndexOf(':');
  if (last < i) fail('no checksum (the string ends after the step count)', schedule.length);
  const runs: Array<readonly [number, number]> = [];
  let total = 0;
  while (i < last) {
    const at = i;
    let value: number;
    const ch = schedule[i]!;
    if (ch === '(') {
      const end = schedule.indexOf(')', i);
      if (end < 0 || end > last) fail('unclosed (');
      const digits = schedule.slice(i + 1, end);
      if (!/^[0-9a-z]{1,6}$/.test(digits) || parseInt(digits, 36) > MAX_CHOICE_VALUE)
        fail(`choice value (${digits.slice(0, 12)}) is not base 36 up to ${MAX_CHOICE_VALUE.toString(36)}`);
      value = parseInt(digits, 36);
      if (value < 36) fail(`choice value (${digits}) should be written as one digit`);
      i = end + 1;
    } else if ((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z')) {
      value = parseInt(ch, 36);
      i++;
    } else {
      return fail(`unexpected '${ch}'`);
    }
    let count = 1;
    if (schedule[i] === '{') {
      const start = i;
      const end = schedule.indexOf('}', i);
      if (end < 0 || end > last) fail('unclosed {');
      const digits = schedule.slice(i + 1, end);
      count = Number(digits);
      if (!/^[1-9][0-9]{0,15}$/.test(digits) || !Number.isSafeInteger(count))
        fail(`repeat count {${digits.slice(0, 20)}} is not a positive decimal number`, start);
      if (total + count > choices) fail(`repeat count ${digits} takes the string past its header's ${choices} choices`, start);
      i = end + 1;
    }
    total += count;
    if (total > choices) fail(`token '${schedule.slice(at, i)}' takes the string past its header's ${choices} choices`, at);
    const prev = runs[runs.length - 1];
    if (prev !== undefined && prev[0] === value) runs[runs.length - 1] = [value, prev[1] + count];
    else runs.push([value, count]);
  }
  if (total !== choices) fail(`the body holds ${total} choices but the header says ${choices}`, last);
  const check = schedule.slice(last + 1);
  if (!/^[0-9a-z]{7}$/.test(check)) fail(`the checksum ${JSON.stringify(check)} is not 7 base-36 digits`, last + 1);
  const want = checksum(options.context ?? '', schedule.slice(0, last));
  if (check !== want) {
    fail(
      options.context
        ? `checksum ${check} does not match the string's content for ${JSON.stringify(options.context)} (a character was changed or cut, or the string belongs to another variant or scale)`
        : `checksum ${check} does not match the string's content (a character was changed or cut)`,
      last + 1,
    );
  }
  return { version: 2, choices, steps, runs };
}

// CRC-32 (IEEE 802.3, reflected), computed over UTF-16 code units masked to a byte: the
// strings it covers are ASCII but for the context, where a collision costs only a weaker check.
const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

function checksum(context: string, head: string): string {
  let crc = 0xffffffff;
  const text = `${context}\n${head}`;
  for (let i = 0; i < text.length; i++) crc = CRC_TABLE[(crc ^ text.charCodeAt(i)) & 0xff]! ^ (crc >>> 8);
  return ((crc ^ 0xffffffff) >>> 0).toString(36).padStart(7, '0');
}
