//! Exporting five days of ticks.
//!
//! `cargo bench --bench export`: seeds five days at default settings with seed 42 (45
//! instruments, about 7.8 million ticks) through the server's own start-up into a temporary
//! database and stops it; then times `finlearn export` (the release binary, opening the file
//! included) writing every tick to Parquet three times, and once each to CSV and the 1-minute
//! candles to Parquet; then starts the server again on the file and times the admin download of
//! the ticks as Parquet, to the last byte. Prints rows, seconds, rows per second, file sizes
//! and the command's peak resident memory.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const ADMIN: &str = "a token for the export benchmark, 32+ chars";
const RUNS: usize = 3;

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("five-days.duckdb");
    let server = common::TestServer::start("", &data, 42);
    println!("seeded five days (seed 42) in {:.2} s", server.startup.as_secs_f64());
    server.stop();

    println!("\n| export | rows | seconds | rows/s | file | peak RSS |");
    println!("| --- | --- | --- | --- | --- | --- |");
    let mut parquet = Vec::new();
    for run in 1..=RUNS {
        let seconds = command(&data, &dir.path().join(format!("parquet-{run}")), "parquet", "ticks", "1h");
        parquet.push(seconds);
    }
    command(&data, &dir.path().join("csv"), "csv", "ticks", "1h");
    command(&data, &dir.path().join("candles"), "parquet", "candles", "1m");
    parquet.sort_by(f64::total_cmp);
    println!("\nticks to Parquet by the command, median of {RUNS}: {:.2} s (goal: under 10 s)", parquet[RUNS / 2]);

    download(&data);
}

/// Runs `finlearn export` once and prints its row; answers the seconds it took.
fn command(data: &Path, out: &Path, format: &str, what: &str, timeframe: &str) -> f64 {
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_finlearn"))
        .args(["export", "--data", data.to_str().unwrap(), "--out", out.to_str().unwrap()])
        .args(["--format", format, "--what", what, "--timeframe", timeframe])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The process's peak resident memory, read until it exits (to within the last poll).
    let mut peak_mb = 0.0f64;
    while child.try_wait().unwrap().is_none() {
        peak_mb = peak_mb.max(peak_rss_mb(child.id()));
        std::thread::sleep(Duration::from_millis(20));
    }
    let seconds = started.elapsed().as_secs_f64();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    // "<rows> rows -> <path>"
    let printed = String::from_utf8_lossy(&output.stdout).into_owned();
    let (rows, path) = printed.trim().split_once(" rows -> ").expect("one file written");
    let rows: f64 = rows.parse().unwrap();
    let name = Path::new(path).file_name().unwrap().to_string_lossy().into_owned();
    println!(
        "| `finlearn export --format {format} --what {what}` | {rows:.0} | {seconds:.2} | {:.0} | {name}, {} | {peak_mb:.0} MB |",
        rows / seconds,
        megabytes(std::fs::metadata(path).unwrap().len())
    );
    seconds
}

/// Restarts the server on the seeded file and times the admin download of every tick.
fn download(data: &Path) {
    let config = format!("[admin]\ntoken = \"{ADMIN}\"\n");
    let server = common::TestServer::start(&config, data, 42);
    actix_web::rt::System::new().block_on(async {
        let client = awc::Client::builder().timeout(Duration::from_secs(300)).finish();
        let started = Instant::now();
        let mut response = client
            .get(format!("{}/api/v1/admin/export/ticks?format=parquet", server.base))
            .insert_header(("Authorization", format!("Bearer {ADMIN}")))
            .send()
            .await
            .unwrap();
        let first_byte = started.elapsed().as_secs_f64();
        let body = response.body().limit(1 << 30).await.unwrap();
        let seconds = started.elapsed().as_secs_f64();
        assert_eq!(response.status().as_u16(), 200, "{}", String::from_utf8_lossy(&body));
        let rows = response.headers().get("x-export-rows").unwrap().to_str().unwrap().to_string();
        println!(
            "\nadmin download of the ticks as Parquet (server running): {rows} rows, {} in {seconds:.2} s \
             ({first_byte:.2} s to the first byte)",
            megabytes(body.len() as u64)
        );
    });
    server.stop();
}

/// The high-water mark of a process's resident memory, in MB (Linux; 0 once it has exited).
fn peak_rss_mb(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kb = status.lines().find_map(|l| l.strip_prefix("VmHWM:")).and_then(|v| v.split_whitespace().next());
    kb.and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0) / 1024.0
}

fn megabytes(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}
