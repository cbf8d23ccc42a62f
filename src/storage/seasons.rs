//! Seasons: a class's ledger in rounds. Every ledger row (opening balances, fills, order events)
//! and every value snapshot carries the season it belongs to, and `seasons` lists them.
//!
//! Why a column rather than moving a season's rows to archive tables: the ledger stays
//! append-only (an archived season is exactly the rows its students wrote, never copied or
//! deleted), order ids stay unique across seasons, and every query and check reads any season
//! the same way, by filtering on it. Ending a season writes the final snapshot, closes its row
//! and opens the next one's with fresh opening balances, in one transaction. Undoing a reset,
//! allowed while the new season has no order, deletes only that season's opening balances and
//! snapshots (no trade refers to them) and reopens the archived season.

use super::ledger::{NewUser, currency_of, from_cents, write_new_users};
use super::{Result, Store, transaction, ts_value};
use crate::domain::instrument::Currency;
use crate::domain::time::Timestamp;
use duckdb::Connection;
use rust_decimal::Decimal;
use std::collections::{BTreeMap, HashMap, HashSet};

/// Earlier files hold one season: their rows are season 1. Added last, so appenders see one
/// layout whatever the file's age.
pub(super) const CREATE: &str = "
ALTER TABLE opening_balances ADD COLUMN IF NOT EXISTS season INTEGER DEFAULT 1;
ALTER TABLE orders ADD COLUMN IF NOT EXISTS season INTEGER DEFAULT 1;
ALTER TABLE order_events ADD COLUMN IF NOT EXISTS season INTEGER DEFAULT 1;
ALTER TABLE value_snapshots ADD COLUMN IF NOT EXISTS season INTEGER DEFAULT 1;
CREATE TABLE IF NOT EXISTS seasons (
    season INTEGER NOT NULL,
    started_at TIMESTAMP NOT NULL,
    -- Set when the season is archived, with the rules in force then.
    ended_at TIMESTAMP,
    rules VARCHAR
);
INSERT INTO seasons
SELECT 1, coalesce((SELECT min(created_at) FROM users), now()::TIMESTAMP), NULL, NULL
WHERE NOT EXISTS (SELECT 1 FROM seasons);";

/// A season as listed.
#[derive(Debug, Clone, PartialEq)]
pub struct SeasonInfo {
    pub season: i32,
    pub started_at: Timestamp,
    /// `None` for the current season.
    pub ended_at: Option<Timestamp>,
    /// Students with an account in it.
    pub students: i64,
    /// Fills in it.
    pub trades: i64,
}

/// The end of one season and the start of the next, as the ledger writer commits it.
#[derive(Debug)]
pub struct SeasonEnd<'a> {
    pub ended: i32,
    pub at: Timestamp,
    /// Every student's final value, in cents of the reporting currency.
    pub final_values: &'a [(String, i64)],
    /// The rules in force at the end, as JSON.
    pub rules: &'a str,
    /// The accounts the new season opens with.
    pub fresh: &'a [NewUser],
}

impl Store {
    /// The season being played (the latest).
    pub fn current_season(&self) -> Result<i32> {
        self.read(|c| Ok(c.query_row("SELECT coalesce(max(season), 1) FROM seasons", [], |r| r.get(0))?))
    }

    /// Every season, oldest first.
    pub fn seasons(&self) -> Result<Vec<SeasonInfo>> {
        self.read(|c| {
            let mut stmt = c.prepare(
                "SELECT s.season, epoch_us(s.started_at), epoch_us(s.ended_at),
                        (SELECT count(DISTINCT firebase_uid) FROM opening_balances b WHERE b.season = s.season),
                        (SELECT count(*) FROM orders o WHERE o.season = s.season)
                 FROM seasons s ORDER BY s.season",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok(SeasonInfo {
                    season: r.get(0)?,
                    started_at: Timestamp(r.get(1)?),
                    ended_at: r.get::<_, Option<i64>>(2)?.map(Timestamp),
                    students: r.get(3)?,
                    trades: r.get(4)?,
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    /// When an archived season ended; `None` for the current season or one that does not exist.
    pub fn season_end(&self, season: i32) -> Result<Option<Timestamp>> {
        self.read(|c| {
            let end = c.query_row(
                "SELECT epoch_us(ended_at) FROM seasons WHERE season = ? AND ended_at IS NOT NULL",
                [season],
                |r| Ok(Timestamp(r.get(0)?)),
            );
            match end {
                Ok(end) => Ok(Some(end)),
                Err(duckdb::Error::QueryReturnedNoRows) => Ok(None),
                Err(e) => Err(e.into()),
            }
        })
    }

    /// Lists broken season invariants: rows of a season that is not listed, seasons not
    /// numbered 1 to N, and a current season that is not the latest (or none).
    pub fn check_seasons(&self) -> Result<Vec<String>> {
        self.read(|c| {
            let mut stmt = c.prepare(
                "SELECT format('{} rows of {} belong to season {}, which is not listed', n, t, season) FROM (
                     SELECT 'orders' AS t, season, count(*) AS n FROM orders GROUP BY ALL
                     UNION ALL SELECT 'order_events', season, count(*) FROM order_events GROUP BY ALL
                     UNION ALL SELECT 'opening_balances', season, count(*) FROM opening_balances GROUP BY ALL
                     UNION ALL SELECT 'value_snapshots', season, count(*) FROM value_snapshots GROUP BY ALL
                 ) ANTI JOIN seasons USING (season)
                 UNION ALL
                 SELECT format('season {} is {}', season,
                               CASE WHEN ended_at IS NULL THEN 'not archived but not the latest'
                                    ELSE 'the latest but archived' END)
                 FROM seasons WHERE (ended_at IS NULL) <> (season = (SELECT max(season) FROM seasons))
                 UNION ALL
                 SELECT format('seasons should be numbered 1 to {}, but {} rows list {} distinct ones',
                               max(season), count(*), count(DISTINCT season))
                 FROM seasons HAVING min(season) <> 1 OR max(season) <> count(*) OR count(*) <> count(DISTINCT season)
                 UNION ALL
                 SELECT 'no season is listed' WHERE NOT EXISTS (SELECT 1 FROM seasons)",
            )?;
            let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    /// Per student of a season: the cash they opened it with.
    pub fn season_openings(&self, season: i32) -> Result<HashMap<String, BTreeMap<Currency, Decimal>>> {
        self.read(|c| {
            let mut stmt =
                c.prepare("SELECT firebase_uid, currency, starting_cents FROM opening_balances WHERE season = ?")?;
            let rows = stmt
                .query_map([season], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, i64>(2)?)))?;
            let mut openings: HashMap<String, BTreeMap<Currency, Decimal>> = HashMap::new();
            for row in rows {
                let (uid, currency, cents) = row?;
                openings.entry(uid).or_default().insert(currency_of(&currency), from_cents(cents));
            }
            Ok(openings)
        })
    }

    /// Per student of a season: fills in it.
    pub fn season_fills(&self, season: i32) -> Result<Vec<(String, i64)>> {
        self.read(|c| fills_in(c, season))
    }
}

/// Per student of `season`: fills in it.
pub(super) fn fills_in(c: &Connection, season: i32) -> Result<Vec<(String, i64)>> {
    let mut stmt = c.prepare_cached("SELECT firebase_uid, count(*) FROM orders WHERE season = ? GROUP BY ALL")?;
    let rows = stmt.query_map([season], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

/// Students of `season` with a snapshot at or after `end` (the closing one at the season's end).
pub fn closed_students(conn: &Connection, season: i32, end: Timestamp) -> Result<HashSet<String>> {
    let mut stmt = conn.prepare("SELECT DISTINCT firebase_uid FROM value_snapshots WHERE season = ? AND ts >= ?")?;
    let rows = stmt.query_map(duckdb::params![season, ts_value(end)], |r| r.get::<_, String>(0))?;
    Ok(rows.collect::<Result<HashSet<_>, _>>()?)
}

/// Orders of any kind placed in `season` (fills and resting-order events).
pub fn season_orders(conn: &Connection, season: i32) -> Result<i64> {
    Ok(conn.query_row(
        "SELECT (SELECT count(*) FROM orders WHERE season = $1) + (SELECT count(*) FROM order_events WHERE season = $1)",
        [season],
        |r| r.get(0),
    )?)
}

/// Archives `end.ended` and opens the next season, in one transaction.
pub fn end_season(conn: &Connection, end: &SeasonEnd<'_>) -> Result<()> {
    let next = end.ended + 1;
    transaction(conn, || {
        let mut snapshots = conn.appender("value_snapshots")?;
        for (uid, cents) in end.final_values {
            snapshots.append_row(duckdb::params![ts_value(end.at), uid, cents, end.ended])?;
        }
        snapshots.flush()?;
        conn.execute(
            "UPDATE seasons SET ended_at = ?, rules = ? WHERE season = ?",
            duckdb::params![ts_value(end.at), end.rules, end.ended],
        )?;
        conn.execute("INSERT INTO seasons VALUES (?, ?, NULL, NULL)", duckdb::params![next, ts_value(end.at)])?;
        write_new_users(conn, end.fresh, next)?;
        let detail = serde_json::json!({ "ended": end.ended, "started": next, "students": end.fresh.len() });
        conn.execute(
            "INSERT INTO audit_log VALUES (?, 'season_new', ?)",
            duckdb::params![ts_value(end.at), detail.to_string()],
        )?;
        Ok(())
    })
}

/// Discards `season` (which has no orders) and makes the one before it current again, in one
/// transaction: its opening balances, snapshots and row go, and users it alone had; so do the
/// final values recorded as the one before it ended.
pub fn undo_season(conn: &Connection, season: i32, at: Timestamp) -> Result<()> {
    transaction(conn, || {
        conn.execute("DELETE FROM opening_balances WHERE season = ?", [season])?;
        conn.execute("DELETE FROM value_snapshots WHERE season = ?", [season])?;
        // The values recorded as the archived season ended: it goes on from where it was.
        conn.execute(
            "DELETE FROM value_snapshots WHERE season = $1 AND ts = (SELECT ended_at FROM seasons WHERE season = $1)",
            [season - 1],
        )?;
        conn.execute("DELETE FROM seasons WHERE season = ?", [season])?;
        conn.execute("UPDATE seasons SET ended_at = NULL, rules = NULL WHERE season = ?", [season - 1])?;
        conn.execute("DELETE FROM users WHERE firebase_uid NOT IN (SELECT firebase_uid FROM opening_balances)", [])?;
        let detail = serde_json::json!({ "discarded": season, "restored": season - 1 });
        conn.execute(
            "INSERT INTO audit_log VALUES (?, 'season_undone', ?)",
            duckdb::params![ts_value(at), detail.to_string()],
        )?;
        Ok(())
    })
}
