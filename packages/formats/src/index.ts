export { toChromeTrace, validateChromeTrace, RCU_SCHED_GP, CPUS_PID, TASKS_PID } from './chrome.js';
export type { ChromeTrace, ChromeTraceEvent, ChromeTraceOptions, SpanRule } from './chrome.js';
// CTF writer (@tracelab/ring-buffer's output)
export { ctfMetadata, validateTraceClass } from './ctf/metadata.js';
export { CTF_MAGIC, CTF_PACKET_LAYOUT, ctfEventHeaderSize } from './ctf/types.js';
export type {
  CtfTraceClass,
  CtfEventClass,
  CtfField,
  CtfFieldType,
  CtfIntegerType,
  CtfStringType,
  CtfArrayType,
  CtfEnumType,
  CtfEnumMapping,
  CtfClock,
  CtfFieldValue,
  CtfEventRecord,
  CtfPacketContext,
} from './ctf/types.js';
