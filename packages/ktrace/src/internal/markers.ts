import { current, getState, preemptEnable, printk, type KPath } from '@tracelab/core';
import type { MarkerSite, MarkersApi } from '@tracelab/markers';
import { SYSCALL_MARKERS, formatSyscallArgs } from '../syscall-markers.js';

/** The two sites and the paths that fire them; null when markers is not in the stack. */
export interface SyscallMarkers {
  entry(pid: number, name: string, args: Readonly<Record<string, number>>): KPath<void>;
  exit(pid: number, name: string, ret: number): KPath<void>;
}

/**
 * Defines the two core sites with `markers` (from ktrace's register) and returns the paths the
 * slow path runs. As in the kernel's trace_mark, the arguments are only built when the site is
 * armed: a flagged thread with nobody listening pays a load and a branch per marker.
 *
 * markers' failures cost ktrace nothing: these paths run inside ktrace's syscall hooks, and
 * while the core blames a failing `markers.mark` on markers, it also undoes the hook's events
 * since its last scheduling point (ktrace's own syscall event). A firing is skipped while markers is
 * disabled (an earlier oops), and an error thrown out of `mark` is caught; either is recorded
 * with a printk naming the marker, and the syscall goes on.
 */
export function syscallMarkers(markers: MarkersApi | undefined): SyscallMarkers | null {
  if (markers === undefined) return null;
  const api: MarkersApi = markers;
  const entrySite: MarkerSite = markers.defineMarker(SYSCALL_MARKERS.entry.name, SYSCALL_MARKERS.entry.format);
  const exitSite: MarkerSite = markers.defineMarker(SYSCALL_MARKERS.exit.name, SYSCALL_MARKERS.exit.format);

  function* fire(site: MarkerSite, pid: number, args: () => readonly unknown[]): KPath<void> {
    const disabled = (yield* getState()).kernel.disabledPlugins.markers;
    if (disabled !== undefined) {
      yield* printk(`ktrace: ${site.name} for pid ${pid} not fired: markers is disabled (${disabled})`);
      return;
    }
    // markers fires with preemption disabled; a failure part-way can leave it raised.
    const preemptCount = (yield* current()).preemptCount;
    try {
      yield* api.mark(site.name, undefined, ...args());
    } catch (err) {
      for (let me = yield* current(); me.preemptCount > preemptCount; me = yield* current()) yield* preemptEnable();
      yield* printk(`ktrace: ${site.name} for pid ${pid} failed in markers: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  return {
    *entry(pid, name, args) {
      if (entrySite.armed) yield* fire(entrySite, pid, () => [pid, name, formatSyscallArgs(args)]);
    },
    *exit(pid, name, ret) {
      if (exitSite.armed) yield* fire(exitSite, pid, () => [pid, name, ret]);
    },
  };
}
