//! Alerts and incidents' storage interface (issue #7).
//!
//! - **The inbox.** Every alert signal lands in `alert_inbox` first: a webhook's once it is
//!   validated, a check's hard state change in the transaction that records it. The
//!   correlator reads the inbox in order and applies each signal with [`IncidentStore::apply_signal`],
//!   which deletes the inbox row in the same transaction: a signal is applied once, even with
//!   several servers (the second finds the row gone and does nothing), and survives a crash.
//! - **Policy and mechanics.** The correlator decides (which incident an alert joins, which
//!   incidents a new one takes in: `pupitre_core::incident`), the store carries the decision
//!   out atomically: the alert deduplicated by key, the incident opened, joined, reopened or
//!   resolved when its last alert resolves, the assets linked, the timeline written.
//! - **People's actions** (acknowledge, resolve, reopen, assign, note) are audited in their
//!   transaction and written to the timeline.

use async_trait::async_trait;
use pupitre_core::audit::Actor;
use pupitre_core::incident::{
    AlertId, AlertSource, Grouping, IncidentId, IncidentStatus, Severity, Urgency,
};
use pupitre_core::inventory::AssetId;
use pupitre_core::monitoring::check::CheckId;
use pupitre_core::permission::EntityId;
use serde::{Deserialize, Serialize};

use crate::Result;

/// A link an alert carries (a dashboard, a runbook, the source's own page).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    pub href: String,
    #[serde(default)]
    pub text: String,
}

/// One alert as a source reports it, normalised: what the inbox holds.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Signal {
    /// `monitoring`, `alertmanager` or `webhook`.
    pub source: String,
    /// The alert source (integration) it came through, for external ones.
    #[serde(default)]
    pub source_id: Option<i64>,
    /// The entity the alert belongs to: the source's; a check's is its asset's.
    #[serde(default)]
    pub entity_id: Option<EntityId>,
    /// The deduplication key, unique across sources (`check:12`, `am:<fingerprint>`,
    /// `hook:3:<key>`).
    pub key: String,
    pub firing: bool,
    /// `critical`, `warning` or `info`.
    pub severity: String,
    pub summary: String,
    #[serde(default)]
    pub details: serde_json::Map<String, serde_json::Value>,
    #[serde(default)]
    pub links: Vec<Link>,
    #[serde(default)]
    pub asset_id: Option<AssetId>,
    #[serde(default)]
    pub check_id: Option<CheckId>,
    #[serde(default)]
    pub service: String,
    /// When the source saw it (Unix ms).
    pub at: i64,
    /// For a check: whether its state change notifies (not in downtime, not acknowledged,
    /// notifications on, not flapping).
    #[serde(default = "yes")]
    pub notify: bool,
    /// For a check: its host is behind a down parent.
    #[serde(default)]
    pub unreachable: bool,
}

fn yes() -> bool {
    true
}

/// A signal waiting in the inbox.
#[derive(Clone, Debug, PartialEq)]
pub struct Inboxed {
    pub id: i64,
    pub received_at: i64,
    /// `Err` holds the stored text when it no longer reads as a signal.
    pub signal: std::result::Result<Signal, String>,
}

/// What the correlator decided for one signal.
#[derive(Clone, Debug, PartialEq)]
pub struct Apply {
    pub inbox_id: i64,
    pub signal: Signal,
    pub source: AlertSource,
    pub severity: Severity,
    pub entity_id: EntityId,
    /// For a new firing alert: where it goes; `None` records it without an incident.
    pub grouping: Option<Grouping>,
    /// Why a new firing alert opens no incident (`downtime`, `acknowledged`, …); empty
    /// otherwise.
    pub suppressed: String,
    /// For a new firing alert: the resolved incident it reopens (an alert of the same key
    /// fired again shortly after), instead of `grouping`.
    pub reopen: Option<IncidentId>,
    /// For an incident it opens: its title and the incidents it takes in.
    pub title: String,
    pub absorb: Vec<IncidentId>,
}

/// What applying a signal did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Applied {
    /// False when another server applied it first (the inbox row was gone).
    pub done: bool,
    pub alert_id: Option<AlertId>,
    pub incident_id: Option<IncidentId>,
    pub opened: bool,
    pub reopened: bool,
    /// The incident resolved because its last alert did.
    pub resolved: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct AlertRecord {
    pub id: AlertId,
    pub entity_id: EntityId,
    pub source: AlertSource,
    pub source_id: Option<i64>,
    pub dedup_key: String,
    pub firing: bool,
    pub severity: Severity,
    pub summary: String,
    /// JSON object.
    pub details: String,
    /// JSON array of [`Link`].
    pub links: String,
    pub asset_id: Option<AssetId>,
    pub check_id: Option<CheckId>,
    pub service: String,
    pub incident_id: Option<IncidentId>,
    pub suppressed: String,
    pub updates: i64,
    pub first_at: i64,
    pub last_at: i64,
    pub resolved_at: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IncidentRecord {
    pub id: IncidentId,
    pub entity_id: EntityId,
    pub title: String,
    pub status: IncidentStatus,
    pub urgency: Urgency,
    pub impact: i64,
    pub priority: u8,
    pub group_key: String,
    pub cause_asset_id: Option<AssetId>,
    pub assignee_id: Option<i64>,
    pub merged_into: Option<IncidentId>,
    pub paged: bool,
    pub reopened: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub acknowledged_at: Option<i64>,
    pub acknowledged_by: Option<String>,
    pub resolved_at: Option<i64>,
    pub resolved_by: Option<String>,
    /// The pager has fired every escalation step due up to this instant.
    pub escalated_until: Option<i64>,
    /// When escalation starts counting: the last reopening, else the creation.
    pub escalation_base: Option<i64>,
    /// The post-incident review, JSON `{cause, impact, actions}`; empty until written.
    pub review: String,
    pub reviewed_by: Option<String>,
    pub reviewed_at: Option<i64>,
}

/// An asset linked to an incident.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IncidentAsset {
    pub asset_id: AssetId,
    pub name: String,
    /// `cause` or `impacted`.
    pub role: String,
}

/// One line of an incident's timeline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimelineEntry {
    pub id: i64,
    pub at: i64,
    /// `opened`, `alert_fired`, `alert_updated`, `alert_resolved`, `merged`, `absorbed`,
    /// `acknowledged`, `resolved`, `reopened`, `assigned`, `note`.
    pub kind: String,
    pub actor: String,
    pub text: String,
    pub alert_id: Option<AlertId>,
}

/// Which incidents to list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IncidentFilter {
    /// The entities the caller may see.
    pub entities: Vec<EntityId>,
    /// Only these statuses; all when empty.
    pub statuses: Vec<IncidentStatus>,
    pub asset_id: Option<AssetId>,
    /// Keyset: incidents with a smaller id.
    pub before: Option<IncidentId>,
    pub limit: i64,
}

/// A person's action on an incident.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IncidentAction {
    Acknowledge,
    Resolve,
    Reopen,
    /// Assign to a user, or unassign.
    Assign(Option<i64>),
    Note(String),
}

/// An alert source: a token an Alertmanager or a webhook sends alerts with, into an entity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlertSourceRecord {
    pub id: i64,
    pub entity_id: EntityId,
    pub name: String,
    /// `alertmanager` or `webhook`.
    pub kind: AlertSource,
    pub prefix: String,
    pub revoked_at: Option<i64>,
    pub last_used_at: Option<i64>,
    pub created_by: String,
    pub created_at: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewAlertSource {
    pub entity_id: EntityId,
    pub name: String,
    pub kind: AlertSource,
    pub token_hash: String,
    pub prefix: String,
}

/// An escalation policy: the steps that page people for an entity's incidents.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyRecord {
    pub id: i64,
    pub entity_id: EntityId,
    pub name: String,
    /// JSON, validated by the web layer.
    pub definition: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// An on-call schedule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScheduleRecord {
    pub id: i64,
    pub entity_id: EntityId,
    pub name: String,
    pub time_zone: String,
    /// JSON, validated by the web layer.
    pub definition: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// What a schedule is made of, to create or replace one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScheduleInput {
    pub entity_id: EntityId,
    pub name: String,
    pub time_zone: String,
    pub definition: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OverrideRecord {
    pub id: i64,
    pub schedule_id: i64,
    pub user_id: i64,
    pub starts_at: i64,
    pub ends_at: i64,
    pub created_by: String,
    pub created_at: i64,
}

/// A page to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewNotification {
    pub user_id: i64,
    /// The contact method's kind (`email`, `sms`, `slack`…); empty for a line of the
    /// timeline only (nobody on call, no address).
    pub channel: String,
    pub address: String,
    /// The person's contact method; `None` for the account's own e-mail address.
    pub contact_method_id: Option<i64>,
    /// When to send it: at once, after the rule's delay, or when quiet hours end.
    pub due_at: i64,
    pub step: i64,
    pub round: i64,
    /// The timeline's line for it (`paged night by e-mail (step 1)`).
    pub text: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotificationRecord {
    pub id: i64,
    pub incident_id: IncidentId,
    pub user_id: Option<i64>,
    pub channel: String,
    pub address: String,
    pub contact_method_id: Option<i64>,
    pub step: i64,
    pub round: i64,
    /// `queued`, `sent`, `failed` or `cancelled` (the incident was acknowledged or resolved
    /// before its time).
    pub state: String,
    pub attempts: i64,
    pub last_error: String,
    pub next_attempt_at: i64,
    pub created_at: i64,
    pub sent_at: Option<i64>,
    /// The message that carried it: its own id, or the first of a digest's.
    pub message_id: Option<i64>,
}

/// How a delivery attempt went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Delivery {
    Sent,
    /// Failed; tried again at `retry_at`, or never again when `None`.
    Failed {
        error: String,
        retry_at: Option<i64>,
    },
}

/// A maintenance window as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WindowRecord {
    pub id: i64,
    pub entity_id: EntityId,
    pub title: String,
    pub starts_at: i64,
    pub duration_minutes: i64,
    pub time_zone: String,
    /// An RFC 5545 RRULE; empty for a one-off window.
    pub rrule: String,
    /// JSON [`WindowScope`].
    pub scope: String,
    /// JSON: who, what, vendor, description.
    pub intervention: String,
    pub created_by: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// What a window covers.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowScope {
    #[serde(default)]
    pub asset_ids: Vec<i64>,
    #[serde(default)]
    pub check_ids: Vec<i64>,
    #[serde(default)]
    pub tags: Vec<String>,
    /// These entities and those below them.
    #[serde(default)]
    pub entity_ids: Vec<i64>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WindowInput {
    pub entity_id: EntityId,
    pub title: String,
    pub starts_at: i64,
    pub duration_minutes: i64,
    pub time_zone: String,
    pub rrule: String,
    pub scope: String,
    pub intervention: String,
}

/// A silence as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SilenceRecord {
    pub id: i64,
    pub entity_id: EntityId,
    /// JSON `[{name, op, value}]`, checked by the web layer.
    pub matchers: String,
    pub starts_at: i64,
    pub ends_at: i64,
    pub author: String,
    pub comment: String,
    pub created_at: i64,
}

/// An entry of the shift log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShiftEntry {
    pub id: i64,
    pub entity_id: EntityId,
    pub at: i64,
    pub author: String,
    pub category: String,
    pub text: String,
    pub asset_ids: Vec<i64>,
    pub incident_ids: Vec<i64>,
}

/// A handover between two shifts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Handover {
    pub id: i64,
    pub entity_id: EntityId,
    pub since: i64,
    /// JSON, generated at handover.
    pub summary: String,
    pub note: String,
    pub created_by: String,
    pub created_at: i64,
    pub acknowledged_by: Option<String>,
    pub acknowledged_at: Option<i64>,
}

#[async_trait]
pub trait IncidentStore: Send + Sync {
    /// Puts signals in the inbox, in order, in one transaction.
    async fn push_signals(&self, signals: &[Signal], received_at: i64) -> Result<()>;
    /// The oldest `limit` signals of the inbox.
    async fn inbox(&self, limit: i64) -> Result<Vec<Inboxed>>;
    /// Drops an inbox row that cannot be applied (it no longer reads as a signal).
    async fn drop_inboxed(&self, id: i64) -> Result<()>;
    /// The firing alert with this key, if any.
    async fn firing_alert(&self, key: &str) -> Result<Option<AlertRecord>>;
    /// The incident of the last alert with this key, if it resolved at or after `since`.
    async fn resolved_since(&self, key: &str, since: i64) -> Result<Option<IncidentId>>;
    /// Every open incident (triggered or acknowledged), for grouping.
    async fn open_incidents(&self) -> Result<Vec<IncidentRecord>>;
    /// Carries out the correlator's decision in one transaction (see [`Apply`]).
    async fn apply_signal(&self, apply: &Apply, now: i64) -> Result<Applied>;
    /// Sets an incident's urgency, impact and priority (derived from its alerts and assets).
    async fn rank_incident(
        &self,
        id: IncidentId,
        urgency: Urgency,
        impact: i64,
        priority: u8,
    ) -> Result<()>;

    async fn get_incident(&self, id: IncidentId) -> Result<IncidentRecord>;
    /// Newest first.
    async fn list_incidents(&self, filter: &IncidentFilter) -> Result<Vec<IncidentRecord>>;
    async fn incident_alerts(&self, id: IncidentId) -> Result<Vec<AlertRecord>>;
    async fn incident_assets(&self, id: IncidentId) -> Result<Vec<IncidentAsset>>;
    async fn incident_timeline(&self, id: IncidentId) -> Result<Vec<TimelineEntry>>;
    /// Alerts, newest first: the firing ones only when `firing_only`.
    async fn list_alerts(
        &self,
        entities: &[EntityId],
        firing_only: bool,
        limit: i64,
    ) -> Result<Vec<AlertRecord>>;
    /// A person's action, audited. Acknowledging an acknowledged incident, resolving a
    /// resolved one and reopening an open one change nothing and are not recorded.
    async fn act_on_incident(
        &self,
        actor: &Actor,
        id: IncidentId,
        action: &IncidentAction,
    ) -> Result<IncidentRecord>;

    async fn create_alert_source(
        &self,
        actor: &Actor,
        new: &NewAlertSource,
    ) -> Result<AlertSourceRecord>;
    async fn list_alert_sources(&self, entities: &[EntityId]) -> Result<Vec<AlertSourceRecord>>;
    async fn get_alert_source(&self, id: i64) -> Result<AlertSourceRecord>;
    async fn revoke_alert_source(&self, actor: &Actor, id: i64) -> Result<AlertSourceRecord>;
    /// The live (not revoked) source whose token hashes to `token_hash`; stamps its last use.
    async fn alert_source_by_token(
        &self,
        token_hash: &str,
        now: i64,
    ) -> Result<Option<AlertSourceRecord>>;

    /// Creates the entity's escalation policy, or replaces it; audited.
    async fn put_policy(
        &self,
        actor: &Actor,
        entity_id: EntityId,
        name: &str,
        definition: &str,
    ) -> Result<PolicyRecord>;
    async fn list_policies(&self, entities: &[EntityId]) -> Result<Vec<PolicyRecord>>;
    async fn get_policy(&self, id: i64) -> Result<PolicyRecord>;
    async fn delete_policy(&self, actor: &Actor, id: i64) -> Result<()>;

    async fn create_schedule(&self, actor: &Actor, input: &ScheduleInput)
    -> Result<ScheduleRecord>;
    async fn update_schedule(
        &self,
        actor: &Actor,
        id: i64,
        input: &ScheduleInput,
    ) -> Result<ScheduleRecord>;
    async fn get_schedule(&self, id: i64) -> Result<ScheduleRecord>;
    async fn list_schedules(&self, entities: &[EntityId]) -> Result<Vec<ScheduleRecord>>;
    async fn delete_schedule(&self, actor: &Actor, id: i64) -> Result<()>;
    async fn add_override(
        &self,
        actor: &Actor,
        schedule_id: i64,
        user_id: i64,
        starts_at: i64,
        ends_at: i64,
    ) -> Result<OverrideRecord>;
    /// The schedule's overrides that end after `after`.
    async fn list_overrides(&self, schedule_id: i64, after: i64) -> Result<Vec<OverrideRecord>>;

    /// Triggered incidents (not acknowledged, not resolved): those the pager escalates.
    async fn incidents_to_escalate(&self) -> Result<Vec<IncidentRecord>>;
    /// Queues pages for an incident and records that every step due up to
    /// `escalated_until` has fired, unless someone acknowledged or resolved it meanwhile or
    /// another server got there first (the incident's `escalated_until` is not `previous`
    /// any more): then nothing is queued and `false` is returned.
    async fn record_pages(
        &self,
        incident: IncidentId,
        previous: Option<i64>,
        escalated_until: i64,
        pages: &[NewNotification],
        now: i64,
    ) -> Result<bool>;
    /// Notifications waiting to be sent whose time has come, oldest first.
    async fn due_notifications(&self, now: i64, limit: i64) -> Result<Vec<NotificationRecord>>;
    /// Records a delivery attempt and its outcome, in the notification and in the timeline;
    /// `message` is the id of the notification whose message carried it (itself, or the
    /// first of a digest).
    async fn notification_attempted(
        &self,
        id: i64,
        message: i64,
        delivery: &Delivery,
        now: i64,
    ) -> Result<()>;
    /// Gives up a queued notification, saying why in the incident's timeline.
    async fn cancel_notification(&self, id: i64, reason: &str, now: i64) -> Result<()>;
    /// Takes a queued notification for one delivery attempt, until `until`: false when another
    /// server took it first (it moved `next_attempt_at` from `due`). An attempt that never
    /// reports (a crash) is tried again once `until` passes.
    async fn claim_notification(&self, id: i64, due: i64, until: i64) -> Result<bool>;
    /// Moves queued notifications to a later time (the storm limiter holds them for a
    /// digest).
    async fn postpone_notifications(&self, ids: &[i64], until: i64) -> Result<()>;
    /// When each message sent to `user` since `since` went, oldest first (a digest counts
    /// once).
    async fn messages_sent_since(&self, user: i64, since: i64) -> Result<Vec<i64>>;
    async fn incident_notifications(&self, incident: IncidentId)
    -> Result<Vec<NotificationRecord>>;

    async fn create_window(&self, actor: &Actor, input: &WindowInput) -> Result<WindowRecord>;
    async fn update_window(
        &self,
        actor: &Actor,
        id: i64,
        input: &WindowInput,
    ) -> Result<WindowRecord>;
    async fn delete_window(&self, actor: &Actor, id: i64) -> Result<()>;
    async fn get_window(&self, id: i64) -> Result<WindowRecord>;
    async fn list_windows(&self, entities: &[EntityId]) -> Result<Vec<WindowRecord>>;
    /// Firing monitoring alerts that opened no incident because their check did not notify
    /// (a downtime, a maintenance window, an acknowledgement…), for the correlator to look at
    /// again.
    async fn suppressed_alerts(&self) -> Result<Vec<AlertRecord>>;

    /// Creates a silence (its author is the actor); audited.
    async fn create_silence(
        &self,
        actor: &Actor,
        entity_id: EntityId,
        matchers: &str,
        starts_at: i64,
        ends_at: i64,
        comment: &str,
    ) -> Result<SilenceRecord>;
    async fn get_silence(&self, id: i64) -> Result<SilenceRecord>;
    /// Silences that end after `after`, in these entities.
    async fn list_silences(&self, entities: &[EntityId], after: i64) -> Result<Vec<SilenceRecord>>;
    /// Ends a silence now; audited.
    async fn expire_silence(&self, actor: &Actor, id: i64) -> Result<SilenceRecord>;

    /// Writes an incident's post-incident review (JSON); audited, and in its timeline.
    async fn set_review(
        &self,
        actor: &Actor,
        id: IncidentId,
        review: &str,
    ) -> Result<IncidentRecord>;
    /// Incidents open at some point of `[from, to)` in these entities (not the merged ones),
    /// with their linked assets: (incident, asset id, asset name).
    async fn incidents_between(
        &self,
        entities: &[EntityId],
        from: i64,
        to: i64,
    ) -> Result<(Vec<IncidentRecord>, Vec<(IncidentId, i64, String)>)>;

    /// Writes a shift log entry (the actor is its author, `actor.at` its time); audited.
    async fn add_shift_entry(
        &self,
        actor: &Actor,
        entity_id: EntityId,
        category: &str,
        text: &str,
        asset_ids: &[i64],
        incident_ids: &[i64],
    ) -> Result<ShiftEntry>;
    /// Entries in these entities, newest first, older than `before` (an id) when given.
    async fn list_shift_entries(
        &self,
        entities: &[EntityId],
        since: Option<i64>,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<ShiftEntry>>;
    async fn create_handover(
        &self,
        actor: &Actor,
        entity_id: EntityId,
        since: i64,
        summary: &str,
        note: &str,
    ) -> Result<Handover>;
    async fn get_handover(&self, id: i64) -> Result<Handover>;
    /// Newest first.
    async fn list_handovers(&self, entities: &[EntityId], limit: i64) -> Result<Vec<Handover>>;
    /// The incoming operator takes the shift; audited.
    async fn acknowledge_handover(&self, actor: &Actor, id: i64) -> Result<Handover>;
}
