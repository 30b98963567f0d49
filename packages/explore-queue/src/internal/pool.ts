import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { TracelabError } from '@tracelab/core';
import type { ChunkResult } from '@tracelab/explore';
import type { ThreadReply, ThreadRequest } from '../chunk-thread.js';

/** The thread script: the built one beside this file, or the package's dist/ when run from sources. */
function threadFile(): string {
  const here = import.meta.url;
  const url = here.endsWith('.ts') ? new URL('../../dist/chunk-thread.js', here) : new URL('../chunk-thread.js', here);
  const file = fileURLToPath(url);
  if (!existsSync(file))
    throw new TracelabError(
      'INVALID_OPTION',
      `explore-queue: chunk threads run the built package, and ${file} does not exist; build it first (npx tsc -b packages/explore-queue/tsconfig.lib.json)`,
    );
  return file;
}

interface Slot {
  readonly thread: Worker;
  /** The request it runs, or null when idle. Written only by `run` and the thread's reply handler. */
  pending: { readonly id: number; readonly resolve: (r: ThreadReply) => void; readonly reject: (e: Error) => void } | null;
}

/**
 * `size` worker threads that run chunks; `run` hands a request to an idle one. The BullMQ
 * worker's concurrency equals `size`, so an idle thread is always there when a job arrives.
 */
export class ChunkPool {
  // Both written only on the main thread's event loop (run, reply and exit handlers).
  private readonly slots: Slot[] = [];
  private nextId = 0;

  constructor(private readonly size: number) {}

  private spawn(): Slot {
    // No inherited flags: a test runner's `--conditions` would send the thread to TypeScript sources.
    const slot: Slot = { thread: new Worker(threadFile(), { execArgv: [] }), pending: null };
    slot.thread.on('message', (reply: ThreadReply) => {
      const p = slot.pending;
      slot.pending = null;
      if (p !== null && p.id === reply.id) p.resolve(reply);
    });
    const lost = (why: string): void => {
      const p = slot.pending;
      slot.pending = null;
      const i = this.slots.indexOf(slot);
      if (i >= 0) this.slots.splice(i, 1);
      p?.reject(new Error(`chunk thread ${why}`));
    };
    slot.thread.on('error', (err) => lost(`failed: ${err.message}`));
    slot.thread.on('exit', (code) => lost(`exited with code ${code}`));
    this.slots.push(slot);
    return slot;
  }

  async run(req: Omit<ThreadRequest, 'id'>): Promise<{ result: ChunkResult } | { error: string }> {
    const slot = this.slots.find((s) => s.pending === null) ?? (this.slots.length < this.size ? this.spawn() : null);
    if (slot === null) throw new Error('chunk pool: more chunks than threads (the BullMQ concurrency must equal the pool size)');
    const id = this.nextId++;
    const reply = await new Promise<ThreadReply>((resolve, reject) => {
      slot.pending = { id, resolve, reject };
      slot.thread.postMessage({ ...req, id } satisfies ThreadRequest);
    });
    return 'error' in reply ? { error: reply.error } : { result: reply.result };
  }

  async close(): Promise<void> {
    const all = this.slots.splice(0);
    await Promise.all(all.map((s) => s.thread.terminate()));
  }
}
