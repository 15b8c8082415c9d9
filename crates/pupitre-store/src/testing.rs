//! Throw-away databases for tests: an SQLite file in a temporary directory, or a fresh
//! PostgreSQL schema on the server named by `PUPITRE_TEST_DATABASE_URL`, dropped afterwards.

use std::sync::Arc;

use rand::Rng;
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection};

use crate::Store;

/// The environment variable naming the PostgreSQL server tests use.
pub const PG_URL_VAR: &str = "PUPITRE_TEST_DATABASE_URL";

/// A migrated store that disappears when dropped.
pub struct TestDb {
    pub store: Arc<dyn Store>,
    /// The SQLite file's directory, kept alive for the test's duration.
    dir: Option<std::path::PathBuf>,
    pg: Option<(String, String)>,
}

impl TestDb {
    pub async fn sqlite() -> TestDb {
        let dir = std::env::temp_dir().join(format!("pupitre-test-{}", random_name()));
        std::fs::create_dir_all(&dir).expect("create a temporary directory");
        let store = crate::sqlite::SqliteStore::open(&dir.join("pupitre.db"))
            .await
            .expect("open SQLite");
        let store: Arc<dyn Store> = Arc::new(store);
        store.migrate().await.expect("migrate SQLite");
        TestDb {
            store,
            dir: Some(dir),
            pg: None,
        }
    }

    /// A fresh schema on the test PostgreSQL server. Panics with the fix when the server
    /// is not configured: tests never skip silently.
    pub async fn postgres() -> TestDb {
        let url = std::env::var(PG_URL_VAR).unwrap_or_else(|_| {
            panic!("{PG_URL_VAR} is not set: point it at a PostgreSQL server, e.g. postgres://postgres@127.0.0.1:5432/test")
        });
        let schema = format!("t_{}", random_name());
        let base: PgConnectOptions = url.parse().expect("parse PUPITRE_TEST_DATABASE_URL");
        let mut admin = base
            .connect()
            .await
            .expect("connect to the test PostgreSQL server");
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
            .execute(&mut admin)
            .await
            .expect("create the test schema");
        admin.close().await.ok();
        let options = base
            .clone()
            .options([("search_path", schema.as_str())])
            .application_name(&schema);
        let store = crate::postgres::PgStore::connect_with(options)
            .await
            .expect("connect");
        let store: Arc<dyn Store> = Arc::new(store);
        store.migrate().await.expect("migrate PostgreSQL");
        TestDb {
            store,
            dir: None,
            pg: Some((url, schema)),
        }
    }

    /// Runs `sql` on a separate connection, bypassing the store (to prove what the
    /// database itself refuses).
    pub async fn execute_raw(&self, sql: &str) -> Result<(), sqlx::Error> {
        let sql = sqlx::AssertSqlSafe(sql.to_owned());
        if let Some(dir) = &self.dir {
            let mut c = sqlx::sqlite::SqliteConnectOptions::new()
                .filename(dir.join("pupitre.db"))
                .connect()
                .await?;
            sqlx::raw_sql(sql).execute(&mut c).await?;
        } else if let Some((url, schema)) = &self.pg {
            let mut c = url
                .parse::<PgConnectOptions>()?
                .options([("search_path", schema.as_str())])
                .connect()
                .await?;
            sqlx::raw_sql(sql).execute(&mut c).await?;
        }
        Ok(())
    }

    /// The URL a separate process (the `pupitre` binary) can use to reach this database.
    pub fn url(&self) -> String {
        match (&self.dir, &self.pg) {
            (Some(dir), _) => format!("sqlite://{}", dir.join("pupitre.db").display()),
            (_, Some((url, schema))) => {
                let sep = if url.contains('?') { '&' } else { '?' };
                format!("{url}{sep}options=-csearch_path%3D{schema}")
            }
            _ => unreachable!("a test database is SQLite or PostgreSQL"),
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(dir) = self.dir.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
        if let Some((url, schema)) = self.pg.take() {
            // Drop runs outside any runtime we may block: use a thread with its own.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
                rt.block_on(async {
                    let mut c = url.parse::<PgConnectOptions>().ok()?.connect().await.ok()?;
                    // The test's pool may still hold a transaction whose rollback was queued
                    // when it was dropped; end those sessions so DROP SCHEMA cannot wait on them.
                    sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1")
                        .bind(&schema)
                        .execute(&mut c)
                        .await
                        .ok()?;
                    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP SCHEMA IF EXISTS {schema} CASCADE")))
                        .execute(&mut c)
                        .await
                        .ok()
                })
            })
            .join();
        }
    }
}

fn random_name() -> String {
    let mut rng = rand::rng();
    (0..12)
        .map(|_| char::from(b'a' + rng.random_range(0..26u8)))
        .collect()
}

/// Declares a store conformance suite: each named `async fn(TestDb)` in the calling file
/// becomes one test on SQLite and one on PostgreSQL.
#[macro_export]
macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test] async fn $name() { super::$name($crate::testing::TestDb::sqlite().await).await })*
        }
        mod postgres {
            $(#[tokio::test] async fn $name() { super::$name($crate::testing::TestDb::postgres().await).await })*
        }
    };
}
