//! Stored credentials: what SNMP and database checks authenticate with.
//!
//! A credential has a public half — its name, kind, SNMP version or SNMPv3 user, level and
//! protocols — that the API and pages show, and a secret half ([`Secrets`]: a community or
//! passwords) that is sealed before it is stored and never shown again. Checks name the
//! credential they use; the engine opens it when it runs them.

use std::fmt;

use crate::permission::EntityId;
use crate::validate::{FieldError, text};

pub type CredentialId = i64;

/// The shortest SNMPv3 password net-snmp accepts (RFC 3414 asks for at least 8 characters).
pub const SHORTEST_V3_PASSWORD: usize = 8;

/// The longest secret accepted: communities and passwords are short in practice.
pub const LONGEST_SECRET: usize = 1024;

/// What a credential is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CredentialKind {
    /// An SNMP v1 or v2c community.
    SnmpCommunity,
    /// An SNMPv3 user (USM).
    SnmpV3,
    /// A password, with an optional user name (databases).
    Password,
}

impl CredentialKind {
    pub const ALL: [CredentialKind; 3] = [
        CredentialKind::SnmpCommunity,
        CredentialKind::SnmpV3,
        CredentialKind::Password,
    ];

    pub fn key(self) -> &'static str {
        match self {
            CredentialKind::SnmpCommunity => "snmp_community",
            CredentialKind::SnmpV3 => "snmp_v3",
            CredentialKind::Password => "password",
        }
    }

    pub fn from_key(key: &str) -> Option<CredentialKind> {
        CredentialKind::ALL.into_iter().find(|k| k.key() == key)
    }

    /// Whether an SNMP check can use it.
    pub fn is_snmp(self) -> bool {
        matches!(self, CredentialKind::SnmpCommunity | CredentialKind::SnmpV3)
    }
}

/// Declares a small enum with stable keys, `key`, `from_key` and `ALL`.
macro_rules! keyed {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $key:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn key(self) -> &'static str {
                match self { $($name::$variant => $key),+ }
            }

            pub fn from_key(key: &str) -> Option<$name> {
                $name::ALL.iter().copied().find(|v| v.key() == key)
            }

            fn keys() -> String {
                $name::ALL.iter().map(|v| v.key()).collect::<Vec<_>>().join(", ")
            }
        }
    };
}

keyed!(
    /// The SNMP version a community is for.
    CommunityVersion { V1 => "1", V2c => "2c" }
);
keyed!(
    /// The SNMPv3 security level, named as net-snmp's `-l` names it.
    SecurityLevel { NoAuthNoPriv => "noAuthNoPriv", AuthNoPriv => "authNoPriv", AuthPriv => "authPriv" }
);
keyed!(
    /// The SNMPv3 authentication protocol.
    AuthProtocol { Md5 => "md5", Sha1 => "sha1", Sha224 => "sha224", Sha256 => "sha256", Sha384 => "sha384", Sha512 => "sha512" }
);
keyed!(
    /// The SNMPv3 privacy protocol.
    PrivProtocol { Des => "des", Aes128 => "aes128", Aes192 => "aes192", Aes256 => "aes256" }
);

/// The public half of a credential.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CredentialParams {
    SnmpCommunity {
        version: CommunityVersion,
    },
    SnmpV3 {
        user: String,
        level: SecurityLevel,
        auth_protocol: AuthProtocol,
        priv_protocol: PrivProtocol,
    },
    /// `user` may be empty: the check names its own.
    Password {
        user: String,
    },
}

impl CredentialParams {
    pub fn kind(&self) -> CredentialKind {
        match self {
            CredentialParams::SnmpCommunity { .. } => CredentialKind::SnmpCommunity,
            CredentialParams::SnmpV3 { .. } => CredentialKind::SnmpV3,
            CredentialParams::Password { .. } => CredentialKind::Password,
        }
    }
}

/// The secret half of a credential. Which fields are set depends on the kind: `community` for
/// an SNMP community; `auth_password` (and `priv_password` at `authPriv`) for an SNMPv3 user
/// that authenticates; `password` for a password. Never shown by `Debug`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secrets {
    pub community: Option<String>,
    pub auth_password: Option<String>,
    pub priv_password: Option<String>,
    pub password: Option<String>,
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let set = |s: &Option<String>| if s.is_some() { "[set]" } else { "[unset]" };
        f.debug_struct("Secrets")
            .field("community", &set(&self.community))
            .field("auth_password", &set(&self.auth_password))
            .field("priv_password", &set(&self.priv_password))
            .field("password", &set(&self.password))
            .finish()
    }
}

impl Secrets {
    /// The two values stored for a credential of `kind`: the main secret (community,
    /// authentication password or password) and the SNMPv3 privacy password.
    pub fn slots(&self, kind: CredentialKind) -> (Option<&str>, Option<&str>) {
        let main = match kind {
            CredentialKind::SnmpCommunity => &self.community,
            CredentialKind::SnmpV3 => &self.auth_password,
            CredentialKind::Password => &self.password,
        };
        (main.as_deref(), self.priv_password.as_deref())
    }

    /// The inverse of [`Secrets::slots`].
    pub fn from_slots(
        kind: CredentialKind,
        main: Option<String>,
        privacy: Option<String>,
    ) -> Secrets {
        let mut secrets = Secrets::default();
        match kind {
            CredentialKind::SnmpCommunity => secrets.community = main,
            CredentialKind::SnmpV3 => {
                secrets.auth_password = main;
                secrets.priv_password = privacy;
            }
            CredentialKind::Password => secrets.password = main,
        }
        secrets
    }
}

/// A stored credential, without its secrets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credential {
    pub id: CredentialId,
    pub name: String,
    pub entity_id: EntityId,
    pub description: String,
    pub params: CredentialParams,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A validated credential to create or update. Build one with [`check_credential`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CredentialInput {
    pub name: String,
    pub entity_id: EntityId,
    pub description: String,
    pub params: CredentialParams,
    pub secrets: Secrets,
}

/// A credential as a user wrote it: every field as text, secrets `None` when not given.
#[derive(Clone, Debug, Default)]
pub struct CredentialDraft {
    pub name: String,
    pub entity_id: EntityId,
    pub description: String,
    pub kind: String,
    /// SNMP community version: `1` or `2c` (default `2c`).
    pub version: String,
    /// SNMPv3 user, or the password's user.
    pub user: String,
    pub level: String,
    pub auth_protocol: String,
    pub priv_protocol: String,
    pub secrets: Secrets,
}

/// Validates a draft. `current` is the credential being updated, if any: a secret the draft
/// leaves out keeps its current value when the kind is unchanged. Every field error is
/// returned at once.
pub fn check_credential(
    draft: CredentialDraft,
    current: Option<(&CredentialParams, &Secrets)>,
) -> Result<CredentialInput, Vec<FieldError>> {
    let mut errors = Vec::new();
    let name = text("name", &draft.name, 1, 100).unwrap_or_else(|e| {
        errors.push(e);
        String::new()
    });
    if name.contains(char::is_whitespace) {
        errors.push(FieldError::new("name", "must not contain spaces"));
    }
    let description = text("description", &draft.description, 0, 500).unwrap_or_else(|e| {
        errors.push(e);
        String::new()
    });
    let Some(kind) = CredentialKind::from_key(draft.kind.trim()) else {
        let keys: Vec<_> = CredentialKind::ALL.iter().map(|k| k.key()).collect();
        errors.push(FieldError::new(
            "kind",
            format!("must be one of {}", keys.join(", ")),
        ));
        return Err(errors);
    };
    let kept = current
        .filter(|(params, _)| params.kind() == kind)
        .map(|(_, secrets)| secrets);
    let given = &draft.secrets;
    let mut secrets = Secrets::default();
    let params = match kind {
        CredentialKind::SnmpCommunity => {
            let version = match draft.version.trim() {
                "" => CommunityVersion::V2c,
                v => CommunityVersion::from_key(v).unwrap_or_else(|| {
                    errors.push(FieldError::new(
                        "version",
                        format!("must be one of {}", CommunityVersion::keys()),
                    ));
                    CommunityVersion::V2c
                }),
            };
            secrets.community = secret(
                &mut errors,
                "community",
                &given.community,
                kept.and_then(|s| s.community.as_ref()),
                true,
                1,
            );
            for (field, value) in [
                ("auth_password", &given.auth_password),
                ("priv_password", &given.priv_password),
                ("password", &given.password),
            ] {
                secret(&mut errors, field, value, None, false, 0);
            }
            CredentialParams::SnmpCommunity { version }
        }
        CredentialKind::SnmpV3 => {
            let user = draft.user.trim().to_owned();
            if user.is_empty() {
                errors.push(FieldError::new("user", "is required"));
            } else if user.len() > 32 {
                errors.push(FieldError::new(
                    "user",
                    "must be at most 32 bytes (usmUserName)",
                ));
            } else if user.chars().any(char::is_control) {
                errors.push(FieldError::new(
                    "user",
                    "must not contain control characters",
                ));
            }
            let level = SecurityLevel::from_key(draft.level.trim()).unwrap_or_else(|| {
                errors.push(FieldError::new(
                    "level",
                    format!("must be one of {}", SecurityLevel::keys()),
                ));
                SecurityLevel::AuthPriv
            });
            let auth_protocol = match draft.auth_protocol.trim() {
                "" => AuthProtocol::Sha256,
                p => AuthProtocol::from_key(p).unwrap_or_else(|| {
                    errors.push(FieldError::new(
                        "auth_protocol",
                        format!("must be one of {}", AuthProtocol::keys()),
                    ));
                    AuthProtocol::Sha256
                }),
            };
            let priv_protocol = match draft.priv_protocol.trim() {
                "" => PrivProtocol::Aes128,
                p => PrivProtocol::from_key(p).unwrap_or_else(|| {
                    errors.push(FieldError::new(
                        "priv_protocol",
                        format!("must be one of {}", PrivProtocol::keys()),
                    ));
                    PrivProtocol::Aes128
                }),
            };
            secrets.auth_password = secret(
                &mut errors,
                "auth_password",
                &given.auth_password,
                kept.and_then(|s| s.auth_password.as_ref()),
                level != SecurityLevel::NoAuthNoPriv,
                SHORTEST_V3_PASSWORD,
            );
            secrets.priv_password = secret(
                &mut errors,
                "priv_password",
                &given.priv_password,
                kept.and_then(|s| s.priv_password.as_ref()),
                level == SecurityLevel::AuthPriv,
                SHORTEST_V3_PASSWORD,
            );
            secret(&mut errors, "community", &given.community, None, false, 0);
            secret(&mut errors, "password", &given.password, None, false, 0);
            CredentialParams::SnmpV3 {
                user,
                level,
                auth_protocol,
                priv_protocol,
            }
        }
        CredentialKind::Password => {
            let user = text("user", &draft.user, 0, 100).unwrap_or_else(|e| {
                errors.push(e);
                String::new()
            });
            secrets.password = secret(
                &mut errors,
                "password",
                &given.password,
                kept.and_then(|s| s.password.as_ref()),
                true,
                1,
            );
            for (field, value) in [
                ("community", &given.community),
                ("auth_password", &given.auth_password),
                ("priv_password", &given.priv_password),
            ] {
                secret(&mut errors, field, value, None, false, 0);
            }
            CredentialParams::Password { user }
        }
    };
    if errors.is_empty() {
        Ok(CredentialInput {
            name,
            entity_id: draft.entity_id,
            description,
            params,
            secrets,
        })
    } else {
        Err(errors)
    }
}

/// A secret given now, else the current one (`kept`); `needed` says whether the kind and level
/// use it. A secret given but not used is an error; one kept but not used is dropped.
fn secret(
    errors: &mut Vec<FieldError>,
    field: &str,
    given: &Option<String>,
    kept: Option<&String>,
    needed: bool,
    min: usize,
) -> Option<String> {
    match (given, needed) {
        (Some(_), false) => {
            errors.push(FieldError::new(field, "is not used by this kind or level"));
            None
        }
        (_, false) => None,
        (Some(value), true) => {
            let n = value.chars().count();
            if n < min.max(1) {
                errors.push(FieldError::new(
                    field,
                    if min <= 1 {
                        "is required".to_owned()
                    } else {
                        format!("must be at least {min} characters")
                    },
                ));
            } else if n > LONGEST_SECRET {
                errors.push(FieldError::new(
                    field,
                    format!("must be at most {LONGEST_SECRET} characters"),
                ));
            } else if value.chars().any(char::is_control) {
                errors.push(FieldError::new(
                    field,
                    "must not contain control characters",
                ));
            }
            Some(value.clone())
        }
        (None, true) => match kept {
            Some(value) => Some(value.clone()),
            None => {
                errors.push(FieldError::new(field, "is required"));
                None
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft(kind: &str) -> CredentialDraft {
        CredentialDraft {
            name: "core-switches".into(),
            entity_id: 1,
            kind: kind.into(),
            ..CredentialDraft::default()
        }
    }

    fn fields(errors: Vec<FieldError>) -> Vec<String> {
        errors.into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn communities_default_to_v2c_and_need_the_community() {
        let mut d = draft("snmp_community");
        assert_eq!(
            fields(check_credential(d.clone(), None).unwrap_err()),
            ["community"]
        );
        d.secrets.community = Some("public".into());
        let input = check_credential(d, None).unwrap();
        assert_eq!(
            input.params,
            CredentialParams::SnmpCommunity {
                version: CommunityVersion::V2c
            }
        );
        assert_eq!(
            input.secrets.slots(CredentialKind::SnmpCommunity),
            (Some("public"), None)
        );
    }

    #[test]
    fn v3_needs_what_its_level_uses() {
        let mut d = draft("snmp_v3");
        d.user = "pupitre".into();
        d.level = "authPriv".into();
        d.secrets.auth_password = Some("short".into());
        let errors = check_credential(d.clone(), None).unwrap_err();
        assert_eq!(fields(errors), ["auth_password", "priv_password"]);

        d.level = "authNoPriv".into();
        d.secrets.auth_password = Some("long enough".into());
        d.secrets.priv_password = Some("also long enough".into());
        assert_eq!(
            fields(check_credential(d.clone(), None).unwrap_err()),
            ["priv_password"]
        );
        d.secrets.priv_password = None;
        d.auth_protocol = "sha3".into();
        assert_eq!(
            fields(check_credential(d, None).unwrap_err()),
            ["auth_protocol"]
        );
    }

    #[test]
    fn an_update_keeps_the_secrets_it_does_not_give() {
        let mut d = draft("snmp_v3");
        d.user = "pupitre".into();
        d.level = "authPriv".into();
        d.secrets.auth_password = Some("authpass1".into());
        d.secrets.priv_password = Some("privpass1".into());
        let first = check_credential(d.clone(), None).unwrap();

        d.secrets = Secrets {
            priv_password: Some("privpass2".into()),
            ..Secrets::default()
        };
        let second = check_credential(d.clone(), Some((&first.params, &first.secrets))).unwrap();
        assert_eq!(second.secrets.auth_password.as_deref(), Some("authpass1"));
        assert_eq!(second.secrets.priv_password.as_deref(), Some("privpass2"));

        // Lowering the level drops the privacy password it no longer uses.
        d.level = "authNoPriv".into();
        d.secrets = Secrets::default();
        let third = check_credential(d.clone(), Some((&second.params, &second.secrets))).unwrap();
        assert_eq!(third.secrets.priv_password, None);

        // Another kind keeps nothing.
        let mut p = draft("password");
        p.user = "monitor".into();
        assert_eq!(
            fields(check_credential(p, Some((&third.params, &third.secrets))).unwrap_err()),
            ["password"]
        );
    }

    #[test]
    fn bad_names_and_kinds_are_named() {
        let mut d = draft("ssh_key");
        d.name = "two words".into();
        assert_eq!(
            fields(check_credential(d, None).unwrap_err()),
            ["name", "kind"]
        );
    }

    #[test]
    fn secrets_never_show_in_debug() {
        let s = Secrets {
            password: Some("hunter2".into()),
            ..Secrets::default()
        };
        let shown = format!("{s:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
    }
}
