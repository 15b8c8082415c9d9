//! The embedded SQLite backend: WAL mode, a pool of read-only readers and a single writer,
//! so that concurrent requests never see "database is locked".

use std::path::Path;
use std::time::Duration;

use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use crate::migrate::Migration;

const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    description: "foundation",
    sql: include_str!("../migrations/sqlite/0001_foundation.sql"),
}];

pub struct SqliteStore {
    read: SqlitePool,
    write: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file at `path`.
    pub async fn open(path: &Path) -> crate::Result<SqliteStore> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true)
            .pragma("temp_store", "memory");
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await?;
        let readers = std::thread::available_parallelism()
            .map_or(4, |n| n.get() as u32 * 2)
            .max(4);
        let read = SqlitePoolOptions::new()
            .max_connections(readers)
            .connect_with(options.read_only(true))
            .await?;
        Ok(SqliteStore { read, write })
    }
}

#[async_trait::async_trait]
impl crate::Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn migrate(&self) -> crate::Result<usize> {
        let mut conn = self.write.acquire().await?;
        let now = now_ms();
        apply_migrations(&mut conn, MIGRATIONS, now).await
    }

    async fn ready(&self) -> crate::Result<bool> {
        migrations_current(&self.read, MIGRATIONS).await
    }

    fn pool_stats(&self) -> (u32, u32) {
        (
            self.read.size() + self.write.size(),
            (self.read.num_idle() + self.write.num_idle()) as u32,
        )
    }

    async fn close(&self) {
        self.read.close().await;
        self.write.close().await;
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl_store!(SqliteStore, sqlx::Sqlite);
