//! Paging (issue #7): escalation policies, on-call schedules, the pager that pages people for
//! triggered incidents, the delivery of pages by e-mail with retries, and the signed links
//! that acknowledge or resolve an incident from a message.
//!
//! - **Which policy**: an incident is paged by the escalation policy of its entity, else of
//!   the nearest entity above it that has one.
//! - **The pager** ([`pager`], one task per server) looks every 2 seconds at the triggered
//!   incidents and fires the steps due since its last look (`pupitre_oncall::escalation`):
//!   a user, whoever a schedule has on call now, or a team's members. Each page is queued in
//!   the transaction that records how far the incident's escalation went (`record_pages`),
//!   so two servers never page twice. An acknowledgement stops it: acknowledged incidents are
//!   not looked at.
//! - **Delivery**: each page becomes the messages the person's rules ask for
//!   ([`crate::ops::notify::plan`]); they go out through their channel
//!   ([`crate::ops::channels`]) when due; a failure is retried after 30 s, 1, 2 and 4 minutes,
//!   then marked failed; one acknowledged or resolved first is cancelled; beyond the person's
//!   storm limit they wait for the minute to end and go as one digest. Every attempt is in
//!   the incident's timeline.
//! - **Links**: `/a/{token}`, where the token names the incident, the action, the person and
//!   an expiry, signed with a key derived from the credentials key (`Vault::sign`). Opening it
//!   shows a button (mail scanners that follow links acknowledge nothing); the button does it,
//!   as that person, if they may still operate the incident.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::time::Duration;

use jiff::Timestamp;
use jiff::civil::{Date, DateTime, Time, Weekday};
use jiff::tz::TimeZone;
use pupitre_core::incident::{IncidentId, IncidentStatus};
use pupitre_core::permission::{Domain, EntityId, Level};
use pupitre_oncall::escalation::{Policy, Step};
use pupitre_oncall::holidays::Calendar;
use pupitre_oncall::schedule::{Layer, Override, Restriction, Rotation, Schedule, Segment};
use pupitre_store::incidents::{
    Delivery, IncidentAction, IncidentRecord, NewNotification, NotificationRecord, PolicyRecord,
    ScheduleInput, ScheduleRecord,
};
use pupitre_store::notify::TemplateRecord;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::error::AppError;
use crate::ops::channels::{Channels, Destination};
use crate::ops::notify::{self, ChannelKind};
use crate::state::{AppState, now_ms};

/// How long a link in a page stays valid.
pub const LINK_VALID_MS: i64 = 24 * 3600 * 1000;

/// Delivery attempts before a page is marked failed.
const MAX_ATTEMPTS: i64 = 5;

/// How long a server has to report a delivery attempt before another may try it.
const CLAIM_MS: i64 = 120_000;

// ---- Escalation policies --------------------------------------------------------------------

/// Whom a step pages: exactly one of the three.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TargetFields {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team_id: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StepFields {
    pub targets: Vec<TargetFields>,
    /// Minutes to wait for an acknowledgement before the next step.
    pub delay_minutes: u32,
}

/// What a policy's `definition` holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyDefinition {
    pub steps: Vec<StepFields>,
    /// How many more times the whole policy runs after the first (0 to 9).
    #[serde(default)]
    pub repeat: u32,
}

impl PolicyDefinition {
    fn policy(&self) -> Policy<TargetFields> {
        Policy {
            steps: self
                .steps
                .iter()
                .map(|s| Step {
                    targets: s.targets.clone(),
                    delay_minutes: s.delay_minutes,
                })
                .collect(),
            repeat: self.repeat,
        }
    }
}

/// Checks a policy: its shape, and that every target exists, is visible to the caller and,
/// for a person, is active (a page to a disabled account reaches nobody).
async fn check_policy(
    st: &AppState,
    caller: &Caller,
    d: &PolicyDefinition,
) -> Result<(), AppError> {
    d.policy()
        .validate()
        .map_err(|(field, message)| AppError::invalid(field, message))?;
    for (i, step) in d.steps.iter().enumerate() {
        for (j, t) in step.targets.iter().enumerate() {
            let field = format!("steps[{i}].targets[{j}]");
            match (t.user_id, t.schedule_id, t.team_id) {
                (Some(user), None, None) => {
                    let u = st.store.get_user(user).await.map_err(|_| {
                        AppError::invalid(format!("{field}.user_id"), "no such user")
                    })?;
                    if !u.active {
                        return Err(AppError::invalid(
                            format!("{field}.user_id"),
                            format!("{} is disabled: nobody would be paged", u.login),
                        ));
                    }
                }
                (None, Some(schedule), None) => {
                    let s = st.store.get_schedule(schedule).await.map_err(|_| {
                        AppError::invalid(format!("{field}.schedule_id"), "no such schedule")
                    })?;
                    if !caller
                        .grants
                        .allows(Domain::Incidents, Level::Read, s.entity_id)
                    {
                        return Err(AppError::invalid(
                            format!("{field}.schedule_id"),
                            "no such schedule",
                        ));
                    }
                }
                (None, None, Some(team)) => {
                    st.store.get_team(team).await.map_err(|_| {
                        AppError::invalid(format!("{field}.team_id"), "no such team")
                    })?;
                }
                _ => {
                    return Err(AppError::invalid(
                        field,
                        "give exactly one of user_id, schedule_id and team_id",
                    ));
                }
            }
        }
    }
    Ok(())
}

/// Creates or replaces the escalation policy of `entity_id` (incidents=manage there).
pub async fn put_policy(
    st: &AppState,
    caller: &Caller,
    entity_id: EntityId,
    name: &str,
    definition: &PolicyDefinition,
) -> Result<PolicyRecord, AppError> {
    caller.visible_entity(entity_id, "entity_id")?;
    caller.check(Domain::Incidents, Level::Manage, entity_id, "entity")?;
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(AppError::invalid("name", "must be 1 to 100 characters"));
    }
    check_policy(st, caller, definition).await?;
    let text = serde_json::to_string(definition).map_err(|_| AppError::internal())?;
    st.store
        .put_policy(&caller.actor(), entity_id, name, &text)
        .await
        .map_err(|e| AppError::from_store("escalation policy", e))
}

pub async fn list_policies(st: &AppState, caller: &Caller) -> Result<Vec<PolicyRecord>, AppError> {
    Ok(st
        .store
        .list_policies(&caller.visible(Domain::Incidents))
        .await?)
}

pub async fn get_policy(
    st: &AppState,
    caller: &Caller,
    id: i64,
    level: Level,
) -> Result<PolicyRecord, AppError> {
    let p = st
        .store
        .get_policy(id)
        .await
        .map_err(|e| AppError::from_store("escalation policy", e))?;
    caller.check(Domain::Incidents, level, p.entity_id, "escalation policy")?;
    Ok(p)
}

pub async fn delete_policy(st: &AppState, caller: &Caller, id: i64) -> Result<(), AppError> {
    get_policy(st, caller, id, Level::Manage).await?;
    Ok(st.store.delete_policy(&caller.actor(), id).await?)
}

pub fn policy_definition(p: &PolicyRecord) -> Option<PolicyDefinition> {
    serde_json::from_str(&p.definition).ok()
}

// ---- Schedules ------------------------------------------------------------------------------

/// When a layer applies.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RestrictionFields {
    /// `daily` (from `19:00` to `08:00`), `weekly` (from `fri 19:00` to `mon 08:00`) or
    /// `holidays`.
    pub kind: String,
    #[serde(default)]
    pub from: String,
    #[serde(default)]
    pub to: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LayerFields {
    pub name: String,
    /// The people in turn.
    pub users: Vec<i64>,
    /// `daily`, `weekly` or `hours`.
    pub rotation: String,
    /// For `hours`: the length of a shift.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shift_hours: Option<u32>,
    /// The first shift's start, local time of the schedule (`2026-12-01T08:00`).
    pub start: String,
    #[serde(default)]
    pub restrictions: Vec<RestrictionFields>,
    /// The layer does not apply on public holidays.
    #[serde(default)]
    pub skip_holidays: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HolidayFields {
    /// The French public holidays (default true).
    #[serde(default = "yes")]
    pub france: bool,
    /// Alsace-Moselle's Good Friday and 26 December.
    #[serde(default)]
    pub alsace_moselle: bool,
    /// More days (`2026-12-24`).
    #[serde(default)]
    pub extra: Vec<String>,
}

fn yes() -> bool {
    true
}

impl Default for HolidayFields {
    fn default() -> HolidayFields {
        HolidayFields {
            france: true,
            alsace_moselle: false,
            extra: Vec::new(),
        }
    }
}

/// What a schedule's `definition` holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleDefinition {
    pub layers: Vec<LayerFields>,
    #[serde(default)]
    pub holidays: HolidayFields,
}

fn parse_time(text: &str) -> Option<Time> {
    let (h, m) = text.trim().split_once(':')?;
    Time::new(h.parse().ok()?, m.parse().ok()?, 0, 0).ok()
}

fn parse_weekday(text: &str) -> Option<Weekday> {
    let t = text.trim().to_ascii_lowercase();
    let days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    let i = days.iter().position(|d| t.starts_with(d))?;
    Weekday::from_monday_zero_offset(i8::try_from(i).ok()?).ok()
}

fn parse_week_time(text: &str) -> Option<(Weekday, Time)> {
    let (day, time) = text.trim().split_once(' ')?;
    Some((parse_weekday(day)?, parse_time(time)?))
}

impl ScheduleDefinition {
    /// The schedule this describes, or the first field at fault.
    pub fn schedule(&self, tz: TimeZone) -> Result<Schedule, AppError> {
        if self.layers.is_empty() || self.layers.len() > 10 {
            return Err(AppError::invalid("layers", "1 to 10 layers"));
        }
        let mut layers = Vec::new();
        for (i, l) in self.layers.iter().enumerate() {
            let f = |name: &str| format!("layers[{i}].{name}");
            if l.users.is_empty() || l.users.len() > 100 {
                return Err(AppError::invalid(f("users"), "1 to 100 people"));
            }
            let rotation = match (l.rotation.as_str(), l.shift_hours) {
                ("daily", None) => Rotation::Daily,
                ("weekly", None) => Rotation::Weekly,
                ("hours", Some(h)) if (1..=24 * 28).contains(&h) => Rotation::Hours(h),
                ("hours", _) => {
                    return Err(AppError::invalid(
                        f("shift_hours"),
                        "must be 1 to 672 hours",
                    ));
                }
                (_, Some(_)) => {
                    return Err(AppError::invalid(
                        f("shift_hours"),
                        "only for the hours rotation",
                    ));
                }
                _ => {
                    return Err(AppError::invalid(
                        f("rotation"),
                        "must be daily, weekly or hours",
                    ));
                }
            };
            let start: DateTime = l.start.parse().map_err(|_| {
                AppError::invalid(
                    f("start"),
                    "must be a local date and time like 2026-12-01T08:00",
                )
            })?;
            let mut restrictions = Vec::new();
            for (j, r) in l.restrictions.iter().enumerate() {
                let g = |name: &str| format!("layers[{i}].restrictions[{j}].{name}");
                restrictions.push(match r.kind.as_str() {
                    "daily" => Restriction::Daily {
                        from: parse_time(&r.from).ok_or_else(|| {
                            AppError::invalid(g("from"), "must be a time like 19:00")
                        })?,
                        to: parse_time(&r.to).ok_or_else(|| {
                            AppError::invalid(g("to"), "must be a time like 08:00")
                        })?,
                    },
                    "weekly" => Restriction::Weekly {
                        from: parse_week_time(&r.from).ok_or_else(|| {
                            AppError::invalid(
                                g("from"),
                                "must be a weekday and a time like fri 19:00",
                            )
                        })?,
                        to: parse_week_time(&r.to).ok_or_else(|| {
                            AppError::invalid(
                                g("to"),
                                "must be a weekday and a time like mon 08:00",
                            )
                        })?,
                    },
                    "holidays" => Restriction::Holidays,
                    _ => {
                        return Err(AppError::invalid(
                            g("kind"),
                            "must be daily, weekly or holidays",
                        ));
                    }
                });
            }
            layers.push(Layer {
                name: l.name.clone(),
                users: l.users.clone(),
                rotation,
                start,
                restrictions,
                skip_holidays: l.skip_holidays,
            });
        }
        Ok(Schedule {
            tz,
            layers,
            overrides: Vec::new(),
        })
    }

    /// The holidays of `years`.
    pub fn calendar(&self, years: std::ops::RangeInclusive<i16>) -> Result<Calendar, AppError> {
        let extra: Vec<Date> = self
            .holidays
            .extra
            .iter()
            .enumerate()
            .map(|(i, d)| {
                d.parse().map_err(|_| {
                    AppError::invalid(
                        format!("holidays.extra[{i}]"),
                        "must be a date like 2026-12-24",
                    )
                })
            })
            .collect::<Result<_, _>>()?;
        let base = if self.holidays.france {
            Calendar::france(years, self.holidays.alsace_moselle)
        } else {
            Calendar::default()
        };
        Ok(base.with(&Calendar::of(extra)))
    }
}

fn time_zone(name: &str) -> Result<TimeZone, AppError> {
    TimeZone::get(name)
        .map_err(|_| AppError::invalid("time_zone", "is not a known time zone (Europe/Paris)"))
}

/// Checks a schedule: its shape, its time zone and its people (known and active).
async fn check_schedule(st: &AppState, zone: &str, d: &ScheduleDefinition) -> Result<(), AppError> {
    d.schedule(time_zone(zone)?)?;
    d.calendar(2026..=2026)?;
    for (i, l) in d.layers.iter().enumerate() {
        for (j, user) in l.users.iter().enumerate() {
            let field = format!("layers[{i}].users[{j}]");
            let u = st
                .store
                .get_user(*user)
                .await
                .map_err(|_| AppError::invalid(field.clone(), "no such user"))?;
            if !u.active {
                return Err(AppError::invalid(field, format!("{} is disabled", u.login)));
            }
        }
    }
    Ok(())
}

pub struct ScheduleFields {
    pub entity_id: EntityId,
    pub name: String,
    pub time_zone: String,
    pub definition: ScheduleDefinition,
}

async fn schedule_input(
    st: &AppState,
    caller: &Caller,
    f: &ScheduleFields,
) -> Result<ScheduleInput, AppError> {
    caller.visible_entity(f.entity_id, "entity_id")?;
    caller.check(Domain::Incidents, Level::Manage, f.entity_id, "entity")?;
    let name = f.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(AppError::invalid("name", "must be 1 to 100 characters"));
    }
    check_schedule(st, &f.time_zone, &f.definition).await?;
    Ok(ScheduleInput {
        entity_id: f.entity_id,
        name: name.to_owned(),
        time_zone: f.time_zone.clone(),
        definition: serde_json::to_string(&f.definition).map_err(|_| AppError::internal())?,
    })
}

pub async fn create_schedule(
    st: &AppState,
    caller: &Caller,
    f: &ScheduleFields,
) -> Result<ScheduleRecord, AppError> {
    let input = schedule_input(st, caller, f).await?;
    st.store
        .create_schedule(&caller.actor(), &input)
        .await
        .map_err(|e| AppError::from_store("schedule", e))
}

pub async fn update_schedule(
    st: &AppState,
    caller: &Caller,
    id: i64,
    f: &ScheduleFields,
) -> Result<ScheduleRecord, AppError> {
    get_schedule(st, caller, id, Level::Manage).await?;
    let input = schedule_input(st, caller, f).await?;
    st.store
        .update_schedule(&caller.actor(), id, &input)
        .await
        .map_err(|e| AppError::from_store("schedule", e))
}

pub async fn get_schedule(
    st: &AppState,
    caller: &Caller,
    id: i64,
    level: Level,
) -> Result<ScheduleRecord, AppError> {
    let s = st
        .store
        .get_schedule(id)
        .await
        .map_err(|e| AppError::from_store("schedule", e))?;
    caller.check(Domain::Incidents, level, s.entity_id, "schedule")?;
    Ok(s)
}

pub async fn list_schedules(
    st: &AppState,
    caller: &Caller,
) -> Result<Vec<ScheduleRecord>, AppError> {
    Ok(st
        .store
        .list_schedules(&caller.visible(Domain::Incidents))
        .await?)
}

pub async fn delete_schedule(st: &AppState, caller: &Caller, id: i64) -> Result<(), AppError> {
    get_schedule(st, caller, id, Level::Manage).await?;
    Ok(st.store.delete_schedule(&caller.actor(), id).await?)
}

/// One person replaces the layers for a while (incidents=operate: on-call people swap shifts
/// themselves).
pub async fn add_override(
    st: &AppState,
    caller: &Caller,
    schedule_id: i64,
    user_id: i64,
    starts_at: i64,
    ends_at: i64,
) -> Result<pupitre_store::incidents::OverrideRecord, AppError> {
    get_schedule(st, caller, schedule_id, Level::Operate).await?;
    if ends_at <= starts_at {
        return Err(AppError::invalid("ends_at", "must be after starts_at"));
    }
    if ends_at - starts_at > 92 * 86_400_000 {
        return Err(AppError::invalid(
            "ends_at",
            "an override lasts at most 92 days",
        ));
    }
    let user = st
        .store
        .get_user(user_id)
        .await
        .map_err(|_| AppError::invalid("user_id", "no such user"))?;
    if !user.active {
        return Err(AppError::invalid(
            "user_id",
            format!("{} is disabled", user.login),
        ));
    }
    st.store
        .add_override(&caller.actor(), schedule_id, user_id, starts_at, ends_at)
        .await
        .map_err(|e| AppError::from_store("schedule", e))
}

/// A stored schedule made whole: its definition, time zone, overrides and holidays over
/// `[from, to)`.
pub async fn resolved_schedule(
    st: &AppState,
    record: &ScheduleRecord,
    from: i64,
    to: i64,
) -> Result<(Schedule, Calendar), AppError> {
    let definition: ScheduleDefinition = serde_json::from_str(&record.definition)
        .map_err(|_| AppError::conflict("the stored schedule no longer reads; save it again"))?;
    let tz = time_zone(&record.time_zone)?;
    let mut schedule = definition.schedule(tz.clone())?;
    schedule.overrides = st
        .store
        .list_overrides(record.id, from)
        .await?
        .iter()
        .filter(|o| o.starts_at < to)
        .map(|o| Override {
            user: o.user_id,
            start: Timestamp::from_millisecond(o.starts_at).unwrap_or(Timestamp::MIN),
            end: Timestamp::from_millisecond(o.ends_at).unwrap_or(Timestamp::MAX),
            created_at: Timestamp::from_millisecond(o.created_at).unwrap_or(Timestamp::MIN),
        })
        .collect();
    let year = |ms: i64| {
        Timestamp::from_millisecond(ms)
            .map(|t| t.to_zoned(tz.clone()).year())
            .unwrap_or(2026)
    };
    let calendar = definition.calendar(year(from) - 1..=year(to) + 1)?;
    Ok((schedule, calendar))
}

/// The final schedule over `[from, to)` (at most 92 days).
pub async fn final_schedule(
    st: &AppState,
    caller: &Caller,
    id: i64,
    from: i64,
    to: i64,
) -> Result<(ScheduleRecord, Vec<Segment>), AppError> {
    if to <= from {
        return Err(AppError::invalid("to", "must be after from"));
    }
    if to - from > 92 * 86_400_000 {
        return Err(AppError::invalid("to", "at most 92 days at a time"));
    }
    let record = get_schedule(st, caller, id, Level::Read).await?;
    let (schedule, calendar) = resolved_schedule(st, &record, from, to).await?;
    let ts = |ms: i64| {
        Timestamp::from_millisecond(ms).map_err(|_| AppError::invalid("from", "out of range"))
    };
    Ok((
        record,
        schedule.final_schedule(ts(from)?, ts(to)?, &calendar),
    ))
}

/// The on-call report of `[from, to)` as CSV (hours per person and month).
pub async fn report_csv(
    st: &AppState,
    caller: &Caller,
    id: i64,
    from: i64,
    to: i64,
) -> Result<String, AppError> {
    let (record, segments) = final_schedule(st, caller, id, from, to).await?;
    let tz = time_zone(&record.time_zone)?;
    let (_, calendar) = resolved_schedule(st, &record, from, to).await?;
    let report = pupitre_oncall::report::split(&segments, &tz, &calendar, Default::default());
    let mut logins = HashMap::new();
    for (user, _, _) in report.keys() {
        if let Ok(u) = st.store.get_user(*user).await {
            logins.insert(*user, u.login);
        }
    }
    Ok(pupitre_oncall::report::csv(&report, |u| {
        logins.get(&u).cloned().unwrap_or_else(|| format!("#{u}"))
    }))
}

// ---- The pager ------------------------------------------------------------------------------

/// Pages and delivers until `shutdown` resolves.
pub async fn pager(st: AppState, shutdown: impl Future<Output = ()>) {
    tokio::pin!(shutdown);
    let channels = Channels::new(&st.config);
    loop {
        if let Err(e) = escalate(&st).await {
            tracing::warn!(error = %e, "pager: escalation");
        }
        if let Err(e) = deliver(&st, &channels).await {
            tracing::warn!(error = %e, "pager: delivery");
        }
        if let Err(e) = crate::ops::runbooks::follow_actions(&st).await {
            tracing::warn!(error = %e, "pager: runbook actions");
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(2)) => {}
            () = st.incidents.pages.notified() => {}
            () = &mut shutdown => return,
        }
    }
}

/// Fires the escalation steps due for every triggered incident.
pub async fn escalate(st: &AppState) -> Result<(), AppError> {
    let incidents = st.store.incidents_to_escalate().await?;
    if incidents.is_empty() {
        return Ok(());
    }
    let tree = st.entity_tree().await?;
    let policies: HashMap<EntityId, PolicyRecord> = st
        .store
        .list_policies(&tree.iter().map(|(id, _)| *id).collect::<Vec<_>>())
        .await?
        .into_iter()
        .map(|p| (p.entity_id, p))
        .collect();
    let parent: HashMap<EntityId, Option<EntityId>> = tree.iter().copied().collect();
    let now = now_ms();
    for incident in incidents {
        let mut entity = Some(incident.entity_id);
        let policy = loop {
            match entity {
                None => break None,
                Some(e) => match policies.get(&e) {
                    Some(p) => break Some(p),
                    None => entity = parent.get(&e).copied().flatten(),
                },
            }
        };
        // In its first minutes, before the first page, an automatic first-line action may fix
        // it: pages wait for it.
        let opened = incident.escalation_base.unwrap_or(incident.created_at);
        if incident.escalated_until.is_none()
            && now - opened < 10 * 60_000
            && crate::ops::runbooks::first_line(st, &incident, now).await?
        {
            continue;
        }
        let Some(definition) = policy.and_then(policy_definition) else {
            continue;
        };
        page_incident(st, &incident, &definition, now).await?;
    }
    Ok(())
}

async fn page_incident(
    st: &AppState,
    incident: &IncidentRecord,
    definition: &PolicyDefinition,
    now: i64,
) -> Result<(), AppError> {
    let ts = |ms: i64| Timestamp::from_millisecond(ms).unwrap_or(Timestamp::MIN);
    let wait = i64::try_from(st.config.page_group_wait.as_millis()).unwrap_or(0);
    let base = ts(incident.escalation_base.unwrap_or(incident.created_at) + wait);
    let due = definition
        .policy()
        .due(base, incident.escalated_until.map(ts), ts(now));
    if due.is_empty() {
        return Ok(());
    }
    let mut pages = Vec::new();
    for d in &due {
        let step = &definition.steps[d.step];
        let label = format!(
            "step {}{}",
            d.step + 1,
            if d.round > 0 {
                format!(", round {}", d.round + 1)
            } else {
                String::new()
            }
        );
        for target in &step.targets {
            for (user, via) in target_users(st, target, now).await? {
                let Some(user) = user else {
                    pages.push(page_note(d, &label, format!("nobody on call in {via}")));
                    continue;
                };
                let Ok(u) = st.store.get_user(user).await else {
                    continue;
                };
                let via_text = if via.is_empty() {
                    String::new()
                } else {
                    format!(" ({via})")
                };
                if !u.active {
                    pages.push(page_note(
                        d,
                        &label,
                        format!("{} is disabled and was not paged", u.login),
                    ));
                    continue;
                }
                match notify::plan(st, &u, incident.urgency, now).await? {
                    Err(why) => pages.push(page_note(d, &label, why)),
                    Ok(planned) => {
                        for p in planned {
                            pages.push(NewNotification {
                                user_id: u.id,
                                channel: p.kind.key().to_owned(),
                                address: p.address,
                                contact_method_id: p.contact_method_id,
                                due_at: p.due_at,
                                step: d.step as i64,
                                round: i64::from(d.round),
                                text: format!("{label}: paged {} {}{via_text}", u.login, p.how),
                            });
                        }
                    }
                }
            }
        }
    }
    let last = due.last().map_or(now, |d| d.at.as_millisecond());
    if st
        .store
        .record_pages(
            incident.id,
            incident.escalated_until,
            last.max(incident.escalated_until.unwrap_or(0)),
            &pages,
            now,
        )
        .await?
    {
        st.incidents.pages.notify_one();
    }
    Ok(())
}

fn page_note(d: &pupitre_oncall::escalation::Due, label: &str, text: String) -> NewNotification {
    NewNotification {
        user_id: 0,
        channel: String::new(),
        address: String::new(),
        contact_method_id: None,
        due_at: 0,
        step: d.step as i64,
        round: i64::from(d.round),
        text: format!("{label}: {text}"),
    }
}

/// The people a target stands for now, each with how they were reached (the schedule's or
/// team's name); `None` when a schedule has nobody on call.
async fn target_users(
    st: &AppState,
    target: &TargetFields,
    now: i64,
) -> Result<Vec<(Option<i64>, String)>, AppError> {
    if let Some(user) = target.user_id {
        return Ok(vec![(Some(user), String::new())]);
    }
    if let Some(id) = target.schedule_id {
        let Ok(record) = st.store.get_schedule(id).await else {
            return Ok(vec![(None, format!("schedule #{id} (deleted)"))]);
        };
        let (schedule, calendar) = resolved_schedule(st, &record, now - 1, now + 1).await?;
        let at = Timestamp::from_millisecond(now).unwrap_or(Timestamp::MIN);
        let via = format!("schedule {}", record.name);
        return Ok(vec![(schedule.on_call_at(at, &calendar), via)]);
    }
    if let Some(id) = target.team_id {
        let Ok(team) = st.store.get_team(id).await else {
            return Ok(Vec::new());
        };
        let via = format!("team {}", team.name);
        return Ok(team
            .members
            .iter()
            .map(|m| (Some(*m), via.clone()))
            .collect());
    }
    Ok(Vec::new())
}

/// Sends the pages whose time has come: a page no longer needed (its incident acknowledged
/// or resolved) is cancelled; one person's pages beyond their storm limit wait for the minute
/// to end and go as one digest per contact method.
pub async fn deliver(st: &AppState, channels: &Channels) -> Result<(), AppError> {
    let now = now_ms();
    type Key = (i64, String, String, Option<i64>);
    let mut groups: BTreeMap<Key, Vec<(NotificationRecord, IncidentRecord)>> = BTreeMap::new();
    for n in st.store.due_notifications(now, 500).await? {
        let incident = match st.store.get_incident(n.incident_id).await {
            Ok(incident) => incident,
            Err(e) => {
                let error = e.to_string();
                st.store
                    .notification_attempted(
                        n.id,
                        n.id,
                        &Delivery::Failed {
                            error,
                            retry_at: None,
                        },
                        now,
                    )
                    .await?;
                continue;
            }
        };
        if incident.status != IncidentStatus::Triggered {
            let reason = format!("the incident was {} first", incident.status.key());
            st.store.cancel_notification(n.id, &reason, now).await?;
            continue;
        }
        // One message per contact method: two webhooks may share an origin.
        let key = (
            n.user_id.unwrap_or(0),
            n.channel.clone(),
            n.address.clone(),
            n.contact_method_id,
        );
        groups.entry(key).or_default().push((n, incident));
    }
    if groups.is_empty() {
        return Ok(());
    }
    // Read once per pass: a storm renders many messages with the same templates.
    let templates = st.store.list_message_templates().await?;
    let mut limits: HashMap<i64, (u32, Vec<i64>)> = HashMap::new();
    for ((user, _, _, _), group) in groups {
        let (limit, sent) = match limits.entry(user) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                let limit = notify::rules_of(st, user).await?.digest_after;
                let sent = st.store.messages_sent_since(user, now - 60_000).await?;
                e.insert((limit, sent))
            }
        };
        let room = (*limit as usize).saturating_sub(sent.len());
        if room == 0 {
            // The person had their share this minute: the rest waits for a digest.
            let until = sent
                .first()
                .map_or(now, |first| first + 60_000)
                .max(now + 1000);
            let ids: Vec<i64> = group.iter().map(|(n, _)| n.id).collect();
            st.store.postpone_notifications(&ids, until).await?;
            continue;
        }
        let messages: Vec<Vec<(NotificationRecord, IncidentRecord)>> = if group.len() <= room {
            group.into_iter().map(|one| vec![one]).collect()
        } else {
            vec![group]
        };
        for message in messages {
            // Another server may be delivering the same: each notification goes once.
            let mut mine = Vec::new();
            for (n, incident) in message {
                if st
                    .store
                    .claim_notification(n.id, n.next_attempt_at, now + CLAIM_MS)
                    .await?
                {
                    mine.push((n, incident));
                }
            }
            if !mine.is_empty() {
                send_message(st, channels, &templates, &mine, now).await?;
                sent.push(now);
            }
        }
    }
    Ok(())
}

/// Sends one message (a page, or a digest of several) and records the outcome in each.
async fn send_message(
    st: &AppState,
    channels: &Channels,
    templates: &[TemplateRecord],
    message: &[(NotificationRecord, IncidentRecord)],
    now: i64,
) -> Result<(), AppError> {
    let Some((first, _)) = message.first() else {
        return Ok(());
    };
    let outcome = match render_for(st, templates, message).await {
        Ok((kind, address, rendered)) => {
            channels
                .send(
                    &Destination {
                        kind,
                        address: &address,
                    },
                    &rendered,
                )
                .await
        }
        Err(error) => Err(error),
    };
    let delivery = match outcome {
        Ok(()) => Delivery::Sent,
        Err(error) => {
            tracing::warn!(notification = first.id, incident = first.incident_id, channel = %first.channel, address = %first.address, %error, "page not delivered");
            let retry_at = (first.attempts + 1 < MAX_ATTEMPTS)
                .then(|| now + 30_000 * (1 << first.attempts.min(6)));
            Delivery::Failed { error, retry_at }
        }
    };
    for (n, _) in message {
        st.store
            .notification_attempted(n.id, first.id, &delivery, now_ms())
            .await?;
    }
    Ok(())
}

/// The message for these notifications (one person, one contact method): where it goes and
/// what it says; the error says why it cannot be made.
async fn render_for(
    st: &AppState,
    templates: &[TemplateRecord],
    message: &[(NotificationRecord, IncidentRecord)],
) -> Result<(ChannelKind, String, notify::Rendered), String> {
    let (n, _) = message.first().ok_or("nothing to send")?;
    let kind =
        ChannelKind::parse(&n.channel).ok_or_else(|| format!("unknown channel {}", n.channel))?;
    let address = match n.contact_method_id {
        None if kind.is_webhook() => return Err("the contact method was deleted".to_owned()),
        None => n.address.clone(),
        Some(id) => {
            let method = st
                .store
                .get_contact_method(id)
                .await
                .map_err(|_| "the contact method was deleted".to_owned())?;
            notify::destination_address(st, &method).map_err(|e| e.to_string())?
        }
    };
    let recipient = match n.user_id {
        Some(id) => st
            .store
            .get_user(id)
            .await
            .map(|u| u.login)
            .unwrap_or_default(),
        None => String::new(),
    };
    // The signed links act as the person paged: only in messages to them alone (e-mail,
    // SMS), never in a channel others read.
    let personal = matches!(kind, ChannelKind::Email | ChannelKind::Sms);
    let incidents = message
        .iter()
        .map(|(n, i)| notify::incident_context(st, i, n.user_id.filter(|_| personal)))
        .collect();
    let template = notify::template_of(templates, kind.template());
    let rendered = notify::render(&st.config.public_url, template, &recipient, incidents)
        .map_err(|(part, e)| format!("the {} template's {part}: {e}", kind.template().key()))?;
    Ok((kind, address, rendered))
}

// ---- Signed links ---------------------------------------------------------------------------

/// A token that lets `user` do `action` on the incident until `expires_at`; `None` without a
/// credentials key to sign with.
pub fn sign_link(
    st: &AppState,
    incident: IncidentId,
    action: &str,
    user: i64,
    expires_at: i64,
) -> Option<String> {
    let vault = st.vault.as_ref()?;
    let message = format!("{incident}.{action}.{user}.{expires_at}");
    Some(format!(
        "{message}.{}",
        vault.sign(&format!("incident-link:{message}"))
    ))
}

/// What a valid link allows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkGrant {
    pub incident: IncidentId,
    pub action: IncidentAction,
    pub user: i64,
}

/// Reads a link's token: its grant if the signature holds and it has not expired.
pub fn read_link(st: &AppState, token: &str) -> Result<LinkGrant, AppError> {
    let invalid = || AppError::not_found("link");
    let vault = st.vault.as_ref().ok_or_else(invalid)?;
    let parts: Vec<&str> = token.split('.').collect();
    let [incident, action, user, expires, signature] = parts[..] else {
        return Err(invalid());
    };
    let message = format!("{incident}.{action}.{user}.{expires}");
    if !vault.verify(&format!("incident-link:{message}"), signature) {
        return Err(invalid());
    }
    let expires: i64 = expires.parse().map_err(|_| invalid())?;
    if expires < now_ms() {
        return Err(AppError::new(
            axum::http::StatusCode::GONE,
            "expired",
            "this link has expired; open the incident in Pupitre",
        ));
    }
    Ok(LinkGrant {
        incident: incident.parse().map_err(|_| invalid())?,
        action: match action {
            "acknowledge" => IncidentAction::Acknowledge,
            "resolve" => IncidentAction::Resolve,
            _ => return Err(invalid()),
        },
        user: user.parse().map_err(|_| invalid())?,
    })
}

/// Does what a link allows, as its person, if they may still operate the incident.
pub async fn follow_link(
    st: &AppState,
    grant: &LinkGrant,
    source: String,
) -> Result<IncidentRecord, AppError> {
    let user = st
        .store
        .get_user(grant.user)
        .await
        .map_err(|_| AppError::not_found("link"))?;
    if !user.active {
        return Err(AppError::forbidden("this account is disabled"));
    }
    let caller = crate::auth::resolve_user(st, user, format!("link:{source}")).await?;
    crate::ops::incidents::act(st, &caller, grant.incident, grant.action.clone()).await
}

/// Who is on call now in each schedule the caller may see, for the incidents pages.
pub async fn on_call_now(
    st: &AppState,
    caller: &Caller,
) -> Result<BTreeMap<String, Option<String>>, AppError> {
    let now = now_ms();
    let mut out = BTreeMap::new();
    for record in list_schedules(st, caller).await? {
        let Ok((schedule, calendar)) = resolved_schedule(st, &record, now - 1, now + 1).await
        else {
            continue;
        };
        let at = Timestamp::from_millisecond(now).unwrap_or(Timestamp::MIN);
        let who = match schedule.on_call_at(at, &calendar) {
            Some(u) => st.store.get_user(u).await.ok().map(|u| u.login),
            None => None,
        };
        out.insert(record.name.clone(), who);
    }
    Ok(out)
}
