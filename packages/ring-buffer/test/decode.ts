import { CTF_PACKET_LAYOUT as L, type CtfFieldType, type CtfTraceClass } from '@tracelab/formats';

export interface Decoded {
  readonly cpu: number;
  readonly name: string;
  readonly ts: number;
  readonly fields: Record<string, number | string>;
}

/** Decodes the packets tracelab wrote (its own layout), checking sizes and timestamp order. */
export function decodeStreams(tc: CtfTraceClass, streams: readonly (readonly Uint8Array[])[]): { events: Decoded[]; discarded: number[] } {
  const events: Decoded[] = [];
  const discarded: number[] = [];
  const dec = new TextDecoder();
  streams.forEach((packets, cpu) => {
    let lastTs = -1;
    let disc = 0;
    for (const p of packets) {
      const dv = new DataView(p.buffer, p.byteOffset, p.byteLength);
      const u = (at: number): number => Number(dv.getBigUint64(at, true));
      if (dv.getUint32(L.magic, true) !== 0xc1fc1fc1) throw new Error('bad magic');
      const content = u(L.contentSize) / 8;
      if (u(L.packetSize) / 8 !== p.length) throw new Error('packet_size');
      const begin = u(L.timestampBegin);
      const end = u(L.timestampEnd);
      if (begin < lastTs || end < begin) throw new Error(`packet timestamps ${begin}..${end} after ${lastTs}`);
      disc = u(L.eventsDiscarded);
      let at = L.size;
      while (at < content) {
        const id = dv.getUint32(at, true);
        const ts = u(at + 4);
        at += 12;
        if (ts < begin || ts > end || ts < lastTs) throw new Error(`event ts ${ts} outside ${begin}..${end} or before ${lastTs}`);
        lastTs = ts;
        const ec = tc.eventClasses[id]!;
        const fields: Record<string, number | string> = {};
        for (const f of ec.fields) {
          const t: CtfFieldType = f.type;
          if (t.kind === 'integer') {
            const n = t.size / 8;
            fields[f.name] =
              n === 8
                ? Number(t.signed ? dv.getBigInt64(at, true) : dv.getBigUint64(at, true))
                : n === 4
                  ? t.signed
                    ? dv.getInt32(at, true)
                    : dv.getUint32(at, true)
                  : n === 2
                    ? dv.getUint16(at, true)
                    : dv.getUint8(at);
            at += n;
          } else if (t.kind === 'string') {
            let e = at;
            while (p[e] !== 0) e++;
            fields[f.name] = dec.decode(p.subarray(at, e));
            at = e + 1;
          } else if (t.kind === 'array') {
            const s = p.subarray(at, at + t.length);
            const z = s.indexOf(0);
            fields[f.name] = dec.decode(z < 0 ? s : s.subarray(0, z));
            at += t.length;
          } else throw new Error('enum');
        }
        events.push({ cpu, name: ec.name, ts, fields });
      }
      if (at !== content) throw new Error(`content_size ${content} but events end at ${at}`);
      lastTs = end;
    }
    discarded.push(disc);
  });
  return { events, discarded };
}
