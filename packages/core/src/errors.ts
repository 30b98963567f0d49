/**
 * Errors of two kinds, kept apart on purpose:
 *
 * - Kernel-level operations return what the kernel returns: `0` or a negative errno
 *   (`-EBUSY`). Those are results a kernel path must handle, never exceptions.
 * - Misuse of the host API (an unknown plugin, a corrupt log, a bad scenario) throws a
 *   {@link TracelabError} whose `code` is stable and whose message says what to fix.
 */

/** Errno values as in Linux's include/uapi/asm-generic/errno-base.h and errno.h. */
export const EPERM = 1;
export const ENOENT = 2;
export const ESRCH = 3;
export const EINTR = 4;
export const EIO = 5;
export const ECHILD = 10;
export const EAGAIN = 11;
export const ENOMEM = 12;
export const EFAULT = 14;
export const EBUSY = 16;
export const EEXIST = 17;
export const EINVAL = 22;
export const ENOSPC = 28;
export const ENOSYS = 38;
export const ENOBUFS = 105;
export const EALREADY = 114;
export const EINPROGRESS = 115;

const ERRNO_NAMES: Readonly<Record<number, string>> = {
  [EPERM]: 'EPERM',
  [ENOENT]: 'ENOENT',
  [ESRCH]: 'ESRCH',
  [EINTR]: 'EINTR',
  [EIO]: 'EIO',
  [ECHILD]: 'ECHILD',
  [EAGAIN]: 'EAGAIN',
  [ENOMEM]: 'ENOMEM',
  [EFAULT]: 'EFAULT',
  [EBUSY]: 'EBUSY',
  [EEXIST]: 'EEXIST',
  [EINVAL]: 'EINVAL',
  [ENOSPC]: 'ENOSPC',
  [ENOSYS]: 'ENOSYS',
  [ENOBUFS]: 'ENOBUFS',
  [EALREADY]: 'EALREADY',
  [EINPROGRESS]: 'EINPROGRESS',
};

/** `errnoName(-16)` is `'-EBUSY'`; `errnoName(0)` is `'0'`; unknown values print as numbers. */
export function errnoName(ret: number): string {
  if (ret >= 0) return String(ret);
  const name = ERRNO_NAMES[-ret];
  return name === undefined ? String(ret) : `-${name}`;
}

/**
 * Error codes other packages add to {@link TracelabErrorCode} by declaration merging, as they
 * add events to `EventMap`: `declare module '@tracelab/core' { interface TracelabErrorCodes {
 * CTF_BAD_MAGIC: true } }`. The key is the code; the value type is unused.
 */
// eslint-disable-next-line @typescript-eslint/no-empty-interface, @typescript-eslint/no-empty-object-type -- filled by declaration merging
export interface TracelabErrorCodes {}

/**
 * Stable codes of {@link TracelabError}. Tools and tests match on the code, never on the
 * message, so a code never changes meaning once published. Packages add theirs through
 * {@link TracelabErrorCodes}.
 */
export type TracelabErrorCode = CoreErrorCode | (keyof TracelabErrorCodes & string);

/** The core's own codes. */
export type CoreErrorCode =
  | 'INVALID_OPTION'
  | 'PLUGIN_INVALID'
  | 'PLUGIN_DUPLICATE'
  | 'PLUGIN_CORE_MISMATCH'
  | 'PLUGIN_MISSING_DEPENDENCY'
  | 'PLUGIN_API_RENAMED'
  | 'PLUGIN_DEPENDENCY_VERSION'
  | 'PLUGIN_REGISTER_FAILED'
  | 'PLUGIN_DISABLED'
  | 'UNKNOWN_EVENT_TYPE'
  | 'INVALID_EVENT'
  | 'KERNEL_BUG'
  | 'HOOK_RESULT_INVALID'
  | 'INVARIANT_VIOLATED'
  | 'CALL_DID_NOT_RETURN'
  /** `run` or `call` from inside a run (a subscriber, a hook calling the host API). */
  | 'RUN_REENTRANT'
  | 'CALL_OOPS'
  | 'REPLAY_READ_ONLY'
  /** `kernel.reset()` on a kernel that cannot be reset (a plugin keeps data it cannot restore). */
  | 'RESET_UNSUPPORTED'
  | 'SCHEDULE_INVALID'
  | 'SCHEDULE_DIVERGED'
  | 'SCHEDULE_VERSION'
  | 'LOG_EMPTY'
  | 'LOG_CORRUPT'
  | 'LOG_FOREIGN'
  | 'LOG_VERSION'
  | 'LOG_INVALID_EVENT'
  | 'LOG_SEQUENCE'
  | 'LOG_PLUGIN_MISMATCH'
  | 'LOG_REDUCER_FAILED'
  | 'SEQ_OUT_OF_RANGE';

export class TracelabError extends Error {
  override readonly name = 'TracelabError';
  readonly code: TracelabErrorCode;
  /** Structured detail for tools: the plugin, the log line, the violation... */
  readonly detail: Readonly<Record<string, unknown>>;

  constructor(code: TracelabErrorCode, message: string, detail: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.detail = detail;
  }
}

/** Thrown by kernel paths for what the real kernel would BUG() on; the runtime turns it into an oops. */
export function kernelBug(message: string, detail: Record<string, unknown> = {}): TracelabError {
  return new TracelabError('KERNEL_BUG', `BUG: ${message}`, detail);
}

export function describeError(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
