import { accessSync, constants, mkdirSync, mkdtempSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { TracelabError } from '@tracelab/core';

declare module '@tracelab/core' {
  interface TracelabErrorCodes {
    /** `--out` names something that cannot be an output folder (a file, under a file). */
    OUT_INVALID: true;
    /** `--out` (or the folder it would be made in) is not writable. */
    OUT_UNWRITABLE: true;
    /** Writing the outputs failed (disk full, I/O error) and no fallback folder could hold them either. */
    OUT_WRITE_FAILED: true;
  }
}

/**
 * The file writes the CLI makes for its outputs: the seam tests use to inject a full disk.
 * Only the CLI's own writes go through it (the CTF writer writes with node:fs directly).
 */
export interface OutputFs {
  writeFileSync(path: string, data: string | Uint8Array): void;
}

export const nodeOutputFs: OutputFs = { writeFileSync: (path, data) => writeFileSync(path, data) };

function errText(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  return e?.code !== undefined ? `${e.code}: ${e.message}` : String((err as Error)?.message ?? err);
}

/**
 * Checks before any work that `dest` can become an output folder: it is a directory or does
 * not exist yet, and it (or the nearest existing folder above it) is writable, as is the folder
 * the temporary copy is made in. Throws `OUT_INVALID` or `OUT_UNWRITABLE` naming the path.
 */
export function checkOutDir(dest: string, flag = '--out'): void {
  let probe = dest;
  for (;;) {
    let st;
    try {
      st = statSync(probe);
    } catch {
      const up = dirname(probe);
      if (up === probe) break;
      probe = up;
      continue;
    }
    if (!st.isDirectory()) {
      throw new TracelabError(
        'OUT_INVALID',
        probe === dest
          ? `${flag} ${dest} is a file, not a folder: pick another path or remove the file`
          : `${flag} ${dest} cannot be made: ${probe} is a file, not a folder`,
        { path: dest },
      );
    }
    const need = probe === dest ? [dest, dirname(dest)] : [probe];
    for (const p of need) {
      try {
        accessSync(p, constants.W_OK | constants.X_OK);
      } catch {
        throw new TracelabError('OUT_UNWRITABLE', `${flag} ${dest}: ${p} is not writable (the outputs are written beside it and renamed into place)`, {
          path: p,
        });
      }
    }
    return;
  }
}

export interface WrittenFolder {
  /** Where the outputs are: `dest`, or the fallback folder when `dest` failed. */
  readonly dir: string;
  /** Why `dest` failed, or null. */
  readonly failure: string | null;
}

/**
 * Writes a folder of outputs so that `dest` only ever holds one complete run: `write` fills a
 * temporary folder beside `dest` (same file system), which is then renamed into place; a
 * previous `dest` is moved aside first and removed after. If writing or the rename fails (a
 * full disk, a permission), the temporary folder is removed and the outputs are written again
 * into a fresh folder under the system's temporary directory; the result says where they went.
 * Only when that fails too does it throw `OUT_WRITE_FAILED` (the caller still has the result
 * in memory and prints what it can).
 */
export function writeFolder(dest: string, write: (dir: string, fs: OutputFs) => void, fs: OutputFs = nodeOutputFs): WrittenFolder {
  let failure: string;
  let tmp: string | null = null;
  try {
    mkdirSync(dirname(dest), { recursive: true });
    tmp = mkdtempSync(join(dirname(dest), `.${basename(dest)}.tmp-`));
    write(tmp, fs);
    swapInto(tmp, dest);
    return { dir: dest, failure: null };
  } catch (err) {
    failure = errText(err);
    if (tmp !== null) rmSync(tmp, { recursive: true, force: true });
  }
  let rescue: string | null = null;
  try {
    rescue = mkdtempSync(join(tmpdir(), 'tracelab-kept-'));
    write(rescue, fs);
    return { dir: rescue, failure };
  } catch (err) {
    if (rescue !== null) rmSync(rescue, { recursive: true, force: true });
    throw new TracelabError('OUT_WRITE_FAILED', `could not write ${dest} (${failure}), nor a fallback folder under ${tmpdir()} (${errText(err)})`, {
      path: dest,
    });
  }
}

/** `tmp` becomes `dest`; an existing `dest` is moved aside first and removed once replaced. */
function swapInto(tmp: string, dest: string): void {
  let old: string | null = null;
  try {
    statSync(dest);
    old = `${tmp}.old`;
    renameSync(dest, old);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  try {
    renameSync(tmp, dest);
  } catch (err) {
    // Put the previous run back: dest keeps one whole run, the old one.
    if (old !== null) renameSync(old, dest);
    throw err;
  }
  if (old !== null) rmSync(old, { recursive: true, force: true });
}
