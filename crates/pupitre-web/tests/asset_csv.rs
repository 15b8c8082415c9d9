//! Asset export and import over HTTP: the 10,000-asset CSV round trip, dry runs, column
//! mapping, row errors, idempotent re-imports, entity visibility and long-import jobs.
#![expect(
    clippy::unwrap_used,
    reason = "a test fails loudly on any unexpected error"
)]

mod support;

use support::{App, start};

use std::time::{Duration, Instant};

use pupitre_core::audit::Actor;
use pupitre_core::inventory::{
    AssetInput, AssetType, Disk, Face, FieldLock, Interface, OsFamily, RackInput, RoomInput,
    SiteInput, Status, asset_input,
};
use pupitre_core::model::{EntityInput, ROOT_ENTITY, TeamInput};
use pupitre_store::{AssetFilter, AuditFilter, Page};
use pupitre_web::{WebConfig, ops};
use serde_json::Value;

/// What both databases of a round trip hold besides assets, by the same names.
struct World {
    x: i64,
    y: i64,
    team_root: i64,
    team_x: i64,
    racks: Vec<i64>,
    lyon: i64,
    lyon_room: i64,
}

/// Settings where even a slow debug build answers an import within its request.
fn patient() -> WebConfig {
    WebConfig {
        request_timeout: Duration::from_secs(600),
        ..WebConfig::standard()
    }
}

fn actor() -> Actor {
    Actor {
        user_id: None,
        login: "test".into(),
        source: "local".into(),
        at: 1,
    }
}

impl App {
    async fn world(&self) -> World {
        let s = &self.st.store;
        let a = actor();
        let entity = |name: &str| EntityInput {
            parent_id: ROOT_ENTITY,
            name: name.into(),
            comment: String::new(),
        };
        let x = s.create_entity(&a, &entity("Customer X")).await.unwrap().id;
        let y = s.create_entity(&a, &entity("Customer Y")).await.unwrap().id;
        self.st.entity_tree_changed();
        let team = |name: &str, entity_id| TeamInput {
            name: name.into(),
            description: String::new(),
            entity_id,
            members: vec![],
        };
        let team_root = s
            .create_team(&a, &team("Network", ROOT_ENTITY))
            .await
            .unwrap()
            .id;
        let team_x = s.create_team(&a, &team("Storage, X", x)).await.unwrap().id;
        let site = |name: &str, entity_id| SiteInput {
            entity_id,
            name: name.into(),
            address: String::new(),
            time_zone: "Europe/Paris".into(),
            comment: String::new(),
        };
        let paris = s
            .create_site(&a, &site("Paris DC1", ROOT_ENTITY))
            .await
            .unwrap();
        let lyon = s
            .create_site(&a, &site("Lyon \"Part-Dieu\"", x))
            .await
            .unwrap();
        let room = |site_id, entity_id, name: &str| RoomInput {
            site_id,
            building_id: None,
            entity_id,
            name: name.into(),
            grid_rows: 2,
            grid_cols: 2,
            power_capacity_w: None,
            cooling_capacity_w: None,
            notes: String::new(),
        };
        let salle1 = s
            .create_room(&a, &room(paris.id, ROOT_ENTITY, "Salle 1"))
            .await
            .unwrap();
        let lyon_room = s
            .create_room(&a, &room(lyon.id, x, "Salle 2"))
            .await
            .unwrap();
        let mut racks = Vec::new();
        for (room_id, entity_id, name, (r, c)) in [
            (salle1.id, ROOT_ENTITY, "A01", (1, 1)),
            (salle1.id, ROOT_ENTITY, "A02", (1, 2)),
            (lyon_room.id, x, "B01", (1, 1)),
        ] {
            let rack = RackInput {
                room_id,
                entity_id,
                name: name.into(),
                height_u: 42,
                grid_row: Some(r),
                grid_col: Some(c),
                max_power_w: None,
                comment: String::new(),
            };
            racks.push(s.create_rack(&a, &rack).await.unwrap().id);
        }
        World {
            x,
            y,
            team_root,
            team_x,
            racks,
            lyon: lyon.id,
            lyon_room: lyon_room.id,
        }
    }

    /// A token for a new user holding `profile` on `entity` and below.
    async fn token(&self, login: &str, profile: &str, entity: i64) -> String {
        support::token(&self.st, login, profile, entity).await
    }

    async fn export(&self, token: &str, query: &str) -> String {
        let resp = self
            .http
            .get(format!("{}/api/v1/assets/export?{query}", self.base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200, "export {query}");
        let disposition = resp.headers()["content-disposition"].to_str().unwrap();
        assert!(
            disposition.starts_with("attachment; filename=\"assets-"),
            "{disposition}"
        );
        resp.text().await.unwrap()
    }

    async fn import(&self, token: &str, query: &str, csv: &str) -> (u16, Value) {
        let resp = self
            .http
            .post(format!("{}/api/v1/assets/import?{query}", self.base))
            .bearer_auth(token)
            .header("content-type", "text/csv")
            .body(csv.to_owned())
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap())
    }

    async fn get(&self, token: &str, path: &str) -> (u16, Value) {
        let resp = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    async fn count(&self) -> i64 {
        let all = self
            .st
            .store
            .list_entities()
            .await
            .unwrap()
            .iter()
            .map(|e| e.id)
            .collect();
        let filter = AssetFilter {
            visible: all,
            ..AssetFilter::default()
        };
        self.st.store.count_assets(&filter).await.unwrap()
    }

    async fn audit_len(&self) -> usize {
        let all = self
            .st
            .store
            .list_entities()
            .await
            .unwrap()
            .iter()
            .map(|e| e.id)
            .collect();
        let filter = AuditFilter {
            visible: all,
            global: true,
            ..AuditFilter::default()
        };
        let page = Page {
            after: None,
            limit: 1_000_000,
        };
        self.st.store.list_audit(&filter, page).await.unwrap().len()
    }
}

/// A date in 2020–2026, different for each `i`.
fn day(i: usize) -> String {
    format!("{}-{:02}-{:02}", 2020 + i % 7, 1 + i % 12, 1 + i % 28)
}

/// The `i`-th generated asset: every type family, status, list and kind of text.
fn generated(i: usize, w: &World, racked: &mut usize) -> AssetInput {
    use AssetType::*;
    const TYPES: &[AssetType] = &[
        Server,
        VirtualMachine,
        Switch,
        Application,
        Licence,
        Laptop,
        StorageArray,
        Ups,
        Database,
        Firewall,
        Printer,
        OperatorLink,
    ];
    let t = TYPES[i % TYPES.len()];
    let entity = if i.is_multiple_of(3) {
        w.x
    } else {
        ROOT_ENTITY
    };
    let name = match i % 7 {
        0 => format!("név «{i}», \"quoted\""),
        1 => format!("db-{i}.prod; 'single'"),
        _ => format!("asset {i}"),
    };
    let mut a = AssetInput::new(entity, t, &name);
    a.status = Status::ALL[i % Status::ALL.len()];
    a.status_since = day(i);
    a.ordered_on = day(i + 1);
    a.received_on = day(i + 2);
    a.in_production_on = day(i + 3);
    if matches!(a.status, Status::Retired | Status::Disposed) {
        a.retired_on = day(i + 4);
        a.disposed_on = day(i + 5);
    }
    match i % 4 {
        0 => a.serial = format!("SN{i:05}"),
        1 => {
            a.serial = format!("SN-{i}");
            a.asset_tag = format!("TAG-{i}");
        }
        2 => a.asset_tag = format!("INV/{i}"),
        _ => {}
    }
    if i % 4 == 3 || i.is_multiple_of(5) {
        a.hostname = format!("host-{i}.example.com");
    }
    if i.is_multiple_of(2) {
        a.manufacturer = ["Dell", "HPE", "Cisco", "Lenovo"][i % 4].into();
        a.model = format!("Model {}", i % 13);
    }
    if i.is_multiple_of(10) {
        a.uuid = format!("4c4c4544-0000-1000-8000-{i:012x}");
    }
    if matches!(t, Server | VirtualMachine | Laptop) {
        a.os_family = Some(OsFamily::ALL[i % OsFamily::ALL.len()]);
        a.os_name = "Debian GNU/Linux".into();
        a.os_version = format!("12.{}", i % 9);
        a.cpu_model = "Xeon Gold 6338, 2.0 GHz".into();
        a.cpu_sockets = Some(1 + (i % 2) as i32);
        a.cpu_cores = Some(8 * (1 + (i % 4) as i32));
        a.memory_mb = Some(1024 * (1 + (i % 64) as i64));
        a.management_ip = if i.is_multiple_of(2) {
            format!("10.1.{}.{}", i / 250 % 250, i % 250)
        } else {
            format!("2001:db8::{i:x}")
        };
    }
    if i.is_multiple_of(5) {
        a.interfaces = vec![
            Interface {
                name: "eth0".into(),
                mac: format!(
                    "02:00:{:02x}:{:02x}:{:02x}:01",
                    i >> 16 & 255,
                    i >> 8 & 255,
                    i & 255
                ),
                ips: vec![
                    format!("10.2.{}.{}", i / 250 % 250, i % 250),
                    format!("fe80::{i:x}"),
                ],
                vlan: Some((i % 4094) as i32),
                speed_mbps: Some(10_000),
            },
            Interface {
                name: "ipmi".into(),
                ..Interface::default()
            },
        ];
    }
    if i.is_multiple_of(6) {
        a.disks = vec![
            Disk {
                name: "sda".into(),
                model: "PM893 \"enterprise\"".into(),
                serial: format!("S{i}"),
                size_mb: Some(960_000),
            },
            Disk::default(),
        ];
    }
    match t {
        Server | Laptop => {
            a.attributes
                .insert("firmware".into(), format!("2.{}", i % 10));
        }
        Switch | Firewall => {
            a.attributes.insert("port_count".into(), "48".into());
        }
        Licence => {
            a.attributes.insert("seats".into(), (i % 500).to_string());
        }
        _ => {}
    }
    if i.is_multiple_of(2) {
        a.attributes
            .insert("cost_center".into(), format!("CC-{}", i % 50));
    }
    if i.is_multiple_of(11) {
        a.attributes
            .insert("owner.email".into(), "ops@example.com, night".into());
    }
    if i % 3 != 1 {
        a.tags = vec!["prod".into(), format!("batch-{}", i % 20)];
    }
    if i.is_multiple_of(9) {
        a.notes = format!("Line 1\nLine \"2\", with a comma; 日本語 ✓ {i}\r\nlast");
    }
    if i.is_multiple_of(8) {
        a.owner_team_id = Some(if entity == w.x { w.team_x } else { w.team_root });
    }
    if i.is_multiple_of(13) {
        a.purchase_cost_cents = Some((i as i64) * 1_234 + 5);
        a.purchase_date = day(i + 6);
        a.warranty_end = day(i + 7);
        a.supplier = "Acme, Inc.".into();
        a.order_ref = format!("PO-{i}");
    }
    if t.is_physical() {
        if *racked < 42 * w.racks.len() && i % 4 != 3 {
            // Distinct units, front and rear.
            let rack = *racked / 42;
            a.rack_id = Some(w.racks[rack]);
            a.rack_u = Some((*racked % 42) as i32 + 1);
            a.height_u = 1;
            a.rack_face = Some(if racked.is_multiple_of(2) {
                Face::Front
            } else {
                Face::Rear
            });
            // Each entity's assets in its own racks.
            let (e, team) = if rack == 2 {
                (w.x, w.team_x)
            } else {
                (ROOT_ENTITY, w.team_root)
            };
            a.entity_id = e;
            a.owner_team_id = a.owner_team_id.map(|_| team);
            *racked += 1;
        } else if i % 7 == 2 && entity == w.x {
            a.site_id = Some(w.lyon);
            a.room_id = Some(w.lyon_room);
            a.location_note = "shelf B, 2nd row".into();
        } else if i % 7 == 3 && entity == w.x {
            a.site_id = Some(w.lyon);
        } else if i % 7 == 4 {
            a.location_note = "office 2.14".into();
        }
        if i.is_multiple_of(17) {
            a.power_draw_w = Some(350);
            a.full_depth = i.is_multiple_of(2) || a.rack_id.is_some();
        }
    }
    asset_input(a).unwrap()
}

async fn generate(app: &App, w: &World, n: usize) {
    let mut racked = 0;
    let inputs: Vec<(Option<i64>, AssetInput)> = (0..n)
        .map(|i| (None, generated(i, w, &mut racked)))
        .collect();
    for chunk in inputs.chunks(500) {
        app.st.store.write_assets(&actor(), chunk).await.unwrap();
    }
}

#[tokio::test]
async fn ten_thousand_assets_round_trip_through_csv_byte_for_byte() {
    const N: usize = 10_000;
    let source = start(patient()).await;
    let w = source.world().await;
    let t = Instant::now();
    generate(&source, &w, N).await;
    println!("generated {N} assets in {:.1} s", t.elapsed().as_secs_f64());
    let admin = source.token("admin", "Administrator", ROOT_ENTITY).await;

    let t = Instant::now();
    let first = source.export(&admin, "format=csv").await;
    println!(
        "exported {N} assets ({} bytes) in {:.1} s",
        first.len(),
        t.elapsed().as_secs_f64()
    );
    let header = format!(
        "{},attr:cost_center,attr:firmware,attr:owner.email,attr:port_count,attr:seats",
        ops::asset_csv::COLUMNS.join(",")
    );
    assert_eq!(
        first.lines().next(),
        Some(header.as_str()),
        "attribute columns follow, sorted"
    );

    let json = source
        .export(&admin, "format=json&status=in_production")
        .await;
    let items: Vec<Value> = serde_json::from_str(&json).unwrap();
    assert_eq!(items.len(), N / Status::ALL.len() + 1);
    assert!(
        items
            .iter()
            .all(|i| i["status"] == "in_production" && i["id"].is_i64())
    );

    let target = start(patient()).await;
    target.world().await;
    let admin2 = target.token("admin", "Administrator", ROOT_ENTITY).await;
    let t = Instant::now();
    let (status, report) = target.import(&admin2, "", &first).await;
    let took = t.elapsed().as_secs_f64();
    assert_eq!(
        status,
        200,
        "{}",
        &report.to_string()[..2000.min(report.to_string().len())]
    );
    assert_eq!(report["created"], N);
    assert_eq!(report["errors"].as_array().unwrap().len(), 0);
    println!(
        "imported {N} assets in {took:.1} s ({:.0} rows/s)",
        N as f64 / took
    );
    let second = target.export(&admin2, "").await;
    if first != second {
        let diff = first
            .lines()
            .zip(second.lines())
            .find(|(a, b)| a != b)
            .unwrap();
        panic!("the second export differs:\n{}\n{}", diff.0, diff.1);
    }

    // Importing the same file again changes nothing.
    let t = Instant::now();
    let (status, report) = target.import(&admin2, "dry_run=true", &first).await;
    assert_eq!(status, 200);
    assert_eq!(
        (&report["created"], &report["updated"], &report["unchanged"]),
        (&Value::from(0), &Value::from(0), &Value::from(N))
    );
    println!(
        "dry run over {N} unchanged rows in {:.1} s",
        t.elapsed().as_secs_f64()
    );
}

/// A small inventory as a spreadsheet might export it.
const MAPPED: &str = "\
Type,Label,Serial No,Ignored,Rack,U,Tags
server,web01,SN-1,x,A01,10,\"prod, web\"
switch,sw01,SN-2,y,A01,12,
application,erp,,z,,,
";

fn mapped_query(extra: &str) -> String {
    format!(
        "map.Type=asset_type&map.Label=name&map.Serial%20No=serial&map.Ignored=&map.Rack=rack&map.U=rack_u&map.Tags=tags{extra}"
    )
}

#[tokio::test]
async fn dry_run_mapping_row_errors_and_idempotent_reimport() {
    let app = start(patient()).await;
    app.world().await;
    let admin = app.token("admin", "Administrator", ROOT_ENTITY).await;

    // A header that is neither a column nor mapped is a row-1 error naming it.
    let (status, r) = app.import(&admin, "", MAPPED).await;
    assert_eq!(status, 422, "{r}");
    assert_eq!(r["error"]["code"], "invalid");
    let errors = r["errors"].as_array().unwrap();
    assert!(
        errors
            .iter()
            .any(|e| e["row"] == 1 && e["column"] == "Label"),
        "{r}"
    );

    // The dry run lists what would happen and writes nothing.
    let (count, audit) = (app.count().await, app.audit_len().await);
    let (status, r) = app
        .import(&admin, &mapped_query("&dry_run=true"), MAPPED)
        .await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["dry_run"], true);
    assert_eq!(r["created"], 3);
    assert_eq!(r["creates"][0]["row"], 2);
    assert_eq!(r["creates"][0]["name"], "web01");
    assert_eq!(r["unkeyed_rows"], serde_json::json!([4]));
    assert_eq!((app.count().await, app.audit_len().await), (count, audit));

    // The import writes one audit record per asset; again, it changes nothing.
    let (status, r) = app.import(&admin, &mapped_query(""), MAPPED).await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["created"], 3);
    assert!(r["creates"][0]["id"].is_i64());
    assert_eq!(app.count().await, count + 3);
    assert_eq!(app.audit_len().await, audit + 3);
    let keyed = "Type,Label,Serial No,Ignored,Rack,U,Tags\nserver,web01,SN-1,x,A01,10,\"web,prod\"\nswitch,sw01,SN-2,y,A01,12,\n";
    let (status, r) = app.import(&admin, &mapped_query(""), keyed).await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(
        (&r["created"], &r["updated"], &r["unchanged"]),
        (&0.into(), &0.into(), &2.into())
    );
    assert_eq!(app.audit_len().await, audit + 3);

    // An update changes only the columns the file has, and names them.
    let update = "serial,asset_type,notes,rack_u\nSN-1,server,\"moved, \"\"carefully\"\"\",20\n";
    let (status, r) = app.import(&admin, "dry_run=true", update).await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(
        r["updates"][0]["fields"],
        serde_json::json!(["rack_u", "notes"])
    );
    let (status, r) = app.import(&admin, "key=serial", update).await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["updated"], 1);
    let id = r["updates"][0]["id"].as_i64().unwrap();
    let web01 = app.st.store.get_asset(id).await.unwrap();
    assert_eq!(web01.notes, "moved, \"carefully\"");
    assert_eq!(web01.rack_u, Some(20));
    assert_eq!(web01.tags, ["prod", "web"], "columns the file lacks stay");

    // Every row error names its row and column; nothing is written.
    let bad = "\
asset_type,name,serial,rack,rack_u,interfaces
server,bad-mac,SN-10,,,\"[{\"\"name\"\":\"\"eth0\"\",\"\"mac\"\":\"\"zz:zz\"\"}]\"
server,lost,SN-11,Z99,3,
server,dup1,SN-12,,,
server,dup2,SN-12,,,
server,taken,SN-13,A01,20,
printer,typo,SN-14,,,not json
";
    let (count, audit) = (app.count().await, app.audit_len().await);
    let (status, r) = app.import(&admin, "", bad).await;
    assert_eq!(status, 422, "{r}");
    let got: Vec<(i64, String)> = r["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["row"].as_i64().unwrap(),
                e["column"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let want: Vec<(i64, String)> = [
        (2, "interfaces"),
        (3, "rack"),
        (5, "serial"),
        (6, "rack_u"),
        (7, "interfaces"),
    ]
    .iter()
    .map(|(r, c)| (*r, (*c).to_owned()))
    .collect();
    assert_eq!(got, want, "{r}");
    let messages = r["errors"].to_string();
    assert!(messages.contains("interfaces[0].mac"), "{messages}");
    assert!(
        messages.contains("web01"),
        "the unit holder is named: {messages}"
    );
    assert_eq!((app.count().await, app.audit_len().await), (count, audit));

    // A field the inventory agent manages cannot be changed by an import.
    let mut locked = AssetInput::from(web01.clone());
    locked.locks.insert("hostname".into(), FieldLock::Agent);
    app.st
        .store
        .update_asset(&actor(), id, &locked)
        .await
        .unwrap();
    let (status, r) = app
        .import(
            &admin,
            "",
            "serial,asset_type,hostname\nSN-1,server,renamed.example.com\n",
        )
        .await;
    assert_eq!(status, 422, "{r}");
    assert_eq!(r["errors"][0]["column"], "hostname");
    assert_eq!(r["errors"][0]["row"], 2);
}

#[tokio::test]
async fn entities_stay_apart_in_exports_and_imports() {
    let app = start(patient()).await;
    let w = app.world().await;
    generate(&app, &w, 60).await;
    let admin = app.token("admin", "Administrator", ROOT_ENTITY).await;
    let y_admin = app.token("yadmin", "Administrator", w.y).await;
    let x_admin = app.token("xadmin", "Administrator", w.x).await;

    // Y sees none of the others' assets; X sees only its own.
    let y_csv = app.export(&y_admin, "").await;
    assert_eq!(y_csv.lines().count(), 1, "only the header: {y_csv}");
    let x_csv = app.export(&x_admin, "").await;
    let x_rows = x_csv
        .lines()
        .filter(|l| l.contains(",Root entity/Customer X,"))
        .count();
    let in_x = AssetFilter {
        visible: vec![w.x],
        ..AssetFilter::default()
    };
    assert_eq!(
        x_rows as i64,
        app.st.store.count_assets(&in_x).await.unwrap()
    );
    assert!(x_rows >= 3, "{x_csv}");
    assert!(!x_csv.contains(",Root entity,"), "no asset of the root");
    let all = app.export(&admin, "").await;
    assert!(all.len() > x_csv.len());

    // Y cannot import into X, nor touch X's assets through a matching serial.
    let (count, audit) = (app.count().await, app.audit_len().await);
    let csv = "asset_type,name,entity,serial\nserver,intruder,Root entity/Customer X,NEW-1\nserver,takeover,Root entity/Customer Y,SN00000\n";
    let (status, r) = app.import(&y_admin, "", csv).await;
    assert_eq!(status, 422, "{r}");
    assert_eq!(r["errors"][0]["row"], 2);
    assert_eq!(r["errors"][0]["column"], "entity");
    assert_eq!(r["errors"][1]["row"], 3);
    assert_eq!(r["errors"][1]["column"], "serial");
    assert!(
        !r.to_string().contains("név"),
        "the hidden asset is not named: {r}"
    );
    assert_eq!((app.count().await, app.audit_len().await), (count, audit));

    // X's administrator re-imports X's own export: nothing changes.
    let (status, r) = app.import(&x_admin, "", &x_csv).await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["unchanged"], x_rows);
}

#[tokio::test]
async fn a_long_import_answers_a_job_to_poll() {
    // Two seconds of request time leave no time to wait: the import answers 202 at once.
    let app = start(WebConfig {
        request_timeout: Duration::from_secs(2),
        ..WebConfig::standard()
    })
    .await;
    app.world().await;
    let admin = app.token("admin", "Administrator", ROOT_ENTITY).await;
    let other = app.token("other", "Administrator", ROOT_ENTITY).await;
    let mut csv = String::from("asset_type,name,serial\n");
    for i in 0..2000 {
        csv.push_str(&format!("server,job-{i},JOB-{i}\n"));
    }
    let (status, job) = app.import(&admin, "", &csv).await;
    assert_eq!(status, 202, "{job}");
    let path = format!("/api/v1/assets/import/{}", job["id"]);
    let (status, _) = app.get(&other, &path).await;
    assert_eq!(status, 404, "another account does not see the job");
    let deadline = Instant::now() + Duration::from_secs(120);
    let done = loop {
        let (status, v) = app.get(&admin, &path).await;
        assert_eq!(status, 200, "{v}");
        assert!(v["done"].as_u64().unwrap() <= v["total"].as_u64().unwrap());
        if v["state"] == "done" {
            break v;
        }
        assert!(Instant::now() < deadline, "the import did not finish: {v}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(done["report"]["created"], 2000, "{done}");
    assert_eq!(app.count().await, 2000);
}
