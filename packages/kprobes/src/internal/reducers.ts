import type { PluginContext } from '@tracelab/core';
import type { KprobesState } from '../state.js';

/** The invariants, by what they check. */
export const KPROBES_INVARIANTS = Object.freeze({
  /** A detour buffer is never freed while a task is inside it, and no task executes a freed one. */
  noDetourUseAfterFree: 'kprobes/no-detour-use-after-free',
});

type SliceDraft = Parameters<Parameters<PluginContext<KprobesState>['on']>[1]>[0];

function violate(d: SliceDraft, message: string): void {
  if (d.violation === null) d.violation = { invariant: KPROBES_INVARIANTS.noDetourUseAfterFree, message };
}

/** The reducers of every `kprobes/*` event; the only writers of the slice. */
export function registerReducers(ctx: PluginContext<KprobesState>): void {
  ctx.on('kprobes/registered', (d, e) => {
    d.probes[e.fn] = { fn: e.fn, buffer: e.buffer, optimized: false };
    d.buffers[e.buffer] = { id: e.buffer, fn: e.fn, state: 'live' };
    d.nextBuffer = e.buffer + 1;
  });
  ctx.on('kprobes/optimized', (d, e) => {
    d.probes[e.fn]!.optimized = true;
  });
  ctx.on('kprobes/unoptimized', (d, e) => {
    d.probes[e.fn]!.optimized = false;
  });
  ctx.on('kprobes/buffer-freed', (d, e) => {
    d.buffers[e.buffer]!.state = 'freed';
    for (const [pid, b] of Object.entries(d.inDetour)) {
      if (b === e.buffer) {
        violate(
          d,
          `detour buffer #${e.buffer} of the probe on ${e.fn} was freed (after ${e.waited}) while pid ${pid} is inside it: it will resume in freed memory`,
        );
        break;
      }
    }
  });
  ctx.on('kprobes/unregistered', (d, e) => {
    delete d.probes[e.fn];
  });
  ctx.on('kprobes/detour-enter', (d, e) => {
    d.inDetour[e.pid] = e.buffer;
    if (d.buffers[e.buffer]?.state !== 'live') violate(d, `pid ${e.pid} jumped into detour buffer #${e.buffer} of ${e.fn}, which is freed`);
  });
  ctx.on('kprobes/hit', (d, e) => {
    d.hits += 1;
    if (d.buffers[e.buffer]?.state !== 'live') violate(d, `pid ${e.pid} ran the handler in detour buffer #${e.buffer} of ${e.fn}, which is freed`);
  });
  ctx.on('kprobes/detour-exit', (d, e) => {
    delete d.inDetour[e.pid];
    if (d.buffers[e.buffer]?.state !== 'live')
      violate(d, `pid ${e.pid} executed the copied instructions of detour buffer #${e.buffer} of ${e.fn} after it was freed`);
  });
}
