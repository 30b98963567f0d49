import { msleep, type KPath } from '@tracelab/core';
import { defineScenario, watchGracePeriods } from '@tracelab/explore';
import { ftrace, type FtraceApi, type FtraceDirectOps, type FtraceDirectTrampoline, type FtraceOptions } from '@tracelab/ftrace';
import { rcuTasks } from '@tracelab/rcu-tasks';
import { getpidCaller } from './internal/programs.js';

/**
 * `fixed` is BPF's bpf_tramp_image_put: the old image is freed from call_rcu_tasks.
 * `immediate` frees it as soon as modify_ftrace_direct has moved every site off it.
 */
const OPTIONS: Readonly<Record<string, FtraceOptions>> = {
  fixed: {},
  immediate: { directImagePut: 'immediate' },
};

/** getpid calls per caller. */
const CALLS = 2;
/** Ticks the first image stays attached before BPF replaces it. */
const KEEP = 1;

/** A BPF trampoline image: its programs run on every traced entry (here they do nothing). */
function bpfImage(label: string): FtraceDirectTrampoline {
  return {
    label,
    func: () => {
      // the attached fentry programs would run here
    },
  };
}

/**
 * BPF attaching and then updating an fentry program on sys_getpid (kernel/bpf/trampoline.c's
 * bpf_trampoline_update): register_ftrace_direct with image one, then, when another program is
 * attached, a new image two, modify_ftrace_direct to it, and bpf_tramp_image_put of image one.
 */
function* bpf(api: FtraceApi): KPath<number> {
  const fops: FtraceDirectOps = { filter: ['sys_getpid'], flags: ['DYNAMIC'], label: 'bpf_tramp' };
  const one = bpfImage('image1');
  const two = bpfImage('image2');
  const r = yield* api.registerFtraceDirect(fops, one);
  if (r !== 0) return r;
  yield* msleep(KEEP);
  const m = yield* api.modifyFtraceDirect(fops, two);
  if (m !== 0) return m;
  return yield* api.bpfTrampImagePut(one);
}

/**
 * A direct trampoline's lifetime (issue 22, SEMANTICS.md 4.2): `callers` user tasks call the
 * traced sys_getpid, whose site calls a BPF trampoline image directly, while BPF moves the site
 * to a new image and puts the old one. A caller that entered the old image and was preempted
 * there (or is still running it on the other CPU) is on it after the move; only the RCU-tasks
 * wait of bpf_tramp_image_put keeps the image from being freed under it.
 */
export const ftraceDirect = defineScenario({
  name: 'ftrace-direct',
  description:
    'BPF replaces the direct trampoline of an fentry site (modify_ftrace_direct) and frees the old image while callers may still be on it (ftrace, rcu-tasks)',
  source: 'kernel/trace/ftrace.c (register/modify_ftrace_direct, call_direct_funcs), kernel/bpf/trampoline.c (bpf_tramp_image_put); issue 22, SEMANTICS.md 4.2',
  cpus: 2,
  symmetricCpus: true,
  maxSteps: 1000,
  scale: { name: 'callers', default: 2, min: 1 },
  sourceModule: { module: '@tracelab/scenarios', exportName: 'ftraceDirect' },
  variants: [
    {
      name: 'fixed',
      description: 'the old image is freed after an RCU-tasks grace period (call_rcu_tasks in bpf_tramp_image_put): every task that was on it has left it',
      safe: true,
    },
    {
      name: 'immediate',
      description: 'the old image is freed once no site calls it: a caller preempted inside it resumes on freed code',
      safe: false,
      expect: ['ftrace/no-trampoline-use-after-free'],
    },
  ],
  plugins: (variant) => [rcuTasks(), ftrace(OPTIONS[variant] ?? {})],
  setup(kernel, { scale }) {
    kernel.spawnKthread(bpf(kernel.api.ftrace), { comm: 'bpf' });
    for (let i = 0; i < scale; i++) kernel.spawn(getpidCaller(CALLS), { comm: `w${i}` });
    watchGracePeriods(kernel);
  },
});
