#!/usr/bin/env python3
"""Data for bench/history.sh, as OpenMetrics backfill files (every sample with its timestamp,
families contiguous, each series' samples in time order, `# EOF` at the end), the format both
`pupitre metrics import` and `promtool tsdb create-blocks-from openmetrics` read.

  synthetic OUT [--series N] [--hours H] [--interval S]
      N series as a monitoring system sees them, scraped every S seconds by N/100 targets
      (each target's scrape time has a few ms of jitter, shared by its series): 40 % float
      gauges that wander (temperatures, CPU %, 2 decimals), 30 % counters (bytes, requests),
      20 % whole-number gauges that change now and then (processes, bytes used), 10 %
      constants (up, info).
  record OUT --url URL [--interval S] [--scrapes N]
      N real scrapes of an exporter (prometheus-node-exporter on this machine), S seconds apart,
      each sample stamped with its scrape's time. Every sample name is a family of its own
      (counters `X_total` as `# TYPE X counter`, the rest `unknown`), which both readers accept
      whatever the exporter's histograms look like.
  queries OUT [--series N] [--hours H] [--long-days D] [--interval S]
      For query latency: N gauges over H hours (`bench_fleet_load{host=...}`) and one gauge
      over D days (`bench_long_disk_used_bytes`), every S seconds.

A deterministic generator (seeded) makes the synthetic sets the same from run to run.
"""

import argparse
import random
import re
import time
import urllib.request


def stamp(ms):
    return f"{ms // 1000}.{ms % 1000:03d}"


def synthetic(out, series, hours, interval):
    rng = random.Random(5)
    end = (int(time.time()) // 7200) * 7200 * 1000 - 2 * 3600 * 1000
    start = end - hours * 3600 * 1000
    steps = hours * 3600 // interval
    targets = max(1, series // 100)
    # Each target's scrape times: the interval plus a few ms of jitter.
    times = []
    for t in range(targets):
        offset = rng.randrange(interval * 1000)
        times.append([start + offset + i * interval * 1000 + rng.randrange(-3, 4) for i in range(steps)])
    kinds = ["gauge"] * 40 + ["counter"] * 30 + ["whole"] * 20 + ["constant"] * 10
    with open(out, "w") as f:
        for kind in ["gauge", "counter", "whole", "constant"]:
            name = {
                "gauge": "bench_temperature_celsius",
                "counter": "bench_bytes",
                "whole": "bench_processes",
                "constant": "bench_up",
            }[kind]
            f.write(f"# TYPE {name} {'counter' if kind == 'counter' else 'gauge'}\n")
            sample = name + "_total" if kind == "counter" else name
            for s in range(series):
                if kinds[s % 100] != kind:
                    continue
                ts = times[s % targets]
                labels = f'{{instance="host{s % targets}:9100",id="{s}"}}'
                if kind == "gauge":
                    v = rng.uniform(20, 80)
                    for t in ts:
                        v = min(100.0, max(0.0, v + rng.gauss(0, 0.5)))
                        f.write(f"{sample}{labels} {v:.2f} {stamp(t)}\n")
                elif kind == "counter":
                    v = rng.randrange(10**9)
                    rate = rng.choice([10, 1000, 100000])
                    for t in ts:
                        v += int(rng.expovariate(1 / rate) * interval)
                        f.write(f"{sample}{labels} {v} {stamp(t)}\n")
                elif kind == "whole":
                    v = rng.randrange(50, 500)
                    for t in ts:
                        if rng.random() < 0.05:
                            v = max(0, v + rng.randrange(-5, 6))
                        f.write(f"{sample}{labels} {v} {stamp(t)}\n")
                else:
                    for t in ts:
                        f.write(f"{sample}{labels} 1 {stamp(t)}\n")
        f.write("# EOF\n")


LINE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)$")


def record(out, url, interval, scrapes):
    families = {}  # sample name -> {labels: [(ms, value)]}
    types = {}
    next_at = time.time()
    for i in range(scrapes):
        time.sleep(max(0.0, next_at - time.time()))
        at = int(time.time() * 1000)
        body = urllib.request.urlopen(url, timeout=10).read().decode()
        for line in body.splitlines():
            if line.startswith("# TYPE "):
                _, _, name, kind = line.split(" ", 3)
                types[name] = kind
                continue
            if not line or line.startswith("#"):
                continue
            m = LINE.match(line)
            if not m:
                raise SystemExit(f"unexpected line: {line}")
            name, labels, value = m.group(1), m.group(2) or "", m.group(3)
            families.setdefault(name, {}).setdefault(labels, []).append((at, value))
        next_at += interval
    with open(out, "w") as f:
        for name in sorted(families):
            # A counter `X_total` is the family `X`, unless a sample is named `X` itself
            # (go_memstats_alloc_bytes and go_memstats_alloc_bytes_total).
            if types.get(name) == "counter" and name.endswith("_total") and name[:-6] not in families:
                f.write(f"# TYPE {name[:-6]} counter\n")
            else:
                f.write(f"# TYPE {name} unknown\n")
            for labels, points in families[name].items():
                for at, value in points:
                    f.write(f"{name}{labels} {value} {stamp(at)}\n")
        f.write("# EOF\n")


def queries(out, series, hours, long_days, interval):
    rng = random.Random(7)
    end = (int(time.time()) // 3600) * 3600 * 1000 - 3600 * 1000
    with open(out, "w") as f:
        f.write("# TYPE bench_fleet_load gauge\n")
        steps = hours * 3600 // interval
        for s in range(series):
            v = rng.uniform(0, 4)
            for i in range(steps):
                v = max(0.0, v + rng.gauss(0, 0.05))
                t = end - (steps - i) * interval * 1000
                f.write(f'bench_fleet_load{{host="web{s}"}} {v:.2f} {stamp(t)}\n')
        f.write("# TYPE bench_long_disk_used_bytes gauge\n")
        steps = long_days * 86400 // interval
        v = 10**11
        for i in range(steps):
            v += rng.randrange(0, 20000) * 4096
            t = end - (steps - i) * interval * 1000
            f.write(f'bench_long_disk_used_bytes{{mount="/var"}} {v} {stamp(t)}\n')
        f.write("# EOF\n")


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="what", required=True)
    a = sub.add_parser("synthetic")
    a.add_argument("out")
    a.add_argument("--series", type=int, default=10000)
    a.add_argument("--hours", type=int, default=3)
    a.add_argument("--interval", type=int, default=15)
    b = sub.add_parser("record")
    b.add_argument("out")
    b.add_argument("--url", required=True)
    b.add_argument("--interval", type=float, default=2.0)
    b.add_argument("--scrapes", type=int, default=300)
    c = sub.add_parser("queries")
    c.add_argument("out")
    c.add_argument("--series", type=int, default=1000)
    c.add_argument("--hours", type=int, default=24)
    c.add_argument("--long-days", type=int, default=30)
    c.add_argument("--interval", type=int, default=15)
    args = p.parse_args()
    if args.what == "synthetic":
        synthetic(args.out, args.series, args.hours, args.interval)
    elif args.what == "record":
        record(args.out, args.url, args.interval, args.scrapes)
    else:
        queries(args.out, args.series, args.hours, args.long_days, args.interval)


if __name__ == "__main__":
    main()
