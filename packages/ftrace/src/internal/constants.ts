/** The plugin's constants: its version, the names of its lock and invariants, the traced tick function. */

export const FTRACE_VERSION = '0.1.0';

/** The traced function each timer tick's handler calls with `traceTick`. */
export const TICK_FUNCTION = 'update_process_times';

/** The mutex every ftrace update runs under (kernel/trace/ftrace.c's ftrace_lock). */
export const FTRACE_LOCK = 'ftrace_lock';

/** The invariants' names, as violations report them. */
export const FTRACE_INVARIANTS = {
  useAfterFree: 'ftrace/no-trampoline-use-after-free',
  opsUseAfterFree: 'ftrace/no-ops-use-after-free',
  recursion: 'ftrace/no-runaway-recursion',
  recursionContext: 'ftrace/recursion-guard-per-context',
  opMismatch: 'ftrace/trace-function-op',
  wrongFunction: 'ftrace/trampoline-calls-traced-functions',
  refcount: 'ftrace/rec-refcount',
  siteTarget: 'ftrace/site-target',
  fgraphUseAfterFree: 'ftrace/no-fgraph-ops-use-after-free',
  direct: 'ftrace/direct-record',
  ipmodifyBypassed: 'ftrace/ipmodify-bypassed',
} as const;

/** How deep an unguarded callback may re-enter itself before the checker calls it runaway recursion (the kernel would overflow its stack). */
export const RECURSION_LIMIT = 8;

/** The slots of fgraph_array: how many fgraph ops can be registered at once (FGRAPH_ARRAY_SIZE). */
export const FGRAPH_ARRAY_SIZE = 16;

/** The frames a task's shadow return stack holds (FTRACE_RETFUNC_DEPTH); a deeper entry is lost and counted in trace_overrun. */
export const FTRACE_RETFUNC_DEPTH = 50;

/** The mutex of the direct-call API (kernel/trace/ftrace.c's direct_mutex), taken before ftrace_lock. */
export const DIRECT_MUTEX = 'direct_mutex';
