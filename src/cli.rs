//! The command line.

use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "finlearn",
    version,
    about = "FinLearn Market: a live market simulator backend for teaching people to trade",
    long_about = "FinLearn Market simulates stocks, indices and crypto of India, the USA and the UK, \
                  streams every tick over WebSocket, charts OHLC candles from an embedded DuckDB \
                  file, and serves the REST API of the FinLearn mobile app. One binary, no services."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the simulator and serve the HTTP and WebSocket API.
    Serve(ServeArgs),
    /// Verify the ledger invariants of a database file (exits 1 on any break). The server
    /// must not be running on that file.
    Check(CheckArgs),
    /// Print a bearer token for a user, signed with the configured shared secret
    /// (`[auth] mode = "shared-secret"`), for classroom servers.
    Token(TokenArgs),
    /// Export ticks, candles, orders and news to CSV or Parquet files for analysis in a
    /// spreadsheet, pandas or R. The server must not be running on that file (while it runs,
    /// use the admin download `GET /api/v1/admin/export/{what}`).
    Export(ExportArgs),
}

#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// The DuckDB database file to export from.
    #[arg(long, value_name = "PATH", env = "FINLEARN_DATA")]
    pub data: PathBuf,

    /// The directory the files are written to (created when missing): one file per export,
    /// e.g. ticks.csv, candles_1h.csv, orders.csv.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,

    /// csv (times as ISO-8601 UTC text) or parquet (times as UTC timestamps).
    #[arg(long, value_name = "FORMAT")]
    pub format: String,

    /// Only rows at or after this time: ISO-8601 with a zone (2026-12-01T08:00:00Z) or a date
    /// (2026-12-01, its midnight UTC).
    #[arg(long, value_name = "TIME")]
    pub from: Option<String>,

    /// Only rows at or before this time, as --from.
    #[arg(long, value_name = "TIME")]
    pub to: Option<String>,

    /// Comma-separated: ticks, candles, orders, order_events, news, standings. Default: all.
    #[arg(long, value_name = "LIST")]
    pub what: Option<String>,

    /// The candles' timeframe, as the chart routes take it: 1m 5m 15m 1h 4h 1D 1W 1M.
    /// Default: 1h.
    #[arg(long, value_name = "TF")]
    pub timeframe: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct TokenArgs {
    /// The user (firebase_uid) the token acts for.
    #[arg(long, value_name = "UID")]
    pub uid: String,

    /// Configuration file holding `[auth] secret`. Default: ./config.toml when present.
    #[arg(long, value_name = "PATH", env = "FINLEARN_CONFIG")]
    pub config: Option<PathBuf>,

    /// Lifetime in seconds. Default: `auth.token_ttl_secs` (a day).
    #[arg(long, value_name = "SECS")]
    pub ttl: Option<u64>,
}

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// The DuckDB database file to check.
    #[arg(long, value_name = "PATH", env = "FINLEARN_DATA")]
    pub data: PathBuf,
}

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Configuration file (TOML). Default: ./config.toml when present, else the built-in
    /// defaults (see the documented config.toml).
    #[arg(long, value_name = "PATH", env = "FINLEARN_CONFIG")]
    pub config: Option<PathBuf>,

    /// Address to listen on, HOST:PORT. Default: 0.0.0.0:8000.
    #[arg(long, value_name = "ADDR", env = "FINLEARN_LISTEN")]
    pub listen: Option<String>,

    /// The DuckDB database file; created and seeded with history when missing.
    /// Default: ./finlearn.duckdb.
    #[arg(long, value_name = "PATH", env = "FINLEARN_DATA")]
    pub data: Option<PathBuf>,

    /// Random seed: on an empty database the same seed gives the same history.
    /// Default: drawn at start-up.
    #[arg(long, value_name = "N", env = "FINLEARN_SEED")]
    pub seed: Option<u64>,

    /// A lesson file (TOML, see scenarios/) whose timeline of director actions starts when
    /// the server does.
    #[arg(long, value_name = "PATH", env = "FINLEARN_SCENARIO")]
    pub scenario: Option<PathBuf>,

    /// Log output format.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, env = "FINLEARN_LOG_FORMAT")]
    pub log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}
