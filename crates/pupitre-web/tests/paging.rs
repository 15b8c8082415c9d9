//! Paging over HTTP with real parts: an escalation policy pages the on-call person by e-mail
//! through a real SMTP server (aiosmtpd, Debian's), and the link in the mail acknowledges the
//! incident; an SMTP server that is down is retried and every failure is in the timeline;
//! bad policies and schedules are refused naming the field; the final schedule reports its
//! gaps; the on-call report comes as CSV.
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

/// Debian's aiosmtpd, saving every message to a Maildir; stopped when dropped.
struct SmtpSink {
    child: std::process::Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl SmtpSink {
    async fn start() -> SmtpSink {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        // Only Debian's interpreter has the package (python3-aiosmtpd; .ci/run installs it).
        let child = std::process::Command::new("/usr/bin/python3")
            .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}")])
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(dir.path().join("maildir"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("/usr/bin/python3 with python3-aiosmtpd");
        let sink = SmtpSink { child, port, dir };
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return sink;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("aiosmtpd did not start (is python3-aiosmtpd installed?)");
    }

    /// The messages received so far, as text.
    fn messages(&self) -> Vec<String> {
        let new = self.dir.path().join("maildir/new");
        let Ok(entries) = std::fs::read_dir(&new) else {
            return Vec::new();
        };
        entries
            .filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
            .collect()
    }
}

fn config(smtp_port: u16) -> WebConfig {
    let mut c = WebConfig::standard();
    c.smtp_url = Some(format!("smtp://127.0.0.1:{smtp_port}"));
    c.smtp_from = "Pupitre <pupitre@example.test>".into();
    c.public_url = "https://pupitre.example.test".into();
    c.page_group_wait = Duration::from_millis(500);
    c
}

impl App {
    async fn admin(&self) -> String {
        support::token(&self.st, "ops", "Administrator", ROOT_ENTITY).await
    }

    /// An on-call engineer with an e-mail address: their token and id.
    async fn engineer(&self, login: &str) -> (String, i64) {
        let token = support::token(&self.st, login, "On-call engineer", ROOT_ENTITY).await;
        let (s, v) = self
            .call(
                "PATCH",
                "/api/v1/me",
                &token,
                Some(json!({"email": format!("{login}@example.test"), "notify_email": true})),
            )
            .await;
        assert_eq!(s, 200, "{v}");
        (token, v["id"].as_i64().unwrap())
    }

    async fn trigger(&self, admin: &str, key: &str) -> i64 {
        let (s, v) = self
            .call(
                "POST",
                "/api/v1/alert-sources",
                admin,
                Some(json!({"name": format!("hook {key}"), "entity_id": ROOT_ENTITY, "kind": "webhook"})),
            )
            .await;
        assert_eq!(s, 201, "{v}");
        let token = v["token"].as_str().unwrap().to_owned();
        let body = json!({"dedup_key": key, "action": "trigger", "severity": "critical", "summary": format!("{key} is down")});
        let resp = self
            .http
            .post(format!("{}/api/v1/alerts/webhook", self.base))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 202);
        for _ in 0..100 {
            let (_, list) = self.call("GET", "/api/v1/incidents", admin, None).await;
            if let Some(i) = list
                .as_array()
                .unwrap()
                .iter()
                .find(|i| i["title"] == format!("{key} is down"))
            {
                return i["id"].as_i64().unwrap();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("no incident for {key}");
    }

    async fn timeline(&self, token: &str, id: i64) -> Vec<(String, String)> {
        let (_, d) = self
            .call("GET", &format!("/api/v1/incidents/{id}"), token, None)
            .await;
        d["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                (
                    t["kind"].as_str().unwrap().to_owned(),
                    t["text"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    }
}

#[tokio::test]
async fn an_email_page_carries_a_link_that_acknowledges_the_incident() {
    let smtp = SmtpSink::start().await;
    let app = start(config(smtp.port)).await;
    let admin = app.admin().await;
    let (night, night_id) = app.engineer("night").await;
    let (s, v) = app
        .call(
            "POST",
            "/api/v1/escalation-policies",
            &admin,
            Some(json!({"entity_id": ROOT_ENTITY, "name": "production",
                "steps": [{"targets": [{"user_id": night_id}], "delay_minutes": 10}], "repeat": 1})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let id = app.trigger(&admin, "db1").await;
    let mut mails = Vec::new();
    for _ in 0..100 {
        mails = smtp.messages();
        if !mails.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(mails.len(), 1, "one page for the first step");
    // Long lines travel quoted-printable: undo the soft line breaks and `=3D`.
    let mail = &mails[0]
        .replace("=\r\n", "")
        .replace("=\n", "")
        .replace("=3D", "=");
    assert!(mail.contains("To: night@example.test"), "{mail}");
    assert!(mail.contains(&format!("#{id} db1 is down")), "{mail}");
    let link = mail
        .split_whitespace()
        .find(|w| w.starts_with("https://pupitre.example.test/a/") && w.contains(".acknowledge."))
        .unwrap();
    let path = link.trim_start_matches("https://pupitre.example.test");
    // Opening the link only shows a button.
    let page = app
        .http
        .get(format!("{}{path}", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("Acknowledge"));
    let (_, d) = app
        .call("GET", &format!("/api/v1/incidents/{id}"), &admin, None)
        .await;
    assert_eq!(d["status"], "triggered", "a GET changes nothing");
    // A forged or altered link does nothing.
    let forged = path.replace(&format!(".{night_id}."), ".1.");
    let r = app
        .http
        .post(format!("{}{forged}", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    // The button acknowledges, as the person paged.
    let r = app
        .http
        .post(format!("{}{path}", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (_, d) = app
        .call("GET", &format!("/api/v1/incidents/{id}"), &night, None)
        .await;
    assert_eq!(
        (d["status"].as_str(), d["acknowledged_by"].as_str()),
        (Some("acknowledged"), Some("night"))
    );
    let line = app.timeline(&admin, id).await;
    assert!(
        line.iter()
            .any(|(k, t)| k == "paged" && t.contains("paged night by e-mail")),
        "{line:?}"
    );
    assert!(
        line.iter()
            .any(|(k, t)| k == "notification" && t.contains("delivered")),
        "{line:?}"
    );
    let (_, n) = app
        .call(
            "GET",
            &format!("/api/v1/incidents/{id}/notifications"),
            &admin,
            None,
        )
        .await;
    assert_eq!(n[0]["state"], "sent", "{n}");
}

#[tokio::test]
async fn an_smtp_server_down_is_retried_and_every_failure_is_visible() {
    let app = start(config(free_port())).await;
    let admin = app.admin().await;
    let (_, night_id) = app.engineer("night").await;
    app.call(
        "POST",
        "/api/v1/escalation-policies",
        &admin,
        Some(json!({"entity_id": ROOT_ENTITY, "name": "production",
            "steps": [{"targets": [{"user_id": night_id}], "delay_minutes": 10}]})),
    )
    .await;
    let id = app.trigger(&admin, "api").await;
    let mut n = Value::Null;
    for _ in 0..100 {
        n = app
            .call(
                "GET",
                &format!("/api/v1/incidents/{id}/notifications"),
                &admin,
                None,
            )
            .await
            .1;
        if n[0]["attempts"].as_i64() >= Some(1) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(n[0]["state"], "queued", "tried again later: {n}");
    assert!(!n[0]["last_error"].as_str().unwrap().is_empty(), "{n}");
    let line = app.timeline(&admin, id).await;
    assert!(
        line.iter()
            .any(|(k, t)| k == "notification" && t.contains("failed (attempt 1), tried again")),
        "{line:?}"
    );
}

#[tokio::test]
async fn bad_policies_and_schedules_are_refused_and_gaps_are_reported() {
    let app = start(WebConfig::standard()).await;
    let admin = app.admin().await;
    let (_, a) = app.engineer("anne").await;
    let (_, b) = app.engineer("bruno").await;
    let (gone_token, gone) = app.engineer("gone").await;
    let (s, v) = app.call("GET", "/api/v1/me", &gone_token, None).await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = app
        .call(
            "PATCH",
            &format!("/api/v1/users/{gone}"),
            &admin,
            Some(json!({"active": false})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    for (body, field) in [
        (json!({"entity_id": 1, "name": "p", "steps": []}), "steps"),
        (
            json!({"entity_id": 1, "name": "p", "steps": [{"targets": [{"user_id": gone}], "delay_minutes": 5}]}),
            "steps[0].targets[0].user_id",
        ),
        (
            json!({"entity_id": 1, "name": "p", "steps": [{"targets": [{"user_id": a, "team_id": 1}], "delay_minutes": 5}]}),
            "steps[0].targets[0]",
        ),
        (
            json!({"entity_id": 1, "name": "p", "steps": [{"targets": [{"user_id": a}], "delay_minutes": 0}]}),
            "steps[0].delay_minutes",
        ),
    ] {
        let (s, v) = app
            .call("POST", "/api/v1/escalation-policies", &admin, Some(body))
            .await;
        assert_eq!((s, v["error"]["field"].as_str()), (422, Some(field)), "{v}");
    }
    let schedule = |layers: Value, zone: &str| json!({"entity_id": 1, "name": "astreinte", "time_zone": zone, "layers": layers});
    for (body, field) in [
        (
            schedule(
                json!([{"name": "n", "users": [a], "rotation": "daily", "start": "2026-12-01T08:00"}]),
                "Mars/Olympus",
            ),
            "time_zone",
        ),
        (
            schedule(
                json!([{"name": "n", "users": [a], "rotation": "monthly", "start": "2026-12-01T08:00"}]),
                "Europe/Paris",
            ),
            "layers[0].rotation",
        ),
        (
            schedule(
                json!([{"name": "n", "users": [a], "rotation": "daily", "start": "tomorrow"}]),
                "Europe/Paris",
            ),
            "layers[0].start",
        ),
        (
            schedule(
                json!([{"name": "n", "users": [a], "rotation": "daily", "start": "2026-12-01T08:00", "restrictions": [{"kind": "weekly", "from": "friday", "to": "mon 08:00"}]}]),
                "Europe/Paris",
            ),
            "layers[0].restrictions[0].from",
        ),
        (
            schedule(
                json!([{"name": "n", "users": [gone], "rotation": "daily", "start": "2026-12-01T08:00"}]),
                "Europe/Paris",
            ),
            "layers[0].users[0]",
        ),
    ] {
        let (s, v) = app
            .call("POST", "/api/v1/schedules", &admin, Some(body))
            .await;
        assert_eq!((s, v["error"]["field"].as_str()), (422, Some(field)), "{v}");
    }
    // Nights by anne, weekends by bruno: the weekday days are gaps, reported.
    let body = schedule(
        json!([
            {"name": "nights", "users": [a], "rotation": "weekly", "start": "2026-11-30T19:00",
             "restrictions": [{"kind": "daily", "from": "19:00", "to": "08:00"}]},
            {"name": "weekends", "users": [b], "rotation": "weekly", "start": "2026-11-28T00:00",
             "restrictions": [{"kind": "weekly", "from": "sat 00:00", "to": "mon 00:00"}]}
        ]),
        "Europe/Paris",
    );
    let (s, v) = app
        .call("POST", "/api/v1/schedules", &admin, Some(body))
        .await;
    assert_eq!(s, 201, "{v}");
    let id = v["id"].as_i64().unwrap();
    let (s, f) = app
        .call("GET", &format!("/api/v1/schedules/{id}/final?from=2026-11-30T00:00:00%2B01:00&to=2026-12-07T00:00:00%2B01:00"), &admin, None)
        .await;
    assert_eq!(s, 200, "{f}");
    let warnings = f["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 5, "Monday to Friday, 08:00 to 19:00: {f}");
    assert!(
        warnings[0]
            .as_str()
            .unwrap()
            .starts_with("nobody on call from")
    );
    // An override fills Wednesday's day.
    let (s, v) = app
        .call("POST", &format!("/api/v1/schedules/{id}/overrides"), &admin,
            Some(json!({"user_id": b, "starts_at": "2026-12-02T08:00:00+01:00", "ends_at": "2026-12-02T19:00:00+01:00"})))
        .await;
    assert_eq!(s, 201, "{v}");
    let (_, f) = app
        .call("GET", &format!("/api/v1/schedules/{id}/final?from=2026-11-30T00:00:00%2B01:00&to=2026-12-07T00:00:00%2B01:00"), &admin, None)
        .await;
    assert_eq!(f["warnings"].as_array().unwrap().len(), 4, "{f}");
    // The report splits the week's hours.
    let csv = app
        .http
        .get(format!("{}/api/v1/schedules/{id}/report?from=2026-11-30T00:00:00%2B01:00&to=2026-12-07T00:00:00%2B01:00", app.base))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        csv.starts_with("user,month,weekday_day_h,weekday_night_h,weekend_h,holiday_h,total_h\n"),
        "{csv}"
    );
    // The on-call page shows the next seven days, the gaps warned about.
    let html = app
        .http
        .get(format!("{}/oncall", app.base))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("astreinte") && html.contains("Europe/Paris"),
        "{html}"
    );
    assert!(
        html.contains("nobody on call then"),
        "gaps are warned about: {html}"
    );
    assert!(html.contains("bruno") || html.contains("anne"), "{html}");
    // Monday 30 November 19:00-20:00 counts as day (nights are 20:00-08:00); bruno's first
    // weekend starts on 5 December; his override is Wednesday's 11 hours.
    assert!(
        csv.contains("anne,2026-11,1.00,4.00,0.00,0.00,5.00\n"),
        "{csv}"
    );
    assert!(
        csv.contains("anne,2026-12,4.00,48.00,0.00,0.00,52.00\n"),
        "{csv}"
    );
    assert!(
        csv.contains("bruno,2026-12,11.00,0.00,48.00,0.00,59.00\n"),
        "{csv}"
    );
}

#[tokio::test]
async fn on_call_duty_is_edited_from_its_page_by_login_and_by_name() {
    let app = start(WebConfig::standard()).await;
    let admin = app.admin().await;
    let (anne, _) = app.engineer("anne").await;
    let (_, _) = app.engineer("bruno").await;
    let (server, who) = (&app, admin.as_str());
    let post = |path: &str, body: String| {
        let path = path.to_owned();
        async move {
            let (status, _, html) = server.browse(&path, who, Some(&body)).await;
            (status, html)
        }
    };
    let schedule = |users: &str| {
        format!(
            "name=astreinte&entity_id={ROOT_ENTITY}&time_zone=Europe%2FParis&france=1&extra=\
             &layer_name=nights&layer_users={users}&layer_rotation=weekly&layer_shift_hours=\
             &layer_start=2026-11-30T19%3A00&layer_skip_holidays=no\
             &layer_restriction=daily&layer_from=19%3A00&layer_to=08%3A00&layer_restriction2=&layer_from2=&layer_to2=\
             &layer_name=weekends&layer_users=bruno&layer_rotation=weekly&layer_shift_hours=\
             &layer_start=2026-12-05T00%3A00&layer_skip_holidays=no\
             &layer_restriction=weekly&layer_from=sat+00%3A00&layer_to=mon+00%3A00\
             &layer_restriction2=holidays&layer_from2=&layer_to2=\
             &layer_name=&layer_users=&layer_rotation=weekly&layer_shift_hours=&layer_start=\
             &layer_skip_holidays=no&layer_restriction=&layer_from=&layer_to=&layer_restriction2=&layer_from2=&layer_to2="
        )
    };
    // An unknown login is named; what was typed stays.
    let (s, html) = post("/oncall/schedules", schedule("anne%2C+zoe")).await;
    assert_eq!(s, 422, "{html}");
    assert!(
        html.contains("layers[0].users") && html.contains("zoe"),
        "{html}"
    );
    assert!(html.contains("value=\"anne, zoe\""), "{html}");
    let (s, _) = post("/oncall/schedules", schedule("anne%2C+bruno")).await;
    assert_eq!(s, 303);
    let (_, list) = app.call("GET", "/api/v1/schedules", &admin, None).await;
    let s0 = &list[0];
    assert_eq!(
        s0["definition"]["layers"][0]["users"]
            .as_array()
            .unwrap()
            .len(),
        2,
        "{s0}"
    );
    assert_eq!(
        s0["definition"]["layers"][1]["restrictions"],
        json!([{"kind": "weekly", "from": "sat 00:00", "to": "mon 00:00"}, {"kind": "holidays", "from": "", "to": ""}]),
        "{s0}"
    );
    let id = s0["id"].as_i64().unwrap();
    // The form shows it back, ready to change.
    let (_, html) = app
        .http
        .get(format!("{}/oncall/schedules/{id}", app.base))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .map(|h| (0, h))
        .unwrap();
    assert!(
        html.contains("value=\"anne, bruno\"") && html.contains("value=\"sat 00:00\""),
        "{html}"
    );
    // An override, times local to the schedule.
    let (s, html) = post(
        &format!("/oncall/schedules/{id}/overrides"),
        "user=bruno&starts_at=2026-12-24T18%3A00&ends_at=2026-12-26T08%3A00".into(),
    )
    .await;
    assert_eq!(s, 303, "{html}");
    let (_, fin) = app
        .call(
            "GET",
            &format!(
                "/api/v1/schedules/{id}/final?from=2026-12-25T00:00:00Z&to=2026-12-25T06:00:00Z"
            ),
            &admin,
            None,
        )
        .await;
    assert!(fin.to_string().contains("override"), "{fin}");
    // A policy naming a person and the schedule.
    let policy = |targets: &str| {
        format!(
            "entity_id={ROOT_ENTITY}&name=production&step_targets={targets}&step_delay=10&step_targets=bruno&step_delay=20&repeat=1"
        )
    };
    let (s, html) = post("/oncall/policy", policy("schedule%3Anowhere")).await;
    assert_eq!(s, 422);
    assert!(
        html.contains("steps[0].targets") && html.contains("nowhere"),
        "{html}"
    );
    let (s, _) = post("/oncall/policy", policy("schedule%3Aastreinte%2C+anne")).await;
    assert_eq!(s, 303);
    let (_, policies) = app
        .call("GET", "/api/v1/escalation-policies", &admin, None)
        .await;
    let steps = &policies[0]["steps"];
    assert_eq!(steps[0]["targets"][0]["schedule_id"], id, "{policies}");
    assert!(steps[0]["targets"][1]["user_id"].is_i64());
    assert_eq!(steps[1]["delay_minutes"], 20);
    // The on-call engineer swaps a shift; they may not change schedules.
    let (s, _, _) = app
        .browse(
            &format!("/oncall/schedules/{id}/overrides"),
            &anne,
            Some("user=anne&starts_at=2026-12-31T18%3A00&ends_at=2027-01-01T08%3A00"),
        )
        .await;
    assert_eq!(s, 303);
    let (s, _, _) = app
        .browse(&format!("/oncall/schedules/{id}/delete"), &anne, Some(""))
        .await;
    assert_eq!(s, 403);
}
