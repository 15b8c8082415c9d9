//! Credentials conformance: sealed secrets round-trip, names are unique, and a credential that
//! checks or templates name can be neither renamed nor deleted; against SQLite and PostgreSQL.
#![expect(
    clippy::unwrap_used,
    reason = "a test fails loudly on any unexpected error"
)]

use pupitre_core::audit::Actor;
use pupitre_core::credential::{
    AuthProtocol, CommunityVersion, CredentialKind, CredentialParams, PrivProtocol, Secrets,
    SecurityLevel,
};
use pupitre_core::inventory::{AssetInput, AssetType};
use pupitre_core::model::ROOT_ENTITY;
use pupitre_core::monitoring::definition::{CheckDefinitionInput, ProbeSpec, check_definition};
use pupitre_store::credentials::{CredentialWrite, open_secrets, seal_secrets};
use pupitre_store::monitoring::NewCheck;
use pupitre_store::testing::TestDb;
use pupitre_store::vault::Vault;
use pupitre_store::{AuditFilter, Page, StoreError};

pupitre_store::conformance!(credentials_round_trip_sealed, credentials_in_use_are_kept,);

fn actor(at: i64) -> Actor {
    Actor {
        user_id: None,
        login: "test".into(),
        source: "127.0.0.1".into(),
        at,
    }
}

fn vault() -> Vault {
    Vault::new(&Vault::parse_key(&"5a".repeat(32)).unwrap())
}

fn v3(name: &str) -> CredentialWrite {
    let params = CredentialParams::SnmpV3 {
        user: "pupitre".into(),
        level: SecurityLevel::AuthPriv,
        auth_protocol: AuthProtocol::Sha256,
        priv_protocol: PrivProtocol::Aes128,
    };
    let secrets = Secrets {
        auth_password: Some("auth-secret-1".into()),
        priv_password: Some("priv-secret-1".into()),
        ..Secrets::default()
    };
    let (secret, priv_secret) = seal_secrets(&vault(), CredentialKind::SnmpV3, &secrets).unwrap();
    CredentialWrite {
        name: name.into(),
        entity_id: ROOT_ENTITY,
        description: "core switches".into(),
        params,
        secret,
        priv_secret,
    }
}

async fn credentials_round_trip_sealed(db: TestDb) {
    let s = &*db.store;
    let created = s
        .create_credential(&actor(5), &v3("switches"))
        .await
        .unwrap();
    let sealed = s.get_credential(created.id).await.unwrap();
    assert_eq!(sealed.credential, created);
    assert!(!sealed.secret.as_deref().unwrap().contains("auth-secret-1"));
    let secrets = open_secrets(&vault(), &sealed).unwrap();
    assert_eq!(secrets.auth_password.as_deref(), Some("auth-secret-1"));
    assert_eq!(secrets.priv_password.as_deref(), Some("priv-secret-1"));

    let err = s
        .create_credential(&actor(6), &v3("switches"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict { ref field, .. } if field == "name"),
        "{err}"
    );

    // A community in place of the v3 user, under a new name (nothing uses it yet).
    let (secret, _) = seal_secrets(
        &vault(),
        CredentialKind::SnmpCommunity,
        &Secrets {
            community: Some("s3cret".into()),
            ..Secrets::default()
        },
    )
    .unwrap();
    let community = CredentialWrite {
        name: "lab".into(),
        params: CredentialParams::SnmpCommunity {
            version: CommunityVersion::V2c,
        },
        secret,
        priv_secret: None,
        ..v3("lab")
    };
    let updated = s
        .update_credential(&actor(7), created.id, &community)
        .await
        .unwrap();
    assert_eq!(updated.name, "lab");
    assert_eq!(updated.created_at, 5);
    assert_eq!(updated.updated_at, 7);
    let sealed = s.get_credential(created.id).await.unwrap();
    assert_eq!(sealed.priv_secret, None);
    assert_eq!(
        open_secrets(&vault(), &sealed)
            .unwrap()
            .community
            .as_deref(),
        Some("s3cret")
    );
    assert_eq!(
        s.credential_by_name("lab").await.unwrap().unwrap().id,
        created.id
    );
    assert_eq!(s.credential_by_name("switches").await.unwrap(), None);
    assert_eq!(s.list_credentials(&[ROOT_ENTITY]).await.unwrap().len(), 1);
    assert!(s.list_credentials(&[]).await.unwrap().is_empty());
    assert_eq!(s.all_credentials().await.unwrap().len(), 1);

    // The audit log says the secrets were replaced, never what they are.
    let audit = s
        .list_audit(
            &AuditFilter {
                visible: vec![ROOT_ENTITY],
                object_type: Some("credential".into()),
                ..AuditFilter::default()
            },
            Page {
                after: None,
                limit: 10,
            },
        )
        .await
        .unwrap();
    assert_eq!(audit.len(), 2);
    let text = format!("{audit:?}");
    assert!(text.contains("replaced"), "{text}");
    for secret in ["s3cret", "auth-secret-1", "priv-secret-1"] {
        assert!(!text.contains(secret), "{text}");
    }

    s.delete_credential(&actor(8), created.id).await.unwrap();
    assert!(matches!(
        s.get_credential(created.id).await,
        Err(StoreError::NotFound)
    ));
}

async fn credentials_in_use_are_kept(db: TestDb) {
    let s = &*db.store;
    let created = s
        .create_credential(&actor(5), &v3("switches"))
        .await
        .unwrap();
    let mut input = AssetInput::new(ROOT_ENTITY, AssetType::Switch, "sw1");
    input.management_ip = "192.0.2.1".into();
    let sw = s.create_asset(&actor(5), &input).await.unwrap().id;
    let definition = check_definition(CheckDefinitionInput {
        name: "interfaces".into(),
        probe: ProbeSpec::Snmp {
            host: String::new(),
            port: 161,
            credential: "switches".into(),
            mode: "interfaces".into(),
            oid: String::new(),
            items: Vec::new(),
        },
        interval_s: 60,
        retry_interval_s: 30,
        timeout_s: 10,
        max_attempts: 3,
        warning: String::new(),
        critical: String::new(),
        notifications_enabled: true,
        entity_id: ROOT_ENTITY,
    })
    .unwrap();
    s.create_check(
        &actor(6),
        &NewCheck {
            asset_id: sw,
            definition,
            host_check: false,
            heartbeat_hash: None,
        },
    )
    .await
    .unwrap();

    let users = s.credential_users("switches").await.unwrap();
    assert_eq!(users.checks, ["sw1/interfaces"]);
    assert!(s.credential_users("switch").await.unwrap().is_empty());

    let err = s
        .update_credential(&actor(7), created.id, &v3("renamed"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Conflict { field, message } if field == "name" && message.contains("sw1/interfaces")),
        "{err}"
    );
    // Same name, new description: fine.
    let mut same = v3("switches");
    same.description = "all core switches".into();
    s.update_credential(&actor(7), created.id, &same)
        .await
        .unwrap();

    let err = s
        .delete_credential(&actor(8), created.id)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Rejected(m) if m.contains("1 check (sw1/interfaces)")),
        "{err}"
    );
    assert!(s.get_credential(created.id).await.is_ok());
}
