import { packageConfig } from '../../vitest.shared.js';

// Vitest hands ssr.resolve.conditions to the test processes as `node --conditions`. The shared
// list has `import`, with which @nx/devkit's own require('ejs') (CommonJS) gets ejs's ESM build and
// generateFiles fails (`ejs.render is not a function`). The generator's tests need only the
// source condition (Vite adds import/require/default by itself).
const config = packageConfig('plugin-kit');
export default { ...config, ssr: { resolve: { conditions: ['@tracelab/source'] } } };
