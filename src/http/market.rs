//! `/api/v1/market`: instruments, quotes, history and news.

use super::{ApiError, AppState};
use crate::domain::candle::Timeframe;
use crate::domain::time::Timestamp;
use crate::market_data::{DEFAULT_CANDLES, DEFAULT_NEWS, HistoryRequest, MAX_CANDLES, MAX_NEWS};
use actix_web::http::header::ContentType;
use actix_web::web::{self, Bytes};
use actix_web::HttpResponse;
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

async fn instruments(state: web::Data<AppState>) -> HttpResponse {
    json(state.market.instruments_json())
}

async fn quote(state: web::Data<AppState>, symbol: web::Path<String>) -> Result<HttpResponse, ApiError> {
    Ok(json(state.market.quote_json(&symbol)?))
}

#[derive(Deserialize)]
struct QuotesQuery {
    symbols: Option<String>,
}

async fn quotes(state: web::Data<AppState>, query: web::Query<QuotesQuery>) -> HttpResponse {
    json(state.market.quotes_json(query.symbols.as_deref()))
}

#[derive(Deserialize)]
struct HistoryQuery {
    timeframe: Option<String>,
    limit: Option<u32>,
    from: Option<String>,
    to: Option<String>,
}

fn parse_time(name: &str, value: Option<&str>) -> Result<Option<Timestamp>, ApiError> {
    value
        .map(|text| {
            Timestamp::parse_rfc3339(text)
                .ok_or_else(|| ApiError::Unprocessable(format!("{name} must be an ISO-8601 time with a zone, e.g. 2026-12-01T08:00:00Z")))
        })
        .transpose()
}

async fn history(
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
    let market = state.market.clone();
    let candles = web::block(move || market.history(&symbol, request)).await??;
    Ok(HttpResponse::Ok().json(candles))
}

#[derive(Deserialize)]
struct NewsQuery {
    symbol: Option<String>,
    limit: Option<usize>,
}

async fn news(state: web::Data<AppState>, query: web::Query<NewsQuery>) -> Result<HttpResponse, ApiError> {
    let limit = query.limit.unwrap_or(DEFAULT_NEWS);
    if limit == 0 {
        return Err(ApiError::Unprocessable(format!("limit must be between 1 and {MAX_NEWS}")));
    }
    let market = state.market.clone();
    let query = query.into_inner();
    let events = web::block(move || market.news(query.symbol.as_deref(), limit.min(MAX_NEWS))).await??;
    Ok(HttpResponse::Ok().json(events))
}
