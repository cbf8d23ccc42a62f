//! The market director: a teacher's controls under `/api/v1/admin/` (news, pause and resume,
//! speed, regimes, lessons, the audit log) and the public `GET /api/v1/market/status`.
//!
//! Each route validates its input with a reason, hands a command to the engine through the
//! director's mailbox, and records the action in the audit log.

use super::{ApiError, AppState, ErrorBody};
use crate::domain::directing::RegimeView;
use crate::domain::director::{AuditEntry, Command, MarketStatus, NewsOrder};
use crate::domain::lesson::Lesson;
use crate::domain::pace::MAX_SPEED;
use crate::domain::regime::RegimeOrder;
use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};

/// Audit entries returned when no `limit` is given, and the most one request may ask for.
const DEFAULT_AUDIT: usize = 100;
const MAX_AUDIT: usize = 1_000;

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/v1/market/status", web::get().to(status));
}

/// Routes inside the admin scope, behind its token guard.
pub(super) fn admin_routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/news", web::post().to(news))
        .route("/market/pause", web::post().to(pause))
        .route("/market/resume", web::post().to(resume))
        .route("/market/speed", web::put().to(speed))
        .route("/regimes", web::get().to(regimes))
        .route("/regimes", web::post().to(add_regime))
        .route("/regimes/{id}", web::put().to(replace_regime))
        .route("/regimes/{id}", web::delete().to(cancel_regime))
        .route("/scenario", web::post().to(scenario))
        .route("/audit", web::get().to(audit));
}

/// Records an admin action; the parameters are the request as it came.
async fn record(state: &AppState, action: &str, parameters: serde_json::Value) -> Result<(), ApiError> {
    let entry = AuditEntry { time: state.clock.now(), action: action.to_string(), parameters };
    let store = state.store.clone();
    web::block(move || store.record_audit(&entry)).await?.map_err(|e| ApiError::Internal(e.into()))
}

fn to_json(value: &impl Serialize) -> serde_json::Value {
    serde_json::to_value(value).unwrap_or(serde_json::Value::Null)
}

#[utoipa::path(get, path = "/api/v1/market/status", tag = "market",
    responses((status = 200, description = "Whether the market is open or paused, and its speed", body = MarketStatus)))]
pub(super) async fn status(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(state.director.status())
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct NewsAccepted {
    pub status: &'static str,
    pub affected_symbols: Vec<String>,
}

#[utoipa::path(post, path = "/api/v1/admin/news", tag = "admin", request_body = NewsOrder,
    responses(
        (status = 202, description = "Published at once: stored, listed, pushed on the stream, and the scope moves", body = NewsAccepted),
        (status = 400, description = "Headline, impact or scope refused, with the reason", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "The body is not application/json", body = ErrorBody),
        (status = 422, description = "Input that does not fit the schema", body = ErrorBody),
        (status = 401, description = "Missing admin token", body = ErrorBody),
        (status = 403, description = "Wrong admin token", body = ErrorBody)
    ), security(("bearer" = [])))]
pub(super) async fn news(state: web::Data<AppState>, body: web::Json<NewsOrder>) -> Result<HttpResponse, ApiError> {
    let order = body.into_inner();
    let universe = state.market.universe().list();
    let members = order.validate(universe).map_err(ApiError::BadRequest)?;
    record(&state, "news", to_json(&order)).await?;
    let affected_symbols = members.all.iter().map(|&i| universe[i].symbol.clone()).collect();
    state.director.submit(Command::News(order));
    Ok(HttpResponse::Accepted().json(NewsAccepted { status: "accepted", affected_symbols }))
}

#[utoipa::path(post, path = "/api/v1/admin/market/pause", tag = "admin",
    responses(
        (status = 200, description = "Paused (or already paused): no ticks, new orders refused, a system frame on the stream", body = MarketStatus),
        (status = 401, description = "Missing admin token", body = ErrorBody),
        (status = 403, description = "Wrong admin token", body = ErrorBody)
    ), security(("bearer" = [])))]
pub(super) async fn pause(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    record(&state, "pause", serde_json::json!({})).await?;
    state.director.submit(Command::Pause);
    Ok(HttpResponse::Ok().json(state.director.status()))
}

#[utoipa::path(post, path = "/api/v1/admin/market/resume", tag = "admin",
    responses(
        (status = 200, description = "Open again, continuing from the last prices", body = MarketStatus),
        (status = 401, description = "Missing admin token", body = ErrorBody),
        (status = 403, description = "Wrong admin token", body = ErrorBody)
    ), security(("bearer" = [])))]
pub(super) async fn resume(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    record(&state, "resume", serde_json::json!({})).await?;
    state.director.submit(Command::Resume);
    Ok(HttpResponse::Ok().json(state.director.status()))
}

#[derive(Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SpeedBody {
    /// Seconds of market time per real second, 1 to 100.
    pub factor: u32,
}

#[utoipa::path(put, path = "/api/v1/admin/market/speed", tag = "admin", request_body = SpeedBody,
    responses(
        (status = 200, description = "The new speed: variance and drift per real second scale with it; timestamps stay real", body = MarketStatus),
        (status = 400, description = "A factor outside 1 to 100", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "The body is not application/json", body = ErrorBody),
        (status = 422, description = "Input that does not fit the schema", body = ErrorBody),
        (status = 401, description = "Missing admin token", body = ErrorBody),
        (status = 403, description = "Wrong admin token", body = ErrorBody)
    ), security(("bearer" = [])))]
pub(super) async fn speed(state: web::Data<AppState>, body: web::Json<SpeedBody>) -> Result<HttpResponse, ApiError> {
    let factor = body.factor;
    if !(1..=MAX_SPEED).contains(&factor) {
        return Err(ApiError::BadRequest(format!("factor must be between 1 and {MAX_SPEED}, got {factor}")));
    }
    record(&state, "speed", to_json(&body.into_inner())).await?;
    state.director.submit(Command::Speed(factor));
    Ok(HttpResponse::Ok().json(state.director.status()))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct RegimeCreated {
    pub id: String,
}

#[utoipa::path(get, path = "/api/v1/admin/regimes", tag = "admin",
    responses(
        (status = 200, description = "Scheduled, running and just finished regimes", body = [RegimeView]),
        (status = 401, description = "Missing admin token", body = ErrorBody),
        (status = 403, description = "Wrong admin token", body = ErrorBody)
    ), security(("bearer" = [])))]
pub(super) async fn regimes(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(state.director.regimes())
}

/// Validates and submits a regime under `id`.
async fn submit_regime(state: &AppState, mut order: RegimeOrder, id: String, action: &str) -> Result<(), ApiError> {
    order.id = Some(id);
    order.validate().map_err(ApiError::BadRequest)?;
    order.scope.resolve(state.market.universe().list()).map_err(ApiError::BadRequest)?;
    record(state, action, to_json(&order)).await?;
    state.director.submit(Command::Regime(order));
    Ok(())
}

#[utoipa::path(post, path = "/api/v1/admin/regimes", tag = "admin", request_body = RegimeOrder,
    responses(
        (status = 201, description = "Scheduled (or started now); an order with the id of a regime replaces it", body = RegimeCreated),
        (status = 400, description = "Kind, scope, timing or parameters refused, with the reason", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "The body is not application/json", body = ErrorBody),
        (status = 422, description = "Input that does not fit the schema", body = ErrorBody),
        (status = 401, description = "Missing admin token", body = ErrorBody),
        (status = 403, description = "Wrong admin token", body = ErrorBody)
    ), security(("bearer" = [])))]
pub(super) async fn add_regime(
    state: web::Data<AppState>,
    body: web::Json<RegimeOrder>,
) -> Result<HttpResponse, ApiError> {
    let order = body.into_inner();
    let id = order.id.clone().unwrap_or_else(|| state.director.next_regime_id());
    submit_regime(&state, order, id.clone(), "regime").await?;
    Ok(HttpResponse::Created().json(RegimeCreated { id }))
}

#[utoipa::path(put, path = "/api/v1/admin/regimes/{id}", tag = "admin", request_body = RegimeOrder,
    params(("id" = String, Path, description = "The regime to replace (or to create under this id)")),
    responses(
        (status = 200, description = "Replaced: the old regime stops where it stands and this one takes over", body = RegimeCreated),
        (status = 400, description = "Kind, scope, timing or parameters refused, with the reason", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "The body is not application/json", body = ErrorBody),
        (status = 422, description = "Input that does not fit the schema", body = ErrorBody),
        (status = 401, description = "Missing admin token", body = ErrorBody),
        (status = 403, description = "Wrong admin token", body = ErrorBody)
    ), security(("bearer" = [])))]
pub(super) async fn replace_regime(
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: web::Json<RegimeOrder>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    submit_regime(&state, body.into_inner(), id.clone(), "regime_replace").await?;
    Ok(HttpResponse::Ok().json(RegimeCreated { id }))
}

#[utoipa::path(delete, path = "/api/v1/admin/regimes/{id}", tag = "admin",
    params(("id" = String, Path, description = "The regime to cancel")),
    responses(
        (status = 204, description = "Cancelled: prices keep the level they reached and return to their baseline behaviour"),
        (status = 404, description = "No such regime", body = ErrorBody),
        (status = 401, description = "Missing admin token", body = ErrorBody),
        (status = 403, description = "Wrong admin token", body = ErrorBody)
    ), security(("bearer" = [])))]
pub(super) async fn cancel_regime(state: web::Data<AppState>, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    if !state.director.knows_regime(&id) {
        return Err(ApiError::NotFound(format!("no regime {id}")));
    }
    record(&state, "regime_cancel", serde_json::json!({ "id": id })).await?;
    state.director.submit(Command::CancelRegime(id));
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct LessonStarted {
    pub name: String,
    pub events: usize,
    pub starts_at: crate::domain::time::Timestamp,
}

#[utoipa::path(post, path = "/api/v1/admin/scenario", tag = "admin",
    request_body(content = String, description = "A lesson file's text (TOML, see scenarios/)", content_type = "text/plain"),
    responses(
        (status = 202, description = "The lesson's timeline starts now", body = LessonStarted),
        (status = 400, description = "Not a lesson, or an event refused: the reason names the event", body = ErrorBody),
        (status = 401, description = "Missing admin token", body = ErrorBody),
        (status = 403, description = "Wrong admin token", body = ErrorBody)
    ), security(("bearer" = [])))]
pub(super) async fn scenario(state: web::Data<AppState>, body: String) -> Result<HttpResponse, ApiError> {
    let lesson = Lesson::parse(&body, state.market.universe().list()).map_err(ApiError::BadRequest)?;
    let starts_at = state.clock.now();
    let parameters = serde_json::json!({ "name": lesson.name, "events": lesson.events.len(), "text": body });
    record(&state, "scenario", parameters).await?;
    for (at, command) in lesson.commands(starts_at) {
        state.director.submit_at(at, command);
    }
    Ok(HttpResponse::Accepted().json(LessonStarted { name: lesson.name, events: lesson.events.len(), starts_at }))
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct AuditQuery {
    /// Entries to return, newest first: 1 to 1000, default 100.
    limit: Option<usize>,
}

#[utoipa::path(get, path = "/api/v1/admin/audit", tag = "admin", params(AuditQuery),
    responses(
        (status = 200, description = "Admin actions, newest first: time, action, parameters", body = [AuditEntry]),
        (status = 401, description = "Missing admin token", body = ErrorBody),
        (status = 403, description = "Wrong admin token", body = ErrorBody),
        (status = 422, description = "A limit outside 1 to 1000", body = ErrorBody)
    ), security(("bearer" = [])))]
pub(super) async fn audit(state: web::Data<AppState>, query: web::Query<AuditQuery>) -> Result<HttpResponse, ApiError> {
    let limit = query.limit.unwrap_or(DEFAULT_AUDIT);
    if !(1..=MAX_AUDIT).contains(&limit) {
        return Err(ApiError::Unprocessable(format!("limit must be between 1 and {MAX_AUDIT}")));
    }
    let store = state.store.clone();
    let entries = web::block(move || store.audit(limit)).await?.map_err(|e| ApiError::Internal(e.into()))?;
    Ok(HttpResponse::Ok().json(entries))
}
