/**
 * The kprobes plugin's state slice (`state.plugins.kprobes`). Every field is written only by the
 * reducers of `src/internal/reducers.ts`; kernel paths read it through `getState()`.
 */

/** A registered kprobe. */
export interface KprobeState {
  /** The probed function (the probe sits at its entry). */
  readonly fn: string;
  /** Its detour buffer (the optprobe's out-of-line copy of the replaced instructions). */
  readonly buffer: number;
  /**
   * Whether the probe is armed with KPROBE_FLAG_OPTIMIZED set: from `kprobes/registered` to
   * `kprobes/unoptimized`, every new call of the function is diverted into the buffer (by the int3
   * until the jump is written, then by the jump).
   */
  readonly armed: boolean;
  /** Whether the function's first instructions are replaced by a jump into the buffer. */
  readonly optimized: boolean;
}

/** A detour buffer: an executable slot from the optprobe instruction cache. */
export interface DetourBufferState {
  readonly id: number;
  readonly fn: string;
  readonly state: 'live' | 'freed';
}

export interface KprobesState {
  /** Registered probes by function. Guarded by `kprobe_mutex`. */
  readonly probes: Readonly<Record<string, KprobeState>>;
  /** Detour buffers by id, live or freed. */
  readonly buffers: Readonly<Record<string, DetourBufferState>>;
  /** The id the next buffer gets. */
  readonly nextBuffer: number;
  /** Tasks executing inside a detour buffer now (pid -> buffer id), running or preempted there. */
  readonly inDetour: Readonly<Record<string, number>>;
  /**
   * Tasks executing a function's first instructions in place now (pid -> the function, and
   * whether a jump has been written over those instructions since the task entered them).
   */
  readonly inRegion: Readonly<Record<string, { readonly fn: string; readonly overwritten: boolean }>>;
  /** Probe hits (the handler ran). */
  readonly hits: number;
  /** The first violation found, with the invariant it breaks. */
  readonly violation: { readonly invariant: string; readonly message: string } | null;
}

export const INITIAL_KPROBES_STATE: KprobesState = { probes: {}, buffers: {}, nextBuffer: 1, inDetour: {}, inRegion: {}, hits: 0, violation: null };

/** Serializes registration and unregistration (the kernel's kprobe_mutex). Nests inside no other lock. */
export const KPROBE_MUTEX = 'kprobe_mutex';
