//! Loads an OpenMetrics backfill file into a fresh metric history and measures each step:
//! the parse (apart), the durable writes, sealing and compaction, with the process's CPU time
//! for each (so a figure per core can be given, whatever threads SQLite or PostgreSQL use).
//! Prints one JSON object. Used by `bench/history.sh`.
//!
//! `cargo run --release -p pupitre --example history_ingest -- DATABASE_URL FILE [BATCH]`

use std::collections::HashMap;
use std::time::Instant;

use pupitre_core::audit::Actor;
use pupitre_core::inventory::{AssetInput, AssetType};
use pupitre_core::model::ROOT_ENTITY;
use pupitre_core::monitoring::exposition::{self, Format, Limits};
use pupitre_monitor::history::{History, HistoryConfig, SeriesData, SourceData, exposition_series};
use pupitre_store::metrics::{Retention, Source, SourceKind};

/// CPU seconds of the whole process so far (user + system).
fn cpu_seconds() -> f64 {
    let text = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which is in parentheses): utime is the 14th, stime the 15th.
    let after = text.rsplit_once(") ").map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split(' ').collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(url), Some(file)) = (args.get(1), args.get(2)) else {
        anyhow::bail!("usage: history_ingest DATABASE_URL FILE [BATCH]");
    };
    let batch: usize = args.get(3).map_or(Ok(100_000), |b| b.parse())?;
    let body = std::fs::read(file)?;

    // The parse, apart: the samples grouped by series, in file order.
    let (parse_wall, parse_cpu) = (Instant::now(), cpu_seconds());
    let mut series: Vec<SeriesData> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    let limits = Limits {
        max_samples: usize::MAX,
        max_line_bytes: 1 << 20,
    };
    let mut bad = None;
    exposition::parse_each(&body, Format::OpenMetrics, limits, |exposition, sample| {
        let text = sample.to_string();
        let i = match index.get(&text) {
            Some(&i) => i,
            None => {
                let new = match exposition_series(exposition, &sample) {
                    Ok(new) => new,
                    Err(e) => {
                        bad = Some(format!("{sample}: {e}"));
                        return;
                    }
                };
                series.push(SeriesData {
                    series: new,
                    timestamps: Vec::new(),
                    values: Vec::new(),
                });
                index.insert(text, series.len() - 1);
                series.len() - 1
            }
        };
        series[i].timestamps.push(sample.timestamp_ms.unwrap_or(0));
        series[i].values.push(sample.value);
    })
    .map_err(|e| anyhow::anyhow!("line {}: {}", e.line, e.problem))?;
    if let Some(bad) = bad {
        anyhow::bail!("{bad}");
    }
    let parse_s = (
        parse_wall.elapsed().as_secs_f64(),
        cpu_seconds() - parse_cpu,
    );
    let samples: usize = series.iter().map(|s| s.timestamps.len()).sum();

    let store = pupitre_store::open(url).await?;
    store.migrate().await?;
    let actor = Actor {
        user_id: None,
        login: "bench".into(),
        source: "local".into(),
        at: 0,
    };
    let asset = store
        .create_asset(
            &actor,
            &AssetInput::new(ROOT_ENTITY, AssetType::Server, "bench"),
        )
        .await?
        .id;
    let history = History::new(
        store.clone(),
        HistoryConfig {
            series_per_source: 1_000_000,
            retention: Retention {
                raw: 3650 * pupitre_store::metrics::DAY,
                ..Retention::default()
            },
            ..HistoryConfig::default()
        },
    );

    // Batches as a scraper would send them: every series' next samples, time moving on.
    let per_series = (batch / series.len().max(1)).max(1);
    let longest = series.iter().map(|s| s.timestamps.len()).max().unwrap_or(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis() as i64;
    let (write_wall, write_cpu) = (Instant::now(), cpu_seconds());
    let mut batches = 0;
    for from in (0..longest).step_by(per_series) {
        let part: Vec<SeriesData> = series
            .iter()
            .filter(|s| s.timestamps.len() > from)
            .map(|s| {
                let to = (from + per_series).min(s.timestamps.len());
                SeriesData {
                    series: s.series.clone(),
                    timestamps: s.timestamps[from..to].to_vec(),
                    values: s.values[from..to].to_vec(),
                }
            })
            .collect();
        let written = history
            .write(
                &[SourceData {
                    source: Source {
                        kind: SourceKind::Import,
                        id: asset,
                    },
                    asset_id: asset,
                    series: part,
                }],
                now,
            )
            .await?;
        anyhow::ensure!(
            written.over_limit + written.too_old + written.in_future == 0,
            "samples refused: {written:?}"
        );
        batches += 1;
    }
    let write_s = (
        write_wall.elapsed().as_secs_f64(),
        cpu_seconds() - write_cpu,
    );
    let (seal_wall, seal_cpu) = (Instant::now(), cpu_seconds());
    history.seal().await;
    let seal_s = (seal_wall.elapsed().as_secs_f64(), cpu_seconds() - seal_cpu);
    let (compact_wall, compact_cpu) = (Instant::now(), cpu_seconds());
    history.compact().await;
    let compact_s = (
        compact_wall.elapsed().as_secs_f64(),
        cpu_seconds() - compact_cpu,
    );
    let stats = store.history_stats().await?;
    store.close().await;
    let rate = |seconds: f64| samples as f64 / seconds.max(1e-9);
    let json = serde_json::json!({
        "samples": samples,
        "series": series.len(),
        "batches": batches,
        "parse_wall_s": parse_s.0, "parse_cpu_s": parse_s.1,
        "write_wall_s": write_s.0, "write_cpu_s": write_s.1,
        "seal_wall_s": seal_s.0, "seal_cpu_s": seal_s.1,
        "compact_wall_s": compact_s.0, "compact_cpu_s": compact_s.1,
        "write_samples_per_cpu_s": rate(write_s.1),
        "ingest_samples_per_cpu_s": rate(write_s.1 + seal_s.1 + compact_s.1),
        "ingest_samples_per_wall_s": rate(write_s.0 + seal_s.0 + compact_s.0),
        "chunk_samples": stats.chunk_samples,
        "chunk_bytes": stats.chunk_bytes,
        "chunks": stats.chunks,
        "rollup_points": stats.rollup_points,
        "rollup_bytes": stats.rollup_bytes,
        "buffered_samples": stats.buffered_samples,
    });
    println!("{json}");
    Ok(())
}
