import type { PluginContext } from '@tracelab/core';
import type { RingBufferState } from '../events.js';
import type { RingBufferSession } from './session.js';
import { defineSyscallTracepoints } from '../lttng_syscalls.js';

/** The session's tracepoints missing from the tracepoints table (after its reset) defined there again. */
function redefineTracepoints(st: RingBufferSession): void {
  defineSyscallTracepoints(st, true);
  for (const tp of st.byId) if (st.tp.site(tp.def.name) === undefined) st.tp.defineTracepoint(tp.def.name, { faultable: tp.faultable });
}

/**
 * kernel.reset: puts the session back as registration left it. Call at the end of register:
 * the tracepoint definitions (nothing defined later; the probes are the tracepoints plugin's,
 * whose reset re-arms the boot ones), the counters and flags as they are now; the buffers, the consumer's streams and the
 * checkers' records empty, as before the first event.
 */
export function resetOnKernelReset(ctx: PluginContext<RingBufferState>, st: RingBufferSession): void {
  const tracepoints = st.byId.length;
  const { sysTracepointRefcount, initSyscallFlag, nextReservation, switchTimerAlive, readTimerAlive, consumerAlive, statedumpDone } = st;
  const faultsMarked = [...st.faultsDone];
  ctx.onReset(() => {
    for (const tp of st.byId.splice(tracepoints)) st.byName.delete(tp.def.name);
    // The tracepoints plugin's reset (it registered first, so it ran first) put its table back
    // as its own registration left it, with the boot probes re-armed: the tracepoints defined
    // here without boot probes are gone from it, and are defined again, disarmed.
    redefineTracepoints(st);
    Object.assign(st, { sysTracepointRefcount, initSyscallFlag, nextReservation, switchTimerAlive, readTimerAlive, consumerAlive, statedumpDone });
    st.buffers = null;
    for (const s of st.streams) s.length = 0;
    st.inFlight.clear();
    st.errors.length = 0;
    st.packetErrors.length = 0;
    st.lastSeq.fill(-1);
    st.lastDiscarded.fill(0);
    st.snapshots.length = 0;
    st.deliverChecks.fill(0);
    st.cpuSwitches.fill(0);
    st.faultsDone.clear();
    for (const f of faultsMarked) st.faultsDone.add(f);
    st.lastTsEnd.fill(-1);
    st.seenOffsets.fill(0);
    st.seenConsumed.fill(0);
    st.lastCpu.clear();
    st.asleep.clear();
    st.wokenTraced.clear();
    st.newborn.clear();
    st.syscallArgs.clear();
    st.nesting.fill(0);
    st.nestingPeak.fill(0);
    for (const m of st.reserved) m.clear();
    st.overlapError = null;
    st.held.clear();
  });
}
