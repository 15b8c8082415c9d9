//! Remote write out, against a real Prometheus (Debian's 2.42, started here with its
//! remote-write receiver): samples arrive with their labels and values; a receiver that is
//! down at first gets them once it is up; a full queue drops the oldest and counts them.
#![expect(
    clippy::unwrap_used,
    reason = "a test fails loudly on any unexpected error"
)]

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use pupitre_core::audit::Actor;
use pupitre_core::inventory::{AssetInput, AssetType};
use pupitre_core::model::ROOT_ENTITY;
use pupitre_monitor::history::{History, HistoryConfig, SeriesData, SourceData};
use pupitre_monitor::remote_write::{RemoteWriteConfig, RemoteWriter};
use pupitre_series::series::{Kind, SeriesKey};
use pupitre_store::Store;
use pupitre_store::metrics::{NewSeries, Source, SourceKind};
use pupitre_store::testing::TestDb;

struct Prometheus {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    fn start(port: u16) -> Prometheus {
        // The test's own client is a reqwest built without a TLS provider of its own.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("prometheus.yml");
        std::fs::write(&config, "global:\n  scrape_interval: 1m\n").unwrap();
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--web.enable-remote-write-receiver")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus (Debian's prometheus package; .ci/run installs it)");
        Prometheus {
            child,
            port,
            _dir: dir,
        }
    }

    async fn ready(&self) {
        let client = reqwest::Client::builder().build().unwrap();
        for _ in 0..200 {
            let url = format!("http://127.0.0.1:{}/-/ready", self.port);
            if client
                .get(&url)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("prometheus did not become ready");
    }

    /// The values of `query` over the last 10 minutes, once they reach `count`.
    async fn values(
        &self,
        query: &str,
        count: usize,
    ) -> Vec<(serde_json::Value, Vec<(f64, String)>)> {
        let client = reqwest::Client::builder().build().unwrap();
        let mut last = serde_json::Value::Null;
        for _ in 0..150 {
            let text = client
                .get(format!(
                    "http://127.0.0.1:{}/api/v1/query?query={query}%5B10m%5D",
                    self.port
                ))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            let body: serde_json::Value = serde_json::from_str(&text).unwrap();
            let result = body["data"]["result"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let found: Vec<(serde_json::Value, Vec<(f64, String)>)> = result
                .iter()
                .map(|s| {
                    let values = s["values"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|p| (p[0].as_f64().unwrap(), p[1].as_str().unwrap().to_owned()))
                        .collect();
                    (s["metric"].clone(), values)
                })
                .collect();
            if found.iter().map(|f| f.1.len()).sum::<usize>() >= count {
                return found;
            }
            last = body;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{query}: {count} values never arrived: {last}");
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

async fn asset(store: &dyn Store) -> i64 {
    let actor = Actor {
        user_id: None,
        login: "test".into(),
        source: "127.0.0.1".into(),
        at: 1,
    };
    store
        .create_asset(
            &actor,
            &AssetInput::new(ROOT_ENTITY, AssetType::Server, "db1"),
        )
        .await
        .unwrap()
        .id
}

fn data(asset: i64, name: &str, samples: &[(i64, f64)]) -> SourceData {
    SourceData {
        source: Source {
            kind: SourceKind::Agent,
            id: 1,
        },
        asset_id: asset,
        series: vec![SeriesData {
            series: NewSeries {
                key: SeriesKey::new(name, [("mount".to_owned(), "/var".to_owned())]).unwrap(),
                unit: "B".into(),
                kind: Kind::Gauge,
            },
            timestamps: samples.iter().map(|s| s.0).collect(),
            values: samples.iter().map(|s| s.1).collect(),
        }],
    }
}

async fn history_to(port: u16, buffer: usize) -> (TestDb, Arc<History>, Arc<RemoteWriter>, i64) {
    let db = TestDb::sqlite().await;
    let asset = asset(&*db.store).await;
    let mut config = RemoteWriteConfig::new(&format!("http://127.0.0.1:{port}/api/v1/write"));
    config.buffer_samples = buffer;
    config.timeout = Duration::from_secs(5);
    let remote = RemoteWriter::new(config).unwrap();
    let history = History::with_remote(
        db.store.clone(),
        HistoryConfig::default(),
        Some(remote.clone()),
    );
    tokio::spawn(remote.clone().run(db.store.clone(), std::future::pending()));
    (db, history, remote, asset)
}

#[tokio::test]
async fn samples_reach_prometheus_with_their_labels_even_when_it_starts_late() {
    let port = free_port();
    let (_db, history, remote, asset) = history_to(port, 1_000).await;
    let now = now_ms();
    let first: Vec<(i64, f64)> = (0..10)
        .map(|i| (now - 60_000 + i * 5_000, 1.5 * i as f64))
        .collect();
    // The receiver is not there yet: the write is durable here, and retried there.
    history
        .write(&[data(asset, "disk_used_bytes", &first)], now)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(remote.counts(), (0, 0, 0));

    let prometheus = Prometheus::start(port);
    prometheus.ready().await;
    let found = prometheus.values("disk_used_bytes", 10).await;
    assert_eq!(found.len(), 1);
    let (labels, values) = &found[0];
    assert_eq!(labels["__name__"], "disk_used_bytes");
    assert_eq!(labels["mount"], "/var");
    assert_eq!(labels["host"], "db1");
    assert_eq!(labels["source"], "agent");
    let expected: Vec<(f64, String)> = first
        .iter()
        .map(|&(t, v)| (t as f64 / 1000.0, v.to_string()))
        .collect();
    assert_eq!(values, &expected);
    assert_eq!(remote.counts(), (10, 0, 0));

    let mut figures = String::new();
    history.render_figures(&mut figures);
    assert!(
        figures.contains("pupitre_history_remote_write_samples_total{result=\"sent\"} 10"),
        "{figures}"
    );
    assert!(figures.contains("pupitre_history_remote_write_requests_total{result=\"retried\"}"));
}

#[tokio::test]
async fn a_full_queue_drops_the_oldest_samples_and_counts_them() {
    // Nothing listens: every sample waits in the queue of 5.
    let port = free_port();
    let (_db, history, remote, asset) = history_to(port, 5).await;
    let now = now_ms();
    let samples: Vec<(i64, f64)> = (0..12)
        .map(|i| (now - 60_000 + i * 1_000, i as f64))
        .collect();
    history
        .write(&[data(asset, "load", &samples)], now)
        .await
        .unwrap();
    assert_eq!(remote.counts(), (0, 7, 0));
    // The newest five are the ones sent once a receiver is there.
    let prometheus = Prometheus::start(port);
    prometheus.ready().await;
    let found = prometheus.values("load", 5).await;
    let values: Vec<&str> = found[0].1.iter().map(|v| v.1.as_str()).collect();
    assert_eq!(values, ["7", "8", "9", "10", "11"]);
}

#[test]
fn a_bad_url_names_the_setting() {
    for url in ["ftp://example.com/write", "not a url"] {
        let error = RemoteWriter::new(RemoteWriteConfig::new(url))
            .err()
            .unwrap();
        assert!(error.starts_with("history_remote_write_url: "), "{error}");
    }
}
