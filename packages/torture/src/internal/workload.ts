import { createPrng, type Program, type UserOps } from '@tracelab/core';

/** The kinds of user operation a swarm workload may contain; each seed turns some off entirely. */
export const OP_KINDS = ['fork', 'exec', 'exit', 'sleep', 'fault', 'syscall'] as const;
export type OpKind = (typeof OP_KINDS)[number];

/** One planned user operation. Plans are drawn at setup, so the programs draw nothing while they run. */
export type PlannedOp =
  | { readonly op: 'syscall'; readonly name: string; readonly n: number }
  | { readonly op: 'compute'; readonly ticks: number }
  | { readonly op: 'touch'; readonly addr: number }
  | { readonly op: 'sleep'; readonly ticks: number }
  | { readonly op: 'fork'; readonly child: readonly PlannedOp[]; readonly wait: boolean }
  | { readonly op: 'exec'; readonly comm: string; readonly rest: readonly PlannedOp[] }
  | { readonly op: 'exit'; readonly code: number };

export type Prng = ReturnType<typeof createPrng>;

/** What one seed draws: the machine, the mix, the shells, and a PRNG left for the mechanism's churn plan. */
export interface Workload {
  readonly seed: number;
  readonly cpus: number;
  /** The operation kinds this seed's shells use (compute is always on). */
  readonly kinds: readonly OpKind[];
  readonly shells: readonly (readonly PlannedOp[])[];
  /** Churn rounds each tracer-side thread does (the scenario's scale, which shrinking may lower). */
  readonly rounds: number;
  /** Draws for the mechanism's own plan (churn delays, which sites, which flavour); continues the seed's stream. */
  readonly prng: Prng;
}

/** Syscalls a shell may make; `torture_read` is the torture plugin's reader syscall (ENOSYS where it is not loaded). */
const SYSCALLS = ['getpid', 'open', 'read', 'stat', 'write', 'close', 'torture_read'] as const;

/** A small integer in lo..hi from the PRNG. */
export function between(prng: Prng, lo: number, hi: number): number {
  return lo + prng.below(hi - lo + 1);
}

/** One of `xs`, drawn from the PRNG. */
export function pick<T>(prng: Prng, xs: readonly T[]): T {
  return xs[prng.below(xs.length)]!;
}

function drawOps(prng: Prng, kinds: ReadonlySet<OpKind>, n: number, depth: number, tag: string): PlannedOp[] {
  const out: PlannedOp[] = [];
  const menu: string[] = ['compute', ...kinds];
  for (let i = 0; i < n; i++) {
    const k = menu[prng.below(menu.length)]!;
    switch (k) {
      case 'compute':
        out.push({ op: 'compute', ticks: between(prng, 1, 3) });
        break;
      case 'syscall':
        out.push({ op: 'syscall', name: SYSCALLS[prng.below(SYSCALLS.length)]!, n: prng.below(1000) });
        break;
      case 'fault':
        // A fresh page now and then, a resident one otherwise: faults, and accesses that do not fault.
        out.push({ op: 'touch', addr: 0x100000 + prng.below(8) * 0x1000 + prng.below(64) * 8 });
        break;
      case 'sleep':
        out.push({ op: 'sleep', ticks: between(prng, 1, 4) });
        break;
      case 'fork':
        if (depth < 2) out.push({ op: 'fork', child: drawOps(prng, kinds, between(prng, 1, 4), depth + 1, `${tag}.${i}`), wait: prng.below(2) === 0 });
        break;
      case 'exec':
        if (depth < 3) {
          out.push({ op: 'exec', comm: `/bin/t${tag}.${i}`, rest: drawOps(prng, kinds, between(prng, 1, 4), depth + 1, `${tag}.${i}`) });
          return out;
        }
        break;
      case 'exit':
        if (i > 0) {
          out.push({ op: 'exit', code: prng.below(3) });
          return out;
        }
        break;
    }
  }
  return out;
}

/** The user program that runs a plan. */
export function programOf(plan: readonly PlannedOp[]): Program {
  return function* torture(u: UserOps) {
    for (const p of plan) {
      switch (p.op) {
        case 'compute':
          yield u.compute(p.ticks);
          break;
        case 'syscall':
          if (p.name === 'open' || p.name === 'stat') yield u.syscall(p.name, { path: `/tmp/t${p.n}`, flags: 0 });
          else if (p.name === 'read' || p.name === 'write') yield u.syscall(p.name, { fd: 3, buf: 0x100000, count: 64 });
          else if (p.name === 'close') yield u.syscall('close', { fd: 3 });
          else yield u.syscall(p.name);
          break;
        case 'touch':
          yield u.touch(p.addr);
          break;
        case 'sleep':
          yield u.sleep(p.ticks);
          break;
        case 'fork':
          yield u.fork(programOf(p.child));
          if (p.wait) yield u.wait();
          break;
        case 'exec':
          yield u.exec(p.comm, programOf(p.rest));
          return;
        case 'exit':
          yield u.exit(p.code);
          return;
      }
    }
  };
}

/**
 * Draws a seed's swarm workload (Groce et al., "Swarm testing", ISSTA 2012, as FoundationDB's
 * and TigerBeetle's simulators use it): 1 to `maxCpus` CPUs, each operation kind switched on
 * or off for the whole seed (at least one on), then 1 to 3 shells whose plans draw from the
 * kinds left on. A seed that turns fork off never forks, so the races that need quiet
 * schedules get them on some seeds and the crowded ones on others.
 */
export function drawWorkload(seed: number, maxCpus = 8): Workload {
  const prng = createPrng(seed);
  const cpus = between(prng, 1, maxCpus);
  let kinds = OP_KINDS.filter(() => prng.below(2) === 0);
  if (kinds.length === 0) kinds = [OP_KINDS[prng.below(OP_KINDS.length)]!];
  const set = new Set<OpKind>(kinds);
  const shells: PlannedOp[][] = [];
  const nShells = between(prng, 1, 3);
  for (let i = 0; i < nShells; i++) shells.push(drawOps(prng, set, between(prng, 3, 8), 0, String(i)));
  const rounds = between(prng, 1, 4);
  return { seed, cpus, kinds, shells, rounds, prng };
}
