//! The agents' queries both backends share, instantiated per backend by `impl_agent_store!`
//! inside a module of its own.

macro_rules! agent_cols {
    () => {
        "id, entity_id, asset_id, name, machine_id, status, \
                rotate, enrolment_id, version, os, arch, address, config, config_version, \
                clock_skew_ms, last_seq, last_seen_at, created_at, updated_at"
    };
}

macro_rules! command_cols {
    () => {
        "id, agent_id, kind, spec, state, cancel_requested, \
                outcome, exit_code, stdout, stderr, stdout_bytes, stderr_bytes, message, \
                created_by, created_at, started_at, finished_at"
    };
}

macro_rules! impl_agent_store {
    ($store:ident, $db:ty) => {
        mod agent_impl {
            use async_trait::async_trait;
            use pupitre_core::audit::{self as core_audit, Actor};
            use pupitre_core::inventory::AssetId;
            use pupitre_core::permission::EntityId;
            use sqlx::{QueryBuilder, Row};

            use super::$store;
            use crate::agents::{
                AgentFacts, AgentId, AgentRecord, AgentStatus, AgentStore, CommandId,
                CommandProgress, CommandRecord, CommandState, Enrolled, Enrolment, NewAgent,
                NewEnrolment, SecretSlot,
            };
            use crate::sql::push_in;
            use crate::{stored, Result, StoreError};

            type Row_ = <$db as sqlx::Database>::Row;
            type Tx<'a> = sqlx::Transaction<'a, $db>;


            fn enrolment_from(row: &Row_) -> Result<Enrolment> {
                Ok(Enrolment {
                    id: row.try_get("id")?,
                    entity_id: row.try_get("entity_id")?,
                    label: row.try_get("label")?,
                    prefix: row.try_get("prefix")?,
                    max_uses: row.try_get("max_uses")?,
                    uses: row.try_get("uses")?,
                    expires_at: row.try_get("expires_at")?,
                    revoked_at: row.try_get("revoked_at")?,
                    created_by: row.try_get("created_by")?,
                    created_at: row.try_get("created_at")?,
                })
            }

            fn agent_from(row: &Row_) -> Result<AgentRecord> {
                let status: String = row.try_get("status")?;
                Ok(AgentRecord {
                    id: row.try_get("id")?,
                    entity_id: row.try_get("entity_id")?,
                    asset_id: row.try_get("asset_id")?,
                    status: stored("agent status", &status, AgentStatus::parse(&status))?,
                    facts: AgentFacts {
                        name: row.try_get("name")?,
                        machine_id: row.try_get("machine_id")?,
                        version: row.try_get("version")?,
                        os: row.try_get("os")?,
                        arch: row.try_get("arch")?,
                        address: row.try_get("address")?,
                    },
                    rotate: row.try_get("rotate")?,
                    enrolment_id: row.try_get("enrolment_id")?,
                    config: row.try_get("config")?,
                    config_version: row.try_get("config_version")?,
                    clock_skew_ms: row.try_get("clock_skew_ms")?,
                    last_seq: row.try_get("last_seq")?,
                    last_seen_at: row.try_get("last_seen_at")?,
                    created_at: row.try_get("created_at")?,
                    updated_at: row.try_get("updated_at")?,
                })
            }

            fn command_from(row: &Row_) -> Result<CommandRecord> {
                let state: String = row.try_get("state")?;
                Ok(CommandRecord {
                    id: row.try_get("id")?,
                    agent_id: row.try_get("agent_id")?,
                    kind: row.try_get("kind")?,
                    spec: row.try_get("spec")?,
                    state: stored("command state", &state, CommandState::parse(&state))?,
                    cancel_requested: row.try_get("cancel_requested")?,
                    outcome: row.try_get("outcome")?,
                    exit_code: row.try_get("exit_code")?,
                    stdout: row.try_get("stdout")?,
                    stderr: row.try_get("stderr")?,
                    stdout_bytes: row.try_get("stdout_bytes")?,
                    stderr_bytes: row.try_get("stderr_bytes")?,
                    message: row.try_get("message")?,
                    created_by: row.try_get("created_by")?,
                    created_at: row.try_get("created_at")?,
                    started_at: row.try_get("started_at")?,
                    finished_at: row.try_get("finished_at")?,
                })
            }

            fn entity_missing(e: sqlx::Error) -> StoreError {
                match &e {
                    sqlx::Error::Database(d) if d.is_foreign_key_violation() => {
                        StoreError::Conflict {
                            field: "entity_id".to_owned(),
                            message: "the entity does not exist".to_owned(),
                        }
                    }
                    _ => StoreError::Database(e),
                }
            }

            use super::{audit_object as audit, one_change as change};

            /// Queues a command for an active agent, audited with its spec and `extra` fields
            /// (what asked for it: a runbook's action).
            pub(super) async fn insert_command(
                tx: &mut Tx<'_>,
                actor: &Actor,
                agent_id: AgentId,
                kind: &str,
                spec: &str,
                extra: Vec<core_audit::Field>,
            ) -> Result<CommandRecord> {
                let target = agent(tx, agent_id).await?;
                if target.status != AgentStatus::Active {
                    return Err(StoreError::Conflict {
                        field: "agent_id".to_owned(),
                        message: format!("the agent is {}", target.status.key()),
                    });
                }
                let id: i64 = sqlx::query(
                    "INSERT INTO agent_commands (agent_id, kind, spec, state, created_by, created_at) \
                     VALUES ($1, $2, $3, 'queued', $4, $5) RETURNING id",
                )
                .bind(agent_id)
                .bind(kind)
                .bind(spec)
                .bind(&actor.login)
                .bind(actor.at)
                .fetch_one(&mut **tx)
                .await?
                .try_get("id")?;
                let mut fields = vec![
                    core_audit::Field::new("agent", target.facts.name.clone()),
                    core_audit::Field::new("kind", kind),
                ];
                fields.extend(spec_fields(spec));
                fields.extend(extra);
                audit(
                    tx,
                    actor,
                    "agent_command.create",
                    ("agent_command", id, &target.facts.name, target.entity_id),
                    core_audit::diff(None, Some(&fields)),
                )
                .await?;
                command(tx, id).await
            }

            async fn enrolment(tx: &mut Tx<'_>, id: i64) -> Result<Enrolment> {
                let row = sqlx::query("SELECT * FROM agent_enrolments WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&mut **tx)
                    .await?
                    .ok_or(StoreError::NotFound)?;
                enrolment_from(&row)
            }

            async fn agent(tx: &mut Tx<'_>, id: AgentId) -> Result<AgentRecord> {
                let row = sqlx::query(concat!("SELECT ", agent_cols!(), " FROM agents WHERE id = $1"))
                    .bind(id)
                    .fetch_optional(&mut **tx)
                    .await?
                    .ok_or(StoreError::NotFound)?;
                agent_from(&row)
            }

            async fn command(tx: &mut Tx<'_>, id: CommandId) -> Result<CommandRecord> {
                let row = sqlx::query(concat!(
                    "SELECT ", command_cols!(), " FROM agent_commands WHERE id = $1"))
                .bind(id)
                .fetch_optional(&mut **tx)
                .await?
                .ok_or(StoreError::NotFound)?;
                command_from(&row)
            }

            /// A configuration's change, key by key (each value as JSON text).
            fn config_changes(before: &str, after: &str) -> Vec<core_audit::Change> {
                const KEYS: [&str; 5] =
                    ["interval_s", "collectors", "top_processes", "logs", "buffer_max_bytes"];
                let fields = |text: &str| {
                    let value: serde_json::Value = serde_json::from_str(text).unwrap_or_default();
                    KEYS.map(|k| {
                        let v = match value.get(k) {
                            Some(serde_json::Value::String(s)) => s.clone(),
                            Some(other) => other.to_string(),
                            None => String::new(),
                        };
                        core_audit::Field::new(k, v)
                    })
                };
                core_audit::diff(Some(&fields(before)), Some(&fields(after)))
            }

            /// A command's audited fields: what runs, as whom, where, for how long; of the
            /// environment only the names, of the input only its size (either may hold
            /// secrets).
            fn spec_fields(spec: &str) -> Vec<core_audit::Field> {
                let value: serde_json::Value = serde_json::from_str(spec).unwrap_or_default();
                let text = |k: &str| match value.get(k) {
                    Some(serde_json::Value::String(s)) => s.clone(),
                    Some(serde_json::Value::Null) | None => String::new(),
                    Some(other) => other.to_string(),
                };
                let env_names = value
                    .get("env")
                    .and_then(|e| e.as_object())
                    .map(|e| e.keys().cloned().collect::<Vec<_>>().join(", "))
                    .unwrap_or_default();
                let stdin = value.get("stdin").and_then(|s| s.as_str()).map_or(0, str::len);
                vec![
                    core_audit::Field::new("argv", text("argv")),
                    core_audit::Field::new("user", text("user")),
                    core_audit::Field::new("cwd", text("cwd")),
                    core_audit::Field::new("timeout_s", text("timeout_s")),
                    core_audit::Field::new("max_output_bytes", text("max_output_bytes")),
                    core_audit::Field::new("env", env_names),
                    core_audit::Field::new("stdin", format!("{stdin} bytes")),
                ]
            }

            /// What of `piece`, which starts at byte `from` of its stream, is not in `have` yet.
            fn new_part<'p>(have: &str, piece: &'p str, from: i64) -> &'p str {
                let mut skip = usize::try_from(have.len() as i64 - from).unwrap_or(0);
                if skip >= piece.len() {
                    return "";
                }
                while !piece.is_char_boundary(skip) {
                    skip += 1;
                }
                &piece[skip..]
            }

            /// Appends `piece` to what is kept of a stream, up to `max` bytes (cut on a
            /// character boundary).
            fn kept(before: &str, piece: &str, max: usize) -> String {
                let room = max.saturating_sub(before.len());
                let mut cut = piece.len().min(room);
                while !piece.is_char_boundary(cut) {
                    cut -= 1;
                }
                format!("{before}{}", &piece[..cut])
            }

            #[async_trait]
            impl AgentStore for $store {
                async fn create_enrolment(&self, actor: &Actor, e: &NewEnrolment) -> Result<Enrolment> {
                    let mut tx = self.write.begin().await?;
                    let id: i64 = sqlx::query(
                        "INSERT INTO agent_enrolments (entity_id, label, token_hash, prefix, \
                         max_uses, expires_at, created_by, created_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
                    )
                    .bind(e.entity_id)
                    .bind(&e.label)
                    .bind(&e.token_hash)
                    .bind(&e.prefix)
                    .bind(e.max_uses)
                    .bind(e.expires_at)
                    .bind(&actor.login)
                    .bind(actor.at)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(entity_missing)?
                    .try_get("id")?;
                    let created = enrolment(&mut tx, id).await?;
                    let fields = [
                        core_audit::Field::new("label", created.label.clone()),
                        core_audit::Field::new("entity_id", created.entity_id.to_string()),
                        core_audit::Field::new("max_uses", created.max_uses.to_string()),
                        core_audit::Field::new("expires_at", created.expires_at.to_string()),
                    ];
                    audit(&mut tx, actor, "agent_enrolment.create", ("agent_enrolment", id, &created.label, created.entity_id), core_audit::diff(None, Some(&fields)),
                    )
                    .await?;
                    tx.commit().await?;
                    Ok(created)
                }

                async fn list_enrolments(&self, visible: &[EntityId]) -> Result<Vec<Enrolment>> {
                    let mut qb = QueryBuilder::<$db>::new("SELECT * FROM agent_enrolments WHERE ");
                    push_in(&mut qb, "entity_id", visible);
                    qb.push(" ORDER BY created_at DESC, id DESC");
                    let rows = qb.build().fetch_all(&self.read).await?;
                    rows.iter().map(enrolment_from).collect()
                }

                async fn get_enrolment(&self, id: i64) -> Result<Enrolment> {
                    let mut tx = self.read.begin().await?;
                    enrolment(&mut tx, id).await
                }

                async fn revoke_enrolment(&self, actor: &Actor, id: i64) -> Result<Enrolment> {
                    let mut tx = self.write.begin().await?;
                    let before = enrolment(&mut tx, id).await?;
                    if before.revoked_at.is_some() {
                        return Ok(before);
                    }
                    sqlx::query("UPDATE agent_enrolments SET revoked_at = $1 WHERE id = $2")
                        .bind(actor.at)
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                    audit(&mut tx, actor, "agent_enrolment.revoke", ("agent_enrolment", id, &before.label, before.entity_id), change("revoked", "no", "yes"),
                    )
                    .await?;
                    let after = enrolment(&mut tx, id).await?;
                    tx.commit().await?;
                    Ok(after)
                }

                async fn enrol_agent(
                    &self,
                    actor: &Actor,
                    token_hash: Option<&str>,
                    new: &NewAgent,
                ) -> Result<Enrolled> {
                    let mut tx = self.write.begin().await?;
                    let (entity, status, enrolment_id) = match token_hash {
                        Some(hash) => {
                            let row = sqlx::query("SELECT * FROM agent_enrolments WHERE token_hash = $1")
                                .bind(hash)
                                .fetch_optional(&mut *tx)
                                .await?;
                            let Some(row) = row else {
                                return Ok(Enrolled::Refused("the enrolment token is unknown"));
                            };
                            let e = enrolment_from(&row)?;
                            if e.revoked_at.is_some() {
                                return Ok(Enrolled::Refused("the enrolment token was revoked"));
                            }
                            if e.expires_at <= actor.at {
                                return Ok(Enrolled::Refused("the enrolment token has expired"));
                            }
                            // Counted only while uses remain, in one statement, so that two
                            // servers sharing the database cannot both take the last use.
                            let counted = sqlx::query(
                                "UPDATE agent_enrolments SET uses = uses + 1 \
                                 WHERE id = $1 AND uses < max_uses",
                            )
                            .bind(e.id)
                            .execute(&mut *tx)
                            .await?
                            .rows_affected();
                            if counted == 0 {
                                return Ok(Enrolled::Refused("the enrolment token is used up"));
                            }
                            (e.entity_id, AgentStatus::Active, Some(e.id))
                        }
                        None => (pupitre_core::model::ROOT_ENTITY, AgentStatus::Pending, None),
                    };
                    let f = &new.facts;
                    let id: i64 = sqlx::query(
                        "INSERT INTO agents (entity_id, name, machine_id, status, secret_hash, \
                         enrolment_id, version, os, arch, address, config, config_version, \
                         last_seen_at, created_at, updated_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 1, $12, $12, $12) \
                         RETURNING id",
                    )
                    .bind(entity)
                    .bind(&f.name)
                    .bind(&f.machine_id)
                    .bind(status.key())
                    .bind(&new.secret_hash)
                    .bind(enrolment_id)
                    .bind(&f.version)
                    .bind(&f.os)
                    .bind(&f.arch)
                    .bind(&f.address)
                    .bind(&new.config)
                    .bind(actor.at)
                    .fetch_one(&mut *tx)
                    .await?
                    .try_get("id")?;
                    let fields = [
                        core_audit::Field::new("name", f.name.clone()),
                        core_audit::Field::new("machine_id", f.machine_id.clone()),
                        core_audit::Field::new("status", status.key()),
                        core_audit::Field::new("address", f.address.clone()),
                        core_audit::Field::new(
                            "enrolment_id",
                            enrolment_id.map(|e| e.to_string()).unwrap_or_default(),
                        ),
                    ];
                    audit(&mut tx, actor, "agent.enrol", ("agent", id, &f.name, entity), core_audit::diff(None, Some(&fields)),
                    )
                    .await?;
                    let created = agent(&mut tx, id).await?;
                    tx.commit().await?;
                    Ok(Enrolled::Agent(Box::new(created)))
                }

                async fn agent_by_secret(&self, hash: &str) -> Result<Option<(AgentRecord, SecretSlot)>> {
                    let row = sqlx::query(concat!(
                        "SELECT ", agent_cols!(), ", secret_hash FROM agents \
                         WHERE secret_hash = $1 OR next_secret_hash = $1"))
                    .bind(hash)
                    .fetch_optional(&self.read)
                    .await?;
                    let Some(row) = row else { return Ok(None) };
                    let current: String = row.try_get("secret_hash")?;
                    let slot = if current == hash { SecretSlot::Current } else { SecretSlot::Next };
                    Ok(Some((agent_from(&row)?, slot)))
                }

                async fn promote_secret(&self, id: AgentId) -> Result<()> {
                    sqlx::query(
                        "UPDATE agents SET secret_hash = next_secret_hash, next_secret_hash = NULL, \
                         rotate = FALSE WHERE id = $1 AND next_secret_hash IS NOT NULL",
                    )
                    .bind(id)
                    .execute(&self.write)
                    .await?;
                    Ok(())
                }

                async fn set_next_secret(&self, id: AgentId, hash: &str) -> Result<()> {
                    sqlx::query("UPDATE agents SET next_secret_hash = $1 WHERE id = $2")
                        .bind(hash)
                        .bind(id)
                        .execute(&self.write)
                        .await?;
                    Ok(())
                }

                async fn touch_agent(
                    &self,
                    id: AgentId,
                    at: i64,
                    address: &str,
                    clock_skew_ms: i64,
                    facts: Option<&AgentFacts>,
                ) -> Result<()> {
                    match facts {
                        Some(f) => {
                            sqlx::query(
                                "UPDATE agents SET last_seen_at = $1, address = $2, clock_skew_ms = $3, \
                                 name = $4, version = $5, os = $6, arch = $7, updated_at = $1 \
                                 WHERE id = $8",
                            )
                            .bind(at)
                            .bind(address)
                            .bind(clock_skew_ms)
                            .bind(&f.name)
                            .bind(&f.version)
                            .bind(&f.os)
                            .bind(&f.arch)
                            .bind(id)
                            .execute(&self.write)
                            .await?;
                        }
                        None => {
                            sqlx::query(
                                "UPDATE agents SET last_seen_at = $1, address = $2, clock_skew_ms = $3 \
                                 WHERE id = $4",
                            )
                            .bind(at)
                            .bind(address)
                            .bind(clock_skew_ms)
                            .bind(id)
                            .execute(&self.write)
                            .await?;
                        }
                    }
                    Ok(())
                }

                async fn set_agent_asset(&self, id: AgentId, asset: AssetId) -> Result<()> {
                    sqlx::query("UPDATE agents SET asset_id = $1 WHERE id = $2")
                        .bind(asset)
                        .bind(id)
                        .execute(&self.write)
                        .await?;
                    Ok(())
                }

                async fn accept_batch(&self, id: AgentId, seq: i64) -> Result<bool> {
                    let done = sqlx::query("UPDATE agents SET last_seq = $1 WHERE id = $2 AND last_seq < $1")
                        .bind(seq)
                        .bind(id)
                        .execute(&self.write)
                        .await?
                        .rows_affected();
                    Ok(done == 1)
                }

                async fn get_agent(&self, id: AgentId) -> Result<AgentRecord> {
                    let mut tx = self.read.begin().await?;
                    agent(&mut tx, id).await
                }

                async fn agent_of_asset(&self, asset: AssetId) -> Result<Option<AgentRecord>> {
                    let row = sqlx::query(concat!(
                        "SELECT ", agent_cols!(), " FROM agents WHERE asset_id = $1 \
                         ORDER BY CASE status WHEN 'active' THEN 0 ELSE 1 END, \
                         COALESCE(last_seen_at, 0) DESC, id DESC LIMIT 1"
                    ))
                    .bind(asset)
                    .fetch_optional(&self.read)
                    .await?;
                    row.as_ref().map(agent_from).transpose()
                }

                async fn list_agents(&self, visible: &[EntityId]) -> Result<Vec<AgentRecord>> {
                    let mut qb = QueryBuilder::<$db>::new(concat!("SELECT ", agent_cols!(), " FROM agents WHERE "));
                    push_in(&mut qb, "entity_id", visible);
                    qb.push(" ORDER BY name, id");
                    let rows = qb.build().fetch_all(&self.read).await?;
                    rows.iter().map(agent_from).collect()
                }

                async fn approve_agent(&self, actor: &Actor, id: AgentId, entity: EntityId) -> Result<AgentRecord> {
                    let mut tx = self.write.begin().await?;
                    let before = agent(&mut tx, id).await?;
                    if before.status != AgentStatus::Pending {
                        return Err(StoreError::Conflict {
                            field: "status".to_owned(),
                            message: format!("the agent is {}, not pending", before.status.key()),
                        });
                    }
                    sqlx::query("UPDATE agents SET status = 'active', entity_id = $1, updated_at = $2 WHERE id = $3")
                        .bind(entity)
                        .bind(actor.at)
                        .bind(id)
                        .execute(&mut *tx)
                        .await
                        .map_err(entity_missing)?;
                    let mut changes = change("status", "pending", "active");
                    changes.extend(change("entity_id", &before.entity_id.to_string(), &entity.to_string()));
                    audit(&mut tx, actor, "agent.approve", ("agent", id, &before.facts.name, entity), changes).await?;
                    let after = agent(&mut tx, id).await?;
                    tx.commit().await?;
                    Ok(after)
                }

                async fn revoke_agent(&self, actor: &Actor, id: AgentId) -> Result<AgentRecord> {
                    let mut tx = self.write.begin().await?;
                    let before = agent(&mut tx, id).await?;
                    if before.status == AgentStatus::Revoked {
                        return Ok(before);
                    }
                    sqlx::query(
                        "UPDATE agents SET status = 'revoked', next_secret_hash = NULL, rotate = FALSE, \
                         updated_at = $1 WHERE id = $2",
                    )
                    .bind(actor.at)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                    sqlx::query(
                        "UPDATE agent_commands SET state = 'finished', outcome = 'failed', \
                         message = 'the agent was revoked', finished_at = $1 \
                         WHERE agent_id = $2 AND state <> 'finished'",
                    )
                    .bind(actor.at)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                    audit(&mut tx, actor, "agent.revoke", ("agent", id, &before.facts.name, before.entity_id), change("status", before.status.key(), "revoked"),
                    )
                    .await?;
                    let after = agent(&mut tx, id).await?;
                    tx.commit().await?;
                    Ok(after)
                }

                async fn request_rotation(&self, actor: &Actor, id: AgentId) -> Result<AgentRecord> {
                    let mut tx = self.write.begin().await?;
                    let before = agent(&mut tx, id).await?;
                    if before.status == AgentStatus::Revoked {
                        return Err(StoreError::Conflict {
                            field: "status".to_owned(),
                            message: "a revoked agent has no credential to rotate".to_owned(),
                        });
                    }
                    sqlx::query("UPDATE agents SET rotate = TRUE, updated_at = $1 WHERE id = $2")
                        .bind(actor.at)
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                    audit(&mut tx, actor, "agent.rotate", ("agent", id, &before.facts.name, before.entity_id), change("credential", "current", "rotation requested"),
                    )
                    .await?;
                    let after = agent(&mut tx, id).await?;
                    tx.commit().await?;
                    Ok(after)
                }

                async fn set_agent_config(&self, actor: &Actor, id: AgentId, config: &str) -> Result<AgentRecord> {
                    let mut tx = self.write.begin().await?;
                    let before = agent(&mut tx, id).await?;
                    if before.config == config {
                        return Ok(before);
                    }
                    sqlx::query(
                        "UPDATE agents SET config = $1, config_version = config_version + 1, \
                         updated_at = $2 WHERE id = $3",
                    )
                    .bind(config)
                    .bind(actor.at)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                    audit(&mut tx, actor, "agent.configure", ("agent", id, &before.facts.name, before.entity_id), config_changes(&before.config, config),
                    )
                    .await?;
                    let after = agent(&mut tx, id).await?;
                    tx.commit().await?;
                    Ok(after)
                }

                async fn queue_command(
                    &self,
                    actor: &Actor,
                    agent_id: AgentId,
                    kind: &str,
                    spec: &str,
                ) -> Result<CommandRecord> {
                    let mut tx = self.write.begin().await?;
                    let created = insert_command(&mut tx, actor, agent_id, kind, spec, Vec::new()).await?;
                    tx.commit().await?;
                    Ok(created)
                }

                async fn queue_check_command(
                    &self,
                    agent_id: AgentId,
                    kind: &str,
                    spec: &str,
                    at: i64,
                ) -> Result<CommandRecord> {
                    let mut tx = self.write.begin().await?;
                    let id: i64 = sqlx::query(
                        "INSERT INTO agent_commands (agent_id, kind, spec, state, created_by, created_at) \
                         VALUES ($1, $2, $3, 'queued', 'engine', $4) RETURNING id",
                    )
                    .bind(agent_id)
                    .bind(kind)
                    .bind(spec)
                    .bind(at)
                    .fetch_one(&mut *tx)
                    .await?
                    .try_get("id")?;
                    let created = command(&mut tx, id).await?;
                    tx.commit().await?;
                    Ok(created)
                }

                async fn forget_command(&self, id: CommandId) -> Result<()> {
                    sqlx::query("DELETE FROM agent_commands WHERE id = $1")
                        .bind(id)
                        .execute(&self.write)
                        .await?;
                    Ok(())
                }

                async fn get_command(&self, id: CommandId) -> Result<CommandRecord> {
                    let mut tx = self.read.begin().await?;
                    command(&mut tx, id).await
                }

                async fn list_commands(&self, agent_id: AgentId, limit: i64) -> Result<Vec<CommandRecord>> {
                    let rows = sqlx::query(concat!(
                        "SELECT ", command_cols!(), " FROM agent_commands WHERE agent_id = $1 \
                         ORDER BY id DESC LIMIT $2"))
                    .bind(agent_id)
                    .bind(limit)
                    .fetch_all(&self.read)
                    .await?;
                    rows.iter().map(command_from).collect()
                }

                async fn open_commands(&self, agent_id: AgentId) -> Result<Vec<CommandRecord>> {
                    let rows = sqlx::query(concat!(
                        "SELECT ", command_cols!(), " FROM agent_commands \
                         WHERE agent_id = $1 AND state <> 'finished' ORDER BY id"))
                    .bind(agent_id)
                    .fetch_all(&self.read)
                    .await?;
                    rows.iter().map(command_from).collect()
                }

                async fn cancel_command(&self, actor: &Actor, id: CommandId) -> Result<CommandRecord> {
                    let mut tx = self.write.begin().await?;
                    let before = command(&mut tx, id).await?;
                    if before.state == CommandState::Finished || before.cancel_requested {
                        return Ok(before);
                    }
                    let target = agent(&mut tx, before.agent_id).await?;
                    if before.state == CommandState::Queued {
                        // Never sent to a process: it ends here.
                        sqlx::query(
                            "UPDATE agent_commands SET state = 'finished', outcome = 'killed', \
                             cancel_requested = TRUE, message = 'cancelled before it started', \
                             finished_at = $1 WHERE id = $2",
                        )
                        .bind(actor.at)
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                    } else {
                        sqlx::query("UPDATE agent_commands SET cancel_requested = TRUE WHERE id = $1")
                            .bind(id)
                            .execute(&mut *tx)
                            .await?;
                    }
                    audit(&mut tx, actor, "agent_command.cancel", ("agent_command", id, &target.facts.name, target.entity_id), change("cancel_requested", "no", "yes"),
                    )
                    .await?;
                    let after = command(&mut tx, id).await?;
                    tx.commit().await?;
                    Ok(after)
                }

                async fn command_progress(
                    &self,
                    agent_id: AgentId,
                    id: CommandId,
                    p: &CommandProgress,
                    max_kept_bytes: usize,
                ) -> Result<bool> {
                    let mut tx = self.write.begin().await?;
                    let before = command(&mut tx, id).await?;
                    if before.agent_id != agent_id {
                        return Err(StoreError::NotFound);
                    }
                    if before.state == CommandState::Finished {
                        return Ok(false);
                    }
                    let stdout = kept(&before.stdout, new_part(&before.stdout, &p.stdout, p.stdout_from), max_kept_bytes);
                    let stderr = kept(&before.stderr, new_part(&before.stderr, &p.stderr, p.stderr_from), max_kept_bytes);
                    let (state, outcome, exit_code, message, finished_at) = match &p.end {
                        Some((outcome, code, message)) => (
                            CommandState::Finished,
                            Some(outcome.clone()),
                            *code,
                            message.clone(),
                            Some(crate::zones::now_ms()),
                        ),
                        None => (CommandState::Running, None, None, before.message.clone(), None),
                    };
                    sqlx::query(
                        "UPDATE agent_commands SET state = $1, outcome = $2, exit_code = $3, \
                         stdout = $4, stderr = $5, stdout_bytes = $6, stderr_bytes = $7, \
                         message = $8, started_at = COALESCE(started_at, $9), finished_at = $10 \
                         WHERE id = $11",
                    )
                    .bind(state.key())
                    .bind(outcome)
                    .bind(exit_code)
                    .bind(stdout)
                    .bind(stderr)
                    .bind(p.stdout_bytes.max(before.stdout_bytes))
                    .bind(p.stderr_bytes.max(before.stderr_bytes))
                    .bind(message)
                    .bind(p.started_at)
                    .bind(finished_at)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                    tx.commit().await?;
                    Ok(true)
                }
            }
        }
    };
}
