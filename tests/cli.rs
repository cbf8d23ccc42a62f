//! The binary as an operator meets it: help text and one-line errors with a non-zero exit.
// The spawned servers are handed to the caller, which waits for them.
#![allow(clippy::zombie_processes)]

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_finlearn");

fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).env_remove("RUST_LOG").output().expect("binary runs")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The last line of stderr: the error a user sees.
fn error_line(output: &Output) -> String {
    stderr(output).lines().last().unwrap_or_default().to_string()
}

const TINY: &str = "[instruments]\nreplace_builtin = true\n[[instruments.extra]]\nsymbol = \"AAPL\"\nname = \"Apple\"\ntype = \"stock\"\nsector = \"technology\"\nmarket = \"usa\"\ncurrency = \"USD\"\nbase_price = 192.5\nannual_volatility = 0.15\nannual_drift = 0.08\n[simulation]\nseed_days = 1\n";

/// Starts `serve` and waits until it listens; returns the child and its port.
fn start_server(dir: &std::path::Path, data: &str) -> (Child, u16) {
    start_server_with(dir, data, &[])
}

/// As [`start_server`], with extra environment variables (settings of layer 3).
fn start_server_with(dir: &std::path::Path, data: &str, env: &[(&str, &str)]) -> (Child, u16) {
    let config = dir.join("tiny.toml");
    std::fs::write(&config, TINY).unwrap();
    let mut child = Command::new(BIN)
        .envs(env.iter().copied())
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--config",
            config.to_str().unwrap(),
            "--data",
            data,
            "--log-format",
            "json",
        ])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    for line in lines.by_ref() {
        let line = line.unwrap();
        if line.contains("\"serving\"") {
            let json: serde_json::Value = serde_json::from_str(&line).unwrap();
            let port = json["fields"]["port"].as_u64().unwrap() as u16;
            // Keep draining the log so the server never blocks on a full pipe.
            std::thread::spawn(move || lines.for_each(drop));
            return (child, port);
        }
    }
    panic!("the server never started");
}

#[test]
fn help_explains_every_option() {
    let top = run(&["--help"]);
    assert!(top.status.success());
    assert!(String::from_utf8_lossy(&top.stdout).contains("serve"));
    let serve = String::from_utf8_lossy(&run(&["serve", "--help"]).stdout).into_owned();
    for option in ["--config", "--listen", "--data", "--seed", "--log-format", "FINLEARN_LISTEN"] {
        assert!(serve.contains(option), "serve --help should mention {option}:\n{serve}");
    }
}

#[test]
fn an_unreadable_config_is_a_one_line_error() {
    let out = run(&["serve", "--config", "/nonexistent/finlearn.toml"]);
    assert!(!out.status.success());
    assert!(
        error_line(&out).starts_with("error: cannot read config file /nonexistent/finlearn.toml"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_config_with_a_typo_names_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bad.toml");
    std::fs::write(&config, "[storage]\nflush_intervall = 3\n").unwrap();
    let out = run(&["serve", "--config", config.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(error_line(&out).contains("flush_intervall"), "{}", stderr(&out));
}

#[test]
fn a_file_that_is_not_a_duckdb_database_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("notes.duckdb");
    std::fs::write(&data, "these are my notes, not a database\n".repeat(200)).unwrap();
    let out = run(&["serve", "--listen", "127.0.0.1:0", "--data", data.to_str().unwrap()]);
    assert!(!out.status.success());
    let line = error_line(&out);
    assert!(line.starts_with("error: ") && line.contains("not a DuckDB database file"), "{}", stderr(&out));
}

/// A real database: seeded by `serve` (a short history of one instrument), then closed by SIGTERM.
fn seeded_database(dir: &std::path::Path) -> std::path::PathBuf {
    let data = dir.join("market.duckdb");
    let (mut server, _) = start_server_with(
        dir,
        data.to_str().unwrap(),
        &[("FINLEARN_SIMULATION__SEED_DAYS", "0.01"), ("FINLEARN_SEED", "3")],
    );
    // The signal handler is installed just after the "serving" line; give it a moment.
    std::thread::sleep(Duration::from_millis(500));
    send_signal(server.id(), "TERM");
    assert!(wait_with_timeout(&mut server, Duration::from_secs(20)).success());
    // `check` opens the file (replaying any write-ahead log) and closes it with a checkpoint:
    // afterwards the whole database is in the one file.
    let check = run(&["check", "--data", data.to_str().unwrap()]);
    assert!(check.status.success(), "{}", stderr(&check));
    assert!(!dir.join("market.duckdb.wal").exists());
    data
}

/// Starting on a damaged file: one `error: ` line naming the file, exit code 1, no panic.
fn assert_refused_clearly(data: &std::path::Path) {
    // Spawned rather than run to the end, so a server that starts anyway fails the test.
    let mut child = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--data", data.to_str().unwrap()])
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status = wait_with_timeout(&mut child, Duration::from_secs(20));
    let mut all = String::new();
    child.stderr.take().unwrap().read_to_string(&mut all).unwrap();
    assert_eq!(status.code(), Some(1), "a plain failure, not a crash: {all}");
    assert!(!all.contains("panicked"), "{all}");
    let line = all.lines().last().unwrap_or_default();
    assert!(line.starts_with("error: ") && line.contains(data.to_str().unwrap()), "{all}");
    assert!(line.contains("damaged"), "{all}");
}

#[test]
fn a_truncated_database_is_refused_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let data = seeded_database(dir.path());
    let size = std::fs::metadata(&data).unwrap().len();
    std::fs::OpenOptions::new().write(true).open(&data).unwrap().set_len(size / 2).unwrap();
    assert_refused_clearly(&data);
}

#[test]
fn a_database_with_a_garbage_block_is_refused_with_a_clear_error() {
    use std::io::{Seek, SeekFrom, Write};
    let dir = tempfile::tempdir().unwrap();
    let data = seeded_database(dir.path());
    let size = std::fs::metadata(&data).unwrap().len();
    // DuckDB stores the file in blocks of 256 KiB after a 12 KiB header; garbage over the one
    // in the middle breaks its checksum.
    const BLOCK: u64 = 256 * 1024;
    let offset = 12 * 1024 + (size - 12 * 1024) / BLOCK / 2 * BLOCK;
    let garbage: Vec<u8> = (0..BLOCK).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let mut file = std::fs::OpenOptions::new().write(true).open(&data).unwrap();
    file.seek(SeekFrom::Start(offset)).unwrap();
    file.write_all(&garbage).unwrap();
    drop(file);
    assert_refused_clearly(&data);
}

#[test]
fn a_busy_port_and_a_locked_database_are_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("first.duckdb");
    let (mut first, port) = start_server(dir.path(), data.to_str().unwrap());

    let other = dir.path().join("second.duckdb");
    let out = run(&[
        "serve",
        "--listen",
        &format!("127.0.0.1:{port}"),
        "--data",
        other.to_str().unwrap(),
        "--config",
        dir.path().join("tiny.toml").to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(error_line(&out).contains("already in use"), "{}", stderr(&out));

    let out = run(&["serve", "--listen", "127.0.0.1:0", "--data", data.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(error_line(&out).contains("is locked by another process"), "{}", stderr(&out));

    // SIGTERM: a graceful stop with a zero exit.
    send_signal(first.id(), "TERM");
    let status = wait_with_timeout(&mut first, Duration::from_secs(20));
    assert!(status.success(), "{status:?}");
}

fn send_signal(pid: u32, signal: &str) {
    Command::new("kill").args([&format!("-{signal}"), &pid.to_string()]).status().unwrap();
}

fn wait_with_timeout(child: &mut Child, timeout: Duration) -> std::process::ExitStatus {
    let started = std::time::Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if started.elapsed() > timeout {
            child.kill().unwrap();
            panic!("the server did not stop within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
