//! `/api/v1/orders/{uid}`: a user's orders (open, closed, all), one order, cancel (`DELETE`)
//! and replace (`PATCH`); and the order as every route and the live stream show it.

use super::number::ExactNumber;
use super::{ApiError, AppState, ErrorBody, authorize};
use crate::domain::account::Side;
use crate::domain::orders::Trail;
use crate::domain::time::Timestamp;
use crate::live::bus::{Bus, Topic};
use crate::storage::orders::{OrderFilter, OrderInfo};
use crate::trading::{Announce, MAX_ORDERS_LISTED, Replacement};
use actix_web::{HttpRequest, HttpResponse, web};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/v1/orders/{uid}", web::get().to(list))
        .route("/api/v1/orders/{uid}/{order_id}", web::get().to(one))
        .route("/api/v1/orders/{uid}/{order_id}", web::delete().to(cancel))
        .route("/api/v1/orders/{uid}/{order_id}", web::patch().to(replace));
}

/// An order: its terms (Alpaca's names), its lifecycle status and, once filled, its fill.
#[derive(Serialize, utoipa::ToSchema)]
pub struct OrderDetailView {
    pub order_id: i64,
    pub firebase_uid: String,
    pub symbol: String,
    /// The currency its cash moves in.
    pub currency: &'static str,
    /// `buy` or `sell`.
    pub side: &'static str,
    /// `market`, `limit`, `stop`, `stop_limit` or `trailing_stop`.
    pub order_type: &'static str,
    /// `day`, `gtc`, `ioc` or `fok`.
    pub time_in_force: &'static str,
    pub quantity: Decimal,
    pub limit_price: Option<Decimal>,
    pub stop_price: Option<Decimal>,
    pub trail_price: Option<Decimal>,
    pub trail_percent: Option<Decimal>,
    /// A trailing stop's best price since it was placed (its high-water mark).
    pub hwm: Option<Decimal>,
    /// `new` (resting), `filled`, `canceled`, `expired` or `rejected`.
    pub status: &'static str,
    /// Why it was canceled, expired or rejected.
    pub reason: Option<String>,
    /// Cash (for a buy) held back while it rests, in `currency`.
    pub held_cash: Decimal,
    /// Quantity (for a sell) held back while it rests.
    pub held_quantity: Decimal,
    pub fill_price: Option<Decimal>,
    pub total_value: Option<Decimal>,
    /// The class's commission on the fill, in the order's currency (0 in a class without
    /// commissions).
    pub commission: Option<Decimal>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// When a `day` order expires.
    pub expires_at: Option<Timestamp>,
    pub filled_at: Option<Timestamp>,
}

impl From<&OrderInfo> for OrderDetailView {
    fn from(o: &OrderInfo) -> Self {
        let s = &o.spec;
        let (held_cash, held_quantity) = match s.side {
            Side::Buy => (o.held, Decimal::ZERO),
            Side::Sell => (Decimal::ZERO, o.held),
        };
        OrderDetailView {
            order_id: o.id,
            firebase_uid: o.firebase_uid.clone(),
            symbol: o.symbol.clone(),
            currency: o.currency.code(),
            side: s.side.as_str(),
            order_type: s.order_type.as_str(),
            time_in_force: s.time_in_force.as_str(),
            quantity: s.quantity,
            limit_price: s.limit_price,
            stop_price: s.stop_price,
            trail_price: match s.trail {
                Some(Trail::Price(p)) => Some(p),
                _ => None,
            },
            trail_percent: match s.trail {
                Some(Trail::Percent(p)) => Some(p),
                _ => None,
            },
            hwm: o.progress.mark,
            status: o.status.as_str(),
            reason: o.reason.clone(),
            held_cash,
            held_quantity,
            fill_price: o.fill.map(|f| f.price),
            total_value: o.fill.map(|f| f.total),
            commission: o.fill.map(|f| f.commission),
            created_at: o.created_at,
            updated_at: o.updated_at,
            expires_at: o.expires_at,
            filled_at: o.fill.map(|f| f.at),
        }
    }
}

/// Publishes committed order events on the live stream, to that user's order subscribers.
pub struct OrderAnnouncer(pub Bus);

impl Announce for OrderAnnouncer {
    fn order_event(&self, event: &str, order: &OrderInfo) {
        if !self.0.orders_followed(&order.firebase_uid) {
            return;
        }
        let frame = serde_json::json!({"type": "order", "event": event, "order": OrderDetailView::from(order)});
        let json = serde_json::to_vec(&frame).expect("an order event serializes");
        self.0.publish(Topic::Order(order.firebase_uid.as_str().into()), json);
    }
}

/// Which season to read: an archived one, or by default the current one.
#[derive(Deserialize, utoipa::IntoParams)]
pub struct SeasonQuery {
    /// An archived season (as it stood when it ended). Default: the current season.
    pub season: Option<i32>,
}

#[derive(Deserialize, utoipa::IntoParams)]
pub(super) struct ListQuery {
    /// `open` (resting), `closed` (filled, canceled, expired, rejected) or `all`. Default: open.
    status: Option<String>,
    /// Orders returned, newest first, at most 1000. Default: 1000.
    limit: Option<usize>,
    /// An archived season's orders (as they stood when it ended). Default: the current season.
    season: Option<i32>,
}

const UID: &str = "The user's Firebase UID (1 to 128 characters)";

#[utoipa::path(get, path = "/api/v1/orders/{uid}", tag = "trading",
    params(("uid" = String, Path, description = UID), ListQuery),
    responses((status = 200, description = "The user's orders, newest first", body = [OrderDetailView]),
        (status = 400, description = "Invalid firebase_uid", body = ErrorBody),
        (status = 401, description = "Missing or invalid token (verified identity modes)", body = ErrorBody),
        (status = 403, description = "The token belongs to another user", body = ErrorBody),
        (status = 404, description = "No such season", body = ErrorBody),
        (status = 422, description = "Unknown status filter", body = ErrorBody)),
    security((), ("bearer" = [])))]
pub(super) async fn list(
    req: HttpRequest,
    state: web::Data<AppState>,
    uid: web::Path<String>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let uid = uid.into_inner();
    authorize(&req, &state, &uid)?;
    let filter = match query.status.as_deref().unwrap_or("open") {
        "open" => OrderFilter::Open,
        "closed" => OrderFilter::Closed,
        "all" => OrderFilter::All,
        other => return Err(ApiError::Unprocessable(format!("status must be open, closed or all, not {other:?}"))),
    };
    let limit = query.limit.unwrap_or(MAX_ORDERS_LISTED);
    let data = state.clone();
    let season = query.season;
    let orders = web::block(move || data.trading.orders_listed(&uid, filter, limit, season)).await??;
    Ok(HttpResponse::Ok().json(orders.iter().map(OrderDetailView::from).collect::<Vec<_>>()))
}

const ORDER_PARAMS: &str = "The order's id (order_id)";

#[utoipa::path(get, path = "/api/v1/orders/{uid}/{order_id}", tag = "trading",
    params(("uid" = String, Path, description = UID), ("order_id" = i64, Path, description = ORDER_PARAMS), SeasonQuery),
    responses((status = 200, description = "The order as it stands", body = OrderDetailView),
        (status = 400, description = "Invalid firebase_uid", body = ErrorBody),
        (status = 401, description = "Missing or invalid token (verified identity modes)", body = ErrorBody),
        (status = 403, description = "The token belongs to another user", body = ErrorBody),
        (status = 404, description = "No such order for this user in the season, or no such season", body = ErrorBody),
        (status = 422, description = "order_id is not an integer", body = ErrorBody)),
    security((), ("bearer" = [])))]
pub(super) async fn one(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, i64)>,
    query: web::Query<SeasonQuery>,
) -> Result<HttpResponse, ApiError> {
    let (uid, id) = path.into_inner();
    authorize(&req, &state, &uid)?;
    let data = state.clone();
    let season = query.season;
    let order = web::block(move || data.trading.order(&uid, id, season)).await??;
    Ok(HttpResponse::Ok().json(OrderDetailView::from(&order)))
}

#[utoipa::path(delete, path = "/api/v1/orders/{uid}/{order_id}", tag = "trading",
    params(("uid" = String, Path, description = UID), ("order_id" = i64, Path, description = ORDER_PARAMS)),
    responses((status = 200, description = "Canceled (idempotent): its hold is released", body = OrderDetailView),
        (status = 400, description = "Invalid firebase_uid", body = ErrorBody),
        (status = 401, description = "Missing or invalid token (verified identity modes)", body = ErrorBody),
        (status = 403, description = "The token belongs to another user", body = ErrorBody),
        (status = 404, description = "No such order for this user", body = ErrorBody),
        (status = 409, description = "Already filled, expired or rejected", body = ErrorBody),
        (status = 422, description = "order_id is not an integer", body = ErrorBody),
        (status = 503, description = "The ledger cannot record it right now", body = ErrorBody)),
    security((), ("bearer" = [])))]
pub(super) async fn cancel(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, i64)>,
) -> Result<HttpResponse, ApiError> {
    let (uid, id) = path.into_inner();
    authorize(&req, &state, &uid)?;
    let order = state.trading.cancel(&uid, id).await?;
    Ok(HttpResponse::Ok().json(OrderDetailView::from(&order)))
}

/// New terms for an open order; absent fields keep their value. Numbers are read exactly.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplaceBody {
    #[schema(value_type = Option<f64>)]
    quantity: Option<ExactNumber>,
    time_in_force: Option<String>,
    #[schema(value_type = Option<f64>)]
    limit_price: Option<ExactNumber>,
    #[schema(value_type = Option<f64>)]
    stop_price: Option<ExactNumber>,
    #[schema(value_type = Option<f64>)]
    trail_price: Option<ExactNumber>,
    #[schema(value_type = Option<f64>)]
    trail_percent: Option<ExactNumber>,
}

#[utoipa::path(patch, path = "/api/v1/orders/{uid}/{order_id}", tag = "trading", request_body = ReplaceBody,
    params(("uid" = String, Path, description = UID), ("order_id" = i64, Path, description = ORDER_PARAMS)),
    responses((status = 200, description = "Replaced: the hold is re-checked against the new terms", body = OrderDetailView),
        (status = 400, description = "The new terms do not fit the available cash or holdings", body = ErrorBody),
        (status = 401, description = "Missing or invalid token (verified identity modes)", body = ErrorBody),
        (status = 403, description = "The token belongs to another user", body = ErrorBody),
        (status = 404, description = "No such order for this user", body = ErrorBody),
        (status = 409, description = "The order is no longer open", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "The body is not application/json", body = ErrorBody),
        (status = 422, description = "Input that does not fit the schema; terms that do not fit the order type; prices off the grid; nothing to replace", body = ErrorBody),
        (status = 503, description = "The ledger cannot record it right now", body = ErrorBody)),
    security((), ("bearer" = [])))]
pub(super) async fn replace(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, i64)>,
    body: web::Json<ReplaceBody>,
) -> Result<HttpResponse, ApiError> {
    let (uid, id) = path.into_inner();
    authorize(&req, &state, &uid)?;
    let text = |n: &Option<ExactNumber>| n.as_ref().map(|n| n.text().to_string());
    let replacement = Replacement {
        quantity: text(&body.quantity),
        time_in_force: body.time_in_force.clone(),
        limit_price: text(&body.limit_price),
        stop_price: text(&body.stop_price),
        trail_price: text(&body.trail_price),
        trail_percent: text(&body.trail_percent),
    };
    let order = state.trading.replace(&uid, id, replacement).await?;
    Ok(HttpResponse::Ok().json(OrderDetailView::from(&order)))
}
