//! The shift log (main courante, issue #7): operators' timestamped entries (free text, a
//! category, linked assets and incidents), and handovers: the outgoing operator hands over
//! with a note, Pupitre writes the summary the next shift needs (open incidents, acknowledged
//! problems, maintenance under way, the entries and incidents since the last handover), and
//! the incoming operator acknowledges it.

use pupitre_core::incident::IncidentStatus;
use pupitre_core::permission::{Domain, EntityId, Level};
use pupitre_store::incidents::{Handover, IncidentFilter, ShiftEntry};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::error::AppError;
use crate::state::{AppState, now_ms};

pub const CATEGORIES: [&str; 6] = [
    "note",
    "intervention",
    "call",
    "incident",
    "maintenance",
    "other",
];

/// Writes an entry (incidents=operate on its entity).
pub async fn add_entry(
    st: &AppState,
    caller: &Caller,
    entity_id: EntityId,
    category: &str,
    text: &str,
    asset_ids: &[i64],
    incident_ids: &[i64],
) -> Result<ShiftEntry, AppError> {
    // On-call people write here without seeing the entities' administration.
    if !caller
        .grants
        .allows(Domain::Incidents, Level::Operate, entity_id)
    {
        return Err(AppError::invalid(
            "entity_id",
            "no such entity, or your profile does not allow operate in incidents there",
        ));
    }
    if !CATEGORIES.contains(&category) {
        return Err(AppError::invalid(
            "category",
            format!("must be one of {}", CATEGORIES.join(", ")),
        ));
    }
    let text = text.trim();
    if text.is_empty() || text.chars().count() > 10_000 {
        return Err(AppError::invalid("text", "must be 1 to 10,000 characters"));
    }
    if asset_ids.len() > 50 || incident_ids.len() > 50 {
        return Err(AppError::invalid(
            "asset_ids",
            "at most 50 assets and 50 incidents",
        ));
    }
    for (i, id) in asset_ids.iter().enumerate() {
        let ok = st.store.get_asset(*id).await.is_ok_and(|a| {
            caller
                .grants
                .allows(Domain::Inventory, Level::Read, a.entity_id)
        });
        if !ok {
            return Err(AppError::invalid(
                format!("asset_ids[{i}]"),
                "no such asset",
            ));
        }
    }
    for (i, id) in incident_ids.iter().enumerate() {
        if crate::ops::incidents::get_incident(st, caller, *id, Level::Read)
            .await
            .is_err()
        {
            return Err(AppError::invalid(
                format!("incident_ids[{i}]"),
                "no such incident",
            ));
        }
    }
    st.store
        .add_shift_entry(
            &caller.actor(),
            entity_id,
            category,
            text,
            asset_ids,
            incident_ids,
        )
        .await
        .map_err(|e| AppError::from_store("shift log", e))
}

pub async fn entries(
    st: &AppState,
    caller: &Caller,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<ShiftEntry>, AppError> {
    Ok(st
        .store
        .list_shift_entries(
            &caller.visible(Domain::Incidents),
            None,
            before,
            limit.clamp(1, 500),
        )
        .await?)
}

/// What the incoming shift needs to know, as of a handover.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Summary {
    pub open_incidents: Vec<SummaryIncident>,
    pub acknowledged_problems: Vec<SummaryProblem>,
    pub maintenance_now: Vec<SummaryWindow>,
    /// The shift log's entries since the last handover, oldest first.
    pub entries: Vec<SummaryEntry>,
    pub incidents_opened: usize,
    pub incidents_resolved: usize,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SummaryIncident {
    pub id: i64,
    pub title: String,
    pub status: String,
    pub priority: u8,
    pub assignee_id: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SummaryProblem {
    pub check_id: i64,
    pub asset: String,
    pub check: String,
    pub state: String,
    pub acknowledged_by: String,
    pub comment: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SummaryWindow {
    pub id: i64,
    pub name: String,
    pub ends_at: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SummaryEntry {
    pub at: String,
    pub author: String,
    pub category: String,
    pub text: String,
}

/// The summary of the caller's world now, since `since`.
pub async fn summary(st: &AppState, caller: &Caller, since: i64) -> Result<Summary, AppError> {
    let now = now_ms();
    let rfc3339 = crate::api::views::rfc3339;
    let open = crate::ops::incidents::list_incidents(
        st,
        caller,
        IncidentFilter {
            statuses: vec![IncidentStatus::Triggered, IncidentStatus::Acknowledged],
            limit: 200,
            ..IncidentFilter::default()
        },
    )
    .await?;
    let (all, _) = st
        .store
        .incidents_between(&caller.visible(Domain::Incidents), since, now + 1)
        .await?;
    let problems = st
        .store
        .list_checks(
            &pupitre_store::monitoring::CheckFilter {
                visible: caller.visible(Domain::Monitoring),
                problems: true,
                ..Default::default()
            },
            pupitre_store::Page {
                after: None,
                limit: 5000,
            },
        )
        .await?;
    let windows = st
        .store
        .list_windows(&caller.visible(Domain::Maintenance))
        .await?;
    let mut entries = st
        .store
        .list_shift_entries(&caller.visible(Domain::Incidents), Some(since), None, 500)
        .await?;
    entries.reverse();
    Ok(Summary {
        open_incidents: open
            .iter()
            .map(|i| SummaryIncident {
                id: i.id,
                title: i.title.clone(),
                status: i.status.key().to_owned(),
                priority: i.priority,
                assignee_id: i.assignee_id,
            })
            .collect(),
        acknowledged_problems: problems
            .iter()
            .filter_map(|c| {
                let ack = c.status.acknowledgement.as_ref()?;
                Some(SummaryProblem {
                    check_id: c.check.id,
                    asset: c.asset_name.clone(),
                    check: c.check.definition.name.clone(),
                    state: c.status.state.key().to_owned(),
                    acknowledged_by: ack.author.clone(),
                    comment: ack.comment.clone(),
                })
            })
            .collect(),
        maintenance_now: windows
            .iter()
            .filter_map(|w| {
                let (start, end) = *crate::ops::maintenance::next_occurrences(w, 1).first()?;
                (start <= now).then(|| SummaryWindow {
                    id: w.id,
                    name: w.title.clone(),
                    ends_at: rfc3339(end),
                })
            })
            .collect(),
        entries: entries
            .iter()
            .map(|e| SummaryEntry {
                at: rfc3339(e.at),
                author: e.author.clone(),
                category: e.category.clone(),
                text: e.text.clone(),
            })
            .collect(),
        incidents_opened: all.iter().filter(|i| i.created_at >= since).count(),
        incidents_resolved: all
            .iter()
            .filter(|i| i.resolved_at.is_some_and(|r| r >= since))
            .count(),
    })
}

/// The outgoing operator hands over (incidents=operate): the summary since the entity's last
/// handover (or the last 24 hours) is written with their note.
pub async fn hand_over(
    st: &AppState,
    caller: &Caller,
    entity_id: EntityId,
    note: &str,
) -> Result<Handover, AppError> {
    // On-call people write here without seeing the entities' administration.
    if !caller
        .grants
        .allows(Domain::Incidents, Level::Operate, entity_id)
    {
        return Err(AppError::invalid(
            "entity_id",
            "no such entity, or your profile does not allow operate in incidents there",
        ));
    }
    if note.chars().count() > 10_000 {
        return Err(AppError::invalid("note", "longer than 10,000 characters"));
    }
    let last = st.store.list_handovers(&[entity_id], 1).await?;
    let since = last.first().map_or(now_ms() - 86_400_000, |h| h.created_at);
    let summary = summary(st, caller, since).await?;
    let text = serde_json::to_string(&summary).map_err(|_| AppError::internal())?;
    st.store
        .create_handover(&caller.actor(), entity_id, since, &text, note.trim())
        .await
        .map_err(|e| AppError::from_store("handover", e))
}

pub async fn handovers(
    st: &AppState,
    caller: &Caller,
    limit: i64,
) -> Result<Vec<Handover>, AppError> {
    Ok(st
        .store
        .list_handovers(&caller.visible(Domain::Incidents), limit.clamp(1, 100))
        .await?)
}

pub async fn get_handover(
    st: &AppState,
    caller: &Caller,
    id: i64,
    level: Level,
) -> Result<Handover, AppError> {
    let h = st
        .store
        .get_handover(id)
        .await
        .map_err(|e| AppError::from_store("handover", e))?;
    caller.check(Domain::Incidents, level, h.entity_id, "handover")?;
    Ok(h)
}

/// The incoming operator takes the shift (incidents=operate; not the one who handed over).
pub async fn acknowledge(st: &AppState, caller: &Caller, id: i64) -> Result<Handover, AppError> {
    get_handover(st, caller, id, Level::Operate).await?;
    st.store
        .acknowledge_handover(&caller.actor(), id)
        .await
        .map_err(|e| AppError::from_store("handover", e))
}
