import { describe, expect, it } from 'vitest';
import { parseTsdl, type TsdlEnum, type TsdlStruct } from '@tracelab/formats';

const HEAD = '/* CTF 1.8 */\ntrace { major = 1; minor = 8; byte_order = be; };\n';

function fieldsOf(text: string): TsdlStruct {
  const m = parseTsdl(HEAD + text);
  return m.events[0]!.fields as TsdlStruct;
}

describe('TSDL parser', () => {
  it('resolves multi-word typealiases, typedefs, named structs and enums, with their attributes', () => {
    const s = fieldsOf(`
typealias integer { size = 64; align = 8; signed = false; base = x; } := unsigned long;
typedef integer { size = 4; align = 1; signed = true; byte_order = le; } nibble;
struct pair { unsigned long a; nibble b; } align(32);
enum color : integer { size = 8; } { RED, GREEN = 5, BLUE, "SKY" = 10 ... 0x14, };
event { name = e; fields := struct { struct pair p; enum color c; unsigned long n[3], m[n]; }; };
`);
    expect(s.fields.map((f) => f.name)).toEqual(['p', 'c', 'n', 'm']);
    const pair = s.fields[0]!.type as TsdlStruct;
    expect(pair.minAlign).toBe(32);
    expect(pair.fields[0]!.type).toMatchObject({ kind: 'integer', size: 64, base: 16, byteOrder: 'native' });
    expect(pair.fields[1]!.type).toMatchObject({ kind: 'integer', size: 4, align: 1, signed: true, byteOrder: 'le' });
    const c = s.fields[1]!.type as TsdlEnum;
    expect(c.entries.map((e) => [e.label, e.lo, e.hi])).toEqual([
      ['RED', 0n, 0n],
      ['GREEN', 5n, 5n],
      ['BLUE', 6n, 6n],
      ['SKY', 10n, 20n],
    ]);
    expect(s.fields[2]!.type).toMatchObject({ kind: 'array', length: 3 });
    expect(s.fields[3]!.type).toMatchObject({ kind: 'sequence', lengthRef: 'n' });
  });

  it('reads clocks with 64-bit offsets exactly, env values and event attributes', () => {
    const m = parseTsdl(`${HEAD}
env { hostname = "h"; tracer_major = 2; };
clock { name = "monotonic"; freq = 1000000000; offset = 1795262108440498773; offset_s = 0; };
stream { id = 3; };
event { name = "x:y"; id = 4; stream_id = 3; loglevel = 13; model.emf.uri = "u"; };
`);
    expect(m.byteOrder).toBe('be');
    expect(m.clocks.get('monotonic')!.offset).toBe(1795262108440498773n);
    expect(m.env).toEqual({ hostname: 'h', tracer_major: 2 });
    expect(m.events[0]).toMatchObject({ name: 'x:y', id: 4, streamId: 3, loglevel: 13, attributes: { 'model.emf.uri': 'u' } });
  });

  it('fails with CTF_METADATA and the line: syntax errors, unknown types, unclosed blocks, another CTF version', () => {
    const cases: [string, RegExp][] = [
      ['event {\n name = e;\n fields := struct {\n  uint8_t a;\n };\n};', /line 4: unknown type "uint8_t"/],
      [
        'typealias integer { size = 8; } := u8;\nevent { name = e; fields := struct { u8 a u8 b; }; };',
        /line 2: syntax error: expected ";" or "," after a field, found "u8"/,
      ],
      ['event {\n name = e;\n', /line 3: syntax error: the event block opened at line 1 is not closed/],
      ['typealias integer { size = 65; } := big;', /line 1: integer size 65 is out of range/],
      ['clock { name = c; freq = "fast"; };', /freq must be a number/],
    ];
    for (const [text, message] of cases) {
      expect(() => parseTsdl(HEAD + text)).toThrow(expect.objectContaining({ code: 'CTF_METADATA' }));
      try {
        parseTsdl(HEAD + text);
      } catch (err) {
        // Lines count from the start of the text: HEAD is 2 lines.
        const m = /line (\d+)/.exec((err as Error).message);
        const shifted = (err as Error).message
          .replace(/line (\d+)/, `line ${Number(m?.[1] ?? 0) - 2}`)
          .replace(/at line (\d+)/, (_, n: string) => `at line ${Number(n) - 2}`);
        expect(shifted).toMatch(message);
      }
    }
    expect(() => parseTsdl('/* CTF 1.8 */\ntrace { major = 1; minor = 9; };')).toThrow(/unsupported CTF version 1.9/);
  });
});
