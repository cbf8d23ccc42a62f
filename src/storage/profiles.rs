//! Profiles (one row per student who set anything) and the trading figures of the social
//! routes, read from the ledger.
//!
//! A sell's gain is computed from the ledger alone: every order row records the position's
//! cost after it, so the cost a sell closes is the drop of that cost from the row before it
//! in the same symbol and season, and the sell gained when its proceeds exceed that cost. A
//! profile's figures span every season: they are the student's record, not a season's standing.

use super::{Result, Store, ts_value};
use crate::domain::time::Timestamp;
use crate::social::profile::{Profile, TradeStats};
use duckdb::Connection;
use std::collections::HashMap;
use std::sync::Arc;

pub(super) const CREATE: &str = "
CREATE TABLE IF NOT EXISTS profiles (
    firebase_uid VARCHAR PRIMARY KEY,
    username VARCHAR,
    bio VARCHAR,
    avatar_url VARCHAR,
    email VARCHAR,
    updated_at TIMESTAMP NOT NULL
);";

/// Per user (`$1`, or all users when `filter` is `true`): filled orders, sells, sells with a
/// gain, and the latest order activity (a fill, or a resting order placed, replaced or
/// canceled; moves and expiries are the market's doing, not the student's).
fn stats_sql(filter: &str) -> String {
    format!(
        "WITH fills AS (
             SELECT firebase_uid, side, total_cents, commission_cents, filled_at,
                    cost_after_cents - lag(cost_after_cents, 1, 0) OVER (
                        PARTITION BY firebase_uid, season, symbol ORDER BY id) AS cost_change
             FROM orders WHERE {filter}),
         counted AS (
             SELECT firebase_uid, count(*) AS trades, count(*) FILTER (WHERE side = 'sell') AS round_trips,
                    count(*) FILTER (WHERE side = 'sell' AND total_cents - commission_cents + cost_change > 0) AS wins
             FROM fills GROUP BY ALL),
         latest AS (
             SELECT firebase_uid, max(moment) AS moment FROM (
                 SELECT firebase_uid, filled_at AS moment FROM fills
                 UNION ALL
                 SELECT firebase_uid, updated_at FROM order_events
                 WHERE event IN ('new', 'replaced', 'canceled') AND {filter})
             GROUP BY ALL)
         SELECT l.firebase_uid, coalesce(c.trades, 0), coalesce(c.round_trips, 0), coalesce(c.wins, 0),
                epoch_us(l.moment)
         FROM latest l LEFT JOIN counted c USING (firebase_uid)"
    )
}

fn stats_of_row(r: &duckdb::Row<'_>) -> duckdb::Result<(String, TradeStats)> {
    Ok((
        r.get(0)?,
        TradeStats {
            trades: r.get(1)?,
            round_trips: r.get(2)?,
            wins: r.get(3)?,
            last_order_at: r.get::<_, Option<i64>>(4)?.map(Timestamp),
        },
    ))
}

impl Store {
    /// A connection of its own for the one writer of profiles.
    pub fn profile_connection(&self) -> Result<Connection> {
        Ok(self.write_conn.lock().expect("writer").try_clone()?)
    }

    /// Every stored profile, by uid.
    pub fn load_profiles(&self) -> Result<Vec<(String, Profile)>> {
        self.read(|c| {
            let mut stmt =
                c.prepare("SELECT firebase_uid, username, bio, avatar_url, email, epoch_us(updated_at) FROM profiles")?;
            let rows = stmt.query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    Profile {
                        username: r.get::<_, Option<String>>(1)?.map(Arc::from),
                        bio: r.get(2)?,
                        avatar_url: r.get(3)?,
                        email: r.get(4)?,
                        updated_at: Timestamp(r.get(5)?),
                    },
                ))
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    /// One user's trading figures (zero for a user who never traded).
    pub fn trade_stats(&self, uid: &str) -> Result<TradeStats> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(&stats_sql("firebase_uid = $1"))?;
            let mut rows = stmt.query_map([uid], stats_of_row)?;
            Ok(rows.next().transpose()?.map(|(_, stats)| stats).unwrap_or_default())
        })
    }

    /// Every user's trading figures in `season`, by uid; users who never traded in it are absent.
    pub fn all_trade_stats(&self, season: i32) -> Result<HashMap<String, TradeStats>> {
        self.read(|c| {
            let mut stmt = c.prepare(&stats_sql("season = $1"))?;
            let rows = stmt.query_map([season], stats_of_row)?;
            Ok(rows.collect::<Result<HashMap<_, _>, _>>()?)
        })
    }
}

/// Stores a user's whole profile, replacing the one before.
pub fn save_profile(conn: &Connection, uid: &str, profile: &Profile) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO profiles VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (firebase_uid) DO UPDATE SET username = excluded.username, bio = excluded.bio,
             avatar_url = excluded.avatar_url, email = excluded.email, updated_at = excluded.updated_at",
    )?
    .execute(duckdb::params![
        uid,
        profile.username.as_deref(),
        profile.bio,
        profile.avatar_url,
        profile.email,
        ts_value(profile.updated_at)
    ])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::account::{Position, Side};
    use crate::domain::instrument::Currency;
    use crate::domain::orders::OrderType;
    use crate::storage::ledger::{FilledOrder, LedgerBatch, NewUser, OrderRecord, commit_ledger};
    use rust_decimal::Decimal;

    /// One fill with the position it leaves (quantity, cost) in whole units and cents.
    fn fill(id: i64, uid: &str, symbol: &str, side: Side, qty: i64, total: i64, after: (i64, i64)) -> FilledOrder {
        FilledOrder {
            order: OrderRecord {
                id,
                firebase_uid: uid.into(),
                symbol: symbol.into(),
                side,
                order_type: OrderType::Market,
                quantity: Decimal::from(qty),
                currency: Currency::Usd,
                fill_price: Decimal::new(total, 2) / Decimal::from(qty),
                total: Decimal::new(total, 2),
                commission: Decimal::ZERO,
                created_at: Timestamp(id * 1_000_000),
                filled_at: Timestamp(id * 1_000_000),
            },
            cash_after: Decimal::from(10_000),
            position_after: Position { quantity: Decimal::from(after.0), cost_basis: Decimal::new(after.1, 2) },
        }
    }

    #[test]
    fn a_sell_wins_when_its_proceeds_exceed_the_average_cost_it_closes() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("p.duckdb"), "128MB", 1).unwrap();
        let users = ["ada", "bob"].map(|uid| NewUser {
            uid: uid.into(),
            at: Timestamp(0),
            starting_cash: Currency::ALL.map(|c| (c, Decimal::from(10_000))).into(),
            first: true,
        });
        use Side::{Buy, Sell};
        let orders = vec![
            // Ada: 4 AAPL at 100 and 120 (average 110), sells 1 at 115 (gain), 1 at 105 (loss).
            fill(1, "ada", "AAPL", Buy, 2, 20_000, (2, 20_000)),
            fill(2, "ada", "AAPL", Buy, 2, 24_000, (4, 44_000)),
            fill(3, "ada", "AAPL", Sell, 1, 11_500, (3, 33_000)),
            fill(4, "ada", "AAPL", Sell, 1, 10_500, (2, 22_000)),
            // A BTC sell at exactly its cost is no gain; Bob's sell in AAPL does not mix with Ada's.
            fill(5, "ada", "BTC", Buy, 1, 50_000, (1, 50_000)),
            fill(6, "bob", "AAPL", Buy, 1, 9_000, (1, 9_000)),
            fill(7, "ada", "BTC", Sell, 1, 50_000, (0, 0)),
            fill(8, "bob", "AAPL", Sell, 1, 9_100, (0, 0)),
        ];
        let batch = LedgerBatch { season: 1, new_users: users.into(), orders, ..LedgerBatch::default() };
        commit_ledger(&store.ledger_connection().unwrap(), &batch).unwrap();

        let ada = store.trade_stats("ada").unwrap();
        assert_eq!(ada, TradeStats { trades: 6, round_trips: 3, wins: 1, last_order_at: Some(Timestamp(7_000_000)) });
        let bob = store.trade_stats("bob").unwrap();
        assert_eq!((bob.trades, bob.round_trips, bob.wins), (2, 1, 1));
        assert_eq!(store.trade_stats("carol").unwrap(), TradeStats::default());
        let all = store.all_trade_stats(1).unwrap();
        assert!(store.all_trade_stats(2).unwrap().is_empty(), "figures of one season");
        assert_eq!((all.len(), all["ada"], all["bob"]), (2, ada, bob));
    }

    #[test]
    fn a_saved_profile_is_read_back_and_replaced_whole() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("p.duckdb"), "128MB", 1).unwrap();
        let conn = store.profile_connection().unwrap();
        let first = Profile { username: Some("ada".into()), bio: Some("hi".into()), ..Profile::default() };
        save_profile(&conn, "u1", &first).unwrap();
        let second = Profile {
            username: Some("Ada".into()),
            email: Some("a@b.co".into()),
            updated_at: Timestamp(9),
            ..Profile::default()
        };
        save_profile(&conn, "u1", &second).unwrap();
        assert_eq!(store.load_profiles().unwrap(), vec![("u1".to_string(), second)]);
    }
}
