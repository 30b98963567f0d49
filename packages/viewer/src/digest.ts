import { canonicalJson, type KernelState } from '@tracelab/core';
import { plainState } from './internal/plain.js';
import { sha256Hex } from './internal/sha256.js';

/**
 * The hex SHA-256 of a state's canonical JSON (IntMaps as objects keyed by their integers, keys
 * sorted). The page puts the digest of the state it shows in `data-state-digest`, so a test or
 * a script can check it against `stateDigest(kernel.stateAt(seq))` computed by the library.
 */
export function stateDigest(state: KernelState): string {
  return sha256Hex(canonicalJson(plainState(state)));
}
