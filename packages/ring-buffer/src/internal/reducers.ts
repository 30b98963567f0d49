import type { PluginContext } from '@tracelab/core';
import type { RingBufferCpuState, RingBufferState } from '../events.js';

export function emptyCpuState(): RingBufferCpuState {
  return { packetsDelivered: 0, packetsConsumed: 0, recordsConsumed: 0, packetsOverwritten: 0, recordsOverwritten: 0, lost: { full: 0, wrap: 0, big: 0 } };
}

/** The slice's reducers: the state is a fold of the ring buffer's events. */
export function registerReducers(ctx: PluginContext<RingBufferState>): void {
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
    // `nesting` and `clock` are created by their first loss, so the slices of runs without one are unchanged.
    if (e.reason === 'nesting') lost.nesting = (lost.nesting ?? 0) + 1;
    else if (e.reason === 'clock') lost.clock = (lost.clock ?? 0) + 1;
    else lost[e.reason] += 1;
  });
  ctx.on('ring-buffer/copy-restart', (s) => {
    s.restarts += 1;
  });
  ctx.on('ring-buffer/flushed', (s) => {
    s.flushes += 1;
  });
  ctx.declareEvents(['ring-buffer/switch-timer', 'ring-buffer/snapshot-recorded']);
}
