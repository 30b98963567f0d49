/**
 * @tracelab/kprobes: optimized kprobes (kernel/kprobes.c, arch/x86/kernel/kprobes/opt.c) as a
 * tracelab plugin, as far as its two Tasks-RCU waits: the optimizer writes the jump over the
 * function's first instructions only after synchronize_rcu_tasks (no task preempted between
 * them), and unregistration frees the detour buffer only after another (no task preempted inside
 * it). See the README and docs/kprobes.md.
 */
import './events.js';

export { kprobes, KPROBES_VERSION } from './internal/plugin.js';
export { KPROBES_INVARIANTS } from './internal/reducers.js';
export { KPROBE_MUTEX } from './state.js';
export { UNSAFE_VARIANTS } from './events.js';
export type { KprobeHandler, KprobesApi, KprobesOptions, KprobesUnsafe, ResolvedKprobesOptions } from './events.js';
export type { DetourBufferState, KprobeState, KprobesState } from './state.js';
// The scenario is `@tracelab/kprobes/scenario`, not exported here: it imports @tracelab/explore
// (Node-only), and the plugin must load anywhere a stack does (the viewer's browser page).
