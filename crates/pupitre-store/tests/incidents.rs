//! Incidents conformance: the inbox applies each signal once; alerts deduplicate by key and
//! resolve their incident with the last of them; an incident takes in others as merged; a
//! resolved incident reopens; people's actions are audited and alert source tokens work
//! until revoked; against SQLite and PostgreSQL.
#![expect(
    clippy::unwrap_used,
    reason = "a test fails loudly on any unexpected error"
)]

use pupitre_core::audit::Actor;
use pupitre_core::incident::{AlertSource, Grouping, IncidentStatus, Severity};
use pupitre_core::inventory::{AssetInput, AssetType};
use pupitre_core::model::ROOT_ENTITY;
use pupitre_store::incidents::{Apply, IncidentAction, IncidentFilter, NewAlertSource, Signal};
use pupitre_store::testing::TestDb;
use pupitre_store::{AuditFilter, Page, StoreError};

pupitre_store::conformance!(
    signals_apply_once_dedup_and_resolve,
    incidents_merge_reopen_and_record_actions,
    alert_source_tokens_work_until_revoked,
    runbooks_keep_their_versions_and_actions_reach_the_timeline_once,
    notification_settings_round_trip_and_digests_count_once,
);

fn actor(at: i64) -> Actor {
    Actor {
        user_id: None,
        login: "night".into(),
        source: "127.0.0.1".into(),
        at,
    }
}

fn signal(key: &str, firing: bool, asset: Option<i64>, at: i64) -> Signal {
    Signal {
        source: "webhook".into(),
        source_id: None,
        entity_id: Some(ROOT_ENTITY),
        key: key.into(),
        firing,
        severity: "critical".into(),
        summary: format!("{key} is down"),
        details: serde_json::Map::new(),
        links: Vec::new(),
        asset_id: asset,
        check_id: None,
        service: String::new(),
        at,
        notify: true,
        unreachable: false,
    }
}

/// Queues the signal and returns the decision applying it, with `grouping`.
async fn queued(db: &TestDb, s: Signal, grouping: Option<Grouping>) -> Apply {
    db.store.push_signals(&[s], 1).await.unwrap();
    let inbox = db.store.inbox(100).await.unwrap();
    let item = inbox.last().unwrap();
    Apply {
        inbox_id: item.id,
        signal: item.signal.clone().unwrap(),
        source: AlertSource::Webhook,
        severity: Severity::Critical,
        entity_id: ROOT_ENTITY,
        grouping,
        suppressed: String::new(),
        reopen: None,
        title: "db down".into(),
        absorb: Vec::new(),
    }
}

fn open(key: &str) -> Option<Grouping> {
    Some(Grouping::Open {
        group_key: key.into(),
    })
}

async fn asset(db: &TestDb, name: &str) -> i64 {
    let input = AssetInput::new(ROOT_ENTITY, AssetType::Server, name);
    db.store.create_asset(&actor(1), &input).await.unwrap().id
}

async fn signals_apply_once_dedup_and_resolve(db: TestDb) {
    let s = &*db.store;
    let db1 = asset(&db, "db1").await;
    let apply = queued(
        &db,
        signal("hook:db1", true, Some(db1), 10),
        open("asset:1"),
    )
    .await;
    let first = s.apply_signal(&apply, 100).await.unwrap();
    assert!(first.done && first.opened);
    let incident = first.incident_id.unwrap();
    // Applied twice (another server, or a retry): the inbox row is gone, nothing happens.
    let again = s.apply_signal(&apply, 100).await.unwrap();
    assert!(!again.done);
    assert!(s.inbox(10).await.unwrap().is_empty());
    // The same key firing again updates the alert.
    let apply = queued(&db, signal("hook:db1", true, Some(db1), 20), None).await;
    let update = s.apply_signal(&apply, 110).await.unwrap();
    assert_eq!(update.alert_id, first.alert_id);
    let alerts = s.incident_alerts(incident).await.unwrap();
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].updates, 2);
    assert!(alerts[0].firing);
    // A second alert joins; the incident resolves with the last of them.
    let other = queued(
        &db,
        signal("hook:db1-disk", true, Some(db1), 30),
        Some(Grouping::Join {
            incident,
            behind_cause: false,
        }),
    )
    .await;
    s.apply_signal(&other, 120).await.unwrap();
    let r = s
        .apply_signal(
            &queued(&db, signal("hook:db1", false, None, 40), None).await,
            130,
        )
        .await
        .unwrap();
    assert!(!r.resolved, "one alert still fires");
    let r = s
        .apply_signal(
            &queued(&db, signal("hook:db1-disk", false, None, 50), None).await,
            140,
        )
        .await
        .unwrap();
    assert!(r.resolved);
    let i = s.get_incident(incident).await.unwrap();
    assert_eq!(i.status, IncidentStatus::Resolved);
    assert_eq!(i.resolved_by.as_deref(), Some("pupitre"));
    let kinds: Vec<String> = s
        .incident_timeline(incident)
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.kind)
        .collect();
    assert_eq!(
        kinds,
        [
            "opened",
            "alert_fired",
            "alert_fired",
            "alert_resolved",
            "alert_resolved",
            "resolved"
        ]
    );
    let assets = s.incident_assets(incident).await.unwrap();
    assert_eq!(
        (assets[0].name.as_str(), assets[0].role.as_str()),
        ("db1", "cause")
    );
    // A resolved signal for an alert nobody knows changes nothing.
    let r = s
        .apply_signal(
            &queued(&db, signal("hook:never", false, None, 60), None).await,
            150,
        )
        .await
        .unwrap();
    assert!(r.done && r.alert_id.is_none());
}

async fn incidents_merge_reopen_and_record_actions(db: TestDb) {
    let s = &*db.store;
    let switch = asset(&db, "sw1").await;
    let web = asset(&db, "web1").await;
    // The server's incident opens first; the switch's takes it in.
    let first = s
        .apply_signal(
            &queued(
                &db,
                signal("hook:web1", true, Some(web), 10),
                open("asset:web1"),
            )
            .await,
            100,
        )
        .await
        .unwrap();
    let server_incident = first.incident_id.unwrap();
    let mut apply = queued(
        &db,
        signal("hook:sw1", true, Some(switch), 20),
        open("asset:sw1"),
    )
    .await;
    apply.absorb = vec![server_incident];
    let second = s.apply_signal(&apply, 110).await.unwrap();
    let switch_incident = second.incident_id.unwrap();
    let merged = s.get_incident(server_incident).await.unwrap();
    assert_eq!(merged.status, IncidentStatus::Resolved);
    assert_eq!(merged.merged_into, Some(switch_incident));
    let alerts = s.incident_alerts(switch_incident).await.unwrap();
    assert_eq!(alerts.len(), 2, "the server's alert moved over");
    let roles: Vec<(String, String)> = s
        .incident_assets(switch_incident)
        .await
        .unwrap()
        .into_iter()
        .map(|a| (a.name, a.role))
        .collect();
    assert_eq!(
        roles,
        [
            ("sw1".into(), "cause".into()),
            ("web1".into(), "impacted".into())
        ]
    );
    let open_now = s.open_incidents().await.unwrap();
    assert_eq!(
        open_now.iter().map(|i| i.id).collect::<Vec<_>>(),
        [switch_incident]
    );
    // A merged incident cannot be reopened by hand.
    let refused = s
        .act_on_incident(&actor(200), server_incident, &IncidentAction::Reopen)
        .await;
    assert!(
        matches!(refused, Err(StoreError::Conflict { .. })),
        "{refused:?}"
    );

    // People's actions: acknowledged once, audited once.
    let a = actor(300);
    let i = s
        .act_on_incident(&a, switch_incident, &IncidentAction::Acknowledge)
        .await
        .unwrap();
    assert_eq!(i.status, IncidentStatus::Acknowledged);
    assert_eq!(i.acknowledged_by.as_deref(), Some("night"));
    s.act_on_incident(&a, switch_incident, &IncidentAction::Acknowledge)
        .await
        .unwrap();
    s.act_on_incident(
        &a,
        switch_incident,
        &IncidentAction::Note("power cable reseated".into()),
    )
    .await
    .unwrap();
    let refused = s
        .act_on_incident(&a, switch_incident, &IncidentAction::Assign(Some(999_999)))
        .await;
    assert!(matches!(refused, Err(StoreError::Conflict { .. })));
    s.act_on_incident(&a, switch_incident, &IncidentAction::Resolve)
        .await
        .unwrap();
    let audit: Vec<String> = s
        .list_audit(
            &AuditFilter {
                visible: vec![ROOT_ENTITY],
                global: true,
                ..AuditFilter::default()
            },
            Page {
                after: None,
                limit: 100,
            },
        )
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.event.action)
        .filter(|a| a.starts_with("incident."))
        .collect();
    assert_eq!(audit.len(), 3, "{audit:?}");
    // The switch's alert fires again: the decision reopens the incident.
    s.apply_signal(
        &queued(&db, signal("hook:sw1", false, None, 400), None).await,
        400,
    )
    .await
    .unwrap();
    assert_eq!(
        s.resolved_since("hook:sw1", 0).await.unwrap(),
        Some(switch_incident)
    );
    let mut apply = queued(&db, signal("hook:sw1", true, Some(switch), 500), None).await;
    apply.reopen = Some(switch_incident);
    let r = s.apply_signal(&apply, 500).await.unwrap();
    assert!(r.reopened);
    let i = s.get_incident(switch_incident).await.unwrap();
    assert_eq!((i.status, i.reopened), (IncidentStatus::Triggered, 1));
    let listed = s
        .list_incidents(&IncidentFilter {
            entities: vec![ROOT_ENTITY],
            statuses: vec![IncidentStatus::Triggered],
            asset_id: Some(web),
            before: None,
            limit: 10,
        })
        .await
        .unwrap();
    assert_eq!(
        listed.iter().map(|i| i.id).collect::<Vec<_>>(),
        [switch_incident]
    );
}

async fn alert_source_tokens_work_until_revoked(db: TestDb) {
    let s = &*db.store;
    let created = s
        .create_alert_source(
            &actor(1),
            &NewAlertSource {
                entity_id: ROOT_ENTITY,
                name: "prometheus".into(),
                kind: AlertSource::Alertmanager,
                token_hash: "hash-1".into(),
                prefix: "pal_1234".into(),
            },
        )
        .await
        .unwrap();
    let found = s
        .alert_source_by_token("hash-1", 50)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((found.id, found.last_used_at), (created.id, Some(50)));
    assert!(
        s.alert_source_by_token("hash-2", 50)
            .await
            .unwrap()
            .is_none()
    );
    s.revoke_alert_source(&actor(60), created.id).await.unwrap();
    assert!(
        s.alert_source_by_token("hash-1", 70)
            .await
            .unwrap()
            .is_none()
    );
    let bad = s
        .create_alert_source(
            &actor(1),
            &NewAlertSource {
                entity_id: 987_654,
                name: "x".into(),
                kind: AlertSource::Webhook,
                token_hash: "hash-3".into(),
                prefix: "pal_9".into(),
            },
        )
        .await;
    assert!(matches!(bad, Err(StoreError::Conflict { .. })), "{bad:?}");
}

async fn runbooks_keep_their_versions_and_actions_reach_the_timeline_once(db: TestDb) {
    use pupitre_store::agents::{AgentFacts, Enrolled, NewAgent, NewEnrolment};
    use pupitre_store::runbooks::{NewIncidentAction, RunbookInput};
    let s = &*db.store;
    let host = asset(&db, "web-1").await;
    let input = |body: &str| RunbookInput {
        entity_id: ROOT_ENTITY,
        target_kind: "asset".into(),
        target: host.to_string(),
        title: "web-1 down".into(),
        body: body.into(),
        actions: r#"[{"name":"restart","argv":["/bin/true"]}]"#.into(),
        note: String::new(),
    };
    let v1 = s.create_runbook(&actor(10), &input("first")).await.unwrap();
    let v2 = s
        .update_runbook(&actor(20), v1.id, &input("second"))
        .await
        .unwrap();
    assert_eq!((v2.version, v2.latest, v2.body.as_str()), (2, 2, "second"));
    let old = s.get_runbook(v1.id, Some(1)).await.unwrap();
    assert_eq!(
        (old.version, old.latest, old.body.as_str()),
        (1, 2, "first")
    );
    assert_eq!(s.runbook_versions(v1.id).await.unwrap().len(), 2);
    let found = s
        .runbooks_for(&[
            ("service".into(), "x".into()),
            ("asset".into(), host.to_string()),
        ])
        .await
        .unwrap();
    assert_eq!(found.iter().map(|r| r.version).collect::<Vec<_>>(), vec![2]);
    assert_eq!(s.list_runbooks(&[ROOT_ENTITY]).await.unwrap().len(), 1);

    s.create_enrolment(
        &actor(30),
        &NewEnrolment {
            entity_id: ROOT_ENTITY,
            label: "rack".into(),
            token_hash: "enrol-hash".into(),
            prefix: "pen_".into(),
            max_uses: 1,
            expires_at: i64::MAX,
        },
    )
    .await
    .unwrap();
    let agent = match s
        .enrol_agent(
            &actor(40),
            Some("enrol-hash"),
            &NewAgent {
                facts: AgentFacts {
                    name: "web-1".into(),
                    machine_id: "m1".into(),
                    version: "0.1.0".into(),
                    ..AgentFacts::default()
                },
                secret_hash: "agent-hash".into(),
                config: "{}".into(),
            },
        )
        .await
        .unwrap()
    {
        Enrolled::Agent(a) => a.id,
        Enrolled::Refused(why) => panic!("{why}"),
    };
    let apply = queued(
        &db,
        signal("web", true, Some(host), 50),
        Some(Grouping::Open {
            group_key: "asset:web".into(),
        }),
    )
    .await;
    let incident = s
        .apply_signal(&apply, 50)
        .await
        .unwrap()
        .incident_id
        .unwrap();
    let (action, command) = s
        .start_incident_action(
            &actor(60),
            &NewIncidentAction {
                incident_id: incident,
                runbook_id: v1.id,
                runbook_version: 2,
                action: "restart".into(),
                asset_id: host,
                agent_id: agent,
                automatic: true,
                spec: r#"{"argv":["/bin/true"]}"#.into(),
                text: "launched restart".into(),
            },
            Vec::new(),
        )
        .await
        .unwrap();
    assert_eq!(
        (action.command_id, action.state.as_str()),
        (command.id, "running")
    );
    assert_eq!(s.running_incident_actions().await.unwrap().len(), 1);
    assert_eq!(
        s.last_automatic_action(host, "restart", 0).await.unwrap(),
        Some(60)
    );
    assert_eq!(
        s.last_automatic_action(host, "restart", 60).await.unwrap(),
        None
    );
    assert!(
        s.finish_incident_action(action.id, "restart: exit code 0", 70)
            .await
            .unwrap()
    );
    assert!(
        !s.finish_incident_action(action.id, "again", 80)
            .await
            .unwrap(),
        "once"
    );
    let line = s.incident_timeline(incident).await.unwrap();
    let texts: Vec<&str> = line.iter().map(|t| t.text.as_str()).collect();
    assert!(
        texts.contains(&"launched restart") && texts.contains(&"restart: exit code 0"),
        "{texts:?}"
    );
    assert!(!texts.contains(&"again"));
    // Deleting the runbook keeps what was run, without the link.
    s.delete_runbook(&actor(90), v1.id).await.unwrap();
    let kept = s.incident_actions(incident).await.unwrap();
    assert_eq!((kept.len(), kept[0].runbook_id), (1, None));
}

async fn notification_settings_round_trip_and_digests_count_once(db: TestDb) {
    use pupitre_store::incidents::{Delivery, NewNotification};
    use pupitre_store::notify::NewContactMethod;
    let s = &*db.store;
    let me = actor(10);
    let input = pupitre_core::model::UserInput {
        login: "night".into(),
        display_name: "Night".into(),
        email: String::new(),
        phone: String::new(),
        language: "en".into(),
        time_zone: "Europe/Paris".into(),
        active: true,
        entity_id: ROOT_ENTITY,
        notify_email: true,
        notify_sms: false,
    };
    let user = s
        .create_users(
            &me,
            &[pupitre_store::NewUser {
                input,
                password_hash: None,
                must_change_password: false,
                assignments: Vec::new(),
                teams: Vec::new(),
            }],
        )
        .await
        .unwrap()[0]
        .id;
    let method = s
        .create_contact_method(
            &me,
            &NewContactMethod {
                user_id: user,
                kind: "slack".into(),
                label: "ops".into(),
                address: "https://hooks.example".into(),
                secret: Some("v1.sealed".into()),
            },
        )
        .await
        .unwrap();
    assert_eq!(
        s.list_contact_methods(user).await.unwrap(),
        vec![method.clone()]
    );
    assert_eq!(s.notification_prefs(user).await.unwrap(), None);
    s.put_notification_prefs(&me, user, r#"{"rules":[],"digest_after":3}"#)
        .await
        .unwrap();
    s.put_notification_prefs(&me, user, r#"{"rules":[],"digest_after":4}"#)
        .await
        .unwrap();
    assert_eq!(
        s.notification_prefs(user).await.unwrap().as_deref(),
        Some(r#"{"rules":[],"digest_after":4}"#)
    );
    s.put_message_template(&me, "sms", "", "P{{ incident.priority }}")
        .await
        .unwrap();
    s.put_message_template(&me, "sms", "", "#{{ incident.id }}")
        .await
        .unwrap();
    let templates = s.list_message_templates().await.unwrap();
    assert_eq!(
        (templates.len(), templates[0].body.as_str()),
        (1, "#{{ incident.id }}")
    );
    s.delete_message_template(&me, "sms").await.unwrap();
    assert!(matches!(
        s.delete_message_template(&me, "sms").await,
        Err(StoreError::NotFound)
    ));

    // Three pages, two of them in one digest: two messages.
    let apply = queued(
        &db,
        signal("db", true, None, 50),
        Some(Grouping::Open {
            group_key: "key:db".into(),
        }),
    )
    .await;
    let incident = s
        .apply_signal(&apply, 50)
        .await
        .unwrap()
        .incident_id
        .unwrap();
    let page = |due_at: i64| NewNotification {
        user_id: user,
        channel: "slack".into(),
        address: "https://hooks.example".into(),
        contact_method_id: Some(method.id),
        due_at,
        step: 0,
        round: 0,
        text: "paged night by Slack".into(),
    };
    assert!(
        s.record_pages(incident, None, 100, &[page(100), page(100), page(500)], 100)
            .await
            .unwrap()
    );
    let due = s.due_notifications(200, 10).await.unwrap();
    assert_eq!(due.len(), 2, "the third waits for its delay");
    // One server takes the first for its attempt; another cannot.
    assert!(
        s.claim_notification(due[0].id, due[0].next_attempt_at, 999)
            .await
            .unwrap()
    );
    assert!(
        !s.claim_notification(due[0].id, due[0].next_attempt_at, 999)
            .await
            .unwrap()
    );
    s.postpone_notifications(&[due[1].id], 300).await.unwrap();
    assert_eq!(s.due_notifications(200, 10).await.unwrap().len(), 0);
    let ids: Vec<i64> = s
        .incident_notifications(incident)
        .await
        .unwrap()
        .iter()
        .map(|n| n.id)
        .collect();
    s.notification_attempted(ids[0], ids[0], &Delivery::Sent, 210)
        .await
        .unwrap();
    s.notification_attempted(ids[1], ids[1], &Delivery::Sent, 320)
        .await
        .unwrap();
    s.notification_attempted(ids[2], ids[1], &Delivery::Sent, 320)
        .await
        .unwrap();
    assert_eq!(
        s.messages_sent_since(user, 0).await.unwrap(),
        vec![210, 320]
    );
    s.cancel_notification(ids[0], "too late", 400)
        .await
        .unwrap();
    assert_eq!(
        s.incident_notifications(incident).await.unwrap()[0].state,
        "sent",
        "a sent one stays sent"
    );
    // Deleting the method keeps the notifications, without the link.
    s.delete_contact_method(&me, method.id).await.unwrap();
    let kept = s.incident_notifications(incident).await.unwrap();
    assert!(kept.iter().all(|n| n.contact_method_id.is_none()));
    assert_eq!(kept[2].message_id, Some(ids[1]));
}
