import { esc } from './dom.js';
import { taskLabel, type LaneMark, type Model, type Span } from './model.js';

export type Axis = 'time' | 'seq';

const LANE_HEIGHT = 34;

function colorOf(pid: number): string {
  // A stable hue per pid, spread by the golden angle.
  const hue = (pid * 137.508) % 360;
  return `hsl(${hue.toFixed(0)} 55% 62%)`;
}

/**
 * One lane per CPU: which task ran when (a bar per span between context switches), with
 * preemptions, oopses, violations and schedule choices marked, and a cursor at the selected
 * event. Wheel zooms, drag pans, a click selects the last event logged on that CPU at or
 * before the clicked point. The view window and the selection are written only by the
 * methods below (one page, one thread).
 */
export class Lanes {
  private axis: Axis;
  private v0 = 0;
  private v1 = 1;
  private selected = -1;
  private readonly canvases: HTMLCanvasElement[] = [];
  private readonly bySeqCpu: number[][];
  /** Marks per CPU (violations on every lane), sorted by seq: a draw looks at the visible ones only. */
  private readonly marksByCpu: LaneMark[][];
  private readonly axisEl: HTMLElement;
  private frame = 0;

  constructor(
    private readonly root: HTMLElement,
    private readonly model: Model,
    axis: Axis,
    private readonly onSelect: (seq: number) => void,
  ) {
    this.axis = axis;
    this.bySeqCpu = Array.from({ length: model.cpus }, () => []);
    for (const e of model.events) if (e.cpu >= 0 && e.cpu < model.cpus) this.bySeqCpu[e.cpu]!.push(e.seq);
    this.marksByCpu = Array.from({ length: model.cpus }, () => []);
    this.addMarkList(model.marks);
    this.resetView();
    root.innerHTML = '';
    for (let cpu = 0; cpu < model.cpus; cpu++) {
      const lane = document.createElement('div');
      lane.className = 'lane';
      lane.setAttribute('data-cpu-lane', String(cpu));
      lane.setAttribute('data-spans', String(model.spans[cpu]!.length));
      lane.setAttribute('data-preemptions', String(model.spans[cpu]!.filter((s) => s.preempted).length));
      lane.innerHTML = `<div class="lane-label">cpu${cpu}</div>`;
      const canvas = document.createElement('canvas');
      canvas.height = LANE_HEIGHT;
      lane.appendChild(canvas);
      root.appendChild(lane);
      this.canvases.push(canvas);
      this.attach(canvas, cpu);
    }
    this.axisEl = document.createElement('div');
    this.axisEl.className = 'lane-axis';
    root.appendChild(this.axisEl);
    let width = -1;
    new ResizeObserver(() => {
      if (root.clientWidth === width) return;
      width = root.clientWidth;
      this.redraw();
    }).observe(root);
  }

  /** Draws at the next frame, once however many changes came before it. */
  private redraw(): void {
    if (this.frame === 0) this.frame = requestAnimationFrame(() => ((this.frame = 0), this.draw()));
  }

  /** Marks that come from outside the log (violations, schedule choices). */
  addMarks(marks: readonly LaneMark[]): void {
    this.addMarkList(marks);
    this.redraw();
  }

  private addMarkList(marks: readonly LaneMark[]): void {
    for (const m of marks) {
      for (let cpu = 0; cpu < this.marksByCpu.length; cpu++) if (m.cpu === cpu || m.kind === 'violation') this.marksByCpu[cpu]!.push(m);
    }
    for (const list of this.marksByCpu) list.sort((a, b) => a.seq - b.seq);
  }

  setAxis(axis: Axis): void {
    this.axis = axis;
    this.resetView();
    this.redraw();
  }

  select(seq: number): void {
    this.selected = seq;
    const e = this.model.events[seq];
    if (e !== undefined) {
      const x = this.pos(e.time, e.seq);
      if (x < this.v0 || x > this.v1) {
        const w = this.v1 - this.v0;
        this.v0 = x - w / 2;
        this.v1 = x + w / 2;
      }
    }
    this.redraw();
  }

  private pos(time: number, seq: number): number {
    return this.axis === 'time' ? time : seq;
  }

  private resetView(): void {
    const n = this.model.events.length;
    this.v0 = 0;
    this.v1 = Math.max(1, this.axis === 'time' ? this.model.tMax + 1 : n);
  }

  private attach(canvas: HTMLCanvasElement, cpu: number): void {
    let dragFrom: number | null = null;
    let moved = false;
    canvas.addEventListener('wheel', (ev) => {
      ev.preventDefault();
      const rect = canvas.getBoundingClientRect();
      const f = (ev.clientX - rect.left) / rect.width;
      const at = this.v0 + f * (this.v1 - this.v0);
      const k = ev.deltaY > 0 ? 1.25 : 0.8;
      const w = Math.max(4, (this.v1 - this.v0) * k);
      this.v0 = at - f * w;
      this.v1 = at + (1 - f) * w;
      this.redraw();
    });
    canvas.addEventListener('mousedown', (ev) => {
      dragFrom = ev.clientX;
      moved = false;
    });
    window.addEventListener('mousemove', (ev) => {
      if (dragFrom === null) return;
      const dx = ev.clientX - dragFrom;
      if (Math.abs(dx) > 2) moved = true;
      const w = this.v1 - this.v0;
      const d = (dx / Math.max(1, canvas.clientWidth)) * w;
      this.v0 -= d;
      this.v1 -= d;
      dragFrom = ev.clientX;
      if (moved) this.redraw();
    });
    window.addEventListener('mouseup', () => {
      dragFrom = null;
    });
    canvas.addEventListener('click', (ev) => {
      if (moved) return;
      const rect = canvas.getBoundingClientRect();
      const at = this.v0 + ((ev.clientX - rect.left) / rect.width) * (this.v1 - this.v0);
      const seq = this.lastEventAt(cpu, at);
      if (seq >= 0) this.onSelect(seq);
    });
  }

  /** The last event of `cpu` at or before position `at` (binary search over its events). */
  private lastEventAt(cpu: number, at: number): number {
    const list = this.bySeqCpu[cpu]!;
    let lo = 0;
    let hi = list.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const e = this.model.events[list[mid]!]!;
      if (this.pos(e.time, e.seq) <= at) {
        found = list[mid]!;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found;
  }

  draw(): void {
    const dpr = window.devicePixelRatio || 1;
    const scale = (w: number) => (x: number) => ((x - this.v0) / (this.v1 - this.v0)) * w;
    for (let cpu = 0; cpu < this.canvases.length; cpu++) {
      const canvas = this.canvases[cpu]!;
      const w = canvas.clientWidth;
      if (w === 0) continue;
      if (canvas.width !== Math.round(w * dpr)) {
        canvas.width = Math.round(w * dpr);
        canvas.height = Math.round(LANE_HEIGHT * dpr);
      }
      const ctx = canvas.getContext('2d')!;
      ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
      ctx.clearRect(0, 0, w, LANE_HEIGHT);
      ctx.fillStyle = '#f3f4f6';
      ctx.fillRect(0, 4, w, LANE_HEIGHT - 8);
      const X = scale(w);
      const spans = this.model.spans[cpu]!;
      // Only spans that overlap the window: binary search the first one ending in view.
      let lo = 0;
      let hi = spans.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        const s = spans[mid]!;
        if (this.pos(s.t1, s.s1) < this.v0) lo = mid + 1;
        else hi = mid;
      }
      ctx.font = '11px system-ui, sans-serif';
      ctx.textBaseline = 'middle';
      let lastPx = -1;
      for (let i = lo; i < spans.length; i++) {
        const s: Span = spans[i]!;
        const a = X(this.pos(s.t0, s.s0));
        if (a > w) break;
        const b = Math.max(a + 1, X(this.pos(s.t1, s.s1)));
        // Many spans in one pixel: draw one of them (the lane stays readable, drawing stays cheap).
        if (b - a < 1 && Math.floor(a) === lastPx) continue;
        lastPx = Math.floor(a);
        ctx.fillStyle = colorOf(s.pid);
        ctx.fillRect(a, 6, b - a, LANE_HEIGHT - 12);
        if (b - a > 36) {
          ctx.fillStyle = '#111';
          const label = taskLabel(this.model, s.pid);
          ctx.save();
          ctx.beginPath();
          ctx.rect(a, 0, b - a - 2, LANE_HEIGHT);
          ctx.clip();
          ctx.fillText(label, a + 3, LANE_HEIGHT / 2);
          ctx.restore();
        }
      }
      const marks = this.marksByCpu[cpu]!;
      // Positions grow with seq on both axes: start at the first mark in view.
      let mi = 0;
      let mhi = marks.length;
      while (mi < mhi) {
        const mid = (mi + mhi) >> 1;
        const m = marks[mid]!;
        if (this.pos(m.time, m.seq) < this.v0) mi = mid + 1;
        else mhi = mid;
      }
      let lastMark = -1;
      for (; mi < marks.length; mi++) {
        const m = marks[mi]!;
        const x = X(this.pos(m.time, m.seq));
        if (x > w + 5) break;
        // One mark per pixel and kind is enough.
        if (Math.floor(x) === lastMark && m.kind === 'preempt') continue;
        lastMark = Math.floor(x);
        if (m.kind === 'preempt') {
          ctx.fillStyle = '#d9480f';
          ctx.beginPath();
          ctx.moveTo(x - 4, 0);
          ctx.lineTo(x + 4, 0);
          ctx.lineTo(x, 7);
          ctx.fill();
        } else if (m.kind === 'choice') {
          ctx.strokeStyle = '#7048e8';
          ctx.setLineDash([2, 2]);
          ctx.beginPath();
          ctx.moveTo(x, 0);
          ctx.lineTo(x, LANE_HEIGHT);
          ctx.stroke();
          ctx.setLineDash([]);
        } else if (m.kind === 'irq') {
          // An interrupt taken over the running task: a tick under the span.
          ctx.fillStyle = '#f08c00';
          ctx.fillRect(x - 1, LANE_HEIGHT - 6, 2, 6);
        } else {
          ctx.fillStyle = '#c92a2a';
          ctx.fillRect(x - 1, 0, 3, LANE_HEIGHT);
        }
      }
      const sel = this.model.events[this.selected];
      if (sel !== undefined) {
        const x = X(this.pos(sel.time, sel.seq));
        ctx.fillStyle = '#1c7ed6';
        ctx.fillRect(x - 0.5, 0, 2, LANE_HEIGHT);
      }
    }
    this.axisEl.innerHTML = `<span>${esc(this.axis === 'time' ? `tick ${Math.max(0, Math.floor(this.v0))}` : `seq ${Math.max(0, Math.floor(this.v0))}`)}</span><span class="muted">wheel: zoom · drag: pan · click: select</span><span>${esc(this.axis === 'time' ? `tick ${Math.ceil(this.v1)}` : `seq ${Math.ceil(this.v1)}`)}</span>`;
  }
}
