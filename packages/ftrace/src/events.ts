import type { KPath } from '@tracelab/core';

/**
 * An ftrace callback (`ftrace_func_t`): called at the entry of every function its ops traces.
 * `ip` is the traced function's name, `parentIp` its caller's ('' at the top of a path). It is
 * plain synchronous code, like the kernel's callbacks (which must not sleep). In the simulation
 * it may instead return a kernel path, which the trampoline or the list caller runs to its end
 * before going on (a tracer writing into a ring buffer: `kernel.api['ring-buffer'].functionEntry`);
 * such a path must not sleep either. The host fast path (`site(name).call`) ignores the path.
 */
export type FtraceFunc = (ip: string, parentIp: string, ops: FtraceOps, regs?: FtraceRegs) => void | KPath<void>;

/**
 * The saved registers a callback is handed (`struct ftrace_regs`), reduced to the one an
 * IPMODIFY ops changes: the instruction pointer the call resumes at. `ip` starts as the traced
 * function; `setIp(name)` (an ops with IPMODIFY only, as a live patch's klp_ftrace_handler does)
 * makes the call run `name`'s body instead of the traced function's. Passed by the simulated
 * paths (list function, trampolines, ftrace_caller); the host fast path passes none.
 */
export interface FtraceRegs {
  readonly ip: string;
  /**
   * Redirects the call to `name`'s body. Throws TracelabError FTRACE_SET_IP_INVALID for an ops
   * without IPMODIFY, a call outside its callback, or a name that is not a function name (in a
   * callback, the throw is a callback fault).
   */
  setIp(name: string): void;
}

/**
 * The commands ftrace sends a direct ops through its `opsFunc` (`enum ftrace_ops_cmd`) when it
 * shares a function with an IPMODIFY ops: `enable-share-ipmodify-self` while the direct ops
 * registers on a function an IPMODIFY ops already traces, `enable-share-ipmodify-peer` before an
 * IPMODIFY ops registers on a function the direct ops traces, `disable-share-ipmodify-peer`
 * after that IPMODIFY ops is unregistered.
 */
export type FtraceOpsCmd = 'enable-share-ipmodify-self' | 'enable-share-ipmodify-peer' | 'disable-share-ipmodify-peer';

/**
 * A direct ops' `ops_func` (`ftrace_ops_func_t`): told `cmd` for function `ip`, returns 0 if the
 * direct trampoline can (now) share the function with the IPMODIFY ops, or a negative errno that
 * ftrace passes back to the registering caller. It may be plain code or a kernel path (BPF's
 * rebuilds its trampoline); it runs under direct_mutex, and ftrace_lock on register (for
 * `-self`; a modify asks `-self` under direct_mutex only). It must answer 0 or a negative errno:
 * anything else, or a throw, is a callback fault (`ftrace/callback-fault`) counted as -EINVAL.
 */
export type FtraceOpsFunc = (cmd: FtraceOpsCmd, ip: string) => number | KPath<number>;

/**
 * `FTRACE_OPS_FL_*` flags a caller may set. `DYNAMIC`: the ops is not core kernel data (it was
 * allocated, as perf and trace instances do), so it may be freed after it is unregistered, and
 * so may the trampoline allocated for it.
 */
export type FtraceOpsFlag = 'DYNAMIC' | 'SAVE_REGS' | 'IPMODIFY' | 'RECURSION' | 'RCU';

/** The flags the state and the log show for an ops: a caller's, plus `DIRECT` (and `SAVE_REGS`) that register_ftrace_direct sets on a direct ops. */
export type FtraceOpsStateFlag = FtraceOpsFlag | 'DIRECT';

/** What a caller registers (`struct ftrace_ops`). ftrace copies the fields at registration. */
export interface FtraceOps {
  readonly func: FtraceFunc;
  /** Functions to trace; empty or absent means every function (an empty filter hash). */
  readonly filter?: readonly string[];
  /** Functions never to trace, even if the filter admits them. */
  readonly notrace?: readonly string[];
  readonly flags?: readonly FtraceOpsFlag[];
  /** A name for the log; default the callback's name. */
  readonly label?: string;
}

/**
 * A direct trampoline (what BPF's trampoline image is to ftrace): caller-owned code that a
 * site calls instead of ftrace_caller, `register_ftrace_direct`'s `addr`. Its `func` is what the
 * code does (the attached BPF programs), called with the traced function and its caller. It is
 * plain synchronous code, or returns a kernel path that must not sleep (as `FtraceFunc`).
 * ftrace knows the object by identity; the caller frees it with `bpfTrampImagePut`.
 */
export interface FtraceDirectTrampoline {
  readonly func: (ip: string, parentIp: string) => void | KPath<void>;
  /** A name for the log; default the function's name. */
  readonly label?: string;
  /**
   * BPF_TRAMP_F_CALL_ORIG: the trampoline calls the traced function itself (fexit and
   * fmod_ret programs), after `func`, and returns to the traced function's caller. Default false:
   * it returns into the traced function (fentry programs only).
   */
  readonly callOrig?: boolean;
  /**
   * BPF_TRAMP_F_ORIG_STACK, with `callOrig`: the call goes through the return address the
   * trampoline was entered with (the instruction pointer an IPMODIFY callback may have changed),
   * not to the traced function's own body (`orig_call`). Default false.
   */
  readonly origStack?: boolean;
}

/**
 * A direct ops (`struct ftrace_ops` handed to register_ftrace_direct): the functions whose
 * sites call the direct trampoline. ftrace sets its func (call_direct_funcs) and its flags
 * (DIRECT, SAVE_REGS); `DYNAMIC` says the ops is allocated (BPF's fops is), so unregistering it
 * waits as for any DYNAMIC ops.
 */
export interface FtraceDirectOps {
  /** The functions to call the direct trampoline from; must not be empty (-EINVAL). */
  readonly filter: readonly string[];
  readonly flags?: readonly 'DYNAMIC'[];
  /** A name for the log; default `direct`. */
  readonly label?: string;
  /**
   * `ops->ops_func`: how ftrace asks this direct ops to share a function with an IPMODIFY ops.
   * Absent: registering the direct ops on a function an IPMODIFY ops traces, or an IPMODIFY ops
   * on one of its functions, fails with -EBUSY (docs/ftrace.md, decision 12).
   */
  readonly opsFunc?: FtraceOpsFunc;
}

/**
 * A BPF program linked to the BPF trampoline (`struct bpf_trampoline`) of one function
 * (`bpfTrampolineLink`, a bpf_tramp_link), known by identity. Every program linked to a function
 * runs in its trampoline's image; one fexit or fmod_ret program among them makes the image call
 * the function itself (BPF_TRAMP_F_CALL_ORIG). The trampoline's direct ops supplies an `opsFunc`
 * (bpf_tramp_ftrace_ops_func) that rebuilds the image to share the function with a live patch.
 */
export interface BpfTrampolineSpec {
  /** The traced function. */
  readonly func: string;
  /** The program, called with the traced function and its caller. */
  readonly progs: (ip: string, parentIp: string) => void | KPath<void>;
  /** An fexit or fmod_ret program: the trampoline calls the traced function itself. Default false (fentry). */
  readonly fexit?: boolean;
}

/** What an fgraph entry handler is told (`struct ftrace_graph_ent`). */
export interface FgraphEntryTrace {
  /** The traced function. */
  readonly func: string;
  /** Its depth on the task's shadow return stack: 0 for the outermost traced call. */
  readonly depth: number;
}

/** What an fgraph return handler is told (`struct ftrace_graph_ret`). */
export interface FgraphReturnTrace extends FgraphEntryTrace {
  /** The task's `trace_overrun`: entries it could not push because its shadow stack was full. */
  readonly overrun: number;
}

/**
 * A function graph tracer (`struct fgraph_ops`): an entry handler called at the entry of every
 * function its filter admits, and a return handler called when that function returns, if the
 * entry handler returned true. Both are plain synchronous code, like the kernel's.
 */
export interface FgraphOps {
  /** entryfunc: return true to have `ret` called when the function returns. Absent: always true. */
  readonly entry?: (trace: FgraphEntryTrace, gops: FgraphOps) => boolean;
  /** retfunc. */
  readonly ret?: (trace: FgraphReturnTrace, gops: FgraphOps) => void;
  /** Functions to trace (names or set_ftrace_filter patterns); empty or absent: every function defined now. */
  readonly filter?: readonly string[];
  /** A name for the log. */
  readonly label?: string;
}

/** One frame of a task's shadow return stack (`ret_stack`), as the state records it. */
export interface FgraphFrameState {
  /** The traced function whose return address was replaced by return_to_handler. */
  readonly func: string;
  /** The fgraph_array indexes of the ops whose entry handler asked for the return. */
  readonly idx: readonly number[];
  /** Those ops' ids. */
  readonly gops: readonly number[];
}

/** An fgraph ops as the state records it (`state.plugins.ftrace.fgraph[id]`). */
export interface FgraphOpsState {
  readonly label: string;
  /** Its slot in fgraph_array while registered. */
  readonly idx: number;
  /** `freed`: its owner freed it after unregister_ftrace_graph returned. */
  readonly state: 'registered' | 'off' | 'freed';
}

/** Where a site's call goes: the nop, the list caller, or the id of an ops' trampoline. */
export type FtraceTarget = 'nop' | 'list' | number;

/** When a DYNAMIC ops' trampoline is freed, after its sites are unpatched. */
export type FreeTrampolineAfter = 'rcu-tasks' | 'rcu-sched';

/** What a site reachable from the idle loop may call. */
export type IdleTrampolines = 'refuse' | 'allow';

/** An ops as the state records it (`state.plugins.ftrace.ops[id]`). */
export interface FtraceOpsState {
  readonly label: string;
  readonly flags: readonly FtraceOpsStateFlag[];
  readonly filter: readonly string[];
  readonly notrace: readonly string[];
  /**
   * `registered`: on ftrace_ops_list, counted in the records. `removing`: taken off the list by
   * an unregister that has not returned yet (its sites are being unpatched, its trampoline
   * waits for its grace period). `off`: not registered.
   */
  readonly state: 'registered' | 'removing' | 'off';
  /** Its trampoline (allocated or waiting to be freed), or null. */
  readonly trampoline: number | null;
}

/** A `dyn_ftrace` record: one per mcount site ftrace has touched. */
export interface FtraceRecordState {
  /** The low bits of rec->flags: how many registered ops trace this ip. */
  readonly refcount: number;
  /** FTRACE_FL_TRAMP: refcount is 1 and the one ops has a trampoline; that trampoline's id. */
  readonly tramp: number | null;
  /** What the site calls now (updated when it is patched, which can lag the refcount). */
  readonly target: FtraceTarget;
  /**
   * FTRACE_FL_DIRECT: a registered direct ops traces this ip (its direct_functions entry says
   * which direct trampoline). Absent when clear, so records of stacks without direct calls
   * look as they always did.
   */
  readonly direct?: true;
  /** FTRACE_FL_DIRECT_EN: the site is patched to call the direct trampoline itself (set when it is patched). */
  readonly directEn?: true;
}

/** A direct_functions entry: the direct trampoline `ip`'s site jumps to, and the direct ops that added it. */
export interface FtraceDirectEntryState {
  readonly tramp: number;
  readonly ops: number;
}

/** A trampoline's lifecycle. */
export interface FtraceTrampolineState {
  /** The ops it belongs to; for a direct trampoline, the direct ops that first used it. */
  readonly ops: number;
  /** A direct trampoline (a BPF trampoline image, caller-owned), not one ftrace allocated. */
  readonly direct?: true;
  /** A direct trampoline's label. */
  readonly label?: string;
  /** `retired`: no site targets it any more and it waits for its grace period. */
  readonly state: 'allocated' | 'retired' | 'freed';
}

/** What the invariants report (kept in the slice; the first one halts the run). */
export type FtraceReport =
  | { readonly kind: 'freed-in-use'; readonly tramp: number; readonly task: string; readonly direct?: true }
  | {
      readonly kind: 'use-after-free';
      readonly tramp: number;
      readonly task: string;
      readonly ip: string;
      readonly at: 'entry' | 'resume';
      readonly direct?: true;
    }
  | { readonly kind: 'wrong-function'; readonly tramp: number; readonly ops: number; readonly ip: string; readonly task: string }
  | { readonly kind: 'ops-use-after-free'; readonly ops: number; readonly ip: string; readonly task: string }
  | { readonly kind: 'op-mismatch'; readonly ops: number; readonly op: number | null; readonly ip: string; readonly task: string }
  | { readonly kind: 'recursion'; readonly ops: number; readonly ip: string; readonly task: string; readonly depth: number }
  | { readonly kind: 'recursion-lost'; readonly ops: number; readonly ip: string; readonly task: string; readonly context: string; readonly holder: string }
  | { readonly kind: 'fgraph-use-after-free'; readonly gops: number; readonly ip: string; readonly task: string }
  | {
      readonly kind: 'ipmodify-bypassed';
      readonly ip: string;
      readonly body: string;
      readonly redirect: string;
      readonly task: string;
      readonly tramp: number | null;
    };

/** The plugin's slice, `state.plugins.ftrace`. Every field is written only by reducers. */
export interface FtraceState {
  /** Every ops ever registered, by id. guarded by: ftrace_lock (the paths that emit). */
  readonly ops: Readonly<Record<number, FtraceOpsState>>;
  /** The records, by function name. guarded by: ftrace_lock. */
  readonly records: Readonly<Record<string, FtraceRecordState>>;
  /** Every trampoline ever allocated, by id. guarded by: ftrace_lock. */
  readonly trampolines: Readonly<Record<number, FtraceTrampolineState>>;
  /**
   * The tasks executing a trampoline now, by task (`pid`, or `swapper/<cpu>` for an idle
   * task): the stack of trampoline ids they are on. Written by the tasks themselves.
   */
  readonly onTrampoline: Readonly<Record<string, readonly number[]>>;
  /** The update transaction in progress under ftrace_lock (sites being patched), or null. */
  readonly updating: null | { readonly op: 'register' | 'unregister' | 'set-filter'; readonly ops: number; readonly pid: number };
  readonly reports: readonly FtraceReport[];
  /**
   * Every fgraph ops ever registered, by id. guarded by: ftrace_lock (the paths that emit).
   * This and the two fields below appear with the first fgraph event (a stack without the
   * function graph tracer keeps the slice it always had).
   */
  readonly fgraph?: Readonly<Record<number, FgraphOpsState>>;
  /**
   * The shadow return stacks (`ret_stack`) that hold frames, by task (`pid`, or `swapper/<cpu>`),
   * outermost first. Written by the task itself (push at entry, pop at return) and freed at its exit.
   */
  readonly retStacks?: Readonly<Record<string, readonly FgraphFrameState[]>>;
  /** Each task's `trace_overrun`: entries lost to a full shadow stack. Written by the task itself. */
  readonly fgraphOverrun?: Readonly<Record<string, number>>;
  /**
   * direct_functions: for each ip with a direct caller attached, its entry. guarded by:
   * direct_mutex (and ftrace_lock for a modify). Appears with the first direct call.
   */
  readonly directFunctions?: Readonly<Record<string, FtraceDirectEntryState>>;
}

/** A site as the real fast path sees it: `site.call(parentIp)` is what an mcount call does. */
export interface FtraceSite {
  readonly ip: string;
  /** What the site calls now ('direct': a direct trampoline, whose id is `trampoline`). */
  readonly target: 'nop' | 'list' | 'trampoline' | 'direct';
  /** The trampoline's id when `target` is 'trampoline'. */
  readonly trampoline: number | null;
  /**
   * The mcount call: nothing, the list caller (every registered ops whose hashes admit `ip`),
   * or the trampoline (its ops' callback, directly). Synchronous and allocation-free; it emits
   * no event (the simulated path does).
   */
  call(parentIp: string): void;
}

export interface ResolvedFtraceOptions {
  readonly freeTrampolineAfter: FreeTrampolineAfter;
  readonly dynamicTrampolines: boolean;
  readonly traceIdle: boolean;
  readonly traceTick: boolean;
  readonly idleTrampolines: IdleTrampolines;
  readonly checks: boolean;
  readonly listWalk: 'atomic' | 'steps';
  readonly directCaller: boolean;
  readonly slightRaceFix: boolean;
  readonly shutdownWait: 'dynamic' | 'trampoline-only';
  readonly cpuSync: 'tasks-rude' | 'rcu-sched';
  readonly recursionGuard: 'per-context' | 'per-task';
  readonly fgraphReturn: 'fgraph-array' | 'ret-stack-ops';
  readonly directImagePut: 'rcu-tasks' | 'immediate';
  readonly ipmodifyShare: 'ops-func' | 'register-only' | 'skip';
}

export interface FtraceApi {
  readonly options: ResolvedFtraceOptions;
  /**
   * register_ftrace_function: under ftrace_lock, puts `ops` on ftrace_ops_list, raises the
   * refcount of every record it traces, allocates its trampoline (unless refused: see the
   * README), then patches each changed site (a scheduling point between sites). Returns 0, or
   * -EBUSY when this ops object is already registered. An IPMODIFY ops is -EINVAL without
   * SAVE_REGS or with an empty filter, and -EBUSY on a function another IPMODIFY ops traces. A failed trampoline allocation is not
   * an error: the ops works through the list caller. An IPMODIFY ops first tells the direct ops
   * on its functions ENABLE_SHARE_IPMODIFY_PEER under direct_mutex: -EBUSY if one has no
   * opsFunc, or the opsFunc's error.
   */
  registerFtraceFunction(ops: FtraceOps): KPath<number>;
  /**
   * unregister_ftrace_function: takes `ops` off the list, lowers the refcounts, unpatches its
   * sites; for a DYNAMIC ops (trampoline or not), waits (`synchronize_rcu_tasks_rude`, then with
   * the default `freeTrampolineAfter` `synchronize_rcu_tasks`) and frees its trampoline if it has
   * one, all before it returns and all under ftrace_lock. Returns 0, or -ENOENT when `ops` is
   * not registered. Once it returns, no task is on the ops' trampoline or in its callback, so a
   * DYNAMIC ops and its data may be freed; a static ops is not waited for.
   * After an IPMODIFY ops, the direct ops on its functions are told DISABLE_SHARE_IPMODIFY_PEER.
   */
  unregisterFtraceFunction(ops: FtraceOps): KPath<number>;
  /**
   * ftrace_set_filter / ftrace_set_notrace: replaces the ops' hashes. On a registered ops the
   * sites are updated in one transaction that keeps its trampoline (reused, never
   * re-allocated): sites that leave it go to the list caller first. Returns 0; -EINVAL (nothing
   * changed) when an entry matches no function. For an IPMODIFY ops (ftrace_hash_move): -EINVAL
   * for a new notrace set; once registered, -EINVAL for an empty filter and -EBUSY for a new
   * function another IPMODIFY ops traces. A direct ops on a new function is not asked, as upstream.
   */
  ftraceSetFilter(ops: FtraceOps, filter: readonly string[], notrace?: readonly string[]): KPath<number>;
  /**
   * register_ftrace_graph: under ftrace_lock, takes a free slot of fgraph_array (least recently
   * released first), enables the graph caller on every function the filter admits (a
   * scheduling point before each patch), then publishes the ops in its slot. Returns 0; -EBUSY
   * when this object is already registered; -ENOSPC when all FGRAPH_ARRAY_SIZE slots are taken;
   * -EINVAL when a filter entry matches no function.
   */
  registerFtraceGraph(gops: FgraphOps): KPath<number>;
  /**
   * unregister_ftrace_graph: under ftrace_lock, puts fgraph_stub in the ops' slot and disables
   * the graph caller where no other fgraph ops wants it. Frames the ops pushed stay on tasks'
   * shadow stacks: their returns find the stub and skip it, so the caller may free the ops when
   * this returns (and the model's owner does). Returns 0, or -ENOENT when it is not registered
   * (upstream returns nothing).
   */
  unregisterFtraceGraph(gops: FgraphOps): KPath<number>;
  /**
   * register_ftrace_direct: under direct_mutex, adds a direct_functions entry (ip -> `tramp`)
   * for every function of `ops.filter`, then registers the ops (func call_direct_funcs, flags
   * DIRECT and SAVE_REGS) as register_ftrace_function does: a site only it traces is patched to
   * call `tramp` itself; a site it shares goes through the list function, whose
   * call_direct_funcs makes ftrace_regs_caller return into `tramp`. Returns 0; -EINVAL (an empty
   * filter, an ops already registered, a freed trampoline, a filter entry that matches nothing);
   * -EBUSY (a function already has a direct caller).
   */
  registerFtraceDirect(ops: FtraceDirectOps, tramp: FtraceDirectTrampoline): KPath<number>;
  /**
   * unregister_ftrace_direct: under direct_mutex, unregisters the ops (for a DYNAMIC one that
   * waits as unregisterFtraceFunction does) and removes its direct_functions entries. Returns 0,
   * or -EINVAL when `ops` is not registered as a direct ops. The trampoline is the caller's: free
   * it with `bpfTrampImagePut`, not before this returns.
   */
  unregisterFtraceDirect(ops: FtraceDirectOps): KPath<number>;
  /**
   * modify_ftrace_direct: under direct_mutex, moves the ops' functions to `tramp`. A temporary
   * ops on the same functions is registered first, so every site goes through the list function
   * (which reads the ops' direct_call at each call); then, under ftrace_lock, the entries and
   * direct_call change in one step; then the temporary ops is unregistered and the sites are
   * patched to `tramp`. It does not wait: a task may still be on the old trampoline when it
   * returns, so the caller frees that with `bpfTrampImagePut`. A function an IPMODIFY ops traces
   * is asked about again (ENABLE_SHARE_IPMODIFY_SELF) before anything moves. Returns 0, -EINVAL
   * (not registered, or a freed trampoline), or the ops_func's error.
   */
  modifyFtraceDirect(ops: FtraceDirectOps, tramp: FtraceDirectTrampoline): KPath<number>;
  /**
   * bpf_tramp_image_put (kernel/bpf/trampoline.c), the caller's side: frees a direct trampoline
   * once no direct_functions entry and no site uses it, after an RCU-tasks grace period (a task
   * may be preempted inside it), or at once with the unsafe `directImagePut: 'immediate'`.
   * Returns 0; -EBUSY while an entry or a site still uses it; -EINVAL when it is unknown or
   * already freed.
   */
  bpfTrampImagePut(tramp: FtraceDirectTrampoline): KPath<number>;
  /**
   * bpf_trampoline_link_prog's update (kernel/bpf/trampoline.c bpf_trampoline_update), under
   * direct_mutex: builds an image for `tr` (CALL_ORIG with `fexit`; ORIG_STACK when it shares its
   * function with an IPMODIFY ops and calls the original) and attaches it with
   * register_ftrace_direct, or moves to it with modify_ftrace_direct (the old image is put after
   * an RCU-tasks grace period). Its direct ops' `opsFunc` is bpf_tramp_ftrace_ops_func: told
   * `-self` while it registers, it asks for a rebuild with ORIG_STACK (-EAGAIN, and the update
   * retries); told `-peer`, it rebuilds with ORIG_STACK; told `disable-…-peer`, without. Returns
   * 0, or the errno of the registration.
   */
  bpfTrampolineLink(tr: BpfTrampolineSpec): KPath<number>;
  /** bpf_trampoline_unlink_prog: with programs left, the trampoline is updated; after the last, unregister_ftrace_direct, and the image is put after an RCU-tasks grace period. Returns 0, or -EINVAL when `tr` is not linked. */
  bpfTrampolineUnlink(tr: BpfTrampolineSpec): KPath<number>;
  /** The fast-path site of a function ftrace knows, or undefined. */
  site(name: string): FtraceSite | undefined;
  /** The id ftrace gave this ops object (a direct ops too), or undefined if it was never registered. */
  opsId(ops: FtraceOps | FtraceDirectOps): number | undefined;
  /** The record of a function (host-side read of the state), or undefined if never touched. */
  record(name: string): FtraceRecordState | undefined;
}

declare module '@tracelab/core' {
  interface TracelabErrorCodes {
    /**
     * `regs.setIp(name)` (ftrace_regs_set_instruction_pointer) with no IPMODIFY ops' callback
     * running (an ops without IPMODIFY, or host code after the callback returned), or a `name`
     * that is not a function name. The detail names the ops, the traced function and the target.
     */
    FTRACE_SET_IP_INVALID: true;
  }
  interface EventMap {
    /** An update transaction begins under ftrace_lock. */
    'ftrace/update-start': { op: 'register' | 'unregister' | 'set-filter'; ops: number; pid: number };
    /** The transaction's sites are all patched. */
    'ftrace/update-end': { ops: number };
    /** The ops is on ftrace_ops_list (its records raised in the same step). */
    'ftrace/ops-registered': { ops: number; label: string; flags: FtraceOpsStateFlag[]; filter: string[]; notrace: string[] };
    /** The ops is off the list (its records lowered in the same step). */
    'ftrace/ops-removed': { ops: number };
    /** unregister_ftrace_function returns. */
    'ftrace/ops-shutdown': { ops: number };
    /** The ops' hashes are replaced. */
    'ftrace/filter-set': { ops: number; filter: string[]; notrace: string[] };
    /** A record's refcount or TRAMP flag changes. */
    'ftrace/rec': { ip: string; refcount: number; tramp: number | null; direct?: true };
    /** A site is patched: its call now goes to `to`. */
    'ftrace/site-patched': { ip: string; from: FtraceTarget; to: FtraceTarget; directEn?: true };
    /** A trampoline is allocated for an ops. */
    'ftrace/tramp-alloc': { tramp: number; ops: number };
    /** A trampoline the ops needed could not be allocated (or was refused): `reason`. */
    'ftrace/tramp-none': { ops: number; reason: 'enomem' | 'idle' | 'dynamic-off' };
    /** No site targets the trampoline any more; it waits for `wait` before it is freed. */
    'ftrace/tramp-retired': { tramp: number; ops: number; wait: FreeTrampolineAfter | 'none' };
    /** A direct trampoline is first used (by direct ops `ops`): ftrace knows it by this id from now on. */
    'ftrace/direct-tramp': { tramp: number; ops: number; label: string };
    /** direct_functions changes for these ips: added (`tramp`), moved to `tramp` (modify), or removed (`tramp` null). */
    'ftrace/direct-functions': { op: 'add' | 'modify' | 'remove'; ops: number; ips: string[]; tramp: number | null };
    /** The trampoline's memory is freed. */
    'ftrace/tramp-freed': { tramp: number; ops: number };
    /** `pid` enters a trampoline from site `ip`; `traced`: its ops' hashes admit `ip`. */
    'ftrace/tramp-enter': { tramp: number; ops: number; ip: string; pid: number; traced: boolean };
    /** `pid` leaves the trampoline, back into the traced function. */
    'ftrace/tramp-exit': { tramp: number; pid: number };
    /** `pid` executed freed trampoline memory: jumped into it, or resumed on it. */
    'ftrace/use-after-free': { tramp: number; ip: string; pid: number; at: 'entry' | 'resume' };
    /** The list caller, walking the ops list, reached an ops its owner had freed after unregistering it. */
    'ftrace/ops-use-after-free': { ops: number; ip: string; pid: number };
    /** The owner of a DYNAMIC ops freed it (it may once unregister_ftrace_function returned). */
    'ftrace/ops-freed': { ops: number };
    /** update_ftrace_function: ftrace_trace_function (`func`: an ops id, or null for the list function) and function_trace_op (`op`) as now set. */
    'ftrace/trace-function': { func: number | null; op: number | null };
    /** ftrace_caller called ops `ops`'s callback with another ops (`op`) as its ftrace_ops: the two globals were read from different updates. */
    'ftrace/op-mismatch': { ops: number; op: number | null; ip: string; pid: number };
    /** A callback re-entered itself through traced code `depth` times with no recursion guard (an ops without RECURSION whose callback does not protect itself). */
    'ftrace/recursion': { ops: number; ip: string; pid: number; depth: number };
    /**
     * The recursion guard refused a call: ops `ops`'s callback was already running in this
     * context (task, hard interrupt or NMI) when it reached traced `ip` again (what the kernel's
     * CONFIG_FTRACE_RECORD_RECURSION lists in trace_recursion_record).
     */
    'ftrace/recursion-refused': { ops: number; ip: string; pid: number };
    /**
     * The recursion guard refused a call that was not recursion: `context` (`<pid>:irq`,
     * `<pid>:nmi`, ...) found the guard bit held by another context of its task (`holder`), as
     * a per-task guard (`recursionGuard: 'per-task'`) does when an interrupt arrives inside a
     * guarded callback. The interrupt's event is lost.
     */
    /**
     * An ops with FTRACE_OPS_FL_RCU was not called for `ip` because RCU is not watching this CPU
     * (the idle loop between rcu_idle_enter and rcu_idle_exit): its callback may use RCU.
     */
    'ftrace/rcu-skip': { ops: number; ip: string; pid: number };
    'ftrace/recursion-lost': { ops: number; ip: string; pid: number; context: string; holder: string };
    /** The list caller ran for `ip` and called these ops. */
    'ftrace/list-call': { ip: string; pid: number; ops: number[] };
    /** An fgraph ops took slot `idx` of fgraph_array (its sites enabled first). */
    'ftrace/fgraph-registered': { gops: number; idx: number; label: string; filter: string[] };
    /** The ops' slot holds fgraph_stub again. */
    'ftrace/fgraph-unregistered': { gops: number; idx: number };
    /** Its owner freed the ops: unregister_ftrace_graph had returned. */
    'ftrace/fgraph-freed': { gops: number };
    /** The graph caller at site `ip` is enabled (`on`) or disabled. */
    'ftrace/fgraph-patched': { ip: string; on: boolean };
    /** `pid` entered `ip`: its return address is now return_to_handler, and a frame is pushed for these ops. */
    'ftrace/fgraph-push': { ip: string; pid: number; depth: number; idx: number[]; gops: number[] };
    /** `pid` returned from `ip` through return_to_handler: its frame is popped; `gops` return handlers ran, `stubbed` slots held fgraph_stub. */
    'ftrace/fgraph-return': { ip: string; pid: number; depth: number; gops: number[]; stubbed: number[] };
    /** `pid`'s shadow stack was full (FTRACE_RETFUNC_DEPTH): `ip` is not graph-traced; `overrun` counts such losses. */
    'ftrace/fgraph-overrun': { ip: string; pid: number; overrun: number };
    /** A return handler ran from a stale frame for an ops its owner had freed. */
    'ftrace/fgraph-use-after-free': { gops: number; ip: string; pid: number };
    /** `pid` exited with `pending` frames on its shadow stack, which is freed (ftrace_graph_exit_task). */
    'ftrace/fgraph-stack-freed': { pid: number; pending: number };
    /** An fgraph handler threw; it counts as having declined. */
    'ftrace/fgraph-fault': { gops: number; ip: string; pid: number; message: string };
    /**
     * ftrace sent `cmd` for function `ip` to direct ops `ops`'s ops_func, which returned `ret`;
     * `missing`: the ops has no ops_func, and the registration fails with `ret` (-EBUSY).
     */
    'ftrace/ops-func': { ops: number; ip: string; cmd: FtraceOpsCmd; ret: number; missing?: true };
    /** IPMODIFY ops `ops`'s callback set the saved ip of `pid`'s call of `ip` to `to`. */
    'ftrace/ip-modified': { ops: number; ip: string; to: string; pid: number };
    /**
     * The body `pid`'s call of `ip` ran, when an IPMODIFY callback redirected it (`redirect`, else
     * null) or a direct trampoline (`tramp`) called the function itself: `via` 'return' (the call
     * resumed at the saved ip) or 'orig-call' (the direct trampoline's call of the function).
     */
    'ftrace/call-body': { ip: string; body: string; redirect: string | null; via: 'return' | 'orig-call'; tramp: number | null; pid: number };
    /** A BPF trampoline on `func` now runs image `tramp`, built with these BPF_TRAMP_F_* flags. */
    'ftrace/bpf-tramp-update': { func: string; tramp: number; flags: Array<'CALL_ORIG' | 'ORIG_STACK' | 'SHARE_IPMODIFY'> };
    /** A callback threw; it is skipped for this call. */
    'ftrace/callback-fault': { ops: number; ip: string; pid: number; message: string };
  }
  interface PluginStates {
    ftrace: FtraceState;
  }
  interface PluginApis {
    ftrace: FtraceApi;
  }
}
