//! The store conformance suite: every check runs against SQLite and PostgreSQL.
#![expect(
    clippy::unwrap_used,
    reason = "a test fails loudly on any unexpected error"
)]

use std::sync::Arc;

use pupitre_core::audit::{Actor, AuditEvent};
use pupitre_core::model::{
    Assignment, EntityInput, ProfileInput, ROOT_ENTITY, Session, TeamInput, UserInput,
};
use pupitre_core::permission::{Domain, Level, Levels};
use pupitre_store::PasswordChange;
use pupitre_store::testing::TestDb;
use pupitre_store::{AuditFilter, NewToken, NewUser, Page, Store, StoreError, UserFilter};

pupitre_store::conformance!(
    migrations_are_idempotent_and_ready,
    builtin_profiles_are_synced_and_protected,
    entities_form_a_tree,
    users_round_trip_text_and_reject_duplicates,
    bulk_creation_is_all_or_nothing,
    user_listing_filters_and_paginates,
    grants_join_profiles,
    teams_keep_members,
    sessions_expire_and_log_out_everywhere,
    tokens_are_found_by_hash_and_revoked,
    audit_log_is_append_only_and_filterable,
);

fn actor(at: i64) -> Actor {
    Actor {
        user_id: None,
        login: "test".into(),
        source: "127.0.0.1".into(),
        at,
    }
}

fn user_input(login: &str, entity: i64) -> UserInput {
    UserInput {
        login: login.into(),
        display_name: format!("User {login}"),
        email: format!("{login}@example.com"),
        phone: String::new(),
        language: "en".into(),
        time_zone: "Europe/Paris".into(),
        active: true,
        entity_id: entity,
        notify_email: true,
        notify_sms: false,
    }
}

fn new_user(login: &str, entity: i64) -> NewUser {
    NewUser {
        input: user_input(login, entity),
        password_hash: Some("hash".into()),
        must_change_password: true,
        assignments: vec![],
        teams: vec![],
    }
}

async fn audit_count(s: &Arc<dyn Store>) -> usize {
    let f = AuditFilter {
        visible: s
            .list_entities()
            .await
            .unwrap()
            .iter()
            .map(|e| e.id)
            .collect(),
        global: true,
        ..Default::default()
    };
    s.list_audit(
        &f,
        Page {
            after: None,
            limit: 10_000,
        },
    )
    .await
    .unwrap()
    .len()
}

async fn migrations_are_idempotent_and_ready(db: TestDb) {
    assert_eq!(db.store.migrate().await.unwrap(), 0);
    assert!(db.store.ready().await.unwrap());
    let root = db.store.get_entity(ROOT_ENTITY).await.unwrap();
    assert_eq!(root.parent_id, None);
}

async fn builtin_profiles_are_synced_and_protected(db: TestDb) {
    let s = &db.store;
    s.sync_builtin_profiles(1).await.unwrap();
    s.sync_builtin_profiles(2).await.unwrap();
    let profiles = s.list_profiles().await.unwrap();
    assert_eq!(profiles.iter().filter(|p| p.builtin).count(), 7);
    let admin = profiles.iter().find(|p| p.name == "Administrator").unwrap();
    assert_eq!(admin.levels, Levels::uniform(Level::Manage));
    let input = ProfileInput {
        name: "x".into(),
        description: String::new(),
        levels: Levels::default(),
        assigned_only: false,
        entity_id: ROOT_ENTITY,
    };
    assert!(matches!(
        s.update_profile(&actor(3), admin.id, &input).await,
        Err(StoreError::Rejected(_))
    ));
    assert!(matches!(
        s.delete_profile(&actor(3), admin.id).await,
        Err(StoreError::Rejected(_))
    ));
    let custom = s
        .create_profile(
            &actor(4),
            &ProfileInput {
                name: "Night shift".into(),
                levels: Levels::default().with(Domain::Jobs, Level::Operate),
                ..input.clone()
            },
        )
        .await
        .unwrap();
    assert_eq!(custom.levels.get(Domain::Jobs), Level::Operate);
    let dup = s
        .create_profile(
            &actor(5),
            &ProfileInput {
                name: "Night shift".into(),
                ..input
            },
        )
        .await;
    assert!(matches!(dup, Err(StoreError::Conflict { ref field, .. }) if field == "name"));
}

async fn entities_form_a_tree(db: TestDb) {
    let s = &db.store;
    let a = s
        .create_entity(
            &actor(1),
            &EntityInput {
                parent_id: ROOT_ENTITY,
                name: "Customer A".into(),
                comment: String::new(),
            },
        )
        .await
        .unwrap();
    let a1 = s
        .create_entity(
            &actor(2),
            &EntityInput {
                parent_id: a.id,
                name: "Site Lyon".into(),
                comment: String::new(),
            },
        )
        .await
        .unwrap();
    let dup = s
        .create_entity(
            &actor(3),
            &EntityInput {
                parent_id: ROOT_ENTITY,
                name: "Customer A".into(),
                comment: String::new(),
            },
        )
        .await;
    assert!(matches!(dup, Err(StoreError::Conflict { ref field, .. }) if field == "name"));
    let cycle = s
        .update_entity(
            &actor(4),
            a.id,
            &EntityInput {
                parent_id: a1.id,
                name: "Customer A".into(),
                comment: String::new(),
            },
        )
        .await;
    assert!(matches!(cycle, Err(StoreError::Conflict { ref field, .. }) if field == "parent_id"));
    assert!(matches!(
        s.delete_entity(&actor(5), a.id).await,
        Err(StoreError::Rejected(_))
    ));
    let renamed = s
        .update_entity(
            &actor(6),
            a1.id,
            &EntityInput {
                parent_id: a.id,
                name: "Site Lyon 2".into(),
                comment: "c".into(),
            },
        )
        .await
        .unwrap();
    assert_eq!(renamed.name, "Site Lyon 2");
    s.delete_entity(&actor(7), a1.id).await.unwrap();
    assert!(matches!(
        s.get_entity(a1.id).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        s.delete_entity(&actor(8), ROOT_ENTITY).await,
        Err(StoreError::Rejected(_))
    ));
}

async fn users_round_trip_text_and_reject_duplicates(db: TestDb) {
    let s = &db.store;
    let tricky = "<script>alert('x')</script> Robert'); DROP TABLE users;-- \"é\" 100% _";
    let mut nu = new_user("o'brien", ROOT_ENTITY);
    nu.input.display_name = tricky.into();
    let created = s.create_users(&actor(1), &[nu]).await.unwrap();
    let u = s.get_user(created[0].id).await.unwrap();
    assert_eq!(u.display_name, tricky);
    assert!(u.must_change_password);
    let before = audit_count(s).await;
    let dup = s
        .create_users(&actor(2), &[new_user("O'Brien", ROOT_ENTITY)])
        .await;
    assert!(
        matches!(dup, Err(StoreError::Conflict { ref field, .. }) if field == "login"),
        "{dup:?}"
    );
    assert_eq!(s.count_users().await.unwrap(), 1);
    assert_eq!(
        audit_count(s).await,
        before,
        "a failed write leaves no audit record"
    );
    let creds = s.find_credentials(" O'BRIEN ").await.unwrap().unwrap();
    assert_eq!(creds.password_hash.as_deref(), Some("hash"));
    let found = s
        .list_users(
            &UserFilter {
                visible: vec![ROOT_ENTITY],
                query: Some("drop table".into()),
                ..Default::default()
            },
            Page {
                after: None,
                limit: 10,
            },
        )
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    let none = s
        .list_users(
            &UserFilter {
                visible: vec![ROOT_ENTITY],
                query: Some("%".into()),
                ..Default::default()
            },
            Page {
                after: None,
                limit: 10,
            },
        )
        .await
        .unwrap();
    assert_eq!(none.len(), 1, "`%` matches only a literal percent sign");
    let mut input = user_input("o'brien", ROOT_ENTITY);
    input.active = false;
    let updated = s.update_user(&actor(3), u.id, &input).await.unwrap();
    assert!(!updated.active);
    s.set_password(
        &actor(4),
        u.id,
        &PasswordChange {
            password_hash: "hash2".into(),
            must_change: false,
            keep_session: None,
            revoke_tokens: false,
        },
    )
    .await
    .unwrap();
    let creds = s.find_credentials("o'brien").await.unwrap().unwrap();
    assert_eq!(creds.password_hash.as_deref(), Some("hash2"));
    assert!(!creds.user.must_change_password);
    s.delete_user(&actor(5), u.id).await.unwrap();
    assert!(matches!(s.get_user(u.id).await, Err(StoreError::NotFound)));
}

async fn bulk_creation_is_all_or_nothing(db: TestDb) {
    let s = &db.store;
    let rows = vec![
        new_user("a1", ROOT_ENTITY),
        new_user("a2", ROOT_ENTITY),
        new_user("A1", ROOT_ENTITY),
    ];
    let err = s.create_users(&actor(1), &rows).await.unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict { ref field, .. } if field == "row 3: login"),
        "{err:?}"
    );
    assert_eq!(s.count_users().await.unwrap(), 0);
    assert_eq!(audit_count(s).await, 0);
    let ok = s.create_users(&actor(2), &rows[..2]).await.unwrap();
    assert_eq!(ok.len(), 2);
    assert_eq!(audit_count(s).await, 2);
}

async fn user_listing_filters_and_paginates(db: TestDb) {
    let s = &db.store;
    let b = s
        .create_entity(
            &actor(1),
            &EntityInput {
                parent_id: ROOT_ENTITY,
                name: "B".into(),
                comment: String::new(),
            },
        )
        .await
        .unwrap();
    let users: Vec<NewUser> = (0..25)
        .map(|i| {
            new_user(
                &format!("u{i:02}"),
                if i % 5 == 0 { b.id } else { ROOT_ENTITY },
            )
        })
        .collect();
    s.create_users(&actor(2), &users).await.unwrap();
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = s
            .list_users(
                &UserFilter {
                    visible: vec![ROOT_ENTITY],
                    ..Default::default()
                },
                Page { after, limit: 7 },
            )
            .await
            .unwrap();
        if page.is_empty() {
            break;
        }
        after = page.last().map(|u| u.id);
        seen.extend(page.into_iter().map(|u| u.login));
    }
    assert_eq!(seen.len(), 20);
    let in_b = s
        .list_users(
            &UserFilter {
                visible: vec![b.id],
                ..Default::default()
            },
            Page {
                after: None,
                limit: 100,
            },
        )
        .await
        .unwrap();
    assert_eq!(in_b.len(), 5);
    let both = s
        .list_users(
            &UserFilter {
                visible: vec![ROOT_ENTITY, b.id],
                entity_id: Some(b.id),
                ..Default::default()
            },
            Page {
                after: None,
                limit: 100,
            },
        )
        .await
        .unwrap();
    assert_eq!(both.len(), 5);
    let none = s
        .list_users(
            &UserFilter::default(),
            Page {
                after: None,
                limit: 100,
            },
        )
        .await
        .unwrap();
    assert!(none.is_empty());
}

async fn grants_join_profiles(db: TestDb) {
    let s = &db.store;
    s.sync_builtin_profiles(0).await.unwrap();
    let op = s
        .list_profiles()
        .await
        .unwrap()
        .into_iter()
        .find(|p| p.name == "Operator")
        .unwrap();
    let mut nu = new_user("op", ROOT_ENTITY);
    nu.assignments = vec![Assignment {
        entity_id: ROOT_ENTITY,
        profile_id: op.id,
        recursive: true,
    }];
    let u = s.create_users(&actor(1), &[nu]).await.unwrap().remove(0);
    assert_eq!(
        s.profile_uses(op.id).await.unwrap(),
        vec![(ROOT_ENTITY, true)]
    );
    let grants = s.user_grants(u.id).await.unwrap();
    assert_eq!(grants.len(), 1);
    assert_eq!(grants[0].1.get(Domain::Jobs), Level::Operate);
    s.set_assignments(&actor(2), u.id, &[]).await.unwrap();
    assert!(s.user_grants(u.id).await.unwrap().is_empty());
    let bad = s
        .set_assignments(
            &actor(3),
            u.id,
            &[Assignment {
                entity_id: 999,
                profile_id: op.id,
                recursive: false,
            }],
        )
        .await;
    assert!(bad.is_err());
    assert!(
        s.list_assignments(u.id).await.unwrap().is_empty(),
        "a rejected change writes nothing"
    );
}

async fn teams_keep_members(db: TestDb) {
    let s = &db.store;
    let users = s
        .create_users(
            &actor(1),
            &[new_user("t1", ROOT_ENTITY), new_user("t2", ROOT_ENTITY)],
        )
        .await
        .unwrap();
    let t = s
        .create_team(
            &actor(2),
            &TeamInput {
                name: "Night shift".into(),
                description: String::new(),
                entity_id: ROOT_ENTITY,
                members: vec![users[0].id],
            },
        )
        .await
        .unwrap();
    assert_eq!(t.members, vec![users[0].id]);
    let t = s
        .update_team(
            &actor(3),
            t.id,
            &TeamInput {
                name: "Night shift".into(),
                description: "d".into(),
                entity_id: ROOT_ENTITY,
                members: vec![users[0].id, users[1].id],
            },
        )
        .await
        .unwrap();
    assert_eq!(t.members.len(), 2);
    assert!(
        s.get_team(t.id)
            .await
            .unwrap()
            .members
            .contains(&users[1].id)
    );
    assert_eq!(s.list_teams(&[ROOT_ENTITY]).await.unwrap().len(), 1);
    assert!(s.list_teams(&[]).await.unwrap().is_empty());
    s.delete_team(&actor(4), t.id).await.unwrap();
    assert!(s.list_teams(&[ROOT_ENTITY]).await.unwrap().is_empty());
}

async fn sessions_expire_and_log_out_everywhere(db: TestDb) {
    let s = &db.store;
    let u = s
        .create_users(&actor(1), &[new_user("s1", ROOT_ENTITY)])
        .await
        .unwrap()
        .remove(0);
    for (i, h) in ["h1", "h2"].iter().enumerate() {
        let sess = Session {
            user_id: u.id,
            csrf_token: "c".into(),
            created_at: 10,
            last_seen_at: 10,
            expires_at: 100 + i as i64 * 1000,
        };
        s.create_session(h, &sess, "127.0.0.1", "test")
            .await
            .unwrap();
    }
    assert!(s.session_user("h1").await.unwrap().is_some());
    let (sess, user) = s.session_user("h1").await.unwrap().unwrap();
    assert_eq!(
        (sess.user_id, user.login.as_str(), sess.expires_at),
        (u.id, "s1", 100)
    );
    assert!(s.session_user("nope").await.unwrap().is_none());
    s.touch_session("h1", 50, 500).await.unwrap();
    assert_eq!(
        s.session_user("h1").await.unwrap().unwrap().0.expires_at,
        500
    );
    assert_eq!(s.purge_expired_sessions(600).await.unwrap(), 1);
    let ev = AuditEvent {
        action: "session.logout_everywhere".into(),
        object_type: "user".into(),
        object_id: Some(u.id),
        object_label: "s1".into(),
        entity_id: Some(ROOT_ENTITY),
        changes: vec![],
    };
    let before = audit_count(s).await;
    assert_eq!(
        s.end_sessions(&actor(601), u.id, Some("not-a-session"), &ev)
            .await
            .unwrap(),
        0
    );
    assert_eq!(audit_count(s).await, before + 1);
    s.record_login(
        &actor(602),
        u.id,
        &AuditEvent {
            action: "session.login".into(),
            ..ev.clone()
        },
    )
    .await
    .unwrap();
    assert_eq!(s.get_user(u.id).await.unwrap().last_login_at, Some(602));
    assert_eq!(
        s.end_sessions(&actor(603), u.id, None, &ev).await.unwrap(),
        1
    );
    assert!(s.session_user("h2").await.unwrap().is_none());
}

async fn tokens_are_found_by_hash_and_revoked(db: TestDb) {
    let s = &db.store;
    let u = s
        .create_users(&actor(1), &[new_user("tok", ROOT_ENTITY)])
        .await
        .unwrap()
        .remove(0);
    let levels = Levels::default().with(Domain::Reports, Level::Read);
    let t = s
        .create_token(
            &actor(2),
            &NewToken {
                user_id: u.id,
                name: "ci".into(),
                prefix: "pup_abcd".into(),
                token_hash: "th".into(),
                levels,
                expires_at: 99,
            },
        )
        .await
        .unwrap();
    assert_eq!(s.token_user("th").await.unwrap().unwrap().0.levels, levels);
    let (tok, owner) = s.token_user("th").await.unwrap().unwrap();
    assert_eq!((tok.id, tok.levels, owner.id), (t.id, levels, u.id));
    s.touch_token(t.id, 5).await.unwrap();
    assert_eq!(s.list_tokens(u.id).await.unwrap()[0].last_used_at, Some(5));
    assert!(matches!(
        s.revoke_token(&actor(3), u.id + 1, t.id).await,
        Err(StoreError::NotFound)
    ));
    s.revoke_token(&actor(4), u.id, t.id).await.unwrap();
    assert!(
        s.token_user("th")
            .await
            .unwrap()
            .unwrap()
            .0
            .revoked_at
            .is_some()
    );
    assert!(matches!(
        s.revoke_token(&actor(5), u.id, t.id).await,
        Err(StoreError::Rejected(_))
    ));
}

async fn audit_log_is_append_only_and_filterable(db: TestDb) {
    let s = &db.store;
    let u = s
        .create_users(&actor(1_000), &[new_user("aud", ROOT_ENTITY)])
        .await
        .unwrap()
        .remove(0);
    let mut input = user_input("aud", ROOT_ENTITY);
    input.display_name = "Renamed".into();
    s.update_user(&actor(2_000), u.id, &input).await.unwrap();
    s.record_event(
        &actor(3_000),
        &AuditEvent {
            action: "session.login_failed".into(),
            object_type: "session".into(),
            object_id: None,
            object_label: "aud".into(),
            entity_id: None,
            changes: vec![],
        },
    )
    .await
    .unwrap();
    let f = AuditFilter {
        visible: vec![ROOT_ENTITY],
        global: false,
        object_type: Some("user".into()),
        object_id: Some(u.id),
        ..Default::default()
    };
    let recs = s
        .list_audit(
            &f,
            Page {
                after: None,
                limit: 10,
            },
        )
        .await
        .unwrap();
    assert_eq!(recs.len(), 2);
    assert_eq!(recs[0].event.action, "user.update");
    let change = &recs[0].event.changes;
    assert_eq!(change.len(), 1);
    assert_eq!(change[0].field, "display_name");
    assert_eq!(change[0].before.as_deref(), Some("User aud"));
    assert_eq!(change[0].after.as_deref(), Some("Renamed"));
    let created = &recs[1].event.changes;
    assert!(
        created
            .iter()
            .any(|c| c.field == "password" && c.after.as_deref() == Some("********"))
    );
    assert_eq!(
        s.count_recent("session.login_failed", "aud", false, 2_500)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        s.count_recent("session.login_failed", "127.0.0.1", true, 3_500)
            .await
            .unwrap(),
        0
    );
    let global = AuditFilter {
        visible: vec![],
        global: true,
        ..Default::default()
    };
    assert_eq!(
        s.list_audit(
            &global,
            Page {
                after: None,
                limit: 10
            }
        )
        .await
        .unwrap()
        .len(),
        1
    );
    let since = AuditFilter {
        visible: vec![ROOT_ENTITY],
        since: Some(1_500),
        ..Default::default()
    };
    assert_eq!(
        s.list_audit(
            &since,
            Page {
                after: None,
                limit: 10
            }
        )
        .await
        .unwrap()
        .len(),
        1
    );
    // The database itself refuses to rewrite history, whatever the caller.
    assert!(
        db.execute_raw("UPDATE audit_log SET actor_login = 'x'")
            .await
            .is_err()
    );
    assert!(db.execute_raw("DELETE FROM audit_log").await.is_err());
}
