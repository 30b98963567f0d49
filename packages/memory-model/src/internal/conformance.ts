import { parseLitmus } from './litmus-parse.js';
import { runLitmus } from './litmus-run.js';

/** One litmus file's verdict beside the LKMM verdict its comment records. */
export interface ConformanceRow {
  readonly file: string;
  readonly name: string;
  /** The kernel test (tools/memory-model/litmus-tests) it is the equivalent of, or null. */
  readonly kernel: string | null;
  /** LKMM's verdict (the `Result:` line). */
  readonly lkmm: string;
  /** Ours: Never, Sometimes, Always or Unsupported. */
  readonly ours: string;
  readonly positive: number;
  readonly negative: number;
  readonly agrees: boolean;
  readonly ms: number;
}

export interface Counts {
  readonly total: number;
  readonly ran: number;
  readonly agree: number;
  readonly falseAlarms: number;
}

export interface ConformanceSummary {
  readonly rows: readonly ConformanceRow[];
  /** Tests that ran (not Unsupported), of all. */
  readonly ran: number;
  readonly total: number;
  /** Of those that ran, how many agree with LKMM. */
  readonly agree: number;
  /** Ran, LKMM says Never, we said Sometimes or Always: false alarms. */
  readonly falseAlarms: number;
  /** The same, over the equivalents of the kernel's tools/memory-model/litmus-tests only. */
  readonly kernel: Counts;
  /** The same, over the equivalents of the kernel's Documentation/litmus-tests. */
  readonly kernelDocs: Counts;
  readonly ms: number;
}

/**
 * Runs every file (name -> text) and compares with its `Result:` line. `now` is a clock for
 * the timing column (the host's `performance.now`; no clock is read here otherwise).
 */
export function conformance(files: ReadonlyArray<{ readonly file: string; readonly text: string }>, now: () => number = () => 0): ConformanceSummary {
  const rows: ConformanceRow[] = [];
  const t0 = now();
  for (const { file, text } of files) {
    const s = now();
    const test = parseLitmus(text, file);
    const r = runLitmus(test);
    const kernel = /Kernel:\s*(\S+)/.exec(test.comment)?.[1] ?? '-';
    const lkmm = r.expected ?? '?';
    rows.push({
      file,
      name: r.name,
      kernel: kernel === '-' ? null : kernel,
      lkmm,
      ours: r.result,
      positive: r.positive,
      negative: r.negative,
      agrees: r.result === lkmm,
      ms: now() - s,
    });
  }
  const count = (rs: readonly ConformanceRow[]): Counts => {
    const ran = rs.filter((r) => r.ours !== 'Unsupported');
    return {
      total: rs.length,
      ran: ran.length,
      agree: ran.filter((r) => r.agrees).length,
      falseAlarms: ran.filter((r) => r.lkmm === 'Never' && r.ours !== 'Never').length,
    };
  };
  const all = count(rows);
  const docs = (r: ConformanceRow): boolean => r.kernel !== null && r.kernel.startsWith('Documentation/');
  return { rows, ...all, kernel: count(rows.filter((r) => r.kernel !== null && !docs(r))), kernelDocs: count(rows.filter(docs)), ms: now() - t0 };
}

/** The kernel's tests renamed over its history (old name -> current name), for the table. */
export const KERNEL_RENAMES: Readonly<Record<string, string>> = {
  'IRIW+fencembonceonces+OnceOnce': 'IRIW+mbonceonces+OnceOnce',
  'LB+fencembonceonce+ctrlonceonce': 'LB+ctrlonceonce+mbonceonce',
  'MP+fencewmbonceonce+fencermbonceonce': 'MP+wmbonceonce+rmbonceonce',
  'R+fencembonceonces': 'R+mbonceonces',
  'S+fencewmbonceonce+poacquireonce': 'S+wmbonceonce+poacquireonce',
  'SB+fencembonceonces': 'SB+mbonceonces',
  'WRC+pooncerelease+fencermbonceonce+Once': 'WRC+pooncerelease+rmbonceonce+Once',
  'Z6.0+pooncerelease+poacquirerelease+fencembonceonce': 'Z6.0+pooncerelease+poacquirerelease+mbonceonce',
};

const pct = (a: number, b: number): string => (b === 0 ? '-' : `${((100 * a) / b).toFixed(1)}%`);

/** The markdown table of docs/memory-model.md (between its generated-table markers). */
export function conformanceMarkdown(s: ConformanceSummary): string {
  const lines: string[] = [];
  lines.push(
    `Kernel tests (tools/memory-model/litmus-tests): ${s.kernel.total} with an equivalent here, ${s.kernel.ran} run (${pct(s.kernel.ran, s.kernel.total)}), ${s.kernel.agree} of those agree with LKMM (${pct(s.kernel.agree, s.kernel.ran)}), ${s.kernel.falseAlarms} false alarms (LKMM Never, answered otherwise).`,
  );
  const d = s.kernelDocs;
  lines.push(
    `Kernel tests (Documentation/litmus-tests): ${d.total} with an equivalent here, ${d.ran} run, ${d.agree} agree (${pct(d.agree, d.ran)}), ${d.falseAlarms} false alarms.`,
  );
  lines.push(`All files: ${s.total}, ${s.ran} run (${pct(s.ran, s.total)}), ${s.agree} agree (${pct(s.agree, s.ran)}), ${s.falseAlarms} false alarms.`);
  lines.push('');
  lines.push('| file | kernel test | LKMM | tracelab | positive | negative | agrees |');
  lines.push('|---|---|---|---|---|---|---|');
  for (const r of s.rows) {
    const agrees = r.ours === 'Unsupported' ? 'not run' : r.agrees ? 'yes' : '**no**';
    lines.push(`| ${r.name} | ${r.kernel ?? '-'} | ${r.lkmm} | ${r.ours} | ${r.positive} | ${r.negative} | ${agrees} |`);
  }
  const renamed = Object.entries(KERNEL_RENAMES).map(([o, n]) => `${o} (now ${n})`);
  lines.push('');
  lines.push(`Earlier names of kernel tests, covered by the same files: ${renamed.join('; ')}.`);
  return lines.join('\n');
}
