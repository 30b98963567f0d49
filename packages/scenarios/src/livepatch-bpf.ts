import { msleep, type KPath } from '@tracelab/core';
import { defineScenario, watchGracePeriods } from '@tracelab/explore';
import { ftrace, type BpfTrampolineSpec, type FtraceApi, type FtraceOps, type FtraceOptions } from '@tracelab/ftrace';
import { rcuTasks } from '@tracelab/rcu-tasks';
import { getpidCaller } from './internal/programs.js';

/**
 * `fixed` is upstream since 6.18: the direct ops' ops_func is asked on register (SELF), before a
 * live patch registers (PEER), after it leaves (DISABLE) and on modify_ftrace_direct (SELF
 * again). `register-only` does not ask on modify (mainline 6.0 to 6.17 with "ftrace: Fix BPF
 * fexit with livepatch" backported); `skip` never asks (no protocol at all).
 */
const OPTIONS: Readonly<Record<string, FtraceOptions>> = {
  fixed: {},
  'register-only': { ipmodifyShare: 'register-only' },
  skip: { ipmodifyShare: 'skip' },
};

/** getpid calls per caller. */
const CALLS = 2;

/**
 * The live patch of sys_getpid (klp_ftrace_handler on klp's per-function ops: IPMODIFY,
 * SAVE_REGS, DYNAMIC): its callback moves the saved ip to the new body, klp_sys_getpid.
 */
function livePatch(): FtraceOps {
  return {
    func: (_ip, _parent, _ops, regs) => regs?.setIp('klp_sys_getpid'),
    filter: ['sys_getpid'],
    flags: ['IPMODIFY', 'SAVE_REGS', 'DYNAMIC'],
    label: 'klp',
  };
}

/** The admin: `modprobe` of a live-patch module (klp_enable_patch → register_ftrace_function). It stays applied. */
function* admin(api: FtraceApi): KPath<number> {
  return yield* api.registerFtraceFunction(livePatch());
}

/**
 * The BPF loader (bpftool or a daemon): links an fentry program on sys_getpid, then an fexit
 * one. The first link registers the trampoline's direct ops with an image that does not call
 * the function; the second rebuilds it as a BPF_TRAMP_F_CALL_ORIG image and moves the site to
 * it through modify_ftrace_direct. Both stay linked. Returns the first error, or 0.
 */
function* loader(api: FtraceApi): KPath<number> {
  const fentry: BpfTrampolineSpec = { func: 'sys_getpid', progs: () => undefined };
  const fexit: BpfTrampolineSpec = { func: 'sys_getpid', fexit: true, progs: () => undefined };
  const r = yield* api.bpfTrampolineLink(fentry);
  if (r !== 0) return r;
  yield* msleep(1);
  return yield* api.bpfTrampolineLink(fexit);
}

/**
 * A live patch meeting a BPF trampoline on the same function (docs/ftrace.md, decision 12):
 * `callers` user tasks call sys_getpid while an admin applies a live patch to it and a BPF
 * loader links an fentry then an fexit program on it, the two in either order. Once both are
 * on, the site is shared: the live patch's callback moves the saved ip, and the BPF image with
 * the fexit program calls the function itself. Unless ftrace told it to share the function
 * (BPF_TRAMP_F_ORIG_STACK: call through the saved ip), it calls the original body and every
 * later call bypasses the patch.
 */
export const livepatchBpf = defineScenario({
  name: 'livepatch-bpf',
  description:
    'an admin applies a live patch to sys_getpid while a BPF loader links fentry then fexit programs on it and callers call it: the BPF trampoline must call the function through the saved ip (ftrace, rcu-tasks)',
  source:
    'kernel/trace/ftrace.c (__ftrace_hash_update_ipmodify, prepare_direct_functions_for_ipmodify, __modify_ftrace_direct), kernel/bpf/trampoline.c (bpf_tramp_ftrace_ops_func); "ftrace: bpf: Fix IPMODIFY + DIRECT in modify_ftrace_direct()" (Song Liu, 2025); the per-ops trampolines of shared/seeds/003_a77a0132219907dc.txt',
  cpus: 2,
  symmetricCpus: true,
  maxSteps: 1000,
  scale: { name: 'callers', default: 1, min: 1 },
  sourceModule: { module: '@tracelab/scenarios', exportName: 'livepatchBpf' },
  variants: [
    {
      name: 'fixed',
      description:
        'the trampoline is asked on register (SELF), before the live patch (PEER) and on modify_ftrace_direct (SELF again): whichever comes first, its fexit image calls through the saved ip (ORIG_STACK)',
      safe: true,
    },
    {
      name: 'register-only',
      description:
        'modify_ftrace_direct does not ask (6.0 to 6.17): when the live patch lands before the fexit link, the update moves the site to an image that calls the original body',
      safe: false,
      expect: ['ftrace/ipmodify-bypassed'],
    },
    {
      name: 'skip',
      description: 'no sharing protocol: the live patch and the fexit image attach in either order and every later call runs the original body',
      safe: false,
      expect: ['ftrace/ipmodify-bypassed'],
    },
  ],
  plugins: (variant) => [rcuTasks(), ftrace(OPTIONS[variant] ?? {})],
  setup(kernel, { scale }) {
    const api = kernel.api.ftrace;
    kernel.spawnKthread(admin(api), { comm: 'klp' });
    kernel.spawnKthread(loader(api), { comm: 'bpf' });
    for (let i = 0; i < scale; i++) kernel.spawn(getpidCaller(CALLS), { comm: `w${i}` });
    watchGracePeriods(kernel);
  },
});
