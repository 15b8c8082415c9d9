//! The entity tree: customers, subsidiaries and sites.

use pupitre_core::model::{Entity, EntityInput};
use pupitre_core::permission::{Domain, Level, subtree};
use pupitre_core::validate;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::error::AppError;
use crate::state::AppState;

#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateEntity {
    pub parent_id: i64,
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    #[serde(default)]
    pub comment: String,
}

#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateEntity {
    pub parent_id: Option<i64>,
    pub name: Option<String>,
    pub comment: Option<String>,
}

pub async fn list(st: &AppState, caller: &Caller) -> Result<Vec<Entity>, AppError> {
    let visible = caller.visible(Domain::Administration);
    Ok(st
        .store
        .list_entities()
        .await?
        .into_iter()
        .filter(|e| visible.contains(&e.id))
        .collect())
}

pub async fn get(
    st: &AppState,
    caller: &Caller,
    id: i64,
    level: Level,
) -> Result<Entity, AppError> {
    let e = st
        .store
        .get_entity(id)
        .await
        .map_err(|e| AppError::from_store("entity", e))?;
    caller.check(Domain::Administration, level, e.id, "entity")?;
    Ok(e)
}

fn check_parent(caller: &Caller, parent: i64) -> Result<(), AppError> {
    caller.visible_entity(parent, "parent_id")?;
    caller.check(Domain::Administration, Level::Manage, parent, "entity")
}

/// Moving an entity needs administration=manage on its old and new parent, and must not
/// raise the mover's own rights anywhere in the moved subtree (recursive grants on the new
/// parent flow into it).
fn check_move(caller: &Caller, id: i64, old_parent: i64, new_parent: i64) -> Result<(), AppError> {
    check_parent(caller, new_parent)?;
    caller.check(Domain::Administration, Level::Manage, old_parent, "entity")?;
    let moved = subtree(id, &caller.tree);
    if moved.contains(&new_parent) {
        return Err(AppError::invalid(
            "parent_id",
            "would put the entity inside itself",
        ));
    }
    let tree: Vec<(i64, Option<i64>)> = caller
        .tree
        .iter()
        .map(|&(e, p)| {
            if e == id {
                (e, Some(new_parent))
            } else {
                (e, p)
            }
        })
        .collect();
    let after = caller.grants_over(&tree);
    if moved
        .iter()
        .any(|&e| !after.levels_on(e).within(&caller.grants.levels_on(e)))
    {
        return Err(AppError::forbidden(
            "this move would give you more rights on the moved entities than you hold today",
        ));
    }
    Ok(())
}

pub async fn create(st: &AppState, caller: &Caller, req: CreateEntity) -> Result<Entity, AppError> {
    check_parent(caller, req.parent_id)?;
    let input = validate::entity_input(EntityInput {
        parent_id: req.parent_id,
        name: req.name,
        comment: req.comment,
    })?;
    let e = st
        .store
        .create_entity(&caller.actor(), &input)
        .await
        .map_err(|e| AppError::from_store("entity", e))?;
    st.entity_tree_changed();
    Ok(e)
}

pub async fn update(
    st: &AppState,
    caller: &Caller,
    id: i64,
    req: UpdateEntity,
) -> Result<Entity, AppError> {
    let current = get(st, caller, id, Level::Manage).await?;
    let parent_id = match (current.parent_id, req.parent_id) {
        (None, Some(_)) => {
            return Err(AppError::invalid(
                "parent_id",
                "the root entity has no parent",
            ));
        }
        (None, None) => 0,
        (Some(p), new) => {
            let new = new.unwrap_or(p);
            if new != p {
                check_move(caller, id, p, new)?;
            }
            new
        }
    };
    let input = validate::entity_input(EntityInput {
        parent_id,
        name: req.name.unwrap_or(current.name),
        comment: req.comment.unwrap_or(current.comment),
    })?;
    let e = st
        .store
        .update_entity(&caller.actor(), id, &input)
        .await
        .map_err(|e| AppError::from_store("entity", e))?;
    st.entity_tree_changed();
    Ok(e)
}

pub async fn delete(st: &AppState, caller: &Caller, id: i64) -> Result<(), AppError> {
    get(st, caller, id, Level::Manage).await?;
    st.store
        .delete_entity(&caller.actor(), id)
        .await
        .map_err(|e| AppError::from_store("entity", e))?;
    st.entity_tree_changed();
    Ok(())
}
