//! kill -9 in the middle of a stream of orders loses no acknowledged order and leaves the
//! ledger consistent.
// The spawned servers are handed to the caller, which waits for them.
#![allow(clippy::zombie_processes)]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_finlearn");
const CONFIG: &str = "[instruments]\nreplace_builtin = true\n[[instruments.extra]]\nsymbol = \"AAPL\"\nname = \"Apple\"\ntype = \"stock\"\nsector = \"technology\"\nmarket = \"usa\"\ncurrency = \"USD\"\nbase_price = 192.5\nannual_volatility = 0.15\nannual_drift = 0.08\n[simulation]\nseed_days = 0.1\ntick_min_ms = 50\ntick_max_ms = 100\n";

fn start(dir: &std::path::Path) -> (Child, u16) {
    let (child, line) = serve_until(dir, "crash", CONFIG, "\"serving\"");
    let json: serde_json::Value = serde_json::from_str(&line).unwrap();
    (child, json["fields"]["port"].as_u64().unwrap() as u16)
}

/// One HTTP/1.1 request on a fresh connection; returns (status, body).
fn http(port: u16, method: &str, path: &str, body: &str) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let status = response.split(' ').nth(1).and_then(|s| s.parse().ok()).ok_or(std::io::ErrorKind::InvalidData)?;
    let body = response.split("\r\n\r\n").nth(1).unwrap_or_default().to_string();
    Ok((status, body))
}

#[test]
fn kill_9_loses_no_acknowledged_order() {
    let dir = tempfile::tempdir().unwrap();
    let (mut server, port) = start(dir.path());
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..4)
        .map(|t| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let uid = format!("crash-{t}");
                let mut acknowledged = 0u32;
                let mut n = 0u32;
                while !stop.load(Ordering::Relaxed) {
                    let side = if n % 3 == 2 { "sell" } else { "buy" };
                    n += 1;
                    let body = format!(
                        r#"{{"firebase_uid":"{uid}","symbol":"AAPL","side":"{side}","quantity":0.01,"market":"usa"}}"#
                    );
                    match http(port, "POST", "/api/v1/orders/place", &body) {
                        Ok((200, _)) => acknowledged += 1,
                        Ok((status, body)) => panic!("order refused: {status} {body}"),
                        Err(_) => break, // the server is gone
                    }
                }
                (uid, acknowledged)
            })
        })
        .collect();
    let resting = {
        let stop = stop.clone();
        std::thread::spawn(move || rest_and_cancel(port, &stop))
    };
    std::thread::sleep(Duration::from_millis(1_500));
    server.kill().unwrap(); // SIGKILL
    server.wait().unwrap();
    stop.store(true, Ordering::Relaxed);
    let acknowledged: Vec<(String, u32)> = clients.into_iter().map(|c| c.join().unwrap()).collect();
    assert!(acknowledged.iter().all(|(_, n)| *n > 10), "{acknowledged:?}");

    let (open, canceled, in_flight) = resting.join().unwrap();
    assert!(open.len() > 5 && !canceled.is_empty(), "{open:?} {canceled:?}");

    let (mut server, port) = start(dir.path());
    // Resting orders: every acknowledged one is still open (but the one whose cancel was in
    // flight), every acknowledged cancel stuck, and the holds came back with the orders.
    let (status, body) = http(port, "GET", "/api/v1/orders/crash-resting?status=open", "").unwrap();
    assert_eq!(status, 200, "{body}");
    let stored: Vec<i64> = serde_json::from_str::<serde_json::Value>(&body)
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["order_id"].as_i64().unwrap())
        .collect();
    for id in &open {
        assert!(stored.contains(id) || in_flight == Some(*id), "open order {id} lost: {stored:?}");
    }
    assert!(canceled.iter().all(|id| !stored.contains(id)), "a canceled order came back: {stored:?}");
    assert!(stored.len() <= open.len() + 1, "{stored:?} {open:?}");
    let (_, body) = http(port, "GET", "/api/v1/portfolio/positions/crash-resting", "").unwrap();
    let held = serde_json::from_str::<serde_json::Value>(&body).unwrap()["held"]["balances"]["usa"].as_f64();
    assert_eq!(held.map(|h| (h * 100.0).round() as usize), Some(stored.len()), "a cent held per order: {body}");
    for (uid, acked) in &acknowledged {
        let (status, body) = http(port, "GET", &format!("/api/v1/portfolio/orders/{uid}"), "").unwrap();
        assert_eq!(status, 200);
        let stored = serde_json::from_str::<serde_json::Value>(&body).unwrap().as_array().unwrap().len() as u32;
        // Every acknowledged order survived; at most the one in flight at the kill also did.
        assert!(stored >= *acked && stored <= acked + 1, "{uid}: {acked} acknowledged, {stored} stored");
    }
    Command::new("kill").args(["-TERM", &server.id().to_string()]).status().unwrap();
    assert!(server.wait().unwrap().success());

    let check = Command::new(BIN).arg("check").arg("--data").arg(dir.path().join("crash.duckdb")).output().unwrap();
    assert!(
        check.status.success(),
        "{}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
    assert!(String::from_utf8_lossy(&check.stdout).contains("ledger consistent"));

    // A tampered order (one cent more taken than the history says) is caught.
    let conn = duckdb::Connection::open(dir.path().join("crash.duckdb")).unwrap();
    conn.execute(
        "UPDATE orders SET cash_after_cents = cash_after_cents - 1
         WHERE id = (SELECT max(id) FROM orders WHERE firebase_uid = 'crash-0')",
        [],
    )
    .unwrap();
    drop(conn);
    let check = Command::new(BIN).arg("check").arg("--data").arg(dir.path().join("crash.duckdb")).output().unwrap();
    assert!(!check.status.success());
    let report = String::from_utf8_lossy(&check.stdout);
    assert!(report.contains("BROKEN order ") && report.contains(" of crash-0 ("), "{report}");

    // So is a canceled order that comes back to life (an event after its final one).
    let conn = duckdb::Connection::open(dir.path().join("crash.duckdb")).unwrap();
    conn.execute(
        "INSERT INTO order_events SELECT * REPLACE (event_id + 1000000 AS event_id, 'new' AS status, 'new' AS event)
         FROM order_events WHERE status = 'canceled' LIMIT 1",
        [],
    )
    .unwrap();
    drop(conn);
    let check = Command::new(BIN).arg("check").arg("--data").arg(dir.path().join("crash.duckdb")).output().unwrap();
    let report = String::from_utf8_lossy(&check.stdout);
    assert!(report.contains("has an event after it was closed"), "{report}");
}

/// Places resting buy limits (a cent each) and cancels every third one until `stop` or the
/// server goes; returns the acknowledged open and canceled ids and a cancel left in flight.
fn rest_and_cancel(port: u16, stop: &AtomicBool) -> (Vec<i64>, Vec<i64>, Option<i64>) {
    let (mut open, mut canceled) = (Vec::new(), Vec::new());
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        if (n % 3 == 0 || open.len() >= 90) && !open.is_empty() {
            let id: i64 = open[0];
            match http(port, "DELETE", &format!("/api/v1/orders/crash-resting/{id}"), "") {
                Ok((200, _)) => canceled.push(open.remove(0)),
                Ok((status, body)) => panic!("cancel refused: {status} {body}"),
                Err(_) => return (open, canceled, Some(id)),
            }
        } else {
            let body = r#"{"firebase_uid":"crash-resting","symbol":"AAPL","side":"buy","quantity":0.01,"market":"usa",
                "order_type":"limit","limit_price":1,"time_in_force":"gtc"}"#;
            match http(port, "POST", "/api/v1/orders/place", body) {
                Ok((200, body)) => {
                    let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
                    open.push(answer["order_id"].as_i64().unwrap());
                }
                Ok((status, body)) => panic!("resting order refused: {status} {body}"),
                Err(_) => break,
            }
        }
    }
    (open, canceled, None)
}

/// Starts `finlearn serve` on `dir/NAME.duckdb` with `config` and returns it once a log line
/// containing `wanted` appears, with that line; the rest of the log is drained.
fn serve_until(dir: &std::path::Path, name: &str, config: &str, wanted: &str) -> (Child, String) {
    let file = dir.join(format!("{name}.toml"));
    std::fs::write(&file, config).unwrap();
    let data = dir.join(format!("{name}.duckdb"));
    let args =
        ["--seed".as_ref(), "1".as_ref(), "--config".as_ref(), file.as_os_str(), "--data".as_ref(), data.as_os_str()];
    let (child, line, lines) = common::spawn_until(&args, "info", wanted);
    std::thread::spawn(move || lines.for_each(drop));
    (child, line)
}

/// Two days of the built-in 45 instruments: a few seconds of seeding, several progress lines.
const TWO_DAYS: &str = "[simulation]\nseed_days = 2\n[storage]\nretention_days = 30\n";

fn now_micros() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_micros() as i64
}

/// Whether the seeding mark is set, and the count and first time of AAPL's stored ticks.
fn seeded_state(data: &std::path::Path) -> (bool, i64, i64) {
    let conn = duckdb::Connection::open(data).unwrap();
    conn.query_row(
        "SELECT (SELECT count(*) > 0 FROM meta WHERE key = 'seeding'), count(*), coalesce(epoch_us(min(ts)), 0)
         FROM price_ticks WHERE symbol = 'AAPL'",
        [],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )
    .unwrap()
}

/// One whole path of two days at 2-3 s a tick (about 69,000 for AAPL), starting two days
/// before `started`: not a partial path, nor one with a second written over it.
fn assert_two_full_days(data: &std::path::Path, started: i64) {
    let (marked, count, first_tick) = seeded_state(data);
    assert!(!marked, "the seeding mark is cleared");
    let two_days = 2 * 86_400_000_000_i64;
    assert!((first_tick - (started - two_days)).abs() < 120_000_000, "first tick {first_tick}, started {started}");
    assert!((66_000..72_000).contains(&count), "{count} AAPL ticks");
}

#[test]
fn a_start_up_killed_while_seeding_seeds_again_in_full() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("seeding.duckdb");
    let started = now_micros();
    let (mut first, _) = serve_until(dir.path(), "seeding", TWO_DAYS, "seeding history: ");
    first.kill().unwrap();
    first.wait().unwrap();
    let (marked, partial, _) = seeded_state(&data);
    assert!(marked && partial > 0, "killed mid-seed: mark {marked}, {partial} ticks");

    let (mut second, _) = serve_until(dir.path(), "seeding", TWO_DAYS, "\"serving\"");
    Command::new("kill").args(["-TERM", &second.id().to_string()]).status().unwrap();
    assert!(second.wait().unwrap().success());
    assert_two_full_days(&data, started);
}

#[test]
fn sigterm_while_seeding_stops_the_server_once_the_history_is_whole() {
    let dir = tempfile::tempdir().unwrap();
    let started = now_micros();
    let (mut server, _) = serve_until(dir.path(), "seeding", TWO_DAYS, "seeding history: ");
    Command::new("kill").args(["-TERM", &server.id().to_string()]).status().unwrap();
    assert!(server.wait().unwrap().success(), "a graceful stop");
    assert_two_full_days(&dir.path().join("seeding.duckdb"), started);
}
