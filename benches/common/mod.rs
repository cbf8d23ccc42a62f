//! Shared by the benchmarks: a server on a temporary database, and percentiles.
#![allow(dead_code)]

use finlearn::config::{Overrides, Settings};
use finlearn::domain::time::SystemClock;
use finlearn::startup::{Application, Stopper};
use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Lines};
use std::path::Path;
use std::process::{Child, ChildStderr, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub struct Server {
    pub port: u16,
    pub startup: Duration,
    stopper: Stopper,
    thread: std::thread::JoinHandle<()>,
}

/// Starts the server in-process with `config` over the defaults; `startup` includes seeding.
pub fn start(config: &str, data: &Path) -> Server {
    let file = data.with_extension("toml");
    std::fs::write(&file, config).unwrap();
    let overrides = Overrides { listen: Some("127.0.0.1:0".into()), data: Some(data.into()), seed: Some(42) };
    let settings = Settings::load(Some(&file), Vec::new(), &overrides).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let thread = std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let started = Instant::now();
            let app = Application::build(settings, Arc::new(SystemClock)).await.unwrap();
            tx.send((app.port(), app.stopper(), started.elapsed())).unwrap();
            app.run_until_stopped().await.unwrap();
        })
    });
    let (port, stopper, startup) = rx.recv().unwrap();
    Server { port, startup, stopper, thread }
}

impl Server {
    pub fn stop(self) {
        let stopper = self.stopper.clone();
        actix_web::rt::System::new().block_on(async move { stopper.stop().await });
        self.thread.join().unwrap();
    }
}

/// The `p`-th percentile (0-100) of `samples`, which it sorts.
pub fn percentile(samples: &mut [f64], p: f64) -> f64 {
    samples.sort_by(f64::total_cmp);
    if samples.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (samples.len() - 1) as f64).round() as usize;
    samples[rank]
}

/// The release binary as its own process: `finlearn serve` on port 0 with JSON logs, seed 42,
/// `args` and `RUST_LOG=rust_log`, returned once it logs that it serves, with its port and
/// the rest of its log (read it, or the server blocks on a full pipe).
pub fn spawn_serve(args: &[&OsStr], rust_log: &str) -> (Child, u16, Lines<BufReader<ChildStderr>>) {
    let mut server = Command::new(env!("CARGO_BIN_EXE_finlearn"))
        .args(["serve", "--listen", "127.0.0.1:0", "--log-format", "json", "--seed", "42"])
        .args(args)
        .env("RUST_LOG", rust_log)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(server.stderr.take().unwrap()).lines();
    let port = loop {
        let line = lines.next().expect("server output").unwrap();
        if line.contains("\"serving\"") {
            let json: serde_json::Value = serde_json::from_str(&line).unwrap();
            break json["fields"]["port"].as_u64().unwrap() as u16;
        }
    };
    (server, port, lines)
}

/// Resident memory of a process, in MB (Linux).
pub fn rss_mb(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kb: f64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    kb / 1024.0
}
