#!/usr/bin/env python3
"""Data for bench/inventory.sh: the asset CSV, the software rows, and the raw SQL timings.

    inventory_data.py csv      --assets N --out FILE --words FILE [--seed S] [--racks R] [--per-rack K]
    inventory_data.py software --db FILE [--seed S] [--distinct 5000] [--per-asset 10]
    inventory_data.py copy     --db FILE --to FILE
    inventory_data.py sql      --db FILE --words FILE --common Q [--runs N] [--software NAME --version V]

Everything is deterministic for a given seed. Standard library only (uses the `pysqlite3`
module when it is installed, for a SQLite closer to the server's bundled one).
"""

import argparse
import csv
import json
import random
import statistics
import sys
import time
import uuid

try:  # a recent SQLite, when available (the server bundles its own, see `sql`)
    from pysqlite3 import dbapi2 as sqlite3  # type: ignore
except ImportError:
    import sqlite3

# The export's columns, in order (README, "Inventory import and export").
COLUMNS = (
    "asset_type,name,entity,hostname,manufacturer,model,serial,asset_tag,uuid,status,"
    "status_since,ordered_on,received_on,in_production_on,retired_on,disposed_on,owner_team,"
    "site,room,rack,rack_u,rack_face,height_u,full_depth,location_note,os_family,os_name,"
    "os_version,cpu_model,cpu_sockets,cpu_cores,memory_mb,management_ip,power_draw_w,"
    "purchase_date,purchase_cost,supplier,order_ref,warranty_end,notes,tags,interfaces,disks"
).split(",")
ATTRS = ["attr:cost_center", "attr:firmware", "attr:platform", "attr:port_count"]

# Where racked servers go (bench/inventory.sh creates these through the API).
SITE, ROOM = "Paris DC1", "Salle A"


def rack_name(r):
    return f"R{r:03d}"


TYPES = [  # (type, weight)
    ("server", 20),
    ("virtual_machine", 35),
    ("switch", 5),
    ("workstation", 22),
    ("laptop", 18),
]
STATUSES = [
    ("in_production", 70),
    ("in_stock", 8),
    ("in_maintenance", 4),
    ("ordered", 3),
    ("out_of_order", 2),
    ("retired", 10),
    ("disposed", 3),
]
CITIES = ["par", "lyo", "lil", "mrs", "nte", "tls"]
ROLES = ["web", "app", "db", "batch", "mq", "cache", "ldap", "mail", "file", "backup"]
ENVS = [("prod", 6), ("preprod", 2), ("dev", 2)]

SERVER_MODELS = [
    ("Dell", "PowerEdge R650", "Intel Xeon Gold 6338", "00:1b:21", "idrac"),
    ("Dell", "PowerEdge R750", "Intel Xeon Gold 6348", "00:1b:21", "idrac"),
    ("HPE", "ProLiant DL360 Gen10", "Intel Xeon Silver 4214R", "94:40:c9", "ilo"),
    ("HPE", "ProLiant DL380 Gen11", "Intel Xeon Gold 6430", "94:40:c9", "ilo"),
    ("Lenovo", "ThinkSystem SR650 V2", "Intel Xeon Gold 5318Y", "08:94:ef", "xcc"),
]
SERVER_OS = [
    ("linux", "Debian", "12.7", 35),
    ("linux", "Red Hat Enterprise Linux", "9.4", 25),
    ("linux", "Ubuntu", "22.04", 15),
    ("windows_server", "Windows Server 2022 Standard", "21H2", 20),
    ("vmware_esxi", "VMware ESXi", "8.0.2", 5),
]
VM_OS = [
    ("linux", "Debian", "12.7", 35),
    ("linux", "Red Hat Enterprise Linux", "8.10", 20),
    ("linux", "Ubuntu", "24.04", 15),
    ("windows_server", "Windows Server 2019 Standard", "1809", 15),
    ("windows_server", "Windows Server 2022 Standard", "21H2", 15),
]
SWITCH_MODELS = [
    ("Cisco", "Catalyst 9300-48P", "network_os", "Cisco IOS XE", "17.9.4", "00:2a:10", 48),
    ("Cisco", "Nexus 93180YC-FX", "network_os", "Cisco NX-OS", "10.3(4a)", "00:2a:10", 54),
    ("Aruba", "CX 6300M", "network_os", "ArubaOS-CX", "10.13", "88:3a:30", 52),
    ("Juniper", "EX4400-48T", "network_os", "Junos OS", "22.4R3", "3c:8c:93", 48),
]
DESK_MODELS = [
    ("Dell", "OptiPlex 7010", "Intel Core i5-13500", "b0:7b:25"),
    ("HP", "EliteDesk 800 G9", "Intel Core i7-12700", "38:ca:84"),
    ("Lenovo", "ThinkCentre M90q Gen 4", "Intel Core i5-13500T", "e8:80:88"),
]
LAPTOP_MODELS = [
    ("Dell", "Latitude 5440", "Intel Core i5-1345U", "d4:d2:52"),
    ("Lenovo", "ThinkPad T14 Gen 4", "AMD Ryzen 7 PRO 7840U", "f4:6b:8c"),
    ("Apple", "MacBook Pro 14 M3", "Apple M3 Pro", "a4:83:e7"),
    ("HP", "EliteBook 840 G10", "Intel Core i7-1365U", "5c:60:ba"),
]
SUPPLIERS = ["Bechtle", "Computacenter", "SCC", "Inmac Wstore", "Dell Direct"]

ALNUM = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"


def weighted(rng, pairs):
    total = sum(p[-1] for p in pairs)
    x = rng.uniform(0, total)
    for p in pairs:
        x -= p[-1]
        if x <= 0:
            return p
    return pairs[-1]


def date(rng, y0, y1):
    return f"{rng.randint(y0, y1)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"


class Unique:
    """Draws values from `make` until one is new."""

    def __init__(self):
        self.seen = set()

    def __call__(self, make):
        while True:
            v = make()
            if v not in self.seen:
                self.seen.add(v)
                return v


def cmd_csv(a):
    rng = random.Random(a.seed)
    serials, macs = Unique(), Unique()
    ip_counter = [0]

    def next_ip():  # 10.0.0.1, 10.0.0.2, … skipping .0 and .255
        ip_counter[0] += 1
        k = ip_counter[0]
        host = k % 254 + 1
        net = k // 254
        return f"10.{net // 256 % 256}.{net % 256}.{host}"

    mgmt_counter = [0]

    def next_mgmt():
        mgmt_counter[0] += 1
        k = mgmt_counter[0]
        return f"172.{16 + k // 254 // 256 % 16}.{k // 254 % 256}.{k % 254 + 1}"

    def mac(oui):
        return macs(lambda: oui + ":" + ":".join(f"{rng.randrange(256):02x}" for _ in range(3)))

    def serial(prefix, n):
        return serials(lambda: prefix + "".join(rng.choice(ALNUM) for _ in range(n)))

    seq = {t: 0 for t, _ in TYPES}
    racked = 0
    rack_slots = a.racks * a.per_rack
    words = {"prefix": [], "ip": [], "mac": [], "serial": []}
    counts = {}

    with open(a.out, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(COLUMNS + ATTRS)
        for i in range(1, a.assets + 1):
            t = weighted(rng, TYPES)[0]
            seq[t] += 1
            n = seq[t]
            status = weighted(rng, STATUSES)[0]
            counts[(t, status)] = counts.get((t, status), 0) + 1
            env = weighted(rng, ENVS)[0]
            city = rng.choice(CITIES)
            r = dict.fromkeys(COLUMNS + ATTRS, "")
            r["asset_type"], r["status"] = t, status
            r["attr:cost_center"] = f"CC-{rng.randint(1000, 1099)}"
            bought = date(rng, 2017, 2025)
            r["status_since"] = date(rng, 2024, 2025)
            interfaces, disks = [], []
            if t == "server":
                role = rng.choice(ROLES)
                short = f"{role}-{city}-{n:05d}"
                host = f"{short}.corp.example.com"
                man, model, cpu, oui, bmc = rng.choice(SERVER_MODELS)
                fam, osn, osv, _ = weighted(rng, SERVER_OS)
                vlan = rng.choice([10, 20, 30, 110, 120])
                interfaces = [
                    {"name": "eno1", "mac": mac(oui), "ips": [next_ip()], "vlan": vlan, "speed_mbps": 25000},
                    {"name": "eno2", "mac": mac(oui), "ips": [], "vlan": vlan, "speed_mbps": 25000},
                ]
                disks = [
                    {"name": f"disk{d}", "model": "Samsung PM893 960GB", "serial": serial("S6", 12), "size_mb": 915715}
                    for d in range(2)
                ]
                r.update(
                    manufacturer=man, model=model, serial=serial("CZ" if man == "HPE" else "", 10 if man == "HPE" else 7),
                    asset_tag=f"PUP-{i:07d}", uuid=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                    os_family=fam, os_name=osn, os_version=osv, cpu_model=cpu,
                    cpu_sockets="2", cpu_cores=str(rng.choice([32, 48, 64])),
                    memory_mb=str(rng.choice([131072, 262144, 524288])),
                    management_ip=next_mgmt(), power_draw_w=str(rng.randint(350, 750)),
                    purchase_cost=f"{rng.randint(6000, 28000)}.00", height_u="2", full_depth="true",
                    tags=f"{env},{city},{role}", **{"attr:firmware": f"{bmc} {rng.choice(['5.10', '6.10', '7.00'])}"},
                )
                r["name"], r["hostname"] = short, host
                if racked < rack_slots:
                    rack = racked // a.per_rack + 1
                    r.update(site=SITE, room=ROOM, rack=rack_name(rack), rack_u=str(1 + 2 * (racked % a.per_rack)),
                             rack_face="front")
                    racked += 1
            elif t == "virtual_machine":
                role = rng.choice(ROLES)
                short = f"vm-{role}-{city}-{n:05d}"
                fam, osn, osv, _ = weighted(rng, VM_OS)
                interfaces = [{"name": "ens192", "mac": mac("00:50:56"), "ips": [next_ip()], "vlan": rng.choice([10, 20, 30])}]
                r.update(
                    manufacturer="VMware, Inc.", model="VMware Virtual Platform",
                    serial=serial("VMware-42", 14), uuid=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                    os_family=fam, os_name=osn, os_version=osv, cpu_cores=str(rng.choice([2, 4, 8, 16])),
                    memory_mb=str(rng.choice([4096, 8192, 16384, 32768])), tags=f"{env},{city},{role},vm",
                    **{"attr:platform": rng.choice(["vmware", "vmware", "kvm"])},
                )
                r["name"], r["hostname"] = short, f"{short}.corp.example.com"
            elif t == "switch":
                short = f"sw-{city}-{n:04d}"
                man, model, fam, osn, osv, oui, ports = rng.choice(SWITCH_MODELS)
                interfaces = [{"name": "mgmt0", "mac": mac(oui), "ips": [next_mgmt()], "vlan": 999}]
                r.update(
                    manufacturer=man, model=model, serial=serial("FOC", 8), asset_tag=f"PUP-{i:07d}",
                    os_family=fam, os_name=osn, os_version=osv, power_draw_w=str(rng.randint(150, 450)),
                    purchase_cost=f"{rng.randint(3000, 15000)}.00", tags=f"{env},{city},network",
                    **{"attr:port_count": str(ports), "attr:firmware": osv},
                )
                r["name"], r["hostname"] = short, f"{short}.net.example.com"
            else:
                desk = t == "workstation"
                short = f"{'ws' if desk else 'lt'}-{city}-{n:05d}"
                man, model, cpu, oui = rng.choice(DESK_MODELS if desk else LAPTOP_MODELS)
                if man == "Apple":
                    fam, osn, osv = "macos", "macOS", rng.choice(["14.6", "15.1"])
                else:
                    fam, osn, osv = "windows", "Windows 11 Pro", rng.choice(["22H2", "23H2", "24H2"])
                interfaces = [{"name": "eth0" if desk else "wlan0", "mac": mac(oui), "ips": [next_ip()]}]
                if not desk:
                    interfaces.append({"name": "eth0", "mac": mac(oui), "ips": []})
                r.update(
                    manufacturer=man, model=model, serial=serial("C02" if man == "Apple" else "", 9 if man == "Apple" else 8),
                    asset_tag=f"PUP-{i:07d}", uuid=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                    os_family=fam, os_name=osn, os_version=osv, cpu_model=cpu, cpu_sockets="1",
                    cpu_cores=str(rng.choice([8, 12, 14])), memory_mb=str(rng.choice([16384, 32768])),
                    purchase_cost=f"{rng.randint(700, 2600)}.00", tags=f"{city},{'desktop' if desk else 'mobile'}",
                    **{"attr:firmware": f"BIOS {rng.randint(1, 3)}.{rng.randint(0, 20)}.0"},
                )
                r["name"], r["hostname"] = short, f"{short}.corp.example.com"
            if t != "virtual_machine":
                r.update(purchase_date=bought, supplier=rng.choice(SUPPLIERS), order_ref=f"PO-{rng.randint(20000, 99999)}",
                         warranty_end=f"{int(bought[:4]) + rng.choice([3, 5])}{bought[4:]}")
            if status in ("in_production", "in_maintenance", "out_of_order", "retired", "disposed"):
                r["in_production_on"] = bought
            if status in ("retired", "disposed"):
                r["retired_on"] = r["status_since"]
            if status == "disposed":
                r["disposed_on"] = r["status_since"]
            r["interfaces"] = json.dumps(interfaces, separators=(",", ":"))
            r["disks"] = json.dumps(disks, separators=(",", ":")) if disks else ""
            w.writerow([r[c] for c in COLUMNS + ATTRS])

            # Search words: a host-name prefix (all but the last two digits), an IP, a MAC,
            # a serial number: a sample of each, picked as rows go by.
            if rng.random() < 0.02:
                kind = rng.choice(list(words))
                if kind == "prefix":
                    words[kind].append(r["name"][:-2])
                elif kind == "ip" and interfaces[0]["ips"]:
                    words[kind].append(interfaces[0]["ips"][0])
                elif kind == "mac":
                    words[kind].append(interfaces[0]["mac"])
                elif kind == "serial":
                    words[kind].append(r["serial"].lower())

    mixed = [w for ws in words.values() for w in ws]
    rng.shuffle(mixed)
    with open(a.words, "w", encoding="utf-8") as f:
        f.write("\n".join(mixed) + "\n")
    servers_prod = counts.get(("server", "in_production"), 0)
    print(f"{a.assets} assets ({', '.join(f'{t} {seq[t]}' for t, _ in TYPES)}); {racked} servers racked "
          f"in {a.racks} racks; servers in production: {servers_prod}; "
          f"{len(mixed)} search words ({', '.join(f'{k} {len(v)}' for k, v in words.items())})")


# ---------------------------------------------------------------- software

PUBLISHERS = ["Debian", "Red Hat", "Canonical", "Microsoft Corporation", "Apache Software Foundation",
              "Oracle Corporation", "VMware, Inc.", "Mozilla", "Google LLC", "Adobe Inc."]
COMMON = ["openssl", "bash", "glibc", "curl", "openssh-server", "systemd", "python3", "sudo", "zlib",
          "tzdata", "ca-certificates", "libxml2", "rsyslog", "cron", "logrotate", "perl", "gnupg",
          "Microsoft Edge", "7-Zip", "Mozilla Firefox"]
VERSIONS = {"openssl": ["1.0.2k", "1.1.1n", "1.1.1w", "3.0.13", "3.2.2"]}


def cmd_software(a):
    rng = random.Random(a.seed)
    db = sqlite3.connect(a.db)
    db.execute("PRAGMA foreign_keys = ON")
    (have,) = db.execute("SELECT COUNT(*) FROM software").fetchone()
    if have:
        sys.exit(f"software: the database already has {have} software rows")
    versions_per_name = 5
    names = list(COMMON)
    while len(names) * versions_per_name < a.distinct:
        k = len(names)
        names.append(f"{rng.choice(['lib', 'py-', 'node-', 'perl-', 'r-', ''])}pkg{k:04d}")
    rows = []
    for name in names:
        vs = VERSIONS.get(name) or sorted(
            {f"{rng.randint(0, 9)}.{rng.randint(0, 30)}.{rng.randint(0, 20)}" for _ in range(versions_per_name * 3)}
        )[:versions_per_name]
        pub = rng.choice(PUBLISHERS)
        for v in vs[:versions_per_name]:
            rows.append((name, name.lower(), v, pub))
    rows = rows[: a.distinct]
    t0 = time.perf_counter()
    db.execute("BEGIN")
    db.executemany("INSERT INTO software (name, name_key, version, publisher) VALUES (?, ?, ?, ?)", rows)
    ids = [r[0] for r in db.execute("SELECT id FROM software ORDER BY id")]
    common_ids, tail_ids = ids[: len(COMMON) * versions_per_name], ids[len(COMMON) * versions_per_name:]
    asset_ids = [r[0] for r in db.execute("SELECT id FROM assets ORDER BY id")]

    # Each asset: 4 rows drawn among the common packages' versions, the rest from the long tail.
    def links():
        for aid in asset_ids:
            chosen = set()
            while len(chosen) < min(4, a.per_asset):
                chosen.add(rng.choice(common_ids))
            while len(chosen) < a.per_asset:
                chosen.add(rng.choice(tail_ids))
            for sid in sorted(chosen):
                yield (aid, sid)

    db.executemany("INSERT INTO asset_software (asset_id, software_id) VALUES (?, ?)", links())
    db.execute("COMMIT")
    (n_sw,) = db.execute("SELECT COUNT(*) FROM software").fetchone()
    (n_links,) = db.execute("SELECT COUNT(*) FROM asset_software").fetchone()
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    print(f"software: {n_sw} rows, asset_software: {n_links} rows over {len(asset_ids)} assets "
          f"in {time.perf_counter() - t0:.1f} s (one transaction)")


def cmd_copy(a):
    """A consistent copy of a live WAL database (SQLite's online backup)."""
    src = sqlite3.connect(a.db)
    dst = sqlite3.connect(a.to)
    src.backup(dst)
    dst.close()
    src.close()


# ---------------------------------------------------------------- raw SQL

ASSET_COLS = (
    "id, entity_id, asset_type, name, hostname, manufacturer, model, serial, asset_tag, uuid, "
    "status, status_since, ordered_on, received_on, in_production_on, retired_on, disposed_on, "
    "owner_team_id, site_id, room_id, rack_id, rack_u, rack_face, height_u, full_depth, "
    "location_note, os_family, os_name, os_version, cpu_model, cpu_sockets, cpu_cores, "
    "memory_mb, management_ip, power_draw_w, purchase_date, purchase_cost_cents, supplier, "
    "order_ref, warranty_end, contract_id, notes, quarantined, locks, last_inventory_at, "
    "created_at, updated_at"
)
HI = "\U0010ffff"


COMMON_TERMS = 2000  # shared_inventory.rs: a word matching this many terms is common


def search_filter(word, common=False):
    # A rare word collects its assets from the index; a common one walks the assets in id
    # order and probes each one's terms (common_words/push_filter in the store).
    w = word.lower()
    if common:
        return (" AND EXISTS (SELECT 1 FROM asset_search s WHERE s.asset_id = a.id AND s.term >= ? "
                "AND term < ?)"), [w, w + HI]
    return " AND a.id IN (SELECT asset_id FROM asset_search WHERE term >= ? AND term < ?)", [w, w + HI]


def is_common(db, word):
    w = word.lower()
    n = db.execute("SELECT COUNT(*) AS n FROM (SELECT 1 FROM asset_search WHERE term >= ? AND term < ? "
                   "LIMIT ?) t", [w, w + HI, COMMON_TERMS]).fetchone()[0]
    return n >= COMMON_TERMS


def search(db, word):
    """What a search request sends: the probe, then the filter it chose."""
    return search_filter(word, is_common(db, word))


def software_filter(name, version):
    return (" AND a.id IN (SELECT x.asset_id FROM asset_software x JOIN software s ON s.id = x.software_id "
            "WHERE s.name_key = ? AND s.version >= ? AND s.version < ?)", [name.lower(), version, version + HI])


def type_status_filter(t, s):
    return " AND a.asset_type = ? AND a.status = ?", [t, s]


def where(quarantined, extra):
    # The store's push_filter for the admin (one visible entity); the flag is a literal.
    return f"a.entity_id IN (?) AND a.quarantined = {'TRUE' if quarantined else 'FALSE'}{extra}"


def page_sql(extra):
    # What the store's list_assets sends (asset_page.rs, SQLite): the page as one JSON document,
    # children nested.
    children = (
        "json((SELECT COALESCE(json_group_array(json_array(c.position, c.name, c.mac, c.ips, c.vlan, "
        "c.speed_mbps)), '[]') FROM asset_interfaces c WHERE c.asset_id = p.id)), "
        "json((SELECT COALESCE(json_group_array(json_array(c.position, c.name, c.model, c.serial, "
        "c.size_mb)), '[]') FROM asset_disks c WHERE c.asset_id = p.id)), "
        "json((SELECT COALESCE(json_group_array(json_array(c.key, c.value)), '[]') "
        "FROM asset_attributes c WHERE c.asset_id = p.id)), "
        "json((SELECT COALESCE(json_group_array(c.tag), '[]') FROM asset_tags c WHERE c.asset_id = p.id))"
    )
    return (f"SELECT COALESCE(json_group_array(json_array({ASSET_COLS}, {children})), '[]') AS page "
            f"FROM (SELECT {ASSET_COLS} FROM assets a WHERE {where(False, extra)} ORDER BY a.id LIMIT ?) p")


def count_sql(extra, quarantined=False):
    # count_assets_upto: the HTML list's header count, and the quarantine's "waiting" count.
    return f"SELECT COUNT(*) AS n FROM (SELECT 1 FROM assets a WHERE {where(quarantined, extra)} LIMIT ?) capped"


COUNT_CAP = 1000  # pages/inventory.rs


def one_request(db, make, html):
    # make() runs the search's common-word probe, as every request does (the HTML page
    # probes twice: once for the page, once for its count).
    extra, params = make()
    db.execute(page_sql(extra), [1, *params, 50]).fetchone()
    if html:
        extra, params = make()
        db.execute(count_sql(extra), [1, *params, COUNT_CAP]).fetchone()
        db.execute(count_sql("", True), [1, COUNT_CAP]).fetchone()


def fmt_us(s):
    return f"{s * 1e6:,.0f} µs"


def cmd_sql(a):
    db = sqlite3.connect(f"file:{a.db}?mode=ro", uri=True)
    db.execute("PRAGMA temp_store = memory")
    words = [w for w in open(a.words, encoding="utf-8").read().split() if w]
    cases = [
        ("search, a different word per request", lambda i: search(db, words[i % len(words)]), False),
        (f"search, q={a.common}", lambda i: search(db, a.common), False),
        ("asset_type=server&status=in_production", lambda i: type_status_filter("server", "in_production"), False),
        (f"software={a.software}&software_version={a.version}", lambda i: software_filter(a.software, a.version), False),
        ("HTML search (page + 2 counts), a different word per request", lambda i: search(db, words[i % len(words)]), True),
        (f"HTML search (page + 2 counts), q={a.common}", lambda i: search(db, a.common), True),
        ("HTML asset_type=server&status=in_production (page + 2 counts)",
         lambda i: type_status_filter("server", "in_production"), True),
    ]
    print(f"SQLite {sqlite3.sqlite_version} ({sqlite3.__name__}), one connection, {a.runs} runs each "
          "(after 20 warm-up runs); µs per request's queries: the search's common-word probe, the page "
          "as one JSON document with its children, and for HTML the two capped counts")
    print()
    print("| queries of | matching assets | p50 | p99 | mean |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for label, make, html in cases:
        for i in range(20):
            one_request(db, lambda: make(i), html)
        times = []
        for i in range(a.runs):
            t0 = time.perf_counter()
            one_request(db, lambda: make(i), html)
            times.append(time.perf_counter() - t0)
        times.sort()
        p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
        if "different word" in label:
            sql = f"SELECT COUNT(*) FROM assets a WHERE {where(False, search_filter('')[0])}"
            found = sorted(db.execute(sql, [1, *search_filter(w)[1]]).fetchone()[0] for w in words)
            matching = f"{found[len(found) // 2]} (median), {found[-1]} (max)"
        else:
            extra, params = make(0)
            extra = extra if "asset_search" not in extra else search_filter("")[0]
            sql = f"SELECT COUNT(*) FROM assets a WHERE {where(False, extra)}"
            matching = f"{db.execute(sql, [1, *params]).fetchone()[0]:,}"
        print(f"| {label} | {matching} | {fmt_us(statistics.median(times))} "
              f"| {fmt_us(p99)} | {fmt_us(statistics.fmean(times))} |")
    print()
    print("Query plans (EXPLAIN QUERY PLAN, this SQLite):")
    print()
    word_filter = search(db, words[0])
    common = search(db, a.common)
    ts = type_status_filter("server", "in_production")
    sw = software_filter(a.software, a.version)
    plans = [
        (f"search page, q={words[0]}", page_sql(word_filter[0]), [1, *word_filter[1], 50]),
        (f"search page, q={a.common}", page_sql(common[0]), [1, *common[1], 50]),
        ("filtered page", page_sql(ts[0]), [1, *ts[1], 50]),
        ("software page", page_sql(sw[0]), [1, *sw[1], 50]),
        ("HTML count, filtered", count_sql(ts[0]), [1, *ts[1], COUNT_CAP]),
        ("HTML count, quarantine", count_sql("", True), [1, COUNT_CAP]),
    ]
    for label, sql, params in plans:
        print(f"- {label}:")
        print("  ```")
        for row in db.execute("EXPLAIN QUERY PLAN " + sql, params):
            print(f"  {row[3]}")
        print("  ```")
    db.close()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("csv")
    c.add_argument("--assets", type=int, default=100_000)
    c.add_argument("--seed", type=int, default=3)
    c.add_argument("--racks", type=int, default=100)
    c.add_argument("--per-rack", type=int, default=20)
    c.add_argument("--out", required=True)
    c.add_argument("--words", required=True)
    s = sub.add_parser("software")
    s.add_argument("--db", required=True)
    s.add_argument("--seed", type=int, default=3)
    s.add_argument("--distinct", type=int, default=5000)
    s.add_argument("--per-asset", type=int, default=10)
    k = sub.add_parser("copy")
    k.add_argument("--db", required=True)
    k.add_argument("--to", required=True)
    q = sub.add_parser("sql")
    q.add_argument("--db", required=True)
    q.add_argument("--words", required=True)
    q.add_argument("--common", required=True)
    q.add_argument("--software", default="openssl")
    q.add_argument("--version", default="1.1")
    q.add_argument("--runs", type=int, default=300)
    a = p.parse_args()
    {"csv": cmd_csv, "software": cmd_software, "copy": cmd_copy, "sql": cmd_sql}[a.cmd](a)


if __name__ == "__main__":
    main()
