//! FinLearn Market: a self-contained market simulator backend for teaching people to trade.
//!
//! A price engine moves every instrument every two to three seconds (geometric Brownian motion,
//! Merton jumps, GARCH(1,1) volatility), keeps the latest quotes in memory, fans ticks out to
//! WebSocket clients over a broadcast bus, and writes them in batches to an embedded DuckDB
//! file from which chart candles are computed.
//!
//! # Layout
//! - [`domain`]: instruments, price models, the simulated market, quotes, candles, news. Pure.
//! - [`storage`]: the DuckDB file; all SQL lives here.
//! - [`live`]: the running market: quote board, chart windows, bus, write buffer, engine and
//!   writer tasks.
//! - [`market_data`]: the service behind the market-data routes.
//! - [`ledger`]: paper trading: the service and its single group-committing writer.
//! - [`seed`]: generating the first days of history on an empty database.
//! - [`http`]: routes, one file per resource, and the error type.
//! - [`auth`]: who may act for a user: open, Firebase ID tokens, or shared-secret tokens.
//! - [`config`]: layered settings. [`cli`]: the command line.
//! - [`health`]: readiness, and how a part that cannot recover stops the process.
//! - [`metrics`]: counters and histograms for `/metrics`. [`telemetry`]: logging.
//! - [`startup`]: wiring, task spawning and shutdown.

pub mod auth;
pub mod cli;
pub mod config;
pub mod domain;
pub mod health;
pub mod http;
pub mod ledger;
pub mod live;
pub mod market_data;
pub mod metrics;
pub mod seed;
pub mod startup;
pub mod storage;
pub mod telemetry;
