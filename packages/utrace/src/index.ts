/** @tracelab/utrace: utrace engines as a tracelab plugin: per-task engines with event masks, report callbacks, resume actions folded by minimum, stop/resume, detach and utrace_barrier, death and reap ordering. (under construction) */
export const UTRACE_VERSION = '0.1.0';
