#!/usr/bin/env python3
"""The agent's footprint beside the agents it replaces, on the same machine at the same time.

- Pupitre's agent, enrolled with a `pupitre serve` on loopback, collecting every INTERVAL s
  (CPU per core, memory, filesystems, disks, network, processes) and sending each round;
- prometheus-node-exporter (Debian's, its default collectors), scraped every INTERVAL s by a
  loop here that asks for gzip, as Prometheus does;
- zabbix_agentd (Debian's, 3 listeners), asked 30 passive checks every INTERVAL s, one TCP
  connection each, as a Zabbix server polls.

After a warm-up, each is sampled every 5 s for DURATION s: resident memory (RSS, and PSS, which
shares pages between zabbix_agentd's processes fairly) summed over the agent's processes, and
CPU time (user + system, from /proc/<pid>/stat) over the whole run. Stdlib only.
"""

import argparse
import json
import os
import re
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

TICK = os.sysconf("SC_CLK_TCK")

ZABBIX_KEYS = [
    "agent.ping", "system.uptime", "system.cpu.load[all,avg1]", "system.cpu.load[all,avg5]",
    "system.cpu.load[all,avg15]", "system.cpu.util[,user]", "system.cpu.util[,system]",
    "system.cpu.util[,idle]", "system.cpu.util[,iowait]", "system.cpu.num",
    "system.cpu.switches", "system.cpu.intr", "vm.memory.size[total]",
    "vm.memory.size[available]", "vm.memory.size[used]", "vm.memory.size[pavailable]",
    "system.swap.size[,free]", "system.swap.size[,total]", "vfs.fs.size[/,total]",
    "vfs.fs.size[/,free]", "vfs.fs.size[/,pused]", "vfs.fs.inode[/,pfree]",
    "net.if.in[{iface}]", "net.if.out[{iface}]", "net.if.in[{iface},packets]",
    "net.if.out[{iface},packets]", "proc.num[]", "proc.num[,,run]", "kernel.maxproc",
    "system.boottime",
]


def free_port(low=None):
    """A free port; from `low` up when given (zabbix_agentd takes no port above 32767)."""
    for port in ([0] if low is None else range(low, low + 1000)):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return s.getsockname()[1]
    raise RuntimeError("no free port")


def http(method, url, token=None, body=None):
    req = urllib.request.Request(url, method=method)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, data, timeout=30) as r:
        return json.loads(r.read() or b"null")


def zabbix_get(port, key):
    data = key.encode()
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"ZBXD\x01" + struct.pack("<II", len(data), 0) + data)
        resp = b""
        while chunk := s.recv(65536):
            resp += chunk
    return resp[13:]


def processes(root_pid):
    """The pid and its descendants."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(entry))
        except OSError:
            continue
    out, todo = [], [root_pid]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def cpu_ticks(pids):
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except OSError:
            pass
    return total


def memory_kb(pids):
    rss = pss = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as f:
                rss += int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))
            with open(f"/proc/{pid}/smaps_rollup") as f:
                pss += int(re.search(r"Pss:\s+(\d+)", f.read()).group(1))
        except (OSError, AttributeError):
            pass
    return rss, pss


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--agent-bin", help="an agent-only build, measured beside the full one")
    ap.add_argument("--duration", type=int, default=600)
    ap.add_argument("--interval", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=30)
    ap.add_argument("--out", default="bench/out/agent.md")
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="pupitre-agent-bench.")
    procs = []
    stop = threading.Event()
    try:
        # Pupitre: a server and its agent.
        port = free_port()
        env = dict(os.environ, PUPITRE_LISTEN=f"127.0.0.1:{port}",
                   PUPITRE_ADMIN_PASSWORD="Bench-passphrase-1", PUPITRE_LOG="warn")
        server = subprocess.Popen([args.bin, "serve"], cwd=work, env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        procs.append(server)
        for line in server.stdout:
            if line.startswith("pupitre listening on"):
                break
        threading.Thread(target=lambda: [None for _ in server.stdout], daemon=True).start()
        base = f"http://127.0.0.1:{port}"
        admin = subprocess.run([args.bin, "admin", "tokens", "create", "--login", "admin",
                                "--name", "bench"], cwd=work, env=env, check=True,
                               capture_output=True, text=True).stdout.strip()
        builds = [("pupitre agent", args.bin)]
        if args.agent_bin:
            builds.append(("pupitre agent, agent-only build", args.agent_bin))
        token = http("POST", f"{base}/api/v1/agent-enrolments", admin,
                     {"entity_id": 1, "label": "bench", "max_uses": len(builds)})["token"]
        pupitre_agents = {}
        for i, (name, binary) in enumerate(builds):
            agent = subprocess.Popen(
                [binary, "agent", "--server", base, "--token", token, "--state-dir",
                 f"{work}/agent{i}", "--hostname", f"bench{i}", "--machine-id", f"bench{i}",
                 "--log", "warn"],
                stdout=subprocess.DEVNULL, stderr=open(f"{work}/agent{i}.log", "w"))
            procs.append(agent)
            pupitre_agents[name] = agent.pid
        for _ in range(100):
            agents = http("GET", f"{base}/api/v1/agents", admin)
            if len(agents) == len(builds):
                break
            time.sleep(0.2)
        for a in agents:
            http("PUT", f"{base}/api/v1/agents/{a['id']}/config", admin,
                 {"interval_s": args.interval})

        # prometheus-node-exporter, scraped every interval.
        ne_port = free_port()
        exporter = subprocess.Popen(["prometheus-node-exporter",
                                     f"--web.listen-address=127.0.0.1:{ne_port}"],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(exporter)
        scraped = [0, 0]

        def scrape():
            while not stop.wait(args.interval):
                try:
                    req = urllib.request.Request(f"http://127.0.0.1:{ne_port}/metrics",
                                                 headers={"Accept-Encoding": "gzip"})
                    with urllib.request.urlopen(req, timeout=10) as r:
                        scraped[1] = len(r.read())
                    scraped[0] += 1
                except OSError:
                    pass

        # zabbix_agentd, 30 passive checks every interval.
        zb_port = free_port(20050)
        conf = f"{work}/zabbix_agentd.conf"
        with open(conf, "w") as f:
            f.write(f"ListenIP=127.0.0.1\nListenPort={zb_port}\nServer=127.0.0.1\n"
                    f"StartAgents=3\nServerActive=\nHostname=bench\nPidFile={work}/zabbix.pid\n"
                    "LogType=console\nDebugLevel=2\nTimeout=3\nAllowRoot=1\n")
        zabbix = subprocess.Popen(["zabbix_agentd", "-f", "-c", conf],
                                  stdout=open(f"{work}/zabbix.log", "w"),
                                  stderr=subprocess.STDOUT)
        procs.append(zabbix)
        iface = next(n for n in sorted(os.listdir("/sys/class/net")) if n != "lo")
        keys = [k.format(iface=iface) for k in ZABBIX_KEYS]
        for _ in range(100):
            try:
                zabbix_get(zb_port, "agent.ping")
                break
            except OSError:
                time.sleep(0.1)
        else:
            sys.exit("zabbix_agentd did not answer:\n" + open(f"{work}/zabbix.log").read())
        unsupported = [k for k in keys if zabbix_get(zb_port, k).startswith(b"ZBX_NOTSUPPORTED")]
        answered = [0]

        def poll():
            while not stop.wait(args.interval):
                for k in keys:
                    try:
                        zabbix_get(zb_port, k)
                        answered[0] += 1
                    except OSError:
                        pass

        threading.Thread(target=scrape, daemon=True).start()
        threading.Thread(target=poll, daemon=True).start()
        time.sleep(args.warmup)

        targets = dict(pupitre_agents)
        targets.update({"prometheus-node-exporter": exporter.pid, "zabbix_agentd": zabbix.pid})
        start = {n: cpu_ticks(processes(p)) for n, p in targets.items()}
        samples = {n: [] for n in targets}
        began = time.monotonic()
        while time.monotonic() - began < args.duration:
            for n, p in targets.items():
                samples[n].append(memory_kb(processes(p)))
            time.sleep(5)
        elapsed = time.monotonic() - began
        end = {n: cpu_ticks(processes(p)) for n, p in targets.items()}
        counts = {n: len(processes(p)) for n, p in targets.items()}
        stop.set()

        rows = []
        for n in targets:
            rss = [s[0] for s in samples[n]]
            pss = [s[1] for s in samples[n]]
            cpu_s = (end[n] - start[n]) / TICK
            rows.append({
                "agent": n, "processes": counts[n],
                "rss_mib_mean": sum(rss) / len(rss) / 1024, "rss_mib_max": max(rss) / 1024,
                "pss_mib_mean": sum(pss) / len(pss) / 1024,
                "cpu_seconds": cpu_s, "cpu_percent": 100 * cpu_s / elapsed,
            })
        buffered = len([f for f in os.listdir(f"{work}/agent0/buffer") if f.endswith(".gz")])
        series = http("GET", f"{base}/api/v1/metrics/series?match=%7Bhost%3D%22bench0%22%7D", admin)
        sizes = ", ".join(f"{os.path.getsize(b) / 1e6:.1f} MB" for _, b in builds)
        lines = [
            f"Binary sizes: {sizes}.",
            "",
            f"Over {elapsed:.0f} s (after {args.warmup} s of warm-up), every {args.interval} s; "
            f"{os.cpu_count()} cores, kernel {os.uname().release}.",
            "",
            "| agent | processes | RSS mean (MiB) | RSS max (MiB) | PSS mean (MiB) | CPU s | CPU % |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for r in rows:
            lines.append(f"| {r['agent']} | {r['processes']} | {r['rss_mib_mean']:.1f} | "
                         f"{r['rss_mib_max']:.1f} | {r['pss_mib_mean']:.1f} | "
                         f"{r['cpu_seconds']:.2f} | {r['cpu_percent']:.3f} |")
        lines += [
            "",
            f"Pupitre's agent sent {len(series)} series each round ({buffered} rounds waiting at "
            f"the end); node-exporter was scraped {scraped[0]} times ({scraped[1]} bytes "
            f"gzip); zabbix_agentd answered {answered[0]} checks "
            f"({len(keys) - len(unsupported)} of {len(keys)} keys supported here"
            + (f"; not: {', '.join(unsupported)}" if unsupported else "") + ").",
        ]
        text = "\n".join(lines)
        print(text)
        os.makedirs(os.path.dirname(args.out), exist_ok=True)
        with open(args.out, "w") as f:
            f.write(text + "\n")
        with open(args.out.replace(".md", ".jsonl"), "a") as f:
            f.write(json.dumps({"at": time.time(), "duration": elapsed, "rows": rows}) + "\n")
    finally:
        stop.set()
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        subprocess.run(["rm", "-rf", work])


if __name__ == "__main__":
    sys.exit(main())
