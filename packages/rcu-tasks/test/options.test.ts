import { describe, expect, test } from 'vitest';
import { TracelabError, createKernel } from '@tracelab/core';
import { RCU_TASKS_VERSION, rcuTasks } from '@tracelab/rcu-tasks';

describe('rcuTasks(options)', () => {
  test('is a plugin named rcu-tasks whose API is kernel.api["rcu-tasks"], with the resolved options recorded', () => {
    const p = rcuTasks({ hz: 100 });
    expect(p.name).toBe('rcu-tasks');
    expect(p.version).toBe(RCU_TASKS_VERSION);
    expect(p.options).toEqual({ hz: 100, stallTimeout: 60_000, quiescentOnPreempt: false, traceQuiescentOnSwitch: false, checks: true, livenessBound: 10_000 });
    const k = createKernel({ plugins: [p] });
    expect(typeof k.api['rcu-tasks'].callRcuTasks).toBe('function');
    const reg = k.log.find((e) => e.type === 'kernel/plugin-registered' && e.name === 'rcu-tasks');
    expect(reg).toMatchObject({ options: { hz: 100 } });
    expect(k.state.plugins['rcu-tasks']?.tasks.kthread).toBeNull();
  });

  test.each([
    [{ hz: 0 }, /hz must be an integer from 1/],
    [{ hz: 1.5 }, /hz must be an integer/],
    [{ stallTimeout: -1 }, /^rcu-tasks: option stallTimeout must be an integer >= 0, got -1$/],
    [{ quiescentOnPreempt: 'yes' }, /quiescentOnPreempt must be a boolean/],
    [{ livenessBound: 0 }, /livenessBound/],
    [{ exitTasks: 'all' }, /option exitTasks must be .*'scan-unlisted'.*'exit-srcu'.*'listed-only'.*got/],
    [{ skipSecondSync: 1 }, /skipSecondSync must be a boolean/],
    [{ stallTimout: 5 }, /unknown option "stallTimout" \(known options: hz, stallTimeout/],
    [null, /options must be an object, got null/],
    [[], /options must be an object, got an array/],
  ])('refuses %j with INVALID_OPTION', (options, message) => {
    let err: unknown;
    try {
      rcuTasks(options as never);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TracelabError);
    expect((err as TracelabError).code).toBe('INVALID_OPTION');
    expect((err as Error).message).toMatch(message);
  });
});
