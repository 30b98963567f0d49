/** @tracelab/scenarios: The catalog of the source threads' races as tracelab scenarios, each with its fixed variant and the unsafe ones. (under construction) */
export const SCENARIOS_VERSION = '0.1.0';
