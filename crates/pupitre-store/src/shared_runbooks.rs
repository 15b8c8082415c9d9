//! The runbooks' queries both backends share, instantiated per backend by
//! `impl_runbook_store!` inside a module of its own.

macro_rules! runbook_select {
    () => {
        "SELECT r.id, r.entity_id, r.target_kind, r.target, v.version, r.version AS latest, \
         v.title, v.body, v.actions, v.note, v.author, v.created_at AS written_at, \
         r.created_by, r.created_at \
         FROM runbooks r JOIN runbook_versions v ON v.runbook_id = r.id "
    };
}

macro_rules! impl_runbook_store {
    ($store:ident, $db:ty) => {
        mod runbook_impl {
            use async_trait::async_trait;
            use pupitre_core::audit::{self as core_audit, Actor};
            use pupitre_core::incident::IncidentId;
            use pupitre_core::inventory::AssetId;
            use pupitre_core::permission::EntityId;
            use sqlx::{QueryBuilder, Row};

            use super::agent_impl::insert_command;
            use super::incident_impl::timeline;
            use super::{$store, audit_object};
            use crate::agents::CommandRecord;
            use crate::runbooks::{
                IncidentActionRecord, NewIncidentAction, RunbookInput, RunbookRecord,
                RunbookStore,
            };
            use crate::sql::push_in;
            use crate::{Result, StoreError};

            type Row_ = <$db as sqlx::Database>::Row;
            type Tx<'a> = sqlx::Transaction<'a, $db>;

            fn runbook_from(row: &Row_) -> Result<RunbookRecord> {
                Ok(RunbookRecord {
                    id: row.try_get("id")?,
                    entity_id: row.try_get("entity_id")?,
                    target_kind: row.try_get("target_kind")?,
                    target: row.try_get("target")?,
                    version: row.try_get("version")?,
                    latest: row.try_get("latest")?,
                    title: row.try_get("title")?,
                    body: row.try_get("body")?,
                    actions: row.try_get("actions")?,
                    note: row.try_get("note")?,
                    author: row.try_get("author")?,
                    written_at: row.try_get("written_at")?,
                    created_by: row.try_get("created_by")?,
                    created_at: row.try_get("created_at")?,
                })
            }

            fn action_from(row: &Row_) -> Result<IncidentActionRecord> {
                Ok(IncidentActionRecord {
                    id: row.try_get("id")?,
                    incident_id: row.try_get("incident_id")?,
                    runbook_id: row.try_get("runbook_id")?,
                    runbook_version: row.try_get("runbook_version")?,
                    action: row.try_get("action")?,
                    asset_id: row.try_get("asset_id")?,
                    command_id: row.try_get("command_id")?,
                    automatic: row.try_get("automatic")?,
                    state: row.try_get("state")?,
                    started_by: row.try_get("started_by")?,
                    started_at: row.try_get("started_at")?,
                    finished_at: row.try_get("finished_at")?,
                })
            }

            /// A version's audited fields.
            fn fields(r: &RunbookRecord) -> Vec<core_audit::Field> {
                vec![
                    core_audit::Field::new("entity_id", r.entity_id.to_string()),
                    core_audit::Field::new("target_kind", &r.target_kind),
                    core_audit::Field::new("target", &r.target),
                    core_audit::Field::new("version", r.version.to_string()),
                    core_audit::Field::new("name", &r.title),
                    core_audit::Field::new("body", &r.body),
                    core_audit::Field::new("actions", &r.actions),
                    core_audit::Field::new("note", &r.note),
                ]
            }

            async fn current(tx: &mut Tx<'_>, id: i64) -> Result<RunbookRecord> {
                let row = sqlx::query(concat!(runbook_select!(), "AND v.version = r.version WHERE r.id = $1"))
                    .bind(id)
                    .fetch_optional(&mut **tx)
                    .await?
                    .ok_or(StoreError::NotFound)?;
                runbook_from(&row)
            }

            async fn append_version(tx: &mut Tx<'_>, actor: &Actor, id: i64, version: i64, input: &RunbookInput) -> Result<()> {
                sqlx::query(
                    "INSERT INTO runbook_versions (runbook_id, version, title, body, actions, note, author, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(id)
                .bind(version)
                .bind(&input.title)
                .bind(&input.body)
                .bind(&input.actions)
                .bind(&input.note)
                .bind(&actor.login)
                .bind(actor.at)
                .execute(&mut **tx)
                .await?;
                Ok(())
            }

            #[async_trait]
            impl RunbookStore for $store {
                async fn create_runbook(&self, actor: &Actor, input: &RunbookInput) -> Result<RunbookRecord> {
                    let mut tx = self.write.begin().await?;
                    let id: i64 = sqlx::query_scalar(
                        "INSERT INTO runbooks (entity_id, target_kind, target, version, created_by, created_at, updated_at) \
                         VALUES ($1, $2, $3, 1, $4, $5, $5) RETURNING id",
                    )
                    .bind(input.entity_id)
                    .bind(&input.target_kind)
                    .bind(&input.target)
                    .bind(&actor.login)
                    .bind(actor.at)
                    .fetch_one(&mut *tx)
                    .await?;
                    append_version(&mut tx, actor, id, 1, input).await?;
                    let record = current(&mut tx, id).await?;
                    audit_object(
                        &mut tx,
                        actor,
                        "runbook.create",
                        ("runbook", id, &record.title, record.entity_id),
                        core_audit::diff(None, Some(&fields(&record))),
                    )
                    .await?;
                    tx.commit().await?;
                    Ok(record)
                }

                async fn update_runbook(&self, actor: &Actor, id: i64, input: &RunbookInput) -> Result<RunbookRecord> {
                    let mut tx = self.write.begin().await?;
                    let before = current(&mut tx, id).await?;
                    let version = before.latest + 1;
                    append_version(&mut tx, actor, id, version, input).await?;
                    sqlx::query(
                        "UPDATE runbooks SET entity_id = $1, target_kind = $2, target = $3, version = $4, \
                         updated_at = $5 WHERE id = $6",
                    )
                    .bind(input.entity_id)
                    .bind(&input.target_kind)
                    .bind(&input.target)
                    .bind(version)
                    .bind(actor.at)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                    let after = current(&mut tx, id).await?;
                    audit_object(
                        &mut tx,
                        actor,
                        "runbook.update",
                        ("runbook", id, &after.title, after.entity_id),
                        core_audit::diff(Some(&fields(&before)), Some(&fields(&after))),
                    )
                    .await?;
                    tx.commit().await?;
                    Ok(after)
                }

                async fn delete_runbook(&self, actor: &Actor, id: i64) -> Result<()> {
                    let mut tx = self.write.begin().await?;
                    let before = current(&mut tx, id).await?;
                    sqlx::query("DELETE FROM runbooks WHERE id = $1")
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                    let gone = fields(&before);
                    audit_object(
                        &mut tx,
                        actor,
                        "runbook.delete",
                        ("runbook", id, &before.title, before.entity_id),
                        core_audit::diff(Some(&gone), None),
                    )
                    .await?;
                    tx.commit().await?;
                    Ok(())
                }

                async fn get_runbook(&self, id: i64, version: Option<i64>) -> Result<RunbookRecord> {
                    let row = sqlx::query(concat!(
                        runbook_select!(),
                        "AND v.version = COALESCE($2, r.version) WHERE r.id = $1"
                    ))
                    .bind(id)
                    .bind(version)
                    .fetch_optional(&self.read)
                    .await?
                    .ok_or(StoreError::NotFound)?;
                    runbook_from(&row)
                }

                async fn runbook_versions(&self, id: i64) -> Result<Vec<RunbookRecord>> {
                    let rows = sqlx::query(concat!(runbook_select!(), "WHERE r.id = $1 ORDER BY v.version DESC"))
                        .bind(id)
                        .fetch_all(&self.read)
                        .await?;
                    rows.iter().map(runbook_from).collect()
                }

                async fn list_runbooks(&self, entities: &[EntityId]) -> Result<Vec<RunbookRecord>> {
                    let mut qb = QueryBuilder::<$db>::new(concat!(runbook_select!(), "AND v.version = r.version WHERE "));
                    push_in(&mut qb, "r.entity_id", entities);
                    qb.push(" ORDER BY v.title, r.id");
                    let rows = qb.build().fetch_all(&self.read).await?;
                    rows.iter().map(runbook_from).collect()
                }

                async fn runbooks_for(&self, targets: &[(String, String)]) -> Result<Vec<RunbookRecord>> {
                    if targets.is_empty() {
                        return Ok(Vec::new());
                    }
                    let mut qb = QueryBuilder::<$db>::new(concat!(runbook_select!(), "AND v.version = r.version WHERE "));
                    for (i, (kind, target)) in targets.iter().enumerate() {
                        if i > 0 {
                            qb.push(" OR ");
                        }
                        qb.push("(r.target_kind = ")
                            .push_bind(kind.clone())
                            .push(" AND r.target = ")
                            .push_bind(target.clone())
                            .push(")");
                    }
                    qb.push(" ORDER BY r.id");
                    let rows = qb.build().fetch_all(&self.read).await?;
                    rows.iter().map(runbook_from).collect()
                }

                async fn start_incident_action(
                    &self,
                    actor: &Actor,
                    a: &NewIncidentAction,
                    extra: Vec<core_audit::Field>,
                ) -> Result<(IncidentActionRecord, CommandRecord)> {
                    let mut tx = self.write.begin().await?;
                    let command = insert_command(&mut tx, actor, a.agent_id, "exec", &a.spec, extra).await?;
                    let id: i64 = match sqlx::query_scalar(
                        "INSERT INTO incident_actions (incident_id, runbook_id, runbook_version, action, asset_id, \
                         command_id, automatic, state, started_by, started_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, 'running', $8, $9) RETURNING id",
                    )
                    .bind(a.incident_id)
                    .bind(a.runbook_id)
                    .bind(a.runbook_version)
                    .bind(&a.action)
                    .bind(a.asset_id)
                    .bind(command.id)
                    .bind(a.automatic)
                    .bind(&actor.login)
                    .bind(actor.at)
                    .fetch_one(&mut *tx)
                    .await
                    {
                        Ok(id) => id,
                        // Another server started the incident's automatic action first.
                        Err(sqlx::Error::Database(d)) if d.is_unique_violation() => {
                            return Err(StoreError::Conflict {
                                field: "action".to_owned(),
                                message: "the incident's automatic action already started".to_owned(),
                            });
                        }
                        Err(e) => return Err(e.into()),
                    };
                    timeline(&mut tx, a.incident_id, actor.at, "action", &actor.login, &a.text, None).await?;
                    let row = sqlx::query("SELECT * FROM incident_actions WHERE id = $1")
                        .bind(id)
                        .fetch_one(&mut *tx)
                        .await?;
                    let record = action_from(&row)?;
                    tx.commit().await?;
                    Ok((record, command))
                }

                async fn incident_actions(&self, incident: IncidentId) -> Result<Vec<IncidentActionRecord>> {
                    let rows = sqlx::query("SELECT * FROM incident_actions WHERE incident_id = $1 ORDER BY id")
                        .bind(incident)
                        .fetch_all(&self.read)
                        .await?;
                    rows.iter().map(action_from).collect()
                }

                async fn running_incident_actions(&self) -> Result<Vec<IncidentActionRecord>> {
                    let rows = sqlx::query("SELECT * FROM incident_actions WHERE state = 'running' ORDER BY id")
                        .fetch_all(&self.write)
                        .await?;
                    rows.iter().map(action_from).collect()
                }

                async fn finish_incident_action(&self, id: i64, text: &str, now: i64) -> Result<bool> {
                    let mut tx = self.write.begin().await?;
                    let Some(row) = sqlx::query(
                        "UPDATE incident_actions SET state = 'done', finished_at = $1 \
                         WHERE id = $2 AND state = 'running' RETURNING incident_id",
                    )
                    .bind(now)
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?
                    else {
                        return Ok(false);
                    };
                    let incident: IncidentId = row.try_get("incident_id")?;
                    timeline(&mut tx, incident, now, "action", "pupitre", text, None).await?;
                    tx.commit().await?;
                    Ok(true)
                }

                async fn hold_escalation(&self, incident: IncidentId, base: i64) -> Result<()> {
                    sqlx::query(
                        "UPDATE incidents SET escalation_base = $1 \
                         WHERE id = $2 AND escalated_until IS NULL AND status = 'triggered'",
                    )
                    .bind(base)
                    .bind(incident)
                    .execute(&self.write)
                    .await?;
                    Ok(())
                }

                async fn last_automatic_action(&self, asset: AssetId, action: &str, since: i64) -> Result<Option<i64>> {
                    Ok(sqlx::query_scalar(
                        "SELECT MAX(started_at) FROM incident_actions \
                         WHERE asset_id = $1 AND action = $2 AND automatic AND started_at > $3",
                    )
                    .bind(asset)
                    .bind(action)
                    .bind(since)
                    .fetch_one(&self.read)
                    .await?)
                }
            }
        }
    };
}
