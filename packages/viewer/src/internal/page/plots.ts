import type { KernelEvent } from '@tracelab/core';
import { esc } from './dom.js';
import type { Model } from './model.js';

const W = 560;
const H = 180;
const PAD = { l: 48, r: 12, t: 16, b: 30 };

function niceMax(v: number): number {
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function axes(xMax: number, yMax: number, xLabel: string, yLabel: string): string {
  const iw = W - PAD.l - PAD.r;
  const ih = H - PAD.t - PAD.b;
  let s = `<line x1="${PAD.l}" y1="${PAD.t + ih}" x2="${PAD.l + iw}" y2="${PAD.t + ih}" class="axis"/><line x1="${PAD.l}" y1="${PAD.t}" x2="${PAD.l}" y2="${PAD.t + ih}" class="axis"/>`;
  for (let i = 0; i <= 4; i++) {
    const y = PAD.t + ih - (i / 4) * ih;
    s += `<line x1="${PAD.l - 3}" y1="${y}" x2="${PAD.l + iw}" y2="${y}" class="grid"/><text x="${PAD.l - 6}" y="${y + 4}" text-anchor="end">${+((yMax * i) / 4).toPrecision(3)}</text>`;
    const x = PAD.l + (i / 4) * iw;
    s += `<text x="${x}" y="${H - 10}" text-anchor="middle">${Math.round((xMax * i) / 4)}</text>`;
  }
  s += `<text x="${PAD.l + iw}" y="${H - 1}" text-anchor="end" class="label">${esc(xLabel)}</text><text x="4" y="${PAD.t - 3}" class="label">${esc(yLabel)}</text>`;
  return s;
}

function svg(body: string, name: string): string {
  return `<svg viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" data-plot="${esc(name)}" role="img">${body}</svg>`;
}

interface GracePeriod {
  readonly flavour: string;
  readonly gp: number;
  readonly start: number;
  readonly end: number;
  readonly startSeq: number;
}

/** Grace periods that ended, from the core's RCU-sched events and rcu-tasks' own. */
export function gracePeriods(events: readonly KernelEvent[]): GracePeriod[] {
  const open = new Map<string, { start: number; seq: number }>();
  const out: GracePeriod[] = [];
  for (const e of events) {
    if (e.type === 'rcu/gp-start') open.set(`sched:${(e as KernelEvent<'rcu/gp-start'>).gp}`, { start: e.time, seq: e.seq });
    else if (e.type === 'rcu/gp-end') {
      const gp = (e as KernelEvent<'rcu/gp-end'>).gp;
      const o = open.get(`sched:${gp}`);
      if (o !== undefined) out.push({ flavour: 'rcu-sched', gp, start: o.start, end: e.time, startSeq: o.seq });
    } else if (e.type === 'rcu-tasks/gp-start' || e.type === 'rcu-tasks/gp-end') {
      const p = e as unknown as { flavour: string; gp: number };
      const key = `${p.flavour}:${p.gp}`;
      if (e.type === 'rcu-tasks/gp-start') open.set(key, { start: e.time, seq: e.seq });
      else {
        const o = open.get(key);
        if (o !== undefined) out.push({ flavour: `rcu-${p.flavour}`, gp: p.gp, start: o.start, end: e.time, startSeq: o.seq });
      }
    }
  }
  return out;
}

const FLAVOUR_COLOR: Record<string, string> = { 'rcu-sched': '#1c7ed6', 'rcu-tasks': '#e8590c', 'rcu-trace': '#2f9e44' };

function gpPlot(model: Model): string {
  const gps = gracePeriods(model.events);
  if (gps.length === 0) return '';
  const xMax = Math.max(1, model.tMax);
  const yMax = niceMax(Math.max(...gps.map((g) => g.end - g.start)));
  const iw = W - PAD.l - PAD.r;
  const ih = H - PAD.t - PAD.b;
  let body = axes(xMax, yMax, 'tick the grace period began', 'latency (ticks)');
  for (const g of gps) {
    const x = PAD.l + (g.start / xMax) * iw;
    const y = PAD.t + ih - ((g.end - g.start) / yMax) * ih;
    body += `<circle cx="${x.toFixed(1)}" cy="${y.toFixed(1)}" r="3.5" fill="${FLAVOUR_COLOR[g.flavour] ?? '#555'}" data-seq="${g.startSeq}"><title>${esc(`${g.flavour} GP ${g.gp}: ticks ${g.start}..${g.end} (${g.end - g.start})`)}</title></circle>`;
  }
  const flavours = [...new Set(gps.map((g) => g.flavour))];
  body += flavours
    .map(
      (f, i) =>
        `<circle cx="${W - PAD.r - 90}" cy="${PAD.t + 4 + i * 13}" r="4" fill="${FLAVOUR_COLOR[f] ?? '#555'}"/><text x="${W - PAD.r - 82}" y="${PAD.t + 8 + i * 13}">${esc(f)}</text>`,
    )
    .join('');
  return `<figure><figcaption>Grace-period latencies (${gps.length}; click a point to go to its start)</figcaption>${svg(body, 'grace-periods')}</figure>`;
}

/** Per CPU buffer: sub-buffers delivered and not yet consumed, and records lost so far, as steps over time. */
function ringBufferPlot(model: Model): string {
  const fill = new Map<number, Array<[number, number]>>();
  const lost = new Map<number, Array<[number, number]>>();
  const level = new Map<number, number>();
  const lostN = new Map<number, number>();
  let any = false;
  for (const e of model.events) {
    if (!e.type.startsWith('ring-buffer/')) continue;
    const cpu = (e as unknown as { bufCpu?: number }).bufCpu;
    if (cpu === undefined) continue;
    if (e.type === 'ring-buffer/subbuf-delivered' || e.type === 'ring-buffer/subbuf-consumed') {
      any = true;
      const v = (level.get(cpu) ?? 0) + (e.type === 'ring-buffer/subbuf-delivered' ? 1 : -1);
      level.set(cpu, v);
      if (!fill.has(cpu)) fill.set(cpu, [[0, 0]]);
      fill.get(cpu)!.push([e.time, v]);
    } else if (e.type === 'ring-buffer/record-lost') {
      any = true;
      const v = (lostN.get(cpu) ?? 0) + 1;
      lostN.set(cpu, v);
      if (!lost.has(cpu)) lost.set(cpu, [[0, 0]]);
      lost.get(cpu)!.push([e.time, v]);
    }
  }
  if (!any) return '';
  const xMax = Math.max(1, model.tMax);
  const iw = W - PAD.l - PAD.r;
  const ih = H - PAD.t - PAD.b;
  const line = (pts: Array<[number, number]>, yMax: number, color: string, dash: string): string => {
    let d = '';
    let lastY = 0;
    for (const [t, v] of pts) {
      const x = PAD.l + (t / xMax) * iw;
      const y = PAD.t + ih - (v / yMax) * ih;
      d += d === '' ? `M${x.toFixed(1)},${y.toFixed(1)}` : `H${x.toFixed(1)}V${y.toFixed(1)}`;
      lastY = y;
    }
    d += `H${(PAD.l + iw).toFixed(1)}V${lastY.toFixed(1)}`;
    return `<path d="${d}" fill="none" stroke="${color}" stroke-width="1.5" stroke-dasharray="${dash}"/>`;
  };
  const cpus = [...new Set([...fill.keys(), ...lost.keys()])].sort((a, b) => a - b);
  const fillMax = niceMax(Math.max(1, ...[...fill.values()].flat().map(([, v]) => v)));
  const lostMax = niceMax(Math.max(1, ...[...lost.values()].flat().map(([, v]) => v)));
  const color = (cpu: number) => `hsl(${(cpu * 97) % 360} 60% 45%)`;
  let a = axes(xMax, fillMax, 'tick', 'sub-buffers full, waiting for the consumer');
  for (const cpu of cpus) if (fill.has(cpu)) a += line(fill.get(cpu)!, fillMax, color(cpu), '');
  // Above the plot area, right of the axis label: the lines stay clear.
  const legend = cpus
    .map(
      (cpu, i) =>
        `<rect x="${W - PAD.r - 55 * (cpus.length - i)}" y="${PAD.t - 10}" width="10" height="3" fill="${color(cpu)}"/><text x="${W - PAD.r - 55 * (cpus.length - i) + 14}" y="${PAD.t - 5}">cpu${cpu}</text>`,
    )
    .join('');
  a += legend;
  let b = axes(xMax, lostMax, 'tick', 'records lost (cumulative)');
  for (const cpu of cpus) if (lost.has(cpu)) b += line(lost.get(cpu)!, lostMax, color(cpu), '');
  if (lost.size > 0) b += legend;
  if (lost.size === 0) b += `<text x="${PAD.l + iw / 2}" y="${PAD.t + ih / 2}" text-anchor="middle" class="label">no record lost</text>`;
  return `<figure><figcaption>Ring buffer fill per CPU</figcaption>${svg(a, 'ring-buffer-fill')}</figure><figure><figcaption>Lost events per CPU</figcaption>${svg(b, 'ring-buffer-lost')}</figure>`;
}

/** Probe calls per site: logged calls (markers, ftrace), plus counting probes from summary.json. */
export function probeCalls(events: readonly KernelEvent[], summary: unknown): Array<[string, number]> {
  const calls = new Map<string, number>();
  const add = (k: string, n = 1) => calls.set(k, (calls.get(k) ?? 0) + n);
  for (const e of events) {
    if (e.type === 'markers/probe-call') add(`marker ${(e as KernelEvent<'markers/probe-call'>).name}`);
    else if (e.type === 'ftrace/tramp-enter') add(`ftrace ${(e as KernelEvent<'ftrace/tramp-enter'>).ip}`);
    else if (e.type === 'ftrace/list-call') add(`ftrace ${(e as KernelEvent<'ftrace/list-call'>).ip}`);
  }
  // Counting probes keep their numbers outside the log; the run's summary has them.
  const markers = (summary as { stack?: { markers?: Record<string, { marker?: unknown; calls?: unknown; stats?: { calls?: unknown } }> } } | null)?.stack
    ?.markers;
  if (markers !== undefined && markers !== null) {
    for (const m of Object.values(markers)) {
      const n = typeof m?.calls === 'number' ? m.calls : typeof m?.stats?.calls === 'number' ? m.stats.calls : null;
      if (typeof m?.marker === 'string' && n !== null && !calls.has(`marker ${m.marker}`)) add(`marker ${m.marker} (probe counter)`, n);
    }
  }
  return [...calls.entries()].sort((a, b) => b[1] - a[1]);
}

function probePlot(model: Model, summary: unknown): string {
  const rows = probeCalls(model.events, summary).slice(0, 16);
  if (rows.length === 0) return '';
  const h = 18 * rows.length + 20;
  const max = niceMax(rows[0]![1]);
  const lw = 280;
  const bw = W - lw - 50;
  let body = '';
  rows.forEach(([site, n], i) => {
    const y = 8 + i * 18;
    body += `<text x="${lw - 6}" y="${y + 11}" text-anchor="end">${esc(site)}</text><rect x="${lw}" y="${y}" width="${((n / max) * bw).toFixed(1)}" height="13" fill="#4c6ef5"/><text x="${lw + (n / max) * bw + 4}" y="${y + 11}">${n}</text>`;
  });
  return `<figure><figcaption>Probe calls per site</figcaption><svg viewBox="0 0 ${W} ${h}" width="${W}" height="${h}" data-plot="probe-calls" role="img">${body}</svg></figure>`;
}

/** The plots the log has data for, as SVG drawn here (no chart library). */
export function renderPlots(root: HTMLElement, model: Model, summary: unknown, onSelect: (seq: number) => void): void {
  const html = gpPlot(model) + ringBufferPlot(model) + probePlot(model, summary);
  root.innerHTML = html === '' ? '<p class="muted">nothing to plot: no grace periods, ring-buffer deliveries or probe calls in this log</p>' : html;
  root.addEventListener('click', (ev) => {
    const seq = (ev.target as Element).getAttribute('data-seq');
    if (seq !== null) onSelect(Number(seq));
  });
}
