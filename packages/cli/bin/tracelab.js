#!/usr/bin/env node
// The `tracelab` bin. It exists before the build (npm links a package's bins at install time,
// and only those whose file exists), and loads the built command from dist/.
try {
  await import('../dist/bin.js');
} catch (err) {
  if (err && err.code === 'ERR_MODULE_NOT_FOUND' && String(err.message).includes('dist/bin.js')) {
    process.stderr.write('tracelab: the package is not built yet: run `npm run build` in the repository first\n');
    process.exit(2);
  }
  throw err;
}
