/**
 * The viewer page. It reads the log and the metadata the HTML file carries, draws the lanes and
 * the event list from the parsed events at once, then replays the log with the bundled core and
 * plugins (the stack its header registers) so that any event's state can be shown.
 */
import type { KernelEvent, KernelState, ReplayedKernel } from '@tracelab/core';
import type { ViewerMeta } from '../../meta.js';
import { loadEvents, parseNdjson, type LogError } from '../log.js';
import { logHashInSlices } from './hash.js';
import { esc } from './dom.js';
import { EventList } from './event-list.js';
import { Lanes, type Axis } from './lanes.js';
import { buildModel, type LaneMark, type Model } from './model.js';
import { renderPlots } from './plots.js';
import { StatePanel } from './state-panel.js';
import { Stepper } from './stepper.js';

/** The cheap checks the first render needs: an object with a type and integer seq/time/cpu, seq in order. */
function validPrefix(values: readonly unknown[]): { events: KernelEvent[]; error: LogError | null } {
  const events: KernelEvent[] = [];
  for (let i = 0; i < values.length; i++) {
    const v = values[i] as Record<string, unknown> | null;
    const line = i + 1;
    if (typeof v !== 'object' || v === null || Array.isArray(v) || typeof v['type'] !== 'string')
      return { events, error: { line, code: 'LOG_INVALID_EVENT', message: `line ${line} is not an event object with a "type"` } };
    for (const f of ['seq', 'time', 'cpu']) {
      if (!Number.isInteger(v[f]))
        return { events, error: { line, code: 'LOG_INVALID_EVENT', message: `line ${line} (${String(v['type'])}) has no integer "${f}"` } };
    }
    if (v['seq'] !== i)
      return {
        events,
        error: { line, code: 'LOG_SEQUENCE', message: `line ${line} has seq ${String(v['seq'])}, expected ${i} (events missing, duplicated or reordered)` },
      };
    events.push(v as unknown as KernelEvent);
  }
  return { events, error: null };
}

function seqFromHash(): number | null {
  const m = /(?:^#|&)seq=(\d+)/.exec(location.hash);
  return m === null ? null : Number(m[1]);
}

/**
 * The page: the model and the views built from the events, the replayed kernel, the selection.
 * Its fields are written only by `render`, `replay` and `select`, on the page's one thread.
 */
class Viewer {
  private model!: Model;
  private lanes!: Lanes;
  private list!: EventList;
  private panel!: StatePanel;
  private stepper: Stepper | null = null;
  private kernel: ReplayedKernel | null = null;
  private selected = -1;

  constructor(
    private readonly root: HTMLElement,
    private readonly meta: ViewerMeta,
    private readonly text: string,
  ) {}

  start(): void {
    const t0 = performance.now();
    const parsed = parseNdjson(this.text);
    const valid = validPrefix(parsed.events);
    const error = valid.error ?? parsed.error;
    const t1 = performance.now();
    this.render(valid.events, error);
    this.root.setAttribute('data-parse-ms', (t1 - t0).toFixed(1));
    this.root.setAttribute('data-first-render-ms', (performance.now() - t0).toFixed(1));
    // Since navigation start: what a user waits for, HTML parsing included.
    this.root.setAttribute('data-first-render-at', performance.now().toFixed(1));
    // Replay after the first paint: the lanes and the list are usable while the log folds.
    setTimeout(() => this.replay(t0, valid.events, error), 0);
  }

  private replay(t0: number, events: readonly KernelEvent[], firstError: LogError | null): void {
    const shown = events.length;
    // Replay may stop before the first bad line parsing found (an undeclared type, a reducer
    // that throws, a plugin the viewer lacks).
    const loaded = loadEvents(events, firstError);
    this.kernel = loaded.kernel;
    const error = loaded.error !== null && (firstError === null || loaded.error.line < firstError.line) ? loaded.error : firstError;
    if (loaded.events.length < shown) this.render(loaded.events as KernelEvent[], error);
    this.root.setAttribute('data-replay-ms', (performance.now() - t0).toFixed(1));
    if (this.kernel === null) this.panel.showError(`the log cannot be replayed: ${error?.message ?? 'unknown error'}`);
    const want = seqFromHash();
    this.select(want ?? (this.meta.counterexample !== null || this.meta.violations.length > 0 ? this.model.events.length - 1 : 0), false);
    this.root.setAttribute('data-ready-at', performance.now().toFixed(1));
    this.root.setAttribute('data-ready', 'true');
    setTimeout(() => this.checkHash(), 0);
  }

  private checkHash(): void {
    if (this.kernel === null) return;
    logHashInSlices(this.kernel.log, (hash) => this.showHash(hash));
  }

  private showHash(hash: string): void {
    const el = this.root.querySelector('[data-hash-check]');
    if (el === null) return;
    this.root.setAttribute('data-log-hash', hash);
    const expected = this.meta.logHash;
    el.innerHTML =
      expected === null
        ? `log hash <code>${hash.slice(0, 16)}…</code>`
        : hash === expected
          ? `log hash <code>${hash.slice(0, 16)}…</code> <span class="ok">matches the run's</span>`
          : `log hash <code>${hash.slice(0, 16)}…</code> <span class="bad">differs from the run's ${esc(expected.slice(0, 16))}… (the log was cut or edited)</span>`;
  }

  private render(events: KernelEvent[], error: LogError | null): void {
    const meta = this.meta;
    const model = (this.model = buildModel(events));
    this.root.setAttribute('data-events', String(events.length));
    if (error !== null) this.root.setAttribute('data-error-line', String(error.line));
    else this.root.removeAttribute('data-error-line');
    const violations = meta.violations.map((v) => ({ ...v, seq: v.seq === null ? null : Math.min(v.seq, events.length - 1) }));
    const header = events[0] as KernelEvent<'kernel/created'> | undefined;
    this.root.innerHTML = `
      <header>
        <h1>${esc(meta.title)}</h1>
        <div class="facts">${events.length} events · ${model.cpus} CPU(s) · ${model.tMax} ticks${header?.type === 'kernel/created' ? ` · seed ${esc(header.seed)} · core ${esc(header.coreVersion)}` : ''} · <span data-hash-check class="muted">replaying…</span></div>
        ${error === null ? '' : `<div class="error" data-log-error>${esc(error.code)}: ${esc(error.message)}. Showing the ${events.length} event(s) before line ${error.line}.</div>`}
        ${violations.map((v) => `<div class="violation" data-violation="${esc(v.name)}" ${v.seq === null ? '' : `data-seq="${v.seq}"`}><b>VIOLATION ${esc(v.name)}</b>: ${esc(v.message)}${v.seq === null ? '' : ` <a href="#seq=${v.seq}">at seq ${v.seq}</a>`}</div>`).join('')}
      </header>
      <section class="stepper"></section>
      <section class="lanes-box"><div class="box-head"><b>CPUs</b> <label>axis <select data-axis><option value="time">ticks</option><option value="seq">events</option></select></label> <span class="legend"><i class="tri"></i> preemption <i class="bar red"></i> violation/oops <i class="bar blue"></i> selected event${meta.counterexample !== null ? ' <i class="bar dash"></i> schedule preemption' : ''}</span></div><div class="lanes"></div></section>
      <div class="split">
        <section class="events-box"></section>
        <section class="state-box" data-state-seq="-1"><p class="muted">replaying the log…</p></section>
      </div>
      <section class="plots"><div class="box-head"><b>Plots</b></div><div class="plot-row"></div></section>`;
    const onSelect = (seq: number) => this.select(seq, true);
    const axis: Axis = meta.counterexample !== null ? 'seq' : 'time';
    (this.root.querySelector('[data-axis]') as HTMLSelectElement).value = axis;
    this.lanes = new Lanes(this.root.querySelector('.lanes')!, model, axis, onSelect);
    this.root.querySelector('[data-axis]')!.addEventListener('change', (ev) => this.lanes.setAxis((ev.target as HTMLSelectElement).value as Axis));
    const marked = new Map<number, string>();
    for (const m of model.marks) if (m.kind === 'oops') marked.set(m.seq, m.label);
    const extra: LaneMark[] = [];
    for (const v of violations) {
      if (v.seq === null || v.seq < 0) continue;
      marked.set(v.seq, `VIOLATION ${v.name}`);
      const e = events[v.seq]!;
      extra.push({ cpu: e.cpu, seq: e.seq, time: e.time, kind: 'violation', label: v.name });
    }
    this.list = new EventList(this.root.querySelector('.events-box')!, model, marked, onSelect);
    this.panel = new StatePanel(this.root.querySelector('.state-box')!, model);
    const cx = meta.counterexample;
    const stepperBox = this.root.querySelector('.stepper') as HTMLElement;
    if (cx !== null) {
      this.stepper = new Stepper(stepperBox, cx, events.length, onSelect);
      for (const s of cx.steps) {
        const e = events[Math.min(s.at, events.length - 1)];
        if (s.preemption && e !== undefined)
          extra.push({ cpu: s.kind === 'cpu' ? (s.cpus?.[s.value] ?? e.cpu) : e.cpu, seq: e.seq, time: e.time, kind: 'choice', label: 'preemption' });
      }
    } else stepperBox.remove();
    this.lanes.addMarks(extra);
    renderPlots(this.root.querySelector('.plot-row')!, model, meta.summary, onSelect);
    for (const v of this.root.querySelectorAll('.violation[data-seq]'))
      v.addEventListener('click', () => this.select(Number(v.getAttribute('data-seq')), true));
  }

  select(seq: number, writeHash: boolean): void {
    const n = this.model.events.length;
    if (n === 0) return;
    seq = Math.max(0, Math.min(n - 1, Math.floor(seq)));
    this.selected = seq;
    this.list.select(seq);
    this.lanes.select(seq);
    if (this.kernel !== null) {
      const state: KernelState = this.kernel.stateAt(seq);
      const previous = seq > 0 ? this.kernel.stateAt(seq - 1) : null;
      this.panel.show(seq, state, previous);
    }
    if (writeHash) {
      try {
        history.replaceState(null, '', `#seq=${seq}`);
      } catch {
        // A page opened from some sandboxes refuses history writes: the selection still moves.
      }
    }
  }

  /** Keyboard: ↑/↓ (or k/j) move to the previous/next event. */
  step(delta: number): void {
    if (this.selected >= 0) this.select(this.selected + delta, true);
  }
}

/** The log the page carries: gzip in base64, inflated by the browser (no network involved). */
async function inflate(base64: string): Promise<string> {
  const raw = atob(base64);
  const bytes = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream('gzip'));
  return new Response(stream).text();
}

async function boot(): Promise<void> {
  const root = document.getElementById('tracelab-viewer');
  const logEl = document.getElementById('tl-log');
  const metaEl = document.getElementById('tl-meta');
  if (root === null || logEl === null || metaEl === null) throw new Error('tracelab viewer: the page is missing its log or metadata');
  const t0 = performance.now();
  const text = await inflate((logEl.textContent ?? '').trim());
  root.setAttribute('data-inflate-ms', (performance.now() - t0).toFixed(1));
  const viewer = new Viewer(root, JSON.parse(metaEl.textContent ?? '{}') as ViewerMeta, text);
  viewer.start();
  window.addEventListener('hashchange', () => {
    const seq = seqFromHash();
    if (seq !== null) viewer.select(seq, false);
  });
  window.addEventListener('keydown', (ev) => {
    if (ev.target instanceof HTMLInputElement || ev.target instanceof HTMLSelectElement) return;
    const delta = ev.key === 'ArrowDown' || ev.key === 'j' ? 1 : ev.key === 'ArrowUp' || ev.key === 'k' ? -1 : 0;
    if (delta === 0) return;
    viewer.step(delta);
    ev.preventDefault();
  });
}

boot().catch((err: unknown) => {
  const root = document.getElementById('tracelab-viewer');
  if (root !== null) root.innerHTML = `<p class="error">${esc(`the viewer could not start: ${err instanceof Error ? err.message : String(err)}`)}</p>`;
  throw err;
});
