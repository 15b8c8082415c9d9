//! Teams: groups of users (a shift, an on-call rota, a vendor's technicians).

use std::collections::HashMap;

use pupitre_core::model::{ROOT_ENTITY, Team, TeamInput};
use pupitre_core::permission::{Domain, Level};
use pupitre_core::validate;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::error::AppError;
use crate::state::AppState;

#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTeam {
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub entity_id: Option<i64>,
    #[serde(default)]
    pub member_ids: Vec<i64>,
}

#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTeam {
    pub name: Option<String>,
    pub description: Option<String>,
    pub entity_id: Option<i64>,
    /// Replaces the member list when present.
    pub member_ids: Option<Vec<i64>>,
}

pub async fn list(st: &AppState, caller: &Caller) -> Result<Vec<Team>, AppError> {
    let mut teams = st
        .store
        .list_teams(&caller.visible(Domain::Administration))
        .await?;
    // People often belong to several teams: look each account up once.
    let mut seen = HashMap::new();
    for t in &mut teams {
        t.members = visible_members(st, caller, &t.members, &mut seen).await?;
    }
    Ok(teams)
}

/// The members whose accounts the caller may read; a team can hold people of other entities.
async fn visible_members(
    st: &AppState,
    caller: &Caller,
    members: &[i64],
    seen: &mut HashMap<i64, bool>,
) -> Result<Vec<i64>, AppError> {
    let mut out = Vec::with_capacity(members.len());
    for &m in members {
        let visible = match seen.get(&m) {
            Some(v) => *v,
            None => {
                let v = match st.store.get_user(m).await {
                    Ok(u) => caller
                        .grants
                        .allows(Domain::Administration, Level::Read, u.entity_id),
                    Err(pupitre_store::StoreError::NotFound) => false,
                    Err(e) => return Err(e.into()),
                };
                seen.insert(m, v);
                v
            }
        };
        if visible {
            out.push(m);
        }
    }
    Ok(out)
}

pub async fn get(st: &AppState, caller: &Caller, id: i64, level: Level) -> Result<Team, AppError> {
    let t = st
        .store
        .get_team(id)
        .await
        .map_err(|e| AppError::from_store("team", e))?;
    caller.check(Domain::Administration, level, t.entity_id, "team")?;
    let members = visible_members(st, caller, &t.members, &mut HashMap::new()).await?;
    Ok(Team { members, ..t })
}

/// Checks a team's fields; members already in `known` are not checked again.
async fn check_input(
    st: &AppState,
    caller: &Caller,
    input: &TeamInput,
    known: &[i64],
) -> Result<(), AppError> {
    caller.visible_entity(input.entity_id, "entity_id")?;
    caller.check(
        Domain::Administration,
        Level::Edit,
        input.entity_id,
        "entity",
    )?;
    for (i, m) in input.members.iter().enumerate() {
        if known.contains(m) {
            continue;
        }
        let ok = st.store.get_user(*m).await.is_ok_and(|u| {
            caller
                .grants
                .allows(Domain::Administration, Level::Read, u.entity_id)
        });
        if !ok {
            return Err(AppError::invalid(
                format!("member_ids[{i}]"),
                format!("user {m} does not exist"),
            ));
        }
    }
    Ok(())
}

pub async fn create(st: &AppState, caller: &Caller, req: CreateTeam) -> Result<Team, AppError> {
    let input = validate::team_input(TeamInput {
        name: req.name,
        description: req.description,
        entity_id: req.entity_id.unwrap_or(ROOT_ENTITY),
        members: req.member_ids,
    })?;
    check_input(st, caller, &input, &[]).await?;
    st.store
        .create_team(&caller.actor(), &input)
        .await
        .map_err(|e| AppError::from_store("team", e))
}

pub async fn update(
    st: &AppState,
    caller: &Caller,
    id: i64,
    req: UpdateTeam,
) -> Result<Team, AppError> {
    let current = get(st, caller, id, Level::Edit).await?;
    // Members the caller cannot see stay, whatever the request says.
    let all = st.store.get_team(id).await?.members;
    let hidden: Vec<i64> = all
        .iter()
        .copied()
        .filter(|m| !current.members.contains(m))
        .collect();
    let mut members = req.member_ids.unwrap_or(current.members);
    members.extend(hidden);
    let input = validate::team_input(TeamInput {
        name: req.name.unwrap_or(current.name),
        description: req.description.unwrap_or(current.description),
        entity_id: req.entity_id.unwrap_or(current.entity_id),
        members,
    })?;
    check_input(st, caller, &input, &all).await?;
    st.store
        .update_team(&caller.actor(), id, &input)
        .await
        .map_err(|e| AppError::from_store("team", e))
}

pub async fn delete(st: &AppState, caller: &Caller, id: i64) -> Result<(), AppError> {
    get(st, caller, id, Level::Edit).await?;
    st.store
        .delete_team(&caller.actor(), id)
        .await
        .map_err(|e| AppError::from_store("team", e))
}
