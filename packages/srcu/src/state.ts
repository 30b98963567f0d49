/**
 * The srcu plugin's state slice (`state.plugins['srcu']`): a shared value that kernel
 * threads update by read-modify-write. Make it the state of your own mechanism; keep the comment
 * on each field saying what guards it.
 */
export interface SrcuState {
  /**
   * The shared value. Written only by the `srcu/stored` reducer. The kernel path that
   * computes it holds `srcu_mutex` from its read of this field to the event that stores the
   * new value (unless the plugin was made with `lock: false`, the unsafe variant).
   */
  value: number;
  /** Updates committed, one per `srcu/stored`. Written only by reducers. */
  updates: number;
}

/** The mutex around the read-modify-write of `value`. Nests inside no other lock. */
export const SRCU_MUTEX = 'srcu_mutex';

/** The invariant: every committed update is in `value` (no update was lost). */
export const SRCU_NO_LOST_UPDATE = 'srcu/no-lost-update';
