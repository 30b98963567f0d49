/** The page's styles (inlined: the file opens from disk with no network). */
export const PAGE_CSS = `
*{box-sizing:border-box}
body{margin:0;font:13px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;color:#1f2328;background:#fff}
main{padding:10px 14px;display:flex;flex-direction:column;gap:10px;min-height:100vh}
h1{font-size:17px;margin:0 0 2px}
h3{font-size:13px;margin:12px 0 4px;border-bottom:1px solid #e5e7eb}
h4{font-size:12px;margin:8px 0 2px}
code{font:12px ui-monospace,SFMono-Regular,Menlo,monospace}
.muted{color:#6b7280}.small{font-size:11px}
.facts{color:#4b5563}
.ok{color:#2b8a3e;font-weight:600}.bad{color:#c92a2a;font-weight:600}
.error{background:#fff5f5;border:1px solid #ffa8a8;color:#c92a2a;padding:6px 8px;border-radius:4px;margin-top:6px;font-weight:600}
.violation{background:#fff0f0;border-left:4px solid #c92a2a;padding:6px 8px;margin-top:6px;cursor:pointer}
.violation a{color:#c92a2a}
section{border:1px solid #e5e7eb;border-radius:6px;padding:6px 8px}
.box-head{display:flex;gap:14px;align-items:center;margin-bottom:4px}
.legend{color:#6b7280;font-size:11px}
.legend i{display:inline-block;margin:0 3px 0 8px;vertical-align:middle}
.legend .tri{width:0;height:0;border-left:5px solid transparent;border-right:5px solid transparent;border-top:7px solid #d9480f}
.legend .bar{width:3px;height:12px}.legend .red{background:#c92a2a}.legend .blue{background:#1c7ed6}.legend .dash{border-left:2px dashed #7048e8;width:0}
.lane{display:flex;align-items:center;height:34px}
.lane-label{width:46px;font-weight:600;color:#374151}
.lane canvas{flex:1;height:34px;width:100%;cursor:crosshair;min-width:0}
.lane-axis{display:flex;justify-content:space-between;margin-left:46px;font-size:11px;color:#374151}
.split{display:grid;grid-template-columns:minmax(0,1.15fr) minmax(0,1fr);gap:10px;min-height:0}
.events-box{display:flex;flex-direction:column;min-width:0}
.filters{display:flex;gap:6px;align-items:center;margin-bottom:4px;flex-wrap:wrap}
.filters select{max-width:210px;font-size:12px}
.list-head,.row{display:grid;grid-template-columns:56px 48px 34px 118px 170px 1fr;gap:6px;white-space:nowrap}
.list-head{font-weight:600;color:#374151;border-bottom:1px solid #e5e7eb;padding:0 4px}
.list-viewport{height:460px;overflow-y:auto;position:relative;font:12px ui-monospace,SFMono-Regular,Menlo,monospace}
.list-spacer{position:relative}
.row{position:absolute;left:0;right:0;height:20px;line-height:20px;padding:0 4px;cursor:pointer;overflow:hidden}
.row span{overflow:hidden;text-overflow:ellipsis}
.row:hover{background:#f1f3f5}
.row.selected{background:#d0ebff}
.row.marked{background:#ffe3e3;color:#a61e1e}
.row.marked.selected{background:#ffc9c9}
.row.preempt .type{color:#d9480f;font-weight:600}
.vmark{color:#c92a2a}
.state-box{overflow:auto;max-height:560px;min-width:0}
.panel-head{position:sticky;top:-6px;background:#fff;padding:4px 0;border-bottom:1px solid #e5e7eb}
table{border-collapse:collapse;width:100%;font-size:12px}
th,td{text-align:left;padding:1px 6px;border-bottom:1px solid #f1f3f5;vertical-align:top}
th{color:#374151;font-weight:600}
table.diff td:first-child{width:38%}
.before{color:#c92a2a;text-decoration:line-through}.after{color:#2b8a3e}
.st-running{color:#2b8a3e;font-weight:600}.st-runnable{color:#1c7ed6}.st-sleeping{color:#6b7280}.st-zombie,.st-dead{color:#c92a2a}
details pre{max-height:260px;overflow:auto;background:#f8f9fa;padding:6px;margin:2px 0;font-size:11px}
summary{cursor:pointer;font-weight:600}
.stepper{background:#f8f0fc;border-color:#e599f7}
.stepper-head{display:flex;gap:10px;align-items:center;flex-wrap:wrap}
.stepper-head input{font:12px ui-monospace,monospace}
.stepper-controls{display:flex;gap:4px;align-items:center;margin:4px 0}
.stepper-controls button{min-width:30px}
.step-label{margin-left:8px}
.pre{color:#d9480f}
.chips{display:flex;flex-wrap:wrap;gap:2px}
.chip{display:inline-block;min-width:14px;height:16px;line-height:16px;text-align:center;font-size:10px;border-radius:3px;background:#e9ecef;color:#495057;cursor:pointer}
.chip.implicit{opacity:.5}
.chip.preemption{background:#d9480f;color:#fff;font-weight:700}
.chip.current{outline:2px solid #1c7ed6}
.plot-row{display:flex;flex-wrap:wrap;gap:12px}
figure{margin:0}
figcaption{font-weight:600;font-size:12px;margin-bottom:2px}
svg text{font:10px system-ui,sans-serif;fill:#374151}
svg .axis{stroke:#6b7280}svg .grid{stroke:#eef0f2}svg .label{fill:#6b7280}
svg circle[data-seq]{cursor:pointer}
`;
