import { ValueLabels } from '@tracelab/core';
import type { TracepointProbe, TracepointRegfunc, TracepointUnregfunc } from '../events.js';

/*
 * The hot side of kernel/tracepoint.c: what call sites read. It lives outside the immer state
 * (ARCHITECTURE.md 2.1); its lifecycle is in the log, and `tracepoints/registry-matches-state`
 * checks the two agree after every step.
 *
 * Lock nesting: tracepoints_mutex is the only lock here; the module hooks take it after
 * module_mutex is released (the core runs moduleLoad/moduleUnload without it).
 */

/**
 * tp_stub_func: what an entry holds after an unregister could not allocate the smaller array.
 * It does nothing; the iterator calls it like any probe (upstream's CFI thread is why it takes
 * no typed arguments there; here it is an ordinary function).
 */
export function tpStubFunc(): void {
  // removed probe: nothing to do
}

/** One entry of a probe array (`struct tracepoint_func`). */
export interface TpFunc {
  /**
   * The probe, or tpStubFunc once an unregister that could not allocate overwrote it in place
   * (upstream's WRITE_ONCE). Written only under tracepoints_mutex; read without a lock by the
   * iterator, which is why the stub must stay callable.
   */
  func: TracepointProbe;
  readonly data: unknown;
  readonly prio: number;
  readonly probeLabel: string;
  readonly dataLabel: string;
}

/**
 * A probe array (`struct tp_probes`). The array itself (`funcs`) is frozen before it is
 * published and never changes length; only an entry's `func` can become the stub. `freed` is
 * the allocator's view: set by whoever frees it (the grace-period callback, or the unsafe
 * immediate free). Nothing reads an entry after `freed` except to report it.
 */
export interface ProbeArray {
  readonly id: number;
  readonly tracepoint: string;
  readonly funcs: readonly TpFunc[];
  freed: boolean;
}

/** What a static call points at: one probe (with its label for the checks), or null for the iterator. */
export interface StaticCallTarget {
  readonly func: TracepointProbe;
  readonly label: string;
}

/** `struct tracepoint`. */
export class Tracepoint {
  /** The static key. guarded by: tracepoints_mutex (writers); call sites test it without a lock. */
  key = false;
  /** `tp->funcs`, the RCU pointer. guarded by: tracepoints_mutex (writers, rcu_assign_pointer); read under the flavour's read side. */
  funcs: ProbeArray | null = null;
  /** The static call's target; null = the iterator. guarded by: tracepoints_mutex (tracepoint_update_call). */
  staticCall: StaticCallTarget | null = null;

  constructor(
    readonly name: string,
    readonly module: string | null,
    readonly faultable: boolean,
    readonly regfunc: TracepointRegfunc | null,
    readonly unregfunc: TracepointUnregfunc | null,
    /** regfunc's host-side boot form (`TracepointSpec.bootRegfunc`); static, like the definition. */
    readonly bootRegfunc: (() => number | void) | null = null,
  ) {}
}

/** Live (non-stub) entries of an array. */
export function liveFuncs(a: ProbeArray | null): TpFunc[] {
  return a === null ? [] : a.funcs.filter((f) => f.func !== tpStubFunc);
}

/**
 * The tracepoint table of one plugin instance (one kernel).
 * guarded by: tracepoints_mutex for kernel paths (probe registration, module hooks); the
 * host-side `defineTracepoint` writes it only between steps.
 */
export class Registry {
  /** By name: core tracepoints first, then modules'. */
  readonly tracepoints = new Map<string, Tracepoint>();
  /** Each loaded module's tracepoint names, in load order. */
  readonly modules = new Map<string, string[]>();
  /**
   * Moves on every hot change, so the consistency invariants can skip the steps that changed
   * nothing. Written only by `touch()` (guarded by: tracepoints_mutex, or the grace-period
   * callback that frees an array) and put back by the restore of `mark()`.
   */
  private version = 0;
  /** guarded by: tracepoints_mutex (allocate_probes runs under it). */
  private nextArrayId = 1;
  /** Probe and data labels. guarded by: tracepoints_mutex (registrations label under it). */
  private readonly labels = new ValueLabels();

  /** The hot version: equal between two steps only if nothing hot changed in between. */
  get hotVersion(): number {
    return this.version;
  }

  /** The one place the hot version moves: called by every hot write, in the step of its event. */
  touch(): void {
    this.version++;
  }

  /** A stable name for a value within this kernel: `fn#3`, `obj#4`, `n:5`, `s:"x"`. */
  label(value: unknown, fallback: string): string {
    return this.labels.label(value, fallback);
  }

  entry(func: TracepointProbe, data: unknown, prio: number): TpFunc {
    return { func, data, prio, probeLabel: this.label(func, 'probe'), dataLabel: this.label(data, 'obj') };
  }

  /** allocate_probes + fill: the array is frozen before anyone can see it. */
  newArray(tracepoint: string, funcs: TpFunc[]): ProbeArray {
    return { id: this.nextArrayId++, tracepoint, funcs: Object.freeze(funcs), freed: false };
  }

  /**
   * The table as it is now (the end of registration), and how to put it back (`kernel.reset`):
   * tracepoints defined so far are kept, with no probe; those defined later and modules' are
   * dropped; array ids and labels start again as at the end of registration (which connects no
   * probe, so no label exists yet).
   */
  mark(): () => void {
    const core = [...this.tracepoints.values()];
    const hot = this.version;
    const nextArray = this.nextArrayId;
    const restoreLabels = this.labels.mark();
    return () => {
      this.nextArrayId = nextArray;
      restoreLabels();
      this.tracepoints.clear();
      for (const tp of core) {
        tp.key = false;
        tp.funcs = null;
        tp.staticCall = null;
        this.tracepoints.set(tp.name, tp);
      }
      this.modules.clear();
      this.version = hot + 1;
    };
  }
}
