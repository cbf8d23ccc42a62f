//! The server under pressure: many clients joining over time across forced flushes, clients
//! that stop reading, a clock that leaps hours ahead, and a part that dies for good.

mod common;

use common::*;
use finlearn::domain::time::{Clock, ManualClock, Timestamp};
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

/// Longest any answer may take in these tests. Far above what a loaded two-core machine needs
/// (milliseconds); an answer that takes this long is stuck, not slow.
const STUCK: Duration = Duration::from_secs(20);

/// A fast market flushed every second: the tick writer commits all the time.
fn busy_market() -> String {
    format!(
        "{SMALL_MARKET}\n[simulation]\ntick_min_ms = 20\ntick_max_ms = 40\nseed_days = 0.05\n[storage]\nflush_interval_secs = 1\n"
    )
}

/// One GET that must answer 200 within [`STUCK`].
async fn must_answer(client: &awc::Client, url: String) {
    let started = Instant::now();
    let mut response = client.get(&url).send().await.unwrap_or_else(|e| panic!("GET {url}: {e}"));
    assert_eq!(response.status().as_u16(), 200, "GET {url}");
    response.body().limit(8 << 20).await.unwrap_or_else(|e| panic!("GET {url} body: {e}"));
    assert!(started.elapsed() < STUCK, "GET {url} took {:?}", started.elapsed());
}

#[actix_web::test]
async fn charts_news_and_order_lists_keep_answering_many_joining_clients_across_flushes() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&busy_market(), &dir.path().join("pressure.duckdb"), 11);
    let clients = 32;
    let rounds = 12;
    let mut tasks = Vec::new();
    for n in 0..clients {
        // Clients join one every 100 ms, so the reader pool keeps growing while flushes run.
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
        let base = server.base.clone();
        tasks.push(actix_web::rt::spawn(async move {
            let client = awc::Client::builder().timeout(STUCK).finish();
            let uid = format!("student-{n}");
            let order = json!({"firebase_uid": uid, "symbol": "AAPL", "side": "buy", "quantity": 1, "market": "usa"});
            for round in 0..rounds {
                let timeframe = ["1m", "5m", "1h", "1D"][round % 4];
                must_answer(&client, format!("{base}/api/v1/market/history/AAPL?timeframe={timeframe}")).await;
                must_answer(&client, format!("{base}/api/v1/market/history/BTC?timeframe=1m&limit=500")).await;
                must_answer(&client, format!("{base}/api/v1/market/news?limit=20")).await;
                must_answer(&client, format!("{base}/api/v1/portfolio/orders/{uid}")).await;
                if round % 4 == 0 {
                    let response = client.post(format!("{base}/api/v1/orders/place")).send_json(&order).await;
                    assert_eq!(response.expect("order answered").status().as_u16(), 200);
                }
            }
        }));
    }
    for task in tasks {
        task.await.expect("client finished");
    }
    server.stop_within(STUCK).expect("clean shutdown");
}

/// Unsubscribes from everything, then sends pings without ever reading the pongs, until the
/// server stops taking them (its answers fill the socket).
async fn wedge(socket: &mut Socket) {
    next_json(socket, 10).await; // hello
    socket.send(Message::text(r#"{"action":"unsubscribe","symbols":["*"]}"#)).await.unwrap();
    for _ in 0..100_000 {
        let sent = tokio::time::timeout(Duration::from_secs(2), socket.send(Message::Ping(vec![7; 125].into()))).await;
        if !matches!(sent, Ok(Ok(()))) {
            return; // the server stopped reading, or already hung up
        }
    }
}

/// Reads until the server closes the connection; false if it is still open after `limit`.
async fn closed_within(socket: &mut Socket, limit: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, socket.next()).await {
            Err(_) => return false,
            Ok(None | Some(Err(_)) | Some(Ok(Message::Close(_)))) => return true,
            Ok(Some(Ok(_))) => {}
        }
    }
}

#[actix_web::test]
async fn a_client_that_stops_reading_is_disconnected_and_does_not_hold_up_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "{SMALL_MARKET}\n[simulation]\nseed_days = 0.02\n[stream]\nsend_timeout_secs = 1\nheartbeat_secs = 1\nclient_timeout_secs = 30\n"
    );
    let server = TestServer::start(&config, &dir.path().join("wedged.duckdb"), 5);

    let mut wedged = tight_socket(&server).await;
    wedge(&mut wedged).await;
    // The server gives up on a send after a second; reading now drains what it had sent and
    // must then meet the end of the connection, not an endless trickle of pings.
    actix_web::rt::time::sleep(Duration::from_secs(3)).await;
    assert!(closed_within(&mut wedged, Duration::from_secs(15)).await, "the wedged client was not disconnected");

    let mut held = tight_socket(&server).await;
    wedge(&mut held).await;
    let (status, metrics) = {
        let mut response = awc::Client::new().get(format!("{}/metrics", server.base)).send().await.unwrap();
        (response.status().as_u16(), String::from_utf8(response.body().await.unwrap().to_vec()).unwrap())
    };
    assert_eq!(status, 200);
    assert!(metrics.contains(r#"finlearn_ws_clients_dropped_total{reason="slow"}"#), "{metrics}");
    // A client still wedged at shutdown must not hold the server up.
    std::thread::spawn(move || server.stop_within(STUCK).expect("clean shutdown")).join().unwrap();
    drop(held);
}

/// (ticks, longest gap between two ticks of one instrument in microseconds) of a closed file.
fn tick_coverage(data: &std::path::Path, from: Timestamp) -> (i64, i64) {
    let conn = duckdb::Connection::open(data).unwrap();
    conn.query_row(
        "SELECT count(*), max(gap) FROM (
             SELECT epoch_us(ts) - lag(epoch_us(ts)) OVER (PARTITION BY symbol ORDER BY ts) AS gap
             FROM price_ticks WHERE epoch_us(ts) >= ?)",
        [from.micros()],
        |r| Ok((r.get(0)?, r.get::<_, Option<i64>>(1)?.unwrap_or(0))),
    )
    .unwrap()
}

#[actix_web::test]
async fn a_clock_that_leaps_eight_hours_is_caught_up_with_no_hole_and_nothing_dropped() {
    const HOUR: i64 = 3_600_000_000;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("leap.duckdb");
    let start = Timestamp::parse_rfc3339("2026-12-01T08:00:00Z").unwrap();
    let clock = Arc::new(ManualClock::starting_at(start));
    // The full universe of 45 instruments: eight hours are about 520,000 ticks, eight times
    // what the write buffer holds.
    let config = "[simulation]\nseed_days = 0.01\n[storage]\nflush_interval_secs = 1\n";
    let server = TestServer::start_with_clock(config, &data, 9, clock.clone() as Arc<dyn Clock>);
    let mut socket = connect(&server.ws).await;
    next_json(&mut socket, 10).await; // hello

    clock.advance_micros(8 * HOUR);
    let woke = clock.now();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let quote = server.get_ok("/api/v1/market/quote/AAPL").await;
        if assert_timestamp(&quote, "timestamp").timestamp_micros() >= woke.micros() - 3_000_000 {
            break;
        }
        assert!(Instant::now() < deadline, "not caught up: {quote}");
        actix_web::rt::time::sleep(Duration::from_millis(200)).await;
    }
    // The stream resumes with fresh prices.
    let frame = loop {
        let frame = next_json(&mut socket, 30).await;
        if frame["symbol"].is_string() {
            break frame;
        }
    };
    assert!(assert_timestamp(&frame, "timestamp").timestamp_micros() >= woke.micros() - 3_000_000, "{frame}");
    for _ in 0..20 {
        clock.advance_micros(500_000);
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
    let live = loop {
        let frame = next_json(&mut socket, 10).await;
        if frame["symbol"].is_string() && assert_timestamp(&frame, "timestamp").timestamp_micros() > woke.micros() {
            break frame;
        }
    };
    assert!(live["price"].as_f64().unwrap() > 0.0, "live ticks after the catch-up: {live}");

    let (_, _, metrics) = server.get_text("/metrics").await;
    assert!(metrics.contains("finlearn_ticks_dropped_total 0"), "{metrics}");
    server.stop_within(STUCK).expect("clean shutdown");

    let (ticks, longest_gap) = tick_coverage(&data, start);
    assert!(longest_gap <= 3_000_000, "a hole of {longest_gap} us in the stored ticks");
    let expected = 45.0 * 8.0 * 3_600.0 / 2.5;
    assert!((ticks as f64 / expected - 1.0).abs() < 0.02, "{ticks} ticks stored for eight hours");
}

#[actix_web::test]
async fn a_part_that_fails_for_good_makes_the_server_not_ready_then_stop_with_the_cause() {
    let dir = tempfile::tempdir().unwrap();
    let config = format!("{SMALL_MARKET}\n[simulation]\nseed_days = 0.02\n");
    let mut server = TestServer::start(&config, &dir.path().join("failing.duckdb"), 3);
    assert_eq!(server.get("/health").await.0, 200);

    server.health.fail("the ledger writer panicked: boom");
    let (status, body) = server.get("/health").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["status"], "not ready");
    assert_eq!(body["reason"], "the ledger writer panicked: boom");

    let ended = tokio::task::spawn_blocking(move || server.ended_within(STUCK)).await.unwrap();
    let cause = ended.expect_err("a failed server ends with an error").to_string();
    assert!(cause.contains("the ledger writer panicked: boom"), "{cause}");
}
