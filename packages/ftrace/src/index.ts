/**
 * @tracelab/ftrace: ftrace function tracing as a tracelab plugin: mcount sites patched between
 * the nop, the list caller and per-ops dynamic trampolines, and a DYNAMIC ops' trampoline freed
 * only after its sites are unpatched and an RCU-tasks grace period ("[PATCH v3 tip/core/rcu
 * 3/9] rcu: Add synchronous grace-period waiting for RCU-tasks", 2014). See the package README
 * for the options, API, events and invariants, and docs/ftrace.md for the design.
 */
import './events.js';

export { FTRACE_INVARIANTS, FTRACE_LOCK, FTRACE_VERSION, TICK_FUNCTION, ftrace, type FtraceOptions } from './internal/plugin.js';
export { FGRAPH_ARRAY_SIZE, FTRACE_RETFUNC_DEPTH } from './internal/constants.js';
export { IDLE_FUNCTIONS } from './internal/registry.js';
export { DEFAULT_TRACED_FUNCTIONS, formatFtraceSummary, functionTracer, summarizeFtrace } from './session.js';
export type { FtraceOpsSummary, FtraceSummary, FunctionTracerOptions } from './session.js';
export type {
  BpfTrampolineSpec,
  FgraphEntryTrace,
  FgraphFrameState,
  FgraphOps,
  FgraphOpsState,
  FgraphReturnTrace,
  FreeTrampolineAfter,
  FtraceApi,
  FtraceDirectEntryState,
  FtraceDirectOps,
  FtraceDirectTrampoline,
  FtraceFunc,
  FtraceOps,
  FtraceOpsCmd,
  FtraceOpsFlag,
  FtraceOpsFunc,
  FtraceRegs,
  FtraceOpsStateFlag,
  FtraceOpsState,
  FtraceRecordState,
  FtraceReport,
  FtraceSite,
  FtraceState,
  FtraceTarget,
  FtraceTrampolineState,
  IdleTrampolines,
  ResolvedFtraceOptions,
} from './events.js';
