//! Check templates: a set of checks that every asset matching a rule gets ("every Linux server
//! in production gets ping, SSH and the agent's checks"). Saving a template applies it to every
//! matching asset at once; creating or changing an asset applies the templates to it. The
//! engine is told, so nothing waits for a restart.

use pupitre_core::audit::Actor;
use pupitre_core::inventory::{AssetId, AssetType, OsFamily, Status};
use pupitre_core::monitoring::definition::{CheckDefinitionInput, ProbeSpec, check_definition};
use pupitre_core::monitoring::template::{ApplyRule, EntityScope, TemplateId};
use pupitre_core::permission::{Domain, Level, subtree};
use pupitre_store::monitoring::{ApplyReport, TemplateInput, TemplateRecord};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::error::AppError;
use crate::ops::checks::{ProbeFields, sixty, ten, three, yes};
use crate::state::AppState;

/// One check of a template: a check without its asset.
#[derive(Clone, Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateCheckFields {
    pub name: String,
    pub probe: ProbeFields,
    #[serde(default = "sixty")]
    pub interval: i64,
    #[serde(default)]
    pub retry_interval: Option<i64>,
    #[serde(default = "ten")]
    pub timeout: i64,
    #[serde(default = "three")]
    pub max_attempts: i64,
    #[serde(default)]
    pub warning: String,
    #[serde(default)]
    pub critical: String,
    #[serde(default = "yes")]
    pub notifications: bool,
    /// This check gives each asset its host state (at most one per template).
    #[serde(default)]
    pub host_check: bool,
}

/// A template as written.
#[derive(Clone, Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateFields {
    pub name: String,
    /// Who may change the template; it applies to assets of this entity and below. Defaults
    /// to the caller's entity.
    #[serde(default)]
    pub entity_id: Option<i64>,
    /// Asset types (`server`, `switch`, …); empty for any.
    #[serde(default)]
    pub asset_types: Vec<String>,
    /// OS families (`linux`, `windows`, …); empty for any.
    #[serde(default)]
    pub os_families: Vec<String>,
    /// Tags the asset must all have.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Only assets of this entity (and below, unless `recursive` is false).
    #[serde(default)]
    pub asset_entity_id: Option<i64>,
    #[serde(default = "yes")]
    pub recursive: bool,
    /// Lifecycle statuses; empty for `in_production` only.
    #[serde(default)]
    pub statuses: Vec<String>,
    pub checks: Vec<TemplateCheckFields>,
}

fn keys<T>(
    field: &str,
    list: &[String],
    parse: fn(&str) -> Option<T>,
    all: impl Fn() -> String,
) -> Result<Vec<T>, AppError> {
    list.iter()
        .map(|k| {
            parse(k.trim())
                .ok_or_else(|| AppError::invalid(field, format!("{k:?} is not one of {}", all())))
        })
        .collect()
}

async fn input(
    st: &AppState,
    caller: &Caller,
    f: TemplateFields,
) -> Result<TemplateInput, AppError> {
    let entity_id = f.entity_id.unwrap_or(caller.user.entity_id);
    caller.target_entity(Domain::Monitoring, Level::Edit, entity_id, "entity_id")?;
    let name = pupitre_core::validate::text("name", &f.name, 1, 200)
        .map_err(AppError::from_field_error)?;
    let entity = match f.asset_entity_id {
        None => None,
        Some(e) => {
            if !subtree(entity_id, &caller.tree).contains(&e) {
                return Err(AppError::invalid(
                    "asset_entity_id",
                    "must be the template's entity or one below it",
                ));
            }
            Some(EntityScope {
                entity_id: e,
                recursive: f.recursive,
            })
        }
    };
    let rule = ApplyRule {
        asset_types: keys(
            "asset_types",
            &f.asset_types,
            AssetType::from_key,
            AssetType::keys,
        )?,
        os_families: keys(
            "os_families",
            &f.os_families,
            OsFamily::from_key,
            OsFamily::keys,
        )?,
        tags: f.tags.iter().map(|t| t.trim().to_lowercase()).collect(),
        entity,
        statuses: keys("statuses", &f.statuses, Status::from_key, Status::keys)?,
    };
    if f.checks.is_empty() || f.checks.len() > 50 {
        return Err(AppError::invalid("checks", "must hold 1 to 50 checks"));
    }
    if f.checks.iter().filter(|c| c.host_check).count() > 1 {
        return Err(AppError::invalid(
            "checks",
            "at most one check may be the host check",
        ));
    }
    let host_check = f.checks.iter().position(|c| c.host_check);
    let mut checks = Vec::with_capacity(f.checks.len());
    for (i, c) in f.checks.into_iter().enumerate() {
        let probe = ProbeSpec::from(c.probe);
        if matches!(probe, ProbeSpec::Heartbeat { .. }) {
            return Err(AppError::invalid(
                format!("checks[{i}].probe.kind"),
                "a heartbeat has its own secret URL, so it cannot come from a template",
            ));
        }
        let definition = check_definition(CheckDefinitionInput {
            name: c.name,
            probe,
            interval_s: c.interval,
            retry_interval_s: c.retry_interval.unwrap_or(c.interval.min(60)),
            timeout_s: c.timeout,
            max_attempts: c.max_attempts,
            warning: c.warning,
            critical: c.critical,
            notifications_enabled: c.notifications,
            entity_id,
        })
        .map_err(|errors| {
            AppError::from_field_errors(
                errors
                    .into_iter()
                    .map(|mut e| {
                        e.field = format!("checks[{i}].{}", e.field);
                        e
                    })
                    .collect(),
            )
        })?;
        if let ProbeSpec::Plugin { path, arguments } = &definition.probe {
            crate::ops::checks::validate_plugin(path, arguments, definition.timeout_s)
                .map_err(|e| AppError::invalid(format!("checks[{i}].{}", e.0), e.1))?;
        }
        crate::ops::credentials::check_reference(
            st,
            caller,
            &definition.probe,
            entity_id,
            &format!("checks[{i}].probe.credential"),
        )
        .await?;
        if checks.iter().any(
            |d: &pupitre_core::monitoring::definition::CheckDefinition| d.name == definition.name,
        ) {
            return Err(AppError::invalid(
                format!("checks[{i}].name"),
                "two checks of a template cannot have the same name",
            ));
        }
        checks.push(definition);
    }
    Ok(TemplateInput {
        name,
        entity_id,
        rule,
        checks,
        host_check,
    })
}

pub async fn list(st: &AppState, caller: &Caller) -> Result<Vec<TemplateRecord>, AppError> {
    Ok(st
        .store
        .list_templates(&caller.visible(Domain::Monitoring))
        .await?)
}

pub async fn get(
    st: &AppState,
    caller: &Caller,
    id: TemplateId,
    level: Level,
) -> Result<TemplateRecord, AppError> {
    let t = st
        .store
        .get_template(id)
        .await
        .map_err(|e| AppError::from_store("check template", e))?;
    caller.check(Domain::Monitoring, level, t.entity_id, "check template")?;
    Ok(t)
}

pub async fn create(
    st: &AppState,
    caller: &Caller,
    f: TemplateFields,
) -> Result<(TemplateRecord, ApplyReport), AppError> {
    let input = input(st, caller, f).await?;
    let created = st
        .store
        .create_template(&caller.actor(), &input)
        .await
        .map_err(|e| AppError::from_store("check template", e))?;
    let report = apply(st, &caller.actor(), None).await?;
    let created = get(st, caller, created.template.id, Level::Read).await?;
    Ok((created, report))
}

pub async fn update(
    st: &AppState,
    caller: &Caller,
    id: TemplateId,
    f: TemplateFields,
) -> Result<(TemplateRecord, ApplyReport), AppError> {
    get(st, caller, id, Level::Edit).await?;
    let input = input(st, caller, f).await?;
    st.store
        .update_template(&caller.actor(), id, &input)
        .await
        .map_err(|e| AppError::from_store("check template", e))?;
    let report = apply(st, &caller.actor(), None).await?;
    Ok((get(st, caller, id, Level::Read).await?, report))
}

pub async fn delete(st: &AppState, caller: &Caller, id: TemplateId) -> Result<(), AppError> {
    get(st, caller, id, Level::Edit).await?;
    st.store
        .delete_template(&caller.actor(), id)
        .await
        .map_err(|e| AppError::from_store("check template", e))?;
    st.engine_changed(pupitre_monitor::Changed::Everything)
        .await;
    Ok(())
}

/// Applies the templates to `assets` (all when `None`) and tells the engine.
pub async fn apply(
    st: &AppState,
    actor: &Actor,
    assets: Option<&[AssetId]>,
) -> Result<ApplyReport, AppError> {
    let report = st.store.apply_templates(actor, assets).await?;
    if report.created + report.updated + report.deleted > 0 {
        st.engine_changed(pupitre_monitor::Changed::Everything)
            .await;
    }
    Ok(report)
}

/// After assets were written: gives them the checks their templates say. A failure here does
/// not undo the asset change; it is logged, and the hourly housekeeping applies every template
/// again.
pub async fn assets_changed(st: &AppState, actor: &Actor, assets: &[AssetId]) {
    if let Err(e) = apply(st, actor, Some(assets)).await {
        tracing::error!(error = %e, "applying check templates to changed assets failed");
    }
}
