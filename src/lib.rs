//! FinLearn Market: a self-contained market simulator backend for teaching people to trade.
//!
//! A price engine moves every instrument every two to three seconds (a factor model of global,
//! market and sector paths, Merton jumps, news, volatility clustering in market time), keeps
//! the latest quotes in memory, fans ticks out to WebSocket clients over a broadcast bus, and
//! writes them in batches to an embedded DuckDB file from which chart candles are computed.
//!
//! # Layout
//! - [`domain`]: instruments, price models, the simulated market, quotes, candles, news. Pure.
//! - [`storage`]: the DuckDB file; all SQL lives here.
//! - [`live`]: the running market: quote board, chart windows, bus, write buffer, engine and
//!   writer tasks.
//! - [`market_data`]: the service behind the market-data routes.
//! - [`trading`]: paper trading: the service, resting orders, and the single group-committing
//!   ledger writer.
//! - [`class`]: the class's rules, value snapshots and standings.
//! - [`social`]: profiles and class nicknames, held in memory for fast lookups.
//! - [`export`]: CSV and Parquet exports for students, by the command line and the admin route.
//! - [`resume`]: seeding an empty database or resuming from stored prices at start-up.
//! - [`signals`]: Ctrl-C and SIGTERM, held from the first moment.
//! - [`seed`]: generating the first days of history on an empty database.
//! - [`http`]: routes, one file per resource, and the error type.
//! - [`auth`]: who may act for a user: open, Firebase ID tokens, or shared-secret tokens.
//! - [`config`]: layered settings. [`cli`]: the command line.
//! - [`health`]: readiness, and how a part that cannot recover stops the process.
//! - [`metrics`]: counters and histograms for `/metrics`. [`telemetry`]: logging.
//! - [`startup`]: wiring, task spawning and shutdown.

pub mod auth;
pub mod class;
pub mod cli;
pub mod config;
pub mod domain;
pub mod export;
pub mod health;
pub mod http;
pub mod live;
pub mod market_data;
pub mod metrics;
pub mod resume;
pub mod seed;
pub mod signals;
pub mod social;
pub mod startup;
pub mod storage;
pub mod telemetry;
pub mod trading;
