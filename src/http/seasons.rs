//! Seasons: the list (public), and the teacher's reset and its undo under `/api/v1/admin/`.

use super::{ApiError, AppState, ErrorBody};
use crate::domain::time::Timestamp;
use crate::live::bus::Topic;
use crate::trading::{SeasonChange, SeasonSwitch};
use actix_web::{HttpResponse, web};
use serde::Serialize;

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/v1/class/seasons", web::get().to(seasons));
}

/// Routes inside the admin scope, behind its token guard.
pub(super) fn admin_routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/season", web::post().to(new_season)).route("/season/undo", web::post().to(undo_season));
}

/// A season: the current one, or an archived one (its orders and final standings are read with
/// `?season=N` on the order and leaderboard routes).
#[derive(Serialize, utoipa::ToSchema)]
pub struct SeasonListing {
    pub season: i32,
    pub started_at: Timestamp,
    /// Null for the current season.
    pub ended_at: Option<Timestamp>,
    pub current: bool,
    /// Students with an account in it.
    pub students: i64,
    /// Fills in it.
    pub trades: i64,
}

#[utoipa::path(get, path = "/api/v1/class/seasons", tag = "class",
    responses((status = 200, description = "Every season, oldest first; the last is current", body = [SeasonListing])))]
pub(super) async fn seasons(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let store = state.store.clone();
    let seasons = web::block(move || store.seasons()).await?.map_err(|e| ApiError::Internal(e.into()))?;
    let listed: Vec<SeasonListing> = seasons
        .into_iter()
        .map(|s| SeasonListing {
            season: s.season,
            started_at: s.started_at,
            ended_at: s.ended_at,
            current: s.ended_at.is_none(),
            students: s.students,
            trades: s.trades,
        })
        .collect();
    Ok(HttpResponse::Ok().json(listed))
}

/// A season reset, or its undo.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SeasonChanged {
    /// The season now being played.
    pub season: i32,
    /// The season just archived (a reset).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub archived: Option<i32>,
    /// The season just discarded (an undo).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub discarded: Option<i32>,
    pub at: Timestamp,
    /// Accounts in the season now being played.
    pub students: usize,
}

impl SeasonChanged {
    fn of(change: SeasonChange, switch: SeasonSwitch) -> Self {
        let previous = Some(switch.previous);
        SeasonChanged {
            season: switch.current,
            archived: previous.filter(|_| change == SeasonChange::New),
            discarded: previous.filter(|_| change == SeasonChange::Undo),
            at: switch.at,
            students: switch.students,
        }
    }
}

/// Makes a change and tells every stream client (a `system` frame with `event: "season"`), so
/// pages show the season now being played without waiting for their next refresh.
async fn change(state: web::Data<AppState>, change: SeasonChange) -> Result<HttpResponse, ApiError> {
    let switch = state.trading.change_season(change).await?;
    let message = match change {
        SeasonChange::New => format!("Season {} started: every student starts afresh", switch.current),
        SeasonChange::Undo => format!("Season {} is back, as it was", switch.current),
    };
    let frame = serde_json::json!({"type": "system", "event": "season", "season": switch.current, "message": message});
    state.bus.publish(Topic::System, frame.to_string().into_bytes());
    Ok(HttpResponse::Ok().json(SeasonChanged::of(change, switch)))
}

#[utoipa::path(post, path = "/api/v1/admin/season", tag = "admin",
    responses(
        (status = 200, description = "The season was archived whole (accounts, orders, final values, rules) and a new one started with fresh accounts for every student under the rules now; recorded in the audit log", body = SeasonChanged),
        (status = 401, description = "Missing admin token", body = ErrorBody),
        (status = 403, description = "Wrong admin token", body = ErrorBody),
        (status = 404, description = "Admin routes are off", body = ErrorBody),
        (status = 503, description = "The ledger is unavailable; nothing changed", body = ErrorBody)
    ), security(("bearer" = [])))]
pub(super) async fn new_season(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    change(state, SeasonChange::New).await
}

#[utoipa::path(post, path = "/api/v1/admin/season/undo", tag = "admin",
    responses(
        (status = 200, description = "The new season was discarded and the archived one is current again, as it was", body = SeasonChanged),
        (status = 401, description = "Missing admin token", body = ErrorBody),
        (status = 403, description = "Wrong admin token", body = ErrorBody),
        (status = 404, description = "Admin routes are off", body = ErrorBody),
        (status = 409, description = "No archived season, or the new season has orders already (code season_has_orders)", body = ErrorBody),
        (status = 503, description = "The ledger is unavailable; nothing changed", body = ErrorBody)
    ), security(("bearer" = [])))]
pub(super) async fn undo_season(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    change(state, SeasonChange::Undo).await
}
