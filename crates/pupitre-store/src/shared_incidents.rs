//! The incidents' queries both backends share, instantiated per backend by
//! `impl_incident_store!` inside a module of its own.

macro_rules! incident_cols {
    () => {
        "id, entity_id, title, status, urgency, impact, priority, group_key, cause_asset_id, \
         assignee_id, merged_into, paged, reopened, created_at, updated_at, acknowledged_at, \
         acknowledged_by, resolved_at, resolved_by, escalated_until, escalation_base, review, \
         reviewed_by, reviewed_at"
    };
}

macro_rules! notification_cols {
    () => {
        "id, incident_id, user_id, channel, address, contact_method_id, step, round, state, \
         attempts, last_error, next_attempt_at, created_at, sent_at, message_id"
    };
}

macro_rules! alert_cols {
    () => {
        "id, entity_id, source, source_id, dedup_key, status, severity, summary, details, \
         links, asset_id, check_id, service, incident_id, suppressed, updates, first_at, \
         last_at, resolved_at"
    };
}

macro_rules! alert_source_cols {
    () => {
        "id, entity_id, name, kind, prefix, revoked_at, last_used_at, created_by, created_at"
    };
}

/// The row of `$table` with this id, read through `$exec` and made a record by `$from`;
/// `NotFound` when there is none.
macro_rules! row_by_id {
    ($exec:expr, $table:literal, $from:ident, $id:expr) => {
        $from(
            &sqlx::query(concat!("SELECT * FROM ", $table, " WHERE id = $1"))
                .bind($id)
                .fetch_optional($exec)
                .await?
                .ok_or(StoreError::NotFound)?,
        )
    };
}

macro_rules! impl_incident_store {
    ($store:ident, $db:ty) => {
        mod incident_impl {
            use async_trait::async_trait;
            use pupitre_core::audit::{self as core_audit, Actor};
            use pupitre_core::incident::{
                AlertSource, Grouping, IncidentId, IncidentStatus, Severity, Urgency,
            };
            use pupitre_core::permission::EntityId;
            use sqlx::{QueryBuilder, Row};

            use super::$store;
            use crate::incidents::{
                AlertRecord, AlertSourceRecord, Applied, Apply, Delivery, IncidentAction,
                IncidentAsset, IncidentFilter, IncidentRecord, IncidentStore, Inboxed,
                NewAlertSource, NewNotification, NotificationRecord, OverrideRecord, PolicyRecord,
                Handover, ScheduleInput, ScheduleRecord, ShiftEntry, Signal, SilenceRecord,
                TimelineEntry, WindowInput, WindowRecord,
            };
            use crate::sql::push_in;
            use crate::{stored, Result, StoreError};

            type Row_ = <$db as sqlx::Database>::Row;
            type Tx<'a> = sqlx::Transaction<'a, $db>;

            /// The actor of what Pupitre does by itself in a timeline.
            const PUPITRE: &str = "pupitre";

            fn incident_from(row: &Row_) -> Result<IncidentRecord> {
                let status: String = row.try_get("status")?;
                let urgency: String = row.try_get("urgency")?;
                let priority: i64 = row.try_get("priority")?;
                Ok(IncidentRecord {
                    id: row.try_get("id")?,
                    entity_id: row.try_get("entity_id")?,
                    title: row.try_get("title")?,
                    status: stored("incident status", &status, IncidentStatus::parse(&status))?,
                    urgency: stored("urgency", &urgency, Urgency::parse(&urgency))?,
                    impact: row.try_get("impact")?,
                    priority: u8::try_from(priority).unwrap_or(5),
                    group_key: row.try_get("group_key")?,
                    cause_asset_id: row.try_get("cause_asset_id")?,
                    assignee_id: row.try_get("assignee_id")?,
                    merged_into: row.try_get("merged_into")?,
                    paged: row.try_get("paged")?,
                    reopened: row.try_get("reopened")?,
                    created_at: row.try_get("created_at")?,
                    updated_at: row.try_get("updated_at")?,
                    acknowledged_at: row.try_get("acknowledged_at")?,
                    acknowledged_by: row.try_get("acknowledged_by")?,
                    resolved_at: row.try_get("resolved_at")?,
                    resolved_by: row.try_get("resolved_by")?,
                    escalated_until: row.try_get("escalated_until")?,
                    escalation_base: row.try_get("escalation_base")?,
                    review: row.try_get("review")?,
                    reviewed_by: row.try_get("reviewed_by")?,
                    reviewed_at: row.try_get("reviewed_at")?,
                })
            }

            fn policy_from(row: &Row_) -> Result<PolicyRecord> {
                Ok(PolicyRecord {
                    id: row.try_get("id")?,
                    entity_id: row.try_get("entity_id")?,
                    name: row.try_get("name")?,
                    definition: row.try_get("definition")?,
                    created_at: row.try_get("created_at")?,
                    updated_at: row.try_get("updated_at")?,
                })
            }

            fn schedule_from(row: &Row_) -> Result<ScheduleRecord> {
                Ok(ScheduleRecord {
                    id: row.try_get("id")?,
                    entity_id: row.try_get("entity_id")?,
                    name: row.try_get("name")?,
                    time_zone: row.try_get("time_zone")?,
                    definition: row.try_get("definition")?,
                    created_at: row.try_get("created_at")?,
                    updated_at: row.try_get("updated_at")?,
                })
            }

            fn override_from(row: &Row_) -> Result<OverrideRecord> {
                Ok(OverrideRecord {
                    id: row.try_get("id")?,
                    schedule_id: row.try_get("schedule_id")?,
                    user_id: row.try_get("user_id")?,
                    starts_at: row.try_get("starts_at")?,
                    ends_at: row.try_get("ends_at")?,
                    created_by: row.try_get("created_by")?,
                    created_at: row.try_get("created_at")?,
                })
            }

            fn notification_from(row: &Row_) -> Result<NotificationRecord> {
                Ok(NotificationRecord {
                    id: row.try_get("id")?,
                    incident_id: row.try_get("incident_id")?,
                    user_id: row.try_get("user_id")?,
                    channel: row.try_get("channel")?,
                    address: row.try_get("address")?,
                    contact_method_id: row.try_get("contact_method_id")?,
                    step: row.try_get("step")?,
                    round: row.try_get("round")?,
                    state: row.try_get("state")?,
                    attempts: row.try_get("attempts")?,
                    last_error: row.try_get("last_error")?,
                    next_attempt_at: row.try_get("next_attempt_at")?,
                    created_at: row.try_get("created_at")?,
                    sent_at: row.try_get("sent_at")?,
                    message_id: row.try_get("message_id")?,
                })
            }

            /// A policy's audited fields: its entity, name, steps (JSON) and repetitions.
            fn policy_fields(entity_id: EntityId, name: &str, definition: &str) -> Vec<core_audit::Field> {
                let d: serde_json::Value = serde_json::from_str(definition).unwrap_or_default();
                vec![
                    core_audit::Field::new("entity_id", entity_id.to_string()),
                    core_audit::Field::new("name", name),
                    core_audit::Field::new("steps", d["steps"].to_string()),
                    core_audit::Field::new("repeat", d["repeat"].as_u64().unwrap_or(0).to_string()),
                ]
            }

            fn rfc3339(ms: i64) -> String {
                jiff::Timestamp::from_millisecond(ms).map(|t| t.to_string()).unwrap_or_default()
            }

            fn window_from(row: &Row_) -> Result<WindowRecord> {
                Ok(WindowRecord {
                    id: row.try_get("id")?,
                    entity_id: row.try_get("entity_id")?,
                    title: row.try_get("title")?,
                    starts_at: row.try_get("starts_at")?,
                    duration_minutes: row.try_get("duration_minutes")?,
                    time_zone: row.try_get("time_zone")?,
                    rrule: row.try_get("rrule")?,
                    scope: row.try_get("scope")?,
                    intervention: row.try_get("intervention")?,
                    created_by: row.try_get("created_by")?,
                    created_at: row.try_get("created_at")?,
                    updated_at: row.try_get("updated_at")?,
                })
            }

            fn window_fields(w: &WindowInput) -> Vec<core_audit::Field> {
                vec![
                    core_audit::Field::new("entity_id", w.entity_id.to_string()),
                    core_audit::Field::new("name", &w.title),
                    core_audit::Field::new("starts_at", rfc3339(w.starts_at)),
                    core_audit::Field::new("duration_minutes", w.duration_minutes.to_string()),
                    core_audit::Field::new("time_zone", &w.time_zone),
                    core_audit::Field::new("rrule", &w.rrule),
                    core_audit::Field::new("scope", &w.scope),
                    core_audit::Field::new("intervention", &w.intervention),
                ]
            }

            fn shift_entry_from(row: &Row_) -> Result<ShiftEntry> {
                let ids = |col: &str| -> Result<Vec<i64>> {
                    Ok(serde_json::from_str(&row.try_get::<String, _>(col)?).unwrap_or_default())
                };
                Ok(ShiftEntry {
                    id: row.try_get("id")?,
                    entity_id: row.try_get("entity_id")?,
                    at: row.try_get("at")?,
                    author: row.try_get("author")?,
                    category: row.try_get("category")?,
                    text: row.try_get("text")?,
                    asset_ids: ids("asset_ids")?,
                    incident_ids: ids("incident_ids")?,
                })
            }

            fn handover_from(row: &Row_) -> Result<Handover> {
                Ok(Handover {
                    id: row.try_get("id")?,
                    entity_id: row.try_get("entity_id")?,
                    since: row.try_get("since")?,
                    summary: row.try_get("summary")?,
                    note: row.try_get("note")?,
                    created_by: row.try_get("created_by")?,
                    created_at: row.try_get("created_at")?,
                    acknowledged_by: row.try_get("acknowledged_by")?,
                    acknowledged_at: row.try_get("acknowledged_at")?,
                })
            }

            async fn handover(tx: &mut Tx<'_>, id: i64) -> Result<Handover> {
                row_by_id!(&mut **tx, "handovers", handover_from, id)
            }

            fn silence_from(row: &Row_) -> Result<SilenceRecord> {
                Ok(SilenceRecord {
                    id: row.try_get("id")?,
                    entity_id: row.try_get("entity_id")?,
                    matchers: row.try_get("matchers")?,
                    starts_at: row.try_get("starts_at")?,
                    ends_at: row.try_get("ends_at")?,
                    author: row.try_get("author")?,
                    comment: row.try_get("comment")?,
                    created_at: row.try_get("created_at")?,
                })
            }

            async fn silence(tx: &mut Tx<'_>, id: i64) -> Result<SilenceRecord> {
                row_by_id!(&mut **tx, "silences", silence_from, id)
            }

            async fn window(tx: &mut Tx<'_>, id: i64) -> Result<WindowRecord> {
                row_by_id!(&mut **tx, "maintenance_windows", window_from, id)
            }

            async fn schedule(tx: &mut Tx<'_>, id: i64) -> Result<ScheduleRecord> {
                row_by_id!(&mut **tx, "oncall_schedules", schedule_from, id)
            }

            fn fk_conflict(field: &'static str, message: &'static str) -> impl Fn(sqlx::Error) -> StoreError {
                move |e| match &e {
                    sqlx::Error::Database(d) if d.is_foreign_key_violation() => StoreError::Conflict {
                        field: field.to_owned(),
                        message: message.to_owned(),
                    },
                    _ => StoreError::Database(e),
                }
            }

            fn alert_from(row: &Row_) -> Result<AlertRecord> {
                let source: String = row.try_get("source")?;
                let status: String = row.try_get("status")?;
                let severity: String = row.try_get("severity")?;
                Ok(AlertRecord {
                    id: row.try_get("id")?,
                    entity_id: row.try_get("entity_id")?,
                    source: stored("alert source", &source, AlertSource::parse(&source))?,
                    source_id: row.try_get("source_id")?,
                    dedup_key: row.try_get("dedup_key")?,
                    firing: status == "firing",
                    severity: stored("severity", &severity, Severity::parse(&severity))?,
                    summary: row.try_get("summary")?,
                    details: row.try_get("details")?,
                    links: row.try_get("links")?,
                    asset_id: row.try_get("asset_id")?,
                    check_id: row.try_get("check_id")?,
                    service: row.try_get("service")?,
                    incident_id: row.try_get("incident_id")?,
                    suppressed: row.try_get("suppressed")?,
                    updates: row.try_get("updates")?,
                    first_at: row.try_get("first_at")?,
                    last_at: row.try_get("last_at")?,
                    resolved_at: row.try_get("resolved_at")?,
                })
            }

            fn alert_source_from(row: &Row_) -> Result<AlertSourceRecord> {
                let kind: String = row.try_get("kind")?;
                Ok(AlertSourceRecord {
                    id: row.try_get("id")?,
                    entity_id: row.try_get("entity_id")?,
                    name: row.try_get("name")?,
                    kind: stored("alert source kind", &kind, AlertSource::parse(&kind))?,
                    prefix: row.try_get("prefix")?,
                    revoked_at: row.try_get("revoked_at")?,
                    last_used_at: row.try_get("last_used_at")?,
                    created_by: row.try_get("created_by")?,
                    created_at: row.try_get("created_at")?,
                })
            }

            async fn incident(tx: &mut Tx<'_>, id: IncidentId) -> Result<IncidentRecord> {
                let row = sqlx::query(concat!("SELECT ", incident_cols!(), " FROM incidents WHERE id = $1"))
                    .bind(id)
                    .fetch_optional(&mut **tx)
                    .await?
                    .ok_or(StoreError::NotFound)?;
                incident_from(&row)
            }

            async fn alert_source(tx: &mut Tx<'_>, id: i64) -> Result<AlertSourceRecord> {
                let row = sqlx::query(concat!("SELECT ", alert_source_cols!(), " FROM alert_sources WHERE id = $1"))
                    .bind(id)
                    .fetch_optional(&mut **tx)
                    .await?
                    .ok_or(StoreError::NotFound)?;
                alert_source_from(&row)
            }

            /// Adds a line to an incident's timeline and stamps the incident.
            pub(super) async fn timeline(
                tx: &mut Tx<'_>,
                incident: IncidentId,
                at: i64,
                kind: &str,
                actor: &str,
                text: &str,
                alert: Option<i64>,
            ) -> Result<()> {
                sqlx::query(
                    "INSERT INTO incident_events (incident_id, at, kind, actor, text, alert_id) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(incident)
                .bind(at)
                .bind(kind)
                .bind(actor)
                .bind(text)
                .bind(alert)
                .execute(&mut **tx)
                .await?;
                sqlx::query("UPDATE incidents SET updated_at = $1 WHERE id = $2")
                    .bind(at)
                    .bind(incident)
                    .execute(&mut **tx)
                    .await?;
                Ok(())
            }

            async fn user_login(tx: &mut Tx<'_>, id: Option<i64>) -> Result<Option<String>> {
                let Some(id) = id else { return Ok(None) };
                let row = sqlx::query("SELECT login FROM users WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&mut **tx)
                    .await?;
                Ok(row.map(|r| r.try_get::<String, _>(0)).transpose()?)
            }

            /// Links an asset to an incident; an asset already linked keeps its role.
            async fn link_asset(
                tx: &mut Tx<'_>,
                incident: IncidentId,
                asset: i64,
                role: &str,
            ) -> Result<()> {
                sqlx::query(
                    "INSERT INTO incident_assets (incident_id, asset_id, role) \
                     SELECT $1, id, $2 FROM assets WHERE id = $3 \
                     ON CONFLICT (incident_id, asset_id) DO NOTHING",
                )
                .bind(incident)
                .bind(role)
                .bind(asset)
                .execute(&mut **tx)
                .await?;
                Ok(())
            }

            use super::{audit_object as audit, one_change as change};

            /// Opens an incident for a new alert; returns its id.
            async fn open_incident(
                tx: &mut Tx<'_>,
                apply: &Apply,
                group_key: &str,
                now: i64,
            ) -> Result<IncidentId> {
                let urgency = apply.severity.urgency();
                let impact = i64::from(apply.signal.asset_id.is_some());
                let row = sqlx::query(
                    "INSERT INTO incidents (entity_id, title, status, urgency, impact, priority, \
                     group_key, cause_asset_id, created_at, updated_at) \
                     VALUES ($1, $2, 'triggered', $3, $4, $5, $6, \
                     (SELECT id FROM assets WHERE id = $7), $8, $8) RETURNING id",
                )
                .bind(apply.entity_id)
                .bind(&apply.title)
                .bind(urgency.key())
                .bind(impact)
                .bind(i64::from(pupitre_core::incident::priority(urgency, impact)))
                .bind(group_key)
                .bind(apply.signal.asset_id)
                .bind(now)
                .fetch_one(&mut **tx)
                .await?;
                let id: IncidentId = row.try_get(0)?;
                if let Some(asset) = apply.signal.asset_id {
                    link_asset(tx, id, asset, "cause").await?;
                }
                timeline(tx, id, now, "opened", PUPITRE, &apply.title, None).await?;
                for old in &apply.absorb {
                    absorb(tx, id, *old, now).await?;
                }
                Ok(id)
            }

            /// Moves an incident's alerts and assets into `into` and closes it as merged.
            async fn absorb(tx: &mut Tx<'_>, into: IncidentId, old: IncidentId, now: i64) -> Result<()> {
                let before = incident(tx, old).await?;
                if !before.status.is_open() {
                    return Ok(());
                }
                sqlx::query("UPDATE alerts SET incident_id = $1 WHERE incident_id = $2")
                    .bind(into)
                    .bind(old)
                    .execute(&mut **tx)
                    .await?;
                sqlx::query(
                    "INSERT INTO incident_assets (incident_id, asset_id, role) \
                     SELECT $1, asset_id, 'impacted' FROM incident_assets WHERE incident_id = $2 \
                     ON CONFLICT (incident_id, asset_id) DO NOTHING",
                )
                .bind(into)
                .bind(old)
                .execute(&mut **tx)
                .await?;
                sqlx::query(
                    "UPDATE incidents SET status = 'resolved', merged_into = $1, resolved_at = $2, \
                     resolved_by = $3, updated_at = $2 WHERE id = $4",
                )
                .bind(into)
                .bind(now)
                .bind(PUPITRE)
                .bind(old)
                .execute(&mut **tx)
                .await?;
                timeline(tx, old, now, "merged", PUPITRE, &format!("merged into #{into}"), None).await?;
                timeline(tx, into, now, "absorbed", PUPITRE, &format!("#{old}: {}", before.title), None)
                    .await?;
                Ok(())
            }

            #[async_trait]
            impl IncidentStore for $store {
                async fn push_signals(&self, signals: &[Signal], received_at: i64) -> Result<()> {
                    let mut tx = self.write.begin().await?;
                    for chunk in signals.chunks(500) {
                        let mut qb = QueryBuilder::<$db>::new("INSERT INTO alert_inbox (received_at, signal) ");
                        let mut texts = Vec::with_capacity(chunk.len());
                        for s in chunk {
                            texts.push(serde_json::to_string(s).map_err(|e| StoreError::Rejected(e.to_string()))?);
                        }
                        qb.push_values(texts, |mut b, text| {
                            b.push_bind(received_at).push_bind(text);
                        });
                        qb.build().execute(&mut *tx).await?;
                    }
                    tx.commit().await?;
                    Ok(())
                }

                async fn inbox(&self, limit: i64) -> Result<Vec<Inboxed>> {
                    let rows = sqlx::query("SELECT id, received_at, signal FROM alert_inbox ORDER BY id LIMIT $1")
                        .bind(limit)
                        .fetch_all(&self.write)
                        .await?;
                    rows.iter()
                        .map(|r| {
                            let text: String = r.try_get("signal")?;
                            Ok(Inboxed {
                                id: r.try_get("id")?,
                                received_at: r.try_get("received_at")?,
                                signal: serde_json::from_str(&text).map_err(|_| text),
                            })
                        })
                        .collect()
                }

                async fn drop_inboxed(&self, id: i64) -> Result<()> {
                    sqlx::query("DELETE FROM alert_inbox WHERE id = $1")
                        .bind(id)
                        .execute(&self.write)
                        .await?;
                    Ok(())
                }

                async fn firing_alert(&self, key: &str) -> Result<Option<AlertRecord>> {
                    let row = sqlx::query(concat!(
                        "SELECT ", alert_cols!(), " FROM alerts WHERE dedup_key = $1 AND status = 'firing'"))
                    .bind(key)
                    .fetch_optional(&self.write)
                    .await?;
                    row.as_ref().map(alert_from).transpose()
                }

                async fn resolved_since(&self, key: &str, since: i64) -> Result<Option<IncidentId>> {
                    let row = sqlx::query(
                        "SELECT i.id FROM alerts a JOIN incidents i ON i.id = a.incident_id \
                         WHERE a.dedup_key = $1 AND i.status = 'resolved' AND i.merged_into IS NULL \
                         AND i.resolved_at >= $2 ORDER BY a.id DESC LIMIT 1",
                    )
                    .bind(key)
                    .bind(since)
                    .fetch_optional(&self.write)
                    .await?;
                    Ok(row.map(|r| r.try_get(0)).transpose()?)
                }

                async fn open_incidents(&self) -> Result<Vec<IncidentRecord>> {
                    let rows = sqlx::query(concat!(
                        "SELECT ", incident_cols!(), " FROM incidents WHERE status <> 'resolved' ORDER BY id"))
                    .fetch_all(&self.write)
                    .await?;
                    rows.iter().map(incident_from).collect()
                }

                async fn apply_signal(&self, apply: &Apply, now: i64) -> Result<Applied> {
                    let mut tx = self.write.begin().await?;
                    let deleted = sqlx::query("DELETE FROM alert_inbox WHERE id = $1")
                        .bind(apply.inbox_id)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                    if deleted == 0 {
                        return Ok(Applied::default());
                    }
                    let s = &apply.signal;
                    let links = serde_json::to_string(&s.links).map_err(|e| StoreError::Rejected(e.to_string()))?;
                    let details = serde_json::to_string(&s.details).map_err(|e| StoreError::Rejected(e.to_string()))?;
                    let firing = sqlx::query(concat!(
                        "SELECT ", alert_cols!(), " FROM alerts WHERE dedup_key = $1 AND status = 'firing'"))
                    .bind(&s.key)
                    .fetch_optional(&mut *tx)
                    .await?
                    .as_ref()
                    .map(alert_from)
                    .transpose()?;
                    let mut out = Applied { done: true, ..Applied::default() };
                    match (s.firing, firing) {
                        (true, Some(alert))
                            if alert.incident_id.is_none()
                                && !alert.suppressed.is_empty()
                                && apply.suppressed.is_empty()
                                && (apply.grouping.is_some() || apply.reopen.is_some()) =>
                        {
                            // A problem that stayed through a window (or an acknowledgement
                            // that went): it opens or joins its incident now.
                            let incident = match (&apply.grouping, apply.reopen) {
                                (_, Some(id)) => {
                                    sqlx::query(
                                        "UPDATE incidents SET status = 'triggered', reopened = reopened + 1, \
                                         resolved_at = NULL, resolved_by = NULL, acknowledged_at = NULL, \
                                         acknowledged_by = NULL, escalated_until = NULL, escalation_base = $1, \
                                         updated_at = $1 WHERE id = $2 AND status = 'resolved'",
                                    )
                                    .bind(now)
                                    .bind(id)
                                    .execute(&mut *tx)
                                    .await?;
                                    out.reopened = true;
                                    id
                                }
                                (Some(Grouping::Join { incident, behind_cause }), None) => {
                                    if let Some(asset) = s.asset_id {
                                        link_asset(&mut tx, *incident, asset, if *behind_cause { "impacted" } else { "cause" }).await?;
                                    }
                                    *incident
                                }
                                (Some(Grouping::Open { group_key }), None) => {
                                    out.opened = true;
                                    open_incident(&mut tx, apply, group_key, now).await?
                                }
                                (None, None) => unreachable!("guarded above"),
                            };
                            sqlx::query(
                                "UPDATE alerts SET incident_id = $1, suppressed = '', severity = $2, summary = $3, \
                                 last_at = $4, updates = updates + 1 WHERE id = $5",
                            )
                            .bind(incident)
                            .bind(apply.severity.key())
                            .bind(&s.summary)
                            .bind(s.at)
                            .bind(alert.id)
                            .execute(&mut *tx)
                            .await?;
                            timeline(&mut tx, incident, now, "alert_fired", PUPITRE,
                                &format!("{} (no longer suppressed: {})", s.summary, alert.suppressed), Some(alert.id)).await?;
                            out.alert_id = Some(alert.id);
                            out.incident_id = Some(incident);
                        }
                        (true, Some(alert)) => {
                            sqlx::query(
                                "UPDATE alerts SET severity = $1, summary = $2, details = $3, links = $4, \
                                 last_at = $5, updates = updates + 1 WHERE id = $6",
                            )
                            .bind(apply.severity.key())
                            .bind(&s.summary)
                            .bind(&details)
                            .bind(&links)
                            .bind(s.at)
                            .bind(alert.id)
                            .execute(&mut *tx)
                            .await?;
                            out.alert_id = Some(alert.id);
                            out.incident_id = alert.incident_id;
                            if let Some(incident) = alert.incident_id
                                && alert.severity != apply.severity
                            {
                                let text = format!("{} ({} → {})", s.summary, alert.severity.key(), apply.severity.key());
                                timeline(&mut tx, incident, now, "alert_updated", PUPITRE, &text, Some(alert.id)).await?;
                            }
                        }
                        (true, None) => {
                            let incident = if let Some(id) = apply.reopen {
                                let reopened = sqlx::query(
                                    "UPDATE incidents SET status = 'triggered', reopened = reopened + 1, \
                                     resolved_at = NULL, resolved_by = NULL, acknowledged_at = NULL, \
                                     acknowledged_by = NULL, escalated_until = NULL, escalation_base = $1, \
                                     updated_at = $1 WHERE id = $2 AND status = 'resolved'",
                                )
                                .bind(now)
                                .bind(id)
                                .execute(&mut *tx)
                                .await?
                                .rows_affected();
                                if reopened > 0 {
                                    timeline(&mut tx, id, now, "reopened", PUPITRE, &format!("fired again: {}", s.summary), None).await?;
                                    out.reopened = true;
                                }
                                Some(id)
                            } else {
                                match &apply.grouping {
                                    None => None,
                                    Some(Grouping::Join { incident, behind_cause }) => {
                                        if let Some(asset) = s.asset_id {
                                            let role = if *behind_cause { "impacted" } else { "cause" };
                                            link_asset(&mut tx, *incident, asset, role).await?;
                                        }
                                        Some(*incident)
                                    }
                                    Some(Grouping::Open { group_key }) => {
                                        out.opened = true;
                                        Some(open_incident(&mut tx, apply, group_key, now).await?)
                                    }
                                }
                            };
                            let row = sqlx::query(
                                "INSERT INTO alerts (entity_id, source, source_id, dedup_key, status, severity, \
                                 summary, details, links, asset_id, check_id, service, incident_id, suppressed, \
                                 first_at, last_at) \
                                 VALUES ($1, $2, $3, $4, 'firing', $5, $6, $7, $8, \
                                 (SELECT id FROM assets WHERE id = $9), (SELECT id FROM checks WHERE id = $10), \
                                 $11, $12, $13, $14, $14) RETURNING id",
                            )
                            .bind(apply.entity_id)
                            .bind(apply.source.key())
                            .bind(s.source_id)
                            .bind(&s.key)
                            .bind(apply.severity.key())
                            .bind(&s.summary)
                            .bind(&details)
                            .bind(&links)
                            .bind(s.asset_id)
                            .bind(s.check_id)
                            .bind(&s.service)
                            .bind(incident)
                            .bind(&apply.suppressed)
                            .bind(s.at)
                            .fetch_one(&mut *tx)
                            .await?;
                            let alert: i64 = row.try_get(0)?;
                            out.alert_id = Some(alert);
                            out.incident_id = incident;
                            if let Some(incident) = incident {
                                timeline(&mut tx, incident, now, "alert_fired", PUPITRE, &s.summary, Some(alert)).await?;
                            }
                        }
                        (false, Some(alert)) => {
                            sqlx::query(
                                "UPDATE alerts SET status = 'resolved', resolved_at = $1, last_at = $1, \
                                 updates = updates + 1 WHERE id = $2",
                            )
                            .bind(s.at)
                            .bind(alert.id)
                            .execute(&mut *tx)
                            .await?;
                            out.alert_id = Some(alert.id);
                            out.incident_id = alert.incident_id;
                            if let Some(incident) = alert.incident_id {
                                timeline(&mut tx, incident, now, "alert_resolved", PUPITRE, &alert.summary, Some(alert.id)).await?;
                                let left: i64 = sqlx::query(
                                    "SELECT COUNT(*) FROM alerts WHERE incident_id = $1 AND status = 'firing'",
                                )
                                .bind(incident)
                                .fetch_one(&mut *tx)
                                .await?
                                .try_get(0)?;
                                if left == 0 {
                                    let resolved = sqlx::query(
                                        "UPDATE incidents SET status = 'resolved', resolved_at = $1, \
                                         resolved_by = $2, updated_at = $1 WHERE id = $3 AND status <> 'resolved'",
                                    )
                                    .bind(now)
                                    .bind(PUPITRE)
                                    .bind(incident)
                                    .execute(&mut *tx)
                                    .await?
                                    .rows_affected();
                                    if resolved > 0 {
                                        timeline(&mut tx, incident, now, "resolved", PUPITRE, "every alert resolved", None).await?;
                                        out.resolved = true;
                                    }
                                }
                            }
                        }
                        (false, None) => {}
                    }
                    tx.commit().await?;
                    Ok(out)
                }

                async fn rank_incident(&self, id: IncidentId, urgency: Urgency, impact: i64, priority: u8) -> Result<()> {
                    sqlx::query("UPDATE incidents SET urgency = $1, impact = $2, priority = $3 WHERE id = $4")
                        .bind(urgency.key())
                        .bind(impact)
                        .bind(i64::from(priority))
                        .bind(id)
                        .execute(&self.write)
                        .await?;
                    Ok(())
                }

                async fn get_incident(&self, id: IncidentId) -> Result<IncidentRecord> {
                    let row = sqlx::query(concat!("SELECT ", incident_cols!(), " FROM incidents WHERE id = $1"))
                        .bind(id)
                        .fetch_optional(&self.read)
                        .await?
                        .ok_or(StoreError::NotFound)?;
                    incident_from(&row)
                }

                async fn list_incidents(&self, filter: &IncidentFilter) -> Result<Vec<IncidentRecord>> {
                    let mut qb = QueryBuilder::<$db>::new(concat!("SELECT ", incident_cols!(), " FROM incidents WHERE "));
                    push_in(&mut qb, "entity_id", &filter.entities);
                    if !filter.statuses.is_empty() {
                        qb.push(" AND status IN (");
                        let mut sep = qb.separated(", ");
                        for s in &filter.statuses {
                            sep.push_bind(s.key());
                        }
                        qb.push(")");
                    }
                    if let Some(asset) = filter.asset_id {
                        qb.push(" AND id IN (SELECT incident_id FROM incident_assets WHERE asset_id = ");
                        qb.push_bind(asset);
                        qb.push(")");
                    }
                    if let Some(before) = filter.before {
                        qb.push(" AND id < ");
                        qb.push_bind(before);
                    }
                    qb.push(" ORDER BY id DESC LIMIT ");
                    qb.push_bind(filter.limit);
                    let rows = qb.build().fetch_all(&self.read).await?;
                    rows.iter().map(incident_from).collect()
                }

                async fn incident_alerts(&self, id: IncidentId) -> Result<Vec<AlertRecord>> {
                    let rows = sqlx::query(concat!(
                        "SELECT ", alert_cols!(), " FROM alerts WHERE incident_id = $1 ORDER BY id"))
                    .bind(id)
                    .fetch_all(&self.read)
                    .await?;
                    rows.iter().map(alert_from).collect()
                }

                async fn incident_assets(&self, id: IncidentId) -> Result<Vec<IncidentAsset>> {
                    let rows = sqlx::query(
                        "SELECT ia.asset_id, a.name, ia.role FROM incident_assets ia \
                         JOIN assets a ON a.id = ia.asset_id WHERE ia.incident_id = $1 \
                         ORDER BY ia.role, a.name, a.id",
                    )
                    .bind(id)
                    .fetch_all(&self.read)
                    .await?;
                    rows.iter()
                        .map(|r| {
                            Ok(IncidentAsset {
                                asset_id: r.try_get("asset_id")?,
                                name: r.try_get("name")?,
                                role: r.try_get("role")?,
                            })
                        })
                        .collect()
                }

                async fn incident_timeline(&self, id: IncidentId) -> Result<Vec<TimelineEntry>> {
                    let rows = sqlx::query(
                        "SELECT id, at, kind, actor, text, alert_id FROM incident_events \
                         WHERE incident_id = $1 ORDER BY id",
                    )
                    .bind(id)
                    .fetch_all(&self.read)
                    .await?;
                    rows.iter()
                        .map(|r| {
                            Ok(TimelineEntry {
                                id: r.try_get("id")?,
                                at: r.try_get("at")?,
                                kind: r.try_get("kind")?,
                                actor: r.try_get("actor")?,
                                text: r.try_get("text")?,
                                alert_id: r.try_get("alert_id")?,
                            })
                        })
                        .collect()
                }

                async fn list_alerts(&self, entities: &[EntityId], firing_only: bool, limit: i64) -> Result<Vec<AlertRecord>> {
                    let mut qb = QueryBuilder::<$db>::new(concat!("SELECT ", alert_cols!(), " FROM alerts WHERE "));
                    push_in(&mut qb, "entity_id", entities);
                    if firing_only {
                        qb.push(" AND status = 'firing'");
                    }
                    qb.push(" ORDER BY id DESC LIMIT ");
                    qb.push_bind(limit);
                    let rows = qb.build().fetch_all(&self.read).await?;
                    rows.iter().map(alert_from).collect()
                }

                async fn act_on_incident(&self, actor: &Actor, id: IncidentId, action: &IncidentAction) -> Result<IncidentRecord> {
                    let mut tx = self.write.begin().await?;
                    let before = incident(&mut tx, id).await?;
                    let object = ("incident", id, before.title.as_str(), before.entity_id);
                    let status_change = |to: IncidentStatus| change("status", before.status.key(), to.key());
                    match action {
                        IncidentAction::Acknowledge => {
                            match before.status {
                                IncidentStatus::Acknowledged => return Ok(before),
                                IncidentStatus::Resolved => {
                                    return Err(StoreError::Conflict {
                                        field: "status".to_owned(),
                                        message: "the incident is resolved; reopen it first".to_owned(),
                                    })
                                }
                                IncidentStatus::Triggered => {}
                            }
                            sqlx::query(
                                "UPDATE incidents SET status = 'acknowledged', acknowledged_at = $1, \
                                 acknowledged_by = $2 WHERE id = $3",
                            )
                            .bind(actor.at)
                            .bind(&actor.login)
                            .bind(id)
                            .execute(&mut *tx)
                            .await?;
                            timeline(&mut tx, id, actor.at, "acknowledged", &actor.login, "", None).await?;
                            audit(&mut tx, actor, "incident.acknowledge", object, status_change(IncidentStatus::Acknowledged)).await?;
                        }
                        IncidentAction::Resolve => {
                            if before.status == IncidentStatus::Resolved {
                                return Ok(before);
                            }
                            sqlx::query(
                                "UPDATE incidents SET status = 'resolved', resolved_at = $1, resolved_by = $2 \
                                 WHERE id = $3",
                            )
                            .bind(actor.at)
                            .bind(&actor.login)
                            .bind(id)
                            .execute(&mut *tx)
                            .await?;
                            timeline(&mut tx, id, actor.at, "resolved", &actor.login, "", None).await?;
                            audit(&mut tx, actor, "incident.resolve", object, status_change(IncidentStatus::Resolved)).await?;
                        }
                        IncidentAction::Reopen => {
                            if before.status.is_open() {
                                return Ok(before);
                            }
                            if let Some(into) = before.merged_into {
                                return Err(StoreError::Conflict {
                                    field: "status".to_owned(),
                                    message: format!("the incident was merged into #{into}; reopen that one"),
                                });
                            }
                            sqlx::query(
                                "UPDATE incidents SET status = 'triggered', reopened = reopened + 1, \
                                 resolved_at = NULL, resolved_by = NULL, acknowledged_at = NULL, \
                                 acknowledged_by = NULL, escalated_until = NULL, escalation_base = $2 \
                                 WHERE id = $1",
                            )
                            .bind(id)
                            .bind(actor.at)
                            .execute(&mut *tx)
                            .await
                            .map_err(|e| match &e {
                                sqlx::Error::Database(d) if d.is_unique_violation() => StoreError::Conflict {
                                    field: "status".to_owned(),
                                    message: "another open incident already covers this group".to_owned(),
                                },
                                _ => StoreError::Database(e),
                            })?;
                            timeline(&mut tx, id, actor.at, "reopened", &actor.login, "", None).await?;
                            audit(&mut tx, actor, "incident.reopen", object, status_change(IncidentStatus::Triggered)).await?;
                        }
                        IncidentAction::Assign(user) => {
                            if before.assignee_id == *user {
                                return Ok(before);
                            }
                            let after_login = user_login(&mut tx, *user).await?;
                            if user.is_some() && after_login.is_none() {
                                return Err(StoreError::Conflict {
                                    field: "assignee_id".to_owned(),
                                    message: "no such user".to_owned(),
                                });
                            }
                            let before_login = user_login(&mut tx, before.assignee_id).await?;
                            sqlx::query("UPDATE incidents SET assignee_id = $1 WHERE id = $2")
                                .bind(*user)
                                .bind(id)
                                .execute(&mut *tx)
                                .await?;
                            let after_text = after_login.clone().unwrap_or_default();
                            timeline(&mut tx, id, actor.at, "assigned", &actor.login, &after_text, None).await?;
                            let changes = vec![
                                core_audit::Change {
                                    field: "assignee_id".to_owned(),
                                    before: before.assignee_id.map(|u| u.to_string()),
                                    after: user.map(|u| u.to_string()),
                                },
                                core_audit::Change {
                                    field: "assignee".to_owned(),
                                    before: before_login,
                                    after: after_login,
                                },
                            ];
                            audit(&mut tx, actor, "incident.assign", object, changes).await?;
                        }
                        IncidentAction::Note(text) => {
                            timeline(&mut tx, id, actor.at, "note", &actor.login, text, None).await?;
                            audit(&mut tx, actor, "incident.note", object, change("text", "", text)).await?;
                        }
                    }
                    let after = incident(&mut tx, id).await?;
                    tx.commit().await?;
                    Ok(after)
                }

                async fn create_alert_source(&self, actor: &Actor, new: &NewAlertSource) -> Result<AlertSourceRecord> {
                    let mut tx = self.write.begin().await?;
                    let row = sqlx::query(
                        "INSERT INTO alert_sources (entity_id, name, kind, token_hash, prefix, created_by, created_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
                    )
                    .bind(new.entity_id)
                    .bind(&new.name)
                    .bind(new.kind.key())
                    .bind(&new.token_hash)
                    .bind(&new.prefix)
                    .bind(&actor.login)
                    .bind(actor.at)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(|e| match &e {
                        sqlx::Error::Database(d) if d.is_foreign_key_violation() => StoreError::Conflict {
                            field: "entity_id".to_owned(),
                            message: "the entity does not exist".to_owned(),
                        },
                        _ => StoreError::Database(e),
                    })?;
                    let id: i64 = row.try_get(0)?;
                    let fields = [
                        core_audit::Field::new("name", &new.name),
                        core_audit::Field::new("kind", new.kind.key()),
                        core_audit::Field::new("entity_id", new.entity_id.to_string()),
                    ];
                    audit(&mut tx, actor, "alert_source.create", ("alert_source", id, &new.name, new.entity_id),
                        core_audit::diff(None, Some(&fields))).await?;
                    let created = alert_source(&mut tx, id).await?;
                    tx.commit().await?;
                    Ok(created)
                }

                async fn list_alert_sources(&self, entities: &[EntityId]) -> Result<Vec<AlertSourceRecord>> {
                    let mut qb = QueryBuilder::<$db>::new(concat!("SELECT ", alert_source_cols!(), " FROM alert_sources WHERE "));
                    push_in(&mut qb, "entity_id", entities);
                    qb.push(" ORDER BY name, id");
                    let rows = qb.build().fetch_all(&self.read).await?;
                    rows.iter().map(alert_source_from).collect()
                }

                async fn get_alert_source(&self, id: i64) -> Result<AlertSourceRecord> {
                    let row = sqlx::query(concat!("SELECT ", alert_source_cols!(), " FROM alert_sources WHERE id = $1"))
                        .bind(id)
                        .fetch_optional(&self.read)
                        .await?
                        .ok_or(StoreError::NotFound)?;
                    alert_source_from(&row)
                }

                async fn revoke_alert_source(&self, actor: &Actor, id: i64) -> Result<AlertSourceRecord> {
                    let mut tx = self.write.begin().await?;
                    let before = alert_source(&mut tx, id).await?;
                    if before.revoked_at.is_some() {
                        return Ok(before);
                    }
                    sqlx::query("UPDATE alert_sources SET revoked_at = $1 WHERE id = $2")
                        .bind(actor.at)
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                    audit(&mut tx, actor, "alert_source.revoke", ("alert_source", id, &before.name, before.entity_id),
                        change("revoked", "no", "yes")).await?;
                    let after = alert_source(&mut tx, id).await?;
                    tx.commit().await?;
                    Ok(after)
                }

                async fn alert_source_by_token(&self, token_hash: &str, now: i64) -> Result<Option<AlertSourceRecord>> {
                    let row = sqlx::query(concat!(
                        "UPDATE alert_sources SET last_used_at = $1 WHERE token_hash = $2 AND revoked_at IS NULL \
                         RETURNING ", alert_source_cols!()))
                    .bind(now)
                    .bind(token_hash)
                    .fetch_optional(&self.write)
                    .await?;
                    row.as_ref().map(alert_source_from).transpose()
                }

                async fn put_policy(&self, actor: &Actor, entity_id: EntityId, name: &str, definition: &str) -> Result<PolicyRecord> {
                    let mut tx = self.write.begin().await?;
                    let before = sqlx::query("SELECT * FROM escalation_policies WHERE entity_id = $1")
                        .bind(entity_id)
                        .fetch_optional(&mut *tx)
                        .await?
                        .as_ref()
                        .map(policy_from)
                        .transpose()?;
                    let id: i64 = match &before {
                        Some(p) => {
                            sqlx::query("UPDATE escalation_policies SET name = $1, definition = $2, updated_at = $3 WHERE id = $4")
                                .bind(name)
                                .bind(definition)
                                .bind(actor.at)
                                .bind(p.id)
                                .execute(&mut *tx)
                                .await?;
                            p.id
                        }
                        None => sqlx::query(
                            "INSERT INTO escalation_policies (entity_id, name, definition, created_at, updated_at) \
                             VALUES ($1, $2, $3, $4, $4) RETURNING id",
                        )
                        .bind(entity_id)
                        .bind(name)
                        .bind(definition)
                        .bind(actor.at)
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(fk_conflict("entity_id", "the entity does not exist"))?
                        .try_get(0)?,
                    };
                    let changes = core_audit::diff(
                        before.as_ref().map(|p| policy_fields(p.entity_id, &p.name, &p.definition)).as_deref(),
                        Some(&policy_fields(entity_id, name, definition)),
                    );
                    let action = if before.is_some() { "escalation_policy.update" } else { "escalation_policy.create" };
                    audit(&mut tx, actor, action, ("escalation_policy", id, name, entity_id), changes).await?;
                    let row = sqlx::query("SELECT * FROM escalation_policies WHERE id = $1")
                        .bind(id)
                        .fetch_one(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    policy_from(&row)
                }

                async fn list_policies(&self, entities: &[EntityId]) -> Result<Vec<PolicyRecord>> {
                    let mut qb = QueryBuilder::<$db>::new("SELECT * FROM escalation_policies WHERE ");
                    push_in(&mut qb, "entity_id", entities);
                    qb.push(" ORDER BY name, id");
                    let rows = qb.build().fetch_all(&self.read).await?;
                    rows.iter().map(policy_from).collect()
                }

                async fn get_policy(&self, id: i64) -> Result<PolicyRecord> {
                    row_by_id!(&self.read, "escalation_policies", policy_from, id)
                }

                async fn delete_policy(&self, actor: &Actor, id: i64) -> Result<()> {
                    let mut tx = self.write.begin().await?;
                    let row = sqlx::query("SELECT * FROM escalation_policies WHERE id = $1")
                        .bind(id)
                        .fetch_optional(&mut *tx)
                        .await?
                        .ok_or(StoreError::NotFound)?;
                    let p = policy_from(&row)?;
                    sqlx::query("DELETE FROM escalation_policies WHERE id = $1").bind(id).execute(&mut *tx).await?;
                    let fields = policy_fields(p.entity_id, &p.name, &p.definition);
                    audit(&mut tx, actor, "escalation_policy.delete", ("escalation_policy", id, &p.name, p.entity_id),
                        core_audit::diff(Some(&fields), None)).await?;
                    tx.commit().await?;
                    Ok(())
                }

                async fn create_schedule(&self, actor: &Actor, input: &ScheduleInput) -> Result<ScheduleRecord> {
                    let mut tx = self.write.begin().await?;
                    let id: i64 = sqlx::query(
                        "INSERT INTO oncall_schedules (entity_id, name, time_zone, definition, created_at, updated_at) \
                         VALUES ($1, $2, $3, $4, $5, $5) RETURNING id",
                    )
                    .bind(input.entity_id)
                    .bind(&input.name)
                    .bind(&input.time_zone)
                    .bind(&input.definition)
                    .bind(actor.at)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(fk_conflict("entity_id", "the entity does not exist"))?
                    .try_get(0)?;
                    let fields = [
                        core_audit::Field::new("name", &input.name),
                        core_audit::Field::new("entity_id", input.entity_id.to_string()),
                        core_audit::Field::new("time_zone", &input.time_zone),
                        core_audit::Field::new("definition", &input.definition),
                    ];
                    audit(&mut tx, actor, "schedule.create", ("schedule", id, &input.name, input.entity_id),
                        core_audit::diff(None, Some(&fields))).await?;
                    let created = schedule(&mut tx, id).await?;
                    tx.commit().await?;
                    Ok(created)
                }

                async fn update_schedule(&self, actor: &Actor, id: i64, input: &ScheduleInput) -> Result<ScheduleRecord> {
                    let mut tx = self.write.begin().await?;
                    let before = schedule(&mut tx, id).await?;
                    sqlx::query(
                        "UPDATE oncall_schedules SET entity_id = $1, name = $2, time_zone = $3, definition = $4, \
                         updated_at = $5 WHERE id = $6",
                    )
                    .bind(input.entity_id)
                    .bind(&input.name)
                    .bind(&input.time_zone)
                    .bind(&input.definition)
                    .bind(actor.at)
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(fk_conflict("entity_id", "the entity does not exist"))?;
                    let fields = |s: &ScheduleInput| {
                        vec![
                            core_audit::Field::new("name", &s.name),
                            core_audit::Field::new("entity_id", s.entity_id.to_string()),
                            core_audit::Field::new("time_zone", &s.time_zone),
                            core_audit::Field::new("definition", &s.definition),
                        ]
                    };
                    let old = ScheduleInput {
                        entity_id: before.entity_id,
                        name: before.name.clone(),
                        time_zone: before.time_zone.clone(),
                        definition: before.definition.clone(),
                    };
                    audit(&mut tx, actor, "schedule.update", ("schedule", id, &input.name, input.entity_id),
                        core_audit::diff(Some(&fields(&old)), Some(&fields(input)))).await?;
                    let after = schedule(&mut tx, id).await?;
                    tx.commit().await?;
                    Ok(after)
                }

                async fn get_schedule(&self, id: i64) -> Result<ScheduleRecord> {
                    row_by_id!(&self.read, "oncall_schedules", schedule_from, id)
                }

                async fn list_schedules(&self, entities: &[EntityId]) -> Result<Vec<ScheduleRecord>> {
                    let mut qb = QueryBuilder::<$db>::new("SELECT * FROM oncall_schedules WHERE ");
                    push_in(&mut qb, "entity_id", entities);
                    qb.push(" ORDER BY name, id");
                    let rows = qb.build().fetch_all(&self.read).await?;
                    rows.iter().map(schedule_from).collect()
                }

                async fn delete_schedule(&self, actor: &Actor, id: i64) -> Result<()> {
                    let mut tx = self.write.begin().await?;
                    let before = schedule(&mut tx, id).await?;
                    sqlx::query("DELETE FROM oncall_schedules WHERE id = $1").bind(id).execute(&mut *tx).await?;
                    let fields = [core_audit::Field::new("name", &before.name), core_audit::Field::new("definition", &before.definition)];
                    audit(&mut tx, actor, "schedule.delete", ("schedule", id, &before.name, before.entity_id),
                        core_audit::diff(Some(&fields), None)).await?;
                    tx.commit().await?;
                    Ok(())
                }

                async fn add_override(&self, actor: &Actor, schedule_id: i64, user_id: i64, starts_at: i64, ends_at: i64) -> Result<OverrideRecord> {
                    let mut tx = self.write.begin().await?;
                    let s = schedule(&mut tx, schedule_id).await?;
                    let row = sqlx::query(
                        "INSERT INTO schedule_overrides (schedule_id, user_id, starts_at, ends_at, created_by, created_at) \
                         VALUES ($1, $2, $3, $4, $5, $6) RETURNING *",
                    )
                    .bind(schedule_id)
                    .bind(user_id)
                    .bind(starts_at)
                    .bind(ends_at)
                    .bind(&actor.login)
                    .bind(actor.at)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(fk_conflict("user_id", "no such user"))?;
                    let o = override_from(&row)?;
                    let fields = [
                        core_audit::Field::new("user_id", user_id.to_string()),
                        core_audit::Field::new("starts_at", rfc3339(starts_at)),
                        core_audit::Field::new("ends_at", rfc3339(ends_at)),
                    ];
                    audit(&mut tx, actor, "schedule.override", ("schedule", schedule_id, &s.name, s.entity_id),
                        core_audit::diff(None, Some(&fields))).await?;
                    tx.commit().await?;
                    Ok(o)
                }

                async fn list_overrides(&self, schedule_id: i64, after: i64) -> Result<Vec<OverrideRecord>> {
                    let rows = sqlx::query(
                        "SELECT * FROM schedule_overrides WHERE schedule_id = $1 AND ends_at > $2 ORDER BY id",
                    )
                    .bind(schedule_id)
                    .bind(after)
                    .fetch_all(&self.read)
                    .await?;
                    rows.iter().map(override_from).collect()
                }

                async fn incidents_to_escalate(&self) -> Result<Vec<IncidentRecord>> {
                    let rows = sqlx::query(concat!(
                        "SELECT ", incident_cols!(), " FROM incidents WHERE status = 'triggered' ORDER BY id"))
                    .fetch_all(&self.write)
                    .await?;
                    rows.iter().map(incident_from).collect()
                }

                async fn record_pages(&self, incident: IncidentId, previous: Option<i64>, escalated_until: i64, pages: &[NewNotification], now: i64) -> Result<bool> {
                    let mut tx = self.write.begin().await?;
                    let claimed = sqlx::query(
                        "UPDATE incidents SET escalated_until = $1, paged = (paged OR $2) \
                         WHERE id = $3 AND status = 'triggered' \
                         AND (escalated_until = $4 OR (escalated_until IS NULL AND $4 IS NULL))",
                    )
                    .bind(escalated_until)
                    .bind(pages.iter().any(|p| !p.channel.is_empty()))
                    .bind(incident)
                    .bind(previous)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                    if claimed == 0 {
                        return Ok(false);
                    }
                    for page in pages.iter().filter(|p| !p.channel.is_empty()) {
                        sqlx::query(
                            "INSERT INTO notifications (incident_id, user_id, channel, address, contact_method_id, \
                             step, round, state, next_attempt_at, created_at) \
                             VALUES ($1, $2, $3, $4, $5, $6, $7, 'queued', $8, $9)",
                        )
                        .bind(incident)
                        .bind(page.user_id)
                        .bind(&page.channel)
                        .bind(&page.address)
                        .bind(page.contact_method_id)
                        .bind(page.step)
                        .bind(page.round)
                        .bind(page.due_at.max(now))
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                    }
                    for page in pages {
                        timeline(&mut tx, incident, now, "paged", PUPITRE, &page.text, None).await?;
                    }
                    tx.commit().await?;
                    Ok(true)
                }

                async fn due_notifications(&self, now: i64, limit: i64) -> Result<Vec<NotificationRecord>> {
                    let rows = sqlx::query(concat!(
                        "SELECT ", notification_cols!(), " FROM notifications \
                         WHERE state = 'queued' AND next_attempt_at <= $1 ORDER BY next_attempt_at, id LIMIT $2"))
                    .bind(now)
                    .bind(limit)
                    .fetch_all(&self.write)
                    .await?;
                    rows.iter().map(notification_from).collect()
                }

                async fn notification_attempted(&self, id: i64, message: i64, delivery: &Delivery, now: i64) -> Result<()> {
                    let mut tx = self.write.begin().await?;
                    let row = sqlx::query(concat!("SELECT ", notification_cols!(), " FROM notifications WHERE id = $1"))
                        .bind(id)
                        .fetch_optional(&mut *tx)
                        .await?
                        .ok_or(StoreError::NotFound)?;
                    let n = notification_from(&row)?;
                    let (state, error, next, text) = match delivery {
                        Delivery::Sent if message != id => (
                            "sent",
                            String::new(),
                            n.next_attempt_at,
                            format!("{} to {}: delivered in a digest (storm limit)", n.channel, n.address),
                        ),
                        Delivery::Sent => ("sent", String::new(), n.next_attempt_at, format!("{} to {}: delivered", n.channel, n.address)),
                        Delivery::Failed { error, retry_at: Some(at) } => (
                            "queued",
                            error.clone(),
                            *at,
                            format!("{} to {} failed (attempt {}), tried again: {error}", n.channel, n.address, n.attempts + 1),
                        ),
                        Delivery::Failed { error, retry_at: None } => (
                            "failed",
                            error.clone(),
                            n.next_attempt_at,
                            format!("{} to {} failed for good after {} attempts: {error}", n.channel, n.address, n.attempts + 1),
                        ),
                    };
                    sqlx::query(
                        "UPDATE notifications SET state = $1, attempts = attempts + 1, last_error = $2, \
                         next_attempt_at = $3, sent_at = $4, message_id = $5 WHERE id = $6",
                    )
                    .bind(state)
                    .bind(&error)
                    .bind(next)
                    .bind((state == "sent").then_some(now))
                    .bind((state == "sent").then_some(message))
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                    timeline(&mut tx, n.incident_id, now, "notification", PUPITRE, &text, None).await?;
                    tx.commit().await?;
                    Ok(())
                }

                async fn cancel_notification(&self, id: i64, reason: &str, now: i64) -> Result<()> {
                    let mut tx = self.write.begin().await?;
                    let Some(row) = sqlx::query(concat!(
                        "UPDATE notifications SET state = 'cancelled' WHERE id = $1 AND state = 'queued' \
                         RETURNING ", notification_cols!()))
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?
                    else {
                        return Ok(());
                    };
                    let n = notification_from(&row)?;
                    let text = format!("{} to {}: not sent, {reason}", n.channel, n.address);
                    timeline(&mut tx, n.incident_id, now, "notification", PUPITRE, &text, None).await?;
                    tx.commit().await?;
                    Ok(())
                }

                async fn claim_notification(&self, id: i64, due: i64, until: i64) -> Result<bool> {
                    let claimed = sqlx::query(
                        "UPDATE notifications SET next_attempt_at = $1 \
                         WHERE id = $2 AND state = 'queued' AND next_attempt_at = $3",
                    )
                    .bind(until)
                    .bind(id)
                    .bind(due)
                    .execute(&self.write)
                    .await?
                    .rows_affected();
                    Ok(claimed == 1)
                }

                async fn postpone_notifications(&self, ids: &[i64], until: i64) -> Result<()> {
                    if ids.is_empty() {
                        return Ok(());
                    }
                    let mut qb = QueryBuilder::<$db>::new("UPDATE notifications SET next_attempt_at = ");
                    qb.push_bind(until).push(" WHERE state = 'queued' AND ");
                    push_in(&mut qb, "id", ids);
                    qb.build().execute(&self.write).await?;
                    Ok(())
                }

                async fn messages_sent_since(&self, user: i64, since: i64) -> Result<Vec<i64>> {
                    let rows: Vec<(i64,)> = sqlx::query_as(
                        "SELECT MIN(sent_at) FROM notifications WHERE user_id = $1 AND state = 'sent' \
                         AND sent_at > $2 GROUP BY COALESCE(message_id, id) ORDER BY 1",
                    )
                    .bind(user)
                    .bind(since)
                    .fetch_all(&self.write)
                    .await?;
                    Ok(rows.into_iter().map(|(at,)| at).collect())
                }

                async fn create_window(&self, actor: &Actor, input: &WindowInput) -> Result<WindowRecord> {
                    let mut tx = self.write.begin().await?;
                    let id: i64 = sqlx::query(
                        "INSERT INTO maintenance_windows (entity_id, title, starts_at, duration_minutes, time_zone, \
                         rrule, scope, intervention, created_by, created_at, updated_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10) RETURNING id",
                    )
                    .bind(input.entity_id)
                    .bind(&input.title)
                    .bind(input.starts_at)
                    .bind(input.duration_minutes)
                    .bind(&input.time_zone)
                    .bind(&input.rrule)
                    .bind(&input.scope)
                    .bind(&input.intervention)
                    .bind(&actor.login)
                    .bind(actor.at)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(fk_conflict("entity_id", "the entity does not exist"))?
                    .try_get(0)?;
                    audit(&mut tx, actor, "maintenance_window.create", ("maintenance_window", id, &input.title, input.entity_id),
                        core_audit::diff(None, Some(&window_fields(input)))).await?;
                    let created = window(&mut tx, id).await?;
                    tx.commit().await?;
                    Ok(created)
                }

                async fn update_window(&self, actor: &Actor, id: i64, input: &WindowInput) -> Result<WindowRecord> {
                    let mut tx = self.write.begin().await?;
                    let before = window(&mut tx, id).await?;
                    sqlx::query(
                        "UPDATE maintenance_windows SET entity_id = $1, title = $2, starts_at = $3, duration_minutes = $4, \
                         time_zone = $5, rrule = $6, scope = $7, intervention = $8, updated_at = $9 WHERE id = $10",
                    )
                    .bind(input.entity_id)
                    .bind(&input.title)
                    .bind(input.starts_at)
                    .bind(input.duration_minutes)
                    .bind(&input.time_zone)
                    .bind(&input.rrule)
                    .bind(&input.scope)
                    .bind(&input.intervention)
                    .bind(actor.at)
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(fk_conflict("entity_id", "the entity does not exist"))?;
                    let old = WindowInput {
                        entity_id: before.entity_id,
                        title: before.title.clone(),
                        starts_at: before.starts_at,
                        duration_minutes: before.duration_minutes,
                        time_zone: before.time_zone.clone(),
                        rrule: before.rrule.clone(),
                        scope: before.scope.clone(),
                        intervention: before.intervention.clone(),
                    };
                    audit(&mut tx, actor, "maintenance_window.update", ("maintenance_window", id, &input.title, input.entity_id),
                        core_audit::diff(Some(&window_fields(&old)), Some(&window_fields(input)))).await?;
                    let after = window(&mut tx, id).await?;
                    tx.commit().await?;
                    Ok(after)
                }

                async fn delete_window(&self, actor: &Actor, id: i64) -> Result<()> {
                    let mut tx = self.write.begin().await?;
                    let before = window(&mut tx, id).await?;
                    sqlx::query("DELETE FROM maintenance_windows WHERE id = $1").bind(id).execute(&mut *tx).await?;
                    let fields = [core_audit::Field::new("name", &before.title), core_audit::Field::new("rrule", &before.rrule)];
                    audit(&mut tx, actor, "maintenance_window.delete", ("maintenance_window", id, &before.title, before.entity_id),
                        core_audit::diff(Some(&fields), None)).await?;
                    tx.commit().await?;
                    Ok(())
                }

                async fn get_window(&self, id: i64) -> Result<WindowRecord> {
                    row_by_id!(&self.read, "maintenance_windows", window_from, id)
                }

                async fn list_windows(&self, entities: &[EntityId]) -> Result<Vec<WindowRecord>> {
                    let mut qb = QueryBuilder::<$db>::new("SELECT * FROM maintenance_windows WHERE ");
                    push_in(&mut qb, "entity_id", entities);
                    qb.push(" ORDER BY starts_at DESC, id DESC");
                    let rows = qb.build().fetch_all(&self.read).await?;
                    rows.iter().map(window_from).collect()
                }

                async fn suppressed_alerts(&self) -> Result<Vec<AlertRecord>> {
                    let rows = sqlx::query(concat!(
                        "SELECT ", alert_cols!(), " FROM alerts WHERE status = 'firing' AND incident_id IS NULL \
                         AND suppressed <> '' AND source = 'monitoring' ORDER BY id LIMIT 1000"))
                    .fetch_all(&self.write)
                    .await?;
                    rows.iter().map(alert_from).collect()
                }

                async fn create_silence(&self, actor: &Actor, entity_id: EntityId, matchers: &str, starts_at: i64, ends_at: i64, comment: &str) -> Result<SilenceRecord> {
                    let mut tx = self.write.begin().await?;
                    let id: i64 = sqlx::query(
                        "INSERT INTO silences (entity_id, matchers, starts_at, ends_at, author, comment, created_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
                    )
                    .bind(entity_id)
                    .bind(matchers)
                    .bind(starts_at)
                    .bind(ends_at)
                    .bind(&actor.login)
                    .bind(comment)
                    .bind(actor.at)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(fk_conflict("entity_id", "the entity does not exist"))?
                    .try_get(0)?;
                    let fields = [
                        core_audit::Field::new("entity_id", entity_id.to_string()),
                        core_audit::Field::new("matchers", matchers),
                        core_audit::Field::new("starts_at", rfc3339(starts_at)),
                        core_audit::Field::new("ends_at", rfc3339(ends_at)),
                        core_audit::Field::new("comment", comment),
                    ];
                    audit(&mut tx, actor, "silence.create", ("silence", id, comment, entity_id),
                        core_audit::diff(None, Some(&fields))).await?;
                    let created = silence(&mut tx, id).await?;
                    tx.commit().await?;
                    Ok(created)
                }

                async fn get_silence(&self, id: i64) -> Result<SilenceRecord> {
                    row_by_id!(&self.read, "silences", silence_from, id)
                }

                async fn list_silences(&self, entities: &[EntityId], after: i64) -> Result<Vec<SilenceRecord>> {
                    let mut qb = QueryBuilder::<$db>::new("SELECT * FROM silences WHERE ");
                    push_in(&mut qb, "entity_id", entities);
                    qb.push(" AND ends_at > ");
                    qb.push_bind(after);
                    qb.push(" ORDER BY ends_at, id");
                    let rows = qb.build().fetch_all(&self.write).await?;
                    rows.iter().map(silence_from).collect()
                }

                async fn expire_silence(&self, actor: &Actor, id: i64) -> Result<SilenceRecord> {
                    let mut tx = self.write.begin().await?;
                    let before = silence(&mut tx, id).await?;
                    if before.ends_at <= actor.at {
                        return Ok(before);
                    }
                    sqlx::query("UPDATE silences SET ends_at = $1 WHERE id = $2")
                        .bind(actor.at)
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                    audit(&mut tx, actor, "silence.expire", ("silence", id, &before.comment, before.entity_id),
                        change("ends_at", &rfc3339(before.ends_at), &rfc3339(actor.at))).await?;
                    let after = silence(&mut tx, id).await?;
                    tx.commit().await?;
                    Ok(after)
                }

                async fn set_review(&self, actor: &Actor, id: IncidentId, review: &str) -> Result<IncidentRecord> {
                    let mut tx = self.write.begin().await?;
                    let before = incident(&mut tx, id).await?;
                    if before.review == review {
                        return Ok(before);
                    }
                    sqlx::query("UPDATE incidents SET review = $1, reviewed_by = $2, reviewed_at = $3 WHERE id = $4")
                        .bind(review)
                        .bind(&actor.login)
                        .bind(actor.at)
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                    let fields = |r: &str| -> Vec<core_audit::Field> {
                        let v: serde_json::Value = serde_json::from_str(r).unwrap_or_default();
                        ["cause", "impact", "actions"]
                            .into_iter()
                            .map(|k| core_audit::Field::new(k, v[k].as_str().unwrap_or("")))
                            .collect()
                    };
                    audit(&mut tx, actor, "incident.review", ("incident", id, &before.title, before.entity_id),
                        core_audit::diff(Some(&fields(&before.review)), Some(&fields(review)))).await?;
                    timeline(&mut tx, id, actor.at, "review", &actor.login, "post-incident review written", None).await?;
                    let after = incident(&mut tx, id).await?;
                    tx.commit().await?;
                    Ok(after)
                }

                async fn incidents_between(&self, entities: &[EntityId], from: i64, to: i64) -> Result<(Vec<IncidentRecord>, Vec<(IncidentId, i64, String)>)> {
                    let mut qb = QueryBuilder::<$db>::new(concat!("SELECT ", incident_cols!(), " FROM incidents WHERE "));
                    push_in(&mut qb, "entity_id", entities);
                    qb.push(" AND merged_into IS NULL AND created_at < ");
                    qb.push_bind(to);
                    qb.push(" AND (resolved_at IS NULL OR resolved_at > ");
                    qb.push_bind(from);
                    qb.push(") ORDER BY id LIMIT 10000");
                    let incidents: Vec<IncidentRecord> = qb.build().fetch_all(&self.read).await?.iter().map(incident_from).collect::<Result<_>>()?;
                    let ids: Vec<i64> = incidents.iter().map(|i| i.id).collect();
                    let mut links = Vec::new();
                    for chunk in ids.chunks(500) {
                        let mut qb = QueryBuilder::<$db>::new(
                            "SELECT ia.incident_id, ia.asset_id, a.name FROM incident_assets ia \
                             JOIN assets a ON a.id = ia.asset_id WHERE ");
                        push_in(&mut qb, "ia.incident_id", chunk);
                        for r in qb.build().fetch_all(&self.read).await? {
                            links.push((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?));
                        }
                    }
                    Ok((incidents, links))
                }

                async fn add_shift_entry(&self, actor: &Actor, entity_id: EntityId, category: &str, text: &str, asset_ids: &[i64], incident_ids: &[i64]) -> Result<ShiftEntry> {
                    let mut tx = self.write.begin().await?;
                    let assets = serde_json::to_string(asset_ids).unwrap_or_else(|_| "[]".to_owned());
                    let incidents = serde_json::to_string(incident_ids).unwrap_or_else(|_| "[]".to_owned());
                    let row = sqlx::query(
                        "INSERT INTO shift_entries (entity_id, at, author, category, text, asset_ids, incident_ids, created_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $2) RETURNING *",
                    )
                    .bind(entity_id)
                    .bind(actor.at)
                    .bind(&actor.login)
                    .bind(category)
                    .bind(text)
                    .bind(&assets)
                    .bind(&incidents)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(fk_conflict("entity_id", "the entity does not exist"))?;
                    let entry = shift_entry_from(&row)?;
                    let fields = [
                        core_audit::Field::new("entity_id", entity_id.to_string()),
                        core_audit::Field::new("category", category),
                        core_audit::Field::new("text", text),
                    ];
                    audit(&mut tx, actor, "shift_log.write", ("shift_entry", entry.id, category, entity_id),
                        core_audit::diff(None, Some(&fields))).await?;
                    tx.commit().await?;
                    Ok(entry)
                }

                async fn list_shift_entries(&self, entities: &[EntityId], since: Option<i64>, before: Option<i64>, limit: i64) -> Result<Vec<ShiftEntry>> {
                    let mut qb = QueryBuilder::<$db>::new("SELECT * FROM shift_entries WHERE ");
                    push_in(&mut qb, "entity_id", entities);
                    if let Some(since) = since {
                        qb.push(" AND at >= ");
                        qb.push_bind(since);
                    }
                    if let Some(before) = before {
                        qb.push(" AND id < ");
                        qb.push_bind(before);
                    }
                    qb.push(" ORDER BY id DESC LIMIT ");
                    qb.push_bind(limit);
                    let rows = qb.build().fetch_all(&self.read).await?;
                    rows.iter().map(shift_entry_from).collect()
                }

                async fn create_handover(&self, actor: &Actor, entity_id: EntityId, since: i64, summary: &str, note: &str) -> Result<Handover> {
                    let mut tx = self.write.begin().await?;
                    let id: i64 = sqlx::query(
                        "INSERT INTO handovers (entity_id, since, summary, note, created_by, created_at) \
                         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                    )
                    .bind(entity_id)
                    .bind(since)
                    .bind(summary)
                    .bind(note)
                    .bind(&actor.login)
                    .bind(actor.at)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(fk_conflict("entity_id", "the entity does not exist"))?
                    .try_get(0)?;
                    let fields = [
                        core_audit::Field::new("entity_id", entity_id.to_string()),
                        core_audit::Field::new("note", note),
                    ];
                    audit(&mut tx, actor, "handover.create", ("handover", id, note, entity_id),
                        core_audit::diff(None, Some(&fields))).await?;
                    let created = handover(&mut tx, id).await?;
                    tx.commit().await?;
                    Ok(created)
                }

                async fn get_handover(&self, id: i64) -> Result<Handover> {
                    row_by_id!(&self.read, "handovers", handover_from, id)
                }

                async fn list_handovers(&self, entities: &[EntityId], limit: i64) -> Result<Vec<Handover>> {
                    let mut qb = QueryBuilder::<$db>::new("SELECT * FROM handovers WHERE ");
                    push_in(&mut qb, "entity_id", entities);
                    qb.push(" ORDER BY id DESC LIMIT ");
                    qb.push_bind(limit);
                    let rows = qb.build().fetch_all(&self.read).await?;
                    rows.iter().map(handover_from).collect()
                }

                async fn acknowledge_handover(&self, actor: &Actor, id: i64) -> Result<Handover> {
                    let mut tx = self.write.begin().await?;
                    let before = handover(&mut tx, id).await?;
                    if before.acknowledged_at.is_some() {
                        return Ok(before);
                    }
                    if before.created_by == actor.login {
                        return Err(StoreError::Conflict {
                            field: "acknowledged_by".to_owned(),
                            message: "the incoming operator acknowledges a handover, not the one who wrote it".to_owned(),
                        });
                    }
                    sqlx::query("UPDATE handovers SET acknowledged_by = $1, acknowledged_at = $2 WHERE id = $3")
                        .bind(&actor.login)
                        .bind(actor.at)
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                    audit(&mut tx, actor, "handover.acknowledge", ("handover", id, &before.note, before.entity_id),
                        change("acknowledged_by", "", &actor.login)).await?;
                    let after = handover(&mut tx, id).await?;
                    tx.commit().await?;
                    Ok(after)
                }

                async fn incident_notifications(&self, incident: IncidentId) -> Result<Vec<NotificationRecord>> {
                    let rows = sqlx::query(concat!(
                        "SELECT ", notification_cols!(), " FROM notifications WHERE incident_id = $1 ORDER BY id"))
                    .bind(incident)
                    .fetch_all(&self.read)
                    .await?;
                    rows.iter().map(notification_from).collect()
                }
            }
        }
    };
}
