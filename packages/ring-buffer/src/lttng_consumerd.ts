/**
 * The session's consumer, after lttng-tools' consumer daemon (src/common/consumer, reading a
 * kernel stream: lttng_consumer_read_subbuffer over lib_ring_buffer_get_next_subbuf /
 * put_next_subbuf): a kernel thread that takes every delivered packet out of the per-CPU
 * buffers, in order per CPU, into the CTF streams, and exits when none is left (the next
 * delivery starts it again).
 */
import { emit, schedPoint, type KPath } from '@tracelab/core';
import { checkPacket } from './internal/invariants.js';
import type { RingBufferSession } from './internal/session.js';

/** The consumer thread: one pass over the CPU buffers per iteration, until a pass takes nothing. */
export function* consumerThread(st: RingBufferSession): KPath<void> {
  for (;;) {
    let took = 0;
    for (const buf of st.bufs()) {
      const p = buf.getSubbuf();
      if (typeof p === 'number') continue;
      // The read window: the writer may run (and push, in overwrite mode) meanwhile.
      yield* schedPoint();
      checkPacket(st, buf.cpu, p.bytes, p.timestampBegin, p.timestampEnd);
      // With readerSwap the packet is the buffer's own memory (the writer gets it back at the
      // next get_subbuf): the consumer's write-out is the copy.
      st.streams[buf.cpu]!.push(buf.readerSwap ? p.bytes.slice() : p.bytes);
      buf.putSubbuf(p);
      yield* emit({ type: 'ring-buffer/subbuf-consumed', bufCpu: buf.cpu, packetSeq: p.packetSeq, records: p.records });
      took++;
    }
    if (took === 0) {
      st.consumerAlive = false;
      return;
    }
  }
}
