//! Supervision conformance: checks, results, events, acknowledgements, heartbeats and
//! downtimes, against SQLite and PostgreSQL.
#![expect(
    clippy::unwrap_used,
    reason = "a test fails loudly on any unexpected error"
)]

use pupitre_core::audit::Actor;
use pupitre_core::inventory::{AssetInput, AssetType, RelationInput, RelationKind};
use pupitre_core::model::ROOT_ENTITY;
use pupitre_core::monitoring::State;
use pupitre_core::monitoring::check::{Downtime, EventKind, LastResult, Recurrence, ZoneOffsets};
use pupitre_core::monitoring::definition::{CheckDefinitionInput, ProbeSpec, check_definition};
use pupitre_core::monitoring::status::{Acknowledgement, CheckStatus, Context};
use pupitre_store::monitoring::{CheckFilter, Heartbeat, NewCheck, NewEvent, ResultWrite};
use pupitre_store::testing::TestDb;
use pupitre_store::{Page, Store, StoreError};

pupitre_store::conformance!(
    checks_round_trip_with_their_state,
    results_events_and_acknowledgements_are_kept_apart,
    heartbeats_downtimes_and_dependencies,
    a_batch_of_results_is_written_whole_and_checks_are_read_by_id,
);

fn actor(at: i64) -> Actor {
    Actor {
        user_id: None,
        login: "test".into(),
        source: "127.0.0.1".into(),
        at,
    }
}

async fn asset(s: &dyn Store, name: &str, asset_type: AssetType) -> i64 {
    let mut input = AssetInput::new(ROOT_ENTITY, asset_type, name);
    input.management_ip = "192.0.2.10".into();
    s.create_asset(&actor(1), &input).await.unwrap().id
}

fn definition(
    name: &str,
    probe: ProbeSpec,
) -> pupitre_core::monitoring::definition::CheckDefinition {
    check_definition(CheckDefinitionInput {
        name: name.into(),
        probe,
        interval_s: 60,
        retry_interval_s: 30,
        timeout_s: 10,
        max_attempts: 2,
        warning: "0.5".into(),
        critical: "@1:2".into(),
        notifications_enabled: true,
        entity_id: ROOT_ENTITY,
    })
    .unwrap()
}

fn tcp(port: u32) -> ProbeSpec {
    ProbeSpec::Tcp {
        host: String::new(),
        port,
        send: "QUIT\r\n".into(),
        expect: "220 \"ok\"".into(),
    }
}

fn all() -> Page {
    Page {
        after: None,
        limit: 100,
    }
}

async fn checks_round_trip_with_their_state(db: TestDb) {
    let s = &*db.store;
    let web = asset(s, "web1", AssetType::Server).await;
    let def = definition("SMTP", tcp(25));
    let created = s
        .create_check(
            &actor(5),
            &NewCheck {
                asset_id: web,
                definition: def.clone(),
                host_check: true,
                heartbeat_hash: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(created.check.definition, def);
    assert!(created.check.host_check);
    assert!(created.status.is_pending());
    assert_eq!(created.status.max_attempts, 2);
    assert_eq!(created.asset_name, "web1");
    assert_eq!(created.asset_address, "192.0.2.10");
    assert_eq!(created.last, None);
    assert_eq!(s.get_check(created.check.id).await.unwrap(), created);
    assert_eq!(
        s.all_checks().await.unwrap(),
        std::slice::from_ref(&created)
    );

    // Names are unique per asset; one host check per asset.
    let again = s
        .create_check(
            &actor(6),
            &NewCheck {
                asset_id: web,
                definition: def.clone(),
                host_check: false,
                heartbeat_hash: None,
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(again, StoreError::Conflict { ref field, .. } if field == "name"),
        "{again:?}"
    );
    let second_host = s
        .create_check(
            &actor(6),
            &NewCheck {
                asset_id: web,
                definition: definition(
                    "ping",
                    ProbeSpec::Ping {
                        host: String::new(),
                        count: 3,
                    },
                ),
                host_check: true,
                heartbeat_hash: None,
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(second_host, StoreError::Conflict { ref field, .. } if field == "host_check"),
        "{second_host:?}"
    );
    let missing = s
        .create_check(
            &actor(6),
            &NewCheck {
                asset_id: 999_999,
                definition: def.clone(),
                host_check: false,
                heartbeat_hash: None,
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(missing, StoreError::Conflict { ref field, .. } if field == "asset_id"),
        "{missing:?}"
    );

    // Update keeps the kind; a change of kind is refused.
    let mut changed = def.clone();
    changed.interval_s = 120;
    changed.probe = tcp(587);
    let updated = s
        .update_check(&actor(7), created.check.id, &changed, false)
        .await
        .unwrap();
    assert_eq!(updated.check.definition, changed);
    assert!(!updated.check.host_check);
    assert_eq!(updated.check.updated_at, 7);
    let mut other_kind = changed.clone();
    other_kind.probe = ProbeSpec::Heartbeat { grace_s: 0 };
    assert!(
        s.update_check(&actor(8), created.check.id, &other_kind, false)
            .await
            .is_err()
    );

    // Filters.
    let list = |f: CheckFilter| async move { s.list_checks(&f, all()).await.unwrap().len() };
    let visible = vec![ROOT_ENTITY];
    assert_eq!(
        list(CheckFilter {
            visible: visible.clone(),
            ..Default::default()
        })
        .await,
        1
    );
    assert_eq!(
        list(CheckFilter::default()).await,
        0,
        "no visible entity, nothing"
    );
    assert_eq!(
        list(CheckFilter {
            visible: visible.clone(),
            query: Some("smt".into()),
            ..Default::default()
        })
        .await,
        1
    );
    assert_eq!(
        list(CheckFilter {
            visible: visible.clone(),
            query: Some("WEB".into()),
            ..Default::default()
        })
        .await,
        1
    );
    assert_eq!(
        list(CheckFilter {
            visible: visible.clone(),
            query: Some("%".into()),
            ..Default::default()
        })
        .await,
        0
    );
    assert_eq!(
        list(CheckFilter {
            visible: visible.clone(),
            probe_kind: Some("ping".into()),
            ..Default::default()
        })
        .await,
        0
    );
    assert_eq!(
        list(CheckFilter {
            visible: visible.clone(),
            problems: true,
            ..Default::default()
        })
        .await,
        0,
        "pending is no problem"
    );

    let audit = s
        .list_audit(
            &pupitre_store::AuditFilter {
                visible: visible.clone(),
                object_type: Some("check".into()),
                ..Default::default()
            },
            all(),
        )
        .await
        .unwrap();
    let actions: Vec<&str> = audit.iter().map(|r| r.event.action.as_str()).collect();
    assert_eq!(actions, ["check.update", "check.create"]);

    s.delete_check(&actor(9), created.check.id).await.unwrap();
    assert!(matches!(
        s.get_check(created.check.id).await,
        Err(StoreError::NotFound)
    ));
}

async fn results_events_and_acknowledgements_are_kept_apart(db: TestDb) {
    let s = &*db.store;
    let web = asset(s, "web2", AssetType::Server).await;
    let record = s
        .create_check(
            &actor(5),
            &NewCheck {
                asset_id: web,
                definition: definition("HTTP", tcp(80)),
                host_check: false,
                heartbeat_hash: None,
            },
        )
        .await
        .unwrap();
    let id = record.check.id;
    let mut status = record.status.clone();
    let write = |status: &mut pupitre_core::monitoring::status::CheckStatus, state, at| {
        let t = status.apply(state, at, &Context::NORMAL);
        ResultWrite {
            check_id: id,
            status: status.clone(),
            last: LastResult {
                at,
                duration_ms: 12,
                output: format!("TCP {} - 'quoted' | not perfdata", state.key()),
                long_output: "line 2\nline 3".into(),
                perfdata: "time=0.012s;;;0".into(),
            },
            acknowledgement_removed: t.acknowledgement_removed,
            events: t
                .hard_change
                .then(|| NewEvent {
                    at,
                    kind: EventKind::State,
                    state,
                    previous_state: t.previous_state,
                    unreachable: t.unreachable,
                    notify: t.notify,
                    output: format!("TCP {}", state.key()),
                })
                .into_iter()
                .collect(),
        }
    };
    let r1 = write(&mut status, State::Ok, 100);
    let r2 = write(&mut status, State::Critical, 200);
    let r3 = write(&mut status, State::Critical, 300);
    s.save_results(&[r1, r2]).await.unwrap();
    s.save_results(&[r3]).await.unwrap();
    let stored = s.get_check(id).await.unwrap();
    assert_eq!(stored.status, status);
    assert_eq!(
        stored.status.history,
        [State::Ok, State::Critical, State::Critical]
    );
    let last = stored.last.unwrap();
    assert_eq!((last.at, last.duration_ms), (300, 12));
    assert_eq!(last.long_output, "line 2\nline 3");
    let events = s.list_events(id, all()).await.unwrap();
    let seen: Vec<(i64, State, Option<State>, bool)> = events
        .iter()
        .map(|e| (e.at, e.state, e.previous_state, e.notify))
        .collect();
    assert_eq!(
        seen,
        [
            (300, State::Critical, Some(State::Critical), true),
            (100, State::Ok, None, false)
        ]
    );
    let older = s
        .list_events(
            id,
            Page {
                after: Some(events[0].id),
                limit: 10,
            },
        )
        .await
        .unwrap();
    assert_eq!(older.len(), 1);

    // An acknowledgement written by a request survives the next result.
    let ack = Acknowledgement {
        author: "alice".into(),
        comment: "on it".into(),
        expires_at: Some(10_000),
    };
    s.acknowledge(&actor(350), id, &ack, State::Critical)
        .await
        .unwrap();
    let r4 = write(&mut status, State::Critical, 400);
    s.save_results(&[r4]).await.unwrap();
    assert_eq!(
        s.get_check(id).await.unwrap().status.acknowledgement,
        Some(ack.clone())
    );
    // A recovery removes it.
    status.acknowledgement = Some(ack);
    let r5 = write(&mut status, State::Ok, 500);
    assert!(r5.acknowledgement_removed);
    s.save_results(&[r5]).await.unwrap();
    assert_eq!(s.get_check(id).await.unwrap().status.acknowledgement, None);
    assert!(
        s.remove_acknowledgement(&actor(600), id, State::Ok)
            .await
            .is_err()
    );
    let kinds: Vec<EventKind> = s
        .list_events(id, all())
        .await
        .unwrap()
        .iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        kinds,
        [
            EventKind::State,
            EventKind::Acknowledged,
            EventKind::State,
            EventKind::State
        ]
    );

    // Results for a check deleted meanwhile are dropped, with their events.
    let r6 = write(&mut status, State::Critical, 700);
    s.delete_check(&actor(650), id).await.unwrap();
    s.save_results(&[r6]).await.unwrap();

    let counts = s.state_counts(&[ROOT_ENTITY]).await.unwrap();
    assert!(counts.is_empty(), "{counts:?}");
}

async fn heartbeats_downtimes_and_dependencies(db: TestDb) {
    let s = &*db.store;
    let app = asset(s, "nightly", AssetType::Application).await;
    let switch = asset(s, "sw1", AssetType::Switch).await;
    let record = s
        .create_check(
            &actor(5),
            &NewCheck {
                asset_id: app,
                definition: definition("ran", ProbeSpec::Heartbeat { grace_s: 60 }),
                host_check: false,
                heartbeat_hash: Some("hash-1".into()),
            },
        )
        .await
        .unwrap();
    let beat = Heartbeat {
        at: 1000,
        state: Some(State::Warning),
        message: "3 files skipped".into(),
    };
    assert_eq!(
        s.record_heartbeat("hash-1", &beat).await.unwrap(),
        Some(record.check.id)
    );
    assert_eq!(s.record_heartbeat("hash-2", &beat).await.unwrap(), None);
    assert_eq!(
        s.get_check(record.check.id).await.unwrap().heartbeat,
        Some(beat)
    );

    let weekly = Downtime {
        id: 0,
        entity_id: ROOT_ENTITY,
        asset_id: Some(app),
        check_id: None,
        starts_at: 0,
        ends_at: 5000,
        recurrence: Some(Recurrence {
            weekdays: 0b100_0001,
            start_minute: 120,
            duration_minutes: 90,
        }),
        time_zone: "UTC".into(),
        offsets: ZoneOffsets::default(),
        author: "bob".into(),
        comment: "backups".into(),
    };
    let created = s.create_downtime(&actor(10), &weekly).await.unwrap();
    // A zone's offsets are worked out when the downtime is read.
    let paris = s
        .create_downtime(
            &actor(10),
            &Downtime {
                time_zone: "Europe/Paris".into(),
                ends_at: i64::MAX / 2,
                ..weekly.clone()
            },
        )
        .await
        .unwrap();
    let read = s.get_downtime(paris.id).await.unwrap();
    assert_eq!(read.time_zone, "Europe/Paris");
    assert!([3600, 7200].contains(&read.offsets.initial_s), "{read:?}");
    assert!(!read.offsets.changes.is_empty(), "{read:?}");
    s.delete_downtime(&actor(10), paris.id).await.unwrap();
    assert_eq!(
        Downtime {
            id: 0,
            ..created.clone()
        },
        weekly
    );
    assert_eq!(s.get_downtime(created.id).await.unwrap(), created);
    assert_eq!(
        s.current_downtimes(4999).await.unwrap(),
        std::slice::from_ref(&created)
    );
    assert!(s.current_downtimes(5000).await.unwrap().is_empty());
    assert_eq!(s.list_downtimes(&[ROOT_ENTITY], 0).await.unwrap().len(), 1);
    assert!(s.list_downtimes(&[], 0).await.unwrap().is_empty());
    let both = Downtime {
        check_id: Some(record.check.id),
        ..weekly.clone()
    };
    assert!(
        s.create_downtime(&actor(11), &both).await.is_err(),
        "asset and check at once"
    );
    let nowhere = Downtime {
        asset_id: Some(999_999),
        ..weekly
    };
    assert!(matches!(
        s.create_downtime(&actor(11), &nowhere).await,
        Err(StoreError::Conflict { .. })
    ));
    s.delete_downtime(&actor(12), created.id).await.unwrap();
    assert!(matches!(
        s.delete_downtime(&actor(12), created.id).await,
        Err(StoreError::NotFound)
    ));

    s.create_relation(
        &actor(13),
        &RelationInput {
            kind: RelationKind::ConnectedTo,
            from_id: app,
            to_id: switch,
            from_port: String::new(),
            to_port: String::new(),
            cable_id: String::new(),
            comment: String::new(),
        },
    )
    .await
    .unwrap();
    let edges = s.dependency_edges().await.unwrap();
    assert_eq!(edges.len(), 1);
    assert_eq!(
        (edges[0].kind, edges[0].from_id, edges[0].to_id),
        (RelationKind::ConnectedTo, app, switch)
    );

    let counts = s.state_counts(&[ROOT_ENTITY]).await.unwrap();
    assert_eq!(counts.len(), 1);
    assert_eq!((counts[0].state, counts[0].count), (None, 1), "pending");
}

/// `save_results` writes many rows per statement: a batch larger than one statement holds, a
/// check with two results in one batch (the last wins, an acknowledgement removed by the first
/// stays removed), acknowledgements and heartbeats that results must not touch, and a check
/// deleted meanwhile. `get_checks` reads just the checks asked for.
async fn a_batch_of_results_is_written_whole_and_checks_are_read_by_id(db: TestDb) {
    let s = &*db.store;
    let web = asset(s, "web3", AssetType::Server).await;
    let mut records = Vec::new();
    for i in 0..300 {
        let probe = if i == 0 {
            ProbeSpec::Heartbeat { grace_s: 60 }
        } else {
            tcp(1000 + i)
        };
        let record = s
            .create_check(
                &actor(5),
                &NewCheck {
                    asset_id: web,
                    definition: definition(&format!("check {i}"), probe),
                    host_check: false,
                    heartbeat_hash: (i == 0).then(|| "hash-batch".to_owned()),
                },
            )
            .await
            .unwrap();
        records.push(record);
    }
    let id = |i: usize| records[i].check.id;
    let beat = Heartbeat {
        at: 50,
        state: None,
        message: "alive".into(),
    };
    s.record_heartbeat("hash-batch", &beat).await.unwrap();
    let ack = Acknowledgement {
        author: "alice".into(),
        comment: "known".into(),
        expires_at: None,
    };
    for i in [1, 2] {
        s.acknowledge(&actor(60), id(i), &ack, State::Ok)
            .await
            .unwrap();
    }

    let result = |i: usize, status: &CheckStatus, at: i64, removed: bool| ResultWrite {
        check_id: id(i),
        status: status.clone(),
        last: LastResult {
            at,
            duration_ms: i as i64,
            output: format!("TCP OK - check {i} at {at}"),
            long_output: String::new(),
            perfdata: format!("time={i}s"),
        },
        acknowledgement_removed: removed,
        events: vec![NewEvent {
            at,
            kind: EventKind::State,
            state: status.state,
            previous_state: None,
            unreachable: false,
            notify: false,
            output: format!("check {i} at {at}"),
        }],
    };
    let mut expected: Vec<CheckStatus> = records.iter().map(|r| r.status.clone()).collect();
    let mut batch = Vec::new();
    for (i, status) in expected.iter_mut().enumerate() {
        let state = if i % 3 == 0 {
            State::Critical
        } else {
            State::Ok
        };
        status.apply(state, 100, &Context::NORMAL);
        batch.push(result(i, status, 100, i == 1));
    }
    // A second result of check 1 in the same batch: it wins, and does not bring the
    // acknowledgement back.
    expected[1].apply(State::Warning, 200, &Context::NORMAL);
    batch.push(result(1, &expected[1], 200, false));
    s.delete_check(&actor(90), id(3)).await.unwrap();
    s.save_results(&batch).await.unwrap();

    for (i, record) in records.iter().enumerate() {
        if i == 3 {
            continue;
        }
        let stored = s.get_check(record.check.id).await.unwrap();
        let mut status = expected[i].clone();
        status.acknowledgement = (i == 2).then(|| ack.clone());
        assert_eq!(stored.status, status, "check {i}");
        let last = stored.last.unwrap();
        let at = if i == 1 { 200 } else { 100 };
        assert_eq!(
            (last.at, last.duration_ms, last.output, last.perfdata),
            (
                at,
                i as i64,
                format!("TCP OK - check {i} at {at}"),
                format!("time={i}s")
            ),
            "check {i}"
        );
        assert_eq!(
            stored.heartbeat,
            (i == 0).then(|| beat.clone()),
            "check {i}"
        );
    }
    let events = s.list_events(id(1), all()).await.unwrap();
    let outputs: Vec<&str> = events
        .iter()
        .filter(|e| e.kind == EventKind::State)
        .map(|e| e.output.as_str())
        .collect();
    assert_eq!(outputs, ["check 1 at 200", "check 1 at 100"]);
    assert_eq!(s.list_events(id(299), all()).await.unwrap().len(), 1);

    let read = s.get_checks(&[id(5), id(3), id(0), 999_999]).await.unwrap();
    assert_eq!(
        read,
        [
            s.get_check(id(0)).await.unwrap(),
            s.get_check(id(5)).await.unwrap()
        ]
    );
    assert!(s.get_checks(&[]).await.unwrap().is_empty());
}
