/**
 * The markers the syscall slow path fires when `@tracelab/markers` is in the stack, named and
 * formatted after LTTng 0.x's `kernel_syscall_entry` / `kernel_syscall_exit`. ktrace decides
 * which threads take the slow path; markers decides who listens there.
 */
export const SYSCALL_MARKERS = Object.freeze({
  entry: Object.freeze({ name: 'kernel_syscall_entry', format: 'pid %d syscall %s args %s' }),
  exit: Object.freeze({ name: 'kernel_syscall_exit', format: 'pid %d syscall %s ret %ld' }),
});

/** `fd=3 buf=0x1000 count=64`: the syscall's arguments as the `%s` of the entry marker. */
export function formatSyscallArgs(args: Readonly<Record<string, number>>): string {
  return Object.entries(args)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
}
