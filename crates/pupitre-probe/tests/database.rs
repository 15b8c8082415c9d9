//! The native database probe against the PostgreSQL server on 127.0.0.1:5432 (user `postgres`,
//! trust authentication, database `test`) and the MariaDB server on 127.0.0.1:3306. For
//! MariaDB, [`mysql_user`] creates the account `pupitre_probe`@`127.0.0.1` with a password
//! (through the `mysql` client, as the system's root over the socket), allowed only to create
//! the database `pupitre_probe_write`, which the read-only check must refuse, and to read the
//! database `pupitre_no_such_database`, so that MariaDB says it is missing rather than that
//! access is denied; a user with no rights there is checked too. The checks use
//! the database `information_schema`, which always exists. Every run is bounded in time.

use std::time::Duration;

use pupitre_core::monitoring::State;
use pupitre_core::monitoring::perfdata::Uom;
use pupitre_core::monitoring::range::Thresholds;
use pupitre_probe::database::{DatabaseCheck, DatabaseCheckError, Engine};
use pupitre_probe::outcome::Outcome;
use pupitre_probe::secret::Secret;
use tokio::net::TcpListener;
use tokio::time::Instant;

/// No test waits longer than this for one run, whatever the probe does.
const RUN_BOUND: Duration = Duration::from_secs(5);

fn postgres() -> DatabaseCheck {
    let mut check = DatabaseCheck::new(Engine::Postgres, "127.0.0.1", "test", "postgres");
    check.timeout = Duration::from_secs(4);
    check
}

fn with_query(query: &str) -> DatabaseCheck {
    let mut check = postgres();
    check.query = Some(query.to_owned());
    check
}

async fn run(check: &DatabaseCheck) -> Outcome {
    assert_eq!(check.validate(), Ok(()), "{check:?}");
    let outcome = tokio::time::timeout(RUN_BOUND, check.run())
        .await
        .expect("the run ends before the test's bound");
    assert!(!outcome.summary.contains('\n'), "{outcome:?}");
    outcome
}

fn perf(outcome: &Outcome, label: &str) -> Option<f64> {
    outcome
        .perfdata
        .iter()
        .find(|datum| datum.label == label)
        .and_then(|datum| datum.value)
}

#[tokio::test]
async fn select_one_is_ok_with_times() {
    let outcome = run(&postgres()).await;
    assert_eq!(outcome.state, State::Ok, "{outcome:?}");
    assert!(
        outcome
            .summary
            .starts_with("PostgreSQL OK - query returned 1 in "),
        "{outcome:?}"
    );
    let labels = outcome
        .perfdata
        .iter()
        .map(|datum| (datum.label.as_str(), datum.uom.clone()))
        .collect::<Vec<_>>();
    assert_eq!(
        labels,
        [
            ("connect_time", Uom::Seconds),
            ("query_time", Uom::Seconds),
            ("value", Uom::Count)
        ]
    );
    assert_eq!(perf(&outcome, "value"), Some(1.0));
    assert!(outcome.to_plugin_output().contains("value=1.000000;;;;"));
}

#[tokio::test]
async fn thresholds_on_the_first_value() {
    // This run's own connection is one of the backends, so the count is at least 1.
    let query = "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'";
    let table = [
        ("1000", "2000", State::Ok),
        ("0", "0", State::Critical),
        ("0", "1000", State::Warning),
    ];
    for (warning, critical, state) in table {
        let mut check = with_query(query);
        check.label = "connections".to_owned();
        check.thresholds = Thresholds::parse(warning, critical).expect("thresholds");
        let outcome = run(&check).await;
        assert_eq!(outcome.state, state, "{warning} {critical}: {outcome:?}");
        let connections = perf(&outcome, "connections").expect("connections perfdata");
        assert!(connections >= 1.0, "{outcome:?}");
    }
}

#[tokio::test]
async fn values_of_other_types() {
    let table = [
        ("SELECT 2.5::numeric * 4", Some(10.0), State::Ok),
        ("SELECT -0.25::float8", Some(-0.25), State::Ok),
        ("SELECT '42'::text", Some(42.0), State::Ok),
        ("SELECT 'forty-two'::text", None, State::Unknown),
        ("SELECT NULL::int", None, State::Unknown),
        ("SELECT now()", None, State::Unknown),
    ];
    for (query, value, with_thresholds) in table {
        let mut check = with_query(query);
        let outcome = run(&check).await;
        assert_eq!(outcome.state, State::Ok, "{query}: {outcome:?}");
        assert_eq!(perf(&outcome, "value"), value, "{query}: {outcome:?}");
        check.thresholds = Thresholds::parse("~:100", "~:1000").expect("thresholds");
        let outcome = run(&check).await;
        assert_eq!(outcome.state, with_thresholds, "{query}: {outcome:?}");
        if with_thresholds == State::Unknown {
            assert!(
                outcome.summary.contains("the first value is not a number"),
                "{query}: {outcome:?}"
            );
        }
    }
}

#[tokio::test]
async fn no_row_is_unknown() {
    let outcome = run(&with_query("SELECT 1 WHERE false")).await;
    assert_eq!(outcome.state, State::Unknown, "{outcome:?}");
    assert_eq!(
        outcome.summary,
        "PostgreSQL UNKNOWN - the query returned no row"
    );
}

#[tokio::test]
async fn a_query_error_is_unknown_with_the_message() {
    let outcome = run(&with_query("SELECT * FROM no_such_table")).await;
    assert_eq!(outcome.state, State::Unknown, "{outcome:?}");
    assert_eq!(
        outcome.summary,
        "PostgreSQL UNKNOWN - query failed: relation \"no_such_table\" does not exist"
    );
}

#[tokio::test]
async fn writes_are_refused() {
    let table = [
        (
            "CREATE TABLE pupitre_probe_write(i int)",
            "cannot execute CREATE TABLE in a read-only transaction",
        ),
        // Two statements cannot escape the transaction: the extended protocol takes one.
        (
            "COMMIT; CREATE TABLE pupitre_probe_write(i int)",
            "cannot insert multiple commands into a prepared statement",
        ),
    ];
    for (query, message) in table {
        let outcome = run(&with_query(query)).await;
        assert_eq!(outcome.state, State::Unknown, "{outcome:?}");
        assert_eq!(
            outcome.summary,
            format!("PostgreSQL UNKNOWN - query failed: {message}")
        );
    }
    let exists = run(&with_query(
        "SELECT count(*) FROM pg_tables WHERE tablename = 'pupitre_probe_write'",
    ))
    .await;
    assert_eq!(perf(&exists, "value"), Some(0.0), "{exists:?}");
}

#[tokio::test]
async fn connection_failures_are_critical() {
    let mut unknown_database = postgres();
    unknown_database.database = "pupitre_no_such_database".to_owned();
    let mut unknown_user = postgres();
    unknown_user.user = "pupitre_no_such_user".to_owned();
    unknown_user.password = Secret::new("hunter2");
    let closed_port = {
        // A port just bound and released: nothing listens there.
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("address").port();
        drop(listener);
        let mut check = postgres();
        check.port = port;
        check
    };
    let table = [
        (
            unknown_database,
            "PostgreSQL CRITICAL - PostgreSQL database pupitre_no_such_database does not exist",
        ),
        (
            unknown_user,
            "PostgreSQL CRITICAL - PostgreSQL authentication failed for user pupitre_no_such_user",
        ),
        (
            closed_port,
            "PostgreSQL CRITICAL - cannot connect to PostgreSQL on 127.0.0.1 port",
        ),
    ];
    for (check, start) in table {
        let outcome = run(&check).await;
        assert_eq!(outcome.state, State::Critical, "{outcome:?}");
        assert!(outcome.summary.starts_with(start), "{outcome:?}");
        assert!(outcome.perfdata.is_empty(), "{outcome:?}");
    }
}

#[tokio::test]
async fn a_slow_query_times_out() {
    let mut check = with_query("SELECT pg_sleep(5)");
    check.timeout = Duration::from_secs(1);
    let started = Instant::now();
    let outcome = run(&check).await;
    let elapsed = started.elapsed();
    assert_eq!(outcome.state, State::Critical, "{outcome:?}");
    assert!(
        outcome.summary.contains("timed out after 1 s"),
        "{outcome:?}"
    );
    assert!(
        (Duration::from_millis(900)..Duration::from_millis(1800)).contains(&elapsed),
        "{elapsed:?}"
    );
}

const MYSQL_USER: &str = "pupitre_probe";
const MYSQL_PASSWORD: &str = "pupitre-probe-test";

/// Creates the test account if it is missing (idempotent, so tests may race).
async fn mysql_user() {
    let statements = format!(
        "CREATE USER IF NOT EXISTS '{MYSQL_USER}'@'127.0.0.1' IDENTIFIED BY '{MYSQL_PASSWORD}'; \
         GRANT CREATE ON pupitre_probe_write.* TO '{MYSQL_USER}'@'127.0.0.1'; \
         GRANT SELECT ON pupitre_no_such_database.* TO '{MYSQL_USER}'@'127.0.0.1';"
    );
    let status = tokio::process::Command::new("mysql")
        .args(["-uroot", "-e", &statements])
        .status()
        .await
        .expect("run the mysql client");
    assert!(status.success(), "mysql: {status}");
}

fn mysql(query: &str) -> DatabaseCheck {
    let mut check =
        DatabaseCheck::new(Engine::MySql, "127.0.0.1", "information_schema", MYSQL_USER);
    check.password = Secret::new(MYSQL_PASSWORD);
    check.timeout = Duration::from_secs(4);
    check.query = Some(query.to_owned());
    check
}

#[tokio::test]
async fn mysql_values_and_thresholds() {
    mysql_user().await;
    let outcome = run(&mysql("SELECT 1")).await;
    assert_eq!(outcome.state, State::Ok, "{outcome:?}");
    assert!(
        outcome
            .summary
            .starts_with("MySQL OK - query returned 1 in "),
        "{outcome:?}"
    );
    assert!(perf(&outcome, "connect_time").is_some(), "{outcome:?}");
    assert!(perf(&outcome, "query_time").is_some(), "{outcome:?}");

    let table = [
        ("SELECT 2.5 * 4", Some(10.0)),
        ("SELECT CAST(-3 AS SIGNED)", Some(-3.0)),
        ("SELECT CAST(7 AS UNSIGNED)", Some(7.0)),
        ("SELECT 0.25e0", Some(0.25)),
        ("SELECT '42'", Some(42.0)),
        ("SELECT 'forty-two'", None),
        ("SELECT NULL", None),
    ];
    for (query, value) in table {
        let outcome = run(&mysql(query)).await;
        assert_eq!(outcome.state, State::Ok, "{query}: {outcome:?}");
        assert_eq!(perf(&outcome, "value"), value, "{query}: {outcome:?}");
    }

    let query = "SELECT count(*) FROM information_schema.PROCESSLIST";
    for (warning, critical, state) in [("1000", "2000", State::Ok), ("0", "0", State::Critical)] {
        let mut check = mysql(query);
        check.thresholds = Thresholds::parse(warning, critical).expect("thresholds");
        let outcome = run(&check).await;
        assert_eq!(outcome.state, state, "{outcome:?}");
        assert!(
            perf(&outcome, "value").is_some_and(|n| n >= 1.0),
            "{outcome:?}"
        );
    }
    let mut check = mysql("SELECT 'forty-two'");
    check.thresholds = Thresholds::parse("10", "20").expect("thresholds");
    assert_eq!(run(&check).await.state, State::Unknown);
    assert_eq!(
        run(&mysql("SELECT 1 FROM DUAL WHERE false")).await.summary,
        "MySQL UNKNOWN - the query returned no row"
    );
}

#[tokio::test]
async fn mysql_errors() {
    mysql_user().await;
    let outcome = run(&mysql("SELECT * FROM no_such_table")).await;
    assert_eq!(outcome.state, State::Unknown, "{outcome:?}");
    assert_eq!(
        outcome.summary,
        "MySQL UNKNOWN - query failed: Unknown table 'no_such_table' in information_schema"
    );
    // DDL commits the transaction it runs in; the read-only session still refuses it.
    let outcome = run(&mysql("CREATE DATABASE pupitre_probe_write")).await;
    assert_eq!(outcome.state, State::Unknown, "{outcome:?}");
    assert_eq!(
        outcome.summary,
        "MySQL UNKNOWN - query failed: Cannot execute statement in a READ ONLY transaction"
    );
    let exists = run(&mysql(
        "SELECT count(*) FROM SCHEMATA WHERE SCHEMA_NAME = 'pupitre_probe_write'",
    ))
    .await;
    assert_eq!(perf(&exists, "value"), Some(0.0), "{exists:?}");

    let mut unknown_database = mysql("SELECT 1");
    unknown_database.database = "pupitre_no_such_database".to_owned();
    let mut unknown_user = mysql("SELECT 1");
    unknown_user.user = "pupitre_no_such_user".to_owned();
    unknown_user.password = Secret::new("hunter2");
    let mut forbidden_database = mysql("SELECT 1");
    forbidden_database.database = "mysql".to_owned();
    let table = [
        (
            forbidden_database,
            "MySQL CRITICAL - MySQL user pupitre_probe may not use database mysql",
        ),
        (
            unknown_database,
            "MySQL CRITICAL - MySQL database pupitre_no_such_database does not exist",
        ),
        (
            unknown_user,
            "MySQL CRITICAL - MySQL authentication failed for user pupitre_no_such_user",
        ),
    ];
    for (check, start) in table {
        let outcome = run(&check).await;
        assert_eq!(outcome.state, State::Critical, "{outcome:?}");
        assert!(outcome.summary.starts_with(start), "{outcome:?}");
    }

    let mut slow = mysql("SELECT SLEEP(5)");
    slow.timeout = Duration::from_secs(1);
    let started = Instant::now();
    let outcome = run(&slow).await;
    assert_eq!(outcome.state, State::Critical, "{outcome:?}");
    assert!(
        outcome.summary.contains("timed out after 1 s"),
        "{outcome:?}"
    );
    assert!(started.elapsed() < Duration::from_millis(1800));
}

#[test]
fn definitions() {
    assert_eq!(postgres().validate(), Ok(()));
    let mut table: Vec<(DatabaseCheck, &str)> = Vec::new();
    let mut check = postgres();
    check.host = String::new();
    table.push((check, "host"));
    let mut check = postgres();
    check.host = "db 1".to_owned();
    table.push((check, "host"));
    let mut check = postgres();
    check.port = 0;
    table.push((check, "port"));
    let mut check = postgres();
    check.database = String::new();
    table.push((check, "database"));
    let mut check = postgres();
    check.user = String::new();
    table.push((check, "user"));
    table.push((with_query("  "), "query"));
    let mut check = postgres();
    check.timeout = Duration::from_secs(301);
    table.push((check, "timeout"));
    let mut check = postgres();
    check.label = String::new();
    table.push((check, "label"));
    for (check, field) in table {
        let error: DatabaseCheckError = check.validate().expect_err(field);
        assert_eq!(error.field(), field);
        assert!(
            error.to_string().starts_with(&format!("{field}: ")),
            "{error}"
        );
    }
}

#[test]
fn the_password_never_shows() {
    let mut check = postgres();
    check.password = Secret::new("hunter2");
    let shown = format!("{check:?} {check:#?}");
    assert!(!shown.contains("hunter2"), "{shown}");
}
