//! Seeding, restarts and slow clients: the server's life over time.

mod common;

use common::*;
use finlearn::domain::time::{Clock, ManualClock, Timestamp};
use futures_util::StreamExt;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

const DAY_MICROS: i64 = 86_400_000_000;

/// (count, first, last) of the stored ticks of `symbol`, read from a closed database file.
fn stored_ticks(data: &std::path::Path, symbol: &str) -> (i64, i64, i64) {
    let conn = duckdb::Connection::open(data).unwrap();
    conn.query_row(
        "SELECT count(*), epoch_us(min(ts)), epoch_us(max(ts)) FROM price_ticks WHERE symbol = ?",
        [symbol],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )
    .unwrap()
}

#[test]
fn seeding_writes_exactly_five_days_and_the_same_seed_gives_the_same_history() {
    let dir = tempfile::tempdir().unwrap();
    let start = Timestamp::parse_rfc3339("2026-12-01T08:15:02.5Z").unwrap();
    let history = |name: &str, seed: u64| {
        let data = dir.path().join(name);
        let clock: Arc<dyn Clock> = Arc::new(ManualClock::starting_at(start));
        let server = TestServer::start_with_clock(SMALL_MARKET, &data, seed, clock);
        let candles = actix_web::rt::System::new()
            .block_on(async { server.get_ok("/api/v1/market/history/AAPL?timeframe=1h&limit=200").await });
        server.stop();
        (candles, data)
    };
    let (first, data) = history("a.duckdb", 7);
    let (again, _) = history("b.duckdb", 7);
    let (other, _) = history("c.duckdb", 8);
    assert_eq!(first, again, "same seed, same history");
    assert_ne!(first, other, "another seed, another history");
    assert_eq!(first.as_array().unwrap().len(), 121, "five days of hours plus the partial one");

    let (count, first_tick, last_tick) = stored_ticks(&data, "AAPL");
    assert_eq!(first_tick, start.micros() - 5 * DAY_MICROS, "history starts five days before start-up");
    assert!(last_tick <= start.micros() && start.micros() - last_tick <= 3_000_000);
    // One tick every 2 to 3 seconds: 2.5 on average.
    let expected = 5.0 * 86_400.0 / 2.5;
    assert!((count as f64 / expected - 1.0).abs() < 0.01, "{count} ticks in five days");
}

#[actix_web::test]
async fn a_restart_resumes_from_stored_prices_without_reseeding() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("restart.duckdb");
    let config = format!("{SMALL_MARKET}\n[simulation]\ntick_min_ms = 100\ntick_max_ms = 200\nseed_days = 0.05\n");

    let server = TestServer::start(&config, &data, 3);
    let before = server.get_ok("/api/v1/market/history/AAPL?timeframe=1h&limit=200").await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let last_quote = server.get_ok("/api/v1/market/quote/AAPL").await;
    server.stop();
    let (count_1, first_1, last_1) = stored_ticks(&data, "AAPL");
    // Shutdown wrote the live ticks that were still buffered.
    let quoted = Timestamp::parse_rfc3339(last_quote["timestamp"].as_str().unwrap()).unwrap();
    assert!(last_1 >= quoted.micros(), "the last quoted tick was written at shutdown");

    let server = TestServer::start(&config, &data, 3);
    let quote = server.get_ok("/api/v1/market/quote/AAPL").await;
    // The day carries on: same open, and at least the volume traded before the restart.
    assert_eq!(quote["open"], last_quote["open"]);
    assert!(quote["volume"].as_u64() >= last_quote["volume"].as_u64());
    let after = server.get_ok("/api/v1/market/history/AAPL?timeframe=1h&limit=200").await;
    let (before, after) = (before.as_array().unwrap(), after.as_array().unwrap());
    // The stored hours are untouched (the last one may have grown).
    assert_eq!(before[..before.len() - 1], after[..before.len() - 1]);
    tokio::time::sleep(Duration::from_millis(500)).await;
    server.stop();
    let (count_2, first_2, last_2) = stored_ticks(&data, "AAPL");
    assert_eq!(first_2, first_1, "no reseed");
    assert!(count_2 > count_1 && last_2 > last_1);
}

#[actix_web::test]
async fn a_lagging_client_never_delays_the_others_and_is_cut_off() {
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "{SMALL_MARKET}\n[simulation]\ntick_min_ms = 2\ntick_max_ms = 4\nseed_days = 0.002\n[stream]\nchannel_capacity = 16\nsend_timeout_secs = 1\n"
    );
    let server = TestServer::start(&config, &dir.path().join("lag.duckdb"), 5);

    // A client with a tiny receive window that stops reading.
    let mut slow = tight_socket(&server).await;

    // Meanwhile a normal client keeps receiving ticks, each newer than the one before for its
    // symbol. (No bound on how late they arrive: a busy machine may be slow; a stalled one hangs.)
    let mut fast = connect(&server.ws).await;
    next_json(&mut fast, 5).await;
    let mut newest = std::collections::HashMap::new();
    for _ in 0..1_000 {
        let frame = next_json(&mut fast, 10).await;
        if let (Some(symbol), Some(_)) = (frame["symbol"].as_str(), frame["timestamp"].as_str()) {
            let at = assert_timestamp(&frame, "timestamp");
            let before = newest.insert(symbol.to_string(), at);
            assert!(before.is_none_or(|b| b < at), "{symbol} went back in time");
        }
    }

    // The server notices the slow client on its own, while that client still reads nothing:
    // its sends time out (it is cut off) or it falls a channel's length behind (it lags).
    // Until then the kernel's socket buffers may hold what it has not read.
    let deadline = Instant::now() + Duration::from_secs(30);
    let counted = |metrics: &str, name: &str| metrics.lines().any(|l| l.starts_with(name) && !l.ends_with(" 0"));
    let lagged = loop {
        let (_, _, metrics) = server.get_text("/metrics").await;
        let lagged = counted(&metrics, "finlearn_ws_frames_lagged_total");
        if lagged || counted(&metrics, "finlearn_ws_clients_dropped_total{reason=\"slow\"}") {
            break lagged;
        }
        assert!(Instant::now() < deadline, "the server never noticed the slow client:\n{metrics}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };

    // Behind what was already buffered for it, the slow client then finds it was cut off, or
    // told it skipped frames, or (the notice itself is best effort) ticks made after the lag
    // was noticed.
    let noticed = chrono::Utc::now();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut verdict = None;
    while verdict.is_none() && Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_secs(5), slow.next()).await {
            Ok(Some(Ok(Message::Close(Some(close))))) => {
                assert_eq!(close.code, CloseCode::Policy);
                verdict = Some(format!("closed {}", close.reason));
            }
            Ok(Some(Ok(Message::Text(text)))) if text.contains("\"lagged\"") => verdict = Some("lagged".to_string()),
            Ok(Some(Ok(Message::Text(text)))) if lagged => {
                let frame: serde_json::Value = serde_json::from_str(&text).unwrap();
                if frame["timestamp"].is_string() && assert_timestamp(&frame, "timestamp") > noticed {
                    verdict = Some("skipped to fresh data".to_string());
                }
            }
            Ok(Some(Ok(_))) => {}
            Ok(None | Some(Err(_))) => verdict = Some("connection ended".to_string()),
            Err(_) => break,
        }
    }
    assert!(verdict.is_some(), "the slow client was neither cut off nor told it lagged");
    server.stop();
}
