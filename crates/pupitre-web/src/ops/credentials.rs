//! Stored credentials: SNMP communities, SNMPv3 users and passwords that checks name.
//!
//! Write-only: secrets go in sealed with the server's key and never come out — not through
//! the API, the pages, the audit log or the logs. An update that leaves a secret out keeps it.
//! Reading needs monitoring=read on the credential's entity; writing needs monitoring=edit.

use pupitre_core::credential::{
    CredentialDraft, CredentialId, CredentialInput, CredentialKind, CredentialParams, Secrets,
    check_credential,
};
use pupitre_core::monitoring::definition::ProbeSpec;
use pupitre_core::permission::{Domain, EntityId, Level, subtree};
use pupitre_store::credentials::{CredentialWrite, open_secrets, seal_secrets};
use pupitre_store::vault::Vault;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::error::AppError;
use crate::state::AppState;

pub use pupitre_core::credential::Credential;

/// A credential as written. Secrets left out of an update keep their current value.
#[derive(Clone, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CredentialFields {
    /// What checks name (`probe.credential`): no spaces.
    pub name: String,
    /// Defaults to the caller's entity.
    #[serde(default)]
    pub entity_id: Option<i64>,
    #[serde(default)]
    pub description: String,
    /// `snmp_community`, `snmp_v3` or `password`.
    pub kind: String,
    /// SNMP community version: `1` or `2c` (default).
    #[serde(default)]
    pub version: String,
    /// The SNMPv3 user, or the user a password goes with (a database check's own user wins).
    #[serde(default)]
    pub user: String,
    /// SNMPv3: `noAuthNoPriv`, `authNoPriv` or `authPriv`.
    #[serde(default)]
    pub level: String,
    /// SNMPv3: `md5`, `sha1`, `sha224`, `sha256` (default), `sha384`, `sha512`.
    #[serde(default)]
    pub auth_protocol: String,
    /// SNMPv3: `des`, `aes128` (default), `aes192`, `aes256`.
    #[serde(default)]
    pub priv_protocol: String,
    #[serde(default)]
    pub community: Option<String>,
    #[serde(default)]
    pub auth_password: Option<String>,
    #[serde(default)]
    pub priv_password: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
}

impl std::fmt::Debug for CredentialFields {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialFields")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

fn vault(st: &AppState) -> Result<&Vault, AppError> {
    st.vault.as_deref().ok_or_else(|| {
        AppError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "no_credentials_key",
            "this server has no credentials key, so it cannot store secrets (see \
             `credentials_key_file` in the README)",
        )
    })
}

fn internal(e: impl std::fmt::Display) -> AppError {
    tracing::error!(error = %e, "credentials: sealing failed");
    AppError::internal()
}

pub async fn list(st: &AppState, caller: &Caller) -> Result<Vec<Credential>, AppError> {
    let visible = caller.visible(Domain::Monitoring);
    Ok(st.store.list_credentials(&visible).await?)
}

pub async fn get(
    st: &AppState,
    caller: &Caller,
    id: CredentialId,
    level: Level,
) -> Result<Credential, AppError> {
    let sealed = st
        .store
        .get_credential(id)
        .await
        .map_err(|e| AppError::from_store("credential", e))?;
    caller.check(
        Domain::Monitoring,
        level,
        sealed.credential.entity_id,
        "credential",
    )?;
    Ok(sealed.credential)
}

/// The draft of `f`; `entity_id` when it names no entity.
fn draft(f: CredentialFields, entity_id: i64) -> CredentialDraft {
    CredentialDraft {
        name: f.name,
        entity_id: f.entity_id.unwrap_or(entity_id),
        description: f.description,
        kind: f.kind,
        version: f.version,
        user: f.user,
        level: f.level,
        auth_protocol: f.auth_protocol,
        priv_protocol: f.priv_protocol,
        secrets: Secrets {
            community: f.community,
            auth_password: f.auth_password,
            priv_password: f.priv_password,
            password: f.password,
        },
    }
}

pub async fn create(
    st: &AppState,
    caller: &Caller,
    f: CredentialFields,
) -> Result<Credential, AppError> {
    let vault = vault(st)?;
    let input = check_credential(draft(f, caller.user.entity_id), None)
        .map_err(AppError::from_field_errors)?;
    caller.target_entity(
        Domain::Monitoring,
        Level::Edit,
        input.entity_id,
        "entity_id",
    )?;
    let kind = input.params.kind();
    let (secret, priv_secret) = seal_secrets(vault, kind, &input.secrets).map_err(internal)?;
    let created = st
        .store
        .create_credential(&caller.actor(), &written(input, (secret, priv_secret)))
        .await
        .map_err(|e| AppError::from_store("credential", e))?;
    changed(st);
    Ok(created)
}

pub async fn update(
    st: &AppState,
    caller: &Caller,
    id: CredentialId,
    f: CredentialFields,
) -> Result<Credential, AppError> {
    let vault = vault(st)?;
    let current = st
        .store
        .get_credential(id)
        .await
        .map_err(|e| AppError::from_store("credential", e))?;
    caller.check(
        Domain::Monitoring,
        Level::Edit,
        current.credential.entity_id,
        "credential",
    )?;
    let gives_secrets = f.community.is_some()
        || f.auth_password.is_some()
        || f.priv_password.is_some()
        || f.password.is_some();
    // The current secrets are opened only to keep those the update leaves out.
    let kept = match open_secrets(vault, &current) {
        Ok(secrets) => secrets,
        Err(e) if gives_secrets => {
            tracing::warn!(credential = %current.credential.name, error = %e, "credentials: the current secrets do not open; the update must give them all");
            Secrets::default()
        }
        Err(e) => {
            return Err(AppError::invalid(
                "kind",
                format!("the stored secrets cannot be opened ({e}); give them again"),
            ));
        }
    };
    let draft = draft(f, current.credential.entity_id);
    let input = check_credential(draft, Some((&current.credential.params, &kept)))
        .map_err(AppError::from_field_errors)?;
    if input.entity_id != current.credential.entity_id {
        caller.target_entity(
            Domain::Monitoring,
            Level::Edit,
            input.entity_id,
            "entity_id",
        )?;
    }
    let kind = input.params.kind();
    let unchanged = kind == current.credential.params.kind() && input.secrets == kept;
    let (secret, priv_secret) = if unchanged {
        (current.secret.clone(), current.priv_secret.clone())
    } else {
        seal_secrets(vault, kind, &input.secrets).map_err(internal)?
    };
    let updated = st
        .store
        .update_credential(&caller.actor(), id, &written(input, (secret, priv_secret)))
        .await
        .map_err(|e| AppError::from_store("credential", e))?;
    changed(st);
    Ok(updated)
}

pub async fn delete(st: &AppState, caller: &Caller, id: CredentialId) -> Result<(), AppError> {
    get(st, caller, id, Level::Edit).await?;
    st.store
        .delete_credential(&caller.actor(), id)
        .await
        .map_err(|e| AppError::from_store("credential", e))?;
    changed(st);
    Ok(())
}

/// What the store writes: the validated input with its secrets sealed.
fn written(
    input: CredentialInput,
    (secret, priv_secret): (Option<String>, Option<String>),
) -> CredentialWrite {
    CredentialWrite {
        name: input.name,
        entity_id: input.entity_id,
        description: input.description,
        params: input.params,
        secret,
        priv_secret,
    }
}

fn changed(st: &AppState) {
    if let Some(engine) = &st.engine {
        engine.credentials_changed();
    }
}

/// A probe that names a credential must name one that the caller may see, that serves the
/// check's entity (a credential serves its entity and those below: a team cannot point another
/// team's community at a host of its own), and that suits the probe (SNMP or password).
/// `field` is where the error points (`probe.credential`, `checks[2].probe.credential`).
pub(crate) async fn check_reference(
    st: &AppState,
    caller: &Caller,
    probe: &ProbeSpec,
    entity_id: EntityId,
    field: &str,
) -> Result<(), AppError> {
    let Some(name) = probe.credential() else {
        return Ok(());
    };
    let credential = st.store.credential_by_name(name).await?.filter(|c| {
        caller
            .check(Domain::Monitoring, Level::Read, c.entity_id, "credential")
            .is_ok()
    });
    let Some(credential) = credential else {
        return Err(AppError::invalid(
            field,
            format!("credential {name} does not exist"),
        ));
    };
    if !subtree(credential.entity_id, &caller.tree).contains(&entity_id) {
        return Err(AppError::invalid(
            field,
            format!(
                "credential {name} serves entity {} and those below it, not entity {entity_id}",
                credential.entity_id
            ),
        ));
    }
    let kind = credential.params.kind();
    let suits = match probe {
        ProbeSpec::Snmp { .. } => kind.is_snmp(),
        _ => kind == CredentialKind::Password,
    };
    if suits {
        Ok(())
    } else {
        Err(AppError::invalid(
            field,
            format!(
                "credential {name} is {}, which a {} check cannot use",
                kind.key(),
                probe.kind()
            ),
        ))
    }
}

/// What the API and pages show of a credential: never a secret.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct CredentialView {
    pub id: i64,
    pub name: String,
    pub entity_id: i64,
    pub description: String,
    pub kind: String,
    /// SNMP community version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub level: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_protocol: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priv_protocol: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&Credential> for CredentialView {
    fn from(c: &Credential) -> CredentialView {
        let mut view = CredentialView {
            id: c.id,
            name: c.name.clone(),
            entity_id: c.entity_id,
            description: c.description.clone(),
            kind: c.params.kind().key().to_owned(),
            version: None,
            user: None,
            level: None,
            auth_protocol: None,
            priv_protocol: None,
            created_at: pupitre_core::audit::instant(c.created_at),
            updated_at: pupitre_core::audit::instant(c.updated_at),
        };
        match &c.params {
            CredentialParams::SnmpCommunity { version } => {
                view.version = Some(version.key().to_owned());
            }
            CredentialParams::SnmpV3 {
                user,
                level,
                auth_protocol,
                priv_protocol,
            } => {
                view.user = Some(user.clone());
                view.level = Some(level.key().to_owned());
                view.auth_protocol = Some(auth_protocol.key().to_owned());
                view.priv_protocol = Some(priv_protocol.key().to_owned());
            }
            CredentialParams::Password { user } => view.user = Some(user.clone()),
        }
        view
    }
}
