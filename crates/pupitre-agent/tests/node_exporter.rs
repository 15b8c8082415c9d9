//! The agent's host metrics against the real prometheus-node-exporter (Debian's), read on
//! this machine at the same moment: the same series, the same values where they do not move.
#![expect(
    clippy::unwrap_used,
    reason = "a test fails loudly on any unexpected error"
)]

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read as _;
use std::process::{Child, Command, Stdio};

use pupitre_agent::collect::{self, Metric};
use pupitre_core::monitoring::exposition::{self, Format, Limits, Sample};

struct Exporter(Child);

impl Drop for Exporter {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One scrape of a node-exporter started for the test on a free loopback port.
fn scrape() -> Vec<Sample> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let _exporter = Exporter(
        Command::new("prometheus-node-exporter")
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus-node-exporter (.ci/run installs it)"),
    );
    // Until it answers: it may accept connections before it serves them.
    let get = || -> std::io::Result<String> {
        use std::io::Write as _;
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", port))?;
        write!(stream, "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer)?;
        Ok(answer)
    };
    for _ in 0..100 {
        if let Some((_, body)) = get()
            .ok()
            .as_deref()
            .and_then(|a| a.split_once("\r\n\r\n"))
            .map(|(h, b)| (h.to_owned(), b.to_owned()))
            .filter(|(h, _)| h.starts_with("HTTP/1.0 200") || h.starts_with("HTTP/1.1 200"))
        {
            let limits = Limits {
                max_samples: 100_000,
                max_line_bytes: 65_536,
            };
            return exposition::parse(body.as_bytes(), Format::Text004, limits)
                .unwrap()
                .samples;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("node-exporter did not answer");
}

/// A label set.
type Labels = Vec<(String, String)>;

/// `name` → label set → value.
type Index = BTreeMap<String, BTreeMap<Labels, f64>>;

fn index<'a>(items: impl Iterator<Item = (&'a str, Labels, f64)>) -> Index {
    let mut out = Index::new();
    for (name, labels, value) in items {
        out.entry(name.to_owned())
            .or_default()
            .insert(labels, value);
    }
    out
}

#[test]
fn host_metrics_match_node_exporter() {
    let theirs = scrape();
    let ours: Vec<Metric> = collect::host();
    let theirs = index(
        theirs
            .iter()
            .map(|s| (s.name.as_str(), s.labels.clone(), s.value)),
    );
    let ours = index(
        ours.iter()
            .map(|m| (m.name.as_str(), m.labels.clone(), m.value)),
    );

    // Every series of these families, with the same labels.
    for name in [
        "node_cpu_seconds_total",
        "node_filesystem_size_bytes",
        "node_filesystem_files",
        "node_network_receive_bytes_total",
        "node_network_transmit_packets_total",
        "node_disk_reads_completed_total",
        "node_disk_written_bytes_total",
        "node_load1",
        "node_boot_time_seconds",
        "node_memory_MemTotal_bytes",
        "node_memory_MemAvailable_bytes",
    ] {
        let keys = |m: &Index| {
            m.get(name)
                .map(|s| s.keys().cloned().collect::<BTreeSet<_>>())
                .unwrap_or_default()
        };
        assert_eq!(keys(&ours), keys(&theirs), "{name}");
        assert!(
            !keys(&ours).is_empty() || name.starts_with("node_disk"),
            "{name}: none"
        );
    }
    // Values that do not move between the two readings are equal; counters read later are not
    // smaller.
    for name in [
        "node_filesystem_size_bytes",
        "node_boot_time_seconds",
        "node_memory_MemTotal_bytes",
    ] {
        assert_eq!(ours[name], theirs[name], "{name}");
    }
    for name in ["node_cpu_seconds_total", "node_network_receive_bytes_total"] {
        for (labels, value) in &theirs[name] {
            assert!(ours[name][labels] >= *value, "{name} {labels:?}");
        }
    }
}

#[test]
fn processes_this_test_starts_are_counted_by_name() {
    let mut children: Vec<Child> = (0..3)
        .map(|_| Command::new("sleep").arg("30").spawn().unwrap())
        .collect();
    let metrics = collect::host();
    for child in &mut children {
        let _ = child.kill();
        let _ = child.wait();
    }
    let sleeping = metrics
        .iter()
        .find(|m| m.name == "pupitre_processes" && m.label("name") == Some("sleep"))
        .map(|m| m.value);
    assert!(sleeping.is_some_and(|n| n >= 3.0), "{sleeping:?}");
    let total = metrics
        .iter()
        .find(|m| m.name == "pupitre_processes_total")
        .map(|m| m.value);
    assert!(total.is_some_and(|n| n >= 4.0), "{total:?}");
}
