//! Profiles: named permission sets, built in or made by administrators.

use std::collections::BTreeMap;

use pupitre_core::model::{Profile, ProfileInput, ROOT_ENTITY};
use pupitre_core::permission::{Domain, Level, Levels, subtree};
use pupitre_core::validate;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::error::AppError;
use crate::state::AppState;

#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateProfile {
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Domain → level (`none`, `read`, `operate`, `edit`, `manage`); absent domains are `none`.
    #[serde(default)]
    pub levels: BTreeMap<String, String>,
    #[serde(default)]
    pub assigned_only: bool,
    pub entity_id: Option<i64>,
}

#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateProfile {
    pub name: Option<String>,
    pub description: Option<String>,
    /// Replaces the whole level set when present.
    pub levels: Option<BTreeMap<String, String>>,
    pub assigned_only: Option<bool>,
    pub entity_id: Option<i64>,
}

pub fn parse_levels(map: &BTreeMap<String, String>) -> Result<Levels, AppError> {
    let mut levels = Levels::default();
    for (d, l) in map {
        let domain = Domain::from_key(d).ok_or_else(|| {
            AppError::invalid(
                format!("levels.{d}"),
                format!(
                    "is not a domain; use {}",
                    Domain::ALL.map(|d| d.key()).join(", ")
                ),
            )
        })?;
        let level = Level::from_key(l).ok_or_else(|| {
            AppError::invalid(
                format!("levels.{d}"),
                "must be none, read, operate, edit or manage",
            )
        })?;
        levels.set(domain, level);
    }
    Ok(levels)
}

fn visible(caller: &Caller, p: &Profile) -> bool {
    p.builtin
        || caller
            .grants
            .allows(Domain::Administration, Level::Read, p.entity_id)
}

pub async fn list(st: &AppState, caller: &Caller) -> Result<Vec<Profile>, AppError> {
    Ok(st
        .store
        .list_profiles()
        .await?
        .into_iter()
        .filter(|p| visible(caller, p))
        .collect())
}

pub async fn get(
    st: &AppState,
    caller: &Caller,
    id: i64,
    level: Level,
) -> Result<Profile, AppError> {
    let p = st
        .store
        .get_profile(id)
        .await
        .map_err(|e| AppError::from_store("profile", e))?;
    if !visible(caller, &p) {
        return Err(AppError::not_found("profile"));
    }
    if level > Level::Read {
        caller.check(Domain::Administration, level, p.entity_id, "profile")?;
    }
    Ok(p)
}

/// A profile may be created or changed only by someone who could grant its levels on its
/// entity and everything below it, and on every place it is already in use.
async fn check_input(
    st: &AppState,
    caller: &Caller,
    input: &ProfileInput,
    id: Option<i64>,
) -> Result<(), AppError> {
    caller.visible_entity(input.entity_id, "entity_id")?;
    let mut reach = subtree(input.entity_id, &caller.tree);
    if let Some(id) = id {
        let scope = reach.clone();
        for (entity, recursive) in st.store.profile_uses(id).await? {
            let used = caller.reach(entity, recursive);
            if !used.iter().all(|e| scope.contains(e)) {
                return Err(AppError::invalid(
                    "entity_id",
                    format!(
                        "the profile is in use at entity {entity}, outside entity {}",
                        input.entity_id
                    ),
                ));
            }
            reach.extend(used);
        }
    }
    if !caller.may_grant(&input.levels, &reach) {
        return Err(AppError::forbidden(
            "a profile cannot grant more than you hold, with administration=manage, on its entity, the entities below it and wherever it is used",
        ));
    }
    Ok(())
}

pub async fn create(
    st: &AppState,
    caller: &Caller,
    req: CreateProfile,
) -> Result<Profile, AppError> {
    let input = validate::profile_input(ProfileInput {
        name: req.name,
        description: req.description,
        levels: parse_levels(&req.levels)?,
        assigned_only: req.assigned_only,
        entity_id: req.entity_id.unwrap_or(ROOT_ENTITY),
    })?;
    check_input(st, caller, &input, None).await?;
    st.store
        .create_profile(&caller.actor(), &input)
        .await
        .map_err(|e| AppError::from_store("profile", e))
}

pub async fn update(
    st: &AppState,
    caller: &Caller,
    id: i64,
    req: UpdateProfile,
) -> Result<Profile, AppError> {
    let current = get(st, caller, id, Level::Manage).await?;
    if current.builtin {
        return Err(AppError::conflict(
            "built-in profiles cannot be changed; create a copy instead",
        ));
    }
    let input = validate::profile_input(ProfileInput {
        name: req.name.unwrap_or(current.name),
        description: req.description.unwrap_or(current.description),
        levels: match &req.levels {
            Some(l) => parse_levels(l)?,
            None => current.levels,
        },
        assigned_only: req.assigned_only.unwrap_or(current.assigned_only),
        entity_id: req.entity_id.unwrap_or(current.entity_id),
    })?;
    check_input(st, caller, &input, Some(id)).await?;
    st.store
        .update_profile(&caller.actor(), id, &input)
        .await
        .map_err(|e| AppError::from_store("profile", e))
}

pub async fn delete(st: &AppState, caller: &Caller, id: i64) -> Result<(), AppError> {
    get(st, caller, id, Level::Manage).await?;
    st.store
        .delete_profile(&caller.actor(), id)
        .await
        .map_err(|e| AppError::from_store("profile", e))
}
