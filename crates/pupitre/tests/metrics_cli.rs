//! `pupitre metrics import` killed with SIGKILL in the middle of its writes: every sample it
//! reported durable is in the database afterwards, bit for bit, and the database is sound.
//! On SQLite and on PostgreSQL.
#![expect(
    clippy::unwrap_used,
    reason = "a test fails loudly on any unexpected error"
)]

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use pupitre_core::audit::Actor;
use pupitre_core::inventory::{AssetInput, AssetType};
use pupitre_core::model::ROOT_ENTITY;
use pupitre_store::metrics::{SeriesFilter, Source, SourceKind};
use pupitre_store::testing::TestDb;

const BIN: &str = env!("CARGO_BIN_EXE_pupitre");

/// Samples per durable batch in the import, and batches the test waits for before the kill.
const BATCH: usize = 20_000;
const ACKED_BEFORE_KILL: usize = 4;

/// An OpenMetrics file of `series` gauges and counters with `per_series` samples each, and
/// every sample in the file's order as `(series text, timestamp ms, value bits)`.
fn backfill(series: usize, per_series: usize, start_s: i64) -> (String, Vec<(String, i64, u64)>) {
    let mut text = String::new();
    let mut order = Vec::new();
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for (family, kind) in [
        ("crash_temperature_celsius", "gauge"),
        ("crash_reads", "counter"),
    ] {
        writeln!(text, "# TYPE {family} {kind}").unwrap();
        for s in 0..series / 2 {
            let name = if kind == "counter" {
                format!("{family}_total")
            } else {
                family.to_owned()
            };
            let key = format!("{name}{{disk=\"d{s}\"}}");
            let mut total = 0_u64;
            for i in 0..per_series {
                let at = start_s * 1000 + i as i64 * 10_000 + (next() % 7) as i64;
                let value = if kind == "counter" {
                    total += next() % 5_000;
                    total as f64
                } else {
                    (next() % 100_000) as f64 / 1000.0 - 20.0
                };
                writeln!(text, "{key} {value} {}.{:03}", at / 1000, at % 1000).unwrap();
                order.push((key.clone(), at, value.to_bits()));
            }
        }
    }
    text.push_str("# EOF\n");
    (text, order)
}

async fn an_import_killed_mid_stream_keeps_what_it_acknowledged(db: TestDb) {
    let store = db.store.clone();
    let actor = Actor {
        user_id: None,
        login: "test".into(),
        source: "127.0.0.1".into(),
        at: 1,
    };
    let asset = store
        .create_asset(
            &actor,
            &AssetInput::new(ROOT_ENTITY, AssetType::Server, "sensor1"),
        )
        .await
        .unwrap()
        .id;
    let now_s = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let (text, order) = backfill(200, 1_500, now_s - 6 * 3600);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("backfill.om");
    std::fs::write(&file, text).unwrap();

    let mut child = Command::new(BIN)
        .args([
            "metrics",
            "import",
            "--database-url",
            &db.url(),
            "--asset",
            &asset.to_string(),
            "--batch",
            &BATCH.to_string(),
        ])
        .arg(&file)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut acknowledged = 0_usize;
    for _ in 0..ACKED_BEFORE_KILL {
        let line = lines.next().unwrap().unwrap();
        acknowledged = line.strip_prefix("durable ").unwrap().parse().unwrap();
    }
    // SIGKILL, while the next batches are being written.
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert!(!status.success(), "the import ended before it was killed");
    assert!(acknowledged >= ACKED_BEFORE_KILL * BATCH);
    assert!(
        acknowledged < order.len(),
        "everything was written before the kill"
    );

    assert_eq!(
        store.integrity_problems().await.unwrap(),
        Vec::<String>::new()
    );
    let series = store
        .find_series(&SeriesFilter {
            visible: vec![ROOT_ENTITY],
            source: Some(Source {
                kind: SourceKind::Import,
                id: asset,
            }),
            limit: 10_000,
            ..SeriesFilter::default()
        })
        .await
        .unwrap();
    let ids: HashMap<String, i64> = series.iter().map(|s| (s.key.to_string(), s.id)).collect();
    let all: Vec<i64> = series.iter().map(|s| s.id).collect();
    let read = store
        .read_samples(&all, (now_s - 7 * 3600) * 1000, now_s * 1000)
        .await
        .unwrap();
    let mut stored: HashMap<i64, HashMap<i64, u64>> = HashMap::new();
    let mut present = 0;
    for s in read {
        present += s.timestamps.len();
        stored.insert(
            s.series,
            s.timestamps
                .into_iter()
                .zip(s.values.iter().map(|v| v.to_bits()))
                .collect(),
        );
    }
    for (key, at, bits) in &order[..acknowledged] {
        let id = ids.get(key).unwrap_or_else(|| panic!("{key} is missing"));
        assert_eq!(
            stored.get(id).and_then(|s| s.get(at)),
            Some(bits),
            "{key} at {at}"
        );
    }
    // Batches are whole: what is there beyond the acknowledged samples is whole batches.
    assert!(present >= acknowledged);
    assert_eq!(
        (present - acknowledged) % BATCH,
        0,
        "{present} samples stored"
    );

    // The history goes on from there: sealing and compaction take the buffered batches.
    let sealed = store.seal_samples(now_s * 1000, u64::MAX).await.unwrap();
    assert_eq!(sealed.samples as usize, present);
    assert_eq!(
        store.integrity_problems().await.unwrap(),
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn sqlite_import_killed_mid_stream_keeps_what_it_acknowledged() {
    an_import_killed_mid_stream_keeps_what_it_acknowledged(TestDb::sqlite().await).await;
}

#[tokio::test]
async fn postgres_import_killed_mid_stream_keeps_what_it_acknowledged() {
    an_import_killed_mid_stream_keeps_what_it_acknowledged(TestDb::postgres().await).await;
}
