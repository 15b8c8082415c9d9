//! Pupitre's agents, from the server's side: enrolment tokens, enrolment, each agent's own
//! credential (checked on every request, rotated and revoked), the samples and inventory they
//! send, their configuration, and the long poll by which the server reaches them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pupitre_agent::wire::{
    self, AgentConfig, Batch, BatchReply, CommandSpec, EnrolReply, EnrolRequest, Hello, PollReply,
    PollRequest,
};
use pupitre_core::audit::{Actor, AuditEvent};
use pupitre_core::inventory::{AssetId, InventoryReport};
use pupitre_core::permission::{Domain, EntityId, Level};
use pupitre_monitor::agent_check::AgentWaker;
use pupitre_monitor::history::{SeriesData, SourceData};
use pupitre_series::series::{Kind, SeriesKey};
use pupitre_store::agents::{
    AgentFacts, AgentId, AgentRecord, AgentStatus, CommandId, CommandProgress, CommandRecord,
    CommandState, Enrolled, Enrolment, NewAgent, NewEnrolment, SecretSlot,
};
use pupitre_store::metrics::{NewSeries, Source, SourceKind};

use crate::auth::{Caller, random_hex, sha256_hex};
use crate::error::AppError;
use crate::state::{AppState, now_ms};

/// The most an enrolment token may be valid for.
const MAX_TOKEN_HOURS: i64 = 24 * 365;

/// How often a source address's failed agent authentications are audited, at most.
const AUTH_AUDIT_EVERY: Duration = Duration::from_secs(60);

/// What the server keeps in memory about its agents: who waits on a poll (shared with the
/// engine, which queues plugin runs), and when each source address's failures were last
/// audited.
#[derive(Default)]
pub struct AgentHub {
    pub waker: Arc<AgentWaker>,
    audited: Mutex<HashMap<String, Instant>>,
}

impl AgentHub {
    pub fn new(waker: Arc<AgentWaker>) -> AgentHub {
        AgentHub {
            waker,
            audited: Mutex::default(),
        }
    }

    fn notify_for(&self, id: AgentId) -> Arc<tokio::sync::Notify> {
        self.waker.notify_for(id)
    }

    /// Wakes the agent's poll, if it waits on this server; otherwise it sees the change at
    /// its next poll.
    pub fn wake(&self, id: AgentId) {
        self.waker.wake(id);
    }

    /// True when a failure from `source` should be audited now.
    fn audit_due(&self, source: &str) -> bool {
        let mut audited = self.audited.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        audited.retain(|_, at| now.duration_since(*at) < AUTH_AUDIT_EVERY);
        match audited.get(source) {
            Some(_) => false,
            None => {
                audited.insert(source.to_owned(), now);
                true
            }
        }
    }
}

// ---- Administration --------------------------------------------------------------------

/// A token to create.
#[derive(Clone, Debug)]
pub struct EnrolmentInput {
    pub entity_id: EntityId,
    pub label: String,
    pub max_uses: i64,
    pub valid_hours: i64,
}

/// Creates an enrolment token; the token itself is returned this once.
pub async fn create_enrolment(
    st: &AppState,
    caller: &Caller,
    input: &EnrolmentInput,
) -> Result<(Enrolment, String), AppError> {
    caller.target_entity(
        Domain::Monitoring,
        Level::Manage,
        input.entity_id,
        "entity_id",
    )?;
    let label = input.label.trim();
    if label.is_empty() || label.chars().count() > 100 {
        return Err(AppError::invalid("label", "must be 1 to 100 characters"));
    }
    if !(1..=100_000).contains(&input.max_uses) {
        return Err(AppError::invalid("max_uses", "must be 1 to 100000"));
    }
    if !(1..=MAX_TOKEN_HOURS).contains(&input.valid_hours) {
        return Err(AppError::invalid(
            "valid_hours",
            format!("must be 1 to {MAX_TOKEN_HOURS} hours"),
        ));
    }
    let token = format!("pen_{}", random_hex(32));
    let actor = caller.actor();
    let created = st
        .store
        .create_enrolment(
            &actor,
            &NewEnrolment {
                entity_id: input.entity_id,
                label: label.to_owned(),
                token_hash: sha256_hex(&token),
                prefix: token.chars().take(12).collect(),
                max_uses: input.max_uses,
                expires_at: actor.at + input.valid_hours * 3_600_000,
            },
        )
        .await
        .map_err(|e| AppError::from_store("enrolment token", e))?;
    Ok((created, token))
}

pub async fn list_enrolments(st: &AppState, caller: &Caller) -> Result<Vec<Enrolment>, AppError> {
    Ok(st
        .store
        .list_enrolments(&caller.visible(Domain::Monitoring))
        .await?)
}

pub async fn revoke_enrolment(
    st: &AppState,
    caller: &Caller,
    id: i64,
) -> Result<Enrolment, AppError> {
    let e = st
        .store
        .get_enrolment(id)
        .await
        .map_err(|e| AppError::from_store("enrolment token", e))?;
    caller.check(
        Domain::Monitoring,
        Level::Manage,
        e.entity_id,
        "enrolment token",
    )?;
    Ok(st.store.revoke_enrolment(&caller.actor(), id).await?)
}

pub async fn list_agents(st: &AppState, caller: &Caller) -> Result<Vec<AgentRecord>, AppError> {
    Ok(st
        .store
        .list_agents(&caller.visible(Domain::Monitoring))
        .await?)
}

/// The agent, if the caller holds `level` in monitoring on its entity.
pub async fn get_agent(
    st: &AppState,
    caller: &Caller,
    id: AgentId,
    level: Level,
) -> Result<AgentRecord, AppError> {
    agent_in(st, caller, id, Domain::Monitoring, level).await
}

/// The agent, if the caller holds `level` in `domain` on its entity (monitoring for the agent
/// itself, jobs for its commands).
async fn agent_in(
    st: &AppState,
    caller: &Caller,
    id: AgentId,
    domain: Domain,
    level: Level,
) -> Result<AgentRecord, AppError> {
    let agent = st
        .store
        .get_agent(id)
        .await
        .map_err(|e| AppError::from_store("agent", e))?;
    caller.check(domain, level, agent.entity_id, "agent")?;
    Ok(agent)
}

/// Approves a pending agent into `entity`; its host becomes an asset there at its next
/// request.
pub async fn approve(
    st: &AppState,
    caller: &Caller,
    id: AgentId,
    entity: EntityId,
) -> Result<AgentRecord, AppError> {
    get_agent(st, caller, id, Level::Manage).await?;
    caller.target_entity(Domain::Monitoring, Level::Manage, entity, "entity_id")?;
    let agent = st
        .store
        .approve_agent(&caller.actor(), id, entity)
        .await
        .map_err(|e| AppError::from_store("agent", e))?;
    st.agents.wake(id);
    Ok(agent)
}

pub async fn revoke(st: &AppState, caller: &Caller, id: AgentId) -> Result<AgentRecord, AppError> {
    get_agent(st, caller, id, Level::Manage).await?;
    let agent = st.store.revoke_agent(&caller.actor(), id).await?;
    st.agents.wake(id);
    Ok(agent)
}

pub async fn rotate(st: &AppState, caller: &Caller, id: AgentId) -> Result<AgentRecord, AppError> {
    get_agent(st, caller, id, Level::Manage).await?;
    let agent = st
        .store
        .request_rotation(&caller.actor(), id)
        .await
        .map_err(|e| AppError::from_store("agent", e))?;
    st.agents.wake(id);
    Ok(agent)
}

/// Replaces the agent's configuration; it applies at the agent's next poll, at once when the
/// agent waits on this server.
pub async fn configure(
    st: &AppState,
    caller: &Caller,
    id: AgentId,
    config: &AgentConfig,
) -> Result<AgentRecord, AppError> {
    get_agent(st, caller, id, Level::Manage).await?;
    config
        .validate()
        .map_err(|e| AppError::invalid(e.field, e.message))?;
    let text = serde_json::to_string(config).map_err(|_| AppError::internal())?;
    let agent = st
        .store
        .set_agent_config(&caller.actor(), id, &text)
        .await
        .map_err(|e| AppError::from_store("agent", e))?;
    st.agents.wake(id);
    Ok(agent)
}

/// The agent's configuration as stored (a configuration the agent cannot read is the
/// default).
pub fn config_of(agent: &AgentRecord) -> AgentConfig {
    serde_json::from_str(&agent.config).unwrap_or_default()
}

/// True when the agent runs an older version than the server.
pub fn upgrade_needed(agent: &AgentRecord) -> bool {
    let parse = |v: &str| -> Vec<u64> {
        v.split(['.', '-', '+'])
            .map_while(|p| p.parse().ok())
            .collect()
    };
    parse(&agent.facts.version) < parse(env!("CARGO_PKG_VERSION"))
}

/// Sends a command to the agent: it starts at the agent's next poll (at once when the agent
/// waits on this server). Running commands on a host is as strong as a login there: it takes
/// jobs=manage on the agent's entity.
pub async fn queue_command(
    st: &AppState,
    caller: &Caller,
    agent_id: AgentId,
    spec: &CommandSpec,
) -> Result<CommandRecord, AppError> {
    agent_in(st, caller, agent_id, Domain::Jobs, Level::Manage).await?;
    spec.validate()
        .map_err(|e| AppError::invalid(e.field, e.message))?;
    let text = serde_json::to_string(spec).map_err(|_| AppError::internal())?;
    let command = st
        .store
        .queue_command(&caller.actor(), agent_id, "exec", &text)
        .await
        .map_err(|e| AppError::from_store("agent", e))?;
    st.agents.wake(agent_id);
    Ok(command)
}

/// The command, if the caller may see its agent at `level` in jobs.
pub async fn get_command(
    st: &AppState,
    caller: &Caller,
    id: CommandId,
    level: Level,
) -> Result<CommandRecord, AppError> {
    let command = st
        .store
        .get_command(id)
        .await
        .map_err(|e| AppError::from_store("command", e))?;
    let agent = st.store.get_agent(command.agent_id).await?;
    caller.check(Domain::Jobs, level, agent.entity_id, "command")?;
    Ok(command)
}

pub async fn list_commands(
    st: &AppState,
    caller: &Caller,
    agent_id: AgentId,
) -> Result<Vec<CommandRecord>, AppError> {
    agent_in(st, caller, agent_id, Domain::Jobs, Level::Read).await?;
    Ok(st.store.list_commands(agent_id, 100).await?)
}

/// Asks the agent to stop the command and its whole process tree; a command not started yet
/// ends at once.
pub async fn cancel_command(
    st: &AppState,
    caller: &Caller,
    id: CommandId,
) -> Result<CommandRecord, AppError> {
    let command = get_command(st, caller, id, Level::Operate).await?;
    let cancelled = st.store.cancel_command(&caller.actor(), id).await?;
    st.agents.wake(command.agent_id);
    Ok(cancelled)
}

// ---- What agents call --------------------------------------------------------------------

/// An agent's own credential: 256 random bits, stored hashed.
fn new_credential() -> String {
    format!("pag_{}", random_hex(32))
}

/// The 401 an agent gets, with the reason.
fn unauthorized(reason: &'static str) -> AppError {
    AppError::new(
        axum::http::StatusCode::UNAUTHORIZED,
        "unauthenticated",
        reason,
    )
}

fn agent_actor(name: &str, source: &str) -> Actor {
    Actor {
        user_id: None,
        login: format!("agent:{name}"),
        source: source.to_owned(),
        at: now_ms(),
    }
}

fn check_hello(hello: &Hello) -> Result<(), AppError> {
    let fields = [
        ("hello.hostname", &hello.hostname, 253, true),
        ("hello.machine_id", &hello.machine_id, 128, true),
        ("hello.version", &hello.version, 64, true),
        ("hello.os", &hello.os, 200, false),
        ("hello.arch", &hello.arch, 32, false),
    ];
    for (field, value, max, required) in fields {
        if required && value.trim().is_empty() {
            return Err(AppError::invalid(field, "is required"));
        }
        if value.chars().count() > max || value.chars().any(char::is_control) {
            return Err(AppError::invalid(
                field,
                format!("must be at most {max} printable characters"),
            ));
        }
    }
    Ok(())
}

fn facts(hello: &Hello, address: &str) -> AgentFacts {
    AgentFacts {
        name: hello.hostname.clone(),
        machine_id: hello.machine_id.clone(),
        version: hello.version.clone(),
        os: hello.os.clone(),
        arch: hello.arch.clone(),
        address: address.to_owned(),
    }
}

/// An agent enrols: with a token it is active at once, without one it waits for approval.
/// A token that does not enrol is answered 401 and audited.
pub async fn enrol(
    st: &AppState,
    request: &EnrolRequest,
    source: &str,
) -> Result<EnrolReply, AppError> {
    check_hello(&request.hello)?;
    let actor = agent_actor(&request.hello.hostname, source);
    let credential = new_credential();
    let token_hash = request.token.as_deref().map(|t| sha256_hex(t.trim()));
    let outcome = st
        .store
        .enrol_agent(
            &actor,
            token_hash.as_deref(),
            &NewAgent {
                facts: facts(&request.hello, source),
                secret_hash: sha256_hex(&credential),
                config: serde_json::to_string(&AgentConfig::default())
                    .map_err(|_| AppError::internal())?,
            },
        )
        .await?;
    let agent = match outcome {
        Enrolled::Agent(agent) => *agent,
        Enrolled::Refused(reason) => {
            audit_refusal(
                st,
                &actor,
                "agent.enrol_refused",
                &request.hello.hostname,
                reason,
            )
            .await;
            return Err(unauthorized(reason));
        }
    };
    let agent = if agent.status == AgentStatus::Active {
        link_asset(st, agent).await?
    } else {
        agent
    };
    tracing::info!(agent = agent.id, name = %agent.facts.name, status = agent.status.key(), %source, "agent enrolled");
    Ok(EnrolReply {
        agent_id: agent.id,
        credential,
        status: agent.status.key().to_owned(),
    })
}

async fn audit_refusal(st: &AppState, actor: &Actor, action: &str, label: &str, reason: &str) {
    if !st.agents.audit_due(&actor.source) {
        return;
    }
    let event = AuditEvent {
        action: action.to_owned(),
        object_type: "agent".to_owned(),
        object_id: None,
        object_label: label.to_owned(),
        entity_id: None,
        changes: pupitre_core::audit::diff(
            None,
            Some(&[pupitre_core::audit::Field::new("reason", reason)]),
        ),
    };
    if let Err(e) = st.store.record_event(actor, &event).await {
        tracing::warn!(error = %e, "cannot audit an agent's refusal");
    }
}

/// Gives the agent's host an asset, the one its inventory will update (same device id).
async fn link_asset(st: &AppState, agent: AgentRecord) -> Result<AgentRecord, AppError> {
    if agent.asset_id.is_some() {
        return Ok(agent);
    }
    let report = InventoryReport {
        device_id: wire::device_id(&agent.facts.machine_id),
        source: "pupitre-agent".to_owned(),
        agent_version: agent.facts.version.clone(),
        hostname: agent.facts.name.clone(),
        os_name: agent.facts.os.clone(),
        ..InventoryReport::default()
    };
    let caller = agent_caller(st, &agent).await?;
    let applied = crate::ops::intake::apply_report(st, &caller, &report, agent.entity_id).await?;
    st.store.set_agent_asset(agent.id, applied.asset.id).await?;
    watch_contact(st, &caller, &agent, applied.asset.id).await;
    Ok(AgentRecord {
        asset_id: Some(applied.asset.id),
        ..agent
    })
}

/// The check that raises a host problem when the agent falls silent, created with the
/// agent's asset (unless the asset already has one of its own).
async fn watch_contact(st: &AppState, caller: &Caller, agent: &AgentRecord, asset: AssetId) {
    use pupitre_core::monitoring::definition::{CheckDefinitionInput, ProbeSpec, check_definition};
    let filter = pupitre_store::monitoring::CheckFilter {
        visible: vec![agent.entity_id],
        asset_id: Some(asset),
        probe_kind: Some("agent".to_owned()),
        ..Default::default()
    };
    let existing = st
        .store
        .list_checks(
            &filter,
            pupitre_store::Page {
                after: None,
                limit: 100,
            },
        )
        .await
        .unwrap_or_default();
    if existing
        .iter()
        .any(|c| matches!(&c.check.definition.probe, ProbeSpec::Agent { selector, .. } if selector.is_empty()))
    {
        return;
    }
    let definition = check_definition(CheckDefinitionInput {
        name: "Pupitre agent".to_owned(),
        probe: ProbeSpec::Agent {
            selector: String::new(),
            max_age_s: CONTACT_MAX_AGE_S,
        },
        interval_s: 60,
        retry_interval_s: 30,
        timeout_s: 10,
        max_attempts: 2,
        warning: String::new(),
        critical: String::new(),
        notifications_enabled: true,
        entity_id: agent.entity_id,
    });
    let Ok(definition) = definition else {
        tracing::error!("the agent's contact check does not validate");
        return;
    };
    let created = st
        .store
        .create_check(
            &caller.actor(),
            &pupitre_store::monitoring::NewCheck {
                asset_id: asset,
                definition,
                host_check: false,
                heartbeat_hash: None,
            },
        )
        .await;
    match created {
        Ok(record) => {
            st.engine_changed(pupitre_monitor::Changed::Checks(&[record.check.id]))
                .await;
        }
        Err(e) => {
            tracing::warn!(agent = agent.id, error = %e, "cannot create the agent's contact check")
        }
    }
}

/// An agent silent for longer than this is a host problem (its polls come every 25 s).
pub const CONTACT_MAX_AGE_S: u32 = 120;

async fn agent_caller(st: &AppState, agent: &AgentRecord) -> Result<Caller, AppError> {
    let tree = st.entity_tree().await?;
    Ok(Caller::agent(
        &agent.facts.name,
        agent.entity_id,
        tree,
        agent.facts.address.clone(),
    ))
}

/// The agent a request comes from, by its credential. A credential that opens nothing, or a
/// revoked agent's, is answered 401 and audited (once a minute per source address); a
/// pending agent's, 403 `pending`.
pub async fn authenticate(
    st: &AppState,
    headers: &axum::http::HeaderMap,
    source: &str,
) -> Result<AgentRecord, AppError> {
    let credential = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .unwrap_or_default();
    if credential.is_empty() {
        return Err(unauthorized("an agent credential is required"));
    }
    let Some((agent, slot)) = st.store.agent_by_secret(&sha256_hex(credential)).await? else {
        let actor = agent_actor("unknown", source);
        audit_refusal(
            st,
            &actor,
            "agent.auth_failed",
            "unknown",
            "unknown credential",
        )
        .await;
        return Err(unauthorized("the agent credential is not valid"));
    };
    match agent.status {
        AgentStatus::Revoked => {
            let actor = agent_actor(&agent.facts.name, source);
            audit_refusal(
                st,
                &actor,
                "agent.auth_failed",
                &agent.facts.name,
                "the agent is revoked",
            )
            .await;
            Err(unauthorized("the agent is revoked"))
        }
        AgentStatus::Pending => Err(AppError::new(
            axum::http::StatusCode::FORBIDDEN,
            "pending",
            "the agent waits for an administrator's approval",
        )),
        AgentStatus::Active => {
            if slot == SecretSlot::Next {
                st.store.promote_secret(agent.id).await?;
                tracing::info!(agent = agent.id, "agent credential rotated");
            }
            Ok(agent)
        }
    }
}

/// The agent's clock minus the server's, from the header it sent; 0 without one.
pub fn clock_skew(headers: &axum::http::HeaderMap, now: i64) -> i64 {
    headers
        .get(wire::SENT_AT_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<i64>().ok())
        .map_or(0, |sent| sent - now)
}

/// Records an agent's contact: when, from where (`agent.facts.address`) and its clock
/// (`agent.clock_skew_ms`, as measured on this request).
pub async fn record_contact(st: &AppState, agent: &AgentRecord) -> Result<(), AppError> {
    st.store
        .touch_agent(
            agent.id,
            now_ms(),
            &agent.facts.address,
            agent.clock_skew_ms,
            None,
        )
        .await?;
    Ok(())
}

/// Stores one round of samples. A batch already stored is answered `duplicate`; a malformed
/// one is refused whole with the reason, and nothing of it is stored.
pub async fn receive_samples(
    st: &AppState,
    agent: &AgentRecord,
    batch: &Batch,
) -> Result<BatchReply, AppError> {
    let now = now_ms();
    let skew_ms = agent.clock_skew_ms;
    if batch.seq <= agent.last_seq {
        return Ok(BatchReply {
            result: "duplicate".to_owned(),
            samples: 0,
            clock_skew_ms: skew_ms,
        });
    }
    if batch.seq < 1 {
        return Err(AppError::invalid("seq", "must be 1 or more"));
    }
    if batch.len() > wire::MAX_BATCH_SAMPLES {
        return Err(AppError::invalid(
            "samples",
            format!("at most {} samples a batch", wire::MAX_BATCH_SAMPLES),
        ));
    }
    // A clock off by more than the tolerance is corrected: the samples are placed on the
    // server's time line, and the skew is recorded on the agent for all to see.
    let at = if skew_ms.abs() > wire::SKEW_TOLERANCE_MS {
        batch.at - skew_ms
    } else {
        batch.at
    };
    let mut series = Vec::with_capacity(batch.len());
    let mut seen = std::collections::HashSet::with_capacity(batch.len());
    for (i, sample) in batch.samples.iter().enumerate() {
        let key = SeriesKey::new(
            &sample.name,
            sample.labels.iter().map(|(k, v)| (k.clone(), v.clone())),
        )
        .map_err(|e| AppError::invalid(format!("samples[{i}]"), e.to_string()))?;
        if !seen.insert(key.clone()) {
            return Err(AppError::invalid(
                format!("samples[{i}]"),
                format!("series {} appears twice in the batch", sample.name),
            ));
        }
        series.push(SeriesData {
            series: NewSeries {
                key,
                unit: String::new(),
                kind: if sample.counter {
                    Kind::Counter
                } else {
                    Kind::Gauge
                },
            },
            timestamps: vec![at],
            values: vec![sample.value],
        });
    }
    let asset_id = match agent.asset_id {
        Some(asset) => asset,
        None => link_asset(st, agent.clone())
            .await?
            .asset_id
            .ok_or_else(AppError::internal)?,
    };
    let Some(history) = &st.history else {
        return Err(AppError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "this server records no metric history",
        ));
    };
    let written = history
        .write(
            &[SourceData {
                source: Source {
                    kind: SourceKind::Agent,
                    id: agent.id,
                },
                asset_id,
                series,
            }],
            now,
        )
        .await?;
    st.store.accept_batch(agent.id, batch.seq).await?;
    Ok(BatchReply {
        result: "stored".to_owned(),
        samples: written.samples,
        clock_skew_ms: skew_ms,
    })
}

/// Applies the host's inventory (GLPI Agent's JSON) to the agent's asset, through the same
/// path as every agent's inventory.
pub async fn receive_inventory(
    st: &AppState,
    agent: &AgentRecord,
    body: &[u8],
) -> Result<serde_json::Value, AppError> {
    use pupitre_intake::glpi;
    let parsed = glpi::parse(body).map_err(|e| AppError::invalid("inventory", e.to_string()))?;
    let glpi::GlpiRequest::Inventory(mut report) = parsed else {
        return Err(AppError::invalid(
            "action",
            "only an inventory is accepted here",
        ));
    };
    // The host is the agent's, whatever the report says it is.
    report.device_id = wire::device_id(&agent.facts.machine_id);
    report.source = "pupitre-agent".to_owned();
    let caller = agent_caller(st, agent).await?;
    let applied = crate::ops::intake::apply_report(st, &caller, &report, agent.entity_id).await?;
    if agent.asset_id != Some(applied.asset.id) {
        st.store.set_agent_asset(agent.id, applied.asset.id).await?;
    }
    Ok(serde_json::json!({
        "asset_id": applied.asset.id,
        "created": applied.created,
        "software": applied.software,
    }))
}

/// A command's output and end, from its agent. A report for a command the server already
/// closed is answered `accepted: false`, and the agent stops it.
pub async fn receive_progress(
    st: &AppState,
    agent: &AgentRecord,
    p: &wire::Progress,
) -> Result<wire::ProgressReply, AppError> {
    let command = st
        .store
        .get_command(p.id)
        .await
        .map_err(|e| AppError::from_store("command", e))?;
    if command.agent_id != agent.id {
        return Err(AppError::not_found("command"));
    }
    let spec: Option<CommandSpec> = serde_json::from_str(&command.spec).ok();
    let cap = spec.map_or(1 << 20, |s| s.max_output_bytes as usize);
    let progress = CommandProgress {
        stdout: p.stdout.clone(),
        stdout_from: i64::try_from(p.stdout_from).unwrap_or(i64::MAX),
        stderr: p.stderr.clone(),
        stderr_from: i64::try_from(p.stderr_from).unwrap_or(i64::MAX),
        stdout_bytes: i64::try_from(p.stdout_bytes).unwrap_or(i64::MAX),
        stderr_bytes: i64::try_from(p.stderr_bytes).unwrap_or(i64::MAX),
        started_at: p.started_at.map(|at| at - agent.clock_skew_ms),
        end: p.end.as_ref().map(|e| {
            let outcome = match e.outcome.as_str() {
                known @ ("exited" | "timeout" | "killed" | "failed") => known.to_owned(),
                _ => "failed".to_owned(),
            };
            (outcome, e.exit_code, e.message.chars().take(2000).collect())
        }),
    };
    let accepted = st
        .store
        .command_progress(agent.id, p.id, &progress, cap)
        .await
        .map_err(|e| AppError::from_store("command", e))?;
    let after = st.store.get_command(p.id).await?;
    Ok(wire::ProgressReply {
        accepted,
        cancel: after.cancel_requested && after.state != CommandState::Finished,
    })
}

/// The commands to send with a poll: those the agent has not started, and the cancellations
/// of those it runs.
fn commands_for(open: &[CommandRecord], running: &[i64]) -> Vec<wire::Command> {
    open.iter()
        .filter(|c| {
            let known = running.contains(&c.id);
            (!known && c.state == CommandState::Queued) || (known && c.cancel_requested)
        })
        .filter_map(|c| {
            let spec = serde_json::from_str(&c.spec).ok()?;
            Some(wire::Command {
                id: c.id,
                spec,
                cancel: c.cancel_requested,
            })
        })
        .collect()
}

/// Answers a poll: at once when there is news for the agent (a newer configuration, a
/// rotated credential), else when some comes or `wait_s` has passed.
pub async fn poll(
    st: &AppState,
    agent: AgentRecord,
    request: &PollRequest,
) -> Result<PollReply, AppError> {
    if let Some(hello) = &request.hello {
        // What the agent runs, said at its first poll after it starts.
        check_hello(hello)?;
        let address = &agent.facts.address;
        st.store
            .touch_agent(
                agent.id,
                now_ms(),
                address,
                agent.clock_skew_ms,
                Some(&facts(hello, address)),
            )
            .await?;
    }
    let agent = link_asset(st, agent).await?;
    let wait = Duration::from_secs(request.wait_s.min(wire::MAX_POLL_WAIT_S));
    let deadline = tokio::time::Instant::now() + wait;
    let notify = st.agents.notify_for(agent.id);
    let mut agent = agent;
    let mut commands;
    loop {
        commands = commands_for(&st.store.open_commands(agent.id).await?, &request.running);
        let news =
            agent.config_version > request.config_version || agent.rotate || !commands.is_empty();
        if news || tokio::time::Instant::now() >= deadline {
            break;
        }
        // Another server's change is seen within a few seconds; this server's, at once.
        let slice = (deadline - tokio::time::Instant::now()).min(Duration::from_secs(5));
        let _ = tokio::time::timeout(slice, notify.notified()).await;
        agent = st.store.get_agent(agent.id).await?;
        if agent.status != AgentStatus::Active {
            return Err(unauthorized("the agent is no longer active"));
        }
    }
    let credential = if agent.rotate {
        let credential = new_credential();
        st.store
            .set_next_secret(agent.id, &sha256_hex(&credential))
            .await?;
        Some(credential)
    } else {
        None
    };
    Ok(PollReply {
        server_time: now_ms(),
        config_version: agent.config_version,
        config: (agent.config_version > request.config_version).then(|| config_of(&agent)),
        credential,
        upgrade_needed: upgrade_needed(&agent),
        commands,
    })
}
