//! Exports, read back and held against the API's own answers: the admin download from a
//! running server and `finlearn export` on a stopped server's file, and their refusals.
//!
//! The market runs on a manual clock that never moves, so nothing ticks after the seeded
//! history: the file and the API answer from the same rows.

mod common;

use common::{SMALL_MARKET, TestServer};
use duckdb::arrow::array::{Array, Decimal128Array, Int64Array, StringArray, TimestampMicrosecondArray};
use duckdb::arrow::datatypes::{DataType, TimeUnit};
use duckdb::arrow::record_batch::RecordBatch;
use finlearn::domain::time::{Clock, ManualClock, Timestamp};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_finlearn");
const ADMIN: &str = "an export token for the tests, 32+ characters";
const START: &str = "2026-12-01T09:00:00Z";
const SYMBOLS: [&str; 5] = ["AAPL", "NIFTY 50", "L&T", "BRK.B", "BTC"];

fn config() -> String {
    format!(
        "{SMALL_MARKET}\n[simulation]\nseed_days = 1\n[news]\nmacro_per_week = 60.0\n[admin]\ntoken = \"{ADMIN}\"\n"
    )
}

fn start(data: &Path) -> TestServer {
    let clock = Arc::new(ManualClock::starting_at(Timestamp::parse_rfc3339(START).unwrap()));
    TestServer::start_with_clock(&config(), data, 7, clock as Arc<dyn Clock>)
}

fn encoded(symbol: &str) -> String {
    symbol.replace(' ', "%20").replace('&', "%26")
}

fn dec(v: &Value) -> Decimal {
    Decimal::from_str(&v.to_string()).unwrap_or_else(|_| panic!("{v} is a decimal number"))
}

/// Market orders of two users and a resting order that is canceled; answers its order id.
async fn trade(s: &TestServer) -> i64 {
    let orders = [
        json!({"firebase_uid": "alice", "symbol": "AAPL", "side": "buy", "market": "usa", "quantity": 2.5}),
        json!({"firebase_uid": "alice", "symbol": "L&T", "side": "buy", "market": "india", "quantity": 1}),
        json!({"firebase_uid": "alice", "symbol": "AAPL", "side": "sell", "market": "usa", "quantity": 1.25}),
        json!({"firebase_uid": "bob", "symbol": "BRK.B", "side": "buy", "market": "usa", "quantity": 3}),
    ];
    for body in orders {
        let (status, answer) = s.post("/api/v1/orders/place", body.clone()).await;
        assert_eq!(status, 200, "{body} -> {answer}");
    }
    let resting = json!({"firebase_uid": "alice", "symbol": "AAPL", "side": "buy", "market": "usa", "quantity": 1,
        "order_type": "limit", "limit_price": 100.5, "time_in_force": "gtc"});
    let (status, answer) = s.post("/api/v1/orders/place", resting).await;
    assert_eq!(status, 200, "{answer}");
    let id = answer["order_id"].as_i64().expect("an order id");
    let (status, answer) = s.send("DELETE", &format!("/api/v1/orders/alice/{id}"), None).await;
    assert_eq!(status, 200, "{answer}");
    id
}

struct Download {
    status: u16,
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

impl Download {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    fn save(&self, dir: &Path, name: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, &self.body).unwrap();
        path
    }
}

async fn download(s: &TestServer, path: &str, token: Option<&str>) -> Download {
    let client = awc::Client::builder().timeout(Duration::from_secs(60)).finish();
    let mut request = client.get(format!("{}/api/v1/admin/export/{path}", s.base));
    if let Some(token) = token {
        request = request.insert_header(("Authorization", format!("Bearer {token}")));
    }
    let mut response = request.send().await.expect("request");
    let headers = response
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or_default().to_string()))
        .collect();
    let body = response.body().limit(256 << 20).await.expect("body").to_vec();
    Download { status: response.status().as_u16(), headers, body }
}

/// A CSV file as rows of named text fields, read by DuckDB.
fn read_csv(path: &Path) -> Vec<HashMap<String, String>> {
    let conn = duckdb::Connection::open_in_memory().unwrap();
    let mut stmt = conn
        .prepare(&format!("SELECT * FROM read_csv('{}', header = true, all_varchar = true)", path.display()))
        .unwrap();
    let mut rows = stmt.query([]).unwrap();
    let names: Vec<String> = rows.as_ref().unwrap().column_names();
    let mut out = Vec::new();
    while let Some(row) = rows.next().unwrap() {
        let fields = names
            .iter()
            .enumerate()
            .map(|(i, name)| (name.clone(), row.get::<_, Option<String>>(i).unwrap().unwrap_or_default()))
            .collect();
        out.push(fields);
    }
    out
}

/// A Parquet file's batches.
fn read_parquet(path: &Path) -> Vec<RecordBatch> {
    let file = std::fs::File::open(path).unwrap();
    ParquetRecordBatchReaderBuilder::try_new(file).unwrap().build().unwrap().map(Result::unwrap).collect()
}

fn column<'a, T: 'static>(batch: &'a RecordBatch, name: &str) -> &'a T {
    batch.column_by_name(name).unwrap_or_else(|| panic!("column {name}")).as_any().downcast_ref::<T>().unwrap()
}

fn strings(batch: &RecordBatch, name: &str) -> Vec<String> {
    let array = column::<StringArray>(batch, name);
    (0..array.len()).map(|i| array.value(i).to_string()).collect()
}

fn decimals(batch: &RecordBatch, name: &str) -> Vec<Decimal> {
    let array = column::<Decimal128Array>(batch, name);
    (0..array.len()).map(|i| Decimal::from_i128_with_scale(array.value(i), array.scale() as u32)).collect()
}

fn times(batch: &RecordBatch, name: &str) -> Vec<String> {
    let array = column::<TimestampMicrosecondArray>(batch, name);
    assert_eq!(array.data_type(), &DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())), "{name}");
    (0..array.len()).map(|i| Timestamp(array.value(i)).to_rfc3339()).collect()
}

fn integers(batch: &RecordBatch, name: &str) -> Vec<i64> {
    let array = column::<Int64Array>(batch, name);
    (0..array.len()).map(|i| array.value(i)).collect()
}

/// Candles as the API answers them: (time, open, high, low, close, volume).
type CandleRow = (String, Decimal, Decimal, Decimal, Decimal, i64);

fn api_candles(answer: &Value) -> Vec<CandleRow> {
    answer
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let price = |k: &str| dec(&c[k]);
            let time = c["timestamp"].as_str().unwrap().to_string();
            (time, price("open"), price("high"), price("low"), price("close"), c["volume"].as_i64().unwrap())
        })
        .collect()
}

fn csv_candles(rows: &[HashMap<String, String>], symbol: &str) -> Vec<CandleRow> {
    let d = |r: &HashMap<String, String>, k: &str| Decimal::from_str(&r[k]).unwrap();
    rows.iter()
        .filter(|r| r["symbol"] == symbol)
        .map(|r| {
            (r["time"].clone(), d(r, "open"), d(r, "high"), d(r, "low"), d(r, "close"), r["volume"].parse().unwrap())
        })
        .collect()
}

fn parquet_candles(batches: &[RecordBatch], symbol: &str) -> Vec<CandleRow> {
    let mut out = Vec::new();
    for b in batches {
        let (symbols, time, volume) = (strings(b, "symbol"), times(b, "time"), integers(b, "volume"));
        let (open, high, low, close) =
            (decimals(b, "open"), decimals(b, "high"), decimals(b, "low"), decimals(b, "close"));
        for i in (0..b.num_rows()).filter(|&i| symbols[i] == symbol) {
            out.push((time[i].clone(), open[i], high[i], low[i], close[i], volume[i]));
        }
    }
    out
}

/// Filled orders as the portfolio route lists them, oldest first: (id, symbol, side,
/// quantity, price, filled_at).
type FillRow = (i64, String, String, Decimal, Decimal, String);

async fn api_fills(s: &TestServer, uid: &str) -> Vec<FillRow> {
    let answer = s.get_ok(&format!("/api/v1/portfolio/orders/{uid}")).await;
    let mut fills: Vec<FillRow> = answer
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            let text = |k: &str| o[k].as_str().unwrap().to_string();
            (
                o["id"].as_i64().unwrap(),
                text("symbol"),
                text("side"),
                dec(&o["quantity"]),
                dec(&o["fill_price"]),
                text("filled_at"),
            )
        })
        .collect();
    fills.reverse();
    fills
}

fn csv_fills(rows: &[HashMap<String, String>], uid: &str) -> Vec<FillRow> {
    rows.iter()
        .filter(|r| r["firebase_uid"] == uid)
        .map(|r| {
            let d = |k: &str| Decimal::from_str(&r[k]).unwrap();
            (
                r["fill_id"].parse().unwrap(),
                r["symbol"].clone(),
                r["side"].clone(),
                d("quantity"),
                d("price"),
                r["filled_at"].clone(),
            )
        })
        .collect()
}

#[actix_web::test]
async fn admin_downloads_match_the_api_answers() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(&dir.path().join("market.duckdb"));
    let resting = trade(&s).await;

    // Candles of every symbol, hourly, as CSV: the chart route's answer, candle for candle.
    let candles = download(&s, "candles?format=csv&timeframe=1h", Some(ADMIN)).await;
    assert_eq!(candles.status, 200, "{}", candles.json());
    assert_eq!(candles.headers["content-type"], "text/csv; charset=utf-8");
    assert_eq!(candles.headers["content-disposition"], "attachment; filename=\"candles_1h.csv\"");
    let rows = read_csv(&candles.save(dir.path(), "candles.csv"));
    assert_eq!(candles.headers["x-export-rows"], rows.len().to_string());
    for symbol in SYMBOLS {
        let answer = s.get_ok(&format!("/api/v1/market/history/{}?timeframe=1h&limit=1000", encoded(symbol))).await;
        let api = api_candles(&answer);
        assert!(api.len() >= 24, "{symbol}: a day of hours, got {}", api.len());
        assert_eq!(csv_candles(&rows, symbol), api, "{symbol}");
    }

    // Daily candles in a range, as Parquet: exact decimals and UTC timestamps.
    let range = "from=2026-11-30T12:00:00Z&to=2026-12-01T08:00:00Z";
    let daily = download(&s, &format!("candles?format=parquet&timeframe=1D&{range}"), Some(ADMIN)).await;
    assert_eq!(daily.status, 200, "{}", daily.json());
    assert_eq!(daily.headers["content-type"], "application/vnd.apache.parquet");
    assert_eq!(daily.headers["content-disposition"], "attachment; filename=\"candles_1day.parquet\"");
    let batches = read_parquet(&daily.save(dir.path(), "daily.parquet"));
    for symbol in SYMBOLS {
        let answer = s.get_ok(&format!("/api/v1/market/history/{}?timeframe=1D&{range}", encoded(symbol))).await;
        let api = api_candles(&answer);
        assert_eq!(api.len(), 2, "{symbol}: the range overlaps two days");
        assert_eq!(parquet_candles(&batches, symbol), api, "{symbol}");
    }

    // The ticks of one hour add up to that hour's candle.
    let hour = "from=2026-12-01T07:00:00Z&to=2026-12-01T07:59:59.999999Z";
    let ticks = download(&s, &format!("ticks?format=parquet&{hour}"), Some(ADMIN)).await;
    assert_eq!(ticks.status, 200, "{}", ticks.json());
    let batches = read_parquet(&ticks.save(dir.path(), "ticks.parquet"));
    for symbol in SYMBOLS {
        let mut trades = Vec::new();
        for b in &batches {
            let (symbols, time, price, volume) =
                (strings(b, "symbol"), times(b, "time"), decimals(b, "price"), integers(b, "volume"));
            trades.extend(
                (0..b.num_rows()).filter(|&i| symbols[i] == symbol).map(|i| (time[i].clone(), price[i], volume[i])),
            );
        }
        assert!(trades.iter().all(|(t, ..)| t.starts_with("2026-12-01T07:")), "{symbol}");
        let answer = s.get_ok(&format!("/api/v1/market/history/{}?timeframe=1h&{hour}", encoded(symbol))).await;
        let (_, open, high, low, close, volume) = api_candles(&answer).pop().expect("the hour's candle");
        assert_eq!(trades.first().unwrap().1, open, "{symbol}");
        assert_eq!(trades.last().unwrap().1, close, "{symbol}");
        assert_eq!(trades.iter().map(|t| t.1).max().unwrap(), high, "{symbol}");
        assert_eq!(trades.iter().map(|t| t.1).min().unwrap(), low, "{symbol}");
        assert_eq!(trades.iter().map(|t| t.2).sum::<i64>(), volume, "{symbol}");
    }

    // Filled orders as Parquet: the portfolio route's list, fill for fill.
    let orders = download(&s, "orders?format=parquet", Some(ADMIN)).await;
    assert_eq!(orders.status, 200, "{}", orders.json());
    let batches = read_parquet(&orders.save(dir.path(), "orders.parquet"));
    for uid in ["alice", "bob"] {
        let mut exported = Vec::new();
        for b in &batches {
            let (uids, ids, symbols, sides) =
                (strings(b, "firebase_uid"), integers(b, "fill_id"), strings(b, "symbol"), strings(b, "side"));
            let (quantity, price, filled) = (decimals(b, "quantity"), decimals(b, "price"), times(b, "filled_at"));
            exported.extend(
                (0..b.num_rows())
                    .filter(|&i| uids[i] == uid)
                    .map(|i| (ids[i], symbols[i].clone(), sides[i].clone(), quantity[i], price[i], filled[i].clone())),
            );
        }
        let api = api_fills(&s, uid).await;
        assert!(!api.is_empty());
        assert_eq!(exported, api, "{uid}");
    }

    // The resting order's life, as CSV.
    let events = download(&s, "order_events?format=csv", Some(ADMIN)).await;
    assert_eq!(events.status, 200, "{}", events.json());
    let rows = read_csv(&events.save(dir.path(), "events.csv"));
    let life: Vec<(&str, &str, &str)> = rows
        .iter()
        .filter(|r| r["order_id"] == resting.to_string())
        .map(|r| (r["event"].as_str(), r["status"].as_str(), r["limit_price"].as_str()))
        .collect();
    assert_eq!(life, [("new", "new", "100.50"), ("canceled", "canceled", "100.50")]);
    let order = s.get_ok(&format!("/api/v1/orders/alice/{resting}")).await;
    assert_eq!(order["status"], "canceled", "{order}");

    // News, as the news route lists them (newest first there, oldest first in the file).
    let news = download(&s, "news", Some(ADMIN)).await;
    assert_eq!(news.status, 200, "{}", news.json());
    assert_eq!(news.headers["content-disposition"], "attachment; filename=\"news.csv\"", "csv is the default");
    let rows = read_csv(&news.save(dir.path(), "news.csv"));
    let answer = s.get_ok("/api/v1/market/news?limit=50").await;
    let api: Vec<(String, String, String)> = answer
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .map(|n| {
            (
                n["id"].to_string(),
                n["timestamp"].as_str().unwrap().to_string(),
                n["headline"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(!api.is_empty(), "the seeded day has news");
    let exported: Vec<(String, String, String)> =
        rows.iter().map(|r| (r["id"].clone(), r["time"].clone(), r["headline"].clone())).collect();
    assert_eq!(exported[exported.len().saturating_sub(api.len())..], api[..]);

    // Every download's temporary file is gone once it was sent (removed by the thread that
    // streamed it, a moment after the last byte).
    let prefix = format!("finlearn-export-{}-", std::process::id());
    let left = || -> Vec<String> {
        std::fs::read_dir(std::env::temp_dir())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name.starts_with(&prefix))
            .collect()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !left().is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(left(), Vec::<String>::new());

    s.stop();
}

#[actix_web::test]
async fn admin_downloads_are_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(&dir.path().join("refusals.duckdb"));
    let refusals: [(&str, Option<&str>, u16, &str); 8] = [
        ("ticks", None, 401, "Missing bearer token: send Authorization: Bearer <admin token>"),
        ("ticks", Some("a wrong token"), 403, "Wrong admin token"),
        (
            "trades",
            Some(ADMIN),
            404,
            "unknown export \"trades\": choose from ticks, candles, orders, order_events, news, standings",
        ),
        ("ticks?format=xlsx", Some(ADMIN), 422, "format must be csv or parquet; got \"xlsx\""),
        (
            "candles?timeframe=2h",
            Some(ADMIN),
            422,
            "timeframe must be one of 1m, 5m, 15m, 1h, 4h, 1D, 1W, 1M; got \"2h\"",
        ),
        (
            "ticks?from=yesterday",
            Some(ADMIN),
            422,
            "from must be an ISO-8601 time with a zone (2026-12-01T08:00:00Z) or a date (2026-12-01, its midnight UTC)",
        ),
        (
            "ticks?from=2026-12-02&to=2026-12-01",
            Some(ADMIN),
            422,
            "from (2026-12-02T00:00:00.000000Z) is after to (2026-12-01T00:00:00.000000Z)",
        ),
        (
            "ticks?to=2026-12-01T08:00:00",
            Some(ADMIN),
            422,
            "to must be an ISO-8601 time with a zone (2026-12-01T08:00:00Z) or a date (2026-12-01, its midnight UTC)",
        ),
    ];
    for (path, token, status, detail) in refusals {
        let answer = download(&s, path, token).await;
        assert_eq!((answer.status, answer.json()["detail"].as_str()), (status, Some(detail)), "{path}");
    }
    let doc = s.get_ok("/openapi.json").await;
    let route = &doc["paths"]["/api/v1/admin/export/{what}"]["get"];
    assert!(route["responses"]["200"].is_object() && route["responses"]["422"].is_object(), "{route}");
    s.stop();
}

fn run(args: &[&str]) -> Output {
    Command::new(BIN).arg("export").args(args).env_remove("FINLEARN_DATA").output().expect("binary runs")
}

/// [`run`], again while the file is still in use: a stopped server's last handles to the
/// database may be released a moment after it stops.
fn run_once_released(args: &[&str]) -> Output {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let output = run(args);
        let in_use = String::from_utf8_lossy(&output.stderr).contains("is in use by a running server");
        if !in_use || std::time::Instant::now() > deadline {
            return output;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The error a user sees: the last line of stderr.
fn error_line(output: &Output) -> String {
    assert!(!output.status.success(), "expected a failure: {}", String::from_utf8_lossy(&output.stdout));
    String::from_utf8_lossy(&output.stderr).lines().last().unwrap_or_default().to_string()
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

#[actix_web::test]
async fn the_command_exports_a_stopped_servers_file_as_the_api_answered() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("class.duckdb");
    let s = start(&data);
    trade(&s).await;
    let out = dir.path().join("out");
    let (data_arg, out_arg) = (data.to_str().unwrap(), out.to_str().unwrap());

    let locked = error_line(&run(&["--data", data_arg, "--out", out_arg, "--format", "csv"]));
    assert!(locked.contains("is in use by a running server") && locked.contains("(PID "), "{locked}");
    assert!(!locked.contains("See also"), "the holder, without DuckDB's link: {locked}");
    assert!(
        locked.ends_with("stop the server or use the admin download (GET /api/v1/admin/export/{what})"),
        "{locked}"
    );

    let fills = api_fills(&s, "alice").await;
    let answer = s.get_ok("/api/v1/market/history/L%26T?timeframe=4h&limit=1000").await;
    let four_hours = api_candles(&answer);
    s.stop();

    let done = run_once_released(&["--data", data_arg, "--out", out_arg, "--format", "csv", "--timeframe", "4h"]);
    assert!(done.status.success(), "{}", String::from_utf8_lossy(&done.stderr));
    let printed = String::from_utf8_lossy(&done.stdout);
    assert_eq!(printed.lines().count(), 6, "{printed}");
    assert!(printed.lines().all(|l| l.contains(" rows -> ")), "{printed}");
    assert_eq!(
        files_in(&out),
        ["candles_4h.csv", "news.csv", "order_events.csv", "orders.csv", "standings.csv", "ticks.csv"]
    );
    assert_eq!(csv_fills(&read_csv(&out.join("orders.csv")), "alice"), fills);
    assert_eq!(csv_candles(&read_csv(&out.join("candles_4h.csv")), "L&T"), four_hours);
    let ticks = read_csv(&out.join("ticks.csv"));
    assert!(ticks.iter().all(|t| t["time"].len() == "2026-12-01T08:00:00.000000Z".len() && t["time"].ends_with('Z')));

    let parquet = dir.path().join("parquet");
    let done = run(&[
        "--data",
        data_arg,
        "--out",
        parquet.to_str().unwrap(),
        "--format",
        "parquet",
        "--what",
        "orders,candles",
        "--from",
        "2026-12-01",
        "--timeframe",
        "1M",
    ]);
    assert!(done.status.success(), "{}", String::from_utf8_lossy(&done.stderr));
    assert_eq!(files_in(&parquet), ["candles_1month.parquet", "orders.parquet"]);
    let batches = read_parquet(&parquet.join("orders.parquet"));
    let uids: Vec<String> = batches.iter().flat_map(|b| strings(b, "firebase_uid")).collect();
    assert_eq!(uids.iter().filter(|u| *u == "alice").count(), fills.len());
    let months: Vec<String> = batches_of(&parquet.join("candles_1month.parquet"), "time");
    assert_eq!(months, vec!["2026-12-01T00:00:00.000000Z".to_string(); SYMBOLS.len()]);
}

fn batches_of(path: &Path, time_column: &str) -> Vec<String> {
    read_parquet(path).iter().flat_map(|b| times(b, time_column)).collect()
}

#[test]
fn the_command_refuses_with_one_line_saying_why() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("empty.duckdb");
    duckdb::Connection::open(&data).unwrap();
    let out = dir.path().join("out");
    let (d, o) = (data.to_str().unwrap(), out.to_str().unwrap());
    let missing = dir.path().join("missing.duckdb");
    let cases: [(Vec<&str>, String); 7] = [
        (vec!["--data", missing.to_str().unwrap(), "--out", o, "--format", "csv"], format!("error: no database file at {}", missing.display())),
        (vec!["--data", d, "--out", o, "--format", "xlsx"], "error: format must be csv or parquet; got \"xlsx\"".into()),
        (vec!["--data", d, "--out", o, "--format", "csv", "--what", "ticks,trades"], "error: unknown export \"trades\": choose from ticks, candles, orders, order_events, news, standings".into()),
        (vec!["--data", d, "--out", o, "--format", "csv", "--from", "1 Dec"], "error: --from must be an ISO-8601 time with a zone (2026-12-01T08:00:00Z) or a date (2026-12-01, its midnight UTC)".into()),
        (vec!["--data", d, "--out", o, "--format", "csv", "--from", "2026-12-02", "--to", "2026-12-01T23:59:59Z"], "error: --from (2026-12-02T00:00:00.000000Z) is after --to (2026-12-01T23:59:59.000000Z)".into()),
        (vec!["--data", d, "--out", o, "--format", "csv", "--timeframe", "1d"], "error: timeframe must be one of 1m, 5m, 15m, 1h, 4h, 1D, 1W, 1M; got \"1d\"".into()),
        (vec!["--data", d, "--out", d, "--format", "csv"], format!("error: cannot write to the output directory {d}: File exists (os error 17)")),
    ];
    for (args, expected) in cases {
        assert_eq!(error_line(&run(&args)), expected, "{args:?}");
    }
    assert!(!out.exists(), "nothing is written when the request is refused");
}
