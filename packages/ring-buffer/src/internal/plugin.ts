import {
  EEXIST,
  EINVAL,
  ENOENT,
  TracelabError,
  callRcu,
  callbackPath,
  current,
  copyFromUser,
  emit,
  getState,
  intMapGet,
  intMapValues,
  kthreadRun,
  msleep,
  mutexLock,
  mutexUnlock,
  preemptDisable,
  printk,
  preemptEnable,
  readLock,
  readUnlock,
  schedPoint,
  smpCallFunctionSingle,
  type HookArgs,
  type KPath,
  type KernelState,
  type TaskRunState,
  type TaskState,
  type PluginContext,
  EIO,
  ENOBUFS,
  ENOSPC,
  EPERM,
  inIrqCount,
  inNmiCount,
} from '@tracelab/core';
import type { RcuTasksApi } from '@tracelab/rcu-tasks';
import { CTF_PACKET_LAYOUT, ctfEventSize, writeCtfEvent, uuidBytes, type CtfEventClass, type CtfFieldValue, type CtfTraceClass } from '@tracelab/formats';
import { RESERVE_RETRY, RingBuffer } from '../buffer.js';
import type { RingBufferPluginFaults } from './faults.js';
import {
  RING_BUFFER_MAX_NESTING,
  TIF_SYSCALL_TRACEPOINT,
  TRACEPOINTS_MUTEX,
  type EventReservation,
  type LostReason,
  type ResolvedRingBufferOptions,
  type RingBufferApi,
  type RingBufferCpuState,
  type RingBufferState,
  type RingBufferSummary,
  type TracepointDefinition,
  type TracepointProbe,
  type TracepointFields,
  type TracepointValue,
} from '../events.js';
import {
  DEFAULT_PRIO,
  INIT_PID_NS_INUM,
  LTTNG_STATEDUMP_END,
  LTTNG_STATEDUMP_PROCESS_STATE,
  LTTNG_STATEDUMP_START,
  SCHED_MIGRATE_TASK,
  SCHED_PROCESS_EXEC,
  SCHED_PROCESS_EXIT,
  SCHED_PROCESS_FORK,
  SCHED_PROCESS_FREE,
  SCHED_PROCESS_WAIT,
  SCHED_SWITCH,
  SCHED_WAKEUP,
  SCHED_WAKEUP_NEW,
  SCHED_WAKING,
  STATEDUMP_STATUS,
  SYSCALLS,
  SYSCALL_ENTRY_UNKNOWN,
  SYSCALL_EXIT_UNKNOWN,
  FUNC_ENTRY,
  TASK_STATE,
  coreTracepoints,
  interruptTracepoints,
  IRQ_HANDLER_ENTRY,
  IRQ_HANDLER_EXIT,
  IRQ_HANDLED,
  NMI_SAMPLE,
  TIMER_HRTIMER_EXPIRE_ENTRY,
  TIMER_IRQ,
  type SyscallArg,
  needsSyscallFlag,
} from '../tracepoints.js';

/** Longest user string a probe copies (as the core's own path reads). */
/** Sub-buffer size from which the consumer's own context switches are recorded. */
const CONSUMER_SWITCHES_FROM = 1024;

/** The consumer kthread's comm; the session does not trace it (see isConsumer). */
export const CONSUMER_COMM = 'lttng-consumerd';
/** The session's timer threads (the switch and read timers: kernel timers in lttng-modules, threads here, not callbacks in the tick). */
export const SWITCH_TIMER_COMM = 'lttng-switch-timer';
export const READ_TIMER_COMM = 'lttng-read-timer';
/** The session's own threads, which it does not trace. */
const SESSION_COMMS: ReadonlySet<string> = new Set([CONSUMER_COMM, SWITCH_TIMER_COMM, READ_TIMER_COMM]);
const USER_STRING_MAX = 256;
/** trace_user_fault_read's retry bound. */
const USER_FAULT_READ_TRIES = 100;
/** CTF clock: 1 GHz; one simulated tick is 1 µs, so a record's timestamp is tick·1000 + a per-buffer sequence. */
export const CLOCK_FREQ = 1_000_000_000;
export const TICK_NS = 1000;

/**
 * The trace environment of an lttng-modules kernel session (what `lttng` writes into a kernel
 * trace's metadata): analyses read `domain` and the tracer version from it (lttnganalyses
 * needs `tracer_major/minor/patchlevel`; before 2.7.1 it shifts wakeup priorities by 100).
 * The trace follows lttng-modules 2.13's event layout; `tracelab_tracer` says who wrote it.
 */
export const LTTNG_KERNEL_ENV: Readonly<Record<string, string | number>> = {
  hostname: 'tracelab',
  domain: 'kernel',
  sysname: 'Linux',
  kernel_release: '6.1.0-tracelab',
  kernel_version: '#1 SMP PREEMPT tracelab simulated kernel',
  tracer_name: 'lttng-modules',
  tracer_major: 2,
  tracer_minor: 13,
  tracer_patchlevel: 0,
  trace_buffering_scheme: 'global',
  trace_name: 'tracelab',
  tracelab_tracer: '@tracelab/ring-buffer',
};

/** A probe array: immutable once published; `freed` is set by the grace-period callback. */
interface ProbeArray {
  readonly id: number;
  readonly probes: readonly { readonly fn: TracepointProbe; readonly data: unknown; readonly prio: number }[];
  freed: boolean;
}

interface Tracepoint {
  readonly id: number;
  readonly def: TracepointDefinition;
  readonly ec: CtfEventClass;
  readonly faultable: boolean;
  readonly userFields: boolean;
  /** The fields by name (static, like the definition). */
  readonly byField: ReadonlyMap<string, TracepointDefinition['fields'][number]>;
  /** The published probe array (rcu_assign_pointer); null = static key off. Updated under tracepoints_mutex. */
  funcs: ProbeArray | null;
}

interface Reservation {
  readonly pid: number;
  readonly buf: RingBuffer;
  readonly o: number;
  /** Reserved by an interrupt or NMI handler: `pid` is the task it interrupted, which may be exiting. */
  readonly interrupt: boolean;
}

/** A successful reserve: where the record is and what the commit needs. */
interface Held {
  readonly id: number;
  readonly buf: RingBuffer;
  readonly o: number;
  readonly pos: number;
  readonly ts: number;
  readonly tp: string;
}

/** The tick's hrtimer (a per-CPU tick_sched's sched_timer) and its function, tick_sched_timer: addresses for timer_hrtimer_expire_entry. */
const TICK_HRTIMER = 0xffff88807fc1e100n;
const TICK_SCHED_TIMER = 0xffffffff81150e40n;

export function emptyCpuState(): RingBufferCpuState {
  return { packetsDelivered: 0, packetsConsumed: 0, recordsConsumed: 0, packetsOverwritten: 0, recordsOverwritten: 0, lost: { full: 0, wrap: 0, big: 0 } };
}

/** A deterministic uuid from the seed (no randomness in simulation code). */
function seedUuid(seed: number): string {
  const h = (seed >>> 0).toString(16).padStart(8, '0');
  return `${h}-7472-6163-656c-616200000000`.replace(/0{8}$/, h);
}

export function registerRingBuffer(
  ctx: PluginContext<RingBufferState>,
  opts: ResolvedRingBufferOptions,
  rcuTasks: RcuTasksApi,
  faults: RingBufferPluginFaults = {},
): RingBufferApi {
  const cpus = ctx.cpus;
  ctx.initSlice({ perCpu: Array.from({ length: cpus }, emptyCpuState), enabled: {}, retired: {}, flushes: 0, restarts: 0 });
  registerReducers(ctx);

  // ---- host structures (outside the immer state) -------------------------------------------
  // The tracepoint table: definitions are static (like code); `funcs` is guarded by
  // tracepoints_mutex for writers and read RCU-style by call sites.
  const byName = new Map<string, Tracepoint>();
  const byId: Tracepoint[] = [];
  let nextArrayId = 1;
  // Tracepoints needing the syscall slow path (syscall entry/exit, sched_process_wait) with a
  // probe: guarded by tracepoints_mutex.
  let syscallProbeCount = 0;
  // Per-CPU buffers and the consumer's output streams: created lazily at the first use (the
  // uuid needs the seed). Buffers are guarded as buffer.ts explains; streams by the consumer.
  let buffers: RingBuffer[] | null = null;
  const streams: Uint8Array[][] = Array.from({ length: cpus }, () => []);
  // Reserves not yet committed, by reservation id (checker state).
  const inFlight = new Map<number, Reservation>();
  let nextReservation = 1;
  const errors: string[] = [];
  // What the consumer found wrong in the packets it took (checker state, written by the consumer).
  const packetErrors: string[] = [];
  // The last packet_seq_num and events_discarded the consumer saw per CPU (written by the consumer).
  const lastSeq: number[] = Array.from({ length: cpus }, () => -1);
  const lastDiscarded: number[] = Array.from({ length: cpus }, () => 0);
  // The timer threads are alive (set when started, cleared by the thread in the step it quits).
  let switchTimerAlive = false;
  let readTimerAlive = false;
  // Snapshots recorded (written by snapshotRecord).
  const snapshots: Uint8Array[][][] = [];
  // check_deliver calls in progress per (cpu, sub-buffer), with `interleave` (checker state,
  // written by the committing path around its steps).
  const deliverChecks: number[] = new Array<number>(cpus * opts.numSubbuf).fill(0);
  // Context switches per CPU (nr_context_switches for trace_user_fault_read), counted by the
  // contextSwitch hook of that CPU.
  const cpuSwitches: number[] = new Array<number>(cpus).fill(0);
  // Test-only faults already applied (each applies once).
  const faultsDone = new Set<string>();
  // The consumer kthread: alive flag, set at kthreadRun and cleared by the thread in the same
  // step as its last empty pass (so a delivery never finds it "running" while it has quit).
  let consumerAlive = false;
  const lastTsEnd: number[] = Array.from({ length: cpus }, () => -1);
  const seenOffsets: number[] = Array.from({ length: cpus }, () => 0);
  const seenConsumed: number[] = Array.from({ length: cpus }, () => 0);
  // lib_ring_buffer_nesting: reserves open on each CPU (task, interrupt, NMI, recursion).
  // Per-CPU: changed only by code running on that CPU between get_cpu and put_cpu
  // (preemption off), so a context nested on it restores it before the outer one goes on.
  const nesting: number[] = new Array<number>(cpus).fill(0);
  // The deepest each CPU's nesting went (checker state, written with `nesting`).
  const nestingPeak: number[] = new Array<number>(cpus).fill(0);
  // With `interrupts`: the byte ranges reserved in each sub-buffer lap of each CPU, keyed by
  // the lap's absolute sub-buffer number (offset / subbufSize), as [start, end) pairs
  // (checker state, written by the reserve path; laps a whole buffer behind are dropped).
  const reserved: Map<number, number[]>[] = Array.from({ length: cpus }, () => new Map());
  // The first overlap found (checker state, written by the reserve path).
  let overlapError: string | null = null;
  // eventReserve's reservations not yet committed (written by eventReserve / eventCommit).
  const held = new Map<EventReservation, { readonly r: Held; readonly slot: number }>();

  function uuid(): string {
    return opts.uuid ?? seedUuid(ctx.state().kernel.seed);
  }

  function bufs(): RingBuffer[] {
    if (buffers === null) {
      const u = uuidBytes(uuid());
      buffers = Array.from(
        { length: cpus },
        (_, cpu) => new RingBuffer({ cpu, subbufSize: opts.subbufSize, numSubbuf: opts.numSubbuf, mode: opts.mode, uuid: u, streamId: 0 }),
      );
      if (faults.packetSeqFromIndex === true || faults.eventsDiscardedPerPacket === true || faults.moveConsumerPlainStore === true)
        for (const b of buffers) b.faults = faults;
      if (opts.interleave) for (const b of buffers) b.deferDelivery = true;
    }
    return buffers;
  }

  function defineTracepoint(def: TracepointDefinition): number {
    if (typeof def !== 'object' || def === null || typeof def.name !== 'string' || !/^[A-Za-z_][A-Za-z0-9_:]*$/.test(def.name)) {
      throw new TracelabError(
        'INVALID_OPTION',
        `ring-buffer.defineTracepoint: name must be an identifier, got ${JSON.stringify((def as { name?: unknown } | null)?.name)}`,
      );
    }
    if (byName.has(def.name)) throw new TracelabError('INVALID_OPTION', `ring-buffer.defineTracepoint: tracepoint ${def.name} is already defined`);
    const userFields = def.fields.some((f) => f.user === true);
    if (userFields && def.faultable !== true)
      throw new TracelabError(
        'INVALID_OPTION',
        `ring-buffer.defineTracepoint: ${def.name} has user fields, so it must be faultable (its probe reads user memory)`,
      );
    for (const f of def.fields)
      if (f.user === true && f.type.kind !== 'string')
        throw new TracelabError('INVALID_OPTION', `ring-buffer.defineTracepoint: user field ${f.name} of ${def.name} must be a string`);
    const id = byId.length;
    const ec: CtfEventClass = { id, name: def.name, fields: def.fields.map((f) => ({ name: f.name, type: f.type })) };
    const names = new Set<string>();
    for (const f of def.fields) {
      if (names.has(f.name)) throw new TracelabError('INVALID_OPTION', `ring-buffer.defineTracepoint: ${def.name} has two fields named ${f.name}`);
      names.add(f.name);
    }
    const tp: Tracepoint = { id, def, ec, faultable: def.faultable === true, userFields, byField: new Map(def.fields.map((f) => [f.name, f])), funcs: null };
    byName.set(def.name, tp);
    byId.push(tp);
    return id;
  }

  for (const def of coreTracepoints()) defineTracepoint(def);
  // After the core's: their event ids (and every trace without `interrupts`) stay as they were.
  if (opts.interrupts) for (const def of interruptTracepoints()) defineTracepoint(def);

  function traceClass(): CtfTraceClass {
    return {
      uuid: uuid(),
      clock: {
        name: 'monotonic',
        freq: CLOCK_FREQ,
        offsetSeconds: 0,
        offset: 0,
        description: 'tracelab tick clock: 1 tick = 1000 ns, plus a per-buffer sequence within a tick',
      },
      env: LTTNG_KERNEL_ENV,
      eventClasses: byId.map((tp) => tp.ec),
    };
  }

  // ---- lifecycle events from the buffer's host counters -----------------------------------

  function* drain(buf: RingBuffer, before: { ow: number; owRecords: number }): KPath<void> {
    if (buf.packetsOverwritten !== before.ow) {
      yield* emit({
        type: 'ring-buffer/subbuf-overwritten',
        bufCpu: buf.cpu,
        packets: buf.packetsOverwritten - before.ow,
        records: buf.recordsOverwritten - before.owRecords,
      });
    }
    if (buf.deliveries.length === 0) return;
    const ds = buf.deliveries.splice(0);
    for (const d of ds) yield* emit({ type: 'ring-buffer/subbuf-delivered', bufCpu: buf.cpu, ...d });
    // Snapshot mode: nobody drains the buffers. With a read timer the writer wakes nobody
    // (RING_BUFFER_WAKEUP_BY_TIMER): the timer polls. Otherwise the writer wakes the reader.
    if (opts.snapshot) return;
    if (opts.readTimer > 0) {
      if (!readTimerAlive) {
        readTimerAlive = true;
        yield* kthreadRun(readTimerThread(), READ_TIMER_COMM);
      }
      return;
    }
    if (!consumerAlive) {
      consumerAlive = true;
      yield* kthreadRun(consumerThread(), CONSUMER_COMM);
    }
  }

  /** Some user task has not exited: the session's timers keep running. */
  function* workloadAlive(): KPath<boolean> {
    for (const t of intMapValues((yield* getState()).tasks)) if (!t.kthread && t.exitState === null) return true;
    return false;
  }

  /**
   * switch_buffer_timer: every `switchTimer` ticks, switch(ACTIVE) each CPU buffer that holds
   * records, so a quiet stream still delivers them. lttng-modules pins one timer per CPU and
   * switches on the owner; here it is one thread (not a callback in the tick), and a switch of another
   * CPU's buffer adds its padding to the REMOTE counter (what the IPI would make a local add).
   * The thread quits when the workload has exited or every buffer is finalized, and the next
   * reserve starts it again.
   */
  function* switchTimerThread(): KPath<void> {
    for (;;) {
      yield* msleep(opts.switchTimer);
      if (!(yield* workloadAlive()) || bufs().every((b) => b.finalized)) {
        switchTimerAlive = false;
        return;
      }
      let switched = 0;
      for (const buf of bufs()) {
        if (buf.finalized) continue;
        yield* preemptDisable();
        const cpu = (yield* current()).cpu;
        const before = snap(buf);
        const ts = yield* timestamp(buf);
        if (buf.switchSubbuf(ts, cpu === buf.cpu || opts.commitCounters === 'local-only', false)) switched++;
        yield* pendingDeliveries(buf);
        yield* drain(buf, before);
        yield* preemptEnable();
      }
      if (switched > 0) yield* emit({ type: 'ring-buffer/switch-timer', switched });
    }
  }

  /**
   * read_buffer_timer: every `readTimer` ticks, poll each buffer for a delivered sub-buffer
   * (lib_ring_buffer_poll_deliver) and wake the consumer if one is there. Quits when nothing
   * is left to read and the workload has exited or the session is finalized.
   */
  function* readTimerThread(): KPath<void> {
    for (;;) {
      yield* msleep(opts.readTimer);
      const ready = bufs().some((b) => b.deliverable(b.consumed));
      if (ready && !consumerAlive) {
        consumerAlive = true;
        yield* kthreadRun(consumerThread(), CONSUMER_COMM);
      }
      if (!ready && !consumerAlive && (bufs().every((b) => b.finalized) || !(yield* workloadAlive()))) {
        readTimerAlive = false;
        return;
      }
    }
  }

  function snap(buf: RingBuffer): { ow: number; owRecords: number } {
    return { ow: buf.packetsOverwritten, owRecords: buf.recordsOverwritten };
  }

  /** The consumer: takes every delivered packet out, in order per CPU, then exits when none is left. */
  function* consumerThread(): KPath<void> {
    for (;;) {
      let took = 0;
      for (const buf of bufs()) {
        const p = buf.getSubbuf();
        if (typeof p === 'number') continue;
        // The read window: the writer may run (and push, in overwrite mode) meanwhile.
        yield* schedPoint();
        checkPacket(buf.cpu, p.bytes, p.timestampBegin, p.timestampEnd);
        streams[buf.cpu]!.push(p.bytes);
        buf.putSubbuf(p);
        yield* emit({ type: 'ring-buffer/subbuf-consumed', bufCpu: buf.cpu, packetSeq: p.packetSeq, records: p.records });
        took++;
      }
      if (took === 0) {
        consumerAlive = false;
        return;
      }
    }
  }

  /**
   * SEMANTICS.md 5.2(d) at the reader: timestamp_begin <= timestamp_end <= the next packet's
   * timestamp_begin, content_size <= packet_size, packet_seq_num strictly increasing (a gap is
   * an overwrite, never a repeat), events_discarded never decreasing (it is a running total).
   */
  function checkPacket(cpu: number, bytes: Uint8Array, begin: number, end: number): void {
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const L = CTF_PACKET_LAYOUT;
    const seq = Number(dv.getBigUint64(L.packetSeqNum, true));
    const discarded = Number(dv.getBigUint64(L.eventsDiscarded, true));
    const content = Number(dv.getBigUint64(L.contentSize, true));
    const size = Number(dv.getBigUint64(L.packetSize, true));
    const prev = lastTsEnd[cpu]!;
    if (begin > end || begin < prev)
      packetErrors.push(`cpu ${cpu} packet ${seq}: timestamp_begin ${begin}, timestamp_end ${end}, previous packet ended at ${prev}`);
    if (content > size) packetErrors.push(`cpu ${cpu} packet ${seq}: content_size ${content} > packet_size ${size}`);
    if (seq <= lastSeq[cpu]!) packetErrors.push(`cpu ${cpu}: packet_seq_num ${seq} after ${lastSeq[cpu]} (it must strictly increase)`);
    if (discarded < lastDiscarded[cpu]!)
      packetErrors.push(`cpu ${cpu} packet ${seq}: events_discarded ${discarded} after ${lastDiscarded[cpu]} (a running total never decreases)`);
    lastTsEnd[cpu] = end;
    lastSeq[cpu] = seq;
    lastDiscarded[cpu] = discarded;
  }

  // A timestamp for the next records of one CPU's buffer, when they happened before the code
  // that writes them runs (the switch hooks run at the CPU's next step: their records carry the
  // switch's tick). Set and cleared by the switch hook with preemption off, so only that CPU's
  // records read it; never earlier than the buffer's last record.
  const switchTs: (number | null)[] = Array.from({ length: cpus }, () => null);

  function* timestamp(buf: RingBuffer): KPath<number> {
    const now = switchTs[buf.cpu] ?? (yield* getState()).clock.now * TICK_NS;
    return now > buf.lastTs ? now : buf.lastTs + 1;
  }

  function* lost(buf: RingBuffer, ret: number, tp: Tracepoint, pid: number): KPath<void> {
    const reason: LostReason | null = ret === -ENOBUFS ? 'full' : ret === -EIO ? 'wrap' : ret === -ENOSPC ? 'big' : ret === -EPERM ? 'nesting' : null;
    if (reason !== null) yield* emit({ type: 'ring-buffer/record-lost', bufCpu: buf.cpu, reason, tracepoint: tp.def.name, pid });
  }

  /**
   * lib_ring_buffer_reserve with `interleave`: the fast path as one step, the slow path as
   * lttng-modules' steps with scheduling points between them (preemption is off, so only other
   * CPUs act there: a remote switch moving the offset, a remote commit delivering the target).
   */
  function* reserveSteps(buf: RingBuffer, slot: number, first: number): KPath<{ o: number; ts: number }> {
    let ts = first;
    if (buf.disabled) return { o: buf.reserve(slot, ts), ts }; // -EAGAIN, counted as refused
    const fast = buf.tryReserveFast(slot, ts);
    if (fast !== RESERVE_RETRY) return { o: fast, ts };
    for (;;) {
      // Each pass reads the clock again (try_reserve_slow's `retry:`): a switch that moved the
      // offset meanwhile may have ended the sub-buffer later than the first reading.
      ts = yield* timestamp(buf);
      if (buf.disabled) return { o: buf.reserve(slot, ts), ts };
      const plan = buf.reserveSlowPlan(slot);
      // offset read; cc_sb is read after a read barrier: other CPUs may act in between.
      yield* schedPoint();
      const r = buf.reserveSlowCheck(plan, slot, opts.reserveReread);
      if (r === RESERVE_RETRY) continue;
      if (r < 0) return { o: r, ts };
      yield* schedPoint();
      // The session may have been finalized meanwhile (its switch already ran): refused.
      if (buf.disabled) return { o: buf.reserve(slot, ts), ts };
      const o = buf.reserveSlowApply(plan, slot, ts);
      if (o !== RESERVE_RETRY) return { o, ts };
    }
  }

  /**
   * lib_ring_buffer_reserve with `interrupts`: the CPU-local compare-and-exchange loop on the
   * write offset. Read the offset and work out where the record goes (with the slow path's
   * checks when it starts a sub-buffer), then, at a later step, compare-and-exchange the offset
   * from what was read to the record's end. Preemption is off, but an interrupt or NMI may
   * arrive at the scheduling point between the two and reserve on this CPU's buffer: the
   * cmpxchg then fails and the loop starts over from a fresh read (and a fresh timestamp, so
   * records stay in time order). `offsetUpdate: 'plain-store'` stores the end without the
   * compare: the interrupt's record is overwritten by this one.
   */
  function* reserveCmpxchg(buf: RingBuffer, slot: number, first: number): KPath<{ o: number; ts: number }> {
    let ts = first;
    for (;;) {
      if (buf.disabled) return { o: buf.reserve(slot, ts), ts }; // -EAGAIN, counted as refused
      const plan = buf.reserveSlowPlan(slot);
      const r = buf.reserveSlowCheck(plan, slot, opts.reserveReread);
      if (r < 0 && r !== RESERVE_RETRY) return { o: r, ts };
      if (r === 0) {
        // Between local_read(&offset) and local_cmpxchg: an interrupt may come here.
        yield* schedPoint();
        // The session may have been stopped meanwhile (a flush from another CPU): refused.
        if (buf.disabled) return { o: buf.reserve(slot, ts), ts };
        if (opts.offsetUpdate === 'plain-store') return { o: buf.reservePlainStore(plan, slot, ts), ts };
        const o = buf.reserveSlowApply(plan, slot, ts);
        if (o !== RESERVE_RETRY) return { o, ts };
      }
      ts = yield* timestamp(buf);
    }
  }

  /** Records the range a reserve took and checks it against the lap's other records (`ring-buffer/overlap`). */
  function noteRange(buf: RingBuffer, o: number, slot: number, tpName: string, pid: number): void {
    const sb = buf.subbufSize;
    const abs = Math.floor(o / sb);
    const laps = reserved[buf.cpu]!;
    let ranges = laps.get(abs);
    if (ranges === undefined) {
      ranges = [];
      laps.set(abs, ranges);
      for (const k of laps.keys()) if (k <= abs - buf.numSubbuf) laps.delete(k);
    }
    for (let i = 0; i < ranges.length; i += 2) {
      if (o < ranges[i + 1]! && ranges[i]! < o + slot) {
        overlapError ??= `cpu ${buf.cpu} sub-buffer ${buf.subbufIndex(o)}: ${tpName} (pid ${pid}) reserved bytes ${o}..${o + slot} over a record already reserved at ${ranges[i]}..${ranges[i + 1]}: two records share bytes (the offset update lost a reserve made between its read and its store)`;
      }
    }
    ranges.push(o, o + slot);
  }

  /** A reserve given back (try_discard_reserve): its range is free again. */
  function forgetRange(buf: RingBuffer, o: number, slot: number): void {
    const ranges = reserved[buf.cpu]!.get(Math.floor(o / buf.subbufSize));
    if (ranges === undefined) return;
    for (let i = 0; i < ranges.length; i += 2) {
      if (ranges[i] === o && ranges[i + 1] === o + slot) {
        ranges.splice(i, 2);
        return;
      }
    }
  }

  /** Reserve on the current CPU's buffer (preemption must be off). Returns [reservation id, offset, pos] or null. */
  function* reserveHere(tp: Tracepoint, slot: number, pid: number, cpu: number): KPath<Held | null> {
    const r = yield* reserveOn(tp, slot, pid, cpu);
    return typeof r === 'number' ? null : r;
  }

  /** reserveHere, with the negative errno of a failed reserve. */
  function* reserveOn(tp: Tracepoint, slot: number, pid: number, cpu: number): KPath<Held | number> {
    const buf = bufs()[cpu]!;
    let ts = yield* timestamp(buf);
    const before = snap(buf);
    let o: number;
    if (opts.interrupts) {
      // (`interleave` is refused with `interrupts`: no deferred deliveries here.)
      ({ o, ts } = yield* reserveCmpxchg(buf, slot, ts));
    } else if (opts.interleave) {
      ({ o, ts } = yield* reserveSteps(buf, slot, ts));
      yield* pendingDeliveries(buf);
    } else {
      o = buf.reserve(slot, ts);
    }
    yield* drain(buf, before);
    if (opts.switchTimer > 0 && !switchTimerAlive && !buf.finalized) {
      switchTimerAlive = true;
      yield* kthreadRun(switchTimerThread(), SWITCH_TIMER_COMM);
    }
    if (o < 0) {
      yield* lost(buf, o, tp, pid);
      return o;
    }
    let interrupt = false;
    if (opts.interrupts) {
      noteRange(buf, o, slot, tp.def.name, pid);
      const c = (yield* current()).preemptCount;
      interrupt = inIrqCount(c) || inNmiCount(c);
    }
    const id = nextReservation++;
    inFlight.set(id, { pid, buf, o, interrupt });
    return { id, buf, o, pos: buf.pos, ts, tp: tp.def.name };
  }

  /**
   * lib_ring_buffer_get_cpu after preempt_disable: the CPU's nesting level goes up, unless it
   * is RING_BUFFER_MAX_NESTING already. That bound is the recursion guard: a probe that traces
   * from inside its own record (or interrupts stacked deeper than task, irq and NMI) is
   * refused there, counted as lost (`record-lost`, reason 'nesting'), instead of recursing.
   * Returns false when refused (the level is unchanged).
   */
  function* getCpu(tp: Tracepoint, cpu: number, pid: number): KPath<boolean> {
    if (nesting[cpu]! >= RING_BUFFER_MAX_NESTING) {
      const buf = bufs()[cpu]!;
      buf.recordsLostNesting++;
      yield* lost(buf, -EPERM, tp, pid);
      return false;
    }
    nesting[cpu] = nesting[cpu]! + 1;
    if (nesting[cpu]! > nestingPeak[cpu]!) nestingPeak[cpu] = nesting[cpu]!;
    return true;
  }

  /** lib_ring_buffer_put_cpu: the nesting level goes down (before preempt_enable). */
  function putCpu(cpu: number): void {
    nesting[cpu] = nesting[cpu]! - 1;
  }

  /**
   * lttng_event_reserve for the short path (a record without user data): preemption off,
   * get_cpu, reserve, write the record. The caller commits with `eventCommitHeld`. Returns the
   * reservation, or a negative errno with the CPU released.
   */
  function* eventReserveTp(tp: Tracepoint, vals: CtfFieldValue[], pid: number): KPath<{ r: Held; slot: number; cpu: number; level: number } | number> {
    yield* preemptDisable();
    const cpu = (yield* current()).cpu;
    if (!(yield* getCpu(tp, cpu, pid))) {
      yield* preemptEnable();
      return -EPERM;
    }
    const level = nesting[cpu]!;
    const slot = ctfEventSize(tp.ec, vals);
    const r = yield* reserveOn(tp, slot, pid, cpu);
    if (typeof r === 'number') {
      putCpu(cpu);
      yield* preemptEnable();
      return r;
    }
    writeCtfEvent(r.buf.dv, r.buf.u8, r.pos, tp.ec, r.ts, vals);
    return { r, slot, cpu, level };
  }

  /** lttng_event_commit: commit on the reserving CPU, put_cpu, preemption back on. */
  function* eventCommitHeld(r: Held, slot: number, cpu: number): KPath<void> {
    yield* commitHere(r, slot, cpu);
    putCpu(cpu);
    yield* preemptEnable();
  }

  function* eventReserve(name: string, fields: TracepointFields): KPath<EventReservation | number> {
    const tp = lookup(name);
    checkFields(tp, fields);
    if (tp.userFields)
      throw new TracelabError('INVALID_OPTION', `ring-buffer.eventReserve(${name}): the tracepoint has user fields; only trace() copies user memory`);
    const me = yield* current();
    const got = yield* eventReserveTp(tp, kernelValues(tp, fields), me.pid);
    if (typeof got === 'number') return got;
    const handle: EventReservation = { tracepoint: name, cpu: got.cpu, offset: got.r.o, size: got.slot, nesting: got.level };
    held.set(handle, { r: got.r, slot: got.slot });
    return handle;
  }

  function* eventCommit(reservation: EventReservation): KPath<void> {
    const h = held.get(reservation);
    if (h === undefined) throw new TracelabError('INVALID_OPTION', 'ring-buffer.eventCommit: not a reservation from eventReserve, or one committed already');
    const cpu = (yield* current()).cpu;
    if (cpu !== reservation.cpu)
      throw new TracelabError(
        'INVALID_OPTION',
        `ring-buffer.eventCommit: ${reservation.tracepoint} was reserved on cpu ${reservation.cpu} and is committed on cpu ${cpu} (the reserver must keep preemption off until its commit)`,
      );
    held.delete(reservation);
    yield* eventCommitHeld(h.r, h.slot, cpu);
  }

  /**
   * check_deliver with `interleave`: the cc_sb compare-and-exchange, then (another step) the
   * packet's end fields and cc_sb = cc. With `deliverCas: false` the compare and the write of
   * old + 1 are separate steps, so two committers that both saw the count complete deliver.
   */
  function* checkDeliverSteps(buf: RingBuffer, idx: number, o: number): KPath<void> {
    const lap = buf.deliverBegin(idx, o, opts.deliverCas);
    if (lap < 0) return;
    if (!opts.deliverCas) {
      yield* schedPoint();
      buf.ccSb[idx] = lap * buf.subbufSize + 1;
    }
    yield* schedPoint();
    buf.deliverEnd(idx, lap);
  }

  /** Runs, as steps, the check_deliver calls a switch or a reserve left pending (`interleave`). */
  function* pendingDeliveries(buf: RingBuffer): KPath<void> {
    while (buf.pendingChecks.length > 0) {
      const idx = buf.pendingChecks.shift()!;
      const o = buf.pendingChecks.shift()!;
      const key = buf.cpu * opts.numSubbuf + idx;
      deliverChecks[key] = deliverChecks[key]! + 1;
      try {
        yield* checkDeliverSteps(buf, idx, o);
      } finally {
        deliverChecks[key] = deliverChecks[key]! - 1;
      }
    }
  }

  /** Commit from the current CPU (preemption must be off): LOCAL on the owner, else per `commitCounters`. */
  function* commitHere(r: { id: number; buf: RingBuffer; o: number; tp: string }, slot: number, cpu: number): KPath<void> {
    if (faults.leakCommit === r.tp && !faultsDone.has('leak')) {
      faultsDone.add('leak');
      return;
    }
    if (!inFlight.delete(r.id)) errors.push(`reservation ${r.id} on cpu ${r.buf.cpu} committed twice`);
    const buf = r.buf;
    const before = snap(buf);
    if (faults.doubleCommit === r.tp && !faultsDone.has('double')) {
      faultsDone.add('double');
      if (!inFlight.delete(r.id)) errors.push(`reservation ${r.id} on cpu ${r.buf.cpu} committed twice`);
      buf.commit(r.o, slot, cpu === buf.cpu);
      yield* pendingDeliveries(buf);
    }
    if (opts.interleave) {
      // lib_ring_buffer_commit: the add, then (another step) the re-read of the count and check_deliver.
      const idx = buf.subbufIndex(r.o);
      if (cpu === buf.cpu || opts.commitCounters === 'local-remote') {
        buf.addCommit(idx, slot, cpu === buf.cpu);
      } else {
        const v = buf.ccLocal[idx]!;
        yield* schedPoint();
        buf.ccLocal[idx] = v + slot;
        buf.ghostCommitted[idx] = buf.ghostCommitted[idx]! + slot;
      }
      // Between the add and the end of check_deliver a complete lap may be undelivered: the
      // delivery invariant waits for the checks in progress on it.
      const key = buf.cpu * opts.numSubbuf + idx;
      deliverChecks[key] = deliverChecks[key]! + 1;
      yield* schedPoint();
      yield* checkDeliverSteps(buf, idx, r.o);
      deliverChecks[key] = deliverChecks[key]! - 1;
    } else if (cpu === buf.cpu) {
      buf.commit(r.o, slot, true);
    } else if (opts.commitCounters === 'local-remote') {
      buf.commit(r.o, slot, false);
    } else {
      // local-only: a CPU-local add done from another CPU is not atomic against the owner:
      // read, (the owner may add meanwhile), write.
      const idx = buf.subbufIndex(r.o);
      const v = buf.ccLocal[idx]!;
      yield* schedPoint();
      buf.ccLocal[idx] = v + slot;
      buf.ghostCommitted[idx] = buf.ghostCommitted[idx]! + slot;
      buf.checkDeliver(idx, r.o);
    }
    yield* drain(buf, before);
  }

  // ---- the channel probe: serialize a tracepoint's values into the per-CPU buffer ----------

  function* userStrings(tp: Tracepoint, values: TracepointFields, out: CtfFieldValue[]): KPath<boolean> {
    const fields = tp.def.fields;
    for (let i = 0; i < fields.length; i++) {
      if (fields[i]!.user !== true) continue;
      const addr = Number(values[fields[i]!.name] ?? 0);
      const r = addr === 0 ? { notCopied: 0, data: '' } : yield* copyFromUser(addr, USER_STRING_MAX);
      if (r.notCopied > 0) return false;
      out[i] = r.data;
    }
    return true;
  }

  /** The record's values in the event class's field order; a field the call site left out is 0 or "". */
  function kernelValues(tp: Tracepoint, values: TracepointFields): CtfFieldValue[] {
    return tp.def.fields.map((f) => (f.user === true ? '' : (values[f.name] ?? (f.type.kind === 'string' || f.type.kind === 'array' ? '' : 0))));
  }

  function* channelProbe(values: TracepointFields, data: unknown): KPath<void> {
    const tp = data as Tracepoint;
    const me = yield* current();
    const vals = kernelValues(tp, values);
    if (!tp.userFields) {
      // A normal tracepoint already runs with preemption off; a faultable one without user
      // data takes the same short path.
      const got = yield* eventReserveTp(tp, vals, me.pid);
      if (typeof got === 'number') return;
      // With interrupts, one may arrive while the record is written, before its commit: its
      // records then commit first, in the same sub-buffer.
      if (opts.interrupts) yield* schedPoint();
      yield* eventCommitHeld(got.r, got.slot, got.cpu);
      return;
    }
    switch (opts.copyStrategy) {
      case 'in-place':
        return yield* inPlace(tp, values, vals, me.pid);
      case 'temporary-buffer':
        return yield* temporaryBuffer(tp, values, vals, me.pid);
      case 'fault-in-restart':
        return yield* faultInRestart(tp, values, vals, me.pid);
      case 'user-fault-read':
        return yield* userFaultRead(tp, values, vals, me.pid);
    }
  }

  /** The seed's proposal: reserve with preemption off, copy preemptible (may fault and migrate), commit on the current CPU. */
  function* inPlace(tp: Tracepoint, values: TracepointFields, vals: CtfFieldValue[], pid: number): KPath<void> {
    // "user strlen": sizes the record; may fault (and sleep, and migrate).
    if (!(yield* userStrings(tp, values, vals))) return;
    const sized = vals.slice();
    const slot = ctfEventSize(tp.ec, vals);
    yield* preemptDisable();
    const reserveCpu = (yield* current()).cpu;
    if (!(yield* getCpu(tp, reserveCpu, pid))) {
      yield* preemptEnable();
      return;
    }
    const r = yield* reserveHere(tp, slot, pid, reserveCpu);
    // The copy runs preemptible: this CPU's nesting level is given back until the commit.
    putCpu(reserveCpu);
    yield* preemptEnable();
    if (r === null) return;
    // Exclusive access to the slot from any CPU until the commit: copy from user, preemptible.
    const copied = vals.slice();
    yield* userStrings(tp, values, copied);
    // Keep the reserved size: a string that changed since the strlen is cut (or padded).
    for (let i = 0; i < copied.length; i++) {
      if (tp.def.fields[i]!.user === true) copied[i] = fitString(String(copied[i]), String(sized[i]).length);
    }
    writeCtfEvent(r.buf.dv, r.buf.u8, r.pos, tp.ec, r.ts, copied);
    yield* preemptDisable();
    const commitCpu = (yield* current()).cpu;
    // The commit always goes ahead (the slot is reserved): it takes a level without the limit.
    nesting[commitCpu] = nesting[commitCpu]! + 1;
    yield* commitHere(r, slot, commitCpu);
    putCpu(commitCpu);
    yield* preemptEnable();
  }

  /** Copy user data into a temporary (kmalloc'd) buffer while preemptible, then reserve, write and commit with preemption off. */
  function* temporaryBuffer(tp: Tracepoint, values: TracepointFields, vals: CtfFieldValue[], pid: number): KPath<void> {
    if (!(yield* userStrings(tp, values, vals))) return;
    const slot = ctfEventSize(tp.ec, vals);
    yield* preemptDisable();
    const cpu = (yield* current()).cpu;
    if (yield* getCpu(tp, cpu, pid)) {
      const r = yield* reserveHere(tp, slot, pid, cpu);
      if (r !== null) {
        writeCtfEvent(r.buf.dv, r.buf.u8, r.pos, tp.ec, r.ts, vals);
        yield* commitHere(r, slot, cpu);
      }
      putCpu(cpu);
    }
    yield* preemptEnable();
  }

  /**
   * trace_user_fault_read (upstream, 2025): copy the user data into this CPU's buffer with
   * migration disabled and preemption enabled (the copy may fault and sleep), then check that no
   * context switch happened on this CPU meanwhile: another task may have copied into the same
   * per-CPU buffer. If one did, copy again; after 100 tries give up with a warning and drop the
   * event. Then reserve, write and commit with preemption off. tracelab has no
   * migrate_disable: a task that came back on another CPU is treated like a switch (retry).
   */
  function* userFaultRead(tp: Tracepoint, values: TracepointFields, vals: CtfFieldValue[], pid: number): KPath<void> {
    for (let tries = 0; ; tries++) {
      if (tries === USER_FAULT_READ_TRIES) {
        yield* printk(`ring-buffer: ${tp.def.name}: trace_user_fault_read gave up after ${USER_FAULT_READ_TRIES} tries`);
        return;
      }
      const cpu = (yield* current()).cpu;
      const switches = cpuSwitches[cpu]!;
      const copied = vals.slice();
      if (!(yield* userStrings(tp, values, copied))) return;
      yield* preemptDisable();
      const now = (yield* current()).cpu;
      if (now !== cpu || cpuSwitches[cpu] !== switches) {
        yield* preemptEnable();
        yield* emit({ type: 'ring-buffer/copy-restart', pid, tracepoint: tp.def.name });
        continue;
      }
      const slot = ctfEventSize(tp.ec, copied);
      if (yield* getCpu(tp, cpu, pid)) {
        const r = yield* reserveHere(tp, slot, pid, cpu);
        if (r !== null) {
          writeCtfEvent(r.buf.dv, r.buf.u8, r.pos, tp.ec, r.ts, copied);
          yield* commitHere(r, slot, cpu);
        }
        putCpu(cpu);
      }
      yield* preemptEnable();
      return;
    }
  }

  /** Lai Jiangshan's scheme: fault the pages in preemptible, then copy with preemption (and faults) off; restart if the copy faults. */
  function* faultInRestart(tp: Tracepoint, values: TracepointFields, vals: CtfFieldValue[], pid: number): KPath<void> {
    for (;;) {
      const sizing = vals.slice();
      if (!(yield* userStrings(tp, values, sizing))) return;
      const slot = ctfEventSize(tp.ec, sizing);
      yield* preemptDisable();
      const cpu = (yield* current()).cpu;
      if (!(yield* getCpu(tp, cpu, pid))) {
        yield* preemptEnable();
        return;
      }
      const r = yield* reserveHere(tp, slot, pid, cpu);
      if (r === null) {
        putCpu(cpu);
        yield* preemptEnable();
        return;
      }
      const copied = vals.slice();
      const ok = yield* userStrings(tp, values, copied); // pagefault_disable: stops at a missing page
      if (ok) {
        for (let i = 0; i < copied.length; i++) if (tp.def.fields[i]!.user === true) copied[i] = fitString(String(copied[i]), String(sizing[i]).length);
        writeCtfEvent(r.buf.dv, r.buf.u8, r.pos, tp.ec, r.ts, copied);
        yield* commitHere(r, slot, cpu);
        putCpu(cpu);
        yield* preemptEnable();
        return;
      }
      // The page went away between the fault-in and the copy: give the slot back (it is the
      // last one reserved on this CPU: preemption stayed off) and start over.
      const back = r.buf.tryDiscardReserve(r.o, slot);
      inFlight.delete(r.id);
      if (back !== 0) errors.push(`cpu ${cpu}: try_discard_reserve failed with ${back} with preemption off`);
      else if (opts.interrupts) forgetRange(r.buf, r.o, slot);
      putCpu(cpu);
      yield* emit({ type: 'ring-buffer/copy-restart', pid, tracepoint: tp.def.name });
      yield* preemptEnable();
    }
  }

  // ---- tracepoints: call sites and probe registration -------------------------------------

  function lookup(name: string): Tracepoint {
    const tp = byName.get(name);
    if (tp === undefined)
      throw new TracelabError('INVALID_OPTION', `ring-buffer: no tracepoint named ${JSON.stringify(name)} (defined: ${[...byName.keys()].join(', ')})`);
    return tp;
  }

  function* callProbes(tp: Tracepoint, funcs: ProbeArray, values: TracepointFields): KPath<void> {
    for (const p of funcs.probes) {
      if (funcs.freed) errors.push(`${tp.def.name}: a reader used probe array ${funcs.id} after it was freed`);
      yield* callbackPath(p.fn(values, p.data));
    }
    if (funcs.freed) errors.push(`${tp.def.name}: probe array ${funcs.id} was freed while a reader was still inside it`);
  }

  /**
   * Checks a call site's fields against the definition: every name declared, integers as
   * numbers or bigints, strings as strings, user strings as addresses (numbers). A mismatch is
   * the call site's bug: INVALID_OPTION naming the tracepoint, the field and what it accepts.
   */
  function checkFields(tp: Tracepoint, values: TracepointFields): void {
    for (const key in values) {
      const f = tp.byField.get(key);
      const v = values[key];
      if (f === undefined)
        throw new TracelabError(
          'INVALID_OPTION',
          `ring-buffer.trace(${tp.def.name}): no field ${JSON.stringify(key)} (fields: ${tp.def.fields.map((x) => x.name).join(', ') || 'none'})`,
        );
      const want = f.user === true ? 'number' : f.type.kind === 'string' || f.type.kind === 'array' ? 'string' : 'integer';
      const ok =
        want === 'string'
          ? typeof v === 'string'
          : want === 'number'
            ? typeof v === 'number'
            : typeof v === 'bigint' || (typeof v === 'number' && Number.isInteger(v));
      if (!ok)
        throw new TracelabError(
          'INVALID_OPTION',
          `ring-buffer.trace(${tp.def.name}): field ${key} must be ${want === 'number' ? 'a user address (number)' : want === 'string' ? 'a string' : 'an integer (number or bigint)'}, got ${typeof v === 'string' ? JSON.stringify(v) : String(v)}`,
        );
    }
  }

  function* trace(name: string, values: TracepointFields): KPath<void> {
    const tp = lookup(name);
    if (tp.funcs === null) return; // static key off
    checkFields(tp, values);
    if (tp.faultable) {
      yield* rcuTasks.rcuReadLockTrace();
      const funcs = tp.funcs;
      if (funcs !== null) yield* callProbes(tp, funcs, values);
      yield* rcuTasks.rcuReadUnlockTrace();
    } else {
      yield* preemptDisable();
      const funcs = tp.funcs;
      if (funcs !== null) yield* callProbes(tp, funcs, values);
      yield* preemptEnable();
    }
  }

  function* publish(tp: Tracepoint, probes: ProbeArray['probes']): KPath<void> {
    const old = tp.funcs;
    const wasSyscall = needsSyscallFlag(tp.def.name) && old !== null;
    tp.funcs = probes.length === 0 ? null : { id: nextArrayId++, probes, freed: false };
    const isSyscall = needsSyscallFlag(tp.def.name) && tp.funcs !== null;
    yield* emit({ type: 'ring-buffer/probes-published', tracepoint: tp.def.name, array: tp.funcs?.id ?? null, probes: probes.length });
    if (wasSyscall !== isSyscall) {
      syscallProbeCount += isSyscall ? 1 : -1;
      if (syscallProbeCount === (isSyscall ? 1 : 0)) yield* syscallFlagAllTasks(isSyscall);
    }
    if (old === null) return;
    const flavour = tp.faultable ? 'tasks-trace' : 'rcu-sched';
    yield* emit({ type: 'ring-buffer/array-retired', tracepoint: tp.def.name, array: old.id, flavour });
    const free = function* (): KPath<void> {
      old.freed = true;
      yield* emit({ type: 'ring-buffer/array-freed', tracepoint: tp.def.name, array: old.id });
    };
    // A faultable reader may sleep in a fault: only a tasks-trace grace period waits for it.
    if (tp.faultable) yield* rcuTasks.callRcuTasksTrace(free, `ring-buffer free ${tp.def.name}`);
    else yield* callRcu(free, `ring-buffer free ${tp.def.name}`);
  }

  function* probeRegister(name: string, probe: TracepointProbe, data?: unknown, prio = 10): KPath<number> {
    const tp = byName.get(name);
    if (tp === undefined || typeof probe !== 'function') return -EINVAL;
    yield* mutexLock(TRACEPOINTS_MUTEX);
    try {
      const cur = tp.funcs?.probes ?? [];
      if (cur.some((p) => p.fn === probe && Object.is(p.data, data))) return -EEXIST;
      const at = cur.findIndex((p) => p.prio < prio);
      const entry = { fn: probe, data, prio };
      const next = at < 0 ? [...cur, entry] : [...cur.slice(0, at), entry, ...cur.slice(at)];
      yield* publish(tp, next);
      return 0;
    } finally {
      yield* mutexUnlock(TRACEPOINTS_MUTEX);
    }
  }

  function* probeUnregister(name: string, probe: TracepointProbe, data?: unknown): KPath<number> {
    const tp = byName.get(name);
    if (tp === undefined) return -EINVAL;
    yield* mutexLock(TRACEPOINTS_MUTEX);
    try {
      if (tp.funcs === null) return -ENOENT;
      const cur = tp.funcs.probes;
      const next = cur.filter((p) => !(p.fn === probe && Object.is(p.data, data)));
      if (next.length !== cur.length) yield* publish(tp, next);
      return 0;
    } finally {
      yield* mutexUnlock(TRACEPOINTS_MUTEX);
    }
  }

  /**
   * Sets (or clears) TIF_SYSCALL_TRACEPOINT on every task, walking the task list under the
   * tasklist read lock (as ktrace does); forks linked later copy it at the `link` stage.
   */
  function* syscallFlagAllTasks(on: boolean): KPath<void> {
    yield* readLock();
    for (const t of intMapValues((yield* getState()).tasks)) {
      if (t.kthread || !t.listed || t.exitState !== null) continue;
      if ((t.flags[TIF_SYSCALL_TRACEPOINT] === true) === on) continue;
      yield* emit({ type: 'task/flags', pid: t.pid, set: on ? [TIF_SYSCALL_TRACEPOINT] : [], clear: on ? [] : [TIF_SYSCALL_TRACEPOINT] });
    }
    yield* readUnlock();
  }

  // enableAll: the channel probe is on every tracepoint from the start (a session created
  // before the workload): static arrays, no grace period involved.
  if (opts.enableAll) {
    const wanted = globMatcher(opts.events);
    for (const tp of byId) {
      if (!wanted(tp.def.name)) continue;
      tp.funcs = { id: nextArrayId++, probes: [{ fn: channelProbe, data: tp, prio: 10 }], freed: false };
      if (needsSyscallFlag(tp.def.name)) syscallProbeCount++;
    }
  }

  // ---- hooks: the core's tracepoint call sites ---------------------------------------------

  /**
   * The consumer is not traced by its own session (LTTng's consumer daemon is left out of the
   * kernel session that feeds it): events of, to or about it (its fork, switches in and out,
   * exit) are not recorded. Recording them fed the buffer it drains: with 128-byte sub-buffers
   * its own events filled the next sub-buffer, whose delivery started it again, forever.
   */
  // Each consumer pass adds two switch records (in, out). From 1 KiB sub-buffers on, that is
  // a small part of a sub-buffer (a sched_switch record is 68 bytes), so the consumer's own
  // records deliver a sub-buffer far less often than once per pass and the feedback dies out;
  // below, its switches are left out as the rest of its events are.
  const traceConsumerSwitches = opts.subbufSize >= CONSUMER_SWITCHES_FROM;

  function isConsumer(state: KernelState, pid: number): boolean {
    if (pid === 0) return false;
    const t = intMapGet(state.tasks, pid);
    return t !== undefined && t.kthread && SESSION_COMMS.has(t.comm);
  }

  function comm(state: KernelState, pid: number, cpu: number): string {
    if (pid === 0) return `swapper/${cpu}`;
    return intMapGet(state.tasks, pid)?.comm ?? '';
  }

  function enabled(def: TracepointDefinition): boolean {
    return byName.get(def.name)!.funcs !== null;
  }

  // Scheduler bookkeeping of the tracepoint call sites, host-side (task_cpu, and what the
  // kernel knows at wake-up time). Written only by this plugin's hooks; the simulator runs one
  // CPU at a time, and every hook below runs with preemption off, so no two of them interleave.
  // The CPU each task last ran on, as seen at its last switch-in.
  const lastCpu = new Map<number, number>();
  // Tasks that switched out asleep (or stopped) and whose wakeup has not been traced yet: a
  // timer wakeup runs no hook (no waking context), so its sched_waking/sched_wakeup are
  // written by the CPU that switches the task back in, at that time.
  const asleep = new Set<number>();
  // Tasks whose wakeup the wakeup hook traced since their last switch hook ran (a wakeup can
  // come between a switch and its hook, which runs at that CPU's next step).
  const wokenTraced = new Set<number>();
  // Forked children not yet woken: their first wakeup is wake_up_new_task (sched_wakeup_new).
  const newborn = new Set<number>();
  // Each task's syscall arguments between its entry and exit hooks (the exit event writes
  // back the output pointers); touched only by the task's own syscall hooks.
  const syscallArgs = new Map<number, Readonly<Record<string, number>>>();
  // The state dump ran (set in the step that starts it).
  let statedumpDone = !opts.statedump || byName.get(LTTNG_STATEDUMP_START.name)!.funcs === null;

  /** `prev_state` as `__trace_sched_switch_state` computes it. */
  function switchState(t: TaskState | undefined, preempted: boolean, at: TaskRunState): number {
    if (preempted) return TASK_STATE.preempted;
    // From the switch's own state: the task may be reaped by the time the hook runs.
    if (at === 'zombie') return TASK_STATE.zombie;
    if (at === 'dead' || t === undefined) return TASK_STATE.dead;
    if (at === 'stopped') return TASK_STATE.stopped;
    if (at !== 'sleeping') return TASK_STATE.running;
    // Interruptible sleeps (a signal ends them): timed sleeps and wait4; locks and I/O are D.
    // The wait channel is read now: it is the switch's unless another CPU woke the task since.
    const w = t.waitingOn ?? 'timer';
    return w === 'timer' || w.startsWith('wait:') ? TASK_STATE.interruptible : TASK_STATE.uninterruptible;
  }

  function* traceWakeup(s: KernelState, pid: number, cpu: number): KPath<void> {
    const t = intMapGet(s.tasks, pid);
    const target = t !== undefined && t.cpu >= 0 ? t.cpu : cpu;
    const values = { comm: comm(s, pid, cpu), tid: pid, prio: DEFAULT_PRIO, target_cpu: target };
    if (newborn.delete(pid)) {
      yield* trace(SCHED_WAKEUP_NEW.name, values);
      return;
    }
    yield* trace(SCHED_WAKING.name, values);
    yield* trace(SCHED_WAKEUP.name, values);
  }

  /**
   * The lttng-modules state dump (lttng_statedump_start): one `lttng_statedump_process_state`
   * per task on the task list, walked under the tasklist read lock, between
   * `lttng_statedump_start` and `lttng_statedump_end`.
   */
  function* statedump(): KPath<void> {
    yield* trace(LTTNG_STATEDUMP_START.name, {});
    yield* readLock();
    try {
      const s = yield* getState();
      for (const t of intMapValues(s.tasks)) {
        // A host-started task not yet through its fork tail exists since kernel.spawn: only
        // its fork hooks are deferred, and no sched_process_fork will introduce it later.
        const hostBorn = t.parent === 0 && t.exitState === null;
        if (!t.listed && !t.kthread && !hostBorn) continue;
        const status =
          t.exitState !== null
            ? STATEDUMP_STATUS.zombie
            : t.state === 'running'
              ? STATEDUMP_STATUS.run
              : t.state === 'runnable'
                ? STATEDUMP_STATUS.waitCpu
                : STATEDUMP_STATUS.wait;
        const ppid = t.parent === 0 ? 0 : (intMapGet(s.tasks, t.parent)?.tgid ?? t.parent);
        yield* trace(LTTNG_STATEDUMP_PROCESS_STATE.name, {
          tid: t.pid,
          pid: t.tgid,
          ppid,
          name: t.comm,
          type: t.kthread ? 1 : 0,
          mode: t.syscall !== null ? 1 : 0,
          submode: 0,
          status,
          cpu: Math.max(0, t.cpu),
          file_table_address: 0,
        });
      }
    } finally {
      yield* readUnlock();
    }
    yield* trace(LTTNG_STATEDUMP_END.name, {});
  }

  function* schedSwitch({ cpu, prev, next, preempted, prevState: at, prevComm }: HookArgs['contextSwitch']): KPath<void> {
    const s = yield* getState();
    if (!statedumpDone) {
      // The session was started before the workload (enableAll): dump the tasks there are.
      statedumpDone = true;
      yield* kthreadRun(statedump(), 'lttng-statedump');
    }
    const prevTask = prev === 0 ? undefined : intMapGet(s.tasks, prev);
    const prevState = prev === 0 ? TASK_STATE.running : switchState(prevTask, preempted, at);
    if (prev !== 0 && (at === 'sleeping' || at === 'stopped')) {
      // It went to sleep. Already awake again (this hook runs at the CPU's next step)? Then
      // either the wakeup hook traced it, or a timer woke it and its switch-in will.
      const still = prevTask !== undefined && (prevTask.state === 'sleeping' || prevTask.state === 'stopped');
      if (still || !wokenTraced.has(prev)) asleep.add(prev);
    }
    if (prev !== 0) wokenTraced.delete(prev);
    if (next !== 0) {
      wokenTraced.delete(next);
      if (asleep.delete(next) && (enabled(SCHED_WAKING) || enabled(SCHED_WAKEUP))) yield* traceWakeup(s, next, cpu);
      const orig = lastCpu.get(next);
      lastCpu.set(next, cpu);
      if (orig !== undefined && orig !== cpu && !isConsumer(s, next))
        yield* trace(SCHED_MIGRATE_TASK.name, { comm: comm(s, next, cpu), tid: next, prio: DEFAULT_PRIO, orig_cpu: orig, dest_cpu: cpu });
    }
    // The consumer's own switches are recorded when a sub-buffer holds many of them (see
    // CONSUMER_SWITCHES_FROM): a CPU-time analysis of the trace then charges the consumer's
    // time to it, not to the task it interrupted.
    if (!enabled(SCHED_SWITCH) || (!traceConsumerSwitches && (isConsumer(s, prev) || isConsumer(s, next)))) return;
    // prev_comm from the switch itself: an exiting task may be released before this hook runs.
    yield* trace(SCHED_SWITCH.name, {
      prev_comm: prevComm,
      prev_tid: prev,
      prev_prio: DEFAULT_PRIO,
      prev_state: prevState,
      next_comm: comm(s, next, cpu),
      next_tid: next,
      next_prio: DEFAULT_PRIO,
    });
  }

  ctx.tap('contextSwitch', function* schedSwitchAt(args) {
    cpuSwitches[args.cpu] = cpuSwitches[args.cpu]! + 1;
    // Nothing ran on this CPU between the switch and now: its records may carry the switch's time.
    switchTs[args.cpu] = args.time * TICK_NS;
    try {
      yield* schedSwitch(args);
    } finally {
      switchTs[args.cpu] = null;
    }
  });

  ctx.tap('wakeup', function* tryToWakeUp({ pid, cpu }) {
    asleep.delete(pid);
    wokenTraced.add(pid);
    const s = yield* getState();
    if (isConsumer(s, pid)) return;
    yield* traceWakeup(s, pid, cpu);
  });

  ctx.tap(
    'fork',
    function* processFork({ parent, child }) {
      // Under the tasklist write lock: the child inherits the syscall flag from the current
      // setting, not from dup_task_struct's copy (a walk may have passed in between).
      const s = yield* getState();
      const has = intMapGet(s.tasks, child)?.flags[TIF_SYSCALL_TRACEPOINT] === true;
      const want = syscallProbeCount > 0;
      if (has !== want) yield* emit({ type: 'task/flags', pid: child, set: want ? [TIF_SYSCALL_TRACEPOINT] : [], clear: want ? [] : [TIF_SYSCALL_TRACEPOINT] });
      // Parent 0: a task the host started, running its own fork tail. No task forked it, so
      // there is no sched_process_fork to record: it enters the trace by the statedump or its
      // first sched_switch, as a task started before the session does.
      if (parent === 0 || isConsumer(s, child)) return;
      newborn.add(child);
      const p = intMapGet(s.tasks, parent);
      const c = intMapGet(s.tasks, child);
      yield* trace(SCHED_PROCESS_FORK.name, {
        parent_comm: comm(s, parent, 0),
        parent_tid: parent,
        parent_pid: p?.tgid ?? parent,
        parent_ns_inum: INIT_PID_NS_INUM,
        child_comm: c?.comm ?? comm(s, parent, 0),
        child_tid: child,
        child_pid: c?.tgid ?? child,
        child_ns_inum: INIT_PID_NS_INUM,
      });
    },
    { stage: 'link' },
  );

  ctx.tap('exec', function* processExec({ pid, filename }) {
    yield* trace(SCHED_PROCESS_EXEC.name, { filename, tid: pid, old_tid: pid });
  });

  ctx.tap('exit', function* processExit({ pid }) {
    const s = yield* getState();
    if (isConsumer(s, pid)) return;
    yield* trace(SCHED_PROCESS_EXIT.name, { comm: comm(s, pid, 0), tid: pid, prio: DEFAULT_PRIO });
  });

  ctx.tap('release', function* processFree({ pid }) {
    const s = yield* getState();
    lastCpu.delete(pid);
    asleep.delete(pid);
    wokenTraced.delete(pid);
    newborn.delete(pid);
    syscallArgs.delete(pid);
    if (isConsumer(s, pid)) return;
    yield* trace(SCHED_PROCESS_FREE.name, { comm: comm(s, pid, 0), tid: pid, prio: DEFAULT_PRIO });
  });

  ctx.tap(
    'syscallEntry',
    function* syscallEntry({ pid, name, args }) {
      const spec = SYSCALLS[name];
      if (spec === undefined) {
        yield* trace(SYSCALL_ENTRY_UNKNOWN.name, { name });
        return;
      }
      syscallArgs.set(pid, args);
      yield* trace(`syscall_entry_${spec.event}`, syscallFields(spec.entry, args, {}));
      if (name === 'wait4' && enabled(SCHED_PROCESS_WAIT)) {
        // do_wait, right after the entry: the pid waited for (0: any child).
        const s = yield* getState();
        const upid = args['pid'] ?? -1;
        yield* trace(SCHED_PROCESS_WAIT.name, { comm: comm(s, pid, 0), tid: upid > 0 ? upid : 0, prio: DEFAULT_PRIO });
      }
    },
    { flag: TIF_SYSCALL_TRACEPOINT },
  );

  ctx.tap(
    'syscallExit',
    function* syscallExit({ pid, name, ret }) {
      const spec = SYSCALLS[name];
      if (spec === undefined) {
        yield* trace(SYSCALL_EXIT_UNKNOWN.name, { name, ret });
        return;
      }
      if (spec.noReturn === true) return;
      const args = syscallArgs.get(pid) ?? {};
      syscallArgs.delete(pid);
      yield* trace(`syscall_exit_${spec.event}`, syscallFields(spec.exit, args, { ret }));
    },
    { flag: TIF_SYSCALL_TRACEPOINT },
  );

  // ---- interrupt context (issue 18): the handlers' tracepoints ------------------------------

  if (opts.interrupts) {
    // The timer tick's hard interrupt: handle_irq_event around the handler (irq_handler_entry /
    // _exit), and inside it the tick's hrtimer expiring. Each record goes into this CPU's
    // buffer, nested inside whatever reserve the interrupted context has open.
    ctx.tap('irq', function* timerInterrupt({ name }) {
      yield* trace(IRQ_HANDLER_ENTRY.name, { irq: TIMER_IRQ, name });
      const now = (yield* current()).now * TICK_NS;
      yield* trace(TIMER_HRTIMER_EXPIRE_ENTRY.name, { hrtimer: TICK_HRTIMER, now, function: TICK_SCHED_TIMER });
      yield* trace(IRQ_HANDLER_EXIT.name, { irq: TIMER_IRQ, ret: IRQ_HANDLED });
    });
    // The sampling NMI (perf's overflow handler): one sample of who it interrupted, into this
    // CPU's buffer, at any point of a reserve, inside a hard interrupt's too.
    ctx.tap('nmi', function* nmiSample() {
      const me = yield* current();
      yield* trace(NMI_SAMPLE.name, { tid: me.pid, in_irq: inIrqCount(me.preemptCount) ? 1 : 0 });
    });
  }

  // ---- invariants ----------------------------------------------------------------------------

  if (opts.checks && opts.interrupts) {
    // First: a plain-store reserve also moves the offset back, which `offsets` would report as
    // the symptom; the overlap is the cause.
    ctx.invariant('ring-buffer/overlap', () => overlapError ?? false);
  }

  if (opts.checks) {
    ctx.invariant('ring-buffer/delivery', () => {
      if (buffers === null) return false;
      for (const buf of buffers) {
        if (buf.deliveryError !== null) return buf.deliveryError;
        const sb = buf.subbufSize;
        for (let i = 0; i < buf.numSubbuf; i++) {
          const complete = Math.floor(buf.ghostCommitted[i]! / sb);
          if (
            complete !== buf.deliveredLaps[i] &&
            !(complete === buf.deliveredLaps[i]! + 1 && (deliverChecks[buf.cpu * opts.numSubbuf + i]! > 0 || pendingFor(buf, i)))
          ) {
            return `cpu ${buf.cpu} sub-buffer ${i}: ${complete} laps fully committed (${buf.ghostCommitted[i]} bytes) but ${buf.deliveredLaps[i]} delivered; its commit count reads ${buf.ccLocal[i]! + buf.ccRemote[i]!}: a commit was lost`;
          }
        }
      }
      return false;
    });
    ctx.invariant('ring-buffer/commit', (s) => {
      if (errors.length > 0) return errors[0];
      for (const [id, r] of inFlight) {
        if (r.interrupt) continue;
        const t = intMapGet(s.tasks, r.pid);
        // With `interrupts` a record's write and commit are separate steps: a task on its way
        // out (its release hook's sched_process_free, exit code set) holds one while it runs.
        // The idle task (pid 0, not in the task map) never exits.
        if (opts.interrupts && (r.pid === 0 || (t !== undefined && t.state === 'running'))) continue;
        if (t === undefined || t.exitCode !== null)
          return `reservation ${id} (cpu ${r.buf.cpu}, offset ${r.o}) by pid ${r.pid}: the task exited without committing it`;
      }
      return false;
    });
    ctx.invariant('ring-buffer/packets', () => packetErrors[0] ?? false);
    ctx.invariant('ring-buffer/offsets', () => {
      if (buffers === null) return false;
      for (const buf of buffers) {
        if (buf.offset < seenOffsets[buf.cpu]!) return `cpu ${buf.cpu}: offset moved back from ${seenOffsets[buf.cpu]} to ${buf.offset}`;
        if (buf.consumed < seenConsumed[buf.cpu]!) return `cpu ${buf.cpu}: consumed moved back from ${seenConsumed[buf.cpu]} to ${buf.consumed}`;
        if (buf.consumed % buf.subbufSize !== 0) return `cpu ${buf.cpu}: consumed ${buf.consumed} is not at a sub-buffer start`;
        if (buf.mode === 'discard' && buf.offset - buf.consumed > buf.bufSize)
          return `cpu ${buf.cpu}: discard mode writer ${buf.offset - buf.consumed} bytes ahead of the reader (buffer ${buf.bufSize})`;
        seenOffsets[buf.cpu] = buf.offset;
        seenConsumed[buf.cpu] = buf.consumed;
      }
      return false;
    });
  }

  function pendingFor(buf: RingBuffer, idx: number): boolean {
    for (let j = 0; j < buf.pendingChecks.length; j += 2) if (buf.pendingChecks[j] === idx) return true;
    return false;
  }

  function checkAccounting(): string[] {
    const out = [...errors];
    if (buffers === null) return out;
    for (const buf of buffers) {
      const lostN = buf.recordsLost;
      const produced = buf.recordsReserved + lostN;
      // Snapshot mode: no consumer; what the buffer still holds is accounted for there.
      const accounted = buf.recordsConsumed + lostN + buf.recordsOverwritten + (opts.snapshot ? recordsHeld(buf) : 0);
      if (produced !== accounted)
        out.push(
          `cpu ${buf.cpu}: ${produced} records produced (${buf.recordsReserved} reserved + ${lostN} lost) but ${buf.recordsConsumed} delivered + ${lostN} lost + ${buf.recordsOverwritten} overwritten = ${accounted}`,
        );
    }
    if (inFlight.size > 0) out.push(`${inFlight.size} reservations never committed`);
    return out;
  }

  /** Records in the laps between the consumed position and the writer (snapshot mode's accounting). */
  function recordsHeld(buf: RingBuffer): number {
    let n = 0;
    const sb = buf.subbufSize;
    for (let pos = buf.consumed - (buf.consumed % sb); pos < buf.offset; pos += sb) {
      const idx = buf.subbufIndex(pos);
      n += buf.deliverable(pos) ? buf.deliveredRecords[idx]! : buf.records[idx]!;
    }
    return n;
  }

  function summary(): RingBufferSummary {
    const perCpu = (buffers ?? []).map((b) => ({
      cpu: b.cpu,
      delivered: b.recordsConsumed,
      lost: b.recordsLost + b.recordsOverwritten,
      lostFull: b.recordsLostFull,
      lostWrap: b.recordsLostWrap,
      lostBig: b.recordsLostBig,
      lostNesting: b.recordsLostNesting,
      overwritten: b.recordsOverwritten,
      packets: b.packetsConsumed,
    }));
    return { delivered: perCpu.reduce((a, c) => a + c.delivered, 0), lost: perCpu.reduce((a, c) => a + c.lost, 0), perCpu };
  }

  function* flush(): KPath<void> {
    let switched = 0;
    for (const buf of bufs()) {
      yield* preemptDisable();
      const cpu = (yield* current()).cpu;
      const before = snap(buf);
      // The session stops first (lttng stop, then the flush): later reserves get -EAGAIN
      // (record_disabled). Before the switch, because the switch's deliveries may take steps
      // (`interleave`), where a writer could otherwise reserve into the sub-buffer the switch
      // just opened, which no later switch closes.
      buf.disabled = true;
      if (opts.flushSwitch === 'ipi' && cpu !== buf.cpu) {
        // lib_ring_buffer_switch_remote: the owner switches its own buffer in an IPI handler
        // (a local commit add, never racing its own writers), and this CPU waits for it.
        yield* preemptEnable();
        yield* smpCallFunctionSingle(buf.cpu, () => switchOnOwner(buf, () => switched++));
        yield* preemptDisable();
      } else {
        // From another CPU the padding add is a REMOTE add (with local-only counters a plain
        // add: no writer is left at the end of a run). SWITCH_FLUSH: an empty sub-buffer is
        // switched too (a header-only packet ends the stream).
        const ts = yield* timestamp(buf);
        if (buf.switchSubbuf(ts, cpu === buf.cpu || opts.commitCounters === 'local-only', true)) switched++;
        yield* pendingDeliveries(buf);
      }
      // The reader reports -ENODATA once it has taken everything.
      buf.finalized = true;
      yield* drain(buf, before);
      yield* preemptEnable();
    }
    const me = yield* current();
    yield* emit({ type: 'ring-buffer/flushed', pid: me.pid, switched });
  }

  /** The FLUSH switch of `buf`, run on its owner CPU (in the IPI handler of `flushSwitch: 'ipi'`). */
  function* switchOnOwner(buf: RingBuffer, onSwitched: () => void): KPath<void> {
    const ts = yield* timestamp(buf);
    if (buf.switchSubbuf(ts, true, true)) onSwitched();
    yield* pendingDeliveries(buf);
  }

  /**
   * `lttng snapshot record`: for each CPU buffer, switch(ACTIVE) so what it holds is delivered,
   * sample the consumed and produced positions, and copy each delivered packet in between
   * without moving the consumer (lib_ring_buffer_snapshot, get_subbuf at each position). A
   * packet the writer overwrote meanwhile is skipped (a gap in packet_seq_num).
   */
  function* snapshotRecord(): KPath<number> {
    const out: Uint8Array[][] = bufs().map(() => []);
    let packets = 0;
    for (const buf of bufs()) {
      yield* preemptDisable();
      const cpu = (yield* current()).cpu;
      const before = snap(buf);
      const ts = yield* timestamp(buf);
      buf.switchSubbuf(ts, cpu === buf.cpu || opts.commitCounters === 'local-only', false);
      yield* pendingDeliveries(buf);
      yield* drain(buf, before);
      yield* preemptEnable();
      const { consumed, produced } = buf.snapshotPositions();
      for (let pos = consumed; pos < produced; pos += buf.subbufSize) {
        // One packet per step: the writers go on meanwhile.
        yield* schedPoint();
        const p = buf.readSubbufAt(pos);
        if (typeof p === 'number') continue;
        out[buf.cpu]!.push(p.bytes);
        packets++;
      }
    }
    snapshots.push(out);
    const me = yield* current();
    yield* emit({ type: 'ring-buffer/snapshot-recorded', pid: me.pid, packets });
    return packets;
  }

  // ---- kernel.reset -------------------------------------------------------------------------
  // Everything above as registration left it: the tracepoint table (the probe arrays the
  // session's enableAll attached, nothing defined later), the counters and flags; the buffers,
  // the consumer's streams and the checkers' records empty, as before the first event.
  {
    const tracepoints = byId.length;
    const funcs = byId.map((tp) => tp.funcs);
    const arrays = funcs.flatMap((f) => (f === null ? [] : [[f, f.freed] as const]));
    const marked = { nextArrayId, syscallProbeCount, nextReservation, switchTimerAlive, readTimerAlive, consumerAlive, statedumpDone };
    const faultsMarked = [...faultsDone];
    ctx.onReset(() => {
      for (const tp of byId.splice(tracepoints)) byName.delete(tp.def.name);
      byId.forEach((tp, i) => (tp.funcs = funcs[i]!));
      for (const [a, freed] of arrays) a.freed = freed;
      ({ nextArrayId, syscallProbeCount, nextReservation, switchTimerAlive, readTimerAlive, consumerAlive, statedumpDone } = marked);
      buffers = null;
      for (const st of streams) st.length = 0;
      inFlight.clear();
      errors.length = 0;
      packetErrors.length = 0;
      lastSeq.fill(-1);
      lastDiscarded.fill(0);
      snapshots.length = 0;
      deliverChecks.fill(0);
      cpuSwitches.fill(0);
      faultsDone.clear();
      for (const f of faultsMarked) faultsDone.add(f);
      lastTsEnd.fill(-1);
      seenOffsets.fill(0);
      seenConsumed.fill(0);
      lastCpu.clear();
      asleep.clear();
      wokenTraced.clear();
      newborn.clear();
      syscallArgs.clear();
      nesting.fill(0);
      nestingPeak.fill(0);
      for (const m of reserved) m.clear();
      overlapError = null;
      held.clear();
    });
  }

  return {
    defineTracepoint,
    tracepoints: () => byId.map((tp) => ({ ...tp.def, id: tp.id })),
    trace,
    tracepointProbeRegister: probeRegister,
    tracepointProbeUnregister: probeUnregister,
    *enableEvent(name: string): KPath<number> {
      const tp = byName.get(name);
      if (tp === undefined) return -EINVAL;
      return yield* probeRegister(name, channelProbe, tp);
    },
    *disableEvent(name: string): KPath<number> {
      const tp = byName.get(name);
      if (tp === undefined) return -EINVAL;
      return yield* probeUnregister(name, channelProbe, tp);
    },
    flush,
    statedump,
    functionEntry: (ip: string, parentIp: string) => trace(FUNC_ENTRY.name, { ip, parent_ip: parentIp }),
    buffers: () => bufs(),
    streams: () => streams,
    traceClass,
    checkAccounting,
    summary,
    consumerRunning: () => consumerAlive,
    snapshotRecord,
    snapshots: () => snapshots,
    eventReserve,
    eventCommit,
    nesting: () => nesting.slice(),
    nestingPeak: () => nestingPeak.slice(),
  };
}

/** A name filter from globs (`*` any run of characters, `?` one character), as `lttng enable-event` takes them. */
export function globMatcher(globs: readonly string[]): (name: string) => boolean {
  const res = globs.map(
    (g) =>
      new RegExp(
        `^${g
          .replace(/[.+^${}()|[\]\\]/g, '\\$&')
          .replace(/\*/g, '.*')
          .replace(/\?/g, '.')}$`,
      ),
  );
  return (name) => res.some((r) => r.test(name));
}

/** The kernel's fields of a syscall event from tracelab's arguments (a kernel argument tracelab has not is 0). */
function syscallFields(spec: readonly SyscallArg[], args: Readonly<Record<string, number>>, into: Record<string, TracepointValue>): TracepointFields {
  for (const a of spec) into[a.name] = a.from === undefined ? 0 : (args[a.from] ?? 0);
  return into;
}

/** The copied string at the length reserved at strlen time (cut, or padded with spaces: a NUL would end the CTF string early). */
function fitString(s: string, len: number): string {
  return s.length >= len ? s.slice(0, len) : s + ' '.repeat(len - s.length);
}

function registerReducers(ctx: PluginContext<RingBufferState>): void {
  ctx.on('ring-buffer/subbuf-delivered', (s, e) => {
    s.perCpu[e.bufCpu]!.packetsDelivered += 1;
  });
  ctx.on('ring-buffer/subbuf-consumed', (s, e) => {
    const c = s.perCpu[e.bufCpu]!;
    c.packetsConsumed += 1;
    c.recordsConsumed += e.records;
  });
  ctx.on('ring-buffer/subbuf-overwritten', (s, e) => {
    const c = s.perCpu[e.bufCpu]!;
    c.packetsOverwritten += e.packets;
    c.recordsOverwritten += e.records;
  });
  ctx.on('ring-buffer/record-lost', (s, e) => {
    const lost = s.perCpu[e.bufCpu]!.lost;
    // `nesting` is created by its first loss, so the slices of runs without one are unchanged.
    if (e.reason === 'nesting') lost.nesting = (lost.nesting ?? 0) + 1;
    else lost[e.reason] += 1;
  });
  ctx.on('ring-buffer/probes-published', (s, e) => {
    if (e.probes === 0) delete s.enabled[e.tracepoint];
    else s.enabled[e.tracepoint] = e.probes;
  });
  ctx.on('ring-buffer/array-retired', (s, e) => {
    s.retired[e.array] = e.tracepoint;
  });
  ctx.on('ring-buffer/array-freed', (s, e) => {
    delete s.retired[e.array];
  });
  ctx.on('ring-buffer/copy-restart', (s) => {
    s.restarts += 1;
  });
  ctx.on('ring-buffer/flushed', (s) => {
    s.flushes += 1;
  });
  ctx.declareEvents(['ring-buffer/switch-timer', 'ring-buffer/snapshot-recorded']);
}
