//! Alerts and incidents over HTTP: the generic webhook and a real Prometheus Alertmanager
//! open and resolve incidents; bad payloads and tokens are refused and nothing of them is
//! kept; a switch down with fifty servers behind it is one incident with the servers
//! impacted, whatever the order in which their checks failed; people acknowledge, take,
//! annotate and resolve from the page.
#![expect(
    clippy::unwrap_used,
    reason = "a test fails loudly on any unexpected error"
)]

mod support;

use std::time::Duration;

use pupitre_core::model::ROOT_ENTITY;
use pupitre_web::WebConfig;
use serde_json::{Value, json};
use support::{App, start};

impl App {
    async fn admin(&self) -> String {
        support::token(&self.st, "ops", "Administrator", ROOT_ENTITY).await
    }

    /// A new alert source of `kind`: its id and token.
    async fn source(&self, admin: &str, kind: &str) -> (i64, String) {
        let (s, v) = self
            .call(
                "POST",
                "/api/v1/alert-sources",
                admin,
                Some(json!({"name": format!("{kind} source"), "entity_id": ROOT_ENTITY, "kind": kind})),
            )
            .await;
        assert_eq!(s, 201, "{v}");
        (
            v["source"]["id"].as_i64().unwrap(),
            v["token"].as_str().unwrap().to_owned(),
        )
    }

    /// Posts `body` to a receiver with a source token: status and JSON.
    async fn post_alerts(&self, receiver: &str, token: &str, body: &str) -> (u16, Value) {
        let resp = self
            .http
            .post(format!("{}/api/v1/alerts/{receiver}", self.base))
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// Waits (up to 30 s) until the incidents listed with `query` satisfy `done`.
    async fn incidents_until(
        &self,
        token: &str,
        query: &str,
        done: impl Fn(&[Value]) -> bool,
    ) -> Vec<Value> {
        let mut last = Vec::new();
        for _ in 0..300 {
            let (s, v) = self
                .call("GET", &format!("/api/v1/incidents?{query}"), token, None)
                .await;
            assert_eq!(s, 200, "{v}");
            last = v.as_array().unwrap().clone();
            if done(&last) {
                return last;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("incidents never got there: {last:?}");
    }

    async fn incident(&self, token: &str, id: i64) -> Value {
        let (s, v) = self
            .call("GET", &format!("/api/v1/incidents/{id}"), token, None)
            .await;
        assert_eq!(s, 200, "{v}");
        v
    }
}

#[tokio::test]
async fn webhook_events_open_and_resolve_incidents_and_bad_ones_are_refused() {
    let app = start(WebConfig::standard()).await;
    let admin = app.admin().await;
    let (_, token) = app.source(&admin, "webhook").await;
    let (_, am_token) = app.source(&admin, "alertmanager").await;

    // Refusals name the field, and leave nothing behind.
    for (body, status, field) in [
        ("not json", 400, ""),
        (
            r#"{"action": "trigger", "severity": "critical", "summary": "x"}"#,
            422,
            "dedup_key",
        ),
        (
            r#"{"dedup_key": "k", "action": "explode", "summary": "x"}"#,
            422,
            "action",
        ),
        (
            r#"{"dedup_key": "k", "action": "trigger", "severity": "fatal", "summary": "x"}"#,
            422,
            "severity",
        ),
        (
            r#"{"dedup_key": "k", "action": "trigger", "severity": "critical", "summary": "x", "colour": "red"}"#,
            422,
            "colour",
        ),
        (
            r#"{"events": [{"dedup_key": "a", "action": "trigger", "severity": "info", "summary": "ok"}, {"dedup_key": "b", "action": "trigger", "severity": "info", "summary": "x", "links": [{"href": "javascript:alert(1)"}]}]}"#,
            422,
            "events[1].links",
        ),
        (
            r#"{"dedup_key": "k", "action": "trigger", "severity": "critical", "summary": "x", "asset_id": 424242}"#,
            422,
            "asset_id",
        ),
    ] {
        let (s, v) = app.post_alerts("webhook", &token, body).await;
        assert_eq!(s, status, "{body}: {v}");
        if !field.is_empty() {
            assert_eq!(v["error"]["field"], field, "{v}");
        }
    }
    let (s, _) = app.post_alerts("webhook", "pal_forged", "{}").await;
    assert_eq!(s, 401);
    let (s, _) = app.post_alerts("webhook", &am_token, "{}").await;
    assert_eq!(
        s, 403,
        "an Alertmanager token is for the Alertmanager receiver"
    );
    let (_, alerts) = app.call("GET", "/api/v1/alerts", &admin, None).await;
    assert_eq!(
        alerts.as_array().map(Vec::len),
        Some(0),
        "nothing was kept: {alerts}"
    );

    // A trigger opens an incident; the same key again only updates its alert.
    let db1 = json!({"name": "db1", "asset_type": "server", "hostname": "db1.example.org"});
    let (s, v) = app.call("POST", "/api/v1/assets", &admin, Some(db1)).await;
    assert_eq!(s, 201, "{v}");
    let db1 = v["id"].as_i64().unwrap();
    let trigger = json!({"dedup_key": "disk-db1", "action": "trigger", "severity": "critical",
        "summary": "db1: /var <98%> full", "host": "db1.example.org",
        "links": [{"href": "https://grafana.example.org/d/db1", "text": "dashboard"}],
        "details": {"mount": "/var", "used": 0.98}});
    for _ in 0..2 {
        let (s, v) = app
            .post_alerts("webhook", &token, &trigger.to_string())
            .await;
        assert_eq!((s, v["accepted"].as_i64()), (202, Some(1)), "{v}");
    }
    let open = app
        .incidents_until(&admin, "status=open", |l| l.len() == 1)
        .await;
    let id = open[0]["id"].as_i64().unwrap();
    assert_eq!(open[0]["urgency"], "high");
    assert_eq!(
        open[0]["cause_asset_id"], db1,
        "the host name found the asset"
    );
    let detail = app.incident(&admin, id).await;
    let wait_updates = || async {
        for _ in 0..100 {
            let d = app.incident(&admin, id).await;
            if d["alerts"][0]["updates"] == 2 {
                return d;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the second trigger never updated the alert");
    };
    let detail = if detail["alerts"][0]["updates"] == 2 {
        detail
    } else {
        wait_updates().await
    };
    assert_eq!(
        detail["alerts"].as_array().map(Vec::len),
        Some(1),
        "{detail}"
    );
    assert_eq!(detail["alerts"][0]["links"][0]["text"], "dashboard");
    assert_eq!(detail["assets"][0]["role"], "cause");

    // The page escapes what the source sent.
    let page = app
        .http
        .get(format!("{}/incidents/{id}", app.base))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("&lt;98%&gt;") || page.contains("&#60;98%&#62;"),
        "{page}"
    );
    assert!(!page.contains("<98%>"));

    // Resolving the key resolves the incident.
    let resolve = json!({"dedup_key": "disk-db1", "action": "resolve"});
    let (s, _) = app
        .post_alerts("webhook", &token, &resolve.to_string())
        .await;
    assert_eq!(s, 202);
    app.incidents_until(&admin, "status=resolved", |l| l.len() == 1)
        .await;
    let detail = app.incident(&admin, id).await;
    let kinds: Vec<&str> = detail["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["opened", "alert_fired", "alert_resolved", "resolved"]
    );

    // A revoked source sends nothing more.
    let (_, sources) = app.call("GET", "/api/v1/alert-sources", &admin, None).await;
    let hook = sources
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["kind"] == "webhook")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let (s, _) = app
        .call(
            "POST",
            &format!("/api/v1/alert-sources/{hook}/revoke"),
            &admin,
            None,
        )
        .await;
    assert_eq!(s, 200);
    let (s, _) = app
        .post_alerts("webhook", &token, &trigger.to_string())
        .await;
    assert_eq!(s, 401);
}

#[tokio::test]
async fn people_acknowledge_take_annotate_and_resolve_and_readers_cannot() {
    let app = start(WebConfig::standard()).await;
    let admin = app.admin().await;
    let (_, token) = app.source(&admin, "webhook").await;
    let body = json!({"dedup_key": "api-5xx", "action": "trigger", "severity": "warning",
        "summary": "API answers 5xx", "service": "api"});
    app.post_alerts("webhook", &token, &body.to_string()).await;
    let id = app.incidents_until(&admin, "", |l| l.len() == 1).await[0]["id"]
        .as_i64()
        .unwrap();
    let reader = support::token(&app.st, "auditor", "Read-only auditor", ROOT_ENTITY).await;
    let (s, _) = app
        .call(
            "POST",
            &format!("/api/v1/incidents/{id}/acknowledge"),
            &reader,
            None,
        )
        .await;
    assert_eq!(s, 403);
    let operator = support::token(&app.st, "night", "Operator", ROOT_ENTITY).await;
    let form = |path: String, body: &'static str| {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let url = format!("{}{path}", app.base);
        let operator = operator.clone();
        async move {
            http.post(url)
                .bearer_auth(operator)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(form(format!("/incidents/{id}/acknowledge"), "").await, 303);
    assert_eq!(form(format!("/incidents/{id}/take"), "").await, 303);
    assert_eq!(
        form(format!("/incidents/{id}/notes"), "text=restarted+api-2").await,
        303
    );
    assert_eq!(form(format!("/incidents/{id}/notes"), "text=++").await, 422);
    let d = app.incident(&operator, id).await;
    assert_eq!(d["status"], "acknowledged");
    assert_eq!(d["acknowledged_by"], "night");
    assert_eq!(d["assignee"], "night");
    let (s, v) = app
        .call(
            "PUT",
            &format!("/api/v1/incidents/{id}/assignee"),
            &operator,
            Some(json!({"assignee_id": 987654})),
        )
        .await;
    assert_eq!(
        (s, v["error"]["field"].as_str()),
        (422, Some("assignee_id")),
        "{v}"
    );
    assert_eq!(form(format!("/incidents/{id}/resolve"), "").await, 303);
    let (s, v) = app
        .call(
            "POST",
            &format!("/api/v1/incidents/{id}/acknowledge"),
            &operator,
            None,
        )
        .await;
    assert_eq!(
        s, 409,
        "a resolved incident is reopened, not acknowledged: {v}"
    );
    let (s, v) = app
        .call(
            "POST",
            &format!("/api/v1/incidents/{id}/reopen"),
            &operator,
            None,
        )
        .await;
    assert_eq!((s, v["status"].as_str()), (200, Some("triggered")), "{v}");
    let d = app.incident(&operator, id).await;
    let line: Vec<(String, String)> = d["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["kind"].as_str().unwrap().to_owned(),
                t["actor"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        line[2..],
        [
            ("acknowledged".into(), "night".into()),
            ("assigned".into(), "night".into()),
            ("note".into(), "night".into()),
            ("resolved".into(), "night".into()),
            ("reopened".into(), "night".into()),
        ]
    );
}

/// A TCP port that nothing listens on (bound then closed).
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

#[tokio::test]
async fn a_switch_down_with_fifty_servers_behind_it_is_one_incident_paged_once() {
    let mut config = WebConfig::standard();
    // No SMTP server here: what is counted is the pages queued, one per escalation step.
    config.page_group_wait = Duration::from_secs(2);
    let app = start(config).await;
    let admin = app.admin().await;
    let night = support::token(&app.st, "night", "On-call engineer", ROOT_ENTITY).await;
    let (_, me) = app
        .call(
            "PATCH",
            "/api/v1/me",
            &night,
            Some(json!({"email": "night@example.test", "notify_email": true})),
        )
        .await;
    let (s, v) = app
        .call("POST", "/api/v1/escalation-policies", &admin, Some(json!({"entity_id": ROOT_ENTITY,
            "name": "network", "steps": [{"targets": [{"user_id": me["id"]}], "delay_minutes": 15}]})))
        .await;
    assert_eq!(s, 200, "{v}");
    let asset = |name: String, kind: &'static str| {
        let app = &app;
        let admin = admin.clone();
        async move {
            let (s, v) = app
                .call(
                    "POST",
                    "/api/v1/assets",
                    &admin,
                    Some(json!({"name": name, "asset_type": kind})),
                )
                .await;
            assert_eq!(s, 201, "{v}");
            v["id"].as_i64().unwrap()
        }
    };
    let host_check = |asset: i64| {
        let app = &app;
        let admin = admin.clone();
        async move {
            let body = json!({"asset_id": asset, "name": "reachability", "host_check": true,
                "probe": {"kind": "tcp", "host": "127.0.0.1", "port": closed_port()},
                "interval": 3600, "retry_interval": 60, "max_attempts": 1});
            let (s, v) = app.call("POST", "/api/v1/checks", &admin, Some(body)).await;
            assert_eq!(s, 201, "{v}");
            v["id"].as_i64().unwrap()
        }
    };
    let switch = asset("sw-core-1".to_owned(), "switch").await;
    let switch_check = host_check(switch).await;
    let mut servers = Vec::new();
    for n in 0..50 {
        let server = asset(format!("srv-{n:02}"), "server").await;
        let (s, v) = app
            .call(
                "POST",
                "/api/v1/relations",
                &admin,
                Some(json!({"kind": "connected_to", "from_id": server, "to_id": switch})),
            )
            .await;
        assert_eq!(s, 201, "{v}");
        servers.push(host_check(server).await);
    }
    let run = |check: i64| {
        let app = &app;
        let admin = admin.clone();
        async move {
            let (s, v) = app
                .call("POST", &format!("/api/v1/checks/{check}/run"), &admin, None)
                .await;
            assert_eq!((s, v["state"].as_str()), (200, Some("critical")), "{v}");
        }
    };
    // Ten servers fail before anyone sees the switch down: ten incidents for a moment.
    for check in &servers[..10] {
        run(*check).await;
    }
    app.incidents_until(&admin, "", |l| l.len() == 10).await;
    // Then the switch, then the forty others (unreachable behind it).
    run(switch_check).await;
    for check in &servers[10..] {
        run(*check).await;
    }
    let open = app
        .incidents_until(&admin, "", |l| {
            l.len() == 1 && l[0]["cause_asset_id"] == switch
        })
        .await;
    let id = open[0]["id"].as_i64().unwrap();
    // The correlator takes the forty in turn: wait for the last.
    let mut d = app.incident(&admin, id).await;
    for _ in 0..300 {
        if d["alerts"].as_array().map(Vec::len) == Some(51) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        d = app.incident(&admin, id).await;
    }
    assert_eq!(
        d["alerts"].as_array().map(Vec::len),
        Some(51),
        "every alert joined"
    );
    assert_eq!(
        (d["impact"].as_i64(), d["priority"].as_i64()),
        (Some(51), Some(1)),
        "high urgency, 51 assets"
    );
    let impacted = d["assets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["role"] == "impacted")
        .count();
    assert_eq!(impacted, 50, "the fifty servers are linked as impacted");
    let (_, open_now) = app.call("GET", "/api/v1/incidents", &admin, None).await;
    assert_eq!(
        open_now.as_array().map(Vec::len),
        Some(1),
        "one incident open"
    );
    let merged = app
        .incidents_until(&admin, "status=resolved", |l| l.len() == 10)
        .await;
    assert!(merged.iter().all(|i| i["merged_into"] == id), "{merged:?}");
    // The incident's page helps find the cause: the switch's problems, what depends on it
    // (with their problems), the changes of the day on these assets.
    let html = app
        .http
        .get(format!("{}/incidents/{id}", app.base))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let section = |id: &str| {
        let start = html.find(&format!("id=\"{id}\"")).unwrap_or(0);
        html[start..]
            .split("</section>")
            .next()
            .unwrap_or("")
            .to_owned()
    };
    assert!(section("problems").contains("sw-core-1"), "{html}");
    assert!(section("around").contains("srv-49"), "{html}");
    assert!(section("changes").contains("asset.create"), "{html}");
    // Past the grouping wait: one page for the first step, none for the ten merged incidents.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let (_, pages) = app
        .call(
            "GET",
            &format!("/api/v1/incidents/{id}/notifications"),
            &admin,
            None,
        )
        .await;
    assert_eq!(pages.as_array().map(Vec::len), Some(1), "{pages}");
    for m in &merged {
        let (_, none) = app
            .call(
                "GET",
                &format!("/api/v1/incidents/{}/notifications", m["id"]),
                &admin,
                None,
            )
            .await;
        assert_eq!(none.as_array().map(Vec::len), Some(0), "{none}");
    }
}

/// A real Prometheus Alertmanager (Debian's) on a free loopback port, sending to `url` with
/// `token`; stopped when dropped.
struct Alertmanager {
    child: std::process::Child,
    api: String,
    _dir: tempfile::TempDir,
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Alertmanager {
    async fn start(url: &str, token: &str) -> Alertmanager {
        let dir = tempfile::tempdir().unwrap();
        let config = format!(
            "route:\n  receiver: pupitre\n  group_by: ['alertname', 'instance']\n  group_wait: 1s\n  \
             group_interval: 1s\n  repeat_interval: 1h\nreceivers:\n  - name: pupitre\n    \
             webhook_configs:\n      - url: {url}\n        send_resolved: true\n        \
             http_config:\n          authorization:\n            credentials: {token}\n"
        );
        std::fs::write(dir.path().join("alertmanager.yml"), config).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = std::process::Command::new("prometheus-alertmanager")
            .arg(format!(
                "--config.file={}",
                dir.path().join("alertmanager.yml").display()
            ))
            .arg(format!(
                "--storage.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--cluster.listen-address=")
            .arg(format!("--web.external-url=http://127.0.0.1:{port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("alertmanager.log")).unwrap())
            .spawn()
            .expect(
                "prometheus-alertmanager (Debian package) must be installed: .ci/run installs it",
            );
        let am = Alertmanager {
            child,
            api: format!("http://127.0.0.1:{port}"),
            _dir: dir,
        };
        for _ in 0..100 {
            if reqwest::get(format!("{}/-/ready", am.api))
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                return am;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("alertmanager did not get ready");
    }

    /// Posts an alert as Prometheus would; with `ends_at`, resolved.
    async fn post(&self, labels: Value, summary: &str, ends_at: Option<&str>) {
        let mut alert = json!({"labels": labels, "annotations": {"summary": summary},
            "generatorURL": "http://127.0.0.1:9090/graph?g0.expr=up"});
        if let Some(at) = ends_at {
            alert["endsAt"] = json!(at);
        }
        let r = reqwest::Client::new()
            .post(format!("{}/api/v2/alerts", self.api))
            .json(&json!([alert]))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    }
}

#[tokio::test]
async fn a_real_alertmanager_opens_and_resolves_an_incident() {
    let app = start(WebConfig::standard()).await;
    let admin = app.admin().await;
    let (s, v) = app
        .call(
            "POST",
            "/api/v1/assets",
            &admin,
            Some(json!({"name": "db1", "asset_type": "server", "hostname": "db1.example.org"})),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let db1 = v["id"].as_i64().unwrap();
    let (_, token) = app.source(&admin, "alertmanager").await;
    let am = Alertmanager::start(&format!("{}/api/v1/alerts/alertmanager", app.base), &token).await;
    let labels = json!({"alertname": "DiskFull", "severity": "critical",
        "instance": "db1.example.org:9100", "job": "node"});
    am.post(labels.clone(), "db1: /var is 98% full", None).await;
    let open = app.incidents_until(&admin, "", |l| l.len() == 1).await;
    let id = open[0]["id"].as_i64().unwrap();
    assert_eq!(
        open[0]["cause_asset_id"], db1,
        "the instance label found the asset"
    );
    assert_eq!(open[0]["urgency"], "high");
    let d = app.incident(&admin, id).await;
    let alert = &d["alerts"][0];
    assert_eq!(alert["source"], "alertmanager");
    assert_eq!(alert["summary"], "db1: /var is 98% full");
    assert_eq!(alert["details"]["labels"]["job"], "node");
    assert!(
        alert["links"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["href"].as_str().unwrap().contains("g0.expr=up")),
        "{alert}"
    );
    // Prometheus stops firing it: Alertmanager sends it resolved, the incident resolves.
    let now = jiff::Timestamp::now().to_string();
    am.post(labels, "db1: /var is 98% full", Some(&now)).await;
    let resolved = app
        .incidents_until(&admin, "status=resolved", |l| l.len() == 1)
        .await;
    assert_eq!(resolved[0]["id"], id);
    assert_eq!(resolved[0]["resolved_by"], "pupitre");
}

#[tokio::test]
async fn a_silence_holds_matching_alerts_back_until_it_ends() {
    let app = start(WebConfig::standard()).await;
    let admin = app.admin().await;
    let (_, token) = app.source(&admin, "webhook").await;
    let in_an_hour = (jiff::Timestamp::now() + jiff::SignedDuration::from_hours(1)).to_string();
    for (matchers, comment, field) in [
        (
            json!([{"name": "key", "op": "=~", "value": "(unclosed"}]),
            "x",
            "matchers[0].value",
        ),
        (
            json!([{"name": "key", "op": "~", "value": "a"}]),
            "x",
            "matchers[0].op",
        ),
        (
            json!([{"name": "9key", "op": "=", "value": "a"}]),
            "x",
            "matchers[0].name",
        ),
        (json!([]), "x", "matchers"),
        (
            json!([{"name": "key", "op": "=", "value": "a"}]),
            " ",
            "comment",
        ),
    ] {
        let (s, v) = app
            .call(
                "POST",
                "/api/v1/silences",
                &admin,
                Some(json!({"entity_id": ROOT_ENTITY,
                "matchers": matchers, "ends_at": in_an_hour, "comment": comment})),
            )
            .await;
        assert_eq!((s, v["error"]["field"].as_str()), (422, Some(field)), "{v}");
    }
    let (s, silence) = app
        .call(
            "POST",
            "/api/v1/silences",
            &admin,
            Some(json!({"entity_id": ROOT_ENTITY,
            "matchers": [{"name": "source", "op": "=", "value": "webhook"},
                         {"name": "key", "op": "=~", "value": "hook:[0-9]+:disk-.*"}],
            "ends_at": in_an_hour, "comment": "disks being replaced, CHG-77"})),
        )
        .await;
    assert_eq!(
        (s, silence["active"].as_bool()),
        (201, Some(true)),
        "{silence}"
    );
    let trigger = |key: &str| {
        json!({"dedup_key": key, "action": "trigger", "severity": "critical", "summary": format!("{key} failing")}).to_string()
    };
    app.post_alerts("webhook", &token, &trigger("disk-db2"))
        .await;
    app.post_alerts("webhook", &token, &trigger("cpu-db2"))
        .await;
    let open = app.incidents_until(&admin, "", |l| l.len() == 1).await;
    assert_eq!(
        open[0]["title"], "cpu-db2 failing",
        "only the unsilenced alert opened one"
    );
    let (_, alerts) = app
        .call("GET", "/api/v1/alerts?firing=true", &admin, None)
        .await;
    let disk = alerts
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["summary"] == "disk-db2 failing")
        .unwrap()
        .clone();
    assert!(
        disk["suppressed"].as_str().unwrap().contains("CHG-77"),
        "{disk}"
    );
    // The silence ends; the source reports the problem again: its incident opens.
    let (s, _) = app
        .call(
            "POST",
            &format!("/api/v1/silences/{}/expire", silence["id"]),
            &admin,
            None,
        )
        .await;
    assert_eq!(s, 200);
    app.post_alerts("webhook", &token, &trigger("disk-db2"))
        .await;
    let open = app.incidents_until(&admin, "", |l| l.len() == 2).await;

    // The same through the pages: the incident's firing alert links to a prefilled form.
    let (server, who) = (&app, admin.as_str());
    let post = |path: &str, body: String| {
        let path = path.to_owned();
        async move {
            let (status, _, html) = server.browse(&path, who, Some(&body)).await;
            (status, html)
        }
    };
    let get = |path: String| async move {
        let (status, _, html) = server.browse(&path, who, None).await;
        (status, html)
    };
    let disk = open
        .iter()
        .find(|i| i["title"] == "disk-db2 failing")
        .unwrap();
    let (_, html) = get(format!("/incidents/{}", disk["id"])).await;
    let link = html
        .split("class=\"silence\" href=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .replace("&amp;", "&");
    let (s, html) = get(link).await;
    assert_eq!(s, 200);
    assert!(
        html.contains(&format!(
            "value=\"{}\"",
            disk_key(&alerts, "disk-db2 failing")
        )),
        "{html}"
    );
    let form = format!(
        "entity_id={ROOT_ENTITY}&matcher_name=key&matcher_op=%3D&matcher_value=db2&matcher_name=&matcher_op=%3D&matcher_value=&hours=4&comment="
    );
    let (s, html) = post("/incidents/silences", form.clone()).await;
    assert_eq!(s, 422, "no reason given");
    assert!(html.contains("value=\"db2\""), "what was typed is kept");
    let (s, _) = post("/incidents/silences", format!("{form}night+work")).await;
    assert_eq!(s, 303);
    let (_, list) = app.call("GET", "/api/v1/silences", &admin, None).await;
    let made = list
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["comment"] == "night work")
        .unwrap()
        .clone();
    assert_eq!(
        made["matchers"],
        json!([{"name": "key", "op": "=", "value": "db2"}])
    );
    let (s, html) = get("/incidents/silences".into()).await;
    assert_eq!(s, 200);
    assert!(html.contains("night work"));
    let (s, _) = post(
        &format!("/incidents/silences/{}/expire", made["id"]),
        String::new(),
    )
    .await;
    assert_eq!(s, 303);
    let (_, list) = app.call("GET", "/api/v1/silences", &admin, None).await;
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .all(|s| s["comment"] != "night work" || s["active"] == false)
    );
}

/// The dedup key of the alert with this summary.
fn disk_key(alerts: &Value, summary: &str) -> String {
    alerts
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["summary"] == summary)
        .map(|a| a["dedup_key"].as_str().unwrap().to_owned())
        .unwrap()
}

#[tokio::test]
async fn a_resolved_incident_gets_its_review_and_the_figures_count_it() {
    let app = start(WebConfig::standard()).await;
    let admin = app.admin().await;
    let (_, token) = app.source(&admin, "webhook").await;
    let (s, v) = app
        .call(
            "POST",
            "/api/v1/assets",
            &admin,
            Some(json!({"name": "api1", "asset_type": "server", "hostname": "api1"})),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let api1 = v["id"].as_i64().unwrap();
    let body = json!({"dedup_key": "api-down", "action": "trigger", "severity": "critical", "summary": "api1 down", "host": "api1"});
    app.post_alerts("webhook", &token, &body.to_string()).await;
    let id = app.incidents_until(&admin, "", |l| l.len() == 1).await[0]["id"]
        .as_i64()
        .unwrap();
    let review = json!({"cause": "a failed PSU", "impact": "40 min without the API", "actions": "order a spare PSU"});
    let (s, v) = app
        .call(
            "PUT",
            &format!("/api/v1/incidents/{id}/review"),
            &admin,
            Some(review.clone()),
        )
        .await;
    assert_eq!(s, 409, "an open incident is not reviewed yet: {v}");
    app.call(
        "POST",
        &format!("/api/v1/incidents/{id}/acknowledge"),
        &admin,
        None,
    )
    .await;
    app.call(
        "POST",
        &format!("/api/v1/incidents/{id}/resolve"),
        &admin,
        None,
    )
    .await;
    let (s, v) = app
        .call(
            "PUT",
            &format!("/api/v1/incidents/{id}/review"),
            &admin,
            Some(json!({})),
        )
        .await;
    assert_eq!(
        (s, v["error"]["field"].as_str()),
        (422, Some("cause")),
        "{v}"
    );
    let (s, v) = app
        .call(
            "PUT",
            &format!("/api/v1/incidents/{id}/review"),
            &admin,
            Some(review),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let d = app.incident(&admin, id).await;
    assert_eq!(d["review"]["cause"], "a failed PSU");
    assert_eq!(d["reviewed_by"], "ops");
    assert!(
        d["time_to_acknowledge_s"].is_i64() && d["time_to_resolve_s"].is_i64(),
        "{d}"
    );
    let (s, f) = app
        .call("GET", "/api/v1/incidents/figures", &admin, None)
        .await;
    assert_eq!(s, 200, "{f}");
    assert_eq!(f["opened"], 1);
    assert_eq!(f["by_priority"]["P3"], 1, "{f}");
    assert!(
        f["mtta_s"].as_f64().is_some() && f["mttr_s"].as_f64().is_some(),
        "{f}"
    );
    let a = &f["availability"][0];
    assert_eq!(a["asset_id"], api1);
    assert!(a["availability"].as_f64().unwrap() > 0.99, "{f}");
    let (s, v) = app
        .call(
            "GET",
            "/api/v1/incidents/figures?from=2026-12-01T00:00:00Z&to=2026-11-01T00:00:00Z",
            &admin,
            None,
        )
        .await;
    assert_eq!((s, v["error"]["field"].as_str()), (422, Some("to")), "{v}");
}

#[tokio::test]
async fn a_handover_sums_up_the_shift_and_the_next_operator_takes_it() {
    let app = start(WebConfig::standard()).await;
    let admin = app.admin().await;
    let night = support::token(&app.st, "night", "On-call engineer", ROOT_ENTITY).await;
    let day = support::token(&app.st, "day", "On-call engineer", ROOT_ENTITY).await;
    let (_, token) = app.source(&admin, "webhook").await;
    let body = json!({"dedup_key": "nas-1", "action": "trigger", "severity": "critical", "summary": "nas-1 degraded"});
    app.post_alerts("webhook", &token, &body.to_string()).await;
    let incident = app.incidents_until(&admin, "", |l| l.len() == 1).await[0]["id"]
        .as_i64()
        .unwrap();
    for (body, field) in [
        (
            json!({"entity_id": ROOT_ENTITY, "category": "gossip", "text": "x"}),
            "category",
        ),
        (
            json!({"entity_id": ROOT_ENTITY, "category": "note", "text": "  "}),
            "text",
        ),
        (
            json!({"entity_id": ROOT_ENTITY, "category": "note", "text": "x", "incident_ids": [99999]}),
            "incident_ids[0]",
        ),
    ] {
        let (s, v) = app
            .call("POST", "/api/v1/shift-log", &night, Some(body))
            .await;
        assert_eq!((s, v["error"]["field"].as_str()), (422, Some(field)), "{v}");
    }
    let (s, v) = app
        .call(
            "POST",
            "/api/v1/shift-log",
            &night,
            Some(json!({"entity_id": ROOT_ENTITY, "category": "call",
            "text": "vendor will replace the NAS disk at 09:00", "incident_ids": [incident]})),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let (s, h) = app
        .call(
            "POST",
            "/api/v1/handovers",
            &night,
            Some(json!({"entity_id": ROOT_ENTITY, "note": "NAS: vendor at 9"})),
        )
        .await;
    assert_eq!(s, 201, "{h}");
    assert_eq!(h["summary"]["open_incidents"][0]["id"], incident);
    assert_eq!(
        h["summary"]["entries"][0]["text"],
        "vendor will replace the NAS disk at 09:00"
    );
    assert_eq!(h["summary"]["incidents_opened"], 1);
    let id = h["id"].as_i64().unwrap();
    let (s, v) = app
        .call(
            "POST",
            &format!("/api/v1/handovers/{id}/acknowledge"),
            &night,
            None,
        )
        .await;
    assert_eq!(
        s, 409,
        "the outgoing operator does not take their own shift: {v}"
    );
    let (s, v) = app
        .call(
            "POST",
            &format!("/api/v1/handovers/{id}/acknowledge"),
            &day,
            None,
        )
        .await;
    assert_eq!(
        (s, v["acknowledged_by"].as_str()),
        (200, Some("day")),
        "{v}"
    );
    let html = app
        .http
        .get(format!("{}/shiftlog", app.base))
        .bearer_auth(&day)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("NAS: vendor at 9") && html.contains("id=\"taken\""),
        "{html}"
    );
}
