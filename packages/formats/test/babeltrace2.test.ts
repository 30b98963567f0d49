import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { sampleTrace } from './ctf-writer.test.js';

const haveBabeltrace2 = (() => {
  try {
    execFileSync('babeltrace2', ['--version'], { stdio: 'pipe' });
    return true;
  } catch {
    return false;
  }
})();
if (!haveBabeltrace2) console.warn('babeltrace2 is not installed: skipping the real-client CTF check (apt-get install -y babeltrace2)');

describe.skipIf(!haveBabeltrace2)('babeltrace2 reads what the writer writes', () => {
  test('every event printed with its values; the discarded count reported', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ctfbt-'));
    const n = sampleTrace(dir);
    const out = execFileSync('babeltrace2', ['--clock-seconds', '--no-delta', dir], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    const lines = out.trim().split('\n');
    expect(lines.length).toBe(n);
    expect(lines[0]).toBe(
      '[1700000000.000001000] tracelab sched_switch: { cpu_id = 0 }, { prev_comm = "bash", prev_tid = 0, state = ( "R" : container = 0 ) }',
    );
    expect(out).toContain('syscall_entry_open: { cpu_id = 1 }, { path = "/etc/f3", flags = 0x102, mode = 3 }');
    expect(out).toContain('path = "é"');
    const all = execFileSync('sh', ['-c', `babeltrace2 '${dir}' 2>&1 >/dev/null`], { encoding: 'utf8' });
    expect(all).toMatch(/Tracer discarded 5 events/);
  });
});
