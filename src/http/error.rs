//! The one HTTP error type: every service error maps to a status here, exhaustively.

use crate::auth::AuthError;
use crate::export::ExportError;
use crate::market_data::MarketError;
use crate::trading::TradeError;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError, web};
use serde_json::json;

/// Seconds a client is told to wait before retrying a 503: a stalled price feed or a ledger
/// that cannot write is back within seconds when it comes back at all.
const RETRY_AFTER_SECS: u32 = 5;

/// Every error body: `{"detail": "<human-readable reason>"}`; trading errors add a stable
/// `code` (e.g. `insufficient_funds`, `too_many_decimals`) that a client may branch on.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<&'static str>,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Unprocessable(String),
    #[error("{0}")]
    Unavailable(String),
    /// A trading refusal: its status, its stable code and its reason.
    #[error("{detail}")]
    Trade { status: StatusCode, code: &'static str, detail: String },
    /// The cause goes to the log; the client learns only that it was our fault.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Trade { status, .. } => *status,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let ApiError::Internal(cause) = self {
            tracing::error!(error = format!("{cause:#}"), "request failed");
        }
        let mut response = HttpResponse::build(self.status_code());
        match self {
            ApiError::Unauthorized(_) => {
                response.insert_header((actix_web::http::header::WWW_AUTHENTICATE, "Bearer"));
            }
            ApiError::Unavailable(_) => {
                response.insert_header((actix_web::http::header::RETRY_AFTER, RETRY_AFTER_SECS));
            }
            ApiError::Trade { status, .. } if *status == StatusCode::SERVICE_UNAVAILABLE => {
                response.insert_header((actix_web::http::header::RETRY_AFTER, RETRY_AFTER_SECS));
            }
            _ => {}
        }
        let code = match self {
            ApiError::Trade { code, .. } => Some(*code),
            _ => None,
        };
        response.json(ErrorBody { detail: self.to_string(), code })
    }
}

impl From<MarketError> for ApiError {
    fn from(e: MarketError) -> Self {
        match e {
            MarketError::UnknownQuote(_) | MarketError::UnknownSymbol(_) => ApiError::NotFound(e.to_string()),
            MarketError::InvalidQuery(_) => ApiError::Unprocessable(e.to_string()),
            MarketError::Storage(source) => ApiError::Internal(source.into()),
        }
    }
}

impl From<TradeError> for ApiError {
    fn from(e: TradeError) -> Self {
        let e = match e {
            TradeError::Storage(source) => return ApiError::Internal(source.into()),
            other => other,
        };
        let status = match &e {
            TradeError::Refused(_)
            | TradeError::UnknownSymbol(_)
            | TradeError::BadSide(_)
            | TradeError::BadOrderType(_)
            | TradeError::BadTimeInForce(_)
            | TradeError::MarketMismatch { .. }
            | TradeError::UnknownMarket(_)
            | TradeError::BadUid => StatusCode::BAD_REQUEST,
            TradeError::TooManyDecimals { .. }
            | TradeError::BadNumber { .. }
            | TradeError::Terms(_)
            | TradeError::TooManyOpenOrders(_) => StatusCode::UNPROCESSABLE_ENTITY,
            // The request is sound; the class's rules forbid it (each refusal says which).
            TradeError::Class(_) => StatusCode::FORBIDDEN,
            TradeError::OrderNotFound(_) | TradeError::UnknownSeason(_) => StatusCode::NOT_FOUND,
            TradeError::OrderClosed { .. } | TradeError::NoArchivedSeason | TradeError::SeasonHasOrders(_) => {
                StatusCode::CONFLICT
            }
            // A stalled price feed is the server's problem, not the request's: retry shortly.
            TradeError::StalePrice(_) | TradeError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            TradeError::Storage(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::Trade { status, code: e.reason(), detail: e.to_string() }
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Missing | AuthError::Invalid(_) => ApiError::Unauthorized(e.to_string()),
            AuthError::WrongUser => ApiError::Forbidden(e.to_string()),
        }
    }
}

impl From<ExportError> for ApiError {
    fn from(e: ExportError) -> Self {
        match e {
            ExportError::UnknownDataset(_) => ApiError::NotFound(e.to_string()),
            ExportError::Format(_)
            | ExportError::Timeframe(_)
            | ExportError::BadTime(_)
            | ExportError::Reversed { .. } => ApiError::Unprocessable(e.to_string()),
            ExportError::OutputDir { .. }
            | ExportError::NoDatabase(_)
            | ExportError::InUse { .. }
            | ExportError::Storage(_)
            | ExportError::Write(_) => ApiError::Internal(e.into()),
        }
    }
}

impl From<actix_web::error::BlockingError> for ApiError {
    fn from(e: actix_web::error::BlockingError) -> Self {
        ApiError::Internal(anyhow::anyhow!("blocking task failed: {e}"))
    }
}

pub(super) fn query_config() -> web::QueryConfig {
    web::QueryConfig::default()
        .error_handler(|err, _| ApiError::Unprocessable(format!("invalid query string: {err}")).into())
}

pub(super) fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|err, _| ApiError::Unprocessable(format!("invalid path: {err}")).into())
}

/// Request bodies are small JSON objects; anything larger is refused with 413.
pub const MAX_JSON_BODY: usize = 16 * 1024;

pub(super) fn json_config() -> web::JsonConfig {
    web::JsonConfig::default().limit(MAX_JSON_BODY).error_handler(|err, _| {
        use actix_web::error::JsonPayloadError;
        let status = match &err {
            JsonPayloadError::OverflowKnownLength { .. } | JsonPayloadError::Overflow { .. } => {
                StatusCode::PAYLOAD_TOO_LARGE
            }
            JsonPayloadError::ContentType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            _ => StatusCode::UNPROCESSABLE_ENTITY,
        };
        let response = HttpResponse::build(status).json(json!({ "detail": format!("invalid request body: {err}") }));
        actix_web::error::InternalError::from_response(err, response).into()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stale_price_is_the_servers_problem_with_a_time_to_retry() {
        let response = ApiError::from(TradeError::StalePrice("AAPL".into())).error_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        let retry = response.headers().get(actix_web::http::header::RETRY_AFTER).expect("Retry-After");
        assert_eq!(retry.to_str().unwrap(), RETRY_AFTER_SECS.to_string());
        let refused = ApiError::from(TradeError::BadSide("hold".into())).error_response();
        assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
        assert!(refused.headers().get(actix_web::http::header::RETRY_AFTER).is_none());
    }
}
