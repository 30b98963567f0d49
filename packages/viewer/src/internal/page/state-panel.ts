import type { KernelEvent, KernelState, LockState, TaskState } from '@tracelab/core';
import { stateDigest } from '../../digest.js';
import { intMapEntries, isIntMap, plainState } from '../plain.js';
import { diffStates } from './diff.js';
import { esc, short } from './dom.js';
import { taskLabel, type Model } from './model.js';

function table(head: readonly string[], rows: readonly string[][], cls = ''): string {
  if (rows.length === 0) return '<p class="muted">none</p>';
  return `<table class="${cls}"><thead><tr>${head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>${rows.map((r) => `<tr>${r.map((c) => `<td>${c}</td>`).join('')}</tr>`).join('')}</tbody></table>`;
}

function tasksOf(state: KernelState): TaskState[] {
  return intMapEntries(state.tasks as never).map(([, t]) => t as TaskState);
}

function lockHolders(l: LockState, model: Model): string {
  if (l.kind === 'mutex') return l.owner === null ? '<span class="muted">free</span>' : `held by <b>${esc(taskLabel(model, l.owner))}</b>`;
  if (l.writer !== null) return `write-held by <b>${esc(taskLabel(model, l.writer))}</b>`;
  if (l.readers.length > 0) return `read-held by ${l.readers.map((p) => `<b>${esc(taskLabel(model, p))}</b>`).join(', ')}`;
  return '<span class="muted">free</span>';
}

function lockWaiters(l: LockState, model: Model): string {
  const w = l.waiters as ReadonlyArray<number | { pid: number; write: boolean }>;
  return w.map((x) => (typeof x === 'number' ? esc(taskLabel(model, x)) : `${esc(taskLabel(model, x.pid))}${x.write ? ' (w)' : ' (r)'}`)).join(', ');
}

/** RCU-sched and, when the stack has it, RCU-tasks: the grace period open and who holds it up. */
function rcuSection(state: KernelState, model: Model): string {
  const r = state.rcu;
  let html = `<h4>RCU-sched</h4><p>completed ${r.completed}`;
  if (r.gp === null) html += ', no grace period in progress';
  else {
    const who = r.gp.pending.map((cpu) => `cpu${cpu} (${esc(taskLabel(model, state.cpus[cpu]?.curr ?? -1))})`).join(', ');
    html += `; <b>grace period ${r.gp.seq}</b> open since tick ${r.gp.start}, held up by ${who === '' ? 'nobody (ending)' : who}`;
  }
  html += `; ${r.callbacks.length} callback(s) queued</p>`;
  const slice = (state.plugins as Record<string, unknown>)['rcu-tasks'] as Record<string, unknown> | undefined;
  if (slice !== undefined) {
    for (const flavour of ['tasks', 'trace'] as const) {
      const f = slice[flavour] as
        { gp: null | { gp: number; start: number; holdouts: unknown; scanned: boolean; rescans: number }; completed: number } | undefined;
      if (f === undefined) continue;
      html += `<h4>RCU-${flavour === 'tasks' ? 'tasks' : 'tasks-trace'}</h4><p>completed ${f.completed}`;
      if (f.gp === null) html += ', no grace period in progress</p>';
      else {
        const holdouts = isIntMap(f.gp.holdouts) ? intMapEntries(f.gp.holdouts).map(([pid]) => pid) : [];
        html += `; <b>grace period ${f.gp.gp}</b> open since tick ${f.gp.start}, ${f.gp.scanned ? `${holdouts.length} holdout(s)${holdouts.length > 0 ? ': ' + holdouts.map((p) => `<b>${esc(taskLabel(model, p))}</b>`).join(', ') : ''}, ${f.gp.rescans} rescan(s)` : 'not yet scanned'}</p>`;
      }
    }
  }
  return html;
}

/**
 * The state panel: the state right after the selected event, what that event changed, and
 * the digest scripts compare with `stateDigest(stateAt(seq))`. Its element's attributes are
 * written only by `show`.
 */
export class StatePanel {
  constructor(
    private readonly root: HTMLElement,
    private readonly model: Model,
  ) {}

  show(seq: number, state: KernelState, previous: KernelState | null): void {
    const model = this.model;
    const e = model.events[seq] as KernelEvent;
    const digest = stateDigest(state);
    this.root.setAttribute('data-state-seq', String(seq));
    this.root.setAttribute('data-state-digest', digest);
    const changes = previous === null ? [] : diffStates(previous, state);
    const changeRows = changes
      .filter((c) => c.path !== 'clock.now' || changes.length === 1)
      .map((c) => [
        `<code>${esc(c.path)}</code>`,
        `<span class="before">${esc(short(plainState(c.before)))}</span>`,
        `<span class="after">${esc(short(plainState(c.after)))}</span>`,
      ]);
    const cpuRows = state.cpus.map((c) => [`cpu${c.id}`, esc(taskLabel(model, c.curr)), String(c.preemptCount)]);
    const taskRows = tasksOf(state).map((t) => [
      String(t.pid),
      esc(t.comm),
      `<span class="st-${esc(t.state)}">${esc(t.state)}</span>`,
      esc(t.mode),
      t.cpu < 0 ? '-' : String(t.cpu),
      esc(Object.keys(t.flags).join(' ')),
      `${t.nvcsw}/${t.nivcsw}`,
      esc(t.waitingOn ?? ''),
      esc(t.syscall === null ? '' : short(t.syscall, 40)),
    ]);
    const lockRows = Object.entries(state.locks).map(([name, l]) => [esc(name), esc(l.kind), lockHolders(l, model), lockWaiters(l, model)]);
    const plugins = Object.entries(state.plugins as Record<string, unknown>)
      .map(([name, slice]) => {
        let text = JSON.stringify(plainState(slice), null, 1);
        if (text.length > 20_000) text = `${text.slice(0, 20_000)}\n… (${text.length} characters, cut)`;
        return `<details data-plugin="${esc(name)}"><summary>${esc(name)}</summary><pre>${esc(text)}</pre></details>`;
      })
      .join('');
    this.root.innerHTML = `
      <div class="panel-head"><b>state after seq ${seq}</b> · t=${e.time} · ${e.cpu >= 0 ? `cpu${e.cpu}` : 'host'} · <code>${esc(e.type)}</code>
        <div class="muted small">digest <code class="digest">${digest.slice(0, 16)}</code> · ${state.kernel.disabledPlugins && Object.keys(state.kernel.disabledPlugins).length > 0 ? `disabled: ${esc(Object.keys(state.kernel.disabledPlugins).join(', '))}` : 'no plugin disabled'}</div></div>
      <h3>Changed by this event${previous === null ? '' : ` (since seq ${seq - 1})`}</h3>
      ${previous === null ? '<p class="muted">the first event</p>' : table(['where', 'before', 'after'], changeRows, 'diff')}
      <h3>CPUs</h3>${table(['cpu', 'running', 'preempt count'], cpuRows)}
      <h3>Tasks (${taskRows.length})</h3>${table(['pid', 'comm', 'state', 'mode', 'cpu', 'flags', 'vol/invol', 'waiting on', 'syscall'], taskRows, 'tasks')}
      <h3>Locks</h3>${table(['lock', 'kind', 'holders', 'waiters'], lockRows)}
      <h3>RCU</h3>${rcuSection(state, model)}
      <h3>Plugins</h3>${plugins === '' ? '<p class="muted">no plugin in the stack</p>' : plugins}`;
  }

  showError(message: string): void {
    this.root.removeAttribute('data-state-digest');
    this.root.innerHTML = `<p class="error">${esc(message)}</p>`;
  }
}
