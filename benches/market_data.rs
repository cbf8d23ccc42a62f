//! Seeding time, and chart latency with 5 and 30 days of ticks stored.
//!
//! `cargo bench --bench market_data` (add `-- 5` to skip the 30-day run).

mod common;

use std::time::Instant;

const REQUESTS: usize = 500;

fn main() {
    let only_five = std::env::args().any(|a| a == "5");
    let days_list: &[u32] = if only_five { &[5] } else { &[5, 30] };
    for &days in days_list {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("bench.duckdb");
        let server = common::TestServer::start(&format!("[simulation]\nseed_days = {days}\n"), &data, 42);
        let size_mb = std::fs::metadata(&data).map(|m| m.len()).unwrap_or(0) as f64 / 1e6;
        println!(
            "seed {days} days x 45 instruments: start-up (seeding included) {:.2} s, database {size_mb:.0} MB",
            server.startup.as_secs_f64()
        );
        actix_web::rt::System::new().block_on(async {
            let client = awc::Client::default();
            for tf in ["1m", "1D", "1h", "1W"] {
                let url = format!("http://127.0.0.1:{}/api/v1/market/history/AAPL?timeframe={tf}", server.port());
                for _ in 0..20 {
                    client.get(&url).send().await.unwrap().body().await.unwrap();
                }
                let mut micros = Vec::with_capacity(REQUESTS);
                for _ in 0..REQUESTS {
                    let started = Instant::now();
                    let mut response = client.get(&url).send().await.unwrap();
                    let body = response.body().await.unwrap();
                    assert!(response.status().is_success() && body.len() > 2);
                    micros.push(started.elapsed().as_secs_f64() * 1e3);
                }
                println!(
                    "history {tf:>3} with {days:>2} days stored: p50 {:.2} ms, p99 {:.2} ms ({REQUESTS} sequential requests)",
                    common::percentile(&mut micros, 50.0),
                    common::percentile(&mut micros, 99.0)
                );
            }
        });
        server.stop();
    }
}
