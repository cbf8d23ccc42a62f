//! `POST /api/v1/orders/place`: market orders as the app places them, and every other order type.

use super::number::ExactNumber;
use super::order_book::OrderDetailView;
use super::{ApiError, AppState, ErrorBody, authorize};
use crate::domain::account::Side;
use crate::domain::orders::OrderStatus;
use crate::trading::OrderRequest;
use actix_web::{HttpRequest, HttpResponse, web};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/v1/orders/place", web::post().to(place));
}

/// The body as the app sends it, plus the terms of orders beyond market (Alpaca's names).
/// Numbers stay JSON number tokens and are read exactly, never through floating point.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlaceOrderBody {
    firebase_uid: String,
    symbol: String,
    side: String,
    /// Positive, at most six decimal places (more is refused with 422, code
    /// `too_many_decimals`, never rounded).
    #[schema(value_type = f64, example = 2)]
    quantity: ExactNumber,
    market: String,
    /// `market` (default), `limit`, `stop`, `stop_limit` or `trailing_stop`.
    #[serde(default)]
    order_type: Option<String>,
    /// `day` (default: until the end of the UTC day), `gtc`, `ioc` or `fok`. With no partial
    /// fills, `ioc` and `fok` behave the same: fill at once or cancel.
    #[serde(default)]
    time_in_force: Option<String>,
    /// For `limit` and `stop_limit`: on the 0.01 grid.
    #[schema(value_type = Option<f64>)]
    #[serde(default)]
    limit_price: Option<ExactNumber>,
    /// For `stop` and `stop_limit`: on the 0.01 grid.
    #[schema(value_type = Option<f64>)]
    #[serde(default)]
    stop_price: Option<ExactNumber>,
    /// For `trailing_stop`: the distance from the best price, on the 0.01 grid.
    #[schema(value_type = Option<f64>)]
    #[serde(default)]
    trail_price: Option<ExactNumber>,
    /// For `trailing_stop`: the distance as a percentage of the best price (above 0, below 100).
    #[schema(value_type = Option<f64>)]
    #[serde(default)]
    trail_percent: Option<ExactNumber>,
}

/// The answer of `../shared/API.md`, plus the order. `fill_price` and `total_value` are null
/// for an order that did not fill at once.
#[derive(Serialize, utoipa::ToSchema)]
pub struct PlacedView {
    pub status: &'static str,
    pub message: String,
    pub fill_price: Option<Decimal>,
    pub total_value: Option<Decimal>,
    pub new_balance: Decimal,
    pub order_id: i64,
    pub order: OrderDetailView,
}

#[utoipa::path(post, path = "/api/v1/orders/place", tag = "trading", request_body = PlaceOrderBody,
    responses(
        (status = 200, description = "Accepted: a market order (or a marketable limit) filled at the server's latest price, a resting order placed with its hold, or an ioc/fok order that could not fill canceled; committed", body = PlacedView),
        (status = 400, description = "Refused: funds, holdings, symbol, side, quantity, market, or the market is paused", body = ErrorBody),
        (status = 401, description = "Missing or invalid token (verified identity modes)", body = ErrorBody),
        (status = 403, description = "The token belongs to another user", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "The body is not application/json", body = ErrorBody),
        (status = 422, description = "Input that does not fit the schema; a quantity with more than six decimals (too_many_decimals); terms that do not fit the order type; a price off the 0.01 grid or above 100x the last; too many open orders", body = ErrorBody),
        (status = 503, description = "No fresh price (the feed stalled) or the ledger cannot record orders right now (e.g. disk full); Retry-After says when to try again", body = ErrorBody)
    ), security((), ("bearer" = [])))]
pub(super) async fn place(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<PlaceOrderBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    authorize(&req, &state, &body.firebase_uid)?;
    if state.director.status().paused() {
        return Err(ApiError::BadRequest("market paused: orders are refused until the teacher resumes it".into()));
    }
    let text = |n: Option<ExactNumber>| n.map(|n| n.text().to_string());
    let request = OrderRequest {
        firebase_uid: body.firebase_uid,
        symbol: body.symbol,
        side: body.side,
        quantity: body.quantity.text().to_string(),
        market: body.market,
        order_type: body.order_type,
        time_in_force: body.time_in_force,
        limit_price: text(body.limit_price),
        stop_price: text(body.stop_price),
        trail_price: text(body.trail_price),
        trail_percent: text(body.trail_percent),
    };
    let placed = state.trading.place(request).await?;
    let o = &placed.order;
    let quantity = o.spec.quantity;
    let message = match (o.status, o.fill) {
        (OrderStatus::Filled, Some(fill)) => {
            let verb = if o.spec.side == Side::Buy { "Bought" } else { "Sold" };
            let currency = o.currency.code();
            match fill.commission {
                c if c.is_zero() => format!("{verb} {quantity} {} at {} {currency}", o.symbol, fill.price),
                c => format!("{verb} {quantity} {} at {} {currency} (commission {c} {currency})", o.symbol, fill.price),
            }
        }
        (OrderStatus::New, _) => format!(
            "Placed a {} {} order for {quantity} {} ({})",
            o.spec.order_type.as_str(),
            o.spec.side.as_str(),
            o.symbol,
            o.spec.time_in_force.as_str()
        ),
        _ => format!("Order {} {}: {}", o.id, o.status.as_str(), o.reason.as_deref().unwrap_or_default()),
    };
    Ok(HttpResponse::Ok().json(PlacedView {
        status: "success",
        message,
        fill_price: o.fill.map(|f| f.price),
        total_value: o.fill.map(|f| f.total),
        new_balance: placed.new_balance,
        order_id: o.id,
        order: OrderDetailView::from(o),
    }))
}
