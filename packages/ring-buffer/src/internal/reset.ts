import type { PluginContext } from '@tracelab/core';
import type { RingBufferState } from '../events.js';
import type { RingBufferSession } from './session.js';

/**
 * kernel.reset: puts the session back as registration left it. Call at the end of register:
 * the tracepoint table (the probe arrays the session's enableAll attached, nothing defined
 * later), the counters and flags as they are now; the buffers, the consumer's streams and the
 * checkers' records empty, as before the first event.
 */
export function resetOnKernelReset(ctx: PluginContext<RingBufferState>, st: RingBufferSession): void {
  const tracepoints = st.byId.length;
  const funcs = st.byId.map((tp) => tp.funcs);
  const arrays = funcs.flatMap((f) => (f === null ? [] : [[f, f.freed] as const]));
  const { nextArrayId, syscallProbeCount, nextReservation, switchTimerAlive, readTimerAlive, consumerAlive, statedumpDone } = st;
  const faultsMarked = [...st.faultsDone];
  ctx.onReset(() => {
    for (const tp of st.byId.splice(tracepoints)) st.byName.delete(tp.def.name);
    st.byId.forEach((tp, i) => (tp.funcs = funcs[i]!));
    for (const [a, freed] of arrays) a.freed = freed;
    Object.assign(st, { nextArrayId, syscallProbeCount, nextReservation, switchTimerAlive, readTimerAlive, consumerAlive, statedumpDone });
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
