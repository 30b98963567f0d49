export { toChromeTrace, validateChromeTrace, RCU_SCHED_GP, CPUS_PID, TASKS_PID } from './chrome.js';
export type { ChromeTrace, ChromeTraceEvent, ChromeTraceOptions, SpanRule } from './chrome.js';
