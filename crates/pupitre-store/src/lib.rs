//! Pupitre's storage: one narrow trait per domain, implemented for SQLite and PostgreSQL.
//!
//! Only this crate knows SQL. Each backend has its own embedded, append-only migrations
//! (`migrations/<backend>/NNNN_name.sql`); the queries they share are written once in
//! [`shared`] and instantiated for each backend, and backend-specific code (connection
//! set-up, locking) lives in [`sqlite`] and [`postgres`].

use std::sync::Arc;

use async_trait::async_trait;
use pupitre_core::audit::{Actor, AuditEvent, AuditRecord};
use pupitre_core::model::{
    ApiToken, Assignment, Entity, EntityInput, Profile, ProfileInput, Session, Team, TeamInput,
    User, UserInput, UserTemplate, UserTemplateInput,
};
use pupitre_core::permission::{EntityId, Levels};

pub use crate::agents::AgentStore;
pub use crate::credentials::CredentialStore;
pub use crate::incidents::IncidentStore;
pub use crate::inventory::{AssetFilter, AssetKeys, Installation, InventoryStore, InventoryUpdate};
pub use crate::metrics::MetricStore;
pub use crate::monitoring::MonitoringStore;
pub use crate::notify::NotifyStore;
pub use crate::runbooks::RunbookStore;

pub mod agents;
pub mod credentials;
pub mod incidents;
pub mod inventory;
pub mod metrics;
mod migrate;
pub mod monitoring;
pub mod notify;
pub mod runbooks;
#[macro_use]
mod shared;
#[macro_use]
mod shared_inventory;
#[macro_use]
mod asset_page;
#[macro_use]
mod shared_monitoring;
#[macro_use]
mod shared_credentials;
#[macro_use]
mod shared_metrics;
#[macro_use]
mod shared_agents;
#[macro_use]
mod shared_incidents;
#[macro_use]
mod shared_notify;
#[macro_use]
mod shared_runbooks;
pub mod postgres;
mod sql;
pub mod sqlite;
pub mod testing;
pub mod vault;
pub mod zones;

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// A uniqueness rule was broken; `field` names the input field at fault.
    #[error("{field}: {message}")]
    Conflict { field: String, message: String },
    /// A business rule forbids the change (an entity that still has children, a built-in profile).
    #[error("{0}")]
    Rejected(String),
    #[error("migration {version} was changed after it was applied; migrations are append-only")]
    MigrationChanged { version: i64 },
    #[error("the database schema is at version {found}, newer than this binary ({known})")]
    SchemaTooNew { found: i64, known: i64 },
    #[error("database URL: {0}")]
    Url(String),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// A stored key that this binary does not know: the database was written by something else.
pub(crate) fn stored<T>(what: &str, value: &str, parsed: Option<T>) -> Result<T> {
    parsed.ok_or_else(|| StoreError::Rejected(format!("stored {what} {value:?} is unknown")))
}

/// A page of a keyset-paginated list: items with an id greater than `after`, at most `limit`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Page {
    pub after: Option<i64>,
    pub limit: i64,
}

#[derive(Clone, Debug, Default)]
pub struct UserFilter {
    /// Only users whose entity is in this list (the caller's visible entities).
    pub visible: Vec<EntityId>,
    pub entity_id: Option<EntityId>,
    /// Case-insensitive substring of login, display name or e-mail.
    pub query: Option<String>,
    pub active: Option<bool>,
    pub team_id: Option<i64>,
}

#[derive(Clone, Debug, Default)]
pub struct AuditFilter {
    /// Records about objects in these entities, plus records with no entity when `global`.
    pub visible: Vec<EntityId>,
    pub global: bool,
    pub action: Option<String>,
    pub object_type: Option<String>,
    pub object_id: Option<i64>,
    pub actor: Option<String>,
    pub since: Option<i64>,
    pub until: Option<i64>,
}

/// A user to create, with everything that makes the account usable in one transaction.
#[derive(Clone)]
pub struct NewUser {
    pub input: UserInput,
    /// `None` leaves the account without a password until one is set.
    pub password_hash: Option<String>,
    pub must_change_password: bool,
    pub assignments: Vec<Assignment>,
    pub teams: Vec<i64>,
}

/// A new password and what else changes with it, in one transaction.
pub struct PasswordChange {
    pub password_hash: String,
    pub must_change: bool,
    /// The session (hash) that stays logged in; every other session of the account ends.
    pub keep_session: Option<String>,
    /// Revoke the account's API tokens too (an administrator's reset after a compromise).
    pub revoke_tokens: bool,
}

impl std::fmt::Debug for PasswordChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordChange")
            .field("must_change", &self.must_change)
            .field("revoke_tokens", &self.revoke_tokens)
            .finish_non_exhaustive()
    }
}

/// The credentials stored for a login.
#[derive(Clone)]
pub struct Credentials {
    pub user: User,
    pub password_hash: Option<String>,
}

#[derive(Clone)]
pub struct NewToken {
    pub user_id: i64,
    pub name: String,
    pub prefix: String,
    pub token_hash: String,
    pub levels: Levels,
    pub expires_at: i64,
}

impl std::fmt::Debug for NewUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewUser")
            .field("input", &self.input)
            .field("assignments", &self.assignments)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for NewToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewToken")
            .field("user_id", &self.user_id)
            .field("name", &self.name)
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

#[async_trait]
pub trait EntityStore: Send + Sync {
    async fn list_entities(&self) -> Result<Vec<Entity>>;
    async fn get_entity(&self, id: EntityId) -> Result<Entity>;
    async fn create_entity(&self, actor: &Actor, input: &EntityInput) -> Result<Entity>;
    async fn update_entity(
        &self,
        actor: &Actor,
        id: EntityId,
        input: &EntityInput,
    ) -> Result<Entity>;
    async fn delete_entity(&self, actor: &Actor, id: EntityId) -> Result<()>;
}

#[async_trait]
pub trait ProfileStore: Send + Sync {
    async fn list_profiles(&self) -> Result<Vec<Profile>>;
    async fn get_profile(&self, id: i64) -> Result<Profile>;
    async fn create_profile(&self, actor: &Actor, input: &ProfileInput) -> Result<Profile>;
    async fn update_profile(&self, actor: &Actor, id: i64, input: &ProfileInput)
    -> Result<Profile>;
    async fn delete_profile(&self, actor: &Actor, id: i64) -> Result<()>;
    /// Where the profile is in use: (entity, recursive) of every assignment and account
    /// template that names it.
    async fn profile_uses(&self, id: i64) -> Result<Vec<(EntityId, bool)>>;
    /// Creates missing built-in profiles and brings existing ones to the binary's definition.
    async fn sync_builtin_profiles(&self, now: i64) -> Result<()>;
}

#[async_trait]
pub trait UserStore: Send + Sync {
    async fn list_users(&self, filter: &UserFilter, page: Page) -> Result<Vec<User>>;
    async fn count_users(&self) -> Result<i64>;
    async fn get_user(&self, id: i64) -> Result<User>;
    async fn find_credentials(&self, login: &str) -> Result<Option<Credentials>>;
    async fn create_users(&self, actor: &Actor, users: &[NewUser]) -> Result<Vec<User>>;
    async fn update_user(&self, actor: &Actor, id: i64, input: &UserInput) -> Result<User>;
    async fn delete_user(&self, actor: &Actor, id: i64) -> Result<()>;
    /// Sets the password hash, ends sessions (all but `keep_session`), optionally revokes the
    /// account's API tokens, and records it all in one audit record.
    async fn set_password(&self, actor: &Actor, id: i64, change: &PasswordChange) -> Result<()>;
    /// Stamps a successful login and records `event`, in one transaction.
    async fn record_login(&self, actor: &Actor, id: i64, event: &AuditEvent) -> Result<()>;
    async fn list_assignments(&self, user_id: i64) -> Result<Vec<Assignment>>;
    async fn set_assignments(
        &self,
        actor: &Actor,
        user_id: i64,
        assignments: &[Assignment],
    ) -> Result<()>;
    /// The user's assignments, each with its profile's levels: the input of permission checks.
    async fn user_grants(&self, user_id: i64) -> Result<Vec<(Assignment, Levels)>>;
}

#[async_trait]
pub trait TeamStore: Send + Sync {
    async fn list_teams(&self, visible: &[EntityId]) -> Result<Vec<Team>>;
    async fn get_team(&self, id: i64) -> Result<Team>;
    async fn create_team(&self, actor: &Actor, input: &TeamInput) -> Result<Team>;
    async fn update_team(&self, actor: &Actor, id: i64, input: &TeamInput) -> Result<Team>;
    async fn delete_team(&self, actor: &Actor, id: i64) -> Result<()>;
}

#[async_trait]
pub trait UserTemplateStore: Send + Sync {
    async fn list_user_templates(&self, visible: &[EntityId]) -> Result<Vec<UserTemplate>>;
    async fn get_user_template(&self, id: i64) -> Result<UserTemplate>;
    async fn create_user_template(
        &self,
        actor: &Actor,
        input: &UserTemplateInput,
    ) -> Result<UserTemplate>;
    async fn update_user_template(
        &self,
        actor: &Actor,
        id: i64,
        input: &UserTemplateInput,
    ) -> Result<UserTemplate>;
    async fn delete_user_template(&self, actor: &Actor, id: i64) -> Result<()>;
}

#[async_trait]
pub trait SessionStore: Send + Sync {
    async fn create_session(
        &self,
        token_hash: &str,
        session: &Session,
        source: &str,
        user_agent: &str,
    ) -> Result<()>;
    /// The session and its user in one query: the hot path of every browser request.
    async fn session_user(&self, token_hash: &str) -> Result<Option<(Session, User)>>;
    async fn touch_session(&self, token_hash: &str, now: i64, expires_at: i64) -> Result<()>;
    async fn delete_session(&self, token_hash: &str) -> Result<()>;
    /// Ends one session of `user_id` (by hash) or all of them, and records `event` with a
    /// `sessions_ended` change, in one transaction. Returns how many ended.
    async fn end_sessions(
        &self,
        actor: &Actor,
        user_id: i64,
        only: Option<&str>,
        event: &AuditEvent,
    ) -> Result<u64>;
    async fn purge_expired_sessions(&self, now: i64) -> Result<u64>;
}

#[async_trait]
pub trait TokenStore: Send + Sync {
    async fn create_token(&self, actor: &Actor, token: &NewToken) -> Result<ApiToken>;
    async fn list_tokens(&self, user_id: i64) -> Result<Vec<ApiToken>>;
    /// The token and its owner in one query: the hot path of every API request.
    async fn token_user(&self, token_hash: &str) -> Result<Option<(ApiToken, User)>>;
    async fn touch_token(&self, id: i64, now: i64) -> Result<()>;
    async fn revoke_token(&self, actor: &Actor, user_id: i64, id: i64) -> Result<()>;
}

#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Records a sensitive action that changes no stored object (a login, a failed login).
    async fn record_event(&self, actor: &Actor, event: &AuditEvent) -> Result<()>;
    async fn list_audit(&self, filter: &AuditFilter, page: Page) -> Result<Vec<AuditRecord>>;
    /// How many `action` records carry `label` (or, with `by_source`, come from that
    /// address) since `since`: the input of login throttling.
    async fn count_recent(
        &self,
        action: &str,
        key: &str,
        by_source: bool,
        since: i64,
    ) -> Result<i64>;
}

/// Everything the server needs from its database.
#[async_trait]
pub trait Store:
    EntityStore
    + ProfileStore
    + UserStore
    + TeamStore
    + UserTemplateStore
    + SessionStore
    + TokenStore
    + AuditStore
    + InventoryStore
    + MonitoringStore
    + CredentialStore
    + MetricStore
    + AgentStore
    + IncidentStore
    + NotifyStore
    + RunbookStore
{
    /// `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;
    /// Applies pending migrations; returns how many were applied.
    async fn migrate(&self) -> Result<usize>;
    /// True when the database answers and every embedded migration is applied.
    async fn ready(&self) -> Result<bool>;
    /// Pool statistics for `/metrics`: (open connections, idle connections).
    fn pool_stats(&self) -> (u32, u32);
    /// Refreshes the planner's statistics where the database does not do it itself
    /// (SQLite), so that filtered lists pick their best index as the data grows.
    async fn optimize(&self) -> Result<()>;
    /// The database's own consistency check: SQLite's `integrity_check` (its problems, none
    /// when sound); PostgreSQL checks itself and answers none.
    async fn integrity_problems(&self) -> Result<Vec<String>>;
    async fn close(&self);
}

/// Opens the database named by `url`: `sqlite://path` (or a plain path) or `postgres://…`.
/// Does not migrate.
pub async fn open(url: &str) -> Result<Arc<dyn Store>> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(postgres::PgStore::connect(url).await?))
    } else {
        let path = url.strip_prefix("sqlite://").unwrap_or(url);
        let path = path.strip_prefix("sqlite:").unwrap_or(path);
        Ok(Arc::new(sqlite::SqliteStore::open(path.as_ref()).await?))
    }
}
