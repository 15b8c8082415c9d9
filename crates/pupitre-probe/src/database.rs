//! The native database probe: connect to PostgreSQL or MySQL/MariaDB, run one query in a
//! read-only transaction, and judge the first column of the first row, as `check_pgsql`,
//! `check_mysql_query` and `check_sql` do.
//!
//! One deadline, `timeout` after the run starts, bounds connecting and querying. The probe opens
//! a single connection (no pool) and closes it after the run. The query runs as a prepared
//! statement, so the server refuses more than one statement, inside `START TRANSACTION READ
//! ONLY` (and a read-only session), so a check can never write; the transaction is rolled
//! back. PostgreSQL is also asked (`statement_timeout`, the whole timeout) to stop the query;
//! on MySQL a timed-out query is left to finish on the server after the connection is dropped.
//!
//! | what happened                                              | state      |
//! |------------------------------------------------------------|------------|
//! | cannot connect (refused, authentication, unknown database) | CRITICAL   |
//! | the deadline passed                                        | CRITICAL   |
//! | the query failed (syntax, permissions, a write refused)    | UNKNOWN    |
//! | the query returned no row                                  | UNKNOWN    |
//! | thresholds set and the first value is not a number         | UNKNOWN    |
//! | otherwise                                                  | the thresholds on the first value (OK without) |
//!
//! Perfdata: `connect_time` and `query_time` in seconds, and `<label>=<value>` when the first
//! value is a number.

use std::time::Duration;

use pupitre_core::monitoring::State;
use pupitre_core::monitoring::perfdata::{PerfDatum, Uom};
use pupitre_core::monitoring::range::Thresholds;
use sqlx::mysql::{MySqlConnectOptions, MySqlConnection, MySqlDatabaseError, MySqlRow};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgRow, PgValueFormat};
use sqlx::{AssertSqlSafe, ConnectOptions, Connection, Executor, Row, TypeInfo, ValueRef};
use tokio::time::{Instant, timeout_at};

use crate::outcome::Outcome;
use crate::secret::Secret;

/// The longest timeout a database check may have.
pub const LONGEST_TIMEOUT: Duration = Duration::from_secs(300);

/// The shortest timeout a database check may have.
pub const SHORTEST_TIMEOUT: Duration = Duration::from_millis(1);

/// The query run when none is given.
pub const DEFAULT_QUERY: &str = "SELECT 1";

/// The longest first value shown in the summary.
const SHOWN_VALUE_LIMIT: usize = 200;

/// The database server a check talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Engine {
    Postgres,
    /// MySQL or MariaDB.
    MySql,
}

impl Engine {
    /// The name an operator reads in a summary.
    pub fn name(self) -> &'static str {
        match self {
            Engine::Postgres => "PostgreSQL",
            Engine::MySql => "MySQL",
        }
    }

    /// The port a server of this engine listens on by default.
    pub fn default_port(self) -> u16 {
        match self {
            Engine::Postgres => 5432,
            Engine::MySql => 3306,
        }
    }
}

/// A database check, as an operator defines it.
#[derive(Clone, Debug, PartialEq)]
pub struct DatabaseCheck {
    pub engine: Engine,
    /// A name or an IP address.
    pub host: String,
    pub port: u16,
    pub database: String,
    pub user: String,
    pub password: Secret,
    /// One statement; [`DEFAULT_QUERY`] when unset. Runs in a read-only transaction.
    pub query: Option<String>,
    /// Warning and critical ranges for the first column of the first row.
    pub thresholds: Thresholds,
    /// Bounds the whole run, connecting included.
    pub timeout: Duration,
    /// The perfdata label of the first value (`value` by default).
    pub label: String,
}

impl DatabaseCheck {
    /// A check of `database` on `host` as `user`, on the engine's default port, with an empty
    /// password, `SELECT 1`, no thresholds, a 10 s timeout and the label `value`.
    pub fn new(
        engine: Engine,
        host: impl Into<String>,
        database: impl Into<String>,
        user: impl Into<String>,
    ) -> DatabaseCheck {
        DatabaseCheck {
            engine,
            host: host.into(),
            port: engine.default_port(),
            database: database.into(),
            user: user.into(),
            password: Secret::new(""),
            query: None,
            thresholds: Thresholds::default(),
            timeout: Duration::from_secs(10),
            label: "value".to_owned(),
        }
    }

    /// Checks the definition when it is written, without IO.
    pub fn validate(&self) -> Result<(), DatabaseCheckError> {
        if self.host.is_empty() {
            return Err(DatabaseCheckError::HostEmpty);
        }
        if self.host.contains(char::is_whitespace) {
            return Err(DatabaseCheckError::HostWithSpace(self.host.clone()));
        }
        if self.port == 0 {
            return Err(DatabaseCheckError::PortZero);
        }
        if self.database.is_empty() {
            return Err(DatabaseCheckError::DatabaseEmpty);
        }
        if self.user.is_empty() {
            return Err(DatabaseCheckError::UserEmpty);
        }
        if self
            .query
            .as_deref()
            .is_some_and(|query| query.trim().is_empty())
        {
            return Err(DatabaseCheckError::QueryEmpty);
        }
        if !(SHORTEST_TIMEOUT..=LONGEST_TIMEOUT).contains(&self.timeout) {
            return Err(DatabaseCheckError::TimeoutOutOfRange(self.timeout));
        }
        if self.label.is_empty() {
            return Err(DatabaseCheckError::LabelEmpty);
        }
        Ok(())
    }

    /// The query that runs: the one given, or [`DEFAULT_QUERY`].
    pub fn query(&self) -> &str {
        self.query.as_deref().unwrap_or(DEFAULT_QUERY)
    }

    /// Runs the check once. Never panics and never fails: every problem is an [`Outcome`].
    pub async fn run(&self) -> Outcome {
        let deadline = Instant::now() + self.timeout;
        let started = Instant::now();
        let mut connection = match timeout_at(deadline, self.connect()).await {
            Ok(Ok(connection)) => connection,
            Ok(Err(error)) => return self.critical(self.connect_failure(&error)),
            Err(_) => return self.timed_out("connecting"),
        };
        let connect_time = started.elapsed().as_secs_f64();

        let started = Instant::now();
        let result = timeout_at(deadline, self.query_first_value(&mut connection)).await;
        let query_time = started.elapsed().as_secs_f64();
        let timed_out = result.is_err();
        let outcome = match result {
            Ok(Ok(value)) => self.judge(value, connect_time, query_time),
            Ok(Err(error)) => self.unknown(format!("query failed: {}", error_message(&error))),
            Err(_) => self.timed_out("running the query"),
        };
        // Closing politely is bounded too; a connection left mid-query is dropped instead.
        if !timed_out {
            let _ = timeout_at(deadline, connection.close()).await;
        }
        outcome
    }

    async fn connect(&self) -> Result<Link, sqlx::Error> {
        match self.engine {
            Engine::Postgres => self.connect_postgres().await.map(Link::Postgres),
            Engine::MySql => self.connect_mysql().await.map(Link::MySql),
        }
    }

    async fn connect_mysql(&self) -> Result<MySqlConnection, sqlx::Error> {
        let mut options = MySqlConnectOptions::new()
            .host(&self.host)
            .port(self.port)
            .username(&self.user)
            .database(&self.database)
            .statement_cache_capacity(0)
            .disable_statement_logging();
        // sqlx scrambles even an empty password, which an account without one refuses.
        if !self.password.expose().is_empty() {
            options = options.password(self.password.expose());
        }
        options.connect().await
    }

    async fn connect_postgres(&self) -> Result<PgConnection, sqlx::Error> {
        let timeout_ms = self.timeout.as_millis().max(1).to_string();
        let options = PgConnectOptions::new_without_pgpass()
            .host(&self.host)
            .port(self.port)
            .username(&self.user)
            .password(self.password.expose())
            .database(&self.database)
            .application_name("pupitre")
            .statement_cache_capacity(0)
            .options([
                ("statement_timeout", timeout_ms.as_str()),
                ("default_transaction_read_only", "on"),
            ])
            .disable_statement_logging();
        options.connect().await
    }

    /// Runs the query in a read-only transaction, rolled back, and returns the first value of
    /// the first row (`None` when there is no row).
    async fn query_first_value(
        &self,
        connection: &mut Link,
    ) -> Result<Option<FirstValue>, sqlx::Error> {
        match connection {
            Link::Postgres(connection) => self.query_postgres(connection).await,
            Link::MySql(connection) => self.query_mysql(connection).await,
        }
    }

    async fn query_mysql(
        &self,
        connection: &mut MySqlConnection,
    ) -> Result<Option<FirstValue>, sqlx::Error> {
        // DDL commits the transaction it runs in and would then run outside it: the session's
        // own transactions are read-only too, so MySQL refuses it.
        connection
            .execute("SET SESSION TRANSACTION READ ONLY")
            .await?;
        connection.execute("START TRANSACTION READ ONLY").await?;
        let row = sqlx::query(AssertSqlSafe(self.query().to_owned()))
            .persistent(false)
            .fetch_optional(&mut *connection)
            .await;
        let rollback = connection.execute("ROLLBACK").await;
        let row = row?;
        rollback?;
        Ok(row.map(|row| mysql_first_value(&row)))
    }

    async fn query_postgres(
        &self,
        connection: &mut PgConnection,
    ) -> Result<Option<FirstValue>, sqlx::Error> {
        connection
            .execute("START TRANSACTION READ ONLY ISOLATION LEVEL READ COMMITTED")
            .await?;
        let row = sqlx::query(AssertSqlSafe(self.query().to_owned()))
            .persistent(false)
            .fetch_optional(&mut *connection)
            .await;
        // Rolls back even after an error, so the connection closes cleanly.
        let rollback = connection.execute("ROLLBACK").await;
        let row = row?;
        rollback?;
        Ok(row.map(|row| postgres_first_value(&row)))
    }

    fn judge(&self, value: Option<FirstValue>, connect_time: f64, query_time: f64) -> Outcome {
        let times = [
            self.time_perfdatum("connect_time", connect_time),
            self.time_perfdatum("query_time", query_time),
        ];
        let with_times =
            |outcome: Outcome| times.iter().cloned().fold(outcome, Outcome::with_perfdatum);
        let has_thresholds =
            self.thresholds.warning.is_some() || self.thresholds.critical.is_some();
        let Some(value) = value else {
            return with_times(self.unknown("the query returned no row".to_owned()));
        };
        let shown = value.shown();
        let Some(number) = value.number() else {
            if has_thresholds {
                return with_times(
                    self.unknown(format!("the first value is not a number: {shown}")),
                );
            }
            return with_times(self.outcome(
                State::Ok,
                format!("query returned {shown} in {query_time:.3} s"),
            ));
        };
        let state = self.thresholds.evaluate(number);
        let outcome = self.outcome(
            state,
            format!("query returned {shown} in {query_time:.3} s"),
        );
        with_times(outcome).with_perfdatum(PerfDatum {
            label: self.label.clone(),
            value: Some(number),
            uom: Uom::Count,
            warning: self.thresholds.warning,
            critical: self.thresholds.critical,
            min: None,
            max: None,
        })
    }

    fn connect_failure(&self, error: &sqlx::Error) -> String {
        let engine = self.engine.name();
        if let sqlx::Error::Database(database) = error
            && let Some(mysql) = database.try_downcast_ref::<MySqlDatabaseError>()
        {
            match mysql.number() {
                // ER_ACCESS_DENIED_ERROR; ER_ACCESS_DENIED_NO_PASSWORD_ERROR, which MariaDB
                // sends for an unknown user
                1045 | 1698 => {
                    return format!(
                        "{engine} authentication failed for user {}: {}",
                        self.user,
                        mysql.message()
                    );
                }
                // ER_DBACCESS_DENIED_ERROR: also what a user with no rights on a database that
                // does not exist gets, as MySQL does not tell them it is missing.
                1044 => {
                    return format!(
                        "{engine} user {} may not use database {}: {}",
                        self.user,
                        self.database,
                        mysql.message()
                    );
                }
                // ER_BAD_DB_ERROR
                1049 => {
                    return format!(
                        "{engine} database {} does not exist: {}",
                        self.database,
                        mysql.message()
                    );
                }
                _ => {}
            }
        } else if let sqlx::Error::Database(database) = error {
            match database.code().as_deref() {
                // invalid_password, invalid_authorization_specification
                Some("28P01" | "28000") => {
                    return format!(
                        "{engine} authentication failed for user {}: {}",
                        self.user,
                        database.message()
                    );
                }
                // invalid_catalog_name
                Some("3D000") => {
                    return format!(
                        "{engine} database {} does not exist: {}",
                        self.database,
                        database.message()
                    );
                }
                _ => {}
            }
        }
        format!(
            "cannot connect to {engine} on {} port {}: {}",
            self.host,
            self.port,
            error_message(error)
        )
    }

    fn timed_out(&self, doing: &str) -> Outcome {
        self.critical(format!(
            "timed out after {} s {doing} on {} port {}",
            self.timeout.as_secs_f64(),
            self.host,
            self.port
        ))
    }

    fn unknown(&self, summary: String) -> Outcome {
        self.outcome(State::Unknown, summary)
    }

    fn critical(&self, summary: String) -> Outcome {
        self.outcome(State::Critical, summary)
    }

    fn outcome(&self, state: State, summary: String) -> Outcome {
        Outcome::new(
            state,
            format!("{} {state} - {}", self.engine.name(), one_line(&summary)),
        )
    }

    fn time_perfdatum(&self, label: &str, seconds: f64) -> PerfDatum {
        PerfDatum {
            label: label.to_owned(),
            value: Some(seconds),
            uom: Uom::Seconds,
            warning: None,
            critical: None,
            min: Some(0.0),
            max: Some(self.timeout.as_secs_f64()),
        }
    }
}

/// Why a [`DatabaseCheck`] is not acceptable. The message starts with the field at fault.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DatabaseCheckError {
    #[error("host: is empty")]
    HostEmpty,
    #[error("host: {0:?} contains a space")]
    HostWithSpace(String),
    #[error("port: must be 1 to 65535, not 0")]
    PortZero,
    #[error("database: is empty")]
    DatabaseEmpty,
    #[error("user: is empty")]
    UserEmpty,
    #[error("query: is empty (leave it unset to run SELECT 1)")]
    QueryEmpty,
    #[error("timeout: {0:?} is out of range (1 ms to 300 s)")]
    TimeoutOutOfRange(Duration),
    #[error("label: is empty")]
    LabelEmpty,
}

impl DatabaseCheckError {
    /// The field at fault, as named at the start of the message.
    pub fn field(&self) -> &'static str {
        match self {
            Self::HostEmpty | Self::HostWithSpace(_) => "host",
            Self::PortZero => "port",
            Self::DatabaseEmpty => "database",
            Self::UserEmpty => "user",
            Self::QueryEmpty => "query",
            Self::TimeoutOutOfRange(_) => "timeout",
            Self::LabelEmpty => "label",
        }
    }
}

/// One open connection, of either engine.
enum Link {
    Postgres(PgConnection),
    MySql(MySqlConnection),
}

impl Link {
    async fn close(self) -> Result<(), sqlx::Error> {
        match self {
            Link::Postgres(connection) => connection.close().await,
            Link::MySql(connection) => connection.close().await,
        }
    }
}

/// The first column of the first row, as far as the probe understands it.
#[derive(Clone, Debug, PartialEq)]
enum FirstValue {
    Null,
    Number(f64),
    Text(String),
    /// A type the probe does not read, by its name.
    Other(String),
}

impl FirstValue {
    /// The value as a number: a numeric column, or text that reads as one.
    fn number(&self) -> Option<f64> {
        match self {
            FirstValue::Number(number) => Some(*number),
            FirstValue::Text(text) => text.trim().parse::<f64>().ok().filter(|n| n.is_finite()),
            FirstValue::Null | FirstValue::Other(_) => None,
        }
    }

    fn shown(&self) -> String {
        match self {
            FirstValue::Null => "NULL".to_owned(),
            FirstValue::Number(number) => number.to_string(),
            FirstValue::Text(text) => {
                let mut text = one_line(text);
                if text.len() > SHOWN_VALUE_LIMIT {
                    let mut cut = SHOWN_VALUE_LIMIT;
                    while !text.is_char_boundary(cut) {
                        cut -= 1;
                    }
                    text.truncate(cut);
                    text.push('…');
                }
                format!("{text:?}")
            }
            FirstValue::Other(type_name) => format!("a value of type {type_name}"),
        }
    }
}

fn postgres_first_value(row: &PgRow) -> FirstValue {
    if row.is_empty() {
        return FirstValue::Other("(no column)".to_owned());
    }
    let Ok(raw) = row.try_get_raw(0) else {
        return FirstValue::Other("(unreadable)".to_owned());
    };
    if raw.is_null() {
        return FirstValue::Null;
    }
    let type_name = raw.type_info().name().to_owned();
    let number = |value: Result<f64, sqlx::Error>| match value {
        Ok(number) => FirstValue::Number(number),
        Err(_) => FirstValue::Other(type_name.clone()),
    };
    match type_name.as_str() {
        "INT2" => number(row.try_get::<i16, _>(0).map(f64::from)),
        "INT4" => number(row.try_get::<i32, _>(0).map(f64::from)),
        #[expect(clippy::cast_precision_loss, reason = "a threshold compares an f64")]
        "INT8" => number(row.try_get::<i64, _>(0).map(|n| n as f64)),
        "FLOAT4" => number(row.try_get::<f32, _>(0).map(f64::from)),
        "FLOAT8" => number(row.try_get::<f64, _>(0)),
        "NUMERIC" => match raw.format() {
            PgValueFormat::Binary => raw
                .as_bytes()
                .ok()
                .and_then(binary_numeric)
                .map_or(FirstValue::Other(type_name.clone()), FirstValue::Number),
            PgValueFormat::Text => match raw.as_str() {
                Ok(text) => FirstValue::Text(text.to_owned()),
                Err(_) => FirstValue::Other(type_name.clone()),
            },
        },
        "TEXT" | "VARCHAR" | "BPCHAR" | "NAME" | "CHAR" => match row.try_get::<String, _>(0) {
            Ok(text) => FirstValue::Text(text),
            Err(_) => FirstValue::Other(type_name.clone()),
        },
        "BOOL" => match row.try_get::<bool, _>(0) {
            Ok(value) => FirstValue::Text(value.to_string()),
            Err(_) => FirstValue::Other(type_name.clone()),
        },
        _ => FirstValue::Other(type_name.clone()),
    }
}

fn mysql_first_value(row: &MySqlRow) -> FirstValue {
    if row.is_empty() {
        return FirstValue::Other("(no column)".to_owned());
    }
    let Ok(raw) = row.try_get_raw(0) else {
        return FirstValue::Other("(unreadable)".to_owned());
    };
    if raw.is_null() {
        return FirstValue::Null;
    }
    let type_name = raw.type_info().name().to_owned();
    let number = |value: Result<f64, sqlx::Error>| match value {
        Ok(number) => FirstValue::Number(number),
        Err(_) => FirstValue::Other(type_name.clone()),
    };
    match type_name.as_str() {
        #[expect(clippy::cast_precision_loss, reason = "a threshold compares an f64")]
        name if name.ends_with(" UNSIGNED") => number(row.try_get::<u64, _>(0).map(|n| n as f64)),
        #[expect(clippy::cast_precision_loss, reason = "a threshold compares an f64")]
        "TINYINT" | "SMALLINT" | "MEDIUMINT" | "INT" | "BIGINT" | "YEAR" => {
            number(row.try_get::<i64, _>(0).map(|n| n as f64))
        }
        "FLOAT" => number(row.try_get::<f32, _>(0).map(f64::from)),
        "DOUBLE" => number(row.try_get::<f64, _>(0)),
        // DECIMAL travels as text, even in the binary protocol.
        "DECIMAL" | "CHAR" | "VARCHAR" | "TINYTEXT" | "TEXT" | "MEDIUMTEXT" | "LONGTEXT"
        | "ENUM" => match row.try_get_unchecked::<String, _>(0) {
            Ok(text) => FirstValue::Text(text),
            Err(_) => FirstValue::Other(type_name.clone()),
        },
        "BOOLEAN" => match row.try_get::<bool, _>(0) {
            Ok(value) => FirstValue::Text(value.to_string()),
            Err(_) => FirstValue::Other(type_name.clone()),
        },
        _ => FirstValue::Other(type_name.clone()),
    }
}

/// Reads PostgreSQL's binary NUMERIC: digit count, weight, sign and scale (16 bits each), then
/// base-10000 digits. `None` for NaN, infinities and anything malformed.
fn binary_numeric(bytes: &[u8]) -> Option<f64> {
    let word = |index: usize| -> Option<u16> {
        let at = index * 2;
        Some(u16::from_be_bytes([*bytes.get(at)?, *bytes.get(at + 1)?]))
    };
    let digits = usize::from(word(0)?);
    let weight = i32::from(i16::from_be_bytes(word(1)?.to_be_bytes()));
    let sign = match word(2)? {
        0x0000 => 1.0,
        0x4000 => -1.0,
        _ => return None,
    };
    let mut value = 0.0;
    for index in 0..digits {
        let digit = f64::from(word(4 + index)?);
        let power = weight - i32::try_from(index).ok()?;
        value += digit * 10_000_f64.powi(power);
    }
    Some(sign * value)
}

/// The message of a database error (the server's own words), or of any other error.
fn error_message(error: &sqlx::Error) -> String {
    match error {
        sqlx::Error::Database(database) => database.message().to_owned(),
        other => other.to_string(),
    }
}

/// Keeps a summary on one line and free of `|`, which would start performance data.
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '|' => '/',
            c if c.is_control() => ' ',
            c => c,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numerics() {
        // 12345.678: digits 1, 2345, 6780; weight 1; scale 3.
        let bytes = [0, 3, 0, 1, 0, 0, 0, 3, 0, 1, 0x09, 0x29, 0x1a, 0x7c];
        let value = binary_numeric(&bytes).map(|v| (v * 1000.0).round() / 1000.0);
        assert_eq!(value, Some(12345.678));
        // -0.5: digits 5000; weight -1; negative.
        assert_eq!(
            binary_numeric(&[0, 1, 0xff, 0xff, 0x40, 0, 0, 1, 0x13, 0x88]),
            Some(-0.5)
        );
        assert_eq!(binary_numeric(&[0, 0, 0, 0, 0, 0, 0, 0]), Some(0.0));
        assert_eq!(binary_numeric(&[0, 0, 0, 0, 0xc0, 0, 0, 0]), None);
        assert_eq!(binary_numeric(&[0, 2, 0, 0, 0, 0, 0, 0, 0, 1]), None);
    }
}
