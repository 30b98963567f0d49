import type { Counterexample, ScheduleStep } from '../../meta.js';
import { esc } from './dom.js';

/**
 * The last event a choice led to: the events from its position up to the next choice made at
 * a later position (choices of one scheduling step, such as which CPU and then which task,
 * share a position; each shows the events of the whole step).
 */
export function segmentEnd(steps: readonly ScheduleStep[], i: number, events: number): number {
  const at = steps[i]!.at;
  let j = i + 1;
  while (j < steps.length && steps[j]!.at <= at) j++;
  const next = steps[j];
  return Math.min(next === undefined ? events : next.at, events) - 1;
}

function describeStep(s: ScheduleStep): string {
  if (s.kind === 'cpu')
    return `cpu choice: cpu${s.cpus?.[s.value] ?? s.value} steps (eligible ${s.cpus === undefined ? s.n : s.cpus.map((c) => `cpu${c}`).join(', ')})`;
  if (s.kind === 'preempt') return s.value === 1 ? 'preemption point: PREEMPTED' : 'preemption point: not preempted';
  if (s.kind === 'task') return `task choice: runqueue entry ${s.value} of ${s.n}`;
  if (s.kind === 'memory')
    return s.value === 0
      ? `memory choice: the load reads the newest of ${s.n} stores`
      : `memory choice: STALE read, ${s.value} store${s.value === 1 ? '' : 's'} older than the newest`;
  if (s.kind === 'irq') return s.value === 1 ? 'interrupt: the timer tick ARRIVES' : 'interrupt: no tick';
  if (s.kind === 'nmi') return s.value === 1 ? 'NMI: an NMI ARRIVES' : 'NMI: none';
  if (s.kind === 'ipi') return s.value === 1 ? 'IPI: the pending inter-processor interrupt ARRIVES' : 'IPI: not yet';
  if (s.kind === 'evict') return s.value === 0 ? `reclaim: no page evicted (${s.n - 1} resident)` : `reclaim: resident page ${s.value} of ${s.n - 1} EVICTED`;
  return s.value === 1 ? 'fault injection: the allocation FAILS' : 'fault injection: no fault';
}

/**
 * Steps through a counterexample's schedule, one choice at a time: each step shows the state
 * after the events that choice led to (up to the next choice). Preemptions are marked; the
 * replay string can be copied. `step` is written only by `go`.
 */
export class Stepper {
  private step = -1;
  private readonly label: HTMLElement;
  private readonly chips: HTMLElement;

  constructor(
    private readonly root: HTMLElement,
    private readonly cx: Counterexample,
    private readonly events: number,
    private readonly onSelect: (seq: number) => void,
  ) {
    root.setAttribute('data-stepper', '');
    root.setAttribute('data-steps', String(cx.steps.length));
    root.setAttribute('data-step', '-1');
    root.innerHTML = `
      <div class="stepper-head"><b>Counterexample</b> ${esc(cx.scenario)} --variant ${esc(cx.variant)}: ${cx.steps.length} choices, ${cx.preemptions} preemption(s)
        <label class="replay">replay string <input readonly value="${esc(cx.replay)}" data-replay size="40"></label><button data-copy>copy</button></div>
      <div class="stepper-controls"><button data-go="first" title="first choice">|◀</button><button data-go="prev" title="previous choice">◀</button><button data-go="next" title="next choice">▶</button><button data-go="last" title="last choice">▶|</button><button data-go="next-preemption" title="next preemption">next preemption ▶▶</button><span class="step-label"></span></div>
      <div class="chips">${cx.steps.map((s, i) => `<span class="chip ${s.kind}${s.preemption ? ' preemption' : ''}${s.explicit ? '' : ' implicit'}" data-step-index="${i}" title="${esc(`#${i + 1} ${describeStep(s)} (seq ${s.at})`)}">${s.preemption ? 'P' : s.kind[0]}</span>`).join('')}</div>`;
    this.label = root.querySelector('.step-label')!;
    this.chips = root.querySelector('.chips')!;
    root.querySelector('[data-copy]')!.addEventListener('click', () => {
      const input = root.querySelector('[data-replay]') as HTMLInputElement;
      input.select();
      void navigator.clipboard?.writeText(cx.replay).catch(() => undefined);
    });
    root.querySelector('.stepper-controls')!.addEventListener('click', (ev) => {
      const go = (ev.target as HTMLElement).closest('[data-go]')?.getAttribute('data-go');
      if (go === 'first') this.go(0);
      else if (go === 'prev') this.go(Math.max(0, this.step - 1));
      else if (go === 'next') this.go(Math.min(cx.steps.length - 1, this.step + 1));
      else if (go === 'last') this.go(cx.steps.length - 1);
      else if (go === 'next-preemption') {
        const next = cx.steps.findIndex((s, i) => i > this.step && s.preemption);
        if (next >= 0) this.go(next);
      }
    });
    this.chips.addEventListener('click', (ev) => {
      const i = (ev.target as HTMLElement).getAttribute('data-step-index');
      if (i !== null) this.go(Number(i));
    });
  }

  /** The last event of a step's segment: the events from its choice up to the next choice made later in the log. */
  segmentEnd(i: number): number {
    return segmentEnd(this.cx.steps, i, this.events);
  }

  go(i: number): void {
    const s = this.cx.steps[i];
    if (s === undefined) return;
    this.step = i;
    this.root.setAttribute('data-step', String(i));
    this.chips.querySelector('.chip.current')?.classList.remove('current');
    this.chips.querySelector(`[data-step-index="${i}"]`)?.classList.add('current');
    const end = this.segmentEnd(i);
    this.label.innerHTML = `choice ${i + 1} of ${this.cx.steps.length} at seq ${s.at}: ${esc(describeStep(s))}${s.preemption ? ' <b class="pre">preemption</b>' : ''}${s.explicit ? '' : ' <span class="muted">(past the replay string: default)</span>'} → state after seq ${end}`;
    this.onSelect(Math.max(0, end));
  }
}
