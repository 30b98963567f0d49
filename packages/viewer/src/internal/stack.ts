import { TracelabError, type KernelEvent, type PluginStack } from '@tracelab/core';
import { ftrace } from '@tracelab/ftrace';
import { kprobes } from '@tracelab/kprobes';
import { ktrace } from '@tracelab/ktrace';
import { markers } from '@tracelab/markers';
import { memoryModel } from '@tracelab/memory-model';
import { rcuTasks } from '@tracelab/rcu-tasks';
import { ringBuffer } from '@tracelab/ring-buffer';
import { srcu } from '@tracelab/srcu';
import { tracepoints } from '@tracelab/tracepoints';
import { utrace } from '@tracelab/utrace';

/** The plugin factories the page can rebuild a stack from, by the name a log registers. */
const FACTORIES: Readonly<Record<string, (options: never) => PluginStack[number]>> = {
  markers,
  ktrace,
  'rcu-tasks': rcuTasks,
  ftrace,
  'ring-buffer': ringBuffer,
  utrace,
  'memory-model': memoryModel,
  tracepoints,
  srcu,
  kprobes,
};

/** The names of the plugins the viewer bundles. */
export const BUNDLED_PLUGINS: readonly string[] = Object.keys(FACTORIES);

/**
 * The plugin stack that wrote a log, rebuilt from its `kernel/plugin-registered` events: each
 * factory called with the options the log recorded (replay compares them). A plugin the
 * viewer does not bundle throws `VIEWER_UNKNOWN_PLUGIN` naming the line that registers it.
 */
export function stackOf(events: readonly KernelEvent[]): PluginStack {
  const stack: Array<PluginStack[number]> = [];
  for (const e of events) {
    if (e.type !== 'kernel/plugin-registered') continue;
    const r = e as KernelEvent<'kernel/plugin-registered'>;
    const factory = FACTORIES[r.name];
    if (factory === undefined) {
      throw new TracelabError(
        'VIEWER_UNKNOWN_PLUGIN',
        `line ${e.seq + 1} registers plugin ${r.name}, which the viewer does not bundle (it has ${BUNDLED_PLUGINS.join(', ')})`,
        { line: e.seq + 1, plugin: r.name },
      );
    }
    stack.push(factory((r.options ?? {}) as never));
  }
  return stack;
}
