//! The tick writer: every flush interval (and once more at shutdown) it moves the buffered
//! ticks and news into the database as one transaction, and now and then drops raw ticks past
//! the retention period.
//!
//! It is the only writer of market data, so batches never conflict. The database work runs on
//! the blocking pool; the engine keeps ticking meanwhile. The engine also flushes through it,
//! chunk by chunk, when it catches up on a long stretch of missed time; one flush runs at a
//! time.

use super::buffer::WriteBuffer;
use crate::domain::time::{Clock, MICROS_PER_HOUR, Timestamp};
use crate::health::Health;
use crate::metrics::Metrics;
use crate::storage::{Batch, Fault, Store};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

pub struct TickWriter {
    pub store: Arc<Store>,
    pub buffer: Arc<WriteBuffer>,
    pub symbols: Arc<[String]>,
    pub clock: Arc<dyn Clock>,
    pub interval: Duration,
    pub retention_micros: i64,
    pub metrics: Arc<Metrics>,
    /// Told when the database is invalidated: no later write can succeed in this process.
    pub health: Arc<Health>,
    /// Held for a whole flush: two flushes taking and releasing the in-flight batch at once
    /// would write it twice.
    pub flushing: Mutex<()>,
}

impl TickWriter {
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        let writer = self;
        let mut ticker = tokio::time::interval(writer.interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker.tick().await;
        let mut last_prune = None;
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                _ = shutdown.cancelled() => break,
            }
            let w = writer.clone();
            let now = writer.clock.now();
            let prune = prune_due(last_prune, now);
            let result = tokio::task::spawn_blocking(move || w.flush_and_prune(prune.then_some(now))).await;
            if prune && matches!(result, Ok(Ok(()))) {
                last_prune = Some(now);
            }
        }
        // The final flush runs on this thread: shutdown waits for it.
        let w = writer.clone();
        let _ = tokio::task::spawn_blocking(move || w.flush_and_prune(None)).await;
        tracing::info!("tick writer stopped; buffered ticks written");
    }

    fn flush_and_prune(&self, prune_at: Option<Timestamp>) -> Result<(), ()> {
        self.flush().map_err(|e| {
            self.metrics.flush_failures.inc();
            if e.fault() == Fault::Invalidated {
                self.health.fail(format!("the market database failed: {e}"));
            } else {
                tracing::error!(error = %e, "writing ticks failed; they stay buffered and are retried")
            }
        })?;
        if let Some(now) = prune_at {
            let cutoff = Timestamp(now.0 - self.retention_micros);
            match self.store.delete_ticks_before(cutoff) {
                Ok(0) => {}
                Ok(n) => tracing::info!(rows = n, "dropped raw ticks past retention"),
                Err(e) => tracing::warn!(error = %e, "dropping old ticks failed"),
            }
        }
        Ok(())
    }

    /// Writes everything buffered, and reports ticks the buffer had to drop. Public for
    /// shutdown, the engine's catch-up and tests.
    pub fn flush(&self) -> Result<(), crate::storage::StorageError> {
        let _flushing = self.flushing.lock().expect("flush lock");
        let dropped = self.buffer.take_dropped();
        if dropped > 0 {
            self.metrics.ticks_dropped.inc_by(dropped);
            tracing::warn!(
                dropped,
                "the write buffer was full while the database refused writes: oldest ticks dropped"
            );
        }
        let batch = self.buffer.take_batch();
        if batch.ticks.is_empty() && batch.news.is_empty() {
            return Ok(());
        }
        let started = Instant::now();
        self.store.write_batch(
            &Batch { symbols: &self.symbols, ticks: &batch.ticks, news: &batch.news },
            |commit| {
                let _gate = self.buffer.commit_gate();
                commit()?;
                self.buffer.release_in_flight();
                Ok(())
            },
        )?;
        let seconds = started.elapsed().as_secs_f64();
        self.metrics.ticks_persisted.inc_by(batch.ticks.len() as u64);
        self.metrics.writer_batch_ticks.observe(batch.ticks.len() as f64);
        self.metrics.writer_flush_seconds.observe(seconds);
        tracing::debug!(ticks = batch.ticks.len(), news = batch.news.len(), ms = seconds * 1e3, "batch written");
        Ok(())
    }
}

/// Raw ticks past retention are dropped at the first successful flush, then at most hourly.
fn prune_due(last_prune: Option<Timestamp>, now: Timestamp) -> bool {
    last_prune.is_none_or(|last| now.0 - last.0 >= MICROS_PER_HOUR)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retention_runs_at_the_first_flush_and_then_hourly() {
        let start = Timestamp::from_seconds(1_800_000_000);
        assert!(prune_due(None, start));
        assert!(!prune_due(Some(start), start.plus_micros(MICROS_PER_HOUR - 1)));
        assert!(prune_due(Some(start), start.plus_micros(MICROS_PER_HOUR)));
    }
}
