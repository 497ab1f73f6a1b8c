#!/usr/bin/env python3
"""perf script -> one self-contained interactive flame graph (HTML) drawn by d3-flame-graph.

    perf script -i perf.data -F comm,tid,period,ip,sym,dso | render.py --title T --out F.html

Reads `perf script` samples on stdin (a header line `comm tid period`, then one indented
line per frame, innermost first, a blank line between samples), folds them into the
{name, value, children} tree d3-flame-graph draws (root, then the thread's name, then the
stack from the outermost frame; consecutive repeats of an unsymbolized frame, the
garbage of a frame-pointer walk through a library built without them, fold to one), and
writes one HTML file with d3-flame-graph, the d3
modules it needs and the data inlined: it opens from disk, offline. The renderer is
d3-flame-graph from npm (perf/flame/package.json; flame.sh runs `npm ci`); only the
folding and the page around it are ours. Stdlib only.
"""
import argparse
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
# UMD bundles that extend window.d3, in dependency order, then the flame graph itself.
D3_MODULES = ["internmap", "d3-array", "d3-dispatch", "d3-timer", "d3-ease", "d3-color",
              "d3-interpolate", "d3-selection", "d3-transition", "d3-format", "d3-time",
              "d3-time-format", "d3-scale", "d3-hierarchy"]
HEADER = re.compile(r"^(.*?)\s+(\d+)\s+(\d+)\s*$")  # comm (may hold spaces), tid, period
FRAME = re.compile(r"^\s+[0-9a-f]+\s+(.*?)(?:\s+\((.*)\))?\s*$")


def frame_name(sym, dso):
    if sym and sym != "[unknown]":
        return sym
    if not dso or dso.startswith("["):
        return dso or "[unknown]"
    return f"[{os.path.basename(dso)}]"


def fold(lines):
    """Yields (thread, [outermost .. innermost frame], weight) per sample."""
    thread, weight, frames = None, 0, []
    for line in lines:
        line = line.rstrip("\n")
        if not line.strip():
            if thread is not None:
                yield thread, frames[::-1], weight
            thread, frames = None, []
            continue
        if not line[0].isspace():
            m = HEADER.match(line)
            thread, weight = (m.group(1).strip(), int(m.group(3))) if m else (line.strip(), 1)
            frames = []
            continue
        m = FRAME.match(line)
        if m and thread is not None:
            name = frame_name(m.group(1), m.group(2))
            # A frame-pointer walk through a library built without them (jemalloc, libc)
            # reads garbage: a hundred "[unknown]" frames. Unsymbolized repeats fold to one.
            if not (name.startswith("[") and frames and frames[-1] == name):
                frames.append(name)
    if thread is not None:
        yield thread, frames[::-1], weight


def tree(samples, root_name):
    root = {"name": root_name, "value": 0, "children": {}}
    n = 0
    for thread, frames, weight in samples:
        n += 1
        node = root
        node["value"] += weight
        for name in [thread] + frames:
            node = node["children"].setdefault(name, {"name": name, "value": 0, "children": {}})
            node["value"] += weight

    def listify(node):
        node["children"] = [listify(c) for c in node["children"].values()]
        return node
    return listify(root), n


def read_dist(package, file):
    path = os.path.join(HERE, "node_modules", package, "dist", file)
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except OSError:
        raise SystemExit(f"render.py: {path} missing: run `npm ci` in {HERE}")


def inline(text):
    return text.replace("</script", "<\\/script")


def page(data, title, samples):
    scripts = [read_dist(m, f"{m}.min.js") for m in D3_MODULES]
    scripts.append(read_dist("d3-flame-graph", "d3-flamegraph.umd.min.js"))
    css = read_dist("d3-flame-graph", "d3-flamegraph.css")
    blob = json.dumps(data, separators=(",", ":")).replace("</", "<\\/")
    esc = title.replace("&", "&amp;").replace("<", "&lt;")
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{esc}</title>
<style>{css}
body {{ font-family: sans-serif; margin: 1em; }}
#details {{ height: 1.5em; font-family: monospace; }}
</style>
{"".join(f"<script>{inline(s)}</script>" for s in scripts)}
</head><body>
<h3>{esc}</h3>
<p>{samples} samples; click a frame to zoom, search a name:
<input id="term"> <button id="search">search</button> <button id="reset">reset zoom</button></p>
<div id="chart"></div><div id="details"></div>
<script id="data" type="application/json">{blob}</script>
<script>
const data = JSON.parse(document.getElementById("data").textContent);
const chart = flamegraph.default().width(Math.max(960, window.innerWidth - 40)).cellHeight(18)
    .minFrameSize(2).sort(true).details(document.getElementById("details"));
d3.select("#chart").datum(data).call(chart);
document.getElementById("search").onclick = () => chart.search(document.getElementById("term").value);
document.getElementById("reset").onclick = () => chart.resetZoom();
</script>
</body></html>
"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--title", default="chat-node")
    ap.add_argument("--root", default="all")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    data, n = tree(fold(sys.stdin), a.root)
    if n == 0:
        raise SystemExit("render.py: no samples on stdin")
    with open(a.out, "w", encoding="utf-8") as f:
        f.write(page(data, a.title, n))
    print(f"render.py: {n} samples -> {a.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
