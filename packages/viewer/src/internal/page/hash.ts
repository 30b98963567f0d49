import { canonicalJson, type KernelEvent } from '@tracelab/core';
import { Sha256 } from '../sha256.js';

const SLICE = 4000;

/**
 * The log hash as the core defines it (SHA-256 of one canonical JSON event per line, each
 * ending in a newline), computed a slice of events per task so that the page stays responsive
 * while a long log is hashed. Calls `done` with the hex digest.
 */
export function logHashInSlices(log: readonly KernelEvent[], done: (hex: string) => void): void {
  const h = new Sha256();
  let i = 0;
  const slice = (): void => {
    const end = Math.min(log.length, i + SLICE);
    let chunk = '';
    for (; i < end; i++) chunk += canonicalJson(log[i]) + '\n';
    h.update(chunk);
    if (i < log.length) setTimeout(slice, 0);
    else done(h.hex());
  };
  setTimeout(slice, 0);
}
