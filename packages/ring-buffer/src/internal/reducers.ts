import type { Mutable, PluginContext } from '@tracelab/core';
import type { RingBufferCpuState, RingBufferState } from '../events.js';

export function emptyCpuState(): RingBufferCpuState {
  return { packetsDelivered: 0, packetsConsumed: 0, recordsConsumed: 0, packetsOverwritten: 0, recordsOverwritten: 0, lost: { full: 0, wrap: 0, big: 0 } };
}

// The reducers are plain (`ctx.onPlain`): each gets the frozen slice and returns a new one built
// around the parts it keeps (the same object when nothing changed), which the core freezes. No
// immer draft (docs/benchmarks.md, "Plugin slices without drafts, second part"). Copies are
// written field by field, not spread (spreading a frozen object leaves V8's fast clone path on
// Node 20). A new object is written in place until the reducer returns it (it is its alone).

type Lost = RingBufferCpuState['lost'];

function copyCpu(c: RingBufferCpuState): Mutable<RingBufferCpuState> {
  return {
    packetsDelivered: c.packetsDelivered,
    packetsConsumed: c.packetsConsumed,
    recordsConsumed: c.recordsConsumed,
    packetsOverwritten: c.packetsOverwritten,
    recordsOverwritten: c.recordsOverwritten,
    lost: c.lost,
  };
}

/** The slice with CPU `cpu`'s counters replaced by `c` (the other CPUs' by identity). */
function withCpu(s: RingBufferState, cpu: number, c: RingBufferCpuState): RingBufferState {
  const perCpu = new Array<RingBufferCpuState>(s.perCpu.length);
  for (let i = 0; i < perCpu.length; i++) perCpu[i] = s.perCpu[i]!;
  perCpu[cpu] = c;
  return { perCpu, flushes: s.flushes, restarts: s.restarts };
}

/** `lost` with `reason` counted once more; `nesting` and `clock` are created by their first loss (a new key goes last, as an assignment would). */
function lostOnce(lost: Lost, reason: keyof Lost): Lost {
  const out: Record<string, number> = {};
  for (const k in lost) out[k] = lost[k as keyof Lost]!;
  out[reason] = (lost[reason] ?? 0) + 1;
  return out as unknown as Lost;
}

/** The slice's reducers: the state is a fold of the ring buffer's events. */
export function registerReducers(ctx: PluginContext<RingBufferState>): void {
  ctx.onPlain('ring-buffer/subbuf-delivered', (s, e) => {
    const c = copyCpu(s.perCpu[e.bufCpu]!);
    c.packetsDelivered += 1;
    return withCpu(s, e.bufCpu, c);
  });
  ctx.onPlain('ring-buffer/subbuf-consumed', (s, e) => {
    const c = copyCpu(s.perCpu[e.bufCpu]!);
    c.packetsConsumed += 1;
    c.recordsConsumed += e.records;
    return withCpu(s, e.bufCpu, c);
  });
  ctx.onPlain('ring-buffer/subbuf-overwritten', (s, e) => {
    const prev = s.perCpu[e.bufCpu]!;
    const c = copyCpu(prev);
    c.packetsOverwritten += e.packets;
    c.recordsOverwritten += e.records;
    if (c.packetsOverwritten === prev.packetsOverwritten && c.recordsOverwritten === prev.recordsOverwritten) return s;
    return withCpu(s, e.bufCpu, c);
  });
  ctx.onPlain('ring-buffer/record-lost', (s, e) => {
    const c = copyCpu(s.perCpu[e.bufCpu]!);
    c.lost = lostOnce(c.lost, e.reason);
    return withCpu(s, e.bufCpu, c);
  });
  ctx.onPlain('ring-buffer/copy-restart', (s) => ({ perCpu: s.perCpu, flushes: s.flushes, restarts: s.restarts + 1 }));
  ctx.onPlain('ring-buffer/flushed', (s) => ({ perCpu: s.perCpu, flushes: s.flushes + 1, restarts: s.restarts }));
  ctx.declareEvents(['ring-buffer/switch-timer', 'ring-buffer/snapshot-recorded']);
}
