//! Host metrics from Linux's `/proc` and `statvfs`, named and computed as
//! prometheus-node-exporter does (its default collectors `cpu`, `loadavg`, `meminfo`,
//! `filesystem`, `netdev`, `diskstats`, `stat`), so that the same dashboards and alerts work.
//!
//! Each parser takes the text of its `/proc` file, so it is tested on fixed text; [`host`]
//! reads the files. A line a parser does not understand is skipped, never a panic: kernels add
//! fields and lines over the years.

use std::path::Path;

use crate::wire::Collectors;

/// One value, as node-exporter would expose it.
#[derive(Clone, Debug, PartialEq)]
pub struct Metric {
    pub name: String,
    /// Sorted by name.
    pub labels: Vec<(String, String)>,
    pub value: f64,
    /// A counter (`…_total`, seconds since boot) rather than a gauge.
    pub counter: bool,
}

impl Metric {
    fn gauge(name: &str, labels: &[(&str, &str)], value: f64) -> Metric {
        Metric::new(name, labels, value, false)
    }

    fn counter(name: &str, labels: &[(&str, &str)], value: f64) -> Metric {
        Metric::new(name, labels, value, true)
    }

    fn new(name: &str, labels: &[(&str, &str)], value: f64, counter: bool) -> Metric {
        let mut labels: Vec<(String, String)> = labels
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect();
        labels.sort();
        Metric {
            name: name.to_owned(),
            labels,
            value,
            counter,
        }
    }

    /// The value of label `name`, if it has it.
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The clock ticks per second of `/proc/stat` (`USER_HZ`): 100 on every Linux architecture
/// node-exporter supports, which assumes it too.
pub const USER_HZ: f64 = 100.0;

/// The CPU modes of `/proc/stat`, in their order.
const CPU_MODES: [&str; 8] = [
    "user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal",
];

/// `/proc/stat`: `node_cpu_seconds_total{cpu,mode}` per core, `node_boot_time_seconds`,
/// `node_context_switches_total`, `node_forks_total`, `node_intr_total`,
/// `node_procs_running` and `node_procs_blocked`.
pub fn stat(text: &str) -> Vec<Metric> {
    let mut out = Vec::new();
    for line in text.lines() {
        let mut fields = line.split_ascii_whitespace();
        let Some(key) = fields.next() else { continue };
        let numbers: Vec<f64> = fields.filter_map(|f| f.parse().ok()).collect();
        let first = numbers.first().copied();
        match key {
            "cpu" => {}
            cpu if cpu.starts_with("cpu") => {
                let core = &cpu[3..];
                for (mode, ticks) in CPU_MODES.iter().zip(&numbers) {
                    out.push(Metric::counter(
                        "node_cpu_seconds_total",
                        &[("cpu", core), ("mode", mode)],
                        ticks / USER_HZ,
                    ));
                }
            }
            "btime" => out.extend(first.map(|v| Metric::gauge("node_boot_time_seconds", &[], v))),
            "ctxt" => {
                out.extend(first.map(|v| Metric::counter("node_context_switches_total", &[], v)))
            }
            "processes" => out.extend(first.map(|v| Metric::counter("node_forks_total", &[], v))),
            "intr" => out.extend(first.map(|v| Metric::counter("node_intr_total", &[], v))),
            "procs_running" => {
                out.extend(first.map(|v| Metric::gauge("node_procs_running", &[], v)))
            }
            "procs_blocked" => {
                out.extend(first.map(|v| Metric::gauge("node_procs_blocked", &[], v)))
            }
            _ => {}
        }
    }
    out
}

/// `/proc/loadavg`: `node_load1`, `node_load5`, `node_load15`.
pub fn loadavg(text: &str) -> Vec<Metric> {
    ["node_load1", "node_load5", "node_load15"]
        .iter()
        .zip(text.split_ascii_whitespace())
        .filter_map(|(name, value)| Some(Metric::gauge(name, &[], value.parse().ok()?)))
        .collect()
}

/// `/proc/meminfo`: `node_memory_<Key>_bytes` (kB turned into bytes; `Active(anon)` is
/// `Active_anon`), and the page counts (`HugePages_Total`) without `_bytes`.
pub fn meminfo(text: &str) -> Vec<Metric> {
    text.lines()
        .filter_map(|line| {
            let (key, rest) = line.split_once(':')?;
            let mut parts = rest.split_ascii_whitespace();
            let value: f64 = parts.next()?.parse().ok()?;
            let key = key.replace('(', "_").replace(')', "");
            Some(match parts.next() {
                Some("kB") => {
                    Metric::gauge(&format!("node_memory_{key}_bytes"), &[], value * 1024.0)
                }
                _ => Metric::gauge(&format!("node_memory_{key}"), &[], value),
            })
        })
        .collect()
}

/// Filesystem types node-exporter leaves out by default.
const PSEUDO_FILESYSTEMS: [&str; 24] = [
    "autofs",
    "binfmt_misc",
    "bpf",
    "cgroup",
    "cgroup2",
    "configfs",
    "debugfs",
    "devpts",
    "devtmpfs",
    "fusectl",
    "hugetlbfs",
    "iso9660",
    "mqueue",
    "nsfs",
    "overlay",
    "proc",
    "procfs",
    "pstore",
    "rpc_pipefs",
    "securityfs",
    "selinuxfs",
    "squashfs",
    "sysfs",
    "tracefs",
];

/// Mount points node-exporter (Debian 12's 1.5) leaves out by default: `/dev`, `/proc`,
/// `/run`, `/sys`, `/mnt`, `/media` and below, and container storage.
fn ignored_mount_point(path: &str) -> bool {
    let under = |root: &str| path == root || path.starts_with(&format!("{root}/"));
    ["/dev", "/proc", "/run", "/sys", "/mnt", "/media"]
        .iter()
        .any(|root| under(root))
        || path.starts_with("/var/lib/docker/")
        || path.starts_with("/var/lib/containers/storage/")
}

/// What `statvfs` says of a mounted filesystem.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FsStat {
    pub size_bytes: f64,
    /// Free for anyone, root included.
    pub free_bytes: f64,
    /// Free for ordinary users.
    pub avail_bytes: f64,
    pub files: f64,
    pub files_free: f64,
    pub read_only: bool,
}

/// `/proc/1/mounts` (or `/proc/self/mounts`) with each filesystem's [`FsStat`]:
/// `node_filesystem_{size,free,avail}_bytes`, `node_filesystem_files`,
/// `node_filesystem_files_free` and `node_filesystem_readonly`, by `device`, `fstype` and
/// `mountpoint`. Pseudo-filesystems, system mount points and mounts `stat` cannot read are
/// left out; a mount point mounted twice is reported once (the last mount, the one in use).
pub fn filesystems(mounts: &str, stat: impl Fn(&str) -> Option<FsStat>) -> Vec<Metric> {
    let mut seen: Vec<(String, String, String)> = Vec::new();
    for line in mounts.lines() {
        let mut fields = line.split_ascii_whitespace();
        let (Some(device), Some(mount_point), Some(fstype)) =
            (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        let mount_point = unescape_mount(mount_point);
        if PSEUDO_FILESYSTEMS.contains(&fstype) || ignored_mount_point(&mount_point) {
            continue;
        }
        seen.retain(|(_, m, _)| *m != mount_point);
        seen.push((device.to_owned(), mount_point, fstype.to_owned()));
    }
    let mut out = Vec::new();
    for (device, mount_point, fstype) in seen {
        let Some(s) = stat(&mount_point) else {
            continue;
        };
        let labels = [
            ("device", device.as_str()),
            ("fstype", fstype.as_str()),
            ("mountpoint", mount_point.as_str()),
        ];
        for (name, value) in [
            ("node_filesystem_size_bytes", s.size_bytes),
            ("node_filesystem_free_bytes", s.free_bytes),
            ("node_filesystem_avail_bytes", s.avail_bytes),
            ("node_filesystem_files", s.files),
            ("node_filesystem_files_free", s.files_free),
            ("node_filesystem_readonly", f64::from(u8::from(s.read_only))),
        ] {
            out.push(Metric::gauge(name, &labels, value));
        }
    }
    out
}

/// `/proc/mounts` writes a space as `\040`, a tab as `\011`, a backslash as `\134`.
fn unescape_mount(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && i + 3 < bytes.len()
            && bytes[i + 1..i + 4]
                .iter()
                .all(|b| (b'0'..=b'7').contains(b))
        {
            let code = bytes[i + 1..i + 4]
                .iter()
                .fold(0_u32, |n, b| n * 8 + u32::from(b - b'0'));
            if let Some(c) = char::from_u32(code) {
                out.push(c);
                i += 4;
                continue;
            }
        }
        let c = text[i..].chars().next().unwrap_or('?');
        out.push(c);
        i += c.len_utf8();
    }
    out
}

/// `statvfs` of a mount point, as node-exporter computes sizes (fragment size × blocks).
pub fn statvfs(mount_point: &str) -> Option<FsStat> {
    let s = nix::sys::statvfs::statvfs(Path::new(mount_point)).ok()?;
    let unit = s.fragment_size() as f64;
    Some(FsStat {
        size_bytes: s.blocks() as f64 * unit,
        free_bytes: s.blocks_free() as f64 * unit,
        avail_bytes: s.blocks_available() as f64 * unit,
        files: s.files() as f64,
        files_free: s.files_free() as f64,
        read_only: s.flags().contains(nix::sys::statvfs::FsFlags::ST_RDONLY),
    })
}

/// `/proc/net/dev`: `node_network_{receive,transmit}_{bytes,packets,errs,drop}_total` by
/// `device`, the loopback left out.
pub fn netdev(text: &str) -> Vec<Metric> {
    const RECEIVE: [(usize, &str); 4] = [(0, "bytes"), (1, "packets"), (2, "errs"), (3, "drop")];
    let mut out = Vec::new();
    for line in text.lines().skip(2) {
        let Some((device, rest)) = line.split_once(':') else {
            continue;
        };
        let device = device.trim();
        // node-exporter's default `--collector.netdev.device-exclude`: `^lo$`.
        if device == "lo" {
            continue;
        }
        let numbers: Vec<f64> = rest
            .split_ascii_whitespace()
            .filter_map(|f| f.parse().ok())
            .collect();
        if numbers.len() < 16 {
            continue;
        }
        for (index, what) in RECEIVE {
            out.push(Metric::counter(
                &format!("node_network_receive_{what}_total"),
                &[("device", device)],
                numbers[index],
            ));
            out.push(Metric::counter(
                &format!("node_network_transmit_{what}_total"),
                &[("device", device)],
                numbers[8 + index],
            ));
        }
    }
    out
}

/// `/proc/diskstats`: reads and writes completed, bytes read and written (sectors of 512
/// bytes), and the time spent doing I/O, by `device`; partitions and device-mapper, loop and
/// ram devices are left out as node-exporter leaves them out by default.
pub fn diskstats(text: &str) -> Vec<Metric> {
    let mut out = Vec::new();
    for line in text.lines() {
        let fields: Vec<&str> = line.split_ascii_whitespace().collect();
        if fields.len() < 14 {
            continue;
        }
        let device = fields[2];
        if ignored_disk(device) {
            continue;
        }
        let n = |i: usize| fields[i].parse::<f64>().unwrap_or(0.0);
        let labels = [("device", device)];
        for (name, value) in [
            ("node_disk_reads_completed_total", n(3)),
            ("node_disk_read_bytes_total", n(5) * 512.0),
            ("node_disk_writes_completed_total", n(7)),
            ("node_disk_written_bytes_total", n(9) * 512.0),
            ("node_disk_io_time_seconds_total", n(12) / 1000.0),
        ] {
            out.push(Metric::counter(name, &labels, value));
        }
    }
    out
}

/// node-exporter's default `--collector.diskstats.device-exclude` (Debian 12's 1.5):
/// `^(ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\d+n\d+p)\d+$`; device-mapper is kept.
fn ignored_disk(device: &str) -> bool {
    let digits_after = |prefix: &str| {
        device
            .strip_prefix(prefix)
            .is_some_and(|rest| !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit()))
    };
    if ["ram", "loop", "fd"].iter().any(|p| digits_after(p)) {
        return true;
    }
    // A partition of a whole disk: sda1, vdb2, xvda1, nvme0n1p1.
    for prefix in ["hd", "sd", "vd", "xvd"] {
        if let Some(rest) = device.strip_prefix(prefix) {
            let mut chars = rest.chars();
            if chars.next().is_some_and(|c| c.is_ascii_lowercase()) {
                let tail = chars.as_str();
                if !tail.is_empty() && tail.bytes().all(|b| b.is_ascii_digit()) {
                    return true;
                }
            }
        }
    }
    device.starts_with("nvme")
        && device.contains('p')
        && device.ends_with(|c: char| c.is_ascii_digit())
}

/// What one `/proc/<pid>/stat` says.
#[derive(Clone, Debug, PartialEq)]
pub struct ProcStat {
    /// The command name (`comm`, at most 15 bytes), without its parentheses.
    pub name: String,
    /// `R`, `S`, `D`, `Z`, `T`, `I`…
    pub state: char,
    /// User and system CPU time, in clock ticks.
    pub cpu_ticks: u64,
    /// Resident pages.
    pub rss_pages: u64,
}

/// Parses `/proc/<pid>/stat`. The name may hold spaces and parentheses (`(tmux: server)`):
/// it runs to the *last* `)`.
pub fn process_stat(text: &str) -> Option<ProcStat> {
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let name = text.get(open + 1..close)?.to_owned();
    let fields: Vec<&str> = text.get(close + 1..)?.split_ascii_whitespace().collect();
    // After the name: state (field 3 of proc(5)), …, utime (14), stime (15), …, rss (24).
    let field = |n: usize| fields.get(n - 3).copied();
    let number = |n: usize| field(n).and_then(|f| f.parse::<u64>().ok());
    Some(ProcStat {
        name,
        state: field(3)?.chars().next()?,
        cpu_ticks: number(14)? + number(15)?,
        rss_pages: number(24)?,
    })
}

/// How many names [`processes`] counts processes of, and how many it names as top consumers.
pub const MOST_NAMES: usize = 50;
pub const TOP_CONSUMERS: usize = 10;

/// The processes: `pupitre_processes_total`, `pupitre_processes_state{state}`,
/// `pupitre_processes{name}` for the [`MOST_NAMES`] most frequent names, and, for the
/// [`TOP_CONSUMERS`] names using the most memory and the most CPU, the sum over their
/// processes of `pupitre_process_resident_memory_bytes{name}` and
/// `pupitre_process_cpu_seconds{name}` (of the processes running now). Names, not pids, so that
/// series do not multiply as processes come and go.
pub fn processes(stats: &[ProcStat], page_bytes: f64, top_n: usize) -> Vec<Metric> {
    use std::collections::BTreeMap;
    let mut out = vec![Metric::gauge(
        "pupitre_processes_total",
        &[],
        stats.len() as f64,
    )];
    let mut states: BTreeMap<char, u64> = BTreeMap::new();
    let mut names: BTreeMap<&str, (u64, u64, u64)> = BTreeMap::new(); // count, ticks, pages
    for p in stats {
        *states.entry(p.state).or_default() += 1;
        let entry = names.entry(p.name.as_str()).or_default();
        entry.0 += 1;
        entry.1 += p.cpu_ticks;
        entry.2 += p.rss_pages;
    }
    for (state, count) in states {
        out.push(Metric::gauge(
            "pupitre_processes_state",
            &[("state", &state.to_string())],
            count as f64,
        ));
    }
    let mut ranked: Vec<(&str, (u64, u64, u64))> = names.into_iter().collect();
    /// The `n` names with the most of `key`, ties by name.
    fn top<'a>(
        ranked: &mut [(&'a str, (u64, u64, u64))],
        key: fn(&(u64, u64, u64)) -> u64,
        n: usize,
    ) -> Vec<(&'a str, (u64, u64, u64))> {
        ranked.sort_by(|a, b| key(&b.1).cmp(&key(&a.1)).then(a.0.cmp(b.0)));
        ranked.iter().take(n).copied().collect()
    }
    for (name, (count, _, _)) in top(&mut ranked, |v| v.0, MOST_NAMES) {
        out.push(Metric::gauge(
            "pupitre_processes",
            &[("name", name)],
            count as f64,
        ));
    }
    for (name, (_, _, pages)) in top(&mut ranked, |v| v.2, top_n) {
        out.push(Metric::gauge(
            "pupitre_process_resident_memory_bytes",
            &[("name", name)],
            pages as f64 * page_bytes,
        ));
    }
    for (name, (_, ticks, _)) in top(&mut ranked, |v| v.1, top_n) {
        out.push(Metric::gauge(
            "pupitre_process_cpu_seconds",
            &[("name", name)],
            ticks as f64 / USER_HZ,
        ));
    }
    out
}

/// Every process's `/proc/<pid>/stat`; processes that end while being read are skipped.
pub fn read_processes() -> Vec<ProcStat> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
        })
        .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
        .filter_map(|text| process_stat(&text))
        .collect()
}

/// Everything above, read from this host's `/proc` now, as node-exporter's defaults read it.
pub fn host() -> Vec<Metric> {
    host_with(&Collectors::default(), TOP_CONSUMERS)
}

/// What `collectors` ask for, read from this host now, with `top_n` top consumers. Files that
/// cannot be read give no metrics (a container without `/proc/diskstats`, say).
pub fn host_with(collectors: &Collectors, top_n: usize) -> Vec<Metric> {
    let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
    let mut out = Vec::new();
    // `/proc/stat` holds the boot time and the process counters too: always read.
    let mut cpu = stat(&read("/proc/stat"));
    if !collectors.cpu {
        cpu.retain(|m| m.name != "node_cpu_seconds_total");
    } else if !collectors.per_core {
        cpu = per_mode(cpu);
    }
    out.extend(cpu);
    out.extend(loadavg(&read("/proc/loadavg")));
    if collectors.memory {
        out.extend(meminfo(&read("/proc/meminfo")));
    }
    if collectors.filesystems {
        // PID 1's mounts, as node-exporter reads them: the host's, even from a container.
        let mounts =
            std::fs::read_to_string("/proc/1/mounts").unwrap_or_else(|_| read("/proc/self/mounts"));
        out.extend(filesystems(&mounts, statvfs));
    }
    if collectors.network {
        out.extend(netdev(&read("/proc/net/dev")));
    }
    if collectors.disks {
        out.extend(diskstats(&read("/proc/diskstats")));
    }
    if collectors.processes {
        let page_bytes = nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
            .ok()
            .flatten()
            .map_or(4096.0, |p| p as f64);
        out.extend(processes(&read_processes(), page_bytes, top_n));
    }
    out.push(Metric::gauge(
        "node_time_seconds",
        &[],
        crate::now_ms() as f64 / 1000.0,
    ));
    out
}

/// `node_cpu_seconds_total{cpu,mode}` summed over the cores: `{mode}` alone.
fn per_mode(metrics: Vec<Metric>) -> Vec<Metric> {
    let mut modes: Vec<(String, f64)> = Vec::new();
    let mut out = Vec::with_capacity(metrics.len());
    for m in metrics {
        if m.name != "node_cpu_seconds_total" {
            out.push(m);
            continue;
        }
        let mode = m.label("mode").unwrap_or_default().to_owned();
        match modes.iter_mut().find(|(name, _)| *name == mode) {
            Some((_, total)) => *total += m.value,
            None => modes.push((mode, m.value)),
        }
    }
    for (mode, total) in modes {
        out.push(Metric::counter(
            "node_cpu_seconds_total",
            &[("mode", &mode)],
            total,
        ));
    }
    out
}

/// The service units `systemctl list-units --type=service --all --plain --no-legend` lists:
/// `pupitre_systemd_units{state}` counts them by active state, and
/// `pupitre_systemd_unit_state{name,state}` is 1 or 0 for `active` and for `failed`, per
/// loaded unit (two series a unit, not one per state as node-exporter has).
pub fn systemd_units(text: &str) -> Vec<Metric> {
    let mut counts: std::collections::BTreeMap<&str, u64> = std::collections::BTreeMap::new();
    let mut out = Vec::new();
    for line in text.lines() {
        // A failed unit is marked with a bullet before its name in some versions.
        let mut fields = line
            .split_whitespace()
            .skip_while(|f| *f == "\u{25cf}" || *f == "*");
        let (Some(unit), Some(load), Some(active)) = (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        if !unit.ends_with(".service") || load == "not-found" {
            continue;
        }
        *counts.entry(active).or_default() += 1;
        for state in ["active", "failed"] {
            out.push(Metric::gauge(
                "pupitre_systemd_unit_state",
                &[("name", unit), ("state", state)],
                f64::from(u8::from(active == state)),
            ));
        }
    }
    for (state, count) in counts {
        out.push(Metric::gauge(
            "pupitre_systemd_units",
            &[("state", state)],
            count as f64,
        ));
    }
    out
}

/// The service units' states, when systemd runs this host (else nothing): runs `systemctl`.
pub fn read_systemd() -> Vec<Metric> {
    if !Path::new("/run/systemd/system").is_dir() {
        return Vec::new();
    }
    let output = std::process::Command::new("systemctl")
        .args([
            "list-units",
            "--type=service",
            "--all",
            "--plain",
            "--no-legend",
            "--no-pager",
        ])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output();
    match output {
        Ok(o) if o.status.success() => systemd_units(&String::from_utf8_lossy(&o.stdout)),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn systemd_units_are_counted_and_each_is_active_or_failed() {
        let text = "cron.service loaded active running Regular background program processing daemon\n\
                    \u{25cf} nginx.service loaded failed failed A high performance web server\n\
                    gone.service not-found inactive dead gone.service\n\
                    ssh.service loaded inactive dead OpenBSD Secure Shell server\n";
        let ms = systemd_units(text);
        let value = |name: &str, labels: &[(&str, &str)]| {
            ms.iter()
                .find(|m| m.name == name && labels.iter().all(|(l, v)| m.label(l) == Some(v)))
                .map(|m| m.value)
        };
        let unit = "pupitre_systemd_unit_state";
        assert_eq!(
            value(unit, &[("name", "cron.service"), ("state", "active")]),
            Some(1.0)
        );
        assert_eq!(
            value(unit, &[("name", "nginx.service"), ("state", "failed")]),
            Some(1.0)
        );
        assert_eq!(
            value(unit, &[("name", "nginx.service"), ("state", "active")]),
            Some(0.0)
        );
        assert_eq!(
            value(unit, &[("name", "gone.service"), ("state", "active")]),
            None
        );
        assert_eq!(
            value("pupitre_systemd_units", &[("state", "inactive")]),
            Some(1.0)
        );
        assert_eq!(
            value("pupitre_systemd_units", &[("state", "failed")]),
            Some(1.0)
        );
    }

    #[test]
    fn cpu_time_can_be_summed_over_cores() {
        let cpu = per_mode(stat(
            "cpu  3 0 0 0 0 0 0 0\ncpu0 1 0 0 0 0 0 0 0\ncpu1 2 0 0 0 0 0 0 0\n",
        ));
        let user: Vec<_> = cpu
            .iter()
            .filter(|m| m.name == "node_cpu_seconds_total" && m.label("mode") == Some("user"))
            .collect();
        assert_eq!(user.len(), 1);
        assert_eq!(user[0].label("cpu"), None);
        assert!((user[0].value - 0.03).abs() < 1e-9);
    }

    #[test]
    fn proc_texts_parse_as_node_exporter_names_them() {
        let cpu = stat(
            "cpu  10 0 5 100 1 0 0 0 0 0\ncpu0 1000 20 300 40000 50 6 7 8 9 10\nintr 42 1 2\nctxt 99\nbtime 1700000000\nprocesses 1234\nprocs_running 3\nprocs_blocked 0\n",
        );
        let find = |ms: &[Metric], name: &str, label: Option<(&str, &str)>| {
            ms.iter()
                .find(|m| m.name == name && label.is_none_or(|(l, v)| m.label(l) == Some(v)))
                .map(|m| m.value)
        };
        assert_eq!(
            find(&cpu, "node_cpu_seconds_total", Some(("mode", "user"))),
            Some(10.0)
        );
        assert_eq!(
            find(&cpu, "node_cpu_seconds_total", Some(("mode", "steal"))),
            Some(0.08)
        );
        assert_eq!(
            cpu.iter()
                .filter(|m| m.name == "node_cpu_seconds_total")
                .count(),
            8
        );
        assert_eq!(find(&cpu, "node_boot_time_seconds", None), Some(1.7e9));
        assert_eq!(find(&cpu, "node_intr_total", None), Some(42.0));

        let mem =
            meminfo("MemTotal:       16384 kB\nActive(anon):   1 kB\nHugePages_Total:       0\n");
        assert_eq!(
            find(&mem, "node_memory_MemTotal_bytes", None),
            Some(16_777_216.0)
        );
        assert_eq!(
            find(&mem, "node_memory_Active_anon_bytes", None),
            Some(1024.0)
        );
        assert_eq!(find(&mem, "node_memory_HugePages_Total", None), Some(0.0));

        assert_eq!(loadavg("0.50 0.25 0.10 1/100 4242\n").len(), 3);

        let mounts = "proc /proc proc rw 0 0\n/dev/vda1 / ext4 rw 0 0\ntmpfs /run tmpfs rw 0 0\n/dev/vdb /srv/my\\040data xfs ro 0 0\n/dev/vdc / ext4 rw 0 0\ntmpfs /tmp tmpfs rw 0 0\n";
        let fixed = |_: &str| {
            Some(FsStat {
                size_bytes: 100.0,
                free_bytes: 40.0,
                avail_bytes: 30.0,
                files: 10.0,
                files_free: 5.0,
                read_only: false,
            })
        };
        let fs = filesystems(mounts, fixed);
        let points: Vec<(&str, &str)> = fs
            .iter()
            .filter(|m| m.name == "node_filesystem_size_bytes")
            .map(|m| {
                (
                    m.label("mountpoint").unwrap_or(""),
                    m.label("device").unwrap_or(""),
                )
            })
            .collect();
        assert_eq!(
            points,
            [
                ("/srv/my data", "/dev/vdb"),
                ("/", "/dev/vdc"),
                ("/tmp", "tmpfs")
            ]
        );

        let net = netdev(
            "Inter-|   Receive\n face |bytes\n    lo: 1 1 0 0 0 0 0 0 1 1 0 0 0 0 0 0\n  eth0: 100 2 0 0 0 0 0 0 100 2 0 0 0 0 0 0\n",
        );
        assert_eq!(
            find(
                &net,
                "node_network_receive_bytes_total",
                Some(("device", "eth0"))
            ),
            Some(100.0)
        );
        assert_eq!(net.len(), 8);

        let disks = diskstats(
            "   8       0 sda 10 0 8 0 20 0 16 0 0 500 0 0 0 0 0\n   8       1 sda1 1 0 8 0 2 0 16 0 0 5 0\n   7       0 loop0 1 0 8 0 2 0 16 0 0 5 0\n 259 0 nvme0n1 1 0 2 0 1 0 2 0 0 1 0 0\n 259 1 nvme0n1p1 1 0 2 0 1 0 2 0 0 1 0 0\n",
        );
        let devices: std::collections::BTreeSet<&str> =
            disks.iter().filter_map(|m| m.label("device")).collect();
        assert_eq!(devices.into_iter().collect::<Vec<_>>(), ["nvme0n1", "sda"]);
        assert_eq!(
            find(
                &disks,
                "node_disk_read_bytes_total",
                Some(("device", "sda"))
            ),
            Some(4096.0)
        );
        assert_eq!(
            find(
                &disks,
                "node_disk_io_time_seconds_total",
                Some(("device", "sda"))
            ),
            Some(0.5)
        );
        // Lines the parsers do not understand are skipped.
        assert!(
            stat("garbage\n\ncpu0 x y\n")
                .iter()
                .all(|m| m.name != "node_boot_time_seconds")
        );
        assert!(meminfo("nonsense\n").is_empty());
    }

    #[test]
    fn processes_are_counted_by_name_and_state_whatever_their_names() {
        let line = |pid: u32, name: &str, state: char, ticks: u64, pages: u64| {
            format!(
                "{pid} ({name}) {state} 1 1 1 0 -1 0 0 0 0 0 {ticks} 0 0 0 20 0 1 0 100 1000 {pages} 0"
            )
        };
        let tmux = process_stat(&line(7, "tmux: server) (x", 'S', 50, 10)).expect("parses");
        assert_eq!(tmux.name, "tmux: server) (x");
        assert_eq!((tmux.state, tmux.cpu_ticks, tmux.rss_pages), ('S', 50, 10));
        assert_eq!(process_stat("12 (cut"), None);
        let stats: Vec<ProcStat> = [
            line(1, "init", 'S', 100, 5),
            line(2, "sleep", 'S', 0, 1),
            line(3, "sleep", 'S', 0, 1),
            line(4, "cc1", 'R', 5_000, 900),
        ]
        .iter()
        .filter_map(|l| process_stat(l))
        .collect();
        let metrics = processes(&stats, 4096.0, TOP_CONSUMERS);
        let value = |name: &str, label: Option<(&str, &str)>| {
            metrics
                .iter()
                .find(|m| m.name == name && label.is_none_or(|(l, v)| m.label(l) == Some(v)))
                .map(|m| m.value)
        };
        assert_eq!(value("pupitre_processes_total", None), Some(4.0));
        assert_eq!(
            value("pupitre_processes", Some(("name", "sleep"))),
            Some(2.0)
        );
        assert_eq!(
            value("pupitre_processes_state", Some(("state", "R"))),
            Some(1.0)
        );
        assert_eq!(
            value(
                "pupitre_process_resident_memory_bytes",
                Some(("name", "cc1"))
            ),
            Some(900.0 * 4096.0)
        );
        assert_eq!(
            value("pupitre_process_cpu_seconds", Some(("name", "cc1"))),
            Some(50.0)
        );
    }
}
