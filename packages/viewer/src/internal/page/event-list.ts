import type { KernelEvent } from '@tracelab/core';
import { esc } from './dom.js';
import { involves, ownerOf, payloadText, taskLabel, type Model } from './model.js';

const ROW = 20;
const OVERSCAN = 10;

export interface ListFilter {
  readonly type: string;
  readonly owner: string;
  readonly pid: number;
}

/**
 * The events as a virtualised list: only the rows in view (and a few around) are in the DOM,
 * so a 100,000-event log scrolls like a 100-event one. Filters by type, owner (core or a
 * plugin) and task; `marked` rows (violations, oopses) are drawn red. Its fields are written
 * only by its own methods.
 */
export class EventList {
  private rows: Int32Array;
  private selected = -1;
  private readonly viewport: HTMLElement;
  private readonly spacer: HTMLElement;
  private readonly body: HTMLElement;
  private readonly count: HTMLElement;
  private frame = 0;

  constructor(
    root: HTMLElement,
    private readonly model: Model,
    private readonly marked: ReadonlyMap<number, string>,
    private readonly onSelect: (seq: number) => void,
  ) {
    this.rows = Int32Array.from(model.events, (e) => e.seq);
    const types = [...model.types.entries()].sort((a, b) => a[0].localeCompare(b[0]));
    const owners = [...model.owners.entries()].sort((a, b) => a[0].localeCompare(b[0]));
    const tasks = [...model.tasks.keys()].sort((a, b) => a - b);
    root.innerHTML = `
      <div class="filters">
        <select data-filter="type"><option value="">every type</option>${types.map(([t, n]) => `<option value="${esc(t)}">${esc(t)} (${n})</option>`).join('')}</select>
        <select data-filter="owner"><option value="">every plugin</option>${owners.map(([o, n]) => `<option value="${esc(o)}">${esc(o)} (${n})</option>`).join('')}</select>
        <select data-filter="task"><option value="-1">every task</option>${tasks.map((p) => `<option value="${p}">${esc(taskLabel(model, p))}</option>`).join('')}</select>
        <span class="count muted"></span>
      </div>
      <div class="list-head"><span>seq</span><span>tick</span><span>cpu</span><span>task</span><span>type</span><span>payload</span></div>
      <div class="list-viewport" data-event-list><div class="list-spacer"><div class="list-body"></div></div></div>`;
    this.viewport = root.querySelector('.list-viewport')!;
    this.spacer = root.querySelector('.list-spacer')!;
    this.body = root.querySelector('.list-body')!;
    this.count = root.querySelector('.count')!;
    for (const sel of root.querySelectorAll('select')) sel.addEventListener('change', () => this.applyFilter(this.readFilter(root)));
    this.viewport.addEventListener('scroll', () => {
      if (this.frame === 0) this.frame = requestAnimationFrame(() => ((this.frame = 0), this.render()));
    });
    this.body.addEventListener('click', (ev) => {
      const row = (ev.target as HTMLElement).closest('[data-seq]');
      if (row !== null) this.onSelect(Number(row.getAttribute('data-seq')));
    });
    // Only a change of height shows other rows (rendering on every resize notification would
    // feed back: new rows can change the grid's widths, which notifies again).
    let height = -1;
    new ResizeObserver(() => {
      if (this.viewport.clientHeight === height) return;
      height = this.viewport.clientHeight;
      this.render();
    }).observe(this.viewport);
    this.update();
  }

  private readFilter(root: HTMLElement): ListFilter {
    const v = (k: string) => (root.querySelector(`[data-filter="${k}"]`) as HTMLSelectElement).value;
    return { type: v('type'), owner: v('owner'), pid: Number(v('task')) };
  }

  /** Keeps the events that pass every filter set; the selection stays if it passes. */
  applyFilter(f: ListFilter): void {
    const out: number[] = [];
    for (const e of this.model.events) {
      if (f.type !== '' && e.type !== f.type) continue;
      if (f.owner !== '' && ownerOf(e.type) !== f.owner) continue;
      if (f.pid >= 0 && !involves(this.model, e, f.pid)) continue;
      out.push(e.seq);
    }
    this.rows = Int32Array.from(out);
    this.update();
    if (this.selected >= 0) this.reveal(this.selected);
  }

  private update(): void {
    this.spacer.style.height = `${this.rows.length * ROW}px`;
    this.viewport.parentElement?.setAttribute('data-rows', String(this.rows.length));
    this.count.textContent = `${this.rows.length} of ${this.model.events.length} events`;
    this.render();
  }

  select(seq: number): void {
    this.selected = seq;
    this.reveal(seq);
    this.render();
  }

  /** Scrolls the row of `seq` into view (the nearest row at or before it when filtered out). */
  private reveal(seq: number): void {
    let lo = 0;
    let hi = this.rows.length - 1;
    let idx = 0;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (this.rows[mid]! <= seq) {
        idx = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    const top = idx * ROW;
    const vh = this.viewport.clientHeight;
    if (top < this.viewport.scrollTop || top + ROW > this.viewport.scrollTop + vh) this.viewport.scrollTop = Math.max(0, top - vh / 2);
  }

  /** The slowest render so far, in ms (on the root as `data-max-render-ms`: what a scroll costs the page). */
  private maxRender = 0;

  private render(): void {
    // Browser-side timing of the list's own render (the benchmark's worst-render figure), outside
    // the replayed kernel on purpose: the states shown never depend on it.
    const t0 = performance.now();
    this.renderRows();
    const ms = performance.now() - t0;
    if (ms > this.maxRender) {
      this.maxRender = ms;
      this.viewport.setAttribute('data-max-render-ms', ms.toFixed(2));
    }
  }

  private renderRows(): void {
    const vh = this.viewport.clientHeight || 400;
    const first = Math.max(0, Math.floor(this.viewport.scrollTop / ROW) - OVERSCAN);
    const last = Math.min(this.rows.length, Math.ceil((this.viewport.scrollTop + vh) / ROW) + OVERSCAN);
    let html = '';
    for (let i = first; i < last; i++) {
      const seq = this.rows[i]!;
      const e = this.model.events[seq] as KernelEvent;
      const mark = this.marked.get(seq);
      const cls = `row${seq === this.selected ? ' selected' : ''}${mark !== undefined ? ' marked' : ''}${e.type === 'sched/switch' && (e as KernelEvent<'sched/switch'>).preempted ? ' preempt' : ''}`;
      html += `<div class="${cls}" data-seq="${seq}" style="top:${i * ROW}px"${mark !== undefined ? ` title="${esc(mark)}"` : ''}><span>${seq}</span><span>${e.time}</span><span>${e.cpu < 0 ? 'host' : e.cpu}</span><span>${esc(taskLabel(this.model, this.model.actor[seq]!))}</span><span class="type">${esc(e.type)}</span><span class="payload">${mark !== undefined ? `<b class="vmark">${esc(mark)}</b> ` : ''}${esc(payloadText(e))}</span></div>`;
    }
    this.body.innerHTML = html;
  }
}
