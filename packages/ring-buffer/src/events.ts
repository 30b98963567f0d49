import type { KPath } from '@tracelab/core';
import type { CtfField, CtfTraceClass } from '@tracelab/formats';
import type { RingBuffer, RingBufferMode } from './buffer.js';

/** The thread flag that sends a task to the syscall-entry tracepoints (TIF_SYSCALL_TRACEPOINT). */
export const TIF_SYSCALL_TRACEPOINT = 'TIF_SYSCALL_TRACEPOINT';

/** The mutex every tracepoint probe-array update runs under (kernel/tracepoint.c): `@tracelab/tracepoints`' TRACEPOINTS_MUTEX. */
export const TRACEPOINTS_MUTEX = 'tracepoints_mutex';

/** How a commit reaches the sub-buffer's commit count. */
export type CommitCounters = 'local-remote' | 'local-only';

/** How a faultable probe copies user data into the per-CPU buffer. */
export type CopyStrategy = 'in-place' | 'temporary-buffer' | 'fault-in-restart' | 'user-fault-read';

/**
 * Why a record was lost (which lost counter it went to). 'nesting': the CPU was already
 * RING_BUFFER_MAX_NESTING reserves deep (task, interrupt, NMI, or a probe recursing). 'clock':
 * the trace clock read failed (`traceClock: 'ktime-get'` in an NMI).
 */
export type LostReason = 'full' | 'wrap' | 'big' | 'nesting' | 'clock';

/** How a reserve updates the write offset: LTTng's CPU-local compare-and-exchange, or the unsafe plain store. */
export type OffsetUpdate = 'cmpxchg' | 'plain-store';

/**
 * `RingBufferOptions.traceClock`: 'nmi-safe' is lttng-modules' NMI-safe monotonic clock (the
 * default, kernels >= 3.17); 'ktime-get' is its older wrapper over ktime_get(), which refuses
 * to read from NMI context (it would deadlock on the timekeeping seqlock) and returns -EIO.
 */
export type TraceClock = 'nmi-safe' | 'ktime-get';

/**
 * lib_ring_buffer_get_cpu's limit: reserves nested deeper than this on one CPU (task, hard
 * interrupt, NMI, and a level for a probe that traces from inside its own record) are refused.
 */
export const RING_BUFFER_MAX_NESTING = 4;

/**
 * A record reserved by `eventReserve`, written and not yet committed: what `eventCommit`
 * takes. The caller holds the CPU (preemption off) until it commits.
 */
export interface EventReservation {
  readonly tracepoint: string;
  /** The CPU whose buffer holds the record. */
  readonly cpu: number;
  /** The record's free-running offset in that buffer. */
  readonly offset: number;
  /** Its size in bytes (event header and payload). */
  readonly size: number;
  /** The CPU's nesting level while it is held: 1 for the outermost reserve. */
  readonly nesting: number;
}

/**
 * A tracepoint's field: a CTF field, plus `user: true` on a string field whose value at the
 * call site is a user-space address (the probe reads it with copy_from_user, so the
 * tracepoint must be faultable).
 */
export interface TracepointField extends CtfField {
  readonly user?: boolean;
}

export interface TracepointDefinition {
  /** e.g. `sched_switch`, `syscall_entry_open`. Unique. */
  readonly name: string;
  readonly fields: readonly TracepointField[];
  /** Probes run preemptible inside a tasks-trace read side and may fault. */
  readonly faultable?: boolean;
}

/** A field value at a call site: integers, kernel strings, or user addresses for `user` fields. */
export type TracepointValue = number | bigint | string;

/**
 * A call site's fields, by name: `{ prev_comm: 'sh', prev_tid: 3, ... }`. Integer fields take
 * a number or a bigint, string and char-array fields a string, `user` fields the user address
 * (a number) the probe copies from. A field left out is written as 0 or "".
 */
export type TracepointFields = Readonly<Record<string, TracepointValue>>;

/**
 * A tracepoint probe, called with the tracepoint's named fields and the private data it was
 * registered with: a plain function, or a generator function when it must take kernel steps (a
 * faultable probe reading user memory). Called in priority order under the tracepoint's
 * read-side protection.
 */
export type TracepointProbe = (fields: TracepointFields, data: unknown) => KPath<void> | void;

export interface RingBufferOptions {
  /** Bytes per sub-buffer, a power of two >= 128. Default 4096. */
  readonly subbufSize?: number;
  /** Sub-buffers per CPU buffer, a power of two >= 2. Default 4. */
  readonly numSubbuf?: number;
  /** 'discard' (default): new records are dropped when full; 'overwrite': flight recorder. */
  readonly mode?: RingBufferMode;
  /** Default 'local-remote' (the seed's dual counters). 'local-only' is the unsafe variant. */
  readonly commitCounters?: CommitCounters;
  /**
   * Default 'in-place' (reserve, copy preemptible, commit). 'user-fault-read' is upstream's
   * trace_user_fault_read (2025): copy into a per-CPU buffer with preemption on, retry if the
   * task was switched out or moved meanwhile (another task may have used the buffer), give up
   * with a warning after 100 tries; then reserve, write and commit with preemption off.
   */
  readonly copyStrategy?: CopyStrategy;
  /** Attach the channel probe to every tracepoint at registration (a session started before the workload). Default true. */
  readonly enableAll?: boolean;
  /** Register the invariants. Default true. */
  readonly checks?: boolean;
  /** The trace uuid (text). Default: derived from the kernel seed. */
  readonly uuid?: string;
  /** With `enableAll`: run the lttng-modules state dump (a kernel thread) at the first context switch. Default true. */
  readonly statedump?: boolean;
  /**
   * With `enableAll`: the built-in tracepoints enabled from the start, as names or globs
   * (`*` any run of characters, `?` one), like `lttng enable-event -k 'sched_*'`. Default `['*']`.
   */
  readonly events?: readonly string[];
  /**
   * Run the reserve slow path and check_deliver as lttng-modules' separate steps, with
   * scheduling points between them (other CPUs act there): the slow path reads the offset,
   * then the target's cc_sb, re-reads the offset and retries if it moved, then CASes the
   * offset; delivery CASes cc_sb to old + 1, writes the packet's end fields, then publishes
   * cc_sb = cc. Default false: each runs as one step (what every recorded seed of the catalog
   * was found with; docs/ring-buffer.md, "Interleaved steps").
   */
  readonly interleave?: boolean;
  /** With `interleave`: the cc_sb compare-and-exchange of check_deliver. `false` is the unsafe variant (a plain compare, then a write): two committers can both deliver. Default true. */
  readonly deliverCas?: boolean;
  /** With `interleave`: the slow path's re-read of offset after reading cc_sb, with its retry. `false` is the unsafe variant: a loss counted from a stale offset. Default true. */
  readonly reserveReread?: boolean;
  /** The periodic switch timer (`lttng enable-channel --switch-timer`), in ticks: every period, switch(ACTIVE) each CPU buffer, so a quiet stream still delivers what it holds. 0 (default): off. */
  readonly switchTimer?: number;
  /** The read timer (`--read-timer`), in ticks: writers do not wake the consumer; the timer polls for delivered sub-buffers each period and wakes it. 0 (default): the writer wakes it at delivery. */
  readonly readTimer?: number;
  /** Snapshot mode (`lttng create --snapshot`): overwrite buffers no consumer drains; `snapshotRecord()` copies what they hold. Needs `mode: 'overwrite'`. Default false. */
  readonly snapshot?: boolean;
  /**
   * Record from interrupt context (issue 18): the `irq_handler_entry`/`irq_handler_exit`,
   * `timer_hrtimer_expire_entry` and `nmi_sample` tracepoints fire from the core's interrupt
   * and NMI handlers into the current CPU's buffer, and every reserve reads the offset and
   * updates it (compare-and-exchange) as two steps with a scheduling point between them, where
   * an interrupt may arrive and reserve. Default false: runs and logs are as before.
   */
  readonly interrupts?: boolean;
  /**
   * With `interrupts`: how a reserve moves the write offset. 'cmpxchg' (default) is LTTng's
   * CPU-local compare-and-exchange (retry when an interrupt moved it since the read);
   * 'plain-store' is the **unsafe** read-modify-write store: an interrupt's reserve between the
   * read and the store is overwritten, and two records overlap (`ring-buffer/overlap`).
   */
  readonly offsetUpdate?: OffsetUpdate;
  /**
   * How `flush` switches another CPU's buffer (the FLUSH ioctl's lib_ring_buffer_switch_remote).
   * 'ipi' is what lttng-modules does for per-CPU buffers: `smp_call_function_single` to the
   * owner, which switches its own buffer in the IPI handler (a local commit add), while the
   * flushing CPU waits. 'remote' (default, what every recorded run used) switches it from the
   * flushing CPU, the padding added to the REMOTE commit counter.
   */
  readonly flushSwitch?: FlushSwitch;
  /**
   * With `interrupts`: the trace clock. 'nmi-safe' (default) never fails. 'ktime-get' is
   * lttng-modules' wrapper for kernels without the NMI-safe clock: read from an NMI it returns
   * -EIO, the reserve's fast path sees that and takes the slow path, whose own clock read fails
   * again: the reserve returns -EIO. lttng-modules counts it in no lost counter; tracelab counts
   * it (`record-lost` reason 'clock', the buffer's `recordsLostClock`, in events_discarded), as it
   * does the nesting limit's -EPERM. Refused without `interrupts` (nothing else runs in NMI context).
   */
  readonly traceClock?: TraceClock;
  /**
   * The reader takes packets as lttng-modules' get_subbuf does (update_read_sb_index): in
   * overwrite mode it swaps its spare sub-buffer with the one it reads (only while that one's id
   * carries noref and the lap being consumed), in discard mode it reads the writer's sub-buffer
   * in place; the consumer copies the packet out as it writes it. Default false: get_subbuf
   * copies the packet into the reader's own bytes (what recorded runs used; the CTF output is
   * the same either way).
   */
  readonly readerSwap?: boolean;
  /**
   * UNSAFE when false: with `readerSwap` in overwrite mode, get_subbuf skips
   * update_read_sb_index's exchange (no noref or lap check, no swap of the spare): it reads the
   * writer's sub-buffer in place, and a writer lapping onto it meanwhile overwrites the packet
   * being read (`ring-buffer/packets`). Default true. Refused without `readerSwap`.
   */
  readonly readerSwapExchange?: boolean;
  /**
   * Which threads syscall_regfunc / syscall_unregfunc walk to set or clear
   * TIF_SYSCALL_TRACEPOINT. Default `'every-thread'`: every thread on the task list, kernel
   * threads and zombies included, as upstream's for_each_process_thread. `'skip-kthreads'` is
   * the unsafe variant reverted upstream ("tracing: syscall_regfunc() should not skip kernel
   * threads"): a kernel thread keeps whatever flag it had (one started while the flag was on
   * keeps it after the clear), caught by `ring-buffer/syscall-flag` (I1).
   */
  readonly syscallWalk?: SyscallWalk;
}

/** `RingBufferOptions.syscallWalk`. */
export type SyscallWalk = 'every-thread' | 'skip-kthreads';

/** `RingBufferOptions.flushSwitch`. */
export type FlushSwitch = 'remote' | 'ipi';

export interface ResolvedRingBufferOptions {
  readonly subbufSize: number;
  readonly numSubbuf: number;
  readonly mode: RingBufferMode;
  readonly commitCounters: CommitCounters;
  readonly copyStrategy: CopyStrategy;
  readonly enableAll: boolean;
  readonly checks: boolean;
  readonly uuid: string | null;
  readonly statedump: boolean;
  readonly events: readonly string[];
  readonly interleave: boolean;
  readonly deliverCas: boolean;
  readonly reserveReread: boolean;
  readonly switchTimer: number;
  readonly readTimer: number;
  readonly snapshot: boolean;
  readonly interrupts: boolean;
  readonly offsetUpdate: OffsetUpdate;
  readonly flushSwitch: FlushSwitch;
  readonly traceClock: TraceClock;
  readonly readerSwap: boolean;
  readonly readerSwapExchange: boolean;
  readonly syscallWalk: SyscallWalk;
}

/** Per-CPU counters in the slice (written only by reducers). */
export interface RingBufferCpuState {
  readonly packetsDelivered: number;
  readonly packetsConsumed: number;
  readonly recordsConsumed: number;
  readonly packetsOverwritten: number;
  readonly recordsOverwritten: number;
  /** `nesting` and `clock` appear with the first record lost to the nesting limit or the clock (so earlier states digest as before). */
  readonly lost: { readonly full: number; readonly wrap: number; readonly big: number; readonly nesting?: number; readonly clock?: number };
}

/** `state.plugins['ring-buffer']`. Every field is written only by reducers. */
export interface RingBufferState {
  readonly perCpu: readonly RingBufferCpuState[];
  readonly flushes: number;
  /** Faultable copies restarted ('fault-in-restart'). */
  readonly restarts: number;
}

export interface RingBufferSummary {
  readonly delivered: number;
  readonly lost: number;
  readonly perCpu: ReadonlyArray<{
    readonly cpu: number;
    readonly delivered: number;
    readonly lost: number;
    readonly lostFull: number;
    readonly lostWrap: number;
    readonly lostBig: number;
    readonly lostNesting: number;
    /** Records lost to a failed trace clock read (`traceClock: 'ktime-get'`): present only when there was one, so other summaries are unchanged. */
    readonly lostClock?: number;
    readonly overwritten: number;
    readonly packets: number;
  }>;
}

export interface RingBufferApi {
  /** Defines a tracepoint (host side, typically at plugin registration); returns its CTF event id. Throws INVALID_OPTION on a bad or duplicate definition. */
  defineTracepoint(def: TracepointDefinition): number;
  /** Every tracepoint defined, in id order. */
  tracepoints(): readonly (TracepointDefinition & { readonly id: number })[];
  /**
   * The tracepoint call site, with the fields by name (checked against the definition: an
   * unknown name or a value of the wrong type throws INVALID_OPTION). Off (no probe): returns at once. Otherwise calls every probe of
   * the current array: inside preempt_disable for a normal tracepoint, inside a tasks-trace
   * read side (preemptible, may fault) for a faultable one. Unknown name: INVALID_OPTION.
   */
  trace(name: string, fields: TracepointFields): KPath<void>;
  /**
   * The function tracer's probe, to use as (or call from) an ftrace ops' callback: writes
   * `func_entry { ip, parent_ip }` through the `func_entry` tracepoint, so function entries
   * reach the per-CPU buffers and the CTF trace. With `@tracelab/ftrace`:
   * `functionTracer(kernel.api.ftrace, { func: kernel.api['ring-buffer'].functionEntry })`.
   */
  functionEntry(ip: string, parentIp: string): KPath<void>;
  /**
   * tracepoint_probe_register_prio under tracepoints_mutex: 0, -EEXIST (same probe and data),
   * -EINVAL (unknown tracepoint). The old array is freed after an RCU-sched grace period, or
   * a tasks-trace one for a faultable tracepoint.
   */
  tracepointProbeRegister(name: string, probe: TracepointProbe, data?: unknown, prio?: number): KPath<number>;
  /** tracepoint_probe_unregister: 0, -ENOENT (no probe at all on it), -EINVAL (unknown tracepoint). */
  tracepointProbeUnregister(name: string, probe: TracepointProbe, data?: unknown): KPath<number>;
  /** Attaches the channel's probe (serialize into the per-CPU buffer) to a tracepoint. */
  enableEvent(name: string): KPath<number>;
  disableEvent(name: string): KPath<number>;
  /** switch(FLUSH) on every CPU buffer, then stops recording (later reserves: -EAGAIN, not counted as lost): closes non-empty sub-buffers so they are delivered. */
  flush(): KPath<void>;
  /**
   * The lttng-modules state dump: `lttng_statedump_start`, one `lttng_statedump_process_state`
   * per listed task (walked under the tasklist read lock), `lttng_statedump_end`. `lttng start`
   * runs it; with `enableAll` and `statedump` the plugin runs it at the first context switch.
   */
  statedump(): KPath<void>;
  /** Host reads. */
  buffers(): readonly RingBuffer[];
  /** The packets the consumer wrote out, per CPU (each the bytes of one CTF packet). */
  streams(): readonly (readonly Uint8Array[])[];
  traceClass(): CtfTraceClass;
  /** Host-side accounting check; [] when records produced = consumed + lost + overwritten exactly (call when quiescent, after flush). */
  checkAccounting(): string[];
  summary(): RingBufferSummary;
  /** True while the consumer thread is alive. */
  consumerRunning(): boolean;
  /**
   * `lttng snapshot record` (KPath): switch(ACTIVE) each CPU buffer, then copy every delivered
   * packet between its consumed and produced positions without moving the consumer. Returns
   * the number of packets copied; `snapshots()` holds each record's per-CPU packets.
   */
  snapshotRecord(): KPath<number>;
  /** The snapshots recorded so far: per snapshot, per CPU, the packets' bytes. */
  snapshots(): readonly (readonly (readonly Uint8Array[])[])[];
  /**
   * lttng_event_reserve for tracepoint `name` (KPath): get_cpu (preemption off, the CPU's
   * nesting level up), reserve a record on the current CPU's buffer and write `fields` into
   * it. Returns the reservation, which the caller must hand to `eventCommit` on the same CPU
   * without sleeping; or a negative errno, with the CPU released: -EPERM (the CPU is already
   * RING_BUFFER_MAX_NESTING deep: `record-lost` reason 'nesting'), -ENOBUFS, -EIO, -ENOSPC
   * (lost, as `reserve`), -EAGAIN (the session is stopped). Works whether or not the
   * tracepoint has probes (it is what the channel probe runs). Unknown tracepoint or a bad
   * field: INVALID_OPTION.
   */
  eventReserve(name: string, fields: TracepointFields): KPath<EventReservation | number>;
  /**
   * lttng_event_commit (KPath): commit the record (delivering its sub-buffer if this commit
   * completes it, in whatever order nested records commit), then put_cpu (nesting level down,
   * preemption back on). A reservation not from `eventReserve`, committed twice, or committed
   * on another CPU: INVALID_OPTION.
   */
  eventCommit(reservation: EventReservation): KPath<void>;
  /** The current nesting level of each CPU (host read). */
  nesting(): readonly number[];
  /** The deepest nesting level each CPU reached so far (host read). */
  nestingPeak(): readonly number[];
}

declare module '@tracelab/core' {
  interface EventMap {
    /** A sub-buffer lap was delivered (its commit count complete): a packet for the consumer. */
    'ring-buffer/subbuf-delivered': { bufCpu: number; subbuf: number; lap: number; packetSeq: number; records: number; discarded: number };
    /** The consumer took a packet out and wrote it to the stream of `bufCpu`. */
    'ring-buffer/subbuf-consumed': { bufCpu: number; packetSeq: number; records: number };
    /** Overwrite mode: the writer pushed the reader past `packets` delivered, unread packets. */
    'ring-buffer/subbuf-overwritten': { bufCpu: number; packets: number; records: number };
    /** A reserve failed: the record went to lost counter `reason`. */
    'ring-buffer/record-lost': { bufCpu: number; reason: LostReason; tracepoint: string; pid: number };
    /** A fault-in-restart copy faulted with preemption off and restarted, or a user-fault-read copy was interrupted by a context switch and retried. */
    'ring-buffer/copy-restart': { pid: number; tracepoint: string };
    'ring-buffer/flushed': { pid: number; switched: number };
    /** The periodic switch timer switched `switched` buffers (SWITCH_ACTIVE). */
    'ring-buffer/switch-timer': { switched: number };
    /** A snapshot record copied `packets` packets. */
    'ring-buffer/snapshot-recorded': { pid: number; packets: number };
  }
  interface PluginStates {
    'ring-buffer': RingBufferState;
  }
  interface PluginApis {
    'ring-buffer': RingBufferApi;
  }
}
