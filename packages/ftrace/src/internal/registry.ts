import type { FtraceDirectTrampoline, FtraceFunc, FtraceOpsFunc, FtraceOps, FtraceSite, FtraceTarget } from '../events.js';

/**
 * The hot side of ftrace: the objects the real fast path reads (ftrace_ops_list, the sites'
 * call targets, the trampolines). They live outside the immer state (ARCHITECTURE.md 2.1);
 * their lifecycle is in the log, and the invariant `ftrace/site-target` checks after every
 * step that the sites agree with the folded records.
 */

/** Functions the idle loop calls (the `idle` tap runs `fn('default_idle')` in each pass). */
export const IDLE_FUNCTIONS: ReadonlySet<string> = new Set(['default_idle']);

/**
 * An ops as ftrace keeps it (the kernel's ftrace_ops fields ftrace owns). Hashes are immutable
 * sets, replaced whole by ftraceSetFilter (an RCU-published pointer in the kernel): a reader
 * that loaded one keeps a consistent hash. Every field is guarded by ftrace_lock for writers;
 * the list caller reads `filter`/`notrace` without it.
 */
export class OpsRec {
  /** null: an empty filter hash (trace every function). */
  filter: ReadonlySet<string> | null = null;
  /** null: an empty notrace hash (exclude none). */
  notrace: ReadonlySet<string> | null = null;
  filterList: readonly string[] = [];
  notraceList: readonly string[] = [];
  /** A pattern (or `!` entry) of the ops' own filter or notrace list that matched no function when first seen: registering it fails with -EINVAL. Written once, by opsRecOf. */
  unmatched: string | null = null;
  /** On ftrace_ops_list (FTRACE_OPS_FL_ENABLED). */
  registered = false;
  /** Its trampoline: allocated at startup, kept while registered (and for ever if static). */
  trampoline: Trampoline | null = null;
  /** Its owner freed it after unregister returned (DYNAMIC ops, stepped list walk). Written under ftrace_lock's release by the unregistering path. */
  freedByOwner = false;
  /**
   * ops->direct_call of a direct ops (FTRACE_OPS_FL_DIRECT): the direct trampoline its
   * call_direct_funcs makes the caller return into; null for any other ops. guarded by:
   * direct_mutex and ftrace_lock (modifyFtraceDirect stores it, WRITE_ONCE); read lock-free by
   * the list function.
   */
  directCall: Trampoline | null = null;
  /**
   * ops->ops_func of a direct ops (its owner's FtraceDirectOps.opsFunc), or null: how ftrace asks
   * it to share a function with an IPMODIFY ops. Written once, by directOpsRecOf.
   */
  opsFunc: FtraceOpsFunc | null = null;
  readonly func: FtraceFunc;

  constructor(
    readonly id: number,
    readonly ops: FtraceOps,
    readonly label: string,
    readonly dynamic: boolean,
    /** A direct ops (register_ftrace_direct's, or modify's temporary ops): never given an allocated trampoline. */
    readonly direct = false,
    /** FTRACE_OPS_FL_STUB: on the list and counted in the records, but the list function skips it (modify's temporary ops). */
    readonly stub = false,
  ) {
    this.func = ops.func;
  }

  setHashes(filter: readonly string[], notrace: readonly string[]): void {
    this.filterList = Object.freeze([...filter]);
    this.notraceList = Object.freeze([...notrace]);
    this.filter = filter.length === 0 ? null : new Set(filter);
    this.notrace = notrace.length === 0 ? null : new Set(notrace);
  }
}

/** ftrace_ops_test: (filter empty or contains ip) and notrace does not contain ip. */
export function opsTraces(op: OpsRec, ip: string): boolean {
  return (op.filter === null || op.filter.has(ip)) && (op.notrace === null || !op.notrace.has(ip));
}

/**
 * A dynamic trampoline: a copy of ftrace_caller whose call goes straight to its ops' callback.
 * Its fast path is that call: the (callback, ops) pair a site targeting it invokes directly,
 * with no list and no hash test. `retired` and `freed` are the allocator's view of its memory,
 * written by the unregistering path under ftrace_lock; the simulated trampoline path reads
 * `freed` after each of its scheduling points.
 */
export class Trampoline {
  retired = false;
  freed = false;
  readonly func: FtraceFunc;
  readonly arg: FtraceOps;
  /**
   * A direct trampoline (a caller's image, register_ftrace_direct's `addr`): a site patched to
   * it calls `image.func` (the fast path calls it with the image as the arg). null for a
   * trampoline ftrace allocated for `ops`.
   */
  readonly image: FtraceDirectTrampoline | null;

  constructor(
    readonly id: number,
    /** The ops it belongs to; for a direct trampoline, the direct ops that first used it. */
    readonly ops: OpsRec,
    image: FtraceDirectTrampoline | null = null,
  ) {
    this.image = image;
    if (image === null) {
      this.func = ops.func;
      this.arg = ops.ops;
    } else {
      this.func = directDispatch as unknown as FtraceFunc;
      this.arg = image as unknown as FtraceOps;
    }
  }
}

/** A site patched to a direct trampoline: the fast path calls the image's code. */
function directDispatch(ip: string, parentIp: string, image: FtraceDirectTrampoline): void {
  image.func(ip, parentIp);
}

/** What a site calls: (ip, parentIp, arg) with the arg the target needs. */
type Dispatch = (ip: string, parentIp: string, arg: never) => void;

function nopDispatch(): void {
  // the mcount call patched to a nop
}

/** ftrace_ops_list_func for the real fast path: every listed ops whose hashes admit ip. */
function listDispatch(ip: string, parentIp: string, reg: Registry): void {
  const list = reg.list;
  for (let i = 0; i < list.length; i++) {
    const op = list[i]!;
    if ((op.filter === null || op.filter.has(ip)) && (op.notrace === null || !op.notrace.has(ip))) op.func(ip, parentIp, op.ops);
  }
}

/**
 * A `dyn_ftrace` record and its mcount site. `refcount`, `tramp` and `targetRef` are guarded by
 * ftrace_lock. `dispatch` and `arg` are the patched call instruction, read without a lock by the
 * fast path and written together when the site is patched (the kernel's text_poke of the call;
 * in this single-threaded host nothing can read between the two stores).
 */
export class Site implements FtraceSite {
  refcount = 0;
  /** FTRACE_FL_TRAMP: the trampoline this record may call (refcount 1, its ops has one). */
  tramp: Trampoline | null = null;
  /** FTRACE_FL_DIRECT: a registered direct ops traces this ip. guarded by: ftrace_lock. */
  direct = false;
  /** FTRACE_FL_DIRECT_EN: the site is patched to its direct trampoline (set by patchSite). guarded by: ftrace_lock. */
  directEn = false;
  targetRef: 'nop' | 'list' | Trampoline = 'nop';
  /** The graph caller is enabled here (some registered fgraph ops traces this ip). guarded by: ftrace_lock. */
  graph = false;
  dispatch: Dispatch = nopDispatch;
  arg: unknown = undefined;

  constructor(readonly ip: string) {}

  /**
   * The mcount call. One method for every site, so the call stays monomorphic; what differs is
   * the target it was patched to: the nop, the list function, or the trampoline's direct call
   * of its ops' callback.
   */
  call(parentIp: string): void {
    (this.dispatch as (ip: string, parentIp: string, arg: unknown) => void)(this.ip, parentIp, this.arg);
  }

  get target(): 'nop' | 'list' | 'trampoline' | 'direct' {
    return typeof this.targetRef === 'string' ? this.targetRef : this.targetRef.image !== null ? 'direct' : 'trampoline';
  }

  get trampoline(): number | null {
    return typeof this.targetRef === 'string' ? null : this.targetRef.id;
  }

  /** The target as the log writes it. */
  get targetId(): FtraceTarget {
    return typeof this.targetRef === 'string' ? this.targetRef : this.targetRef.id;
  }
}

/**
 * The registry of one plugin instance (one kernel). Written only by kernel paths holding
 * ftrace_lock and by the host-side site creation; read lock-free by the fast paths.
 */
export class Registry {
  /** ftrace_ops_list: a frozen array, published whole (rcu_assign_pointer). guarded by: ftrace_lock. */
  list: readonly OpsRec[] = Object.freeze([]);
  /**
   * Site objects by function name. A host-side `api.site(name)` may create one (so the caller
   * holds the live site), which is why neither "known to an update" nor any iteration order is
   * taken from this map. guarded by: ftrace_lock (and the host thread, which only adds).
   */
  readonly sites = new Map<string, Site>();
  /**
   * The functions an update has brought into the records (ftrace_module_enable), in the order
   * the kernel defined them: what an empty filter means, and what the next update must not
   * treat as new. guarded by: ftrace_lock.
   */
  readonly synced: Site[] = [];
  readonly syncedNames = new Set<string>();
  /** Every ops ever registered, by object. guarded by: ftrace_lock. */
  readonly byOps = new Map<FtraceOps, OpsRec>();
  readonly opsById = new Map<number, OpsRec>();
  readonly trampolines = new Map<number, Trampoline>();
  /** The direct trampolines ftrace has seen, by the caller's object. guarded by: direct_mutex. */
  readonly images = new Map<FtraceDirectTrampoline, Trampoline>();
  /**
   * direct_functions: ip -> the direct trampoline its site jumps to (ftrace_find_rec_direct).
   * guarded by: direct_mutex, and ftrace_lock where modify changes an entry; read lock-free
   * by ftrace_get_addr_new under ftrace_lock.
   */
  readonly directFunctions = new Map<string, Trampoline>();
  /**
   * Sites whose refcount, TRAMP or target changed since the `ftrace/site-target` invariant last
   * looked (it re-checks only these against the state, and clears the set). guarded by: ftrace_lock.
   */
  readonly dirty = new Set<Site>();
  nextOpsId = 1;
  nextTrampId = 1;

  /**
   * What the registry holds now (the end of registration) and how to put it back
   * (`kernel.reset`): sites in place (a host may hold one from `api.site`), the ops list,
   * records, ops and trampolines as they were, ids counting on from where they were.
   */
  mark(): () => void {
    const sites = [...this.sites].map(([ip, site]) => ({
      ip,
      site,
      fields: {
        refcount: site.refcount,
        tramp: site.tramp,
        direct: site.direct,
        directEn: site.directEn,
        targetRef: site.targetRef,
        graph: site.graph,
        dispatch: site.dispatch,
        arg: site.arg,
      },
    }));
    const list = this.list;
    const synced = [...this.synced];
    const byOps = [...this.byOps];
    const opsById = [...this.opsById];
    const trampolines = [...this.trampolines];
    const images = [...this.images];
    const directFunctions = [...this.directFunctions];
    const nextOps = this.nextOpsId;
    const nextTramp = this.nextTrampId;
    return () => {
      this.sites.clear();
      for (const { ip, site, fields } of sites) {
        Object.assign(site, fields);
        this.sites.set(ip, site);
      }
      this.list = list;
      this.synced.length = 0;
      this.synced.push(...synced);
      this.syncedNames.clear();
      for (const site of synced) this.syncedNames.add(site.ip);
      this.byOps.clear();
      for (const [k, v] of byOps) this.byOps.set(k, v);
      this.opsById.clear();
      for (const [k, v] of opsById) this.opsById.set(k, v);
      this.trampolines.clear();
      for (const [k, v] of trampolines) this.trampolines.set(k, v);
      this.images.clear();
      for (const [k, v] of images) this.images.set(k, v);
      this.directFunctions.clear();
      for (const [k, v] of directFunctions) this.directFunctions.set(k, v);
      this.dirty.clear();
      this.nextOpsId = nextOps;
      this.nextTrampId = nextTramp;
    };
  }

  site(ip: string): Site {
    let s = this.sites.get(ip);
    if (s === undefined) {
      s = new Site(ip);
      this.sites.set(ip, s);
    }
    return s;
  }

  /** Points the fast path of `site` at `to`. */
  setFastTarget(site: Site, to: 'nop' | 'list' | Trampoline): void {
    site.targetRef = to;
    if (to === 'nop') {
      site.dispatch = nopDispatch;
      site.arg = undefined;
    } else if (to === 'list') {
      site.dispatch = listDispatch as Dispatch;
      site.arg = this;
    } else {
      site.dispatch = to.func as Dispatch;
      site.arg = to.arg;
    }
    this.dirty.add(site);
  }
}
