/**
 * node:fs, node:path, node:url and node:worker_threads for the viewer page's bundle. The
 * plugins the page replays import @tracelab/formats, whose CTF writer and reader touch the
 * file system; the page never calls them (it only folds a log), so each stub throws if it is.
 */
function unavailable(name: string): () => never {
  return () => {
    throw new Error(`${name} is not available in the viewer page (no file system in a browser)`);
  };
}

export const readFileSync = unavailable('fs.readFileSync');
export const writeFileSync = unavailable('fs.writeFileSync');
export const readdirSync = unavailable('fs.readdirSync');
export const statSync = unavailable('fs.statSync');
export const mkdirSync = unavailable('fs.mkdirSync');
export const rmSync = unavailable('fs.rmSync');
export const existsSync = unavailable('fs.existsSync');
export const openSync = unavailable('fs.openSync');
export const readSync = unavailable('fs.readSync');
export const closeSync = unavailable('fs.closeSync');
export const join = (...parts: string[]): string => parts.join('/');
export const relative = unavailable('path.relative');
export const resolve = unavailable('path.resolve');
export const fileURLToPath = unavailable('url.fileURLToPath');
export default {};
