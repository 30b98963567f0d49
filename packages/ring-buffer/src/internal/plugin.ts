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
      channel: (values, data) => s.within(channelProbe(s, values, data)),
      sysEnter: function syscallEntryEventProbe(_data: unknown, args: unknown) {
        return s.within(syscallEntryProbe(s, args as HookArgs['syscallEntry']));
      },
      sysExit: function syscallExitEventProbe(_data: unknown, args: unknown) {
        return s.within(syscallExitProbe(s, args as HookArgs['syscallExit']));
      },
    }),
  );
  st.within = (path) => ctx.touching(BUFFERS, path);
  defineSyscallTracepoints(st);
  for (const def of coreTracepoints()) defineTracepoint(st, def);
  // After the core's: their event ids (and every trace without `interrupts`) stay as they were.
  if (opts.interrupts) for (const def of interruptTracepoints()) defineTracepoint(st, def);
  if (opts.enableAll) {
    attachAtStart(st, opts.events);
    attachSyscallsAtStart(st);
  }
  st.statedumpDone = !opts.statedump || !tp.enabled(LTTNG_STATEDUMP_START.name);

  ctx.tap('contextSwitch', (args) => st.within(contextSwitchHook(st, args)));
  ctx.tap('wakeup', (args) => st.within(wakeupHook(st, args)));
  ctx.tap('fork', (args) => st.within(forkHook(st, args)), { stage: 'link' });
  ctx.tap('exec', (args) => st.within(execHook(st, args)));
  ctx.tap('exit', (args) => st.within(exitHook(st, args)));
  ctx.tap('release', (args) => st.within(releaseHook(st, args)));
  // The syscall slow path (trace_sys_enter / trace_sys_exit), taken while the task has the flag.
  ctx.tap('syscallEntry', (args) => tp.trace(SYS_ENTER, args), { flag: TIF_SYSCALL_TRACEPOINT });
  ctx.tap('syscallExit', (args) => tp.trace(SYS_EXIT, args), { flag: TIF_SYSCALL_TRACEPOINT });
  if (opts.interrupts) {
    ctx.tap('irq', ({ name }) => st.within(timerInterrupt(st, name)));
    ctx.tap('nmi', () => st.within(nmiSample(st)));
  }
  registerInvariants(ctx, st);
  resetOnKernelReset(ctx, st);

  return {
    defineTracepoint: (def) => defineTracepoint(st, def),
    tracepoints: () => st.byId.map((tp) => ({ ...tp.def, id: tp.id })),
    trace: (name, fields) => st.within(trace(st, name, fields)),
    tracepointProbeRegister: (name, probe, data, prio) => st.within(probeRegister(st, name, probe, data, prio)),
    tracepointProbeUnregister: (name, probe, data) => st.within(probeUnregister(st, name, probe, data)),
    enableEvent: (name: string) => st.within(channelProbeOp(st, name, 'register')),
    disableEvent: (name: string) => st.within(channelProbeOp(st, name, 'unregister')),
    flush: () => st.within(flush(st)),
    statedump: () => st.within(statedump(st)),
    functionEntry: (ip: string, parentIp: string) => st.within(trace(st, FUNC_ENTRY.name, { ip, parent_ip: parentIp })),
    buffers: () => st.bufs(),
    streams: () => st.streams,
    traceClass: () => traceClass(st),
    checkAccounting: () => checkAccounting(st),
    summary: () => summary(st),
    consumerRunning: () => st.consumerAlive,
    snapshotRecord: () => st.within(snapshotRecord(st)),
    snapshots: () => st.snapshots,
    eventReserve: (name, fields) => st.within(eventReserve(st, name, fields)),
    eventCommit: (reservation) => st.within(eventCommit(st, reservation)),
    nesting: () => st.nesting.slice(),
    nestingPeak: () => st.nestingPeak.slice(),
  };
}

/** What every step of the plugin's code names: all of its data outside the state (`@ring-buffer:*`). */
const BUFFERS = { writes: ['*'] } as const;

/** enableEvent / disableEvent: the channel probe connected to or taken off tracepoint `name`. */
function* channelProbeOp(st: RingBufferSession, name: string, op: 'register' | 'unregister'): KPath<number> {
  const def = st.byName.get(name);
  if (def === undefined) return -EINVAL;
  return yield* withSyscallProbe(st, name, () =>
    op === 'register' ? st.tp.probeRegister(name, st.channelTpProbe, def) : st.tp.probeUnregister(name, st.channelTpProbe, def),
  );
}
