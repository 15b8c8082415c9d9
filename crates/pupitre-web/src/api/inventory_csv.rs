//! Assets in bulk over HTTP: the streamed CSV or JSON export of any filtered list, the CSV
//! import, and the progress of an import that outlives its request.
//!
//! An import waits for its result until shortly before the server's request timeout; a
//! longer one answers `202 Accepted` with a job to poll. Jobs live in the memory of the
//! server that runs them (behind a load balancer, poll the same server) and are forgotten
//! an hour after they finish.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{RawQuery, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::{IntoParams, ToSchema};

use crate::auth::Caller;
use crate::error::AppError;
use crate::extract::{Id, parse_query};
use crate::ops::asset_csv::export::{Export, ExportFormat, ExportedAsset};
use crate::ops::asset_csv::import::{self, AssetImportReport, ImportOptions, MatchKey, Stage};
use crate::ops::assets::AssetListParams;
use crate::state::AppState;

/// Largest CSV file an import accepts (the server-wide body limit does not apply).
pub const MAX_IMPORT_BYTES: usize = 256 * 1024 * 1024;

/// How long a finished job's report stays available.
const JOB_KEPT: Duration = Duration::from_secs(3600);

/// Log an import's progress every this many rows.
const LOG_EVERY: usize = 10_000;

/// The export's own parameter, for the OpenAPI document (the handler splits it from the
/// list filters).
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportParams {
    /// `csv` (default) or `json`.
    pub format: Option<String>,
}

/// Splits `format` from the list filters, which parse as the asset list's.
fn export_query(query: &str) -> Result<(ExportFormat, AssetListParams), AppError> {
    let mut format = ExportFormat::Csv;
    let mut rest = form_urlencoded::Serializer::new(String::new());
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        if k == "format" {
            format = ExportFormat::from_key(v.trim())
                .ok_or_else(|| AppError::invalid("format", "must be csv or json"))?;
        } else {
            rest.append_pair(&k, &v);
        }
    }
    Ok((format, parse_query(&rest.finish())?))
}

#[utoipa::path(get, path = "/api/v1/assets/export", tag = "assets",
    params(ExportParams, AssetListParams),
    description = "Every asset the filters select (the asset list's filters; `limit` and \
        `cursor` are ignored), ordered by id, streamed as a file download.\n\n\
        **CSV** (UTF-8, comma-separated, a header row): the columns `asset_type, name, entity, \
        hostname, manufacturer, model, serial, asset_tag, uuid, status, status_since, ordered_on, \
        received_on, in_production_on, retired_on, disposed_on, owner_team, site, room, rack, \
        rack_u, rack_face, height_u, full_depth, location_note, os_family, os_name, os_version, \
        cpu_model, cpu_sockets, cpu_cores, memory_mb, management_ip, power_draw_w, purchase_date, \
        purchase_cost, supplier, order_ref, warranty_end, notes, tags, interfaces, disks`, then \
        one `attr:<key>` column per attribute key of the exported assets, sorted. No ids: \
        enumerations by key, `entity` as its path from the root (`Root entity/Customer X`), \
        owner team, site, room and rack by name, `purchase_cost` as a decimal, `tags` \
        comma-separated, `interfaces` and `disks` as compact JSON arrays. The file imports \
        back with `POST /api/v1/assets/import`.\n\n\
        **JSON**: an array of objects, each the asset's `id` and the fields `POST /api/v1/assets` \
        accepts (ids for entity, team and locations).",
    responses((status = 200, description = "The file, as an attachment",
        content((String = "text/csv"), (Vec<ExportedAsset> = "application/json")))))]
pub async fn export_assets(
    State(st): State<AppState>,
    caller: Caller,
    RawQuery(query): RawQuery,
) -> Result<Response, AppError> {
    let (format, params) = export_query(query.as_deref().unwrap_or(""))?;
    let export = Export::start(&st, &caller, &params, format).await?;
    let file = format!(
        "assets-{}.{}",
        crate::ops::assets::today(),
        format.extension()
    );
    let stream = futures_util::stream::unfold(Some(export), |state| async move {
        let mut export = state?;
        match export.next_chunk().await {
            Ok(Some(bytes)) => Some((Ok(Bytes::from(bytes)), Some(export))),
            Ok(None) => None,
            // The download is cut short; the error was logged where it happened.
            Err(e) => Some((Err(std::io::Error::other(e.message)), None)),
        }
    });
    Ok((
        [
            (header::CONTENT_TYPE, format.content_type().to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{file}\""),
            ),
        ],
        Body::from_stream(stream),
    )
        .into_response())
}

/// The import's parameters, for the OpenAPI document (the handler reads them by hand,
/// with the `map.<header>` pairs).
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ImportParams {
    /// Check every row and report the creates, updates and errors; write nothing.
    pub dry_run: Option<bool>,
    /// Match rows to existing assets on `serial` (within the asset type), `asset_tag` or
    /// `hostname`; by default the serial number, then the asset tag, then the host name.
    pub key: Option<String>,
}

/// Reads `dry_run`, `key` and the `map.<header>=<column>` pairs.
fn import_options(query: &str) -> Result<ImportOptions, AppError> {
    let mut opts = ImportOptions::default();
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        if let Some(header) = k.strip_prefix("map.") {
            opts.mapping.insert(header.to_owned(), v.trim().to_owned());
            continue;
        }
        match k.as_ref() {
            "dry_run" => {
                opts.dry_run = match v.as_ref() {
                    "true" | "1" => true,
                    "false" | "0" | "" => false,
                    _ => return Err(AppError::invalid("dry_run", "must be true or false")),
                }
            }
            "key" => {
                opts.key = match v.trim() {
                    "" => None,
                    k => Some(MatchKey::from_key(k).ok_or_else(|| {
                        AppError::invalid("key", "must be serial, asset_tag or hostname")
                    })?),
                }
            }
            other => {
                return Err(AppError::invalid(
                    other,
                    "unknown parameter; use dry_run, key or map.<header>",
                ));
            }
        }
    }
    Ok(opts)
}

/// The import's answer: the report, and the error envelope when rows have errors.
#[derive(Serialize, ToSchema)]
pub struct ImportAnswer {
    #[serde(flatten)]
    pub report: AssetImportReport,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorBody>,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    pub code: &'static str,
    pub message: String,
    pub field: Option<String>,
}

fn answer(report: AssetImportReport) -> Response {
    if report.errors.is_empty() {
        return (
            StatusCode::OK,
            Json(ImportAnswer {
                report,
                error: None,
            }),
        )
            .into_response();
    }
    let n = report.errors.len();
    let written = match report.written {
        0 => "nothing was written".to_owned(),
        n => format!("the {n} rows before the failed batch were written"),
    };
    let error = ErrorBody {
        code: "invalid",
        message: format!(
            "{n} error{} in the file; {written}",
            if n == 1 { "" } else { "s" }
        ),
        field: None,
    };
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        Json(ImportAnswer {
            report,
            error: Some(error),
        }),
    )
        .into_response()
}

#[utoipa::path(post, path = "/api/v1/assets/import", tag = "assets", params(ImportParams),
    request_body(content = String, content_type = "text/csv",
        description = "UTF-8 CSV with a header row, in the columns of the export (see \
        `GET /api/v1/assets/export`); only `asset_type` and `name` are needed to create an \
        asset, and an update changes only the columns the file has. Map other headers with \
        query parameters `map.<header>=<column>` (URL-encoded, e.g. \
        `map.Serial%20No=serial`); `map.<header>=` ignores a column. A header that is neither \
        a column nor mapped is an error. At most 256 MiB."),
    description = "Creates or updates assets from CSV: each row is matched to an existing \
        asset by `key`, then created, updated or left unchanged, so importing the same file \
        twice changes nothing the second time. Every row is checked first; any error (with its \
        row, as a spreadsheet numbers it, its column and the problem) answers 422 with the \
        report and writes nothing. A dry run answers the plan. Rows are written in batches of \
        500 with one audit record per asset. An import still running shortly before the \
        request timeout answers 202 with a job: poll `GET /api/v1/assets/import/{id}`.",
    responses(
        (status = 200, body = ImportAnswer, description = "Imported, or the dry run's plan"),
        (status = 202, body = ImportJobView, description = "Still running: poll the job"),
        (status = 422, body = ImportAnswer, description = "Rows have errors; nothing was written"),
    ))]
pub async fn import_assets(
    State(st): State<AppState>,
    caller: Caller,
    RawQuery(query): RawQuery,
    req: Request,
) -> Result<Response, AppError> {
    // Answer (the report, or a job to poll) 2 s before the request timeout, counting the
    // upload's time.
    let deadline = Instant::now()
        + st.config
            .request_timeout
            .saturating_sub(Duration::from_secs(2));
    let opts = import_options(query.as_deref().unwrap_or(""))?;
    let body = axum::body::to_bytes(req.into_body(), MAX_IMPORT_BYTES)
        .await
        .map_err(|_| {
            AppError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                format!(
                    "the file is larger than {} MiB; split it",
                    MAX_IMPORT_BYTES >> 20
                ),
            )
        })?;
    let job = st.import_jobs.start(caller.user.id);
    let task = {
        let (st, job) = (st.clone(), job.clone());
        let login = caller.user.login.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            let progress = |stage: Stage, done: usize, total: usize| {
                job.set_progress(stage, done, total);
                if done > 0 && done.is_multiple_of(LOG_EVERY) {
                    tracing::info!(
                        import.job = job.id,
                        ?stage,
                        rows.done = done,
                        rows.total = total,
                        "asset import"
                    );
                }
            };
            let result = import::import_csv(&st, &caller, &body, &opts, &progress).await;
            if let Ok(r) = &result {
                tracing::info!(
                    import.job = job.id,
                    user = %login,
                    dry_run = r.dry_run,
                    rows = r.rows,
                    created = r.created,
                    updated = r.updated,
                    errors = r.errors.len(),
                    duration_ms = started.elapsed().as_millis() as u64,
                    "asset import finished"
                );
            }
            job.finish(result);
        })
    };
    let wait = deadline.saturating_duration_since(Instant::now());
    match tokio::time::timeout(wait, task).await {
        Ok(_) => match st.import_jobs.take(job.id) {
            Some(Ok(report)) => Ok(answer(report)),
            Some(Err(e)) => Err(e),
            None => Err(AppError::internal()),
        },
        Err(_) => Ok((StatusCode::ACCEPTED, Json(job.view())).into_response()),
    }
}

#[utoipa::path(get, path = "/api/v1/assets/import/{id}", tag = "assets",
    params(("id" = i64, Path, description = "The job id a 202 answer gave")),
    description = "The progress of a long import, then its report. Only the account that \
        started the import sees it; jobs are kept an hour after they finish.",
    responses((status = 200, body = ImportJobView)))]
pub async fn import_job(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
) -> Result<Response, AppError> {
    let job = st
        .import_jobs
        .get(id, caller.user.id)
        .ok_or_else(|| AppError::not_found("import job"))?;
    Ok(Json(job.view()).into_response())
}

/// Imports running or recently finished in this process.
#[derive(Default)]
pub struct ImportJobs {
    next: AtomicI64,
    jobs: Mutex<HashMap<i64, Arc<ImportJob>>>,
}

impl ImportJobs {
    fn start(&self, user_id: i64) -> Arc<ImportJob> {
        let id = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        let job = Arc::new(ImportJob {
            id,
            user_id,
            state: Mutex::new(JobState {
                stage: Stage::Check,
                done: 0,
                total: 0,
                finished: None,
                result: None,
            }),
        });
        if let Ok(mut jobs) = self.jobs.lock() {
            jobs.retain(|_, j| {
                j.state.lock().map_or(true, |s| {
                    s.finished.is_none_or(|at| at.elapsed() < JOB_KEPT)
                })
            });
            jobs.insert(id, job.clone());
        }
        job
    }

    fn get(&self, id: i64, user_id: i64) -> Option<Arc<ImportJob>> {
        let jobs = self.jobs.lock().ok()?;
        jobs.get(&id).filter(|j| j.user_id == user_id).cloned()
    }

    /// Removes a finished job and hands over its result.
    fn take(&self, id: i64) -> Option<Result<AssetImportReport, AppError>> {
        let job = self.jobs.lock().ok()?.remove(&id)?;
        let mut state = job.state.lock().ok()?;
        state.result.take()
    }
}

pub struct ImportJob {
    id: i64,
    user_id: i64,
    state: Mutex<JobState>,
}

struct JobState {
    stage: Stage,
    done: usize,
    total: usize,
    finished: Option<Instant>,
    result: Option<Result<AssetImportReport, AppError>>,
}

impl ImportJob {
    fn set_progress(&self, stage: Stage, done: usize, total: usize) {
        if let Ok(mut s) = self.state.lock() {
            (s.stage, s.done, s.total) = (stage, done, total);
        }
    }

    fn finish(&self, result: Result<AssetImportReport, AppError>) {
        if let Ok(mut s) = self.state.lock() {
            s.finished = Some(Instant::now());
            s.result = Some(result);
        }
    }

    fn view(&self) -> ImportJobView {
        let Ok(s) = self.state.lock() else {
            return ImportJobView::broken(self.id);
        };
        let (report, error) = match &s.result {
            None => (None, None),
            Some(Ok(r)) => (Some(r.clone()), None),
            Some(Err(e)) => (
                None,
                Some(ErrorBody {
                    code: e.code,
                    message: e.message.clone(),
                    field: e.field.clone(),
                }),
            ),
        };
        ImportJobView {
            id: self.id,
            state: if s.finished.is_some() {
                "done"
            } else {
                "running"
            },
            stage: s.stage,
            done: s.done,
            total: s.total,
            report,
            error,
        }
    }
}

/// A long import: its progress, then its report.
#[derive(Serialize, ToSchema)]
pub struct ImportJobView {
    pub id: i64,
    /// `running` or `done`.
    pub state: &'static str,
    pub stage: Stage,
    /// Rows checked (stage `check`) or written (stage `write`) so far, of `total`.
    pub done: usize,
    pub total: usize,
    /// Once done: the import's report (as the synchronous answer's).
    pub report: Option<AssetImportReport>,
    /// Once done, when the import failed as a whole.
    pub error: Option<ErrorBody>,
}

impl ImportJobView {
    fn broken(id: i64) -> ImportJobView {
        ImportJobView {
            id,
            state: "done",
            stage: Stage::Write,
            done: 0,
            total: 0,
            report: None,
            error: Some(ErrorBody {
                code: "internal",
                message: "the import's state is unreadable".to_owned(),
                field: None,
            }),
        }
    }
}
