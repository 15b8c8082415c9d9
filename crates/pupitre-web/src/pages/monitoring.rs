//! Supervision pages: the problems view with the tactical overview, the list of checks, a
//! host's checks, and a check with its history, "check now" and acknowledgement.

use std::collections::BTreeMap;

use askama::Template;
use askama_web::WebTemplate;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::Method;
use axum::response::IntoResponse;
use pupitre_core::monitoring::State as CheckState;
use pupitre_core::monitoring::check::HostState;
use pupitre_core::permission::Access;
use pupitre_core::permission::Domain::Monitoring;
use pupitre_core::permission::Level::{Operate, Read};
use pupitre_store::monitoring::CheckRecord;
use serde::Deserialize;

use super::{FormData, Frame, PageResult, perr, see_other};
use crate::api::views::rfc3339;
use crate::auth::Caller;
use crate::error::AppError;
use crate::extract::Id;
use crate::ops::PageParams;
use crate::ops::checks::{self, AckFields, CheckListParams};
use crate::routes::{RouteDef, page};
use crate::state::{AppState, now_ms};

/// How long ago, for a person: `42 s`, `7 min`, `3 h 05`, `2 d 4 h`.
pub(super) fn age(since: Option<i64>, now: i64) -> String {
    let Some(since) = since else {
        return String::new();
    };
    let s = (now - since).max(0) / 1000;
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min", s / 60),
        3600..86_400 => format!("{} h {:02}", s / 3600, s % 3600 / 60),
        _ => format!("{} d {} h", s / 86_400, s % 86_400 / 3600),
    }
}

/// One check as a table row.
pub struct Row {
    pub id: i64,
    pub asset_id: i64,
    pub asset: String,
    pub name: String,
    pub probe: String,
    /// `pending`, `ok`, `warning`, `critical`, `unknown`: the CSS class and the label key.
    pub state: &'static str,
    pub hard: bool,
    pub attempt: String,
    pub unreachable: bool,
    pub flapping: bool,
    pub acknowledged: bool,
    pub in_downtime: bool,
    pub since: String,
    pub output: String,
    /// The last 24 hours of its first series, as an inline SVG; empty without one.
    pub spark: String,
}

impl Row {
    fn of(r: &CheckRecord, acknowledged: bool, in_downtime: bool, now: i64) -> Row {
        let state = crate::api::monitoring::state_key(r);
        Row {
            id: r.check.id,
            asset_id: r.check.asset_id,
            asset: r.asset_name.clone(),
            name: r.check.definition.name.clone(),
            probe: r.check.definition.probe.kind().to_owned(),
            state,
            hard: r.status.hard,
            attempt: format!("{}/{}", r.status.attempt, r.status.max_attempts),
            unreachable: r.status.unreachable,
            flapping: r.status.flapping,
            acknowledged,
            in_downtime,
            since: age(r.status.last_change_at, now),
            output: r
                .last
                .as_ref()
                .map(|l| l.output.clone())
                .unwrap_or_default(),
            spark: String::new(),
        }
    }

    /// The catalogue key of the state's label.
    pub fn state_label(&self) -> String {
        format!("monitoring.state.{}", self.state)
    }

    /// Acknowledged and in-downtime problems are shown dimmed.
    pub fn handled(&self) -> bool {
        self.acknowledged || self.in_downtime
    }
}

/// Counts by state for one entity or site of the tactical overview.
pub struct Tally {
    pub label: String,
    pub critical: i64,
    pub warning: i64,
    pub unknown: i64,
    pub ok: i64,
    pub pending: i64,
    /// Problems acknowledged.
    pub handled: i64,
}

#[derive(Template, WebTemplate)]
#[template(path = "monitoring/problems.html")]
struct ProblemsPage {
    f: Frame,
    rows: Vec<Row>,
    /// The overview's tables: by entity, then by site.
    overview: Vec<(String, Vec<Tally>)>,
    totals: Tally,
    hide_handled: bool,
    state: String,
    q: String,
    refresh_s: u32,
}

#[derive(Debug, Default, Deserialize)]
struct ProblemFilter {
    /// `critical`, `warning` or `unknown`: only that state.
    state: Option<String>,
    q: Option<String>,
    /// `1`: hide acknowledged problems and those in downtime.
    unhandled: Option<String>,
}

async fn problems(
    State(st): State<AppState>,
    caller: Caller,
    Query(p): Query<ProblemFilter>,
) -> PageResult {
    let err = perr(&caller);
    let now = now_ms();
    let state = p.state.unwrap_or_default();
    let wanted = match state.as_str() {
        "" => None,
        s => Some(CheckState::from_key(s).ok_or_else(|| {
            err(AppError::invalid(
                "state",
                "must be critical, warning or unknown",
            ))
        })?),
    };
    let q = p.q.unwrap_or_default().trim().to_lowercase();
    let hide_handled = p.unhandled.as_deref() == Some("1");
    let list = checks::problems(&st, &caller).await.map_err(&err)?;
    let rows = list
        .iter()
        .filter(|p| wanted.is_none_or(|w| p.record.status.state == w))
        .filter(|p| !hide_handled || !(p.acknowledged || p.in_downtime))
        .filter(|p| {
            q.is_empty()
                || p.record.asset_name.to_lowercase().contains(&q)
                || p.record.check.definition.name.to_lowercase().contains(&q)
        })
        .map(|p| Row::of(&p.record, p.acknowledged, p.in_downtime, now))
        .collect();
    let rows = with_sparklines(&st, &caller, rows, now)
        .await
        .map_err(&err)?;
    let counts = checks::overview(&st, &caller).await.map_err(&err)?;
    let entities: BTreeMap<i64, String> = st
        .store
        .list_entities()
        .await
        .map_err(|e| err(e.into()))?
        .into_iter()
        .map(|e| (e.id, e.name))
        .collect();
    let sites: BTreeMap<i64, String> = st
        .store
        .list_sites(&caller.visible(pupitre_core::permission::Domain::Inventory))
        .await
        .map_err(|e| err(e.into()))?
        .into_iter()
        .map(|s| (s.id, s.name))
        .collect();
    let f = Frame::new(&caller, "/monitoring", "monitoring.problems");
    let empty = |label: String| Tally {
        label,
        critical: 0,
        warning: 0,
        unknown: 0,
        ok: 0,
        pending: 0,
        handled: 0,
    };
    let mut totals = empty(f.t("monitoring.all"));
    let mut by_entity: BTreeMap<i64, Tally> = BTreeMap::new();
    let mut by_site: BTreeMap<Option<i64>, Tally> = BTreeMap::new();
    for c in &counts {
        let entity = by_entity
            .entry(c.entity_id)
            .or_insert_with(|| empty(entities.get(&c.entity_id).cloned().unwrap_or_default()));
        let site = by_site.entry(c.site_id).or_insert_with(|| {
            empty(
                c.site_id
                    .and_then(|s| sites.get(&s).cloned())
                    .unwrap_or_else(|| f.t("monitoring.no_site")),
            )
        });
        for t in [entity, site, &mut totals] {
            match c.state {
                None => t.pending += c.count,
                Some(CheckState::Ok) => t.ok += c.count,
                Some(CheckState::Warning) => t.warning += c.count,
                Some(CheckState::Critical) => t.critical += c.count,
                Some(CheckState::Unknown) => t.unknown += c.count,
            }
            if c.acknowledged && c.state.is_some_and(|s| s != CheckState::Ok) {
                t.handled += c.count;
            }
        }
    }
    let overview = vec![
        (
            f.t("monitoring.by_entity"),
            by_entity.into_values().collect(),
        ),
        (f.t("monitoring.by_site"), by_site.into_values().collect()),
    ];
    Ok(ProblemsPage {
        f,
        rows,
        overview,
        totals,
        hide_handled,
        state,
        q,
        refresh_s: 30,
    }
    .into_response())
}

#[derive(Template, WebTemplate)]
#[template(path = "monitoring/checks.html")]
struct ChecksPage {
    f: Frame,
    rows: Vec<Row>,
    host: Option<HostView>,
    q: String,
    state: String,
    probe: String,
    next: Option<String>,
    /// The caller may schedule a downtime on the host shown.
    can_operate: bool,
    /// A host's graphs.
    history: Option<HistoryView>,
}

pub struct HostView {
    pub asset_id: i64,
    pub state: &'static str,
}

#[derive(Debug, Default, Deserialize)]
struct ListFilter {
    state: Option<String>,
    probe: Option<String>,
    q: Option<String>,
    cursor: Option<String>,
}

async fn list(
    State(st): State<AppState>,
    caller: Caller,
    Query(p): Query<ListFilter>,
) -> PageResult {
    let err = perr(&caller);
    let params = CheckListParams {
        asset_id: None,
        state: p.state.clone().filter(|s| !s.is_empty()),
        probe: p.probe.clone().filter(|s| !s.is_empty()),
        q: p.q.clone(),
        page: PageParams {
            limit: Some(200),
            cursor: p.cursor.clone(),
        },
    };
    let (records, next) = checks::list(&st, &caller, &params).await.map_err(&err)?;
    let now = now_ms();
    let rows = records
        .iter()
        .map(|r| Row::of(r, r.status.is_acknowledged(now), false, now))
        .collect();
    let rows = with_sparklines(&st, &caller, rows, now)
        .await
        .map_err(&err)?;
    let f = Frame::new(&caller, "/monitoring", "monitoring.checks");
    let next = next.map(|cursor| {
        let mut s = form_urlencoded::Serializer::new(String::new());
        for (k, v) in [("state", &p.state), ("probe", &p.probe), ("q", &p.q)] {
            if let Some(v) = v.as_ref().filter(|v| !v.is_empty()) {
                s.append_pair(k, v);
            }
        }
        s.append_pair("cursor", &cursor);
        format!("/monitoring/checks?{}", s.finish())
    });
    Ok(ChecksPage {
        f,
        rows,
        host: None,
        q: p.q.unwrap_or_default(),
        state: p.state.unwrap_or_default(),
        probe: p.probe.unwrap_or_default(),
        next,
        history: None,
        can_operate: false,
    }
    .into_response())
}

async fn host(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
    Query(d): Query<PageQuery>,
) -> PageResult {
    let err = perr(&caller);
    let now = now_ms();
    let period = d.period(now).map_err(&err)?;
    let asset = crate::ops::assets::get(&st, &caller, id, Read)
        .await
        .map_err(&err)?;
    let params = CheckListParams {
        asset_id: Some(id),
        page: PageParams {
            limit: Some(500),
            cursor: None,
        },
        ..CheckListParams::default()
    };
    let (records, _) = checks::list(&st, &caller, &params).await.map_err(&err)?;
    let host = records
        .iter()
        .find(|r| r.check.host_check)
        .map(|r| HostView {
            asset_id: id,
            state: HostState::of(&r.status).key(),
        });
    let rows = records
        .iter()
        .map(|r| Row::of(r, r.status.is_acknowledged(now), false, now))
        .collect();
    let rows = with_sparklines(&st, &caller, rows, now)
        .await
        .map_err(&err)?;
    let mut f = Frame::new(&caller, "/monitoring", "monitoring.host");
    f.title.clone_from(&asset.name);
    let charts = crate::ops::metrics::charts(
        &st,
        &caller,
        pupitre_store::metrics::SeriesFilter {
            asset_id: Some(id),
            ..pupitre_store::metrics::SeriesFilter::default()
        },
        &period,
        12,
        now,
    )
    .await
    .map_err(&err)?;
    // Each check's last performance data gives its series' thresholds.
    let perfdata: Vec<_> = records
        .iter()
        .flat_map(|r| {
            let text = r.last.as_ref().map_or("", |l| l.perfdata.as_str());
            pupitre_core::monitoring::perfdata::parse_perfdata(text).0
        })
        .collect();
    let history = Some(history_view(
        &period,
        chart_views(&f, &charts, &perfdata, &[], &period, now),
    ));
    Ok(ChecksPage {
        history,
        f,
        rows,
        host: host.or(Some(HostView {
            asset_id: id,
            state: "none",
        })),
        q: String::new(),
        state: String::new(),
        probe: String::new(),
        next: None,
        can_operate: caller.grants.allows(Monitoring, Operate, asset.entity_id),
    }
    .into_response())
}

/// The rows with the sparkline of their first series (the first 500 rows).
async fn with_sparklines(
    st: &AppState,
    caller: &Caller,
    mut rows: Vec<Row>,
    now: i64,
) -> Result<Vec<Row>, crate::error::AppError> {
    let ids: Vec<i64> = rows.iter().take(500).map(|r| r.id).collect();
    let mut lines = crate::ops::metrics::sparklines(st, caller, &ids, now).await?;
    for row in &mut rows {
        if let Some(points) = lines.remove(&row.id) {
            row.spark = pupitre_draw::sparkline(&points, now - 24 * 3_600_000, now, 90 * 60_000);
        }
    }
    Ok(rows)
}

/// One event in a check's history.
pub struct EventRow {
    pub at: String,
    pub kind: &'static str,
    pub state: &'static str,
    pub previous: &'static str,
    pub notify: bool,
    pub unreachable: bool,
    pub output: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "monitoring/check.html")]
struct CheckPage {
    f: Frame,
    row: Row,
    probe: String,
    schedule: String,
    thresholds: String,
    host_state: Option<&'static str>,
    last_run: String,
    duration_ms: i64,
    long_output: String,
    perfdata: String,
    ack: Option<(String, String, String)>,
    events: Vec<EventRow>,
    can_operate: bool,
    flap_percent: String,
    history: HistoryView,
    /// Series of this check that its limit refused: (how many, one of them, since when).
    refused: Option<(u64, String, String)>,
}

/// The graphs of a check or a host page, with the range picker's state.
pub struct HistoryView {
    pub ranges: Vec<&'static str>,
    pub period: String,
    pub custom_start: String,
    pub custom_end: String,
    pub charts: Vec<ChartView>,
}

pub struct ChartView {
    pub svg: String,
    /// "reaches 90 % around 2026-12-24 (+1.2 %/day)", or empty.
    pub forecast: String,
}

#[derive(Debug, Default, serde::Deserialize)]
pub struct PageQuery {
    pub done: Option<String>,
    pub range: Option<String>,
    pub start: Option<String>,
    pub end: Option<String>,
}

impl PageQuery {
    /// The period the page's charts show.
    fn period(&self, now: i64) -> Result<crate::ops::metrics::Period, crate::error::AppError> {
        crate::ops::metrics::Period::of(
            self.range.as_deref(),
            self.start.as_deref(),
            self.end.as_deref(),
            now,
        )
    }
}

/// Bands for a Nagios range at `level`: the values that alert.
fn bands(
    range: &pupitre_core::monitoring::range::Range,
    level: &str,
) -> Vec<pupitre_draw::ChartBand> {
    let band = |from: f64, to: f64| pupitre_draw::ChartBand {
        from,
        to,
        level: level.to_owned(),
    };
    if range.alerts_inside() {
        vec![band(range.start(), range.end())]
    } else {
        [
            (range.start() > f64::NEG_INFINITY).then(|| band(f64::NEG_INFINITY, range.start())),
            (range.end() < f64::INFINITY).then(|| band(range.end(), f64::INFINITY)),
        ]
        .into_iter()
        .flatten()
        .collect()
    }
}

/// The charts of `charts`, with the thresholds of the matching performance data as bands,
/// `events` as markers and, where a critical threshold lies ahead of a gauge's trend, when
/// it will be reached.
fn chart_views(
    f: &Frame,
    charts: &[crate::ops::metrics::SeriesChart],
    perfdata: &[pupitre_core::monitoring::perfdata::PerfDatum],
    events: &[pupitre_draw::ChartMarker],
    period: &crate::ops::metrics::Period,
    now: i64,
) -> Vec<ChartView> {
    charts
        .iter()
        .map(|c| {
            let label = c.record.key.label("perfdata").unwrap_or_default();
            let datum = perfdata.iter().find(|d| d.label == label);
            let mut chart_bands = Vec::new();
            let mut ceiling = None;
            if let Some(d) = datum {
                if let Some(w) = &d.warning {
                    chart_bands.extend(bands(w, "warning"));
                }
                if let Some(c) = &d.critical {
                    chart_bands.extend(bands(c, "critical"));
                    if !c.alerts_inside() && c.end().is_finite() {
                        ceiling = Some(c.end());
                    }
                }
            }
            let forecast = ceiling
                .filter(|_| c.record.kind == pupitre_series::series::Kind::Gauge)
                .and_then(|threshold| crate::ops::metrics::forecast(&c.points, threshold, now));
            let title = match &c.record.check_name {
                Some(check) => format!("{} — {check} — {}", c.record.asset_name, c.record.key),
                None => format!("{} — {}", c.record.asset_name, c.record.key),
            };
            let chart = pupitre_draw::Chart {
                title,
                unit: c.record.unit.clone(),
                start: period.start,
                end: period.end,
                gap: c.step * 3,
                lines: vec![pupitre_draw::ChartLine {
                    label: c.record.key.to_string(),
                    points: c.points.clone(),
                }],
                bands: chart_bands,
                markers: events.to_vec(),
                trend: forecast.map(|fc| (fc.from, (fc.at, fc.threshold))),
                empty_text: f.t("monitoring.no_data"),
            };
            ChartView {
                svg: pupitre_draw::without_style(&pupitre_draw::line_chart(&chart)),
                forecast: forecast.map_or_else(String::new, |fc| {
                    format!(
                        "{} {}{} {} {} ({:+.3}{}/{})",
                        f.t("monitoring.forecast_reaches"),
                        fc.threshold,
                        c.record.unit,
                        f.t("monitoring.forecast_around"),
                        &rfc3339(fc.at)[..10],
                        fc.per_day,
                        c.record.unit,
                        f.t("monitoring.forecast_day"),
                    )
                }),
            }
        })
        .collect()
}

fn history_view(period: &crate::ops::metrics::Period, charts: Vec<ChartView>) -> HistoryView {
    let custom = period.key == "custom";
    HistoryView {
        ranges: crate::ops::metrics::RANGES
            .iter()
            .map(|(k, _)| *k)
            .collect(),
        period: period.key.clone(),
        custom_start: if custom {
            rfc3339(period.start)
        } else {
            String::new()
        },
        custom_end: if custom {
            rfc3339(period.end)
        } else {
            String::new()
        },
        charts,
    }
}

async fn check(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
    Query(d): Query<PageQuery>,
) -> PageResult {
    let err = perr(&caller);
    let r = checks::get(&st, &caller, id, Read).await.map_err(&err)?;
    let events = checks::events(
        &st,
        &caller,
        id,
        &PageParams {
            limit: Some(100),
            cursor: None,
        },
    )
    .await
    .map_err(&err)?;
    let now = now_ms();
    let mut f =
        Frame::new(&caller, "/monitoring", "monitoring.check").with_flash(d.done.as_deref());
    let def = &r.check.definition;
    f.title = format!("{} — {}", r.asset_name, def.name);
    let probe = crate::ops::checks::ProbeFields::from(&def.probe);
    let thresholds = [
        def.thresholds.warning.map(|w| format!("w {w}")),
        def.thresholds.critical.map(|c| format!("c {c}")),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(" · ");
    let last = r.last.clone().unwrap_or_default();
    let period = d.period(now).map_err(&err)?;
    let charts = crate::ops::metrics::charts(
        &st,
        &caller,
        pupitre_store::metrics::SeriesFilter {
            source: Some(pupitre_store::metrics::Source {
                kind: pupitre_store::metrics::SourceKind::Check,
                id,
            }),
            ..pupitre_store::metrics::SeriesFilter::default()
        },
        &period,
        8,
        now,
    )
    .await
    .map_err(&err)?;
    let markers: Vec<pupitre_draw::ChartMarker> = events
        .iter()
        .filter(|e| (period.start..=period.end).contains(&e.at))
        .map(|e| pupitre_draw::ChartMarker {
            at: e.at,
            state: e.state.key().to_owned(),
            label: format!(
                "{} {}: {}",
                rfc3339(e.at),
                e.state.key().to_uppercase(),
                e.output
            ),
        })
        .collect();
    let perfdata = pupitre_core::monitoring::perfdata::parse_perfdata(&last.perfdata).0;
    let history = history_view(
        &period,
        chart_views(&f, &charts, &perfdata, &markers, &period, now),
    );
    let refused = st
        .store
        .refused_sources()
        .await
        .map_err(|e| err(e.into()))?
        .into_iter()
        .find(|r| {
            r.source
                == pupitre_store::metrics::Source {
                    kind: pupitre_store::metrics::SourceKind::Check,
                    id,
                }
        })
        .map(|r| (r.refused, r.example, rfc3339(r.refused_at)));
    Ok(CheckPage {
        history,
        refused,
        row: Row::of(&r, r.status.is_acknowledged(now), false, now),
        probe: serde_json::to_string(&probe).unwrap_or_default(),
        schedule: format!(
            "{} s / {} s · {} s · ×{}",
            def.interval_s, def.retry_interval_s, def.timeout_s, def.max_attempts
        ),
        thresholds,
        host_state: r.check.host_check.then(|| HostState::of(&r.status).key()),
        last_run: r.last.as_ref().map(|l| rfc3339(l.at)).unwrap_or_default(),
        duration_ms: last.duration_ms,
        long_output: last.long_output,
        perfdata: last.perfdata,
        ack: r.status.acknowledgement.as_ref().map(|a| {
            (
                a.author.clone(),
                a.comment.clone(),
                a.expires_at.map(rfc3339).unwrap_or_default(),
            )
        }),
        events: events
            .iter()
            .map(|e| EventRow {
                at: rfc3339(e.at),
                kind: e.kind.key(),
                state: e.state.key(),
                previous: e.previous_state.map_or("", |s| s.key()),
                notify: e.notify,
                unreachable: e.unreachable,
                output: e.output.clone(),
            })
            .collect(),
        can_operate: caller.grants.allows(Monitoring, Operate, def.entity_id),
        flap_percent: format!("{:.0}", r.status.flap_percent()),
        f,
    }
    .into_response())
}

async fn run(State(st): State<AppState>, caller: Caller, Id(id): Id) -> PageResult {
    checks::run_now(&st, &caller, id)
        .await
        .map_err(perr(&caller))?;
    Ok(see_other(&format!("/monitoring/checks/{id}?done=ran")))
}

async fn acknowledge(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
    body: Bytes,
) -> PageResult {
    let form = FormData::parse(&body);
    let expires = form.int("expires_in_minutes").map_err(perr(&caller))?;
    checks::acknowledge(
        &st,
        &caller,
        id,
        AckFields {
            comment: form.get("comment"),
            expires_in_minutes: expires,
        },
    )
    .await
    .map_err(perr(&caller))?;
    Ok(see_other(&format!("/monitoring/checks/{id}?done=saved")))
}

async fn unacknowledge(State(st): State<AppState>, caller: Caller, Id(id): Id) -> PageResult {
    checks::unacknowledge(&st, &caller, id)
        .await
        .map_err(perr(&caller))?;
    Ok(see_other(&format!("/monitoring/checks/{id}?done=saved")))
}

pub fn routes() -> Vec<RouteDef> {
    let read = Access::Domain(Monitoring, Read);
    let operate = Access::Domain(Monitoring, Operate);
    vec![
        page(Method::GET, "/monitoring", read, problems),
        page(Method::GET, "/monitoring/checks", read, list),
        page(Method::GET, "/monitoring/checks/{id}", read, check),
        page(Method::GET, "/monitoring/hosts/{id}", read, host),
        page(Method::POST, "/monitoring/checks/{id}/run", operate, run),
        page(
            Method::POST,
            "/monitoring/checks/{id}/acknowledge",
            operate,
            acknowledge,
        ),
        page(
            Method::POST,
            "/monitoring/checks/{id}/unacknowledge",
            operate,
            unacknowledge,
        ),
    ]
}
