#!/usr/bin/env python3
"""Helpers of bench/supervision.sh (standard library only).

Subcommands:
  targets   loopback check targets: an accept-and-close TCP port and a minimal HTTP server
  create    one asset and N checks through Pupitre's REST API (one request per check)
  measure   CPU of a process tree (and of a cgroup) plus checks done over a fixed window
  report    the markdown tables and the summary line from the JSON lines of `measure`

CPU of a process tree: for the root process and every live descendant, utime + stime +
cutime + cstime from /proc/PID/stat (all threads of a process are in its own line; a child's
CPU moves into its parent's cutime/cstime once the parent reaps it). The difference of that sum
between the window's two ends is what the tree used in the window, children that started and
ended inside it included, as long as they were reaped by a member of the tree.
"""

import argparse
import asyncio
import glob
import http.client
import json
import os
import re
import signal
import sys
import time
import urllib.request

CLK_TCK = os.sysconf("SC_CLK_TCK")


# --- targets -------------------------------------------------------------------------------


async def _tcp_handle(reader, writer):
    writer.close()


async def _http_handle(reader, writer):
    try:
        while True:
            line = await reader.readline()
            if not line:
                return
            # Headers up to the blank line; the body of a GET is empty.
            while True:
                h = await reader.readline()
                if not h or h in (b"\r\n", b"\n"):
                    break
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n"
                b"Connection: close\r\n\r\nok\n"
            )
            await writer.drain()
            return
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


async def _targets(args):
    servers = []
    if args.tcp:
        servers.append(await asyncio.start_server(_tcp_handle, "127.0.0.1", args.tcp, backlog=4096))
    if args.http:
        servers.append(await asyncio.start_server(_http_handle, "127.0.0.1", args.http, backlog=4096))
    print(f"targets: tcp 127.0.0.1:{args.tcp or '-'} (accept and close), http 127.0.0.1:{args.http or '-'}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for s in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(s, stop.set)
    try:
        await asyncio.wait_for(stop.wait(), timeout=args.max_seconds)
    except asyncio.TimeoutError:
        print(f"targets: stopping after --max-seconds {args.max_seconds}", flush=True)
    for s in servers:
        s.close()


def cmd_targets(args):
    asyncio.run(_targets(args))


# --- create --------------------------------------------------------------------------------


class Api:
    def __init__(self, base, token):
        m = re.match(r"http://([^:/]+):(\d+)$", base)
        if not m:
            raise SystemExit(f"base URL {base!r}: expected http://HOST:PORT")
        self.host, self.port = m.group(1), int(m.group(2))
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        self.conn = None

    def call(self, method, path, body=None):
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=120)
            try:
                self.conn.request(method, path, body=None if body is None else json.dumps(body), headers=self.headers)
                resp = self.conn.getresponse()
                data = resp.read()
            except (http.client.HTTPException, ConnectionError):
                self.conn.close()
                self.conn = None
                if attempt == 2:
                    raise
                continue
            if resp.status // 100 != 2:
                raise SystemExit(f"{method} {path} answered {resp.status}: {data[:600]!r}")
            return json.loads(data) if data else None


def probe_of(args, i):
    if args.kind == "tcp":
        return {"kind": "tcp", "host": "127.0.0.1", "port": args.tcp_port}
    if args.kind == "http":
        return {"kind": "http", "url": f"http://127.0.0.1:{args.http_port}/"}
    if args.kind == "plugin":
        return {
            "kind": "plugin",
            "path": args.plugin,
            "arguments": ["-H", "$HOSTADDRESS$", "-p", str(args.tcp_port)],
        }
    raise SystemExit(f"unknown kind {args.kind}")


def cmd_create(args):
    api = Api(args.base, args.token)
    asset = api.call(
        "POST",
        "/api/v1/assets",
        {"name": args.asset, "asset_type": "server", "management_ip": "127.0.0.1"},
    )
    t0 = time.monotonic()
    last = t0
    for i in range(1, args.n + 1):
        api.call(
            "POST",
            "/api/v1/checks",
            {
                "asset_id": asset["id"],
                "name": f"{args.kind} {i}",
                "probe": probe_of(args, i),
                "interval": args.interval,
                "timeout": args.timeout,
                # One failure is a hard state, as in the Icinga 2 configuration
                # (max_check_attempts = 1): no retry interval in play.
                "max_attempts": 1,
                "notifications": False,
            },
        )
        now = time.monotonic()
        if now - last >= 10 or i == args.n:
            print(f"  created {i}/{args.n} checks in {now - t0:.1f} s ({i / (now - t0):.0f}/s)", flush=True)
            last = now
        if args.max_seconds and now - t0 > args.max_seconds:
            raise SystemExit(f"creating the checks took more than {args.max_seconds} s ({i} done)")
    elapsed = time.monotonic() - t0
    json.dump({"asset_id": asset["id"], "checks": args.n, "seconds": round(elapsed, 2), "per_s": round(args.n / elapsed, 1)}, sys.stdout)
    print()


# --- measure -------------------------------------------------------------------------------


def _stat(pid):
    """(ppid, cpu ticks incl. reaped children) of pid, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read().decode("ascii", "replace")
    except OSError:
        return None
    rest = raw[raw.rindex(")") + 2 :].split()
    # rest[0] is field 3 (state); utime..cstime are fields 14..17.
    ppid = int(rest[1])
    ticks = sum(int(x) for x in rest[11:15])
    return ppid, ticks


def tree_cpu(root):
    """CPU seconds of root and its live descendants (with their reaped children), and the pids."""
    parents = {}
    ticks = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            st = _stat(int(d))
            if st:
                parents[int(d)] = st[0]
                ticks[int(d)] = st[1]
    if root not in ticks:
        raise SystemExit(f"process {root} is gone")
    members = {root}
    changed = True
    while changed:
        changed = False
        for pid, ppid in parents.items():
            if ppid in members and pid not in members:
                members.add(pid)
                changed = True
    return sum(ticks[p] for p in members) / CLK_TCK, len(members)


def thread_cpu(pid):
    """CPU seconds of each live thread of pid, summed by thread name (comm, digits dropped)."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/stat", "rb") as f:
                raw = f.read().decode("ascii", "replace")
        except OSError:
            continue
        name = raw[raw.index("(") + 1 : raw.rindex(")")]
        name = re.sub(r"[-_ ]?\d+$", "", name)
        rest = raw[raw.rindex(")") + 2 :].split()
        out[name] = out.get(name, 0) + (int(rest[11]) + int(rest[12])) / CLK_TCK
    return out


def tree_rss_mb(root):
    """Resident memory of root and its live descendants, in MiB (shared pages counted twice)."""
    parents = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            st = _stat(int(d))
            if st:
                parents[int(d)] = st[0]
    members, changed = {root}, True
    while changed:
        changed = False
        for pid, ppid in parents.items():
            if ppid in members and pid not in members:
                members.add(pid)
                changed = True
    return round(sum(rss_mb(p) or 0 for p in members), 1)


def rss_mb(pid):
    """Resident memory of one process, in MiB."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return None


def cgroup_cpu(path):
    """CPU seconds used by every task ever in the cgroup (v1 cpuacct.usage or v2 cpu.stat)."""
    if not path:
        return None
    v1 = os.path.join(path, "cpuacct.usage")
    if os.path.exists(v1):
        with open(v1) as f:
            return int(f.read()) / 1e9
    with open(os.path.join(path, "cpu.stat")) as f:
        for line in f:
            k, v = line.split()
            if k == "usage_usec":
                return int(v) / 1e6
    return None


def scrape(url):
    with urllib.request.urlopen(url, timeout=30) as r:
        text = r.read().decode()
    out = {}
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        name, _, value = line.rpartition(" ")
        try:
            out[name] = float(value)
        except ValueError:
            pass
    return out


def lag_quantiles(before, after, qs=(0.5, 0.99)):
    """Quantiles of the lag histogram's increase between two scrapes, interpolated linearly
    inside the bucket (as Prometheus' histogram_quantile does); the first bucket starts at 0."""
    bounds = []
    for k in after:
        m = re.match(r'pupitre_check_lag_seconds_bucket\{le="([^"]+)"\}$', k)
        if m:
            bounds.append((float("inf") if m.group(1) == "+Inf" else float(m.group(1)), k))
    bounds.sort()
    cum = [(b, after[k] - before.get(k, 0)) for b, k in bounds]
    total = cum[-1][1] if cum else 0
    res = {}
    for q in qs:
        if total <= 0:
            res[q] = None
            continue
        rank = q * total
        lo, prev = 0.0, 0.0
        for b, c in cum:
            if c >= rank:
                if b == float("inf"):
                    res[q] = float("inf")
                else:
                    res[q] = lo + (b - lo) * ((rank - prev) / (c - prev) if c > prev else 0)
                break
            lo, prev = b, c
    buckets = {("+Inf" if b == float("inf") else f"{b:g}"): int(c) for b, c in cum}
    return res, buckets, total


def perfdata_count(directory, t0, t1):
    """Service results in Icinga 2's perfdata files whose TIMET lies in [t0, t1)."""
    n = 0
    for path in glob.glob(os.path.join(directory, "service-perfdata*")):
        with open(path, "rb") as f:
            for line in f:
                m = re.search(rb"TIMET::(\d+)", line)
                if m and t0 <= int(m.group(1)) < t1:
                    n += 1
    return n


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def metric_sum(m, prefix):
    return sum(v for k, v in m.items() if k.startswith(prefix))


def cmd_measure(args):
    pid = args.pid
    info = {
        "system": args.system,
        "bench": args.bench,
        "kind": args.kind,
        "checks": args.checks,
        "interval_s": args.interval,
        "run": args.run,
    }
    print(f"  warm-up {args.warmup} s ...", flush=True)
    time.sleep(args.warmup)
    # Start on a whole second, so the perfdata timestamps (whole seconds) match the window.
    time.sleep(1 - (time.time() % 1) + 0.001)
    t0 = int(time.time())
    info["load_at_start"] = loadavg()
    cpu0, procs0 = tree_cpu(pid)
    threads0 = thread_cpu(pid)
    info["rss_mb_at_start"] = tree_rss_mb(pid)
    cg0 = cgroup_cpu(args.cgroup)
    m0 = scrape(args.metrics) if args.metrics else None
    w0 = time.monotonic()
    samples = []
    next_print = w0 + 10
    while True:
        now = time.monotonic()
        left = w0 + args.window - now
        if left <= 0:
            break
        time.sleep(min(left, max(0.0, next_print - now)))
        if time.monotonic() >= next_print and time.monotonic() < w0 + args.window - 1:
            c, n = tree_cpu(pid)
            el = time.monotonic() - w0
            line = f"  t={el:.0f}s cpu={100 * (c - cpu0) / el:.1f}% procs={n} load={loadavg()}"
            if args.metrics:
                m = scrape(args.metrics)
                runs = metric_sum(m, f'pupitre_checks_run_total{{probe="{args.kind}"}}') - metric_sum(
                    m0, f'pupitre_checks_run_total{{probe="{args.kind}"}}'
                )
                line += f" runs={runs / el:.1f}/s running={m.get('pupitre_checks_running', 0):.0f}"
            print(line, flush=True)
            samples.append(line.strip())
            next_print += 10
    cpu1, procs1 = tree_cpu(pid)
    threads1 = thread_cpu(pid)
    cg1 = cgroup_cpu(args.cgroup)
    m1 = scrape(args.metrics) if args.metrics else None
    w1 = time.monotonic()
    t1 = t0 + args.window
    info["window_s"] = round(w1 - w0, 2)
    info["cpu_s"] = round(cpu1 - cpu0, 3)
    info["processes"] = max(procs0, procs1)
    if cg0 is not None and cg1 is not None:
        info["cgroup_cpu_s"] = round(cg1 - cg0, 3)
    info["load_at_end"] = loadavg()
    info["rss_mb"] = tree_rss_mb(pid)
    # Where the root process's own CPU went, by thread name (threads that ended within the
    # window are missing; reaped children are not in here).
    info["threads_cpu_s"] = {
        k: round(v - threads0.get(k, 0), 2) for k, v in sorted(threads1.items()) if v - threads0.get(k, 0) >= 0.01
    }
    if args.metrics:
        key = f'pupitre_checks_run_total{{probe="{args.kind}"}}'
        info["done"] = int(m1.get(key, 0) - m0.get(key, 0))
        info["unknown"] = int(
            m1.get(f'pupitre_checks_failed_total{{probe="{args.kind}"}}', 0)
            - m0.get(f'pupitre_checks_failed_total{{probe="{args.kind}"}}', 0)
        )
        info["skipped"] = int(m1.get("pupitre_checks_skipped_total", 0) - m0.get("pupitre_checks_skipped_total", 0))
        info["write_errors"] = int(
            m1.get("pupitre_check_result_write_errors_total", 0) - m0.get("pupitre_check_result_write_errors_total", 0)
        )
        info["results_written"] = int(
            m1.get("pupitre_check_results_written_total", 0) - m0.get("pupitre_check_results_written_total", 0)
        )
        dkey = f'pupitre_check_duration_seconds_total{{probe="{args.kind}"}}'
        if info["done"]:
            info["mean_run_ms"] = round(1000 * (m1.get(dkey, 0) - m0.get(dkey, 0)) / info["done"], 3)
        qs, buckets, total = lag_quantiles(m0, m1)
        info["lag_p50_s"] = qs[0.5]
        info["lag_p99_s"] = qs[0.99]
        info["lag_count"] = int(total)
        info["lag_buckets"] = buckets
        dsum = m1.get("pupitre_check_lag_seconds_sum", 0) - m0.get("pupitre_check_lag_seconds_sum", 0)
        info["lag_mean_s"] = round(dsum / total, 4) if total else None
    if args.perfdata:
        # The writer flushes its file when it rotates it (every 10 s): wait for the rotation
        # that follows the window's end.
        wait = args.perfdata_wait
        print(f"  waiting {wait} s for the perfdata file to rotate ...", flush=True)
        time.sleep(wait)
        info["done"] = perfdata_count(args.perfdata, t0, t1)
    info["expected"] = int(round(args.checks * args.window / args.interval))
    info["done_per_s"] = round(info["done"] / args.window, 1)
    info["cpu_percent"] = round(100 * info["cpu_s"] / info["window_s"], 1)
    if info["done"]:
        info["cpu_ms_per_check"] = round(1000 * info["cpu_s"] / info["done"], 4)
        info["cpu_s_per_1000"] = round(1000 * info["cpu_s"] / info["done"], 3)
        if "cgroup_cpu_s" in info:
            info["cgroup_cpu_s_per_1000"] = round(1000 * info["cgroup_cpu_s"] / info["done"], 3)
    info["samples"] = samples
    line = json.dumps(info)
    print(
        f"  => {args.system} {args.kind}: {info['done']} checks in {args.window} s "
        f"({info['done_per_s']}/s, expected {info['expected']}), CPU {info['cpu_s']} s "
        f"({info['cpu_percent']}%)"
        + (f", cgroup {info['cgroup_cpu_s']} s" if "cgroup_cpu_s" in info else "")
        + (f", {info['cpu_s_per_1000']} CPU s per 1,000 checks" if info["done"] else ""),
        flush=True,
    )
    if args.out:
        with open(args.out, "a") as f:
            f.write(line + "\n")
    print("RESULT " + line, flush=True)


# --- report --------------------------------------------------------------------------------


def _median(xs):
    xs = sorted(x for x in xs if x is not None)
    if not xs:
        return None
    n = len(xs)
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2


def _fmt(x, digits=3):
    if x is None:
        return "—"
    if x == float("inf"):
        return "> 10 s"
    return f"{x:,.{digits}f}"


def _ms(x):
    if x is None:
        return "—"
    if x == float("inf"):
        return "> 10 s"
    return f"{1000 * x:,.1f} ms"


def cmd_report(args):
    rows = [json.loads(l) for l in open(args.results) if l.strip()]
    out = []
    summary = {}

    def runs(bench, system, kind, checks=None):
        return [
            r
            for r in rows
            if r["bench"] == bench and r["system"] == system and r["kind"] == kind and (checks is None or r["checks"] == checks)
        ]

    def per_run(rs, key, digits=3):
        return " / ".join(_fmt(r.get(key), digits) for r in rs) or "—"

    # (a) check cost
    a = [r for r in rows if r["bench"] == "a"]
    if a:
        out.append("### (a) CPU per check: native probes against Icinga 2")
        out.append("")
        out.append("| check | system | checks | interval | done in window (expected) | CPU s in window | CPU s per 1,000 checks (runs) | median |")
        out.append("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
        for kind, ikind in (("tcp", "check_tcp"), ("http", "check_http")):
            for system in ("pupitre", "icinga2"):
                rs = runs("a", system, kind)
                if not rs:
                    continue
                label = f"native `{kind}`" if system == "pupitre" else f"`{ikind}` plugin"
                out.append(
                    f"| {kind.upper()} | {system} ({label}) | {rs[0]['checks']:,} | {rs[0]['interval_s']} s | "
                    + " / ".join(f"{r['done']:,} ({r['expected']:,})" for r in rs)
                    + f" | {per_run(rs, 'cpu_s', 2)} | {per_run(rs, 'cpu_s_per_1000')} | **{_fmt(_median([r.get('cpu_s_per_1000') for r in rs]))}** |"
                )
            floor = runs("a", "floor", kind)
            if floor:
                out.append(
                    f"| {kind.upper()} | floor (a blocking loop, same connections, same rate) | — | — | "
                    + " / ".join(f"{r['floor']['done']:,} in {r['floor']['seconds']:.0f} s" for r in floor)
                    + f" | {per_run([r['floor'] for r in floor], 'cpu_s', 2)} | {per_run(floor, 'cpu_s_per_1000')} | **{_fmt(_median([r.get('cpu_s_per_1000') for r in floor]))}** |"
                )
            p = _median([r.get("cpu_s_per_1000") for r in runs("a", "pupitre", kind)])
            i = _median([r.get("cpu_s_per_1000") for r in runs("a", "icinga2", kind)])
            f = _median([r.get("cpu_s_per_1000") for r in floor])
            if p:
                summary[f"a_{kind}_pupitre_cpu_s_per_1000"] = p
            if f:
                summary[f"a_{kind}_floor_cpu_s_per_1000"] = f
            if p and i:
                summary[f"a_{kind}_ratio"] = round(i / p, 1)
                summary[f"a_{kind}_pupitre_cpu_s_per_1000"] = p
                summary[f"a_{kind}_icinga2_cpu_s_per_1000"] = i
        out.append("")
        ratios = [f"{k.upper()}: **{summary[f'a_{k}_ratio']}×**" for k in ("tcp", "http") if f"a_{k}_ratio" in summary]
        if ratios:
            out.append("Icinga 2's CPU per check divided by Pupitre's (medians): " + ", ".join(ratios) + " (goal: at least 20×).")
            out.append("")
        floors = [
            f"{k.upper()}: {summary[f'a_{k}_pupitre_cpu_s_per_1000'] / summary[f'a_{k}_floor_cpu_s_per_1000']:.1f}×"
            for k in ("tcp", "http")
            if f"a_{k}_floor_cpu_s_per_1000" in summary and f"a_{k}_pupitre_cpu_s_per_1000" in summary
        ]
        if floors:
            out.append("Pupitre's CPU per check divided by the floor's (medians): " + ", ".join(floors) + ".")
            out.append("")
    # (b) scheduling
    b = [r for r in rows if r["bench"] == "b"]
    if b:
        out.append("### (b) Scheduling at scale")
        out.append("")
        out.append("| run | checks | interval | window | done (expected) | lag p50 | lag p99 | lag mean | skipped | server CPU | RSS | load at start |")
        out.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
        for r in b:
            out.append(
                f"| {r['run']} | {r['checks']:,} | {r['interval_s']} s | {r['window_s']:.0f} s | {r['done']:,} ({r['expected']:,}) | "
                f"{_ms(r.get('lag_p50_s'))} | {_ms(r.get('lag_p99_s'))} | {_ms(r.get('lag_mean_s'))} | {r.get('skipped', 0)} | "
                f"{r['cpu_percent']} % | "
                + (f"{r['rss_mb_at_start']:.0f} → " if r.get("rss_mb_at_start") else "")
                + f"{r['rss_mb']:.0f} MiB | {r['load_at_start']} |"
            )
        summary["b_lag_p99_s"] = _median([r.get("lag_p99_s") for r in b])
        summary["b_lag_p50_s"] = _median([r.get("lag_p50_s") for r in b])
        summary["b_cpu_percent"] = _median([r.get("cpu_percent") for r in b])
        out.append("")
        out.append("Lag buckets (increase over the window, cumulative, seconds):")
        out.append("")
        for r in b:
            out.append(f"- run {r['run']}: " + ", ".join(f"≤{k}: {v:,}" for k, v in r["lag_buckets"].items()))
        out.append("")
    # (c) plugin throughput
    c = [r for r in rows if r["bench"] == "c"]
    if c:
        out.append("### (c) Plugin executions (`check_tcp`)")
        out.append("")
        out.append("| system | checks | interval | wanted/s | executions/s (runs) | CPU % (of one core) | CPU ms per execution (runs) | median |")
        out.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for checks in sorted({r["checks"] for r in c}):
            for system in ("pupitre", "icinga2"):
                rs = runs("c", system, "plugin", checks)
                if not rs:
                    continue
                out.append(
                    f"| {system} | {checks:,} | {rs[0]['interval_s']} s | {checks / rs[0]['interval_s']:,.0f} | "
                    f"{per_run(rs, 'done_per_s', 1)} | {per_run(rs, 'cpu_percent', 0)} | {per_run(rs, 'cpu_ms_per_check', 2)} | "
                    f"**{_fmt(_median([r.get('done_per_s') for r in rs]), 1)}/s, {_fmt(_median([r.get('cpu_ms_per_check') for r in rs]), 2)} ms** |"
                )
                summary[f"c_{system}_{checks}_per_s"] = _median([r.get("done_per_s") for r in rs])
                summary[f"c_{system}_{checks}_cpu_ms"] = _median([r.get("cpu_ms_per_check") for r in rs])
        out.append("")
    mem = [r for r in rows if r["bench"] in ("a", "c") and r.get("rss_mb")]
    if mem:
        out.append("Resident memory at the end of the window (MiB, all processes of the tree): " + "; ".join(
            f"({r['bench']}) {r['system']} {r['checks']:,} {r['kind']} run {r['run']}: {r['rss_mb']:.0f}" for r in mem) + ".")
        out.append("")
    made = [r for r in rows if r["bench"] == "create"]
    if made:
        out.append("Creating the checks (one `POST /api/v1/checks` each, over one kept-alive connection):")
        out.append("")
        for r in made:
            c = r["result"]
            mode = "engine off, then a restart" if r.get("mode") == "restart" else "engine running"
            out.append(f"- {c['checks']:,} {r['kind']} checks ({mode}, run {r['run']}): {c['seconds']} s, {c['per_s']:,} checks/s")
        out.append("")
    live = [r for r in rows if r["bench"] == "create_live"]
    if live:
        out.append("Three more checks, created after the window with the engine running (each create makes the engine read that check, the downtimes and the relations again):")
        out.append("")
        for r in live:
            c = r["result"]
            out.append(f"- with {r['checks']:,} {r['kind']} checks (run {r['run']}): {1000 * c['seconds'] / c['checks']:,.0f} ms per create")
        out.append("")
    threads = [r for r in rows if r.get("threads_cpu_s") and r["system"] == "pupitre"]
    if threads:
        out.append("Pupitre's CPU in the window by thread (seconds; `pupitre-engine` runs the engine and the probes, `tokio-rt-worker` requests, `sqlx-sqlite-wor` the SQLite connections):")
        out.append("")
        for r in threads:
            parts = ", ".join(f"{k} {v}" for k, v in sorted(r["threads_cpu_s"].items(), key=lambda kv: -kv[1]))
            out.append(f"- ({r['bench']}) {r['checks']:,} {r['kind']} checks, run {r['run']}: {parts} (of {r['cpu_s']} s)")
        out.append("")
    cg = [r for r in rows if "cgroup_cpu_s" in r]
    if cg:
        worst = max(abs(r["cgroup_cpu_s"] - r["cpu_s"]) / max(r["cgroup_cpu_s"], 1e-9) for r in cg)
        out.append(
            f"CPU cross-check: the process-tree sums differ from the cgroup's `cpuacct` figures by at most {100 * worst:.1f} % over {len(cg)} measurements."
        )
        out.append("")
    text = "\n".join(out)
    print(text)
    if args.md:
        with open(args.md, "w") as f:
            f.write(text + "\n")
    print("SUMMARY " + json.dumps(summary))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)

    t = sub.add_parser("targets")
    t.add_argument("--tcp", type=int, default=0)
    t.add_argument("--http", type=int, default=0)
    t.add_argument("--max-seconds", type=float, default=4 * 3600)
    t.set_defaults(func=cmd_targets)

    c = sub.add_parser("create")
    c.add_argument("--base", required=True)
    c.add_argument("--token", required=True)
    c.add_argument("--n", type=int, required=True)
    c.add_argument("--kind", choices=["tcp", "http", "plugin"], required=True)
    c.add_argument("--interval", type=int, default=10)
    c.add_argument("--timeout", type=int, default=5)
    c.add_argument("--tcp-port", type=int, default=18010)
    c.add_argument("--http-port", type=int, default=18011)
    c.add_argument("--plugin", default="/usr/lib/nagios/plugins/check_tcp")
    c.add_argument("--asset", default="target")
    c.add_argument("--max-seconds", type=float, default=1800)
    c.set_defaults(func=cmd_create)

    m = sub.add_parser("measure")
    m.add_argument("--pid", type=int, required=True, help="root of the process tree to account")
    m.add_argument("--cgroup", default="", help="cgroup directory holding the tree (cross-check)")
    m.add_argument("--metrics", default="", help="Pupitre's /metrics URL")
    m.add_argument("--perfdata", default="", help="Icinga 2's perfdata directory")
    m.add_argument("--perfdata-wait", type=float, default=12)
    m.add_argument("--system", required=True)
    m.add_argument("--bench", required=True)
    m.add_argument("--kind", required=True)
    m.add_argument("--checks", type=int, required=True)
    m.add_argument("--interval", type=int, required=True)
    m.add_argument("--run", type=int, default=1)
    m.add_argument("--warmup", type=float, default=15)
    m.add_argument("--window", type=int, default=60)
    m.add_argument("--out", default="")
    m.set_defaults(func=cmd_measure)

    r = sub.add_parser("report")
    r.add_argument("--results", required=True)
    r.add_argument("--md", default="")
    r.set_defaults(func=cmd_report)

    args = p.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
