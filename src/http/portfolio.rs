//! `/api/v1/portfolio`: positions and balances, order history, watchlist.

use super::{ApiError, AppState};
use crate::domain::instrument::Currency;
use crate::ledger::MAX_ORDERS_LISTED;
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

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

async fn positions(state: web::Data<AppState>, uid: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let portfolio = state.trading.portfolio(&uid).await?;
    let account = &portfolio.account;
    let positions: Vec<_> = account
        .positions
        .iter()
        .map(|(symbol, p)| json!({"symbol": symbol, "quantity": p.quantity, "average_cost": p.average_cost()}))
        .collect();
    Ok(HttpResponse::Ok().json(json!({
        "balances": {
            "india": account.balance(Currency::Inr),
            "usa": account.balance(Currency::Usd),
            "uk": account.balance(Currency::Gbp),
        },
        "positions": positions,
    })))
}

#[derive(Deserialize)]
struct OrdersQuery {
    limit: Option<usize>,
}

async fn orders(
    state: web::Data<AppState>,
    uid: web::Path<String>,
    query: web::Query<OrdersQuery>,
) -> Result<HttpResponse, ApiError> {
    let uid = uid.into_inner();
    state.trading.portfolio(&uid).await?; // registers on first sight
    let limit = query.limit.unwrap_or(MAX_ORDERS_LISTED);
    let data = state.clone();
    let orders = web::block(move || data.trading.orders(&uid, limit)).await??;
    let list: Vec<_> = orders
        .iter()
        .map(|o| {
            json!({
                "id": o.id,
                "symbol": o.symbol,
                "side": o.side.as_str(),
                "order_type": "market",
                "quantity": o.quantity,
                "status": "filled",
                "fill_price": o.fill_price,
                "created_at": o.created_at,
                "filled_at": o.filled_at,
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(list))
}

async fn watchlist(state: web::Data<AppState>, uid: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let portfolio = state.trading.portfolio(&uid).await?;
    Ok(HttpResponse::Ok().json(json!({ "symbols": portfolio.watchlist })))
}

async fn watch_add(state: web::Data<AppState>, path: web::Path<(String, String)>) -> Result<HttpResponse, ApiError> {
    let (uid, symbol) = path.into_inner();
    let symbol = state.trading.watch(&uid, &symbol, true).await?;
    Ok(HttpResponse::Ok().json(json!({ "status": "added", "symbol": symbol })))
}

async fn watch_remove(state: web::Data<AppState>, path: web::Path<(String, String)>) -> Result<HttpResponse, ApiError> {
    let (uid, symbol) = path.into_inner();
    let symbol = state.trading.watch(&uid, &symbol, false).await?;
    Ok(HttpResponse::Ok().json(json!({ "status": "removed", "symbol": symbol })))
}
