//! `POST /api/v1/orders/place`.

use super::{ApiError, AppState};
use crate::ledger::OrderRequest;
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/v1/orders/place", web::post().to(place));
}

/// The body as the app sends it. `quantity` stays a JSON number token, read exactly later.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PlaceOrderBody {
    firebase_uid: String,
    symbol: String,
    side: String,
    quantity: serde_json::Number,
    market: String,
    #[serde(default)]
    order_type: Option<String>,
}

async fn place(state: web::Data<AppState>, body: web::Json<PlaceOrderBody>) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let request = OrderRequest {
        firebase_uid: body.firebase_uid,
        symbol: body.symbol,
        side: body.side,
        quantity: body.quantity.to_string(),
        market: body.market,
        order_type: body.order_type,
    };
    let placed = state.trading.place(request).await?;
    let o = &placed.order;
    let verb = match o.side {
        crate::domain::ledger::Side::Buy => "Bought",
        crate::domain::ledger::Side::Sell => "Sold",
    };
    Ok(HttpResponse::Ok().json(json!({
        "status": "success",
        "message": format!("{verb} {} {} at {} {}", o.quantity, o.symbol, o.fill_price, o.currency.code()),
        "fill_price": o.fill_price,
        "total_value": o.total,
        "new_balance": placed.new_balance,
    })))
}
