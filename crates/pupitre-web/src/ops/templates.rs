//! Account templates: create users "by profile" (profile, entity, team, notifications) in one step.

use pupitre_core::model::{ROOT_ENTITY, UserTemplate, UserTemplateInput};
use pupitre_core::permission::{Domain, Level};
use pupitre_core::validate;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::error::AppError;
use crate::ops::check_time_zone;
use crate::ops::users::{AssignmentInput, DEFAULT_TIME_ZONE, check_assignments};
use crate::state::AppState;

#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUserTemplate {
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    pub entity_id: Option<i64>,
    pub profile_id: i64,
    #[serde(default)]
    pub recursive: bool,
    pub team_id: Option<i64>,
    #[schema(pattern = "^(en|fr)$")]
    pub language: Option<String>,
    pub time_zone: Option<String>,
    pub notify_email: Option<bool>,
    pub notify_sms: Option<bool>,
}

#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUserTemplate {
    pub name: Option<String>,
    pub entity_id: Option<i64>,
    pub profile_id: Option<i64>,
    pub recursive: Option<bool>,
    /// `null` removes the team.
    #[serde(default, with = "double_option")]
    #[schema(value_type = Option<i64>)]
    pub team_id: Option<Option<i64>>,
    pub language: Option<String>,
    pub time_zone: Option<String>,
    pub notify_email: Option<bool>,
    pub notify_sms: Option<bool>,
}

mod double_option {
    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<i64>>, D::Error> {
        Option::<i64>::deserialize(d).map(Some)
    }
}

pub async fn list(st: &AppState, caller: &Caller) -> Result<Vec<UserTemplate>, AppError> {
    Ok(st
        .store
        .list_user_templates(&caller.visible(Domain::Administration))
        .await?)
}

pub async fn get(
    st: &AppState,
    caller: &Caller,
    id: i64,
    level: Level,
) -> Result<UserTemplate, AppError> {
    let t = st
        .store
        .get_user_template(id)
        .await
        .map_err(|e| AppError::from_store("account template", e))?;
    caller.check(
        Domain::Administration,
        level,
        t.entity_id,
        "account template",
    )?;
    Ok(t)
}

async fn check(st: &AppState, caller: &Caller, input: &UserTemplateInput) -> Result<(), AppError> {
    check_time_zone("time_zone", &input.time_zone)?;
    let a = AssignmentInput {
        entity_id: input.entity_id,
        profile_id: input.profile_id,
        recursive: input.recursive,
    };
    check_assignments(st, caller, &[a], "template")
        .await
        .map_err(|mut e| {
            if let Some(f) = &e.field {
                e.field = Some(f.trim_start_matches("template[0].").to_owned());
            }
            e
        })?;
    if let Some(t) = input.team_id {
        let ok = st.store.get_team(t).await.is_ok_and(|team| {
            caller
                .grants
                .allows(Domain::Administration, Level::Edit, team.entity_id)
        });
        if !ok {
            return Err(AppError::invalid(
                "team_id",
                format!("team {t} does not exist"),
            ));
        }
    }
    Ok(())
}

pub async fn create(
    st: &AppState,
    caller: &Caller,
    req: CreateUserTemplate,
) -> Result<UserTemplate, AppError> {
    let input = validate::user_template_input(UserTemplateInput {
        name: req.name,
        entity_id: req.entity_id.unwrap_or(ROOT_ENTITY),
        profile_id: req.profile_id,
        recursive: req.recursive,
        team_id: req.team_id,
        language: req.language.unwrap_or_else(|| "en".to_owned()),
        time_zone: req
            .time_zone
            .unwrap_or_else(|| DEFAULT_TIME_ZONE.to_owned()),
        notify_email: req.notify_email.unwrap_or(true),
        notify_sms: req.notify_sms.unwrap_or(false),
    })?;
    check(st, caller, &input).await?;
    st.store
        .create_user_template(&caller.actor(), &input)
        .await
        .map_err(|e| AppError::from_store("account template", e))
}

pub async fn update(
    st: &AppState,
    caller: &Caller,
    id: i64,
    req: UpdateUserTemplate,
) -> Result<UserTemplate, AppError> {
    let c = get(st, caller, id, Level::Manage).await?;
    let input = validate::user_template_input(UserTemplateInput {
        name: req.name.unwrap_or(c.name),
        entity_id: req.entity_id.unwrap_or(c.entity_id),
        profile_id: req.profile_id.unwrap_or(c.profile_id),
        recursive: req.recursive.unwrap_or(c.recursive),
        team_id: req.team_id.unwrap_or(c.team_id),
        language: req.language.unwrap_or(c.language),
        time_zone: req.time_zone.unwrap_or(c.time_zone),
        notify_email: req.notify_email.unwrap_or(c.notify_email),
        notify_sms: req.notify_sms.unwrap_or(c.notify_sms),
    })?;
    check(st, caller, &input).await?;
    st.store
        .update_user_template(&caller.actor(), id, &input)
        .await
        .map_err(|e| AppError::from_store("account template", e))
}

pub async fn delete(st: &AppState, caller: &Caller, id: i64) -> Result<(), AppError> {
    get(st, caller, id, Level::Manage).await?;
    st.store
        .delete_user_template(&caller.actor(), id)
        .await
        .map_err(|e| AppError::from_store("account template", e))
}
