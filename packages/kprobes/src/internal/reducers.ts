import type { PluginContext } from '@tracelab/core';
import type { KprobesState } from '../state.js';

/** The invariants, by what they check. */
export const KPROBES_INVARIANTS = Object.freeze({
  /** A detour buffer is never freed while a task is inside it, and no task executes a freed one. */
  noDetourUseAfterFree: 'kprobes/no-detour-use-after-free',
  /** No task resumes inside a function's first instructions after a jump has been written over them. */
  noResumeInsideJump: 'kprobes/no-resume-inside-jump',
});

type KprobesInvariant = (typeof KPROBES_INVARIANTS)[keyof typeof KPROBES_INVARIANTS];

type SliceDraft = Parameters<Parameters<PluginContext<KprobesState>['on']>[1]>[0];

/** Records the first violation; `invariant` defaults to the use-after-free one. */
function violate(d: SliceDraft, message: string, invariant: KprobesInvariant = KPROBES_INVARIANTS.noDetourUseAfterFree): void {
  if (d.violation === null) d.violation = { invariant, message };
}

/** The reducers of every `kprobes/*` event; the only writers of the slice. */
export function registerReducers(ctx: PluginContext<KprobesState>): void {
  ctx.on('kprobes/registered', (d, e) => {
    d.probes[e.fn] = { fn: e.fn, buffer: e.buffer, armed: true, optimized: false };
    d.buffers[e.buffer] = { id: e.buffer, fn: e.fn, state: 'live' };
    d.nextBuffer = e.buffer + 1;
  });
  ctx.on('kprobes/optimized', (d, e) => {
    d.probes[e.fn]!.optimized = true;
    // The jump now covers the region: a task still between its instructions will resume inside it.
    for (const r of Object.values(d.inRegion)) if (r.fn === e.fn) r.overwritten = true;
  });
  ctx.on('kprobes/unoptimized', (d, e) => {
    const p = d.probes[e.fn]!;
    p.optimized = false;
    p.armed = false;
    // The original instructions are back: a task still between them resumes on the right bytes.
    for (const r of Object.values(d.inRegion)) if (r.fn === e.fn) r.overwritten = false;
  });
  ctx.on('kprobes/region-enter', (d, e) => {
    d.inRegion[e.pid] = { fn: e.fn, overwritten: false };
  });
  ctx.on('kprobes/region-exit', (d, e) => {
    const r = d.inRegion[e.pid];
    delete d.inRegion[e.pid];
    if (r?.overwritten === true)
      violate(
        d,
        `pid ${e.pid} resumed inside the first instructions of ${e.fn}, which the optimizer overwrote with a jump while it was between them: it executes from the middle of the jump`,
        KPROBES_INVARIANTS.noResumeInsideJump,
      );
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
