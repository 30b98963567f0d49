/**
 * The markers fast path (`site.call`) against Node's and RxJS's dispatchers, in one run:
 * disarmed, one probe, four probes. Every contender does the same work per event: one event
 * with two numbers, each subscriber adds the first one to a sink.
 */
import { EventEmitter } from 'node:events';
import diagnosticsChannel from 'node:diagnostics_channel';
import { createKernel } from '@tracelab/core';
import { markers, type MarkerProbe, type MarkerSite } from '@tracelab/markers';
import { Subject } from 'rxjs';
import { measure, row, type Benchmark, type Row } from './harness.js';

/** Events per timed call of the loop: the loop's own call is under 1% of it. */
const BATCH = 10_000;
const OPTS = { iterations: 200, samples: 9, opsPerCall: BATCH, warmup: 400 } as const;

/** Kept a small integer (`| 0`) so that adding to it never allocates a heap number. */
let sink = 0;

interface Msg {
  readonly a: number;
  readonly b: number;
}

/** Each subscriber is its own closure (as separate probes or listeners would be). */
const makeProbe = (): MarkerProbe => (_probePrivate, _callPrivate, _format, args) => {
  sink = (sink + (args[0] as number)) | 0;
};
const makeMsgListener = () => (msg: unknown) => {
  sink = (sink + (msg as Msg).a) | 0;
};
const makeArgsListener = () => (a: number) => {
  sink = (sink + a) | 0;
};

/** A core site with `n` probes, connected through the simulated kernel (the real registration path). */
function siteWith(n: number, name: string): MarkerSite {
  const kernel = createKernel({ cpus: 1, plugins: [markers({ coreMarkers: false })] });
  const api = kernel.api.markers;
  const site = api.defineMarker(name, 'a %d b %d');
  for (let i = 0; i < n; i++) {
    const ret = kernel.call(api.probeRegister(name, 'a %d b %d', makeProbe(), i));
    if (ret !== 0) throw new Error(`markers bench: probeRegister returned ${ret}`);
  }
  kernel.run();
  if (kernel.violations.length > 0) throw new Error(`markers bench: ${kernel.violations[0]!.message}`);
  if (site.armed !== n > 0) throw new Error(`markers bench: site with ${n} probes armed=${site.armed}`);
  return site;
}

// One loop per contender, each its own function literal: every call site below stays
// monomorphic, as each marker site in kernel text is its own call site.
function oursDisarmed(site: MarkerSite): () => void {
  return () => {
    for (let i = 0; i < BATCH; i++) site.call(undefined, i, 7);
  };
}
function oursDisarmedGuarded(site: MarkerSite): () => void {
  return () => {
    for (let i = 0; i < BATCH; i++) if (site.armed) site.call(undefined, i, 7);
  };
}
function oursOne(site: MarkerSite): () => void {
  return () => {
    for (let i = 0; i < BATCH; i++) site.call(undefined, i, 7);
  };
}
function oursEight(site: MarkerSite): () => void {
  return () => {
    for (let i = 0; i < BATCH; i++) site.call(undefined, i, 7);
  };
}
function oursFour(site: MarkerSite): () => void {
  return () => {
    for (let i = 0; i < BATCH; i++) site.call(undefined, i, 7);
  };
}

function channelWith(n: number, name: string): diagnosticsChannel.Channel {
  const ch = diagnosticsChannel.channel(name);
  for (let i = 0; i < n; i++) ch.subscribe(makeMsgListener());
  return ch;
}

function bareCall(): () => void {
  const f = (a: number, _b: number): void => {
    sink = (sink + a) | 0;
  };
  return () => {
    for (let i = 0; i < BATCH; i++) f(i, 7);
  };
}

function publishLoop0(ch: diagnosticsChannel.Channel): () => void {
  return () => {
    for (let i = 0; i < BATCH; i++) ch.publish({ a: i, b: 7 });
  };
}
function publishLoop1(ch: diagnosticsChannel.Channel): () => void {
  return () => {
    for (let i = 0; i < BATCH; i++) ch.publish({ a: i, b: 7 });
  };
}
function publishLoop4(ch: diagnosticsChannel.Channel): () => void {
  return () => {
    for (let i = 0; i < BATCH; i++) ch.publish({ a: i, b: 7 });
  };
}

function publishLoop8(ch: diagnosticsChannel.Channel): () => void {
  return () => {
    for (let i = 0; i < BATCH; i++) ch.publish({ a: i, b: 7 });
  };
}

function guardedLoop0(ch: diagnosticsChannel.Channel): () => void {
  return () => {
    for (let i = 0; i < BATCH; i++) if (ch.hasSubscribers) ch.publish({ a: i, b: 7 });
  };
}
function guardedLoop1(ch: diagnosticsChannel.Channel): () => void {
  return () => {
    for (let i = 0; i < BATCH; i++) if (ch.hasSubscribers) ch.publish({ a: i, b: 7 });
  };
}

function emitterLoop(n: number): () => void {
  const ee = new EventEmitter();
  for (let i = 0; i < n; i++) ee.on('ev', makeArgsListener());
  return () => {
    for (let i = 0; i < BATCH; i++) ee.emit('ev', i, 7);
  };
}

function subjectLoop(n: number): () => void {
  const subject = new Subject<Msg>();
  for (let i = 0; i < n; i++) subject.subscribe(makeMsgListener());
  return () => {
    for (let i = 0; i < BATCH; i++) subject.next({ a: i, b: 7 });
  };
}

export const markersBench: Benchmark = {
  name: 'markers',
  run(): Row[] {
    const disarmed = measure(oursDisarmed(siteWith(0, 'bench_disarmed')), OPTS);
    const guarded = measure(oursDisarmedGuarded(siteWith(0, 'bench_guarded')), OPTS);
    const one = measure(oursOne(siteWith(1, 'bench_one')), OPTS);
    const four = measure(oursFour(siteWith(4, 'bench_four')), OPTS);
    const eight = measure(oursEight(siteWith(8, 'bench_eight')), OPTS);
    // The probes really ran: each added i to the sink.
    const before = sink;
    siteWith(4, 'bench_check').call(undefined, 1, 7);
    if (((sink - before) | 0) !== 4) throw new Error('markers bench: the four probes did not all run');

    const unit = 'ns/event';
    const guard0 = measure(guardedLoop0(channelWith(0, 'bench.guard0')), OPTS);
    const rows: Row[] = [
      row('markers disarmed site.call', unit, disarmed, guard0, 'diagnostics_channel hasSubscribers guard, 0 subscribers'),
      row('markers disarmed if (site.armed) site.call', unit, guarded, guard0, 'diagnostics_channel hasSubscribers guard, 0 subscribers'),
      row(
        'markers disarmed site.call',
        unit,
        disarmed,
        measure(publishLoop0(channelWith(0, 'bench.pub0')), OPTS),
        'diagnostics_channel publish, 0 subscribers',
      ),
      row('markers site.call, 1 probe', unit, one, measure(publishLoop1(channelWith(1, 'bench.pub1')), OPTS), 'diagnostics_channel publish, 1 subscriber'),
      row(
        'markers site.call, 1 probe',
        unit,
        one,
        measure(guardedLoop1(channelWith(1, 'bench.guard1')), OPTS),
        'diagnostics_channel hasSubscribers + publish, 1 subscriber',
      ),
      row('markers site.call, 1 probe', unit, one, measure(emitterLoop(1), OPTS), 'EventEmitter.emit, 1 listener'),
      row('markers site.call, 1 probe', unit, one, measure(bareCall(), OPTS), "bare call of a function doing the probe's work (floor)"),
      row('markers site.call, 1 probe', unit, one, measure(subjectLoop(1), OPTS), 'RxJS Subject.next, 1 subscriber'),
      row('markers site.call, 4 probes', unit, four, measure(publishLoop4(channelWith(4, 'bench.pub4')), OPTS), 'diagnostics_channel publish, 4 subscribers'),
      row('markers site.call, 4 probes', unit, four, measure(emitterLoop(4), OPTS), 'EventEmitter.emit, 4 listeners'),
      row('markers site.call, 4 probes', unit, four, measure(subjectLoop(4), OPTS), 'RxJS Subject.next, 4 subscribers'),
      // Past 4 probes the site walks the array in a loop instead of an unrolled caller.
      row(
        'markers site.call, 8 probes (loop)',
        unit,
        eight,
        measure(publishLoop8(channelWith(8, 'bench.pub8')), OPTS),
        'diagnostics_channel publish, 8 subscribers',
      ),
    ];
    return rows;
  },
};
