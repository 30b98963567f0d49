/**
 * `npm run torture [-- --seeds N --workers W --mechanism M]`: the torture figures beside their
 * targets (default 10,000 seeds per mechanism, the target; 2 workers). Exit 1 when a
 * safe configuration has a violation or an unsafe option is not caught.
 */
import { MECHANISM_NAMES, type MechanismName } from '@tracelab/torture';
import { formatNumber, formatSpeedup } from './harness.js';
import { tortureFigures } from './torture.js';

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(name);
  if (i < 0) return dflt;
  const v = Number(process.argv[i + 1]);
  if (!Number.isSafeInteger(v) || v < 1) throw new Error(`${name} must be a positive integer`);
  return v;
}

try {
  const seeds = arg('--seeds', 10_000);
  const workers = arg('--workers', 2);
  const mi = process.argv.indexOf('--mechanism');
  const mechanisms = mi < 0 ? MECHANISM_NAMES : [process.argv[mi + 1] as MechanismName];
  if (!mechanisms.every((m) => MECHANISM_NAMES.includes(m))) throw new Error(`--mechanism must be one of ${MECHANISM_NAMES.join(', ')}`);
  const f = tortureFigures(seeds, workers, mechanisms);
  for (const r of f.rows)
    process.stdout.write(
      `${r.name.padEnd(78)} ${formatNumber(r.ours).padStart(10)} ${r.unit.padEnd(10)} ${r.peerName}: ${formatNumber(r.peer)} (${formatSpeedup(r.speedup)})\n`,
    );
  for (const d of f.dirty) process.stdout.write(`VIOLATIONS ${d}\n`);
  for (const m of f.missed) process.stdout.write(`NOT CAUGHT --unsafe ${m}\n`);
  if (f.dirty.length > 0 || f.missed.length > 0) process.exitCode = 1;
} catch (err) {
  process.stderr.write(`torture: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
}
