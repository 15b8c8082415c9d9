//! The PostgreSQL backend, for several servers sharing the load. Migrations run under an
//! advisory lock so that servers starting together apply them once.

use std::str::FromStr;
use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::migrate::Migration;

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        description: "foundation",
        sql: include_str!("../migrations/postgres/0001_foundation.sql"),
    },
    Migration {
        version: 2,
        description: "inventory",
        sql: include_str!("../migrations/postgres/0002_inventory.sql"),
    },
    Migration {
        version: 3,
        description: "inventory quarantine index",
        sql: include_str!("../migrations/postgres/0003_inventory_quarantine_index.sql"),
    },
    Migration {
        version: 4,
        description: "inventory type and status index",
        sql: include_str!("../migrations/postgres/0004_inventory_type_status_index.sql"),
    },
    Migration {
        version: 5,
        description: "monitoring",
        sql: include_str!("../migrations/postgres/0005_monitoring.sql"),
    },
    Migration {
        version: 6,
        description: "credentials, downtime time zones",
        sql: include_str!("../migrations/postgres/0006_credentials_downtime_zones.sql"),
    },
    Migration {
        version: 7,
        description: "metric history",
        sql: include_str!("../migrations/postgres/0007_metric_history.sql"),
    },
    Migration {
        version: 8,
        description: "metric BLOBs in rowid tables",
        sql: include_str!("../migrations/postgres/0008_metric_blobs_in_rowid_tables.sql"),
    },
    Migration {
        version: 9,
        description: "agents",
        sql: include_str!("../migrations/postgres/0009_agents.sql"),
    },
    Migration {
        version: 10,
        description: "alerts and incidents",
        sql: include_str!("../migrations/postgres/0010_incidents.sql"),
    },
    Migration {
        version: 11,
        description: "paging",
        sql: include_str!("../migrations/postgres/0011_paging.sql"),
    },
    Migration {
        version: 12,
        description: "maintenance windows",
        sql: include_str!("../migrations/postgres/0012_maintenance.sql"),
    },
    Migration {
        version: 13,
        description: "silences",
        sql: include_str!("../migrations/postgres/0013_silences.sql"),
    },
    Migration {
        version: 14,
        description: "post-incident reviews",
        sql: include_str!("../migrations/postgres/0014_reviews.sql"),
    },
    Migration {
        version: 15,
        description: "shift log",
        sql: include_str!("../migrations/postgres/0015_shift_log.sql"),
    },
    Migration {
        version: 16,
        description: "notification channels",
        sql: include_str!("../migrations/postgres/0016_notification_channels.sql"),
    },
    Migration {
        version: 17,
        description: "runbooks",
        sql: include_str!("../migrations/postgres/0017_runbooks.sql"),
    },
    Migration {
        version: 18,
        description: "automatic action once",
        sql: include_str!("../migrations/postgres/0018_automatic_action_once.sql"),
    },
];

/// An arbitrary constant naming Pupitre's migration lock.
const MIGRATION_LOCK: i64 = 0x0070_7570_6974_7265;

pub struct PgStore {
    read: PgPool,
    write: PgPool,
}

impl PgStore {
    pub async fn connect(url: &str) -> crate::Result<PgStore> {
        let options =
            PgConnectOptions::from_str(url).map_err(|e| crate::StoreError::Url(e.to_string()))?;
        PgStore::connect_with(options).await
    }

    /// Connects with explicit options (tests use this to pin a `search_path`).
    pub async fn connect_with(options: PgConnectOptions) -> crate::Result<PgStore> {
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        Ok(PgStore {
            read: pool.clone(),
            write: pool,
        })
    }
}

#[async_trait::async_trait]
impl crate::Store for PgStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    async fn migrate(&self) -> crate::Result<usize> {
        let mut conn = self.write.acquire().await?;
        sqlx::query("SELECT pg_advisory_lock($1)")
            .bind(MIGRATION_LOCK)
            .execute(&mut *conn)
            .await?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let result = apply_migrations(&mut conn, MIGRATIONS, now).await;
        sqlx::query("SELECT pg_advisory_unlock($1)")
            .bind(MIGRATION_LOCK)
            .execute(&mut *conn)
            .await?;
        result
    }

    async fn ready(&self) -> crate::Result<bool> {
        migrations_current(&self.read, MIGRATIONS).await
    }

    fn pool_stats(&self) -> (u32, u32) {
        (self.write.size(), self.write.num_idle() as u32)
    }

    async fn optimize(&self) -> crate::Result<()> {
        // Autovacuum keeps PostgreSQL's statistics current.
        Ok(())
    }

    async fn integrity_problems(&self) -> crate::Result<Vec<String>> {
        sqlx::query("SELECT 1").execute(&self.read).await?;
        Ok(Vec::new())
    }

    async fn close(&self) {
        self.write.close().await;
    }
}

impl PgStore {
    /// A page of users is read one row per user.
    const USER_PAGE_HEAD: &'static str = concat!("SELECT ", user_cols!(), " FROM users WHERE ");
    const USER_PAGE_TAIL: &'static str = "";
    /// Assets come as one JSON document, the shape SQLite builds (see `asset_page`).
    const ASSET_PAGE_HEAD: &'static str =
        asset_page_head!("json_build_array", "json_agg", "", "(", ")::text");

    fn user_page(rows: &[sqlx::postgres::PgRow]) -> crate::Result<Vec<pupitre_core::model::User>> {
        user_rows(rows)
    }
}

impl_store!(PgStore, sqlx::Postgres);
impl_inventory_store!(PgStore, sqlx::Postgres);
impl_monitoring_store!(PgStore, sqlx::Postgres);
impl_credential_store!(PgStore, sqlx::Postgres);
impl_agent_store!(PgStore, sqlx::Postgres);
impl_incident_store!(PgStore, sqlx::Postgres);
impl_notify_store!(PgStore, sqlx::Postgres);
impl_runbook_store!(PgStore, sqlx::Postgres);
impl_metric_store!(PgStore, sqlx::Postgres, None);
