//! Liveness routes.

use actix_web::{HttpResponse, web};
use serde_json::json;

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/health", web::get().to(health))
        .route("/", web::get().to(root))
        .route("/", web::head().to(root));
}

async fn health() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok", "service": "market_service" }))
}

async fn root() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "healthy" }))
}
