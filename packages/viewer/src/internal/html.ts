import type { ViewerMeta } from '../meta.js';
import { PAGE_CSS } from './style.js';

/**
 * Text inside a <script> element ends at the first `</script` and changes parsing after
 * `<!--`; JSON can only carry `<` inside strings, where `\u003c` means the same character, so
 * every `<` is written that way. A corrupt line keeps the same characters once parsed.
 */
function scriptText(text: string): string {
  return text.replace(/</g, '\\u003c');
}

function escHtml(s: string): string {
  return s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
}

/** The whole page: styles, the log (NDJSON as it was written), the metadata and the bundled script. */
export function pageHtml(log: string, meta: ViewerMeta, bundle: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:">
<title>${escHtml(meta.title)} · tracelab view</title>
<style>${PAGE_CSS}</style>
</head>
<body>
<main id="tracelab-viewer" data-events="0"><p>Loading the log…</p><noscript>The tracelab viewer needs JavaScript: it replays the log in the page.</noscript></main>
<script type="application/x-ndjson" id="tl-log">${scriptText(log)}</script>
<script type="application/json" id="tl-meta">${scriptText(JSON.stringify(meta))}</script>
<script>${bundle.replace(/<\/script/gi, '<\\/script')}</script>
</body>
</html>
`;
}
