/**
 * The queue tests' Redis (test/support/redis.ts): a server started for one test file is that file's
 * own. Test files run two at a time, and two of them may be handed the same free port.
 */
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { ownServer, REDIS_SERVER, startRedis } from './support/redis.js';

describe.skipIf(REDIS_SERVER === null)('startRedis', () => {
  it('tells its own server from another answering on the port, and from one that exited', async () => {
    const a = await startRedis();
    const b = await startRedis();
    try {
      expect(b.port).not.toBe(a.port);
      expect(await ownServer(a.port, a.process)).toBeNull();
      // b's process asked about a's port: the server answering there is a's.
      expect(await ownServer(a.port, b.process)).toBe(`another server answers there (process ${a.process.pid})`);
      // A second server on a's port cannot bind it and exits.
      const late = spawn(REDIS_SERVER!, ['--port', String(a.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
      await new Promise((resolve) => late.once('exit', resolve));
      expect(await ownServer(a.port, late)).toMatch(/^it exited \(/);
    } finally {
      await a.stop();
      await b.stop();
    }
  }, 30_000);
});
