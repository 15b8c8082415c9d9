//! Accounts: creation (alone, from a template, or in bulk from CSV), changes, password
//! resets and (entity, profile) assignments.

use pupitre_core::model::{Assignment, ROOT_ENTITY, User, UserInput};
use pupitre_core::permission::{Domain, Level, subtree};
use pupitre_core::validate;
use pupitre_store::{NewUser, PasswordChange, UserFilter};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::{self, Caller, random_password};
use crate::error::AppError;
use crate::ops::{PageParams, check_time_zone, next_cursor};
use crate::state::AppState;

pub const DEFAULT_TIME_ZONE: &str = "UTC";

#[derive(Clone, Debug, Deserialize, Serialize, ToSchema, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct AssignmentInput {
    pub entity_id: i64,
    pub profile_id: i64,
    #[serde(default)]
    pub recursive: bool,
}

/// A new account. With `template_id`, the template supplies entity, profile, team,
/// language, time zone and notification settings; fields given here win.
#[derive(Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    #[schema(min_length = 1, max_length = 64)]
    pub login: String,
    #[schema(min_length = 1, max_length = 200)]
    pub display_name: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub phone: String,
    #[schema(pattern = "^(en|fr)$")]
    pub language: Option<String>,
    #[schema(example = "Europe/Paris")]
    pub time_zone: Option<String>,
    pub active: Option<bool>,
    pub entity_id: Option<i64>,
    /// Initial password; when absent a random one is generated and returned once.
    /// Either way the user must change it at first login.
    pub password: Option<String>,
    pub template_id: Option<i64>,
    #[serde(default)]
    pub assignments: Vec<AssignmentInput>,
    #[serde(default)]
    pub team_ids: Vec<i64>,
    pub notify_email: Option<bool>,
    pub notify_sms: Option<bool>,
}

impl std::fmt::Debug for CreateUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreateUser")
            .field("login", &self.login)
            .field("entity_id", &self.entity_id)
            .field("template_id", &self.template_id)
            .field("assignments", &self.assignments)
            .finish_non_exhaustive()
    }
}

/// Changes to an account; absent fields keep their value.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUser {
    #[schema(min_length = 1, max_length = 64)]
    pub login: Option<String>,
    #[schema(min_length = 1, max_length = 200)]
    pub display_name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    #[schema(pattern = "^(en|fr)$")]
    pub language: Option<String>,
    pub time_zone: Option<String>,
    pub active: Option<bool>,
    pub entity_id: Option<i64>,
    pub notify_email: Option<bool>,
    pub notify_sms: Option<bool>,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UserListParams {
    /// Substring of login, display name or e-mail (case-insensitive).
    pub q: Option<String>,
    pub entity_id: Option<i64>,
    pub active: Option<bool>,
    pub team_id: Option<i64>,
    /// At most this many users (1–500, default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

pub async fn list(
    st: &AppState,
    caller: &Caller,
    p: &UserListParams,
) -> Result<(Vec<User>, Option<String>), AppError> {
    let page = PageParams {
        limit: p.limit,
        cursor: p.cursor.clone(),
    }
    .page()?;
    if let Some(team) = p.team_id {
        // Filtering by a team reveals its members: the team must be visible.
        crate::ops::teams::get(st, caller, team, Level::Read)
            .await
            .map_err(|_| AppError::invalid("team_id", format!("team {team} does not exist")))?;
    }
    let filter = UserFilter {
        visible: caller.visible(Domain::Administration),
        entity_id: p.entity_id,
        query: p.q.clone(),
        active: p.active,
        team_id: p.team_id,
    };
    let users = st.store.list_users(&filter, page).await?;
    let next = next_cursor(&users, page.limit, |u| u.id);
    Ok((users, next))
}

pub async fn get(st: &AppState, caller: &Caller, id: i64, level: Level) -> Result<User, AppError> {
    let user = st
        .store
        .get_user(id)
        .await
        .map_err(|e| AppError::from_store("user", e))?;
    caller.check(Domain::Administration, level, user.entity_id, "user")?;
    Ok(user)
}

/// Validates a creation request and resolves its template, without writing anything.
/// What to do when a new account comes without a password.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MissingPassword {
    /// Generate one, return it once.
    Generate,
    /// Leave the account without a password until an administrator sets one (bulk imports:
    /// hashing thousands of generated passwords would take minutes).
    Leave,
}

/// Whether to hash the password now (a dry run only validates).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hashing {
    Hash,
    Skip,
}

pub async fn prepare(
    st: &AppState,
    caller: &Caller,
    req: CreateUser,
    field_prefix: &str,
    missing: MissingPassword,
    hashing: Hashing,
) -> Result<(NewUser, Option<String>), AppError> {
    let f = |name: &str| format!("{field_prefix}{name}");
    let mut req = req;
    if let Some(tid) = req.template_id {
        let t = st.store.get_user_template(tid).await.map_err(|_| {
            AppError::invalid(
                f("template_id"),
                format!("account template {tid} does not exist"),
            )
        })?;
        if !caller
            .grants
            .allows(Domain::Administration, Level::Read, t.entity_id)
        {
            return Err(AppError::invalid(
                f("template_id"),
                format!("account template {tid} does not exist"),
            ));
        }
        req.entity_id = req.entity_id.or(Some(t.entity_id));
        req.language = req.language.or(Some(t.language));
        req.time_zone = req.time_zone.or(Some(t.time_zone));
        req.notify_email = req.notify_email.or(Some(t.notify_email));
        req.notify_sms = req.notify_sms.or(Some(t.notify_sms));
        if req.assignments.is_empty() {
            req.assignments.push(AssignmentInput {
                entity_id: t.entity_id,
                profile_id: t.profile_id,
                recursive: t.recursive,
            });
        }
        if req.team_ids.is_empty() {
            req.team_ids.extend(t.team_id);
        }
    }
    let entity_id = req.entity_id.unwrap_or(ROOT_ENTITY);
    let input = UserInput {
        login: req.login,
        display_name: req.display_name,
        email: req.email,
        phone: req.phone,
        language: req.language.unwrap_or_else(|| "en".to_owned()),
        time_zone: req
            .time_zone
            .unwrap_or_else(|| DEFAULT_TIME_ZONE.to_owned()),
        active: req.active.unwrap_or(true),
        entity_id,
        notify_email: req.notify_email.unwrap_or(true),
        notify_sms: req.notify_sms.unwrap_or(false),
    };
    let input =
        validate::user_input(input).map_err(|e| AppError::invalid(f(&e.field), e.message))?;
    check_time_zone(&f("time_zone"), &input.time_zone)?;
    check_entity(caller, input.entity_id, &f("entity_id"))?;
    let assignments = check_assignments(st, caller, &req.assignments, &f("assignments")).await?;
    for (i, t) in req.team_ids.iter().enumerate() {
        let ok = st.store.get_team(*t).await.is_ok_and(|team| {
            caller
                .grants
                .allows(Domain::Administration, Level::Edit, team.entity_id)
        });
        if !ok {
            return Err(AppError::invalid(
                f(&format!("team_ids[{i}]")),
                format!("team {t} does not exist"),
            ));
        }
    }
    let (password, generated) = match (req.password, missing) {
        (Some(p), _) => {
            st.config
                .password_policy
                .check(&input.login, &p)
                .map_err(|m| AppError::invalid(f("password"), m))?;
            (Some(p), None)
        }
        (None, MissingPassword::Generate) => {
            let p = random_password();
            (Some(p.clone()), Some(p))
        }
        (None, MissingPassword::Leave) => (None, None),
    };
    let password_hash = match (password, hashing) {
        (Some(p), Hashing::Hash) => Some(auth::hash(&p).await?),
        _ => None,
    };
    let new = NewUser {
        password_hash,
        must_change_password: true,
        assignments,
        teams: req.team_ids,
        input,
    };
    Ok((new, generated))
}

pub async fn create(
    st: &AppState,
    caller: &Caller,
    req: CreateUser,
) -> Result<(User, Option<String>), AppError> {
    let (new, generated) = prepare(
        st,
        caller,
        req,
        "",
        MissingPassword::Generate,
        Hashing::Hash,
    )
    .await?;
    let user = st
        .store
        .create_users(&caller.actor(), std::slice::from_ref(&new))
        .await
        .map_err(|e| AppError::from_store("user", e))?
        .remove(0);
    Ok((user, generated))
}

/// The entity exists and the caller may edit accounts in it.
fn check_entity(caller: &Caller, id: i64, field: &str) -> Result<(), AppError> {
    caller.visible_entity(id, field)?;
    if !caller
        .grants
        .allows(Domain::Administration, Level::Edit, id)
    {
        return Err(AppError::forbidden(format!(
            "your profile does not allow editing accounts in entity {id}"
        )));
    }
    Ok(())
}

/// Every assignment names an existing entity and profile, and grants no more than the caller
/// holds on that entity (nobody hands out rights they do not have).
pub async fn check_assignments(
    st: &AppState,
    caller: &Caller,
    list: &[AssignmentInput],
    field: &str,
) -> Result<Vec<Assignment>, AppError> {
    let mut out = Vec::with_capacity(list.len());
    for (i, a) in list.iter().enumerate() {
        let at = format!("{field}[{i}]");
        caller.visible_entity(a.entity_id, &format!("{at}.entity_id"))?;
        let profile = st
            .store
            .get_profile(a.profile_id)
            .await
            .ok()
            .filter(|p| {
                p.builtin
                    || caller
                        .grants
                        .allows(Domain::Administration, Level::Read, p.entity_id)
            })
            .ok_or_else(|| {
                AppError::invalid(
                    format!("{at}.profile_id"),
                    format!("profile {} does not exist", a.profile_id),
                )
            })?;
        if !profile.builtin && !subtree(profile.entity_id, &caller.tree).contains(&a.entity_id) {
            return Err(AppError::invalid(
                format!("{at}.entity_id"),
                format!(
                    "profile `{}` belongs to entity {} and can only be assigned there or below",
                    profile.name, profile.entity_id
                ),
            ));
        }
        // A recursive assignment reaches every descendant: the caller must hold the profile's
        // levels, and the right to hand them out, on all of them.
        if !caller.may_grant(&profile.levels, &caller.reach(a.entity_id, a.recursive)) {
            return Err(AppError::forbidden(format!(
                "assigning `{}` at entity {}{} needs administration=manage and at least the profile's levels on every entity it reaches",
                profile.name,
                a.entity_id,
                if a.recursive { " and below" } else { "" }
            )));
        }
        let item = Assignment {
            entity_id: a.entity_id,
            profile_id: a.profile_id,
            recursive: a.recursive,
        };
        if out.contains(&item) {
            return Err(AppError::invalid(at, "repeats an earlier assignment"));
        }
        out.push(item);
    }
    Ok(out)
}

/// Only someone who holds every right of an account may change, reset or delete it: an
/// administrator of a site cannot take over a root administrator whose home is that site.
pub async fn check_dominates(st: &AppState, caller: &Caller, user_id: i64) -> Result<(), AppError> {
    for (a, levels) in st.store.user_grants(user_id).await? {
        if !caller.may_grant(&levels, &caller.reach(a.entity_id, a.recursive)) {
            return Err(AppError::forbidden(
                "this account holds rights you do not hold; only someone who holds them may change it",
            ));
        }
    }
    Ok(())
}

pub async fn update(
    st: &AppState,
    caller: &Caller,
    id: i64,
    req: UpdateUser,
) -> Result<User, AppError> {
    let current = get(st, caller, id, Level::Edit).await?;
    check_dominates(st, caller, id).await?;
    let input = UserInput {
        login: req.login.unwrap_or(current.login.clone()),
        display_name: req.display_name.unwrap_or(current.display_name.clone()),
        email: req.email.unwrap_or(current.email.clone()),
        phone: req.phone.unwrap_or(current.phone.clone()),
        language: req.language.unwrap_or(current.language.clone()),
        time_zone: req.time_zone.unwrap_or(current.time_zone.clone()),
        active: req.active.unwrap_or(current.active),
        entity_id: req.entity_id.unwrap_or(current.entity_id),
        notify_email: req.notify_email.unwrap_or(current.notify_email),
        notify_sms: req.notify_sms.unwrap_or(current.notify_sms),
    };
    let input = validate::user_input(input)?;
    check_time_zone("time_zone", &input.time_zone)?;
    if input.entity_id != current.entity_id {
        check_entity(caller, input.entity_id, "entity_id")?;
    }
    if id == caller.user.id && !input.active {
        return Err(AppError::invalid(
            "active",
            "you cannot disable your own account",
        ));
    }
    st.store
        .update_user(&caller.actor(), id, &input)
        .await
        .map_err(|e| AppError::from_store("user", e))
}

pub async fn delete(st: &AppState, caller: &Caller, id: i64) -> Result<(), AppError> {
    get(st, caller, id, Level::Edit).await?;
    if id == caller.user.id {
        return Err(AppError::conflict("you cannot delete your own account"));
    }
    check_dominates(st, caller, id).await?;
    st.store
        .delete_user(&caller.actor(), id)
        .await
        .map_err(|e| AppError::from_store("user", e))
}

/// Sets a new password (random when `password` is `None`), forces a change at next login and
/// ends the user's sessions. Returns the password when it was generated.
pub async fn reset_password(
    st: &AppState,
    caller: &Caller,
    id: i64,
    password: Option<String>,
) -> Result<Option<String>, AppError> {
    let user = get(st, caller, id, Level::Edit).await?;
    if id == caller.user.id {
        return Err(AppError::conflict(
            "to change your own password use POST /api/v1/me/password (a reset would revoke your own tokens)",
        ));
    }
    check_dominates(st, caller, id).await?;
    let (password, generated) = match password {
        Some(p) => {
            st.config
                .password_policy
                .check(&user.login, &p)
                .map_err(|m| AppError::invalid("password", m))?;
            (p, None)
        }
        None => {
            let p = random_password();
            (p.clone(), Some(p))
        }
    };
    let change = PasswordChange {
        password_hash: auth::hash(&password).await?,
        must_change: true,
        keep_session: None,
        revoke_tokens: true,
    };
    st.store.set_password(&caller.actor(), id, &change).await?;
    Ok(generated)
}

pub async fn set_assignments(
    st: &AppState,
    caller: &Caller,
    id: i64,
    list: &[AssignmentInput],
) -> Result<Vec<Assignment>, AppError> {
    let user = get(st, caller, id, Level::Manage).await?;
    if id == caller.user.id {
        // Nobody can raise their own rights (see check_assignments), and lowering them is
        // how an administrator locks themselves out: another administrator does it.
        return Err(AppError::conflict(
            "you cannot change your own profiles; ask another administrator",
        ));
    }
    check_dominates(st, caller, id).await?;
    let assignments = check_assignments(st, caller, list, "assignments").await?;
    // Assignments the caller cannot see or manage are kept as they are.
    let kept: Vec<Assignment> = st
        .store
        .list_assignments(user.id)
        .await?
        .into_iter()
        .filter(|a| {
            !caller
                .grants
                .allows(Domain::Administration, Level::Manage, a.entity_id)
        })
        .collect();
    let mut all = kept;
    all.extend(assignments);
    all.sort();
    all.dedup();
    st.store
        .set_assignments(&caller.actor(), id, &all)
        .await
        .map_err(|e| AppError::from_store("user", e))?;
    Ok(all)
}

/// The result of a CSV import (or of its dry run).
#[derive(Debug, Serialize, ToSchema)]
pub struct ImportReport {
    pub dry_run: bool,
    /// Rows that would be (or were) created.
    pub created: usize,
    /// One entry per row, in order.
    pub accounts: Vec<ImportedAccount>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ImportedAccount {
    pub login: String,
    pub id: Option<i64>,
    /// False for rows without a password: the account cannot log in until an
    /// administrator sets one.
    pub has_password: bool,
}

/// Columns a CSV import understands; `login` and `display_name` are required.
pub const CSV_COLUMNS: &[&str] = &[
    "login",
    "display_name",
    "email",
    "phone",
    "language",
    "time_zone",
    "active",
    "entity_id",
    "template_id",
    "profile_id",
    "recursive",
    "team_ids",
    "password",
];

/// Creates accounts from CSV (UTF-8, comma-separated, header row). All rows are validated
/// first; any error names its row and column and nothing is written.
pub async fn import_csv(
    st: &AppState,
    caller: &Caller,
    data: &[u8],
    dry_run: bool,
) -> Result<ImportReport, AppError> {
    let text = std::str::from_utf8(data).map_err(|e| {
        let line = data[..e.valid_up_to()]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
            + 1;
        AppError::invalid(
            format!("line {line}"),
            "is not valid UTF-8; save the file as UTF-8",
        )
    })?;
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| AppError::invalid("header", e.to_string()))?
        .clone();
    for h in headers.iter() {
        if !CSV_COLUMNS.contains(&h) {
            return Err(AppError::invalid(
                format!("column {h}"),
                format!("is not a known column; use {}", CSV_COLUMNS.join(", ")),
            ));
        }
    }
    for required in ["login", "display_name"] {
        if !headers.iter().any(|h| h == required) {
            return Err(AppError::invalid(
                format!("column {required}"),
                "is required",
            ));
        }
    }
    let mut prepared = Vec::new();
    let mut accounts = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (i, record) in reader.records().enumerate() {
        let row = i + 1;
        let record = record.map_err(|e| AppError::invalid(format!("row {row}"), e.to_string()))?;
        let get = |name: &str| {
            headers
                .iter()
                .position(|h| h == name)
                .and_then(|p| record.get(p))
                .unwrap_or("")
                .to_owned()
        };
        let int = |name: &str| -> Result<Option<i64>, AppError> {
            let v = get(name);
            if v.is_empty() {
                return Ok(None);
            }
            v.parse()
                .map(Some)
                .map_err(|_| AppError::invalid(format!("row {row}: {name}"), "must be a number"))
        };
        let boolean = |name: &str| -> Result<Option<bool>, AppError> {
            match get(name).to_lowercase().as_str() {
                "" => Ok(None),
                "true" | "yes" | "1" | "oui" => Ok(Some(true)),
                "false" | "no" | "0" | "non" => Ok(Some(false)),
                _ => Err(AppError::invalid(
                    format!("row {row}: {name}"),
                    "must be true or false",
                )),
            }
        };
        let opt = |name: &str| Some(get(name)).filter(|v| !v.is_empty());
        let mut assignments = Vec::new();
        if let Some(profile_id) = int("profile_id")? {
            let entity_id = int("entity_id")?.unwrap_or(ROOT_ENTITY);
            assignments.push(AssignmentInput {
                entity_id,
                profile_id,
                recursive: boolean("recursive")?.unwrap_or(false),
            });
        }
        let team_ids = get("team_ids")
            .split_whitespace()
            .map(|t| {
                t.parse::<i64>().map_err(|_| {
                    AppError::invalid(
                        format!("row {row}: team_ids"),
                        "must be team ids separated by spaces",
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let req = CreateUser {
            login: get("login"),
            display_name: get("display_name"),
            email: get("email"),
            phone: get("phone"),
            language: opt("language"),
            time_zone: opt("time_zone"),
            active: boolean("active")?,
            entity_id: int("entity_id")?,
            password: opt("password"),
            template_id: int("template_id")?,
            assignments,
            team_ids,
            notify_email: None,
            notify_sms: None,
        };
        let login_key = req.login.trim().to_lowercase();
        if !seen.insert(login_key) {
            return Err(AppError::invalid(
                format!("row {row}: login"),
                "appears twice in the file",
            ));
        }
        let hashing = if dry_run {
            Hashing::Skip
        } else {
            Hashing::Hash
        };
        let (new, _) = prepare(
            st,
            caller,
            req,
            &format!("row {row}: "),
            MissingPassword::Leave,
            hashing,
        )
        .await?;
        accounts.push(ImportedAccount {
            login: new.input.login.clone(),
            id: None,
            has_password: new.password_hash.is_some() || dry_run && !get("password").is_empty(),
        });
        prepared.push(new);
    }
    if prepared.is_empty() {
        return Err(AppError::invalid("body", "the file has no rows"));
    }
    if dry_run {
        // A dry run also checks logins already taken.
        for (i, n) in prepared.iter().enumerate() {
            if st.store.find_credentials(&n.input.login).await?.is_some() {
                return Err(AppError::invalid(
                    format!("row {}: login", i + 1),
                    "is already taken",
                ));
            }
        }
        return Ok(ImportReport {
            dry_run,
            created: prepared.len(),
            accounts,
        });
    }
    let users = st
        .store
        .create_users(&caller.actor(), &prepared)
        .await
        .map_err(|e| AppError::from_store("user", e))?;
    for (a, u) in accounts.iter_mut().zip(&users) {
        a.id = Some(u.id);
    }
    Ok(ImportReport {
        dry_run,
        created: users.len(),
        accounts,
    })
}
