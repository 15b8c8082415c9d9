//! Metric history endpoints: range queries, the series a selector matches, and the sources
//! over their cardinality limit.

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use pupitre_core::model::ROOT_ENTITY;
use pupitre_core::monitoring::exposition::Selector;
use pupitre_core::permission::{Domain, Level};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};

use super::views::rfc3339;
use crate::auth::Caller;
use crate::error::AppError;
use crate::extract::ApiQuery;
use crate::ops::metrics::{self, QueryText};
use crate::state::{AppState, now_ms};

type ApiResult<T> = Result<Json<T>, AppError>;

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct QueryParams {
    /// A selector: `name`, `name{label="x"}`, `{host="web1",check="PING"}`; matchers `=`,
    /// `!=`, `=~`, `!~`. Besides their own labels, series have `host`, `check` and `source`.
    pub query: String,
    /// RFC 3339 or Unix seconds; default: `end` minus `range`.
    pub start: Option<String>,
    /// RFC 3339 or Unix seconds; default: now.
    pub end: Option<String>,
    /// The span back from `end` when `start` is not given (`24h`, `7d`); default 1 h.
    pub range: Option<String>,
    /// Between points (`30s`, `5m`, `1h`); default: about 300 points.
    pub step: Option<String>,
    /// `avg` (default), `min`, `max`, `sum`, `count`, `last`, `rate`, `p95`, `quantile(0.99)`.
    pub aggregation: Option<String>,
    /// How far back each point looks; default: the step.
    pub window: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct SeriesView {
    pub id: i64,
    pub name: String,
    /// The series' labels with `host`, `check` and `source`.
    pub labels: std::collections::BTreeMap<String, String>,
    pub unit: String,
    /// `gauge`, `counter` or `rate`.
    pub kind: String,
    pub asset_id: i64,
    /// `check`, `agent` or `import`, and its id.
    pub source: String,
    pub source_id: i64,
}

impl From<&pupitre_store::metrics::SeriesRecord> for SeriesView {
    fn from(r: &pupitre_store::metrics::SeriesRecord) -> SeriesView {
        SeriesView {
            id: r.id,
            name: r.key.name().to_owned(),
            labels: metrics::labels_of(r).into_iter().collect(),
            unit: r.unit.clone(),
            kind: r.kind.key().to_owned(),
            asset_id: r.asset_id,
            source: r.source.kind.key().to_owned(),
            source_id: r.source.id,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct SeriesValues {
    #[serde(flatten)]
    pub series: SeriesView,
    /// `[unix seconds, "value"]` pairs, values as strings as Prometheus writes them (`NaN`,
    /// `+Inf`); a step without samples has no pair.
    #[schema(value_type = Vec<Vec<String>>)]
    pub values: Vec<(f64, String)>,
}

#[derive(Serialize, ToSchema)]
pub struct QueryAnswer {
    pub start: String,
    pub end: String,
    pub step_seconds: f64,
    pub aggregation: String,
    /// The history read: `raw`, `1m` or `1h`.
    pub tier: String,
    pub series: Vec<SeriesValues>,
}

#[utoipa::path(get, path = "/api/v1/metrics/query", tag = "metrics", params(QueryParams),
    responses((status = 200, body = QueryAnswer)))]
pub async fn query(
    State(st): State<AppState>,
    caller: Caller,
    ApiQuery(p): ApiQuery<QueryParams>,
) -> ApiResult<QueryAnswer> {
    let text = QueryText {
        query: &p.query,
        start: p.start.as_deref(),
        end: p.end.as_deref(),
        range: p.range.as_deref(),
        step: p.step.as_deref(),
        aggregation: p.aggregation.as_deref(),
        window: p.window.as_deref(),
    };
    let answer = metrics::query(&st, &caller, &text, now_ms()).await?;
    Ok(Json(QueryAnswer {
        start: rfc3339(answer.range.start),
        end: rfc3339(answer.range.end),
        step_seconds: answer.range.step as f64 / 1000.0,
        aggregation: answer.aggregation.to_string(),
        tier: match answer.tier_step {
            0 => "raw".to_owned(),
            step => format!("{}m", step / 60_000).replace("60m", "1h"),
        },
        series: answer
            .series
            .iter()
            .map(|s| SeriesValues {
                series: SeriesView::from(&s.record),
                values: s
                    .points
                    .iter()
                    .map(|&(t, v)| (t as f64 / 1000.0, metrics::value_text(v)))
                    .collect(),
            })
            .collect(),
    }))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SeriesParams {
    /// A selector, as for queries.
    #[serde(rename = "match")]
    pub selector: String,
}

#[utoipa::path(get, path = "/api/v1/metrics/series", tag = "metrics", params(SeriesParams),
    responses((status = 200, body = Vec<SeriesView>)))]
pub async fn series(
    State(st): State<AppState>,
    caller: Caller,
    ApiQuery(p): ApiQuery<SeriesParams>,
) -> ApiResult<Vec<SeriesView>> {
    let selector =
        Selector::parse(&p.selector).map_err(|e| AppError::invalid("match", e.to_string()))?;
    let found = metrics::select(&st, &caller, &selector).await?;
    Ok(Json(found.iter().map(SeriesView::from).collect()))
}

#[derive(Serialize, ToSchema)]
pub struct RefusedView {
    /// `check`, `agent` or `import`.
    pub source: String,
    pub source_id: i64,
    pub series: u64,
    pub refused: u64,
    pub refused_at: String,
    /// One refused series, `name{labels}`.
    pub example: String,
}

/// Sources that tried to write more series than their limit (administrators only: sources of
/// every entity are listed).
#[utoipa::path(get, path = "/api/v1/metrics/refused", tag = "metrics",
    responses((status = 200, body = Vec<RefusedView>)))]
pub async fn refused(State(st): State<AppState>, caller: Caller) -> ApiResult<Vec<RefusedView>> {
    if !caller
        .grants
        .allows(Domain::Administration, Level::Read, ROOT_ENTITY)
    {
        return Err(AppError::forbidden(
            "the sources of every entity are listed: this needs administration on the root entity",
        ));
    }
    let sources = st.store.refused_sources().await?;
    Ok(Json(
        sources
            .iter()
            .map(|s| RefusedView {
                source: s.source.kind.key().to_owned(),
                source_id: s.source.id,
                series: s.series,
                refused: s.refused,
                refused_at: rfc3339(s.refused_at),
                example: s.example.clone(),
            })
            .collect(),
    ))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ForecastParams {
    /// A selector, as for queries.
    pub query: String,
    /// The value whose crossing is foreseen (a disk's size, 90 for a percentage).
    pub threshold: f64,
    /// How far back the trend is fitted (`30d` by default; at most the history kept).
    pub range: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ForecastView {
    #[serde(flatten)]
    pub series: SeriesView,
    /// The trend, in the series' unit per day; absent with too few values.
    pub per_day: Option<f64>,
    /// When the trend reaches the threshold (RFC 3339), within two years; absent otherwise.
    pub reaches_at: Option<String>,
    /// Days from now until then.
    pub days: Option<f64>,
}

/// When each matching series' trend reaches a threshold: "disk full in 23 days". The trend is
/// a least-squares line through the hourly means over `range`, fitted through each day's
/// peak (or trough, for a threshold below) when the range covers three days or more.
#[utoipa::path(get, path = "/api/v1/metrics/forecast", tag = "metrics", params(ForecastParams),
    responses((status = 200, body = Vec<ForecastView>)))]
pub async fn forecast(
    State(st): State<AppState>,
    caller: Caller,
    ApiQuery(p): ApiQuery<ForecastParams>,
) -> ApiResult<Vec<ForecastView>> {
    if !p.threshold.is_finite() {
        return Err(AppError::invalid("threshold", "must be a finite number"));
    }
    let now = now_ms();
    let text = QueryText {
        query: &p.query,
        range: Some(p.range.as_deref().unwrap_or("30d")),
        step: Some("1h"),
        aggregation: Some("avg"),
        ..QueryText::default()
    };
    let answer = metrics::query(&st, &caller, &text, now).await?;
    Ok(Json(
        answer
            .series
            .iter()
            .map(|s| {
                let (t, v): (Vec<i64>, Vec<f64>) = s.points.iter().copied().unzip();
                let trend = pupitre_series::forecast::fit(&t, &v);
                let found = metrics::forecast(&s.points, p.threshold, now);
                ForecastView {
                    series: SeriesView::from(&s.record),
                    per_day: found.map(|f| f.per_day).or(trend.map(|t| t.per_day())),
                    reaches_at: found.map(|f| rfc3339(f.at)),
                    days: found.map(|f| (f.at - now) as f64 / 86_400_000.0),
                }
            })
            .collect(),
    ))
}

/// The current values of the checks the caller may read, in the Prometheus text format, for
/// a Prometheus to scrape (with a bearer token): `pupitre_check_state`,
/// `pupitre_check_last_run_timestamp_seconds`, and each check's last performance data under
/// the history's names, with `host`, `check` and `perfdata` labels.
#[utoipa::path(get, path = "/api/v1/metrics/current", tag = "metrics",
    responses((status = 200, content_type = "text/plain", body = String)))]
pub async fn current(State(st): State<AppState>, caller: Caller) -> Result<Response, AppError> {
    let text = metrics::exposition(&st, &caller).await?;
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response())
}

#[derive(OpenApi)]
#[openapi(paths(query, series, refused, forecast, current))]
pub struct MetricsDoc;
