//! Agents conformance: an enrolment token enrols at most its uses, even when agents race for
//! the last one; credentials rotate and revoke; batches are accepted once; a command's report
//! sent twice counts once; against SQLite and PostgreSQL.
#![expect(
    clippy::unwrap_used,
    reason = "a test fails loudly on any unexpected error"
)]

use pupitre_core::audit::Actor;
use pupitre_core::model::ROOT_ENTITY;
use pupitre_store::agents::{
    AgentFacts, AgentStatus, CommandProgress, CommandState, Enrolled, NewAgent, NewEnrolment,
    SecretSlot,
};
use pupitre_store::testing::TestDb;

pupitre_store::conformance!(
    enrolment_uses_are_counted_under_concurrency,
    credentials_rotate_and_revoke,
    batches_and_command_reports_count_once,
);

fn actor(at: i64) -> Actor {
    Actor {
        user_id: None,
        login: "test".into(),
        source: "127.0.0.1".into(),
        at,
    }
}

fn agent(name: &str) -> NewAgent {
    NewAgent {
        facts: AgentFacts {
            name: name.into(),
            machine_id: format!("id-{name}"),
            version: "0.1.0".into(),
            ..AgentFacts::default()
        },
        secret_hash: format!("hash-{name}"),
        config: "{}".into(),
    }
}

async fn token(db: &TestDb, uses: i64, expires_at: i64) -> String {
    let hash = format!("token-{uses}-{expires_at}");
    db.store
        .create_enrolment(
            &actor(1_000),
            &NewEnrolment {
                entity_id: ROOT_ENTITY,
                label: "rack".into(),
                token_hash: hash.clone(),
                prefix: "pen_".into(),
                max_uses: uses,
                expires_at,
            },
        )
        .await
        .unwrap();
    hash
}

async fn enrolment_uses_are_counted_under_concurrency(db: TestDb) {
    let hash = token(&db, 3, 1_000_000).await;
    let mut attempts = tokio::task::JoinSet::new();
    for i in 0..10 {
        let store = db.store.clone();
        let hash = hash.clone();
        attempts.spawn(async move {
            store
                .enrol_agent(&actor(2_000), Some(&hash), &agent(&format!("a{i}")))
                .await
                .unwrap()
        });
    }
    let outcomes = attempts.join_all().await;
    let enrolled = outcomes
        .iter()
        .filter(|o| matches!(o, Enrolled::Agent(_)))
        .count();
    assert_eq!(enrolled, 3, "{outcomes:?}");
    assert!(outcomes.contains(&Enrolled::Refused("the enrolment token is used up")));
    let expired = token(&db, 5, 1_500).await;
    assert_eq!(
        db.store
            .enrol_agent(&actor(2_000), Some(&expired), &agent("late"))
            .await
            .unwrap(),
        Enrolled::Refused("the enrolment token has expired")
    );
    let Enrolled::Agent(pending) = db
        .store
        .enrol_agent(&actor(2_000), None, &agent("pending"))
        .await
        .unwrap()
    else {
        panic!("enrolment without a token waits, it is not refused");
    };
    assert_eq!(pending.status, AgentStatus::Pending);
}

async fn credentials_rotate_and_revoke(db: TestDb) {
    let hash = token(&db, 1, 1_000_000).await;
    let Enrolled::Agent(a) = db
        .store
        .enrol_agent(&actor(2_000), Some(&hash), &agent("web"))
        .await
        .unwrap()
    else {
        panic!("enrols");
    };
    let found = db.store.agent_by_secret("hash-web").await.unwrap().unwrap();
    assert_eq!((found.0.id, found.1), (a.id, SecretSlot::Current));
    db.store
        .request_rotation(&actor(3_000), a.id)
        .await
        .unwrap();
    db.store.set_next_secret(a.id, "hash-next").await.unwrap();
    // Both work until the new one is used.
    assert!(
        db.store
            .agent_by_secret("hash-web")
            .await
            .unwrap()
            .is_some()
    );
    let next = db
        .store
        .agent_by_secret("hash-next")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(next.1, SecretSlot::Next);
    db.store.promote_secret(a.id).await.unwrap();
    assert!(
        db.store
            .agent_by_secret("hash-web")
            .await
            .unwrap()
            .is_none()
    );
    let now = db
        .store
        .agent_by_secret("hash-next")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(now.1, SecretSlot::Current);
    assert!(!now.0.rotate);
    let revoked = db.store.revoke_agent(&actor(4_000), a.id).await.unwrap();
    assert_eq!(revoked.status, AgentStatus::Revoked);
    assert!(
        db.store
            .request_rotation(&actor(5_000), a.id)
            .await
            .is_err()
    );
    let config = db
        .store
        .set_agent_config(&actor(5_000), a.id, r#"{"interval_s":10}"#)
        .await
        .unwrap();
    assert_eq!(config.config_version, a.config_version + 1);
}

async fn batches_and_command_reports_count_once(db: TestDb) {
    let hash = token(&db, 1, 1_000_000).await;
    let Enrolled::Agent(a) = db
        .store
        .enrol_agent(&actor(2_000), Some(&hash), &agent("db"))
        .await
        .unwrap()
    else {
        panic!("enrols");
    };
    assert!(db.store.accept_batch(a.id, 1).await.unwrap());
    assert!(!db.store.accept_batch(a.id, 1).await.unwrap());
    assert!(db.store.accept_batch(a.id, 3).await.unwrap());
    assert!(!db.store.accept_batch(a.id, 2).await.unwrap());
    let c = db
        .store
        .queue_command(&actor(3_000), a.id, "exec", r#"{"argv":["/bin/true"]}"#)
        .await
        .unwrap();
    assert_eq!(c.state, CommandState::Queued);
    let piece = CommandProgress {
        stdout: "hello ".into(),
        stdout_bytes: 6,
        started_at: Some(3_100),
        ..CommandProgress::default()
    };
    assert!(
        db.store
            .command_progress(a.id, c.id, &piece, 8)
            .await
            .unwrap()
    );
    // The first piece again (its answer was lost), then the rest: appended once.
    assert!(
        db.store
            .command_progress(a.id, c.id, &piece, 8)
            .await
            .unwrap()
    );
    let end = CommandProgress {
        stdout: "world".into(),
        stdout_from: 6,
        stdout_bytes: 11,
        end: Some(("exited".into(), Some(0), String::new())),
        ..CommandProgress::default()
    };
    assert!(
        db.store
            .command_progress(a.id, c.id, &end, 8)
            .await
            .unwrap()
    );
    assert!(
        !db.store
            .command_progress(a.id, c.id, &end, 8)
            .await
            .unwrap(),
        "a report sent twice counts once"
    );
    let done = db.store.get_command(c.id).await.unwrap();
    assert_eq!(done.state, CommandState::Finished);
    assert_eq!(done.stdout, "hello wo", "kept up to the cap");
    assert_eq!(done.stdout_bytes, 11, "counted in full");
    assert_eq!(done.exit_code, Some(0));
    assert!(db.store.open_commands(a.id).await.unwrap().is_empty());
    // The engine's plugin runs: queued and forgotten without an audit record each.
    let audited = |db: &TestDb| {
        let store = db.store.clone();
        async move {
            let filter = pupitre_store::AuditFilter {
                visible: vec![ROOT_ENTITY],
                global: true,
                ..pupitre_store::AuditFilter::default()
            };
            let page = pupitre_store::Page {
                after: None,
                limit: 1000,
            };
            store.list_audit(&filter, page).await.unwrap().len()
        }
    };
    let before = audited(&db).await;
    let run = db
        .store
        .queue_check_command(a.id, "plugin", r#"{"plugin":"check_load"}"#, 4_000)
        .await
        .unwrap();
    assert_eq!(db.store.open_commands(a.id).await.unwrap().len(), 1);
    db.store.forget_command(run.id).await.unwrap();
    assert!(db.store.open_commands(a.id).await.unwrap().is_empty());
    assert_eq!(audited(&db).await, before);
}
