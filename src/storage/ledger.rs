//! The ledger tables: users, their opening balances, the append-only order history and
//! watchlists. Money is stored in integer cents and quantities in millionths, so SQL sums are
//! exact and the invariants can be checked with SQL alone.
//!
//! Why append-only: a group commit that updated one balance row and one position row per
//! touched user paid DuckDB's per-statement upsert cost (milliseconds through a primary-key
//! index) for every user in the group. Each order row instead records the cash and position
//! its fill left behind, so a commit is one append of order rows, whatever the number of users,
//! and the current state is the latest row per key (`balances` and `positions` are views).

use super::{Result, Store, transaction, ts_value};
use crate::domain::account::{Account, Position, Side};
use crate::domain::instrument::Currency;
use crate::domain::orders::OrderType;
use crate::domain::time::Timestamp;
use duckdb::Connection;
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use std::collections::{BTreeMap, HashMap, HashSet};

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
    /// The type of the order this fill belongs to.
    pub order_type: OrderType,
    pub quantity: Decimal,
    pub currency: Currency,
    pub fill_price: Decimal,
    pub total: Decimal,
    /// The class's commission, paid on top of a buy's total and out of a sale's.
    pub commission: Decimal,
    pub created_at: Timestamp,
    pub filled_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq)]
pub enum WatchChange {
    Add { uid: String, symbol: String, at: Timestamp },
    Remove { uid: String, symbol: String },
}

/// An order as the ledger stores it: the fill and the account state right after it.
#[derive(Debug, Clone, PartialEq)]
pub struct FilledOrder {
    pub order: OrderRecord,
    /// The cash balance in the order's currency after the fill.
    pub cash_after: Decimal,
    /// The position in the order's symbol after the fill (zero when sold out).
    pub position_after: Position,
}

/// A user opening an account in a season, with the cash they open with in every currency.
#[derive(Debug, Clone, PartialEq)]
pub struct NewUser {
    pub uid: String,
    pub at: Timestamp,
    pub starting_cash: BTreeMap<Currency, Decimal>,
    /// Seen for the first time in any season: registered in `users` too.
    pub first: bool,
}

/// Everything one group commit writes: appends only, apart from watchlist removals.
#[derive(Debug, Default)]
pub struct LedgerBatch {
    /// The season every row of the batch belongs to.
    pub season: i32,
    pub new_users: Vec<NewUser>,
    pub orders: Vec<FilledOrder>,
    pub watch_changes: Vec<WatchChange>,
    /// Lifecycle events of orders beyond market ones.
    pub order_events: Vec<super::orders::OrderEvent>,
    /// Students who joined the class.
    pub joins: Vec<(String, Timestamp)>,
}

impl LedgerBatch {
    pub fn is_empty(&self) -> bool {
        self.new_users.is_empty()
            && self.orders.is_empty()
            && self.watch_changes.is_empty()
            && self.order_events.is_empty()
            && self.joins.is_empty()
    }
}

/// One season's ledger as loaded (at start-up, and when a reset is undone).
#[derive(Debug, Default)]
pub struct LedgerState {
    pub accounts: HashMap<String, Account>,
    pub watchlists: HashMap<String, Vec<String>>,
    /// Every user of any season.
    pub registered: HashSet<String>,
    pub next_order_id: i64,
}

pub(super) fn currency_of(code: &str) -> Currency {
    Currency::ALL.into_iter().find(|c| c.code() == code).unwrap_or(Currency::Usd)
}

impl Store {
    /// A connection of its own for the ledger's single writer.
    pub fn ledger_connection(&self) -> Result<Connection> {
        Ok(self.write_conn.lock().expect("writer").try_clone()?)
    }

    /// The accounts of `season` (every user with an opening balance in it), every watchlist,
    /// and the next order id (ids run on across seasons).
    pub fn load_ledger(&self, season: i32) -> Result<LedgerState> {
        self.read(|c| {
            let mut state = LedgerState::default();
            let mut stmt = c.prepare("SELECT firebase_uid FROM users")?;
            for uid in stmt.query_map([], |r| r.get::<_, String>(0))? {
                state.registered.insert(uid?);
            }
            let mut stmt =
                c.prepare("SELECT firebase_uid, currency, cash_cents, starting_cents FROM balances WHERE season = ?")?;
            let rows = stmt.query_map([season], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, i64>(2)?, r.get::<_, i64>(3)?))
            })?;
            for row in rows {
                let (uid, currency, cents, starting) = row?;
                let account = state.accounts.entry(uid).or_default();
                account.cash.insert(currency_of(&currency), from_cents(cents));
                account.opening.insert(currency_of(&currency), from_cents(starting));
            }
            let mut stmt = c.prepare(
                "SELECT firebase_uid, symbol, quantity_micros, cost_cents FROM positions
                 WHERE season = ? AND quantity_micros > 0",
            )?;
            let rows = stmt.query_map([season], |r| {
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
            for (uid, fills) in super::seasons::fills_in(c, season)? {
                state.accounts.entry(uid).or_default().fills = fills as u64;
            }
            state.next_order_id = c.query_row("SELECT coalesce(max(id), 0) + 1 FROM orders", [], |r| r.get(0))?;
            Ok(state)
        })
    }

    /// A user's fills in `season`, newest first.
    pub fn orders_of(&self, uid: &str, season: i32, limit: usize) -> Result<Vec<OrderRecord>> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT id, symbol, side, quantity_micros, currency, fill_price_cents, total_cents,
                        epoch_us(created_at), epoch_us(filled_at), order_type, commission_cents
                 FROM orders WHERE firebase_uid = ? AND season = ? ORDER BY id DESC LIMIT ?",
            )?;
            let rows = stmt.query_map(duckdb::params![uid, season, limit as i64], |r| {
                Ok(OrderRecord {
                    id: r.get(0)?,
                    firebase_uid: uid.to_string(),
                    symbol: r.get(1)?,
                    side: if r.get::<_, String>(2)? == "sell" { Side::Sell } else { Side::Buy },
                    order_type: OrderType::parse(&r.get::<_, String>(9)?).unwrap_or(OrderType::Market),
                    quantity: from_micros(r.get(3)?),
                    currency: currency_of(&r.get::<_, String>(4)?),
                    fill_price: from_cents(r.get(5)?),
                    total: from_cents(r.get(6)?),
                    commission: from_cents(r.get(10)?),
                    created_at: Timestamp(r.get(7)?),
                    filled_at: Timestamp(r.get(8)?),
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    /// Fills in `season`.
    pub fn count_orders(&self, season: i32) -> Result<i64> {
        self.read(|c| Ok(c.query_row("SELECT count(*) FROM orders WHERE season = ?", [season], |r| r.get(0))?))
    }

    /// Lists every broken ledger invariant; empty when the ledger is consistent. Every order
    /// row is checked against the history before it: its recorded cash is the opening balance
    /// plus the net of all orders up to it in that currency (and never negative), and its
    /// recorded position is the net quantity of all orders up to it in that symbol. The
    /// current balances and positions are the latest rows, so they are checked too. Each season
    /// is a ledger of its own: archived seasons are checked like the current one.
    pub fn check_ledger(&self) -> Result<Vec<String>> {
        self.read(|c| {
            let mut stmt = c.prepare(
                "WITH running AS (
                     SELECT id, season, firebase_uid, currency, symbol, cash_after_cents, position_after_micros,
                            cost_after_cents,
                            sum(CASE side WHEN 'buy' THEN -total_cents ELSE total_cents END - commission_cents) OVER (
                                PARTITION BY season, firebase_uid, currency ORDER BY id ROWS UNBOUNDED PRECEDING) AS net,
                            sum(CASE side WHEN 'buy' THEN quantity_micros ELSE -quantity_micros END) OVER (
                                PARTITION BY season, firebase_uid, symbol ORDER BY id ROWS UNBOUNDED PRECEDING) AS held
                     FROM orders
                 )
                 SELECT r.id, r.firebase_uid, r.currency, r.symbol, b.starting_cents, r.net::BIGINT,
                        r.cash_after_cents, r.held::BIGINT, r.position_after_micros, r.cost_after_cents, r.season
                 FROM running r LEFT JOIN opening_balances b USING (season, firebase_uid, currency)
                 WHERE b.starting_cents IS NULL
                    OR r.cash_after_cents <> b.starting_cents + r.net OR r.cash_after_cents < 0
                    OR r.position_after_micros <> r.held OR r.held < 0
                    OR r.cost_after_cents < 0 OR (r.held = 0 AND r.cost_after_cents <> 0)
                 ORDER BY r.id",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok(format!(
                    "order {} of {} (season {}, {} in {}): cash after {} cents, opening {:?} + orders so far \
                     {} cents; position after {} millionths, orders so far {}; cost after {} cents",
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i32>(10)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, i64>(6)?,
                    r.get::<_, Option<i64>>(4)?,
                    r.get::<_, i64>(5)?,
                    r.get::<_, i64>(8)?,
                    r.get::<_, i64>(7)?,
                    r.get::<_, i64>(9)?,
                ))
            })?;
            let mut breaks = rows.collect::<Result<Vec<_>, _>>()?;
            let mut stmt = c.prepare(
                "SELECT firebase_uid, season, count(*) FROM opening_balances GROUP BY ALL HAVING count(*) <> ?
                 UNION ALL
                 SELECT firebase_uid, NULL, 0 FROM users ANTI JOIN opening_balances USING (firebase_uid)",
            )?;
            let rows = stmt.query_map([Currency::ALL.len() as i64], |r| {
                let season = r.get::<_, Option<i32>>(1)?.map_or("any season".to_string(), |s| format!("season {s}"));
                Ok(format!(
                    "user {} has {} opening balances in {season}, expected one per currency ({})",
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(2)?,
                    Currency::ALL.len()
                ))
            })?;
            breaks.extend(rows.collect::<Result<Vec<_>, _>>()?);
            Ok(breaks)
        })
    }
}

/// Writes one group commit on the ledger's connection: all of it or (on error) none of it.
pub fn commit_ledger(conn: &Connection, batch: &LedgerBatch) -> Result<()> {
    transaction(conn, || write_ledger(conn, batch))
}

fn write_ledger(conn: &Connection, batch: &LedgerBatch) -> Result<()> {
    write_new_users(conn, &batch.new_users, batch.season)?;
    if !batch.orders.is_empty() {
        let mut orders = conn.appender("orders")?;
        for FilledOrder { order: o, cash_after, position_after } in &batch.orders {
            orders.append_row(duckdb::params![
                o.id,
                o.firebase_uid,
                o.symbol,
                o.side.as_str(),
                o.order_type.as_str(),
                to_micros(o.quantity),
                "filled",
                o.currency.code(),
                to_cents(o.fill_price),
                to_cents(o.total),
                ts_value(o.created_at),
                ts_value(o.filled_at),
                to_cents(*cash_after),
                to_micros(position_after.quantity),
                to_cents(position_after.cost_basis),
                to_cents(o.commission),
                batch.season
            ])?;
        }
        orders.flush()?;
    }
    super::orders::append_order_events(conn, &batch.order_events, batch.season)?;
    if !batch.joins.is_empty() {
        let mut joins = conn.appender("class_members")?;
        for (uid, at) in &batch.joins {
            joins.append_row(duckdb::params![uid, ts_value(*at)])?;
        }
        joins.flush()?;
    }
    for change in &batch.watch_changes {
        match change {
            WatchChange::Add { uid, symbol, at } => conn
                .prepare_cached("INSERT INTO watchlist VALUES (?, ?, ?)")?
                .execute(duckdb::params![uid, symbol, ts_value(*at)])?,
            WatchChange::Remove { uid, symbol } => conn
                .prepare_cached("DELETE FROM watchlist WHERE firebase_uid = ? AND symbol = ?")?
                .execute(duckdb::params![uid, symbol])?,
        };
    }
    Ok(())
}

/// Opens accounts in `season`: their opening balances, and a `users` row for those never seen.
pub(super) fn write_new_users(conn: &Connection, new_users: &[NewUser], season: i32) -> Result<()> {
    if new_users.is_empty() {
        return Ok(());
    }
    let mut users = conn.appender("users")?;
    for user in new_users.iter().filter(|u| u.first) {
        users.append_row(duckdb::params![user.uid, ts_value(user.at)])?;
    }
    users.flush()?;
    let mut opening = conn.appender("opening_balances")?;
    for user in new_users {
        for currency in Currency::ALL {
            let cash = user.starting_cash.get(&currency).copied().unwrap_or_default();
            opening.append_row(duckdb::params![user.uid, currency.code(), to_cents(cash), season])?;
        }
    }
    opening.flush()?;
    Ok(())
}
