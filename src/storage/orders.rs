//! The order lifecycle table: one appended row per event of an order that is not a plain market
//! order (placed, replaced, moved, filled, canceled, expired, rejected), each row carrying the
//! whole order as it stood after the event. The current state of an order is its latest row,
//! so nothing is ever updated, and a crash leaves every committed event in place.
//!
//! Market orders have no rows here: their fill row in `orders` is their whole life, and the
//! lists below read them from there.

use super::ledger::{currency_of, from_cents, from_micros, to_cents, to_micros};
use super::{Result, Store, ts_value};
use crate::domain::account::Side;
use crate::domain::instrument::Currency;
use crate::domain::orders::{OrderSpec, OrderStatus, OrderType, Progress, TimeInForce, Trail};
use crate::domain::time::Timestamp;
use duckdb::{Connection, Row};
use rust_decimal::Decimal;

/// An order as the routes show it: its terms, where it stands, and its fill once filled.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderInfo {
    pub id: i64,
    pub firebase_uid: String,
    pub symbol: String,
    pub currency: Currency,
    pub spec: OrderSpec,
    pub status: OrderStatus,
    /// Why it was canceled, expired or rejected.
    pub reason: Option<String>,
    /// What it holds back while open: cash for a buy, quantity for a sell; zero once closed.
    pub held: Decimal,
    pub progress: Progress,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub expires_at: Option<Timestamp>,
    pub fill: Option<OrderFill>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OrderFill {
    /// The id of the fill's row in the ledger.
    pub fill_id: i64,
    pub price: Decimal,
    pub total: Decimal,
    /// The class's commission on the fill.
    pub commission: Decimal,
    pub at: Timestamp,
}

/// One appended lifecycle event.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderEvent {
    pub event_id: i64,
    /// `new`, `replaced`, `moved` (trigger or trailing mark changed), `fill`, `canceled`,
    /// `expired` or `rejected`.
    pub event: &'static str,
    pub order: OrderInfo,
}

/// Which orders a list returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderFilter {
    Open,
    Closed,
    All,
}

pub(super) fn append_order_events(conn: &Connection, events: &[OrderEvent], season: i32) -> Result<()> {
    if events.is_empty() {
        return Ok(());
    }
    let mut rows = conn.appender("order_events")?;
    for OrderEvent { event_id, event, order: o } in events {
        let s = &o.spec;
        let (trail_cents, trail_percent) = match s.trail {
            Some(Trail::Price(p)) => (Some(to_cents(p)), None),
            Some(Trail::Percent(p)) => (None, Some(to_micros(p))),
            None => (None, None),
        };
        let held = if s.side == Side::Buy { to_cents(o.held) } else { to_micros(o.held) };
        rows.append_row(duckdb::params![
            event_id,
            o.id,
            o.firebase_uid,
            o.symbol,
            o.currency.code(),
            s.side.as_str(),
            s.order_type.as_str(),
            s.time_in_force.as_str(),
            to_micros(s.quantity),
            s.limit_price.map(to_cents),
            s.stop_price.map(to_cents),
            trail_cents,
            trail_percent,
            o.progress.triggered,
            o.progress.mark.map(to_cents),
            held,
            o.status.as_str(),
            *event,
            o.reason,
            o.fill.map(|f| f.fill_id),
            o.fill.map(|f| to_cents(f.price)),
            o.fill.map(|f| to_cents(f.total)),
            ts_value(o.created_at),
            ts_value(o.updated_at),
            o.expires_at.map(ts_value),
            o.fill.map(|f| ts_value(f.at)),
            o.fill.map_or(0, |f| to_cents(f.commission)),
            season,
        ])?;
    }
    rows.flush()?;
    Ok(())
}

/// The columns every order query selects, in [`order_of_row`]'s order.
const EVENT_COLUMNS: &str = "order_id, firebase_uid, symbol, currency, side, order_type, time_in_force,
    quantity_micros, limit_cents, stop_cents, trail_cents, trail_percent, triggered, mark_cents, held, status,
    reason, fill_id, fill_price_cents, total_cents, epoch_us(created_at), epoch_us(updated_at),
    epoch_us(expires_at), epoch_us(filled_at), commission_cents";

/// Market orders in the same columns, from their fill rows.
const MARKET_COLUMNS: &str = "id, firebase_uid, symbol, currency, side, 'market', 'day', quantity_micros,
    NULL, NULL, NULL, NULL, false, NULL, 0, 'filled', NULL, id, fill_price_cents, total_cents,
    epoch_us(created_at), epoch_us(filled_at), NULL, epoch_us(filled_at), commission_cents";

fn order_of_row(r: &Row<'_>) -> duckdb::Result<OrderInfo> {
    let side = Side::parse(&r.get::<_, String>(4)?).unwrap_or(Side::Buy);
    let trail = match (r.get::<_, Option<i64>>(10)?, r.get::<_, Option<i64>>(11)?) {
        (Some(cents), _) => Some(Trail::Price(from_cents(cents))),
        (None, Some(p)) => Some(Trail::Percent(Decimal::new(p, 6).normalize())),
        _ => None,
    };
    let held: i64 = r.get(14)?;
    let fill = match r.get::<_, Option<i64>>(17)? {
        Some(fill_id) => Some(OrderFill {
            fill_id,
            price: from_cents(r.get(18)?),
            total: from_cents(r.get(19)?),
            commission: from_cents(r.get::<_, Option<i64>>(24)?.unwrap_or(0)),
            at: Timestamp(r.get(23)?),
        }),
        None => None,
    };
    Ok(OrderInfo {
        id: r.get(0)?,
        firebase_uid: r.get(1)?,
        symbol: r.get(2)?,
        currency: currency_of(&r.get::<_, String>(3)?),
        spec: OrderSpec {
            side,
            order_type: OrderType::parse(&r.get::<_, String>(5)?).unwrap_or(OrderType::Market),
            time_in_force: TimeInForce::parse(&r.get::<_, String>(6)?).unwrap_or(TimeInForce::Day),
            quantity: from_micros(r.get(7)?),
            limit_price: r.get::<_, Option<i64>>(8)?.map(from_cents),
            stop_price: r.get::<_, Option<i64>>(9)?.map(from_cents),
            trail,
        },
        progress: Progress { triggered: r.get(12)?, mark: r.get::<_, Option<i64>>(13)?.map(from_cents) },
        held: if side == Side::Buy { from_cents(held) } else { from_micros(held) },
        status: OrderStatus::parse(&r.get::<_, String>(15)?).unwrap_or(OrderStatus::Rejected),
        reason: r.get(16)?,
        created_at: Timestamp(r.get(20)?),
        updated_at: Timestamp(r.get(21)?),
        expires_at: r.get::<_, Option<i64>>(22)?.map(Timestamp),
        fill,
    })
}

impl Store {
    /// Every open order of `season` in placement order, the id the next event takes, and the
    /// least id the next order may take (orders that never filled have ids too; ids run on
    /// across seasons). Orders left open when a season ended stay as they were, in it.
    pub fn load_open_orders(&self, season: i32) -> Result<(Vec<OrderInfo>, i64, i64)> {
        self.read(|c| {
            let mut stmt = c.prepare(&format!(
                "SELECT {EVENT_COLUMNS} FROM order_events WHERE season = ?
                 QUALIFY row_number() OVER (PARTITION BY order_id ORDER BY event_id DESC) = 1 AND status = 'new'
                 ORDER BY order_id"
            ))?;
            let open = stmt.query_map([season], order_of_row)?.collect::<Result<Vec<_>, _>>()?;
            let (next_event, next_order) = c.query_row(
                "SELECT coalesce(max(event_id), 0) + 1, coalesce(max(order_id), 0) + 1 FROM order_events",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            Ok((open, next_event, next_order))
        })
    }

    /// One of a user's orders in `season` as it stands now.
    pub fn order_of(&self, uid: &str, id: i64, season: i32) -> Result<Option<OrderInfo>> {
        let listed = self.read(|c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT * FROM (
                     SELECT {EVENT_COLUMNS} FROM order_events WHERE firebase_uid = ? AND order_id = ? AND season = ?
                     ORDER BY event_id DESC LIMIT 1)
                 UNION ALL
                 SELECT {MARKET_COLUMNS} FROM orders
                 WHERE firebase_uid = ? AND id = ? AND season = ? AND order_type = 'market'"
            ))?;
            let rows = stmt.query_map(duckdb::params![uid, id, season, uid, id, season], order_of_row)?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })?;
        Ok(listed.into_iter().next())
    }

    /// A user's orders in `season`, newest first.
    pub fn orders_listed(&self, uid: &str, filter: OrderFilter, season: i32, limit: usize) -> Result<Vec<OrderInfo>> {
        let status = match filter {
            OrderFilter::Open => "status = 'new'",
            OrderFilter::Closed => "status <> 'new'",
            OrderFilter::All => "true",
        };
        let market = if filter == OrderFilter::Open { "false" } else { "true" };
        self.read(|c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT * FROM (
                     SELECT {EVENT_COLUMNS} FROM order_events WHERE firebase_uid = ? AND season = ?
                     QUALIFY row_number() OVER (PARTITION BY order_id ORDER BY event_id DESC) = 1)
                 WHERE {status}
                 UNION ALL
                 SELECT {MARKET_COLUMNS} FROM orders
                 WHERE firebase_uid = ? AND season = ? AND order_type = 'market' AND {market}
                 ORDER BY 1 DESC LIMIT ?"
            ))?;
            let rows = stmt.query_map(duckdb::params![uid, season, uid, season, limit as i64], order_of_row)?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    /// Lists broken lifecycle invariants: an event after a final one (a fill of a canceled
    /// order, a second fill), a fill whose ledger row is missing or disagrees, one ledger row
    /// filling two orders, an order's events in two seasons or its fill in another one, and open
    /// orders holding more cash or quantity than the user has in their season.
    pub fn check_orders(&self) -> Result<Vec<String>> {
        self.read(|c| {
            let mut stmt = c.prepare(
                "WITH ranked AS (
                     SELECT order_id, event_id, status,
                            count(*) FILTER (WHERE status <> 'new') OVER (PARTITION BY order_id ORDER BY event_id
                                ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS closed_before
                     FROM order_events),
                 open_orders AS (
                     SELECT * FROM order_events
                     QUALIFY row_number() OVER (PARTITION BY order_id ORDER BY event_id DESC) = 1 AND status = 'new'),
                 held_cash AS (
                     SELECT season, firebase_uid, currency, sum(held) AS held FROM open_orders
                     WHERE side = 'buy' GROUP BY ALL),
                 held_quantity AS (
                     SELECT season, firebase_uid, symbol, sum(held) AS held FROM open_orders
                     WHERE side = 'sell' GROUP BY ALL)
                 SELECT format('order {} has an event after it was closed (event {})', order_id, event_id)
                 FROM ranked WHERE closed_before > 0
                 UNION ALL
                 SELECT format('order {} was filled by ledger row {}, which {}', e.order_id, e.fill_id,
                               CASE WHEN o.id IS NULL THEN 'does not exist' ELSE 'disagrees' END)
                 FROM order_events e LEFT JOIN orders o ON o.id = e.fill_id
                 WHERE e.status = 'filled' AND (o.id IS NULL OR o.firebase_uid <> e.firebase_uid
                       OR o.quantity_micros <> e.quantity_micros OR o.total_cents <> e.total_cents
                       OR o.season <> e.season)
                 UNION ALL
                 SELECT format('order {} has events in seasons {}', order_id, string_agg(DISTINCT season::VARCHAR, ', '))
                 FROM order_events GROUP BY order_id HAVING count(DISTINCT season) > 1
                 UNION ALL
                 SELECT format('ledger row {} fills {} orders', fill_id, count(DISTINCT order_id))
                 FROM order_events WHERE fill_id IS NOT NULL GROUP BY fill_id HAVING count(DISTINCT order_id) > 1
                 UNION ALL
                 SELECT format('open orders of {} in season {} hold {} cents of {} but the balance is {}',
                               h.firebase_uid, h.season, h.held, h.currency, coalesce(b.cash_cents, 0))
                 FROM held_cash h LEFT JOIN balances b USING (season, firebase_uid, currency)
                 WHERE h.held > coalesce(b.cash_cents, 0)
                 UNION ALL
                 SELECT format('open orders of {} in season {} hold {} millionths of {} but the position is {}',
                               h.firebase_uid, h.season, h.held, h.symbol, coalesce(p.quantity_micros, 0))
                 FROM held_quantity h LEFT JOIN positions p USING (season, firebase_uid, symbol)
                 WHERE h.held > coalesce(p.quantity_micros, 0)",
            )?;
            let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }
}
