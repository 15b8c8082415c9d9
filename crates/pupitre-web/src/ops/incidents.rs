//! Alerts and incidents from the server's side (issue #7): the alert sources (tokens an
//! Alertmanager or a webhook sends with), the receivers that turn their payloads into signals,
//! the correlator that applies the inbox, and what people do with incidents.
//!
//! **The correlator** ([`correlator`]) runs on every server. It takes the inbox in order
//! (signals from monitoring arrive in the transaction of the hard state change; external ones
//! once validated), enriches each (a check's asset, entity and names; a webhook's host name
//! matched to an asset), decides with `pupitre_core::incident` where a new alert goes, and has
//! the store carry the decision out in one transaction that also deletes the inbox row. It
//! wakes when this server queues a signal and once a second for the others'.

use std::future::Future;
use std::time::Duration;

use pupitre_core::incident::{
    self as rules, AlertSource, Grouping, IncidentId, IncidentStatus, OpenIncident, Severity,
    Urgency,
};
use pupitre_core::inventory::{AssetId, GraphEdge};
use pupitre_core::permission::{Domain, EntityId, Level, subtree};
use pupitre_store::incidents::{
    AlertRecord, AlertSourceRecord, Apply, IncidentAction, IncidentAsset, IncidentFilter,
    IncidentRecord, Link, NewAlertSource, Signal, TimelineEntry,
};
use pupitre_store::inventory::AssetKeys;
use serde_json::{Map, Value};
use tokio::sync::Notify;

use crate::auth::{Caller, random_hex, sha256_hex};
use crate::error::AppError;
use crate::state::{AppState, now_ms};

/// Alerts behind an incident's cause join it when it opened less than this long ago; an
/// incident for a provider takes in the untouched incidents behind it opened within it.
pub const GROUPING_WINDOW_MS: i64 = 10 * 60 * 1000;

/// An alert firing again less than this long after its incident resolved reopens it.
pub const REOPEN_WINDOW_MS: i64 = 30 * 60 * 1000;

/// The most alerts one webhook request may carry.
pub const MAX_ALERTS_PER_REQUEST: usize = 1000;

/// Wakes this server's correlator when a signal is queued here.
#[derive(Default)]
pub struct IncidentHub {
    wake: Notify,
    /// Wakes the pager: pages were queued.
    pub pages: Notify,
}

impl IncidentHub {
    pub fn wake(&self) {
        self.wake.notify_one();
    }
}

// ---- The correlator ------------------------------------------------------------------------

/// Applies the inbox until `shutdown` resolves; every 2 s, looks again at the problems that
/// waited without an incident ([`reconsider_suppressed`]).
pub async fn correlator(st: AppState, shutdown: impl Future<Output = ()>) {
    tokio::pin!(shutdown);
    let mut reconsidered = std::time::Instant::now();
    loop {
        if reconsidered.elapsed() >= Duration::from_secs(2) {
            reconsidered = std::time::Instant::now();
            if let Err(e) = reconsider_suppressed(&st).await {
                tracing::warn!(error = %e, "incident correlator: suppressed alerts");
            }
        }
        let waited = match correlate(&st).await {
            // More may wait: go on at once.
            Ok(n) if n > 0 => continue,
            Ok(_) => Duration::from_secs(1),
            Err(e) => {
                tracing::warn!(error = %e, "incident correlator");
                Duration::from_secs(5)
            }
        };
        tokio::select! {
            () = st.incidents.wake.notified() => {}
            () = tokio::time::sleep(waited) => {}
            () = &mut shutdown => return,
        }
    }
}

/// Applies up to 200 signals of the inbox, in order; returns how many it took.
pub async fn correlate(st: &AppState) -> Result<usize, AppError> {
    let batch = st.store.inbox(200).await?;
    if batch.is_empty() {
        return Ok(0);
    }
    let edges = st.store.dependency_edges().await?;
    let silences = crate::ops::silences::Active::load(st).await?;
    let mut open = open_incidents(st).await?;
    for item in &batch {
        let signal = match &item.signal {
            Ok(signal) => signal.clone(),
            Err(text) => {
                tracing::warn!(inbox = item.id, %text, "an alert signal that no longer reads; dropped");
                st.store.drop_inboxed(item.id).await?;
                continue;
            }
        };
        let Some(apply) = decide(st, item.id, signal, &open, &edges, &silences).await? else {
            st.store.drop_inboxed(item.id).await?;
            continue;
        };
        let joined = matches!(apply.grouping, Some(Grouping::Join { .. }));
        let applied = st.store.apply_signal(&apply, now_ms()).await?;
        if applied.opened || applied.reopened || applied.resolved {
            open = open_incidents(st).await?;
        }
        if let Some(incident) = applied.incident_id
            && (applied.opened || applied.reopened || joined)
        {
            rank(st, incident, &edges).await?;
        }
    }
    Ok(batch.len())
}

/// A problem recorded without an incident while its check did not notify (a downtime, a
/// maintenance window, an acknowledgement, flapping) opens its incident once that is over and
/// the problem remains: a signal for it goes to the inbox.
pub async fn reconsider_suppressed(st: &AppState) -> Result<(), AppError> {
    use pupitre_core::monitoring::State;
    let alerts = st.store.suppressed_alerts().await?;
    if alerts.is_empty() {
        return Ok(());
    }
    let now = now_ms();
    let downtimes = st.store.current_downtimes(now).await?;
    let silences = crate::ops::silences::Active::load(st).await?;
    let mut signals = Vec::new();
    for alert in alerts {
        let Some(check_id) = alert.check_id else {
            continue;
        };
        let Ok(check) = st.store.get_check(check_id).await else {
            continue;
        };
        let status = &check.status;
        let covered = downtimes
            .iter()
            .any(|d| d.applies_to(check_id, check.check.asset_id) && d.covers(now));
        if covered
            || status.acknowledgement.is_some()
            || !status.notifications_enabled
            || status.flapping
            || !status.hard
            || status.state == State::Ok
        {
            continue;
        }
        let mut details = Map::new();
        details.insert("state".to_owned(), Value::from(status.state.key()));
        let probe = Signal {
            source: AlertSource::Monitoring.key().to_owned(),
            key: alert.dedup_key.clone(),
            severity: alert.severity.key().to_owned(),
            details: details.clone(),
            ..Signal::default()
        };
        let labels = crate::ops::silences::labels(
            &probe,
            Some(&check.asset_name),
            Some(&check.check.definition.name),
        );
        if silences.silencing(alert.entity_id, &labels).is_some() {
            continue;
        }
        let severity = if status.state == State::Critical {
            Severity::Critical
        } else {
            Severity::Warning
        };
        signals.push(Signal {
            source: AlertSource::Monitoring.key().to_owned(),
            source_id: None,
            entity_id: None,
            key: alert.dedup_key.clone(),
            firing: true,
            severity: severity.key().to_owned(),
            summary: check
                .last
                .as_ref()
                .map(|l| l.output.clone())
                .unwrap_or_default(),
            details,
            links: Vec::new(),
            asset_id: None,
            check_id: Some(check_id),
            service: String::new(),
            at: now,
            notify: true,
            unreachable: status.unreachable,
        });
    }
    if !signals.is_empty() {
        receive(st, &signals).await?;
    }
    Ok(())
}

async fn open_incidents(st: &AppState) -> Result<Vec<OpenIncident>, AppError> {
    Ok(st
        .store
        .open_incidents()
        .await?
        .iter()
        .map(|i| OpenIncident {
            id: i.id,
            entity_id: i.entity_id,
            cause: i.cause_asset_id,
            group_key: i.group_key.clone(),
            created_at: i.created_at,
            untouched: i.status == IncidentStatus::Triggered && !i.paged,
        })
        .collect())
}

/// What to do with a signal; `None` when it cannot be applied (its check is gone).
async fn decide(
    st: &AppState,
    inbox_id: i64,
    mut signal: Signal,
    open: &[OpenIncident],
    edges: &[GraphEdge],
    silences: &crate::ops::silences::Active,
) -> Result<Option<Apply>, AppError> {
    let Some(source) = AlertSource::parse(&signal.source) else {
        tracing::warn!(source = %signal.source, "an alert signal from an unknown source; dropped");
        return Ok(None);
    };
    let severity = Severity::parse(&signal.severity).unwrap_or(Severity::Warning);
    let mut title = signal.summary.clone();
    let mut suppressed = String::new();
    let mut names: (Option<String>, Option<String>) = (None, None);
    if source == AlertSource::Monitoring {
        let Some(check_id) = signal.check_id else {
            return Ok(None);
        };
        let check = match st.store.get_check(check_id).await {
            Ok(check) => check,
            Err(pupitre_store::StoreError::NotFound) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let asset = st.store.get_asset(check.check.asset_id).await?;
        let state = signal
            .details
            .get("state")
            .and_then(Value::as_str)
            .unwrap_or("");
        signal.entity_id = Some(asset.entity_id);
        signal.asset_id = Some(asset.id);
        title = format!(
            "{}: {} {}",
            check.asset_name,
            check.check.definition.name,
            state.to_uppercase()
        );
        signal.summary = format!("{title} — {}", first_line(&signal.summary, 300));
        names = (
            Some(check.asset_name.clone()),
            Some(check.check.definition.name.clone()),
        );
        if signal.firing && !signal.notify && !signal.unreachable {
            suppressed = "its check does not notify now (downtime, acknowledgement, flapping \
                          or notifications off)"
                .to_owned();
        }
    }
    let Some(entity_id) = signal.entity_id else {
        tracing::warn!(key = %signal.key, "an alert signal without an entity; dropped");
        return Ok(None);
    };
    if signal.firing && suppressed.is_empty() {
        let labels = crate::ops::silences::labels(&signal, names.0.as_deref(), names.1.as_deref());
        if let Some(why) = silences.silencing(entity_id, &labels) {
            suppressed = why;
        }
    }
    let now = now_ms();
    let mut apply = Apply {
        inbox_id,
        source,
        severity,
        entity_id,
        grouping: None,
        suppressed,
        reopen: None,
        title: first_line(&title, 200),
        absorb: Vec::new(),
        signal,
    };
    let s = &apply.signal;
    if !s.firing || !apply.suppressed.is_empty() {
        return Ok(Some(apply));
    }
    // An alert already firing is only updated, unless it waited, suppressed, without an
    // incident (its window ended, its acknowledgement went): then it is grouped now.
    if let Some(firing) = st.store.firing_alert(&s.key).await?
        && (firing.incident_id.is_some() || firing.suppressed.is_empty())
    {
        return Ok(Some(apply));
    }
    if let Some(id) = st
        .store
        .resolved_since(&s.key, now - REOPEN_WINDOW_MS)
        .await?
    {
        apply.reopen = Some(id);
        return Ok(Some(apply));
    }
    let grouping = rules::choose_incident(
        s.asset_id,
        &s.service,
        &s.key,
        open,
        edges,
        now,
        GROUPING_WINDOW_MS,
    );
    if let (Grouping::Open { .. }, Some(cause)) = (&grouping, s.asset_id) {
        apply.absorb = rules::absorbed_by(cause, 0, open, edges, now, GROUPING_WINDOW_MS);
    }
    apply.grouping = Some(grouping);
    Ok(Some(apply))
}

/// Sets the incident's urgency (high when one of its firing alerts is critical), impact and
/// priority.
async fn rank(st: &AppState, id: IncidentId, edges: &[GraphEdge]) -> Result<(), AppError> {
    let alerts = st.store.incident_alerts(id).await?;
    let assets: Vec<AssetId> = st
        .store
        .incident_assets(id)
        .await?
        .iter()
        .map(|a| a.asset_id)
        .collect();
    let urgency = if alerts
        .iter()
        .any(|a| a.firing && a.severity.urgency() == Urgency::High)
    {
        Urgency::High
    } else {
        Urgency::Low
    };
    let impact = rules::impact(&assets, edges);
    st.store
        .rank_incident(id, urgency, impact, rules::priority(urgency, impact))
        .await?;
    Ok(())
}

fn first_line(text: &str, max: usize) -> String {
    let line = text.lines().next().unwrap_or("").trim();
    match line.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line.to_owned(),
    }
}

// ---- Receivers -----------------------------------------------------------------------------

/// The alert source whose token the request carries, or 401.
pub async fn authenticate_source(
    st: &AppState,
    headers: &axum::http::HeaderMap,
    kind: AlertSource,
    address: &str,
) -> Result<AlertSourceRecord, AppError> {
    let token = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .unwrap_or_default();
    let unauthorized = |reason: &'static str| {
        tracing::warn!(%address, kind = kind.key(), reason, "alert refused");
        AppError::new(
            axum::http::StatusCode::UNAUTHORIZED,
            "unauthenticated",
            reason,
        )
    };
    if token.is_empty() {
        return Err(unauthorized("an alert source token is required"));
    }
    let Some(source) = st
        .store
        .alert_source_by_token(&sha256_hex(token), now_ms())
        .await?
    else {
        return Err(unauthorized("the alert source token is not valid"));
    };
    if source.kind != kind {
        return Err(AppError::new(
            axum::http::StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "this token is for the {} receiver, not the {} one",
                source.kind.key(),
                kind.key()
            ),
        ));
    }
    Ok(source)
}

/// Queues the signals and wakes the correlator.
pub async fn receive(st: &AppState, signals: &[Signal]) -> Result<(), AppError> {
    st.store.push_signals(signals, now_ms()).await?;
    st.incidents.wake();
    Ok(())
}

/// Logs a refused payload with its source, and returns the error unchanged.
pub fn refused(source: &AlertSourceRecord, address: &str, e: AppError) -> AppError {
    tracing::warn!(
        source = %source.name,
        source_id = source.id,
        %address,
        field = e.field.as_deref().unwrap_or(""),
        message = %e.message,
        "alert payload refused"
    );
    e
}

/// The signals of an Alertmanager webhook (version 4): one per alert, keyed by its
/// fingerprint (else its labels), `severity` from the label of that name, the summary from
/// the `summary` or `description` annotation, else the alert name.
pub async fn alertmanager_signals(
    st: &AppState,
    source: &AlertSourceRecord,
    body: &Value,
) -> Result<Vec<Signal>, AppError> {
    let Some(payload) = body.as_object() else {
        return Err(AppError::invalid("", "must be a JSON object"));
    };
    if let Some(version) = payload.get("version")
        && version.as_str() != Some("4")
    {
        return Err(AppError::invalid(
            "version",
            "only version \"4\" is understood",
        ));
    }
    let Some(alerts) = payload.get("alerts").and_then(Value::as_array) else {
        return Err(AppError::invalid("alerts", "must be an array"));
    };
    if alerts.len() > MAX_ALERTS_PER_REQUEST {
        return Err(AppError::invalid("alerts", "more than 1000 alerts"));
    }
    let common = payload
        .get("externalURL")
        .and_then(Value::as_str)
        .unwrap_or("");
    let mut signals = Vec::with_capacity(alerts.len());
    for (i, alert) in alerts.iter().enumerate() {
        let field = |name: &str| format!("alerts[{i}].{name}");
        let Some(alert) = alert.as_object() else {
            return Err(AppError::invalid(
                format!("alerts[{i}]"),
                "must be an object",
            ));
        };
        let strings = |name: &str| -> Result<Map<String, Value>, AppError> {
            match alert.get(name) {
                None | Some(Value::Null) => Ok(Map::new()),
                Some(Value::Object(m)) if m.values().all(Value::is_string) => Ok(m.clone()),
                Some(_) => Err(AppError::invalid(field(name), "must map names to strings")),
            }
        };
        let labels = strings("labels")?;
        let annotations = strings("annotations")?;
        if labels.is_empty() {
            return Err(AppError::invalid(field("labels"), "must not be empty"));
        }
        let firing = match alert.get("status").and_then(Value::as_str) {
            Some("firing") => true,
            Some("resolved") => false,
            _ => {
                return Err(AppError::invalid(
                    field("status"),
                    "must be \"firing\" or \"resolved\"",
                ));
            }
        };
        let label = |name: &str| labels.get(name).and_then(Value::as_str).unwrap_or("");
        let fingerprint = match alert.get("fingerprint").and_then(Value::as_str) {
            Some(f) if !f.is_empty() => f.to_owned(),
            // Without a fingerprint, the labels (sorted: a JSON object's keys are) name it.
            _ => sha256_hex(&Value::Object(labels.clone()).to_string())[..16].to_owned(),
        };
        let annotation = |name: &str| annotations.get(name).and_then(Value::as_str).unwrap_or("");
        let summary = [
            annotation("summary"),
            annotation("description"),
            label("alertname"),
        ]
        .into_iter()
        .find(|s| !s.is_empty())
        .unwrap_or("alert")
        .to_owned();
        let severity = match label("severity").to_ascii_lowercase().as_str() {
            "critical" | "page" | "high" | "error" | "emergency" | "alert" => Severity::Critical,
            "info" | "informational" | "none" | "low" => Severity::Info,
            _ => Severity::Warning,
        };
        let at = alert
            .get(if firing { "startsAt" } else { "endsAt" })
            .and_then(Value::as_str)
            .and_then(|t| t.parse::<jiff::Timestamp>().ok())
            .map_or_else(now_ms, |t| t.as_millisecond());
        let mut links = Vec::new();
        if let Some(url) = alert.get("generatorURL").and_then(Value::as_str)
            && !url.is_empty()
        {
            links.push(Link {
                href: url.to_owned(),
                text: "source".to_owned(),
            });
        }
        if !common.is_empty() {
            links.push(Link {
                href: common.to_owned(),
                text: "Alertmanager".to_owned(),
            });
        }
        let host = ["host", "hostname", "instance", "nodename"]
            .into_iter()
            .map(label)
            .find(|h| !h.is_empty())
            .unwrap_or("");
        let mut details = Map::new();
        details.insert("labels".to_owned(), Value::Object(labels.clone()));
        details.insert("annotations".to_owned(), Value::Object(annotations.clone()));
        signals.push(Signal {
            source: AlertSource::Alertmanager.key().to_owned(),
            source_id: Some(source.id),
            entity_id: Some(source.entity_id),
            key: format!("am:{}:{fingerprint}", source.id),
            firing,
            severity: severity.key().to_owned(),
            summary: first_line(&summary, 500),
            details,
            links,
            asset_id: asset_of_host(st, source.entity_id, host).await?,
            check_id: None,
            service: label("service").to_owned(),
            at,
            notify: true,
            unreachable: false,
        });
    }
    Ok(signals)
}

/// The signals of the generic JSON webhook: one event (an object) or several (`{"events":
/// [...]}`), each with `dedup_key`, `action` (`trigger` or `resolve`), `severity`, `summary`,
/// and optionally `details` (an object), `links` (`[{"href", "text"}]`), `host`, `asset_id`
/// and `service`.
pub async fn webhook_signals(
    st: &AppState,
    source: &AlertSourceRecord,
    body: &Value,
) -> Result<Vec<Signal>, AppError> {
    let (events, prefix): (Vec<&Value>, bool) = match body.get("events") {
        Some(Value::Array(events)) => (events.iter().collect(), true),
        Some(_) => return Err(AppError::invalid("events", "must be an array")),
        None => (vec![body], false),
    };
    if events.len() > MAX_ALERTS_PER_REQUEST {
        return Err(AppError::invalid("events", "more than 1000 events"));
    }
    let mut signals = Vec::with_capacity(events.len());
    for (i, event) in events.into_iter().enumerate() {
        let field = |name: &str| {
            if prefix {
                format!("events[{i}].{name}")
            } else {
                name.to_owned()
            }
        };
        let Some(event) = event.as_object() else {
            return Err(AppError::invalid(field(""), "must be a JSON object"));
        };
        if let Some(unknown) = event.keys().find(|k| {
            !matches!(
                k.as_str(),
                "dedup_key"
                    | "action"
                    | "severity"
                    | "summary"
                    | "details"
                    | "links"
                    | "host"
                    | "asset_id"
                    | "service"
                    | "timestamp"
            )
        }) {
            return Err(AppError::invalid(field(unknown), "is not a known field"));
        }
        let text = |name: &str, max: usize, required: bool| -> Result<String, AppError> {
            match event.get(name) {
                None | Some(Value::Null) if !required => Ok(String::new()),
                Some(Value::String(s)) if !s.trim().is_empty() && s.chars().count() <= max => {
                    Ok(s.trim().to_owned())
                }
                Some(Value::String(s)) if s.trim().is_empty() && !required => Ok(String::new()),
                _ => Err(AppError::invalid(
                    field(name),
                    format!("must be a text of 1 to {max} characters"),
                )),
            }
        };
        let key = text("dedup_key", 255, true)?;
        let firing = match text("action", 20, true)?.as_str() {
            "trigger" => true,
            "resolve" => false,
            _ => {
                return Err(AppError::invalid(
                    field("action"),
                    "must be \"trigger\" or \"resolve\"",
                ));
            }
        };
        let severity = match text("severity", 20, firing)?.as_str() {
            "" => Severity::Warning,
            s => Severity::parse(s).ok_or_else(|| {
                AppError::invalid(field("severity"), "must be critical, warning or info")
            })?,
        };
        let summary = text("summary", 1000, firing)?;
        let details = match event.get("details") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(m)) => m.clone(),
            Some(_) => return Err(AppError::invalid(field("details"), "must be an object")),
        };
        let links = match event.get("links") {
            None | Some(Value::Null) => Vec::new(),
            Some(v) => serde_json::from_value::<Vec<Link>>(v.clone())
                .ok()
                .filter(|l| {
                    l.len() <= 20
                        && l.iter().all(|l| {
                            l.href.starts_with("https://") || l.href.starts_with("http://")
                        })
                })
                .ok_or_else(|| {
                    AppError::invalid(
                        field("links"),
                        "must be at most 20 {\"href\": \"http(s)://…\", \"text\": …}",
                    )
                })?,
        };
        let asset_id = match event.get("asset_id") {
            None | Some(Value::Null) => {
                asset_of_host(st, source.entity_id, &text("host", 255, false)?).await?
            }
            Some(v) => {
                let id = v.as_i64().ok_or_else(|| {
                    AppError::invalid(field("asset_id"), "must be a whole number")
                })?;
                Some(asset_in(st, source.entity_id, id).await?.ok_or_else(|| {
                    AppError::invalid(field("asset_id"), "no such asset in the source's entity")
                })?)
            }
        };
        let at = match event.get("timestamp") {
            None | Some(Value::Null) => now_ms(),
            Some(Value::String(t)) => t
                .parse::<jiff::Timestamp>()
                .map_err(|_| AppError::invalid(field("timestamp"), "must be an RFC 3339 time"))?
                .as_millisecond(),
            Some(_) => {
                return Err(AppError::invalid(
                    field("timestamp"),
                    "must be an RFC 3339 time",
                ));
            }
        };
        signals.push(Signal {
            source: AlertSource::Webhook.key().to_owned(),
            source_id: Some(source.id),
            entity_id: Some(source.entity_id),
            key: format!("hook:{}:{key}", source.id),
            firing,
            severity: severity.key().to_owned(),
            summary: if summary.is_empty() {
                key.clone()
            } else {
                summary
            },
            details,
            links,
            asset_id,
            check_id: None,
            service: text("service", 100, false)?,
            at,
            notify: true,
            unreachable: false,
        });
    }
    Ok(signals)
}

/// The asset named `host` (its host name, without a port) in the source's entity or below.
async fn asset_of_host(
    st: &AppState,
    entity: EntityId,
    host: &str,
) -> Result<Option<AssetId>, AppError> {
    let host = host
        .rsplit_once(':')
        .filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit()))
        .map_or(host, |(h, _)| h)
        .trim_matches(['[', ']']);
    if host.is_empty() {
        return Ok(None);
    }
    let keys = AssetKeys {
        hostname: host.to_owned(),
        ..AssetKeys::default()
    };
    let Some(asset) = st.store.find_asset(&keys).await? else {
        return Ok(None);
    };
    asset_in(st, entity, asset.id).await
}

/// `asset` if it lies in `entity` or below.
async fn asset_in(
    st: &AppState,
    entity: EntityId,
    asset: AssetId,
) -> Result<Option<AssetId>, AppError> {
    let found = match st.store.get_asset(asset).await {
        Ok(a) => a,
        Err(pupitre_store::StoreError::NotFound) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let tree = st.entity_tree().await?;
    Ok(subtree(entity, &tree)
        .contains(&found.entity_id)
        .then_some(found.id))
}

// ---- People's side -------------------------------------------------------------------------

/// An incident with everything its page shows.
pub struct IncidentDetail {
    pub incident: IncidentRecord,
    pub alerts: Vec<AlertRecord>,
    pub assets: Vec<IncidentAsset>,
    pub timeline: Vec<TimelineEntry>,
    /// The assignee's login.
    pub assignee: Option<String>,
}

/// The incident, if the caller holds `level` in incidents on its entity.
pub async fn get_incident(
    st: &AppState,
    caller: &Caller,
    id: IncidentId,
    level: Level,
) -> Result<IncidentRecord, AppError> {
    let incident = st
        .store
        .get_incident(id)
        .await
        .map_err(|e| AppError::from_store("incident", e))?;
    caller.check(Domain::Incidents, level, incident.entity_id, "incident")?;
    Ok(incident)
}

pub async fn incident_detail(
    st: &AppState,
    caller: &Caller,
    id: IncidentId,
) -> Result<IncidentDetail, AppError> {
    let incident = get_incident(st, caller, id, Level::Read).await?;
    let assignee = match incident.assignee_id {
        Some(user) => st.store.get_user(user).await.ok().map(|u| u.login),
        None => None,
    };
    Ok(IncidentDetail {
        alerts: st.store.incident_alerts(id).await?,
        assets: st.store.incident_assets(id).await?,
        timeline: st.store.incident_timeline(id).await?,
        assignee,
        incident,
    })
}

/// Which incidents a list shows: `open` (triggered or acknowledged, the default), a status, or
/// `all`.
pub fn statuses(filter: &str) -> Result<Vec<IncidentStatus>, AppError> {
    match filter {
        "" | "open" => Ok(vec![
            IncidentStatus::Triggered,
            IncidentStatus::Acknowledged,
        ]),
        "all" => Ok(Vec::new()),
        s => IncidentStatus::parse(s).map(|s| vec![s]).ok_or_else(|| {
            AppError::invalid(
                "status",
                "must be open, all, triggered, acknowledged or resolved",
            )
        }),
    }
}

pub async fn list_incidents(
    st: &AppState,
    caller: &Caller,
    mut filter: IncidentFilter,
) -> Result<Vec<IncidentRecord>, AppError> {
    filter.entities = caller.visible(Domain::Incidents);
    filter.limit = filter.limit.clamp(1, 500);
    Ok(st.store.list_incidents(&filter).await?)
}

pub async fn list_alerts(
    st: &AppState,
    caller: &Caller,
    firing_only: bool,
    limit: i64,
) -> Result<Vec<AlertRecord>, AppError> {
    Ok(st
        .store
        .list_alerts(
            &caller.visible(Domain::Incidents),
            firing_only,
            limit.clamp(1, 1000),
        )
        .await?)
}

/// Acknowledges, resolves, reopens, assigns or annotates (incidents=operate).
pub async fn act(
    st: &AppState,
    caller: &Caller,
    id: IncidentId,
    action: IncidentAction,
) -> Result<IncidentRecord, AppError> {
    get_incident(st, caller, id, Level::Operate).await?;
    match &action {
        IncidentAction::Note(text) if text.trim().is_empty() => {
            return Err(AppError::invalid("text", "must not be empty"));
        }
        IncidentAction::Note(text) if text.chars().count() > 10_000 => {
            return Err(AppError::invalid("text", "longer than 10,000 characters"));
        }
        IncidentAction::Assign(Some(user)) => {
            let assignee = st
                .store
                .get_user(*user)
                .await
                .map_err(|_| AppError::invalid("assignee_id", "no such user"))?;
            if !assignee.active {
                return Err(AppError::invalid("assignee_id", "the user is disabled"));
            }
        }
        _ => {}
    }
    st.store
        .act_on_incident(&caller.actor(), id, &action)
        .await
        .map_err(|e| AppError::from_store("incident", e))
}

/// An alert source to create.
#[derive(Clone, Debug)]
pub struct AlertSourceInput {
    pub entity_id: EntityId,
    pub name: String,
    /// `alertmanager` or `webhook`.
    pub kind: String,
}

/// Creates an alert source (incidents=manage on its entity); its token is returned this once.
pub async fn create_source(
    st: &AppState,
    caller: &Caller,
    input: &AlertSourceInput,
) -> Result<(AlertSourceRecord, String), AppError> {
    let name = input.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(AppError::invalid("name", "must be 1 to 100 characters"));
    }
    let kind = match AlertSource::parse(&input.kind) {
        Some(k @ (AlertSource::Alertmanager | AlertSource::Webhook)) => k,
        _ => return Err(AppError::invalid("kind", "must be alertmanager or webhook")),
    };
    caller.visible_entity(input.entity_id, "entity_id")?;
    caller.check(Domain::Incidents, Level::Manage, input.entity_id, "entity")?;
    let token = format!("pal_{}", random_hex(32));
    let new = NewAlertSource {
        entity_id: input.entity_id,
        name: name.to_owned(),
        kind,
        token_hash: sha256_hex(&token),
        prefix: token[..12].to_owned(),
    };
    let created = st
        .store
        .create_alert_source(&caller.actor(), &new)
        .await
        .map_err(|e| AppError::from_store("alert source", e))?;
    Ok((created, token))
}

pub async fn list_sources(
    st: &AppState,
    caller: &Caller,
) -> Result<Vec<AlertSourceRecord>, AppError> {
    Ok(st
        .store
        .list_alert_sources(&caller.visible(Domain::Incidents))
        .await?)
}

pub async fn revoke_source(
    st: &AppState,
    caller: &Caller,
    id: i64,
) -> Result<AlertSourceRecord, AppError> {
    let source = st
        .store
        .get_alert_source(id)
        .await
        .map_err(|e| AppError::from_store("alert source", e))?;
    caller.check(
        Domain::Incidents,
        Level::Manage,
        source.entity_id,
        "alert source",
    )?;
    Ok(st.store.revoke_alert_source(&caller.actor(), id).await?)
}

// ---- Diagnosis aids ------------------------------------------------------------------------

/// A check in trouble on one of the incident's assets.
pub struct Problem {
    pub asset_id: AssetId,
    pub asset: String,
    pub check_id: i64,
    pub check: String,
    pub state: String,
    pub output: String,
    pub since: Option<i64>,
}

/// An asset around the probable cause, with how many of its checks are in trouble.
pub struct Neighbour {
    pub asset_id: AssetId,
    pub name: String,
    pub depth: u32,
    pub problems: usize,
}

/// What the incident page shows to find the cause: the linked assets' current problems, what
/// the probable cause depends on and what depends on it (with their problems), the changes
/// recorded on the linked assets in the last 24 hours, and the recent incidents of the same
/// cause. Each part shows only what the caller may read; a part they may not read is empty.
pub struct Diagnosis {
    pub problems: Vec<Problem>,
    pub upstream: Vec<Neighbour>,
    pub downstream: Vec<Neighbour>,
    pub changes: Vec<pupitre_core::audit::AuditRecord>,
    pub related: Vec<IncidentRecord>,
}

pub async fn diagnosis(
    st: &AppState,
    caller: &Caller,
    incident: &IncidentRecord,
    assets: &[IncidentAsset],
) -> Result<Diagnosis, AppError> {
    use std::collections::HashMap;
    let linked: Vec<AssetId> = assets.iter().map(|a| a.asset_id).collect();
    let filter = pupitre_store::monitoring::CheckFilter {
        visible: caller.visible(Domain::Monitoring),
        problems: true,
        ..Default::default()
    };
    let all_problems = st
        .store
        .list_checks(
            &filter,
            pupitre_store::Page {
                after: None,
                limit: 5000,
            },
        )
        .await?;
    let mut per_asset: HashMap<AssetId, usize> = HashMap::new();
    for c in &all_problems {
        *per_asset.entry(c.check.asset_id).or_default() += 1;
    }
    let problems = all_problems
        .iter()
        .filter(|c| linked.contains(&c.check.asset_id))
        .take(100)
        .map(|c| Problem {
            asset_id: c.check.asset_id,
            asset: c.asset_name.clone(),
            check_id: c.check.id,
            check: c.check.definition.name.clone(),
            state: c.status.state.key().to_owned(),
            output: c
                .last
                .as_ref()
                .map(|l| l.output.clone())
                .unwrap_or_default(),
            since: c.status.last_hard_change_at,
        })
        .collect();
    let (mut upstream, mut downstream) = (Vec::new(), Vec::new());
    if let Some(cause) = incident.cause_asset_id
        && let Ok((graph, names)) = crate::ops::assets::impact_graph(st, caller, cause).await
    {
        let neighbour = |n: &pupitre_core::inventory::ImpactNode| Neighbour {
            asset_id: n.asset_id,
            name: names
                .get(&n.asset_id)
                .map(|a| a.name.clone())
                .unwrap_or_else(|| format!("#{}", n.asset_id)),
            depth: n.depth,
            problems: per_asset.get(&n.asset_id).copied().unwrap_or(0),
        };
        upstream = graph.upstream().take(50).map(neighbour).collect();
        downstream = graph.downstream().take(100).map(neighbour).collect();
    }
    let since = now_ms() - 24 * 3600 * 1000;
    let mut changes = Vec::new();
    for asset in linked.iter().take(25) {
        let filter = pupitre_store::AuditFilter {
            visible: caller.visible(Domain::Inventory),
            global: false,
            object_type: Some("asset".to_owned()),
            object_id: Some(*asset),
            since: Some(since),
            ..Default::default()
        };
        changes.extend(
            st.store
                .list_audit(
                    &filter,
                    pupitre_store::Page {
                        after: None,
                        limit: 20,
                    },
                )
                .await?,
        );
    }
    changes.sort_by_key(|r| std::cmp::Reverse(r.at));
    changes.truncate(50);
    let related = match incident.cause_asset_id {
        Some(cause) => {
            let filter = IncidentFilter {
                asset_id: Some(cause),
                limit: 11,
                ..IncidentFilter::default()
            };
            list_incidents(st, caller, filter)
                .await?
                .into_iter()
                .filter(|i| i.id != incident.id && i.created_at > now_ms() - 30 * 86_400_000)
                .take(10)
                .collect()
        }
        None => Vec::new(),
    };
    Ok(Diagnosis {
        problems,
        upstream,
        downstream,
        changes,
        related,
    })
}

// ---- Post-incident reviews and figures ------------------------------------------------------

/// A post-incident review: what caused it, what it did, what was decided.
#[derive(
    Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(deny_unknown_fields)]
pub struct Review {
    #[serde(default)]
    pub cause: String,
    #[serde(default)]
    pub impact: String,
    #[serde(default)]
    pub actions: String,
}

/// The review written for an incident, if any.
pub fn review_of(incident: &IncidentRecord) -> Option<Review> {
    serde_json::from_str(&incident.review).ok()
}

/// Writes the review of a resolved incident (incidents=operate).
pub async fn write_review(
    st: &AppState,
    caller: &Caller,
    id: IncidentId,
    review: &Review,
) -> Result<IncidentRecord, AppError> {
    let incident = get_incident(st, caller, id, Level::Operate).await?;
    if incident.status != IncidentStatus::Resolved {
        return Err(AppError::conflict("review an incident once it is resolved"));
    }
    for (field, text) in [
        ("cause", &review.cause),
        ("impact", &review.impact),
        ("actions", &review.actions),
    ] {
        if text.chars().count() > 20_000 {
            return Err(AppError::invalid(field, "longer than 20,000 characters"));
        }
    }
    if review.cause.trim().is_empty()
        && review.impact.trim().is_empty()
        && review.actions.trim().is_empty()
    {
        return Err(AppError::invalid(
            "cause",
            "a review says at least the cause, the impact or the actions",
        ));
    }
    let text = serde_json::to_string(review).map_err(|_| AppError::internal())?;
    st.store
        .set_review(&caller.actor(), id, &text)
        .await
        .map_err(|e| AppError::from_store("incident", e))
}

/// Incident figures over a period.
#[derive(Clone, Debug, Default, serde::Serialize, utoipa::ToSchema)]
pub struct Figures {
    /// Incidents opened in the period (merged ones not counted).
    pub opened: usize,
    /// Mean time to acknowledge, seconds, over those acknowledged.
    pub mtta_s: Option<f64>,
    /// Mean time to resolve, seconds, over those resolved.
    pub mttr_s: Option<f64>,
    /// Incidents opened, by priority (`P1` to `P5`).
    pub by_priority: std::collections::BTreeMap<String, usize>,
    /// For each asset an incident touched in the period (as cause or impacted): the time it
    /// spent under an open incident and its availability (1 = never), worst first.
    pub availability: Vec<AssetAvailability>,
}

#[derive(Clone, Debug, serde::Serialize, utoipa::ToSchema)]
pub struct AssetAvailability {
    pub asset_id: AssetId,
    pub name: String,
    pub down_s: i64,
    pub availability: f64,
}

pub async fn figures(
    st: &AppState,
    caller: &Caller,
    from: i64,
    to: i64,
) -> Result<Figures, AppError> {
    use std::collections::HashMap;
    if to <= from {
        return Err(AppError::invalid("to", "must be after from"));
    }
    if to - from > 400 * 86_400_000 {
        return Err(AppError::invalid("to", "at most 400 days at a time"));
    }
    let (incidents, links) = st
        .store
        .incidents_between(&caller.visible(Domain::Incidents), from, to)
        .await?;
    let opened: Vec<&IncidentRecord> = incidents.iter().filter(|i| i.created_at >= from).collect();
    let mean = |values: Vec<i64>| {
        (!values.is_empty())
            .then(|| values.iter().sum::<i64>() as f64 / values.len() as f64 / 1000.0)
    };
    let mut by_priority = std::collections::BTreeMap::new();
    for i in &opened {
        *by_priority.entry(format!("P{}", i.priority)).or_default() += 1;
    }
    let spans: HashMap<IncidentId, (i64, i64)> = incidents
        .iter()
        .map(|i| {
            (
                i.id,
                (i.created_at.max(from), i.resolved_at.unwrap_or(to).min(to)),
            )
        })
        .collect();
    let mut per_asset: HashMap<AssetId, (String, Vec<(i64, i64)>)> = HashMap::new();
    for (incident, asset, name) in links {
        if let Some(span) = spans.get(&incident) {
            per_asset
                .entry(asset)
                .or_insert_with(|| (name, Vec::new()))
                .1
                .push(*span);
        }
    }
    let period = (to - from) as f64;
    let mut availability: Vec<AssetAvailability> = per_asset
        .into_iter()
        .map(|(asset_id, (name, mut spans))| {
            spans.sort_unstable();
            let (mut down, mut end) = (0i64, i64::MIN);
            for (s, e) in spans {
                let s = s.max(end);
                if e > s {
                    down += e - s;
                }
                end = end.max(e);
            }
            AssetAvailability {
                asset_id,
                name,
                down_s: down / 1000,
                availability: 1.0 - down as f64 / period,
            }
        })
        .collect();
    availability.sort_by(|a, b| b.down_s.cmp(&a.down_s).then(a.name.cmp(&b.name)));
    availability.truncate(200);
    Ok(Figures {
        opened: opened.len(),
        mtta_s: mean(
            opened
                .iter()
                .filter_map(|i| Some(i.acknowledged_at? - i.created_at))
                .collect(),
        ),
        mttr_s: mean(
            opened
                .iter()
                .filter_map(|i| Some(i.resolved_at? - i.created_at))
                .collect(),
        ),
        by_priority,
        availability,
    })
}
