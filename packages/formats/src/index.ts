export { toChromeTrace, validateChromeTrace, RCU_SCHED_GP, CPUS_PID, TASKS_PID, HOST_TID, SHOWN_AS_SLICES, cpuTid } from './chrome.js';
export type { ChromeTrace, ChromeTraceEvent, ChromeTraceOptions, SpanRule } from './chrome.js';
// CTF writer (@tracelab/ring-buffer's output)
export { ctfMetadata, validateTraceClass } from './ctf/metadata.js';
export { CTF_MAGIC, CTF_PACKET_LAYOUT, ctfEventHeaderSize } from './ctf/types.js';
export {
  CtfPacketBuilder,
  concatBytes,
  ctfEventSize,
  ctfFieldSize,
  ctfPayloadSize,
  ctfStreamFileName,
  uuidBytes,
  writeCtfEvent,
  writeCtfField,
  writeCtfPacketHeader,
  writeCtfTrace,
} from './ctf/writer.js';
export type { CtfPacketHeaderInit } from './ctf/writer.js';
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
// CTF reader (`tracelab convert`)
export {
  readCtfTrace,
  openCtfTrace,
  CtfEventStream,
  CTF_DEFAULT_WINDOW_BYTES,
  readCtfMetadata,
  findCtfTraces,
  metadataText,
  clockToNs,
  CTF_PACKET_MAGIC,
  CTF_METADATA_PACKET_MAGIC,
} from './ctf/reader.js';
export type { CtfEvent, CtfTraceInfo, CtfStreamInfo, CtfDiscarded, CtfWarning, CtfReadResult, CtfReadOptions, CtfStreamOptions } from './ctf/reader.js';
export { CtfReadError } from './ctf/reader-error.js';
export type { CtfErrorCode } from './ctf/reader-error.js';
export { CtfEnumValue, CtfVariantValue } from './ctf/reader-decode.js';
export type { CtfValue, CtfStruct } from './ctf/reader-decode.js';
export { parseTsdl } from './ctf/tsdl.js';
export type {
  CtfMetadata,
  CtfClockClass,
  CtfStreamClass,
  CtfEventClassInfo,
  TsdlType,
  TsdlInteger,
  TsdlFloat,
  TsdlString,
  TsdlEnum,
  TsdlStruct,
  TsdlVariant,
  TsdlArray,
  TsdlSequence,
  TsdlField,
} from './ctf/tsdl.js';
export { formatCtfEvent, ctfTextLines, ctfTextFormatter, formatG } from './ctf/text.js';
export { ctfToChromeTrace, ctfJsonValue, CtfChromeConverter, CTF_STREAMS_PID } from './ctf/chrome.js';
export type { CtfChromeOptions } from './ctf/chrome.js';
