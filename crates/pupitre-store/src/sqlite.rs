//! The embedded SQLite backend: WAL mode, a pool of read-only readers and a single writer,
//! so that concurrent requests never see "database is locked".

use std::path::Path;
use std::time::Duration;

use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use crate::migrate::Migration;

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        description: "foundation",
        sql: include_str!("../migrations/sqlite/0001_foundation.sql"),
    },
    Migration {
        version: 2,
        description: "inventory",
        sql: include_str!("../migrations/sqlite/0002_inventory.sql"),
    },
    Migration {
        version: 3,
        description: "inventory quarantine index",
        sql: include_str!("../migrations/sqlite/0003_inventory_quarantine_index.sql"),
    },
    Migration {
        version: 4,
        description: "inventory type and status index",
        sql: include_str!("../migrations/sqlite/0004_inventory_type_status_index.sql"),
    },
    Migration {
        version: 5,
        description: "monitoring",
        sql: include_str!("../migrations/sqlite/0005_monitoring.sql"),
    },
    Migration {
        version: 6,
        description: "credentials, downtime time zones",
        sql: include_str!("../migrations/sqlite/0006_credentials_downtime_zones.sql"),
    },
    Migration {
        version: 7,
        description: "metric history",
        sql: include_str!("../migrations/sqlite/0007_metric_history.sql"),
    },
    Migration {
        version: 8,
        description: "metric BLOBs in rowid tables",
        sql: include_str!("../migrations/sqlite/0008_metric_blobs_in_rowid_tables.sql"),
    },
    Migration {
        version: 9,
        description: "agents",
        sql: include_str!("../migrations/sqlite/0009_agents.sql"),
    },
    Migration {
        version: 10,
        description: "alerts and incidents",
        sql: include_str!("../migrations/sqlite/0010_incidents.sql"),
    },
    Migration {
        version: 11,
        description: "paging",
        sql: include_str!("../migrations/sqlite/0011_paging.sql"),
    },
    Migration {
        version: 12,
        description: "maintenance windows",
        sql: include_str!("../migrations/sqlite/0012_maintenance.sql"),
    },
    Migration {
        version: 13,
        description: "silences",
        sql: include_str!("../migrations/sqlite/0013_silences.sql"),
    },
    Migration {
        version: 14,
        description: "post-incident reviews",
        sql: include_str!("../migrations/sqlite/0014_reviews.sql"),
    },
    Migration {
        version: 15,
        description: "shift log",
        sql: include_str!("../migrations/sqlite/0015_shift_log.sql"),
    },
    Migration {
        version: 16,
        description: "notification channels",
        sql: include_str!("../migrations/sqlite/0016_notification_channels.sql"),
    },
    Migration {
        version: 17,
        description: "runbooks",
        sql: include_str!("../migrations/sqlite/0017_runbooks.sql"),
    },
    Migration {
        version: 18,
        description: "automatic action once",
        sql: include_str!("../migrations/sqlite/0018_automatic_action_once.sql"),
    },
];

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

    async fn optimize(&self) -> crate::Result<()> {
        // Bounded sampling, and only the tables whose statistics are missing or stale.
        sqlx::raw_sql("PRAGMA analysis_limit = 1000; PRAGMA optimize = 0x10002;")
            .execute(&self.write)
            .await?;
        Ok(())
    }

    async fn integrity_problems(&self) -> crate::Result<Vec<String>> {
        use sqlx::Row;
        let rows = sqlx::query("PRAGMA integrity_check")
            .fetch_all(&self.write)
            .await?;
        let mut problems = Vec::new();
        for row in &rows {
            let text: String = row.try_get(0)?;
            if text != "ok" {
                problems.push(text);
            }
        }
        Ok(problems)
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

impl SqliteStore {
    /// A page of users comes back as one JSON array built inside SQLite: sqlx hands each row
    /// from the connection's thread to the caller separately, and that hand-off, not SQLite,
    /// dominated the cost of a 50-row page (see BENCHMARKS.md).
    const USER_PAGE_HEAD: &'static str = concat!(
        "SELECT json_group_array(json_array(",
        user_cols!(),
        ") ORDER BY id) AS page FROM (SELECT ",
        user_cols!(),
        " FROM users WHERE "
    );
    const USER_PAGE_TAIL: &'static str = ")";
    const ASSET_PAGE_HEAD: &'static str =
        asset_page_head!("json_array", "json_group_array", "json", "", "");

    fn user_page(
        rows: &[sqlx::sqlite::SqliteRow],
    ) -> crate::Result<Vec<pupitre_core::model::User>> {
        use sqlx::Row;
        let Some(row) = rows.first() else {
            return Ok(Vec::new());
        };
        let text: String = row.try_get("page")?;
        let bad = |what: &str| crate::StoreError::Rejected(format!("page of users: {what}"));
        let list: Vec<Vec<serde_json::Value>> =
            serde_json::from_str(&text).map_err(|e| bad(&e.to_string()))?;
        list.into_iter()
            .map(|v| {
                let int = |i: usize| {
                    v.get(i)
                        .and_then(serde_json::Value::as_i64)
                        .ok_or_else(|| bad("integer expected"))
                };
                let text = |i: usize| {
                    v.get(i)
                        .and_then(serde_json::Value::as_str)
                        .map(str::to_owned)
                        .ok_or_else(|| bad("text expected"))
                };
                Ok(pupitre_core::model::User {
                    id: int(0)?,
                    login: text(1)?,
                    display_name: text(2)?,
                    email: text(3)?,
                    phone: text(4)?,
                    language: text(5)?,
                    time_zone: text(6)?,
                    active: int(7)? != 0,
                    entity_id: int(8)?,
                    must_change_password: int(9)? != 0,
                    notify_email: int(10)? != 0,
                    notify_sms: int(11)? != 0,
                    created_at: int(12)?,
                    updated_at: int(13)?,
                    last_login_at: v.get(14).and_then(serde_json::Value::as_i64),
                })
            })
            .collect()
    }
}

impl_store!(SqliteStore, sqlx::Sqlite);
impl_inventory_store!(SqliteStore, sqlx::Sqlite);
impl_monitoring_store!(SqliteStore, sqlx::Sqlite);
impl_credential_store!(SqliteStore, sqlx::Sqlite);
impl_agent_store!(SqliteStore, sqlx::Sqlite);
impl_incident_store!(SqliteStore, sqlx::Sqlite);
impl_notify_store!(SqliteStore, sqlx::Sqlite);
impl_runbook_store!(SqliteStore, sqlx::Sqlite);
impl_metric_store!(
    SqliteStore,
    sqlx::Sqlite,
    Some(("PRAGMA synchronous = FULL", "PRAGMA synchronous = NORMAL"))
);
