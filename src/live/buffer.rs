//! Ticks and news produced but not yet committed to the database.
//!
//! The engine appends; the writer takes everything out as a batch, writes it, and only then
//! forgets it. Until the commit, the batch stays readable here ("in flight"), so a chart can
//! always combine the stored candles with every tick not yet stored: its newest candle is never
//! older than the last tick.
//!
//! The read gate keeps that combination exact. A chart read holds it shared while it queries
//! the database and copies the unflushed ticks; the writer holds it exclusively only for the
//! commit and the release of the in-flight batch, so no tick is ever counted twice or missed.

use crate::domain::market::Tick;
use crate::domain::news::NewsEvent;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// Ticks kept while the database refuses writes (disk full, say) before the oldest are
/// dropped: about an hour of the default market, a few megabytes. Every drop is counted.
pub const MAX_BUFFERED_TICKS: usize = 64 * 1024;

#[derive(Debug, Default, Clone)]
pub struct Pending {
    pub ticks: Vec<Tick>,
    pub news: Vec<NewsEvent>,
}

#[derive(Default)]
struct State {
    /// A ring, so dropping the oldest tick of a full buffer costs nothing.
    queued_ticks: VecDeque<Tick>,
    queued_news: Vec<NewsEvent>,
    in_flight: Arc<Pending>,
}

#[derive(Default)]
pub struct WriteBuffer {
    state: Mutex<State>,
    gate: RwLock<()>,
    /// Ticks dropped because the buffer was full, not yet reported.
    dropped: AtomicU64,
}

impl WriteBuffer {
    /// Queues a tick; when the buffer is full the oldest queued tick makes room (and is counted).
    pub fn push_tick(&self, tick: Tick) {
        let mut state = self.state.lock().expect("buffer lock");
        if state.queued_ticks.len() + state.in_flight.ticks.len() >= MAX_BUFFERED_TICKS
            && state.queued_ticks.pop_front().is_some()
        {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
        state.queued_ticks.push_back(tick);
    }

    pub fn push_news(&self, news: NewsEvent) {
        self.state.lock().expect("buffer lock").queued_news.push(news);
    }

    /// Moves everything queued into flight and returns it for writing. A batch that was in
    /// flight and not released (its write failed) is put in front, so nothing is lost.
    pub fn take_batch(&self) -> Arc<Pending> {
        let mut state = self.state.lock().expect("buffer lock");
        let mut batch = Pending::clone(&state.in_flight);
        let queued = std::mem::take(&mut state.queued_ticks);
        batch.ticks.extend(queued);
        batch.news.append(&mut state.queued_news);
        state.in_flight = Arc::new(batch);
        state.in_flight.clone()
    }

    /// Held by the writer around its commit; [`WriteBuffer::release_in_flight`] follows.
    pub fn commit_gate(&self) -> RwLockWriteGuard<'_, ()> {
        self.gate.write().expect("gate")
    }

    /// Forgets the in-flight batch once it is committed.
    pub fn release_in_flight(&self) {
        self.state.lock().expect("buffer lock").in_flight = Arc::default();
    }

    /// Held by readers that combine stored data with [`WriteBuffer::unflushed`].
    pub fn read_gate(&self) -> RwLockReadGuard<'_, ()> {
        self.gate.read().expect("gate")
    }

    /// Copies the unflushed ticks that satisfy `keep`, oldest first, and the unflushed news.
    pub fn unflushed(&self, keep: impl Fn(&Tick) -> bool) -> (Vec<Tick>, Vec<NewsEvent>) {
        let state = self.state.lock().expect("buffer lock");
        let ticks = state.in_flight.ticks.iter().chain(&state.queued_ticks).filter(|t| keep(t)).copied().collect();
        let news = state.in_flight.news.iter().chain(&state.queued_news).cloned().collect();
        (ticks, news)
    }

    /// Ticks dropped since the last call (a full buffer while the database refused writes).
    pub fn take_dropped(&self) -> u64 {
        self.dropped.swap(0, Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::time::Timestamp;

    fn tick(n: i64) -> Tick {
        Tick { instrument: 0, time: Timestamp(n), price: 1.0, volume: 1 }
    }

    #[test]
    fn a_batch_stays_readable_until_released() {
        let buffer = WriteBuffer::default();
        buffer.push_tick(tick(1));
        let batch = buffer.take_batch();
        buffer.push_tick(tick(2));
        assert_eq!(batch.ticks.len(), 1);
        assert_eq!(buffer.unflushed(|_| true).0.len(), 2);
        buffer.release_in_flight();
        assert_eq!(buffer.unflushed(|_| true).0, vec![tick(2)]);
    }

    #[test]
    fn a_full_buffer_drops_the_oldest_ticks_and_counts_them() {
        let buffer = WriteBuffer::default();
        buffer.push_tick(tick(0));
        buffer.take_batch(); // in flight and failing: it still counts against the limit
        for n in 1..=MAX_BUFFERED_TICKS as i64 + 2 {
            buffer.push_tick(tick(n));
        }
        assert_eq!(buffer.take_dropped(), 3);
        assert_eq!(buffer.take_dropped(), 0, "reported once");
        let retry = buffer.take_batch();
        assert_eq!(retry.ticks.len(), MAX_BUFFERED_TICKS);
        assert_eq!((retry.ticks[0], retry.ticks[1]), (tick(0), tick(4)), "the failed batch first, then the newest");
    }

    #[test]
    fn a_failed_batch_is_retried_before_newer_ticks() {
        let buffer = WriteBuffer::default();
        buffer.push_tick(tick(1));
        buffer.take_batch(); // the write fails: not released
        buffer.push_tick(tick(2));
        let retry = buffer.take_batch();
        assert_eq!(retry.ticks, vec![tick(1), tick(2)]);
    }
}
