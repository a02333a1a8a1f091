"""The UI's stylesheet and script, served by `stratus ui` itself at ``/static/`` (no CDN, no build step).

Kept as strings so they ship inside the package (and the Lambda layer) with no data files.
The script is small and optional: the pages work without it except for the DAG-list filter
as you type, collapsing task groups in the graph and drawing its edges.
"""

from __future__ import annotations

CSS = """
body{font-family:Arial,Helvetica,sans-serif;margin:0;color:#16191f;background:#fafafa}
header{background:#0f1b2a;color:#fff;padding:8px 16px;display:flex;gap:18px;align-items:center}
header a{color:#fff;text-decoration:none;font-weight:bold} header a.brand{font-size:18px}
main{padding:12px 16px}
.tabs{display:flex;gap:4px;border-bottom:1px solid #ccc;margin:6px 0 10px}
.tabs a{padding:6px 12px;border:1px solid #ccc;border-bottom:0;border-radius:4px 4px 0 0;text-decoration:none;color:#16191f;background:#eee}
.tabs a.on{background:#fff;font-weight:bold}
.error{background:#fff0f0;border:1px solid #b00;padding:4px 8px;margin:6px 0}
.notice{background:#f2f8fd;border:1px solid #0972d3;padding:4px 8px;margin:6px 0}
pre{background:#f4f4f4;padding:8px;white-space:pre-wrap}
table.list{border-collapse:collapse;background:#fff;width:100%}
table.list th,table.list td{border-bottom:1px solid #ddd;padding:6px 8px;text-align:left;vertical-align:middle}
table.list th{background:#f0f0f0}
.tag{display:inline-block;background:#e8eefc;border:1px solid #b8c6ef;border-radius:8px;padding:0 6px;margin:0 2px;font-size:11px}
.pill{display:inline-block;padding:0 6px;border-radius:8px;border:1px solid #999;color:#000;font-size:12px}
.muted{color:#666;font-size:12px}
code.expr{background:#f0f0f0;padding:0 4px;border-radius:3px}
.toggle{position:relative;display:inline-block;width:36px;height:20px;border-radius:10px;border:0;cursor:pointer;background:#2e7d32}
.toggle.off{background:#bbb} .toggle::after{content:"";position:absolute;top:2px;left:18px;width:16px;height:16px;border-radius:8px;background:#fff}
.toggle.off::after{left:2px}
input.search{padding:5px 8px;width:260px;margin-bottom:8px}
.graph{position:relative;display:flex;gap:48px;align-items:flex-start;padding:12px;background:#fff;border:1px solid #ddd;overflow:auto}
.graph .layer{display:flex;flex-direction:column;gap:14px;z-index:1}
.graph .node{border:2px solid #888;border-radius:6px;padding:6px 10px;background:#fff;min-width:110px;font-size:13px}
.graph .node .op{font-size:10px;color:#666}
.graph .node.groupnode{border-style:dashed;background:#f5f7ff;cursor:pointer}
.graph .node .grp{font-size:10px;color:#345}
.graph svg.edges{position:absolute;left:0;top:0;z-index:0;pointer-events:none}
.groups button{margin:0 4px 8px 0}
.gantt{background:#fff;border:1px solid #ddd;padding:8px}
.gantt .row{display:flex;align-items:center;height:20px}
.gantt .label{width:240px;font-size:12px;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.gantt .track{position:relative;flex:1;height:14px;background:#f3f3f3}
.gantt .gbar{position:absolute;top:0;height:14px;min-width:2px;border-radius:2px;border:1px solid #555;box-sizing:border-box}
.gantt .axis{display:flex;justify-content:space-between;margin-left:240px;font-size:11px;color:#666}
.code{background:#fff;border:1px solid #ddd;font-family:monospace;font-size:12px;overflow:auto}
.code .ln{display:inline-block;width:42px;color:#999;text-align:right;padding-right:8px;user-select:none}
.code .hl{background:#fff6cc}
.doc{background:#fff;border:1px solid #ddd;padding:4px 16px}
.assets .flow{display:flex;align-items:center;gap:16px;margin:10px 0;background:#fff;border:1px solid #ddd;padding:10px}
.assets .box{border:1px solid #888;border-radius:6px;padding:6px 10px;background:#fff;font-size:13px}
.assets .asset{border:2px solid #6b4fbb;background:#f4f0ff;font-weight:bold}
.assets .arrow{font-size:20px;color:#777}
.pager a{margin-right:12px}
""" + "".join(
    f".st-{name}{{background:{color}}}" for name, color in {
        "queued": "gray", "running": "lime", "success": "green", "failed": "red", "up_for_retry": "gold",
        "up_for_reschedule": "turquoise", "upstream_failed": "orange", "skipped": "hotpink", "removed": "lightgrey",
        "scheduled": "tan", "restarting": "violet", "deferred": "mediumpurple", "no_status": "white"}.items()
) + ".pill.st-success,.pill.st-failed,.pill.st-queued{color:#fff}" + "".join(
    # Graph nodes as in Airflow 3: the state's colour as the border and a light tint, dark text.
    f".graph .node.st-{name}{{border-color:{color};background:color-mix(in srgb,{color} 22%,white)}}" for name, color in {
        "queued": "gray", "running": "limegreen", "success": "green", "failed": "red", "up_for_retry": "gold",
        "upstream_failed": "orange", "skipped": "hotpink", "scheduled": "tan", "removed": "lightgrey"}.items())

JS = r"""
(function(){
  var search = document.querySelector('input.search');
  if (search) {
    search.addEventListener('input', function(){
      var q = search.value.toLowerCase();
      document.querySelectorAll('tr.dagrow').forEach(function(row){
        row.style.display = row.getAttribute('data-search').indexOf(q) >= 0 ? '' : 'none';
      });
    });
  }
  var graph = document.querySelector('.graph');
  if (!graph) return;
  var edges = JSON.parse(graph.getAttribute('data-edges') || '[]');
  var collapsed = {};
  function shown(task){
    var node = graph.querySelector('.node[data-task="' + CSS.escape(task) + '"]');
    var group = node ? node.getAttribute('data-group') : '';
    if (!group) return node;
    var parts = group.split('.');
    for (var i = 1; i <= parts.length; i++) {
      var g = parts.slice(0, i).join('.');
      if (collapsed[g]) return graph.querySelector('.groupnode[data-group-node="' + CSS.escape(g) + '"]');
    }
    return node;
  }
  function layout(){
    graph.querySelectorAll('.node[data-task]').forEach(function(n){
      var g = n.getAttribute('data-group') || '';
      var hide = false;
      if (g) { var p = g.split('.'); for (var i = 1; i <= p.length; i++) { if (collapsed[p.slice(0, i).join('.')]) hide = true; } }
      n.style.display = hide ? 'none' : '';
    });
    graph.querySelectorAll('.groupnode').forEach(function(n){
      var g = n.getAttribute('data-group-node');
      var outer = false, p = g.split('.');
      for (var i = 1; i < p.length; i++) { if (collapsed[p.slice(0, i).join('.')]) outer = true; }
      n.style.display = collapsed[g] && !outer ? '' : 'none';
    });
    draw();
  }
  function draw(){
    var old = graph.querySelector('svg.edges'); if (old) old.remove();
    var svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
    svg.setAttribute('class', 'edges');
    svg.setAttribute('width', graph.scrollWidth); svg.setAttribute('height', graph.scrollHeight);
    var box = graph.getBoundingClientRect(), seen = {};
    edges.forEach(function(e){
      var a = shown(e[0]), b = shown(e[1]);
      if (!a || !b || a === b) return;
      var key = a.id + '>' + b.id; if (seen[key]) return; seen[key] = 1;
      var ra = a.getBoundingClientRect(), rb = b.getBoundingClientRect();
      var x1 = ra.right - box.left + graph.scrollLeft, y1 = ra.top + ra.height / 2 - box.top + graph.scrollTop;
      var x2 = rb.left - box.left + graph.scrollLeft, y2 = rb.top + rb.height / 2 - box.top + graph.scrollTop;
      var path = document.createElementNS('http://www.w3.org/2000/svg', 'path');
      var mx = (x1 + x2) / 2;
      path.setAttribute('d', 'M' + x1 + ',' + y1 + ' C' + mx + ',' + y1 + ' ' + mx + ',' + y2 + ' ' + x2 + ',' + y2);
      path.setAttribute('fill', 'none'); path.setAttribute('stroke', '#888'); path.setAttribute('stroke-width', '1.5');
      path.setAttribute('data-edge', e[0] + '>' + e[1]);
      svg.appendChild(path);
    });
    graph.insertBefore(svg, graph.firstChild);
    graph.setAttribute('data-drawn', Object.keys(seen).length);
  }
  document.querySelectorAll('button[data-toggle-group]').forEach(function(btn){
    btn.addEventListener('click', function(){
      var g = btn.getAttribute('data-toggle-group');
      collapsed[g] = !collapsed[g];
      btn.textContent = (collapsed[g] ? '\u25b8 ' : '\u25be ') + g;
      layout();
    });
  });
  graph.querySelectorAll('.groupnode').forEach(function(n){
    n.addEventListener('click', function(){
      var b = document.querySelector('button[data-toggle-group="' + CSS.escape(n.getAttribute('data-group-node')) + '"]');
      if (b) b.click();
    });
  });
  layout();
  window.addEventListener('resize', draw);
})();
"""
