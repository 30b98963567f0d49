import type { KPath } from '@tracelab/core';
import type { KprobesState } from './state.js';

/** The unsafe variants (README, "Variants"). */
export type KprobesUnsafe =
  /**
   * The detour buffer is freed after an RCU-sched grace period (synchronize_sched), as
   * OPTPROBES could on !PREEMPT kernels. On a preemptible kernel a task preempted inside the
   * buffer has already passed an RCU-sched quiescent state (the preemption), so the wait does
   * not cover it: it resumes in freed memory.
   */
  | 'free-after-rcu-sched'
  /**
   * The optimizer writes the jump over the function's first instructions without waiting for a
   * Tasks grace period first. A task preempted between those instructions (it entered them before
   * the probe was armed) resumes at an address that is now inside the 5-byte jump.
   */
  | 'optimize-without-wait';

export const UNSAFE_VARIANTS: readonly KprobesUnsafe[] = ['free-after-rcu-sched', 'optimize-without-wait'];

export interface KprobesOptions {
  /** Unsafe variants to turn on (one name or a list). Default none. */
  readonly unsafe?: KprobesUnsafe | readonly KprobesUnsafe[];
}

export interface ResolvedKprobesOptions {
  readonly unsafe: readonly KprobesUnsafe[];
}

/** A probe handler (the kprobe's pre_handler): called with preemption disabled; must not sleep. */
export type KprobeHandler = (fn: string) => void;

export interface KprobesApi {
  /**
   * register_kprobe at the entry of `fn`, optimized: a detour buffer is allocated and prepared and
   * the probe armed (an int3 at the entry that diverts into the buffer), then the optimizer waits
   * for a Tasks grace period (synchronize_rcu_tasks; unsafe `optimize-without-wait`: no wait) and
   * replaces the function's first instructions with a jump into the buffer. Returns 0, or
   * `-EEXIST` when `fn` is probed already. Throws `INVALID_OPTION` into the path for a name that
   * is not a non-empty string or a handler that is not a function.
   */
  registerKprobe(fn: string, handler?: KprobeHandler): KPath<number>;
  /**
   * unregister_kprobe: restores the original instructions (no new task enters the buffer), waits
   * for every task that may still be inside it (synchronize_rcu_tasks; unsafe: synchronize_sched),
   * then frees the buffer. Returns 0, or `-ENOENT` when `fn` is not probed.
   */
  unregisterKprobe(fn: string): KPath<number>;
  /**
   * Executes the probed function `fn` (its body: `work` scheduling points). When an optimized
   * probe is there, the task jumps into the detour buffer: the register-saving template
   * (preemptible), the handler (preemption off), the copied instructions (preemptible), the jump
   * back. Everywhere in the buffer the task may be preempted and left on the runqueue. While the
   * probe is armed but the jump not yet written, the int3 at the entry runs the handler and
   * diverts the task into the buffer's copied instructions. Without a probe the task executes the
   * first instructions in place (the region a jump would cover), with a scheduling point between
   * them.
   */
  callFunction(fn: string, work?: number): KPath<void>;
  /** Whether `fn` has a registered probe. */
  probed(fn: string): boolean;
  /** Probe hits so far. */
  hits(): number;
  readonly options: ResolvedKprobesOptions;
}

declare module '@tracelab/core' {
  interface EventMap {
    /**
     * register_kprobe: the probe exists, its detour buffer allocated and prepared, and the probe
     * armed: an int3 at the entry diverts every new call into the buffer (the jump is not written yet).
     */
    'kprobes/registered': { fn: string; buffer: number; pid: number };
    /** The optimizer replaced the function's first instructions with a jump into the buffer, after `waited`. */
    'kprobes/optimized': { fn: string; buffer: number; waited: 'rcu-tasks' | 'none' };
    /** The original instructions are back: no task enters the buffer from here. */
    'kprobes/unoptimized': { fn: string; buffer: number };
    /** The buffer was freed, after `waited` (the grace period the free waited for). */
    'kprobes/buffer-freed': { fn: string; buffer: number; waited: 'rcu-tasks' | 'rcu-sched' };
    /** unregister_kprobe returned. */
    'kprobes/unregistered': { fn: string; pid: number };
    /** A task jumped from `fn` into the detour buffer. */
    'kprobes/detour-enter': { fn: string; buffer: number; pid: number };
    /** The handler ran (inside the buffer, preemption off). */
    'kprobes/hit': { fn: string; buffer: number; pid: number };
    /** The task executed the buffer's copied instructions and jumped back into `fn`. */
    'kprobes/detour-exit': { fn: string; buffer: number; pid: number };
    /** A task began executing `fn`'s first instructions in place (the region an optimized probe's jump covers). */
    'kprobes/region-enter': { fn: string; pid: number };
    /** The task executed the rest of those instructions (after a possible preemption between them) and left the region. */
    'kprobes/region-exit': { fn: string; pid: number };
  }
  interface PluginStates {
    kprobes: KprobesState;
  }
  interface PluginApis {
    kprobes: KprobesApi;
  }
}

export {};
