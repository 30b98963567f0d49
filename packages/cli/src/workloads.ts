import type { Program, UserOps } from '@tracelab/core';

/**
 * The built-in default workload: a build. A shell forks compiler drivers; each driver
 * opens and reads its sources through user buffers (the paths are strings in user memory,
 * so the kernel's copyFromUser faults them in), computes, forks an assembler, writes its
 * object file, waits, and exits. Sizes scale with `jobs`.
 */
export interface BuildOptions {
  /** Compiler drivers the shell forks. Default 6. */
  readonly jobs?: number;
  /** Source files each driver reads. Default 4. */
  readonly files?: number;
  /** Ticks of user-mode work per file. Default 6. */
  readonly work?: number;
}

export function buildWorkload(options: BuildOptions = {}): Program {
  const jobs = options.jobs ?? 6;
  const files = options.files ?? 4;
  const work = options.work ?? 6;

  function* as(u: UserOps, job: number) {
    yield u.syscall('open', { path: `/tmp/cc${job}.s`, flags: 0 });
    yield u.syscall('read', { fd: 3, buf: 0x40000, count: 4096 });
    yield u.compute(work);
    yield u.syscall('write', { fd: 4, buf: 0x40000, count: 2048 });
    yield u.syscall('close', { fd: 3 });
    yield u.exit(0);
  }

  function* cc(u: UserOps, job: number) {
    yield u.syscall('getpid');
    for (let f = 0; f < files; f++) {
      const fd: number = yield u.syscall('open', { path: `/src/unit${job}/file${f}.c`, flags: 0 });
      yield u.syscall('stat', { path: `/usr/include/header${f % 3}.h` });
      yield u.syscall('read', { fd, buf: 0x20000 + f * 0x1000, count: 4096 });
      yield u.touch(0x20000 + f * 0x1000);
      yield u.compute(work);
      yield u.syscall('close', { fd });
    }
    const asm: number = yield u.fork((u2) => as(u2, job));
    yield u.compute(work);
    yield u.syscall('write', { fd: 1, buf: 0x20000, count: 512 });
    yield u.wait();
    yield u.exit(asm > 0 ? 0 : 1);
  }

  return function* shell(u: UserOps) {
    for (let j = 0; j < jobs; j++) {
      yield u.fork(function* cc1(u2: UserOps) {
        yield u2.exec('/usr/bin/cc1', (u3) => cc(u3, j));
      });
      yield u.compute(1);
    }
    let status = 0;
    for (let j = 0; j < jobs; j++) {
      const r: { pid: number; status: number } | number = yield u.wait();
      if (typeof r === 'number' || r.status !== 0) status = 1;
    }
    yield u.syscall('write', { fd: 1, buf: 0x10000, count: 32 });
    yield u.exit(status);
  };
}
