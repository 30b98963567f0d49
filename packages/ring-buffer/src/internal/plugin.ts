import { EINVAL, type HookArgs, type KPath, type PluginContext } from '@tracelab/core';
import type { RcuTasksApi } from '@tracelab/rcu-tasks';
import type { TracepointsApi } from '@tracelab/tracepoints';
import type { RingBufferApi, RingBufferState } from '../events.js';
import { FUNC_ENTRY, LTTNG_STATEDUMP_START, coreTracepoints, interruptTracepoints } from '../tracepoints.js';
import { attachAtStart, defineTracepoint, probeRegister, probeUnregister, trace } from '../tracepoint.js';
import { flush, snapshotRecord } from '../ring_buffer_frontend.js';
import { channelProbe, eventCommit, eventReserve } from '../lttng_ring_buffer_client.js';
import { statedump } from '../lttng_statedump.js';
import { contextSwitchHook, execHook, exitHook, forkHook, releaseHook, wakeupHook } from '../sched.js';
import {
  SYS_ENTER,
  SYS_EXIT,
  attachSyscallsAtStart,
  defineSyscallTracepoints,
  syscallEntryProbe,
  syscallExitProbe,
  withSyscallProbe,
} from '../lttng_syscalls.js';
import { nmiSample, timerInterrupt } from '../irq_handle.js';
import { TIF_SYSCALL_TRACEPOINT } from '../events.js';
import type { RingBufferPluginFaults } from './faults.js';
import { checkAccounting, registerInvariants, summary } from './invariants.js';
import { traceClass } from './metadata.js';
import { emptyCpuState, registerReducers } from './reducers.js';
import { resetOnKernelReset } from './reset.js';
import { RingBufferSession } from './session.js';

/**
 * The plugin's registration, wiring only: the state slice and its reducers, the session object
 * with its tracepoint table, the core's hooks tapped to the tracepoint call sites, the
 * invariants, the reset, and the API over the kernel paths.
 */
export function registerRingBuffer(
  ctx: PluginContext<RingBufferState>,
  opts: RingBufferSession['opts'],
  rcuTasks: RcuTasksApi,
  tp: TracepointsApi,
  faults: RingBufferPluginFaults = {},
): RingBufferApi {
  const cpus = ctx.cpus;
  ctx.initSlice({ perCpu: Array.from({ length: cpus }, emptyCpuState), flushes: 0, restarts: 0 });
  registerReducers(ctx);
  const st = new RingBufferSession(
    cpus,
    opts,
    rcuTasks,
    tp,
    faults,
    () => ctx.state().kernel.seed,
    (s) => ({
      channel: (values, data) => channelProbe(s, values, data),
      sysEnter: function syscallEntryEventProbe(_data: unknown, args: unknown) {
        return syscallEntryProbe(s, args as HookArgs['syscallEntry']);
      },
      sysExit: function syscallExitEventProbe(_data: unknown, args: unknown) {
        return syscallExitProbe(s, args as HookArgs['syscallExit']);
      },
    }),
  );
  defineSyscallTracepoints(st);
  for (const def of coreTracepoints()) defineTracepoint(st, def);
  // After the core's: their event ids (and every trace without `interrupts`) stay as they were.
  if (opts.interrupts) for (const def of interruptTracepoints()) defineTracepoint(st, def);
  if (opts.enableAll) {
    attachAtStart(st, opts.events);
    attachSyscallsAtStart(st);
  }
  st.statedumpDone = !opts.statedump || !tp.enabled(LTTNG_STATEDUMP_START.name);

  ctx.tap('contextSwitch', (args) => contextSwitchHook(st, args));
  ctx.tap('wakeup', (args) => wakeupHook(st, args));
  ctx.tap('fork', (args) => forkHook(st, args), { stage: 'link' });
  ctx.tap('exec', (args) => execHook(st, args));
  ctx.tap('exit', (args) => exitHook(st, args));
  ctx.tap('release', (args) => releaseHook(st, args));
  // The syscall slow path (trace_sys_enter / trace_sys_exit), taken while the task has the flag.
  ctx.tap('syscallEntry', (args) => tp.trace(SYS_ENTER, args), { flag: TIF_SYSCALL_TRACEPOINT });
  ctx.tap('syscallExit', (args) => tp.trace(SYS_EXIT, args), { flag: TIF_SYSCALL_TRACEPOINT });
  if (opts.interrupts) {
    ctx.tap('irq', ({ name }) => timerInterrupt(st, name));
    ctx.tap('nmi', () => nmiSample(st));
  }
  registerInvariants(ctx, st);
  resetOnKernelReset(ctx, st);

  return {
    defineTracepoint: (def) => defineTracepoint(st, def),
    tracepoints: () => st.byId.map((tp) => ({ ...tp.def, id: tp.id })),
    trace: (name, fields) => trace(st, name, fields),
    tracepointProbeRegister: (name, probe, data, prio) => probeRegister(st, name, probe, data, prio),
    tracepointProbeUnregister: (name, probe, data) => probeUnregister(st, name, probe, data),
    *enableEvent(name: string): KPath<number> {
      const def = st.byName.get(name);
      if (def === undefined) return -EINVAL;
      return yield* withSyscallProbe(st, name, () => st.tp.probeRegister(name, st.channelTpProbe, def));
    },
    *disableEvent(name: string): KPath<number> {
      const def = st.byName.get(name);
      if (def === undefined) return -EINVAL;
      return yield* withSyscallProbe(st, name, () => st.tp.probeUnregister(name, st.channelTpProbe, def));
    },
    flush: () => flush(st),
    statedump: () => statedump(st),
    functionEntry: (ip: string, parentIp: string) => trace(st, FUNC_ENTRY.name, { ip, parent_ip: parentIp }),
    buffers: () => st.bufs(),
    streams: () => st.streams,
    traceClass: () => traceClass(st),
    checkAccounting: () => checkAccounting(st),
    summary: () => summary(st),
    consumerRunning: () => st.consumerAlive,
    snapshotRecord: () => snapshotRecord(st),
    snapshots: () => st.snapshots,
    eventReserve: (name, fields) => eventReserve(st, name, fields),
    eventCommit: (reservation) => eventCommit(st, reservation),
    nesting: () => st.nesting.slice(),
    nestingPeak: () => st.nestingPeak.slice(),
  };
}
