/**
 * DPOR's reduction audited on every variant of the catalog at its smallest scale, bound 1
 * (`auditCatalog`). Bound 2: dpor-audit-catalog-bound2.test.ts.
 */
import { auditCatalog } from './reach.js';

auditCatalog(1);
