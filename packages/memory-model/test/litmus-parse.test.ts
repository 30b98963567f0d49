import { describe, expect, it } from 'vitest';
import { encodeSchedule, TracelabError } from '@tracelab/core';
import { parseLitmus, runLitmus } from '@tracelab/memory-model';

const MP = `C MP+demo

(* Result: Never *)

{
  y=z;
  0:r9=3;
}

P0(int *x, int **y)
{
  WRITE_ONCE(*x, 1);
  rcu_assign_pointer(*y, x);
}

P1(int *x, int **y)
{
  int *r0;
  int r1;

  rcu_read_lock();
  r0 = rcu_dereference(*y);
  r1 = READ_ONCE(*r0);
  rcu_read_unlock();
}

locations [x; y]
exists (1:r0=x /\\ 1:r1=0)
`;

function parseError(text: string): TracelabError {
  try {
    parseLitmus(text, 'bad.litmus');
  } catch (err) {
    if (err instanceof TracelabError) return err;
    throw err;
  }
  throw new Error('parsed');
}

describe('parseLitmus', () => {
  it('reads the header, init block (pointers, registers), threads, locations and condition', () => {
    const t = parseLitmus(MP, 'mp.litmus');
    expect(t.name).toBe('MP+demo');
    expect(t.init.get('y')).toBe('z');
    expect(t.regInit.get('0:r9')).toBe(3);
    expect(t.threads.map((th) => th.params)).toEqual([
      ['x', 'y'],
      ['x', 'y'],
    ]);
    expect(t.quantifier).toBe('exists');
    expect(t.cond).toEqual({ k: 'and', a: { k: 'reg', thread: 1, reg: 'r0', eq: true, v: 'x' }, b: { k: 'reg', thread: 1, reg: 'r1', eq: true, v: 0 } });
    expect(t.unsupported).toBeNull();
    expect(runLitmus(t).expected).toBe('Never');
  });

  it('reports the line of what it cannot parse, with LITMUS_PARSE', () => {
    const e = parseError('C bad\n{}\nP0(int *x)\n{\n  WRITE_ONCE(*x 1);\n}\nexists (x=1)\n');
    expect(e.code).toBe('LITMUS_PARSE');
    expect(e.detail.line).toBe(5);
    expect(e.message).toMatch(/^bad\.litmus:5: expected ','/);
    expect(parseError('P0() {}').message).toMatch(/expected 'C'|first word/);
    expect(parseError('C t\n{}\nP0(int *x)\n{\n  WRITE_ONCE(*x, 1);\n}\n').message).toMatch(/missing final condition/);
    expect(parseError('C t\n{}\nP0(int *x)\n{\n  x = 1;\n}\nexists (x=1)\n').message).toMatch(/bad\.litmus:5: assignment to parameter x/);
    expect(parseError('C t\n{ x=1;\n').message).toMatch(/unterminated init block/);
  });

  it('marks a construct it cannot run as Unsupported, naming it and its line', () => {
    const t = parseLitmus('C t\n{}\nP0(int *x)\n{\n  int r0;\n  r0 = READ_ONCE(*x);\n  while (r0) r0 = 0;\n}\nexists (0:r0=0)\n');
    expect(t.unsupported).toEqual({ construct: 'while', line: 7 });
    expect(runLitmus(t)).toMatchObject({ result: 'Unsupported', unsupported: { construct: 'while', line: 7 } });
    const s = parseLitmus('C t\n{}\nP0(int *x, struct srcu_struct *s)\n{\n  int i;\n  i = srcu_read_lock(s);\n}\nexists (x=0)\n');
    expect(s.unsupported).toEqual({ construct: 'srcu_read_lock()', line: 6 });
  });

  it('~exists, forall and filter change what is counted, not the executions', () => {
    const base = (q: string) =>
      `C sb\n{}\nP0(int *x, int *y)\n{\n int r0;\n WRITE_ONCE(*x, 1);\n r0 = READ_ONCE(*y);\n}\nP1(int *x, int *y)\n{\n int r0;\n WRITE_ONCE(*y, 1);\n r0 = READ_ONCE(*x);\n}\n${q}\n`;
    expect(runLitmus(parseLitmus(base('exists (0:r0=0 /\\ 1:r0=0)')))).toMatchObject({ result: 'Sometimes', positive: 1, negative: 3 });
    expect(runLitmus(parseLitmus(base('~exists (0:r0=0 /\\ 1:r0=0)')))).toMatchObject({ result: 'Sometimes', positive: 1, negative: 3 });
    expect(runLitmus(parseLitmus(base('forall (0:r0=1 \\/ 1:r0=1 \\/ 0:r0=0)')))).toMatchObject({ result: 'Always', positive: 4, negative: 0 });
    expect(runLitmus(parseLitmus(base('filter (0:r0=0)\nexists (1:r0=0)')))).toMatchObject({ result: 'Sometimes', positive: 1, negative: 1 });
    expect(runLitmus(parseLitmus(base('exists (x=2)')))).toMatchObject({ result: 'Never', positive: 0, negative: 4 });
  });

  it('a witness replays to the same execution; a string that does not fit is refused', () => {
    const t = parseLitmus(MP.replace('rcu_assign_pointer(*y, x)', 'WRITE_ONCE(*y, x)'));
    const r = runLitmus(t);
    expect(r.result).toBe('Sometimes');
    const again = runLitmus(t, { replay: r.witness!.replay });
    expect(again.witness).toEqual(r.witness);
    expect(r.witness!.threads[1]).toEqual(['F rcu_read_lock', 'R y=x <- P0', 'R x=0 <- init', 'F rcu_read_unlock']);
    expect(() => runLitmus(t, { replay: encodeSchedule([9]) })).toThrow(/does not fit/);
    expect(() => runLitmus(t, { replay: 'S1:9' })).toThrow(expect.objectContaining({ code: 'SCHEDULE_VERSION' }));
  });

  it('counters: every value a chain of increments can reach is explored, atomics lose none', () => {
    const inc = (body: string, cond: string) => {
      const th = (i: number) => `P${i}(atomic_t *x)\n{\n int r0;\n ${body}\n}\n`;
      return parseLitmus(`C inc\n{}\n${th(0)}${th(1)}${th(2)}exists (${cond})\n`);
    };
    expect(runLitmus(inc('atomic_inc(x);', 'x=3'))).toMatchObject({ result: 'Always' });
    expect(runLitmus(inc('r0 = atomic_inc_return_relaxed(x);', 'x=3 /\\ 0:r0=3'))).toMatchObject({ result: 'Sometimes' });
    // Plain read-then-write increments lose updates: 1, 2 and 3 are all possible, nothing else.
    const racy = (c: string) => runLitmus(inc('r0 = READ_ONCE(*x);\n WRITE_ONCE(*x, r0 + 1);', c)).result;
    expect([racy('x=1'), racy('x=2'), racy('x=3'), racy('x=4')]).toEqual(['Sometimes', 'Sometimes', 'Sometimes', 'Never']);
  });
});
