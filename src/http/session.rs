//! `GET /api/v1/session/config`: what a browser client must know before it signs anyone in.

use super::AppState;
use crate::config::AuthMode;
use actix_web::{HttpResponse, web};
use serde::Serialize;

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/v1/session/config", web::get().to(config));
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct SessionConfig {
    /// How requests prove which user they act for: `open` (the uid is trusted), `shared-secret`
    /// (a bearer token from `finlearn token`) or `firebase` (the app's sign-in; browsers only read).
    pub identity_mode: AuthMode,
    /// Whether the admin routes are on (an admin token is configured).
    pub admin_routes: bool,
}

#[utoipa::path(get, path = "/api/v1/session/config", tag = "session",
    responses((status = 200, description = "The identity mode and whether the admin routes are on", body = SessionConfig)))]
pub(super) async fn config(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .json(SessionConfig { identity_mode: state.identity.mode(), admin_routes: state.admin_token.is_some() })
}
