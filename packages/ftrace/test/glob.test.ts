import { describe, expect, it } from 'vitest';
import { EINVAL, TracelabError } from '@tracelab/core';
import { globMatch, expandFilter } from '../src/internal/glob.js';
import { kernelWith } from '@tracelab/testing';
import { counter, ftraceStack, worker } from './helpers.js';

describe('set_ftrace_filter patterns (glob_match)', () => {
  it('matches *, ? and [..] classes over the whole name, as the kernel does', () => {
    expect(globMatch('sys_*', 'sys_getpid')).toBe(true);
    expect(globMatch('sys_*', 'do_sys_open')).toBe(false);
    expect(globMatch('*_open', 'do_sys_open')).toBe(true);
    expect(globMatch('*sys*', 'do_sys_open')).toBe(true);
    expect(globMatch('sys_get?id', 'sys_getpid')).toBe(true);
    expect(globMatch('sys_get?id', 'sys_getppid')).toBe(false);
    expect(globMatch('sys_get[pt]id', 'sys_gettid')).toBe(true);
    expect(globMatch('sys_get[!p]id', 'sys_getpid')).toBe(false);
    expect(globMatch('sys_[a-f]*', 'sys_exit_group')).toBe(true);
    expect(globMatch('sys_[a-f]*', 'sys_read')).toBe(false);
    expect(globMatch('*', '')).toBe(true);
    expect(globMatch('a*b*c', 'aXbYc')).toBe(true);
    expect(globMatch('a*b*c', 'aXbY')).toBe(false);
  });

  it('expands entries in order; ! removes what the entries before it selected; an entry that matches nothing is reported', () => {
    const known = ['sys_getpid', 'sys_getppid', 'sys_read', 'do_sys_open'];
    expect(expandFilter(['sys_get*'], known)).toEqual({ names: ['sys_getpid', 'sys_getppid'] });
    expect(expandFilter(['sys_*', '!sys_getppid'], known)).toEqual({ names: ['sys_getpid', 'sys_read'] });
    expect(expandFilter(['sys_nope*'], known)).toEqual({ unmatched: 'sys_nope*' });
    expect(expandFilter(['!sys_nothing'], known)).toEqual({ unmatched: '!sys_nothing' });
    // A plain name is taken as it is: the site is declared if nothing called it yet.
    expect(expandFilter(['brand_new'], known)).toEqual({ names: ['brand_new'] });
  });
});

describe('ftraceSetFilter and ops.filter take patterns', () => {
  it("'sys_getp*' traces exactly the functions it matched when it was set", () => {
    const k = kernelWith({ plugins: ftraceStack(), seed: 3 });
    const api = k.api.ftrace;
    // Define the syscalls first: a pattern selects among the functions defined when it is set.
    k.spawn(worker(4));
    k.run();
    const c = counter();
    const ops = { func: c.func, flags: ['DYNAMIC' as const] };
    expect(k.call(api.ftraceSetFilter(ops, ['sys_getp*']))).toBe(0);
    expect(k.call(api.registerFtraceFunction(ops))).toBe(0);
    k.spawn(worker(6));
    k.run();
    expect([...c.calls.keys()].sort()).toEqual(['sys_getpid', 'sys_getppid']);
    // Negation: everything sys_getp* but sys_getppid.
    expect(k.call(api.ftraceSetFilter(ops, ['sys_getp*', '!sys_getppid']))).toBe(0);
    c.calls.clear();
    k.spawn(worker(6));
    k.run();
    expect([...c.calls.keys()]).toEqual(['sys_getpid']);
    expect(k.call(api.unregisterFtraceFunction(ops))).toBe(0);
  });

  it('a pattern that matches no function fails with -EINVAL and leaves the filter as it was', () => {
    const k = kernelWith({ plugins: ftraceStack(), seed: 4 });
    const api = k.api.ftrace;
    k.spawn(worker(2));
    k.run();
    const c = counter();
    const ops = { func: c.func, filter: ['sys_getpid'] };
    expect(k.call(api.registerFtraceFunction(ops))).toBe(0);
    expect(k.call(api.ftraceSetFilter(ops, ['sys_no_such_*']))).toBe(-EINVAL);
    expect(k.log.some((e) => e.type === 'kernel/printk' && /sys_no_such_\*.*matches no function/.test(e.text))).toBe(true);
    k.spawn(worker(4));
    k.run();
    expect([...c.calls.keys()]).toEqual(['sys_getpid']);
    // The same at registration, for a pattern in the ops' own filter.
    const bad = { func: counter().func, filter: ['nothing_like_this*'] };
    expect(k.call(api.registerFtraceFunction(bad))).toBe(-EINVAL);
  });

  it('refuses entries that are neither names nor patterns with INVALID_OPTION', () => {
    const k = kernelWith(ftraceStack());
    const ops = { func: counter().func };
    for (const bad of [['sys getpid'], ['!'], [''], [42]]) {
      let err: unknown;
      try {
        k.api.ftrace.ftraceSetFilter(ops, bad as never);
      } catch (e) {
        err = e;
      }
      expect(err, JSON.stringify(bad)).toBeInstanceOf(TracelabError);
      expect((err as TracelabError).code).toBe('INVALID_OPTION');
    }
  });
});
