//! Credentials' storage interface. The store keeps secrets sealed (see [`crate::vault`]): it
//! is given sealed values and gives them back; [`seal_secrets`] and [`open_secrets`] turn
//! them into [`Secrets`] and back for whoever holds the key.

use async_trait::async_trait;
use pupitre_core::audit::Actor;
use pupitre_core::credential::{
    AuthProtocol, CommunityVersion, Credential, CredentialId, CredentialKind, CredentialParams,
    PrivProtocol, Secrets, SecurityLevel,
};
use pupitre_core::permission::EntityId;
use serde::{Deserialize, Serialize};

use crate::vault::{Vault, VaultError};
use crate::{Result, StoreError, stored};

/// A credential with its sealed secrets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealedCredential {
    pub credential: Credential,
    /// Sealed: the community, authentication password or password.
    pub secret: Option<String>,
    /// Sealed: the SNMPv3 privacy password.
    pub priv_secret: Option<String>,
}

/// A credential to create, or what an existing one becomes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CredentialWrite {
    pub name: String,
    pub entity_id: EntityId,
    pub description: String,
    pub params: CredentialParams,
    pub secret: Option<String>,
    pub priv_secret: Option<String>,
}

/// What uses a credential: checks (by asset and name) and templates (by name).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CredentialUsers {
    pub checks: Vec<String>,
    pub templates: Vec<String>,
}

impl CredentialUsers {
    pub fn is_empty(&self) -> bool {
        self.checks.is_empty() && self.templates.is_empty()
    }

    /// "used by 2 checks (web1/snmp, web2/snmp) and template switches"
    pub fn describe(&self) -> String {
        let list = |names: &[String]| {
            let mut shown: Vec<_> = names.iter().take(5).cloned().collect();
            if names.len() > 5 {
                shown.push(format!("{} more", names.len() - 5));
            }
            shown.join(", ")
        };
        let mut parts = Vec::new();
        if !self.checks.is_empty() {
            parts.push(format!(
                "{} check{} ({})",
                self.checks.len(),
                if self.checks.len() == 1 { "" } else { "s" },
                list(&self.checks)
            ));
        }
        if !self.templates.is_empty() {
            parts.push(format!(
                "template{} {}",
                if self.templates.len() == 1 { "" } else { "s" },
                list(&self.templates)
            ));
        }
        format!("used by {}", parts.join(" and "))
    }
}

#[async_trait]
pub trait CredentialStore: Send + Sync {
    /// Fails with a conflict on `name` when the name is taken.
    async fn create_credential(&self, actor: &Actor, c: &CredentialWrite) -> Result<Credential>;
    /// Renaming a credential, or changing an SNMP one into a password or back, is refused
    /// while checks or templates use it (they name it).
    async fn update_credential(
        &self,
        actor: &Actor,
        id: CredentialId,
        c: &CredentialWrite,
    ) -> Result<Credential>;
    /// Refused while checks or templates use it.
    async fn delete_credential(&self, actor: &Actor, id: CredentialId) -> Result<()>;
    async fn get_credential(&self, id: CredentialId) -> Result<SealedCredential>;
    async fn credential_by_name(&self, name: &str) -> Result<Option<Credential>>;
    /// The credentials of these entities, by name.
    async fn list_credentials(&self, visible: &[EntityId]) -> Result<Vec<Credential>>;
    /// Every credential with its sealed secrets, for the engine.
    async fn all_credentials(&self) -> Result<Vec<SealedCredential>>;
    async fn credential_users(&self, name: &str) -> Result<CredentialUsers>;
}

/// The context a secret is sealed for: its kind and its slot.
fn context(kind: CredentialKind, slot: &str) -> String {
    format!("credential:{}:{slot}", kind.key())
}

/// Seals the secrets of a credential of `kind`: (secret, priv_secret).
pub fn seal_secrets(
    vault: &Vault,
    kind: CredentialKind,
    secrets: &Secrets,
) -> Result<(Option<String>, Option<String>), VaultError> {
    let (main, privacy) = secrets.slots(kind);
    let main = main
        .map(|s| vault.seal(&context(kind, "main"), s))
        .transpose()?;
    let privacy = privacy
        .map(|s| vault.seal(&context(kind, "priv"), s))
        .transpose()?;
    Ok((main, privacy))
}

/// Opens what [`seal_secrets`] sealed.
pub fn open_secrets(vault: &Vault, c: &SealedCredential) -> Result<Secrets, VaultError> {
    let kind = c.credential.params.kind();
    let main = c
        .secret
        .as_deref()
        .map(|s| vault.open(&context(kind, "main"), s))
        .transpose()?;
    let privacy = c
        .priv_secret
        .as_deref()
        .map(|s| vault.open(&context(kind, "priv"), s))
        .transpose()?;
    Ok(Secrets::from_slots(kind, main, privacy))
}

/// The public parameters as stored (JSON): nothing secret.
#[derive(Serialize, Deserialize, Default)]
struct StoredParams {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    version: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    user: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    level: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    auth_protocol: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    priv_protocol: String,
}

pub(crate) fn encode_params(params: &CredentialParams) -> String {
    let stored = match params {
        CredentialParams::SnmpCommunity { version } => StoredParams {
            version: version.key().to_owned(),
            ..StoredParams::default()
        },
        CredentialParams::SnmpV3 {
            user,
            level,
            auth_protocol,
            priv_protocol,
        } => StoredParams {
            user: user.clone(),
            level: level.key().to_owned(),
            auth_protocol: auth_protocol.key().to_owned(),
            priv_protocol: priv_protocol.key().to_owned(),
            ..StoredParams::default()
        },
        CredentialParams::Password { user } => StoredParams {
            user: user.clone(),
            ..StoredParams::default()
        },
    };
    serde_json::to_string(&stored).unwrap_or_default()
}

pub(crate) fn decode_params(kind: &str, text: &str) -> Result<CredentialParams> {
    let kind = stored("credential kind", kind, CredentialKind::from_key(kind))?;
    let p: StoredParams = serde_json::from_str(text)
        .map_err(|e| StoreError::Rejected(format!("stored credential parameters: {e}")))?;
    Ok(match kind {
        CredentialKind::SnmpCommunity => CredentialParams::SnmpCommunity {
            version: stored(
                "SNMP version",
                &p.version,
                CommunityVersion::from_key(&p.version),
            )?,
        },
        CredentialKind::SnmpV3 => CredentialParams::SnmpV3 {
            level: stored("SNMPv3 level", &p.level, SecurityLevel::from_key(&p.level))?,
            auth_protocol: stored(
                "SNMPv3 authentication protocol",
                &p.auth_protocol,
                AuthProtocol::from_key(&p.auth_protocol),
            )?,
            priv_protocol: stored(
                "SNMPv3 privacy protocol",
                &p.priv_protocol,
                PrivProtocol::from_key(&p.priv_protocol),
            )?,
            user: p.user,
        },
        CredentialKind::Password => CredentialParams::Password { user: p.user },
    })
}
