import { TracelabError } from '@tracelab/core';
import type { Cond, Expr, FenceKind, LitmusTest, LitmusThread, Ordering, Stmt, Value } from './litmus-ast.js';

declare module '@tracelab/core' {
  interface TracelabErrorCodes {
    /** A litmus file that cannot be parsed; `detail.line` is the line. */
    LITMUS_PARSE: true;
  }
}

interface Tok {
  readonly t: string;
  readonly line: number;
  /** 'id' | 'num' | 'p' (punctuation) | 'eof' */
  readonly kind: 'id' | 'num' | 'p' | 'eof';
}

const PUNCT = [
  '/\\',
  '\\/',
  '==',
  '!=',
  '<=',
  '>=',
  '&&',
  '||',
  '->',
  '(',
  ')',
  '{',
  '}',
  '[',
  ']',
  ';',
  ',',
  '*',
  '&',
  '=',
  '<',
  '>',
  '+',
  '-',
  '~',
  '!',
  ':',
  '|',
  '^',
  '%',
  '/',
  '?',
  '.',
];

function parseError(file: string, line: number, message: string): TracelabError {
  return new TracelabError('LITMUS_PARSE', `${file}:${line}: ${message}`, { file, line });
}

/** Splits the text into tokens, dropping `(* *)`, `/* *\/` and `//` comments; returns the first comment's text too. */
function tokenize(text: string, file: string): { toks: Tok[]; comment: string } {
  const toks: Tok[] = [];
  let comment = '';
  let i = 0;
  let line = 1;
  /** Brace depth so far. */
  let depth = 0;
  const n = text.length;
  while (i < n) {
    const c = text[i]!;
    if (c === '\n') {
      line++;
      i++;
      continue;
    }
    if (c === ' ' || c === '\t' || c === '\r') {
      i++;
      continue;
    }
    const two = text.slice(i, i + 2);
    // `(*` opens a comment only outside braces: inside a thread it is `READ_ONCE(*x)`.
    if ((two === '(*' && depth === 0) || two === '/*') {
      const close = two === '(*' ? '*)' : '*/';
      const end = text.indexOf(close, i + 2);
      if (end < 0) throw parseError(file, line, `unterminated comment ${two}`);
      const body = text.slice(i + 2, end);
      if (comment === '') comment = body;
      for (const ch of body) if (ch === '\n') line++;
      i = end + 2;
      continue;
    }
    if (two === '//') {
      while (i < n && text[i] !== '\n') i++;
      continue;
    }
    if (c === '"') {
      // A herd doc string: kept as a comment.
      const end = text.indexOf('"', i + 1);
      if (end < 0) throw parseError(file, line, 'unterminated string');
      for (const ch of text.slice(i, end)) if (ch === '\n') line++;
      i = end + 1;
      continue;
    }
    if (toks.length === 1 && toks[0]!.t === 'C') {
      // The test's name: the rest of the header line, whatever characters it holds.
      let j = i;
      while (j < n && text[j] !== '\n') j++;
      toks.push({ t: text.slice(i, j).trim(), line, kind: 'id' });
      i = j;
      continue;
    }
    if (/[A-Za-z_]/.test(c)) {
      let j = i + 1;
      while (j < n && /[A-Za-z0-9_]/.test(text[j]!)) j++;
      toks.push({ t: text.slice(i, j), line, kind: 'id' });
      i = j;
      continue;
    }
    if (/[0-9]/.test(c)) {
      let j = i + 1;
      while (j < n && /[0-9xXa-fA-F]/.test(text[j]!)) j++;
      const s = text.slice(i, j);
      if (!Number.isFinite(Number(s))) throw parseError(file, line, `bad number ${s}`);
      toks.push({ t: s, line, kind: 'num' });
      i = j;
      continue;
    }
    const p = PUNCT.find((q) => text.startsWith(q, i));
    if (p === undefined) throw parseError(file, line, `unexpected character ${JSON.stringify(c)}`);
    toks.push({ t: p, line, kind: 'p' });
    if (p === '{') depth++;
    if (p === '}') depth--;
    i += p.length;
  }
  toks.push({ t: '', line, kind: 'eof' });
  return { toks, comment };
}

const TYPE_WORDS = new Set([
  'void',
  'int',
  'unsigned',
  'long',
  'char',
  'short',
  'spinlock_t',
  'atomic_t',
  'atomic_long_t',
  'intptr_t',
  'u8',
  'u16',
  'u32',
  'u64',
  'bool',
  'const',
  'volatile',
  'struct',
]);

const FENCES: Readonly<Record<string, FenceKind>> = {
  smp_mb: 'mb',
  smp_wmb: 'wmb',
  smp_rmb: 'rmb',
  smp_mb__after_spinlock: 'after-spinlock',
  smp_mb__before_atomic: 'before-atomic',
  smp_mb__after_atomic: 'after-atomic',
  smp_mb__after_unlock_lock: 'after-unlock-lock',
  rcu_read_lock: 'rcu-lock',
  rcu_read_unlock: 'rcu-unlock',
  synchronize_rcu: 'sync-rcu',
  synchronize_rcu_expedited: 'sync-rcu',
  barrier: 'barrier',
};

/** The ordering suffix of an RMW name: `xchg_relaxed` -> relaxed, `xchg` -> mb. */
function orderingOf(name: string): { base: string; order: Ordering } {
  for (const [suf, order] of [
    ['_relaxed', 'relaxed'],
    ['_acquire', 'acquire'],
    ['_release', 'release'],
  ] as const) {
    if (name.endsWith(suf)) return { base: name.slice(0, -suf.length), order };
  }
  return { base: name, order: 'mb' };
}

/** Recursive-descent parser over one file's tokens. */
class Parser {
  private i = 0;
  /** Locals declared in the thread being parsed (registers). */
  private locals = new Set<string>();
  /** The thread's parameters (pointers to locations). */
  private params = new Set<string>();
  unsupported: { construct: string; line: number } | null = null;

  constructor(
    private readonly toks: Tok[],
    private readonly file: string,
  ) {}

  peek(o = 0): Tok {
    return this.toks[Math.min(this.i + o, this.toks.length - 1)]!;
  }
  next(): Tok {
    const t = this.peek();
    if (t.kind !== 'eof') this.i++;
    return t;
  }
  is(t: string, o = 0): boolean {
    const k = this.peek(o);
    return k.kind !== 'num' && k.t === t;
  }
  eat(t: string): boolean {
    if (this.is(t)) {
      this.i++;
      return true;
    }
    return false;
  }
  expect(t: string, what = `'${t}'`): Tok {
    const k = this.peek();
    if (k.t !== t || k.kind === 'num') throw this.err(k, `expected ${what}, found ${k.kind === 'eof' ? 'end of file' : JSON.stringify(k.t)}`);
    return this.next();
  }
  ident(what: string): Tok {
    const k = this.peek();
    if (k.kind !== 'id') throw this.err(k, `expected ${what}, found ${k.kind === 'eof' ? 'end of file' : JSON.stringify(k.t)}`);
    return this.next();
  }
  err(t: Tok, message: string): TracelabError {
    return parseError(this.file, t.line, message);
  }
  unsup(construct: string, line: number): void {
    if (this.unsupported === null) this.unsupported = { construct, line };
  }

  // ---- init block -----------------------------------------------------------------------

  parseInit(init: Map<string, Value>, regInit: Map<string, Value>): void {
    this.expect('{', "the init block '{'");
    while (!this.is('}')) {
      if (this.peek().kind === 'eof') throw this.err(this.peek(), "unterminated init block: expected '}'");
      if (this.eat(';')) continue;
      if (this.peek().kind === 'num' && this.is(':', 1)) {
        const th = Number(this.next().t);
        this.next();
        const reg = this.ident('a register').t;
        this.expect('=');
        regInit.set(`${th}:${reg}`, this.initValue());
        continue;
      }
      while (this.peek().kind === 'id' && TYPE_WORDS.has(this.peek().t) && (this.peek(1).kind === 'id' || this.is('*', 1))) this.next();
      while (this.eat('*'));
      const name = this.ident('a location').t;
      let v: Value = 0;
      if (this.eat('=')) v = this.initValue();
      init.set(name, v);
    }
    this.expect('}');
  }

  initValue(): Value {
    if (this.eat('&')) return this.ident('a location').t;
    if (this.eat('-')) return -Number(this.expectNum().t);
    const k = this.peek();
    if (k.kind === 'num') return Number(this.next().t);
    if (k.kind === 'id' && (k.t === 'ATOMIC_INIT' || k.t === '__SPIN_LOCK_UNLOCKED')) {
      this.next();
      this.expect('(');
      const v = this.peek().kind === 'num' ? Number(this.next().t) : (this.next(), 0);
      this.expect(')');
      return v;
    }
    return this.ident('a value').t;
  }

  expectNum(): Tok {
    const k = this.peek();
    if (k.kind !== 'num') throw this.err(k, `expected a number, found ${JSON.stringify(k.t)}`);
    return this.next();
  }

  // ---- threads ------------------------------------------------------------------------------

  parseThread(): LitmusThread {
    const head = this.ident('a thread P<n>');
    const id = Number(head.t.slice(1));
    this.locals = new Set();
    this.expect('(');
    const params: string[] = [];
    while (!this.is(')')) {
      if (this.peek().kind === 'eof') throw this.err(this.peek(), "unterminated parameter list: expected ')'");
      // Type words (any identifier followed by another identifier or a star), then the name.
      while (this.peek().kind === 'id' && (this.peek(1).kind === 'id' || this.is('*', 1))) this.next();
      while (this.eat('*'));
      params.push(this.ident('a parameter name').t);
      if (!this.eat(',')) break;
    }
    this.expect(')');
    this.params = new Set(params);
    const body = this.block();
    return { id, params, body };
  }

  block(): Stmt[] {
    this.expect('{');
    const out: Stmt[] = [];
    while (!this.is('}')) {
      if (this.peek().kind === 'eof') throw this.err(this.peek(), "unterminated block: expected '}'");
      out.push(...this.stmt());
    }
    this.expect('}');
    return out;
  }

  stmtOrBlock(): Stmt[] {
    return this.is('{') ? this.block() : this.stmt();
  }

  stmt(): Stmt[] {
    const t = this.peek();
    const line = t.line;
    if (this.eat(';')) return [];
    if (t.kind === 'id' && t.t === 'if') {
      this.next();
      this.expect('(');
      const cond = this.expr();
      this.expect(')');
      const then = this.stmtOrBlock();
      const els = this.is('else') ? (this.next(), this.stmtOrBlock()) : [];
      return [{ k: 'if', cond, then, else: els, line }];
    }
    if (t.kind === 'id' && (t.t === 'while' || t.t === 'for' || t.t === 'do' || t.t === 'goto' || t.t === 'return' || t.t === 'switch')) {
      this.unsup(t.t, line);
      this.skipStatement();
      return [];
    }
    if (t.kind === 'id' && TYPE_WORDS.has(t.t)) {
      while (this.peek().kind === 'id' && TYPE_WORDS.has(this.peek().t)) this.next();
      const out: Stmt[] = [];
      for (;;) {
        while (this.eat('*'));
        const name = this.ident('a variable name').t;
        this.locals.add(name);
        const init = this.eat('=') ? this.expr() : null;
        out.push({ k: 'decl', name, init, line });
        if (!this.eat(',')) break;
      }
      this.expect(';');
      return out;
    }
    if (t.kind === 'id' && FENCES[t.t] !== undefined && this.is('(', 1)) {
      this.next();
      this.expect('(');
      this.expect(')');
      this.expect(';');
      return [{ k: 'fence', f: FENCES[t.t]!, line }];
    }
    if (t.kind === 'id' && this.is('(', 1)) {
      const name = t.t;
      const simple: Record<string, 'once' | 'release' | 'rcu'> = {
        WRITE_ONCE: 'once',
        smp_store_release: 'release',
        rcu_assign_pointer: 'release',
        atomic_set: 'once',
        atomic_set_release: 'release',
        atomic_long_set: 'once',
      };
      if (simple[name] !== undefined) {
        this.next();
        this.expect('(');
        const star = name === 'WRITE_ONCE' || name === 'rcu_assign_pointer';
        const addr = star ? this.lvalueAddr() : this.expr();
        this.expect(',');
        const value = this.expr();
        this.expect(')');
        this.expect(';');
        return [{ k: 'store', release: simple[name] === 'release', plain: false, addr, value, line }];
      }
      if (name === 'spin_lock' || name === 'spin_unlock' || name === 'raw_spin_lock' || name === 'raw_spin_unlock') {
        this.next();
        this.expect('(');
        const addr = this.expr();
        this.expect(')');
        this.expect(';');
        return [name.endsWith('unlock') ? { k: 'unlock', addr, line } : { k: 'lock', addr, line }];
      }
      const e = this.expr();
      this.expect(';');
      return [{ k: 'expr', e, line }];
    }
    // An expression statement such as `(void)atomic_add_unless(v, 1, 0);` (the cast is dropped).
    if (this.is('(')) {
      const e = this.expr();
      this.expect(';');
      return [{ k: 'expr', e, line }];
    }
    // An assignment: `r = e;` or `*p = e;`
    if (this.is('*')) {
      this.next();
      const addr = this.unary();
      this.expect('=');
      const value = this.expr();
      this.expect(';');
      return [{ k: 'store', release: false, plain: true, addr, value, line }];
    }
    if (t.kind === 'id' && this.is('=', 1)) {
      this.next();
      this.next();
      // herd7 takes an undeclared name as a register, but not a thread parameter (a pointer).
      if (this.params.has(t.t)) throw this.err(t, `assignment to parameter ${t.t}: write through it with WRITE_ONCE(*${t.t}, ...)`);
      this.locals.add(t.t);
      const e = this.expr();
      this.expect(';');
      return [{ k: 'assign', reg: t.t, e, line }];
    }
    throw this.err(t, `cannot parse a statement starting with ${JSON.stringify(t.t)}`);
  }

  skipStatement(): void {
    let depth = 0;
    for (;;) {
      const k = this.next();
      if (k.kind === 'eof') return;
      if (k.t === '{') depth++;
      if (k.t === '}') {
        depth--;
        if (depth <= 0) return;
      }
      if (k.t === ';' && depth === 0) return;
    }
  }

  /** The address of `*e` in WRITE_ONCE(*e, v) / READ_ONCE(*e); a bare `x` (no star) is taken as the location x. */
  lvalueAddr(): Expr {
    if (this.eat('*')) return this.unary();
    const t = this.peek();
    if (t.kind === 'id' && !this.locals.has(t.t)) {
      this.next();
      return { k: 'loc', name: t.t };
    }
    return this.expr();
  }

  // ---- expressions --------------------------------------------------------------------------

  expr(): Expr {
    return this.binary(0);
  }

  private static readonly PREC: ReadonlyArray<readonly string[]> = [
    ['||'],
    ['&&'],
    ['|'],
    ['^'],
    ['&'],
    ['==', '!='],
    ['<', '>', '<=', '>='],
    ['+', '-'],
    ['*', '/', '%'],
  ];

  binary(level: number): Expr {
    if (level >= Parser.PREC.length) return this.unary();
    let a = this.binary(level + 1);
    for (;;) {
      const t = this.peek();
      if (t.kind === 'p' && Parser.PREC[level]!.includes(t.t)) {
        this.next();
        const b = this.binary(level + 1);
        a = { k: 'bin', op: t.t, a, b };
      } else return a;
    }
  }

  unary(): Expr {
    const t = this.peek();
    if (this.eat('!')) return { k: 'un', op: '!', a: this.unary() };
    if (this.eat('-')) return { k: 'un', op: '-', a: this.unary() };
    if (this.eat('*')) return { k: 'plain-load', addr: this.unary() };
    if (this.eat('&')) return { k: 'loc', name: this.ident('a location').t };
    if (this.eat('(')) {
      // A cast `(int *)e` is dropped.
      if (this.peek().kind === 'id' && TYPE_WORDS.has(this.peek().t)) {
        while (!this.is(')') && this.peek().kind !== 'eof') this.next();
        this.expect(')');
        return this.unary();
      }
      const e = this.expr();
      this.expect(')');
      return e;
    }
    if (t.kind === 'num') {
      this.next();
      return { k: 'num', v: Number(t.t) };
    }
    if (t.kind === 'id') {
      this.next();
      if (this.is('(')) return this.call(t);
      if (t.t === 'true') return { k: 'num', v: 1 };
      if (t.t === 'false' || t.t === 'NULL') return { k: 'num', v: 0 };
      return this.locals.has(t.t) ? { k: 'reg', name: t.t } : { k: 'loc', name: t.t };
    }
    throw this.err(t, `expected an expression, found ${t.kind === 'eof' ? 'end of file' : JSON.stringify(t.t)}`);
  }

  args(): Expr[] {
    this.expect('(');
    const out: Expr[] = [];
    while (!this.is(')')) {
      out.push(this.expr());
      if (!this.eat(',')) break;
    }
    this.expect(')');
    return out;
  }

  call(t: Tok): Expr {
    const name = t.t;
    if (name === 'READ_ONCE' || name === 'rcu_dereference' || name === 'srcu_dereference' || name === 'rcu_dereference_raw') {
      this.expect('(');
      const addr = this.lvalueAddr();
      this.expect(')');
      return { k: 'load', acquire: false, addr };
    }
    const args = this.args();
    const need = (n: number): void => {
      if (args.length !== n) throw this.err(t, `${name} takes ${n} argument${n === 1 ? '' : 's'}, got ${args.length}`);
    };
    if (name === 'smp_load_acquire' || name === 'atomic_read_acquire') {
      need(1);
      return { k: 'load', acquire: true, addr: args[0]! };
    }
    if (name === 'atomic_read' || name === 'atomic_long_read') {
      need(1);
      return { k: 'load', acquire: false, addr: args[0]! };
    }
    if (name === 'spin_is_locked') {
      need(1);
      return { k: 'is-locked', addr: args[0]! };
    }
    const { base, order } = orderingOf(name);
    const rmw = (op: 'xchg' | 'cmpxchg' | 'add' | 'add-unless', addr: Expr, a: Expr, b: Expr | null, fetch: boolean, returns: boolean): Expr => ({
      k: 'rmw',
      op,
      order: returns ? order : 'relaxed',
      addr,
      a,
      b,
      fetch,
      returns,
    });
    switch (base) {
      case 'xchg':
      case 'atomic_xchg':
        need(2);
        return rmw('xchg', args[0]!, args[1]!, null, true, true);
      case 'cmpxchg':
      case 'atomic_cmpxchg':
        need(3);
        return rmw('cmpxchg', args[0]!, args[1]!, args[2]!, true, true);
      case 'atomic_add_return':
      case 'atomic_sub_return':
        need(2);
        return rmw('add', args[1]!, base === 'atomic_sub_return' ? { k: 'un', op: '-', a: args[0]! } : args[0]!, null, false, true);
      case 'atomic_inc_return':
      case 'atomic_dec_return':
        need(1);
        return rmw('add', args[0]!, { k: 'num', v: base === 'atomic_inc_return' ? 1 : -1 }, null, false, true);
      case 'atomic_fetch_add':
      case 'atomic_fetch_sub':
        need(2);
        return rmw('add', args[1]!, base === 'atomic_fetch_sub' ? { k: 'un', op: '-', a: args[0]! } : args[0]!, null, true, true);
      case 'atomic_fetch_inc':
      case 'atomic_fetch_dec':
        need(1);
        return rmw('add', args[0]!, { k: 'num', v: base === 'atomic_fetch_inc' ? 1 : -1 }, null, true, true);
      case 'atomic_add_unless':
        need(3);
        return rmw('add-unless', args[0]!, args[1]!, args[2]!, false, true);
      case 'atomic_add':
      case 'atomic_sub':
        if (order !== 'mb') break;
        need(2);
        return rmw('add', args[1]!, base === 'atomic_sub' ? { k: 'un', op: '-', a: args[0]! } : args[0]!, null, true, false);
      case 'atomic_inc':
      case 'atomic_dec':
        if (order !== 'mb') break;
        need(1);
        return rmw('add', args[0]!, { k: 'num', v: base === 'atomic_inc' ? 1 : -1 }, null, true, false);
      default:
        break;
    }
    this.unsup(`${name}()`, t.line);
    return { k: 'num', v: 0 };
  }

  // ---- the final condition ------------------------------------------------------------------

  cond(): Cond {
    let a = this.condAnd();
    while (this.eat('\\/')) a = { k: 'or', a, b: this.condAnd() };
    return a;
  }
  condAnd(): Cond {
    let a = this.condAtom();
    while (this.eat('/\\')) a = { k: 'and', a, b: this.condAtom() };
    return a;
  }
  condAtom(): Cond {
    const t = this.peek();
    if (this.eat('~') || (t.kind === 'id' && t.t === 'not' && (this.next(), true))) return { k: 'not', a: this.condAtom() };
    if (this.eat('(')) {
      const c = this.cond();
      this.expect(')');
      return c;
    }
    if (t.kind === 'id' && t.t === 'true') return (this.next(), { k: 'true' });
    if (t.kind === 'id' && t.t === 'false') return (this.next(), { k: 'false' });
    if (t.kind === 'num' && this.is(':', 1)) {
      const thread = Number(this.next().t);
      this.next();
      const reg = this.ident('a register').t;
      const eq = this.eqOp();
      return { k: 'reg', thread, reg, eq, v: this.condValue() };
    }
    if (t.kind === 'id') {
      this.next();
      const loc = t.t;
      const eq = this.eqOp();
      return { k: 'mem', loc, eq, v: this.condValue() };
    }
    throw this.err(t, `expected a condition, found ${t.kind === 'eof' ? 'end of file' : JSON.stringify(t.t)}`);
  }
  eqOp(): boolean {
    if (this.eat('=') || this.eat('==')) return true;
    if (this.eat('!=')) return false;
    throw this.err(this.peek(), `expected '=' or '!=' in the condition, found ${JSON.stringify(this.peek().t)}`);
  }
  condValue(): Value {
    if (this.eat('-')) return -Number(this.expectNum().t);
    if (this.eat('&')) return this.ident('a location').t;
    const k = this.peek();
    if (k.kind === 'num') return Number(this.next().t);
    return this.ident('a value').t;
  }
}

/**
 * Parses one litmus test in the C dialect of the kernel's tools/memory-model/litmus-tests.
 * Throws `LITMUS_PARSE` (with `detail.line`) for text it cannot parse. A construct it parses but
 * cannot run (a loop, an unknown primitive such as `srcu_read_lock()`) is recorded in
 * `unsupported` with its line instead.
 */
export function parseLitmus(text: string, file = '<litmus>'): LitmusTest {
  const { toks, comment } = tokenize(text, file);
  const p = new Parser(toks, file);
  const head = p.ident("the header 'C <name>'");
  if (head.t !== 'C') {
    throw parseError(file, head.line, `not a C litmus test: the first word is ${JSON.stringify(head.t)} (expected 'C')`);
  }
  const nameTok = p.peek();
  if (nameTok.kind === 'eof') throw parseError(file, nameTok.line, 'missing test name after C');
  // The name may hold characters the tokenizer splits (`+`, `.`, `-`): join up to the end of its line.
  const name = p.next().t;
  if (name === '') throw parseError(file, nameTok.line, 'missing test name after C');
  const init = new Map<string, Value>();
  const regInit = new Map<string, Value>();
  p.parseInit(init, regInit);
  const threads: LitmusThread[] = [];
  while (p.peek().kind === 'id' && /^P[0-9]+$/.test(p.peek().t)) {
    const th = p.parseThread();
    if (th.id !== threads.length) throw parseError(file, p.peek().line, `thread P${th.id} out of order (expected P${threads.length})`);
    threads.push(th);
  }
  if (threads.length === 0) throw parseError(file, p.peek().line, 'no thread P0');
  let quantifier: LitmusTest['quantifier'] | null = null;
  let cond: Cond | null = null;
  let filter: Cond | null = null;
  while (p.peek().kind !== 'eof') {
    const t = p.peek();
    if (t.kind === 'id' && t.t === 'locations') {
      p.next();
      p.expect('[');
      while (!p.is(']') && p.peek().kind !== 'eof') p.next();
      p.expect(']');
    } else if (t.kind === 'id' && t.t === 'filter') {
      p.next();
      filter = p.cond();
    } else if (t.kind === 'id' && (t.t === 'exists' || t.t === 'forall')) {
      p.next();
      quantifier = t.t === 'exists' ? 'exists' : 'forall';
      cond = p.cond();
    } else if (p.is('~') && p.peek(1).t === 'exists') {
      p.next();
      p.next();
      quantifier = 'not-exists';
      cond = p.cond();
    } else {
      throw parseError(file, t.line, `expected exists, ~exists, forall, filter or locations, found ${JSON.stringify(t.t)}`);
    }
  }
  if (quantifier === null || cond === null) throw parseError(file, p.peek().line, 'missing final condition (exists, ~exists or forall)');
  return { name, init, regInit, threads, quantifier, cond, filter, unsupported: p.unsupported, comment };
}
