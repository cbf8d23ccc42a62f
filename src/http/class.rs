//! The class: its rules (public, and the teacher's changes under `/api/v1/admin/`), joining
//! with the join code, the leaderboard, a student's performance and the teacher's report.

use super::{ApiError, AppState, ErrorBody, authorize};
use crate::class::SortKey;
use crate::class::standings::Standing;
use crate::domain::class::{Commission, Rules, RulesChange, SeasonState};
use crate::domain::instrument::Currency;
use crate::domain::time::Timestamp;
use crate::storage::ledger::from_cents;
use actix_web::{HttpRequest, HttpResponse, web};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Leaderboard lines returned when no `limit` is given, and the most one request may ask for.
const DEFAULT_LEADERBOARD: usize = 50;
const MAX_LEADERBOARD: usize = 1_000;
/// Performance points returned at most (the latest ones): a month of five-minute snapshots.
const MAX_POINTS: usize = 10_000;

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/v1/class", web::get().to(class))
        .route("/api/v1/class/join", web::post().to(join))
        .route("/api/v1/leaderboard", web::get().to(leaderboard))
        .route("/api/v1/portfolio/performance/{uid}", web::get().to(performance))
        .route("/api/v1/social/leaderboard", web::get().to(social_leaderboard));
}

/// Routes inside the admin scope, behind its token guard.
pub(super) fn admin_routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/class", web::get().to(admin_class))
        .route("/class", web::put().to(change_class))
        .route("/leaderboard", web::get().to(admin_leaderboard))
        .route("/report", web::get().to(report));
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct SeasonView {
    /// The season being played (1 until the teacher starts a new one).
    pub number: i32,
    pub start: Option<Timestamp>,
    pub end: Option<Timestamp>,
    pub state: SeasonState,
}

/// The class's rules as students see them (the join code itself is the teacher's).
#[derive(Serialize, utoipa::ToSchema)]
pub struct ClassView {
    pub name: String,
    pub join_code_required: bool,
    /// The join code: in the teacher's view only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub join_code: Option<String>,
    #[schema(value_type = BTreeMap<String, f64>)]
    pub starting_cash: BTreeMap<Currency, Decimal>,
    /// Markets and symbols open for trading; empty: everything.
    pub allowed: Vec<String>,
    pub commission: Commission,
    pub max_position_percent: Option<Decimal>,
    pub season: SeasonView,
    pub reporting_currency: Currency,
    /// The leaderboard's default order.
    pub leaderboard_sort: SortKey,
    /// Students whose maximum drawdown exceeds this rank after the others.
    pub drawdown_limit_percent: Option<f64>,
}

fn class_view(state: &AppState, rules: &Rules, teacher: bool) -> ClassView {
    let reporting = &state.class.reporting;
    ClassView {
        name: rules.name.clone(),
        join_code_required: rules.join_code.is_some(),
        join_code: rules.join_code.clone().filter(|_| teacher),
        starting_cash: rules.starting_cash.clone(),
        allowed: rules.allowed.clone(),
        commission: rules.commission,
        max_position_percent: rules.max_position_percent,
        season: SeasonView {
            number: state.trading.season(),
            start: rules.season_start,
            end: rules.season_end,
            state: rules.season_state(state.clock.now()),
        },
        reporting_currency: reporting.fx.reporting,
        leaderboard_sort: reporting.default_sort,
        drawdown_limit_percent: reporting.drawdown_limit_percent,
    }
}

#[utoipa::path(get, path = "/api/v1/class", tag = "class",
    responses((status = 200, description = "The class's rules", body = ClassView)))]
pub(super) async fn class(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(class_view(&state, &state.class.rules(), false))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JoinBody {
    pub firebase_uid: String,
    #[serde(default)]
    pub join_code: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Joined {
    pub status: &'static str,
    pub class: String,
}

#[utoipa::path(post, path = "/api/v1/class/join", tag = "class", request_body = JoinBody,
    responses(
        (status = 200, description = "Joined (joining again is harmless)", body = Joined),
        (status = 400, description = "Bad uid", body = ErrorBody),
        (status = 401, description = "Missing or invalid token (identity modes)", body = ErrorBody),
        (status = 403, description = "Wrong join code, or another user's token", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 422, description = "Malformed body", body = ErrorBody)
    ))]
pub(super) async fn join(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<JoinBody>,
) -> Result<HttpResponse, ApiError> {
    authorize(&req, &state, &body.firebase_uid)?;
    state.trading.join(&body.firebase_uid, &body.join_code).await?;
    Ok(HttpResponse::Ok().json(Joined { status: "joined", class: state.class.rules().name.clone() }))
}

#[utoipa::path(get, path = "/api/v1/admin/class", tag = "admin",
    responses(
        (status = 200, description = "The class's rules with the join code", body = ClassView),
        (status = 401, description = "Missing admin token", body = ErrorBody),
        (status = 403, description = "Wrong admin token", body = ErrorBody),
        (status = 404, description = "Admin routes are off", body = ErrorBody)
    ), security(("bearer" = [])))]
pub(super) async fn admin_class(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(class_view(&state, &state.class.rules(), true))
}

#[utoipa::path(put, path = "/api/v1/admin/class", tag = "admin", request_body = RulesChange,
    responses(
        (status = 200, description = "The rules now in force (from this moment on; recorded in the audit log)", body = ClassView),
        (status = 401, description = "Missing admin token", body = ErrorBody),
        (status = 403, description = "Wrong admin token", body = ErrorBody),
        (status = 404, description = "Admin routes are off", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 422, description = "A rule that cannot apply, with the reason", body = ErrorBody)
    ), security(("bearer" = [])))]
pub(super) async fn change_class(
    state: web::Data<AppState>,
    body: web::Json<RulesChange>,
) -> Result<HttpResponse, ApiError> {
    let data = state.clone();
    let change = body.into_inner();
    let rules = web::block(move || data.class.change(&change, &data.store, data.clock.as_ref())).await?.map_err(
        |e| match e {
            crate::class::ClassError::Invalid(reason) => ApiError::Unprocessable(reason),
            crate::class::ClassError::Storage(e) => ApiError::Internal(e.into()),
        },
    )?;
    Ok(HttpResponse::Ok().json(class_view(&state, &rules, true)))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct LeaderboardQuery {
    /// `sharpe`, `return` or `value`; default: the class's (`leaderboard_sort`).
    pub sort: Option<String>,
    /// Lines returned, 1 to 1000; default 50.
    pub limit: Option<usize>,
    /// An archived season's final standings. Default: the current season.
    pub season: Option<i32>,
}

/// One line of the leaderboard. Measures are `null` until a student has enough snapshots.
#[derive(Serialize, utoipa::ToSchema)]
pub struct LeaderboardLine {
    pub rank: usize,
    pub nickname: String,
    /// In the teacher's view only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub firebase_uid: Option<String>,
    /// Total value in the reporting currency.
    pub value: Decimal,
    pub return_percent: f64,
    pub max_drawdown_percent: f64,
    pub volatility_percent: Option<f64>,
    pub sharpe: Option<f64>,
    pub trades: u64,
    /// False when the maximum drawdown exceeds the class's limit (ranked after the others).
    pub within_drawdown_limit: bool,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct LeaderboardView {
    pub sort: SortKey,
    pub currency: Currency,
    pub season: SeasonState,
    /// Which season these standings are of (the current one unless `season` was asked for).
    pub season_number: i32,
    pub students: usize,
    pub lines: Vec<LeaderboardLine>,
}

async fn leaderboard_view(
    state: &web::Data<AppState>,
    query: &LeaderboardQuery,
    teacher: bool,
) -> Result<LeaderboardView, ApiError> {
    let sort = match query.sort.as_deref() {
        None => state.class.reporting.default_sort,
        Some(text) => SortKey::parse(text)
            .ok_or_else(|| ApiError::Unprocessable(format!("sort must be sharpe, return or value, not {text:?}")))?,
    };
    let limit = query.limit.unwrap_or(DEFAULT_LEADERBOARD);
    if !(1..=MAX_LEADERBOARD).contains(&limit) {
        return Err(ApiError::Unprocessable(format!("limit must be 1 to {MAX_LEADERBOARD}")));
    }
    let current = state.trading.season();
    let (season_number, season, table) = match query.season {
        Some(n) if n != current => {
            let data = state.clone();
            let table = web::block(move || data.standings.archived(n))
                .await?
                .map_err(|e| ApiError::Internal(e.into()))?
                .ok_or(crate::trading::TradeError::UnknownSeason(n))?;
            (n, SeasonState::Ended, table)
        }
        _ => {
            let table = state.standings.table().map_err(|e| ApiError::Internal(e.into()))?;
            (table.season, state.class.rules().season_state(state.clock.now()), table)
        }
    };
    let lines = table.ranked(sort).take(limit).cloned().enumerate().map(|(i, s)| line(i + 1, s, teacher)).collect();
    Ok(LeaderboardView {
        sort,
        currency: state.class.reporting.fx.reporting,
        season,
        season_number,
        students: table.lines.len(),
        lines,
    })
}

fn line(rank: usize, s: Standing, teacher: bool) -> LeaderboardLine {
    LeaderboardLine {
        rank,
        nickname: s.nickname,
        firebase_uid: teacher.then_some(s.uid),
        value: s.value,
        return_percent: round2(s.measures.return_percent),
        max_drawdown_percent: round2(s.measures.max_drawdown_percent),
        volatility_percent: s.measures.volatility_percent.map(round2),
        sharpe: s.measures.sharpe.map(round2),
        trades: s.trades,
        within_drawdown_limit: s.within_limit,
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

#[utoipa::path(get, path = "/api/v1/leaderboard", tag = "class", params(LeaderboardQuery),
    responses(
        (status = 200, description = "The class ranked (nicknames only)", body = LeaderboardView),
        (status = 404, description = "No such season", body = ErrorBody),
        (status = 422, description = "Bad sort or limit", body = ErrorBody)
    ))]
pub(super) async fn leaderboard(
    state: web::Data<AppState>,
    query: web::Query<LeaderboardQuery>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(leaderboard_view(&state, &query, false).await?))
}

#[utoipa::path(get, path = "/api/v1/admin/leaderboard", tag = "admin", params(LeaderboardQuery),
    responses(
        (status = 200, description = "The class ranked, with each student's uid", body = LeaderboardView),
        (status = 401, description = "Missing admin token", body = ErrorBody),
        (status = 403, description = "Wrong admin token", body = ErrorBody),
        (status = 404, description = "Admin routes are off, or no such season", body = ErrorBody),
        (status = 422, description = "Bad sort or limit", body = ErrorBody)
    ), security(("bearer" = [])))]
pub(super) async fn admin_leaderboard(
    state: web::Data<AppState>,
    query: web::Query<LeaderboardQuery>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(leaderboard_view(&state, &query, true).await?))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct PointView {
    pub time: Timestamp,
    pub value: Decimal,
}

/// A student's value over time and its risk measures. The last point is the value now.
#[derive(Serialize, utoipa::ToSchema)]
pub struct PerformanceView {
    pub firebase_uid: String,
    pub currency: Currency,
    pub opening_value: Decimal,
    pub value: Decimal,
    pub return_percent: f64,
    pub max_drawdown_percent: f64,
    /// Annualised by the series' calendar span; null until there are three snapshots.
    pub volatility_percent: Option<f64>,
    /// Mean over standard deviation of the snapshot returns, annualised, risk-free rate 0.
    pub sharpe: Option<f64>,
    pub points: Vec<PointView>,
}

#[utoipa::path(get, path = "/api/v1/portfolio/performance/{uid}", tag = "portfolio",
    params(("uid" = String, Path, description = "firebase_uid")),
    responses(
        (status = 200, description = "Value series and risk measures in the reporting currency", body = PerformanceView),
        (status = 400, description = "Bad uid", body = ErrorBody),
        (status = 401, description = "Missing or invalid token (identity modes)", body = ErrorBody),
        (status = 403, description = "Another user's token", body = ErrorBody)
    ))]
pub(super) async fn performance(
    req: HttpRequest,
    state: web::Data<AppState>,
    uid: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    authorize(&req, &state, &uid)?;
    crate::trading::validate_uid(&uid)?;
    let data = state.clone();
    let owned = uid.clone();
    let (standing, stored) = web::block(move || {
        let standing = data.standings.of(&owned)?;
        let season = data.trading.season();
        data.store.snapshots_of(&owned, season, Timestamp(i64::MIN), MAX_POINTS).map(|points| (standing, points))
    })
    .await?
    .map_err(|e| ApiError::Internal(e.into()))?;
    let mut points: Vec<PointView> =
        stored.into_iter().map(|(time, cents)| PointView { time, value: from_cents(cents) }).collect();
    let frozen = state.class.rules().season_state(state.clock.now()) == SeasonState::Ended;
    if !frozen {
        points.push(PointView { time: state.clock.now(), value: standing.value });
    }
    let m = standing.measures;
    Ok(HttpResponse::Ok().json(PerformanceView {
        firebase_uid: uid.into_inner(),
        currency: state.class.reporting.fx.reporting,
        opening_value: standing.opening,
        value: standing.value,
        return_percent: round2(m.return_percent),
        max_drawdown_percent: round2(m.max_drawdown_percent),
        volatility_percent: m.volatility_percent.map(round2),
        sharpe: m.sharpe.map(round2),
        points,
    }))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ReportQuery {
    /// `json` (default) or `csv`.
    pub format: Option<String>,
}

/// One student in the teacher's report.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ReportLine {
    pub firebase_uid: String,
    pub nickname: String,
    pub trades: u64,
    /// Commissions paid per currency.
    #[schema(value_type = BTreeMap<String, f64>)]
    pub commissions: BTreeMap<Currency, Decimal>,
    pub value: Decimal,
    pub return_percent: f64,
    pub max_drawdown_percent: f64,
    pub last_activity: Option<Timestamp>,
}

#[utoipa::path(get, path = "/api/v1/admin/report", tag = "admin", params(ReportQuery),
    responses(
        (status = 200, description = "Per student: trades, commissions, value, return, drawdown, last activity (JSON, or CSV with format=csv)", body = Vec<ReportLine>),
        (status = 401, description = "Missing admin token", body = ErrorBody),
        (status = 403, description = "Wrong admin token", body = ErrorBody),
        (status = 404, description = "Admin routes are off", body = ErrorBody),
        (status = 422, description = "Bad format", body = ErrorBody)
    ), security(("bearer" = [])))]
pub(super) async fn report(
    state: web::Data<AppState>,
    query: web::Query<ReportQuery>,
) -> Result<HttpResponse, ApiError> {
    let csv = match query.format.as_deref() {
        None | Some("json") => false,
        Some("csv") => true,
        Some(other) => return Err(ApiError::Unprocessable(format!("format must be json or csv, not {other:?}"))),
    };
    let data = state.clone();
    let summaries = web::block(move || data.store.trade_summaries(data.trading.season()))
        .await?
        .map_err(|e| ApiError::Internal(e.into()))?;
    let summaries: BTreeMap<String, _> = summaries.into_iter().map(|s| (s.uid.clone(), s)).collect();
    let table = state.standings.table().map_err(|e| ApiError::Internal(e.into()))?;
    let lines: Vec<ReportLine> = table
        .ranked(SortKey::Value)
        .cloned()
        .map(|s| {
            let summary = summaries.get(&s.uid);
            let commissions = Currency::ALL
                .iter()
                .enumerate()
                .map(|(i, c)| (*c, summary.map_or(Decimal::ZERO, |t| from_cents(t.commission_cents[i]))))
                .collect();
            ReportLine {
                nickname: s.nickname.clone(),
                trades: s.trades,
                commissions,
                value: s.value,
                return_percent: round2(s.measures.return_percent),
                max_drawdown_percent: round2(s.measures.max_drawdown_percent),
                last_activity: summary.map(|t| t.last_fill),
                firebase_uid: s.uid,
            }
        })
        .collect();
    if !csv {
        return Ok(HttpResponse::Ok().json(lines));
    }
    let mut text = String::from(
        "firebase_uid,nickname,trades,commission_inr,commission_usd,commission_gbp,value,return_percent,max_drawdown_percent,last_activity\n",
    );
    for l in &lines {
        let c = |currency| l.commissions.get(&currency).copied().unwrap_or_default();
        text.push_str(&format!(
            "{},{},{},{},{},{},{},{},{},{}\n",
            csv_field(&l.firebase_uid),
            csv_field(&l.nickname),
            l.trades,
            c(Currency::Inr),
            c(Currency::Usd),
            c(Currency::Gbp),
            l.value,
            l.return_percent,
            l.max_drawdown_percent,
            l.last_activity.map(Timestamp::to_rfc3339).unwrap_or_default()
        ));
    }
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header(("Content-Disposition", "attachment; filename=\"class-report.csv\""))
        .body(text))
}

/// A CSV field, quoted when it holds a separator, a quote or a line break; a leading formula
/// character is neutralised so a spreadsheet shows text, not a formula.
fn csv_field(text: &str) -> String {
    let text = if text.starts_with(['=', '+', '-', '@']) { format!("'{text}") } else { text.to_string() };
    if text.contains([',', '"', '\n', '\r']) { format!("\"{}\"", text.replace('"', "\"\"")) } else { text }
}

/// Lines of the app's leaderboard by default, and at most (`../shared/API.md`).
const DEFAULT_SOCIAL: usize = 50;
const MAX_SOCIAL: usize = 100;
/// What "weekly" looks back over.
const WEEK_MICROS: i64 = 7 * crate::domain::time::MICROS_PER_DAY;

#[derive(Deserialize, utoipa::IntoParams)]
pub struct SocialLeaderboardQuery {
    /// `xp` (default: the class's own measure, since this server awards no XP; `streak` too),
    /// `trades` or `win_rate`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// `allTime` (default) or `weekly` (the class's measure becomes the week's return; `trades`
    /// and `win_rate` stay all-time).
    pub period: Option<String>,
    /// 1 to 100; default 50.
    pub limit: Option<usize>,
}

/// An entry of the app's leaderboard. XP, level and streaks are this server's zero values: it
/// runs no lessons.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SocialEntry {
    /// Empty in `open` identity mode, where a uid is all it takes to trade as someone.
    pub firebase_uid: String,
    pub username: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub avatar_url: Option<String>,
    pub level: u32,
    pub total_xp: u64,
    pub weekly_xp: u64,
    pub current_streak: u32,
    pub total_trades: u64,
    pub win_rate: f64,
    pub rank: usize,
}

#[utoipa::path(get, path = "/api/v1/social/leaderboard", tag = "social", params(SocialLeaderboardQuery),
    responses(
        (status = 200, description = "The class ranked, in the app's entry shape, best first", body = Vec<SocialEntry>),
        (status = 422, description = "Bad type, period or limit", body = ErrorBody)
    ))]
pub(super) async fn social_leaderboard(
    state: web::Data<AppState>,
    query: web::Query<SocialLeaderboardQuery>,
) -> Result<HttpResponse, ApiError> {
    let kind = query.kind.as_deref().unwrap_or("xp");
    if !["xp", "trades", "streak", "win_rate"].contains(&kind) {
        return Err(ApiError::Unprocessable(format!("type must be xp, trades, streak or win_rate, not {kind:?}")));
    }
    let weekly = match query.period.as_deref() {
        None | Some("allTime") => false,
        Some("weekly") => true,
        Some(other) => return Err(ApiError::Unprocessable(format!("period must be weekly or allTime, not {other:?}"))),
    };
    let limit = query.limit.unwrap_or(DEFAULT_SOCIAL);
    if !(1..=MAX_SOCIAL).contains(&limit) {
        return Err(ApiError::Unprocessable(format!("limit must be 1 to {MAX_SOCIAL}")));
    }
    let week_ago = Timestamp(state.clock.now().0 - WEEK_MICROS);
    let data = state.clone();
    let (stats, week_start) = web::block(move || {
        let season = data.trading.season();
        let stats = data.store.all_trade_stats(season)?;
        let week_start = if weekly { data.store.values_since(season, week_ago)? } else { Default::default() };
        Ok::<_, crate::storage::StorageError>((stats, week_start))
    })
    .await?
    .map_err(|e| ApiError::Internal(e.into()))?;
    let table = state.standings.table().map_err(|e| ApiError::Internal(e.into()))?;
    let win_rate = |uid: &str| stats.get(uid).map_or(0.0, |s| s.win_rate());
    let mut lines: Vec<Standing> = table.ranked(state.class.reporting.default_sort).cloned().collect();
    match kind {
        "trades" => lines.sort_by_key(|s| std::cmp::Reverse(s.trades)),
        "win_rate" => lines.sort_by(|a, b| win_rate(&b.uid).total_cmp(&win_rate(&a.uid))),
        _ if weekly => {
            let week_return = |s: &Standing| {
                let start = week_start.get(&s.uid).map_or(s.opening, |cents| from_cents(*cents));
                if start.is_zero() { 0.0 } else { crate::domain::valuation::as_f64(s.value / start) }
            };
            lines.sort_by(|a, b| week_return(b).total_cmp(&week_return(a)));
        }
        _ => {}
    }
    let open = state.identity.mode() == crate::config::AuthMode::Open;
    let entries: Vec<SocialEntry> = lines
        .into_iter()
        .take(limit)
        .enumerate()
        .map(|(i, s)| SocialEntry {
            firebase_uid: if open { String::new() } else { s.uid.clone() },
            avatar_url: state.profiles.profile(&s.uid).and_then(|p| p.avatar_url.clone()),
            level: 1,
            total_xp: 0,
            weekly_xp: 0,
            current_streak: 0,
            total_trades: s.trades,
            win_rate: win_rate(&s.uid),
            rank: i + 1,
            username: s.nickname,
        })
        .collect();
    Ok(HttpResponse::Ok().json(entries))
}
