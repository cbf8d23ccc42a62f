//! The director's audit log: every admin action with its time and parameters, kept in the
//! database so it survives a restart.

use super::{Result, Store, ts_value};
use crate::domain::director::AuditEntry;
use crate::domain::time::Timestamp;

pub(super) const CREATE: &str = "
CREATE TABLE IF NOT EXISTS audit_log (
    ts TIMESTAMP NOT NULL,
    action VARCHAR NOT NULL,
    parameters VARCHAR NOT NULL
);";

impl Store {
    /// Appends one action.
    pub fn record_audit(&self, entry: &AuditEntry) -> Result<()> {
        let conn = self.write_conn.lock().expect("writer");
        conn.execute(
            "INSERT INTO audit_log VALUES (?, ?, ?)",
            duckdb::params![ts_value(entry.time), entry.action, entry.parameters.to_string()],
        )?;
        Ok(())
    }

    /// The latest `limit` actions, newest first.
    pub fn audit(&self, limit: usize) -> Result<Vec<AuditEntry>> {
        self.read(|c| {
            let mut stmt = c.prepare(
                "SELECT epoch_us(ts), action, parameters FROM audit_log ORDER BY ts DESC, rowid DESC LIMIT ?",
            )?;
            let rows = stmt.query_map([limit as i64], |r| {
                let text: String = r.get(2)?;
                Ok(AuditEntry {
                    time: Timestamp(r.get(0)?),
                    action: r.get(1)?,
                    parameters: serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }
}
