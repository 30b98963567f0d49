import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { buildSync } from 'esbuild';
import { TracelabError } from '@tracelab/core';

/** The page's script, bundled once per process (guarded by: single-threaded module state). */
let cached: string | null = null;

function here(name: string): { path: string; source: boolean } {
  const js = fileURLToPath(new URL(`${name}.js`, import.meta.url));
  if (existsSync(js)) return { path: js, source: false };
  return { path: fileURLToPath(new URL(`${name}.ts`, import.meta.url)), source: true };
}

/**
 * The viewer page's script: the page code, @tracelab/core and the plugins, bundled by esbuild
 * into one IIFE (minified, ES2022). Built from the compiled `dist/` when it exists, else from
 * the TypeScript sources (tests run on sources; the workspace's `@tracelab/source` condition
 * then resolves the other packages to theirs). Node built-ins the core and the formats import
 * are mapped to shims: node:crypto to a plain SHA-256 (the page can hash its log), the file
 * system to stubs that throw (the page never writes a trace).
 */
export function viewerBundle(): string {
  if (cached !== null) return cached;
  const entry = here('./page/main');
  const crypto = here('./shims/crypto').path;
  const unavailable = here('./shims/unavailable').path;
  let result;
  try {
    result = buildSync({
      entryPoints: [entry.path],
      bundle: true,
      write: false,
      format: 'iife',
      platform: 'browser',
      target: 'es2022',
      minify: process.env['TRACELAB_VIEWER_NO_MINIFY'] !== '1',
      // Plugins label host values by function name (ValueLabels: `channelProbe#1`), and some of
      // those labels are folded into the state at registration rather than read from the log:
      // minified names would give the page other labels, hence other states, than the library.
      keepNames: true,
      legalComments: 'none',
      charset: 'utf8',
      logLevel: 'silent',
      conditions: entry.source ? ['@tracelab/source'] : [],
      define: { 'process.env.NODE_ENV': '"production"' },
      alias: { 'node:crypto': crypto, 'node:fs': unavailable, 'node:path': unavailable, 'node:url': unavailable, 'node:worker_threads': unavailable },
    });
  } catch (err) {
    throw new TracelabError(
      'VIEWER_BUNDLE_FAILED',
      `viewer: esbuild could not bundle the page from ${entry.path}: ${err instanceof Error ? err.message : String(err)}`,
      { entry: entry.path },
      { cause: err },
    );
  }
  const out = result.outputFiles[0];
  if (out === undefined) throw new TracelabError('VIEWER_BUNDLE_FAILED', `viewer: esbuild produced no output for ${entry.path}`, { entry: entry.path });
  cached = out.text;
  return cached;
}
