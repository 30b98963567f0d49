/**
 * Freeing an optimized kprobe's detour buffer (SEMANTICS.md §4.2, "Optimized kprobes"; thread
 * 003 names optimized kprobes beside ftrace trampolines). The scenario lives with its plugin in
 * `@tracelab/kprobes` (its `sourceModule` points there, so worker threads import it from
 * there); the catalog lists it under `optprobe-free`.
 */
export { scenario as optprobeFree } from '@tracelab/kprobes/scenario';
