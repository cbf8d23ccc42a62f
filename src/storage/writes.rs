//! The write path: one batch of ticks and news per transaction, rollups merged in the same
//! transaction, so a crash leaves either the whole batch or none of it.

use super::{Result, Store, schema, transaction, ts_value};
use crate::domain::candle::Rollup;
use crate::domain::market::Tick;
use crate::domain::news::NewsEvent;
use crate::domain::time::Timestamp;
use duckdb::arrow::array::{ArrayRef, Float64Array, Int64Array, StringArray, TimestampMicrosecondArray};
use duckdb::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use duckdb::arrow::record_batch::RecordBatch;
use duckdb::types::Value;
use std::sync::Arc;

/// A batch as the writer hands it over: ticks refer to instruments by index into `symbols`.
pub struct Batch<'a> {
    pub symbols: &'a [String],
    pub ticks: &'a [Tick],
    pub news: &'a [NewsEvent],
}

/// The batch's ticks as columns, the layout of `batch_ticks`. Appending columns hands DuckDB a
/// whole vector per call, where appending rows costs a call (and allocations) per value: the
/// five-day seed appends about 7.8 million ticks.
fn ticks_columns(batch: &Batch<'_>) -> RecordBatch {
    let ticks = batch.ticks;
    let symbols = StringArray::from_iter_values(ticks.iter().map(|t| batch.symbols[t.instrument].as_str()));
    let times = TimestampMicrosecondArray::from_iter_values(ticks.iter().map(|t| t.time.micros()));
    let prices = Float64Array::from_iter_values(ticks.iter().map(|t| t.price));
    let volumes = Int64Array::from_iter_values(ticks.iter().map(|t| t.volume as i64));
    let schema = Schema::new(vec![
        Field::new("symbol", DataType::Utf8, false),
        Field::new("ts", DataType::Timestamp(TimeUnit::Microsecond, None), false),
        Field::new("price", DataType::Float64, false),
        Field::new("volume", DataType::Int64, false),
    ]);
    let columns: Vec<ArrayRef> = vec![Arc::new(symbols), Arc::new(times), Arc::new(prices), Arc::new(volumes)];
    RecordBatch::try_new(Arc::new(schema), columns).expect("the columns match the schema")
}

impl Store {
    /// Stores one batch atomically. `around_commit` is handed the commit and runs it, so the
    /// caller can make the moment of commit exclusive with its own readers.
    pub fn write_batch(
        &self,
        batch: &Batch<'_>,
        around_commit: impl FnOnce(&mut dyn FnMut() -> Result<()>) -> Result<()>,
    ) -> Result<()> {
        if batch.ticks.is_empty() && batch.news.is_empty() {
            return Ok(());
        }
        let conn = self.write_conn.lock().expect("writer");
        conn.execute_batch("BEGIN TRANSACTION")?;
        let result = (|| -> Result<()> {
            if !batch.ticks.is_empty() {
                let mut appender = conn.appender("batch_ticks")?;
                appender.append_record_batch(ticks_columns(batch))?;
                appender.flush()?;
                drop(appender);
                conn.execute_batch("INSERT INTO price_ticks SELECT * FROM batch_ticks")?;
                for rollup in Rollup::ALL {
                    let (table, interval) = schema::rollup_sql(rollup);
                    conn.execute_batch(&schema::merge_rollup(table, interval))?;
                }
                conn.execute_batch("DELETE FROM batch_ticks; DROP TABLE IF EXISTS merged")?;
            }
            let mut stmt = conn.prepare("INSERT OR IGNORE INTO news_events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")?;
            for n in batch.news {
                let symbols = Value::List(n.affected_symbols.iter().cloned().map(Value::Text).collect());
                stmt.execute(duckdb::params![
                    n.id,
                    ts_value(n.timestamp),
                    n.headline,
                    n.category,
                    n.subcategory,
                    n.impact,
                    n.duration_minutes,
                    n.affected_scope.as_str(),
                    symbols
                ])?;
            }
            Ok(())
        })();
        match result {
            Ok(()) => around_commit(&mut || Ok(conn.execute_batch("COMMIT")?)),
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK");
                Err(e)
            }
        }
    }

    /// Deletes raw ticks older than `cutoff`; candles stay. Returns the rows deleted.
    pub fn delete_ticks_before(&self, cutoff: Timestamp) -> Result<usize> {
        let conn = self.write_conn.lock().expect("writer");
        Ok(conn.execute("DELETE FROM price_ticks WHERE ts < ?", [ts_value(cutoff)])?)
    }

    /// Empties DuckDB's block cache after a bulk write by lowering its memory limit for a
    /// moment (unpinned blocks are evicted down to the new limit), then restores `memory_limit`.
    pub fn release_cache(&self, memory_limit: &str) -> Result<()> {
        let conn = self.write_conn.lock().expect("writer");
        conn.execute_batch("CHECKPOINT; SET memory_limit = '16MB';")?;
        // memory_limit was validated as a plain size (letters, digits, dots, spaces).
        conn.execute_batch(&format!("SET memory_limit = '{memory_limit}'"))?;
        Ok(())
    }

    /// Bytes DuckDB's buffer manager holds now (cached blocks, write buffers), by its own count.
    pub fn cache_bytes(&self) -> Result<i64> {
        self.read(|c| {
            Ok(c.query_row("SELECT coalesce(sum(memory_usage_bytes), 0)::BIGINT FROM duckdb_memory()", [], |r| {
                r.get(0)
            })?)
        })
    }

    /// Records that seeding has begun (`true`) or finished (`false`). A crash in between
    /// leaves the mark, so the next start knows its history is partial.
    pub fn mark_seeding(&self, in_progress: bool) -> Result<()> {
        let conn = self.write_conn.lock().expect("writer");
        if in_progress {
            conn.execute_batch("INSERT OR REPLACE INTO meta VALUES ('seeding', 'in progress')")?;
        } else {
            conn.execute_batch("DELETE FROM meta WHERE key = 'seeding'")?;
        }
        Ok(())
    }

    /// Whether a start-up was stopped while seeding.
    pub fn seeding_interrupted(&self) -> Result<bool> {
        self.read(|c| Ok(c.query_row("SELECT count(*) > 0 FROM meta WHERE key = 'seeding'", [], |r| r.get(0))?))
    }

    /// Deletes every tick, candle and news event (not the ledger), in one transaction.
    pub fn clear_market_data(&self) -> Result<()> {
        let conn = self.write_conn.lock().expect("writer");
        transaction(&conn, || {
            conn.execute_batch("DELETE FROM price_ticks; DELETE FROM news_events;")?;
            for rollup in Rollup::ALL {
                conn.execute_batch(&format!("DELETE FROM {}", schema::rollup_table(rollup)))?;
            }
            Ok(())
        })
    }

    /// The id the next news event should take.
    pub fn next_news_id(&self) -> Result<i64> {
        self.read(|c| Ok(c.query_row("SELECT coalesce(max(id), 0) + 1 FROM news_events", [], |r| r.get(0))?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn releasing_the_cache_keeps_the_configured_memory_limit() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("cache.duckdb"), "96MB", 1).unwrap();
        let before: String =
            store.read(|c| Ok(c.query_row("SELECT current_setting('memory_limit')", [], |r| r.get(0))?)).unwrap();
        store.release_cache("96MB").unwrap();
        let after: String =
            store.read(|c| Ok(c.query_row("SELECT current_setting('memory_limit')", [], |r| r.get(0))?)).unwrap();
        assert_eq!(after, before);
        assert!(after.contains("91.5 MiB") || after.contains("96"), "{after}");
    }
}
