/** @tracelab/ring-buffer: Faultable tracepoints writing into per-CPU LTTng-style ring buffers as a tracelab plugin: sub-buffers laid out as CTF packets, reserve/commit with LOCAL/REMOTE commit counters, delivery, discard and overwrite modes, exact lost-record counts. (under construction) */
export const RINGBUFFER_VERSION = '0.1.0';
