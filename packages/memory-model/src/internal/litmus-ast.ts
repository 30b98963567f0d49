/**
 * The litmus test as parsed: the C dialect of the kernel's tools/memory-model/litmus-tests.
 * A value is a number or a location name (a pointer to that location: `y=z` in the init block,
 * `1:r0=x` in a condition).
 */
export type Value = number | string;

export type Ordering = 'once' | 'acquire' | 'release' | 'mb' | 'relaxed';

export type Expr =
  | { readonly k: 'num'; readonly v: number }
  | { readonly k: 'reg'; readonly name: string }
  /** A pointer to a location: a thread parameter's name, or `&x`. */
  | { readonly k: 'loc'; readonly name: string }
  /** A plain read `*addr`. */
  | { readonly k: 'plain-load'; readonly addr: Expr }
  /** READ_ONCE(*addr), smp_load_acquire(addr), rcu_dereference(*addr), atomic_read(addr). */
  | { readonly k: 'load'; readonly acquire: boolean; readonly addr: Expr }
  /**
   * An atomic read-modify-write. `op`: `xchg` (new value `a`), `cmpxchg` (expected `a`, new `b`),
   * `add` (adds `a`; `fetch` says whether it returns the old or the new value), `add-unless`
   * (adds `a` unless the value is `b`; returns whether it added). `returns: false`
   * is a void atomic (atomic_inc, atomic_add): its read is Noreturn.
   */
  | {
      readonly k: 'rmw';
      readonly op: 'xchg' | 'cmpxchg' | 'add' | 'add-unless';
      readonly order: Ordering;
      readonly addr: Expr;
      readonly a: Expr;
      readonly b: Expr | null;
      readonly fetch: boolean;
      readonly returns: boolean;
    }
  /** spin_is_locked(addr): a READ_ONCE of the lock word, true when held. */
  | { readonly k: 'is-locked'; readonly addr: Expr }
  | { readonly k: 'bin'; readonly op: string; readonly a: Expr; readonly b: Expr }
  | { readonly k: 'un'; readonly op: '!' | '-'; readonly a: Expr };

export type FenceKind =
  'mb' | 'wmb' | 'rmb' | 'after-spinlock' | 'before-atomic' | 'after-atomic' | 'after-unlock-lock' | 'rcu-lock' | 'rcu-unlock' | 'sync-rcu' | 'barrier';

export type Stmt =
  | { readonly k: 'decl'; readonly name: string; readonly init: Expr | null; readonly line: number }
  | { readonly k: 'assign'; readonly reg: string; readonly e: Expr; readonly line: number }
  /** WRITE_ONCE / smp_store_release / rcu_assign_pointer / atomic_set / `*p = v`. */
  | { readonly k: 'store'; readonly release: boolean; readonly plain: boolean; readonly addr: Expr; readonly value: Expr; readonly line: number }
  | { readonly k: 'fence'; readonly f: FenceKind; readonly line: number }
  | { readonly k: 'lock'; readonly addr: Expr; readonly line: number }
  | { readonly k: 'unlock'; readonly addr: Expr; readonly line: number }
  | { readonly k: 'expr'; readonly e: Expr; readonly line: number }
  | { readonly k: 'if'; readonly cond: Expr; readonly then: readonly Stmt[]; readonly else: readonly Stmt[]; readonly line: number };

export type Cond =
  | { readonly k: 'true' }
  | { readonly k: 'false' }
  | { readonly k: 'reg'; readonly thread: number; readonly reg: string; readonly eq: boolean; readonly v: Value }
  | { readonly k: 'mem'; readonly loc: string; readonly eq: boolean; readonly v: Value }
  | { readonly k: 'not'; readonly a: Cond }
  | { readonly k: 'and'; readonly a: Cond; readonly b: Cond }
  | { readonly k: 'or'; readonly a: Cond; readonly b: Cond };

export interface LitmusThread {
  readonly id: number;
  readonly params: readonly string[];
  readonly body: readonly Stmt[];
}

export interface LitmusTest {
  readonly name: string;
  /** Initial memory: location -> value (locations not named start at 0). */
  readonly init: ReadonlyMap<string, Value>;
  /** Initial registers: `thread:reg` -> value. */
  readonly regInit: ReadonlyMap<string, Value>;
  readonly threads: readonly LitmusThread[];
  readonly quantifier: 'exists' | 'not-exists' | 'forall';
  readonly cond: Cond;
  readonly filter: Cond | null;
  /** The first construct the checker cannot run, with its line (the test is then Unsupported). */
  readonly unsupported: { readonly construct: string; readonly line: number } | null;
  /** The comment block's text (the kernel tests put their `Result:` line there). */
  readonly comment: string;
}
