//! Editing on-call duty from the On-call page: schedules (layers of rotations with their
//! restrictions, holidays), a person's override of a schedule, and each entity's escalation
//! policy. People are named by login, schedules and teams by name (`schedule:astreinte`,
//! `team:dba`); the forms call the same operations as `/api/v1/schedules` and
//! `/api/v1/escalation-policies`, and a refused form names the field and keeps what was typed.

use std::collections::HashMap;

use askama::Template;
use askama_web::WebTemplate;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use pupitre_core::permission::Access;
use pupitre_core::permission::Domain::Incidents;
use pupitre_core::permission::Level::{Manage, Operate};
use serde::Deserialize;

use super::{FormData, Frame, PageResult, entity_names, perr, see_other};
use crate::auth::Caller;
use crate::error::AppError;
use crate::extract::Id;
use crate::ops::paging::{
    self as ops, HolidayFields, LayerFields, PolicyDefinition, RestrictionFields,
    ScheduleDefinition, ScheduleFields, StepFields, TargetFields,
};
use crate::routes::{RouteDef, page};
use crate::state::AppState;

/// Logins to ids and back, over every account (schedules name people of any entity).
struct People {
    by_login: HashMap<String, i64>,
    by_id: HashMap<i64, String>,
}

impl People {
    async fn load(st: &AppState) -> Result<People, AppError> {
        let everywhere: Vec<_> = st.entity_tree().await?.iter().map(|(e, _)| *e).collect();
        let filter = pupitre_store::UserFilter {
            visible: everywhere,
            ..Default::default()
        };
        let users = st
            .store
            .list_users(
                &filter,
                pupitre_store::Page {
                    after: None,
                    limit: 10_000,
                },
            )
            .await?;
        Ok(People {
            by_login: users.iter().map(|u| (u.login.clone(), u.id)).collect(),
            by_id: users.iter().map(|u| (u.id, u.login.clone())).collect(),
        })
    }

    fn ids(&self, field: &str, text: &str) -> Result<Vec<i64>, AppError> {
        text.split([',', ' '])
            .filter(|t| !t.is_empty())
            .map(|login| {
                self.by_login
                    .get(login)
                    .copied()
                    .ok_or_else(|| AppError::invalid(field, format!("no account {login:?}")))
            })
            .collect()
    }

    fn logins(&self, ids: &[i64]) -> String {
        ids.iter()
            .map(|id| {
                self.by_id
                    .get(id)
                    .cloned()
                    .unwrap_or_else(|| format!("#{id}"))
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

// ---- Schedules ------------------------------------------------------------------------------

/// A layer as a row of the form.
pub struct LayerRow {
    pub name: String,
    pub users: String,
    pub rotation: String,
    pub shift_hours: String,
    pub start: String,
    /// Up to two restrictions: (kind or empty, from, to).
    pub restrictions: [(String, String, String); 2],
    pub skip_holidays: bool,
}

impl LayerRow {
    fn blank() -> LayerRow {
        LayerRow {
            name: String::new(),
            users: String::new(),
            rotation: "weekly".to_owned(),
            shift_hours: String::new(),
            start: String::new(),
            restrictions: Default::default(),
            skip_holidays: false,
        }
    }
}

pub struct ScheduleForm {
    pub name: String,
    pub entity_id: i64,
    pub time_zone: String,
    pub france: bool,
    pub alsace_moselle: bool,
    pub extra: String,
    pub layers: Vec<LayerRow>,
}

impl ScheduleForm {
    fn of(
        record: Option<&pupitre_store::incidents::ScheduleRecord>,
        people: &People,
        zone: &str,
    ) -> ScheduleForm {
        let d: Option<ScheduleDefinition> =
            record.and_then(|r| serde_json::from_str(&r.definition).ok());
        let holidays = d.as_ref().map(|d| d.holidays.clone()).unwrap_or_default();
        let mut layers: Vec<LayerRow> = d
            .map(|d| {
                d.layers
                    .iter()
                    .map(|l| {
                        let mut restrictions: [(String, String, String); 2] = Default::default();
                        for (slot, r) in restrictions.iter_mut().zip(&l.restrictions) {
                            *slot = (r.kind.clone(), r.from.clone(), r.to.clone());
                        }
                        LayerRow {
                            name: l.name.clone(),
                            users: people.logins(&l.users),
                            rotation: l.rotation.clone(),
                            shift_hours: l.shift_hours.map(|h| h.to_string()).unwrap_or_default(),
                            start: l.start.clone(),
                            restrictions,
                            skip_holidays: l.skip_holidays,
                        }
                    })
                    .collect()
            })
            .unwrap_or_default();
        layers.push(LayerRow::blank());
        if layers.len() < 3 {
            layers.push(LayerRow::blank());
        }
        ScheduleForm {
            name: record.map(|r| r.name.clone()).unwrap_or_default(),
            entity_id: record.map_or(0, |r| r.entity_id),
            time_zone: record.map_or_else(|| zone.to_owned(), |r| r.time_zone.clone()),
            france: holidays.france,
            alsace_moselle: holidays.alsace_moselle,
            extra: holidays.extra.join(", "),
            layers,
        }
    }

    fn typed(form: &FormData) -> ScheduleForm {
        let col = |name: &str| form.all(name);
        let (names, users, rotations, hours, starts) = (
            col("layer_name"),
            col("layer_users"),
            col("layer_rotation"),
            col("layer_shift_hours"),
            col("layer_start"),
        );
        let (k1, f1, t1, k2, f2, t2, skip) = (
            col("layer_restriction"),
            col("layer_from"),
            col("layer_to"),
            col("layer_restriction2"),
            col("layer_from2"),
            col("layer_to2"),
            col("layer_skip_holidays"),
        );
        let at = |list: &[String], i: usize| list.get(i).cloned().unwrap_or_default();
        ScheduleForm {
            name: form.get("name"),
            entity_id: form.get("entity_id").parse().unwrap_or(0),
            time_zone: form.get("time_zone"),
            france: form.checked("france"),
            alsace_moselle: form.checked("alsace_moselle"),
            extra: form.get("extra"),
            layers: (0..names.len())
                .map(|i| LayerRow {
                    name: at(&names, i),
                    users: at(&users, i),
                    rotation: at(&rotations, i),
                    shift_hours: at(&hours, i),
                    start: at(&starts, i),
                    restrictions: [
                        (at(&k1, i), at(&f1, i), at(&t1, i)),
                        (at(&k2, i), at(&f2, i), at(&t2, i)),
                    ],
                    skip_holidays: at(&skip, i) == "yes",
                })
                .collect(),
        }
    }

    /// The schedule it describes; rows without a name are ignored.
    fn fields(&self, people: &People) -> Result<ScheduleFields, AppError> {
        let mut layers = Vec::new();
        for (i, row) in self.layers.iter().enumerate() {
            if row.name.trim().is_empty() {
                continue;
            }
            let field = |part: &str| format!("layers[{i}].{part}");
            let shift_hours = match row.shift_hours.trim() {
                "" => None,
                h => Some(h.parse().map_err(|_| {
                    AppError::invalid(field("shift_hours"), "must be a number of hours")
                })?),
            };
            layers.push(LayerFields {
                name: row.name.trim().to_owned(),
                users: people.ids(&field("users"), &row.users)?,
                rotation: row.rotation.clone(),
                shift_hours,
                start: row.start.trim().to_owned(),
                restrictions: row
                    .restrictions
                    .iter()
                    .filter(|(kind, _, _)| !kind.is_empty())
                    .map(|(kind, from, to)| RestrictionFields {
                        kind: kind.clone(),
                        from: from.trim().to_owned(),
                        to: to.trim().to_owned(),
                    })
                    .collect(),
                skip_holidays: row.skip_holidays,
            });
        }
        Ok(ScheduleFields {
            entity_id: self.entity_id,
            name: self.name.clone(),
            time_zone: self.time_zone.trim().to_owned(),
            definition: ScheduleDefinition {
                layers,
                holidays: HolidayFields {
                    france: self.france,
                    alsace_moselle: self.alsace_moselle,
                    extra: self
                        .extra
                        .split(',')
                        .map(|d| d.trim().to_owned())
                        .filter(|d| !d.is_empty())
                        .collect(),
                },
            },
        })
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "incidents/schedule_form.html")]
struct SchedulePage {
    f: Frame,
    editing: Option<i64>,
    entities: Vec<(i64, String)>,
    form: ScheduleForm,
    error: Option<String>,
}

fn managed_entities(
    caller: &Caller,
    names: &std::collections::BTreeMap<i64, String>,
) -> Vec<(i64, String)> {
    names
        .iter()
        .filter(|(id, _)| caller.grants.allows(Incidents, Manage, **id))
        .map(|(id, n)| (*id, n.clone()))
        .collect()
}

async fn render_schedule(
    st: &AppState,
    caller: &Caller,
    editing: Option<i64>,
    form: ScheduleForm,
    error: Option<AppError>,
) -> Result<Response, AppError> {
    let names = entity_names(st).await?;
    let status = error.as_ref().map_or(StatusCode::OK, |e| e.status);
    let page = SchedulePage {
        f: Frame::new(caller, "/oncall", "oncall.schedule"),
        editing,
        entities: managed_entities(caller, &names),
        form,
        error: error.map(|e| e.to_string()),
    };
    Ok((status, page).into_response())
}

async fn new_schedule(State(st): State<AppState>, caller: Caller) -> PageResult {
    let result = async {
        let people = People::load(&st).await?;
        let form = ScheduleForm::of(None, &people, &caller.user.time_zone);
        render_schedule(&st, &caller, None, form, None).await
    }
    .await;
    result.map_err(perr(&caller))
}

async fn edit_schedule(State(st): State<AppState>, caller: Caller, Id(id): Id) -> PageResult {
    let result = async {
        let record = ops::get_schedule(&st, &caller, id, Manage).await?;
        let d: Option<ScheduleDefinition> = serde_json::from_str(&record.definition).ok();
        if d.is_some_and(|d| d.layers.iter().any(|l| l.restrictions.len() > 2)) {
            // The form has room for two: saving it would drop the others.
            return Err(AppError::conflict(format!(
                "a layer of this schedule has more than two restrictions: change it with PUT /api/v1/schedules/{id}"
            )));
        }
        let people = People::load(&st).await?;
        let form = ScheduleForm::of(Some(&record), &people, &caller.user.time_zone);
        render_schedule(&st, &caller, Some(id), form, None).await
    }
    .await;
    result.map_err(perr(&caller))
}

async fn save_schedule(st: &AppState, caller: &Caller, id: Option<i64>, body: &[u8]) -> PageResult {
    let form = ScheduleForm::typed(&FormData::parse(body));
    let outcome = async {
        let people = People::load(st).await?;
        let fields = form.fields(&people)?;
        match id {
            None => ops::create_schedule(st, caller, &fields).await,
            Some(id) => ops::update_schedule(st, caller, id, &fields).await,
        }
    }
    .await;
    match outcome {
        Ok(_) => Ok(see_other("/oncall?done=saved")),
        Err(e) => render_schedule(st, caller, id, form, Some(e))
            .await
            .map_err(perr(caller)),
    }
}

async fn create_schedule(State(st): State<AppState>, caller: Caller, body: Bytes) -> PageResult {
    save_schedule(&st, &caller, None, &body).await
}

async fn update_schedule(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
    body: Bytes,
) -> PageResult {
    save_schedule(&st, &caller, Some(id), &body).await
}

async fn delete_schedule(State(st): State<AppState>, caller: Caller, Id(id): Id) -> PageResult {
    ops::delete_schedule(&st, &caller, id)
        .await
        .map_err(perr(&caller))?;
    Ok(see_other("/oncall?done=deleted"))
}

/// A person replaces a schedule's layers for a while (times local to the schedule).
async fn add_override(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
    body: Bytes,
) -> PageResult {
    let form = FormData::parse(&body);
    let result = async {
        let record = ops::get_schedule(&st, &caller, id, Operate).await?;
        let people = People::load(&st).await?;
        let user = people
            .ids("user", form.get("user").trim())?
            .first()
            .copied()
            .ok_or_else(|| AppError::invalid("user", "name the person on call instead"))?;
        let tz = TimeZone::get(&record.time_zone).map_err(|_| AppError::internal())?;
        let instant = |field: &str| {
            DateTime::strptime("%Y-%m-%dT%H:%M", form.get(field).trim())
                .ok()
                .and_then(|dt| dt.to_zoned(tz.clone()).ok())
                .map(|z| z.timestamp().as_millisecond())
                .ok_or_else(|| AppError::invalid(field, "must be a date and time"))
        };
        ops::add_override(
            &st,
            &caller,
            id,
            user,
            instant("starts_at")?,
            instant("ends_at")?,
        )
        .await
    }
    .await;
    result.map_err(perr(&caller))?;
    Ok(see_other("/oncall?done=saved"))
}

// ---- Escalation policies --------------------------------------------------------------------

#[derive(Template, WebTemplate)]
#[template(path = "incidents/policy_form.html")]
struct PolicyPage {
    f: Frame,
    existing: Option<i64>,
    entities: Vec<(i64, String)>,
    entity_id: i64,
    name: String,
    /// (targets as text, delay in minutes).
    steps: Vec<(String, String)>,
    repeat: String,
    error: Option<String>,
}

#[derive(Deserialize)]
struct PolicyParams {
    entity_id: Option<i64>,
}

/// Targets as the form writes them: `night, schedule:astreinte, team:dba`.
async fn targets_text(st: &AppState, people: &People, targets: &[TargetFields]) -> String {
    let mut out = Vec::new();
    for t in targets {
        out.push(match (t.user_id, t.schedule_id, t.team_id) {
            (Some(u), _, _) => people.logins(&[u]),
            (_, Some(s), _) => match st.store.get_schedule(s).await {
                Ok(s) => format!("schedule:{}", s.name),
                Err(_) => format!("schedule:#{s}"),
            },
            (_, _, Some(t)) => match st.store.get_team(t).await {
                Ok(t) => format!("team:{}", t.name),
                Err(_) => format!("team:#{t}"),
            },
            _ => String::new(),
        });
    }
    out.join(", ")
}

async fn parse_targets(
    st: &AppState,
    caller: &Caller,
    people: &People,
    field: &str,
    text: &str,
) -> Result<Vec<TargetFields>, AppError> {
    let schedules = ops::list_schedules(st, caller).await?;
    let teams = st.store.list_teams(&caller.visible(Incidents)).await?;
    let mut out = Vec::new();
    for token in text.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        let target = if let Some(name) = token.strip_prefix("schedule:") {
            let s = schedules
                .iter()
                .find(|s| s.name == name.trim())
                .ok_or_else(|| AppError::invalid(field, format!("no schedule {name:?}")))?;
            TargetFields {
                schedule_id: Some(s.id),
                ..TargetFields::default()
            }
        } else if let Some(name) = token.strip_prefix("team:") {
            let t = teams
                .iter()
                .find(|t| t.name == name.trim())
                .ok_or_else(|| AppError::invalid(field, format!("no team {name:?}")))?;
            TargetFields {
                team_id: Some(t.id),
                ..TargetFields::default()
            }
        } else {
            TargetFields {
                user_id: people.ids(field, token)?.first().copied(),
                ..TargetFields::default()
            }
        };
        out.push(target);
    }
    Ok(out)
}

async fn policy_form(
    State(st): State<AppState>,
    caller: Caller,
    Query(p): Query<PolicyParams>,
) -> PageResult {
    let result = async {
        let names = entity_names(&st).await?;
        let entities = managed_entities(&caller, &names);
        let entity_id = p
            .entity_id
            .or_else(|| entities.first().map(|(id, _)| *id))
            .unwrap_or(0);
        let existing = ops::list_policies(&st, &caller)
            .await?
            .into_iter()
            .find(|x| x.entity_id == entity_id);
        let people = People::load(&st).await?;
        let mut steps = Vec::new();
        let mut repeat = "0".to_owned();
        if let Some(d) = existing.as_ref().and_then(ops::policy_definition) {
            for s in &d.steps {
                steps.push((
                    targets_text(&st, &people, &s.targets).await,
                    s.delay_minutes.to_string(),
                ));
            }
            repeat = d.repeat.to_string();
        }
        while steps.len() < 3 {
            steps.push((String::new(), "15".to_owned()));
        }
        let page = PolicyPage {
            f: Frame::new(&caller, "/oncall", "oncall.policy"),
            existing: existing.as_ref().map(|x| x.id),
            entities,
            entity_id,
            name: existing.map(|x| x.name).unwrap_or_default(),
            steps,
            repeat,
            error: None,
        };
        Ok::<_, AppError>(page.into_response())
    }
    .await;
    result.map_err(perr(&caller))
}

async fn save_policy(State(st): State<AppState>, caller: Caller, body: Bytes) -> PageResult {
    let form = FormData::parse(&body);
    let rows: Vec<(String, String)> = form
        .all("step_targets")
        .into_iter()
        .zip(form.all("step_delay"))
        .collect();
    let outcome = async {
        let people = People::load(&st).await?;
        let mut steps = Vec::new();
        for (i, (targets, delay)) in rows.iter().enumerate() {
            if targets.trim().is_empty() {
                continue;
            }
            let field = format!("steps[{i}]");
            steps.push(StepFields {
                targets: parse_targets(&st, &caller, &people, &format!("{field}.targets"), targets)
                    .await?,
                delay_minutes: delay.trim().parse().map_err(|_| {
                    AppError::invalid(
                        format!("{field}.delay_minutes"),
                        "must be a number of minutes",
                    )
                })?,
            });
        }
        let entity = form
            .int("entity_id")?
            .ok_or_else(|| AppError::invalid("entity_id", "choose an entity"))?;
        let repeat = form
            .get("repeat")
            .trim()
            .parse()
            .map_err(|_| AppError::invalid("repeat", "must be a whole number"))?;
        let d = PolicyDefinition { steps, repeat };
        ops::put_policy(&st, &caller, entity, &form.get("name"), &d).await
    }
    .await;
    match outcome {
        Ok(_) => Ok(see_other("/oncall?done=saved")),
        Err(e) => {
            let names = entity_names(&st).await.map_err(perr(&caller))?;
            let page = PolicyPage {
                f: Frame::new(&caller, "/oncall", "oncall.policy"),
                existing: None,
                entities: managed_entities(&caller, &names),
                entity_id: form.get("entity_id").parse().unwrap_or(0),
                name: form.get("name"),
                steps: rows,
                repeat: form.get("repeat"),
                error: Some(e.to_string()),
            };
            let status = e.status;
            Ok((status, page).into_response())
        }
    }
}

async fn delete_policy(State(st): State<AppState>, caller: Caller, Id(id): Id) -> PageResult {
    ops::delete_policy(&st, &caller, id)
        .await
        .map_err(perr(&caller))?;
    Ok(see_other("/oncall?done=deleted"))
}

pub fn routes() -> Vec<RouteDef> {
    let operate = Access::Domain(Incidents, Operate);
    let manage = Access::Domain(Incidents, Manage);
    vec![
        page(Method::GET, "/oncall/schedules/new", manage, new_schedule),
        page(Method::POST, "/oncall/schedules", manage, create_schedule),
        page(Method::GET, "/oncall/schedules/{id}", manage, edit_schedule),
        page(
            Method::POST,
            "/oncall/schedules/{id}",
            manage,
            update_schedule,
        ),
        page(
            Method::POST,
            "/oncall/schedules/{id}/delete",
            manage,
            delete_schedule,
        ),
        page(
            Method::POST,
            "/oncall/schedules/{id}/overrides",
            operate,
            add_override,
        ),
        page(Method::GET, "/oncall/policy", manage, policy_form),
        page(Method::POST, "/oncall/policy", manage, save_policy),
        page(
            Method::POST,
            "/oncall/policies/{id}/delete",
            manage,
            delete_policy,
        ),
    ]
}
