import { gzipSync } from 'node:zlib';
import type { ViewerMeta } from '../meta.js';
import { PAGE_CSS } from './style.js';

/**
 * Text inside a <script> element ends at the first `</script` and changes parsing after
 * `<!--`; JSON can only carry `<` inside strings, where `\u003c` means the same character, so
 * every `<` of the metadata is written that way.
 */
function scriptText(text: string): string {
  return text.replace(/</g, '\\u003c');
}

function escHtml(s: string): string {
  return s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
}

/**
 * The whole page: styles, the log, the metadata and the bundled script. The log goes in as
 * gzip in base64 (the page inflates it with the browser's DecompressionStream): the bytes come
 * back exactly as written, damage included, and an 8 MiB log costs the HTML parser 1 MiB of
 * text instead of 8 (parsing the plain text was the largest part of opening a 100,000-event
 * page; docs/viewer.md).
 */
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
<script type="application/gzip;base64" id="tl-log">${gzipSync(Buffer.from(log, 'utf8'), { level: 6 }).toString('base64')}</script>
<script type="application/json" id="tl-meta">${scriptText(JSON.stringify(meta))}</script>
<script>${bundle.replace(/<\/script/gi, '<\\/script')}</script>
</body>
</html>
`;
}
