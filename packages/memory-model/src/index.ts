/**
 * @tracelab/memory-model: the kernel's memory ordering for tracelab. Two parts:
 * - `memoryModel()`, a plugin whose kernel paths (`readOnce`, `writeOnce`, `smpMb`, ...) run on
 *   a weak memory where which store a load sees is a choice of the kernel's strategy;
 * - `parseLitmus` / `runLitmus`, a litmus-test checker for the C dialect of the kernel's
 *   tools/memory-model/litmus-tests that answers with the Linux-kernel memory model's verdict.
 * See the package README and docs/memory-model.md.
 */
export { parseLitmus } from './internal/litmus-parse.js';
export type { Cond, Expr, FenceKind, LitmusTest, LitmusThread, Stmt, Value } from './internal/litmus-ast.js';
export { runLitmus } from './internal/litmus-run.js';
export type { LitmusExecution, LitmusOutcome, LitmusVerdict, RunLitmusOptions } from './internal/litmus-run.js';
export { checkLkmm } from './internal/lkmm.js';
export type { Axiom, Candidate, Ev } from './internal/lkmm.js';

export { memoryModel, MEMORY_MODEL_VERSION } from './plugin.js';
export type { AccessKind, FenceName, LockFence, MemValue, MemoryModelApi, MemoryModelOptions, MemoryModelState, RmwOrder } from './events.js';
export { findKernelWitness, runLitmusOnKernel } from './internal/litmus-kernel.js';
export type { KernelLitmusRun } from './internal/litmus-kernel.js';
export { evalCond } from './internal/litmus-run.js';
export { conformance, conformanceMarkdown, KERNEL_RENAMES } from './internal/conformance.js';
export type { ConformanceRow, ConformanceSummary, Counts } from './internal/conformance.js';
