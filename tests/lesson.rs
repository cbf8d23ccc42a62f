//! Lessons replay exactly: two engines on manual clocks, the same seed and the same lesson,
//! stepped differently, produce the same ticks; and the lesson visibly shapes the market.

use finlearn::config::Settings;
use finlearn::domain::lesson::Lesson;
use finlearn::domain::market::{Market, Start, Tick};
use finlearn::domain::quote::{DayQuote, StoredDay};
use finlearn::domain::time::{Clock, ManualClock, Timestamp};
use finlearn::live::buffer::WriteBuffer;
use finlearn::live::bus::Bus;
use finlearn::live::charts::ChartWindows;
use finlearn::live::director::Director;
use finlearn::live::engine::Engine;
use finlearn::live::quotes::QuoteBoard;
use finlearn::live::tick_writer::TickWriter;
use finlearn::metrics::Metrics;
use finlearn::storage::Store;
use std::sync::Arc;

const START: i64 = 1_780_000_000_000_000;
const LESSON: &str = include_str!("../scenarios/crash_and_recovery.toml");

fn engine(seed: u64, clock: Arc<ManualClock>, dir: &std::path::Path) -> Engine {
    let settings = Settings::defaults();
    let universe = settings.universe();
    let params: Vec<_> = universe.iter().map(|i| settings.model_for(i.kind)).collect();
    let now = clock.now();
    let starts: Vec<Start> = universe.iter().map(|i| Start { price: i.base_price, last_tick: now }).collect();
    let mut market = Market::new(universe.clone(), &params, &starts, settings.cadence(), seed, now, 1);
    for (at, command) in Lesson::parse(LESSON, &universe).unwrap().commands(now) {
        market.schedule(at, command);
    }
    let quotes: Vec<DayQuote> = universe
        .iter()
        .map(|i| {
            let p = i.base_price;
            let day = StoredDay {
                last_price: p,
                last_time: now,
                open: p,
                high: p,
                low: p,
                volume: 0,
                previous_close: None,
                past_year: Vec::new(),
                average_volume: None,
            };
            DayQuote::resume(i, &day)
        })
        .collect();
    // The tick writer is only used when the engine catches up on a clock leap, which these
    // steps never make; it still needs a database to stand on.
    let store = Arc::new(Store::open(&dir.join("lesson.duckdb"), "128MB", 1).unwrap());
    let buffer = Arc::new(WriteBuffer::default());
    let metrics = Arc::new(Metrics::new());
    let writer = Arc::new(TickWriter {
        store,
        buffer: buffer.clone(),
        symbols: universe.iter().map(|i| i.symbol.clone()).collect(),
        clock: clock.clone(),
        interval: std::time::Duration::from_secs(1),
        retention_micros: i64::MAX / 2,
        metrics: metrics.clone(),
        health: Arc::default(),
        flushing: Default::default(),
    });
    Engine {
        market,
        board: Arc::new(QuoteBoard::new(&quotes)),
        charts: Arc::new(ChartWindows::new(universe.len(), 10)),
        quotes,
        bus: Bus::new(16),
        buffer,
        writer,
        clock,
        metrics,
        director: Arc::new(Director::default()),
        orders: None,
    }
}

/// Runs an engine for `minutes` of real time in steps of the given lengths (cycled), and
/// returns every tick it produced.
fn run(seed: u64, minutes: i64, steps_micros: &[i64]) -> Vec<Tick> {
    let clock = Arc::new(ManualClock::starting_at(Timestamp(START)));
    let dir = tempfile::tempdir().unwrap();
    let mut engine = engine(seed, clock.clone(), dir.path());
    let end = START + minutes * 60_000_000;
    let mut ticks = Vec::new();
    let mut k = 0;
    while clock.now().0 < end {
        clock.advance_micros(steps_micros[k % steps_micros.len()].min(end - clock.now().0));
        k += 1;
        engine.direct();
        engine.advance();
        let batch = engine.buffer.take_batch();
        ticks.extend(batch.ticks.iter().copied());
        engine.buffer.release_in_flight();
    }
    ticks
}

#[test]
fn the_same_seed_and_lesson_give_identical_ticks_however_the_clock_is_stepped() {
    let a = run(42, 45, &[1_000_000]);
    let b = run(42, 45, &[250_000, 3_700_000, 90_000, 12_000_000]);
    assert!(a.len() > 40_000, "{} ticks", a.len());
    assert_eq!(a.len(), b.len());
    assert!(a == b, "the two runs differ");
    assert!(run(43, 5, &[1_000_000]) != run(42, 5, &[1_000_000]), "another seed gives another market");
}

#[test]
fn the_crash_lesson_takes_the_us_index_down_by_its_depth_and_pauses_the_ticks() {
    let settings = Settings::defaults();
    let universe = settings.universe();
    let spx = universe.iter().position(|i| i.symbol == "S&P 500").unwrap();
    let ticks = run(42, 30, &[1_000_000]);
    let prices: Vec<(i64, f64)> = ticks.iter().filter(|t| t.instrument == spx).map(|t| (t.time.0, t.price)).collect();
    // The crash starts at minute 10 and bottoms after 15 market minutes at speed 10: 1.5 real
    // minutes. Compare with the price just before it.
    let before = prices.iter().rev().find(|(t, _)| *t < START + 10 * 60_000_000).unwrap().1;
    let bottom = prices.iter().filter(|(t, _)| *t < START + 14 * 60_000_000).map(|p| p.1).fold(f64::MAX, f64::min);
    let fall = 1.0 - bottom / before;
    assert!((fall - 0.2).abs() < 0.03, "S&P 500 fell {:.1}%", fall * 100.0);
    // Paused from minute 14 to 19: no tick of any instrument is stamped in between.
    let (pause, resume) = (START + 14 * 60_000_000, START + 19 * 60_000_000);
    assert!(!ticks.iter().any(|t| t.time.0 > pause && t.time.0 < resume), "ticks while paused");
    assert!(ticks.iter().any(|t| t.time.0 > resume), "ticks after the resume");
}
