//! The inventory over HTTP: the real FusionInventory agent, bad uploads, quarantine,
//! placement and relation rules, agent-field locks and entity visibility.
#![expect(
    clippy::unwrap_used,
    reason = "a test fails loudly on any unexpected error"
)]

mod support;

use support::{App, start};

use std::path::Path;

use pupitre_core::model::ROOT_ENTITY;
use pupitre_web::WebConfig;
use serde_json::{Value, json};

impl App {
    async fn entity(&self, name: &str) -> i64 {
        support::entity(&self.st, name).await
    }

    /// A token for a new user holding `profile` on `entity` and below.
    async fn token(&self, login: &str, profile: &str, entity: i64) -> String {
        support::token(&self.st, login, profile, entity).await
    }

    async fn upload(&self, token: Option<&str>, body: Vec<u8>) -> reqwest::Response {
        let mut req = self
            .http
            .post(format!("{}/api/v1/inventory/agent", self.base))
            .header("content-type", "application/x-compress-zlib")
            .body(body);
        if let Some(t) = token {
            req = req.basic_auth("agent", Some(t));
        }
        req.send().await.unwrap()
    }

    async fn assets(&self, token: &str, query: &str) -> Vec<Value> {
        let (s, v) = self
            .call("GET", &format!("/api/v1/assets?{query}"), token, None)
            .await;
        assert_eq!(s, 200, "{v}");
        v["items"].as_array().unwrap().clone()
    }
}

fn fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../pupitre-intake/tests/fixtures")
        .join(name);
    std::fs::read(path).unwrap()
}

/// Counts `<SOFTWARES>` elements and reads a few values of a FusionInventory local file.
fn local_inventory(dir: &Path) -> String {
    let file = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "ocs" || e == "xml"))
        .unwrap();
    std::fs::read_to_string(file).unwrap()
}

fn element(xml: &str, section: &str, name: &str) -> String {
    let start = xml.find(&format!("<{section}>")).unwrap();
    let end = xml[start..].find(&format!("</{section}>")).unwrap() + start;
    let part = &xml[start..end];
    part.find(&format!("<{name}>"))
        .map(|i| {
            let rest = &part[i + name.len() + 2..];
            rest[..rest.find('<').unwrap()].to_owned()
        })
        .unwrap_or_default()
}

fn run_agent(args: &[&str]) {
    let out = std::process::Command::new("fusioninventory-agent")
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("LANG", "C.UTF-8")
        .env("HOME", std::env::temp_dir())
        .args([
            "--no-httpd",
            "--no-task=deploy,wakeonlan,esx,collect,netdiscovery,netinventory",
            "--logger=stderr",
            "--no-category=process,environment,user,local_user,local_group",
        ])
        .args(args)
        .output()
        .expect("fusioninventory-agent must be installed (.ci/run installs it)");
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "agent failed: {log}");
    assert!(!log.contains("[error]"), "agent reported an error: {log}");
}

#[tokio::test]
async fn fusioninventory_agent_reports_this_machine_and_a_second_run_updates_it() {
    let app = start(WebConfig::standard()).await;
    let token = app.token("agent", "Administrator", ROOT_ENTITY).await;
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("local");
    std::fs::create_dir(&local).unwrap();
    let url = format!("{}/api/v1/inventory/agent", app.base);
    let common = [
        format!("--local={}", local.display()),
        format!("--server={url}"),
        "--user=agent".to_owned(),
        format!("--password={token}"),
    ];
    let args: Vec<&str> = common.iter().map(String::as_str).collect();
    tokio::task::spawn_blocking({
        let args: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
        move || run_agent(&args.iter().map(String::as_str).collect::<Vec<_>>())
    })
    .await
    .unwrap();

    let xml = local_inventory(&local);
    let assets = app.assets(&token, "limit=10").await;
    assert_eq!(assets.len(), 1, "{assets:?}");
    let a = &assets[0];
    let hostname = element(&xml, "HARDWARE", "NAME");
    assert!(
        a["hostname"].as_str().unwrap().starts_with(&hostname),
        "{a}"
    );
    assert_eq!(a["serial"], element(&xml, "BIOS", "SSN"));
    assert_eq!(a["uuid"], element(&xml, "HARDWARE", "UUID").to_lowercase());
    assert_eq!(
        a["memory_mb"].as_i64().unwrap().to_string(),
        element(&xml, "HARDWARE", "MEMORY")
    );
    assert_eq!(a["os_name"], element(&xml, "OPERATINGSYSTEM", "FULL_NAME"));
    assert_eq!(a["os_version"], element(&xml, "OPERATINGSYSTEM", "VERSION"));
    assert_eq!(a["os_family"], "linux");
    let cores: i64 = xml
        .split("<CPUS>")
        .skip(1)
        .map(|c| {
            let start = c.find("<CORE>").unwrap() + 6;
            c[start..start + c[start..].find('<').unwrap()]
                .parse::<i64>()
                .unwrap()
        })
        .sum();
    assert_eq!(a["cpu_cores"].as_i64(), Some(cores));
    let macs: Vec<&str> = a["interfaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["mac"].as_str().unwrap())
        .collect();
    let mut reported: Vec<String> = xml
        .split("<MACADDR>")
        .skip(1)
        .map(|m| m[..m.find('<').unwrap()].to_lowercase())
        .filter(|m| m != "00:00:00:00:00:00")
        .collect();
    reported.sort();
    reported.dedup();
    let mut stored: Vec<String> = macs.iter().map(|m| (*m).to_owned()).collect();
    stored.sort();
    assert_eq!(stored, reported);
    assert!(
        a["agent_fields"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f == "os_version")
    );
    let id = a["id"].as_i64().unwrap();
    let software = xml.matches("<SOFTWARES>").count();
    let (_, list) = app
        .call(
            "GET",
            &format!("/api/v1/assets/{id}/software"),
            &token,
            None,
        )
        .await;
    assert_eq!(list.as_array().unwrap().len(), software);

    // Somebody takes the OS version over; the second run updates in place and leaves it.
    let (s, body) = app
        .call(
            "PATCH",
            &format!("/api/v1/assets/{id}"),
            &token,
            Some(json!({"os_version": "pinned"})),
        )
        .await;
    assert_eq!(s, 409, "{body}");
    assert_eq!(body["error"]["field"], "os_version");
    let (s, body) = app
        .call(
            "PATCH",
            &format!("/api/v1/assets/{id}"),
            &token,
            Some(json!({"os_version": "pinned", "unlock": ["os_version"]})),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    std::fs::remove_dir_all(&local).unwrap();
    std::fs::create_dir(&local).unwrap();
    tokio::task::spawn_blocking(move || {
        run_agent(&common.iter().map(String::as_str).collect::<Vec<_>>())
    })
    .await
    .unwrap();
    let again = app.assets(&token, "limit=10").await;
    assert_eq!(
        again.len(),
        1,
        "the second run must not duplicate the asset"
    );
    assert_eq!(again[0]["id"].as_i64(), Some(id));
    assert_eq!(again[0]["os_version"], "pinned");
    assert!(
        again[0]["manual_fields"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f == "os_version")
    );
    let (_, list) = app
        .call(
            "GET",
            "/api/v1/software/installations?name=bash",
            &token,
            None,
        )
        .await;
    assert_eq!(list["items"][0]["asset_id"].as_i64(), Some(id), "{list}");
}

#[tokio::test]
async fn bad_uploads_are_refused_and_write_nothing() {
    let app = start(WebConfig::standard()).await;
    let token = app.token("agent", "Administrator", ROOT_ENTITY).await;
    let prolog = fixture("fusion_prolog.zlib");

    let resp = app.upload(None, prolog.clone()).await;
    assert_eq!(resp.status(), 401);
    assert_eq!(
        resp.headers()["www-authenticate"],
        "Basic realm=\"Pupitre inventory\""
    );
    let resp = app.upload(Some("not-a-token"), prolog.clone()).await;
    assert_eq!(resp.status(), 401);

    // The PROLOG is answered SEND, in zlib like the request.
    let resp = app.upload(Some(&token), prolog).await;
    assert_eq!(resp.status(), 200);
    let body = resp.bytes().await.unwrap();
    assert_eq!(&body[..1], b"\x78");
    let (_, plain) = pupitre_intake::decode::decompress(&body, 1 << 20).unwrap();
    assert!(
        String::from_utf8(plain)
            .unwrap()
            .contains("<RESPONSE>SEND</RESPONSE>")
    );

    let inventory = fixture("fusion_inventory.zlib");
    let truncated = inventory[..inventory.len() / 2].to_vec();
    assert_eq!(app.upload(Some(&token), truncated).await.status(), 400);
    let mut cut_xml = fixture("fusion_inventory.xml");
    cut_xml.truncate(cut_xml.len() - 200);
    assert_eq!(app.upload(Some(&token), cut_xml).await.status(), 400);
    assert_eq!(
        app.upload(Some(&token), b"<REQUEST><QUERY>".to_vec())
            .await
            .status(),
        400
    );
    assert_eq!(
        app.upload(Some(&token), b"{\"action\": 3".to_vec())
            .await
            .status(),
        400
    );
    // 256 MiB of zeros compress to ~256 KiB: refused once 64 MiB are inflated.
    let bomb = pupitre_intake::decode::compress(
        pupitre_intake::decode::Encoding::Zlib,
        &vec![b' '; 256 << 20],
    );
    assert!(bomb.len() < 2 << 20);
    assert_eq!(app.upload(Some(&token), bomb).await.status(), 413);
    assert!(app.assets(&token, "").await.is_empty());

    // A reader may not post inventories.
    let reader = app.token("reader", "Read-only auditor", ROOT_ENTITY).await;
    assert_eq!(
        app.upload(Some(&reader), inventory.clone()).await.status(),
        403
    );
    assert!(app.assets(&token, "").await.is_empty());

    // The genuine upload works, and the GLPI JSON of the same machine updates the same asset.
    assert_eq!(app.upload(Some(&token), inventory).await.status(), 200);
    let resp = app
        .upload(Some(&token), fixture("glpi_inventory_from_fusion.json"))
        .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(app.assets(&token, "").await.len(), 1);
    let resp = app
        .upload(Some(&token), fixture("glpi_inventory.json"))
        .await;
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    assert_eq!(app.assets(&token, "").await.len(), 2);
}

#[tokio::test]
async fn unknown_machines_wait_in_quarantine_until_approved() {
    let mut config = WebConfig::standard();
    config.inventory_quarantine = true;
    let app = start(config).await;
    let token = app.token("agent", "Administrator", ROOT_ENTITY).await;
    assert_eq!(
        app.upload(Some(&token), fixture("fusion_inventory.zlib"))
            .await
            .status(),
        200
    );
    assert!(app.assets(&token, "").await.is_empty());
    let waiting = app.assets(&token, "quarantined=true").await;
    assert_eq!(waiting.len(), 1);
    let id = waiting[0]["id"].as_i64().unwrap();
    let (s, v) = app
        .call(
            "POST",
            &format!("/api/v1/assets/{id}/approve"),
            &token,
            None,
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(app.assets(&token, "").await.len(), 1);
    let (s, _) = app
        .call(
            "POST",
            &format!("/api/v1/assets/{id}/approve"),
            &token,
            None,
        )
        .await;
    assert_eq!(s, 409);
}

#[tokio::test]
async fn rules_name_the_conflict_and_entities_stay_apart() {
    let app = start(WebConfig::standard()).await;
    let y = app.entity("Customer Y").await;
    let admin = app.token("admin", "Administrator", ROOT_ENTITY).await;
    let y_admin = app.token("yadmin", "Administrator", y).await;

    let (_, site) = app
        .call(
            "POST",
            "/api/v1/sites",
            &admin,
            Some(json!({"name": "DC1", "time_zone": "Europe/Paris"})),
        )
        .await;
    let (_, room) = app
        .call(
            "POST",
            "/api/v1/rooms",
            &admin,
            Some(json!({"name": "Room 1", "site_id": site["id"], "grid_rows": 2, "grid_cols": 2})),
        )
        .await;
    let (s, rack) = app
        .call(
            "POST",
            "/api/v1/racks",
            &admin,
            Some(json!({"name": "A01", "room_id": room["id"], "height_u": 42, "grid_row": 1, "grid_col": 1})),
        )
        .await;
    assert_eq!(s, 201, "{rack}");
    let (s, e) = app
        .call(
            "POST",
            "/api/v1/racks",
            &admin,
            Some(json!({"name": "A02", "room_id": room["id"], "grid_row": 3, "grid_col": 1})),
        )
        .await;
    assert_eq!(
        (s, e["error"]["field"].as_str()),
        (409, Some("grid_row")),
        "{e}"
    );
    let server = |name: &str, u: i64, h: i64| json!({"name": name, "asset_type": "server", "rack_id": rack["id"], "rack_u": u, "height_u": h});
    let (s, first) = app
        .call(
            "POST",
            "/api/v1/assets",
            &admin,
            Some(server("db01", 10, 2)),
        )
        .await;
    assert_eq!(s, 201, "{first}");
    assert_eq!(first["site_id"], site["id"]);
    for (body, status, field) in [
        (server("db02", 11, 1), 409, "rack_u"),
        (server("big", 40, 4), 409, "rack_u"),
        (server("neg", 0, 1), 422, "rack_u"),
        (
            json!({"name": "x", "asset_type": "server", "rack_id": 999_999, "rack_u": 1}),
            422,
            "rack_id",
        ),
        (
            json!({"name": "x", "asset_type": "server", "site_id": 999_999}),
            422,
            "site_id",
        ),
        (
            json!({"name": "x", "asset_type": "server", "entity_id": 999_999}),
            422,
            "entity_id",
        ),
        (
            json!({"name": "x", "asset_type": "toaster"}),
            422,
            "asset_type",
        ),
        (
            json!({"name": "x", "asset_type": "server", "interfaces": [{"mac": "00:11:22:33:44"}]}),
            422,
            "interfaces[0].mac",
        ),
        (
            json!({"name": "x", "asset_type": "server", "management_ip": "10.0.0.300"}),
            422,
            "management_ip",
        ),
        (
            json!({"name": "x", "asset_type": "server", "colour": "red"}),
            422,
            "colour",
        ),
    ] {
        let (s, e) = app
            .call("POST", "/api/v1/assets", &admin, Some(body.clone()))
            .await;
        assert_eq!(
            (s, e["error"]["field"].as_str()),
            (status, Some(field)),
            "{body} → {e}"
        );
    }
    let with_serial = json!({"name": "a", "asset_type": "switch", "serial": "FOC123"});
    assert_eq!(
        app.call("POST", "/api/v1/assets", &admin, Some(with_serial.clone()))
            .await
            .0,
        201
    );
    let (s, e) = app
        .call(
            "POST",
            "/api/v1/assets",
            &admin,
            Some(json!({"name": "b", "asset_type": "switch", "serial": "FOC123"})),
        )
        .await;
    assert_eq!(
        (s, e["error"]["field"].as_str()),
        (409, Some("serial")),
        "{e}"
    );
    assert_eq!(
        app.call(
            "POST",
            "/api/v1/assets",
            &admin,
            Some(json!({"name": "c", "asset_type": "router", "serial": "FOC123"}))
        )
        .await
        .0,
        201
    );
    // Nothing of the refused requests was written.
    assert_eq!(app.assets(&admin, "").await.len(), 3);

    // Relations: cycles are refused, whatever the chain.
    let mk = |name: &str| json!({"name": name, "asset_type": "application"});
    let mut ids = Vec::new();
    for n in ["app", "db", "vm"] {
        ids.push(
            app.call("POST", "/api/v1/assets", &admin, Some(mk(n)))
                .await
                .1["id"]
                .clone(),
        );
    }
    let rel =
        |kind: &str, from: &Value, to: &Value| json!({"kind": kind, "from_id": from, "to_id": to});
    assert_eq!(
        app.call(
            "POST",
            "/api/v1/relations",
            &admin,
            Some(rel("depends_on", &ids[0], &ids[1]))
        )
        .await
        .0,
        201
    );
    assert_eq!(
        app.call(
            "POST",
            "/api/v1/relations",
            &admin,
            Some(rel("runs_on", &ids[1], &ids[2]))
        )
        .await
        .0,
        201
    );
    let (s, e) = app
        .call(
            "POST",
            "/api/v1/relations",
            &admin,
            Some(rel("depends_on", &ids[2], &ids[0])),
        )
        .await;
    assert_eq!(
        (s, e["error"]["field"].as_str()),
        (409, Some("to_id")),
        "{e}"
    );
    assert!(e["error"]["message"].as_str().unwrap().contains("cycle"));
    let (s, g) = app
        .call(
            "GET",
            &format!("/api/v1/assets/{}/graph", ids[2]),
            &admin,
            None,
        )
        .await;
    assert_eq!(s, 200);
    let down: Vec<&str> = g["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["direction"] == "downstream")
        .map(|n| n["name"].as_str().unwrap())
        .collect();
    assert_eq!(down, vec!["db", "app"]);

    // Entity Y's administrator sees none of it and cannot touch it.
    assert!(app.assets(&y_admin, "").await.is_empty());
    let id = first["id"].as_i64().unwrap();
    assert_eq!(
        app.call("GET", &format!("/api/v1/assets/{id}"), &y_admin, None)
            .await
            .0,
        404
    );
    let (s, e) = app
        .call(
            "POST",
            "/api/v1/assets",
            &y_admin,
            Some(json!({"name": "z", "asset_type": "server", "rack_id": rack["id"], "rack_u": 30})),
        )
        .await;
    assert_eq!(
        (s, e["error"]["field"].as_str()),
        (422, Some("rack_id")),
        "{e}"
    );
    let (s, e) = app
        .call(
            "POST",
            "/api/v1/relations",
            &y_admin,
            Some(rel("depends_on", &ids[0], &ids[2])),
        )
        .await;
    assert_eq!(
        (s, e["error"]["field"].as_str()),
        (422, Some("from_id")),
        "{e}"
    );
    assert!(
        app.call("GET", "/api/v1/assets?q=db01", &y_admin, None)
            .await
            .1["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert_eq!(app.assets(&admin, "q=db01").await.len(), 1);
}
