/**
 * node:crypto for the viewer page's bundle: only what @tracelab/core's store uses for
 * `logHash()` (`createHash('sha256')`, `update`, `copy`, `digest('hex')`).
 */
import { Sha256 } from '../sha256.js';

class Hash {
  constructor(private readonly inner: Sha256) {}
  update(data: string | Uint8Array): this {
    this.inner.update(data);
    return this;
  }
  copy(): Hash {
    return new Hash(this.inner.copy());
  }
  digest(encoding: 'hex'): string {
    if (encoding !== 'hex') throw new Error(`viewer crypto shim: digest(${String(encoding)}) is not supported, only 'hex'`);
    return this.inner.hex();
  }
}

export function createHash(algorithm: string): Hash {
  if (algorithm !== 'sha256') throw new Error(`viewer crypto shim: only sha256 is available in the page, not ${algorithm}`);
  return new Hash(new Sha256());
}

export type { Hash };
