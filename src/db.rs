//! The store: one connection pool over SQLite or PostgreSQL, chosen by URL at start-up.
//!
//! Domain code writes one SQL text for both backends (`$1`-style placeholders, standard
//! types) and runs it through sqlx's `Any` driver. What truly differs between the
//! backends stays in this module: connection settings and the migration folders.

use std::path::Path;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::Migrator;
use sqlx::{Any, AnyPool, ConnectOptions, Executor, Transaction};

use crate::config::DatabaseUrl;

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");

/// Bound values per bulk statement: SQLite allows 32,766, PostgreSQL 65,535.
pub const MAX_BIND_VALUES: usize = 30_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }

    fn migrator(self) -> &'static Migrator {
        match self {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("could not connect to the database {url}: {source}")]
    Connect { url: String, source: sqlx::Error },
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error(
        "the database schema is behind this version of Consentry (at {applied:?}, needs {expected}); run `consentry migrate`"
    )]
    NotMigrated { applied: Option<i64>, expected: i64 },
    #[error(transparent)]
    Query(#[from] sqlx::Error),
}

/// A pool of connections to one database.
#[derive(Debug, Clone)]
pub struct Db {
    pool: AnyPool,
    backend: Backend,
}

pub type Tx = Transaction<'static, Any>;

/// Pages (4 KiB each) one step of [`Db::reclaim`] gives back.
const RECLAIM_STEP_PAGES: u32 = 2_000;

impl Db {
    /// Connects to the database at `url` (see [`sqlite_url`] for the embedded one).
    pub async fn connect(url: &DatabaseUrl, max_connections: u32) -> Result<Self, DbError> {
        sqlx::any::install_default_drivers();
        let connect_error = |source| DbError::Connect { url: url.to_string(), source };
        let options: AnyConnectOptions = url.expose().parse().map_err(connect_error)?;
        // Bulk statements run to thousands of placeholders: logging them helps nobody.
        let options = options.disable_statement_logging();
        let backend = if url.expose().starts_with("sqlite:") { Backend::Sqlite } else { Backend::Postgres };
        let pool = AnyPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(move |connection, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // The busy timeout comes first, so that even switching to WAL waits for
                        // another process's lock instead of failing. WAL lets readers work during
                        // writes; NORMAL sync in WAL mode survives a process crash (only an OS crash
                        // may lose the last commits), the trade ARCHITECTURE.md records. Foreign
                        // keys are off in SQLite by default.
                        // Deleted means gone: `secure_delete` overwrites deleted content, and
                        // incremental auto-vacuum (it takes effect on a new database) lets
                        // `reclaim` hand freed pages back.
                        connection
                            .execute(
                                "PRAGMA busy_timeout = 5000; PRAGMA auto_vacuum = INCREMENTAL; \
                                 PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                                 PRAGMA foreign_keys = ON; PRAGMA secure_delete = ON;",
                            )
                            .await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await
            .map_err(connect_error)?;
        Ok(Self { pool, backend })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Begins a transaction that will write. On SQLite it takes the write lock at once
    /// (`BEGIN IMMEDIATE`): a transaction that read first and wrote later would otherwise
    /// fail outright when another writer committed in between, instead of waiting its turn.
    pub async fn begin(&self) -> Result<Tx, DbError> {
        let tx = match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        };
        Ok(tx)
    }

    /// Begins a read-only transaction that sees one snapshot of the store from its first
    /// read to its end, whatever commits meanwhile: a governed read takes consent states
    /// and records from the same moment.
    pub async fn begin_snapshot(&self) -> Result<Tx, DbError> {
        let tx = match self.backend {
            // A deferred transaction in WAL mode keeps the snapshot of its first read.
            Backend::Sqlite => self.pool.begin().await?,
            Backend::Postgres => self.pool.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY").await?,
        };
        Ok(tx)
    }

    /// After deletions: on SQLite, returns free pages to the file system and checkpoints the
    /// write-ahead log into the database, truncating it, so that no copy of deleted content
    /// lingers in either file (`secure_delete` has zeroed it in the pages). PostgreSQL's
    /// autovacuum reclaims space itself; see the README for backups.
    pub async fn reclaim(&self) -> Result<(), DbError> {
        if self.backend == Backend::Sqlite {
            let mut connection = self.pool.acquire().await?;
            // Free pages go back a step at a time, each step a short write of its own: after a
            // sweep of a million records, one `incremental_vacuum` held the write lock longer
            // than other writers wait (`busy_timeout`), and they failed.
            let mut free: i64 = sqlx::query_scalar("PRAGMA freelist_count").fetch_one(&mut *connection).await?;
            while free > 0 {
                connection
                    .execute(sqlx::AssertSqlSafe(format!("PRAGMA incremental_vacuum({RECLAIM_STEP_PAGES})")))
                    .await?;
                let left: i64 = sqlx::query_scalar("PRAGMA freelist_count").fetch_one(&mut *connection).await?;
                // A database made before incremental auto-vacuum keeps its free pages.
                if left >= free {
                    break;
                }
                free = left;
            }
            // A passive checkpoint copies the log without stopping writers; the truncating one
            // after it, which does stop them, then has little left to copy.
            connection.execute("PRAGMA wal_checkpoint(PASSIVE)").await?;
            connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").await?;
        }
        Ok(())
    }

    /// Applies the migrations this version of Consentry carries for the backend.
    pub async fn migrate(&self) -> Result<(), DbError> {
        self.backend.migrator().run(&self.pool).await?;
        Ok(())
    }

    /// Ready means reachable and migrated to the version this binary expects.
    pub async fn ready(&self) -> Result<(), DbError> {
        let expected = self.backend.migrator().iter().map(|migration| migration.version).max().unwrap_or(0);
        let applied: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success = $1")
            .bind(true)
            .fetch_one(&self.pool)
            .await
            .map_err(|error| match error {
                sqlx::Error::Database(_) => DbError::NotMigrated { applied: None, expected },
                other => DbError::Query(other),
            })?;
        if applied.unwrap_or(0) < expected {
            return Err(DbError::NotMigrated { applied, expected });
        }
        Ok(())
    }

    /// Connections open and idle, for the metrics endpoint.
    pub fn pool_usage(&self) -> (u32, usize) {
        (self.pool.size(), self.pool.num_idle())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// The URL of an SQLite database file, created if missing.
pub fn sqlite_url(path: &Path) -> DatabaseUrl {
    DatabaseUrl::new(format!("sqlite://{}?mode=rwc", path.display()))
}

/// One value of a bulk insert; `None` is SQL NULL.
#[derive(Debug, Clone, PartialEq)]
pub enum SqlValue {
    Text(Option<String>),
    Int(Option<i64>),
    Real(Option<f64>),
    Bool(Option<bool>),
}

impl From<&str> for SqlValue {
    fn from(value: &str) -> Self {
        SqlValue::Text(Some(value.to_owned()))
    }
}

impl From<String> for SqlValue {
    fn from(value: String) -> Self {
        SqlValue::Text(Some(value))
    }
}

impl From<Option<String>> for SqlValue {
    fn from(value: Option<String>) -> Self {
        SqlValue::Text(value)
    }
}

/// Inserts rows in as few statements as the bind-value limit allows. `table` and
/// `columns` are names from code, never from input.
pub async fn insert_rows(
    connection: &mut sqlx::AnyConnection,
    table: &str,
    columns: &[&str],
    rows: &[Vec<SqlValue>],
) -> Result<u64, DbError> {
    let rows_per_statement = (MAX_BIND_VALUES / columns.len().max(1)).max(1);
    let style = PlaceholderStyle::of(connection);
    let mut inserted = 0;
    for chunk in rows.chunks(rows_per_statement) {
        let sql = format!(
            "INSERT INTO {table} ({}) VALUES {}",
            columns.join(", "),
            values_placeholders(style, chunk.len(), columns.len())
        );
        // Safe: the text is built from names in code and numbered placeholders only. Not a
        // cached prepared statement: PostgreSQL would keep the parameter types of its first
        // execution, and a NULL there (typed by sqlx's `Any` driver without the column's
        // type) refuses a value in the same place of a later chunk.
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).persistent(false);
        for value in chunk.iter().flatten() {
            query = match value {
                SqlValue::Text(text) => query.bind(text.clone()),
                SqlValue::Int(number) => query.bind(*number),
                SqlValue::Real(number) => query.bind(*number),
                // Stored as SMALLINT 0/1: the Any driver cannot read SQLite booleans back.
                SqlValue::Bool(flag) => query.bind(flag.map(i16::from)),
            };
        }
        inserted += query.execute(&mut *connection).await?.rows_affected();
    }
    Ok(inserted)
}

/// How a statement marks its parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlaceholderStyle {
    /// `$1, $2, …`: PostgreSQL's only form.
    Numbered,
    /// `?, ?, …`: SQLite looks `$N` parameters up by name with a linear search, which makes
    /// a statement with thousands of them quadratic to parse; anonymous ones are free.
    Anonymous,
}

impl PlaceholderStyle {
    pub fn of(connection: &sqlx::AnyConnection) -> Self {
        if connection.backend_name().eq_ignore_ascii_case("sqlite") { Self::Anonymous } else { Self::Numbered }
    }
}

/// `$1, $2, …, $n` (or `?, ?, …` on SQLite) for an `IN (…)` list of `count` values.
pub fn in_list(connection: &sqlx::AnyConnection, count: usize) -> String {
    let style = PlaceholderStyle::of(connection);
    (1..=count)
        .map(|index| match style {
            PlaceholderStyle::Numbered => format!("${index}"),
            PlaceholderStyle::Anonymous => "?".to_owned(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// `($1, $2, $3), ($4, $5, $6), …` (or with `?`) for a multi-row insert of `rows` rows of
/// `columns` values. sqlx's `QueryBuilder` cannot serve here: under the `Any` driver it
/// writes `?` for PostgreSQL too.
pub fn values_placeholders(style: PlaceholderStyle, rows: usize, columns: usize) -> String {
    let mut sql = String::with_capacity(rows * columns * 6);
    for row in 0..rows {
        if row > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for column in 0..columns {
            if column > 0 {
                sql.push_str(", ");
            }
            match style {
                PlaceholderStyle::Numbered => {
                    sql.push('$');
                    sql.push_str(&(row * columns + column + 1).to_string());
                }
                PlaceholderStyle::Anonymous => sql.push('?'),
            }
        }
        sql.push(')');
    }
    sql
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_number_every_value_once_in_order() {
        assert_eq!(values_placeholders(PlaceholderStyle::Numbered, 2, 3), "($1, $2, $3), ($4, $5, $6)");
        assert_eq!(values_placeholders(PlaceholderStyle::Anonymous, 2, 2), "(?, ?), (?, ?)");
    }
}
