import './events.js';

export { srcu, srcuIncrement, type SrcuApi, type SrcuOptions } from './srcu.js';
export { SRCU_MUTEX, SRCU_NO_LOST_UPDATE, type SrcuState } from './state.js';
export { scenario } from './scenario.js';
