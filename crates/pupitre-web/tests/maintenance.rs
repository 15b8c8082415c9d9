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
