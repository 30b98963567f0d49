import type { KernelEvent } from './events.js';

/**
 * Folds one event into a pid → comm map read from a log: `task/spawned` and `task/exec` name
 * their task, `fork/dup` names the child (a copy of the parent's comm). Every reader that shows
 * tasks by name while walking a log (a trace printout, the Chrome exporter, summaries, the
 * viewer) keeps its map with this, so all of them name a task alike. A live kernel has the
 * names in `state.tasks` already.
 */
export function trackComm(comm: Map<number, string>, e: KernelEvent): void {
  if (e.type === 'task/spawned' || e.type === 'task/exec') comm.set(e.pid, e.comm);
  else if (e.type === 'fork/dup') comm.set(e.child, e.comm);
}
