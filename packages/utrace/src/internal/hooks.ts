import type { PluginContext } from '@tracelab/core';
import { TIF_NOTIFY_RESUME, TIF_SYSCALL_TRACE } from '../constants.js';
import type { UtraceState } from '../events.js';
import {
  tracehookGetSignal,
  tracehookNotifyResume,
  tracehookReportClone,
  tracehookReportCloneComplete,
  tracehookReportDeath,
  tracehookReportExec,
  tracehookReportExit,
  tracehookReportSyscallEntry,
  tracehookReportSyscallExit,
  utraceForkDup,
  utraceReleaseTask,
} from '../tracehook.js';
import type { Utrace } from './state.js';

/**
 * Wiring: each tracehook of ../tracehook.ts on the core hook it stands for. The syscall hooks
 * run only for tasks with TIF_SYSCALL_TRACE, utrace_resume's only for TIF_NOTIFY_RESUME
 * (priority 0: after the other syscall-exit handlers, as do_notify_resume comes last).
 */
export function tapHooks(ctx: PluginContext<UtraceState>, ut: Utrace): void {
  ctx.tap('fork', ({ parent, child }) => utraceForkDup(parent, child), { stage: 'dup' });
  ctx.tap('clone', (args) => tracehookReportClone(ut, args));
  ctx.tap('cloneComplete', (args) => tracehookReportCloneComplete(ut, args));
  ctx.tap('syscallEntry', (args) => tracehookReportSyscallEntry(ut, args), { flag: TIF_SYSCALL_TRACE });
  ctx.tap('syscallExit', (args) => tracehookReportSyscallExit(ut, args), { flag: TIF_SYSCALL_TRACE });
  ctx.tap('exec', (args) => tracehookReportExec(ut, args));
  ctx.tap('exit', (args) => tracehookReportExit(ut, args));
  ctx.tap('death', (args) => tracehookReportDeath(ut, args));
  ctx.tap('release', (args) => utraceReleaseTask(ut, args));
  ctx.tap('signal', (args) => tracehookGetSignal(ut, args));
  ctx.tap('syscallExit', (args) => tracehookNotifyResume(ut, args), { flag: TIF_NOTIFY_RESUME, priority: 0 });
}
