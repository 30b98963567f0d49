import { msleep, type KPath } from '@tracelab/core';
import { defineScenario, watchGracePeriods } from '@tracelab/explore';
import { markers, type MarkerProbe, type MarkersApi, type MarkersOptions } from '@tracelab/markers';

const FORMAT = 'value %d';
const OPTIONS: Readonly<Record<string, MarkersOptions['freeOldArray']>> = {
  fixed: 'after-grace-period',
  'free-immediately': 'immediately',
};

/** Probes that do nothing; each is a distinct function, hence a distinct probe. */
const probeA: MarkerProbe = () => undefined;
const probeB: MarkerProbe = () => undefined;
const probeC: MarkerProbe = () => undefined;

/** The writer's rounds: each adds and removes a third probe, retiring two arrays. */
const ROUNDS = 2;

/** The writer: connects two probes, then adds and removes a third `ROUNDS` times. */
function* writer(api: MarkersApi): KPath<void> {
  yield* api.probeRegister('race', FORMAT, probeA, 'a');
  yield* api.probeRegister('race', FORMAT, probeB, 'b');
  for (let i = 0; i < ROUNDS; i++) {
    yield* api.probeRegister('race', FORMAT, probeC, 'c'); // 2 -> 3 retires [a, b]
    yield* api.probeUnregister('race', probeC, 'c'); // 3 -> 2 retires [a, b, c]
  }
}

/** The reader: `marks` times, fires the marker (an RCU-sched read section walking the array), then sleeps a tick. */
function* reader(api: MarkersApi, marks: number): KPath<void> {
  for (let i = 0; i < marks; i++) {
    yield* api.mark('race', null, i);
    yield* msleep(1);
  }
}

/**
 * Freeing a replaced probe array (thread 001, "Linux Kernel Markers - Support Multiple
 * Probes", December 2007): one CPU walks the probe array inside a marker call while the other
 * replaces it; the old array may be freed only after an RCU-sched grace period.
 */
export const markerArrayFree = defineScenario({
  name: 'marker-array-free',
  description: 'a marker call walks the probe array while another CPU replaces and frees it (markers)',
  source: 'shared/seeds/001_730c7516fb133357.txt: Linux Kernel Markers - Support Multiple Probes',
  cpus: 2,
  symmetricCpus: true,
  maxSteps: 3000,
  // The reader's marker calls. Until the twentieth session the knob was the writer's rounds (the
  // reader marked six times): the default scenario is the same, the smallest one is one marker
  // call against both rounds (docs/scenarios.md, decision there).
  scale: { name: 'marks', default: 6, min: 1 },
  sourceModule: { module: '@tracelab/scenarios', exportName: 'markerArrayFree' },
  variants: [
    { name: 'fixed', description: 'the old array goes to call_rcu_sched and is freed after a grace period', safe: true },
    {
      name: 'free-immediately',
      description: "freeOldArray: 'immediately': the old array is freed as soon as the new one is published",
      safe: false,
      expect: ['markers/freed-after-grace-period', 'markers/no-use-after-free'],
    },
  ],
  plugins: (variant) => [markers({ freeOldArray: OPTIONS[variant] ?? 'after-grace-period', logProbeCalls: true, coreMarkers: false })],
  setup(kernel, { scale }) {
    const api = kernel.api.markers;
    api.defineMarker('race', FORMAT);
    kernel.spawnKthread(writer(api), { comm: 'writer' });
    kernel.spawnKthread(reader(api, scale), { comm: 'reader' });
    watchGracePeriods(kernel);
  },
});
