//! `/api/v1/admin/`: operator routes for the classroom tools, behind the configured admin
//! token. With no token configured every admin route answers 404, as if it did not exist.

use super::{ApiError, AppState, ErrorBody, bearer};
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::{Next, from_fn};
use actix_web::{HttpResponse, web};
use serde::Serialize;

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api/v1/admin")
            .wrap(from_fn(guard))
            .route("/status", web::get().to(status))
            .configure(super::director::admin_routes)
            .configure(super::class::admin_routes)
            .configure(super::seasons::admin_routes)
            .configure(super::export::admin_routes),
    );
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct AdminStatus {
    pub instruments: usize,
    /// The season being played; `users` and `orders` are its own.
    pub season: i32,
    pub users: usize,
    /// Fills.
    pub orders: i64,
    pub ws_clients: i64,
    pub database_bytes: u64,
}

/// Equal-length comparison that takes the same time wherever the first difference is.
pub(super) fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn guard(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let Some(expected) = state.as_ref().and_then(|s| s.admin_token.clone()) else {
        return Err(ApiError::NotFound("Not found".into()).into());
    };
    match bearer(req.request()) {
        None => {
            Err(ApiError::Unauthorized("Missing bearer token: send Authorization: Bearer <admin token>".into()).into())
        }
        Some(token) if same_secret(token.as_bytes(), expected.as_bytes()) => next.call(req).await,
        Some(_) => Err(ApiError::Forbidden("Wrong admin token".into()).into()),
    }
}

#[utoipa::path(get, path = "/api/v1/admin/status", tag = "admin",
    responses(
        (status = 200, description = "Server status", body = AdminStatus),
        (status = 401, description = "Missing admin token", body = ErrorBody),
        (status = 403, description = "Wrong admin token", body = ErrorBody),
        (status = 404, description = "Admin routes are off (no admin token configured)", body = ErrorBody)
    ), security(("bearer" = [])))]
pub(super) async fn status(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let (data, season) = (state.clone(), state.trading.season());
    let orders =
        web::block(move || data.store.count_orders(season)).await?.map_err(|e| ApiError::Internal(e.into()))?;
    Ok(HttpResponse::Ok().json(AdminStatus {
        instruments: state.market.universe().len(),
        season,
        users: state.trading.user_count(),
        orders,
        ws_clients: state.metrics.ws_clients.get(),
        database_bytes: state.store.file_size(),
    }))
}

#[cfg(test)]
mod tests {
    use super::same_secret;

    #[test]
    fn secrets_match_only_when_identical() {
        assert!(same_secret(b"abc", b"abc"));
        assert!(!same_secret(b"abc", b"abd"));
        assert!(!same_secret(b"abc", b"abcd"));
    }
}
