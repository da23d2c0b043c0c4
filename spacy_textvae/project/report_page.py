"""The HTML of the report: one self-contained page, its styles and scripts
inline, that opens offline and requests nothing. Every text from the data is
escaped; the map and the heatmap are drawn by the page's own script from a
JSON block, and it counts what it drew in `data-testid="status"`."""
import html
import json
from typing import Any, Dict, List

from ..topic_tree import TopicTree

CSS = """
:root { --ink: #1f2933; --muted: #616e7c; --line: #d9e2ec; --bg: #f5f7fa; --card: #fff; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif;
       color: var(--ink); background: var(--bg); }
header { background: #243b53; color: #fff; padding: 18px 28px; }
header h1 { margin: 0 0 4px; font-size: 22px; }
header p { margin: 0; color: #d9e2ec; }
nav { padding: 8px 28px; background: #334e68; }
nav a { color: #fff; margin-right: 18px; text-decoration: none; font-size: 13px; }
main { padding: 18px 28px; max-width: 1400px; }
section.block { background: var(--card); border: 1px solid var(--line); border-radius: 6px; padding: 14px 18px;
                margin-bottom: 18px; }
h2 { margin: 0 0 10px; font-size: 17px; }
h3 { margin: 0 0 6px; font-size: 15px; }
.row { display: flex; gap: 18px; flex-wrap: wrap; align-items: flex-start; }
.row > section.block, .row > .col { flex: 1 1 380px; }
.muted { color: var(--muted); }
.note { background: #fff8e1; border-left: 4px solid #f0b429; padding: 6px 10px; margin: 6px 0; }
table { border-collapse: collapse; font-size: 13px; }
th, td { padding: 3px 8px; border-bottom: 1px solid var(--line); text-align: right; }
th:first-child, td:first-child { text-align: left; }
td.max { font-weight: bold; background: #e3f8ff; }
.topics { display: grid; grid-template-columns: repeat(auto-fill, minmax(300px, 1fr)); gap: 14px; }
.topic { border: 1px solid var(--line); border-top: 5px solid var(--topic); border-radius: 6px; padding: 10px 12px;
         background: var(--card); }
.bar { display: grid; grid-template-columns: 110px 1fr 56px; align-items: center; gap: 6px; font-size: 12px; }
.bar .w { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.bar .track { background: #eef2f7; height: 10px; border-radius: 3px; }
.bar .fill { background: var(--topic); height: 10px; border-radius: 3px; }
.bar .v { color: var(--muted); text-align: right; font-variant-numeric: tabular-nums; }
.docs { margin: 8px 0 0; padding-left: 18px; font-size: 12px; color: #3e4c59; }
.docs li { margin-bottom: 4px; }
#map { width: 100%; max-width: 820px; height: auto; border: 1px solid var(--line); background: #fff; }
#map circle { stroke: #fff; stroke-width: 0.5; opacity: 0.8; }
#map circle:hover { stroke: #000; stroke-width: 1.5; opacity: 1; }
#heatmap { max-width: 100%; height: auto; }
.legend span { display: inline-block; margin: 2px 10px 2px 0; font-size: 12px; }
.legend i { display: inline-block; width: 10px; height: 10px; border-radius: 50%; margin-right: 4px; }
#hover { min-height: 3.2em; font-size: 12px; margin-top: 6px; }
.rendered { border-top: 1px solid var(--line); padding: 8px 0; }
[data-testid="errors"] { color: #b00; white-space: pre-wrap; }
pre.tree { font-size: 12px; line-height: 1.35; overflow-x: auto; margin: 0; }
svg.groups { max-width: 100%; height: auto; font-size: 11px; }
"""

# Runs first, in <head>: every script error and console.error lands in the
# errors box, so a test (or a reader) sees them without a debugger.
ERRORS_JS = """
(function () {
  var seen = [];
  function show() {
    var box = document.querySelector('[data-testid="errors"]');
    if (!box) return;
    box.textContent = seen.join("\\n");
    box.setAttribute("data-count", String(seen.length));
    box.hidden = seen.length === 0;
  }
  function report(text) { seen.push(text); show(); }
  window.addEventListener("error", function (e) {
    var target = e.target && e.target !== window ? (e.target.tagName || "element") + " failed to load" : "";
    report("error: " + (e.message || target || "unknown"));
  }, true);
  window.addEventListener("unhandledrejection", function (e) { report("unhandled rejection: " + e.reason); });
  var original = console.error;
  console.error = function () {
    report("console.error: " + Array.prototype.map.call(arguments, String).join(" "));
    return original.apply(console, arguments);
  };
  document.addEventListener("DOMContentLoaded", show);
})();
"""

REPORT_JS = """
(function () {
  "use strict";
  var SVG_NS = "http://www.w3.org/2000/svg";
  var data = JSON.parse(document.getElementById("report-data").textContent);

  function svg(name, attrs, parent) {
    var node = document.createElementNS(SVG_NS, name);
    Object.keys(attrs).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (parent) parent.appendChild(node);
    return node;
  }
  function title(node, text) { svg("title", {}, node).textContent = text; }

  function drawMap() {
    var map = document.getElementById("map");
    var W = 800, H = 560, pad = 14;
    map.setAttribute("viewBox", "0 0 " + W + " " + H);
    var hover = document.getElementById("hover");
    var group = svg("g", {}, map);
    var topics = data.topics;
    data.points.forEach(function (p, i) {
      var c = svg("circle", {
        cx: (pad + p[0] * (W - 2 * pad)).toFixed(1),
        cy: (pad + (1 - p[1]) * (H - 2 * pad)).toFixed(1),
        r: data.points.length > 2000 ? 2.2 : 3.5,
        fill: data.clusterColors[p[2]] || "#888",
        "data-i": i, "data-cluster": p[2], "data-point": ""
      }, group);
      title(c, p[4] + "\\ncluster " + p[2] + " \\u00b7 topic " + (topics[p[3]] || {label: p[3]}).label);
    });
    map.addEventListener("mouseover", function (e) {
      var i = e.target.getAttribute && e.target.getAttribute("data-i");
      if (i === null || i === undefined) return;
      var p = data.points[+i];
      hover.textContent = "cluster " + p[2] + " \\u00b7 top topic " + topics[p[3]].label + ": " + p[4];
    });
    return data.points.length;
  }

  function drawHeatmap() {
    var sim = data.similarity, k = sim.length;
    var box = document.getElementById("heatmap");
    var cell = Math.max(8, Math.min(40, Math.floor(400 / Math.max(k, 1)))), off = 28;
    var size = off + k * cell + 2;
    box.setAttribute("viewBox", "0 0 " + size + " " + size);
    box.setAttribute("width", size);
    box.setAttribute("height", size);
    // The colour scale spans the off-diagonal values: topics that share a
    // background of common words are all fairly similar, and a scale from 0
    // would paint every cell alike.
    var lo = 1, hi = 0;
    for (var a = 0; a < k; a++) for (var b = 0; b < k; b++) if (a !== b) {
      lo = Math.min(lo, sim[a][b]); hi = Math.max(hi, sim[a][b]);
    }
    if (!(hi > lo)) { lo = 0; hi = 1; }
    document.getElementById("heatmap-scale").textContent =
      "Off-diagonal cells from light (" + lo.toFixed(3) + ") to dark (" + hi.toFixed(3) + "); the diagonal is 1.";
    var n = 0;
    for (var i = 0; i < k; i++) {
      var label = { x: off - 4, y: off + i * cell + cell / 2 + 4, "text-anchor": "end", "font-size": 10 };
      svg("text", label, box).textContent = String(i);
      svg("text", { x: off + i * cell + cell / 2, y: off - 6, "text-anchor": "middle", "font-size": 10 }, box)
        .textContent = String(i);
      for (var j = 0; j < k; j++) {
        var s = i === j ? 1 : Math.max(0, Math.min(1, (sim[i][j] - lo) / (hi - lo)));
        var rect = svg("rect", {
          x: off + j * cell, y: off + i * cell, width: cell - 1, height: cell - 1,
          fill: i === j ? "#243b53" : "hsl(210, 65%, " + Math.round(96 - 56 * s) + "%)", "data-cell": i + "," + j
        }, box);
        title(rect, "topic " + data.topics[i].label + " \u00d7 topic " + data.topics[j].label + ": " + sim[i][j].toFixed(3));
        if (cell >= 34 && i !== j) {
          svg("text", { x: off + j * cell + cell / 2, y: off + i * cell + cell / 2 + 3, "text-anchor": "middle",
                        "font-size": 9, fill: s > 0.6 ? "#fff" : "#243b53", "pointer-events": "none" }, box)
            .textContent = sim[i][j].toFixed(2);
        }
        n++;
      }
    }
    return n;
  }

  var points = drawMap();
  var cells = drawHeatmap();
  var status = document.querySelector('[data-testid="status"]');
  status.setAttribute("data-map-points", String(points));
  status.setAttribute("data-heatmap-cells", String(cells));
  status.setAttribute("data-topics", String(document.querySelectorAll("section[data-topic]").length));
  var requests = window.performance && performance.getEntriesByType ? performance.getEntriesByType("resource").length : 0;
  status.setAttribute("data-requests", String(requests));
  status.setAttribute("data-state", "drawn");
})();
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _number(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 1000 else f"{value:,.0f}"
    return f"{value:,}" if isinstance(value, int) else _e(value)


def _json_for_script(data: Any) -> str:
    """JSON that is safe inside <script>: no "<", ">" or "&" can end the block."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _topic_section(topic: Dict[str, Any]) -> str:
    top = max(topic["weights"] or [1.0]) or 1.0
    bars = "".join(
        f'<div class="bar" data-word="{_e(w)}"><span class="w" title="{_e(w)}">{_e(w)}</span>'
        f'<span class="track"><span class="fill" style="display:block;width:{100 * p / top:.1f}%"></span></span>'
        f'<span class="v">{p:.4f}</span></div>'
        for w, p in zip(topic["words"], topic["weights"])
    )
    labels = ", ".join(f"{_e(k)} {n}" for k, n in topic["labels"].items())
    docs = "".join(f'<li><span class="muted">{d["p"]:.2f}</span> {_e(d["text"])}</li>' for d in topic["docs"])
    return (
        f'<section class="topic" data-topic="{topic["id"]}" id="topic-{topic["id"]}" style="--topic:{_e(topic["color"])}">'
        f'<h3>Topic {_e(topic["label"])}</h3>'
        f'<p class="muted" data-testid="topic-size">{topic["size"]:,} docs ({100 * topic["share"]:.1f}%)'
        + (f" · gold labels: {labels}" if labels else "")
        + f'</p><div class="bars">{bars}</div>'
        f'<p class="muted" style="margin:8px 0 0">Most representative docs (topic proportion):</p>'
        f'<ol class="docs">{docs}</ol></section>'
    )


def _scores_table(scores: Dict[str, Any]) -> str:
    if not scores:
        return '<p class="muted">No scores.</p>'
    keys = sorted(scores, key=lambda k: (not k.startswith("textvae_"), k))
    rows = "".join(f'<tr data-score="{_e(k)}"><td>{_e(k)}</td><td>{_number(scores[k])}</td></tr>' for k in keys)
    return f"<table><tr><th>score</th><th>value</th></tr>{rows}</table>"


def _cluster_table(table: Any) -> str:
    if not table:
        return ('<p class="muted" data-testid="no-gold">The documents have no gold labels (doc.cats), '
                "so there is no cluster × label table.</p>")
    head = "".join(f"<th>{_e(g)}</th>" for g in table["labels"])
    rows = []
    for row in table["rows"]:
        top = max(row["counts"]) if row["counts"] else 0
        cells = "".join(f'<td class="{"max" if n == top and n else ""}">{n:,}</td>' for n in row["counts"])
        rows.append(f'<tr data-cluster-row="{row["cluster"]}"><td>cluster {row["cluster"]}</td>{cells}'
                    f"<td>{sum(row['counts']):,}</td></tr>")
    return (f'<table data-testid="cluster-labels"><tr><th>cluster \\ gold label</th>{head}<th>total</th></tr>'
            f'{"".join(rows)}</table>')


def _map_note(m: Dict[str, Any]) -> str:
    n_shown = len(m["points"])
    if m["sampled"]:
        return (f'<p class="note" data-testid="map-sampled">Showing a random sample of {n_shown:,} of '
                f'{m["n_total"]:,} documents (seed {m["seed"]}): the map shows at most <code style="white-space:nowrap">--max-points</code> '
                f'{m["max_points"]:,} points.</p>')
    return f'<p class="muted">All {n_shown:,} documents.</p>'


def _tree_section(tree: Any) -> str:
    if not tree:
        return '<p class="muted">This component has no topic tree.</p>'
    return f'<pre class="tree" data-testid="topic-tree">{_e(TopicTree.from_dict(tree).to_text())}</pre>'


# Geometry of the stacked bar charts (SVG user units).
_CHART_LABEL, _CHART_BAR, _CHART_ROW, _CHART_COUNT = 150, 560, 18, 70


def _group_chart(chart: Dict[str, Any], topics: List[Dict[str, Any]]) -> str:
    """One stacked horizontal bar per group, its segments the topic shares,
    drawn here as inline SVG (no script, no request)."""
    if "error" in chart:
        return f'<p class="note" data-testid="group-error">{_e(chart["error"])}</p>'
    colors = {t["id"]: t["color"] for t in topics}
    labels = {t["id"]: t["label"] for t in topics}
    rows = []
    for i, (group, count, shares) in enumerate(zip(chart["groups"], chart["counts"], chart["shares"])):
        y = i * _CHART_ROW
        x = float(_CHART_LABEL)
        segments = []
        for k, share in enumerate(shares):
            width = share * _CHART_BAR
            if width <= 0:
                continue
            segments.append(
                f'<rect x="{x:.2f}" y="{y + 2}" width="{width:.2f}" height="{_CHART_ROW - 4}" '
                f'fill="{_e(colors.get(k, "#888"))}" data-topic="{k}"><title>{_e(group)} · topic '
                f'{_e(labels.get(k, k))}: {100 * share:.1f}%</title></rect>'
            )
            x += width
        rows.append(
            f'<g data-group="{_e(group)}"><text x="{_CHART_LABEL - 6}" y="{y + _CHART_ROW - 5}" '
            f'text-anchor="end">{_e(group)}</text>{"".join(segments)}'
            f'<text x="{_CHART_LABEL + _CHART_BAR + 6}" y="{y + _CHART_ROW - 5}" fill="#616e7c">{count:,} docs</text></g>'
        )
    width = _CHART_LABEL + _CHART_BAR + _CHART_COUNT
    height = max(len(rows), 1) * _CHART_ROW
    by = f"by {chart['frequency']}" if chart.get("frequency") else "per group"
    hidden = chart.get("n_hidden")
    notes = []
    if hidden:
        notes.append(f"{hidden:,} smaller groups are not drawn.")
    if chart.get("n_missing"):
        notes.append(f"{chart['n_missing']:,} documents have no {_e(chart['title'])}.")
    legend = "".join(
        f'<span><i style="background:{_e(t["color"])}"></i>{_e(t["label"])}</span>' for t in topics
    )
    return (
        f'<h3>Topic shares {_e(by)} (doc.user_data["{_e(chart["key"])}"])</h3>'
        f'<svg class="groups" data-testid="group-chart" data-key="{_e(chart["key"])}" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label="Topic shares {_e(by)}">{"".join(rows)}</svg>'
        f'<div class="legend">{legend}</div>'
        + (f'<p class="muted">{" ".join(notes)}</p>' if notes else "")
    )


def _groups_section(charts: List[Dict[str, Any]], topics: List[Dict[str, Any]]) -> str:
    if not charts:
        return ('<p class="muted" data-testid="no-groups">The documents have no group or date '
                '(doc.user_data["group"], doc.user_data["date"]: <code>spacy textvae preprocess '
                '--group-field NAME --date-field NAME</code> keeps them), so there is no chart.</p>')
    return "".join(_group_chart(c, topics) for c in charts)


def render_page(report: Dict[str, Any]) -> str:
    """The report as one self-contained HTML page.

    report (Dict[str, Any]): What `html_report.build_report` gathers.
    RETURNS (str): The HTML.
    """
    topics: List[Dict[str, Any]] = report["topics"]
    script_data = {
        "points": report["map"]["points"],
        "clusterColors": {str(c["id"]): c["color"] for c in report["clusters"]},
        "topics": [{"id": t["id"], "label": t["label"]} for t in topics],
        "similarity": report["similarity"],
    }
    source = report.get("source", {})
    where = " · ".join(f"{_e(k)}: {_e(v)}" for k, v in source.items())
    legend = "".join(
        f'<span><i style="background:{_e(c["color"])}"></i>cluster {c["id"]} ({c["size"]:,})</span>'
        for c in report["clusters"] if c["size"]
    )
    rendered = "".join(
        f'<div class="rendered" data-testid="rendered-doc"><p class="muted">doc {r["doc"]} · top topic '
        f'{_e(topics[r["topic"]]["label"])}</p>{r["html"]}</div>'
        for r in report["rendered"]
    )
    if report["rendered"] and not any(r["has_spans"] for r in report["rendered"]):
        rendered = ('<p class="muted">This pipeline does not mark topic words in the text '
                    f'(no doc.spans["{_e(report["spans_key"])}"]): the documents are shown plainly.</p>' + rendered)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:">
<title>{_e(report["title"])}</title>
<script>{ERRORS_JS}</script>
<style>{CSS}</style>
</head>
<body>
<header>
<h1>{_e(report["title"])}</h1>
<p>Component <b>{_e(report["component"])}</b> · {report["n_docs"]:,} documents · {report["n_topics"]} topics ·
{report["n_clusters"]} clusters{(" · " + where) if where else ""}</p>
</header>
<nav><a href="#map-section">Map</a><a href="#similarity">Topic similarity</a><a href="#scores">Scores</a>
<a href="#topics">Topics</a><a href="#topic-tree">Topic tree</a><a href="#groups">Topics per group</a>
<a href="#clusters">Clusters × labels</a><a href="#in-text">Topics in the text</a></nav>
<main>
<pre data-testid="errors" data-count="0" hidden></pre>
<div class="row">
<section class="block" id="map-section" style="flex:2 1 620px">
<h2>Documents on the first two principal axes of their latents, coloured by cluster</h2>
{_map_note(report["map"])}
<svg id="map" data-testid="map" role="img" aria-label="Map of the documents"></svg>
<div class="legend">{legend}</div>
<div id="hover" class="muted">Hover over a point to read its document.</div>
</section>
<div class="col">
<section class="block" id="similarity">
<h2>Topic similarity</h2>
<p class="muted">Cosine similarity of the topics' word distributions, p(word | topic).</p>
<svg id="heatmap" data-testid="heatmap" role="img" aria-label="Topic similarity heatmap"></svg>
<p class="muted" id="heatmap-scale"></p>
</section>
<section class="block" id="scores">
<h2>Scores</h2>
{_scores_table(report["scores"])}
</section>
</div>
</div>
<section class="block" id="topics">
<h2>Topics</h2>
<p class="muted">Each topic's top {report["top_n"]} words with p(word | topic); its size is the number of documents
whose largest topic it is.</p>
<div class="topics">{"".join(_topic_section(t) for t in topics)}</div>
</section>
<section class="block" id="topic-tree">
<h2>Topic tree</h2>
<p class="muted">Average-linkage clustering of the topics by the cosine distance (d) of their representations in the
decoder; each node with the top words of its topics' mixture.</p>
{_tree_section(report.get("tree"))}
</section>
<section class="block" id="groups">
<h2>Topics per group and over time</h2>
{_groups_section(report.get("groups") or [], topics)}
</section>
<section class="block" id="clusters">
<h2>Clusters × gold labels</h2>
{_cluster_table(report["cluster_labels"])}
</section>
<section class="block" id="in-text">
<h2>Topics in the text</h2>
{rendered}
</section>
<div data-testid="status" data-state="loading" hidden></div>
</main>
<script type="application/json" id="report-data">{_json_for_script(script_data)}</script>
<script>{REPORT_JS}</script>
</body>
</html>
"""
