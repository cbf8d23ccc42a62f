//! Test harness: the real server on port 0 with a temporary database, spoken to over HTTP and
//! WebSocket as the app does; in this process ([`TestServer`]) or as the release binary in a
//! process of its own ([`spawn_until`], for kill -9 and signals). The benchmarks use it too.
#![allow(dead_code)]

use finlearn::config::{Overrides, Settings};
use finlearn::domain::time::{Clock, SystemClock};
use finlearn::health::Health;
use finlearn::startup::{Application, Stopper};
use futures_util::StreamExt;
use serde_json::Value;
use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Lines};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

/// A small, fast market for tests: five instruments of different kinds and markets.
pub const SMALL_MARKET: &str = r#"
[instruments]
replace_builtin = true
[[instruments.extra]]
symbol = "AAPL"
name = "Apple Inc."
type = "stock"
sector = "technology"
market = "usa"
currency = "USD"
base_price = 192.5
annual_volatility = 0.15
annual_drift = 0.08
[[instruments.extra]]
symbol = "NIFTY 50"
name = "Nifty 50"
type = "marketIndex"
sector = "unknown"
market = "india"
currency = "INR"
base_price = 21495.7
annual_volatility = 0.15
annual_drift = 0.08
[[instruments.extra]]
symbol = "L&T"
name = "Larsen & Toubro"
type = "stock"
sector = "industrials"
market = "india"
currency = "INR"
base_price = 3450.6
annual_volatility = 0.23
annual_drift = 0.13
[[instruments.extra]]
symbol = "BRK.B"
name = "Berkshire Hathaway"
type = "stock"
sector = "financialServices"
market = "usa"
currency = "USD"
base_price = 360.2
annual_volatility = 0.1
annual_drift = 0.06
[[instruments.extra]]
symbol = "BTC"
name = "Bitcoin"
type = "crypto"
sector = "unknown"
market = "crypto"
currency = "USD"
base_price = 42500.0
annual_volatility = 0.6
annual_drift = 0.25
"#;

/// The directory of a server shared by every test of one file. The server lives in a static
/// that is never dropped, so the directory is removed when the test process exits.
pub fn shared_dir() -> &'static Path {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    extern "C" fn remove() {
        if let Some(dir) = DIR.get() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
    unsafe extern "C" {
        fn atexit(callback: extern "C" fn()) -> i32;
    }
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap().keep();
        // SAFETY: `remove` is a plain function that stays valid for the life of the process.
        unsafe { atexit(remove) };
        dir
    })
}

pub struct TestServer {
    pub base: String,
    pub ws: String,
    pub data: PathBuf,
    /// The server's readiness, to fail it as a dying part would.
    pub health: Arc<Health>,
    /// How long the start took, seeding included.
    pub startup: Duration,
    stopper: Stopper,
    thread: Option<std::thread::JoinHandle<anyhow::Result<()>>>,
}

impl TestServer {
    /// Starts a server on its own thread and runtime (so it outlives any one test's runtime)
    /// with `config` layered over the defaults, the database at `data`, and `seed`.
    pub fn start(config: &str, data: &Path, seed: u64) -> TestServer {
        Self::start_with_clock(config, data, seed, Arc::new(SystemClock))
    }

    pub fn start_with_clock(config: &str, data: &Path, seed: u64, clock: Arc<dyn Clock>) -> TestServer {
        let dir = data.parent().unwrap();
        let file = dir.join(format!("{}.toml", data.file_name().unwrap().to_string_lossy()));
        std::fs::write(&file, config).unwrap();
        let overrides = Overrides { listen: Some("127.0.0.1:0".into()), data: Some(data.into()), seed: Some(seed) };
        let settings = Settings::load(Some(&file), Vec::new(), &overrides).expect("test settings");
        let (tx, rx) = std::sync::mpsc::channel();
        let started = Instant::now();
        let thread = std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let app = match Application::build(settings, clock).await {
                    Ok(app) => app,
                    Err(e) => {
                        tx.send(Err(format!("{e:#}"))).unwrap();
                        return Err(e);
                    }
                };
                tx.send(Ok((app.port(), app.stopper(), app.health()))).unwrap();
                app.run_until_stopped().await
            })
        });
        let (port, stopper, health) = rx.recv().unwrap().expect("server starts");
        let startup = started.elapsed();
        TestServer {
            base: format!("http://127.0.0.1:{port}"),
            ws: format!("ws://127.0.0.1:{port}/ws/market/stream"),
            data: data.into(),
            health,
            startup,
            stopper,
            thread: Some(thread),
        }
    }

    /// Stops gracefully and returns how the server ended; panics if it takes longer than
    /// `limit` (a hang, not a slow machine: the bound is generous).
    pub fn stop_within(mut self, limit: Duration) -> anyhow::Result<()> {
        let stopper = self.stopper.clone();
        std::thread::spawn(move || actix_web::rt::System::new().block_on(async move { stopper.stop().await }));
        self.ended_within(limit)
    }

    /// Waits for the server to end by itself (a failure stops it) and returns how it ended.
    pub fn ended_within(&mut self, limit: Duration) -> anyhow::Result<()> {
        let thread = self.thread.take().expect("not yet joined");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || tx.send(thread.join().expect("server thread")));
        rx.recv_timeout(limit).unwrap_or_else(|_| panic!("the server did not stop within {limit:?}"))
    }

    /// Stops gracefully (flushing buffered ticks) and waits until the database is closed.
    pub fn stop(mut self) {
        // A thread of its own, so a test may stop the server from inside its own runtime.
        let stopper = self.stopper.clone();
        std::thread::spawn(move || actix_web::rt::System::new().block_on(async move { stopper.stop().await }))
            .join()
            .unwrap();
        self.thread.take().unwrap().join().unwrap().expect("clean shutdown");
    }

    pub fn port(&self) -> u16 {
        self.base.rsplit(':').next().unwrap().parse().unwrap()
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let client = awc::Client::builder().timeout(Duration::from_secs(30)).finish();
        let mut response = client.get(format!("{}{path}", self.base)).send().await.expect("request");
        let status = response.status().as_u16();
        let body = response.body().limit(8 << 20).await.expect("body");
        let json = serde_json::from_slice(&body).unwrap_or_else(|_| panic!("JSON body for {path}: {body:?}"));
        (status, json)
    }

    /// (status, content type, body) of a GET whose body is text.
    pub async fn get_text(&self, path: &str) -> (u16, String, String) {
        let mut response = awc::Client::new().get(format!("{}{path}", self.base)).send().await.expect("request");
        let content_type =
            response.headers().get("content-type").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
        let body = response.body().limit(16 << 20).await.expect("body");
        (response.status().as_u16(), content_type, String::from_utf8_lossy(&body).into_owned())
    }

    pub async fn send(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let client = awc::Client::builder().timeout(Duration::from_secs(30)).finish();
        let request = client.request(method.parse().unwrap(), format!("{}{path}", self.base));
        let mut response = match body {
            Some(body) => request.send_json(&body).await,
            None => request.send().await,
        }
        .expect("request");
        let status = response.status().as_u16();
        let bytes = response.body().limit(8 << 20).await.expect("body");
        (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    /// POSTs `body` as written (numbers a `serde_json::Value` could not hold exactly).
    pub async fn post_raw(&self, path: &str, body: &str) -> (u16, Value) {
        let client = awc::Client::builder().timeout(Duration::from_secs(30)).finish();
        let mut response = client
            .post(format!("{}{path}", self.base))
            .insert_header(("content-type", "application/json"))
            .send_body(body.to_string())
            .await
            .expect("request");
        let status = response.status().as_u16();
        let bytes = response.body().limit(8 << 20).await.expect("body");
        (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.send("POST", path, Some(body)).await
    }

    pub async fn get_ok(&self, path: &str) -> Value {
        let (status, body) = self.get(path).await;
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }
}

/// A request with an optional bearer token: (status, JSON body or null).
pub async fn call(s: &TestServer, method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> (u16, Value) {
    let client = awc::Client::builder().timeout(Duration::from_secs(30)).finish();
    let mut request = client.request(method.parse().unwrap(), format!("{}{path}", s.base));
    if let Some(token) = token {
        request = request.insert_header(("Authorization", format!("Bearer {token}")));
    }
    let mut response = match body {
        Some(body) => request.send_json(&body).await,
        None => request.send().await,
    }
    .unwrap();
    let bytes = response.body().await.unwrap();
    (response.status().as_u16(), serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

/// The release binary as a process of its own: `finlearn serve` on port 0 with JSON logs, then
/// `args`, with `RUST_LOG=rust_log`; returned once a log line containing `wanted` appears,
/// with that line and the rest of the log (read or drain it, or the server blocks on a full
/// pipe).
// The child is handed to the caller, which waits for it.
#[allow(clippy::zombie_processes)]
pub fn spawn_until(args: &[&OsStr], rust_log: &str, wanted: &str) -> (Child, String, Lines<BufReader<ChildStderr>>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_finlearn"))
        .args(["serve", "--listen", "127.0.0.1:0", "--log-format", "json"])
        .args(args)
        .env("RUST_LOG", rust_log)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        if line.contains(wanted) {
            return (child, line, lines);
        }
        seen.push(line);
    }
    panic!("no log line with {wanted:?}:\n{}", seen.join("\n"));
}

/// [`spawn_until`] it serves; answers the port it listens on.
pub fn spawn_serve(args: &[&OsStr], rust_log: &str) -> (Child, u16, Lines<BufReader<ChildStderr>>) {
    let (child, line, lines) = spawn_until(args, rust_log, "\"serving\"");
    let json: Value = serde_json::from_str(&line).unwrap();
    (child, json["fields"]["port"].as_u64().unwrap() as u16, lines)
}

pub type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub async fn connect(url: &str) -> Socket {
    tokio_tungstenite::connect_async(url).await.expect("websocket connects").0
}

/// A stream client whose receive buffer is tiny, so one that stops reading fills it at once.
pub async fn tight_socket(server: &TestServer) -> Socket {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket.connect(([127, 0, 0, 1], server.port()).into()).await.unwrap();
    let stream = tokio_tungstenite::MaybeTlsStream::Plain(stream);
    tokio_tungstenite::client_async(server.ws.as_str(), stream).await.expect("websocket connects").0
}

/// The next text frame as JSON, within `secs` seconds.
pub async fn next_json(socket: &mut Socket, secs: u64) -> Value {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(secs), socket.next())
            .await
            .expect("a frame in time")
            .expect("socket open")
            .expect("frame");
        if let Message::Text(text) = frame {
            return serde_json::from_str(&text).expect("JSON frame");
        }
    }
}

/// The next frame of a `type` (`order`, `system`, ...), skipping ticks and everything else.
pub async fn next_of_type(socket: &mut Socket, kind: &str) -> Value {
    loop {
        let frame = next_json(socket, 10).await;
        if frame["type"] == kind {
            return frame;
        }
    }
}

/// Asserts that `value[key]` exists and is a JSON number.
pub fn assert_number(value: &Value, key: &str) {
    assert!(value[key].is_number(), "{key} should be a number in {value}");
}

pub fn assert_string(value: &Value, key: &str) {
    assert!(value[key].is_string(), "{key} should be a string in {value}");
}

/// Asserts an ISO-8601 UTC timestamp string that Dart's `DateTime.parse` accepts.
pub fn assert_timestamp(value: &Value, key: &str) -> chrono::DateTime<chrono::Utc> {
    let text = value[key].as_str().unwrap_or_else(|| panic!("{key} should be a string in {value}"));
    assert!(text.ends_with('Z') || text.ends_with("+00:00"), "{key} = {text} should be UTC");
    chrono::DateTime::parse_from_rfc3339(text).unwrap_or_else(|e| panic!("{key} = {text}: {e}")).to_utc()
}

/// Asserts that every number in `value` prints with at most two decimals (prices and money on
/// the 0.01 grid print as the short decimal they are, never as `494.96000000000004`).
/// `except` names keys whose numbers may be finer (quantities).
pub fn assert_short_decimals(value: &Value, except: &[&str]) {
    fn walk(value: &Value, except: &[&str], path: &str) {
        match value {
            Value::Number(n) => {
                let text = n.to_string();
                let decimals = text.split_once('.').map_or(0, |(_, fraction)| fraction.len());
                assert!(decimals <= 2 && !text.contains('e'), "{path} = {text}");
            }
            Value::Array(items) => items.iter().enumerate().for_each(|(i, v)| walk(v, except, &format!("{path}[{i}]"))),
            Value::Object(map) => map
                .iter()
                .filter(|(k, _)| !except.contains(&k.as_str()))
                .for_each(|(k, v)| walk(v, except, &format!("{path}.{k}"))),
            _ => {}
        }
    }
    walk(value, except, "$");
}
