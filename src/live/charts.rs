//! The latest chart of every symbol and timeframe, held in memory and kept serialized.
//!
//! A chart is what a student opens most after the board. Reading one from the rollups costs a
//! DuckDB query (about 2 ms); here every symbol and timeframe keeps its newest candles in a
//! [`CandleWindow`], built once at start-up from the rollups and then fed every tick by the
//! engine, and the JSON of each chart asked for is kept until the window or the bucket of "now"
//! changes. A default chart is then a lock, a comparison and a reference-count increment, like a
//! quote. The candles are those the rollups give: an integration test compares both.
//!
//! Each symbol and timeframe has its own lock, held only to fold a tick in or to copy candles
//! out; JSON is written outside it.

use crate::domain::candle::{Candle, Timeframe};
use crate::domain::chart_window::CandleWindow;
use crate::domain::instrument::Universe;
use crate::domain::market::Tick;
use crate::domain::time::Timestamp;
use crate::storage::{HistoryWindow, StorageError, Store};
use actix_web::web::Bytes;
use std::sync::Mutex;
use std::time::Instant;

/// Chart answers kept per symbol and timeframe: the default one and a few other limits; a tick
/// clears them anyway.
const CACHED_ANSWERS: usize = 4;

/// One symbol's window in one timeframe and the answers serialized from it.
struct Chart {
    window: CandleWindow,
    /// Counts the changes of the window, so an answer written outside the lock is kept only
    /// if the window did not change meanwhile.
    version: u64,
    answers: Vec<Answer>,
}

/// A serialized chart: the candles of `first..=last` (bucket starts), at most `limit`.
struct Answer {
    limit: usize,
    first: Timestamp,
    last: Timestamp,
    json: Bytes,
}

pub struct ChartWindows {
    capacity: usize,
    /// Per instrument (universe order), per timeframe (in `Timeframe::ALL` order).
    charts: Vec<Vec<Mutex<Chart>>>,
}

fn slot(tf: Timeframe) -> usize {
    Timeframe::ALL.iter().position(|&t| t == tf).expect("a timeframe of Timeframe::ALL")
}

impl ChartWindows {
    /// Empty windows of `capacity` candles for `instruments` instruments.
    pub fn new(instruments: usize, capacity: usize) -> Self {
        let charts = (0..instruments)
            .map(|_| Timeframe::ALL.iter().map(|&tf| Mutex::new(Chart::new(CandleWindow::new(tf, capacity)))).collect())
            .collect();
        ChartWindows { capacity, charts }
    }

    /// Windows filled with the newest `capacity` buckets up to `now` of every stored rollup.
    /// Call before the engine's first tick.
    pub fn load(store: &Store, universe: &Universe, capacity: usize, now: Timestamp) -> Result<Self, StorageError> {
        let started = Instant::now();
        let windows = ChartWindows::new(universe.len(), capacity);
        let mut candles = 0;
        for tf in Timeframe::ALL {
            let last = tf.bucket_start(now);
            let window = HistoryWindow { timeframe: tf, first: tf.shift(last, 1 - capacity as i64), last };
            let rows = store.candles_of_all(&window)?;
            candles += rows.len();
            let mut rows = rows.into_iter().peekable();
            while let Some((symbol, _)) = rows.peek() {
                let symbol = symbol.clone();
                let mut of_symbol = Vec::new();
                while let Some((_, candle)) = rows.next_if(|(s, _)| *s == symbol) {
                    of_symbol.push(candle);
                }
                if let Some(index) = universe.find(&symbol) {
                    windows.chart(index, tf).window = CandleWindow::from_candles(tf, capacity, of_symbol);
                }
            }
        }
        tracing::info!(
            candles,
            mb = windows.heap_bytes() as f64 / 1e6,
            ms = started.elapsed().as_secs_f64() * 1e3,
            "chart windows built from the rollups"
        );
        Ok(windows)
    }

    /// The most buckets one chart read from memory may span.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    fn chart(&self, instrument: usize, tf: Timeframe) -> std::sync::MutexGuard<'_, Chart> {
        self.charts[instrument][slot(tf)].lock().expect("chart lock")
    }

    /// Folds a tick into every timeframe of its instrument.
    pub fn record(&self, tick: &Tick) {
        for chart in &self.charts[tick.instrument] {
            let mut chart = chart.lock().expect("chart lock");
            chart.window.record(tick.time, tick.price, tick.volume);
            chart.version += 1;
            chart.answers.clear();
        }
    }

    /// The JSON array of the candles of `instrument` in the latest `limit` buckets up to `now`
    /// (at most [`ChartWindows::capacity`]), oldest first: what the rollups answer for the same
    /// request.
    pub fn json(&self, instrument: usize, tf: Timeframe, limit: usize, now: Timestamp) -> Bytes {
        let limit = limit.clamp(1, self.capacity);
        let last = tf.bucket_start(now);
        let first = tf.shift(last, 1 - limit as i64);
        let (version, candles) = {
            let chart = self.chart(instrument, tf);
            if let Some(answer) = chart.answers.iter().find(|a| (a.limit, a.first, a.last) == (limit, first, last)) {
                return answer.json.clone();
            }
            let candles: Vec<Candle> = chart.window.between(first, last).copied().collect();
            (chart.version, candles)
        };
        let excess = candles.len().saturating_sub(limit);
        let json = Bytes::from(serde_json::to_vec(&candles[excess..]).expect("candles serialize"));
        let mut chart = self.chart(instrument, tf);
        if chart.version == version {
            if chart.answers.len() == CACHED_ANSWERS {
                chart.answers.remove(0);
            }
            chart.answers.push(Answer { limit, first, last, json: json.clone() });
        }
        json
    }

    /// Heap bytes held: candles and serialized answers.
    pub fn heap_bytes(&self) -> usize {
        let charts = self.charts.iter().flatten();
        let held = charts.map(|c| {
            let chart = c.lock().expect("chart lock");
            chart.window.heap_bytes() + chart.answers.iter().map(|a| a.json.len()).sum::<usize>()
        });
        held.sum::<usize>() + self.charts.len() * Timeframe::ALL.len() * std::mem::size_of::<Mutex<Chart>>()
    }
}

impl Chart {
    fn new(window: CandleWindow) -> Self {
        Chart { window, version: 0, answers: Vec::with_capacity(CACHED_ANSWERS) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::time::MICROS_PER_SECOND;

    fn at(text: &str) -> Timestamp {
        Timestamp::parse_rfc3339(text).unwrap()
    }

    fn tick(instrument: usize, time: Timestamp, price: f64) -> Tick {
        Tick { instrument, time, price, volume: 2 }
    }

    fn parse(json: &Bytes) -> Vec<serde_json::Value> {
        serde_json::from_slice(json).unwrap()
    }

    #[test]
    fn a_chart_answers_the_latest_buckets_up_to_now() {
        let charts = ChartWindows::new(2, 1_000);
        let start = at("2026-12-01T10:00:00Z");
        for s in 0..600 {
            charts.record(&tick(0, start.plus_micros(s * 10 * MICROS_PER_SECOND), 100.0 + s as f64));
        }
        let now = at("2026-12-01T11:39:59Z");
        let three = parse(&charts.json(0, Timeframe::M1, 3, now));
        let starts: Vec<&str> = three.iter().map(|c| c["timestamp"].as_str().unwrap()).collect();
        assert_eq!(
            starts,
            ["2026-12-01T11:37:00.000000Z", "2026-12-01T11:38:00.000000Z", "2026-12-01T11:39:00.000000Z"]
        );
        assert_eq!(three[2]["close"], 699.0);
        // Two hours later no bucket of the last three minutes has a trade.
        assert!(parse(&charts.json(0, Timeframe::M1, 3, now.plus_micros(7_200 * MICROS_PER_SECOND))).is_empty());
        assert!(parse(&charts.json(1, Timeframe::M1, 100, now)).is_empty(), "no trades, no candles");
    }

    #[test]
    fn a_tick_replaces_the_kept_answer() {
        let charts = ChartWindows::new(1, 1_000);
        let now = at("2026-12-01T10:00:30Z");
        charts.record(&tick(0, at("2026-12-01T10:00:00Z"), 10.0));
        let before = charts.json(0, Timeframe::H1, 100, now);
        assert_eq!(charts.json(0, Timeframe::H1, 100, now), before, "kept while nothing changes");
        charts.record(&tick(0, at("2026-12-01T10:00:20Z"), 12.0));
        let after = parse(&charts.json(0, Timeframe::H1, 100, now));
        assert_eq!(
            (after[0]["high"].as_f64(), after[0]["close"].as_f64(), after[0]["volume"].as_u64()),
            (Some(12.0), Some(12.0), Some(4))
        );
    }

    #[test]
    fn a_limit_beyond_the_capacity_is_capped() {
        let charts = ChartWindows::new(1, 5);
        let start = at("2026-12-01T10:00:00Z");
        for m in 0..10 {
            charts.record(&tick(0, start.plus_micros(m * 60 * MICROS_PER_SECOND), 1.0));
        }
        assert_eq!(parse(&charts.json(0, Timeframe::M1, 50, start.plus_micros(570 * MICROS_PER_SECOND))).len(), 5);
    }
}
