/**
 * The viewer's error codes, joined to the core's `TracelabErrorCode` by declaration merging:
 * - `VIEWER_UNKNOWN_PLUGIN`: a log registers a plugin the viewer does not bundle (the page
 *   shows the events before that line; `detail.line`, `detail.plugin`);
 * - `VIEWER_BUNDLE_FAILED`: esbuild could not bundle the page (an installation problem: the
 *   message carries esbuild's errors).
 */
declare module '@tracelab/core' {
  interface TracelabErrorCodes {
    VIEWER_UNKNOWN_PLUGIN: true;
    VIEWER_BUNDLE_FAILED: true;
  }
}

export type ViewerErrorCode = 'VIEWER_UNKNOWN_PLUGIN' | 'VIEWER_BUNDLE_FAILED';
