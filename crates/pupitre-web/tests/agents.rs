//! Agents over HTTP, as an agent and as an administrator: enrolment tokens and their limits,
//! approval, the agent's own credential (revoked, forged, rotated), samples into the history,
//! malformed and oversized batches, clock skew, and configuration pushed through the long poll.
#![expect(
    clippy::unwrap_used,
    reason = "a test fails loudly on any unexpected error"
)]

mod support;

use std::io::Write;
use std::time::Duration;

use pupitre_agent::wire::SENT_AT_HEADER;
use pupitre_core::model::ROOT_ENTITY;
use pupitre_store::AuditFilter;
use pupitre_web::WebConfig;
use serde_json::{Value, json};
use support::{App, start};

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn hello(name: &str) -> Value {
    json!({"hostname": name, "machine_id": format!("id-{name}"), "version": "0.1.0", "os": "Debian GNU/Linux 12", "arch": "x86_64"})
}

fn batch(seq: i64, at: i64, load: f64) -> Value {
    json!({"seq": seq, "at": at, "samples": [
        {"name": "node_load1", "value": load},
        {"name": "node_cpu_seconds_total", "labels": {"cpu": "0", "mode": "idle"}, "value": 1234.5, "counter": true},
    ]})
}

impl App {
    async fn admin(&self) -> String {
        support::token(&self.st, "ops", "Administrator", ROOT_ENTITY).await
    }

    /// A token that enrols `uses` agents into the root entity.
    async fn enrolment(&self, admin: &str, uses: i64) -> (i64, String) {
        let (s, v) = self
            .call(
                "POST",
                "/api/v1/agent-enrolments",
                admin,
                Some(json!({"entity_id": ROOT_ENTITY, "label": "rack B", "max_uses": uses})),
            )
            .await;
        assert_eq!(s, 201, "{v}");
        (
            v["enrolment"]["id"].as_i64().unwrap(),
            v["token"].as_str().unwrap().to_owned(),
        )
    }

    /// What the agent routes answer: status and JSON.
    async fn agent(
        &self,
        path: &str,
        credential: Option<&str>,
        sent_at: Option<i64>,
        body: Vec<u8>,
    ) -> (u16, Value) {
        let mut req = self
            .http
            .post(format!("{}/api/v1/agent/{path}", self.base))
            .header("content-type", "application/json")
            .body(body);
        if let Some(c) = credential {
            req = req.bearer_auth(c);
        }
        if let Some(at) = sent_at {
            req = req.header(SENT_AT_HEADER, at.to_string());
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn enrol(&self, token: Option<&str>, name: &str) -> (u16, Value) {
        let body = json!({"token": token, "hello": hello(name)});
        self.agent("enrol", None, None, body.to_string().into_bytes())
            .await
    }

    async fn send(&self, credential: &str, body: &Value) -> (u16, Value) {
        self.agent(
            "samples",
            Some(credential),
            Some(now_ms()),
            body.to_string().into_bytes(),
        )
        .await
    }

    async fn audit_actions(&self) -> Vec<(String, String)> {
        let f = AuditFilter {
            visible: vec![ROOT_ENTITY],
            global: true,
            ..AuditFilter::default()
        };
        self.st
            .store
            .list_audit(
                &f,
                pupitre_store::Page {
                    after: None,
                    limit: 500,
                },
            )
            .await
            .unwrap()
            .into_iter()
            .map(|r| (r.event.action, r.actor_login))
            .collect()
    }

    /// The raw samples of `name` for the agent's host over the last hour.
    async fn load_samples(&self, admin: &str, host: &str) -> Vec<(f64, f64)> {
        let (s, v) = self
            .call(
                "GET",
                &format!(
                    "/api/v1/metrics/query?query=node_load1{{host=%22{host}%22}}&range=1h&step=1s"
                ),
                admin,
                None,
            )
            .await;
        assert_eq!(s, 200, "{v}");
        v["series"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|s| s["values"].as_array().unwrap().clone())
            .map(|p| {
                (
                    p[0].as_f64().unwrap(),
                    p[1].as_str().unwrap().parse().unwrap(),
                )
            })
            .collect()
    }
}

#[tokio::test]
async fn enrolment_tokens_enrol_up_to_their_uses_and_refusals_are_audited() {
    let app = start(WebConfig::standard()).await;
    let admin = app.admin().await;
    let (id, token) = app.enrolment(&admin, 2).await;
    for name in ["web1", "web2"] {
        let (s, v) = app.enrol(Some(&token), name).await;
        assert_eq!(s, 201, "{v}");
        assert_eq!(v["status"], "active");
        assert!(v["credential"].as_str().unwrap().starts_with("pag_"));
    }
    let (s, v) = app.enrol(Some(&token), "web3").await;
    assert_eq!(s, 401, "a third use of a two-use token: {v}");
    assert_eq!(v["error"]["message"], "the enrolment token is used up");
    let (s, v) = app.enrol(Some("pen_forged"), "web4").await;
    assert_eq!(s, 401, "{v}");
    assert_eq!(v["error"]["message"], "the enrolment token is unknown");
    let actions = app.audit_actions().await;
    assert!(
        actions
            .iter()
            .any(|(a, who)| a == "agent.enrol_refused" && who == "agent:web3"),
        "{actions:?}"
    );
    // A revoked token enrols nobody.
    let (_, token2) = app.enrolment(&admin, 5).await;
    let (s, list) = app
        .call("GET", "/api/v1/agent-enrolments", &admin, None)
        .await;
    assert_eq!(s, 200);
    let first = list
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == id)
        .unwrap()
        .clone();
    assert_eq!(
        (first["uses"].as_i64(), first["usable"].as_bool()),
        (Some(2), Some(false))
    );
    let id2 = list.as_array().unwrap()[0]["id"].as_i64().unwrap();
    let (s, _) = app
        .call(
            "POST",
            &format!("/api/v1/agent-enrolments/{id2}/revoke"),
            &admin,
            None,
        )
        .await;
    assert_eq!(s, 200);
    let (s, v) = app.enrol(Some(&token2), "web5").await;
    assert_eq!(
        (s, v["error"]["message"].as_str()),
        (401, Some("the enrolment token was revoked"))
    );
    // Bad input names the field.
    let (s, v) = app.enrol(Some(&token2), "").await;
    assert_eq!(
        (s, v["error"]["field"].as_str()),
        (422, Some("hello.hostname")),
        "{v}"
    );
    let (s, v) = app
        .agent("enrol", None, None, b"{\"hello\": 3}".to_vec())
        .await;
    assert_eq!(
        (s, v["error"]["field"].as_str()),
        (422, Some("hello")),
        "{v}"
    );
    let (s, v) = app
        .call(
            "POST",
            "/api/v1/agent-enrolments",
            &admin,
            Some(json!({"entity_id": ROOT_ENTITY, "label": "x", "max_uses": 0})),
        )
        .await;
    assert_eq!(
        (s, v["error"]["field"].as_str()),
        (422, Some("max_uses")),
        "{v}"
    );
}

#[tokio::test]
async fn samples_reach_the_history_once_and_bad_batches_are_refused_whole() {
    let app = start(WebConfig::standard()).await;
    let admin = app.admin().await;
    let (_, token) = app.enrolment(&admin, 1).await;
    let (_, v) = app.enrol(Some(&token), "db1").await;
    let credential = v["credential"].as_str().unwrap().to_owned();
    let at = now_ms() - 60_000;
    let (s, v) = app.send(&credential, &batch(1, at, 0.5)).await;
    assert_eq!(
        (s, v["result"].as_str(), v["samples"].as_u64()),
        (200, Some("stored"), Some(2)),
        "{v}"
    );
    // The same batch again (its answer was lost): stored once.
    let (s, v) = app.send(&credential, &batch(1, at, 0.5)).await;
    assert_eq!((s, v["result"].as_str()), (200, Some("duplicate")), "{v}");
    // gzip, as the agent sends it.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(batch(2, at + 10_000, 0.75).to_string().as_bytes())
        .unwrap();
    let (s, v) = app
        .agent(
            "samples",
            Some(&credential),
            Some(now_ms()),
            gz.finish().unwrap(),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    // Refused whole, naming the problem: a bad metric name, a series twice, a malformed body,
    // a value that is no number.
    let bad_name = json!({"seq": 3, "at": at + 20_000, "samples": [
        {"name": "node_load1", "value": 9.0}, {"name": "1bad name", "value": 1.0}]});
    let (s, v) = app.send(&credential, &bad_name).await;
    assert_eq!(
        (s, v["error"]["field"].as_str()),
        (422, Some("samples[1]")),
        "{v}"
    );
    let twice = json!({"seq": 3, "at": at + 20_000, "samples": [
        {"name": "node_load1", "value": 9.0}, {"name": "node_load1", "value": 8.0}]});
    let (s, v) = app.send(&credential, &twice).await;
    assert_eq!(
        (s, v["error"]["field"].as_str()),
        (422, Some("samples[1]")),
        "{v}"
    );
    let (s, v) = app
        .agent(
            "samples",
            Some(&credential),
            None,
            b"{\"seq\": 3, \"at\":".to_vec(),
        )
        .await;
    assert_eq!(s, 422, "{v}");
    let (s, v) = app
        .send(
            &credential,
            &json!({"seq": 3, "at": at, "samples": [{"name": "x", "value": "lots"}]}),
        )
        .await;
    assert_eq!(
        (s, v["error"]["field"].as_str()),
        (422, Some("samples[0].value")),
        "{v}"
    );
    let huge = vec![b' '; 17 * 1024 * 1024];
    let (s, _) = app.agent("samples", Some(&credential), None, huge).await;
    assert_eq!(s, 413);
    // Nothing of the refused batches was stored: the two good samples only.
    let points = app.load_samples(&admin, "db1").await;
    assert_eq!(
        points.iter().map(|p| p.1).collect::<Vec<_>>(),
        vec![0.5, 0.75]
    );
    // The next good batch is taken.
    let (s, _) = app.send(&credential, &batch(3, at + 20_000, 1.0)).await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn a_skewed_clock_is_corrected_and_flagged() {
    let app = start(WebConfig::standard()).await;
    let admin = app.admin().await;
    let (_, token) = app.enrolment(&admin, 1).await;
    let (_, v) = app.enrol(Some(&token), "skewed").await;
    let credential = v["credential"].as_str().unwrap().to_owned();
    let agent_id = v["agent_id"].as_i64().unwrap();
    // The agent's clock is 10 minutes ahead: its samples would be "in the future".
    let ahead = 600_000;
    let collected = now_ms() + ahead - 1_000;
    let (s, v) = app
        .agent(
            "samples",
            Some(&credential),
            Some(now_ms() + ahead),
            batch(1, collected, 2.0).to_string().into_bytes(),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert!(
        (v["clock_skew_ms"].as_i64().unwrap() - ahead).abs() < 5_000,
        "{v}"
    );
    let points = app.load_samples(&admin, "skewed").await;
    assert_eq!(points.len(), 1);
    let stored_ms = points[0].0 * 1000.0;
    assert!(
        (stored_ms - (collected - ahead) as f64).abs() < 5_000.0,
        "stored at {stored_ms}, collected at {collected} on a clock {ahead} ms ahead"
    );
    let (_, agent) = app
        .call("GET", &format!("/api/v1/agents/{agent_id}"), &admin, None)
        .await;
    assert_eq!(agent["clock_skew_flagged"], true, "{agent}");
}

#[tokio::test]
async fn revoked_forged_and_pending_credentials_send_nothing() {
    let app = start(WebConfig::standard()).await;
    let admin = app.admin().await;
    let (_, token) = app.enrolment(&admin, 1).await;
    let (_, v) = app.enrol(Some(&token), "old").await;
    let credential = v["credential"].as_str().unwrap().to_owned();
    let id = v["agent_id"].as_i64().unwrap();
    let (s, _) = app.send(&credential, &batch(1, now_ms(), 1.0)).await;
    assert_eq!(s, 200);
    let (s, v) = app
        .call("POST", &format!("/api/v1/agents/{id}/revoke"), &admin, None)
        .await;
    assert_eq!((s, v["status"].as_str()), (200, Some("revoked")));
    let (s, v) = app.send(&credential, &batch(2, now_ms(), 2.0)).await;
    assert_eq!(
        (s, v["error"]["message"].as_str()),
        (401, Some("the agent is revoked"))
    );
    let poll = json!({"config_version": 0, "wait_s": 0})
        .to_string()
        .into_bytes();
    let (s, _) = app
        .agent("poll", Some(&credential), None, poll.clone())
        .await;
    assert_eq!(s, 401);
    let (s, _) = app.send("pag_forged", &batch(1, now_ms(), 3.0)).await;
    assert_eq!(s, 401);
    let (s, _) = app
        .agent(
            "samples",
            None,
            None,
            batch(1, now_ms(), 3.0).to_string().into_bytes(),
        )
        .await;
    assert_eq!(s, 401);
    assert_eq!(app.load_samples(&admin, "old").await.len(), 1);
    let actions = app.audit_actions().await;
    assert!(
        actions.iter().any(|(a, _)| a == "agent.auth_failed"),
        "{actions:?}"
    );
    assert!(
        actions.iter().any(|(a, _)| a == "agent.revoke"),
        "{actions:?}"
    );
    // Without a token the agent waits: 403 `pending` until approved, then it sends.
    let (s, v) = app.enrol(None, "newcomer").await;
    assert_eq!((s, v["status"].as_str()), (201, Some("pending")), "{v}");
    let pending = v["credential"].as_str().unwrap().to_owned();
    let pending_id = v["agent_id"].as_i64().unwrap();
    let (s, v) = app.send(&pending, &batch(1, now_ms(), 4.0)).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (403, Some("pending")),
        "{v}"
    );
    let (s, v) = app
        .call(
            "POST",
            &format!("/api/v1/agents/{pending_id}/approve"),
            &admin,
            Some(json!({"entity_id": ROOT_ENTITY})),
        )
        .await;
    assert_eq!((s, v["status"].as_str()), (200, Some("active")), "{v}");
    let (s, v) = app.send(&pending, &batch(1, now_ms(), 4.0)).await;
    assert_eq!(s, 200, "{v}");
    let (_, v) = app
        .call("GET", &format!("/api/v1/agents/{pending_id}"), &admin, None)
        .await;
    assert!(
        v["asset_id"].as_i64().is_some(),
        "the host became an asset: {v}"
    );
}

#[tokio::test]
async fn configuration_and_rotation_reach_a_waiting_poll() {
    let app = start(WebConfig::standard()).await;
    let admin = app.admin().await;
    let (_, token) = app.enrolment(&admin, 1).await;
    let (_, v) = app.enrol(Some(&token), "polled").await;
    let old = v["credential"].as_str().unwrap().to_owned();
    let id = v["agent_id"].as_i64().unwrap();
    let poll = |version: i64| {
        json!({"config_version": version, "wait_s": 30, "hello": hello("polled")})
            .to_string()
            .into_bytes()
    };
    // Up to date: the poll waits, and a configuration change answers it at once.
    let started = std::time::Instant::now();
    let waiting = app.agent("poll", Some(&old), None, poll(1));
    let change = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        app.call(
            "PUT",
            &format!("/api/v1/agents/{id}/config"),
            &admin,
            Some(json!({"interval_s": 5, "logs": [{"name": "auth", "path": "/var/log/auth.log", "pattern": "Failed password"}]})),
        )
        .await
    };
    let ((s, reply), (cs, cv)) = tokio::join!(waiting, change);
    assert_eq!(cs, 200, "{cv}");
    assert_eq!(s, 200, "{reply}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(reply["config_version"], 2);
    assert_eq!(reply["config"]["interval_s"], 5);
    assert_eq!(reply["config"]["logs"][0]["name"], "auth");
    // A configuration out of bounds is refused, naming the field.
    let (s, v) = app
        .call(
            "PUT",
            &format!("/api/v1/agents/{id}/config"),
            &admin,
            Some(json!({"interval_s": 0})),
        )
        .await;
    assert_eq!(
        (s, v["error"]["field"].as_str()),
        (422, Some("interval_s")),
        "{v}"
    );
    let (s, v) = app
        .call(
            "PUT",
            &format!("/api/v1/agents/{id}/config"),
            &admin,
            Some(json!({"colectors": {}})),
        )
        .await;
    assert_eq!(s, 422, "a misspelt key is refused: {v}");
    // Rotation: the next poll hands out a new credential; the old one works until the new one
    // is used, then never again.
    let (s, _) = app
        .call("POST", &format!("/api/v1/agents/{id}/rotate"), &admin, None)
        .await;
    assert_eq!(s, 200);
    let (s, reply) = app.agent("poll", Some(&old), None, poll(2)).await;
    assert_eq!(s, 200, "{reply}");
    let new = reply["credential"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    let (s, _) = app.send(&old, &batch(1, now_ms(), 1.0)).await;
    assert_eq!(s, 200, "the old credential works until the new one is used");
    let (s, _) = app.send(&new, &batch(2, now_ms(), 1.0)).await;
    assert_eq!(s, 200);
    let (s, _) = app.send(&old, &batch(3, now_ms(), 1.0)).await;
    assert_eq!(
        s, 401,
        "the old credential is gone once the new one was used"
    );
    let (_, agent) = app
        .call("GET", &format!("/api/v1/agents/{id}"), &admin, None)
        .await;
    assert_eq!(agent["rotation_pending"], false, "{agent}");
    assert_eq!(agent["os"], "Debian GNU/Linux 12", "{agent}");
}

#[tokio::test]
async fn commands_are_checked_sent_once_and_their_reports_counted_once() {
    let app = start(WebConfig::standard()).await;
    let admin = app.admin().await;
    let (_, token) = app.enrolment(&admin, 2).await;
    let (_, v) = app.enrol(Some(&token), "runner").await;
    let credential = v["credential"].as_str().unwrap().to_owned();
    let id = v["agent_id"].as_i64().unwrap();
    let (_, v) = app.enrol(Some(&token), "other").await;
    let other = v["credential"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/agents/{id}/commands");
    for (body, field) in [
        (json!({"argv": []}), "argv"),
        (json!({"argv": ["/bin/true"], "timeout_s": 0}), "timeout_s"),
        (json!({"argv": ["/bin/true"], "cwd": "relative"}), "cwd"),
        (json!({"argv": ["/bin/true"], "shell": true}), "shell"),
    ] {
        let (s, v) = app.call("POST", &path, &admin, Some(body)).await;
        assert_eq!(s, 422, "{v}");
        assert!(
            v["error"]["field"].as_str().unwrap_or("").contains(field)
                || v["error"]["message"].as_str().unwrap_or("").contains(field),
            "{v}"
        );
    }
    // An operator may watch commands, not run them.
    let operator = support::token(&app.st, "night", "Operator", ROOT_ENTITY).await;
    let (s, _) = app
        .call(
            "POST",
            &path,
            &operator,
            Some(json!({"argv": ["/bin/true"]})),
        )
        .await;
    assert_eq!(s, 403);
    let (s, v) = app
        .call(
            "POST",
            &path,
            &admin,
            Some(json!({"argv": ["/bin/echo", "hi"]})),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let command = v["id"].as_i64().unwrap();
    // The poll delivers it, and not again once the agent says it runs it.
    let poll = |running: Vec<i64>| {
        json!({"config_version": 1, "wait_s": 0, "running": running})
            .to_string()
            .into_bytes()
    };
    let (_, reply) = app
        .agent("poll", Some(&credential), None, poll(vec![]))
        .await;
    assert_eq!(reply["commands"][0]["id"], command, "{reply}");
    assert_eq!(reply["commands"][0]["spec"]["argv"][1], "hi");
    let (_, reply) = app
        .agent("poll", Some(&credential), None, poll(vec![command]))
        .await;
    assert_eq!(
        reply["commands"].as_array().map(Vec::len),
        Some(0),
        "{reply}"
    );
    // Another agent cannot report on it.
    let report = |from: u64, text: &str, end: bool| {
        let mut p = json!({"id": command, "stdout": text, "stdout_from": from, "stdout_bytes": from + text.len() as u64, "started_at": now_ms()});
        if end {
            p["end"] = json!({"outcome": "exited", "exit_code": 0});
        }
        p.to_string().into_bytes()
    };
    let (s, _) = app
        .agent("progress", Some(&other), None, report(0, "hi\n", false))
        .await;
    assert_eq!(s, 404);
    let (s, v) = app
        .agent(
            "progress",
            Some(&credential),
            None,
            report(0, "hi\n", false),
        )
        .await;
    assert_eq!((s, v["accepted"].as_bool()), (200, Some(true)), "{v}");
    // The same piece again, then the end: kept once.
    let (s, _) = app
        .agent(
            "progress",
            Some(&credential),
            None,
            report(0, "hi\n", false),
        )
        .await;
    assert_eq!(s, 200);
    let (s, _) = app
        .agent("progress", Some(&credential), None, report(3, "", true))
        .await;
    assert_eq!(s, 200);
    let (_, v) = app
        .agent("progress", Some(&credential), None, report(3, "", true))
        .await;
    assert_eq!(
        v["accepted"], false,
        "an end reported twice counts once: {v}"
    );
    let (_, view) = app
        .call(
            "GET",
            &format!("/api/v1/agent-commands/{command}"),
            &operator,
            None,
        )
        .await;
    assert_eq!(
        (view["state"].as_str(), view["stdout"].as_str()),
        (Some("finished"), Some("hi\n")),
        "{view}"
    );
    assert_eq!(view["exit_code"], 0);
}

#[tokio::test]
async fn the_contact_check_watches_the_agent_and_tells_of_a_reboot() {
    let app = start(WebConfig::standard()).await;
    let admin = app.admin().await;
    let (_, token) = app.enrolment(&admin, 1).await;
    let (_, v) = app.enrol(Some(&token), "rebooted").await;
    let credential = v["credential"].as_str().unwrap().to_owned();
    let id = v["agent_id"].as_i64().unwrap();
    let (_, agent) = app
        .call("GET", &format!("/api/v1/agents/{id}"), &admin, None)
        .await;
    let asset = agent["asset_id"].as_i64().unwrap();
    let (_, checks) = app
        .call(
            "GET",
            &format!("/api/v1/checks?asset_id={asset}"),
            &admin,
            None,
        )
        .await;
    let contact = checks["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "Pupitre agent")
        .unwrap_or_else(|| panic!("every agent gets a contact check: {checks}"))
        .clone();
    assert_eq!(contact["probe"]["kind"], "agent");
    let run_path = format!("/api/v1/checks/{}/run", contact["id"]);
    let boot = |seq: i64, at: i64, boot_s: f64| json!({"seq": seq, "at": at, "samples": [{"name": "node_boot_time_seconds", "value": boot_s}]});
    let now = now_ms();
    let (s, _) = app
        .send(&credential, &boot(1, now - 120_000, 1_700_000_000.0))
        .await;
    assert_eq!(s, 200);
    let r = app.call("POST", &run_path, &admin, None).await.1;
    assert_eq!(r["state"], "ok", "{r}");
    // The boot time moves: the host rebooted a minute ago.
    let (s, _) = app
        .send(
            &credential,
            &boot(2, now - 60_000, (now / 1000 - 60) as f64),
        )
        .await;
    assert_eq!(s, 200);
    let r = app.call("POST", &run_path, &admin, None).await.1;
    assert_eq!(r["state"], "warning", "{r}");
    assert!(
        r["output"].as_str().unwrap().contains("rebooted 1 min ago"),
        "{r}"
    );
    // Revoked: CRITICAL.
    app.call("POST", &format!("/api/v1/agents/{id}/revoke"), &admin, None)
        .await;
    let r = app.call("POST", &run_path, &admin, None).await.1;
    assert_eq!(r["state"], "critical", "{r}");
}

#[tokio::test]
async fn the_agents_page_lists_agents_and_shows_a_new_token_once() {
    let app = start(WebConfig::standard()).await;
    let admin = app.admin().await;
    let (_, token) = app.enrolment(&admin, 1).await;
    let (s, v) = app.enrol(Some(&token), "web<1>").await;
    assert_eq!(s, 201, "{v}");
    let page = app
        .http
        .get(format!("{}/monitoring/agents", app.base))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("web&lt;1&gt;") || html.contains("web&#60;1&#62;"),
        "names are escaped: {html}"
    );
    assert!(html.contains("rack B"), "the token is listed");
    assert!(!html.contains(&token), "a token is never shown again");
    let created = app
        .http
        .post(format!("{}/monitoring/agent-enrolments", app.base))
        .bearer_auth(&admin)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("label=new+racks&entity_id=1&max_uses=5&valid_hours=2")
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 200);
    let html = created.text().await.unwrap();
    let shown = html
        .split("pen_")
        .nth(1)
        .map(|rest| {
            rest.chars()
                .take_while(char::is_ascii_hexdigit)
                .collect::<String>()
        })
        .unwrap_or_default();
    assert_eq!(shown.len(), 64, "the new token is shown once: {html}");
    let (s, v) = app.enrol(Some(&format!("pen_{shown}")), "web2").await;
    assert_eq!(s, 201, "the token shown enrols: {v}");
    let refused = app
        .http
        .post(format!("{}/monitoring/agent-enrolments", app.base))
        .bearer_auth(&admin)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("label=&entity_id=1&max_uses=x&valid_hours=2")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 422);
}

#[tokio::test]
async fn the_agent_page_configures_the_agent_and_runs_commands() {
    let app = start(WebConfig::standard()).await;
    let admin = app.admin().await;
    let (_, token) = app.enrolment(&admin, 1).await;
    let (_, v) = app.enrol(Some(&token), "db-1").await;
    let credential = v["credential"].as_str().unwrap().to_owned();
    let id = v["agent_id"].as_i64().unwrap();
    let (s, _, html) = app
        .browse(&format!("/monitoring/agents/{id}"), &admin, None)
        .await;
    assert_eq!(s, 200);
    assert!(html.contains(r#"name="interval_s""#) && html.contains("value=\"30\""));

    // The configuration form: saved, versioned, and what the agent's next poll receives.
    let config = "interval_s=15&top_processes=3&buffer_mib=32&cpu=1&memory=1&log_name=auth\
                  &log_path=%2Fvar%2Flog%2Fauth.log&log_pattern=Failed+password\
                  &log_name=&log_path=&log_pattern=";
    let (s, location, _) = app
        .browse(
            &format!("/monitoring/agents/{id}/config"),
            &admin,
            Some(config),
        )
        .await;
    assert_eq!(
        (s, location.as_str()),
        (303, &*format!("/monitoring/agents/{id}?done=saved"))
    );
    let poll = json!({"config_version": 1, "wait_s": 0})
        .to_string()
        .into_bytes();
    let (_, reply) = app.agent("poll", Some(&credential), None, poll).await;
    let pushed = &reply["config"];
    assert_eq!(pushed["interval_s"], 15, "{reply}");
    assert_eq!(pushed["collectors"]["cpu"], true);
    assert_eq!(
        pushed["collectors"]["disks"], false,
        "an unticked box turns a collector off"
    );
    assert_eq!(
        pushed["logs"].as_array().map(Vec::len),
        Some(1),
        "empty rows are ignored"
    );
    assert_eq!(pushed["buffer_max_bytes"], 32 * 1024 * 1024);

    // A refused form names the field, keeps what was typed and changes nothing.
    let bad = "interval_s=20&top_processes=3&buffer_mib=32&cpu=1&log_name=app\
               &log_path=%2Fvar%2Flog%2Fapp.log&log_pattern=%28unclosed";
    let (s, _, html) = app
        .browse(
            &format!("/monitoring/agents/{id}/config"),
            &admin,
            Some(bad),
        )
        .await;
    assert_eq!(s, 422);
    assert!(html.contains("logs[0].pattern"), "{html}");
    assert!(
        html.contains("value=\"(unclosed\""),
        "the typed row is kept"
    );
    let (_, v) = app
        .call("GET", &format!("/api/v1/agents/{id}"), &admin, None)
        .await;
    assert_eq!(
        v["config"]["interval_s"], 15,
        "nothing of a refused form is saved: {v}"
    );

    // An operator sees the agent's page but may neither configure it nor run commands.
    let operator = support::token(&app.st, "night", "Operator", ROOT_ENTITY).await;
    let (s, _, html) = app
        .browse(&format!("/monitoring/agents/{id}"), &operator, None)
        .await;
    assert_eq!(s, 200);
    assert!(
        html.contains("<fieldset disabled>"),
        "the configuration is read-only"
    );
    assert!(!html.contains(r#"id="agent-run""#), "no command form");
    let (s, _, _) = app
        .browse(
            &format!("/monitoring/agents/{id}/commands"),
            &operator,
            Some("argv=%2Fbin%2Ftrue"),
        )
        .await;
    assert_eq!(s, 403);

    // The command form: one argument per line, NAME=value environment.
    let (s, _, html) = app
        .browse(
            &format!("/monitoring/agents/{id}/commands"),
            &admin,
            Some("argv=%2Fbin%2Fecho&env=NOEQUALS"),
        )
        .await;
    assert_eq!(s, 422);
    assert!(html.contains("line 1: must read NAME=value"), "{html}");
    let run = "argv=%2Fbin%2Fecho%0D%0Ahello+world%0D%0A&env=LC_ALL%3DC&timeout_s=60&stdin=";
    let (s, location, _) = app
        .browse(
            &format!("/monitoring/agents/{id}/commands"),
            &admin,
            Some(run),
        )
        .await;
    assert_eq!(s, 303);
    let command: i64 = location
        .strip_prefix("/monitoring/agent-commands/")
        .and_then(|c| c.parse().ok())
        .unwrap();
    let (_, v) = app
        .call(
            "GET",
            &format!("/api/v1/agent-commands/{command}"),
            &admin,
            None,
        )
        .await;
    assert_eq!(
        v["spec"]["argv"],
        json!(["/bin/echo", "hello world"]),
        "{v}"
    );
    assert_eq!(v["spec"]["env"]["LC_ALL"], "C");
    assert_eq!(v["spec"]["timeout_s"], 60);

    // Its page refreshes while it runs and shows the output, escaped.
    let progress = json!({"id": command, "stdout": "<b>hello world</b>\n", "stdout_from": 0,
        "stdout_bytes": 19, "started_at": now_ms()});
    let (s, _) = app
        .agent(
            "progress",
            Some(&credential),
            None,
            progress.to_string().into_bytes(),
        )
        .await;
    assert_eq!(s, 200);
    let (s, _, html) = app.browse(&location, &admin, None).await;
    assert_eq!(s, 200);
    assert!(
        html.contains("http-equiv=\"refresh\""),
        "a running command's page refreshes"
    );
    assert!(html.contains("&lt;b&gt;hello world&lt;/b&gt;") || html.contains("&#60;b&#62;hello"));
    assert!(html.contains("/bin/echo &#39;hello world&#39;"), "{html}");
    let (s, location_after, _) = app
        .browse(&format!("{location}/cancel"), &admin, Some(""))
        .await;
    assert_eq!((s, location_after.as_str()), (303, location.as_str()));
    let (_, v) = app
        .call(
            "GET",
            &format!("/api/v1/agent-commands/{command}"),
            &admin,
            None,
        )
        .await;
    assert_eq!(v["cancel_requested"], true, "{v}");
    let (_, _, html) = app
        .browse(&format!("/monitoring/agents/{id}"), &admin, None)
        .await;
    assert!(
        html.contains(&format!("/monitoring/agent-commands/{command}")),
        "listed on the agent's page"
    );
}
