//! The ledger tables: users, balances, positions, the append-only order history and
//! watchlists. Money is stored in integer cents and quantities in millionths, so SQL sums are
//! exact and the invariants can be checked with SQL alone.

use super::{Result, Store, ts_value};
use crate::domain::instrument::Currency;
use crate::domain::ledger::{Account, Position, Side};
use crate::domain::time::Timestamp;
use duckdb::Connection;
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use std::collections::HashMap;

pub fn to_cents(amount: Decimal) -> i64 {
    (amount * Decimal::ONE_HUNDRED).trunc().to_i64().expect("cash fits in i64 cents")
}

pub fn from_cents(cents: i64) -> Decimal {
    Decimal::new(cents, 2)
}

pub fn to_micros(quantity: Decimal) -> i64 {
    (quantity * Decimal::from(1_000_000)).trunc().to_i64().expect("quantity fits in i64 millionths")
}

pub fn from_micros(micros: i64) -> Decimal {
    Decimal::new(micros, 6).normalize()
}

/// One filled order as stored and as listed.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderRecord {
    pub id: i64,
    pub firebase_uid: String,
    pub symbol: String,
    pub side: Side,
    pub quantity: Decimal,
    pub currency: Currency,
    pub fill_price: Decimal,
    pub total: Decimal,
    pub created_at: Timestamp,
    pub filled_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq)]
pub enum WatchChange {
    Add { uid: String, symbol: String, at: Timestamp },
    Remove { uid: String, symbol: String },
}

/// Everything one group commit writes.
#[derive(Debug, Default)]
pub struct LedgerBatch {
    pub new_users: Vec<(String, Timestamp)>,
    pub orders: Vec<OrderRecord>,
    /// Final balances of every touched (user, currency), with the starting cash.
    pub balances: Vec<(String, Currency, Decimal, Decimal)>,
    /// Final positions of every touched (user, symbol); zero quantity when sold out.
    pub positions: Vec<(String, String, Position)>,
    pub watch_changes: Vec<WatchChange>,
}

impl LedgerBatch {
    pub fn is_empty(&self) -> bool {
        self.new_users.is_empty() && self.orders.is_empty() && self.balances.is_empty() && self.watch_changes.is_empty()
    }
}

/// The ledger as loaded at start-up.
#[derive(Debug, Default)]
pub struct LedgerState {
    pub accounts: HashMap<String, Account>,
    pub watchlists: HashMap<String, Vec<String>>,
    pub next_order_id: i64,
}

fn currency_of(code: &str) -> Currency {
    Currency::ALL.into_iter().find(|c| c.code() == code).unwrap_or(Currency::Usd)
}

impl Store {
    /// A connection of its own for the ledger's single writer.
    pub fn ledger_connection(&self) -> Result<Connection> {
        Ok(self.writer.lock().expect("writer").try_clone()?)
    }

    pub fn load_ledger(&self) -> Result<LedgerState> {
        self.read(|c| {
            let mut state = LedgerState::default();
            let mut stmt = c.prepare("SELECT firebase_uid FROM users")?;
            for uid in stmt.query_map([], |r| r.get::<_, String>(0))? {
                state.accounts.insert(uid?, Account::default());
            }
            let mut stmt = c.prepare("SELECT firebase_uid, currency, cash_cents FROM balances")?;
            let rows =
                stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, i64>(2)?)))?;
            for row in rows {
                let (uid, currency, cents) = row?;
                state.accounts.entry(uid).or_default().cash.insert(currency_of(&currency), from_cents(cents));
            }
            let mut stmt = c.prepare(
                "SELECT firebase_uid, symbol, quantity_micros, cost_cents FROM positions WHERE quantity_micros > 0",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, i64>(2)?, r.get::<_, i64>(3)?))
            })?;
            for row in rows {
                let (uid, symbol, qty, cost) = row?;
                let position = Position { quantity: from_micros(qty), cost_basis: from_cents(cost) };
                state.accounts.entry(uid).or_default().positions.insert(symbol, position);
            }
            let mut stmt = c.prepare("SELECT firebase_uid, symbol FROM watchlist ORDER BY added_at, symbol")?;
            for row in stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))? {
                let (uid, symbol) = row?;
                state.watchlists.entry(uid).or_default().push(symbol);
            }
            state.next_order_id = c.query_row("SELECT coalesce(max(id), 0) + 1 FROM orders", [], |r| r.get(0))?;
            Ok(state)
        })
    }

    /// A user's orders, newest first.
    pub fn orders_of(&self, uid: &str, limit: usize) -> Result<Vec<OrderRecord>> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT id, symbol, side, quantity_micros, currency, fill_price_cents, total_cents,
                        epoch_us(created_at), epoch_us(filled_at)
                 FROM orders WHERE firebase_uid = ? ORDER BY id DESC LIMIT ?",
            )?;
            let rows = stmt.query_map(duckdb::params![uid, limit as i64], |r| {
                Ok(OrderRecord {
                    id: r.get(0)?,
                    firebase_uid: uid.to_string(),
                    symbol: r.get(1)?,
                    side: if r.get::<_, String>(2)? == "sell" { Side::Sell } else { Side::Buy },
                    quantity: from_micros(r.get(3)?),
                    currency: currency_of(&r.get::<_, String>(4)?),
                    fill_price: from_cents(r.get(5)?),
                    total: from_cents(r.get(6)?),
                    created_at: Timestamp(r.get(7)?),
                    filled_at: Timestamp(r.get(8)?),
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    /// Orders in the ledger.
    pub fn count_orders(&self) -> Result<i64> {
        self.read(|c| Ok(c.query_row("SELECT count(*) FROM orders", [], |r| r.get(0))?))
    }

    /// Lists every broken ledger invariant; empty when the ledger is consistent.
    pub fn check_ledger(&self) -> Result<Vec<String>> {
        self.read(|c| {
            let mut breaks = Vec::new();
            let mut stmt = c.prepare(
                "WITH flows AS (
                     SELECT firebase_uid, currency,
                            sum(CASE side WHEN 'buy' THEN -total_cents ELSE total_cents END) AS net
                     FROM orders GROUP BY ALL
                 )
                 SELECT b.firebase_uid, b.currency, b.starting_cents, b.cash_cents, coalesce(f.net, 0)
                 FROM balances b LEFT JOIN flows f USING (firebase_uid, currency)
                 WHERE b.cash_cents <> b.starting_cents + coalesce(f.net, 0) OR b.cash_cents < 0
                 UNION ALL
                 SELECT f.firebase_uid, f.currency, NULL, NULL, f.net
                 FROM flows f ANTI JOIN balances b USING (firebase_uid, currency)",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok(format!(
                    "balance of {} in {}: stored {:?} cents, starting {:?} + orders {} cents",
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Option<i64>>(3)?,
                    r.get::<_, Option<i64>>(2)?,
                    r.get::<_, i64>(4)?
                ))
            })?;
            breaks.extend(rows.collect::<Result<Vec<_>, _>>()?);
            let mut stmt = c.prepare(
                "WITH flows AS (
                     SELECT firebase_uid, symbol,
                            sum(CASE side WHEN 'buy' THEN quantity_micros ELSE -quantity_micros END) AS net
                     FROM orders GROUP BY ALL
                 )
                 SELECT coalesce(p.firebase_uid, f.firebase_uid), coalesce(p.symbol, f.symbol),
                        coalesce(p.quantity_micros, 0), coalesce(f.net, 0)
                 FROM positions p FULL OUTER JOIN flows f USING (firebase_uid, symbol)
                 WHERE coalesce(p.quantity_micros, 0) <> coalesce(f.net, 0) OR coalesce(p.quantity_micros, 0) < 0",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok(format!(
                    "position of {} in {}: stored {} millionths, orders say {}",
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, i64>(3)?
                ))
            })?;
            breaks.extend(rows.collect::<Result<Vec<_>, _>>()?);
            Ok(breaks)
        })
    }
}

/// Writes one group commit on the ledger's connection: all of it or (on error) none of it.
pub fn commit_ledger(conn: &Connection, batch: &LedgerBatch) -> Result<()> {
    conn.execute_batch("BEGIN TRANSACTION")?;
    let result = write_ledger(conn, batch);
    match result {
        Ok(()) => match conn.execute_batch("COMMIT") {
            Ok(()) => Ok(()),
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK");
                Err(e.into())
            }
        },
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(e)
        }
    }
}

fn write_ledger(conn: &Connection, batch: &LedgerBatch) -> Result<()> {
    if !batch.new_users.is_empty() {
        let mut users = conn.appender("users")?;
        for (uid, at) in &batch.new_users {
            users.append_row(duckdb::params![uid, ts_value(*at)])?;
        }
        users.flush()?;
    }
    if !batch.orders.is_empty() {
        let mut orders = conn.appender("orders")?;
        for o in &batch.orders {
            orders.append_row(duckdb::params![
                o.id,
                o.firebase_uid,
                o.symbol,
                o.side.as_str(),
                "market",
                to_micros(o.quantity),
                "filled",
                o.currency.code(),
                to_cents(o.fill_price),
                to_cents(o.total),
                ts_value(o.created_at),
                ts_value(o.filled_at)
            ])?;
        }
        orders.flush()?;
    }
    if !batch.balances.is_empty() {
        let mut stmt = conn.prepare_cached("INSERT OR REPLACE INTO balances VALUES (?, ?, ?, ?)")?;
        for (uid, currency, starting, cash) in &batch.balances {
            stmt.execute(duckdb::params![uid, currency.code(), to_cents(*starting), to_cents(*cash)])?;
        }
    }
    if !batch.positions.is_empty() {
        let mut stmt = conn.prepare_cached("INSERT OR REPLACE INTO positions VALUES (?, ?, ?, ?)")?;
        for (uid, symbol, p) in &batch.positions {
            stmt.execute(duckdb::params![uid, symbol, to_micros(p.quantity), to_cents(p.cost_basis)])?;
        }
    }
    for change in &batch.watch_changes {
        match change {
            WatchChange::Add { uid, symbol, at } => {
                conn.execute("INSERT INTO watchlist VALUES (?, ?, ?)", duckdb::params![uid, symbol, ts_value(*at)])?
            }
            WatchChange::Remove { uid, symbol } => conn
                .execute("DELETE FROM watchlist WHERE firebase_uid = ? AND symbol = ?", duckdb::params![uid, symbol])?,
        };
    }
    Ok(())
}
