/**
 * @tracelab/viewer: a time-travel viewer of tracelab runs and counterexamples. `renderViewer`
 * writes one self-contained HTML page that carries the log and replays it in the browser with
 * the bundled core and plugins. See the package README and docs/viewer.md.
 */
import './errors.js';
import { viewerBundle } from './internal/bundle.js';
import { pageHtml } from './internal/html.js';
import type { ViewerMeta } from './meta.js';

export const VIEWER_VERSION = '0.1.0';

export type { ViewerErrorCode } from './errors.js';
export type { Counterexample, ScheduleStep, ViewerMeta, ViewerViolation } from './meta.js';
export { stateDigest } from './digest.js';
export { counterexampleOf, type CounterexampleView } from './counterexample.js';
export { plainState } from './internal/plain.js';
export { loadEvents, loadLog, parseNdjson, type LoadedLog, type LogError } from './internal/log.js';
export { BUNDLED_PLUGINS, stackOf } from './internal/stack.js';
export { viewerBundle };

export interface ViewerInput {
  /** The log as NDJSON text, exactly as events.ndjson holds it (damaged or not). */
  readonly log: string;
  /** Title, source, violations, counterexample; defaults: a bare log with nothing else known. */
  readonly meta?: Partial<ViewerMeta>;
}

/**
 * The viewer page for a log, as one HTML string: the log inlined as it is, the metadata, the
 * bundled script (core, plugins, page) and the styles; nothing is fetched when it opens. The
 * log is not checked here: a corrupt or truncated one gives a page that shows the error and
 * the events before it. Throws `VIEWER_BUNDLE_FAILED` if esbuild cannot bundle the page.
 */
export function renderViewer(input: ViewerInput): string {
  const meta: ViewerMeta = {
    title: input.meta?.title ?? 'tracelab log',
    source: input.meta?.source ?? 'log',
    logHash: input.meta?.logHash ?? null,
    violations: input.meta?.violations ?? [],
    counterexample: input.meta?.counterexample ?? null,
    summary: input.meta?.summary ?? null,
  };
  return pageHtml(input.log, meta, viewerBundle());
}
