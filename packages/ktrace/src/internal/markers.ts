import type { KPath } from '@tracelab/core';
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
 */
export function syscallMarkers(markers: MarkersApi | undefined): SyscallMarkers | null {
  if (markers === undefined) return null;
  const entrySite: MarkerSite = markers.defineMarker(SYSCALL_MARKERS.entry.name, SYSCALL_MARKERS.entry.format);
  const exitSite: MarkerSite = markers.defineMarker(SYSCALL_MARKERS.exit.name, SYSCALL_MARKERS.exit.format);
  return {
    *entry(pid, name, args) {
      if (entrySite.armed) yield* markers.mark(entrySite.name, undefined, pid, name, formatSyscallArgs(args));
    },
    *exit(pid, name, ret) {
      if (exitSite.armed) yield* markers.mark(exitSite.name, undefined, pid, name, ret);
    },
  };
}
