import type { MechanismSummary, TortureResult } from './torture.js';

function opsLine(ops: Readonly<Record<string, number>>): string {
  const parts = Object.entries(ops).map(([k, v]) => `${k} ${v}`);
  return parts.length === 0 ? 'none' : parts.join(', ');
}

/** One mechanism's block, in rcutorture's spirit: what ran, the Reader Pipe, then every violation. */
export function formatMechanism(m: MechanismSummary): string[] {
  const lines: string[] = [];
  const verdict =
    m.variant === 'safe'
      ? m.violations.length === 0
        ? 'PASS'
        : 'FAIL'
      : m.caughtAt !== null
        ? `CAUGHT at seed ${m.caughtAt} (${m.caughtAt - m.firstSeed + 1} seed(s))`
        : 'NOT CAUGHT';
  lines.push(
    `${m.mechanism} [${m.variant}] ${verdict}: ${m.seeds} seeds from ${m.firstSeed}, ${m.steps} steps, ${m.violations.length} violation(s)${m.cut > 0 ? `, ${m.cut} cut at the step limit` : ''}${m.unfair > 0 ? `, ${m.unfair} unfair liveness alarm(s) dropped` : ''}`,
  );
  lines.push(
    `  grace periods  ${
      Object.entries(m.gracePeriods)
        .map(([f, n]) => `${f} ${n}`)
        .join(', ') || 'none'
    }`,
  );
  const reads = m.readerPipe.reduce((a, b) => a + b, 0);
  const bad = m.readerPipe.slice(2).reduce((a, b) => a + b, 0);
  lines.push(`  Reader Pipe    ${m.readerPipe.join(' ')}   (${reads} reads; ${bad === 0 ? 'none' : `${bad} !!!`} past slot 1)`);
  lines.push(
    `  swarm          cpus 1..8: ${m.swarm.cpus.join(' ')}; kinds on: ${Object.entries(m.swarm.kinds)
      .map(([k, n]) => `${k} ${n}`)
      .join(', ')}`,
  );
  lines.push(`  ops            ${opsLine(m.ops)}`);
  for (const v of m.violations) {
    lines.push(`  VIOLATION seed ${v.seed}: ${v.invariant}: ${v.message}`);
    lines.push(`    replay       ${v.replay}`);
    if (v.shrunk !== null)
      lines.push(
        `    shrunk       ${v.shrunk.replay}  (${v.shrunk.invariant}, ${v.shrunk.steps} steps, ${v.shrunk.runs} re-runs${v.shrunk.fixedPoint ? ', fixed point' : ''})`,
      );
  }
  return lines;
}

/** The whole run: each mechanism's block, then the verdict. */
export function formatTortureSummary(r: TortureResult): string[] {
  const lines: string[] = [];
  for (const m of r.mechanisms) lines.push(...formatMechanism(m));
  if (r.unsafe !== null)
    lines.push(
      r.ok
        ? `torture: unsafe option ${r.unsafe.name} (${r.unsafe.option}) caught`
        : `torture: unsafe option ${r.unsafe.name} (${r.unsafe.option}) NOT caught: the torture test cannot see this bug`,
    );
  else lines.push(r.ok ? `torture: 0 violations over ${r.mechanisms.length} mechanism(s)` : `torture: ${r.violations} violation(s)`);
  return lines;
}
