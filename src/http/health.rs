//! Liveness routes.

use actix_web::{HttpResponse, web};
use serde::Serialize;

#[derive(Serialize, utoipa::ToSchema)]
pub struct HealthView {
    #[schema(example = "ok")]
    pub status: &'static str,
    #[schema(example = "market_service")]
    pub service: &'static str,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct RootView {
    #[schema(example = "healthy")]
    pub status: &'static str,
}

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/health", web::get().to(health)).route("/", web::get().to(root)).route("/", web::head().to(root));
}

#[utoipa::path(get, path = "/health", tag = "health", responses((status = 200, description = "Service is up", body = HealthView)))]
pub(super) async fn health() -> HttpResponse {
    HttpResponse::Ok().json(HealthView { status: "ok", service: "market_service" })
}

#[utoipa::path(get, path = "/", tag = "health", responses((status = 200, description = "Service is up", body = RootView)))]
pub(super) async fn root() -> HttpResponse {
    HttpResponse::Ok().json(RootView { status: "healthy" })
}
