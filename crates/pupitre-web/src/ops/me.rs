//! The caller's own account: logging in and out, personal settings, password, API tokens.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use pupitre_core::audit::{Actor, AuditEvent};
use pupitre_core::model::{ApiToken, User, UserInput};
use pupitre_core::validate;
use pupitre_store::{NewToken, PasswordChange};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::auth::{self, AuthKind, Caller, TOKEN_PREFIX, random_hex, sha256_hex};
use crate::error::AppError;
use crate::ops::check_time_zone;
use crate::ops::profiles::parse_levels;
use crate::state::{AppState, now_ms};

pub const LOGIN_FAILED: &str = "session.login_failed";
pub const LOGIN_THROTTLED: &str = "session.login_throttled";

/// Checks a login and password, with throttling per account and per source address.
/// Every outcome is audited; the error never says whether the login exists.
pub async fn check_login(
    st: &AppState,
    login: &str,
    password: &str,
    source: &str,
) -> Result<User, AppError> {
    // What is counted and recorded is bounded: a login is at most 64 characters.
    let key: String = login.trim().to_lowercase().chars().take(64).collect();
    // Attempts on one account run one at a time, so that parallel guesses cannot all read
    // the failure count before any of them is recorded.
    let _turn = st.login_locks.lock(&key).await;
    let now = now_ms();
    let since = now - st.config.login_window.as_millis() as i64;
    let by_account = st
        .store
        .count_recent(LOGIN_FAILED, &key, false, since)
        .await?;
    let by_source = st
        .store
        .count_recent(LOGIN_FAILED, source, true, since)
        .await?;
    let actor = Actor {
        user_id: None,
        login: key.clone(),
        source: source.to_owned(),
        at: now,
    };
    if by_account >= st.config.login_max_per_account || by_source >= st.config.login_max_per_source
    {
        // One record per account and window is enough to show the attack.
        if st
            .store
            .count_recent(LOGIN_THROTTLED, &key, false, since)
            .await?
            == 0
        {
            let ev = AuditEvent {
                action: LOGIN_THROTTLED.into(),
                object_type: "session".into(),
                object_id: None,
                object_label: key,
                entity_id: None,
                changes: vec![],
            };
            st.store.record_event(&actor, &ev).await?;
        }
        return Err(AppError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "throttled",
            format!(
                "too many failed logins; try again in {} minutes",
                st.config.login_window.as_secs() / 60
            ),
        ));
    }
    let creds = st.store.find_credentials(&key).await?;
    // Argon2 runs whatever the account's state, so that timing reveals nothing.
    let hash = creds
        .as_ref()
        .filter(|c| c.user.active)
        .and_then(|c| c.password_hash.clone());
    let ok = auth::verify(hash, password).await;
    match creds {
        Some(c) if ok => {
            let actor = Actor {
                user_id: Some(c.user.id),
                login: c.user.login.clone(),
                ..actor
            };
            let ev = AuditEvent {
                action: "session.login".into(),
                object_type: "user".into(),
                object_id: Some(c.user.id),
                object_label: key,
                entity_id: Some(c.user.entity_id),
                changes: vec![],
            };
            st.store.record_login(&actor, c.user.id, &ev).await?;
            Ok(c.user)
        }
        _ => {
            let ev = AuditEvent {
                action: LOGIN_FAILED.into(),
                object_type: "session".into(),
                object_id: None,
                object_label: key,
                entity_id: None,
                changes: vec![],
            };
            st.store.record_event(&actor, &ev).await?;
            Err(AppError::new(
                StatusCode::UNAUTHORIZED,
                "login_failed",
                "wrong login or password",
            ))
        }
    }
}

pub async fn logout(st: &AppState, caller: &Caller) -> Result<(), AppError> {
    let ev = own_event(caller, "session.logout");
    match &caller.auth {
        AuthKind::Session { token_hash, .. } => {
            st.store
                .end_sessions(&caller.actor(), caller.user.id, Some(token_hash), &ev)
                .await?;
        }
        _ => st.store.record_event(&caller.actor(), &ev).await?,
    }
    Ok(())
}

/// Ends every session of the caller, including the current one.
pub async fn logout_everywhere(st: &AppState, caller: &Caller) -> Result<u64, AppError> {
    let ev = own_event(caller, "session.logout_everywhere");
    Ok(st
        .store
        .end_sessions(&caller.actor(), caller.user.id, None, &ev)
        .await?)
}

fn own_event(caller: &Caller, action: &str) -> AuditEvent {
    AuditEvent {
        action: action.into(),
        object_type: "user".into(),
        object_id: Some(caller.user.id),
        object_label: caller.user.login.clone(),
        entity_id: Some(caller.user.entity_id),
        changes: vec![],
    }
}

/// What a person may change about themselves.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMe {
    pub display_name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    #[schema(pattern = "^(en|fr)$")]
    pub language: Option<String>,
    pub time_zone: Option<String>,
    pub notify_email: Option<bool>,
    pub notify_sms: Option<bool>,
}

pub async fn update(st: &AppState, caller: &Caller, req: UpdateMe) -> Result<User, AppError> {
    let u = &caller.user;
    let input = validate::user_input(UserInput {
        display_name: req.display_name.unwrap_or(u.display_name.clone()),
        email: req.email.unwrap_or(u.email.clone()),
        phone: req.phone.unwrap_or(u.phone.clone()),
        language: req.language.unwrap_or(u.language.clone()),
        time_zone: req.time_zone.unwrap_or(u.time_zone.clone()),
        notify_email: req.notify_email.unwrap_or(u.notify_email),
        notify_sms: req.notify_sms.unwrap_or(u.notify_sms),
        ..UserInput::from_user(u)
    })?;
    check_time_zone("time_zone", &input.time_zone)?;
    Ok(st.store.update_user(&caller.actor(), u.id, &input).await?)
}

#[derive(Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePassword {
    pub current_password: String,
    pub new_password: String,
}

impl std::fmt::Debug for ChangePassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ChangePassword(<redacted>)")
    }
}

/// Changes the caller's password after checking the current one; other sessions end.
pub async fn change_password(
    st: &AppState,
    caller: &Caller,
    req: ChangePassword,
) -> Result<(), AppError> {
    let creds = st
        .store
        .find_credentials(&caller.user.login)
        .await?
        .ok_or_else(AppError::unauthenticated)?;
    if !auth::verify(creds.password_hash, &req.current_password).await {
        return Err(AppError::invalid("current_password", "is wrong"));
    }
    if req.new_password == req.current_password {
        return Err(AppError::invalid(
            "new_password",
            "must differ from the current password",
        ));
    }
    st.config
        .password_policy
        .check(&caller.user.login, &req.new_password)
        .map_err(|m| AppError::invalid("new_password", m))?;
    // Other browsers lose their session; this one stays logged in.
    let keep_session = match &caller.auth {
        AuthKind::Session { token_hash, .. } => Some(token_hash.clone()),
        _ => None,
    };
    let change = PasswordChange {
        password_hash: auth::hash(&req.new_password).await?,
        must_change: false,
        keep_session,
        revoke_tokens: false,
    };
    st.store
        .set_password(&caller.actor(), caller.user.id, &change)
        .await?;
    Ok(())
}

#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    /// Days until the token expires (1–366).
    #[schema(minimum = 1, maximum = 366)]
    pub expires_in_days: i64,
    /// Domain → level caps; absent means the caller's current levels. A token never
    /// exceeds its owner's rights at the time it is used.
    pub levels: Option<BTreeMap<String, String>>,
}

/// Creates an API token; returns it with its secret, which is shown only this once.
pub async fn create_token(
    st: &AppState,
    caller: &Caller,
    req: CreateToken,
) -> Result<(ApiToken, String), AppError> {
    let name = validate::text("name", &req.name, 1, 100)?;
    if !(1..=366).contains(&req.expires_in_days) {
        return Err(AppError::invalid(
            "expires_in_days",
            "must be between 1 and 366",
        ));
    }
    let best = caller.grants.best();
    let levels = match &req.levels {
        Some(map) => parse_levels(map)?,
        None => best,
    };
    if !levels.within(&best) {
        return Err(AppError::invalid(
            "levels",
            "a token cannot hold more than your own profile",
        ));
    }
    // A token never outlives the token that created it.
    let mut expires_at = now_ms() + req.expires_in_days * 86_400_000;
    if let AuthKind::Token {
        expires_at: parent, ..
    } = caller.auth
    {
        expires_at = expires_at.min(parent);
    }
    let secret = format!("{TOKEN_PREFIX}{}", random_hex(24));
    let token = NewToken {
        user_id: caller.user.id,
        name,
        prefix: secret[..12].to_owned(),
        token_hash: sha256_hex(&secret),
        levels,
        expires_at,
    };
    let t = st.store.create_token(&caller.actor(), &token).await?;
    Ok((t, secret))
}

pub async fn revoke_token(st: &AppState, caller: &Caller, id: i64) -> Result<(), AppError> {
    st.store
        .revoke_token(&caller.actor(), caller.user.id, id)
        .await
        .map_err(|e| AppError::from_store("token", e))
}
