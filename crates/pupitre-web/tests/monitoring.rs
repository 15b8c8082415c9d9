//! Supervision over HTTP, with the real engine: checks run against real listeners and real
//! plugins, soft and hard states, events, dependencies from the inventory's relations,
//! downtimes, acknowledgements, heartbeats, the problems list, bad input and `/metrics`.
#![expect(
    clippy::unwrap_used,
    reason = "a test fails loudly on any unexpected error"
)]

mod support;

use support::{App, start};

use pupitre_web::WebConfig;
use serde_json::{Value, json};

const PLUGINS: &str = "/usr/lib/nagios/plugins";

impl App {
    async fn admin(&self) -> String {
        support::token(&self.st, "ops", "Administrator", 1).await
    }

    async fn asset(&self, token: &str, name: &str, asset_type: &str) -> i64 {
        let (s, v) = self
            .call(
                "POST",
                "/api/v1/assets",
                token,
                Some(json!({"name": name, "asset_type": asset_type, "management_ip": "127.0.0.1"})),
            )
            .await;
        assert_eq!(s, 201, "{v}");
        v["id"].as_i64().unwrap()
    }

    async fn check(&self, token: &str, body: Value) -> Value {
        let (s, v) = self.call("POST", "/api/v1/checks", token, Some(body)).await;
        assert_eq!(s, 201, "{v}");
        v
    }

    async fn run(&self, token: &str, id: i64) -> Value {
        let (s, v) = self
            .call("POST", &format!("/api/v1/checks/{id}/run"), token, None)
            .await;
        assert_eq!(s, 200, "{v}");
        v
    }

    /// The check as stored, once the engine's writer has caught up with `runs` results.
    async fn stored(&self, token: &str, id: i64) -> Value {
        for _ in 0..100 {
            let (s, v) = self
                .call("GET", &format!("/api/v1/checks/{id}"), token, None)
                .await;
            assert_eq!(s, 200, "{v}");
            if v["last_run_at"].is_string() {
                return v;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("check {id} was never written");
    }

    async fn events(&self, token: &str, id: i64) -> Vec<Value> {
        // The writer flushes every 250 ms.
        tokio::time::sleep(std::time::Duration::from_millis(400)).await;
        let (s, v) = self
            .call("GET", &format!("/api/v1/checks/{id}/events"), token, None)
            .await;
        assert_eq!(s, 200, "{v}");
        v.as_array().unwrap().clone()
    }
}

/// A TCP port that nothing listens on (bound then closed).
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

fn tcp_check(asset: i64, name: &str, port: u16, attempts: i64) -> Value {
    json!({
        "asset_id": asset,
        "name": name,
        "probe": {"kind": "tcp", "port": port},
        "interval": 300,
        "retry_interval": 60,
        "max_attempts": attempts,
    })
}

#[tokio::test]
async fn a_tcp_check_goes_soft_then_hard_and_leaves_one_event_per_hard_change() {
    let app = start(WebConfig::standard()).await;
    let token = app.admin().await;
    let web = app.asset(&token, "web1", "server").await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let check = app
        .check(&token, tcp_check(web, "HTTP port", port, 2))
        .await;
    let id = check["id"].as_i64().unwrap();
    assert_eq!(check["state"], "pending");

    let ok = app.run(&token, id).await;
    assert_eq!(ok["state"], "ok", "{ok}");
    assert!(ok["output"].as_str().unwrap().starts_with("TCP OK"), "{ok}");

    drop(listener);
    let first = app.run(&token, id).await;
    assert_eq!(
        (first["state"].as_str(), first["hard"].as_bool()),
        (Some("critical"), Some(false))
    );
    let second = app.run(&token, id).await;
    assert_eq!(
        (second["state"].as_str(), second["hard"].as_bool()),
        (Some("critical"), Some(true))
    );

    let stored = app.stored(&token, id).await;
    assert_eq!(stored["state"], "critical");
    assert_eq!(stored["attempt"], 2);
    assert!(stored["perfdata"].as_str().unwrap().is_empty() || stored["perfdata"].is_string());
    let events = app.events(&token, id).await;
    let kinds: Vec<(&str, &str, bool)> = events
        .iter()
        .map(|e| {
            (
                e["kind"].as_str().unwrap(),
                e["state"].as_str().unwrap(),
                e["notify"].as_bool().unwrap(),
            )
        })
        .collect();
    // Newest first: the hard CRITICAL notifies; the first OK (from pending) does not.
    assert_eq!(kinds, [("state", "critical", true), ("state", "ok", false)]);

    let (s, problems) = app.call("GET", "/api/v1/problems", &token, None).await;
    assert_eq!(s, 200);
    assert_eq!(problems.as_array().unwrap().len(), 1, "{problems}");
    assert_eq!(problems[0]["id"], id);
    assert_eq!(problems[0]["acknowledged"], false);

    let (s, metrics) = app.call("GET", "/metrics", "", None).await;
    assert_eq!(s, 200);
    let text = metrics.as_str().unwrap();
    assert!(
        text.contains("pupitre_checks_run_total{probe=\"tcp\"} 3"),
        "{text}"
    );
    assert!(text.contains("pupitre_check_lag_seconds_count 3"), "{text}");
    assert!(text.contains("pupitre_checks_scheduled 1"), "{text}");
}

#[tokio::test]
async fn a_child_behind_a_down_switch_is_unreachable_and_does_not_notify() {
    let app = start(WebConfig::standard()).await;
    let token = app.admin().await;
    let switch = app.asset(&token, "sw1", "switch").await;
    let server = app.asset(&token, "db1", "server").await;
    let (s, v) = app
        .call(
            "POST",
            "/api/v1/relations",
            &token,
            Some(json!({"kind": "connected_to", "from_id": server, "to_id": switch})),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let mut host = tcp_check(switch, "reachability", closed_port(), 1);
    host["host_check"] = json!(true);
    let switch_check = app.check(&token, host).await["id"].as_i64().unwrap();
    let db_check = app
        .check(&token, tcp_check(server, "PostgreSQL", closed_port(), 1))
        .await["id"]
        .as_i64()
        .unwrap();

    let down = app.run(&token, switch_check).await;
    assert_eq!(
        (down["state"].as_str(), down["hard"].as_bool()),
        (Some("critical"), Some(true))
    );
    let child = app.run(&token, db_check).await;
    assert_eq!(child["state"], "critical");
    let stored = app.stored(&token, db_check).await;
    assert_eq!(stored["unreachable"], true, "{stored}");
    let stored_switch = app.stored(&token, switch_check).await;
    assert_eq!(stored_switch["host_state"], "down");

    let events = app.events(&token, db_check).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["state"], "critical");
    assert_eq!(events[0]["unreachable"], true);
    assert_eq!(
        events[0]["notify"], false,
        "a problem behind a down parent does not page"
    );
    let events = app.events(&token, switch_check).await;
    assert_eq!(events[0]["notify"], true, "the parent's own problem does");
}

#[tokio::test]
async fn downtimes_and_acknowledgements_silence_without_stopping_checks() {
    let app = start(WebConfig::standard()).await;
    let token = app.admin().await;
    let web = app.asset(&token, "web2", "server").await;
    let id = app
        .check(&token, tcp_check(web, "HTTPS port", closed_port(), 1))
        .await["id"]
        .as_i64()
        .unwrap();

    // A downtime now: the hard change is recorded but does not notify.
    let now = jiff::Timestamp::now();
    let (s, dt) = app
        .call(
            "POST",
            "/api/v1/downtimes",
            &token,
            Some(json!({
                "check_id": id,
                "starts_at": (now - jiff::SignedDuration::from_secs(60)).to_string(),
                "ends_at": (now + jiff::SignedDuration::from_secs(3600)).to_string(),
                "comment": "kernel upgrade",
            })),
        )
        .await;
    assert_eq!(s, 201, "{dt}");
    assert_eq!(dt["active"], true);
    let r = app.run(&token, id).await;
    assert_eq!(r["state"], "critical");
    let events = app.events(&token, id).await;
    assert_eq!(events[0]["notify"], false, "{events:?}");
    let (s, problems) = app.call("GET", "/api/v1/problems", &token, None).await;
    assert_eq!(s, 200);
    assert_eq!(problems[0]["in_downtime"], true);

    // Acknowledging: refused on a soft or OK check, accepted on the hard problem.
    let (s, v) = app
        .call(
            "POST",
            &format!("/api/v1/checks/{id}/acknowledgement"),
            &token,
            Some(json!({"comment": ""})),
        )
        .await;
    assert_eq!(
        (s, v["error"]["field"].as_str()),
        (422, Some("comment")),
        "{v}"
    );
    app.stored(&token, id).await;
    let (s, v) = app
        .call(
            "POST",
            &format!("/api/v1/checks/{id}/acknowledgement"),
            &token,
            Some(json!({"comment": "vendor ticket 4711", "expires_in_minutes": 120})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["acknowledgement"]["author"], "ops");
    assert!(v["acknowledgement"]["expires_at"].is_string());
    let (_, problems) = app.call("GET", "/api/v1/problems", &token, None).await;
    assert_eq!(problems[0]["acknowledged"], true);
    // Still running and recording while acknowledged.
    app.run(&token, id).await;
    let events = app.events(&token, id).await;
    assert_eq!(events[0]["kind"], "acknowledged", "{events:?}");

    let (s, _) = app
        .call(
            "DELETE",
            &format!("/api/v1/checks/{id}/acknowledgement"),
            &token,
            None,
        )
        .await;
    assert_eq!(s, 204);
    let (s, _) = app
        .call(
            "DELETE",
            &format!("/api/v1/checks/{id}/acknowledgement"),
            &token,
            None,
        )
        .await;
    assert_eq!(s, 409, "nothing left to remove");
    let (s, _) = app
        .call(
            "DELETE",
            &format!("/api/v1/downtimes/{}", dt["id"]),
            &token,
            None,
        )
        .await;
    assert_eq!(s, 204);

    // A weekly window is in its time zone: five minutes ago in Tokyo (UTC+9) is in effect
    // now; read as UTC it would be nine hours away.
    let tokyo = (now - jiff::SignedDuration::from_secs(300))
        .in_tz("Asia/Tokyo")
        .unwrap();
    let day = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        [usize::try_from(tokyo.weekday().to_monday_zero_offset()).unwrap()];
    let weekly = |zone: &str| {
        json!({
            "check_id": id,
            "starts_at": (now - jiff::SignedDuration::from_secs(86_400)).to_string(),
            "ends_at": (now + jiff::SignedDuration::from_secs(86_400)).to_string(),
            "weekdays": [day],
            "start_time": format!("{:02}:{:02}", tokyo.hour(), tokyo.minute()),
            "duration_minutes": 30,
            "time_zone": zone,
            "comment": "nightly batch",
        })
    };
    let (s, dt) = app
        .call(
            "POST",
            "/api/v1/downtimes",
            &token,
            Some(weekly("Asia/Tokyo")),
        )
        .await;
    assert_eq!(s, 201, "{dt}");
    assert_eq!(
        (dt["time_zone"].as_str(), dt["active"].as_bool()),
        (Some("Asia/Tokyo"), Some(true)),
        "{dt}"
    );
    let (s, v) = app
        .call(
            "POST",
            "/api/v1/downtimes",
            &token,
            Some(weekly("Mars/Olympus")),
        )
        .await;
    assert_eq!(
        (s, v["error"]["field"].as_str()),
        (422, Some("time_zone")),
        "{v}"
    );
}

#[tokio::test]
async fn a_heartbeat_takes_the_callers_state_and_an_unknown_secret_is_not_found() {
    let app = start(WebConfig::standard()).await;
    let token = app.admin().await;
    let batch = app.asset(&token, "nightly-export", "application").await;
    let created = app
        .check(
            &token,
            json!({
                "asset_id": batch,
                "name": "nightly export ran",
                "probe": {"kind": "heartbeat", "grace_s": 600},
                "interval": 86400,
                "max_attempts": 1,
            }),
        )
        .await;
    let id = created["id"].as_i64().unwrap();
    let path = created["heartbeat_path"].as_str().unwrap().to_owned();
    let (s, again) = app
        .call("GET", &format!("/api/v1/checks/{id}"), &token, None)
        .await;
    assert_eq!(s, 200);
    assert!(
        again.get("heartbeat_path").is_none(),
        "the secret is shown once"
    );

    let beat = |query: &str| {
        let url = format!("{}{path}{query}", app.base);
        let http = app.http.clone();
        async move { http.post(url).send().await.unwrap().status().as_u16() }
    };
    assert_eq!(beat("?status=critical&message=disk%20full").await, 204);
    let mut stored = app.stored(&token, id).await;
    for _ in 0..50 {
        if stored["state"] == "critical" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        stored = app.stored(&token, id).await;
    }
    assert_eq!(stored["state"], "critical", "{stored}");
    assert!(
        stored["output"].as_str().unwrap().contains("disk full"),
        "{stored}"
    );
    assert_eq!(beat("?status=2x").await, 422);
    assert_eq!(beat("").await, 204);
    let ok = app.run(&token, id).await;
    assert_eq!(ok["state"], "ok", "{ok}");

    let wrong = format!("{}/api/v1/heartbeat/hb_0000", app.base);
    assert_eq!(
        app.http.get(wrong).send().await.unwrap().status().as_u16(),
        404
    );
}

#[tokio::test]
async fn a_plugin_check_runs_with_macros_and_bad_definitions_are_refused_with_their_field() {
    let app = start(WebConfig::standard()).await;
    let token = app.admin().await;
    let web = app.asset(&token, "web3", "server").await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let id = app
        .check(
            &token,
            json!({
                "asset_id": web,
                "name": "check_tcp",
                "probe": {"kind": "plugin", "path": format!("{PLUGINS}/check_tcp"),
                          "arguments": ["-H", "$HOSTADDRESS$", "-p", port.to_string()]},
            }),
        )
        .await["id"]
        .as_i64()
        .unwrap();
    let r = app.run(&token, id).await;
    assert_eq!(r["state"], "ok", "{r}");
    let stored = app.stored(&token, id).await;
    assert!(
        stored["perfdata"].as_str().unwrap().starts_with("time="),
        "{stored}"
    );

    for (body, field) in [
        (
            json!({"asset_id": web, "name": "x", "probe": {"kind": "plugin", "path": "/nonexistent/check_x"}}),
            "probe.plugin",
        ),
        (
            json!({"asset_id": web, "name": "x", "probe": {"kind": "tcp", "port": 22}, "warning": "10:5"}),
            "warning",
        ),
        (
            json!({"asset_id": web, "name": "x", "probe": {"kind": "snmp", "oid": "ifOperStatus"}}),
            "probe.oid",
        ),
        (
            json!({"asset_id": web, "name": "x", "probe": {"kind": "prometheus", "url": "http://x:9100/metrics", "selector": "up{"}}),
            "probe.selector",
        ),
        (
            json!({"asset_id": 999_999, "name": "x", "probe": {"kind": "tcp", "port": 22}}),
            "asset_id",
        ),
        (
            json!({"asset_id": web, "name": "x", "probe": {"kind": "tcp", "port": 22}, "interval": 30, "timeout": 30}),
            "timeout",
        ),
    ] {
        let (s, v) = app.call("POST", "/api/v1/checks", &token, Some(body)).await;
        assert_eq!(s, 422, "{v}");
        assert_eq!(v["error"]["field"], field, "{v}");
    }
    let (s, v) = app
        .call(
            "POST",
            "/api/v1/checks",
            &token,
            Some(json!({"asset_id": web, "name": "x", "probe": {"kind": "tcp", "port": 0}, "max_attempts": 0})),
        )
        .await;
    assert_eq!(s, 422);
    let fields: Vec<&str> = v["error"]["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        ["probe.port", "max_attempts"],
        "every field error at once"
    );
    let (s, v) = app
        .call("GET", "/api/v1/checks?state=purple", &token, None)
        .await;
    assert_eq!((s, v["error"]["field"].as_str()), (422, Some("state")));
    let (s, v) = app
        .call("GET", "/api/v1/checks?probe=telnet", &token, None)
        .await;
    assert_eq!((s, v["error"]["field"].as_str()), (422, Some("probe")));
    let (s, v) = app
        .call("GET", "/api/v1/checks?probe=plugin", &token, None)
        .await;
    assert_eq!(s, 200);
    assert_eq!(v["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn checks_of_another_entity_are_invisible_and_readers_cannot_run_them() {
    let app = start(WebConfig::standard()).await;
    let token = app.admin().await;
    let web = app.asset(&token, "web4", "server").await;
    let id = app
        .check(&token, tcp_check(web, "SSH", closed_port(), 3))
        .await["id"]
        .as_i64()
        .unwrap();
    let other = support::entity(&app.st, "Lyon").await;
    let outsider = support::token(&app.st, "lyon", "Administrator", other).await;
    let (s, _) = app
        .call("GET", &format!("/api/v1/checks/{id}"), &outsider, None)
        .await;
    assert_eq!(s, 404);
    let (s, v) = app.call("GET", "/api/v1/checks", &outsider, None).await;
    assert_eq!(s, 200);
    assert!(v["items"].as_array().unwrap().is_empty());
    let reader = support::token(&app.st, "tech", "Technician", 1).await;
    let (s, _) = app
        .call("POST", &format!("/api/v1/checks/{id}/run"), &reader, None)
        .await;
    assert_eq!(s, 403, "monitoring=read sees but does not run");
    let on_call = support::token(&app.st, "oncall", "On-call engineer", 1).await;
    let r = app.run(&on_call, id).await;
    assert_eq!(r["state"], "critical");
    let (s, _) = app
        .call("DELETE", &format!("/api/v1/checks/{id}"), &on_call, None)
        .await;
    assert_eq!(s, 403, "monitoring=operate runs but does not delete");
}

#[tokio::test]
async fn a_template_gives_matching_assets_their_checks_and_follows_changes() {
    let app = start(WebConfig::standard()).await;
    let token = app.admin().await;
    let linux = |name: &str| json!({"name": name, "asset_type": "server", "os_family": "linux", "management_ip": "127.0.0.1"});
    let mut ids = Vec::new();
    for name in ["lin1", "lin2"] {
        let (s, v) = app
            .call("POST", "/api/v1/assets", &token, Some(linux(name)))
            .await;
        assert_eq!(s, 201, "{v}");
        ids.push(v["id"].as_i64().unwrap());
    }
    let switch = app.asset(&token, "sw9", "switch").await;
    let template = json!({
        "name": "Linux servers",
        "asset_types": ["server"],
        "os_families": ["linux"],
        "checks": [
            {"name": "ping", "probe": {"kind": "ping", "count": 1}, "host_check": true},
            {"name": "SSH", "probe": {"kind": "tcp", "port": 22, "expect": "SSH-"}, "warning": "1"},
        ],
    });
    let (s, v) = app
        .call(
            "POST",
            "/api/v1/check-templates",
            &token,
            Some(template.clone()),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["applied"]["created"], 4, "{v}");
    let tid = v["id"].as_i64().unwrap();
    let checks_of = |asset: i64| {
        let app = &app;
        let token = token.clone();
        async move {
            let (s, v) = app
                .call(
                    "GET",
                    &format!("/api/v1/checks?asset_id={asset}"),
                    &token,
                    None,
                )
                .await;
            assert_eq!(s, 200, "{v}");
            let mut names: Vec<(String, String, bool)> = v["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| {
                    (
                        c["name"].as_str().unwrap().to_owned(),
                        c["warning"].as_str().unwrap().to_owned(),
                        c["host_check"].as_bool().unwrap(),
                    )
                })
                .collect();
            names.sort();
            names
        }
    };
    let expected = |w: &str| {
        vec![
            ("SSH".to_owned(), w.to_owned(), false),
            ("ping".to_owned(), String::new(), true),
        ]
    };
    assert_eq!(checks_of(ids[0]).await, expected("1"));
    assert!(checks_of(switch).await.is_empty());

    // A new matching asset gets the checks at once; one that stops matching loses them.
    let (s, v) = app
        .call("POST", "/api/v1/assets", &token, Some(linux("lin3")))
        .await;
    assert_eq!(s, 201, "{v}");
    let lin3 = v["id"].as_i64().unwrap();
    assert_eq!(checks_of(lin3).await, expected("1"));
    let (s, v) = app
        .call(
            "PATCH",
            &format!("/api/v1/assets/{}", ids[1]),
            &token,
            Some(json!({"status": "retired"})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert!(checks_of(ids[1]).await.is_empty());

    // Editing the template updates every existing check in place, without a restart.
    let mut changed = template.clone();
    changed["checks"][1]["warning"] = json!("0.5");
    let (s, v) = app
        .call(
            "PUT",
            &format!("/api/v1/check-templates/{tid}"),
            &token,
            Some(changed),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["applied"]["updated"], 2, "{v}");
    assert_eq!(checks_of(ids[0]).await, expected("0.5"));
    let (s, metrics) = app.call("GET", "/metrics", "", None).await;
    assert_eq!(s, 200);
    assert!(
        metrics
            .as_str()
            .unwrap()
            .contains("pupitre_checks_scheduled 4"),
        "the engine schedules the template's checks: {metrics}"
    );

    // Bad templates are refused with the field at fault.
    let mut bad = template.clone();
    bad["name"] = json!("other");
    bad["checks"][1]["probe"]["port"] = json!(0);
    let (s, v) = app
        .call("POST", "/api/v1/check-templates", &token, Some(bad))
        .await;
    assert_eq!(
        (s, v["error"]["field"].as_str()),
        (422, Some("checks[1].probe.port")),
        "{v}"
    );
    let mut bad = template.clone();
    bad["name"] = json!("other");
    bad["os_families"] = json!(["plan9"]);
    let (s, v) = app
        .call("POST", "/api/v1/check-templates", &token, Some(bad))
        .await;
    assert_eq!(
        (s, v["error"]["field"].as_str()),
        (422, Some("os_families")),
        "{v}"
    );
    let (s, v) = app
        .call(
            "POST",
            "/api/v1/check-templates",
            &token,
            Some(template.clone()),
        )
        .await;
    assert_eq!(
        (s, v["error"]["field"].as_str()),
        (409, Some("name")),
        "{v}"
    );

    // Deleting the template removes its checks.
    let (s, _) = app
        .call(
            "DELETE",
            &format!("/api/v1/check-templates/{tid}"),
            &token,
            None,
        )
        .await;
    assert_eq!(s, 204);
    assert!(checks_of(ids[0]).await.is_empty());
}

#[tokio::test]
async fn pages_show_problems_worst_first_with_escaped_text() {
    let app = start(WebConfig::standard()).await;
    let token = app.admin().await;
    let web = app.asset(&token, "web<5>", "server").await;
    let warn = app
        .check(
            &token,
            json!({"asset_id": web, "name": "<script>slow</script>", "probe": {"kind": "plugin",
                   "path": format!("{PLUGINS}/check_dummy"), "arguments": ["1", "slowish"]},
                   "max_attempts": 1}),
        )
        .await["id"]
        .as_i64()
        .unwrap();
    let crit = app
        .check(&token, tcp_check(web, "refused", closed_port(), 1))
        .await["id"]
        .as_i64()
        .unwrap();
    assert_eq!(app.run(&token, warn).await["state"], "warning");
    assert_eq!(app.run(&token, crit).await["state"], "critical");
    app.stored(&token, warn).await;
    app.stored(&token, crit).await;
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    let page = |path: String| {
        let req = app
            .http
            .get(format!("{}{path}", app.base))
            .bearer_auth(&token);
        async move {
            let resp = req.send().await.unwrap();
            assert_eq!(resp.status().as_u16(), 200);
            resp.text().await.unwrap()
        }
    };
    let problems = page("/monitoring".into()).await;
    assert!(problems.contains("http-equiv=\"refresh\""), "live refresh");
    let critical_at = problems
        .find(">refused<")
        .unwrap_or_else(|| panic!("{problems}"));
    let warning_at = problems
        .find("&#60;script&#62;slow")
        .unwrap_or_else(|| panic!("{problems}"));
    assert!(critical_at < warning_at, "CRITICAL before WARNING");
    assert!(!problems.contains("<script>slow"), "escaped");
    assert!(problems.contains("web&#60;5&#62;"));
    let only_warning = page("/monitoring?state=warning".into()).await;
    assert!(!only_warning.contains(">refused<"));
    let check = page(format!("/monitoring/checks/{warn}")).await;
    assert!(check.contains("slowish"), "the last output");
    assert!(check.contains("Check now"));
    let host = page(format!("/monitoring/hosts/{web}")).await;
    assert!(host.contains("refused") && host.contains("no host check"));
}

#[path = "../../pupitre-probe/tests/support/snmpd.rs"]
#[allow(dead_code, reason = "the probe's tests use the rest")]
mod snmpd;

#[tokio::test]
async fn credentials_are_write_only_and_snmp_checks_log_in_with_them() {
    let snmpd = snmpd::Snmpd::start().await;
    let app = start(WebConfig::standard()).await;
    let token = app.admin().await;
    let v3 = json!({
        "name": "lab-v3", "kind": "snmp_v3", "user": snmpd::USER, "level": "authPriv",
        "auth_protocol": "sha256", "auth_password": snmpd::AUTH_PASSWORD,
        "priv_protocol": "aes128", "priv_password": snmpd::PRIV_PASSWORD,
    });
    let (s, created) = app
        .call("POST", "/api/v1/credentials", &token, Some(v3))
        .await;
    assert_eq!(s, 201, "{created}");
    assert_eq!(created["user"], snmpd::USER);
    assert_eq!(created["level"], "authPriv");
    let (s, list) = app.call("GET", "/api/v1/credentials", &token, None).await;
    assert_eq!(s, 200);
    let (_, one) = app
        .call(
            "GET",
            &format!("/api/v1/credentials/{}", created["id"]),
            &token,
            None,
        )
        .await;
    for shown in [&created, &list, &one] {
        let text = shown.to_string();
        assert!(
            !text.contains(snmpd::AUTH_PASSWORD) && !text.contains(snmpd::PRIV_PASSWORD),
            "{text}"
        );
    }

    // Bad credentials name every field at fault.
    let (s, v) = app
        .call(
            "POST",
            "/api/v1/credentials",
            &token,
            Some(json!({"name": "two words", "kind": "snmp_v3", "user": "u", "level": "authPriv", "auth_password": "short"})),
        )
        .await;
    assert_eq!(s, 422, "{v}");
    let fields: Vec<_> = v["error"]["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(fields, ["name", "auth_password", "priv_password"], "{v}");

    // GET, the interface table (rates from the second run), hrStorage and sysUpTime.
    let sw = app.asset(&token, "lab-switch", "switch").await;
    let snmp = |name: &str, mode: &str, extra: Value| {
        let mut probe =
            json!({"kind": "snmp", "port": snmpd.port, "credential": "lab-v3", "mode": mode});
        probe
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        json!({"asset_id": sw, "name": name, "probe": probe, "timeout": 5})
    };
    let get = app
        .check(
            &token,
            snmp("services", "get", json!({"oid": "1.3.6.1.2.1.1.7.0"})),
        )
        .await["id"]
        .as_i64()
        .unwrap();
    let r = app.run(&token, get).await;
    assert_eq!(r["state"], "ok", "{r}");
    assert!(r["output"].as_str().unwrap().contains("72"), "{r}");

    let interfaces = app
        .check(
            &token,
            snmp("interfaces", "interfaces", json!({"items": ["lo"]})),
        )
        .await["id"]
        .as_i64()
        .unwrap();
    let r = app.run(&token, interfaces).await;
    assert_eq!(r["state"], "ok", "{r}");
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    app.run(&token, interfaces).await;
    let stored = app.stored(&token, interfaces).await;
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    let (_, stored_again) = app
        .call("GET", &format!("/api/v1/checks/{interfaces}"), &token, None)
        .await;
    let perfdata = stored_again["perfdata"].as_str().unwrap();
    assert!(
        perfdata.contains("lo_in_bps=") && perfdata.contains("lo_out_errors_per_s="),
        "{stored} {perfdata}"
    );

    let storage = app
        .check(&token, snmp("storage", "storage", json!({})))
        .await["id"]
        .as_i64()
        .unwrap();
    let r = app.run(&token, storage).await;
    assert_eq!(r["state"], "ok", "{r}");
    let uptime = app.check(&token, snmp("uptime", "uptime", json!({}))).await["id"]
        .as_i64()
        .unwrap();
    let r = app.run(&token, uptime).await;
    assert_eq!(r["state"], "ok", "{r}");
    assert!(r["output"].as_str().unwrap().contains("up "), "{r}");

    // A wrong password is UNKNOWN naming the authentication failure; fixing the credential
    // (the privacy password kept) fixes the check at its next run, without touching it.
    let (s, bad) = app
        .call(
            "POST",
            "/api/v1/credentials",
            &token,
            Some(json!({"name": "lab-bad", "kind": "snmp_v3", "user": snmpd::USER, "level": "authPriv",
                        "auth_password": "wrong-password-1", "priv_password": snmpd::PRIV_PASSWORD})),
        )
        .await;
    assert_eq!(s, 201, "{bad}");
    let mut body = snmp("bad", "get", json!({"oid": "1.3.6.1.2.1.1.7.0"}));
    body["probe"]["credential"] = json!("lab-bad");
    let bad_check = app.check(&token, body).await["id"].as_i64().unwrap();
    let r = app.run(&token, bad_check).await;
    assert_eq!(r["state"], "unknown", "{r}");
    assert!(
        r["output"]
            .as_str()
            .unwrap()
            .contains("wrong auth password"),
        "{r}"
    );
    let (s, v) = app
        .call(
            "PUT",
            &format!("/api/v1/credentials/{}", bad["id"]),
            &token,
            Some(json!({"name": "lab-bad", "kind": "snmp_v3", "user": snmpd::USER, "level": "authPriv",
                        "auth_password": snmpd::AUTH_PASSWORD})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let r = app.run(&token, bad_check).await;
    assert_eq!(r["state"], "ok", "{r}");

    // Credentials in use stay; checks must name one that exists and suits them.
    let (s, v) = app
        .call(
            "DELETE",
            &format!("/api/v1/credentials/{}", created["id"]),
            &token,
            None,
        )
        .await;
    assert_eq!(s, 409, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("lab-switch/services"),
        "{v}"
    );
    let (s, v) = app
        .call(
            "PUT",
            &format!("/api/v1/credentials/{}", created["id"]),
            &token,
            Some(json!({"name": "renamed", "kind": "snmp_v3", "user": snmpd::USER, "level": "authPriv"})),
        )
        .await;
    assert_eq!(
        (s, v["error"]["field"].as_str()),
        (409, Some("name")),
        "{v}"
    );
    let (s, db) = app
        .call(
            "POST",
            "/api/v1/credentials",
            &token,
            Some(json!({"name": "db", "kind": "password", "user": "postgres", "password": "pw"})),
        )
        .await;
    assert_eq!(s, 201, "{db}");
    for (credential, message) in [
        ("missing", "does not exist"),
        ("db", "password, which a snmp check cannot use"),
    ] {
        let mut body = snmp("x", "get", json!({"oid": "1.3.6.1.2.1.1.7.0"}));
        body["probe"]["credential"] = json!(credential);
        let (s, v) = app.call("POST", "/api/v1/checks", &token, Some(body)).await;
        assert_eq!(
            (s, v["error"]["field"].as_str()),
            (422, Some("probe.credential")),
            "{v}"
        );
        assert!(
            v["error"]["message"].as_str().unwrap().contains(message),
            "{v}"
        );
    }

    // A database check logs in with a password credential (PostgreSQL on loopback).
    let pg = app.asset(&token, "pg", "server").await;
    let check = app
        .check(
            &token,
            json!({"asset_id": pg, "name": "pg", "timeout": 5, "critical": "1:1",
                   "probe": {"kind": "database", "engine": "postgres", "port": 5432,
                             "database": "test", "credential": "db", "query": "SELECT 1"}}),
        )
        .await["id"]
        .as_i64()
        .unwrap();
    let r = app.run(&token, check).await;
    assert_eq!(r["state"], "ok", "{r}");

    // A credential serves its entity and those below, and only those who may see it.
    let lyon = support::entity(&app.st, "Lyon").await;
    let lyon_admin = support::token(&app.st, "lyon", "Administrator", lyon).await;
    let lyon_switch = app.asset(&lyon_admin, "lyon-switch", "switch").await;
    let mut body = snmp("stolen", "get", json!({"oid": "1.3.6.1.2.1.1.7.0"}));
    body["asset_id"] = json!(lyon_switch);
    let (s, v) = app
        .call("POST", "/api/v1/checks", &lyon_admin, Some(body.clone()))
        .await;
    assert_eq!(s, 422, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("does not exist"),
        "{v}"
    );
    let (s, v) = app.call("POST", "/api/v1/checks", &token, Some(body)).await;
    assert_eq!(s, 201, "a credential of the root serves Lyon: {v}");
    let (s, v) = app
        .call(
            "POST",
            "/api/v1/credentials",
            &lyon_admin,
            Some(json!({"name": "lyon-community", "kind": "snmp_community", "community": "lyon"})),
        )
        .await;
    assert_eq!((s, v["entity_id"].as_i64()), (201, Some(lyon)), "{v}");
    let mut body = snmp("lyon", "get", json!({"oid": "1.3.6.1.2.1.1.7.0"}));
    body["probe"]["credential"] = json!("lyon-community");
    let (s, v) = app.call("POST", "/api/v1/checks", &token, Some(body)).await;
    assert_eq!(s, 422, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("serves entity"),
        "{v}"
    );

    // Reading needs monitoring=read, writing monitoring=edit.
    let technician = support::token(&app.st, "tech", "Technician", 1).await;
    let (s, _) = app
        .call("GET", "/api/v1/credentials", &technician, None)
        .await;
    assert_eq!(s, 200);
    let (s, _) = app
        .call(
            "POST",
            "/api/v1/credentials",
            &technician,
            Some(json!({"name": "t", "kind": "password", "password": "x"})),
        )
        .await;
    assert_eq!(s, 403);
}
