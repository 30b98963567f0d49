export { buildWorkload } from './workloads.js';
export type { BuildOptions } from './workloads.js';
