#!/usr/bin/env node
import { main } from './cli.js';

// A reader that goes away (`tracelab run | head`) is not an error: stop quietly with 0, as
// the coreutils do on SIGPIPE, instead of a `write EPIPE` stack trace.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
    throw err;
  });
}

const tty = process.stderr.isTTY === true;
const code = main(process.argv.slice(2), {
  out: (text) => void process.stdout.write(text + '\n'),
  err: (text) => void process.stderr.write(text + '\n'),
  ...(tty ? { progress: (text: string) => void process.stderr.write(text) } : { progressLine: (text: string) => void process.stderr.write(text + '\n') }),
  cwd: process.cwd(),
});
if (typeof code === 'number') process.exitCode = code;
else {
  // A queue command ends when its promise does; a Redis connection left half-closed must not keep the process alive.
  void code.then((c) => {
    process.exitCode = c;
    setTimeout(() => process.exit(c), 2000).unref();
  });
}
