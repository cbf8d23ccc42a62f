//! WebSocket fan-out: tick delivery delay and server memory with many clients.
//!
//! `ulimit -n 65536; cargo bench --bench ws_fanout -- 1000 10000`. The server runs as its own
//! process (so its RSS is its own) with the built-in universe; every client receives every tick
//! and measures now minus the tick's timestamp. The server's own CPU time (user plus system,
//! from `/proc/PID/stat`) over each round, divided by the frames delivered, judges the fan-out
//! wherever the clients run.

mod common;

use futures_util::StreamExt;
use std::process::Command;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

const MEASURE: Duration = Duration::from_secs(20);
/// How long the server's CPU use with no client is measured.
const IDLE: Duration = Duration::from_secs(10);

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

/// CPU seconds (user plus system) the process has used so far (Linux).
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The command name (field 2) may hold spaces: count fields after its closing parenthesis,
    // where field 3 (the state) comes first, so utime (14) and stime (15) are the 12th and 13th.
    let fields: Vec<&str> =
        stat.rsplit_once(')').map(|(_, rest)| rest.split_whitespace().collect()).unwrap_or_default();
    let ticks: u64 = fields.iter().skip(11).take(2).filter_map(|f| f.parse::<u64>().ok()).sum();
    ticks as f64 / clock_ticks_per_second()
}

fn clock_ticks_per_second() -> f64 {
    let out = Command::new("getconf").arg("CLK_TCK").output().ok();
    out.and_then(|o| String::from_utf8(o.stdout).ok()).and_then(|s| s.trim().parse().ok()).unwrap_or(100.0)
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
    let (mut server, port, lines) = common::spawn_serve(
        &["--seed".as_ref(), "42".as_ref(), "--data".as_ref(), data.as_os_str()],
        "warn,finlearn::startup=info",
    );
    std::thread::spawn(move || lines.for_each(drop));
    std::thread::sleep(Duration::from_secs(5));
    println!("server idle RSS after seeding: {:.0} MB", common::rss_mb(server.id()));
    // What the server spends with no client (the engine and the writer), to tell apart.
    let idle_from = (cpu_seconds(server.id()), Instant::now());
    std::thread::sleep(IDLE);
    let idle_share = (cpu_seconds(server.id()) - idle_from.0) / idle_from.1.elapsed().as_secs_f64();
    println!("server CPU with no client: {:.1} ms per second", idle_share * 1e3);

    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    for n in counts {
        let url = format!("ws://127.0.0.1:{port}/ws/market/stream");
        let (cpu_before, round_start) = (cpu_seconds(server.id()), Instant::now());
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
        let cpu = cpu_seconds(server.id()) - cpu_before;
        let fan_out_cpu = cpu - idle_share * round_start.elapsed().as_secs_f64();
        let frames = delays.len();
        println!(
            "{n:>6} clients: delivery delay p50 {:.1} ms, p99 {:.1} ms over {frames} frames; server RSS {rss:.0} MB; \
             server CPU {cpu:.1} s: {:.2} us per frame, {:.2} us beyond idle; {failed} failed to connect",
            percentile(&mut delays, 50.0),
            percentile(&mut delays, 99.0),
            cpu * 1e6 / frames.max(1) as f64,
            fan_out_cpu * 1e6 / frames.max(1) as f64
        );
    }
    let _ = Command::new("kill").args(["-TERM", &server.id().to_string()]).status();
    let _ = server.wait();
}
