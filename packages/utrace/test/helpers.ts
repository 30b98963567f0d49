/* eslint-disable require-yield -- engine callbacks are kernel paths (generators) even when they take no scheduling point */
import { SIGSTOP, type Kernel, type KPath, type Program } from '@tracelab/core';
import { UTRACE_ATTACH_CREATE, UTRACE_STOP, type UtraceApi, type UtraceEngine, type UtraceEngineOps } from '@tracelab/utrace';

/** A task that sleeps first (so a tracer can attach), then makes `n` syscalls. */
export function worker(n: number, pause = 5): Program {
  return function* worker(u) {
    yield u.sleep(pause);
    for (let i = 0; i < n; i++) {
      yield u.syscall('open', { path: `/etc/file${i}`, flags: 0 });
      yield u.syscall('getpid');
    }
  };
}

/** A task that sleeps a long time in small steps (a target that stays alive while tests poke it). */
export const sleeper: Program = function* sleeper(u) {
  for (let i = 0; i < 50; i++) yield u.sleep(2);
};

/** Records every callback it gets as `name:event`; returns what `ret` says. */
export function recorder(name: string, calls: string[], ret: (cb: string) => number = () => 5): UtraceEngineOps<{ name: string }> {
  return {
    name,
    *reportQuiesce(_a, _e, event) {
      calls.push(`${name}:quiesce(${event})`);
      return ret('quiesce');
    },
    *reportSyscallEntry(_a, _e, regs) {
      calls.push(`${name}:entry(${regs.syscall})`);
      return ret('entry');
    },
    *reportSyscallExit(_a, _e, regs) {
      calls.push(`${name}:exit(${regs.syscall})`);
      return ret('exit');
    },
    *reportClone(_a, _e, _f, child) {
      calls.push(`${name}:clone(${child})`);
      return ret('clone');
    },
    *reportExec(_a, _e, _fmt, bprm) {
      calls.push(`${name}:exec(${bprm.filename})`);
      return ret('exec');
    },
    *reportExit(_a, _e, code) {
      calls.push(`${name}:exit-code(${code})`);
      return ret('exit-code');
    },
    *reportDeath(_e, _g, sig) {
      calls.push(`${name}:death(${sig})`);
      return ret('death');
    },
    *reportReap(_e, task) {
      calls.push(`${name}:reap(${task})`);
    },
  };
}

/** Runs a kernel path to completion in a kernel thread. */
export function call<T>(k: Kernel, path: KPath<T>): T {
  return k.call(path, { comm: 'tracer' });
}

export function api(k: Kernel): UtraceApi {
  return k.api.utrace;
}

/** Attaches an engine with `ops` to `pid` and sets its event mask; throws on any errno. */
export function* attachWith(api: UtraceApi, pid: number, ops: UtraceEngineOps<any>, mask: number): KPath<UtraceEngine> {
  const e = yield* api.attachTask(pid, UTRACE_ATTACH_CREATE, ops, null);
  if (typeof e === 'number') throw new Error(`attach failed: ${e}`);
  const r = yield* api.setEvents(pid, e, mask);
  if (r !== 0) throw new Error(`setEvents failed: ${r}`);
  return e;
}

/** An engine that holds its task stopped at every quiescent point. */
export const holdOps: UtraceEngineOps<any> = {
  name: 'hold',
  *reportQuiesce() {
    return UTRACE_STOP;
  },
};

/** Stops itself with SIGSTOP (a job-control stop), then makes a syscall and exits 0. */
export const selfStopper: Program = function* selfStopper(u) {
  const me = (yield u.syscall('getpid')) as number;
  yield u.kill(me, SIGSTOP);
  yield u.syscall('getppid');
  yield u.exit(0);
};

/** A task that sends `sig` to `pid` and exits. */
export function sender(pid: number, sig: number): Program {
  return function* sender(u) {
    yield u.kill(pid, sig);
    yield u.exit(0);
  };
}
