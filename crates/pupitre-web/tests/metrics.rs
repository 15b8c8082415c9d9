//! The metric history over HTTP: check results recorded by the engine, samples written through
//! the history's writer, range queries from raw samples and from the tiers, and bad queries.
#![expect(
    clippy::unwrap_used,
    reason = "a test fails loudly on any unexpected error"
)]

mod support;

use pupitre_core::model::ROOT_ENTITY;
use pupitre_monitor::history::{SeriesData, SourceData};
use pupitre_series::series::{Kind, SeriesKey};
use pupitre_store::metrics::{HOUR, MINUTE, NewSeries, Source, SourceKind};
use pupitre_web::WebConfig;
use serde_json::{Value, json};
use support::{App, start};

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

impl App {
    async fn admin(&self) -> String {
        support::token(&self.st, "ops", "Administrator", ROOT_ENTITY).await
    }

    async fn asset(&self, token: &str, name: &str) -> i64 {
        let (s, v) = self
            .call(
                "POST",
                "/api/v1/assets",
                token,
                Some(json!({"name": name, "asset_type": "server", "management_ip": "127.0.0.1"})),
            )
            .await;
        assert_eq!(s, 201, "{v}");
        v["id"].as_i64().unwrap()
    }

    async fn query(&self, token: &str, params: &[(&str, &str)]) -> (u16, Value) {
        let query = serde_urlencoded::to_string(params).unwrap();
        self.call(
            "GET",
            &format!("/api/v1/metrics/query?{query}"),
            token,
            None,
        )
        .await
    }

    /// Writes one series of samples from an import source, as an agent or an import would.
    async fn write(&self, asset: i64, name: &str, kind: Kind, samples: &[(i64, f64)]) {
        let history = self.st.history.as_ref().unwrap();
        let written = history
            .write(
                &[SourceData {
                    source: Source {
                        kind: SourceKind::Import,
                        id: 1,
                    },
                    asset_id: asset,
                    series: vec![SeriesData {
                        series: NewSeries {
                            key: SeriesKey::new(name, [("device".to_owned(), "sda".to_owned())])
                                .unwrap(),
                            unit: "B".into(),
                            kind,
                        },
                        timestamps: samples.iter().map(|s| s.0).collect(),
                        values: samples.iter().map(|s| s.1).collect(),
                    }],
                }],
                now_ms(),
            )
            .await
            .unwrap();
        assert_eq!(written.samples, samples.len() as u64, "{written:?}");
    }
}

fn values(answer: &Value, series: usize) -> Vec<(f64, f64)> {
    answer["series"][series]["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|pair| {
            (
                pair[0].as_f64().unwrap(),
                pair[1].as_str().unwrap().parse().unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn check_results_are_recorded_and_queried_by_check_and_host() {
    let app = start(WebConfig::standard()).await;
    let token = app.admin().await;
    let web = app.asset(&token, "web1").await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (s, check) = app
        .call(
            "POST",
            "/api/v1/checks",
            &token,
            Some(json!({"asset_id": web, "name": "HTTP port", "probe": {"kind": "tcp", "port": port}, "interval": 300})),
        )
        .await;
    assert_eq!(s, 201, "{check}");
    let id = check["id"].as_i64().unwrap();
    for _ in 0..3 {
        let (s, v) = app
            .call("POST", &format!("/api/v1/checks/{id}/run"), &token, None)
            .await;
        assert_eq!(s, 200, "{v}");
    }
    // The recorder writes every 50 ms in tests.
    let params = [
        ("query", "time{check=\"HTTP port\",host=\"web1\"}"),
        ("range", "10m"),
        ("step", "10m"),
        ("aggregation", "count"),
    ];
    let mut answer = Value::Null;
    for _ in 0..100 {
        let (s, v) = app.query(&token, &params).await;
        if s == 200 && values(&v, 0).first().map(|p| p.1) == Some(3.0) {
            answer = v;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // Ten-minute steps read the minute tier, which sums up the samples not compacted yet.
    assert_eq!(answer["tier"], "1m", "{answer}");
    let series = &answer["series"][0];
    assert_eq!(series["name"], "time");
    assert_eq!(series["unit"], "s");
    assert_eq!(series["kind"], "gauge");
    assert_eq!(series["source"], "check");
    assert_eq!(series["source_id"], id);
    assert_eq!(series["labels"]["perfdata"], "time");
    assert_eq!(series["labels"]["check"], "HTTP port");

    let (s, listed) = app
        .call(
            "GET",
            "/api/v1/metrics/series?match=%7Bhost%3D%22web1%22%7D",
            &token,
            None,
        )
        .await;
    assert_eq!(s, 200, "{listed}");
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");

    // Nobody outside the asset's entity sees the series.
    let other = support::entity(&app.st, "Branch").await;
    let outsider = support::token(&app.st, "branch", "Operator", other).await;
    let (s, v) = app.query(&outsider, &params).await;
    assert_eq!(s, 404, "{v}");

    let (s, metrics) = app.call("GET", "/metrics", "", None).await;
    assert_eq!(s, 200);
    let text = metrics.as_str().unwrap();
    assert!(
        text.contains("pupitre_history_samples_written_total 3"),
        "{text}"
    );

    // The current values, for a Prometheus to scrape: our parser and promtool's linter read it.
    let resp = app
        .http
        .get(format!("{}/api/v1/metrics/current", app.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .contains("version=0.0.4")
    );
    let body = resp.text().await.unwrap();
    let parsed = pupitre_core::monitoring::exposition::parse(
        body.as_bytes(),
        pupitre_core::monitoring::exposition::Format::Text004,
        pupitre_core::monitoring::exposition::Limits {
            max_samples: 1_000,
            max_line_bytes: 4_096,
        },
    )
    .unwrap();
    let sample = |text: &str| parsed.samples.iter().find(|s| s.to_string() == text);
    assert_eq!(
        sample("pupitre_check_state{check=\"HTTP port\",host=\"web1\"}").map(|s| s.value),
        Some(0.0),
        "{body}"
    );
    assert!(
        sample("time{check=\"HTTP port\",host=\"web1\",perfdata=\"time\"}").is_some(),
        "{body}"
    );
    let mut lint = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool (Debian's prometheus package; .ci/run installs it)");
    std::io::Write::write_all(&mut lint.stdin.take().unwrap(), body.as_bytes()).unwrap();
    let linted = lint.wait_with_output().unwrap();
    assert!(
        linted.status.success(),
        "{}{}\n{body}",
        String::from_utf8_lossy(&linted.stdout),
        String::from_utf8_lossy(&linted.stderr)
    );
    let (s, _) = app
        .call("GET", "/api/v1/metrics/current", &outsider, None)
        .await;
    assert_eq!(
        s, 200,
        "a reader of another entity gets an empty exposition"
    );

    // The check's page and its host's page draw the series; ranges are picked by name.
    for path in [
        format!("/monitoring/checks/{id}"),
        format!("/monitoring/checks/{id}?range=1h"),
        format!("/monitoring/hosts/{web}?range=6h"),
    ] {
        let (s, page) = app.call("GET", &path, &token, None).await;
        let page = page.as_str().unwrap_or_default().to_owned();
        assert_eq!(s, 200, "{path}: {page}");
        assert!(page.contains("class=\"pd pd-chart\""), "{path}: {page}");
        assert!(
            page.contains("web1 — HTTP port — time{perfdata=&quot;time&quot;}"),
            "{path}"
        );
        assert!(page.contains("class=\"ln ln0\""), "{path}: a line is drawn");
    }
    // A check whose series went over its source's limit says so on its page.
    let refused = app
        .st
        .store
        .register_series(
            Source {
                kind: SourceKind::Check,
                id,
            },
            web,
            &[NewSeries {
                key: SeriesKey::new("extra", Vec::<(String, String)>::new()).unwrap(),
                unit: String::new(),
                kind: Kind::Gauge,
            }],
            1,
            now_ms(),
        )
        .await
        .unwrap();
    assert_eq!(refused.refused(), 1);
    let (s, page) = app
        .call("GET", &format!("/monitoring/checks/{id}"), &token, None)
        .await;
    assert_eq!(s, 200);
    let page = page.as_str().unwrap_or_default();
    assert!(
        page.contains("over the limit of series per source"),
        "{page}"
    );
    assert!(page.contains("extra"), "{page}");

    // Lists show each check's last 24 hours as a sparkline.
    for path in ["/monitoring/checks", "/monitoring"] {
        let (s, page) = app.call("GET", path, &token, None).await;
        assert_eq!(s, 200);
        let page = page.as_str().unwrap_or_default();
        assert!(
            path == "/monitoring" || page.contains("class=\"pd pd-spark\""),
            "{path}: {page}"
        );
    }
    let (s, page) = app
        .call(
            "GET",
            &format!("/monitoring/checks/{id}?range=2h"),
            &token,
            None,
        )
        .await;
    assert_eq!(s, 422, "{page}");
    assert!(
        page.as_str()
            .unwrap_or_default()
            .contains("1h, 6h, 24h, 7d, 30d, 1y")
    );
    let (s, page) = app
        .call(
            "GET",
            &format!("/monitoring/checks/{id}?start=2026-01-01T00:00:00Z&end=2026-01-02T00:00:00Z"),
            &token,
            None,
        )
        .await;
    assert_eq!(s, 200);
    assert!(
        page.as_str()
            .unwrap_or_default()
            .contains("value=\"2026-01-01T00:00:00Z\"")
    );
}

#[test]
fn a_filling_disk_is_foreseen_to_reach_its_threshold() {
    let day = 24 * HOUR;
    let now = 100 * day;
    // 1 % a day, with a daily swing, from 50 % thirty days ago.
    let points: Vec<(i64, f64)> = (0..30 * 24)
        .map(|h| {
            let t = now - 30 * day + h * HOUR;
            let swing = if h % 24 < 6 { 2.0 } else { 0.0 };
            (t, 50.0 + (h as f64) / 24.0 + swing)
        })
        .collect();
    let forecast = pupitre_web::ops::metrics::forecast(&points, 90.0, now).unwrap();
    let days = (forecast.at - now) as f64 / day as f64;
    assert!((7.0..=9.0).contains(&days), "{days} days");
    assert!((forecast.per_day - 1.0).abs() < 0.05, "{forecast:?}");
    // Going away from the threshold: nothing to foresee.
    let falling: Vec<(i64, f64)> = points.iter().map(|&(t, v)| (t, 100.0 - v)).collect();
    assert!(pupitre_web::ops::metrics::forecast(&falling, 90.0, now).is_none());
}

#[tokio::test]
async fn queries_read_raw_samples_or_the_coarsest_tier_and_agree() {
    let app = start(WebConfig::standard()).await;
    let token = app.admin().await;
    let db = app.asset(&token, "db1").await;
    let now = now_ms();
    // Six hours of a gauge every 10 s in three whole two-hour windows that have ended.
    let first = pupitre_series::samples::window_of(now - 10 * HOUR);
    let gauge: Vec<(i64, f64)> = (0..6 * 360)
        .map(|i| (first + i * 10_000, (i % 360) as f64))
        .collect();
    app.write(db, "disk_used_bytes", Kind::Gauge, &gauge).await;
    // A counter growing by 50 every 10 s (5 per second), reset at the third hour.
    let counter: Vec<(i64, f64)> = (0..6 * 360)
        .map(|i| (first + i * 10_000, ((i % 1080) * 50) as f64))
        .collect();
    app.write(db, "disk_read_bytes", Kind::Counter, &counter)
        .await;

    let start = (first / 1000).to_string();
    let end = ((first + 6 * HOUR - MINUTE) / 1000).to_string();
    let hourly = |name: &'static str, aggregation: &'static str| {
        [
            ("query", name),
            ("start", start.as_str()),
            ("end", end.as_str()),
            ("step", "1h"),
            ("aggregation", aggregation),
        ]
    };
    // Before compaction: raw samples, summed up on the fly into the hour tier.
    let (s, before) = app.query(&token, &hourly("disk_used_bytes", "max")).await;
    assert_eq!(s, 200, "{before}");
    assert_eq!(before["tier"], "1h");

    let history = app.st.history.as_ref().unwrap();
    history.seal().await;
    history.compact().await;
    let stats = app.st.store.history_stats().await.unwrap();
    assert_eq!(stats.buffered_batches, 0);
    assert_eq!(stats.chunk_samples, 2 * 6 * 360);
    assert_eq!(
        stats.chunks,
        2 * 3,
        "one chunk per series and two-hour window"
    );

    let (s, after) = app.query(&token, &hourly("disk_used_bytes", "max")).await;
    assert_eq!(s, 200, "{after}");
    assert_eq!(after["tier"], "1h");
    assert_eq!(values(&after, 0), values(&before, 0));
    // Each point takes the hour that starts at it: 0 to 359 again.
    let maxima = values(&after, 0);
    assert_eq!(maxima.len(), 6, "{after}");
    assert!(maxima.iter().all(|p| p.1 == 359.0), "{after}");

    // The mean over the hour before each point, from raw samples (a 10 s step) and from the
    // minute tier (points on minute boundaries): always a whole cycle of 0 to 359.
    let ms = |t: i64| format!("{}.{:03}", t / 1000, t % 1000);
    let (raw_start, raw_end) = (ms(first + HOUR), ms(first + 6 * HOUR - 10_000));
    let (minute_start, minute_end) = (ms(first + HOUR + MINUTE - 1), ms(first + 6 * HOUR - 1));
    for (step, start, end, tier) in [
        ("10s", &raw_start, &raw_end, "raw"),
        ("1m", &minute_start, &minute_end, "1m"),
    ] {
        let (s, answer) = app
            .query(
                &token,
                &[
                    ("query", "disk_used_bytes{device=\"sda\"}"),
                    ("start", start),
                    ("end", end),
                    ("step", step),
                    ("window", "1h"),
                    ("aggregation", "avg"),
                ],
            )
            .await;
        assert_eq!(s, 200, "{answer}");
        assert_eq!(answer["tier"], tier);
        let means = values(&answer, 0);
        assert!(means.len() > 250, "{tier}: {}", means.len());
        assert!(means.iter().all(|p| p.1 == 179.5), "{tier}: {answer}");
    }

    // rate from the hour tier: 5 per second, and the reset does not make it negative.
    let (s, rate) = app.query(&token, &hourly("disk_read_bytes", "rate")).await;
    assert_eq!(s, 200, "{rate}");
    let rates = values(&rate, 0);
    assert_eq!(rates.len(), 5, "{rate}");
    assert!(rates.iter().all(|p| (4.9..=5.1).contains(&p.1)), "{rate}");

    // The gauge's trend is flat: it never reaches 1,000. A threshold that is not a number is
    // refused.
    let (s, forecast) = app
        .call(
            "GET",
            "/api/v1/metrics/forecast?query=disk_used_bytes&threshold=1000&range=1d",
            &token,
            None,
        )
        .await;
    assert_eq!(s, 200, "{forecast}");
    assert_eq!(forecast[0]["name"], "disk_used_bytes");
    assert!(forecast[0]["reaches_at"].is_null(), "{forecast}");
    assert!(
        forecast[0]["per_day"].as_f64().unwrap().abs() < 100.0,
        "{forecast}"
    );
    let (s, v) = app
        .call(
            "GET",
            "/api/v1/metrics/forecast?query=disk_used_bytes&threshold=lots",
            &token,
            None,
        )
        .await;
    assert_eq!(
        (s, v["error"]["field"].as_str()),
        (422, Some("threshold")),
        "{v}"
    );
}

#[tokio::test]
async fn bad_queries_get_a_4xx_that_names_the_parameter_and_the_limit() {
    let app = start(WebConfig::standard()).await;
    let token = app.admin().await;
    let db = app.asset(&token, "db1").await;
    let now = now_ms();
    app.write(
        db,
        "load",
        Kind::Gauge,
        &[(now - 60_000, 1.0), (now, f64::NAN)],
    )
    .await;
    let error = |v: &Value| {
        (
            v["error"]["field"].as_str().unwrap_or("").to_owned(),
            v["error"]["message"].as_str().unwrap_or("").to_owned(),
        )
    };
    // Parameters, then the status, field and part of the message expected.
    type Case<'a> = (Vec<(&'a str, &'a str)>, u16, &'a str, &'a str);
    let cases: Vec<Case> = vec![
        (
            vec![("query", "load{")],
            422,
            "query",
            "expected a label name",
        ),
        (vec![("query", "nothing_here")], 404, "", "not found"),
        (
            vec![
                ("query", "load"),
                ("start", "2026-01-02T00:00:00Z"),
                ("end", "2026-01-01T00:00:00Z"),
            ],
            422,
            "end",
            "before start",
        ),
        (
            vec![("query", "load"), ("range", "30d"), ("step", "1s")],
            422,
            "step",
            "take a step of at least",
        ),
        (
            vec![("query", "load"), ("range", "3y"), ("step", "1d")],
            422,
            "start",
            "history is kept 730 days",
        ),
        (
            vec![("query", "load"), ("range", "30d"), ("aggregation", "p95")],
            422,
            "start",
            "raw samples",
        ),
        (
            vec![("query", "load"), ("aggregation", "median")],
            422,
            "aggregation",
            "median",
        ),
        (
            vec![("query", "load"), ("step", "fast")],
            422,
            "step",
            "not a duration",
        ),
        (
            vec![("query", "load"), ("start", "yesterday")],
            422,
            "start",
            "RFC 3339",
        ),
        (
            vec![("query", "load"), ("limit", "3")],
            422,
            "limit",
            "unknown field",
        ),
        (vec![], 422, "query", "missing field"),
    ];
    for (params, status, field, message) in cases {
        let (s, v) = app.query(&token, &params).await;
        assert_eq!(s, status, "{params:?}: {v}");
        let (f, m) = error(&v);
        assert_eq!(f, field, "{params:?}: {v}");
        assert!(m.contains(message), "{params:?}: {v}");
    }
    // NaN is kept, and skipped by aggregations: the last value is the one before it.
    let (s, v) = app
        .query(
            &token,
            &[
                ("query", "load"),
                ("range", "5m"),
                ("step", "5m"),
                ("aggregation", "last"),
            ],
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(values(&v, 0).last().map(|p| p.1), Some(1.0));

    // Sources over their limit are listed to administrators of the root entity only.
    let (s, v) = app
        .call("GET", "/api/v1/metrics/refused", &token, None)
        .await;
    assert_eq!(s, 200, "{v}");
    let other = support::entity(&app.st, "Branch").await;
    let branch_admin = support::token(&app.st, "branch", "Administrator", other).await;
    let (s, v) = app
        .call("GET", "/api/v1/metrics/refused", &branch_admin, None)
        .await;
    assert_eq!(s, 403, "{v}");
}
