//! Range queries over the metric history: a selector (`name{label="x"}`), a time range, a step
//! and an aggregation, answered from the coarsest tier that can.
//!
//! Besides its own labels, every series can be selected by `host` (its asset's name now),
//! `check` (its check's name now) and `source` (`check`, `agent`, `import`).

use std::collections::HashMap;

use pupitre_core::monitoring::exposition::{Sample, Selector};
use pupitre_core::permission::Domain;
use pupitre_series::query::{self, Aggregation, Range};
use pupitre_store::metrics::{HOUR, MINUTE, Retention, SeriesFilter, SeriesRecord};

use crate::auth::Caller;
use crate::error::AppError;
use crate::state::AppState;

/// The most series one query reads.
pub const MOST_SERIES: usize = 10_000;

/// The most points one answer holds, all series together.
pub const MOST_VALUES: i64 = 5_000_000;

/// Points a query without a step gets, about.
const DEFAULT_POINTS: i64 = 300;

/// A query as the API and the pages receive it: text, checked here.
#[derive(Clone, Debug, Default)]
pub struct QueryText<'a> {
    pub query: &'a str,
    /// RFC 3339 or Unix seconds; default: `end` minus `range`.
    pub start: Option<&'a str>,
    /// RFC 3339 or Unix seconds; default: now.
    pub end: Option<&'a str>,
    /// A duration (`24h`) that sets `start` when it is not given; default 1 h.
    pub range: Option<&'a str>,
    /// A duration; default: the range divided into about 300 points.
    pub step: Option<&'a str>,
    /// Default `avg`.
    pub aggregation: Option<&'a str>,
    /// How far back each point looks; default: the step.
    pub window: Option<&'a str>,
}

/// One series' answer.
#[derive(Clone, Debug)]
pub struct SeriesAnswer {
    pub record: SeriesRecord,
    pub points: Vec<(i64, f64)>,
}

#[derive(Clone, Debug)]
pub struct Answer {
    pub range: Range,
    pub aggregation: Aggregation,
    /// The step of the tier read: 0 for raw samples.
    pub tier_step: i64,
    pub series: Vec<SeriesAnswer>,
}

/// Parses `30s`, `5m`, `2h`, `7d`, `1w`, `250ms`, or a number of seconds, into milliseconds.
pub fn duration(field: &str, text: &str) -> Result<i64, AppError> {
    let text = text.trim();
    let bad = || {
        AppError::invalid(
            field,
            format!("{text:?} is not a duration (250ms, 30s, 5m, 2h, 7d, 1w, or seconds)"),
        )
    };
    let (number, unit) = match text.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => text.split_at(i),
        None => (text, "s"),
    };
    let factor: f64 = match unit {
        "ms" => 1.0,
        "s" => 1_000.0,
        "m" => 60_000.0,
        "h" => 3_600_000.0,
        "d" => 86_400_000.0,
        "w" => 604_800_000.0,
        "y" => 365.0 * 86_400_000.0,
        _ => return Err(bad()),
    };
    let value: f64 = number.parse().map_err(|_| bad())?;
    let ms = value * factor;
    if !ms.is_finite() || ms <= 0.0 || ms > 1e15 {
        return Err(bad());
    }
    Ok(ms.round() as i64)
}

/// Parses an RFC 3339 time or Unix seconds (with decimals) into milliseconds.
pub fn instant(field: &str, text: &str) -> Result<i64, AppError> {
    let text = text.trim();
    if let Ok(seconds) = text.parse::<f64>()
        && seconds.is_finite()
        && seconds.abs() < 1e13
    {
        return Ok((seconds * 1000.0).round() as i64);
    }
    text.parse::<jiff::Timestamp>()
        .map(|t| t.as_millisecond())
        .map_err(|_| {
            AppError::invalid(
                field,
                format!("{text:?} is not an RFC 3339 time (2026-12-01T22:00:00Z) or Unix seconds"),
            )
        })
}

/// A step that gives about `DEFAULT_POINTS` points over `span`, rounded up to a whole
/// number of seconds, minutes or hours so that it lines up with the tiers.
pub fn default_step(span: i64) -> i64 {
    let raw = (span / DEFAULT_POINTS).max(1_000);
    let unit = if raw >= HOUR {
        HOUR
    } else if raw >= MINUTE {
        MINUTE
    } else {
        1_000
    };
    (raw + unit - 1) / unit * unit
}

/// The series the caller may read that `selector` matches, at most [`MOST_SERIES`].
pub async fn select(
    st: &AppState,
    caller: &Caller,
    selector: &Selector,
) -> Result<Vec<SeriesRecord>, AppError> {
    let name = selector.name().map(str::to_owned).or_else(|| {
        selector
            .matchers()
            .iter()
            .find(|m| {
                m.label == "__name__"
                    && m.op == pupitre_core::monitoring::exposition::MatchOp::Equal
            })
            .map(|m| m.value.clone())
    });
    let found = st
        .store
        .find_series(&SeriesFilter {
            visible: caller.visible(Domain::Monitoring),
            name,
            limit: 1_000_000,
            ..SeriesFilter::default()
        })
        .await?;
    let mut matching: Vec<SeriesRecord> = found
        .into_iter()
        .filter(|record| selector.matches(&as_sample(record)))
        .collect();
    if matching.len() > MOST_SERIES {
        return Err(AppError::invalid(
            "query",
            format!(
                "{} series match; a query reads {MOST_SERIES} at most: add matchers",
                matching.len()
            ),
        ));
    }
    matching.sort_by_key(|r| r.id);
    Ok(matching)
}

/// The series as a sample for the selector: its labels, with `host`, `check` and `source`.
fn as_sample(record: &SeriesRecord) -> Sample {
    let mut labels: Vec<(String, String)> = record.key.labels().to_vec();
    let mut add = |name: &str, value: &str| {
        if !labels.iter().any(|(n, _)| n == name) {
            labels.push((name.to_owned(), value.to_owned()));
        }
    };
    add("host", &record.asset_name);
    if let Some(check) = &record.check_name {
        add("check", check);
    }
    add("source", record.source.kind.key());
    labels.sort();
    Sample {
        name: record.key.name().to_owned(),
        labels,
        value: 0.0,
        timestamp_ms: None,
    }
}

/// The labels a series answers with: its own and `host`, `check` and `source`.
pub fn labels_of(record: &SeriesRecord) -> Vec<(String, String)> {
    as_sample(record).labels
}

/// Checks a query's text and answers it.
pub async fn query(
    st: &AppState,
    caller: &Caller,
    text: &QueryText<'_>,
    now: i64,
) -> Result<Answer, AppError> {
    let selector =
        Selector::parse(text.query).map_err(|e| AppError::invalid("query", e.to_string()))?;
    let end = text
        .end
        .map(|e| instant("end", e))
        .transpose()?
        .unwrap_or(now);
    let start = match (text.start, text.range) {
        (Some(start), _) => instant("start", start)?,
        (None, Some(range)) => end.saturating_sub(duration("range", range)?),
        (None, None) => end - HOUR,
    };
    if end < start {
        return Err(AppError::invalid("end", "must not be before start"));
    }
    let step = match text.step {
        Some(step) => duration("step", step)?,
        None => default_step(end - start),
    };
    let window = text.window.map(|w| duration("window", w)).transpose()?;
    let aggregation =
        Aggregation::parse(text.aggregation.unwrap_or("avg")).map_err(|e| query_error(&e))?;
    let range = Range::new(start, end, step, window).map_err(|e| query_error(&e))?;
    let series = select(st, caller, &selector).await?;
    if series.is_empty() {
        return Err(AppError::not_found(&format!("series matching {selector}")));
    }
    let points = (end - start) / step + 1;
    if points.saturating_mul(series.len() as i64) > MOST_VALUES {
        return Err(AppError::invalid(
            "step",
            format!(
                "{} series of {points} points is more than {MOST_VALUES} values: take a longer step or fewer series",
                series.len()
            ),
        ));
    }
    evaluate(st, series, range, aggregation, now).await
}

/// How long this server's history keeps each tier.
fn retention(st: &AppState) -> Retention {
    st.history
        .as_ref()
        .map_or_else(Retention::default, |h| h.config().retention)
}

fn query_error(e: &query::QueryError) -> AppError {
    let text = e.to_string();
    match text.split_once(": ") {
        Some((field, message)) => AppError::invalid(field, message),
        None => AppError::bad_request(text),
    }
}

/// Answers `range` for `series` from the coarsest tier this server's retention keeps.
pub async fn evaluate(
    st: &AppState,
    series: Vec<SeriesRecord>,
    range: Range,
    aggregation: Aggregation,
    now: i64,
) -> Result<Answer, AppError> {
    let retention = retention(st);
    let tiers = retention.tiers();
    let Some(tier) = query::choose_tier(&tiers, &range, aggregation, now) else {
        let kept = if aggregation.from_rollups() {
            format!("{} days", retention.hour / pupitre_store::metrics::DAY)
        } else {
            format!(
                "{} days of raw samples, which quantiles need",
                retention.raw / pupitre_store::metrics::DAY
            )
        };
        return Err(AppError::invalid(
            "start",
            format!("history is kept {kept}; start later"),
        ));
    };
    let ids: Vec<i64> = series.iter().map(|s| s.id).collect();
    let from = range.start.saturating_sub(range.window);
    let step = tiers[tier].step;
    let mut points: HashMap<i64, Vec<(i64, f64)>> = HashMap::new();
    if step == 0 {
        for samples in st.store.read_samples(&ids, from, range.end).await? {
            let values = query::evaluate(&samples.timestamps, &samples.values, &range, aggregation);
            points.insert(samples.series, values);
        }
    } else {
        for (id, rollups) in st.store.read_rollups(&ids, step, from, range.end).await? {
            let values = query::evaluate_rollups(&rollups, &range, aggregation)
                .map_err(|e| query_error(&e))?;
            points.insert(id, values);
        }
    }
    Ok(Answer {
        range,
        aggregation,
        tier_step: step,
        series: series
            .into_iter()
            .map(|record| SeriesAnswer {
                points: points.remove(&record.id).unwrap_or_default(),
                record,
            })
            .collect(),
    })
}

/// The ranges a page offers, with their length.
pub const RANGES: [(&str, i64); 6] = [
    ("1h", HOUR),
    ("6h", 6 * HOUR),
    ("24h", 24 * HOUR),
    ("7d", 7 * 24 * HOUR),
    ("30d", 30 * 24 * HOUR),
    ("1y", 365 * 24 * HOUR),
];

/// The time a page's charts show: one of [`RANGES`] back from now, or a custom start and end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Period {
    pub start: i64,
    pub end: i64,
    /// The range's name, or `custom`.
    pub key: String,
}

impl Period {
    /// From a page's `range`, `start` and `end` parameters; default the last 24 hours.
    pub fn of(
        range: Option<&str>,
        start: Option<&str>,
        end: Option<&str>,
        now: i64,
    ) -> Result<Period, AppError> {
        fn present(s: Option<&str>) -> Option<&str> {
            s.map(str::trim).filter(|s| !s.is_empty())
        }
        if let Some(start) = present(start) {
            let start = instant("start", start)?;
            let end = present(end)
                .map(|e| instant("end", e))
                .transpose()?
                .unwrap_or(now);
            if end <= start {
                return Err(AppError::invalid("end", "must be after start"));
            }
            return Ok(Period {
                start,
                end,
                key: "custom".to_owned(),
            });
        }
        let key = present(range).unwrap_or("24h");
        let Some(&(key, span)) = RANGES.iter().find(|(k, _)| *k == key) else {
            return Err(AppError::invalid(
                "range",
                format!("{key:?} is not one of 1h, 6h, 24h, 7d, 30d, 1y"),
            ));
        };
        Ok(Period {
            start: now - span,
            end: now,
            key: key.to_owned(),
        })
    }
}

/// A series over a period, ready to draw.
#[derive(Clone, Debug)]
pub struct SeriesChart {
    pub record: SeriesRecord,
    pub step: i64,
    pub points: Vec<(i64, f64)>,
}

/// The series of `filter` (at most `most`, by id) over `period`, averaged per step.
pub async fn charts(
    st: &AppState,
    caller: &Caller,
    mut filter: SeriesFilter,
    period: &Period,
    most: i64,
    now: i64,
) -> Result<Vec<SeriesChart>, AppError> {
    filter.visible = caller.visible(Domain::Monitoring);
    filter.limit = most;
    let series = st.store.find_series(&filter).await?;
    if series.is_empty() {
        return Ok(Vec::new());
    }
    let step = default_step(period.end - period.start);
    let range = Range::new(period.start, period.end, step, None).map_err(|e| query_error(&e))?;
    let answer = evaluate(st, series, range, Aggregation::Avg, now).await?;
    Ok(answer
        .series
        .into_iter()
        .map(|s| SeriesChart {
            record: s.record,
            step,
            points: s.points,
        })
        .collect())
}

/// When a series' trend over `points` reaches `threshold`, if it does within two years: the
/// fitted line from the first point to that time. Series with a daily rhythm are fitted
/// through their daily peaks (or troughs, for a threshold below).
pub fn forecast(points: &[(i64, f64)], threshold: f64, now: i64) -> Option<Forecast> {
    let (t, v): (Vec<i64>, Vec<f64>) = points.iter().copied().unzip();
    let (first, last) = (*t.first()?, *t.last()?);
    let rising = v
        .iter()
        .rev()
        .find(|v| v.is_finite())
        .is_some_and(|&v| v < threshold);
    let trend = if last - first >= 3 * 24 * HOUR {
        pupitre_series::forecast::fit_seasonal(&t, &v, 24 * HOUR, rising)
    } else {
        pupitre_series::forecast::fit(&t, &v)
    }?;
    let at = trend.crossing(threshold, now)?;
    (at - now <= 730 * 24 * HOUR).then(|| Forecast {
        threshold,
        at,
        per_day: trend.per_day(),
        from: (first, trend.at(first)),
    })
}

/// A threshold crossing foreseen.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Forecast {
    pub threshold: f64,
    /// When the trend reaches the threshold.
    pub at: i64,
    /// The trend, in the series' unit per day.
    pub per_day: f64,
    /// Where the drawn trend starts.
    pub from: (i64, f64),
}

/// A value as Prometheus writes it (`NaN`, `+Inf`, `-Inf`).
pub fn value_text(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_owned()
    } else if v == f64::INFINITY {
        "+Inf".to_owned()
    } else if v == f64::NEG_INFINITY {
        "-Inf".to_owned()
    } else {
        v.to_string()
    }
}

/// The current values of every check the caller may read, in the Prometheus text format
/// (0.0.4), for a Prometheus to scrape: each check's state, when it last ran, and its last
/// performance data under the names the history gives them, with `host`, `check` and
/// `perfdata` labels. Samples carry no timestamp: the scrape's time is theirs.
pub async fn exposition(st: &AppState, caller: &Caller) -> Result<String, AppError> {
    use std::fmt::Write as _;
    let filter = pupitre_store::monitoring::CheckFilter {
        visible: caller.visible(Domain::Monitoring),
        ..pupitre_store::monitoring::CheckFilter::default()
    };
    let checks = st
        .store
        .list_checks(
            &filter,
            pupitre_store::Page {
                after: None,
                limit: 100_000,
            },
        )
        .await?;
    let key = |name: &str,
               record: &pupitre_store::monitoring::CheckRecord,
               extra: Option<(&str, &str)>| {
        let mut labels = vec![
            ("host".to_owned(), record.asset_name.clone()),
            ("check".to_owned(), record.check.definition.name.clone()),
        ];
        if let Some((label, value)) = extra {
            labels.push((label.to_owned(), value.to_owned()));
        }
        pupitre_series::series::SeriesKey::new(name, labels).ok()
    };
    let mut out = String::new();
    out.push_str(
        "# HELP pupitre_check_state The check's current state: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.\n\
         # TYPE pupitre_check_state gauge\n",
    );
    for record in checks.iter().filter(|r| !r.status.is_pending()) {
        if let Some(key) = key("pupitre_check_state", record, None) {
            let _ = writeln!(out, "{key} {}", record.status.state.exit_code());
        }
    }
    out.push_str(
        "# HELP pupitre_check_last_run_timestamp_seconds When the check last ran.\n\
         # TYPE pupitre_check_last_run_timestamp_seconds gauge\n",
    );
    for record in &checks {
        if let (Some(last), Some(key)) = (
            &record.last,
            key("pupitre_check_last_run_timestamp_seconds", record, None),
        ) {
            let _ = writeln!(out, "{key} {}", last.at as f64 / 1000.0);
        }
    }
    // Performance data, grouped by name: the text format wants a name's lines together.
    let mut by_name: std::collections::BTreeMap<
        String,
        std::collections::BTreeMap<String, String>,
    > = std::collections::BTreeMap::new();
    for record in &checks {
        let Some(last) = &record.last else { continue };
        for datum in pupitre_core::monitoring::perfdata::parse_perfdata(&last.perfdata).0 {
            let Ok(series) = pupitre_monitor::history::perfdata_series(&datum) else {
                continue;
            };
            let name = series.key.name().to_owned();
            if let Some(key) = key(&name, record, Some(("perfdata", &datum.label))) {
                let value = datum.value.unwrap_or(f64::NAN);
                // A label printed twice by one plugin: its last value, once.
                by_name
                    .entry(name)
                    .or_default()
                    .insert(key.to_string(), value_text(value));
            }
        }
    }
    for (name, lines) in by_name {
        // A check's name could be a Pupitre metric of its own; the history's names are not
        // `pupitre_…`, so there is no clash with the lines above.
        let _ = writeln!(
            out,
            "# HELP {name} The last performance data of checks, by host, check and label.\n# TYPE {name} untyped"
        );
        for (key, value) in lines {
            let _ = writeln!(out, "{key} {value}");
        }
    }
    Ok(out)
}

/// The last 24 hours of the first series of each check of `checks`, in half-hour means, for
/// the sparklines of a list. Checks without series have none.
pub async fn sparklines(
    st: &AppState,
    caller: &Caller,
    checks: &[i64],
    now: i64,
) -> Result<HashMap<i64, Vec<(i64, f64)>>, AppError> {
    if checks.is_empty() {
        return Ok(HashMap::new());
    }
    let found = st
        .store
        .find_series(&SeriesFilter {
            visible: caller.visible(Domain::Monitoring),
            sources: Some((pupitre_store::metrics::SourceKind::Check, checks.to_vec())),
            limit: checks.len() as i64 * 16,
            ..SeriesFilter::default()
        })
        .await?;
    // The first series of each check (lowest id: its first performance datum).
    let mut first: HashMap<i64, SeriesRecord> = HashMap::new();
    for record in found {
        first.entry(record.source.id).or_insert(record);
    }
    let range = Range::new(now - 24 * HOUR, now, 30 * MINUTE, None).map_err(|e| query_error(&e))?;
    let answer = evaluate(
        st,
        first.into_values().collect(),
        range,
        Aggregation::Avg,
        now,
    )
    .await?;
    Ok(answer
        .series
        .into_iter()
        .map(|s| (s.record.source.id, s.points))
        .collect())
}
