//! Maintenance windows (issue #7): one-off or recurring (an RFC 5545 RRULE in a time zone),
//! scoped by assets, tags, checks or entities, each with its planned intervention (who, what,
//! which vendor, the change). The engine reads their current occurrences as downtimes
//! (`current_downtimes`): checks keep running and recording, their problems open no incident
//! and page nobody; when a window ends with a problem still there, the correlator opens its
//! incident then (`ops::incidents::reconsider_suppressed`).

use jiff::Timestamp;
use jiff::tz::TimeZone;
use pupitre_core::permission::{Domain, EntityId, Level};
use pupitre_oncall::recurrence::Rule;
use pupitre_store::incidents::{WindowInput, WindowRecord, WindowScope};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::error::AppError;
use crate::state::{AppState, now_ms};

/// The planned intervention a window is for.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Intervention {
    #[serde(default)]
    pub who: String,
    #[serde(default)]
    pub what: String,
    #[serde(default)]
    pub vendor: String,
    /// The change, as the change request describes it.
    #[serde(default)]
    pub description: String,
}

/// A window to create or replace.
#[derive(Clone, Debug)]
pub struct WindowFields {
    pub entity_id: EntityId,
    pub title: String,
    /// RFC 3339.
    pub starts_at: String,
    pub duration_minutes: i64,
    pub time_zone: String,
    pub rrule: String,
    pub scope: WindowScope,
    pub intervention: Intervention,
}

/// Checks a window and turns it into what the store keeps.
async fn input(st: &AppState, caller: &Caller, f: &WindowFields) -> Result<WindowInput, AppError> {
    caller.visible_entity(f.entity_id, "entity_id")?;
    caller.check(Domain::Maintenance, Level::Edit, f.entity_id, "entity")?;
    let title = f.title.trim();
    if title.is_empty() || title.chars().count() > 200 {
        return Err(AppError::invalid("name", "must be 1 to 200 characters"));
    }
    let starts_at = crate::api::views::parse_instant("starts_at", &f.starts_at)?;
    if !(1..=43_200).contains(&f.duration_minutes) {
        return Err(AppError::invalid(
            "duration_minutes",
            "must be 1 minute to 30 days",
        ));
    }
    TimeZone::get(&f.time_zone)
        .map_err(|_| AppError::invalid("time_zone", "is not a known time zone (Europe/Paris)"))?;
    let rrule = f.rrule.trim();
    if !rrule.is_empty() {
        Rule::parse(rrule).map_err(|e| AppError::invalid("rrule", e))?;
    }
    let s = &f.scope;
    if s.asset_ids.is_empty()
        && s.check_ids.is_empty()
        && s.tags.is_empty()
        && s.entity_ids.is_empty()
    {
        return Err(AppError::invalid(
            "scope",
            "name at least one asset, check, tag or entity",
        ));
    }
    if s.asset_ids.len() + s.check_ids.len() + s.tags.len() + s.entity_ids.len() > 1000 {
        return Err(AppError::invalid("scope", "at most 1000 items"));
    }
    for (i, id) in s.asset_ids.iter().enumerate() {
        let field = format!("scope.asset_ids[{i}]");
        let asset = st
            .store
            .get_asset(*id)
            .await
            .map_err(|_| AppError::invalid(field.clone(), "no such asset"))?;
        if !caller
            .grants
            .allows(Domain::Maintenance, Level::Edit, asset.entity_id)
        {
            return Err(AppError::invalid(field, "no such asset"));
        }
    }
    for (i, id) in s.check_ids.iter().enumerate() {
        let field = format!("scope.check_ids[{i}]");
        let check = st
            .store
            .get_check(*id)
            .await
            .map_err(|_| AppError::invalid(field.clone(), "no such check"))?;
        let asset = st.store.get_asset(check.check.asset_id).await?;
        if !caller
            .grants
            .allows(Domain::Maintenance, Level::Edit, asset.entity_id)
        {
            return Err(AppError::invalid(field, "no such check"));
        }
    }
    for (i, e) in s.entity_ids.iter().enumerate() {
        caller.visible_entity(*e, &format!("scope.entity_ids[{i}]"))?;
        if !caller.grants.allows(Domain::Maintenance, Level::Edit, *e) {
            return Err(AppError::invalid(
                format!("scope.entity_ids[{i}]"),
                "no such entity",
            ));
        }
    }
    for (i, t) in s.tags.iter().enumerate() {
        if t.trim().is_empty() || t.len() > 100 {
            return Err(AppError::invalid(
                format!("scope.tags[{i}]"),
                "must be 1 to 100 characters",
            ));
        }
    }
    let n = &f.intervention;
    for (field, text) in [
        ("who", &n.who),
        ("what", &n.what),
        ("vendor", &n.vendor),
        ("description", &n.description),
    ] {
        if text.chars().count() > 4000 {
            return Err(AppError::invalid(
                format!("intervention.{field}"),
                "longer than 4000 characters",
            ));
        }
    }
    Ok(WindowInput {
        entity_id: f.entity_id,
        title: title.to_owned(),
        starts_at,
        duration_minutes: f.duration_minutes,
        time_zone: f.time_zone.clone(),
        rrule: rrule.to_owned(),
        scope: serde_json::to_string(s).map_err(|_| AppError::internal())?,
        intervention: serde_json::to_string(n).map_err(|_| AppError::internal())?,
    })
}

pub async fn create(
    st: &AppState,
    caller: &Caller,
    f: &WindowFields,
) -> Result<WindowRecord, AppError> {
    let input = input(st, caller, f).await?;
    let w = st
        .store
        .create_window(&caller.actor(), &input)
        .await
        .map_err(|e| AppError::from_store("maintenance window", e))?;
    st.engine_changed(pupitre_monitor::Changed::Downtimes).await;
    Ok(w)
}

pub async fn update(
    st: &AppState,
    caller: &Caller,
    id: i64,
    f: &WindowFields,
) -> Result<WindowRecord, AppError> {
    get(st, caller, id, Level::Edit).await?;
    let input = input(st, caller, f).await?;
    let w = st
        .store
        .update_window(&caller.actor(), id, &input)
        .await
        .map_err(|e| AppError::from_store("maintenance window", e))?;
    st.engine_changed(pupitre_monitor::Changed::Downtimes).await;
    Ok(w)
}

pub async fn delete(st: &AppState, caller: &Caller, id: i64) -> Result<(), AppError> {
    get(st, caller, id, Level::Edit).await?;
    st.store.delete_window(&caller.actor(), id).await?;
    st.engine_changed(pupitre_monitor::Changed::Downtimes).await;
    Ok(())
}

pub async fn get(
    st: &AppState,
    caller: &Caller,
    id: i64,
    level: Level,
) -> Result<WindowRecord, AppError> {
    let w = st
        .store
        .get_window(id)
        .await
        .map_err(|e| AppError::from_store("maintenance window", e))?;
    caller.check(
        Domain::Maintenance,
        level,
        w.entity_id,
        "maintenance window",
    )?;
    Ok(w)
}

pub async fn list(st: &AppState, caller: &Caller) -> Result<Vec<WindowRecord>, AppError> {
    Ok(st
        .store
        .list_windows(&caller.visible(Domain::Maintenance))
        .await?)
}

/// The window's next occurrences from now (start, end; Unix ms), at most `n`: one for a
/// one-off window that has not ended.
pub fn next_occurrences(w: &WindowRecord, n: usize) -> Vec<(i64, i64)> {
    let duration = w.duration_minutes * 60_000;
    let now = now_ms();
    if w.rrule.is_empty() {
        return if w.starts_at + duration > now {
            vec![(w.starts_at, w.starts_at + duration)]
        } else {
            Vec::new()
        };
    }
    let (Ok(rule), Ok(tz), Ok(first)) = (
        Rule::parse(&w.rrule),
        TimeZone::get(&w.time_zone),
        Timestamp::from_millisecond(w.starts_at),
    ) else {
        return Vec::new();
    };
    // Far enough ahead for a yearly rule's next few.
    let horizon =
        Timestamp::from_millisecond(now + 20 * 366 * 86_400_000).unwrap_or(Timestamp::MAX);
    rule.occurrences(first.to_zoned(tz.clone()).datetime(), &tz, horizon, 100_000)
        .into_iter()
        .map(|t| (t.as_millisecond(), t.as_millisecond() + duration))
        .filter(|(_, end)| *end > now)
        .take(n)
        .collect()
}
