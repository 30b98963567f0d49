import type { KernelEvent, PluginContext } from '@tracelab/core';
import type { KprobesState } from '../state.js';
import { copyObject, withField, withKey, withoutKey } from '@tracelab/core';

/** The invariants, by what they check. */
export const KPROBES_INVARIANTS = Object.freeze({
  /** A detour buffer is never freed while a task is inside it, and no task executes a freed one. */
  noDetourUseAfterFree: 'kprobes/no-detour-use-after-free',
  /** No task resumes inside a function's first instructions after a jump has been written over them. */
  noResumeInsideJump: 'kprobes/no-resume-inside-jump',
});

type KprobesInvariant = (typeof KPROBES_INVARIANTS)[keyof typeof KPROBES_INVARIANTS];

type Slice = KprobesState;
type Region = KprobesState['inRegion'][string];

// The reducers are plain (`ctx.onPlain`): each gets the frozen slice and returns a new one built
// around the parts it keeps (the core's copies: `withField`, `withKey`, ...), or the slice itself when the event changes nothing; no
// immer draft (docs/benchmarks.md, "Plugin slices without drafts, second part").

/** The slice with the first violation recorded (a later one is dropped); `invariant` defaults to the use-after-free one. */
function violated(s: Slice, message: string, invariant: KprobesInvariant = KPROBES_INVARIANTS.noDetourUseAfterFree): Slice {
  return s.violation === null ? withField(s, 'violation', { invariant, message }) : s;
}

/** `inRegion` with every task between the first instructions of `fn` marked `overwritten` (the same map when none changes). */
function regionsOverwritten(inRegion: Slice['inRegion'], fn: string, overwritten: boolean): Slice['inRegion'] {
  let out: Record<string, Region> | null = null;
  for (const pid in inRegion) {
    const r = inRegion[pid]!;
    if (r.fn === fn && r.overwritten !== overwritten) (out ??= copyObject(inRegion))[pid] = { fn: r.fn, overwritten };
  }
  return out ?? inRegion;
}

function bufferFreed(s: Slice, e: KernelEvent<'kprobes/buffer-freed'>): Slice {
  let out = withField(s, 'buffers', withKey(s.buffers, e.buffer, withField(s.buffers[e.buffer]!, 'state', 'freed')));
  for (const [pid, b] of Object.entries(s.inDetour)) {
    if (b === e.buffer) {
      out = violated(
        out,
        `detour buffer #${e.buffer} of the probe on ${e.fn} was freed (after ${e.waited}) while pid ${pid} is inside it: it will resume in freed memory`,
      );
      break;
    }
  }
  return out;
}

/** The reducers of every `kprobes/*` event; the only writers of the slice. */
export function registerReducers(ctx: PluginContext<KprobesState>): void {
  ctx.onPlain('kprobes/registered', (s, e) => {
    const out = copyObject(s);
    out.probes = withKey(s.probes, e.fn, { fn: e.fn, buffer: e.buffer, armed: true, optimized: false });
    out.buffers = withKey(s.buffers, e.buffer, { id: e.buffer, fn: e.fn, state: 'live' });
    out.nextBuffer = e.buffer + 1;
    return out;
  });
  ctx.onPlain('kprobes/optimized', (s, e) => {
    const out = withField(s, 'probes', withKey(s.probes, e.fn, withField(s.probes[e.fn]!, 'optimized', true)));
    // The jump now covers the region: a task still between its instructions will resume inside it.
    return withField(out, 'inRegion', regionsOverwritten(s.inRegion, e.fn, true));
  });
  ctx.onPlain('kprobes/unoptimized', (s, e) => {
    const p = withField(withField(s.probes[e.fn]!, 'optimized', false), 'armed', false);
    const out = withField(s, 'probes', withKey(s.probes, e.fn, p));
    // The original instructions are back: a task still between them resumes on the right bytes.
    return withField(out, 'inRegion', regionsOverwritten(s.inRegion, e.fn, false));
  });
  ctx.onPlain('kprobes/region-enter', (s, e) => withField(s, 'inRegion', withKey(s.inRegion, e.pid, { fn: e.fn, overwritten: false })));
  ctx.onPlain('kprobes/region-exit', (s, e) => {
    const r = s.inRegion[e.pid];
    const out = withField(s, 'inRegion', withoutKey(s.inRegion, e.pid));
    if (r?.overwritten !== true) return out;
    return violated(
      out,
      `pid ${e.pid} resumed inside the first instructions of ${e.fn}, which the optimizer overwrote with a jump while it was between them: it executes from the middle of the jump`,
      KPROBES_INVARIANTS.noResumeInsideJump,
    );
  });
  ctx.onPlain('kprobes/buffer-freed', bufferFreed);
  ctx.onPlain('kprobes/unregistered', (s, e) => withField(s, 'probes', withoutKey(s.probes, e.fn)));
  ctx.onPlain('kprobes/detour-enter', (s, e) => {
    const out = withField(s, 'inDetour', withKey(s.inDetour, e.pid, e.buffer));
    return s.buffers[e.buffer]?.state !== 'live' ? violated(out, `pid ${e.pid} jumped into detour buffer #${e.buffer} of ${e.fn}, which is freed`) : out;
  });
  ctx.onPlain('kprobes/hit', (s, e) => {
    const out = withField(s, 'hits', s.hits + 1);
    return s.buffers[e.buffer]?.state !== 'live' ? violated(out, `pid ${e.pid} ran the handler in detour buffer #${e.buffer} of ${e.fn}, which is freed`) : out;
  });
  ctx.onPlain('kprobes/detour-exit', (s, e) => {
    const out = withField(s, 'inDetour', withoutKey(s.inDetour, e.pid));
    return s.buffers[e.buffer]?.state !== 'live'
      ? violated(out, `pid ${e.pid} executed the copied instructions of detour buffer #${e.buffer} of ${e.fn} after it was freed`)
      : out;
  });
}
