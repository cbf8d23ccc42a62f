//! The HTTP and WebSocket API of `../shared/API.md`: one file per resource. Handlers extract
//! and validate input, call a service, and map the answer; errors become `{"detail": ...}`.

mod error;
mod health;
mod market;
mod orders;
mod portfolio;
mod stream;

pub use error::ApiError;

use crate::config::StreamSettings;
use crate::ledger::Trading;
use crate::live::bus::Bus;
use crate::market_data::MarketData;
use actix_web::web;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// Everything a handler may need; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub market: Arc<MarketData>,
    pub trading: Arc<Trading>,
    pub bus: Bus,
    pub stream: StreamSettings,
    pub shutdown: CancellationToken,
}

/// Registers every route and the JSON error shape of rejected input.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.app_data(error::query_config())
        .app_data(error::path_config())
        .app_data(error::json_config())
        .configure(health::configure)
        .configure(market::configure)
        .configure(orders::configure)
        .configure(portfolio::configure)
        .configure(stream::configure);
}
