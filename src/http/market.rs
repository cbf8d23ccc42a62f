//! `/api/v1/market`: instruments, quotes, history and news.

use super::{ApiError, AppState, ErrorBody};
use crate::domain::candle::Candle;
use crate::domain::candle::Timeframe;
use crate::domain::news::NewsEvent;
use crate::domain::quote::MarketSnapshot;
use crate::domain::time::Timestamp;
use crate::market_data::InstrumentView;
use crate::market_data::{DEFAULT_CANDLES, DEFAULT_NEWS, HistoryRequest, MAX_CANDLES, MAX_NEWS};
use actix_web::HttpResponse;
use actix_web::http::header::ContentType;
use actix_web::web::{self, Bytes};
use serde::Deserialize;

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api/v1/market")
            .route("/instruments", web::get().to(instruments))
            .route("/quote/{symbol}", web::get().to(quote))
            .route("/quotes", web::get().to(quotes))
            .route("/history/{symbol}", web::get().to(history))
            .route("/news", web::get().to(news)),
    );
}

fn json(body: Bytes) -> HttpResponse {
    HttpResponse::Ok().content_type(ContentType::json()).body(body)
}

#[utoipa::path(get, path = "/api/v1/market/instruments", tag = "market",
    responses((status = 200, description = "The instrument universe", body = [InstrumentView])))]
pub(super) async fn instruments(state: web::Data<AppState>) -> HttpResponse {
    json(state.market.instruments_json())
}

#[utoipa::path(get, path = "/api/v1/market/quote/{symbol}", tag = "market",
    params(("symbol" = String, Path, description = "Instrument symbol, percent-encoded (NIFTY%2050, L%26T)")),
    responses(
        (status = 200, description = "The current trading-day snapshot", body = MarketSnapshot),
        (status = 404, description = "Unknown symbol", body = ErrorBody)
    ))]
pub(super) async fn quote(state: web::Data<AppState>, symbol: web::Path<String>) -> Result<HttpResponse, ApiError> {
    Ok(json(state.market.quote_json(&symbol)?))
}

#[derive(Deserialize, utoipa::IntoParams)]
pub(super) struct QuotesQuery {
    /// Comma-separated symbols (at most 200); unknown ones are left out. Default: all.
    symbols: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/market/quotes", tag = "market", params(QuotesQuery),
    responses(
        (status = 200, description = "Snapshots of the symbols asked for, or of all", body = [MarketSnapshot]),
        (status = 422, description = "Input that does not fit the schema", body = ErrorBody)
    ))]
pub(super) async fn quotes(
    state: web::Data<AppState>,
    query: web::Query<QuotesQuery>,
) -> Result<HttpResponse, ApiError> {
    Ok(json(state.market.quotes_json(query.symbols.as_deref())?))
}

#[derive(Deserialize, utoipa::IntoParams)]
pub(super) struct HistoryQuery {
    /// One of 1m 5m 15m 1h 4h 1D 1W 1M. Default: 4h.
    timeframe: Option<String>,
    /// Candles returned, 1 to 1000. Default: 100.
    limit: Option<u32>,
    /// No candle before this ISO-8601 time.
    from: Option<String>,
    /// No candle after this ISO-8601 time. Default: now.
    to: Option<String>,
}

fn parse_time(name: &str, value: Option<&str>) -> Result<Option<Timestamp>, ApiError> {
    value
        .map(|text| {
            Timestamp::parse_rfc3339(text).ok_or_else(|| {
                ApiError::Unprocessable(format!(
                    "{name} must be an ISO-8601 time with a zone, e.g. 2026-12-01T08:00:00Z"
                ))
            })
        })
        .transpose()
}

#[utoipa::path(get, path = "/api/v1/market/history/{symbol}", tag = "market",
    params(("symbol" = String, Path, description = "Instrument symbol, percent-encoded"), HistoryQuery),
    responses(
        (status = 200, description = "Candles, oldest first; timestamp is the bucket start (UTC)", body = [Candle]),
        (status = 404, description = "Unknown symbol", body = ErrorBody),
        (status = 422, description = "Input that does not fit the schema", body = ErrorBody)
    ))]
pub(super) async fn history(
    state: web::Data<AppState>,
    symbol: web::Path<String>,
    query: web::Query<HistoryQuery>,
) -> Result<HttpResponse, ApiError> {
    let timeframe: Timeframe = query
        .timeframe
        .as_deref()
        .unwrap_or("4h")
        .parse()
        .map_err(|e: crate::domain::candle::UnknownTimeframe| ApiError::Unprocessable(e.to_string()))?;
    let limit = query.limit.unwrap_or(DEFAULT_CANDLES);
    if !(1..=MAX_CANDLES).contains(&limit) {
        return Err(ApiError::Unprocessable(format!("limit must be between 1 and {MAX_CANDLES}")));
    }
    let request = HistoryRequest {
        timeframe,
        limit,
        from: parse_time("from", query.from.as_deref())?,
        to: parse_time("to", query.to.as_deref())?,
    };
    if let Some(body) = state.market.recent_history_json(&symbol, request)? {
        return Ok(json(body));
    }
    let market = state.market.clone();
    let candles = web::block(move || market.history(&symbol, request)).await??;
    Ok(HttpResponse::Ok().json(candles))
}

#[derive(Deserialize, utoipa::IntoParams)]
pub(super) struct NewsQuery {
    /// Only news naming this symbol.
    symbol: Option<String>,
    /// Items returned, at most 50. Default: 10.
    limit: Option<usize>,
}

#[utoipa::path(get, path = "/api/v1/market/news", tag = "market", params(NewsQuery),
    responses(
        (status = 200, description = "News, newest first", body = [NewsEvent]),
        (status = 404, description = "Unknown symbol", body = ErrorBody),
        (status = 422, description = "Input that does not fit the schema", body = ErrorBody)
    ))]
pub(super) async fn news(state: web::Data<AppState>, query: web::Query<NewsQuery>) -> Result<HttpResponse, ApiError> {
    let limit = query.limit.unwrap_or(DEFAULT_NEWS);
    if limit == 0 {
        return Err(ApiError::Unprocessable(format!("limit must be between 1 and {MAX_NEWS}")));
    }
    let market = state.market.clone();
    let query = query.into_inner();
    let events = web::block(move || market.news(query.symbol.as_deref(), limit.min(MAX_NEWS))).await??;
    Ok(HttpResponse::Ok().json(events))
}
