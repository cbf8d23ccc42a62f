//! Durable orders per second and latency under concurrent clients.
//!
//! `cargo bench --bench orders`. Each client keeps one HTTP connection and sends market
//! orders back to back; an order counts once it is acknowledged (committed).

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const RUN: Duration = Duration::from_secs(10);

async fn client(port: u16, users: Vec<String>, stop: Arc<AtomicBool>) -> (u64, u64, Vec<f64>) {
    let http = awc::Client::builder().timeout(Duration::from_secs(30)).finish();
    let url = format!("http://127.0.0.1:{port}/api/v1/orders/place");
    let (mut ok, mut refused, mut latencies) = (0, 0, Vec::new());
    let mut n = 0usize;
    while !stop.load(Ordering::Relaxed) {
        let uid = &users[n % users.len()];
        let side = if (n / users.len()).is_multiple_of(2) { "buy" } else { "sell" };
        n += 1;
        let body =
            serde_json::json!({"firebase_uid": uid, "symbol": "AAPL", "side": side, "quantity": 0.01, "market": "usa"});
        let started = Instant::now();
        let response = http.post(&url).send_json(&body).await.unwrap();
        latencies.push(started.elapsed().as_secs_f64() * 1e3);
        if response.status().is_success() { ok += 1 } else { refused += 1 }
    }
    (ok, refused, latencies)
}

fn scenario(port: u16, clients: usize, users: usize, label: &str) {
    actix_web::rt::System::new().block_on(async {
        let stop = Arc::new(AtomicBool::new(false));
        let all: Vec<String> = (0..users).map(|u| format!("bench-{label}-{u}")).collect();
        // Give every user holdings to sell.
        let http = awc::Client::default();
        for uid in &all {
            let body = serde_json::json!({"firebase_uid": uid, "symbol": "AAPL", "side": "buy", "quantity": 5, "market": "usa"});
            http.post(format!("http://127.0.0.1:{port}/api/v1/orders/place")).send_json(&body).await.unwrap();
        }
        let tasks: Vec<_> = (0..clients)
            .map(|c| {
                let mine: Vec<String> = all.iter().skip(c % users).step_by(clients.min(users)).cloned().collect();
                actix_web::rt::spawn(client(port, mine, stop.clone()))
            })
            .collect();
        let started = Instant::now();
        actix_web::rt::time::sleep(RUN).await;
        stop.store(true, Ordering::Relaxed);
        let (mut ok, mut refused, mut latencies) = (0, 0, Vec::new());
        for t in tasks {
            let (o, r, l) = t.await.unwrap();
            ok += o;
            refused += r;
            latencies.extend(l);
        }
        let secs = started.elapsed().as_secs_f64();
        println!(
            "{clients:>3} clients, {users:>4} user(s): {:>6.0} durable orders/s, p50 {:.2} ms, p99 {:.2} ms ({ok} accepted, {refused} refused)",
            ok as f64 / secs,
            common::percentile(&mut latencies, 50.0),
            common::percentile(&mut latencies, 99.0)
        );
    });
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let server = common::TestServer::start("[simulation]\nseed_days = 1\n", &dir.path().join("orders.duckdb"), 42);
    // Scenarios as CLIENTSxUSERS arguments (`-- 20x1 100x1000`); by default all four.
    let mut scenarios: Vec<(usize, usize)> = std::env::args()
        .skip(1)
        .filter_map(|a| a.split_once('x').and_then(|(c, u)| Some((c.parse().ok()?, u.parse().ok()?))))
        .collect();
    if scenarios.is_empty() {
        scenarios = vec![(20, 1_000), (100, 1_000), (20, 1), (100, 1)];
    }
    for (clients, users) in scenarios {
        scenario(server.port(), clients, users, &format!("{clients}x{users}"));
    }
    server.stop();
}
