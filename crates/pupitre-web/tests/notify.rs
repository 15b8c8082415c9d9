//! Notification channels over HTTP with real parts: a person's contact methods (Slack,
//! Mattermost, Teams, a generic webhook, SMS through an HTTP gateway, e-mail through Debian's
//! aiosmtpd) receive their pages on a loopback receiver that records every request; rules by
//! urgency with a delay that an acknowledgement cancels; quiet hours that hold low urgency;
//! a storm that becomes a digest; templates checked, previewed and used; bad input refused
//! naming the field.
#![expect(
    clippy::unwrap_used,
    reason = "a test fails loudly on any unexpected error"
)]

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use pupitre_core::model::ROOT_ENTITY;
use pupitre_web::WebConfig;
use pupitre_web::ops::channels::SmsGateway;
use serde_json::{Value, json};
use support::{App, start};

/// One request the receiver got.
#[derive(Clone, Debug)]
struct Received {
    method: Method,
    uri: String,
    content_type: String,
    body: String,
}

impl Received {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

/// An HTTP server on loopback that records every request and answers 200, or 500 for paths
/// under `/fail`.
struct Receiver {
    base: String,
    got: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    async fn start() -> Receiver {
        let got: Arc<Mutex<Vec<Received>>> = Arc::default();
        let sink = got.clone();
        let app = axum::Router::new().fallback(
            move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                let sink = sink.clone();
                async move {
                    let fail = uri.path().starts_with("/fail");
                    sink.lock().unwrap().push(Received {
                        method,
                        uri: uri.to_string(),
                        content_type: headers
                            .get("content-type")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("")
                            .to_owned(),
                        body: String::from_utf8_lossy(&body).into_owned(),
                    });
                    if fail {
                        StatusCode::INTERNAL_SERVER_ERROR
                    } else {
                        StatusCode::OK
                    }
                }
            },
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Receiver { base, got }
    }

    fn on(&self, prefix: &str) -> Vec<Received> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.uri.starts_with(prefix))
            .cloned()
            .collect()
    }

    /// Waits until `n` requests under `prefix` came (5 s at most), and returns them.
    async fn wait(&self, prefix: &str, n: usize) -> Vec<Received> {
        for _ in 0..100 {
            let got = self.on(prefix);
            if got.len() >= n {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.on(prefix)
    }
}

fn config(receiver: &Receiver) -> WebConfig {
    let mut c = WebConfig::standard();
    c.public_url = "https://pupitre.example.test".into();
    c.page_group_wait = Duration::from_millis(200);
    c.sms_gateway = Some(SmsGateway {
        url: format!("{}/sms/send", receiver.base),
        body: r#"{"to": {{ to|tojson }}, "text": {{ text|tojson }}}"#.into(),
        content_type: "application/json".into(),
    });
    c
}

impl App {
    async fn admin(&self) -> String {
        support::token(&self.st, "ops", "Administrator", ROOT_ENTITY).await
    }

    /// An on-call engineer: their token and id.
    async fn engineer(&self, login: &str) -> (String, i64) {
        let token = support::token(&self.st, login, "On-call engineer", ROOT_ENTITY).await;
        let (s, v) = self.call("GET", "/api/v1/me", &token, None).await;
        assert_eq!(s, 200, "{v}");
        (token, v["user"]["id"].as_i64().unwrap())
    }

    async fn method(&self, token: &str, body: Value) -> i64 {
        let (s, v) = self
            .call("POST", "/api/v1/me/contact-methods", token, Some(body))
            .await;
        assert_eq!(s, 201, "{v}");
        v["id"].as_i64().unwrap()
    }

    async fn rules(&self, token: &str, body: Value) {
        let (s, v) = self
            .call("PUT", "/api/v1/me/notification-rules", token, Some(body))
            .await;
        assert_eq!(s, 200, "{v}");
    }

    async fn page_to(&self, admin: &str, user: i64) {
        let (s, v) = self
            .call(
                "POST",
                "/api/v1/escalation-policies",
                admin,
                Some(json!({"entity_id": ROOT_ENTITY, "name": "production",
                    "steps": [{"targets": [{"user_id": user}], "delay_minutes": 30}]})),
            )
            .await;
        assert_eq!(s, 200, "{v}");
    }

    /// A webhook alert source's token.
    async fn source(&self, admin: &str) -> String {
        let (s, v) = self
            .call(
                "POST",
                "/api/v1/alert-sources",
                admin,
                Some(json!({"name": "hook", "entity_id": ROOT_ENTITY, "kind": "webhook"})),
            )
            .await;
        assert_eq!(s, 201, "{v}");
        v["token"].as_str().unwrap().to_owned()
    }

    /// Fires an alert; waits for its incident and returns its id.
    async fn fire(&self, admin: &str, source: &str, key: &str, severity: &str) -> i64 {
        let body = json!({"dedup_key": key, "action": "trigger", "severity": severity,
            "summary": format!("{key} is down")});
        let resp = self
            .http
            .post(format!("{}/api/v1/alerts/webhook", self.base))
            .bearer_auth(source)
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

    async fn notifications(&self, token: &str, incident: i64) -> Vec<Value> {
        let (s, v) = self
            .call(
                "GET",
                &format!("/api/v1/incidents/{incident}/notifications"),
                token,
                None,
            )
            .await;
        assert_eq!(s, 200, "{v}");
        v.as_array().unwrap().clone()
    }

    async fn timeline(&self, token: &str, id: i64) -> Vec<String> {
        let (_, d) = self
            .call("GET", &format!("/api/v1/incidents/{id}"), token, None)
            .await;
        d["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["text"].as_str().unwrap().to_owned())
            .collect()
    }
}

#[tokio::test]
async fn every_channel_delivers_its_page_and_a_delayed_one_waits_for_no_acknowledgement() {
    let rx = Receiver::start().await;
    let app = start(config(&rx)).await;
    let admin = app.admin().await;
    let (night, night_id) = app.engineer("night").await;
    let base = &rx.base;
    let slack = app
        .method(&night, json!({"kind": "slack", "label": "ops channel", "url": format!("{base}/slack/T000/B000/XXXXSECRET")}))
        .await;
    let mattermost = app
        .method(
            &night,
            json!({"kind": "mattermost", "url": format!("{base}/mattermost/hooks/abc123SECRET")}),
        )
        .await;
    let teams = app
        .method(
            &night,
            json!({"kind": "teams", "url": format!("{base}/teams/workflows/SECRET")}),
        )
        .await;
    let webhook = app
        .method(&night, json!({"kind": "webhook", "label": "ticketing", "url": format!("{base}/webhook/in?key=SECRET")}))
        .await;
    let sms = app
        .method(
            &night,
            json!({"kind": "sms", "label": "mobile", "address": "+33612345678"}),
        )
        .await;
    // A second SMS number, reached only after 5 minutes without an acknowledgement.
    let backup = app
        .method(
            &night,
            json!({"kind": "sms", "label": "backup phone", "address": "+33698765432"}),
        )
        .await;
    // The secret part of a webhook's URL is never shown, listed or audited.
    let (_, listed) = app
        .call("GET", "/api/v1/me/contact-methods", &night, None)
        .await;
    let text = listed.to_string();
    assert!(!text.contains("SECRET"), "{text}");
    assert!(text.contains(&format!("\"address\":\"{base}\"")), "{text}");
    let (_, audit) = app.call("GET", "/api/v1/audit", &admin, None).await;
    assert!(!audit.to_string().contains("SECRET"));
    let rules: Vec<Value> = [slack, mattermost, teams, webhook, sms]
        .iter()
        .map(|m| json!({"contact_method_id": m, "urgency": "high"}))
        .chain([json!({"contact_method_id": backup, "urgency": "high", "delay_minutes": 5})])
        .collect();
    app.rules(&night, json!({"rules": rules})).await;

    app.page_to(&admin, night_id).await;
    let source = app.source(&admin).await;
    let id = app.fire(&admin, &source, "db1", "critical").await;

    let slack = rx.wait("/slack/", 1).await;
    assert_eq!(slack.len(), 1, "one Slack message");
    let message = slack[0].json();
    let text = message["text"].as_str().unwrap();
    assert!(text.contains(&format!("#{id} db1 is down")), "{text}");
    assert!(
        !text.contains("/a/"),
        "no signed link in a channel others read: {text}"
    );
    assert_eq!(slack[0].content_type, "application/json");
    assert!(
        rx.wait("/mattermost/", 1).await[0].json()["text"]
            .as_str()
            .unwrap()
            .contains("db1 is down")
    );
    let teams = rx.wait("/teams/", 1).await[0].json();
    let card = &teams["attachments"][0];
    assert_eq!(
        card["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    let actions = card["content"]["actions"].as_array().unwrap();
    assert_eq!(
        actions
            .iter()
            .map(|a| a["title"].as_str().unwrap())
            .collect::<Vec<_>>(),
        vec!["Open"],
        "a channel gets the incident's address, not the person's signed links: {teams}"
    );
    let hook = rx.wait("/webhook/", 1).await;
    assert!(hook[0].uri.contains("key=SECRET"), "the whole URL is used");
    let hook = hook[0].json();
    assert_eq!(hook["event"], "page");
    assert_eq!(hook["recipient"], "night");
    assert_eq!(hook["incidents"][0]["id"], id);
    assert_eq!(hook["incidents"][0]["acknowledge_url"], "");
    assert_eq!(
        hook["incidents"][0]["priority"], 3,
        "one asset, high urgency"
    );
    let sms = rx.wait("/sms/", 1).await;
    assert_eq!(sms.len(), 1, "the backup phone waits: {sms:?}");
    assert_eq!(sms[0].method, Method::POST);
    let sms = sms[0].json();
    assert_eq!(sms["to"], "+33612345678");
    assert!(
        sms["text"]
            .as_str()
            .unwrap()
            .starts_with(&format!("P3 #{id} db1 is down"))
    );
    assert!(
        sms["text"].as_str().unwrap().contains("/a/"),
        "an SMS is for the person alone: it carries the link"
    );

    // Five delivered at once; the delayed one waits five minutes.
    let list = app.notifications(&admin, id).await;
    assert_eq!(list.len(), 6, "{list:?}");
    let sent = list.iter().filter(|n| n["state"] == "sent").count();
    assert_eq!(sent, 5, "{list:?}");
    let waiting = list.iter().find(|n| n["state"] == "queued").unwrap();
    assert_eq!(waiting["address"], "+33698765432");
    let due: jiff::Timestamp = waiting["next_attempt_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let created: jiff::Timestamp = waiting["created_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(due.duration_since(created).as_secs(), 300);

    // Acknowledged before its time: it is never sent, and the timeline says so.
    let (s, _) = app
        .call(
            "POST",
            &format!("/api/v1/incidents/{id}/acknowledge"),
            &night,
            None,
        )
        .await;
    assert_eq!(s, 200);
    // Its time comes (moved forward here rather than waited for).
    app.st
        .store
        .postpone_notifications(&[waiting["id"].as_i64().unwrap()], 0)
        .await
        .unwrap();
    let mut state = String::new();
    for _ in 0..100 {
        let list = app.notifications(&admin, id).await;
        let n = list.iter().find(|n| n["id"] == waiting["id"]).unwrap();
        state = n["state"].as_str().unwrap().to_owned();
        if state != "queued" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(state, "cancelled");
    assert_eq!(rx.on("/sms/").len(), 1, "the backup phone was not called");
    let line = app.timeline(&admin, id).await;
    assert!(
        line.iter()
            .any(|t| t.contains("paged night by SMS (backup phone) in 5 min unless acknowledged")),
        "{line:?}"
    );
    assert!(
        line.iter()
            .any(|t| t.contains("not sent, the incident was acknowledged first")),
        "{line:?}"
    );
}

#[tokio::test]
async fn quiet_hours_hold_low_urgency_and_never_high() {
    let rx = Receiver::start().await;
    let app = start(config(&rx)).await;
    let admin = app.admin().await;
    let (night, night_id) = app.engineer("night").await;
    let chat = app
        .method(
            &night,
            json!({"kind": "mattermost", "url": format!("{}/chat/hook", rx.base)}),
        )
        .await;
    // Quiet hours around now, in UTC.
    let now = jiff::Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC);
    let hhmm = |z: &jiff::Zoned| format!("{:02}:{:02}", z.hour(), z.minute());
    let start = now
        .checked_sub(jiff::SignedDuration::from_hours(1))
        .unwrap();
    let end = now
        .checked_add(jiff::SignedDuration::from_hours(2))
        .unwrap();
    app.rules(
        &night,
        json!({"rules": [
            {"contact_method_id": chat, "urgency": "high"},
            {"contact_method_id": chat, "urgency": "low"}],
          "quiet_hours": {"start": hhmm(&start), "end": hhmm(&end), "time_zone": "UTC"}}),
    )
    .await;
    app.page_to(&admin, night_id).await;
    let source = app.source(&admin).await;
    let low = app.fire(&admin, &source, "disk", "warning").await;
    let high = app.fire(&admin, &source, "core", "critical").await;
    let got = rx.wait("/chat/", 1).await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(
        got[0].body.contains("core is down"),
        "high urgency goes at once"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(rx.on("/chat/").len(), 1, "low urgency waits");
    let held = &app.notifications(&admin, low).await[0];
    assert_eq!(held["state"], "queued");
    let until = held["next_attempt_at"].as_str().unwrap();
    assert!(
        until.contains(&format!("T{}:00", hhmm(&end))),
        "held until the quiet hours end ({until})"
    );
    let line = app.timeline(&admin, low).await;
    assert!(
        line.iter()
            .any(|t| t.contains("held for quiet hours until")),
        "{line:?}"
    );
    assert_eq!(app.notifications(&admin, high).await[0]["state"], "sent");
}

#[tokio::test]
async fn a_storm_beyond_the_limit_comes_as_one_digest() {
    let rx = Receiver::start().await;
    let app = start(config(&rx)).await;
    let admin = app.admin().await;
    let (night, night_id) = app.engineer("night").await;
    let hook = app
        .method(
            &night,
            json!({"kind": "webhook", "url": format!("{}/hook", rx.base)}),
        )
        .await;
    app.rules(
        &night,
        json!({"rules": [{"contact_method_id": hook, "urgency": "high"}], "digest_after": 2}),
    )
    .await;
    app.page_to(&admin, night_id).await;
    let source = app.source(&admin).await;
    let first = app.fire(&admin, &source, "svc-a", "critical").await;
    let second = app.fire(&admin, &source, "svc-b", "critical").await;
    assert_eq!(rx.wait("/hook", 2).await.len(), 2);
    let mut later = Vec::new();
    for key in ["svc-c", "svc-d", "svc-e", "svc-f"] {
        later.push(app.fire(&admin, &source, key, "critical").await);
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(rx.on("/hook").len(), 2, "the limit holds the rest");
    let mut held = Vec::new();
    for _ in 0..100 {
        held = app.notifications(&admin, later[3]).await;
        if !held.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(held[0]["state"], "queued", "{held:?}");
    assert_eq!(rx.on("/hook").len(), 2, "the limit holds the rest");
    // The minute ends: the four come as one digest.
    let got = rx.wait("/hook", 3).await;
    let got = if got.len() < 3 {
        tokio::time::sleep(Duration::from_secs(60)).await;
        rx.wait("/hook", 3).await
    } else {
        got
    };
    assert_eq!(got.len(), 3, "{got:?}");
    let digest = got[2].json();
    assert_eq!(digest["event"], "digest");
    let ids: Vec<i64> = digest["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, later);
    assert!(
        digest["text"]
            .as_str()
            .unwrap()
            .starts_with("4 incidents paged to night")
    );
    for id in &later {
        let n = &app.notifications(&admin, *id).await[0];
        assert_eq!(
            (n["state"].as_str(), n["in_digest"].as_bool()),
            (Some("sent"), Some(*id != later[0]))
        );
    }
    for id in [first, second] {
        assert_eq!(app.notifications(&admin, id).await[0]["state"], "sent");
    }
}

#[tokio::test]
async fn templates_are_checked_previewed_and_used() {
    let rx = Receiver::start().await;
    let app = start(config(&rx)).await;
    let admin = app.admin().await;
    let (night, night_id) = app.engineer("night").await;
    // A template that does not parse, or names what does not exist, is refused with its line.
    let (s, v) = app
        .call(
            "PUT",
            "/api/v1/notification-templates/chat",
            &admin,
            Some(json!({"body": "Hello\n{% if digest %}\n{{ incident.title }"})),
        )
        .await;
    assert_eq!(s, 422, "{v}");
    assert_eq!(v["error"]["field"], "body");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("line 3"),
        "{v}"
    );
    let (s, v) = app
        .call(
            "PUT",
            "/api/v1/notification-templates/chat",
            &admin,
            Some(json!({"body": "{{ incident.title|nosuchfilter }}"})),
        )
        .await;
    assert_eq!(s, 422, "{v}");
    let (s, v) = app
        .call(
            "PUT",
            "/api/v1/notification-templates/email",
            &admin,
            Some(json!({"subject": "", "body": "x"})),
        )
        .await;
    assert_eq!(
        (s, v["error"]["field"].as_str()),
        (422, Some("subject")),
        "{v}"
    );
    // A loop cannot run for ever.
    let (s, v) = app
        .call(
            "POST",
            "/api/v1/notification-templates/chat/preview",
            &admin,
            Some(json!({"body": "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}"})),
        )
        .await;
    assert_eq!(s, 422, "{v}");
    // A preview renders a sample page and a sample digest, for those who may change templates.
    let body = "{% if digest %}DIGEST {{ incidents|length }}{% else %}ALERT P{{ incident.priority }} {{ incident.title|upper }} {{ incident.url }}{% endif %}";
    let (s, _) = app
        .call(
            "POST",
            "/api/v1/notification-templates/chat/preview",
            &night,
            Some(json!({"body": body})),
        )
        .await;
    assert_eq!(s, 403);
    let (s, v) = app
        .call(
            "POST",
            "/api/v1/notification-templates/chat/preview",
            &admin,
            Some(json!({"body": body})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        v[0]["body"],
        "ALERT P1 CORE-SW-01 IS DOWN (50 SERVERS BEHIND IT) https://pupitre.example.test/incidents/1042"
    );
    assert_eq!(v[1]["body"], "DIGEST 2");
    // Only incidents=manage at the root saves one.
    let (s, _) = app
        .call(
            "PUT",
            "/api/v1/notification-templates/chat",
            &night,
            Some(json!({"body": body})),
        )
        .await;
    assert_eq!(s, 403);
    let (s, v) = app
        .call(
            "PUT",
            "/api/v1/notification-templates/chat",
            &admin,
            Some(json!({"body": body})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["customised"], true);
    // Pages use it.
    let chat = app
        .method(
            &night,
            json!({"kind": "slack", "url": format!("{}/chat", rx.base)}),
        )
        .await;
    app.rules(
        &night,
        json!({"rules": [{"contact_method_id": chat, "urgency": "high"}]}),
    )
    .await;
    app.page_to(&admin, night_id).await;
    let source = app.source(&admin).await;
    let id = app.fire(&admin, &source, "db1", "critical").await;
    let got = rx.wait("/chat", 1).await;
    assert_eq!(
        got[0].json()["text"],
        format!("ALERT P3 DB1 IS DOWN https://pupitre.example.test/incidents/{id}")
    );
    // Back to the built-in one.
    let (s, _) = app
        .call(
            "DELETE",
            "/api/v1/notification-templates/chat",
            &admin,
            None,
        )
        .await;
    assert_eq!(s, 204);
    let (_, list) = app
        .call("GET", "/api/v1/notification-templates", &admin, None)
        .await;
    let chat = list
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["kind"] == "chat")
        .unwrap();
    assert_eq!(chat["customised"], false);
    let (s, _) = app
        .call(
            "DELETE",
            "/api/v1/notification-templates/chat",
            &admin,
            None,
        )
        .await;
    assert_eq!(s, 404, "nothing left to reset");
}

#[tokio::test]
async fn bad_contact_methods_and_rules_are_refused_naming_the_field() {
    let rx = Receiver::start().await;
    let app = start(config(&rx)).await;
    let (night, _) = app.engineer("night").await;
    let (day, _) = app.engineer("day").await;
    for (body, field) in [
        (json!({"kind": "pigeon", "address": "x"}), "kind"),
        (
            json!({"kind": "email", "address": "not an address"}),
            "address",
        ),
        (json!({"kind": "sms", "address": "0612345678"}), "address"),
        (
            json!({"kind": "slack", "url": "ftp://example.test/x"}),
            "url",
        ),
        (
            json!({"kind": "slack", "address": "x@example.test"}),
            "address",
        ),
        (
            json!({"kind": "email", "url": "https://example.test"}),
            "url",
        ),
        (
            json!({"kind": "email", "address": "a@b.test", "extra": 1}),
            "extra",
        ),
    ] {
        let (s, v) = app
            .call(
                "POST",
                "/api/v1/me/contact-methods",
                &night,
                Some(body.clone()),
            )
            .await;
        assert_eq!(s, 422, "{body}: {v}");
        assert!(
            v["error"]["field"].as_str().unwrap_or("").contains(field)
                || v["error"]["message"].as_str().unwrap().contains(field),
            "{body}: {v}"
        );
    }
    let theirs = app
        .method(
            &day,
            json!({"kind": "email", "address": "day@example.test"}),
        )
        .await;
    let mine = app
        .method(
            &night,
            json!({"kind": "email", "address": "night@example.test"}),
        )
        .await;
    for (body, field) in [
        (
            json!({"rules": [{"contact_method_id": theirs, "urgency": "high"}]}),
            "rules[0].contact_method_id",
        ),
        (
            json!({"rules": [{"contact_method_id": mine, "urgency": "urgent"}]}),
            "rules[0].urgency",
        ),
        (
            json!({"rules": [{"contact_method_id": mine, "urgency": "low", "delay_minutes": 9999}]}),
            "rules[0].delay_minutes",
        ),
        (
            json!({"quiet_hours": {"start": "25:00", "end": "07:00"}}),
            "quiet_hours.start",
        ),
        (
            json!({"quiet_hours": {"start": "22:00", "end": "07:00", "time_zone": "Mars/Olympus"}}),
            "quiet_hours.time_zone",
        ),
        (json!({"digest_after": 0}), "digest_after"),
    ] {
        let (s, v) = app
            .call(
                "PUT",
                "/api/v1/me/notification-rules",
                &night,
                Some(body.clone()),
            )
            .await;
        assert_eq!(
            (s, v["error"]["field"].as_str()),
            (422, Some(field)),
            "{body}: {v}"
        );
    }
    // Nothing was kept; another person's method is not found.
    let (_, rules) = app
        .call("GET", "/api/v1/me/notification-rules", &night, None)
        .await;
    assert_eq!(
        rules,
        json!({"rules": [], "quiet_hours": null, "digest_after": 5})
    );
    let (s, _) = app
        .call(
            "DELETE",
            &format!("/api/v1/me/contact-methods/{theirs}"),
            &night,
            None,
        )
        .await;
    assert_eq!(s, 404);
    // Deleting a method drops the rules that used it: the person falls back to e-mail rather
    // than being reached nowhere.
    app.rules(
        &night,
        json!({"rules": [{"contact_method_id": mine, "urgency": "high"}]}),
    )
    .await;
    let (s, _) = app
        .call(
            "DELETE",
            &format!("/api/v1/me/contact-methods/{mine}"),
            &night,
            None,
        )
        .await;
    assert_eq!(s, 204);
    let (_, rules) = app
        .call("GET", "/api/v1/me/notification-rules", &night, None)
        .await;
    assert_eq!(rules["rules"], json!([]));
    // A link-local address is no webhook.
    let (s, v) = app
        .call(
            "POST",
            "/api/v1/me/contact-methods",
            &night,
            Some(json!({"kind": "webhook", "url": "http://169.254.169.254/latest/meta-data/"})),
        )
        .await;
    assert_eq!((s, v["error"]["field"].as_str()), (422, Some("url")), "{v}");
    // A test message says whether it went.
    let failing = app
        .method(
            &night,
            json!({"kind": "webhook", "url": format!("{}/fail/hook", rx.base)}),
        )
        .await;
    let (s, v) = app
        .call(
            "POST",
            &format!("/api/v1/me/contact-methods/{failing}/test"),
            &night,
            None,
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(v["delivered"], false);
    assert!(v["error"].as_str().unwrap().contains("500"), "{v}");
    let ok = app
        .method(
            &night,
            json!({"kind": "teams", "url": format!("{}/teams", rx.base)}),
        )
        .await;
    let (_, v) = app
        .call(
            "POST",
            &format!("/api/v1/me/contact-methods/{ok}/test"),
            &night,
            None,
        )
        .await;
    assert_eq!(v["delivered"], true, "{v}");
    assert_eq!(rx.on("/teams").len(), 1);
}

#[tokio::test]
async fn the_notification_pages_add_methods_save_rules_and_preview_templates() {
    let rx = Receiver::start().await;
    let app = start(config(&rx)).await;
    let admin = app.admin().await;
    let (night, _) = app.engineer("night").await;
    let form = |pairs: &[(&str, &str)]| {
        pairs
            .iter()
            .map(|(k, v)| format!("{k}={}", urlencode(v)))
            .collect::<Vec<_>>()
            .join("&")
    };
    let (s, _, page) = app.browse("/settings/notifications", &night, None).await;
    assert_eq!(s, 200);
    assert!(page.contains("method-add"));
    // A refused method keeps what was typed and names the problem.
    let (s, _, page) = app
        .browse(
            "/settings/notifications/methods",
            &night,
            Some(form(&[("kind", "sms"), ("label", "mobile"), ("target", "06 12")]).as_str()),
        )
        .await;
    assert_eq!(s, 422);
    assert!(
        page.contains("international form") && page.contains("value=\"06 12\""),
        "{page}"
    );
    let url = format!("{}/pagehook/SECRET", rx.base);
    let (s, _, _) = app
        .browse(
            "/settings/notifications/methods",
            &night,
            Some(form(&[("kind", "slack"), ("label", "<b>ops</b>"), ("target", &url)]).as_str()),
        )
        .await;
    assert_eq!(s, 303);
    let (_, _, page) = app.browse("/settings/notifications", &night, None).await;
    assert!(
        page.contains("ops") && !page.contains("<b>ops</b>"),
        "escaped"
    );
    assert!(!page.contains("SECRET"));
    let (_, methods) = app
        .call("GET", "/api/v1/me/contact-methods", &night, None)
        .await;
    let id = methods[0]["id"].as_i64().unwrap().to_string();
    let (s, _, _) = app
        .browse(
            "/settings/notifications/rules",
            &night,
            Some(
                form(&[
                    ("urgency", "high"),
                    ("method", &id),
                    ("delay", "0"),
                    ("urgency", "low"),
                    ("method", &id),
                    ("delay", "15"),
                    ("urgency", "high"),
                    ("method", ""),
                    ("delay", "0"),
                    ("quiet_start", "22:00"),
                    ("quiet_end", "07:00"),
                    ("quiet_zone", ""),
                    ("digest_after", "3"),
                ])
                .as_str(),
            ),
        )
        .await;
    assert_eq!(s, 303);
    let (_, rules) = app
        .call("GET", "/api/v1/me/notification-rules", &night, None)
        .await;
    assert_eq!(rules["rules"].as_array().unwrap().len(), 2, "{rules}");
    assert_eq!(rules["rules"][1]["delay_minutes"], 15);
    assert_eq!(rules["quiet_hours"]["start"], "22:00");
    assert_eq!(rules["digest_after"], 3);
    let (s, _, page) = app
        .browse(
            &format!("/settings/notifications/methods/{id}/test"),
            &night,
            Some(""),
        )
        .await;
    assert_eq!(s, 200, "{page}");
    assert_eq!(rx.wait("/pagehook/", 1).await.len(), 1);
    // Templates: an administrator previews and saves; an operator only reads them.
    let (s, _, page) = app
        .browse(
            "/incidents/templates/sms",
            &admin,
            Some(
                form(&[
                    ("action", "preview"),
                    ("subject", ""),
                    ("body", "SMS {{ incident.id }} <{{ recipient }}>"),
                ])
                .as_str(),
            ),
        )
        .await;
    assert_eq!(s, 200, "{page}");
    assert!(
        page.contains("SMS 1042 ") && !page.contains("<ops>"),
        "rendered, escaped: {page}"
    );
    let (s, _, _) = app.browse("/incidents/templates", &night, None).await;
    assert_eq!(s, 200);
    let (s, _, page) = app
        .browse(
            "/incidents/templates/sms",
            &admin,
            Some(form(&[("action", "save"), ("subject", ""), ("body", "{{ oops")]).as_str()),
        )
        .await;
    assert_eq!(s, 422);
    assert!(page.contains("{{ oops"), "what was typed is kept");
    let (s, _, _) = app
        .browse(
            "/incidents/templates/sms",
            &admin,
            Some(
                form(&[
                    ("action", "save"),
                    ("subject", ""),
                    ("body", "P{{ incident.priority }}"),
                ])
                .as_str(),
            ),
        )
        .await;
    assert_eq!(s, 303);
    let (_, _, page) = app.browse("/incidents/templates", &admin, None).await;
    assert!(page.contains("P{{ incident.priority }}"));
}

fn urlencode(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}
