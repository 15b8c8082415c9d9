//! `pupitre checks list|run|ack` as an operator runs them: the real binary on a real SQLite
//! file, checks created and results saved through the store as the engine would.
#![expect(
    clippy::unwrap_used,
    reason = "a test fails loudly on any unexpected error"
)]

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use pupitre_core::audit::Actor;
use pupitre_core::inventory::{AssetInput, AssetType};
use pupitre_core::model::ROOT_ENTITY;
use pupitre_core::monitoring::State;
use pupitre_core::monitoring::check::{CheckId, LastResult};
use pupitre_core::monitoring::definition::{CheckDefinitionInput, ProbeSpec, check_definition};
use pupitre_core::monitoring::status::Context;
use pupitre_store::monitoring::{NewCheck, ResultWrite};
use pupitre_store::{AuditFilter, Page, Store};

const BIN: &str = env!("CARGO_BIN_EXE_pupitre");
const CHECK_TCP: &str = "/usr/lib/nagios/plugins/check_tcp";

/// Runs `pupitre` in `dir`; returns the exit code, stdout and stderr.
fn pupitre(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn now_ms() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

/// A data directory whose database the binary created, and the store opened on it.
struct Fixture {
    dir: tempfile::TempDir,
    store: Arc<dyn Store>,
    asset: i64,
}

impl Fixture {
    async fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        // The first command creates the data directory and the schema.
        let (code, out, err) = pupitre(dir.path(), &["checks", "list"]);
        assert_eq!((code, out.as_str()), (0, ""), "{err}");
        assert!(err.contains("no check matches"), "{err}");
        let db = dir.path().join("pupitre-data/pupitre.db");
        let store = pupitre_store::open(&format!("sqlite://{}", db.display()))
            .await
            .unwrap();
        let mut input = AssetInput::new(ROOT_ENTITY, AssetType::Server, "web01");
        input.management_ip = "127.0.0.1".into();
        let asset = store.create_asset(&actor(), &input).await.unwrap().id;
        Fixture { dir, store, asset }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    async fn check(&self, name: &str, probe: ProbeSpec, max_attempts: i64) -> CheckId {
        let definition = check_definition(CheckDefinitionInput {
            name: name.into(),
            probe,
            interval_s: 60,
            retry_interval_s: 30,
            timeout_s: 5,
            max_attempts,
            warning: String::new(),
            critical: String::new(),
            notifications_enabled: true,
            entity_id: ROOT_ENTITY,
        })
        .unwrap();
        let heartbeat_hash =
            matches!(definition.probe, ProbeSpec::Heartbeat { .. }).then(|| format!("{name}-hash"));
        self.store
            .create_check(
                &actor(),
                &NewCheck {
                    asset_id: self.asset,
                    definition,
                    host_check: false,
                    heartbeat_hash,
                },
            )
            .await
            .unwrap()
            .check
            .id
    }

    /// Saves a result of `state` at `at`, as the engine's writer does.
    async fn result(&self, id: CheckId, state: State, at: i64, output: &str) {
        let mut status = self.store.get_check(id).await.unwrap().status;
        let t = status.apply(state, at, &Context::NORMAL);
        self.store
            .save_results(&[ResultWrite {
                check_id: id,
                status,
                last: LastResult {
                    at,
                    duration_ms: 3,
                    output: output.into(),
                    long_output: "second line\nthird line".into(),
                    perfdata: "time=0.003s;;;0".into(),
                },
                acknowledgement_removed: t.acknowledgement_removed,
                events: Vec::new(),
            }])
            .await
            .unwrap();
    }
}

fn actor() -> Actor {
    Actor {
        user_id: None,
        login: "test".into(),
        source: "127.0.0.1".into(),
        at: now_ms(),
    }
}

fn tcp(port: u16) -> ProbeSpec {
    ProbeSpec::Tcp {
        host: String::new(),
        port: u32::from(port),
        send: String::new(),
        expect: String::new(),
    }
}

/// A port on 127.0.0.1 that nothing listens on (bound, then released).
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_as_a_table_and_as_json_lines_with_problems_worst_first() {
    let f = Fixture::new().await;
    let now = now_ms();
    let pending = f.check("SMTP", tcp(25), 3).await;
    let critical = f.check("HTTP front page", tcp(80), 1).await;
    let soft = f.check("HTTPS", tcp(443), 3).await;
    let ok = f.check("SSH", tcp(22), 3).await;
    let long = format!("CRITICAL - connection refused {}", "x".repeat(300));
    f.result(critical, State::Critical, now - 5 * 60_000, &long)
        .await;
    f.result(soft, State::Warning, now - 90_000, "TCP WARNING - slow")
        .await;
    f.result(ok, State::Ok, now - 3 * 3_600_000, "TCP OK - 0.001 s")
        .await;

    let (code, out, err) = pupitre(f.path(), &["checks", "list"]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 5, "{out}");
    assert!(lines[0].starts_with("ID  ASSET  CHECK"), "{out}");
    assert!(
        lines.iter().all(|l| l.chars().count() <= 120),
        "every line fits 120 columns:\n{out}"
    );
    for (id, want) in [
        (pending, "pending"),
        (critical, "critical HARD"),
        (soft, "warning soft 1/3"),
        (ok, "ok"),
    ] {
        let line = lines
            .iter()
            .find(|l| l.trim_start().starts_with(&format!("{id} ")))
            .unwrap();
        assert!(line.contains(want), "{want}: {line}");
    }
    let critical_line = lines.iter().find(|l| l.contains("critical")).unwrap();
    assert!(critical_line.contains(" 5m "), "{critical_line}");
    assert!(
        critical_line.ends_with('…'),
        "long output is cut: {critical_line}"
    );
    assert!(
        !out.contains("second line"),
        "only the first line of the output"
    );

    let (code, out, err) = pupitre(f.path(), &["checks", "list", "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let rows: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 4, "one object per line: {out}");
    assert_eq!(rows[0]["id"], pending);
    assert_eq!(rows[0]["state"], "pending");
    assert_eq!(rows[0]["probe"]["kind"], "tcp");
    assert_eq!(rows[1]["state"], "critical");
    assert_eq!(rows[1]["hard"], true);
    assert_eq!(rows[1]["asset_name"], "web01");
    assert_eq!(rows[1]["output"], long.as_str());
    assert_eq!(rows[1]["acknowledged"], false);

    // Problems: hard first, then worst, then oldest; pending and OK are no problems.
    let (code, out, err) = pupitre(f.path(), &["checks", "list", "--problems"]);
    assert_eq!(code, 0, "{err}");
    let ids: Vec<String> = out
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().next().unwrap().to_owned())
        .collect();
    assert_eq!(ids, [critical.to_string(), soft.to_string()], "{out}");

    // Filters are the API's, also with --problems.
    let (_, out, _) = pupitre(
        f.path(),
        &["checks", "list", "--problems", "--state", "warning"],
    );
    assert_eq!(out.lines().count(), 2, "{out}");
    assert!(out.contains("HTTPS"), "{out}");
    let (_, out, _) = pupitre(
        f.path(),
        &["checks", "list", "--query", "http", "--format", "json"],
    );
    assert_eq!(out.lines().count(), 2, "HTTP front page and HTTPS: {out}");
    let (_, out, _) = pupitre(
        f.path(),
        &[
            "checks",
            "list",
            "--state",
            "critical,ok",
            "--format",
            "json",
        ],
    );
    assert_eq!(out.lines().count(), 2, "{out}");
    let (_, out, _) = pupitre(
        f.path(),
        &[
            "checks",
            "list",
            "--asset",
            &f.asset.to_string(),
            "--probe",
            "tcp",
        ],
    );
    assert_eq!(out.lines().count(), 5, "{out}");
    let (code, out, err) = pupitre(f.path(), &["checks", "list", "--probe", "ping"]);
    assert_eq!((code, out.as_str()), (0, ""), "{err}");

    // Bad values name the argument.
    for (args, want) in [
        (&["--state", "critical,bogus"][..], "--state: \"bogus\""),
        (&["--problems", "--state", "bogus"][..], "--state: "),
        (&["--probe", "telnet"][..], "--probe: "),
    ] {
        let (code, out, err) = pupitre(f.path(), &[&["checks", "list"][..], args].concat());
        assert_eq!(code, 1, "{args:?}: {out}");
        assert!(err.contains(want), "{args:?}: {err}");
    }
    let (code, _, err) = pupitre(f.path(), &["checks", "list", "--format", "xml"]);
    assert_eq!(code, 2, "clap's usage error");
    assert!(err.contains("--format"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_prints_the_result_as_a_plugin_and_exits_with_its_code() {
    assert!(
        Path::new(CHECK_TCP).exists(),
        "this test needs monitoring-plugins (apt-get install monitoring-plugins-basic; .ci/run does it)"
    );
    let f = Fixture::new().await;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let open = f.check("open", tcp(port), 3).await;
    let closed = f.check("closed", tcp(closed_port()), 3).await;
    let plugin = f
        .check(
            "plugin",
            ProbeSpec::Plugin {
                path: CHECK_TCP.into(),
                arguments: vec![
                    "-H".into(),
                    "$HOSTADDRESS$".into(),
                    "-p".into(),
                    port.to_string(),
                ],
            },
            3,
        )
        .await;
    let heartbeat = f
        .check("nightly", ProbeSpec::Heartbeat { grace_s: 60 }, 3)
        .await;

    let (code, out, err) = pupitre(f.path(), &["checks", "run", &open.to_string()]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.starts_with("TCP OK"), "{out}");
    assert!(out.contains("|time="), "summary|perfdata: {out}");

    let (code, out, err) = pupitre(f.path(), &["checks", "run", &closed.to_string()]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(out.starts_with("TCP CRITICAL"), "{out}");

    let (code, out, err) = pupitre(f.path(), &["checks", "run", &plugin.to_string()]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.starts_with("TCP OK"), "{out}");
    assert!(
        out.contains(&format!("port {port}")),
        "$HOSTADDRESS$ is the asset's address: {out}"
    );

    let (code, out, err) = pupitre(
        f.path(),
        &["checks", "run", &closed.to_string(), "--format", "json"],
    );
    assert_eq!(code, 2, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["state"], "critical");
    assert_eq!(v["exit_code"], 2);
    assert_eq!(v["check_id"], closed);
    assert!(v["summary"].as_str().unwrap().starts_with("TCP CRITICAL"));

    // The result is not stored: the server's engine owns the state.
    let stored = f.store.get_check(open).await.unwrap();
    assert!(stored.status.is_pending() && stored.last.is_none());

    // What cannot be run exits UNKNOWN (3), never WARNING (1).
    let (code, out, err) = pupitre(f.path(), &["checks", "run", &heartbeat.to_string()]);
    assert_eq!((code, out.as_str()), (3, ""), "{err}");
    assert!(err.contains("heartbeat"), "{err}");
    let (code, _, err) = pupitre(f.path(), &["checks", "run", "9999"]);
    assert_eq!(code, 3);
    assert!(err.contains("check 9999 not found"), "{err}");
    let (_, out, _) = pupitre(f.path(), &["checks", "run", "--help"]);
    assert!(out.contains("NOT stored"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ack_only_hard_problems_audited_as_system_and_remove() {
    let f = Fixture::new().await;
    let now = now_ms();
    let pending = f.check("pending", tcp(25), 3).await;
    let soft = f.check("soft", tcp(26), 3).await;
    let hard = f.check("hard", tcp(27), 1).await;
    f.result(
        soft,
        State::Critical,
        now - 60_000,
        "TCP CRITICAL - refused",
    )
    .await;
    f.result(
        hard,
        State::Critical,
        now - 60_000,
        "TCP CRITICAL - refused",
    )
    .await;

    for (id, why) in [
        (pending, "the check has no result yet"),
        (soft, "still being retried"),
    ] {
        let (code, out, err) = pupitre(
            f.path(),
            &["checks", "ack", &id.to_string(), "--comment", "on it"],
        );
        assert_eq!((code, out.as_str()), (1, ""), "{err}");
        assert!(
            err.contains(&format!("check {id}: only a hard problem")),
            "{err}"
        );
        assert!(err.contains(why), "{err}");
    }

    let (code, out, err) = pupitre(
        f.path(),
        &[
            "checks",
            "ack",
            &hard.to_string(),
            "--comment",
            "disk replaced tonight",
            "--expires-in",
            "120",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with(&format!(
            "check {hard} \"hard\" on web01: critical HARD acknowledged by system until "
        )),
        "{out}"
    );
    let ack = f
        .store
        .get_check(hard)
        .await
        .unwrap()
        .status
        .acknowledgement
        .unwrap();
    assert_eq!(
        (ack.author.as_str(), ack.comment.as_str()),
        ("system", "disk replaced tonight")
    );
    let expires = ack.expires_at.unwrap() - now;
    assert!((120 * 60_000..125 * 60_000).contains(&expires), "{expires}");
    let (_, out, _) = pupitre(f.path(), &["checks", "list", "--problems"]);
    let line = out.lines().find(|l| l.contains("hard")).unwrap();
    assert!(line.contains(" ack "), "{line}");

    let (code, out, err) = pupitre(f.path(), &["checks", "ack", &hard.to_string(), "--remove"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        format!("check {hard} \"hard\" on web01: acknowledgement removed\n")
    );
    assert!(
        f.store
            .get_check(hard)
            .await
            .unwrap()
            .status
            .acknowledgement
            .is_none()
    );
    let (code, _, err) = pupitre(f.path(), &["checks", "ack", &hard.to_string(), "--remove"]);
    assert_eq!(code, 1);
    assert!(err.contains("not acknowledged"), "{err}");

    let audit = f
        .store
        .list_audit(
            &AuditFilter {
                visible: vec![ROOT_ENTITY],
                object_type: Some("check".into()),
                object_id: Some(hard),
                ..AuditFilter::default()
            },
            Page {
                after: None,
                limit: 10,
            },
        )
        .await
        .unwrap();
    let seen: Vec<(&str, &str, &str)> = audit
        .iter()
        .map(|r| {
            (
                r.event.action.as_str(),
                r.actor_login.as_str(),
                r.source.as_str(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("check.unacknowledge", "system", "local"),
            ("check.acknowledge", "system", "local"),
            ("check.create", "test", "127.0.0.1"),
        ]
    );

    // Input errors name the argument; an unknown id is not found.
    for (args, want) in [
        (
            &["ack", "9999", "--comment", "x"][..],
            "check 9999 not found",
        ),
        (&["ack", "9999", "--remove"][..], "check 9999 not found"),
        (
            &["ack", &hard.to_string(), "--comment", " "][..],
            "--comment: ",
        ),
        (
            &[
                "ack",
                &hard.to_string(),
                "--comment",
                "x",
                "--expires-in",
                "0",
            ][..],
            "--expires-in: must be between 1 and 525600",
        ),
    ] {
        let (code, _, err) = pupitre(f.path(), &[&["checks"][..], args].concat());
        assert_eq!(code, 1, "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: {err}");
    }
    let (code, _, err) = pupitre(f.path(), &["checks", "ack", &hard.to_string()]);
    assert_eq!(code, 2, "clap's usage error");
    assert!(err.contains("--comment"), "{err}");
    let (code, _, err) = pupitre(
        f.path(),
        &[
            "checks",
            "ack",
            &hard.to_string(),
            "--remove",
            "--comment",
            "x",
        ],
    );
    assert_eq!(code, 2);
    assert!(err.contains("cannot be used with"), "{err}");
}
