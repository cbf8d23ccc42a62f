//! Shared by the benchmarks: a server on a temporary database, and percentiles.
#![allow(dead_code)]

use finlearn::config::{Overrides, Settings};
use finlearn::domain::time::SystemClock;
use finlearn::startup::{Application, Stopper};
use std::path::Path;
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
