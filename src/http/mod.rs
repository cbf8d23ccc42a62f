//! The HTTP and WebSocket API of `../shared/API.md`: one file per resource. Handlers extract
//! and validate input, call a service, and map the answer; errors become `{"detail": ...}`.

mod admin;
mod class;
mod director;
mod error;
mod export;
mod health;
mod market;
mod metrics;
mod number;
mod openapi;
mod order_book;
mod orders;
mod pages;
mod portfolio;
mod seasons;
mod session;
mod social;
mod stream;

pub use error::{ApiError, ErrorBody};
pub use metrics::record as record_metrics;
pub use openapi::ApiDoc;
pub use order_book::OrderAnnouncer;

use crate::auth::Identity;
use crate::config::StreamSettings;
use crate::domain::time::Clock;
use crate::health::Health;
use crate::live::bus::Bus;
use crate::live::director::Director;
use crate::market_data::MarketData;
use crate::metrics::Metrics;
use crate::social::Profiles;
use crate::storage::Store;
use crate::trading::Trading;
use actix_web::http::header::AUTHORIZATION;
use actix_web::{HttpRequest, web};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// Everything a handler may need; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub market: Arc<MarketData>,
    pub trading: Arc<Trading>,
    pub class: Arc<crate::class::Classroom>,
    pub standings: Arc<crate::class::standings::Standings>,
    pub bus: Bus,
    pub stream: StreamSettings,
    pub shutdown: CancellationToken,
    pub metrics: Arc<Metrics>,
    pub health: Arc<Health>,
    pub store: Arc<Store>,
    pub identity: Arc<Identity>,
    /// The bearer token of `/api/v1/admin/`; `None` turns those routes off.
    pub admin_token: Option<Arc<str>>,
    /// The director's mailbox to the engine: pause, speed, news, regimes.
    pub director: Arc<Director>,
    pub clock: Arc<dyn Clock>,
    /// Profiles and nicknames, held in memory.
    pub profiles: Arc<Profiles>,
}

/// Any other path: the JSON error shape, like every other error.
async fn not_found() -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError::NotFound("Not found".into()))
}

/// The token of an `Authorization: Bearer <token>` header, if any.
fn bearer(req: &HttpRequest) -> Option<&str> {
    let value = req.headers().get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(token.trim())
}

/// Checks that the request may act for `uid` under the configured identity mode.
fn authorize(req: &HttpRequest, state: &AppState, uid: &str) -> Result<(), ApiError> {
    Ok(state.identity.authorize(bearer(req), uid)?)
}

/// Registers every route and the JSON error shape of rejected input.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.app_data(error::query_config())
        .app_data(error::path_config())
        .app_data(error::json_config())
        .configure(health::configure)
        // Before the market and portfolio scopes, which answer 404 for a path they do not know.
        .configure(director::configure)
        .configure(class::configure)
        .configure(seasons::configure)
        .configure(market::configure)
        .configure(metrics::configure)
        .configure(orders::configure)
        .configure(order_book::configure)
        .configure(portfolio::configure)
        .configure(stream::configure)
        .configure(admin::configure)
        .configure(session::configure)
        .configure(social::configure)
        .configure(pages::configure)
        .configure(openapi::configure)
        .default_service(web::to(not_found));
}
