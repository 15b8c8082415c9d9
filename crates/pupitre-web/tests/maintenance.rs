//! Maintenance windows over HTTP: an invalid RRULE or scope is refused naming the field; a
//! recurring window lists its next occurrences in local time; during a window a failing check
//! keeps running and recording but opens no incident, and when the window ends with the
//! problem still there, the incident opens then.

mod support;

use std::time::Duration;

use pupitre_core::model::ROOT_ENTITY;
use pupitre_web::WebConfig;
use serde_json::json;
use support::start;

#[tokio::test]
async fn a_window_holds_incidents_back_and_opens_them_when_it_ends_if_the_problem_remains() {
    let app = start(WebConfig::standard()).await;
    let admin = support::token(&app.st, "ops", "Administrator", ROOT_ENTITY).await;
    let (s, v) = app
        .call(
            "POST",
            "/api/v1/assets",
            &admin,
            Some(json!({"name": "db1", "asset_type": "server"})),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let db1 = v["id"].as_i64().unwrap();
    let window = |starts_at: String, minutes: i64, rrule: &str, scope: serde_json::Value| {
        json!({"entity_id": ROOT_ENTITY, "name": "PostgreSQL 17 upgrade", "starts_at": starts_at,
            "duration_minutes": minutes, "time_zone": "Europe/Paris", "rrule": rrule, "scope": scope,
            "intervention": {"who": "night", "what": "pg_upgrade", "vendor": "Acme DB support",
                "description": "CHG-1234: major upgrade, 20 min of downtime"}})
    };
    // Refusals.
    let now = jiff::Timestamp::now();
    for (body, field) in [
        (
            window(
                now.to_string(),
                60,
                "FREQ=HOURLY",
                json!({"asset_ids": [db1]}),
            ),
            "rrule",
        ),
        (
            window(
                now.to_string(),
                60,
                "FREQ=WEEKLY;BYDAY=XX",
                json!({"asset_ids": [db1]}),
            ),
            "rrule",
        ),
        (window(now.to_string(), 60, "", json!({})), "scope"),
        (
            window(now.to_string(), 60, "", json!({"asset_ids": [424242]})),
            "scope.asset_ids[0]",
        ),
        (
            window("next sunday".into(), 60, "", json!({"asset_ids": [db1]})),
            "starts_at",
        ),
        (
            window(now.to_string(), 0, "", json!({"asset_ids": [db1]})),
            "duration_minutes",
        ),
    ] {
        let (s, v) = app
            .call("POST", "/api/v1/maintenance-windows", &admin, Some(body))
            .await;
        assert_eq!((s, v["error"]["field"].as_str()), (422, Some(field)), "{v}");
    }
    // A weekly window lists its next occurrences at 02:00 Paris time, DST or not.
    let (s, v) = app
        .call(
            "POST",
            "/api/v1/maintenance-windows",
            &admin,
            Some(window(
                "2026-03-22T02:00:00+01:00".into(),
                120,
                "FREQ=WEEKLY;BYDAY=SU;COUNT=500",
                json!({"tags": ["prod"]}),
            )),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let next = v["next"].as_array().unwrap();
    assert_eq!(next.len(), 5, "{v}");
    for occurrence in next {
        let start: jiff::Timestamp = occurrence[0].as_str().unwrap().parse().unwrap();
        let local = start.to_zoned(jiff::tz::TimeZone::get("Europe/Paris").unwrap());
        assert_eq!(
            (local.weekday(), local.hour()),
            (jiff::civil::Weekday::Sunday, 2),
            "{occurrence}"
        );
    }

    // A one-off window on db1 that ends in a few seconds.
    let starts = now - jiff::SignedDuration::from_secs(55);
    let (s, v) = app
        .call(
            "POST",
            "/api/v1/maintenance-windows",
            &admin,
            Some(window(
                starts.to_string(),
                1,
                "",
                json!({"asset_ids": [db1]}),
            )),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (s, check) = app
        .call(
            "POST",
            "/api/v1/checks",
            &admin,
            Some(json!({"asset_id": db1, "name": "PostgreSQL",
            "probe": {"kind": "tcp", "host": "127.0.0.1", "port": port},
            "interval": 3600, "retry_interval": 60, "max_attempts": 1})),
        )
        .await;
    assert_eq!(s, 201, "{check}");
    let check = check["id"].as_i64().unwrap();
    let (s, run) = app
        .call("POST", &format!("/api/v1/checks/{check}/run"), &admin, None)
        .await;
    assert_eq!(
        (s, run["state"].as_str(), run["hard"].as_bool()),
        (200, Some("critical"), Some(true)),
        "{run}"
    );
    // The problem is recorded as an alert, held back: no incident while the window lasts.
    let mut alert = json!(null);
    for _ in 0..50 {
        let (_, alerts) = app
            .call("GET", "/api/v1/alerts?firing=true", &admin, None)
            .await;
        if let Some(a) = alerts.as_array().unwrap().first() {
            alert = a.clone();
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        alert["suppressed"].as_str().is_some_and(|s| !s.is_empty()),
        "{alert}"
    );
    assert!(alert["incident_id"].is_null(), "{alert}");
    let (_, incidents) = app.call("GET", "/api/v1/incidents", &admin, None).await;
    assert_eq!(incidents.as_array().map(Vec::len), Some(0), "{incidents}");
    // The window ends; the check is still critical: the incident opens.
    let mut opened = json!(null);
    for _ in 0..200 {
        let (_, incidents) = app.call("GET", "/api/v1/incidents", &admin, None).await;
        if let Some(i) = incidents.as_array().unwrap().first() {
            opened = i.clone();
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(opened["id"].is_i64(), "no incident after the window ended");
    assert_eq!(opened["cause_asset_id"], db1);
    let (_, d) = app
        .call(
            "GET",
            &format!("/api/v1/incidents/{}", opened["id"]),
            &admin,
            None,
        )
        .await;
    assert!(
        d["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["text"].as_str().unwrap().contains("no longer suppressed")),
        "{d}"
    );
}

#[tokio::test]
async fn the_maintenance_page_plans_changes_and_deletes_windows_in_local_time() {
    let app = start(WebConfig::standard()).await;
    let admin = support::token(&app.st, "ops", "Administrator", ROOT_ENTITY).await;
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
    let form = |rrule: &str| {
        format!(
            "name=%3Cb%3EBIOS%3C%2Fb%3E&entity_id={ROOT_ENTITY}&starts_at=2027-03-28T01%3A30&time_zone=Europe%2FParis\
             &duration_minutes=120&rrule={rrule}&asset_ids=&check_ids=&tags=db&whole_entity=1\
             &who=night&what=BIOS&vendor=Acme&description=v2.1"
        )
    };
    // A bad recurrence is refused, named, and what was typed stays.
    let (s, html) = post("/maintenance", form("FREQ%3DHOURLY")).await;
    assert_eq!(s, 422, "{html}");
    assert!(
        html.contains("rrule") && html.contains("value=\"FREQ=HOURLY\""),
        "{html}"
    );
    let (s, _) = post("/maintenance", form("FREQ%3DWEEKLY%3BCOUNT%3D3")).await;
    assert_eq!(s, 303);
    let (_, list) = app
        .call("GET", "/api/v1/maintenance-windows", &admin, None)
        .await;
    let w = &list[0];
    // 01:30 in Paris on the night clocks go forward: 00:30 UTC.
    assert_eq!(w["starts_at"], "2027-03-28T00:30:00Z", "{w}");
    assert_eq!(w["scope"]["entity_ids"], json!([ROOT_ENTITY]));
    assert_eq!(w["intervention"]["vendor"], "Acme");
    let id = w["id"].as_i64().expect("an id");
    let (s, html) = get("/maintenance".into()).await;
    assert_eq!(s, 200);
    assert!(
        html.contains("&#60;b&#62;BIOS") || html.contains("&lt;b&gt;BIOS"),
        "escaped: {html}"
    );
    let (s, html) = get(format!("/maintenance/{id}")).await;
    assert_eq!(s, 200);
    assert!(
        html.contains("value=\"2027-03-28T01:30\""),
        "shown in local time: {html}"
    );
    let (s, _) = post(
        &format!("/maintenance/{id}"),
        form("").replace("duration_minutes=120", "duration_minutes=30"),
    )
    .await;
    assert_eq!(s, 303);
    let (_, w) = app
        .call(
            "GET",
            &format!("/api/v1/maintenance-windows/{id}"),
            &admin,
            None,
        )
        .await;
    assert_eq!(
        (w["duration_minutes"].as_i64(), w["rrule"].as_str()),
        (Some(30), Some(""))
    );
    let (s, _) = post(&format!("/maintenance/{id}/delete"), String::new()).await;
    assert_eq!(s, 303);
    let (_, list) = app
        .call("GET", "/api/v1/maintenance-windows", &admin, None)
        .await;
    assert_eq!(list, json!([]));
}
