import { copyFromUser, emit, type KPath } from '@tracelab/core';
import {
  UTRACE_ATTACH_CREATE,
  UTRACE_ATTACH_EXCLUSIVE,
  UTRACE_ATTACH_MATCH_OPS,
  UTRACE_DETACH,
  UTRACE_EVENT_CLONE,
  UTRACE_EVENT_QUIESCE,
  UTRACE_EVENT_REAP,
  UTRACE_EVENT_SIGNAL_ALL,
  UTRACE_EVENT_SYSCALL_ENTRY,
  UTRACE_EVENT_SYSCALL_EXIT,
  UTRACE_INTERRUPT,
  UTRACE_RESUME,
  UTRACE_SIGNAL_DELIVER,
  UTRACE_SIGNAL_IGN,
  UTRACE_SIGNAL_REPORT,
  UTRACE_STOP,
  utraceSignalAction,
} from './constants.js';
import type { UtraceApi, UtraceEngine, UtraceEngineOps } from './events.js';
import { detachEngine } from './detach.js';

// ---- the syscall logger (strace) --------------------------------------------------------------

/** Arguments that are user pointers to strings, by syscall: the logger reads them (and may fault). */
const STRING_ARGS: Readonly<Record<string, readonly string[]>> = { open: ['path'], stat: ['path'], execve: ['filename'], write: ['buf'] };

/** The syscall logger's private data (engine->data), shared by the engines it attaches to children. */
export interface SyscallLoggerData {
  /** Attach to every child forked by a traced task (strace -f). */
  readonly follow: boolean;
  /** The call text of each traced task's syscall in progress, by pid. Written only by that task's callbacks. */
  readonly pending: Map<number, string>;
  /** Every finished line, in order: `[pid 3] open("/src/main.c") = 3`. */
  readonly lines: string[];
  /** Engines the logger attached itself (followed children): it puts their reference at report_reap. */
  readonly own: Set<number>;
}

function* formatCall(name: string, args: Readonly<Record<string, number>>): KPath<string> {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(args)) {
    if (STRING_ARGS[name]?.includes(k) === true) {
      // copy_from_user from the traced task's memory: a scheduling point, and a page fault
      // (a sleep) when the page is not resident. This is the window a detaching tracer races.
      const len = name === 'write' ? Math.min(32, args['count'] ?? 32) : 256;
      const r = yield* copyFromUser(v, len);
      parts.push(JSON.stringify(r.data));
    } else {
      parts.push(`${k}=${v}`);
    }
  }
  return `${name}(${parts.join(', ')})`;
}

/**
 * The strace-like engine's ops: report_syscall_entry reads the arguments (strings from user
 * memory), report_syscall_exit writes the line (`utrace/syscall-log`); with `follow`,
 * report_clone attaches the same ops and data to the child; report_reap puts the references of
 * the engines it attached. Every return is UTRACE_RESUME: it only watches.
 */
export function syscallLoggerOps(api: UtraceApi): UtraceEngineOps<SyscallLoggerData> {
  return {
    name: 'syscall-logger',
    *reportSyscallEntry(_action, engine, regs) {
      const text = yield* formatCall(regs.syscall ?? '?', regs.args);
      engine.data.pending.set(regs.pid, text);
      return UTRACE_RESUME;
    },
    *reportSyscallExit(_action, engine, regs) {
      const call = engine.data.pending.get(regs.pid) ?? `${regs.syscall ?? '?'}()`;
      engine.data.pending.delete(regs.pid);
      const text = `${call} = ${regs.ret ?? '?'}`;
      engine.data.lines.push(`[pid ${regs.pid}] ${text}`);
      yield* emit({
        type: 'utrace/syscall-log',
        pid: regs.pid,
        engine: engine.id,
        name: regs.syscall ?? '?',
        args: { ...regs.args },
        ret: regs.ret ?? 0,
        text,
      });
      return UTRACE_RESUME;
    },
    *reportClone(_action, engine, _cloneFlags, child) {
      if (!engine.data.follow) return UTRACE_RESUME;
      const e = yield* api.attachTask(child, UTRACE_ATTACH_CREATE, engine.ops, engine.data);
      if (typeof e === 'number') return UTRACE_RESUME;
      engine.data.own.add(e.id);
      yield* api.setEvents(child, e, LOGGER_EVENTS);
      return UTRACE_RESUME;
    },
    *reportReap(engine) {
      if (engine.data.own.delete(engine.id)) yield* api.enginePut(engine);
    },
  };
}

const LOGGER_EVENTS = UTRACE_EVENT_SYSCALL_ENTRY | UTRACE_EVENT_SYSCALL_EXIT | UTRACE_EVENT_CLONE | UTRACE_EVENT_REAP;

/** Placeholder name for the ops a kernel's `syscallLoggerOps(api)` returns (for matching by name). */
export const SYSCALL_LOGGER_OPS = 'syscall-logger';

/**
 * Attaches the syscall logger to `pid` and asks for syscall entry/exit (and clone, reap).
 * Returns the engine (the caller holds one reference: detach it with `detachEngine`), or the
 * negative errno of attachTask/setEvents.
 */
export function* attachSyscallLogger(
  api: UtraceApi,
  pid: number,
  options: { follow?: boolean; ops?: UtraceEngineOps<SyscallLoggerData> } = {},
): KPath<UtraceEngine<SyscallLoggerData> | number> {
  const data: SyscallLoggerData = { follow: options.follow ?? false, pending: new Map(), lines: [], own: new Set() };
  const e = yield* api.attachTask(pid, UTRACE_ATTACH_CREATE, options.ops ?? syscallLoggerOps(api), data);
  if (typeof e === 'number') return e;
  const ret = yield* api.setEvents(pid, e, LOGGER_EVENTS);
  if (ret !== 0) {
    yield* api.control(pid, e, UTRACE_DETACH);
    yield* api.enginePut(e);
    return ret;
  }
  return e;
}

// ---- the ptrace-like engine ----------------------------------------------------------------------

/** The ptrace engine's data: one per tracee. */
export interface PtraceData {
  /** The signal of the last stop (0 before any). */
  stopSig: number;
  /** Signal stops so far. */
  stops: number;
  /** The signal PTRACE_CONT asked to deliver on resume (0: none). Written by the controller. */
  resumeSig: number;
}

/**
 * ptrace as a utrace engine: attached exclusively (CREATE|EXCLUSIVE|MATCH_OPS, one per tracee);
 * every signal stops the tracee (UTRACE_STOP | UTRACE_SIGNAL_IGN, the signal kept in the data);
 * the controller resumes it with `ptraceCont(sig)`, which is UTRACE_INTERRUPT: the tracee then
 * makes a UTRACE_SIGNAL_REPORT pass in which this engine delivers `sig` or nothing.
 */
export const PTRACE_OPS: UtraceEngineOps<PtraceData> = {
  name: 'ptrace',
  // eslint-disable-next-line require-yield -- a callback is a kernel path even when it takes no scheduling point
  *reportQuiesce() {
    return UTRACE_RESUME;
  },
  *reportSignal(action, engine, _regs, info) {
    const d = engine.data;
    if (utraceSignalAction(action) === UTRACE_SIGNAL_REPORT) {
      const sig = d.resumeSig;
      d.resumeSig = 0;
      if (sig === 0) return UTRACE_RESUME | UTRACE_SIGNAL_IGN;
      info.signo = sig;
      return UTRACE_RESUME | UTRACE_SIGNAL_DELIVER;
    }
    d.stopSig = info.signo;
    d.stops += 1;
    yield* emit({ type: 'utrace/ptrace-stop', pid: _regs.pid, engine: engine.id, sig: info.signo });
    return UTRACE_STOP | UTRACE_SIGNAL_IGN;
  },
};

/** PTRACE_ATTACH: returns the engine, or -EEXIST if the task is already ptraced, or attach's errno. */
export function* ptraceAttach(api: UtraceApi, pid: number): KPath<UtraceEngine<PtraceData> | number> {
  const e = yield* api.attachTask(pid, UTRACE_ATTACH_CREATE | UTRACE_ATTACH_EXCLUSIVE | UTRACE_ATTACH_MATCH_OPS, PTRACE_OPS, {
    stopSig: 0,
    stops: 0,
    resumeSig: 0,
  });
  if (typeof e === 'number') return e;
  const ret = yield* api.setEvents(pid, e, UTRACE_EVENT_SIGNAL_ALL | UTRACE_EVENT_QUIESCE);
  if (ret !== 0) {
    yield* api.control(pid, e, UTRACE_DETACH);
    yield* api.enginePut(e);
    return ret;
  }
  return e;
}

/** PTRACE_CONT: resume a stopped tracee, delivering `sig` (0: none). Returns utrace_control's result. */
export function* ptraceCont(api: UtraceApi, pid: number, engine: UtraceEngine<PtraceData>, sig = 0): KPath<number> {
  engine.data.resumeSig = sig;
  return yield* api.control(pid, engine, UTRACE_INTERRUPT);
}

/** PTRACE_DETACH: detach safely (`detachEngine`: the barrier, the exit and reap handled) and drop the reference. Returns control's result. */
export function* ptraceDetach(api: UtraceApi, pid: number, engine: UtraceEngine<PtraceData>): KPath<number> {
  return yield* detachEngine(api, pid, engine);
}
