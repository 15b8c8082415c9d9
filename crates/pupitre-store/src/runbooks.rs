//! Runbooks' storage (issue #7): versioned markdown with the actions it declares, attached to
//! an asset, a check template or a service name; and the actions launched from incidents.
//!
//! A change never rewrites a runbook: it appends a version, so what an engineer read and ran
//! during an incident stays readable afterwards. Launching an action queues the agent's
//! command, links it to the incident and writes the timeline in one transaction.

use async_trait::async_trait;
use pupitre_core::audit::Actor;
use pupitre_core::incident::IncidentId;
use pupitre_core::inventory::AssetId;
use pupitre_core::permission::EntityId;

use crate::Result;
use crate::agents::{AgentId, CommandRecord};

/// A runbook at one of its versions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunbookRecord {
    pub id: i64,
    pub entity_id: EntityId,
    /// `asset`, `check_template` or `service`.
    pub target_kind: String,
    /// The asset's or template's id, or the service's name.
    pub target: String,
    /// The version shown.
    pub version: i64,
    /// The newest version.
    pub latest: i64,
    pub title: String,
    pub body: String,
    /// JSON: the actions the web layer validated.
    pub actions: String,
    pub note: String,
    /// Who wrote this version, and when.
    pub author: String,
    pub written_at: i64,
    pub created_by: String,
    pub created_at: i64,
}

/// What a new version says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunbookInput {
    pub entity_id: EntityId,
    pub target_kind: String,
    pub target: String,
    pub title: String,
    pub body: String,
    pub actions: String,
    pub note: String,
}

/// An action launched from an incident.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IncidentActionRecord {
    pub id: i64,
    pub incident_id: IncidentId,
    pub runbook_id: Option<i64>,
    pub runbook_version: i64,
    pub action: String,
    pub asset_id: AssetId,
    pub command_id: i64,
    /// Run by Pupitre before anyone was paged.
    pub automatic: bool,
    /// `running` or `done`.
    pub state: String,
    pub started_by: String,
    pub started_at: i64,
    pub finished_at: Option<i64>,
}

/// An action to launch: which runbook's, on which asset's agent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewIncidentAction {
    pub incident_id: IncidentId,
    pub runbook_id: i64,
    pub runbook_version: i64,
    pub action: String,
    pub asset_id: AssetId,
    pub agent_id: AgentId,
    pub automatic: bool,
    /// The command's spec (JSON), as for any agent command.
    pub spec: String,
    /// The timeline's line: `launched restart-nginx on web-1: systemctl restart nginx`.
    pub text: String,
}

#[async_trait]
pub trait RunbookStore: Send + Sync {
    async fn create_runbook(&self, actor: &Actor, input: &RunbookInput) -> Result<RunbookRecord>;
    /// Appends a version.
    async fn update_runbook(
        &self,
        actor: &Actor,
        id: i64,
        input: &RunbookInput,
    ) -> Result<RunbookRecord>;
    async fn delete_runbook(&self, actor: &Actor, id: i64) -> Result<()>;
    /// The runbook at `version`, or at its newest.
    async fn get_runbook(&self, id: i64, version: Option<i64>) -> Result<RunbookRecord>;
    /// Every version, newest first.
    async fn runbook_versions(&self, id: i64) -> Result<Vec<RunbookRecord>>;
    async fn list_runbooks(&self, entities: &[EntityId]) -> Result<Vec<RunbookRecord>>;
    /// The runbooks attached to any of these (kind, target) pairs, at their newest version.
    async fn runbooks_for(&self, targets: &[(String, String)]) -> Result<Vec<RunbookRecord>>;

    /// Queues the action's command on the agent, links it to the incident and writes the
    /// timeline, in one transaction; `extra` joins the command's audit record.
    async fn start_incident_action(
        &self,
        actor: &Actor,
        action: &NewIncidentAction,
        extra: Vec<pupitre_core::audit::Field>,
    ) -> Result<(IncidentActionRecord, CommandRecord)>;
    async fn incident_actions(&self, incident: IncidentId) -> Result<Vec<IncidentActionRecord>>;
    /// Actions whose command has not been seen finished yet.
    async fn running_incident_actions(&self) -> Result<Vec<IncidentActionRecord>>;
    /// Marks an action done and writes its outcome in the timeline (once: false when another
    /// server did it first).
    async fn finish_incident_action(&self, id: i64, text: &str, now: i64) -> Result<bool>;
    /// Holds an incident's first page: its escalation counts from `base` (moved while an
    /// automatic first-line action runs, so that the steps start when it is over, not
    /// together). Only before the first page.
    async fn hold_escalation(&self, incident: IncidentId, base: i64) -> Result<()>;
    /// When `action` last ran automatically on `asset`, if it did since `since`.
    async fn last_automatic_action(
        &self,
        asset: AssetId,
        action: &str,
        since: i64,
    ) -> Result<Option<i64>>;
}
