//! Storage: the DuckDB file. All SQL lives in this module; it hands back domain values.
//!
//! One writer connection appends batches (the tick writer is the only writer of market data);
//! readers take connections from a small pool. DuckDB connections to one database share its
//! buffer pool, so a pooled connection is cheap.
//!
//! Lock order: the writer connection's lock is never taken by a reader. The tick writer holds
//! it while it waits for the write buffer's gate, and a chart read holds that gate while it
//! borrows a reader; if an empty pool made the reader clone a connection from the writer's, the
//! two would wait on each other for good. New readers are cloned from a connection of their own.

mod audit;
pub mod class;
pub mod export;
mod history;
pub mod ledger;
mod migrate_v1;
pub mod orders;
pub mod profiles;
mod schema;
pub mod seasons;
mod writes;

pub use history::HistoryWindow;
pub use writes::Batch;

use crate::domain::candle::Rollup;
use crate::domain::instrument::Instrument;
use crate::domain::time::Timestamp;
use duckdb::Connection;
use duckdb::types::{TimeUnit, Value};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("database file {path} is locked by another process ({detail})")]
    Locked { path: PathBuf, detail: String },
    #[error("{path} is not a DuckDB database file (or it is damaged): {detail}")]
    Damaged { path: PathBuf, detail: String },
    #[error("cannot open database file {path}: {detail}")]
    Open { path: PathBuf, detail: String },
    #[error("cannot bring the ledger to the current layout: {0}")]
    Migration(String),
    #[error("database error: {source}")]
    Db { fault: Fault, source: duckdb::Error },
}

impl From<duckdb::Error> for StorageError {
    fn from(source: duckdb::Error) -> Self {
        StorageError::Db { fault: Fault::of(&source.to_string()), source }
    }
}

impl StorageError {
    /// What the error means for the server; see [`Fault`].
    pub fn fault(&self) -> Fault {
        match self {
            StorageError::Locked { .. } => Fault::Locked,
            StorageError::Damaged { .. } => Fault::Damaged,
            StorageError::Db { fault, .. } => *fault,
            StorageError::Open { .. } | StorageError::Migration(_) => Fault::Other,
        }
    }
}

/// What a database error means for the server. DuckDB reports nearly every failure under one
/// error code with a message, so the message is read here, in one place, and nowhere else.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The disk is full: writes fail until space returns; the database stays usable.
    DiskFull,
    /// DuckDB invalidated the database after a fatal error (a checkpoint that met a full disk,
    /// say): every later statement fails until the process opens the file again.
    Invalidated,
    /// Another process holds the file's lock.
    Locked,
    /// The file is not a DuckDB file, or its blocks are damaged (overwritten or truncated).
    /// DuckDB reads blocks lazily, so this can surface on any query, not only at open.
    Damaged,
    /// Anything else: a failed statement, a constraint.
    Other,
}

impl Fault {
    pub fn of(message: &str) -> Fault {
        const SIGNS: &[(Fault, &[&str])] = &[
            (Fault::Invalidated, &["database has been invalidated", "FATAL Error"]),
            (Fault::DiskFull, &["No space left on device", "disk is full", "Disk quota exceeded"]),
            (Fault::Locked, &["Could not set lock", "Conflicting lock"]),
            (
                Fault::Damaged,
                &[
                    "not a valid DuckDB database file",
                    "Serialization",
                    "Corrupt",
                    "checksum",
                    "Could not read enough bytes",
                    "No more data remaining in MetadataReader",
                ],
            ),
        ];
        SIGNS
            .iter()
            .find(|(_, signs)| signs.iter().any(|sign| message.contains(sign)))
            .map_or(Fault::Other, |(fault, _)| *fault)
    }
}

pub type Result<T, E = StorageError> = std::result::Result<T, E>;

pub struct Store {
    path: PathBuf,
    /// The one connection that writes (ticks, rollups, the ledger); readers never lock it.
    write_conn: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
    /// Only ever cloned from, to grow the reader pool; its lock guards nothing else.
    reader_origin: Mutex<Connection>,
}

impl Store {
    /// Opens (creating if needed) the database file and its schema. A damaged file is refused
    /// with an error that names it.
    pub fn open(path: &Path, memory_limit: &str, threads: u32) -> Result<Store> {
        Self::open_file(path, memory_limit, threads).map_err(|e| name_damage(path, e))
    }

    fn open_file(path: &Path, memory_limit: &str, threads: u32) -> Result<Store> {
        let conn = Connection::open(path).map_err(|e| classify_open_error(path, e))?;
        // memory_limit was validated as a plain size (letters, digits, dots, spaces).
        conn.execute_batch(&format!("SET memory_limit = '{memory_limit}'; SET threads = {threads};"))
            .map_err(|e| StorageError::Open { path: path.into(), detail: e.to_string() })?;
        conn.execute_batch(schema::CREATE).map_err(|e| classify_open_error(path, e))?;
        conn.execute_batch(audit::CREATE)?;
        conn.execute_batch(profiles::CREATE)?;
        for rollup in Rollup::ALL {
            conn.execute_batch(&schema::create_rollup(schema::rollup_table(rollup)))?;
        }
        let version: Option<String> =
            conn.query_row("SELECT max(value) FROM meta WHERE key = 'schema_version'", [], |r| r.get(0))?;
        match version.as_deref().map(str::parse::<i32>) {
            None => {
                conn.execute("INSERT INTO meta VALUES ('schema_version', ?)", [schema::SCHEMA_VERSION.to_string()])?;
            }
            Some(Ok(1)) => migrate_v1::migrate_from_v1(&conn)?,
            Some(Ok(schema::SCHEMA_VERSION)) => {}
            Some(_) => {
                return Err(StorageError::Open {
                    path: path.into(),
                    detail: format!(
                        "it was written by a newer finlearn (schema version {}); this one reads versions 1 to {}",
                        version.unwrap_or_default(),
                        schema::SCHEMA_VERSION
                    ),
                });
            }
        }
        conn.execute_batch(class::CREATE)?;
        conn.execute_batch(seasons::CREATE)?;
        conn.execute_batch(schema::LEDGER_VIEWS)?;
        let writer = conn.try_clone()?;
        writer.execute_batch(schema::CREATE_STAGING)?;
        let reader = conn.try_clone()?;
        Ok(Store {
            path: path.into(),
            write_conn: Mutex::new(writer),
            readers: Mutex::new(vec![reader]),
            reader_origin: Mutex::new(conn),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` on a pooled read connection.
    pub(crate) fn read<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let pooled = self.readers.lock().expect("reader pool").pop();
        let conn = match pooled {
            Some(conn) => conn,
            None => self.reader_origin.lock().expect("reader origin").try_clone()?,
        };
        let result = f(&conn);
        self.readers.lock().expect("reader pool").push(conn);
        result.map_err(|e| name_damage(&self.path, e))
    }

    /// Whether any tick has ever been stored: an empty database is seeded.
    pub fn has_ticks(&self) -> Result<bool> {
        self.read(|c| {
            let n: i64 = c.query_row(
                &format!("SELECT count(*) FROM (SELECT 1 FROM {} LIMIT 1)", schema::rollup_table(Rollup::Day)),
                [],
                |r| r.get(0),
            )?;
            Ok(n > 0)
        })
    }

    /// Records the instruments being simulated (upsert, so edits in the config are kept).
    pub fn save_instruments(&self, universe: &[Instrument]) -> Result<()> {
        let conn = self.write_conn.lock().expect("writer");
        let save = || -> Result<()> {
            let mut stmt = conn.prepare("INSERT OR REPLACE INTO instruments VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")?;
            for i in universe {
                stmt.execute(duckdb::params![
                    i.symbol,
                    i.name,
                    i.kind.to_string(),
                    format!("{:?}", i.sector),
                    i.market.name(),
                    i.currency.code(),
                    i.base_price,
                    i.annual_volatility,
                    i.annual_drift
                ])?;
            }
            Ok(())
        };
        // The first write at start-up: the first statement to meet a damaged block, often.
        save().map_err(|e| name_damage(&self.path, e))
    }

    /// Size of the database file in bytes.
    pub fn file_size(&self) -> u64 {
        std::fs::metadata(&self.path).map(|m| m.len()).unwrap_or(0)
    }

    /// Writes everything to the file and releases it.
    pub fn close(self) -> Result<()> {
        self.readers.lock().expect("reader pool").clear();
        drop(self.reader_origin);
        let conn = self.write_conn.into_inner().expect("writer");
        conn.execute_batch("CHECKPOINT")?;
        conn.close().map_err(|(_, e)| StorageError::from(e))
    }
}

fn classify_open_error(path: &Path, error: duckdb::Error) -> StorageError {
    let detail = error.to_string();
    let path = path.to_path_buf();
    match Fault::of(&detail) {
        Fault::Locked => {
            // DuckDB may add a link after the holder ("... (PID 42). See also https://...").
            let holder = detail
                .split("Conflicting lock is held in")
                .nth(1)
                .and_then(|rest| rest.split(". See also").next())
                .map(str::trim)
                .unwrap_or("see DuckDB's message");
            StorageError::Locked { path, detail: holder.trim_end_matches('.').to_string() }
        }
        Fault::Damaged => StorageError::Damaged { path, detail },
        _ => StorageError::Open { path, detail },
    }
}

/// Turns a database error that means damage into one that names the file; others pass unchanged.
fn name_damage(path: &Path, error: StorageError) -> StorageError {
    match error {
        StorageError::Db { fault: Fault::Damaged, source } => {
            StorageError::Damaged { path: path.to_path_buf(), detail: source.to_string() }
        }
        other => other,
    }
}

/// Runs `f` in a transaction on `conn`: committed if it and the commit succeed, else rolled back.
fn transaction(conn: &Connection, f: impl FnOnce() -> Result<()>) -> Result<()> {
    conn.execute_batch("BEGIN TRANSACTION")?;
    match f().and_then(|()| Ok(conn.execute_batch("COMMIT")?)) {
        Ok(()) => Ok(()),
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(e)
        }
    }
}

/// A timestamp parameter in DuckDB's own unit.
pub(crate) fn ts_value(t: Timestamp) -> Value {
    Value::Timestamp(TimeUnit::Microsecond, t.micros())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn duckdb_error(message: &str) -> duckdb::Error {
        duckdb::Error::DuckDBFailure(duckdb::ffi::Error::new(1), Some(message.to_string()))
    }

    #[test]
    fn database_errors_are_classified_by_what_they_mean() {
        let cases = [
            ("IO Error: Could not write file \"x.wal\": No space left on device", Fault::DiskFull),
            (
                "FATAL Error: Failed: database has been invalidated because of a previous fatal error. \
                 The database must be restarted prior to being used again.",
                Fault::Invalidated,
            ),
            ("IO Error: Could not set lock on file \"x\": Conflicting lock is held in /bin/x (PID 7)", Fault::Locked),
            ("IO Error: Corrupt database file: computed checksum 1 does not match stored checksum 2", Fault::Damaged),
            ("The file is not a valid DuckDB database file!", Fault::Damaged),
            ("Constraint Error: Duplicate key \"id: 3\"", Fault::Other),
        ];
        for (message, fault) in cases {
            assert_eq!(StorageError::from(duckdb_error(message)).fault(), fault, "{message}");
        }
    }

    #[test]
    fn a_damage_error_met_after_open_names_the_file() {
        let path = Path::new("/data/market.duckdb");
        let named = name_damage(path, duckdb_error("Could not read enough bytes from file").into());
        assert!(matches!(&named, StorageError::Damaged { path: p, .. } if p == path), "{named}");
        let other = name_damage(path, duckdb_error("Constraint Error").into());
        assert_eq!(other.fault(), Fault::Other);
    }

    #[test]
    fn a_lock_held_by_another_process_names_the_holder() {
        let error = duckdb_error(
            "IO Error: Could not set lock on file: Conflicting lock is held in /usr/bin/finlearn (PID 42). \
             See also https://duckdb.org/docs/current/connect/concurrency",
        );
        match classify_open_error(Path::new("m.duckdb"), error) {
            StorageError::Locked { detail, .. } => assert_eq!(detail, "/usr/bin/finlearn (PID 42)"),
            other => panic!("{other}"),
        }
    }
}
