#!/usr/bin/env node
import { main } from './cli.js';

const tty = process.stderr.isTTY === true;
process.exitCode = main(process.argv.slice(2), {
  out: (text) => process.stdout.write(text + '\n'),
  err: (text) => process.stderr.write(text + '\n'),
  ...(tty ? { progress: (text: string) => process.stderr.write(text) } : {}),
  cwd: process.cwd(),
});
