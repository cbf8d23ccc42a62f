//! `/api/v1/portfolio`: positions and balances, order history, watchlist.

use super::{ApiError, AppState, ErrorBody, authorize};
use crate::domain::instrument::Currency;
use crate::domain::time::Timestamp;
use crate::storage::ledger::OrderRecord;
use crate::trading::MAX_ORDERS_LISTED;
use actix_web::{HttpRequest, HttpResponse, web};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api/v1/portfolio")
            .route("/positions/{uid}", web::get().to(positions))
            .route("/orders/{uid}", web::get().to(orders))
            .route("/watchlist/{uid}", web::get().to(watchlist))
            .route("/watchlist/{uid}/{symbol}", web::post().to(watch_add))
            .route("/watchlist/{uid}/{symbol}", web::delete().to(watch_remove)),
    );
}

/// Cash per market, named as the app names markets (crypto settles in `usa`).
#[derive(Serialize, utoipa::ToSchema)]
pub struct BalancesView {
    pub india: Decimal,
    pub usa: Decimal,
    pub uk: Decimal,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct PositionView {
    pub symbol: String,
    pub quantity: Decimal,
    pub average_cost: Decimal,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct PortfolioView {
    pub balances: BalancesView,
    pub positions: Vec<PositionView>,
    /// What resting orders hold back: not available to new orders.
    pub held: HeldView,
}

/// Cash held by resting buys and quantities held by resting sells.
#[derive(Serialize, utoipa::ToSchema)]
pub struct HeldView {
    pub balances: BalancesView,
    pub positions: Vec<HeldPositionView>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct HeldPositionView {
    pub symbol: String,
    pub quantity: Decimal,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct OrderView {
    pub id: i64,
    pub symbol: String,
    pub side: &'static str,
    pub order_type: &'static str,
    pub quantity: Decimal,
    pub status: &'static str,
    pub fill_price: Decimal,
    pub created_at: Timestamp,
    pub filled_at: Timestamp,
}

impl From<&OrderRecord> for OrderView {
    fn from(o: &OrderRecord) -> Self {
        OrderView {
            id: o.id,
            symbol: o.symbol.clone(),
            side: o.side.as_str(),
            order_type: o.order_type.as_str(),
            quantity: o.quantity,
            status: "filled",
            fill_price: o.fill_price,
            created_at: o.created_at,
            filled_at: o.filled_at,
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct WatchlistView {
    pub symbols: Vec<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct WatchChangeView {
    pub status: &'static str,
    pub symbol: String,
}

#[utoipa::path(get, path = "/api/v1/portfolio/positions/{uid}", tag = "trading", params(("uid" = String, Path, description = "The user's Firebase UID (1 to 128 characters)")),
    responses((status = 200, description = "Balances per market and open positions", body = PortfolioView), (status = 400, description = "Invalid firebase_uid", body = ErrorBody),
        (status = 401, description = "Missing or invalid token (verified identity modes)", body = ErrorBody),
        (status = 403, description = "The token belongs to another user", body = ErrorBody),
        (status = 422, description = "Input that does not fit the schema", body = ErrorBody)),
    security((), ("bearer" = [])))]
pub(super) async fn positions(
    req: HttpRequest,
    state: web::Data<AppState>,
    uid: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    authorize(&req, &state, &uid)?;
    let portfolio = state.trading.portfolio(&uid)?;
    let account = &portfolio.account;
    let held = |c: Currency| account.held_cash.get(&c).copied().unwrap_or_default();
    Ok(HttpResponse::Ok().json(PortfolioView {
        balances: BalancesView {
            india: account.balance(Currency::Inr),
            usa: account.balance(Currency::Usd),
            uk: account.balance(Currency::Gbp),
        },
        positions: account
            .positions
            .iter()
            .map(|(symbol, p)| PositionView {
                symbol: symbol.clone(),
                quantity: p.quantity,
                average_cost: p.average_cost(),
            })
            .collect(),
        held: HeldView {
            balances: BalancesView { india: held(Currency::Inr), usa: held(Currency::Usd), uk: held(Currency::Gbp) },
            positions: account
                .held_quantity
                .iter()
                .map(|(symbol, quantity)| HeldPositionView { symbol: symbol.clone(), quantity: *quantity })
                .collect(),
        },
    }))
}

#[derive(Deserialize, utoipa::IntoParams)]
pub(super) struct OrdersQuery {
    /// Orders returned, newest first, at most 1000. Default: 1000.
    limit: Option<usize>,
    /// An archived season's fills. Default: the current season.
    season: Option<i32>,
}

#[utoipa::path(get, path = "/api/v1/portfolio/orders/{uid}", tag = "trading", params(("uid" = String, Path, description = "The user's Firebase UID (1 to 128 characters)"), OrdersQuery),
    responses((status = 200, description = "Filled orders, newest first", body = [OrderView]), (status = 400, description = "Invalid firebase_uid", body = ErrorBody),
        (status = 401, description = "Missing or invalid token (verified identity modes)", body = ErrorBody),
        (status = 403, description = "The token belongs to another user", body = ErrorBody),
        (status = 404, description = "No such season", body = ErrorBody),
        (status = 422, description = "Input that does not fit the schema", body = ErrorBody)),
    security((), ("bearer" = [])))]
pub(super) async fn orders(
    req: HttpRequest,
    state: web::Data<AppState>,
    uid: web::Path<String>,
    query: web::Query<OrdersQuery>,
) -> Result<HttpResponse, ApiError> {
    let uid = uid.into_inner();
    authorize(&req, &state, &uid)?;
    let limit = query.limit.unwrap_or(MAX_ORDERS_LISTED);
    let data = state.clone();
    let season = query.season;
    let orders = web::block(move || data.trading.orders(&uid, limit, season)).await??;
    Ok(HttpResponse::Ok().json(orders.iter().map(OrderView::from).collect::<Vec<_>>()))
}

#[utoipa::path(get, path = "/api/v1/portfolio/watchlist/{uid}", tag = "trading", params(("uid" = String, Path, description = "The user's Firebase UID (1 to 128 characters)")),
    responses((status = 200, description = "The watchlist", body = WatchlistView), (status = 400, description = "Invalid firebase_uid", body = ErrorBody),
        (status = 401, description = "Missing or invalid token (verified identity modes)", body = ErrorBody),
        (status = 403, description = "The token belongs to another user", body = ErrorBody),
        (status = 422, description = "Input that does not fit the schema", body = ErrorBody)),
    security((), ("bearer" = [])))]
pub(super) async fn watchlist(
    req: HttpRequest,
    state: web::Data<AppState>,
    uid: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    authorize(&req, &state, &uid)?;
    let portfolio = state.trading.portfolio(&uid)?;
    Ok(HttpResponse::Ok().json(WatchlistView { symbols: portfolio.watchlist.clone() }))
}

async fn watch_change(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    add: bool,
) -> Result<HttpResponse, ApiError> {
    let (uid, symbol) = path.into_inner();
    authorize(&req, &state, &uid)?;
    let symbol = state.trading.watch(&uid, &symbol, add).await?;
    Ok(HttpResponse::Ok().json(WatchChangeView { status: if add { "added" } else { "removed" }, symbol }))
}

#[utoipa::path(post, path = "/api/v1/portfolio/watchlist/{uid}/{symbol}", tag = "trading", params(("uid" = String, Path, description = "The user's Firebase UID (1 to 128 characters)"), ("symbol" = String, Path, description = "Instrument symbol, percent-encoded")),
    responses((status = 200, description = "Added (idempotent)", body = WatchChangeView), (status = 400, description = "Invalid firebase_uid", body = ErrorBody),
        (status = 401, description = "Missing or invalid token (verified identity modes)", body = ErrorBody),
        (status = 403, description = "The token belongs to another user", body = ErrorBody),
        (status = 422, description = "Input that does not fit the schema", body = ErrorBody)),
    security((), ("bearer" = [])))]
pub(super) async fn watch_add(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    watch_change(req, state, path, true).await
}

#[utoipa::path(delete, path = "/api/v1/portfolio/watchlist/{uid}/{symbol}", tag = "trading", params(("uid" = String, Path, description = "The user's Firebase UID (1 to 128 characters)"), ("symbol" = String, Path, description = "Instrument symbol, percent-encoded")),
    responses((status = 200, description = "Removed", body = WatchChangeView), (status = 400, description = "Invalid firebase_uid", body = ErrorBody),
        (status = 401, description = "Missing or invalid token (verified identity modes)", body = ErrorBody),
        (status = 403, description = "The token belongs to another user", body = ErrorBody),
        (status = 422, description = "Input that does not fit the schema", body = ErrorBody)),
    security((), ("bearer" = [])))]
pub(super) async fn watch_remove(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    watch_change(req, state, path, false).await
}
