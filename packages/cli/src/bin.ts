#!/usr/bin/env node

// A reader that goes away (`tracelab run | head`) is not an error: stop quietly with 0, as
// the coreutils do on SIGPIPE, instead of a `write EPIPE` stack trace.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
    throw err;
  });
}

const tty = process.stderr.isTTY === true;
const io = {
  out: (text: string) => void process.stdout.write(text + '\n'),
  err: (text: string) => void process.stderr.write(text + '\n'),
  ...(tty ? { progress: (text: string) => void process.stderr.write(text) } : { progressLine: (text: string) => void process.stderr.write(text + '\n') }),
  cwd: process.cwd(),
};
const argv = process.argv.slice(2);
// `convert` only reads and writes traces: it is loaded alone, without the plugins, scenarios and
// explorer every other command needs (their loading is most of a short conversion's time).
const code =
  argv[0] === 'convert'
    ? (await import('./internal/commands.js')).runCommand((await import('./convert.js')).CONVERT_COMMAND, argv.slice(1), io)
    : (await import('./cli.js')).main(argv, io);
if (typeof code === 'number') process.exitCode = code;
else {
  // A queue command ends when its promise does; a Redis connection left half-closed must not keep the process alive.
  void code.then((c) => {
    process.exitCode = c;
    setTimeout(() => process.exit(c), 2000).unref();
  });
}
