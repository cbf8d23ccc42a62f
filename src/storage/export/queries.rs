//! The SQL of each exported dataset: which stored columns, read how, under which names.

use super::ExportRange;
use crate::domain::time::Timestamp;
use crate::storage::history::candle_columns;
use crate::storage::schema::rollup_table;

/// A timestamp as SQL. Only ever a number, so nothing a request sends reaches the text.
fn at(t: Timestamp) -> String {
    format!("make_timestamp({}::BIGINT)", t.micros())
}

/// The condition that `column` lies in the range (`true` when unbounded).
pub(super) fn within(column: &str, range: &ExportRange) -> String {
    let mut conditions = vec!["true".to_string()];
    if let Some(from) = range.from {
        conditions.push(format!("{column} >= {}", at(from)));
    }
    if let Some(to) = range.to {
        conditions.push(format!("{column} <= {}", at(to)));
    }
    conditions.join(" AND ")
}

/// One exported column: a stored column, how it is read, and the name it is exported under.
enum Column {
    /// As stored.
    Plain(&'static str),
    /// Integer cents as an exact amount.
    Money(&'static str, &'static str),
    /// Integer millionths as an exact quantity.
    Quantity(&'static str, &'static str),
    /// A stored UTC time, marked as UTC.
    Utc(&'static str, &'static str),
    /// Any other expression.
    Sql(&'static str, &'static str),
}

fn select(columns: &[Column]) -> String {
    let column = |c: &Column| match *c {
        Column::Plain(name) => name.to_string(),
        Column::Money(stored, name) => format!("({stored} * 0.01)::DECIMAL(18,2) AS {name}"),
        Column::Quantity(stored, name) => format!("({stored} * 0.000001)::DECIMAL(18,6) AS {name}"),
        Column::Utc(stored, name) => format!("{stored}::TIMESTAMPTZ AS {name}"),
        Column::Sql(expression, name) => format!("{expression} AS {name}"),
    };
    columns.iter().map(column).collect::<Vec<_>>().join(", ")
}

use Column::{Money, Plain, Quantity, Sql, Utc};

/// Ticks in the order they were stored, which is the order they happened in: DuckDB keeps
/// insertion order, and sorting five days (7.8 million rows) again by symbol and time made
/// the export three times slower.
pub(super) fn ticks(range: &ExportRange) -> String {
    let columns = [Plain("symbol"), Utc("ts", "time"), Sql("price::DECIMAL(18,2)", "price"), Plain("volume")];
    format!("SELECT {} FROM price_ticks WHERE {}", select(&columns), within("ts", range))
}

/// Candles as the chart routes aggregate them: the same columns from the same rollup, over
/// whole buckets.
pub(super) fn candles(range: &ExportRange) -> String {
    let tf = range.timeframe;
    let mut bounds = vec!["true".to_string()];
    if let Some(from) = range.from {
        bounds.push(format!("bucket >= {}", at(tf.bucket_start(from))));
    }
    if let Some(to) = range.to {
        bounds.push(format!("bucket < {}", at(tf.shift(tf.bucket_start(to), 1))));
    }
    let columns = [
        Plain("symbol"),
        Utc("make_timestamp(b)", "time"),
        Sql("open::DECIMAL(18,2)", "open"),
        Sql("high::DECIMAL(18,2)", "high"),
        Sql("low::DECIMAL(18,2)", "low"),
        Sql("close::DECIMAL(18,2)", "close"),
        Plain("volume"),
    ];
    format!(
        "SELECT {} FROM (SELECT symbol, {} FROM {} WHERE {} GROUP BY symbol, b) ORDER BY symbol, b",
        select(&columns),
        candle_columns(tf),
        rollup_table(tf.source()),
        bounds.join(" AND ")
    )
}

/// The ledger: one row per fill, of every season (`season` says which). `fill_id` is the id the portfolio's order list shows;
/// `order_id` the one the order routes show (a market order's is its fill's).
pub(super) fn orders(range: &ExportRange) -> String {
    let columns = [
        Sql("o.id", "fill_id"),
        Sql("coalesce(e.order_id, o.id)", "order_id"),
        Sql("o.season", "season"),
        Plain("o.firebase_uid"),
        Plain("o.symbol"),
        Plain("o.currency"),
        Plain("o.side"),
        Plain("o.order_type"),
        Quantity("o.quantity_micros", "quantity"),
        Money("o.fill_price_cents", "price"),
        Money("o.total_cents", "total"),
        Utc("o.created_at", "created_at"),
        Utc("o.filled_at", "filled_at"),
        Money("o.cash_after_cents", "cash_after"),
        Quantity("o.position_after_micros", "position_after"),
        Money("o.cost_after_cents", "position_cost_after"),
        Money("o.commission_cents", "commission"),
    ];
    format!(
        "SELECT {} FROM orders o
         LEFT JOIN (SELECT DISTINCT order_id, fill_id FROM order_events WHERE fill_id IS NOT NULL) e
                ON e.fill_id = o.id
         WHERE {} ORDER BY o.filled_at, o.id",
        select(&columns),
        within("o.filled_at", range)
    )
}

/// The lifecycle of resting orders; market orders have none (their fill is their life).
/// `held_cash` is what a buy holds back, `held_quantity` what a sell does.
pub(super) fn order_events(range: &ExportRange) -> String {
    let columns = [
        Plain("event_id"),
        Plain("order_id"),
        Utc("updated_at", "time"),
        Plain("season"),
        Plain("event"),
        Plain("status"),
        Plain("reason"),
        Plain("firebase_uid"),
        Plain("symbol"),
        Plain("currency"),
        Plain("side"),
        Plain("order_type"),
        Plain("time_in_force"),
        Quantity("quantity_micros", "quantity"),
        Money("limit_cents", "limit_price"),
        Money("stop_cents", "stop_price"),
        Money("trail_cents", "trail_price"),
        Quantity("trail_percent", "trail_percent"),
        Plain("triggered"),
        Money("mark_cents", "mark_price"),
        Money("CASE WHEN side = 'buy' THEN held END", "held_cash"),
        Quantity("CASE WHEN side = 'sell' THEN held END", "held_quantity"),
        Plain("fill_id"),
        Money("fill_price_cents", "fill_price"),
        Money("total_cents", "total"),
        Utc("created_at", "created_at"),
        Utc("expires_at", "expires_at"),
        Utc("filled_at", "filled_at"),
    ];
    format!("SELECT {} FROM order_events WHERE {} ORDER BY event_id", select(&columns), within("updated_at", range))
}

/// The value snapshots behind the standings and performance charts: each student's value at
/// each snapshot, in cents of the class's reporting currency.
pub(super) fn standings(range: &ExportRange) -> String {
    let columns = [Utc("ts", "time"), Plain("season"), Plain("firebase_uid"), Money("value_cents", "value")];
    format!("SELECT {} FROM value_snapshots WHERE {} ORDER BY ts, firebase_uid", select(&columns), within("ts", range))
}

/// News; the symbols an event named are joined by `;` (symbols may hold spaces).
pub(super) fn news(range: &ExportRange) -> String {
    let columns = [
        Plain("id"),
        Utc("ts", "time"),
        Plain("headline"),
        Plain("category"),
        Plain("subcategory"),
        Plain("impact"),
        Plain("duration_minutes"),
        Sql("affected_scope", "scope"),
        Sql("array_to_string(affected_symbols, ';')", "symbols"),
    ];
    format!("SELECT {} FROM news_events WHERE {} ORDER BY ts, id", select(&columns), within("ts", range))
}
