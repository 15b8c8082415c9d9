//! Inventory conformance: every check runs against SQLite and PostgreSQL.
#![expect(
    clippy::unwrap_used,
    reason = "a test fails loudly on any unexpected error"
)]

use pupitre_core::audit::Actor;
use pupitre_core::inventory::{
    AssetInput, AssetType, BuildingInput, Disk, Face, Interface, RackInput, RelationInput,
    RelationKind, RoomInput, SiteInput, Software, Status,
};
use pupitre_core::model::{EntityInput, ROOT_ENTITY};
use pupitre_store::testing::TestDb;
use pupitre_store::{
    AssetFilter, AssetKeys, AuditFilter, InventoryUpdate, Page, Store, StoreError,
};

pupitre_store::conformance!(
    locations_nest_and_protect_their_contents,
    assets_round_trip_with_their_lists,
    rack_units_cannot_be_shared_or_overflowed,
    runs_on_and_depends_on_stay_acyclic,
    search_and_filters_find_assets,
    agent_reports_update_in_place_and_index_software,
    a_batch_of_assets_is_written_whole_or_not_at_all,
);

fn actor(at: i64) -> Actor {
    Actor {
        user_id: None,
        login: "test".into(),
        source: "127.0.0.1".into(),
        at,
    }
}

fn conflict_field(e: StoreError) -> String {
    match e {
        StoreError::Conflict { field, .. } => field,
        other => panic!("expected a conflict, got {other:?}"),
    }
}

struct Place {
    site: i64,
    room: i64,
    rack: i64,
}

async fn place(s: &dyn Store) -> Place {
    let a = actor(1);
    let site = s
        .create_site(
            &a,
            &SiteInput {
                entity_id: ROOT_ENTITY,
                name: "Paris DC1".into(),
                address: "1 rue de la Paix".into(),
                time_zone: "Europe/Paris".into(),
                comment: String::new(),
            },
        )
        .await
        .unwrap();
    let building = s
        .create_building(
            &a,
            &BuildingInput {
                site_id: site.id,
                entity_id: ROOT_ENTITY,
                name: "B".into(),
                comment: String::new(),
            },
        )
        .await
        .unwrap();
    let room = s
        .create_room(
            &a,
            &RoomInput {
                site_id: site.id,
                building_id: Some(building.id),
                entity_id: ROOT_ENTITY,
                name: "Salle 1".into(),
                grid_rows: 4,
                grid_cols: 10,
                power_capacity_w: Some(200_000),
                cooling_capacity_w: Some(180_000),
                notes: "2N".into(),
            },
        )
        .await
        .unwrap();
    let rack = s
        .create_rack(&a, &rack_input(room.id, "A01", Some((1, 1))))
        .await
        .unwrap();
    Place {
        site: site.id,
        room: room.id,
        rack: rack.id,
    }
}

fn rack_input(room_id: i64, name: &str, pos: Option<(i32, i32)>) -> RackInput {
    RackInput {
        room_id,
        entity_id: ROOT_ENTITY,
        name: name.into(),
        height_u: 42,
        grid_row: pos.map(|p| p.0),
        grid_col: pos.map(|p| p.1),
        max_power_w: Some(6000),
        comment: String::new(),
    }
}

fn server(name: &str) -> AssetInput {
    AssetInput::new(ROOT_ENTITY, AssetType::Server, name)
}

fn in_rack(name: &str, rack: i64, u: i32, height: i32) -> AssetInput {
    let mut a = server(name);
    a.rack_id = Some(rack);
    a.rack_u = Some(u);
    a.height_u = height;
    a.rack_face = Some(Face::Front);
    a
}

async fn locations_nest_and_protect_their_contents(db: TestDb) {
    let s = db.store.as_ref();
    let p = place(s).await;
    let a = actor(2);
    let rack = s.get_rack(p.rack).await.unwrap();
    assert_eq!(rack.site_id, p.site);

    let mut bad = SiteInput {
        entity_id: 999,
        name: "x".into(),
        address: String::new(),
        time_zone: "UTC".into(),
        comment: String::new(),
    };
    assert_eq!(
        conflict_field(s.create_site(&a, &bad).await.unwrap_err()),
        "entity_id"
    );
    bad.entity_id = ROOT_ENTITY;
    bad.name = "Paris DC1".into();
    assert_eq!(
        conflict_field(s.create_site(&a, &bad).await.unwrap_err()),
        "name"
    );

    // Outside the 4×10 grid, then on a taken tile.
    let e = s
        .create_rack(&a, &rack_input(p.room, "Z99", Some((5, 1))))
        .await
        .unwrap_err();
    assert_eq!(conflict_field(e), "grid_row");
    let e = s
        .create_rack(&a, &rack_input(p.room, "A01bis", Some((1, 1))))
        .await
        .unwrap_err();
    assert_eq!(conflict_field(e), "grid_row");
    let e = s
        .create_rack(&a, &rack_input(424_242, "nowhere", None))
        .await
        .unwrap_err();
    assert_eq!(conflict_field(e), "room_id");

    // A room cannot shrink under its racks; a site with rooms cannot go.
    let mut room: RoomInput = {
        let r = s.get_room(p.room).await.unwrap();
        RoomInput {
            site_id: r.site_id,
            building_id: r.building_id,
            entity_id: r.entity_id,
            name: r.name,
            grid_rows: 0,
            grid_cols: 0,
            power_capacity_w: r.power_capacity_w,
            cooling_capacity_w: r.cooling_capacity_w,
            notes: r.notes,
        }
    };
    assert_eq!(
        conflict_field(s.update_room(&a, p.room, &room).await.unwrap_err()),
        "grid_rows"
    );
    room.grid_rows = 6;
    room.grid_cols = 12;
    assert_eq!(s.update_room(&a, p.room, &room).await.unwrap().grid_rows, 6);
    assert!(matches!(
        s.delete_site(&a, p.site).await,
        Err(StoreError::Rejected(_))
    ));

    // A rack cannot shrink under its devices; deleting an empty rack works and is audited.
    s.create_asset(&a, &in_rack("top", p.rack, 40, 2))
        .await
        .unwrap();
    let mut lower = rack_input(p.room, "A01", Some((1, 1)));
    lower.height_u = 24;
    assert_eq!(
        conflict_field(s.update_rack(&a, p.rack, &lower).await.unwrap_err()),
        "height_u"
    );
    let spare = s
        .create_rack(&a, &rack_input(p.room, "A02", Some((1, 2))))
        .await
        .unwrap();
    s.delete_rack(&a, spare.id).await.unwrap();
    let log = s
        .list_audit(
            &AuditFilter {
                visible: vec![ROOT_ENTITY],
                object_type: Some("rack".into()),
                ..AuditFilter::default()
            },
            Page {
                after: None,
                limit: 10,
            },
        )
        .await
        .unwrap();
    assert!(log.iter().any(|r| r.event.action == "rack.delete"));
    assert_eq!(s.list_racks(&[ROOT_ENTITY]).await.unwrap().len(), 1);
    assert!(s.list_racks(&[42]).await.unwrap().is_empty());
}

async fn assets_round_trip_with_their_lists(db: TestDb) {
    let s = db.store.as_ref();
    let a = actor(5);
    let mut input = server("web01 <prod> 'quoted'");
    input.hostname = "web01.example.com".into();
    input.serial = "SN-1".into();
    input.asset_tag = "TAG-1".into();
    input.status = Status::InStock;
    input.status_since = "2026-11-01".into();
    input.purchase_cost_cents = Some(149_990);
    input.memory_mb = Some(65_536);
    input.interfaces = vec![
        Interface {
            name: "eth0".into(),
            mac: "00:1a:2b:3c:4d:5e".into(),
            ips: vec!["10.0.0.1".into(), "2001:db8::1".into()],
            vlan: Some(12),
            speed_mbps: Some(10_000),
        },
        Interface {
            name: "ipmi".into(),
            ..Interface::default()
        },
    ];
    input.disks = vec![Disk {
        name: "sda".into(),
        model: "PM893".into(),
        serial: "S5".into(),
        size_mb: Some(960_000),
    }];
    input.attributes.insert("firmware".into(), "2.1".into());
    input
        .attributes
        .insert("owner.cost_center".into(), "CC-12".into());
    input.tags = vec!["prod".into(), "web".into()];
    // Assets travel as JSON inside the store: escapes and non-ASCII text must survive.
    input.notes = "line 1\n\t\"back\\slash\" \u{1F680} é \u{7}".into();
    let created = s.create_asset(&a, &input).await.unwrap();
    let got = s.get_asset(created.id).await.unwrap();
    assert_eq!(got, created);
    assert_eq!(
        s.get_assets(&[created.id]).await.unwrap(),
        vec![created.clone()]
    );
    assert_eq!(AssetInput::from(got.clone()), input);

    // Changes are audited field by field.
    let mut changed = input.clone();
    changed.status = Status::InProduction;
    changed.interfaces.pop();
    let after = s
        .update_asset(&actor(6), created.id, &changed)
        .await
        .unwrap();
    assert_eq!(after.interfaces.len(), 1);
    let log = s
        .list_audit(
            &AuditFilter {
                visible: vec![ROOT_ENTITY],
                object_type: Some("asset".into()),
                object_id: Some(created.id),
                ..AuditFilter::default()
            },
            Page {
                after: None,
                limit: 10,
            },
        )
        .await
        .unwrap();
    let update = log
        .iter()
        .find(|r| r.event.action == "asset.update")
        .unwrap();
    let fields: Vec<&str> = update
        .event
        .changes
        .iter()
        .map(|c| c.field.as_str())
        .collect();
    assert_eq!(fields, vec!["status", "interfaces"]);

    // Serial numbers are unique within a type; asset tags everywhere.
    let mut dup = server("web02");
    dup.serial = "SN-1".into();
    assert_eq!(
        conflict_field(s.create_asset(&a, &dup).await.unwrap_err()),
        "serial"
    );
    dup.asset_type = AssetType::Switch;
    s.create_asset(&a, &dup).await.unwrap();
    let mut dup = server("web03");
    dup.asset_tag = "TAG-1".into();
    assert_eq!(
        conflict_field(s.create_asset(&a, &dup).await.unwrap_err()),
        "asset_tag"
    );
    let mut orphan = server("orphan");
    orphan.entity_id = 777;
    assert_eq!(
        conflict_field(s.create_asset(&a, &orphan).await.unwrap_err()),
        "entity_id"
    );
    orphan.entity_id = ROOT_ENTITY;
    orphan.site_id = Some(777);
    assert_eq!(
        conflict_field(s.create_asset(&a, &orphan).await.unwrap_err()),
        "site_id"
    );

    s.delete_asset(&a, created.id).await.unwrap();
    assert!(matches!(
        s.get_asset(created.id).await,
        Err(StoreError::NotFound)
    ));
}

async fn rack_units_cannot_be_shared_or_overflowed(db: TestDb) {
    let s = db.store.as_ref();
    let p = place(s).await;
    let a = actor(3);
    let first = s
        .create_asset(&a, &in_rack("db01", p.rack, 10, 2))
        .await
        .unwrap();
    assert_eq!(first.room_id, Some(p.room));
    assert_eq!(first.site_id, Some(p.site));
    let e = s
        .create_asset(&a, &in_rack("db02", p.rack, 11, 1))
        .await
        .unwrap_err();
    match e {
        StoreError::Conflict { field, message } => {
            assert_eq!(field, "rack_u");
            assert!(message.contains("db01"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    let e = s
        .create_asset(&a, &in_rack("big", p.rack, 40, 4))
        .await
        .unwrap_err();
    assert_eq!(conflict_field(e), "rack_u");
    // A half-depth device on the rear of a free unit fits; a device moves onto its own units.
    let mut rear = in_rack("patch", p.rack, 20, 1);
    rear.asset_type = AssetType::PatchPanel;
    rear.full_depth = false;
    rear.rack_face = Some(Face::Rear);
    s.create_asset(&a, &rear).await.unwrap();
    let mut front = in_rack("sw01", p.rack, 20, 1);
    front.asset_type = AssetType::Switch;
    front.full_depth = false;
    s.create_asset(&a, &front).await.unwrap();
    let mut moved = AssetInput::from(first.clone());
    moved.rack_u = Some(11);
    assert_eq!(
        s.update_asset(&a, first.id, &moved).await.unwrap().rack_u,
        Some(11)
    );
    let in_rack_now = s
        .list_assets(
            &AssetFilter {
                visible: vec![ROOT_ENTITY],
                rack_id: Some(p.rack),
                ..AssetFilter::default()
            },
            Page {
                after: None,
                limit: 100,
            },
        )
        .await
        .unwrap();
    assert_eq!(in_rack_now.len(), 3);
}

async fn runs_on_and_depends_on_stay_acyclic(db: TestDb) {
    let s = db.store.as_ref();
    let a = actor(4);
    let mut ids = Vec::new();
    for name in ["app", "db", "vm", "hv", "switch"] {
        ids.push(s.create_asset(&a, &server(name)).await.unwrap().id);
    }
    let [app, dbase, vm, hv, switch] = ids[..] else {
        unreachable!()
    };
    let rel = |kind, from_id, to_id| RelationInput {
        kind,
        from_id,
        to_id,
        from_port: String::new(),
        to_port: String::new(),
        cable_id: String::new(),
        comment: String::new(),
    };
    s.create_relation(&a, &rel(RelationKind::DependsOn, app, dbase))
        .await
        .unwrap();
    s.create_relation(&a, &rel(RelationKind::RunsOn, dbase, vm))
        .await
        .unwrap();
    s.create_relation(&a, &rel(RelationKind::RunsOn, vm, hv))
        .await
        .unwrap();
    let e = s
        .create_relation(&a, &rel(RelationKind::DependsOn, hv, app))
        .await
        .unwrap_err();
    match e {
        StoreError::Conflict { field, message } => {
            assert_eq!(field, "to_id");
            assert!(message.contains("cycle"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    // Cabling may loop (two switches cabled to each other both ways).
    let mut cable = rel(RelationKind::ConnectedTo, hv, switch);
    cable.from_port = "eth0".into();
    cable.to_port = "Gi1/0/1".into();
    cable.cable_id = "C-0001".into();
    s.create_relation(&a, &cable).await.unwrap();
    s.create_relation(&a, &rel(RelationKind::ConnectedTo, switch, hv))
        .await
        .unwrap();
    assert_eq!(
        conflict_field(s.create_relation(&a, &cable).await.unwrap_err()),
        "to_id"
    );
    assert_eq!(
        conflict_field(
            s.create_relation(&a, &rel(RelationKind::RunsOn, vm, 99_999))
                .await
                .unwrap_err()
        ),
        "to_id"
    );
    let around_vm = s.list_relations(&[vm]).await.unwrap();
    assert_eq!(around_vm.len(), 2);
    s.delete_relation(&a, around_vm[0].id).await.unwrap();
    assert_eq!(s.list_relations(&[vm]).await.unwrap().len(), 1);
    // Deleting an asset removes its relations.
    s.delete_asset(&a, hv).await.unwrap();
    assert!(s.list_relations(&[switch]).await.unwrap().is_empty());
}

async fn search_and_filters_find_assets(db: TestDb) {
    let s = db.store.as_ref();
    let a = actor(7);
    let child = s
        .create_entity(
            &a,
            &EntityInput {
                parent_id: ROOT_ENTITY,
                name: "Customer".into(),
                comment: String::new(),
            },
        )
        .await
        .unwrap();
    for i in 0..30 {
        let mut x = server(&format!("node{i:02}"));
        x.hostname = format!("node{i:02}.dc1.example.com");
        x.interfaces = vec![Interface {
            name: "eth0".into(),
            mac: format!("00:00:00:00:00:{i:02x}"),
            ips: vec![format!("10.1.0.{i}")],
            ..Interface::default()
        }];
        x.tags = vec![if i % 2 == 0 { "even" } else { "odd" }.into()];
        x.entity_id = if i < 20 { ROOT_ENTITY } else { child.id };
        x.serial = format!("SER{i:04}");
        s.create_asset(&a, &x).await.unwrap();
    }
    // Fresh planner statistics change no answer.
    s.optimize().await.unwrap();
    let everything = vec![ROOT_ENTITY, child.id];
    let find = |query: &[&str], visible: &[i64]| AssetFilter {
        visible: visible.to_vec(),
        query: query.iter().map(|q| (*q).to_owned()).collect(),
        ..AssetFilter::default()
    };
    let page = Page {
        after: None,
        limit: 100,
    };
    let names = |list: Vec<pupitre_core::inventory::Asset>| {
        list.into_iter().map(|a| a.name).collect::<Vec<_>>()
    };
    assert_eq!(
        names(
            s.list_assets(&find(&["node1"], &everything), page)
                .await
                .unwrap()
        )
        .len(),
        10
    );
    assert_eq!(
        names(
            s.list_assets(&find(&["NODE07.DC1"], &everything), page)
                .await
                .unwrap()
        ),
        vec!["node07"]
    );
    assert_eq!(
        names(
            s.list_assets(&find(&["10.1.0.25"], &everything), page)
                .await
                .unwrap()
        ),
        vec!["node25"]
    );
    assert_eq!(
        names(
            s.list_assets(&find(&["00:00:00:00:00:0a"], &everything), page)
                .await
                .unwrap()
        ),
        vec!["node10"]
    );
    assert_eq!(
        names(
            s.list_assets(&find(&["ser0003"], &everything), page)
                .await
                .unwrap()
        ),
        vec!["node03"]
    );
    assert!(
        s.list_assets(&find(&["10.1.0.25"], &[ROOT_ENTITY]), page)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        s.list_assets(&find(&["node", "odd"], &everything), page)
            .await
            .unwrap()
            .len(),
        15
    );
    // A search term with LIKE metacharacters is literal.
    assert!(
        s.list_assets(&find(&["%"], &everything), page)
            .await
            .unwrap()
            .is_empty()
    );
    let filter = AssetFilter {
        visible: everything.clone(),
        tag: Some("EVEN".into()),
        ..AssetFilter::default()
    };
    assert_eq!(s.count_assets(&filter).await.unwrap(), 15);
    assert_eq!(s.count_assets_upto(&filter, 10).await.unwrap(), 10);
    assert_eq!(s.count_assets_upto(&filter, 100).await.unwrap(), 15);
    // Keyset pagination walks the list without gaps or repeats.
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let list = s
            .list_assets(&filter, Page { after, limit: 4 })
            .await
            .unwrap();
        let Some(last) = list.last() else { break };
        after = Some(last.id);
        seen.extend(list.into_iter().map(|a| a.name));
    }
    assert_eq!(seen.len(), 15);
    seen.dedup();
    assert_eq!(seen.len(), 15);

    // A common prefix (over 2,000 matching terms) takes the store's other plan: same answers.
    let bulk: Vec<_> = (0..700)
        .map(|i| {
            let mut x = server(&format!("bulk-{i:03}"));
            x.hostname = format!("bulk-{i:03}.example.com");
            x.serial = format!("bulk-sn-{i:03}");
            (None, x)
        })
        .collect();
    s.write_assets(&a, &bulk).await.unwrap();
    let bulk_filter = find(&["bulk"], &everything);
    assert_eq!(s.count_assets_upto(&bulk_filter, 1000).await.unwrap(), 700);
    let first = s
        .list_assets(
            &bulk_filter,
            Page {
                after: None,
                limit: 3,
            },
        )
        .await
        .unwrap();
    assert_eq!(
        names(first.clone()),
        vec!["bulk-000", "bulk-001", "bulk-002"]
    );
    let next = s
        .list_assets(
            &bulk_filter,
            Page {
                after: Some(first[2].id),
                limit: 1,
            },
        )
        .await
        .unwrap();
    assert_eq!(names(next), vec!["bulk-003"]);
    assert_eq!(
        names(
            s.list_assets(&find(&["bulk", "bulk-sn-69"], &everything), page)
                .await
                .unwrap()
        )
        .len(),
        10
    );
}

async fn agent_reports_update_in_place_and_index_software(db: TestDb) {
    let s = db.store.as_ref();
    let mut input = server("vm");
    input.hostname = "vm.example.com".into();
    input.uuid = "4c4c4544-0042".into();
    let sw = |name: &str, version: &str| Software {
        name: name.into(),
        version: version.into(),
        publisher: "Debian".into(),
    };
    let update = InventoryUpdate {
        asset_id: None,
        input: input.clone(),
        software: vec![
            sw("openssl", "1.1.1w-0"),
            sw("bash", "5.2"),
            sw("bash", "5.2"),
        ],
        device_id: "vm-2026-11-29".into(),
    };
    let (created, was_new) = s.apply_inventory(&actor(10), &update).await.unwrap();
    assert!(was_new);
    assert_eq!(created.last_inventory_at, Some(10));
    assert_eq!(s.count_software(created.id).await.unwrap(), 2);

    for keys in [
        AssetKeys {
            device_id: "vm-2026-11-29".into(),
            ..AssetKeys::default()
        },
        AssetKeys {
            uuid: "4C4C4544-0042".into(),
            ..AssetKeys::default()
        },
        AssetKeys {
            hostname: "VM.example.com".into(),
            ..AssetKeys::default()
        },
    ] {
        assert_eq!(s.find_asset(&keys).await.unwrap().unwrap().id, created.id);
    }
    assert!(
        s.find_asset(&AssetKeys {
            serial: "nope".into(),
            ..AssetKeys::default()
        })
        .await
        .unwrap()
        .is_none()
    );

    // Many keys at once answer as one at a time: the strongest key wins, a serial
    // number counts within the type given, and keys that match nothing get `None`.
    let mut other = server("other");
    other.serial = "SN-OTHER".into();
    other.hostname = "vm.example.com".into();
    let other = s.create_asset(&actor(11), &other).await.unwrap();
    let keys = [
        AssetKeys {
            serial: "SN-OTHER".into(),
            hostname: "vm.example.com".into(),
            ..AssetKeys::default()
        },
        AssetKeys {
            serial: "SN-OTHER".into(),
            asset_type: Some(AssetType::Switch),
            ..AssetKeys::default()
        },
        AssetKeys {
            device_id: "vm-2026-11-29".into(),
            serial: "SN-OTHER".into(),
            ..AssetKeys::default()
        },
        AssetKeys::default(),
        AssetKeys {
            hostname: "VM.EXAMPLE.COM".into(),
            ..AssetKeys::default()
        },
    ];
    let found: Vec<Option<i64>> = s
        .find_assets(&keys)
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.map(|a| a.id))
        .collect();
    let one_by_one = [
        Some(other.id),
        None,
        Some(created.id),
        None,
        Some(created.id.min(other.id)),
    ];
    assert_eq!(found, one_by_one);
    for (k, want) in keys.iter().zip(one_by_one) {
        assert_eq!(s.find_asset(k).await.unwrap().map(|a| a.id), want);
    }
    s.delete_asset(&actor(12), other.id).await.unwrap();

    let mut second = update.clone();
    second.asset_id = Some(created.id);
    second.input.memory_mb = Some(2048);
    second.software = vec![sw("openssl", "3.0.15-1"), sw("bash", "5.2")];
    let (updated, was_new) = s.apply_inventory(&actor(20), &second).await.unwrap();
    assert!(!was_new);
    assert_eq!(updated.memory_mb, Some(2048));
    assert_eq!(updated.last_inventory_at, Some(20));
    let page = Page {
        after: None,
        limit: 10,
    };
    assert!(
        s.find_installations(&[ROOT_ENTITY], "OpenSSL", Some("1.1"), page)
            .await
            .unwrap()
            .is_empty()
    );
    let found = s
        .find_installations(&[ROOT_ENTITY], "openssl", Some("3."), page)
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].asset_name, "vm");
    let filter = AssetFilter {
        visible: vec![ROOT_ENTITY],
        software: Some(("openssl".into(), Some("3.0".into()))),
        ..AssetFilter::default()
    };
    assert_eq!(s.count_assets(&filter).await.unwrap(), 1);
    assert_eq!(
        s.list_software(created.id).await.unwrap(),
        vec![sw("bash", "5.2"), sw("openssl", "3.0.15-1")]
    );
}

async fn a_batch_of_assets_is_written_whole_or_not_at_all(db: TestDb) {
    let s = db.store.as_ref();
    let p = place(s).await;
    let mut existing = server("db01");
    existing.serial = "SN-DB01".into();
    let existing = s.create_asset(&actor(1), &existing).await.unwrap();
    let records = asset_records(s).await;

    // The third item takes the units of the first: nothing of the batch is written.
    let mut renamed = AssetInput::from(existing.clone());
    renamed.notes = "moved by the batch".into();
    let bad = vec![
        (None, in_rack("web01", p.rack, 10, 2)),
        (Some(existing.id), renamed.clone()),
        (None, in_rack("web02", p.rack, 11, 1)),
    ];
    let e = s.write_assets(&actor(2), &bad).await.unwrap_err();
    assert_eq!(conflict_field(e), "rack_u");
    assert_eq!(s.get_asset(existing.id).await.unwrap(), existing);
    let all = AssetFilter {
        visible: vec![ROOT_ENTITY],
        ..AssetFilter::default()
    };
    assert_eq!(s.count_assets(&all).await.unwrap(), 1);
    assert_eq!(
        asset_records(s).await,
        records,
        "a failed batch leaves no audit record"
    );

    // The same batch, fixed, is written in order with one audit record per change.
    let good = vec![
        (None, in_rack("web01", p.rack, 10, 2)),
        (Some(existing.id), renamed),
        (None, in_rack("web02", p.rack, 12, 1)),
    ];
    let written = s.write_assets(&actor(3), &good).await.unwrap();
    assert_eq!(
        written.iter().map(|a| a.name.as_str()).collect::<Vec<_>>(),
        ["web01", "db01", "web02"]
    );
    assert_eq!(written[1].id, existing.id);
    assert_eq!(written[1].notes, "moved by the batch");
    assert_eq!(
        written[0].room_id,
        Some(p.room),
        "the rack implies the room"
    );
    assert_eq!(s.count_assets(&all).await.unwrap(), 3);
    assert_eq!(asset_records(s).await, records + 3);

    // A batch is checked as if its rows were written one after the other: a row may take
    // what an earlier row gave up, never what an earlier row took.
    let mut db01 = AssetInput::from(written[1].clone());
    db01.serial = "SN-DB01-B".into();
    let mut reuse = server("db02");
    reuse.serial = "SN-DB01".into();
    let moved = in_rack("web01", p.rack, 20, 2);
    let web03 = in_rack("web03", p.rack, 10, 2);
    let ok = vec![
        (Some(written[1].id), db01),
        (None, reuse.clone()),
        (Some(written[0].id), moved),
        (None, web03.clone()),
    ];
    let again = s.write_assets(&actor(3), &ok).await.unwrap();
    assert_eq!(again[1].serial, "SN-DB01");
    assert_eq!(again[3].rack_u, Some(10), "web03 took the units web01 left");
    let mut twin = server("db03");
    twin.serial = "SN-TWIN".into();
    let e = s
        .write_assets(&actor(3), &[(None, twin.clone()), (None, twin)])
        .await
        .unwrap_err();
    assert_eq!(conflict_field(e), "serial");
    let e = s
        .write_assets(
            &actor(3),
            &[
                (None, in_rack("web04", p.rack, 30, 2)),
                (None, in_rack("web05", p.rack, 31, 1)),
            ],
        )
        .await
        .unwrap_err();
    match e {
        StoreError::Conflict { field, message } => {
            assert_eq!(field, "rack_u");
            assert!(
                message.contains("web04, earlier in the same batch"),
                "{message}"
            );
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(s.count_assets(&all).await.unwrap(), 5);

    // Attribute keys of an export, sorted byte-wise.
    let mut a = server("licence holder");
    a.attributes.insert("zeta".into(), "1".into());
    a.attributes.insert("Alpha".to_lowercase(), "2".into());
    s.create_asset(&actor(4), &a).await.unwrap();
    assert_eq!(
        s.asset_attribute_keys(&all).await.unwrap(),
        ["alpha", "zeta"]
    );
    let none = AssetFilter {
        visible: vec![],
        ..AssetFilter::default()
    };
    assert!(s.asset_attribute_keys(&none).await.unwrap().is_empty());
}

async fn asset_records(s: &dyn Store) -> usize {
    let filter = AuditFilter {
        visible: vec![ROOT_ENTITY],
        object_type: Some("asset".into()),
        ..AuditFilter::default()
    };
    let page = Page {
        after: None,
        limit: 1000,
    };
    s.list_audit(&filter, page).await.unwrap().len()
}
