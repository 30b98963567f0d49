/** @tracelab/rcu-tasks: RCU-tasks and RCU-tasks-trace as a tracelab plugin: callRcuTasks, synchronizeRcuTasks, rcuBarrierTasks, a grace-period kthread with holdout lists and stall warnings; the tasks-trace flavour whose readers may sleep and fault. (under construction) */
export const RCUTASKS_VERSION = '0.1.0';
