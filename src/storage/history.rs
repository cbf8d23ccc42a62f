//! The read path: candles for charts, the day statistics quotes resume from, and news.

use super::schema::rollup_table;
use super::{Result, Store, ts_value};
use crate::domain::candle::{Candle, Timeframe};
use crate::domain::news::{NewsEvent, Scope};
use crate::domain::quote::{DayRange, StoredDay, YEAR_RANGE_DAYS};
use crate::domain::time::{MICROS_PER_DAY, Timestamp};
use duckdb::types::Value;
use std::collections::HashMap;

/// Complete days averaged for `avgVolume`.
const AVERAGE_VOLUME_DAYS: usize = 30;

/// Which buckets of a chart to read: `first` and `last` are bucket starts, both included.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HistoryWindow {
    pub timeframe: Timeframe,
    pub first: Timestamp,
    pub last: Timestamp,
}

/// The columns of a chart candle aggregated from rollup rows: `b` is the bucket start in
/// microseconds; the exports read them by name.
pub(super) fn candle_columns(tf: Timeframe) -> String {
    format!(
        "epoch_us(time_bucket({interval}, bucket)) AS b, arg_min(open, bucket) AS open, max(high) AS high,
         min(low) AS low, arg_max(close, bucket) AS close, sum(volume)::BIGINT AS volume",
        interval = tf.sql_interval()
    )
}

/// Reads the [`candle_columns`] starting at column `at`.
fn candle_row(r: &duckdb::Row<'_>, at: usize) -> duckdb::Result<Candle> {
    Ok(Candle {
        timestamp: Timestamp(r.get(at)?),
        open: r.get(at + 1)?,
        high: r.get(at + 2)?,
        low: r.get(at + 3)?,
        close: r.get(at + 4)?,
        volume: r.get::<_, i64>(at + 5)? as u64,
    })
}

impl Store {
    /// Stored candles of `symbol` in the window, oldest first.
    pub fn candles(&self, symbol: &str, window: &HistoryWindow) -> Result<Vec<Candle>> {
        let tf = window.timeframe;
        let sql = format!(
            "SELECT {columns} FROM {table} WHERE symbol = ? AND bucket >= ? AND bucket < ?
             GROUP BY b ORDER BY b",
            columns = candle_columns(tf),
            table = rollup_table(tf.source())
        );
        let end = tf.shift(window.last, 1);
        self.read(|c| {
            let mut stmt = c.prepare_cached(&sql)?;
            let rows =
                stmt.query_map(duckdb::params![symbol, ts_value(window.first), ts_value(end)], |r| candle_row(r, 0))?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    /// The stored candles of every symbol in the window: by symbol, each oldest first.
    pub fn candles_of_all(&self, window: &HistoryWindow) -> Result<Vec<(String, Candle)>> {
        let tf = window.timeframe;
        let sql = format!(
            "SELECT symbol, {columns} FROM {table} WHERE bucket >= ? AND bucket < ?
             GROUP BY symbol, b ORDER BY symbol, b",
            columns = candle_columns(tf),
            table = rollup_table(tf.source())
        );
        let end = tf.shift(window.last, 1);
        self.read(|c| {
            let mut stmt = c.prepare(&sql)?;
            let rows = stmt.query_map(duckdb::params![ts_value(window.first), ts_value(end)], |r| {
                Ok((r.get(0)?, candle_row(r, 1)?))
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    /// What each symbol's quote resumes from, read from the daily rollup.
    pub fn stored_days(&self, now: Timestamp) -> Result<HashMap<String, StoredDay>> {
        let since = Timestamp(now.0 - YEAR_RANGE_DAYS * MICROS_PER_DAY);
        let rows: Vec<(String, Candle, i64)> = self.read(|c| {
            let mut stmt = c.prepare(
                "SELECT symbol, epoch_us(bucket), open, high, low, close, volume, epoch_us(last_ts)
                 FROM candle_1d WHERE bucket >= ? ORDER BY symbol, bucket",
            )?;
            let rows = stmt.query_map([ts_value(since)], |r| {
                let candle = Candle {
                    timestamp: Timestamp(r.get(1)?),
                    open: r.get(2)?,
                    high: r.get(3)?,
                    low: r.get(4)?,
                    close: r.get(5)?,
                    volume: r.get::<_, i64>(6)? as u64,
                };
                Ok((r.get(0)?, candle, r.get(7)?))
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })?;
        let mut by_symbol: HashMap<String, Vec<(Candle, i64)>> = HashMap::new();
        for (symbol, candle, last) in rows {
            by_symbol.entry(symbol).or_default().push((candle, last));
        }
        Ok(by_symbol.into_iter().map(|(symbol, days)| (symbol, stored_day(&days))).collect())
    }

    /// The newest news first, optionally only those naming `symbol`.
    pub fn news(&self, symbol: Option<&str>, limit: usize) -> Result<Vec<NewsEvent>> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT id, epoch_us(ts), headline, category, subcategory, impact, duration_minutes,
                        affected_scope, affected_symbols
                 FROM news_events WHERE ?::VARCHAR IS NULL OR list_contains(affected_symbols, ?::VARCHAR)
                 ORDER BY ts DESC, id DESC LIMIT ?",
            )?;
            let rows = stmt.query_map(duckdb::params![symbol, symbol, limit as i64], |r| {
                let symbols = match r.get::<_, Value>(8)? {
                    Value::List(items) => {
                        items.into_iter().filter_map(|v| if let Value::Text(s) = v { Some(s) } else { None }).collect()
                    }
                    _ => Vec::new(),
                };
                let scope: String = r.get(7)?;
                Ok(NewsEvent {
                    id: r.get(0)?,
                    timestamp: Timestamp(r.get(1)?),
                    headline: r.get(2)?,
                    category: r.get(3)?,
                    subcategory: r.get(4)?,
                    impact: r.get(5)?,
                    duration_minutes: r.get(6)?,
                    affected_scope: Scope::parse(&scope).unwrap_or(Scope::Global),
                    affected_symbols: symbols,
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }
}

/// Folds a symbol's daily candles (oldest first, each with its last trade time) into the
/// statistics its quote resumes from.
fn stored_day(days: &[(Candle, i64)]) -> StoredDay {
    let (today, last_time) = days.last().expect("at least one day");
    let earlier = &days[..days.len() - 1];
    let recent: Vec<u64> = earlier.iter().rev().take(AVERAGE_VOLUME_DAYS).map(|(c, _)| c.volume).collect();
    StoredDay {
        last_price: today.close,
        last_time: Timestamp(*last_time),
        open: today.open,
        high: today.high,
        low: today.low,
        volume: today.volume,
        previous_close: earlier.last().map(|(c, _)| c.close),
        past_year: earlier
            .iter()
            .map(|(c, _)| DayRange { day: c.timestamp.day_number(), high: c.high, low: c.low })
            .collect(),
        average_volume: (!recent.is_empty()).then(|| recent.iter().sum::<u64>() as f64 / recent.len() as f64),
    }
}
