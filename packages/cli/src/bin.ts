#!/usr/bin/env node
import { main } from './cli.js';

const tty = process.stderr.isTTY === true;
const code = main(process.argv.slice(2), {
  out: (text) => process.stdout.write(text + '\n'),
  err: (text) => process.stderr.write(text + '\n'),
  ...(tty ? { progress: (text: string) => process.stderr.write(text) } : {}),
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
