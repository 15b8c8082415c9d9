//! Reading the audit log. Nothing here writes it: records come from the store's mutations.

use pupitre_core::audit::AuditRecord;
use pupitre_core::model::ROOT_ENTITY;
use pupitre_core::permission::{Domain, Level};
use pupitre_store::AuditFilter;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::auth::Caller;
use crate::error::AppError;
use crate::ops::{PageParams, next_cursor};
use crate::state::AppState;

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    /// e.g. `user.update`, `session.login_failed`.
    pub action: Option<String>,
    /// e.g. `user`, `team`, `profile`, `entity`.
    pub object_type: Option<String>,
    pub object_id: Option<i64>,
    /// Login of the person who acted.
    pub actor: Option<String>,
    /// RFC 3339 timestamp, inclusive.
    pub since: Option<String>,
    /// RFC 3339 timestamp, exclusive.
    pub until: Option<String>,
    /// At most this many records (1–500, default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

fn timestamp(field: &str, v: &Option<String>) -> Result<Option<i64>, AppError> {
    v.as_deref()
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<jiff::Timestamp>()
                .map(|t| t.as_millisecond())
                .map_err(|_| {
                    AppError::invalid(
                        field,
                        "must be an RFC 3339 timestamp, e.g. 2026-11-29T08:00:00Z",
                    )
                })
        })
        .transpose()
}

pub async fn list(
    st: &AppState,
    caller: &Caller,
    p: &AuditParams,
) -> Result<(Vec<AuditRecord>, Option<String>), AppError> {
    let page = PageParams {
        limit: p.limit,
        cursor: p.cursor.clone(),
    }
    .page()?;
    let filter = AuditFilter {
        visible: caller.visible(Domain::Administration),
        global: caller
            .grants
            .allows(Domain::Administration, Level::Read, ROOT_ENTITY),
        action: p.action.clone().filter(|s| !s.is_empty()),
        object_type: p.object_type.clone().filter(|s| !s.is_empty()),
        object_id: p.object_id,
        actor: p.actor.clone().filter(|s| !s.is_empty()),
        since: timestamp("since", &p.since)?,
        until: timestamp("until", &p.until)?,
    };
    let records = st.store.list_audit(&filter, page).await?;
    let next = next_cursor(&records, page.limit, |r| r.id);
    Ok((records, next))
}
