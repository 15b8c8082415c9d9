//! `pupitre metrics …`: load an OpenMetrics file into the metric history (a backfill, as
//! `promtool tsdb create-blocks-from openmetrics` does for Prometheus), and print the history's
//! sizes.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, bail};
use clap::Subcommand;
use pupitre_core::monitoring::exposition::{self, Format, Limits, Sample};
use pupitre_monitor::history::{History, HistoryConfig, SeriesData, SourceData, exposition_series};
use pupitre_series::series::SeriesKey;
use pupitre_store::Store;
use pupitre_store::metrics::{NewSeries, Source, SourceKind};

use crate::config::Config;

/// The largest file `import` reads.
const LARGEST_FILE: u64 = 4 << 30;

#[derive(Subcommand, Debug)]
pub enum MetricsCommand {
    /// Load an OpenMetrics file (every sample with its timestamp, ending with `# EOF`) into
    /// the history of an asset.
    ///
    /// Samples are written in the file's order, in durable batches; after each one a line
    /// `durable <samples so far>` is printed, so a run that is stopped can be resumed past
    /// them (a sample written twice is the same sample). Samples may be as old as the
    /// longest tier keeps (2 years by default): raw samples older than the raw retention
    /// are summed up into the tiers at compaction and expire at the next upkeep.
    Import {
        /// The file; `-` reads standard input.
        file: PathBuf,
        /// The asset the series belong to (its id): who may read them.
        #[arg(long)]
        asset: i64,
        /// Samples per durable batch.
        #[arg(long, default_value_t = 100_000)]
        batch: usize,
        /// Series this import may create (default: `history_series_per_source`).
        #[arg(long)]
        series_limit: Option<u64>,
        /// Leave sealing and compaction to the server's upkeep.
        #[arg(long)]
        no_compact: bool,
    },
    /// Print the history's sizes: series, buffered batches, chunks, rollups, bytes.
    Stats,
}

pub async fn run(
    cfg: &Config,
    store: Arc<dyn Store>,
    command: MetricsCommand,
) -> anyhow::Result<()> {
    match command {
        MetricsCommand::Import {
            file,
            asset,
            batch,
            series_limit,
            no_compact,
        } => {
            store
                .get_asset(asset)
                .await
                .with_context(|| format!("--asset: asset {asset} not found"))?;
            let config = HistoryConfig {
                series_per_source: series_limit.unwrap_or(cfg.history_series_per_source),
                retention: pupitre_store::metrics::Retention {
                    raw: cfg.history_retention.hour,
                    ..cfg.history_retention
                },
                ..HistoryConfig::default()
            };
            import(
                History::new(store, config),
                &file,
                asset,
                batch.max(1),
                !no_compact,
            )
            .await
        }
        MetricsCommand::Stats => {
            let s = store.history_stats().await?;
            let per = |bytes: u64, n: u64| if n == 0 { 0.0 } else { bytes as f64 / n as f64 };
            println!("series {}", s.series);
            println!(
                "buffered {} batches, {} samples, {} bytes",
                s.buffered_batches, s.buffered_samples, s.buffered_bytes
            );
            println!(
                "chunks {}, {} samples, {} bytes ({:.3} bytes/sample)",
                s.chunks,
                s.chunk_samples,
                s.chunk_bytes,
                per(s.chunk_bytes, s.chunk_samples)
            );
            println!(
                "rollups {} rows, {} points, {} bytes ({:.3} bytes/point)",
                s.rollup_rows,
                s.rollup_points,
                s.rollup_bytes,
                per(s.rollup_bytes, s.rollup_points)
            );
            Ok(())
        }
    }
}

/// One batch of parsed samples, by series, in the order they came.
#[derive(Default)]
struct Pending {
    series: Vec<SeriesData>,
    index: HashMap<SeriesKey, usize>,
    samples: usize,
}

impl Pending {
    fn push(&mut self, series: &NewSeries, at: i64, value: f64) {
        let i = *self.index.entry(series.key.clone()).or_insert_with(|| {
            self.series.push(SeriesData {
                series: series.clone(),
                timestamps: Vec::new(),
                values: Vec::new(),
            });
            self.series.len() - 1
        });
        self.series[i].timestamps.push(at);
        self.series[i].values.push(value);
        self.samples += 1;
    }
}

async fn import(
    history: Arc<History>,
    file: &PathBuf,
    asset: i64,
    batch: usize,
    compact: bool,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let body = read(file)?;
    // Parsing runs on a thread of its own and hands over full batches, so that it overlaps
    // the writes.
    let (batches, mut received) = tokio::sync::mpsc::channel::<Pending>(2);
    let parser = std::thread::spawn(move || -> anyhow::Result<u64> {
        let mut pending = Pending::default();
        let mut kinds: HashMap<String, NewSeries> = HashMap::new();
        let mut problem: Option<anyhow::Error> = None;
        let mut parsed = 0_u64;
        let limits = Limits {
            max_samples: usize::MAX,
            max_line_bytes: 1 << 20,
        };
        exposition::parse_each(&body, Format::OpenMetrics, limits, |exposition, sample| {
            if problem.is_some() {
                return;
            }
            match series_of(&mut kinds, exposition, &sample) {
                Ok((series, at)) => {
                    pending.push(series, at, sample.value);
                    parsed += 1;
                    if pending.samples >= batch
                        && batches.blocking_send(std::mem::take(&mut pending)).is_err()
                    {
                        problem = Some(anyhow::anyhow!("the writer stopped"));
                    }
                }
                Err(e) => problem = Some(e),
            }
        })
        .map_err(|e| anyhow::anyhow!("line {}: {}", e.line, e.problem))?;
        if let Some(e) = problem {
            return Err(e);
        }
        if pending.samples > 0 {
            let _ = batches.blocking_send(pending);
        }
        Ok(parsed)
    });
    let source = Source {
        kind: SourceKind::Import,
        id: asset,
    };
    let mut durable = 0_u64;
    let mut refused = 0_u64;
    let stdout = std::io::stdout();
    while let Some(pending) = received.recv().await {
        let data = [SourceData {
            source,
            asset_id: asset,
            series: pending.series,
        }];
        let written = history.write(&data, pupitre_web::state::now_ms()).await?;
        durable += written.samples;
        refused += written.over_limit + written.too_old + written.in_future;
        let mut out = stdout.lock();
        writeln!(out, "durable {durable}")?;
        out.flush()?;
    }
    let parsed = match parser.join() {
        Ok(result) => result?,
        Err(_) => bail!("the parser panicked"),
    };
    let written_in = started.elapsed().as_secs_f64();
    eprintln!(
        "{parsed} samples read, {durable} written, {refused} refused, in {written_in:.2} s ({:.0} samples/s)",
        durable as f64 / written_in.max(1e-9)
    );
    if compact {
        let sealing = Instant::now();
        history.seal().await;
        let sealed_in = sealing.elapsed().as_secs_f64();
        let compacting = Instant::now();
        history.compact().await;
        eprintln!(
            "sealed in {sealed_in:.2} s, compacted in {:.2} s; {:.0} samples/s in all",
            compacting.elapsed().as_secs_f64(),
            durable as f64 / started.elapsed().as_secs_f64().max(1e-9)
        );
    }
    if refused > 0 {
        bail!(
            "{refused} samples were refused (over the series limit, or out of the time range kept)"
        );
    }
    Ok(())
}

fn read(file: &PathBuf) -> anyhow::Result<Vec<u8>> {
    let mut body = Vec::new();
    if file.as_os_str() == "-" {
        std::io::stdin()
            .take(LARGEST_FILE + 1)
            .read_to_end(&mut body)?;
    } else {
        std::fs::File::open(file)
            .with_context(|| format!("cannot open {}", file.display()))?
            .take(LARGEST_FILE + 1)
            .read_to_end(&mut body)
            .with_context(|| format!("cannot read {}", file.display()))?;
    }
    if body.len() as u64 > LARGEST_FILE {
        bail!("{}: larger than {} GiB", file.display(), LARGEST_FILE >> 30);
    }
    Ok(body)
}

/// The series of a sample (named once per name and label set) and its timestamp.
fn series_of<'k>(
    known: &'k mut HashMap<String, NewSeries>,
    exposition: &exposition::Exposition,
    sample: &Sample,
) -> anyhow::Result<(&'k NewSeries, i64)> {
    let Some(at) = sample.timestamp_ms else {
        bail!("{sample}: no timestamp (an import needs one on every sample)");
    };
    let text = sample.to_string();
    if !known.contains_key(&text) {
        let series = exposition_series(exposition, sample).with_context(|| format!("{sample}"))?;
        known.insert(text.clone(), series);
    }
    Ok((&known[&text], at))
}
