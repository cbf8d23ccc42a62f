//! `POST /api/v1/orders/place`.

use super::{ApiError, AppState, ErrorBody, authorize};
use crate::domain::ledger::Side;
use crate::ledger::OrderRequest;
use actix_web::{HttpRequest, HttpResponse, web};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/v1/orders/place", web::post().to(place));
}

/// The body as the app sends it. `quantity` stays a JSON number token, read exactly later.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlaceOrderBody {
    firebase_uid: String,
    symbol: String,
    side: String,
    /// Positive, at most six decimal places.
    #[schema(value_type = f64, example = 2)]
    quantity: serde_json::Number,
    market: String,
    /// Only `market` is supported. Default: market.
    #[serde(default)]
    order_type: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct PlacedView {
    pub status: &'static str,
    pub message: String,
    pub fill_price: Decimal,
    pub total_value: Decimal,
    pub new_balance: Decimal,
}

#[utoipa::path(post, path = "/api/v1/orders/place", tag = "trading", request_body = PlaceOrderBody,
    responses(
        (status = 200, description = "Filled at the server's latest price and committed", body = PlacedView),
        (status = 400, description = "Refused: funds, holdings, symbol, side, quantity or market", body = ErrorBody),
        (status = 401, description = "Missing or invalid token (verified identity modes)", body = ErrorBody),
        (status = 403, description = "The token belongs to another user", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "The body is not application/json", body = ErrorBody),
        (status = 422, description = "Input that does not fit the schema", body = ErrorBody),
        (status = 503, description = "No fresh price (the feed stalled) or the ledger cannot record orders right now (e.g. disk full); Retry-After says when to try again", body = ErrorBody)
    ), security((), ("bearer" = [])))]
pub(super) async fn place(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<PlaceOrderBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    authorize(&req, &state, &body.firebase_uid)?;
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
        Side::Buy => "Bought",
        Side::Sell => "Sold",
    };
    Ok(HttpResponse::Ok().json(PlacedView {
        status: "success",
        message: format!("{verb} {} {} at {} {}", o.quantity, o.symbol, o.fill_price, o.currency.code()),
        fill_price: o.fill_price,
        total_value: o.total,
        new_balance: placed.new_balance,
    }))
}
