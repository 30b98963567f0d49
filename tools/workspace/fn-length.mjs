#!/usr/bin/env node
// @ts-check
/**
 * Issue 16's rule: no function in packages/*\/src longer than LIMIT lines (end line - start
 * line + 1 of the function node, as the TypeScript compiler parses it; leading comments do not
 * count). Functions over it must be listed in fn-length-allow.json with a reason, and an entry
 * that matches no over-long function any more is an error too, so the list only shrinks.
 *
 * Run by `npm run lint` (`lint:fn-length`); exits 1 with one line per problem.
 */
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

export const LIMIT = 150;

/** The allow-list, relative to the workspace root. */
export const ALLOW_FILE = 'tools/workspace/fn-length-allow.json';

/**
 * @typedef {{ file: string; name: string; start: number; end: number; lines: number }} FnLength
 * @typedef {{ file: string; name: string; reason: string }} AllowEntry
 */

/**
 * The name a reader would look for: the declaration's own name, else the variable, property or
 * assignment target it is bound to; methods and constructors as `Class.member`. Functions with
 * no such name (callbacks) are `<anonymous in outer>`.
 * @param {ts.Node} node
 * @param {ts.SourceFile} sf
 * @param {string | undefined} outer
 * @returns {string}
 */
function nameOf(node, sf, outer) {
  const text = (/** @type {ts.Node | undefined} */ n) => (n ? n.getText(sf) : undefined);
  if (ts.isConstructorDeclaration(node)) return `${text(node.parent.name) ?? '<class>'}.constructor`;
  if (ts.isMethodDeclaration(node) || ts.isGetAccessorDeclaration(node) || ts.isSetAccessorDeclaration(node)) {
    const owner = ts.isClassLike(node.parent) ? text(node.parent.name) : undefined;
    return owner ? `${owner}.${text(node.name)}` : /** @type {string} */ (text(node.name));
  }
  if ((ts.isFunctionDeclaration(node) || ts.isFunctionExpression(node)) && node.name) return node.name.text;
  const p = node.parent;
  if (ts.isVariableDeclaration(p) || ts.isPropertyAssignment(p) || ts.isPropertyDeclaration(p)) return /** @type {string} */ (text(p.name));
  if (ts.isBinaryExpression(p) && p.operatorToken.kind === ts.SyntaxKind.EqualsToken) return /** @type {string} */ (text(p.left));
  return `<anonymous in ${outer ?? 'module'}>`;
}

/**
 * Every function-like node in one file, with its length in lines.
 * @param {string} file the path reported (relative to the workspace root)
 * @param {string} source
 * @returns {FnLength[]}
 */
export function functionLengths(file, source) {
  const sf = ts.createSourceFile(file, source, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  /** @type {FnLength[]} */
  const out = [];
  /** @param {ts.Node} node @param {string | undefined} outer */
  const visit = (node, outer) => {
    let inner = outer;
    const isFn =
      ts.isFunctionDeclaration(node) ||
      ts.isFunctionExpression(node) ||
      ts.isArrowFunction(node) ||
      ts.isMethodDeclaration(node) ||
      ts.isConstructorDeclaration(node) ||
      ts.isGetAccessorDeclaration(node) ||
      ts.isSetAccessorDeclaration(node);
    // Overload signatures and abstract members have no body: nothing to measure.
    if (isFn && node.body) {
      const name = nameOf(node, sf, outer);
      const start = sf.getLineAndCharacterOfPosition(node.getStart(sf)).line + 1;
      const end = sf.getLineAndCharacterOfPosition(node.getEnd()).line + 1;
      out.push({ file, name, start, end, lines: end - start + 1 });
      inner = name;
    }
    ts.forEachChild(node, (child) => visit(child, inner));
  };
  visit(sf, undefined);
  return out;
}

/**
 * The TypeScript sources the rule covers: packages/<pkg>/src/**\/*.ts (declaration files left
 * out), as workspace-relative paths with forward slashes, sorted.
 * @param {string} root
 * @returns {string[]}
 */
export function sourceFiles(root) {
  /** @type {string[]} */
  const files = [];
  /** @param {string} dir */
  const walk = (dir) => {
    for (const entry of readdirSync(dir).sort()) {
      const path = join(dir, entry);
      if (statSync(path).isDirectory()) walk(path);
      else if (entry.endsWith('.ts') && !entry.endsWith('.d.ts')) files.push(relative(root, path).split(sep).join('/'));
    }
  };
  const packages = join(root, 'packages');
  for (const pkg of readdirSync(packages).sort()) {
    const src = join(packages, pkg, 'src');
    if (existsSync(src) && statSync(src).isDirectory()) walk(src);
  }
  return files;
}

/**
 * Every function in the given workspace-relative files, with its length.
 * @param {string} root
 * @param {string[]} files
 * @returns {FnLength[]}
 */
export function measure(root, files) {
  return files.flatMap((file) => functionLengths(file, readFileSync(join(root, file), 'utf8')));
}

/**
 * Reads and checks the allow-list: an array of { file, name, reason }, each a non-empty string.
 * @param {string} path
 * @returns {AllowEntry[]}
 */
export function readAllowList(path) {
  const data = JSON.parse(readFileSync(path, 'utf8'));
  if (!Array.isArray(data)) throw new Error(`${path}: expected an array of { file, name, reason }`);
  data.forEach((e, i) => {
    for (const key of ['file', 'name', 'reason']) {
      if (typeof e?.[key] !== 'string' || e[key] === '') throw new Error(`${path}: entry ${i} needs a non-empty string "${key}"`);
    }
  });
  return data;
}

/**
 * Compares the functions with the allow-list. Returns one message per problem: a function over
 * `limit` lines that no entry allows, and a stale entry, one that allows no function over the
 * limit (the function was split, renamed or removed: the entry must go).
 * @param {FnLength[]} fns every function measured (`measure`)
 * @param {AllowEntry[]} allow
 * @param {number} [limit]
 * @returns {string[]}
 */
export function problems(fns, allow, limit = LIMIT) {
  const long = fns.filter((f) => f.lines > limit);
  const allows = (/** @type {AllowEntry} */ e, /** @type {FnLength} */ f) => e.file === f.file && e.name === f.name;
  const unallowed = long
    .filter((f) => !allow.some((e) => allows(e, f)))
    .map(
      (f) =>
        `${f.file}:${f.start}: function ${f.name} is ${f.lines} lines, over the limit of ${limit}: split it (or, while it is being split, list it in ${ALLOW_FILE} with a reason)`,
    );
  const stale = allow
    .filter((e) => !long.some((f) => allows(e, f)))
    .map((e) => {
      const now = fns.filter((f) => allows(e, f));
      const state =
        now.length === 0
          ? `${e.file} has no function ${e.name} (split, renamed or removed)`
          : `${e.name} in ${e.file} is ${Math.max(...now.map((f) => f.lines))} lines now, not over ${limit}`;
      return `${ALLOW_FILE}: stale entry { file: ${JSON.stringify(e.file)}, name: ${JSON.stringify(e.name)} }: ${state}; remove the entry`;
    });
  return [...unallowed, ...stale];
}

/**
 * The whole check on a workspace: measures packages/*\/src and compares with the allow-list at
 * `allowPath`. Returns the problems (none: the rule holds) and the over-long functions.
 * @param {string} root
 * @param {string} allowPath
 * @param {number} [limit]
 * @returns {{ problems: string[]; long: FnLength[] }}
 */
export function checkWorkspace(root, allowPath, limit = LIMIT) {
  const fns = measure(root, sourceFiles(root));
  return { problems: problems(fns, readAllowList(allowPath), limit), long: fns.filter((f) => f.lines > limit) };
}

const here = fileURLToPath(new URL('.', import.meta.url));
if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  // `node fn-length.mjs [root]`: the workspace this file is in by default.
  const root = resolve(process.argv[2] ?? join(here, '../..'));
  const { problems: found, long } = checkWorkspace(root, join(root, ALLOW_FILE));
  for (const p of found) console.error(p);
  if (found.length > 0) process.exitCode = 1;
  else console.log(`fn-length: no function over ${LIMIT} lines in packages/*/src but the ${long.length} that ${ALLOW_FILE} lists`);
}
