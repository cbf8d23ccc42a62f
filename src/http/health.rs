//! Liveness and readiness routes.

use super::AppState;
use actix_web::{HttpResponse, web};
use serde::Serialize;

#[derive(Serialize, utoipa::ToSchema)]
pub struct HealthView {
    /// `ok`, or `not ready` once a part of the server has failed for good (it is stopping).
    #[schema(example = "ok")]
    pub status: &'static str,
    #[schema(example = "market_service")]
    pub service: &'static str,
    /// Why the server is not ready; only when it is not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct RootView {
    #[schema(example = "healthy")]
    pub status: &'static str,
}

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/health", web::get().to(health)).route("/", web::get().to(root)).route("/", web::head().to(root));
}

#[utoipa::path(get, path = "/health", tag = "health", responses(
    (status = 200, description = "Service is up and ready", body = HealthView),
    (status = 503, description = "A part of the server failed for good; it is stopping to be restarted", body = HealthView)
))]
pub(super) async fn health(state: web::Data<AppState>) -> HttpResponse {
    match state.health.failure() {
        None => HttpResponse::Ok().json(HealthView { status: "ok", service: "market_service", reason: None }),
        Some(cause) => HttpResponse::ServiceUnavailable().json(HealthView {
            status: "not ready",
            service: "market_service",
            reason: Some(cause.to_string()),
        }),
    }
}

#[utoipa::path(get, path = "/", tag = "health", responses((status = 200, description = "Service is up", body = RootView)))]
pub(super) async fn root() -> HttpResponse {
    HttpResponse::Ok().json(RootView { status: "healthy" })
}
