/**
 * `npm run audit:catalog [-- --bound B | --unbounded] [--time-limit SECONDS] [--budget N] [--scenario NAME [--variant NAME]]`:
 * DPOR's reduction audited on every variant of the catalog (or of one scenario) at its smallest
 * scale: DPOR and the unreduced DFS within the bound (default 1) must reach the same final states
 * and violations (`auditReduction`, docs/explore.md §4a, "Auditing the reduction"). One row per
 * variant; a search stopped by the time limit (default 120 s each search) or the budget (default
 * 200,000 schedules each) is said so. Exit 1 when
 * any variant disagrees. Too long for the tests at bound 2: that is why it is a script.
 */
import { auditReduction, type ReductionAudit } from '@tracelab/explore';
import { catalog } from '@tracelab/scenarios';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i < 0 ? undefined : process.argv[i + 1];
}

function count(name: string, dflt: number, min: number): number {
  const s = arg(name);
  if (s === undefined) return dflt;
  const v = Number(s);
  if (!Number.isSafeInteger(v) || v < min) throw new Error(`${name} must be an integer >= ${min}, got ${JSON.stringify(s)}`);
  return v;
}

/** `states/violations` of one search, with its schedules and whether it finished. */
function side(s: ReductionAudit['dfs']): string {
  return `${s.schedules} schedules, ${s.states} states${s.violations.length > 0 ? `, ${s.violations.join(' ')}` : ''}${s.complete ? '' : ' (stopped)'}`;
}

try {
  const unbounded = process.argv.includes('--unbounded');
  if (unbounded && arg('--bound') !== undefined) throw new Error('--unbounded and --bound contradict each other: give one');
  const bound = unbounded ? null : count('--bound', 1, 0);
  const timeLimitMs = count('--time-limit', 120, 1) * 1000;
  const budget = count('--budget', 200_000, 1);
  const only = arg('--scenario');
  if (only !== undefined && !catalog.has(only))
    throw new Error(`--scenario: no scenario ${JSON.stringify(only)}; scenarios: ${[...catalog.keys()].join(', ')}`);
  const onlyVariant = arg('--variant');
  if (onlyVariant !== undefined) {
    if (only === undefined) throw new Error('--variant needs --scenario: variants are named within a scenario');
    const names = catalog.get(only)!.variants.map((v) => v.name);
    if (!names.includes(onlyVariant))
      throw new Error(`--variant: scenario ${only} has no variant ${JSON.stringify(onlyVariant)}; variants: ${names.join(', ')}`);
  }
  let disagree = 0;
  let open = 0;
  for (const s of catalog.values()) {
    if (only !== undefined && s.name !== only) continue;
    for (const v of s.variants) {
      if (onlyVariant !== undefined && v.name !== onlyVariant) continue;
      const t0 = performance.now();
      const a = auditReduction(s, { variant: v.name, bound, timeLimitMs, budget, ...(s.scale !== undefined ? { scale: s.scale.min } : {}) });
      const secs = ((performance.now() - t0) / 1000).toFixed(1);
      const verdict = a.agrees ? 'agrees' : a.missed.length + a.extra.length > 0 ? 'DISAGREES' : `open (${a.stoppedBy})`;
      if (verdict === 'DISAGREES') disagree++;
      else if (!a.agrees) open++;
      process.stdout.write(`${`${s.name}/${v.name}`.padEnd(48)} ${verdict.padEnd(14)} dpor ${side(a.dpor)}; dfs ${side(a.dfs)}; ${secs} s\n`);
      for (const d of [...a.missed, ...a.extra])
        process.stdout.write(`    ${a.missed.includes(d) ? 'missed' : 'only dpor'} ${d.kind} ${d.what}: ${d.replay}\n`);
    }
  }
  process.stdout.write(`${disagree} disagree, ${open} not complete (bound ${bound ?? 'none'}, ${timeLimitMs / 1000} s and ${budget} schedules a search)\n`);
  if (disagree > 0) process.exitCode = 1;
} catch (err) {
  process.stderr.write(`audit: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
}
