//! Soak: the release server as its own process for a long run with many live-stream clients, a
//! steady order load and chart requests; samples its memory and database size as it goes.
//!
//! `ulimit -n 65536; cargo bench --bench soak -- --duration 600 --clients 2000 --orders 50
//! --users 100 --charts 20 --sample 30` (those are the defaults). The database is seeded with
//! `--seed-days` (2) of history and keeps raw ticks `--retention-days` (1), so the tick writer's
//! first flush drops a day of raw ticks: retention runs during the soak. Every answer that is
//! not a 200, every request that fails outright and every live-stream client that loses its
//! connection is counted; the run exits 1 if there is any, or if `finlearn check` fails after
//! the graceful stop.

mod common;

use futures_util::StreamExt;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

const BIN: &str = env!("CARGO_BIN_EXE_finlearn");
/// Live-stream clients opened per 100 ms at the start, so the accept queue never overflows.
const CONNECTS_PER_STEP: usize = 100;
/// Threads that send orders and chart requests; each paces its share of the rate.
const ORDER_THREADS: usize = 8;
const CHART_THREADS: usize = 4;
const TIMEFRAMES: [&str; 8] = ["1m", "5m", "15m", "1h", "4h", "1D", "1W", "1M"];

struct Options {
    duration: u64,
    clients: usize,
    orders: f64,
    users: usize,
    charts: f64,
    sample: u64,
    seed_days: f64,
    retention_days: u32,
}

impl Options {
    fn parse() -> Options {
        let mut o = Options {
            duration: 600,
            clients: 2_000,
            orders: 50.0,
            users: 100,
            charts: 20.0,
            sample: 30,
            seed_days: 2.0,
            retention_days: 1,
        };
        let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
        for pair in args.chunks(2) {
            let value = pair.get(1).map(String::as_str).unwrap_or_default();
            match pair[0].as_str() {
                "--duration" => o.duration = number(&pair[0], value),
                "--clients" => o.clients = number(&pair[0], value),
                "--orders" => o.orders = number(&pair[0], value),
                "--users" => o.users = number(&pair[0], value),
                "--charts" => o.charts = number(&pair[0], value),
                "--sample" => o.sample = number(&pair[0], value),
                "--seed-days" => o.seed_days = number(&pair[0], value),
                "--retention-days" => o.retention_days = number(&pair[0], value),
                other => panic!("unknown option {other}"),
            }
        }
        o
    }
}

/// What the load saw, shared by every client and sender.
#[derive(Default)]
struct Tally {
    orders_ok: AtomicU64,
    charts_ok: AtomicU64,
    /// Answers other than 200, by "kind status" (e.g. "order 503"), and failed requests.
    errors: Mutex<BTreeMap<String, u64>>,
    /// Slots a sender missed because the previous request was still running.
    late: AtomicU64,
    ws_connected: AtomicU64,
    ws_dropped: AtomicU64,
    ws_connect_failed: AtomicU64,
    ws_ticks: AtomicU64,
    ws_lagged: AtomicU64,
    order_ms: Mutex<Vec<f64>>,
    chart_ms: Mutex<Vec<f64>>,
}

impl Tally {
    fn error(&self, what: String) {
        *self.errors.lock().unwrap().entry(what).or_default() += 1;
    }

    fn error_count(&self) -> u64 {
        self.errors.lock().unwrap().values().sum()
    }
}

fn number<T: std::str::FromStr>(flag: &str, value: &str) -> T {
    value.parse().unwrap_or_else(|_| panic!("{flag} needs a number, not {value:?}"))
}

fn file_mb(path: &Path) -> f64 {
    std::fs::metadata(path).map(|m| m.len() as f64 / 1048576.0).unwrap_or(0.0)
}

/// Percent-encodes a path segment (symbols such as "NIFTY 50" and "L&T").
fn encode(segment: &str) -> String {
    segment
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(30)))
        .http_status_as_error(false)
        .build()
        .into()
}

/// Runs `send` `rate` times a second on its thread until `stop`, on a fixed schedule.
fn paced(rate: f64, stop: Arc<AtomicBool>, tally: Arc<Tally>, mut send: impl FnMut(u64) + Send + 'static) {
    std::thread::spawn(move || {
        let period = Duration::from_secs_f64(1.0 / rate);
        let mut next = Instant::now();
        let mut n = 0;
        while !stop.load(Ordering::Relaxed) {
            let now = Instant::now();
            if next > now {
                std::thread::sleep(next - now);
            } else if now - next > period {
                let missed = ((now - next).as_secs_f64() / period.as_secs_f64()) as u64;
                tally.late.fetch_add(missed, Ordering::Relaxed);
                next += period * missed as u32;
            }
            next += period;
            send(n);
            n += 1;
        }
    });
}

async fn ws_client(url: String, stop: Arc<AtomicBool>, tally: Arc<Tally>) {
    while !stop.load(Ordering::Relaxed) {
        let Ok((mut socket, _)) = tokio_tungstenite::connect_async(&url).await else {
            tally.ws_connect_failed.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        };
        tally.ws_connected.fetch_add(1, Ordering::Relaxed);
        loop {
            // Wakes now and then to notice the end of the run.
            match tokio::time::timeout(Duration::from_secs(1), socket.next()).await {
                Err(_) if stop.load(Ordering::Relaxed) => break,
                Err(_) => continue,
                Ok(Some(Ok(Message::Text(text)))) => {
                    if text.contains("\"lagged\"") {
                        tally.ws_lagged.fetch_add(1, Ordering::Relaxed);
                    } else if text.starts_with("{\"symbol\"") {
                        tally.ws_ticks.fetch_add(1, Ordering::Relaxed);
                    }
                }
                Ok(Some(Ok(_))) => {}
                Ok(_) => {
                    if !stop.load(Ordering::Relaxed) {
                        tally.ws_dropped.fetch_add(1, Ordering::Relaxed);
                    }
                    break;
                }
            }
            if stop.load(Ordering::Relaxed) {
                break;
            }
        }
        tally.ws_connected.fetch_sub(1, Ordering::Relaxed);
        let _ = socket.close(None).await;
    }
}

fn main() {
    let o = Options::parse();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("soak.duckdb");
    let wal = PathBuf::from(format!("{}.wal", data.display()));
    let config = dir.path().join("soak.toml");
    std::fs::write(
        &config,
        format!("[storage]\nretention_days = {}\n[simulation]\nseed_days = {}\n", o.retention_days, o.seed_days),
    )
    .unwrap();
    println!(
        "soak: {} s, {} live-stream clients, {} orders/s across {} users, {} chart requests/s; \
         {} days seeded, raw ticks kept {} day(s)",
        o.duration, o.clients, o.orders, o.users, o.charts, o.seed_days, o.retention_days
    );

    let started = Instant::now();
    let (mut server, port, lines) = common::spawn_serve(
        &[
            "--seed".as_ref(),
            "42".as_ref(),
            "--config".as_ref(),
            config.as_os_str(),
            "--data".as_ref(),
            data.as_os_str(),
        ],
        "info",
    );
    println!(
        "started (seeded) in {:.1} s; RSS {:.0} MB, database {:.1} MB",
        started.elapsed().as_secs_f64(),
        common::rss_mb(server.id()),
        file_mb(&data)
    );
    // The log: warnings and errors counted, retention noted, everything kept in a file.
    let log_file = dir.path().join("server.log");
    let log_counts = Arc::new(Mutex::new(BTreeMap::<String, u64>::new()));
    let logger = {
        let counts = log_counts.clone();
        let mut file = std::fs::File::create(&log_file).unwrap();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                let _ = writeln!(file, "{line}");
                let Ok(json) = serde_json::from_str::<serde_json::Value>(&line) else { continue };
                let level = json["level"].as_str().unwrap_or_default();
                let message = json["fields"]["message"].as_str().unwrap_or_default();
                if level == "WARN" || level == "ERROR" {
                    *counts.lock().unwrap().entry(format!("{level}: {message}")).or_default() += 1;
                    println!("  server {level}: {line}");
                } else if message.contains("retention") {
                    println!("  server: {message} ({} rows)", json["fields"]["rows"]);
                }
            }
        })
    };

    let base = format!("http://127.0.0.1:{port}");
    let instruments: Vec<serde_json::Value> = {
        let mut response = agent().get(format!("{base}/api/v1/market/instruments")).call().unwrap();
        serde_json::from_str(&response.body_mut().read_to_string().unwrap()).unwrap()
    };
    let symbols: Arc<Vec<(String, String)>> = Arc::new(
        instruments
            .iter()
            .map(|i| (i["symbol"].as_str().unwrap().to_string(), i["market"].as_str().unwrap().to_string()))
            .collect(),
    );

    let stop = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Tally::default());
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let url = format!("ws://127.0.0.1:{port}/ws/market/stream");
    let clients: Vec<_> = (0..o.clients)
        .map(|i| {
            let (url, stop, tally) = (url.clone(), stop.clone(), tally.clone());
            runtime.spawn(async move {
                tokio::time::sleep(Duration::from_millis((i / CONNECTS_PER_STEP) as u64 * 100)).await;
                ws_client(url, stop, tally).await
            })
        })
        .collect();

    // Orders: user n % users; each user buys 0.001 of a symbol twice and sells it once, in turn
    // through the universe, so every order is one the ledger accepts.
    for t in 0..ORDER_THREADS {
        let (base, symbols, tally2, users) = (base.clone(), symbols.clone(), tally.clone(), o.users as u64);
        let agent = agent();
        paced(o.orders / ORDER_THREADS as f64, stop.clone(), tally.clone(), move |k| {
            let n = k * ORDER_THREADS as u64 + t as u64;
            let (user, step) = (n % users, n / users);
            let (symbol, market) = &symbols[(step / 3) as usize % symbols.len()];
            let side = if step % 3 == 2 { "sell" } else { "buy" };
            let body = serde_json::json!({
                "firebase_uid": format!("soak-{user}"), "symbol": symbol, "side": side,
                "quantity": 0.001, "market": market,
            })
            .to_string();
            let sent = Instant::now();
            match agent
                .post(format!("{base}/api/v1/orders/place"))
                .header("Content-Type", "application/json")
                .send(body)
            {
                Ok(r) if r.status() == 200 => {
                    tally2.orders_ok.fetch_add(1, Ordering::Relaxed);
                    tally2.order_ms.lock().unwrap().push(sent.elapsed().as_secs_f64() * 1e3);
                }
                Ok(mut r) => {
                    let detail = r.body_mut().read_to_string().unwrap_or_default();
                    tally2.error(format!(
                        "order {} {}",
                        r.status().as_u16(),
                        detail.chars().take(120).collect::<String>()
                    ));
                }
                Err(e) => tally2.error(format!("order failed: {e}")),
            }
        });
    }
    for t in 0..CHART_THREADS {
        let (base, symbols, tally2) = (base.clone(), symbols.clone(), tally.clone());
        let agent = agent();
        paced(o.charts / CHART_THREADS as f64, stop.clone(), tally.clone(), move |k| {
            let n = (k * CHART_THREADS as u64 + t as u64) as usize;
            let symbol = &symbols[n % symbols.len()].0;
            let timeframe = TIMEFRAMES[n / symbols.len() % TIMEFRAMES.len()];
            let sent = Instant::now();
            let url = format!("{base}/api/v1/market/history/{}?timeframe={timeframe}", encode(symbol));
            match agent.get(url).call() {
                Ok(mut r) if r.status() == 200 => {
                    let _ = r.body_mut().read_to_string();
                    tally2.charts_ok.fetch_add(1, Ordering::Relaxed);
                    tally2.chart_ms.lock().unwrap().push(sent.elapsed().as_secs_f64() * 1e3);
                }
                Ok(r) => tally2.error(format!("chart {timeframe} {}", r.status().as_u16())),
                Err(e) => tally2.error(format!("chart failed: {e}")),
            }
        });
    }

    println!(
        "{:>6} {:>9} {:>9} {:>8} {:>8} {:>9} {:>9} {:>8} {:>7} {:>8}",
        "t (s)", "RSS (MB)", "DB (MB)", "WAL (MB)", "clients", "ticks rx", "orders", "charts", "errors", "dropped"
    );
    let soak_start = Instant::now();
    let pid = server.id();
    let sample = |t: u64| {
        println!(
            "{t:>6} {:>9.1} {:>9.1} {:>8.1} {:>8} {:>9} {:>9} {:>8} {:>7} {:>8}",
            common::rss_mb(pid),
            file_mb(&data),
            file_mb(&wal),
            tally.ws_connected.load(Ordering::Relaxed),
            tally.ws_ticks.load(Ordering::Relaxed),
            tally.orders_ok.load(Ordering::Relaxed),
            tally.charts_ok.load(Ordering::Relaxed),
            tally.error_count(),
            tally.ws_dropped.load(Ordering::Relaxed),
        );
    };
    sample(0);
    let mut t = 0;
    while t < o.duration {
        let step = o.sample.min(o.duration - t);
        std::thread::sleep(
            Duration::from_secs(step).saturating_sub(soak_start.elapsed().saturating_sub(Duration::from_secs(t))),
        );
        t += step;
        sample(t);
        if server.try_wait().unwrap().is_some() {
            println!("the server exited during the soak");
            break;
        }
    }
    let elapsed = soak_start.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    std::thread::sleep(Duration::from_secs(2));
    runtime.block_on(async {
        for c in clients {
            let _ = tokio::time::timeout(Duration::from_secs(5), c).await;
        }
    });
    drop(runtime);

    let alive = server.try_wait().unwrap().is_none();
    let _ = Command::new("kill").args(["-TERM", &server.id().to_string()]).status();
    let status = server.wait().unwrap();
    let _ = logger.join();
    let check = Command::new(BIN).args(["check", "--data"]).arg(&data).output().unwrap();

    let orders = tally.orders_ok.load(Ordering::Relaxed);
    let charts = tally.charts_ok.load(Ordering::Relaxed);
    let (mut order_ms, mut chart_ms) = (tally.order_ms.lock().unwrap().clone(), tally.chart_ms.lock().unwrap().clone());
    println!("--- summary over {elapsed:.0} s");
    println!(
        "orders accepted: {orders} ({:.1}/s), latency p50 {:.1} ms, p99 {:.1} ms",
        orders as f64 / elapsed,
        common::percentile(&mut order_ms, 50.0),
        common::percentile(&mut order_ms, 99.0)
    );
    println!(
        "chart requests answered: {charts} ({:.1}/s), latency p50 {:.1} ms, p99 {:.1} ms",
        charts as f64 / elapsed,
        common::percentile(&mut chart_ms, 50.0),
        common::percentile(&mut chart_ms, 99.0)
    );
    println!("sender slots missed (a request still running): {}", tally.late.load(Ordering::Relaxed));
    println!(
        "live stream: {} ticks received ({:.0}/s), {} lagged notices, {} connections dropped, {} connects failed",
        tally.ws_ticks.load(Ordering::Relaxed),
        tally.ws_ticks.load(Ordering::Relaxed) as f64 / elapsed,
        tally.ws_lagged.load(Ordering::Relaxed),
        tally.ws_dropped.load(Ordering::Relaxed),
        tally.ws_connect_failed.load(Ordering::Relaxed)
    );
    let errors = tally.errors.lock().unwrap().clone();
    println!("error responses: {}", errors.values().sum::<u64>());
    for (what, n) in &errors {
        println!("  {n:>6}  {what}");
    }
    let logged = log_counts.lock().unwrap().clone();
    println!("server warnings and errors logged: {}", logged.values().sum::<u64>());
    for (what, n) in &logged {
        println!("  {n:>6}  {what}");
    }
    println!("database after stop: {:.1} MB; server exit: {status}", file_mb(&data));
    println!("finlearn check: {} {}", check.status, String::from_utf8_lossy(&check.stdout).trim());

    let failed = !alive
        || !status.success()
        || !check.status.success()
        || !errors.is_empty()
        || tally.ws_dropped.load(Ordering::Relaxed) > 0
        || tally.ws_connect_failed.load(Ordering::Relaxed) > 0;
    println!("soak: {}", if failed { "FAIL" } else { "PASS" });
    if failed {
        std::process::exit(1);
    }
}
