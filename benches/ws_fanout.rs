//! WebSocket fan-out: tick delivery delay and server memory with many clients.
//!
//! `ulimit -n 65536; cargo bench --bench ws_fanout -- 1000 10000`. The server runs as its own
//! process (so its RSS is its own) with the built-in universe; every client receives every tick
//! and measures now minus the tick's timestamp.

mod common;

use futures_util::StreamExt;
use std::process::Command;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

const MEASURE: Duration = Duration::from_secs(20);

fn percentile(samples: &mut [f64], p: f64) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples.get(((p / 100.0) * (samples.len().saturating_sub(1)) as f64).round() as usize).copied().unwrap_or(f64::NAN)
}

/// Milliseconds between the tick's timestamp and now.
fn delay_ms(text: &str) -> Option<f64> {
    let start = text.find("\"timestamp\":\"")? + 13;
    let end = start + text[start..].find('"')?;
    let t = chrono::DateTime::parse_from_rfc3339(&text[start..end]).ok()?;
    Some((chrono::Utc::now() - t.to_utc()).num_microseconds()? as f64 / 1e3)
}

async fn client(url: String, until: Instant) -> (Vec<f64>, u64) {
    let Ok((mut socket, _)) = tokio_tungstenite::connect_async(&url).await else { return (Vec::new(), 1) };
    let mut delays = Vec::new();
    while let Ok(Some(Ok(frame))) = tokio::time::timeout_at(until.into(), socket.next()).await {
        if let Message::Text(text) = frame
            && let Some(d) = delay_ms(&text)
        {
            delays.push(d);
        }
    }
    (delays, 0)
}

fn main() {
    let counts: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let counts = if counts.is_empty() { vec![1_000, 10_000] } else { counts };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("ws.duckdb");
    let (mut server, port, lines) =
        common::spawn_serve(&["--data".as_ref(), data.as_os_str()], "warn,finlearn::startup=info");
    std::thread::spawn(move || lines.for_each(drop));
    std::thread::sleep(Duration::from_secs(5));
    println!("server idle RSS after seeding: {:.0} MB", common::rss_mb(server.id()));

    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    for n in counts {
        let url = format!("ws://127.0.0.1:{port}/ws/market/stream");
        let (mut delays, failed, rss) = runtime.block_on(async {
            let until = Instant::now() + Duration::from_secs(10) + MEASURE;
            let tasks: Vec<_> = (0..n).map(|_| tokio::spawn(client(url.clone(), until))).collect();
            tokio::time::sleep(Duration::from_secs(10) + MEASURE / 2).await;
            let rss = common::rss_mb(server.id());
            let mut all = Vec::new();
            let mut failed = 0;
            for t in tasks {
                let (d, f) = t.await.unwrap();
                all.extend(d);
                failed += f;
            }
            (all, failed, rss)
        });
        let frames = delays.len();
        println!(
            "{n:>6} clients: delivery delay p50 {:.1} ms, p99 {:.1} ms over {frames} frames; server RSS {rss:.0} MB; {failed} failed to connect",
            percentile(&mut delays, 50.0),
            percentile(&mut delays, 99.0)
        );
    }
    let _ = Command::new("kill").args(["-TERM", &server.id().to_string()]).status();
    let _ = server.wait();
}
