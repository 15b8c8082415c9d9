//! The stored credentials the engine's SNMP and database checks log in with, opened with the
//! server's key and kept in memory (never logged: [`Secret`] hides itself from `Debug`).
//!
//! They are read again at most every [`REFRESH_EVERY`], and at once after
//! [`Credentials::changed`] (a credential saved through this server).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use pupitre_core::credential::{
    AuthProtocol, CommunityVersion, CredentialParams, PrivProtocol, SecurityLevel,
};
use pupitre_probe::secret::Secret;
use pupitre_probe::snmp::{self, SnmpVersion, V3User};
use pupitre_store::Store;
use pupitre_store::credentials::open_secrets;
use pupitre_store::vault::Vault;
use tokio::sync::RwLock;

/// How long credentials read from the database are trusted.
pub const REFRESH_EVERY: Duration = Duration::from_secs(30);

/// An opened credential, ready for a probe.
#[derive(Clone, Debug)]
pub enum Opened {
    Snmp(SnmpVersion),
    Password { user: String, password: Secret },
}

struct Loaded {
    at: Instant,
    /// By name: the credential, or why it cannot be used.
    by_name: HashMap<String, Result<Opened, String>>,
}

pub struct Credentials {
    store: Arc<dyn Store>,
    vault: Option<Arc<Vault>>,
    loaded: RwLock<Option<Loaded>>,
    stale: AtomicBool,
}

impl Credentials {
    pub fn new(store: Arc<dyn Store>, vault: Option<Arc<Vault>>) -> Credentials {
        Credentials {
            store,
            vault,
            loaded: RwLock::new(None),
            stale: AtomicBool::new(true),
        }
    }

    /// A credential was created, changed or deleted: read them again before the next use.
    pub fn changed(&self) {
        self.stale.store(true, Ordering::Relaxed);
    }

    /// The credential called `name`, or a message saying why a check cannot use it.
    pub async fn get(&self, name: &str) -> Result<Opened, String> {
        {
            let loaded = self.loaded.read().await;
            if let Some(loaded) = loaded.as_ref()
                && !self.stale.load(Ordering::Relaxed)
                && loaded.at.elapsed() < REFRESH_EVERY
            {
                return lookup(loaded, name);
            }
        }
        let mut loaded = self.loaded.write().await;
        // Another run may have refreshed while this one waited.
        let fresh = loaded
            .as_ref()
            .is_some_and(|l| !self.stale.load(Ordering::Relaxed) && l.at.elapsed() < REFRESH_EVERY);
        if !fresh {
            self.stale.store(false, Ordering::Relaxed);
            match self.load().await {
                Ok(by_name) => {
                    *loaded = Some(Loaded {
                        at: Instant::now(),
                        by_name,
                    });
                }
                Err(e) => {
                    self.stale.store(true, Ordering::Relaxed);
                    if loaded.is_none() {
                        return Err(format!("the stored credentials cannot be read: {e}"));
                    }
                    tracing::warn!(error = %e, "supervision: reading the credentials failed; using the last ones read");
                }
            }
        }
        match loaded.as_ref() {
            Some(loaded) => lookup(loaded, name),
            None => Err("the stored credentials cannot be read".to_owned()),
        }
    }

    async fn load(&self) -> Result<HashMap<String, Result<Opened, String>>, String> {
        let stored = self
            .store
            .all_credentials()
            .await
            .map_err(|e| e.to_string())?;
        Ok(stored
            .into_iter()
            .map(|sealed| {
                let name = sealed.credential.name.clone();
                let opened = match &self.vault {
                    None => Err(format!(
                        "credential {name} cannot be opened: this server has no credentials key"
                    )),
                    Some(vault) => open_secrets(vault, &sealed)
                        .map_err(|e| format!("credential {name} cannot be opened: {e}"))
                        .and_then(|secrets| {
                            opened(&sealed.credential.params, secrets)
                                .ok_or_else(|| format!("credential {name} lacks a secret"))
                        }),
                };
                (name, opened)
            })
            .collect())
    }
}

fn lookup(loaded: &Loaded, name: &str) -> Result<Opened, String> {
    loaded
        .by_name
        .get(name)
        .cloned()
        .unwrap_or_else(|| Err(format!("credential {name} does not exist")))
}

fn opened(params: &CredentialParams, s: pupitre_core::credential::Secrets) -> Option<Opened> {
    Some(match params {
        CredentialParams::SnmpCommunity { version } => {
            let community = Secret::new(s.community?);
            Opened::Snmp(match version {
                CommunityVersion::V1 => SnmpVersion::V1 { community },
                CommunityVersion::V2c => SnmpVersion::V2c { community },
            })
        }
        CredentialParams::SnmpV3 {
            user,
            level,
            auth_protocol,
            priv_protocol,
        } => {
            let auth_protocol = match auth_protocol {
                AuthProtocol::Md5 => snmp::AuthProtocol::Md5,
                AuthProtocol::Sha1 => snmp::AuthProtocol::Sha1,
                AuthProtocol::Sha224 => snmp::AuthProtocol::Sha224,
                AuthProtocol::Sha256 => snmp::AuthProtocol::Sha256,
                AuthProtocol::Sha384 => snmp::AuthProtocol::Sha384,
                AuthProtocol::Sha512 => snmp::AuthProtocol::Sha512,
            };
            let priv_protocol = match priv_protocol {
                PrivProtocol::Des => snmp::PrivProtocol::Des,
                PrivProtocol::Aes128 => snmp::PrivProtocol::Aes128,
                PrivProtocol::Aes192 => snmp::PrivProtocol::Aes192,
                PrivProtocol::Aes256 => snmp::PrivProtocol::Aes256,
            };
            Opened::Snmp(SnmpVersion::V3(match level {
                SecurityLevel::NoAuthNoPriv => V3User::no_auth_no_priv(user.clone()),
                SecurityLevel::AuthNoPriv => {
                    V3User::auth_no_priv(user.clone(), auth_protocol, Secret::new(s.auth_password?))
                }
                SecurityLevel::AuthPriv => V3User::auth_priv(
                    user.clone(),
                    auth_protocol,
                    Secret::new(s.auth_password?),
                    priv_protocol,
                    Secret::new(s.priv_password?),
                ),
            }))
        }
        CredentialParams::Password { user } => Opened::Password {
            user: user.clone(),
            password: Secret::new(s.password?),
        },
    })
}
