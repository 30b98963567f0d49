import { FTRACE_INVARIANTS } from './constants.js';
import { directRecordInvariant, recRefcountInvariant, reportInvariant, siteTargetInvariant } from './check.js';
import type { FtraceRuntime } from './runtime.js';

/**
 * Registers the plugin's invariants (with `checks`) and returns what starts the memoising ones
 * afresh on kernel.reset (a no-op without checks).
 */
export function registerInvariants(ft: FtraceRuntime): () => void {
  const { ctx, options, reg } = ft;
  if (!options.checks) return () => undefined;
  ctx.invariant(FTRACE_INVARIANTS.useAfterFree, reportInvariant(['freed-in-use', 'use-after-free']));
  ctx.invariant(FTRACE_INVARIANTS.opsUseAfterFree, reportInvariant(['ops-use-after-free']));
  ctx.invariant(FTRACE_INVARIANTS.recursion, reportInvariant(['recursion']));
  ctx.invariant(FTRACE_INVARIANTS.recursionContext, reportInvariant(['recursion-lost']));
  ctx.invariant(FTRACE_INVARIANTS.opMismatch, reportInvariant(['op-mismatch']));
  ctx.invariant(FTRACE_INVARIANTS.wrongFunction, reportInvariant(['wrong-function']));
  ctx.invariant(FTRACE_INVARIANTS.fgraphUseAfterFree, reportInvariant(['fgraph-use-after-free']));
  ctx.invariant(FTRACE_INVARIANTS.ipmodifyBypassed, reportInvariant(['ipmodify-bypassed']));
  // These two remember what they checked last (by identity); a reset starts them afresh.
  // Written only here and by the reset below (host context, between steps).
  let refcountCheck = recRefcountInvariant();
  let siteCheck = siteTargetInvariant(reg, options);
  let directCheck = directRecordInvariant();
  ctx.invariant(FTRACE_INVARIANTS.refcount, (s) => refcountCheck(s));
  // Before site-target, whose wanted target reads direct_functions too: a record out of step
  // with direct_functions is named for what it is. (It never fires without a direct call.)
  ctx.invariant(FTRACE_INVARIANTS.direct, (s) => directCheck(s));
  ctx.invariant(FTRACE_INVARIANTS.siteTarget, (s) => siteCheck(s));
  return () => {
    refcountCheck = recRefcountInvariant();
    siteCheck = siteTargetInvariant(reg, options);
    directCheck = directRecordInvariant();
  };
}
