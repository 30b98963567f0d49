import { performance } from 'node:perf_hooks';

/**
 * Progress for long commands (host code: wall-clock time is fine here, never in a simulation).
 * On a terminal (`progress`): one line redrawn in place with the count, the rate and the ETA.
 * Off one (`progressLine`, a pipe or a CI log): a plain line every `intervalMs` (default 5 s,
 * `TRACELAB_PROGRESS_INTERVAL_MS` to change it), so a long run is never silent.
 */
export interface ProgressSinks {
  readonly progress?: (text: string) => void;
  readonly progressLine?: (text: string) => void;
}

export interface Progress {
  /** `done` of `total` (`total` null when unknown), in `unit`s; `extra` is appended. */
  update(done: number, total: number | null, extra?: string): void;
  /** Clears the terminal line. */
  end(): void;
}

function duration(s: number): string {
  if (!Number.isFinite(s) || s < 0) return '--:--';
  const m = Math.floor(s / 60);
  const sec = Math.floor(s % 60);
  return m >= 60 ? `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m` : `${String(m).padStart(2, '0')}:${String(sec).padStart(2, '0')}`;
}

function rate(n: number): string {
  return n >= 10_000 ? `${Math.round(n / 1000)}k` : n >= 100 ? String(Math.round(n)) : n.toFixed(1);
}

/** A progress reporter for `label` counting `unit`s (returns a no-op without a sink). */
export function progressReporter(io: ProgressSinks, label: string, unit: string, now: () => number = () => performance.now()): Progress {
  const start = now();
  const envInterval = Number(process.env['TRACELAB_PROGRESS_INTERVAL_MS']);
  const interval = Number.isFinite(envInterval) && envInterval >= 0 ? envInterval : 5000;
  let lastDraw = -Infinity;
  let lastLine = start;
  let drawn = false;
  const text = (done: number, total: number | null, extra: string): { bar: string; line: string } => {
    const secs = (now() - start) / 1000;
    const r = secs > 0 ? done / secs : 0;
    const eta = total !== null && r > 0 ? duration((total - done) / r) : '--:--';
    const of = total !== null ? `/${total}` : '';
    const pct = total !== null && total > 0 ? ` ${Math.floor((100 * done) / total)}%` : '';
    const stats = `${done}${of} ${unit}${pct}, ${rate(r)} ${unit}/s, ETA ${eta}${extra === '' ? '' : `, ${extra}`}`;
    const width = 24;
    const filled = total !== null && total > 0 ? Math.min(width, Math.round((width * done) / total)) : 0;
    return { bar: `\r${label} [${'#'.repeat(filled)}${' '.repeat(width - filled)}] ${stats} `, line: `${label}: ${stats} (${duration(secs)} elapsed)` };
  };
  return {
    update(done, total, extra = '') {
      const t = now();
      if (io.progress !== undefined) {
        if (t - lastDraw < 100) return; // at most 10 redraws a second
        lastDraw = t;
        drawn = true;
        io.progress(text(done, total, extra).bar);
      } else if (io.progressLine !== undefined && t - lastLine >= interval) {
        lastLine = t;
        io.progressLine(text(done, total, extra).line);
      }
    },
    end() {
      if (drawn && io.progress !== undefined) io.progress('\r' + ' '.repeat(100) + '\r');
    },
  };
}
