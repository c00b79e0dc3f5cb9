#!/usr/bin/env python3
"""The table of bench/net.sh: medians over the repetitions of its raw JSON lines.

    net-table.py RAW.jsonl MACHINE.txt  > table.md

Throughput cases (bench/net-load.c "stream"): MiB/s per route and enclaver / socat.
HTTP cases ("http"): requests per second and latency percentiles per route, the
latency enclaver adds over the direct connection, and enclaver / socat.  The goals of
issue #15 are stated next to the figures (>= 0.8 x socat's throughput, <= 1 ms p99
added per request); nothing is asserted."""
import json
import statistics
import sys

ROUTES = ("direct", "enclaver", "socat")


def main():
    rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
    machine = open(sys.argv[2]).read().strip().splitlines()
    cases = []
    by = {}
    for r in rows:
        if r["case"] not in cases:
            cases.append(r["case"])
        by.setdefault((r["case"], r["route"]), []).append(r)

    def med(case, route, key):
        v = [r[key] for r in by.get((case, route), [])]
        return statistics.median(v) if v else float("nan")

    out = ["# Network benchmark (bench/net.sh)", ""]
    out += ["- " + l for l in machine]
    out.append("")
    stream = [c for c in cases if "mib_s" in by[(c, "direct")][0]]
    http = [c for c in cases if "rps" in by[(c, "direct")][0]]
    if stream:
        out += ["## Throughput (MiB/s, median)", "",
                "| case | direct | enclaver | socat | socat -b 32768 | enclaver / socat "
                "| enclaver / socat -b 32768 | goal >= 0.8 |",
                "|---|---:|---:|---:|---:|---:|---:|---|"]
        for c in stream:
            d, e, s, s32 = (med(c, r, "mib_s") for r in ROUTES + ("socat-32k",))
            ratio = e / s
            out.append("| %s | %.0f | %.0f | %.0f | %.0f | %.2f | %.2f | %s |" % (
                c, d, e, s, s32, ratio, e / s32, "met" if min(ratio, e / s32) >= 0.8 else "NOT met"))
        out.append("")
    if http:
        out += ["## HTTP requests through ingress (median of the repetitions)", "",
                "| case | route | req/s | p50 us | p90 us | p99 us | p99.9 us |",
                "|---|---|---:|---:|---:|---:|---:|"]
        for c in http:
            for r in ROUTES:
                out.append("| %s | %s | %.0f | %.1f | %.1f | %.1f | %.1f |" % (
                    c, r, med(c, r, "rps"), med(c, r, "p50_us"), med(c, r, "p90_us"),
                    med(c, r, "p99_us"), med(c, r, "p999_us")))
        out += ["", "| case | enclaver req/s / socat | p50 added (enclaver - direct) us | p99 added us "
                "| socat p99 added us | goal p99 added <= 1000 us |",
                "|---|---:|---:|---:|---:|---|"]
        for c in http:
            ratio = med(c, "enclaver", "rps") / med(c, "socat", "rps")
            a50 = med(c, "enclaver", "p50_us") - med(c, "direct", "p50_us")
            a99 = med(c, "enclaver", "p99_us") - med(c, "direct", "p99_us")
            s99 = med(c, "socat", "p99_us") - med(c, "direct", "p99_us")
            out.append("| %s | %.2f | %.1f | %.1f | %.1f | %s |" % (c, ratio, a50, a99, s99, "met" if a99 <= 1000 else "NOT met"))
        out.append("")
    print("\n".join(out))


if __name__ == "__main__":
    main()
