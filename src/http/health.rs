//! Liveness routes.

use super::pages;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
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

/// The liveness JSON, or the student desk for a browser (a `GET` whose `Accept` prefers HTML).
#[utoipa::path(get, path = "/", tag = "health", responses(
    (status = 200, description = "Service is up (a browser asking for HTML gets the student desk)", body = RootView)))]
pub(super) async fn root(req: HttpRequest) -> HttpResponse {
    let mut response = if pages::wants_html(&req) {
        pages::desk(req).await
    } else {
        HttpResponse::Ok().json(RootView { status: "healthy" })
    };
    response.headers_mut().append(header::VARY, header::HeaderValue::from_static("Accept"));
    response
}
