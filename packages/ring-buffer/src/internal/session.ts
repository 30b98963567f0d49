import type { KPath } from '@tracelab/core';
import type { RcuTasksApi } from '@tracelab/rcu-tasks';
import type { TracepointProbe as TpProbe, TracepointsApi } from '@tracelab/tracepoints';
import { uuidBytes, type CtfEventClass } from '@tracelab/formats';
import { RingBuffer } from '../buffer.js';
import type { EventReservation, ResolvedRingBufferOptions, TracepointDefinition, TracepointFields, TracepointProbe } from '../events.js';
import type { RingBufferPluginFaults } from './faults.js';

export interface Tracepoint {
  readonly id: number;
  readonly def: TracepointDefinition;
  readonly ec: CtfEventClass;
  readonly faultable: boolean;
  readonly userFields: boolean;
  /** The fields by name (static, like the definition). */
  readonly byField: ReadonlyMap<string, TracepointDefinition['fields'][number]>;
}

/** A reserve not yet committed (checker state). */
export interface Reservation {
  readonly pid: number;
  readonly buf: RingBuffer;
  readonly o: number;
  /** Reserved by an interrupt or NMI handler: `pid` is the task it interrupted, which may be exiting. */
  readonly interrupt: boolean;
}

/** A successful reserve: where the record is and what the commit needs. */
export interface Held {
  readonly id: number;
  readonly buf: RingBuffer;
  readonly o: number;
  readonly pos: number;
  readonly ts: number;
  readonly tp: string;
}

/** The consumer kthread's comm; the session does not trace it (see isConsumer in sched.ts). */
export const CONSUMER_COMM = 'lttng-consumerd';
/** The session's timer threads (the switch and read timers: kernel timers in lttng-modules, threads here, not callbacks in the tick). */
export const SWITCH_TIMER_COMM = 'lttng-switch-timer';
export const READ_TIMER_COMM = 'lttng-read-timer';
/** The session's own threads, which it does not trace. */
export const SESSION_COMMS: ReadonlySet<string> = new Set([CONSUMER_COMM, SWITCH_TIMER_COMM, READ_TIMER_COMM]);

/** Sub-buffer size from which the consumer's own context switches are recorded. */
export const CONSUMER_SWITCHES_FROM = 1024;

/** A deterministic uuid from the seed (no randomness in simulation code). */
function seedUuid(seed: number): string {
  const h = (seed >>> 0).toString(16).padStart(8, '0');
  return `${h}-7472-6163-656c-616200000000`.replace(/0{8}$/, h);
}

/**
 * One ring-buffer plugin instance: an lttng-modules kernel session with its channel (the
 * per-CPU buffers), the tracepoint table its probes hang on, the session's threads and the
 * checkers' records. Everything here lives outside the immer state (hot data, referenced by the
 * events that record its lifecycle); each field says who writes it, and nothing else does.
 * `kernel.reset` puts every field back as registration left it (internal/reset.ts).
 */
export class RingBufferSession {
  // ---- configuration (read-only after construction) ------------------------------------------
  readonly cpus: number;
  readonly opts: ResolvedRingBufferOptions;
  readonly faults: RingBufferPluginFaults;
  readonly rcuTasks: RcuTasksApi;
  /** The kernel's seed, read when the buffers are made (the trace uuid derives from it). */
  readonly seed: () => number;
  /**
   * Each consumer pass adds two switch records (in, out). From CONSUMER_SWITCHES_FROM on, that
   * is a small part of a sub-buffer (a sched_switch record is 68 bytes), so the consumer's own
   * records deliver a sub-buffer far less often than once per pass and the feedback dies out;
   * below, its switches are left out as the rest of its events are (see isConsumer in sched.ts).
   */
  readonly traceConsumerSwitches: boolean;
  /**
   * The channel's probe (lttng_ring_buffer_client: serialize a tracepoint's fields into this
   * CPU's buffer), one function per session so that enableEvent and disableEvent name the same
   * (probe, data) pairs.
   */
  readonly channelProbe: TracepointProbe;

  /** The tracepoints plugin's API: the key, probe arrays and call site of every tracepoint here. */
  readonly tp: TracepointsApi;
  /**
   * Runs a path of the plugin naming its data outside the state, the buffers and their counters
   * (`@ring-buffer:*`), in every step the path runs in (core `ctx.touching`), so that explore's
   * DPOR orders two steps of different CPUs that touch them (docs/explore.md §4a, "The ring
   * buffer's gap"). Set once at registration (before it, for a session built alone: the path as
   * it is). Every way in is wrapped: the probes, the hooks, the API's paths, the kthreads.
   */
  within: <T>(path: KPath<T>) => KPath<T> = (path) => path;
  /** channelProbe as `tracepoints` calls it, `(data, fields)`: the one function every enableEvent connects. */
  readonly channelTpProbe: TpProbe;
  /** lttng's syscall_entry_event_probe / syscall_exit_event_probe, connected to sys_enter / sys_exit (lttng_syscalls.ts). */
  readonly sysEnterProbe: TpProbe;
  readonly sysExitProbe: TpProbe;

  // ---- the ring buffer's tracepoint definitions (CTF event classes) --------------------------
  /** Definitions are static (like code): written only by defineTracepoint (host side) and reset. */
  readonly byName = new Map<string, Tracepoint>();
  /** The same tracepoints by CTF event id; written with `byName`. */
  readonly byId: Tracepoint[] = [];
  /**
   * The wrapper `tracepoints` calls for each ring-buffer probe function (tracepoint.ts,
   * tpProbeOf). A host memo, written only there; an entry never changes once made.
   */
  readonly wrappers = new WeakMap<TracepointProbe, TpProbe>();
  /**
   * sys_tracepoint_refcount R: how many of sys_enter and sys_exit have probes (0..2). Guarded
   * by: tracepoints_mutex (syscall_regfunc / syscall_unregfunc run under it), and written by
   * regfunc's boot form at registration, before any step.
   */
  sysTracepointRefcount = 0;
  /**
   * TIF_SYSCALL_TRACEPOINT of the stand-in parent (init, kthreadd) of a task started with
   * parent 0: every walk visits it first, so it takes the walk's value as the walk begins.
   * Written by syscallFlagAllTasks (under tracepoints_mutex and the tasklist read lock) and by
   * regfunc's boot form before any step; read by the fork hook under the tasklist write lock.
   */
  initSyscallFlag = false;

  // ---- the channel and its consumer ----------------------------------------------------------
  /**
   * Per-CPU buffers, created lazily at the first use (the uuid needs the seed). Each buffer
   * is guarded as buffer.ts explains (its owner CPU with preemption off, remote adds atomic).
   */
  buffers: RingBuffer[] | null = null;
  /** The consumer's output streams, per CPU. Written only by the consumer thread. */
  readonly streams: Uint8Array[][];
  /** The consumer kthread is alive: set at kthreadRun, cleared by the thread in the same step as its last empty pass (so a delivery never finds it "running" while it has quit). */
  consumerAlive = false;
  /** The switch timer thread is alive: set when started, cleared by the thread in the step it quits. */
  switchTimerAlive = false;
  /** The read timer thread is alive: set when started, cleared by the thread in the step it quits. */
  readTimerAlive = false;
  /** Snapshots recorded: per snapshot, per CPU, the packets. Written by snapshotRecord. */
  readonly snapshots: Uint8Array[][][] = [];
  /**
   * A timestamp for the next records of one CPU's buffer, when they happened before the code
   * that writes them runs (the switch hooks run at the CPU's next step: their records carry
   * the switch's tick). Set and cleared by that CPU's switch hook with preemption off, so only
   * that CPU's records read it; never earlier than the buffer's last record.
   */
  readonly switchTs: (number | null)[];
  /** Context switches per CPU (nr_context_switches for trace_user_fault_read); written by that CPU's contextSwitch hook. */
  readonly cpuSwitches: number[];
  /**
   * lib_ring_buffer_nesting: reserves open on each CPU (task, interrupt, NMI, recursion).
   * Per-CPU: changed only by code running on that CPU between get_cpu and put_cpu (preemption
   * off), so a context nested on it restores it before the outer one goes on.
   */
  readonly nesting: number[];
  /** eventReserve's reservations not yet committed; written by eventReserve / eventCommit. */
  readonly held = new Map<EventReservation, { readonly r: Held; readonly slot: number }>();
  /** Next reservation id; written by the reserve path with preemption off. */
  nextReservation = 1;

  // ---- the tracepoint call sites' scheduler bookkeeping (sched.ts, lttng_syscalls.ts) --------
  // Host-side (task_cpu, and what the kernel knows at wake-up time). Written only by this
  // plugin's hooks; the simulator runs one CPU at a time, and every hook runs with preemption
  // off, so no two of them interleave.
  /** The CPU each task last ran on, as seen at its last switch-in. */
  readonly lastCpu = new Map<number, number>();
  /**
   * Tasks that switched out asleep (or stopped) and whose wakeup has not been traced yet: a
   * timer wakeup runs no hook (no waking context), so its sched_waking/sched_wakeup are
   * written by the CPU that switches the task back in, at that time.
   */
  readonly asleep = new Set<number>();
  /** Tasks whose wakeup the wakeup hook traced since their last switch hook ran (a wakeup can come between a switch and its hook, which runs at that CPU's next step). */
  readonly wokenTraced = new Set<number>();
  /** Forked children not yet woken: their first wakeup is wake_up_new_task (sched_wakeup_new). */
  readonly newborn = new Set<number>();
  /** Each task's syscall arguments between its entry and exit hooks (the exit event writes back the output pointers); touched only by the task's own syscall hooks. */
  readonly syscallArgs = new Map<number, Readonly<Record<string, number>>>();
  /** The state dump ran (set in the step that starts it, by the first context switch hook). */
  statedumpDone = false;

  // ---- checker state (the invariants read it; internal/invariants.ts) -----------------------
  /** Reserves not yet committed, by reservation id; written by the reserve and commit paths. */
  readonly inFlight = new Map<number, Reservation>();
  /** What the commit path found wrong; appended by it. (Probe-array misuse is the tracepoints plugin's to report.) */
  readonly errors: string[] = [];
  /** What the consumer found wrong in the packets it took; written by the consumer. */
  readonly packetErrors: string[] = [];
  /** The last packet_seq_num the consumer saw per CPU; written by the consumer. */
  readonly lastSeq: number[];
  /** The last events_discarded the consumer saw per CPU; written by the consumer. */
  readonly lastDiscarded: number[];
  /** The last timestamp_end the consumer saw per CPU; written by the consumer. */
  readonly lastTsEnd: number[];
  /** The highest write offset seen per CPU; written by the `offsets` invariant. */
  readonly seenOffsets: number[];
  /** The highest consumed position seen per CPU; written by the `offsets` invariant. */
  readonly seenConsumed: number[];
  /** check_deliver calls in progress per (cpu, sub-buffer), with `interleave`; written by the committing path around its steps. */
  readonly deliverChecks: number[];
  /** The deepest each CPU's nesting went; written with `nesting`. */
  readonly nestingPeak: number[];
  /**
   * With `interrupts`: the byte ranges reserved in each sub-buffer lap of each CPU, keyed by
   * the lap's absolute sub-buffer number (offset / subbufSize), as [start, end) pairs; written
   * by the reserve path (laps a whole buffer behind are dropped).
   */
  readonly reserved: Map<number, number[]>[];
  /** The first overlap found; written by the reserve path. */
  overlapError: string | null = null;
  /** Test-only faults already applied (each applies once); written by the commit path. */
  readonly faultsDone = new Set<string>();

  constructor(
    cpus: number,
    opts: ResolvedRingBufferOptions,
    rcuTasks: RcuTasksApi,
    tp: TracepointsApi,
    faults: RingBufferPluginFaults,
    seed: () => number,
    probes: (st: RingBufferSession) => { channel: TracepointProbe; sysEnter: TpProbe; sysExit: TpProbe },
  ) {
    this.tp = tp;
    this.cpus = cpus;
    this.opts = opts;
    this.rcuTasks = rcuTasks;
    this.faults = faults;
    this.seed = seed;
    this.traceConsumerSwitches = opts.subbufSize >= CONSUMER_SWITCHES_FROM;
    this.streams = Array.from({ length: cpus }, () => []);
    this.switchTs = Array.from({ length: cpus }, () => null);
    this.cpuSwitches = new Array<number>(cpus).fill(0);
    this.nesting = new Array<number>(cpus).fill(0);
    this.lastSeq = Array.from({ length: cpus }, () => -1);
    this.lastDiscarded = Array.from({ length: cpus }, () => 0);
    this.lastTsEnd = Array.from({ length: cpus }, () => -1);
    this.seenOffsets = Array.from({ length: cpus }, () => 0);
    this.seenConsumed = Array.from({ length: cpus }, () => 0);
    this.deliverChecks = new Array<number>(cpus * opts.numSubbuf).fill(0);
    this.nestingPeak = new Array<number>(cpus).fill(0);
    this.reserved = Array.from({ length: cpus }, () => new Map());
    const p = probes(this);
    this.channelProbe = p.channel;
    const channel = p.channel;
    this.channelTpProbe = function channelProbe(data: unknown, fields: unknown) {
      return channel(fields as TracepointFields, data);
    };
    this.wrappers.set(channel, this.channelTpProbe);
    this.sysEnterProbe = p.sysEnter;
    this.sysExitProbe = p.sysExit;
  }

  /** The trace's uuid: the option, or one derived from the kernel's seed. */
  uuid(): string {
    return this.opts.uuid ?? seedUuid(this.seed());
  }

  /** The per-CPU buffers, made at the first call (after a reset, again). */
  bufs(): RingBuffer[] {
    if (this.buffers === null) {
      const u = uuidBytes(this.uuid());
      const { subbufSize, numSubbuf, mode } = this.opts;
      this.buffers = Array.from(
        { length: this.cpus },
        (_, cpu) =>
          new RingBuffer({
            cpu,
            subbufSize,
            numSubbuf,
            mode,
            uuid: u,
            streamId: 0,
            readerSwap: this.opts.readerSwap,
            readerSwapExchange: this.opts.readerSwapExchange,
          }),
      );
      const f = this.faults;
      if (f.packetSeqFromIndex === true || f.eventsDiscardedPerPacket === true || f.moveConsumerPlainStore === true) for (const b of this.buffers) b.faults = f;
      if (this.opts.interleave) for (const b of this.buffers) b.deferDelivery = true;
    }
    return this.buffers;
  }
}
