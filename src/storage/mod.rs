//! Storage: the DuckDB file. All SQL lives in this module; it hands back domain values.
//!
//! One writer connection appends batches (the tick writer is the only writer of market data);
//! readers take connections from a small pool. DuckDB connections to one database share its
//! buffer pool, so a pooled connection is cheap.

mod history;
pub mod ledger;
pub mod orders;
mod schema;
mod writes;

pub use history::HistoryWindow;
pub use writes::Batch;

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
    NotDuckDb { path: PathBuf, detail: String },
    #[error("cannot open database file {path}: {detail}")]
    Open { path: PathBuf, detail: String },
    #[error("cannot bring the ledger to the current layout: {0}")]
    Migration(String),
    #[error("database error: {0}")]
    Db(#[from] duckdb::Error),
}

pub type Result<T, E = StorageError> = std::result::Result<T, E>;

pub struct Store {
    path: PathBuf,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
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
        for (table, _) in schema::ROLLUP_TABLES {
            conn.execute_batch(&schema::create_rollup(table))?;
        }
        let version: Option<String> =
            conn.query_row("SELECT max(value) FROM meta WHERE key = 'schema_version'", [], |r| r.get(0))?;
        match version.as_deref().map(str::parse::<i32>) {
            None => {
                conn.execute("INSERT INTO meta VALUES ('schema_version', ?)", [schema::SCHEMA_VERSION.to_string()])?;
            }
            Some(Ok(1)) => ledger::migrate_from_v1(&conn)?,
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
        conn.execute_batch(schema::LEDGER_VIEWS)?;
        let writer = conn.try_clone()?;
        writer.execute_batch(schema::CREATE_STAGING)?;
        Ok(Store { path: path.into(), writer: Mutex::new(writer), readers: Mutex::new(vec![conn]) })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` on a pooled read connection.
    pub(crate) fn read<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let conn = match self.readers.lock().expect("reader pool").pop() {
            Some(conn) => conn,
            None => self.writer.lock().expect("writer").try_clone()?,
        };
        let result = f(&conn);
        self.readers.lock().expect("reader pool").push(conn);
        result.map_err(|e| name_damage(&self.path, e))
    }

    /// Whether any tick has ever been stored: an empty database is seeded.
    pub fn has_ticks(&self) -> Result<bool> {
        self.read(|c| {
            let n: i64 = c.query_row("SELECT count(*) FROM (SELECT 1 FROM candle_1d LIMIT 1)", [], |r| r.get(0))?;
            Ok(n > 0)
        })
    }

    /// Records the instruments being simulated (upsert, so edits in the config are kept).
    pub fn save_instruments(&self, universe: &[Instrument]) -> Result<()> {
        let conn = self.writer.lock().expect("writer");
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
        let conn = self.writer.into_inner().expect("writer");
        conn.execute_batch("CHECKPOINT")?;
        conn.close().map_err(|(_, e)| StorageError::Db(e))
    }
}

fn classify_open_error(path: &Path, error: duckdb::Error) -> StorageError {
    let detail = error.to_string();
    let path = path.to_path_buf();
    if detail.contains("Could not set lock") || detail.contains("Conflicting lock") {
        let holder =
            detail.split("Conflicting lock is held in").nth(1).map(str::trim).unwrap_or("see DuckDB's message");
        StorageError::Locked { path, detail: holder.trim_end_matches('.').to_string() }
    } else if detail.contains("not a valid DuckDB database file")
        || detail.contains("Serialization")
        || is_damage(&detail)
    {
        StorageError::NotDuckDb { path, detail }
    } else {
        StorageError::Open { path, detail }
    }
}

/// Whether DuckDB's message means the file itself is damaged: a block whose checksum fails
/// (overwritten), or blocks and metadata that end early (truncated). DuckDB reads blocks lazily,
/// so this can surface on any query, not only when the file is opened.
fn is_damage(detail: &str) -> bool {
    ["Corrupt", "checksum", "Could not read enough bytes", "No more data remaining in MetadataReader"]
        .iter()
        .any(|sign| detail.contains(sign))
}

/// Turns a database error that means damage into one that names the file; others pass unchanged.
fn name_damage(path: &Path, error: StorageError) -> StorageError {
    match error {
        StorageError::Db(e) if is_damage(&e.to_string()) => {
            StorageError::NotDuckDb { path: path.to_path_buf(), detail: e.to_string() }
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
