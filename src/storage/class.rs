//! The class's tables: every version of the rules (with the change that made it), the students
//! who joined, and the value snapshots behind performance charts and standings.

use super::{Result, Store, ts_value};
use crate::domain::class::Rules;
use crate::domain::time::Timestamp;
use serde::Serialize;
use std::collections::{HashMap, HashSet};

/// Commissions arrived after the first ledgers: the columns are added to older files, last, so
/// appenders see one layout whatever the file's age.
pub(super) const CREATE: &str = "
ALTER TABLE orders ADD COLUMN IF NOT EXISTS commission_cents BIGINT DEFAULT 0;
ALTER TABLE order_events ADD COLUMN IF NOT EXISTS commission_cents BIGINT DEFAULT 0;
CREATE TABLE IF NOT EXISTS class_rules (
    ts TIMESTAMP NOT NULL,
    source VARCHAR NOT NULL,
    rules VARCHAR NOT NULL,
    change VARCHAR NOT NULL
);
CREATE TABLE IF NOT EXISTS class_members (
    firebase_uid VARCHAR NOT NULL,
    joined_at TIMESTAMP NOT NULL
);
CREATE TABLE IF NOT EXISTS value_snapshots (
    ts TIMESTAMP NOT NULL,
    firebase_uid VARCHAR NOT NULL,
    value_cents BIGINT NOT NULL
);";

/// Value snapshots appended per commit.
pub const SNAPSHOT_CHUNK: usize = 1_000;

impl Store {
    /// Appends a version of the rules and the change that made it, and the same to the audit
    /// log, in one transaction.
    pub fn record_rules(&self, at: Timestamp, source: &str, rules: &Rules, change: &impl Serialize) -> Result<()> {
        let rules = serde_json::to_string(rules).expect("rules serialize");
        let change = serde_json::to_string(change).expect("a change serializes");
        let conn = self.write_conn.lock().expect("writer");
        super::transaction(&conn, || {
            conn.execute(
                "INSERT INTO class_rules VALUES (?, ?, ?, ?)",
                duckdb::params![ts_value(at), source, rules, change],
            )?;
            conn.execute(
                "INSERT INTO audit_log VALUES (?, ?, ?)",
                duckdb::params![ts_value(at), format!("class_rules_{source}"), change],
            )?;
            Ok(())
        })
    }

    /// The rules last configured at a start, and the latest rules of any source.
    pub fn recorded_rules(&self) -> Result<(Option<Rules>, Option<Rules>)> {
        self.read(|c| {
            let latest = |filter: &str| -> Result<Option<Rules>> {
                let sql = format!("SELECT rules FROM class_rules {filter} ORDER BY ts DESC, rowid DESC LIMIT 1");
                let text: Option<String> = c.query_row(&sql, [], |r| r.get(0)).ok();
                Ok(text.and_then(|t| serde_json::from_str(&t).ok()))
            };
            Ok((latest("WHERE source = 'config'")?, latest("")?))
        })
    }

    /// Everyone who joined the class.
    pub fn class_members(&self) -> Result<HashSet<String>> {
        self.read(|c| {
            let mut stmt = c.prepare("SELECT DISTINCT firebase_uid FROM class_members")?;
            let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
            Ok(rows.collect::<Result<HashSet<_>, _>>()?)
        })
    }

    /// Appends one round of value snapshots in `season` (values in cents of the reporting
    /// currency), [`SNAPSHOT_CHUNK`] rows per commit: a ledger commit waits behind one short
    /// append, never behind a whole class's (a round cut short by a crash is a round of fewer
    /// students, which the standings read as such).
    pub fn append_snapshots(&self, at: Timestamp, season: i32, values: &[(String, i64)]) -> Result<()> {
        for chunk in values.chunks(SNAPSHOT_CHUNK) {
            let conn = self.write_conn.lock().expect("writer");
            let mut appender = conn.appender("value_snapshots")?;
            for (uid, cents) in chunk {
                appender.append_row(duckdb::params![ts_value(at), uid, cents, season])?;
            }
            appender.flush()?;
        }
        Ok(())
    }

    /// Every snapshot of `season` from `since` on, per user in time order: (user, time, cents).
    pub fn snapshots_since(&self, season: i32, since: Timestamp) -> Result<Vec<(String, Timestamp, i64)>> {
        self.read(|c| {
            let mut stmt = c.prepare(
                "SELECT firebase_uid, epoch_us(ts), value_cents FROM value_snapshots WHERE season = ? AND ts >= ?
                 ORDER BY firebase_uid, ts",
            )?;
            let rows = stmt.query_map(duckdb::params![season, ts_value(since)], |r| {
                Ok((r.get(0)?, Timestamp(r.get(1)?), r.get(2)?))
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    /// One user's snapshots of `season` from `since` on, oldest first, at most `limit` (the
    /// latest ones).
    pub fn snapshots_of(
        &self,
        uid: &str,
        season: i32,
        since: Timestamp,
        limit: usize,
    ) -> Result<Vec<(Timestamp, i64)>> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT * FROM (
                     SELECT epoch_us(ts) AS t, value_cents FROM value_snapshots
                     WHERE firebase_uid = ? AND season = ? AND ts >= ? ORDER BY ts DESC LIMIT ?
                 ) ORDER BY t",
            )?;
            let rows = stmt.query_map(duckdb::params![uid, season, ts_value(since), limit as i64], |r| {
                Ok((Timestamp(r.get(0)?), r.get(1)?))
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    /// Each user's first snapshot of `season` from `since` on, in cents.
    pub fn values_since(&self, season: i32, since: Timestamp) -> Result<HashMap<String, i64>> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT firebase_uid, arg_min(value_cents, ts) FROM value_snapshots WHERE season = ? AND ts >= ?
                 GROUP BY ALL",
            )?;
            let rows = stmt.query_map(duckdb::params![season, ts_value(since)], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<Result<HashMap<_, _>, _>>()?)
        })
    }

    /// Per user of `season`: filled orders, commissions paid per currency code, and the last fill.
    pub fn trade_summaries(&self, season: i32) -> Result<Vec<TradeSummary>> {
        self.read(|c| {
            let mut stmt = c.prepare(
                "SELECT firebase_uid, count(*), max(epoch_us(filled_at)),
                        coalesce(sum(commission_cents) FILTER (WHERE currency = 'INR'), 0)::BIGINT,
                        coalesce(sum(commission_cents) FILTER (WHERE currency = 'USD'), 0)::BIGINT,
                        coalesce(sum(commission_cents) FILTER (WHERE currency = 'GBP'), 0)::BIGINT
                 FROM orders WHERE season = ? GROUP BY firebase_uid",
            )?;
            let rows = stmt.query_map([season], |r| {
                Ok(TradeSummary {
                    uid: r.get(0)?,
                    trades: r.get(1)?,
                    last_fill: Timestamp(r.get(2)?),
                    commission_cents: [r.get(3)?, r.get(4)?, r.get(5)?],
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }
}

/// What a student traded, for reports.
#[derive(Debug, Clone, PartialEq)]
pub struct TradeSummary {
    pub uid: String,
    pub trades: i64,
    pub last_fill: Timestamp,
    /// Commissions paid in INR, USD and GBP (the order of `Currency::ALL`), in cents.
    pub commission_cents: [i64; 3],
}
