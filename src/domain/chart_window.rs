//! The newest candles of one symbol in one timeframe, kept current trade by trade: the
//! in-memory twin of a chart read from the rollups.
//!
//! A chart asks for the buckets between two bucket starts (the latest `limit` buckets up to
//! now). Only buckets that saw a trade have a candle and no candle lies in the future, so the
//! newest `capacity` candles answer every chart of up to `capacity` buckets: a window keeps no
//! more. Each trade is folded in with the rules of the rollups (open of the earliest trade, close
//! of the latest, extremes, summed volume), so the candles are the ones SQL gives, value for value.

use super::candle::{Candle, Timeframe};
use super::time::Timestamp;
use std::collections::VecDeque;

#[derive(Debug, Clone)]
pub struct CandleWindow {
    timeframe: Timeframe,
    capacity: usize,
    /// Oldest first, one per bucket, bucket starts strictly increasing.
    candles: VecDeque<Candle>,
}

impl CandleWindow {
    /// An empty window of at most `capacity` candles (at least one).
    pub fn new(timeframe: Timeframe, capacity: usize) -> Self {
        CandleWindow { timeframe, capacity: capacity.max(1), candles: VecDeque::new() }
    }

    /// A window holding the newest `capacity` of `candles` (oldest first, one per bucket of
    /// this timeframe, as the rollups give them).
    pub fn from_candles(timeframe: Timeframe, capacity: usize, candles: impl IntoIterator<Item = Candle>) -> Self {
        let mut window = Self::new(timeframe, capacity);
        for candle in candles {
            debug_assert_eq!(timeframe.bucket_start(candle.timestamp), candle.timestamp, "an aligned bucket");
            window.insert(candle);
        }
        window
    }

    pub fn timeframe(&self) -> Timeframe {
        self.timeframe
    }

    pub fn len(&self) -> usize {
        self.candles.len()
    }

    pub fn is_empty(&self) -> bool {
        self.candles.is_empty()
    }

    /// Folds one trade in. A symbol's trades come in time order (the market emits them so); a
    /// trade for a bucket older than the newest is still counted in its own bucket, as the
    /// latest trade of that bucket, and one older than the whole window is of no chart's concern.
    pub fn record(&mut self, time: Timestamp, price: f64, volume: u64) {
        let bucket = self.timeframe.bucket_start(time);
        match self.candles.back_mut() {
            Some(last) if last.timestamp == bucket => last.push(price, volume),
            Some(last) if last.timestamp > bucket => match self.position(bucket) {
                Ok(i) => self.candles[i].push(price, volume),
                Err(_) => self.insert(Candle::opening(bucket, price, volume)),
            },
            _ => self.insert(Candle::opening(bucket, price, volume)),
        }
    }

    /// The candles whose bucket starts lie in `first..=last`, oldest first.
    pub fn between(&self, first: Timestamp, last: Timestamp) -> impl Iterator<Item = &Candle> {
        let start = self.candles.partition_point(|c| c.timestamp < first);
        let end = self.candles.partition_point(|c| c.timestamp <= last).max(start);
        self.candles.range(start..end)
    }

    /// Heap bytes the window holds.
    pub fn heap_bytes(&self) -> usize {
        self.candles.capacity() * std::mem::size_of::<Candle>()
    }

    fn position(&self, bucket: Timestamp) -> Result<usize, usize> {
        self.candles.binary_search_by_key(&bucket, |c| c.timestamp)
    }

    /// Puts a candle of a bucket not yet held in its place, then drops the oldest beyond the
    /// capacity (which may be the one just put, when it is older than every other).
    fn insert(&mut self, candle: Candle) {
        match self.candles.back() {
            Some(last) if last.timestamp >= candle.timestamp => match self.position(candle.timestamp) {
                Ok(i) => self.candles[i] = candle,
                Err(i) => self.candles.insert(i, candle),
            },
            _ => self.candles.push_back(candle),
        }
        if self.candles.len() > self.capacity {
            self.candles.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::candle::fold_trades;
    use crate::domain::time::MICROS_PER_SECOND;

    fn at(text: &str) -> Timestamp {
        Timestamp::parse_rfc3339(text).unwrap()
    }

    /// Trades every 7 s from `start`, prices on a zigzag, volumes varying.
    fn trades(start: Timestamp, n: i64) -> Vec<(Timestamp, f64, u64)> {
        (0..n)
            .map(|i| {
                (
                    start.plus_micros(i * 7 * MICROS_PER_SECOND),
                    100.0 + ((i * 37) % 23) as f64 * 0.25,
                    (i % 5 + 1) as u64,
                )
            })
            .collect()
    }

    #[test]
    fn recording_trades_gives_the_candles_folding_them_gives() {
        let all = trades(at("2026-11-29T22:58:13Z"), 3_000);
        for tf in Timeframe::ALL {
            let mut window = CandleWindow::new(tf, 10_000);
            for &(t, p, v) in &all {
                window.record(t, p, v);
            }
            let held: Vec<Candle> = window.between(Timestamp(i64::MIN), Timestamp(i64::MAX)).copied().collect();
            assert_eq!(held, fold_trades(tf, all.iter().copied()), "{}", tf.label());
        }
    }

    #[test]
    fn a_full_window_keeps_the_newest_candles() {
        let all = trades(at("2026-12-01T00:00:00Z"), 600); // 70 minutes
        let mut window = CandleWindow::new(Timeframe::M1, 10);
        for &(t, p, v) in &all {
            window.record(t, p, v);
        }
        let folded = fold_trades(Timeframe::M1, all.iter().copied());
        let held: Vec<Candle> = window.between(Timestamp(i64::MIN), Timestamp(i64::MAX)).copied().collect();
        assert_eq!(window.len(), 10);
        assert_eq!(held, folded[folded.len() - 10..]);
    }

    #[test]
    fn between_takes_bucket_starts_inclusive_at_both_ends() {
        let all = trades(at("2026-12-01T00:00:00Z"), 100);
        let window = CandleWindow::from_candles(Timeframe::M1, 1_000, fold_trades(Timeframe::M1, all));
        let picked: Vec<Timestamp> =
            window.between(at("2026-12-01T00:03:00Z"), at("2026-12-01T00:05:00Z")).map(|c| c.timestamp).collect();
        assert_eq!(picked, vec![at("2026-12-01T00:03:00Z"), at("2026-12-01T00:04:00Z"), at("2026-12-01T00:05:00Z")]);
        assert_eq!(window.between(at("2026-12-01T00:05:00Z"), at("2026-12-01T00:03:00Z")).count(), 0);
        assert_eq!(window.between(at("2026-12-02T00:00:00Z"), at("2026-12-03T00:00:00Z")).count(), 0);
    }

    #[test]
    fn a_window_built_from_stored_candles_continues_with_new_trades() {
        let all = trades(at("2026-12-31T23:00:00Z"), 2_000);
        let (stored, live) = all.split_at(1_234);
        for tf in [Timeframe::M5, Timeframe::H1, Timeframe::D1, Timeframe::Mo1] {
            let mut window = CandleWindow::from_candles(tf, 1_000, fold_trades(tf, stored.iter().copied()));
            for &(t, p, v) in live {
                window.record(t, p, v);
            }
            let held: Vec<Candle> = window.between(Timestamp(i64::MIN), Timestamp(i64::MAX)).copied().collect();
            assert_eq!(held, fold_trades(tf, all.iter().copied()), "{}", tf.label());
        }
    }

    #[test]
    fn a_late_trade_lands_in_its_own_bucket() {
        let mut window = CandleWindow::new(Timeframe::M1, 100);
        window.record(at("2026-12-01T10:00:10Z"), 10.0, 1);
        window.record(at("2026-12-01T10:02:10Z"), 12.0, 1);
        window.record(at("2026-12-01T10:00:50Z"), 9.0, 2);
        window.record(at("2026-12-01T10:01:30Z"), 11.0, 3);
        let held: Vec<Candle> = window.between(Timestamp(i64::MIN), Timestamp(i64::MAX)).copied().collect();
        assert_eq!(held.len(), 3);
        assert_eq!(
            held[0],
            Candle { timestamp: at("2026-12-01T10:00:00Z"), open: 10.0, high: 10.0, low: 9.0, close: 9.0, volume: 3 }
        );
        assert_eq!(held[1], Candle::opening(at("2026-12-01T10:01:00Z"), 11.0, 3));
        assert_eq!(held[2].close, 12.0);
    }

    #[test]
    fn a_trade_older_than_a_full_window_changes_nothing() {
        let mut window = CandleWindow::new(Timeframe::M1, 2);
        window.record(at("2026-12-01T10:05:00Z"), 10.0, 1);
        window.record(at("2026-12-01T10:06:00Z"), 11.0, 1);
        window.record(at("2026-12-01T10:01:00Z"), 99.0, 1);
        let starts: Vec<Timestamp> =
            window.between(Timestamp(i64::MIN), Timestamp(i64::MAX)).map(|c| c.timestamp).collect();
        assert_eq!(starts, vec![at("2026-12-01T10:05:00Z"), at("2026-12-01T10:06:00Z")]);
    }
}
