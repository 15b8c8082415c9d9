//! The supervision queries both backends share, instantiated per backend by
//! `impl_monitoring_store!` inside a module of its own.

macro_rules! impl_monitoring_store {
    ($store:ident, $db:ty) => {
        mod monitoring_impl {
            use std::collections::HashMap;

            use async_trait::async_trait;
            use pupitre_core::audit::{self as core_audit, Actor, AuditEvent};
            use pupitre_core::inventory::{AssetId, GraphEdge, RelationKind};
            use pupitre_core::monitoring::State;
            use pupitre_core::monitoring::check::{
                Check, CheckEvent, CheckId, Downtime, EventKind, LastResult, Recurrence,
            };
            use pupitre_core::monitoring::definition::CheckDefinition;
            use pupitre_core::monitoring::range::Thresholds;
            use pupitre_core::monitoring::status::{Acknowledgement, CheckStatus};
            use pupitre_core::permission::EntityId;
            use sqlx::{QueryBuilder, Row};

            use super::$store;
            use pupitre_core::monitoring::template::{self as tpl, CheckTemplate, PlannedCheck, TemplateId};
            use crate::monitoring::{
                decode_history, decode_probe, decode_rule, decode_template_checks, encode_history,
                encode_probe, encode_rule, encode_template_checks, ApplyReport, CheckFilter,
                CheckRecord, Heartbeat, MonitoringStore, NewCheck, NewEvent, ResultWrite,
                StateCount, TemplateInput, TemplateRecord,
            };
            use crate::inventory::{AssetFilter, InventoryStore};
            use crate::EntityStore;
            use crate::{stored, Page, Result, StoreError};

            type Row_ = <$db as sqlx::Database>::Row;
            type Tx<'a> = sqlx::Transaction<'a, $db>;

            const CHECK_SELECT: &str = "SELECT c.id, c.asset_id, c.entity_id, c.name, c.probe, \
                c.interval_s, c.retry_interval_s, c.timeout_s, c.max_attempts, c.warning, \
                c.critical, c.notifications_enabled, c.host_check, c.template_id, \
                c.template_index, c.created_at, c.updated_at, s.state, s.hard, s.attempt, \
                s.unreachable, s.last_hard_state, s.last_change_at, s.last_hard_change_at, \
                s.history, s.flapping, s.problem_notified, s.ack_author, s.ack_comment, \
                s.ack_expires_at, s.last_run_at, s.duration_ms, s.output, s.long_output, \
                s.perfdata, s.heartbeat_at, s.heartbeat_state, s.heartbeat_message, \
                a.name AS asset_name, a.management_ip AS asset_ip, a.hostname AS asset_hostname, \
                a.site_id AS asset_site_id \
                FROM checks c JOIN check_states s ON s.check_id = c.id \
                JOIN assets a ON a.id = c.asset_id";

            fn conflict(field: &str, message: impl Into<String>) -> StoreError {
                StoreError::Conflict {
                    field: field.to_owned(),
                    message: message.into(),
                }
            }

            fn state_from(what: &str, key: &str) -> Result<State> {
                stored(what, key, State::from_key(key))
            }

            fn u32_of(row: &Row_, column: &str) -> Result<u32> {
                let v: i64 = row.try_get(column)?;
                u32::try_from(v).map_err(|_| StoreError::Rejected(format!("stored {column} {v} is out of range")))
            }

            fn record_from(row: &Row_) -> Result<CheckRecord> {
                let warning: String = row.try_get("warning")?;
                let critical: String = row.try_get("critical")?;
                let thresholds = Thresholds::parse(&warning, &critical)
                    .map_err(|e| StoreError::Rejected(format!("stored thresholds: {e}")))?;
                let probe: String = row.try_get("probe")?;
                let max_attempts = u32_of(row, "max_attempts")?;
                let notifications_enabled: bool = row.try_get("notifications_enabled")?;
                let template_id: Option<i64> = row.try_get("template_id")?;
                let template_index: Option<i64> = row.try_get("template_index")?;
                let check = Check {
                    id: row.try_get("id")?,
                    asset_id: row.try_get("asset_id")?,
                    definition: CheckDefinition {
                        name: row.try_get("name")?,
                        probe: decode_probe(&probe)?,
                        interval_s: u32_of(row, "interval_s")?,
                        retry_interval_s: u32_of(row, "retry_interval_s")?,
                        timeout_s: u32_of(row, "timeout_s")?,
                        max_attempts,
                        thresholds,
                        notifications_enabled,
                        entity_id: row.try_get("entity_id")?,
                    },
                    host_check: row.try_get("host_check")?,
                    template: template_id.zip(template_index.and_then(|i| u32::try_from(i).ok())),
                    created_at: row.try_get("created_at")?,
                    updated_at: row.try_get("updated_at")?,
                };
                let ack_author: Option<String> = row.try_get("ack_author")?;
                let acknowledgement = match ack_author {
                    Some(author) => Some(Acknowledgement {
                        author,
                        comment: row.try_get::<Option<String>, _>("ack_comment")?.unwrap_or_default(),
                        expires_at: row.try_get("ack_expires_at")?,
                    }),
                    None => None,
                };
                let state: String = row.try_get("state")?;
                let last_hard: String = row.try_get("last_hard_state")?;
                let history: String = row.try_get("history")?;
                let mut status = CheckStatus::new(max_attempts);
                status.state = state_from("state", &state)?;
                status.hard = row.try_get("hard")?;
                status.attempt = u32_of(row, "attempt")?;
                status.unreachable = row.try_get("unreachable")?;
                status.last_hard_state = state_from("state", &last_hard)?;
                status.last_change_at = row.try_get("last_change_at")?;
                status.last_hard_change_at = row.try_get("last_hard_change_at")?;
                status.history = decode_history(&history);
                status.flapping = row.try_get("flapping")?;
                status.problem_notified = row.try_get("problem_notified")?;
                status.acknowledgement = acknowledgement;
                status.notifications_enabled = notifications_enabled;
                let last_run_at: Option<i64> = row.try_get("last_run_at")?;
                let last = match last_run_at {
                    Some(at) => Some(LastResult {
                        at,
                        duration_ms: row.try_get("duration_ms")?,
                        output: row.try_get("output")?,
                        long_output: row.try_get("long_output")?,
                        perfdata: row.try_get("perfdata")?,
                    }),
                    None => None,
                };
                let heartbeat_at: Option<i64> = row.try_get("heartbeat_at")?;
                let heartbeat = match heartbeat_at {
                    Some(at) => {
                        let state: Option<String> = row.try_get("heartbeat_state")?;
                        Some(Heartbeat {
                            at,
                            state: state.map(|s| state_from("heartbeat state", &s)).transpose()?,
                            message: row.try_get::<Option<String>, _>("heartbeat_message")?.unwrap_or_default(),
                        })
                    }
                    None => None,
                };
                let name: String = row.try_get("asset_name")?;
                let ip: String = row.try_get("asset_ip")?;
                let hostname: String = row.try_get("asset_hostname")?;
                let asset_address = [ip, hostname, name.clone()]
                    .into_iter()
                    .find(|a| !a.is_empty())
                    .unwrap_or_default();
                Ok(CheckRecord {
                    check,
                    status,
                    last,
                    asset_name: name,
                    asset_address,
                    asset_site_id: row.try_get("asset_site_id")?,
                    heartbeat,
                })
            }

            fn event_from(row: &Row_) -> Result<CheckEvent> {
                let kind: String = row.try_get("kind")?;
                let state: String = row.try_get("state")?;
                let previous: Option<String> = row.try_get("previous_state")?;
                Ok(CheckEvent {
                    id: row.try_get("id")?,
                    check_id: row.try_get("check_id")?,
                    at: row.try_get("at")?,
                    kind: stored("event kind", &kind, EventKind::from_key(&kind))?,
                    state: state_from("state", &state)?,
                    previous_state: previous.map(|p| state_from("state", &p)).transpose()?,
                    unreachable: row.try_get("unreachable")?,
                    notify: row.try_get("notify")?,
                    output: row.try_get("output")?,
                })
            }

            fn downtime_from(row: &Row_) -> Result<Downtime> {
                let weekdays: Option<i64> = row.try_get("weekdays")?;
                let start: Option<i64> = row.try_get("start_minute")?;
                let duration: Option<i64> = row.try_get("duration_minutes")?;
                let recurrence = match (weekdays, start, duration) {
                    (Some(w), Some(s), Some(d)) => Some(Recurrence {
                        weekdays: u8::try_from(w).unwrap_or(0),
                        start_minute: u32::try_from(s).unwrap_or(0),
                        duration_minutes: u32::try_from(d).unwrap_or(0),
                    }),
                    _ => None,
                };
                let starts_at: i64 = row.try_get("starts_at")?;
                let ends_at: i64 = row.try_get("ends_at")?;
                let time_zone: String = row.try_get("time_zone")?;
                let offsets = match recurrence {
                    Some(_) => crate::zones::downtime_offsets(&time_zone, starts_at, ends_at, crate::zones::now_ms()),
                    None => Default::default(),
                };
                Ok(Downtime {
                    id: row.try_get("id")?,
                    entity_id: row.try_get("entity_id")?,
                    asset_id: row.try_get("asset_id")?,
                    check_id: row.try_get("check_id")?,
                    starts_at,
                    ends_at,
                    recurrence,
                    time_zone,
                    offsets,
                    author: row.try_get("author")?,
                    comment: row.try_get("comment")?,
                })
            }

            fn check_fields(asset_id: AssetId, d: &CheckDefinition, host_check: bool) -> Vec<core_audit::Field> {
                use core_audit::Field;
                let t = &d.thresholds;
                vec![
                    Field::new("asset_id", asset_id.to_string()),
                    Field::new("entity_id", d.entity_id.to_string()),
                    Field::new("name", d.name.clone()),
                    Field::new("probe", encode_probe(&d.probe)),
                    Field::new("interval", d.interval_s.to_string()),
                    Field::new("retry_interval", d.retry_interval_s.to_string()),
                    Field::new("timeout", d.timeout_s.to_string()),
                    Field::new("max_attempts", d.max_attempts.to_string()),
                    Field::new("warning", t.warning_text()),
                    Field::new("critical", t.critical_text()),
                    Field::new("notifications", d.notifications_enabled.to_string()),
                    Field::new("host_check", host_check.to_string()),
                ]
            }

            async fn audit(
                tx: &mut Tx<'_>,
                actor: &Actor,
                action: &str,
                (object_type, id, label, entity): (&str, i64, &str, EntityId),
                before: Option<&[core_audit::Field]>,
                after: Option<&[core_audit::Field]>,
            ) -> Result<()> {
                let ev = AuditEvent {
                    action: action.to_owned(),
                    object_type: object_type.to_owned(),
                    object_id: Some(id),
                    object_label: label.to_owned(),
                    entity_id: Some(entity),
                    changes: core_audit::diff(before, after),
                };
                if action.ends_with(".update") && ev.changes.is_empty() {
                    return Ok(());
                }
                super::write_audit(tx, actor, &ev).await
            }

            fn unique_check(e: sqlx::Error) -> StoreError {
                match &e {
                    sqlx::Error::Database(d) if d.is_unique_violation() => {
                        // PostgreSQL names the index; SQLite names the columns.
                        let message = d.message();
                        if message.contains("host_check")
                            || (message.contains("checks.asset_id") && !message.contains("checks.name"))
                        {
                            conflict("host_check", "the asset already has a host check")
                        } else {
                            conflict("name", "the asset already has a check with this name")
                        }
                    }
                    sqlx::Error::Database(d) if d.is_foreign_key_violation() => {
                        conflict("asset_id", "the asset or the entity does not exist")
                    }
                    _ => StoreError::Database(e),
                }
            }

            async fn record_in(conn: &mut <$db as sqlx::Database>::Connection, id: CheckId) -> Result<CheckRecord> {
                let sql = format!("{CHECK_SELECT} WHERE c.id = $1");
                let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(id)
                    .fetch_optional(conn)
                    .await?
                    .ok_or(StoreError::NotFound)?;
                record_from(&row)
            }

            fn template_from(row: &Row_) -> Result<TemplateRecord> {
                let entity_id: EntityId = row.try_get("entity_id")?;
                let rule: String = row.try_get("rule")?;
                let checks: String = row.try_get("checks")?;
                let host_check: Option<i64> = row.try_get("host_check")?;
                Ok(TemplateRecord {
                    template: CheckTemplate {
                        id: row.try_get("id")?,
                        name: row.try_get("name")?,
                        checks: decode_template_checks(&checks, entity_id)?,
                        host_check: host_check.and_then(|h| usize::try_from(h).ok()),
                        rule: decode_rule(&rule)?,
                    },
                    entity_id,
                    created_at: row.try_get("created_at")?,
                    updated_at: row.try_get("updated_at")?,
                    applied_checks: row.try_get("applied")?,
                })
            }

            const TEMPLATE_SELECT: &str = "SELECT t.*, \
                (SELECT COUNT(*) FROM checks c WHERE c.template_id = t.id) AS applied \
                FROM check_templates t";

            fn template_fields(input: &TemplateInput) -> Vec<core_audit::Field> {
                vec![
                    core_audit::Field::new("name", input.name.clone()),
                    core_audit::Field::new("entity_id", input.entity_id.to_string()),
                    core_audit::Field::new("rule", encode_rule(&input.rule)),
                    core_audit::Field::new("checks", encode_template_checks(&input.checks)),
                    core_audit::Field::new("host_check", input.host_check.map(|h| h.to_string()).unwrap_or_default()),
                ]
            }

            fn unique_template(e: sqlx::Error) -> StoreError {
                match &e {
                    sqlx::Error::Database(d) if d.is_unique_violation() => {
                        conflict("name", "another template has this name")
                    }
                    sqlx::Error::Database(d) if d.is_foreign_key_violation() => {
                        conflict("entity_id", "the entity does not exist")
                    }
                    _ => StoreError::Database(e),
                }
            }

            async fn template_in(conn: &mut <$db as sqlx::Database>::Connection, id: TemplateId) -> Result<TemplateRecord> {
                let sql = format!("{TEMPLATE_SELECT} WHERE t.id = $1");
                let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(id)
                    .fetch_optional(conn)
                    .await?
                    .ok_or(StoreError::NotFound)?;
                template_from(&row)
            }

            /// The stored columns of a check, for comparing a template's wish with what exists.
            fn check_columns(d: &CheckDefinition, host_check: bool) -> (String, String, i64, i64, i64, i64, String, String, bool, bool, EntityId) {
                (
                    d.name.clone(),
                    encode_probe(&d.probe),
                    i64::from(d.interval_s),
                    i64::from(d.retry_interval_s),
                    i64::from(d.timeout_s),
                    i64::from(d.max_attempts),
                    d.thresholds.warning_text(),
                    d.thresholds.critical_text(),
                    d.notifications_enabled,
                    host_check,
                    d.entity_id,
                )
            }

            async fn insert_check(
                tx: &mut Tx<'_>,
                at: i64,
                asset_id: AssetId,
                d: &CheckDefinition,
                host_check: bool,
                template: Option<(TemplateId, i64)>,
                heartbeat_hash: Option<String>,
            ) -> std::result::Result<i64, sqlx::Error> {
                let id: i64 = sqlx::query(
                    "INSERT INTO checks (asset_id, entity_id, name, probe_kind, probe, interval_s, \
                     retry_interval_s, timeout_s, max_attempts, warning, critical, \
                     notifications_enabled, host_check, heartbeat_hash, template_id, template_index, \
                     created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $17) \
                     RETURNING id",
                )
                .bind(asset_id)
                .bind(d.entity_id)
                .bind(&d.name)
                .bind(d.probe.kind())
                .bind(encode_probe(&d.probe))
                .bind(i64::from(d.interval_s))
                .bind(i64::from(d.retry_interval_s))
                .bind(i64::from(d.timeout_s))
                .bind(i64::from(d.max_attempts))
                .bind(d.thresholds.warning_text())
                .bind(d.thresholds.critical_text())
                .bind(d.notifications_enabled)
                .bind(host_check)
                .bind(heartbeat_hash)
                .bind(template.map(|t| t.0))
                .bind(template.map(|t| t.1))
                .bind(at)
                .fetch_one(&mut **tx)
                .await?
                .try_get("id")?;
                let pending = CheckStatus::new(d.max_attempts);
                sqlx::query(
                    "INSERT INTO check_states (check_id, state, hard, attempt, unreachable, \
                     last_hard_state, history, flapping, problem_notified) \
                     VALUES ($1, $2, $3, $4, $5, $6, '', $7, $8)",
                )
                .bind(id)
                .bind(pending.state.key())
                .bind(pending.hard)
                .bind(i64::from(pending.attempt))
                .bind(pending.unreachable)
                .bind(pending.last_hard_state.key())
                .bind(pending.flapping)
                .bind(pending.problem_notified)
                .execute(&mut **tx)
                .await?;
                Ok(id)
            }

            async fn insert_event(tx: &mut Tx<'_>, check_id: CheckId, ev: &NewEvent) -> Result<()> {
                insert_events(tx, &[(check_id, ev)]).await
            }

            async fn insert_events(tx: &mut Tx<'_>, events: &[(CheckId, &NewEvent)]) -> Result<()> {
                for chunk in events.chunks(1000) {
                    let mut qb = QueryBuilder::<$db>::new(
                        "INSERT INTO check_events (check_id, at, kind, state, previous_state, unreachable, notify, output) ",
                    );
                    qb.push_values(chunk, |mut b, (check_id, ev)| {
                        b.push_bind(*check_id)
                            .push_bind(ev.at)
                            .push_bind(ev.kind.key())
                            .push_bind(ev.state.key())
                            .push_bind(ev.previous_state.map(State::key))
                            .push_bind(ev.unreachable)
                            .push_bind(ev.notify)
                            .push_bind(ev.output.clone());
                    });
                    qb.build().execute(&mut **tx).await?;
                }
                inbox_state_changes(tx, events).await
            }

            /// The maintenance windows' occurrences that cover now or start within a day, as
            /// one-off downtimes of each asset and check they cover (id: minus the window's).
            async fn maintenance_downtimes(pool: &sqlx::Pool<$db>, now: i64) -> Result<Vec<Downtime>> {
                use jiff::Timestamp;
                use pupitre_oncall::recurrence::Rule;
                let windows = sqlx::query("SELECT * FROM maintenance_windows ORDER BY id")
                    .fetch_all(pool)
                    .await?;
                if windows.is_empty() {
                    return Ok(Vec::new());
                }
                let horizon = now + 86_400_000;
                let mut out = Vec::new();
                let mut tree: Option<Vec<(EntityId, Option<EntityId>)>> = None;
                for w in &windows {
                    let id: i64 = w.try_get("id")?;
                    let starts_at: i64 = w.try_get("starts_at")?;
                    let duration = w.try_get::<i64, _>("duration_minutes")? * 60_000;
                    let zone: String = w.try_get("time_zone")?;
                    let rrule: String = w.try_get("rrule")?;
                    let spans: Vec<(i64, i64)> = if rrule.is_empty() {
                        vec![(starts_at, starts_at + duration)]
                    } else {
                        let (Ok(rule), Ok(tz), Ok(first)) = (
                            Rule::parse(&rrule),
                            jiff::tz::TimeZone::get(&zone),
                            Timestamp::from_millisecond(starts_at),
                        ) else {
                            continue;
                        };
                        let until = Timestamp::from_millisecond(horizon).unwrap_or(Timestamp::MAX);
                        rule.occurrences(first.to_zoned(tz.clone()).datetime(), &tz, until, 100_000)
                            .into_iter()
                            .map(|t| (t.as_millisecond(), t.as_millisecond() + duration))
                            .collect()
                    };
                    let spans: Vec<(i64, i64)> = spans.into_iter().filter(|(s, e)| *e > now && *s < horizon).collect();
                    if spans.is_empty() {
                        continue;
                    }
                    let scope: crate::incidents::WindowScope =
                        serde_json::from_str(&w.try_get::<String, _>("scope")?).unwrap_or_default();
                    let mut assets: Vec<AssetId> = scope.asset_ids.clone();
                    if !scope.tags.is_empty() {
                        let mut qb = QueryBuilder::<$db>::new("SELECT DISTINCT asset_id FROM asset_tags WHERE tag IN (");
                        let mut sep = qb.separated(", ");
                        for t in &scope.tags {
                            sep.push_bind(t.clone());
                        }
                        qb.push(")");
                        for r in qb.build().fetch_all(pool).await? {
                            assets.push(r.try_get(0)?);
                        }
                    }
                    if !scope.entity_ids.is_empty() {
                        if tree.is_none() {
                            let rows = sqlx::query("SELECT id, parent_id FROM entities").fetch_all(pool).await?;
                            tree = Some(rows.iter().map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).collect::<Result<_>>()?);
                        }
                        let tree = tree.as_deref().unwrap_or_default();
                        let entities: Vec<EntityId> = scope
                            .entity_ids
                            .iter()
                            .flat_map(|e| pupitre_core::permission::subtree(*e, tree))
                            .collect();
                        let mut qb = QueryBuilder::<$db>::new("SELECT id FROM assets WHERE ");
                        crate::sql::push_in(&mut qb, "entity_id", &entities);
                        for r in qb.build().fetch_all(pool).await? {
                            assets.push(r.try_get(0)?);
                        }
                    }
                    assets.sort_unstable();
                    assets.dedup();
                    let entity_id: EntityId = w.try_get("entity_id")?;
                    let author: String = w.try_get("created_by")?;
                    let comment = format!("maintenance: {}", w.try_get::<String, _>("title")?);
                    let targets = assets
                        .iter()
                        .map(|a| (Some(*a), None))
                        .chain(scope.check_ids.iter().map(|c| (None, Some(*c))));
                    for (asset_id, check_id) in targets {
                        for (s, e) in &spans {
                            out.push(Downtime {
                                id: -id,
                                entity_id,
                                asset_id,
                                check_id,
                                starts_at: *s,
                                ends_at: *e,
                                recurrence: None,
                                time_zone: "UTC".to_owned(),
                                offsets: Default::default(),
                                author: author.clone(),
                                comment: comment.clone(),
                            });
                        }
                    }
                }
                Ok(out)
            }

            /// Hands the hard state changes to the incidents' correlator, in the transaction
            /// that records them (see `crate::incidents`). The correlator adds the asset, the
            /// entity and the names.
            async fn inbox_state_changes(tx: &mut Tx<'_>, events: &[(CheckId, &NewEvent)]) -> Result<()> {
                let signals: Vec<(i64, String)> = events
                    .iter()
                    .filter(|(_, ev)| ev.kind == EventKind::State)
                    .map(|(check_id, ev)| {
                        let signal = crate::incidents::Signal {
                            source: "monitoring".to_owned(),
                            source_id: None,
                            entity_id: None,
                            key: format!("check:{check_id}"),
                            firing: ev.state != State::Ok,
                            severity: match ev.state {
                                State::Critical => "critical",
                                State::Warning | State::Unknown => "warning",
                                State::Ok => "info",
                            }
                            .to_owned(),
                            summary: ev.output.clone(),
                            details: serde_json::Map::from_iter([(
                                "state".to_owned(),
                                serde_json::Value::from(ev.state.key()),
                            )]),
                            links: Vec::new(),
                            asset_id: None,
                            check_id: Some(*check_id),
                            service: String::new(),
                            at: ev.at,
                            notify: ev.notify,
                            unreachable: ev.unreachable,
                        };
                        (ev.at, serde_json::to_string(&signal).unwrap_or_default())
                    })
                    .collect();
                for chunk in signals.chunks(500) {
                    let mut qb = QueryBuilder::<$db>::new("INSERT INTO alert_inbox (received_at, signal) ");
                    qb.push_values(chunk, |mut b, (at, text)| {
                        b.push_bind(*at).push_bind(text.clone());
                    });
                    qb.build().execute(&mut **tx).await?;
                }
                Ok(())
            }

            /// A result to write and whether its check's acknowledgement goes.
            type StateRow<'a> = (&'a ResultWrite, bool);

            /// The most rows one `UPDATE` of [`update_states`] carries (16 values each).
            const STATE_ROWS_PER_STATEMENT: usize = 256;

            /// Writes the status and last result of each row, a few rows per statement:
            /// `WITH r (…) AS (VALUES …) UPDATE check_states … FROM r`, on both backends.
            /// Statements carry a power of two of rows, so that the backends' statement caches
            /// hold a few texts (a batch of 100 is 64 + 32 + 4 rows) instead of one per size.
            /// A check deleted meanwhile has no row and is skipped.
            async fn update_states(tx: &mut Tx<'_>, rows: &[StateRow<'_>], remove_acknowledgement: bool) -> Result<()> {
                let mut rest = rows;
                while !rest.is_empty() {
                    let size = STATE_ROWS_PER_STATEMENT.min(1 << rest.len().ilog2());
                    let (chunk, tail) = rest.split_at(size);
                    rest = tail;
                    let mut qb = QueryBuilder::<$db>::new(
                        "WITH r (check_id, state, hard, attempt, unreachable, last_hard_state, \
                         last_change_at, last_hard_change_at, history, flapping, problem_notified, \
                         last_run_at, duration_ms, output, long_output, perfdata) AS (",
                    );
                    qb.push_values(chunk, |mut b, (r, _)| {
                        let s = &r.status;
                        b.push_bind(r.check_id)
                            .push_bind(s.state.key())
                            .push_bind(s.hard)
                            .push_bind(i64::from(s.attempt))
                            .push_bind(s.unreachable)
                            .push_bind(s.last_hard_state.key())
                            .push_bind(s.last_change_at)
                            .push_bind(s.last_hard_change_at)
                            .push_bind(encode_history(&s.history))
                            .push_bind(s.flapping)
                            .push_bind(s.problem_notified)
                            .push_bind(r.last.at)
                            .push_bind(r.last.duration_ms)
                            .push_bind(r.last.output.clone())
                            .push_bind(r.last.long_output.clone())
                            .push_bind(r.last.perfdata.clone());
                    });
                    qb.push(
                        ") UPDATE check_states SET state = r.state, hard = r.hard, attempt = r.attempt, \
                         unreachable = r.unreachable, last_hard_state = r.last_hard_state, \
                         last_change_at = r.last_change_at, last_hard_change_at = r.last_hard_change_at, \
                         history = r.history, flapping = r.flapping, problem_notified = r.problem_notified, \
                         last_run_at = r.last_run_at, duration_ms = r.duration_ms, output = r.output, \
                         long_output = r.long_output, perfdata = r.perfdata",
                    );
                    if remove_acknowledgement {
                        qb.push(", ack_author = NULL, ack_comment = NULL, ack_at = NULL, ack_expires_at = NULL");
                    }
                    qb.push(" FROM r WHERE check_states.check_id = r.check_id");
                    qb.build().execute(&mut **tx).await?;
                }
                Ok(())
            }

            fn push_filter(qb: &mut QueryBuilder<$db>, filter: &CheckFilter) {
                qb.push(" WHERE c.entity_id IN (");
                let mut list = qb.separated(", ");
                for e in &filter.visible {
                    list.push_bind(*e);
                }
                if filter.visible.is_empty() {
                    list.push("NULL");
                }
                qb.push(")");
                if let Some(asset) = filter.asset_id {
                    qb.push(" AND c.asset_id = ").push_bind(asset);
                }
                if !filter.states.is_empty() {
                    qb.push(" AND s.last_change_at IS NOT NULL AND s.state IN (");
                    let mut list = qb.separated(", ");
                    for s in &filter.states {
                        list.push_bind(s.key());
                    }
                    qb.push(")");
                }
                if filter.problems {
                    qb.push(" AND s.state <> 'ok' AND s.last_change_at IS NOT NULL");
                }
                if let Some(kind) = &filter.probe_kind {
                    qb.push(" AND c.probe_kind = ").push_bind(kind.clone());
                }
                if let Some(q) = filter.query.as_ref().filter(|q| !q.is_empty()) {
                    let pattern = format!(
                        "%{}%",
                        q.to_lowercase().replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
                    );
                    qb.push(" AND (LOWER(c.name) LIKE ")
                        .push_bind(pattern.clone())
                        .push(" ESCAPE '\\' OR LOWER(a.name) LIKE ")
                        .push_bind(pattern)
                        .push(" ESCAPE '\\')");
                }
            }

            #[async_trait]
            impl MonitoringStore for $store {
                async fn list_templates(&self, visible: &[EntityId]) -> Result<Vec<TemplateRecord>> {
                    let mut qb = QueryBuilder::<$db>::new(TEMPLATE_SELECT);
                    qb.push(" WHERE t.entity_id IN (");
                    let mut list = qb.separated(", ");
                    for e in visible {
                        list.push_bind(*e);
                    }
                    if visible.is_empty() {
                        list.push("NULL");
                    }
                    qb.push(") ORDER BY t.name, t.id");
                    let rows = qb.build().fetch_all(&self.read).await?;
                    rows.iter().map(template_from).collect()
                }

                async fn get_template(&self, id: TemplateId) -> Result<TemplateRecord> {
                    let mut conn = self.read.acquire().await?;
                    template_in(&mut conn, id).await
                }

                async fn create_template(&self, actor: &Actor, input: &TemplateInput) -> Result<TemplateRecord> {
                    let mut tx = self.write.begin().await?;
                    let id: i64 = sqlx::query(
                        "INSERT INTO check_templates (entity_id, name, rule, checks, host_check, created_at, updated_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING id",
                    )
                    .bind(input.entity_id)
                    .bind(&input.name)
                    .bind(encode_rule(&input.rule))
                    .bind(encode_template_checks(&input.checks))
                    .bind(input.host_check.and_then(|h| i64::try_from(h).ok()))
                    .bind(actor.at)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(unique_template)?
                    .try_get("id")?;
                    audit(&mut tx, actor, "check_template.create", ("check_template", id, &input.name, input.entity_id), None, Some(&template_fields(input))).await?;
                    let created = template_in(&mut *tx, id).await?;
                    tx.commit().await?;
                    Ok(created)
                }

                async fn update_template(&self, actor: &Actor, id: TemplateId, input: &TemplateInput) -> Result<TemplateRecord> {
                    let mut tx = self.write.begin().await?;
                    let before = template_in(&mut *tx, id).await?;
                    sqlx::query(
                        "UPDATE check_templates SET entity_id = $2, name = $3, rule = $4, checks = $5, \
                         host_check = $6, updated_at = $7 WHERE id = $1",
                    )
                    .bind(id)
                    .bind(input.entity_id)
                    .bind(&input.name)
                    .bind(encode_rule(&input.rule))
                    .bind(encode_template_checks(&input.checks))
                    .bind(input.host_check.and_then(|h| i64::try_from(h).ok()))
                    .bind(actor.at)
                    .execute(&mut *tx)
                    .await
                    .map_err(unique_template)?;
                    let old = TemplateInput {
                        name: before.template.name.clone(),
                        entity_id: before.entity_id,
                        rule: before.template.rule.clone(),
                        checks: before.template.checks.clone(),
                        host_check: before.template.host_check,
                    };
                    audit(&mut tx, actor, "check_template.update", ("check_template", id, &input.name, input.entity_id), Some(&template_fields(&old)), Some(&template_fields(input))).await?;
                    let after = template_in(&mut *tx, id).await?;
                    tx.commit().await?;
                    Ok(after)
                }

                async fn delete_template(&self, actor: &Actor, id: TemplateId) -> Result<()> {
                    let mut tx = self.write.begin().await?;
                    let before = template_in(&mut *tx, id).await?;
                    sqlx::query("DELETE FROM check_templates WHERE id = $1").bind(id).execute(&mut *tx).await?;
                    let old = TemplateInput {
                        name: before.template.name.clone(),
                        entity_id: before.entity_id,
                        rule: before.template.rule.clone(),
                        checks: before.template.checks.clone(),
                        host_check: before.template.host_check,
                    };
                    audit(&mut tx, actor, "check_template.delete", ("check_template", id, &before.template.name, before.entity_id), Some(&template_fields(&old)), None).await?;
                    tx.commit().await?;
                    Ok(())
                }

                async fn apply_templates(&self, actor: &Actor, scope: Option<&[AssetId]>) -> Result<ApplyReport> {
                    let templates: Vec<TemplateRecord> = sqlx::query(sqlx::AssertSqlSafe(format!("{TEMPLATE_SELECT} ORDER BY t.id")))
                        .fetch_all(&self.read)
                        .await?
                        .iter()
                        .map(template_from)
                        .collect::<Result<_>>()?;
                    let any_applied: bool = sqlx::query("SELECT 1 FROM checks WHERE template_id IS NOT NULL LIMIT 1")
                        .fetch_optional(&self.read)
                        .await?
                        .is_some();
                    if templates.is_empty() && !any_applied {
                        return Ok(ApplyReport::default());
                    }
                    let tree: Vec<(EntityId, Option<EntityId>)> = self
                        .list_entities()
                        .await?
                        .iter()
                        .map(|e| (e.id, e.parent_id))
                        .collect();
                    // A template applies within its own entity's subtree.
                    let scoped: Vec<CheckTemplate> = templates
                        .iter()
                        .map(|t| {
                            let mut template = t.template.clone();
                            let within = pupitre_core::permission::subtree(t.entity_id, &tree);
                            match template.rule.entity {
                                Some(scope) if within.contains(&scope.entity_id) => {}
                                _ => {
                                    template.rule.entity = Some(tpl::EntityScope { entity_id: t.entity_id, recursive: true });
                                }
                            }
                            template
                        })
                        .collect();
                    let assets = match scope {
                        Some(ids) => self.get_assets(ids).await?,
                        None => {
                            let filter = AssetFilter {
                                visible: tree.iter().map(|t| t.0).collect(),
                                ..AssetFilter::default()
                            };
                            let mut all = Vec::new();
                            let mut after = None;
                            loop {
                                let page = self.list_assets(&filter, Page { after, limit: 2000 }).await?;
                                let Some(last) = page.last() else { break };
                                after = Some(last.id);
                                let short = page.len() < 2000;
                                all.extend(page);
                                if short {
                                    break;
                                }
                            }
                            all
                        }
                    };
                    let wanted = tpl::plan(&scoped, &assets, &tree);
                    let mut qb = QueryBuilder::<$db>::new(
                        "SELECT id, asset_id, template_id, template_index, entity_id, name, probe, interval_s, \
                         retry_interval_s, timeout_s, max_attempts, warning, critical, notifications_enabled, \
                         host_check FROM checks WHERE template_id IS NOT NULL",
                    );
                    if let Some(ids) = scope {
                        if ids.is_empty() {
                            return Ok(ApplyReport::default());
                        }
                        qb.push(" AND asset_id IN (");
                        let mut list = qb.separated(", ");
                        for id in ids {
                            list.push_bind(*id);
                        }
                        qb.push(")");
                    }
                    let rows = qb.build().fetch_all(&self.read).await?;
                    let mut existing: HashMap<PlannedCheck, (i64, (String, String, i64, i64, i64, i64, String, String, bool, bool, EntityId))> = HashMap::new();
                    for r in &rows {
                        let index: i64 = r.try_get("template_index")?;
                        let key = PlannedCheck {
                            template_id: r.try_get("template_id")?,
                            asset_id: r.try_get("asset_id")?,
                            check_index: usize::try_from(index).unwrap_or(usize::MAX),
                        };
                        let columns = (
                            r.try_get("name")?,
                            r.try_get("probe")?,
                            r.try_get("interval_s")?,
                            r.try_get("retry_interval_s")?,
                            r.try_get("timeout_s")?,
                            r.try_get("max_attempts")?,
                            r.try_get("warning")?,
                            r.try_get("critical")?,
                            r.try_get("notifications_enabled")?,
                            r.try_get("host_check")?,
                            r.try_get("entity_id")?,
                        );
                        existing.insert(key, (r.try_get("id")?, columns));
                    }
                    let current: Vec<PlannedCheck> = existing.keys().copied().collect();
                    let diff = tpl::diff(&current, &wanted);
                    let by_id: HashMap<TemplateId, &CheckTemplate> = scoped.iter().map(|t| (t.id, t)).collect();
                    let assets_by_id: HashMap<AssetId, &pupitre_core::inventory::Asset> = assets.iter().map(|a| (a.id, a)).collect();
                    let definition_of = |p: &PlannedCheck| {
                        let template = by_id.get(&p.template_id)?;
                        let asset = assets_by_id.get(&p.asset_id)?;
                        let d = template.check_for(p.check_index, asset)?;
                        Some((d, template.host_check == Some(p.check_index)))
                    };
                    let mut report = ApplyReport::default();
                    let mut tx = self.write.begin().await?;
                    for p in &diff.to_delete {
                        if let Some((id, _)) = existing.get(p) {
                            sqlx::query("DELETE FROM checks WHERE id = $1").bind(*id).execute(&mut *tx).await?;
                            report.deleted += 1;
                        }
                    }
                    for p in &wanted {
                        let Some((id, stored)) = existing.get(p) else { continue };
                        let Some((d, host)) = definition_of(p) else { continue };
                        let (name, probe, interval, retry, timeout, attempts, warning, critical, notify, host_check, entity) = check_columns(&d, host);
                        if (&name, &probe, interval, retry, timeout, attempts, &warning, &critical, notify, host_check, entity)
                            == (&stored.0, &stored.1, stored.2, stored.3, stored.4, stored.5, &stored.6, &stored.7, stored.8, stored.9, stored.10)
                        {
                            continue;
                        }
                        let updated = sqlx::query(
                            "UPDATE checks SET name = $2, probe = $3, interval_s = $4, retry_interval_s = $5, \
                             timeout_s = $6, max_attempts = $7, warning = $8, critical = $9, \
                             notifications_enabled = $10, host_check = $11, entity_id = $12, updated_at = $13 \
                             WHERE id = $1",
                        )
                        .bind(*id).bind(name).bind(probe).bind(interval).bind(retry).bind(timeout)
                        .bind(attempts).bind(warning).bind(critical).bind(notify).bind(host_check)
                        .bind(entity).bind(actor.at)
                        .execute(&mut *tx)
                        .await;
                        match updated {
                            Ok(_) => report.updated += 1,
                            Err(e) => match unique_check(e) {
                                StoreError::Conflict { message, .. } => report.skipped.push(format!("{} on asset {}: {message}", d.name, p.asset_id)),
                                other => return Err(other),
                            },
                        }
                    }
                    for p in &diff.to_create {
                        let Some((d, host)) = definition_of(p) else { continue };
                        // A manual check may already hold the name or the host check: it stays,
                        // and the template's check is skipped (reported).
                        let taken = sqlx::query(
                            "SELECT name, host_check FROM checks WHERE asset_id = $1 AND (name = $2 OR ($3 AND host_check))",
                        )
                        .bind(p.asset_id)
                        .bind(&d.name)
                        .bind(host)
                        .fetch_all(&mut *tx)
                        .await?;
                        let name_taken = taken.iter().any(|r| r.try_get::<String, _>("name").is_ok_and(|n| n == d.name));
                        let host_taken = host && taken.iter().any(|r| r.try_get::<bool, _>("host_check").unwrap_or(false));
                        if name_taken || host_taken {
                            if report.skipped.len() < 100 {
                                let why = if name_taken { "a check of that name exists" } else { "the asset already has a host check" };
                                report.skipped.push(format!("{} on asset {}: {why}", d.name, p.asset_id));
                            }
                            continue;
                        }
                        let index = i64::try_from(p.check_index).unwrap_or(i64::MAX);
                        insert_check(&mut tx, actor.at, p.asset_id, &d, host, Some((p.template_id, index)), None)
                            .await
                            .map_err(unique_check)?;
                        report.created += 1;
                    }
                    if report.created + report.updated + report.deleted > 0 {
                        let changes = vec![
                            core_audit::Field::new("created", report.created.to_string()),
                            core_audit::Field::new("updated", report.updated.to_string()),
                            core_audit::Field::new("deleted", report.deleted.to_string()),
                        ];
                        let ev = AuditEvent {
                            action: "check_template.apply".to_owned(),
                            object_type: "check_template".to_owned(),
                            object_id: None,
                            object_label: format!("{} template(s)", templates.len()),
                            entity_id: None,
                            changes: core_audit::diff(None, Some(&changes)),
                        };
                        super::write_audit(&mut tx, actor, &ev).await?;
                    }
                    tx.commit().await?;
                    Ok(report)
                }

                async fn create_check(&self, actor: &Actor, new: &NewCheck) -> Result<CheckRecord> {
                    let d = &new.definition;
                    let mut tx = self.write.begin().await?;
                    let id = insert_check(&mut tx, actor.at, new.asset_id, d, new.host_check, None, new.heartbeat_hash.clone())
                        .await
                        .map_err(unique_check)?;
                    let created = record_in(&mut *tx, id).await?;
                    audit(
                        &mut tx,
                        actor,
                        "check.create",
                        ("check", id, &d.name, d.entity_id),
                        None,
                        Some(&check_fields(new.asset_id, d, new.host_check)),
                    )
                    .await?;
                    tx.commit().await?;
                    Ok(created)
                }

                async fn update_check(
                    &self,
                    actor: &Actor,
                    id: CheckId,
                    d: &CheckDefinition,
                    host_check: bool,
                ) -> Result<CheckRecord> {
                    let mut tx = self.write.begin().await?;
                    let before = record_in(&mut *tx, id).await?;
                    if before.check.definition.probe.kind() != d.probe.kind() {
                        return Err(conflict("probe.kind", "a check's probe kind cannot change; create another check"));
                    }
                    sqlx::query(
                        "UPDATE checks SET entity_id = $2, name = $3, probe = $4, interval_s = $5, \
                         retry_interval_s = $6, timeout_s = $7, max_attempts = $8, warning = $9, \
                         critical = $10, notifications_enabled = $11, host_check = $12, updated_at = $13 \
                         WHERE id = $1",
                    )
                    .bind(id)
                    .bind(d.entity_id)
                    .bind(&d.name)
                    .bind(encode_probe(&d.probe))
                    .bind(i64::from(d.interval_s))
                    .bind(i64::from(d.retry_interval_s))
                    .bind(i64::from(d.timeout_s))
                    .bind(i64::from(d.max_attempts))
                    .bind(d.thresholds.warning_text())
                    .bind(d.thresholds.critical_text())
                    .bind(d.notifications_enabled)
                    .bind(host_check)
                    .bind(actor.at)
                    .execute(&mut *tx)
                    .await
                    .map_err(unique_check)?;
                    let after = record_in(&mut *tx, id).await?;
                    audit(
                        &mut tx,
                        actor,
                        "check.update",
                        ("check", id, &d.name, d.entity_id),
                        Some(&check_fields(before.check.asset_id, &before.check.definition, before.check.host_check)),
                        Some(&check_fields(after.check.asset_id, d, host_check)),
                    )
                    .await?;
                    tx.commit().await?;
                    Ok(after)
                }

                async fn delete_check(&self, actor: &Actor, id: CheckId) -> Result<()> {
                    let mut tx = self.write.begin().await?;
                    let before = record_in(&mut *tx, id).await?;
                    sqlx::query("DELETE FROM checks WHERE id = $1").bind(id).execute(&mut *tx).await?;
                    let d = &before.check.definition;
                    audit(
                        &mut tx,
                        actor,
                        "check.delete",
                        ("check", id, &d.name, d.entity_id),
                        Some(&check_fields(before.check.asset_id, d, before.check.host_check)),
                        None,
                    )
                    .await?;
                    tx.commit().await?;
                    Ok(())
                }

                async fn get_check(&self, id: CheckId) -> Result<CheckRecord> {
                    let mut conn = self.read.acquire().await?;
                    record_in(&mut conn, id).await
                }

                async fn list_checks(&self, filter: &CheckFilter, page: Page) -> Result<Vec<CheckRecord>> {
                    let mut qb = QueryBuilder::<$db>::new(CHECK_SELECT);
                    push_filter(&mut qb, filter);
                    if let Some(after) = page.after {
                        qb.push(" AND c.id > ").push_bind(after);
                    }
                    qb.push(format!(" ORDER BY c.id LIMIT {}", page.limit.clamp(0, 100_000)));
                    let rows = qb.build().fetch_all(&self.read).await?;
                    rows.iter().map(record_from).collect()
                }

                async fn all_checks(&self) -> Result<Vec<CheckRecord>> {
                    let sql = format!("{CHECK_SELECT} ORDER BY c.id");
                    let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_all(&self.read).await?;
                    rows.iter().map(record_from).collect()
                }

                async fn save_results(&self, results: &[ResultWrite]) -> Result<()> {
                    if results.is_empty() {
                        return Ok(());
                    }
                    // One row per check: a later result of the same check wins, and an
                    // acknowledgement removed by any of them stays removed, as if each had been
                    // written in turn. Rows that remove one are a statement of their own, so
                    // that the others never touch the acknowledgement columns.
                    let mut rows: Vec<StateRow<'_>> = Vec::with_capacity(results.len());
                    let mut position: HashMap<CheckId, usize> = HashMap::with_capacity(results.len());
                    for r in results {
                        match position.get(&r.check_id) {
                            Some(&i) => {
                                let removed = rows[i].1 || r.acknowledgement_removed;
                                rows[i] = (r, removed);
                            }
                            None => {
                                position.insert(r.check_id, rows.len());
                                rows.push((r, r.acknowledgement_removed));
                            }
                        }
                    }
                    let (unacknowledging, plain): (Vec<_>, Vec<_>) = rows.into_iter().partition(|(_, removed)| *removed);
                    let mut tx = self.write.begin().await?;
                    update_states(&mut tx, &plain, false).await?;
                    update_states(&mut tx, &unacknowledging, true).await?;
                    let events: Vec<(CheckId, &NewEvent)> = results
                        .iter()
                        .flat_map(|r| r.events.iter().map(move |e| (r.check_id, e)))
                        .collect();
                    // A check deleted while its run was in flight has no row to update; its
                    // events must not be inserted either (foreign key).
                    let mut live = Vec::with_capacity(events.len());
                    if !events.is_empty() {
                        let mut qb = QueryBuilder::<$db>::new("SELECT id FROM checks WHERE id IN (");
                        let mut list = qb.separated(", ");
                        for (id, _) in &events {
                            list.push_bind(*id);
                        }
                        qb.push(")");
                        let ids: std::collections::HashSet<i64> = qb
                            .build()
                            .fetch_all(&mut *tx)
                            .await?
                            .iter()
                            .map(|r| r.try_get("id"))
                            .collect::<std::result::Result<_, _>>()?;
                        live.extend(events.into_iter().filter(|(id, _)| ids.contains(id)));
                    }
                    insert_events(&mut tx, &live).await?;
                    tx.commit().await?;
                    Ok(())
                }

                async fn acknowledge(
                    &self,
                    actor: &Actor,
                    id: CheckId,
                    ack: &Acknowledgement,
                    state: State,
                ) -> Result<()> {
                    let mut tx = self.write.begin().await?;
                    let before = record_in(&mut *tx, id).await?;
                    sqlx::query(
                        "UPDATE check_states SET ack_author = $2, ack_comment = $3, ack_at = $4, \
                         ack_expires_at = $5 WHERE check_id = $1",
                    )
                    .bind(id)
                    .bind(&ack.author)
                    .bind(&ack.comment)
                    .bind(actor.at)
                    .bind(ack.expires_at)
                    .execute(&mut *tx)
                    .await?;
                    let output = format!("{}: {}", ack.author, ack.comment);
                    insert_event(&mut tx, id, &NewEvent {
                        at: actor.at,
                        kind: EventKind::Acknowledged,
                        state,
                        previous_state: None,
                        unreachable: before.status.unreachable,
                        notify: false,
                        output,
                    }).await?;
                    let d = &before.check.definition;
                    let fields = |a: Option<&Acknowledgement>| {
                        vec![
                            core_audit::Field::new("acknowledged_by", a.map(|a| a.author.clone()).unwrap_or_default()),
                            core_audit::Field::new("comment", a.map(|a| a.comment.clone()).unwrap_or_default()),
                            core_audit::Field::new("expires_at", a.and_then(|a| a.expires_at).map(core_audit::instant).unwrap_or_default()),
                        ]
                    };
                    audit(
                        &mut tx,
                        actor,
                        "check.acknowledge",
                        ("check", id, &d.name, d.entity_id),
                        Some(&fields(before.status.acknowledgement.as_ref())),
                        Some(&fields(Some(ack))),
                    )
                    .await?;
                    tx.commit().await?;
                    Ok(())
                }

                async fn remove_acknowledgement(&self, actor: &Actor, id: CheckId, state: State) -> Result<()> {
                    let mut tx = self.write.begin().await?;
                    let before = record_in(&mut *tx, id).await?;
                    let Some(ack) = before.status.acknowledgement.clone() else {
                        return Err(StoreError::Rejected("the check is not acknowledged".to_owned()));
                    };
                    sqlx::query(
                        "UPDATE check_states SET ack_author = NULL, ack_comment = NULL, ack_at = NULL, \
                         ack_expires_at = NULL WHERE check_id = $1",
                    )
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                    insert_event(&mut tx, id, &NewEvent {
                        at: actor.at,
                        kind: EventKind::AcknowledgementRemoved,
                        state,
                        previous_state: None,
                        unreachable: before.status.unreachable,
                        notify: false,
                        output: format!("removed by {}", actor.login),
                    }).await?;
                    let d = &before.check.definition;
                    audit(
                        &mut tx,
                        actor,
                        "check.unacknowledge",
                        ("check", id, &d.name, d.entity_id),
                        Some(&[core_audit::Field::new("acknowledged_by", ack.author)]),
                        Some(&[core_audit::Field::new("acknowledged_by", "")]),
                    )
                    .await?;
                    tx.commit().await?;
                    Ok(())
                }

                async fn list_events(&self, check_id: CheckId, page: Page) -> Result<Vec<CheckEvent>> {
                    let mut qb = QueryBuilder::<$db>::new("SELECT * FROM check_events WHERE check_id = ");
                    qb.push_bind(check_id);
                    if let Some(after) = page.after {
                        qb.push(" AND id < ").push_bind(after);
                    }
                    qb.push(format!(" ORDER BY id DESC LIMIT {}", page.limit.clamp(0, 10_000)));
                    let rows = qb.build().fetch_all(&self.read).await?;
                    rows.iter().map(event_from).collect()
                }

                async fn record_heartbeat(&self, hash: &str, beat: &Heartbeat) -> Result<Option<CheckId>> {
                    let mut tx = self.write.begin().await?;
                    let id: Option<i64> = sqlx::query("SELECT id FROM checks WHERE heartbeat_hash = $1")
                        .bind(hash)
                        .fetch_optional(&mut *tx)
                        .await?
                        .map(|r| r.try_get("id"))
                        .transpose()?;
                    if let Some(id) = id {
                        sqlx::query(
                            "UPDATE check_states SET heartbeat_at = $2, heartbeat_state = $3, \
                             heartbeat_message = $4 WHERE check_id = $1",
                        )
                        .bind(id)
                        .bind(beat.at)
                        .bind(beat.state.map(State::key))
                        .bind(&beat.message)
                        .execute(&mut *tx)
                        .await?;
                    }
                    tx.commit().await?;
                    Ok(id)
                }

                async fn create_downtime(&self, actor: &Actor, d: &Downtime) -> Result<Downtime> {
                    let mut tx = self.write.begin().await?;
                    let r = d.recurrence;
                    let id: i64 = sqlx::query(
                        "INSERT INTO downtimes (entity_id, asset_id, check_id, starts_at, ends_at, \
                         weekdays, start_minute, duration_minutes, author, comment, created_at, \
                         time_zone) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id",
                    )
                    .bind(d.entity_id)
                    .bind(d.asset_id)
                    .bind(d.check_id)
                    .bind(d.starts_at)
                    .bind(d.ends_at)
                    .bind(r.map(|r| i64::from(r.weekdays)))
                    .bind(r.map(|r| i64::from(r.start_minute)))
                    .bind(r.map(|r| i64::from(r.duration_minutes)))
                    .bind(&d.author)
                    .bind(&d.comment)
                    .bind(actor.at)
                    .bind(&d.time_zone)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(|e| match &e {
                        sqlx::Error::Database(db) if db.is_foreign_key_violation() => {
                            conflict("target", "the asset or check does not exist")
                        }
                        _ => StoreError::Database(e),
                    })?
                    .try_get("id")?;
                    let created = Downtime { id, ..d.clone() };
                    let fields = vec![
                        core_audit::Field::new("asset_id", d.asset_id.map(|v| v.to_string()).unwrap_or_default()),
                        core_audit::Field::new("check_id", d.check_id.map(|v| v.to_string()).unwrap_or_default()),
                        core_audit::Field::new("starts_at", core_audit::instant(d.starts_at)),
                        core_audit::Field::new("ends_at", core_audit::instant(d.ends_at)),
                        core_audit::Field::new("recurrence", r.map(|r| format!("{:07b} {} +{}", r.weekdays, r.start_minute, r.duration_minutes)).unwrap_or_default()),
                        core_audit::Field::new("time_zone", d.time_zone.clone()),
                        core_audit::Field::new("comment", d.comment.clone()),
                    ];
                    audit(&mut tx, actor, "downtime.create", ("downtime", id, &d.comment, d.entity_id), None, Some(&fields)).await?;
                    tx.commit().await?;
                    Ok(created)
                }

                async fn delete_downtime(&self, actor: &Actor, id: i64) -> Result<()> {
                    let mut tx = self.write.begin().await?;
                    let row = sqlx::query("SELECT * FROM downtimes WHERE id = $1")
                        .bind(id)
                        .fetch_optional(&mut *tx)
                        .await?
                        .ok_or(StoreError::NotFound)?;
                    let before = downtime_from(&row)?;
                    sqlx::query("DELETE FROM downtimes WHERE id = $1").bind(id).execute(&mut *tx).await?;
                    audit(
                        &mut tx,
                        actor,
                        "downtime.delete",
                        ("downtime", id, &before.comment, before.entity_id),
                        Some(&[core_audit::Field::new("comment", before.comment.clone())]),
                        None,
                    )
                    .await?;
                    tx.commit().await?;
                    Ok(())
                }

                async fn get_downtime(&self, id: i64) -> Result<Downtime> {
                    let row = sqlx::query("SELECT * FROM downtimes WHERE id = $1")
                        .bind(id)
                        .fetch_optional(&self.read)
                        .await?
                        .ok_or(StoreError::NotFound)?;
                    downtime_from(&row)
                }

                async fn list_downtimes(&self, visible: &[EntityId], now: i64) -> Result<Vec<Downtime>> {
                    let mut qb = QueryBuilder::<$db>::new("SELECT * FROM downtimes WHERE ends_at > ");
                    qb.push_bind(now).push(" AND entity_id IN (");
                    let mut list = qb.separated(", ");
                    for e in visible {
                        list.push_bind(*e);
                    }
                    if visible.is_empty() {
                        list.push("NULL");
                    }
                    qb.push(") ORDER BY starts_at, id");
                    let rows = qb.build().fetch_all(&self.read).await?;
                    rows.iter().map(downtime_from).collect()
                }

                async fn current_downtimes(&self, now: i64) -> Result<Vec<Downtime>> {
                    let rows = sqlx::query("SELECT * FROM downtimes WHERE ends_at > $1 ORDER BY id")
                        .bind(now)
                        .fetch_all(&self.read)
                        .await?;
                    let mut all: Vec<Downtime> = rows.iter().map(downtime_from).collect::<Result<_>>()?;
                    all.extend(maintenance_downtimes(&self.read, now).await?);
                    Ok(all)
                }

                async fn dependency_edges(&self) -> Result<Vec<GraphEdge>> {
                    let rows = sqlx::query("SELECT id, kind, from_id, to_id FROM asset_relations ORDER BY id")
                        .fetch_all(&self.read)
                        .await?;
                    rows.iter()
                        .map(|r| {
                            let kind: String = r.try_get("kind")?;
                            Ok(GraphEdge {
                                relation_id: r.try_get("id")?,
                                kind: stored("relation kind", &kind, RelationKind::from_key(&kind))?,
                                from_id: r.try_get("from_id")?,
                                to_id: r.try_get("to_id")?,
                            })
                        })
                        .collect()
                }

                async fn state_counts(&self, visible: &[EntityId]) -> Result<Vec<StateCount>> {
                    let mut qb = QueryBuilder::<$db>::new(
                        "SELECT c.entity_id, a.site_id, \
                         CASE WHEN s.last_change_at IS NULL THEN NULL ELSE s.state END AS state, \
                         (s.ack_author IS NOT NULL) AS acked, COUNT(*) AS n \
                         FROM checks c JOIN check_states s ON s.check_id = c.id \
                         JOIN assets a ON a.id = c.asset_id WHERE c.entity_id IN (",
                    );
                    let mut list = qb.separated(", ");
                    for e in visible {
                        list.push_bind(*e);
                    }
                    if visible.is_empty() {
                        list.push("NULL");
                    }
                    qb.push(") GROUP BY c.entity_id, a.site_id, 3, 4");
                    let rows = qb.build().fetch_all(&self.read).await?;
                    let mut merged: HashMap<(EntityId, Option<i64>, Option<String>, bool), i64> = HashMap::new();
                    for r in &rows {
                        let key = (
                            r.try_get("entity_id")?,
                            r.try_get("site_id")?,
                            r.try_get("state")?,
                            r.try_get("acked")?,
                        );
                        *merged.entry(key).or_default() += r.try_get::<i64, _>("n")?;
                    }
                    let mut out = merged
                        .into_iter()
                        .map(|((entity_id, site_id, state, acknowledged), count)| {
                            Ok(StateCount {
                                entity_id,
                                site_id,
                                state: state.map(|s| state_from("state", &s)).transpose()?,
                                acknowledged,
                                count,
                            })
                        })
                        .collect::<Result<Vec<_>>>()?;
                    out.sort_by_key(|c| (c.entity_id, c.site_id, c.state.map(State::exit_code), c.acknowledged));
                    Ok(out)
                }

                async fn get_checks(&self, ids: &[CheckId]) -> Result<Vec<CheckRecord>> {
                    let mut records = Vec::with_capacity(ids.len());
                    for chunk in ids.chunks(1000) {
                        let mut qb = QueryBuilder::<$db>::new(CHECK_SELECT);
                        qb.push(" WHERE c.id IN (");
                        let mut list = qb.separated(", ");
                        for id in chunk {
                            list.push_bind(*id);
                        }
                        qb.push(") ORDER BY c.id");
                        for row in qb.build().fetch_all(&self.read).await? {
                            records.push(record_from(&row)?);
                        }
                    }
                    Ok(records)
                }
            }
        }
    };
}
