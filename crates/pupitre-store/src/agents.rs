//! Agents' storage interface: enrolment tokens, the agents with the hash of their own
//! credential, and the commands the server sends them.
//!
//! The store sees only hashes of secrets. An enrolment token's uses are counted in the same
//! transaction that creates the agent, so that two agents racing for a token's last use cannot
//! both get it.

use async_trait::async_trait;
use pupitre_core::audit::Actor;
use pupitre_core::inventory::AssetId;
use pupitre_core::permission::EntityId;

use crate::Result;

pub type AgentId = i64;
pub type CommandId = i64;

/// A one-time token that enrols agents into an entity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Enrolment {
    pub id: i64,
    pub entity_id: EntityId,
    pub label: String,
    /// The token's first characters, to recognise it in a list.
    pub prefix: String,
    pub max_uses: i64,
    pub uses: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
    pub created_by: String,
    pub created_at: i64,
}

/// An enrolment token to create; `token_hash` is the SHA-256 of the token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewEnrolment {
    pub entity_id: EntityId,
    pub label: String,
    pub token_hash: String,
    pub prefix: String,
    pub max_uses: i64,
    pub expires_at: i64,
}

/// Where an agent stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AgentStatus {
    /// Enrolled without a token: waits for an administrator's approval, sends nothing.
    Pending,
    Active,
    /// Its credential no longer opens anything.
    Revoked,
}

impl AgentStatus {
    pub fn key(self) -> &'static str {
        match self {
            AgentStatus::Pending => "pending",
            AgentStatus::Active => "active",
            AgentStatus::Revoked => "revoked",
        }
    }

    pub fn parse(key: &str) -> Option<AgentStatus> {
        [
            AgentStatus::Pending,
            AgentStatus::Active,
            AgentStatus::Revoked,
        ]
        .into_iter()
        .find(|s| s.key() == key)
    }
}

/// What an agent says about itself when it enrols and each time it starts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AgentFacts {
    pub name: String,
    pub machine_id: String,
    pub version: String,
    pub os: String,
    pub arch: String,
    pub address: String,
}

/// A stored agent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgentRecord {
    pub id: AgentId,
    pub entity_id: EntityId,
    pub asset_id: Option<AssetId>,
    pub status: AgentStatus,
    pub facts: AgentFacts,
    /// An administrator asked for a new credential; the next poll hands it out.
    pub rotate: bool,
    pub enrolment_id: Option<i64>,
    /// JSON (`pupitre_agent::wire::AgentConfig`).
    pub config: String,
    pub config_version: i64,
    /// The agent's clock minus the server's, as last measured.
    pub clock_skew_ms: i64,
    /// The last batch of samples accepted (agents number them).
    pub last_seq: i64,
    pub last_seen_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// An agent to create.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewAgent {
    pub facts: AgentFacts,
    pub secret_hash: String,
    pub config: String,
}

/// What became of an enrolment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Enrolled {
    Agent(Box<AgentRecord>),
    /// The token does not enrol: unknown, revoked, expired or used up (the reason).
    Refused(&'static str),
}

/// Which of an agent's credentials a request carried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SecretSlot {
    Current,
    /// The one a rotation handed out: from now on the only valid one.
    Next,
}

/// Where a command stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CommandState {
    Queued,
    Running,
    Finished,
}

impl CommandState {
    pub fn key(self) -> &'static str {
        match self {
            CommandState::Queued => "queued",
            CommandState::Running => "running",
            CommandState::Finished => "finished",
        }
    }

    pub fn parse(key: &str) -> Option<CommandState> {
        [
            CommandState::Queued,
            CommandState::Running,
            CommandState::Finished,
        ]
        .into_iter()
        .find(|s| s.key() == key)
    }
}

/// A command sent to an agent, with what it produced so far.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommandRecord {
    pub id: CommandId,
    pub agent_id: AgentId,
    /// `exec` or `plugin`.
    pub kind: String,
    /// JSON (`pupitre_agent::wire::CommandSpec`).
    pub spec: String,
    pub state: CommandState,
    pub cancel_requested: bool,
    /// `exited`, `timeout`, `killed` or `failed`, once finished.
    pub outcome: Option<String>,
    pub exit_code: Option<i64>,
    pub stdout: String,
    pub stderr: String,
    /// Bytes the command wrote, kept or not.
    pub stdout_bytes: i64,
    pub stderr_bytes: i64,
    pub message: String,
    pub created_by: String,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
}

/// A piece of a command's output, or its end, as the agent reports it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CommandProgress {
    pub stdout: String,
    /// Where `stdout` starts in the stream: a piece the server already has is not appended
    /// again.
    pub stdout_from: i64,
    pub stderr: String,
    pub stderr_from: i64,
    /// Bytes produced in all (the agent counts what it did not send).
    pub stdout_bytes: i64,
    pub stderr_bytes: i64,
    pub started_at: Option<i64>,
    /// Set when the command ended: (outcome, exit code, message).
    pub end: Option<(String, Option<i64>, String)>,
}

#[async_trait]
pub trait AgentStore: Send + Sync {
    async fn create_enrolment(&self, actor: &Actor, e: &NewEnrolment) -> Result<Enrolment>;
    async fn list_enrolments(&self, visible: &[EntityId]) -> Result<Vec<Enrolment>>;
    async fn get_enrolment(&self, id: i64) -> Result<Enrolment>;
    async fn revoke_enrolment(&self, actor: &Actor, id: i64) -> Result<Enrolment>;

    /// Creates an agent: with a token's hash, active in the token's entity if the token still
    /// enrols (its use counted); without one, pending in the root entity.
    async fn enrol_agent(
        &self,
        actor: &Actor,
        token_hash: Option<&str>,
        agent: &NewAgent,
    ) -> Result<Enrolled>;
    /// The agent a credential's hash belongs to, whatever its status.
    async fn agent_by_secret(&self, hash: &str) -> Result<Option<(AgentRecord, SecretSlot)>>;
    /// Makes the rotated credential the only one; ends the rotation.
    async fn promote_secret(&self, id: AgentId) -> Result<()>;
    /// Hands out a rotated credential (its hash), replacing any earlier one not used yet.
    async fn set_next_secret(&self, id: AgentId, hash: &str) -> Result<()>;
    /// Records a contact: when, from where, the measured clock skew, and, when the agent
    /// says, what it runs.
    async fn touch_agent(
        &self,
        id: AgentId,
        at: i64,
        address: &str,
        clock_skew_ms: i64,
        facts: Option<&AgentFacts>,
    ) -> Result<()>;
    async fn set_agent_asset(&self, id: AgentId, asset: AssetId) -> Result<()>;
    /// Accepts batch `seq` once: false when it (or a later one) was already accepted.
    async fn accept_batch(&self, id: AgentId, seq: i64) -> Result<bool>;
    async fn get_agent(&self, id: AgentId) -> Result<AgentRecord>;
    /// The agent that reports for an asset: the active one last heard from, if any.
    async fn agent_of_asset(&self, asset: AssetId) -> Result<Option<AgentRecord>>;
    async fn list_agents(&self, visible: &[EntityId]) -> Result<Vec<AgentRecord>>;
    /// A pending agent becomes active, in `entity`.
    async fn approve_agent(
        &self,
        actor: &Actor,
        id: AgentId,
        entity: EntityId,
    ) -> Result<AgentRecord>;
    async fn revoke_agent(&self, actor: &Actor, id: AgentId) -> Result<AgentRecord>;
    async fn request_rotation(&self, actor: &Actor, id: AgentId) -> Result<AgentRecord>;
    /// Replaces the configuration and raises its version, so the agent picks it up.
    async fn set_agent_config(
        &self,
        actor: &Actor,
        id: AgentId,
        config: &str,
    ) -> Result<AgentRecord>;

    async fn queue_command(
        &self,
        actor: &Actor,
        agent: AgentId,
        kind: &str,
        spec: &str,
    ) -> Result<CommandRecord>;
    /// A command the engine sends for a check run: not audited (the check is), and forgotten
    /// with [`AgentStore::forget_command`] once its outcome is read.
    async fn queue_check_command(
        &self,
        agent: AgentId,
        kind: &str,
        spec: &str,
        at: i64,
    ) -> Result<CommandRecord>;
    async fn forget_command(&self, id: CommandId) -> Result<()>;
    async fn get_command(&self, id: CommandId) -> Result<CommandRecord>;
    async fn list_commands(&self, agent: AgentId, limit: i64) -> Result<Vec<CommandRecord>>;
    /// The agent's commands that it has not finished, oldest first.
    async fn open_commands(&self, agent: AgentId) -> Result<Vec<CommandRecord>>;
    async fn cancel_command(&self, actor: &Actor, id: CommandId) -> Result<CommandRecord>;
    /// Appends output and, at the end, the outcome. A report for a finished command changes
    /// nothing and answers false, so that a report sent twice is counted once.
    async fn command_progress(
        &self,
        agent: AgentId,
        id: CommandId,
        progress: &CommandProgress,
        max_kept_bytes: usize,
    ) -> Result<bool>;
}
