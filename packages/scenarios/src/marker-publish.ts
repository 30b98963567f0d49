import type { KPath } from '@tracelab/core';
import { defineScenario } from '@tracelab/explore';
import { memoryModel, type MemoryModelApi } from '@tracelab/memory-model';

const MULTI = 'marker.multi';
const ARRAY = 'probe_array1';

/**
 * marker_update_probes(): builds a new probe array (its entries, then the NULL terminator)
 * and publishes it in the marker's `multi` pointer. The fix is rcu_assign_pointer(), a write
 * barrier before the pointer store; the unsafe variant stores the pointer plainly.
 */
function* markerUpdateProbes(api: MemoryModelApi, publish: 'rcu' | 'plain', probes: number): KPath<void> {
  for (let i = 0; i < probes; i++) yield* api.writeOnce(`${ARRAY}[${i}]`, `probe${i}`);
  yield* api.writeOnce(`${ARRAY}[${probes}]`, 0);
  if (publish === 'rcu') yield* api.rcuAssignPointer(MULTI, ARRAY);
  else yield* api.writeOnce(MULTI, ARRAY);
}

/**
 * The marker site (marker_probe_cb): in an RCU-sched reader, load `multi` with
 * rcu_dereference() and call each probe of the array through it. An entry that is still the
 * array's uninitialised garbage (0 here) is a call through a wild pointer.
 */
function* markerProbeCb(api: MemoryModelApi, probes: number, rounds: number): KPath<void> {
  for (let round = 0; round < rounds; round++) {
    yield* api.rcuReadLock();
    const multi = yield* api.rcuDereference(MULTI);
    if (multi !== 0) {
      for (let i = 0; i < probes; i++) {
        const probe = yield* api.readOnceDep(`${String(multi)}[${i}]`);
        yield* api.warnOn(
          probe === 0,
          `marker site called through ${String(multi)} whose entry ${i} it cannot yet see (still uninitialised: a call through garbage)`,
        );
      }
    }
    yield* api.rcuReadUnlock();
  }
}

/**
 * Publishing a marker's probe array (thread 001, kernel markers, Mathieu Desnoyers 2007): the
 * updater fills a new array and publishes its pointer while a marker site on the other CPU
 * calls through whatever pointer it reads. rcu_assign_pointer() orders the entries before the
 * pointer; a plain store lets the site see the pointer first. A self-contained model of the
 * publication on the memory-model plugin (the markers plugin itself is not rewired).
 */
export const markerPublish = defineScenario({
  name: 'marker-publish',
  description: 'a marker site calls through the probe array the updater publishes, with rcu_assign_pointer or a plain store (memory-model)',
  source: 'shared/seeds/001_730c7516fb133357.txt: kernel markers, publishing the probe array',
  cpus: 2,
  symmetricCpus: true,
  maxSteps: 600,
  scale: { name: 'probes', default: 2, min: 1 },
  sourceModule: { module: '@tracelab/scenarios', exportName: 'markerPublish' },
  variants: [
    { name: 'fixed', description: 'rcu_assign_pointer(): the entries are visible before the pointer', safe: true },
    {
      name: 'plain-store',
      description: 'the pointer is published with a plain store: the site can see it before the entries',
      safe: false,
      expect: ['memory-model/warn-on'],
    },
  ],
  plugins: () => [memoryModel()],
  setup(kernel, { variant, scale }) {
    const api = kernel.api['memory-model'];
    kernel.spawnKthread(markerUpdateProbes(api, variant === 'plain-store' ? 'plain' : 'rcu', scale), { comm: 'insmod' });
    kernel.spawnKthread(markerProbeCb(api, scale, 3), { comm: 'marker_site' });
  },
});
