#!/usr/bin/env python3
"""Summarises an A/B of perf/bench/ab.sh: the result lines of RESULTS whose note is NOTE,
grouped by rate and build ("base"/"new"), as the median and the worst of each figure over
the rounds, and the ratio new/base of the medians.

    ab_summary.py RESULTS NOTE
"""
import json
import statistics
import sys


def figures(d):
    return {
        "p50": d["latency_ms"]["p50"],
        "p99": d["latency_ms"]["p99"],
        "lost": d["lost"] + d.get("duplicates", 0),
        "cores": d["server_cpu_cores"],
        "receipt_p99": d["receipt_ms"]["p99"],
    }


def main(path, note):
    runs = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            d = json.loads(line)
            if d.get("note") != note or "build" not in d:
                continue
            runs.setdefault((d["rate"], d["build"]), []).append(figures(d))
    if not runs:
        print(f"no result lines with note {note!r} in {path}")
        return 1
    print("| msgs/s | build | runs | p50 ms (median, worst) | p99 ms (median, worst) | "
          "lost+dup (worst) | node cores (median) | RECEIPT p99 ms (median) |")
    print("|---|---|---|---|---|---|---|---|")
    rates = sorted({r for r, _ in runs})
    for rate in rates:
        for build in ("base", "new"):
            xs = runs.get((rate, build), [])
            if not xs:
                continue
            med = lambda k: statistics.median(x[k] for x in xs)
            worst = lambda k: max(x[k] for x in xs)
            print(f"| {rate} | {build} | {len(xs)} | {med('p50'):.1f}, {worst('p50'):.1f} | "
                  f"{med('p99'):.1f}, {worst('p99'):.1f} | {worst('lost')} | {med('cores'):.2f} | "
                  f"{med('receipt_p99'):.1f} |")
        b, n = runs.get((rate, "base")), runs.get((rate, "new"))
        if b and n:
            r50 = statistics.median(x["p50"] for x in n) / statistics.median(x["p50"] for x in b)
            r99 = statistics.median(x["p99"] for x in n) / statistics.median(x["p99"] for x in b)
            print(f"| {rate} | new/base | | {r50:.2f} | {r99:.2f} | | | |")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        print(__doc__)
        sys.exit(2)
    sys.exit(main(sys.argv[1], sys.argv[2]))
