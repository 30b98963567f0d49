/**
 * DPOR's reduction audited at bound 2 on every variant of the catalog at its smallest scale but
 * three scenarios whose two searches take minutes each (measured 2026-12-07, docs/benchmarks.md,
 * "A poller's look count"): `npm run audit:catalog -- --bound 2` runs them. The other 34 variants
 * take about 80 s together.
 */
import { auditCatalog } from './reach.js';

auditCatalog(2, {
  'commit-after-migration': 'every pair of its steps shares the clock or the ring buffer data: 30,000 to 64,000 schedules a search, 3 to 10 minutes a variant',
  'srcu-reader-drain': 'more than 200,000 schedules a search at bound 2: open (docs/explore.md §4a)',
  'livepatch-bpf': 'about 19,000 schedules a search, 40 to 60 s a variant',
});
