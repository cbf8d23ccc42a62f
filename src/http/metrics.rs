//! `GET /metrics`: the Prometheus scrape target.

use super::AppState;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, web};
use std::time::Instant;

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/metrics", web::get().to(metrics));
}

#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus / OpenMetrics text exposition", content_type = "application/openmetrics-text", body = String)))]
pub(super) async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let text = state.metrics.render(state.store.file_size());
    HttpResponse::Ok().content_type("application/openmetrics-text; version=1.0.0; charset=utf-8").body(text)
}

/// Middleware: counts every request by route pattern, method and status, with its latency
/// (to the response head). Patterns, not raw paths, keep the label set bounded. The pattern is
/// read from the routed request after the handler ran: before routing, actix would match the
/// path against every route again to find it.
pub async fn record(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let method: &'static str = match req.method().as_str() {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "DELETE" => "DELETE",
        "PATCH" => "PATCH",
        "OPTIONS" => "OPTIONS",
        _ => "other",
    };
    let metrics = req.app_data::<web::Data<AppState>>().map(|state| state.metrics.clone());
    let response = next.call(req).await?;
    if let Some(metrics) = metrics {
        let route = response.request().match_pattern().unwrap_or_else(|| "unmatched".into());
        metrics.observe_request(route, method, response.status().as_u16(), started.elapsed().as_secs_f64());
    }
    Ok(response)
}
