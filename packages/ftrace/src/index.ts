/** @tracelab/ftrace: ftrace function tracing as a tracelab plugin: mcount sites patched between nop, the list caller and per-ops dynamic trampolines freed after an RCU-tasks grace period. (under construction) */
export const FTRACE_VERSION = '0.1.0';
