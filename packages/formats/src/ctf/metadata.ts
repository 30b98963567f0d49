import { TracelabError } from '@tracelab/core';
import type { CtfEnumType, CtfFieldType, CtfIntegerType, CtfTraceClass } from './types.js';

/**
 * The TSDL text (CTF 1.8 plain-text metadata) of a trace class. The layout it declares is the
 * one `writeCtfPacket`/`CtfStreamWriter` and `@tracelab/ring-buffer` write: little-endian,
 * everything byte-packed (`align = 8`), LTTng's packet header and context, and an event header
 * `{ id; timestamp (u64, mapped to the clock) }`.
 */
export function ctfMetadata(traceClass: CtfTraceClass): string {
  validateTraceClass(traceClass);
  const clock = traceClass.clock;
  const idSize = traceClass.eventIdSize ?? 32;
  const streamId = traceClass.streamId ?? 0;
  const out: string[] = [];
  out.push('/* CTF 1.8 */', '');
  out.push('typealias integer { size = 8; align = 8; signed = false; } := uint8_t;');
  out.push('typealias integer { size = 16; align = 8; signed = false; } := uint16_t;');
  out.push('typealias integer { size = 32; align = 8; signed = false; } := uint32_t;');
  out.push('typealias integer { size = 64; align = 8; signed = false; } := uint64_t;');
  out.push('');
  out.push('trace {');
  out.push('\tmajor = 1;');
  out.push('\tminor = 8;');
  out.push(`\tuuid = "${traceClass.uuid}";`);
  out.push('\tbyte_order = le;');
  out.push('\tpacket.header := struct {');
  out.push('\t\tuint32_t magic;');
  out.push('\t\tuint8_t  uuid[16];');
  out.push('\t\tuint32_t stream_id;');
  out.push('\t\tuint64_t stream_instance_id;');
  out.push('\t} align(8);');
  out.push('};');
  out.push('');
  const env = traceClass.env ?? {};
  const envKeys = Object.keys(env);
  if (envKeys.length > 0) {
    out.push('env {');
    for (const key of envKeys) {
      const v = env[key]!;
      out.push(`\t${key} = ${typeof v === 'number' ? String(Math.trunc(v)) : quote(v)};`);
    }
    out.push('};');
    out.push('');
  }
  out.push('clock {');
  out.push(`\tname = ${clock.name};`);
  if (clock.uuid !== undefined) out.push(`\tuuid = "${clock.uuid}";`);
  if (clock.description !== undefined) out.push(`\tdescription = ${quote(clock.description)};`);
  out.push(`\tfreq = ${clock.freq};`);
  out.push(`\toffset_s = ${clock.offsetSeconds};`);
  out.push(`\toffset = ${clock.offset};`);
  out.push(`\tprecision = 0;`);
  out.push(`\tabsolute = ${clock.absolute === true ? 'true' : 'false'};`);
  out.push('};');
  out.push('');
  out.push(`typealias integer { size = 64; align = 8; signed = false; map = clock.${clock.name}.value; } := uint64_clock_${clock.name}_t;`);
  out.push('');
  out.push('stream {');
  out.push(`\tid = ${streamId};`);
  out.push('\tevent.header := struct {');
  out.push(`\t\tuint${idSize}_t id;`);
  out.push(`\t\tuint64_clock_${clock.name}_t timestamp;`);
  out.push('\t} align(8);');
  out.push('\tpacket.context := struct {');
  out.push(`\t\tuint64_clock_${clock.name}_t timestamp_begin;`);
  out.push(`\t\tuint64_clock_${clock.name}_t timestamp_end;`);
  out.push('\t\tuint64_t content_size;');
  out.push('\t\tuint64_t packet_size;');
  out.push('\t\tuint64_t packet_seq_num;');
  out.push('\t\tuint64_t events_discarded;');
  out.push('\t\tuint32_t cpu_id;');
  out.push('\t} align(8);');
  out.push('};');
  out.push('');
  for (const ec of traceClass.eventClasses) {
    out.push('event {');
    out.push(`\tname = ${quote(ec.name)};`);
    out.push(`\tid = ${ec.id};`);
    out.push(`\tstream_id = ${streamId};`);
    if (ec.loglevel !== undefined) out.push(`\tloglevel = ${ec.loglevel};`);
    out.push('\tfields := struct {');
    for (const f of ec.fields) out.push(`\t\t${fieldDecl(f.type, f.name)};`);
    out.push('\t} align(8);');
    out.push('};');
    out.push('');
  }
  return out.join('\n');
}

function integerDecl(t: CtfIntegerType): string {
  const base = t.base === 16 ? ' base = 16;' : '';
  return `integer { size = ${t.size}; align = 8; signed = ${t.signed ? 'true' : 'false'};${base} }`;
}

function enumDecl(t: CtfEnumType): string {
  const maps = t.mappings.map((m) => (m.start === m.end ? `${quote(m.label)} = ${m.start}` : `${quote(m.label)} = ${m.start} ... ${m.end}`)).join(', ');
  return `enum : ${integerDecl(t.container)} { ${maps} }`;
}

function fieldDecl(t: CtfFieldType, name: string): string {
  switch (t.kind) {
    case 'integer':
      return `${integerDecl(t)} _${name}`;
    case 'enum':
      return `${enumDecl(t)} _${name}`;
    case 'string':
      return `string { encoding = UTF8; } _${name}`;
    case 'array': {
      const enc = t.element === 'char' ? ' encoding = UTF8;' : '';
      return `integer { size = 8; align = 8; signed = false;${enc} } _${name}[${t.length}]`;
    }
  }
}

function quote(s: string): string {
  return `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`;
}

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Throws `TracelabError('INVALID_OPTION')` on a trace class the writer cannot lay out. */
export function validateTraceClass(tc: CtfTraceClass): void {
  const fail = (msg: string): never => {
    throw new TracelabError('INVALID_OPTION', msg, { what: 'ctf trace class' });
  };
  if (!UUID.test(tc.uuid)) fail(`trace class uuid "${tc.uuid}" is not a lower-case RFC 4122 text uuid`);
  if (!IDENT.test(tc.clock.name)) fail(`clock name "${tc.clock.name}" is not a TSDL identifier`);
  if (!(Number.isInteger(tc.clock.freq) && tc.clock.freq > 0)) fail(`clock freq ${tc.clock.freq} must be a positive integer (Hz)`);
  if (!Number.isInteger(tc.clock.offsetSeconds) || !Number.isInteger(tc.clock.offset)) fail('clock offsetSeconds and offset must be integers');
  const maxId = (tc.eventIdSize ?? 32) === 16 ? 0xffff : 0xffffffff;
  const ids = new Set<number>();
  for (const ec of tc.eventClasses) {
    if (!Number.isInteger(ec.id) || ec.id < 0 || ec.id > maxId) fail(`event class "${ec.name}" has id ${ec.id}, outside 0..${maxId}`);
    if (ids.has(ec.id)) fail(`two event classes have id ${ec.id}`);
    ids.add(ec.id);
    const names = new Set<string>();
    for (const f of ec.fields) {
      if (!IDENT.test(f.name)) fail(`field "${f.name}" of event "${ec.name}" is not a TSDL identifier`);
      if (names.has(f.name)) fail(`event "${ec.name}" has two fields named "${f.name}"`);
      names.add(f.name);
      if (f.type.kind === 'array' && !(Number.isInteger(f.type.length) && f.type.length > 0))
        fail(`array field "${f.name}" of event "${ec.name}" needs a positive integer length`);
    }
  }
  for (const key of Object.keys(tc.env ?? {})) if (!IDENT.test(key)) fail(`env key "${key}" is not a TSDL identifier`);
}
