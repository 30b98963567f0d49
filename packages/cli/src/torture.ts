import { TracelabError } from '@tracelab/core';
import { formatTortureSummary, MECHANISM_NAMES, replayTorture, torture, UNSAFE_OPTIONS, type MechanismName, type TortureOptions } from '@tracelab/torture';
import type { CliIo } from './cli.js';

export const TORTURE_USAGE = `  tracelab torture [--mechanism M] [--seeds N] [--first-seed N] [--workers W] [--unsafe OPTION] [--json]
      rcutorture for tracers: swarm workloads and tracer-side churn on each mechanism
      (${MECHANISM_NAMES.join(', ')}), every invariant on, the Reader Pipe histogram and
      shrunk replay strings per violation; exit 1 on any violation. --unsafe runs a known-broken
      option (exit 1 if torture does NOT catch it): ${UNSAFE_OPTIONS.map((u) => u.name).join(', ')}
  tracelab torture --replay <string>
      re-runs one torture run printed by tracelab torture`;

function bad(message: string): never {
  throw new TracelabError('INVALID_OPTION', `${message}\n${TORTURE_USAGE}`);
}

function int(flag: string, v: string | undefined, min: number): number {
  const n = Number(v);
  if (v === undefined || v.trim() === '' || !Number.isSafeInteger(n) || n < min) bad(`${flag} must be an integer >= ${min}, got ${JSON.stringify(v)}`);
  return n;
}

/** `tracelab torture`: 0 when the safe run is clean (or the unsafe option was caught), 1 otherwise. */
export function cmdTorture(argv: readonly string[], io: CliIo): number {
  const opts: { -readonly [K in keyof TortureOptions]: TortureOptions[K] } = {};
  let json = false;
  let replay: string | null = null;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--help' || a === '-h') {
      io.out(`usage:\n${TORTURE_USAGE}`);
      return 0;
    }
    if (a === '--mechanism') {
      const m = argv[++i];
      if (m === undefined || !MECHANISM_NAMES.includes(m as MechanismName))
        bad(`--mechanism must be one of ${MECHANISM_NAMES.join(', ')}, got ${JSON.stringify(m)}`);
      opts.mechanism = m as MechanismName;
    } else if (a === '--seeds') opts.seeds = int(a, argv[++i], 1);
    else if (a === '--first-seed') opts.firstSeed = int(a, argv[++i], 0);
    else if (a === '--workers') opts.workers = int(a, argv[++i], 1);
    else if (a === '--unsafe') opts.unsafe = argv[++i] ?? bad('--unsafe needs an option name');
    else if (a === '--json') json = true;
    else if (a === '--replay') replay = argv[++i] ?? bad('--replay needs a torture replay string');
    else bad(`unknown argument ${a}`);
  }
  if (replay !== null) {
    const r = replayTorture(replay);
    if (json) io.out(JSON.stringify({ replay, violation: r.violation, steps: r.steps, done: r.done, logHash: r.logHash }, null, 2));
    else
      io.out(
        [
          `tracelab torture --replay ${replay}`,
          `  ${r.violation === null ? 'no violation' : `VIOLATION ${r.violation.name}: ${r.violation.message}`}`,
          `  ${r.steps} steps, log hash ${r.logHash}`,
        ].join('\n'),
      );
    return r.violation === null ? 0 : 1;
  }
  if (io.progress !== undefined && !json) {
    opts.progress = ({ mechanism, seeds, of }) => io.progress!(`\r${mechanism}: ${seeds}/${of} seeds `);
  }
  const r = torture(opts);
  if (io.progress !== undefined && !json) io.progress('\r' + ' '.repeat(60) + '\r');
  if (json) io.out(JSON.stringify(r, null, 2));
  else io.out(formatTortureSummary(r).join('\n'));
  return r.ok ? 0 : 1;
}
