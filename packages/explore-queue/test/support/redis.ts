/**
 * Test support (explore-queue's and the CLI's queue tests): a real redis-server (Debian's) on 127.0.0.1 on a free port with no
 * persistence, a minimal RESP client to look inside it, and `tracelab` processes.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

export const REDIS_SERVER =
  ['/usr/bin/redis-server', '/usr/local/bin/redis-server'].find((p) => existsSync(p)) ??
  (spawnSync('sh', ['-c', 'command -v redis-server']).stdout?.toString().trim() || null);

export const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
export const BIN = `${ROOT}packages/cli/dist/bin.js`;

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

type Reply = string | number | null | Reply[];

/** One command over a fresh connection; replies parsed enough for the tests (no nested errors). */
export function redisCall(port: number, ...args: (string | number)[]): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const sock = connect(port, '127.0.0.1');
    let buf = Buffer.alloc(0);
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`redis ${args[0]}: no reply`));
    }, 5000);
    sock.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      const r = parse(buf, 0);
      if (r === undefined) return;
      clearTimeout(timer);
      sock.end();
      if (r.error !== undefined) reject(new Error(r.error));
      else resolve(r.value);
    });
    sock.write(`*${args.length}\r\n` + args.map((a) => `$${Buffer.byteLength(String(a))}\r\n${a}\r\n`).join(''));
  });
}

function parse(b: Buffer, at: number): { value: Reply; next: number; error?: string } | undefined {
  const eol = b.indexOf('\r\n', at);
  if (eol < 0) return undefined;
  const head = b.toString('utf8', at + 1, eol);
  switch (b[at]) {
    case 0x2b: // +
      return { value: head, next: eol + 2 };
    case 0x2d: // -
      return { value: null, next: eol + 2, error: head };
    case 0x3a: // :
      return { value: Number(head), next: eol + 2 };
    case 0x24: {
      // $
      const n = Number(head);
      if (n < 0) return { value: null, next: eol + 2 };
      if (b.length < eol + 2 + n + 2) return undefined;
      return { value: b.toString('utf8', eol + 2, eol + 2 + n), next: eol + 2 + n + 2 };
    }
    case 0x2a: {
      // *
      const n = Number(head);
      const out: Reply[] = [];
      let p = eol + 2;
      for (let i = 0; i < n; i++) {
        const r = parse(b, p);
        if (r === undefined) return undefined;
        out.push(r.value);
        p = r.next;
      }
      return { value: out, next: p };
    }
    default:
      return { value: null, next: eol + 2, error: `unexpected reply ${head}` };
  }
}

export interface RedisServer {
  readonly port: number;
  readonly url: string;
  readonly process: ChildProcess;
  stop(): Promise<void>;
}

/**
 * Starts redis-server on 127.0.0.1 on a free port, without RDB or AOF, and waits until the server
 * answering there is this one (`INFO server`'s process_id: two test files that start Redis at once
 * can be handed the same free port, and the second server's bind then fails while the first one
 * answers). On that, or a server that did not start, it tries another port, five times in all.
 */
export async function startRedis(): Promise<RedisServer> {
  if (REDIS_SERVER === null) throw new Error('redis-server is not installed');
  const tried: string[] = [];
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    const proc = spawn(REDIS_SERVER, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'yes'], {
      stdio: 'ignore',
    });
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    const why = await ownServer(port, proc);
    if (why === null) {
      return {
        port,
        url: `redis://127.0.0.1:${port}`,
        process: proc,
        stop: async () => {
          if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
          await exited;
        },
      };
    }
    proc.kill('SIGKILL');
    await exited;
    tried.push(`port ${port}: ${why}`);
  }
  throw new Error(`redis-server did not start: ${tried.join('; ')}`);
}

/** Null once the server answering PING on `port` is `proc`; else why not (within 10 s). */
export async function ownServer(port: number, proc: ChildProcess): Promise<string | null> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (proc.exitCode !== null || proc.signalCode !== null) return `it exited (${proc.exitCode ?? proc.signalCode})`;
    try {
      if ((await redisCall(port, 'PING')) === 'PONG') {
        const info = await redisCall(port, 'INFO', 'server');
        const pid = typeof info === 'string' ? /process_id:(\d+)/.exec(info)?.[1] : undefined;
        return pid === String(proc.pid) ? null : `another server answers there (process ${pid ?? '?'})`;
      }
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) return 'no PONG within 10 s';
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A `tracelab` process (the built CLI), its output collected. */
export interface Tracelab {
  readonly process: ChildProcess;
  readonly stdout: () => string;
  readonly stderr: () => string;
  /** Resolves with the exit code (or the signal's name). */
  readonly exited: Promise<number | string>;
  /** Resolves once stderr matches `re`. */
  waitFor(re: RegExp, timeoutMs?: number): Promise<RegExpExecArray>;
  kill(signal?: NodeJS.Signals): Promise<number | string>;
}

export function tracelab(args: readonly string[], cwd: string): Tracelab {
  const p = spawn(process.execPath, [BIN, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  const waiters: Array<() => void> = [];
  p.stdout!.on('data', (d) => {
    out += d;
  });
  p.stderr!.on('data', (d) => {
    err += d;
    for (const w of waiters.splice(0)) w();
  });
  const exited = new Promise<number | string>((resolve) => p.once('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  return {
    process: p,
    stdout: () => out,
    stderr: () => err,
    exited,
    waitFor(re, timeoutMs = 30_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`tracelab ${args[0]}: no ${re} on stderr within ${timeoutMs} ms; stderr: ${err}`)), timeoutMs);
        const check = (): void => {
          const m = re.exec(err);
          if (m !== null) {
            clearTimeout(timer);
            resolve(m);
          } else if (p.exitCode !== null) {
            clearTimeout(timer);
            reject(new Error(`tracelab ${args[0]} exited (${p.exitCode}) before ${re}; stderr: ${err}`));
          } else waiters.push(check);
        };
        void exited.then(() => {
          for (const w of waiters.splice(0)) w();
        });
        check();
      });
    },
    async kill(signal = 'SIGTERM') {
      if (p.exitCode === null && p.signalCode === null) p.kill(signal);
      return exited;
    },
  };
}

/** Polls `f` every 20 ms until it returns a truthy value. */
export async function until<T>(what: string, f: () => Promise<T> | T, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
