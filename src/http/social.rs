//! `/api/v1/social`: the app's profile and nickname routes, in the app's shapes.
//!
//! Routes are registered one by one, not as a scope, so other social routes (the leaderboard)
//! can live in files of their own.

use super::admin::same_secret;
use super::{ApiError, AppState, ErrorBody, authorize, bearer};
use crate::config::AuthMode;
use crate::domain::time::Timestamp;
use crate::social::profile::{DEFAULT_USERNAME, ProfileChange};
use crate::social::{Availability, ProfileCard, ProfileError};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/v1/social/profile/{uid}", web::get().to(get_profile))
        .route("/api/v1/social/profile/{uid}", web::put().to(put_profile))
        .route("/api/v1/social/username/check", web::get().to(check_username));
}

impl From<ProfileError> for ApiError {
    fn from(e: ProfileError) -> Self {
        match e {
            ProfileError::UsernameTaken | ProfileError::Rule(_) | ProfileError::BadUid => {
                ApiError::BadRequest(e.to_string())
            }
            ProfileError::Storage(source) => ApiError::Internal(source.into()),
        }
    }
}

/// The app's profile. This server runs no lessons, so the learning figures (XP, level, streaks,
/// courses, challenges) always hold their starting values.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ProfileView {
    pub firebase_uid: String,
    /// The class nickname; `Trader` until the student chooses one.
    pub username: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub avatar_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bio: Option<String>,
    /// Always 0: no lessons here.
    pub total_xp: i64,
    /// Always 0.
    pub weekly_xp: i64,
    /// Always 1.
    pub level: i64,
    /// Always 0.
    pub current_streak: i64,
    /// Always 0.
    pub longest_streak: i64,
    /// Filled orders.
    pub total_trades: i64,
    /// Always 0.
    pub total_courses_completed: i64,
    /// Always 0.
    pub total_challenges_completed: i64,
    /// The share of closed round trips (sells) whose proceeds beat the average cost they
    /// closed, from 0 to 1; 0 before the first sell.
    pub win_rate: f64,
    /// The latest order activity or profile change.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_activity_date: Option<Timestamp>,
    /// Shown only to the owner (a verified token) and the admin.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

impl ProfileView {
    fn of(uid: String, card: &ProfileCard, show_email: bool) -> ProfileView {
        let profile = card.profile.as_deref();
        ProfileView {
            firebase_uid: uid,
            username: profile.and_then(|p| p.username.as_deref()).unwrap_or(DEFAULT_USERNAME).to_string(),
            avatar_url: profile.and_then(|p| p.avatar_url.clone()),
            bio: profile.and_then(|p| p.bio.clone()),
            total_xp: 0,
            weekly_xp: 0,
            level: 1,
            current_streak: 0,
            longest_streak: 0,
            total_trades: card.stats.trades,
            total_courses_completed: 0,
            total_challenges_completed: 0,
            win_rate: card.stats.win_rate(),
            last_activity_date: card.last_activity(),
            email: profile.and_then(|p| p.email.clone()).filter(|_| show_email),
        }
    }
}

/// A `PUT` body: any of the fields; those left out (or null) stay as they are, an empty `bio`,
/// `avatar_url` or `email` removes it. Unknown fields are ignored.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct ProfileUpdate {
    /// 3 to 20 characters after trimming: letters, digits, `_`, `.`, `-`, starting with a
    /// letter or digit; unique in the class whatever the case; `Trader` is reserved.
    #[serde(default)]
    username: Option<String>,
    /// At most 280 characters.
    #[serde(default)]
    bio: Option<String>,
    /// An `http://` or `https://` address, at most 512 characters.
    #[serde(default)]
    avatar_url: Option<String>,
    /// At most 254 characters, shaped like `name@example.com`.
    #[serde(default)]
    email: Option<String>,
}

/// Whether the caller may see `uid`'s email: the admin, or the owner proven by a verified
/// token. In `open` mode a uid proves nothing, so nobody but the admin is shown it.
fn sees_email(req: &HttpRequest, state: &AppState, uid: &str) -> bool {
    let token = bearer(req);
    let admin =
        matches!((token, &state.admin_token), (Some(t), Some(admin)) if same_secret(t.as_bytes(), admin.as_bytes()));
    admin || (state.identity.mode() != AuthMode::Open && state.identity.authorize(token, uid).is_ok())
}

#[utoipa::path(get, path = "/api/v1/social/profile/{uid}", tag = "social",
    params(("uid" = String, Path, description = "The user's Firebase UID (1 to 128 characters)")),
    responses(
        (status = 200, description = "The profile; defaults for a student who never set one (nobody is registered by a read). Public; `email` only for the owner or the admin", body = ProfileView),
        (status = 400, description = "Invalid firebase_uid", body = ErrorBody),
        (status = 422, description = "Input that does not fit the schema", body = ErrorBody)),
    security((), ("bearer" = [])))]
pub(super) async fn get_profile(
    req: HttpRequest,
    state: web::Data<AppState>,
    uid: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let uid = uid.into_inner();
    let show_email = sees_email(&req, &state, &uid);
    let (data, who) = (state.clone(), uid.clone());
    let card = web::block(move || data.profiles.card(&who)).await??;
    Ok(HttpResponse::Ok().json(ProfileView::of(uid, &card, show_email)))
}

#[utoipa::path(put, path = "/api/v1/social/profile/{uid}", tag = "social",
    params(("uid" = String, Path, description = "The user's Firebase UID (1 to 128 characters)")),
    request_body = ProfileUpdate,
    responses(
        (status = 200, description = "The profile after the change", body = ProfileView),
        (status = 400, description = "`Username already taken`, or the rule a field breaks", body = ErrorBody),
        (status = 401, description = "Missing or invalid token (verified identity modes)", body = ErrorBody),
        (status = 403, description = "The token belongs to another user", body = ErrorBody),
        (status = 413, description = "Body larger than 16 KiB", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 422, description = "Input that does not fit the schema", body = ErrorBody)),
    security((), ("bearer" = [])))]
pub(super) async fn put_profile(
    req: HttpRequest,
    state: web::Data<AppState>,
    uid: web::Path<String>,
    body: web::Json<ProfileUpdate>,
) -> Result<HttpResponse, ApiError> {
    let uid = uid.into_inner();
    authorize(&req, &state, &uid)?;
    let body = body.into_inner();
    // Echoing the address the caller just sent reveals nothing; a stored one stays hidden.
    let show_email = body.email.is_some() || sees_email(&req, &state, &uid);
    let change =
        ProfileChange { username: body.username, bio: body.bio, avatar_url: body.avatar_url, email: body.email };
    let (data, who) = (state.clone(), uid.clone());
    let card = web::block(move || {
        data.profiles.update(&who, &change)?;
        data.profiles.card(&who)
    })
    .await??;
    Ok(HttpResponse::Ok().json(ProfileView::of(uid, &card, show_email)))
}

#[derive(Deserialize, utoipa::IntoParams)]
pub(super) struct UsernameQuery {
    /// The nickname to check (trimmed, compared without regard to case).
    username: String,
    /// Extension: the asker, whose own nickname counts as available to them.
    firebase_uid: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct UsernameCheck {
    pub available: bool,
    /// Extension: why not, when the name breaks a rule or is taken.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/social/username/check", tag = "social", params(UsernameQuery),
    responses(
        (status = 200, description = "Whether the nickname can be taken; a name that breaks a rule is not available, with the reason", body = UsernameCheck),
        (status = 422, description = "No username given", body = ErrorBody)))]
pub(super) async fn check_username(state: web::Data<AppState>, query: web::Query<UsernameQuery>) -> HttpResponse {
    let check = match state.profiles.availability(&query.username, query.firebase_uid.as_deref()) {
        Availability::Available => UsernameCheck { available: true, reason: None },
        Availability::Taken => {
            UsernameCheck { available: false, reason: Some(ProfileError::UsernameTaken.to_string()) }
        }
        Availability::Invalid(rule) => UsernameCheck { available: false, reason: Some(rule.to_string()) },
    };
    HttpResponse::Ok().json(check)
}
