//! First-start seeding: the same market engine run from `seed_days` ago up to now, written in
//! hourly chunks through the ordinary batch path, so the seeded history and the live ticks that
//! follow it are one continuous path.
//!
//! Generation and writing overlap: a scoped thread runs the engine one chunk ahead while this
//! thread writes the previous chunk.

use crate::domain::market::{Market, MarketEvent, Tick};
use crate::domain::news::NewsEvent;
use crate::domain::time::{MICROS_PER_HOUR, Timestamp};
use crate::storage::{Batch, StorageError, Store};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Simulated time generated and written per chunk: large enough to amortise a transaction,
/// small enough that progress shows and memory stays flat (~70k ticks for 45 instruments).
const CHUNK_MICROS: i64 = 4 * MICROS_PER_HOUR;
/// Chunks generated ahead of the writer.
const CHUNKS_AHEAD: usize = 2;

#[derive(Debug, Clone, Copy)]
pub struct SeedReport {
    pub ticks: u64,
    pub news: u64,
    pub elapsed: Duration,
}

/// Advances `market` from its start to `until`, storing every tick and news event.
/// `progress` is told the share done after each chunk.
pub fn seed_history(
    store: &Store,
    market: &mut Market,
    from: Timestamp,
    until: Timestamp,
    mut progress: impl FnMut(f64),
) -> Result<SeedReport, StorageError> {
    let started = Instant::now();
    let symbols: Vec<String> = market.universe().iter().map(|i| i.symbol.clone()).collect();
    let (sender, receiver) = mpsc::sync_channel::<(Vec<Tick>, Vec<NewsEvent>, Timestamp)>(CHUNKS_AHEAD);
    let mut report = SeedReport { ticks: 0, news: 0, elapsed: Duration::ZERO };
    std::thread::scope(|scope| {
        scope.spawn(move || {
            let mut chunk_end = from;
            while chunk_end < until {
                chunk_end = Timestamp((chunk_end.0 + CHUNK_MICROS).min(until.0));
                let (mut ticks, mut news) = (Vec::new(), Vec::new());
                market.advance_until(chunk_end, |event| match event {
                    MarketEvent::Tick(t) => ticks.push(t),
                    MarketEvent::News(n, _) => news.push(n),
                    MarketEvent::Status { .. } => {}
                });
                if sender.send((ticks, news, chunk_end)).is_err() {
                    return; // the writer failed and hung up
                }
            }
        });
        for (ticks, news, chunk_end) in receiver {
            store.write_batch(&Batch { symbols: &symbols, ticks: &ticks, news: &news }, |commit| commit())?;
            report.ticks += ticks.len() as u64;
            report.news += news.len() as u64;
            progress((chunk_end.0 - from.0) as f64 / (until.0 - from.0).max(1) as f64);
        }
        Ok::<_, StorageError>(())
    })?;
    report.elapsed = started.elapsed();
    Ok(report)
}
