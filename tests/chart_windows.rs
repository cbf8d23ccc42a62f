//! Charts served from memory are the charts the rollups give: every symbol, every timeframe,
//! several limits, as the market moves on a controlled clock, before and after each flush of the
//! write buffer, and over HTTP.

mod common;

use common::*;
use finlearn::config::{Overrides, Settings};
use finlearn::domain::candle::Timeframe;
use finlearn::domain::instrument::Universe;
use finlearn::domain::market::{Market, Start};
use finlearn::domain::quote::DayQuote;
use finlearn::domain::time::{Clock, MICROS_PER_DAY, MICROS_PER_SECOND, ManualClock, Timestamp};
use finlearn::live::buffer::WriteBuffer;
use finlearn::live::bus::Bus;
use finlearn::live::charts::ChartWindows;
use finlearn::live::engine::Engine;
use finlearn::live::quotes::QuoteBoard;
use finlearn::live::tick_writer::TickWriter;
use finlearn::market_data::{HistoryRequest, MAX_CANDLES, MarketData};
use finlearn::metrics::Metrics;
use finlearn::seed::seed_history;
use finlearn::storage::Store;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

const SEED_DAYS: f64 = 3.0;

fn settings(dir: &Path) -> Settings {
    let file = dir.join("charts.toml");
    std::fs::write(&file, format!("{SMALL_MARKET}\n[simulation]\nseed_days = {SEED_DAYS}\n")).unwrap();
    let overrides = Overrides { listen: None, data: Some(dir.join("charts.duckdb")), seed: Some(11) };
    Settings::load(Some(&file), Vec::new(), &overrides).unwrap()
}

/// The pieces of the running market, wired as start-up wires them, but driven by hand.
struct Rig {
    universe: Arc<Universe>,
    clock: Arc<ManualClock>,
    engine: Engine,
    writer: Arc<TickWriter>,
    market: MarketData,
}

/// Seeds `SEED_DAYS` up to `now` and builds the chart windows from the rollups.
fn rig(settings: &Settings, now: Timestamp) -> Rig {
    let universe = Arc::new(Universe::new(settings.universe()).unwrap());
    let clock = Arc::new(ManualClock::starting_at(now));
    let store = Arc::new(Store::open(&settings.storage.path, &settings.storage.memory_limit, 1).unwrap());
    store.save_instruments(universe.list()).unwrap();
    let params: Vec<_> = universe.list().iter().map(|i| settings.model_for(i.kind)).collect();
    let from = Timestamp(now.0 - (SEED_DAYS * MICROS_PER_DAY as f64) as i64);
    let starts: Vec<Start> = universe.list().iter().map(|i| Start { price: i.base_price, last_tick: from }).collect();
    let mut market = Market::new(universe.list().to_vec(), &params, &starts, settings.cadence(), 11, from, 0);
    seed_history(&store, &mut market, from, now, |_| {}).unwrap();

    let stored = store.stored_days(now).unwrap();
    let quotes: Vec<DayQuote> = universe.list().iter().map(|i| DayQuote::resume(i, &stored[&i.symbol])).collect();
    let board = Arc::new(QuoteBoard::new(&quotes));
    let charts = Arc::new(ChartWindows::load(&store, &universe, MAX_CANDLES as usize, now).unwrap());
    let buffer = Arc::new(WriteBuffer::default());
    let metrics = Arc::new(Metrics::new());
    let writer = Arc::new(TickWriter {
        store: store.clone(),
        buffer: buffer.clone(),
        symbols: universe.symbols().into(),
        clock: clock.clone(),
        interval: Duration::from_secs(1),
        retention_micros: 30 * MICROS_PER_DAY,
        metrics: metrics.clone(),
        health: Arc::default(),
        flushing: Default::default(),
    });
    let engine = Engine {
        market,
        quotes,
        board: board.clone(),
        charts: charts.clone(),
        bus: Bus::new(16),
        buffer: buffer.clone(),
        writer: writer.clone(),
        clock: clock.clone(),
        metrics,
        director: Default::default(),
        orders: None,
    };
    let market = MarketData::new(universe.clone(), board, charts, store, buffer, clock.clone());
    Rig { universe, clock, engine, writer, market }
}

/// Compares, for every symbol, timeframe and a few limits, the chart from memory with the chart
/// from the rollups plus the unflushed ticks; returns the candles compared.
fn assert_memory_matches_rollups(rig: &Rig, when: &str) -> usize {
    let mut compared = 0;
    for instrument in rig.universe.list() {
        for tf in Timeframe::ALL {
            for limit in [1, 7, 100, MAX_CANDLES] {
                let request = HistoryRequest { timeframe: tf, limit, from: None, to: None };
                let symbol = &instrument.symbol;
                let memory = rig.market.recent_history_json(symbol, request).unwrap().expect("served from memory");
                let stored = rig.market.history(symbol, request).unwrap();
                let what = format!("{symbol} {} limit {limit} {when}", tf.label());
                // As text: parsing JSON back may move a float by its last bit.
                let (memory, expected) = (candle_texts(&memory), candle_texts(&serde_json::to_vec(&stored).unwrap()));
                assert_eq!(memory.len(), expected.len(), "candles of {what}");
                for (m, s) in memory.iter().zip(&expected) {
                    assert_eq!(m, s, "{what}");
                }
                compared += stored.len();
            }
        }
    }
    compared
}

/// The candles of a JSON array of candles, each as its own text.
fn candle_texts(json: &[u8]) -> Vec<String> {
    let text = std::str::from_utf8(json).unwrap();
    let inner = text.strip_prefix('[').and_then(|t| t.strip_suffix(']')).expect("a JSON array");
    inner.split_inclusive('}').map(|c| c.trim_start_matches(',').to_string()).filter(|c| !c.is_empty()).collect()
}

#[test]
fn charts_from_memory_equal_the_rollups_across_ticks_and_flushes() {
    let dir = tempfile::tempdir().unwrap();
    let settings = settings(dir.path());
    // Sunday night: the live steps cross an hour, four hours, a day and a month; the seeded days
    // cross a week.
    let mut rig = rig(&settings, Timestamp::parse_rfc3339("2026-11-30T23:20:00Z").unwrap());
    let seeded = assert_memory_matches_rollups(&rig, "after start-up");
    assert!(seeded > 10_000, "a meaningful comparison: {seeded} candles");
    let minute = HistoryRequest { timeframe: Timeframe::M1, limit: 100, from: None, to: None };
    // Every minute of the seeded days has trades; the one just begun may not have any yet.
    assert!(rig.market.history("AAPL", minute).unwrap().len() >= 99);

    for (step, seconds) in [41, 433, 1_500, 3_700, 11_000].into_iter().enumerate() {
        rig.clock.advance_micros(seconds * MICROS_PER_SECOND);
        if seconds > 10_000 {
            // A leap is replayed in chunks written as they are made; the windows see every tick.
            rig.engine.catch_up(rig.clock.now());
        } else {
            rig.engine.advance();
        }
        assert_memory_matches_rollups(&rig, &format!("after step {step}, before its flush"));
        rig.writer.flush().unwrap();
        assert_memory_matches_rollups(&rig, &format!("after step {step}, flushed"));
        // Time passes with no tick yet: the window slides on its own.
        rig.clock.advance_micros(59 * MICROS_PER_SECOND);
        assert_memory_matches_rollups(&rig, &format!("after step {step}, a minute on"));
    }
    assert!(rig.clock.now() > Timestamp::parse_rfc3339("2026-12-01T04:00:00Z").unwrap());
}

#[actix_web::test]
async fn the_default_chart_over_http_is_the_stored_range_chart() {
    let dir = tempfile::tempdir().unwrap();
    let now = Timestamp::parse_rfc3339("2026-12-01T08:17:42Z").unwrap();
    // The clock stands still, so the seeded market emits nothing more and both reads see one state.
    let clock: Arc<dyn Clock> = Arc::new(ManualClock::starting_at(now));
    let config = format!("{SMALL_MARKET}\n[simulation]\nseed_days = 2\n");
    let server = TestServer::start_with_clock(&config, &dir.path().join("http.duckdb"), 5, clock);
    for symbol in ["AAPL", "NIFTY%2050", "L%26T"] {
        for tf in Timeframe::ALL {
            let label = tf.label();
            let last = tf.bucket_start(now);
            let first = tf.shift(last, -99);
            let recent = server.get_ok(&format!("/api/v1/market/history/{symbol}?timeframe={label}")).await;
            let ranged = server
                .get_ok(&format!(
                    "/api/v1/market/history/{symbol}?timeframe={label}&from={}&to={}",
                    first.to_rfc3339(),
                    now.to_rfc3339()
                ))
                .await;
            assert!(!recent.as_array().unwrap().is_empty(), "{symbol} {label}");
            assert_eq!(recent, ranged, "{symbol} {label}");
        }
    }
    let (status, _) = server.get("/api/v1/market/history/NOPE?timeframe=1m").await;
    assert_eq!(status, 404);
    server.stop();
}
