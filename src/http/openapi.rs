//! `GET /openapi.json` and the interactive documentation at `/docs/`.
//!
//! The document is generated from the handlers' annotations and the wire types themselves, so
//! it cannot drift from the routes. The documentation page's assets (Swagger UI) are compiled
//! into the binary: it works on a laptop with no internet.

use super::{
    admin, class, director, export, health, market, metrics, order_book, orders, portfolio, seasons, session, social,
    stream,
};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_swagger_ui::SwaggerUi;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "FinLearn Market",
        description = "Market simulator and paper-trading API of the FinLearn app. Errors are {\"detail\": \"...\"}; market routes use camelCase, trading routes snake_case."
    ),
    paths(
        health::health,
        health::root,
        market::instruments,
        market::quote,
        market::quotes,
        market::history,
        market::news,
        stream::connect,
        orders::place,
        order_book::list,
        order_book::one,
        order_book::cancel,
        order_book::replace,
        portfolio::positions,
        portfolio::orders,
        portfolio::watchlist,
        portfolio::watch_add,
        portfolio::watch_remove,
        metrics::metrics,
        admin::status,
        session::config,
        director::status,
        director::news,
        director::pause,
        director::resume,
        director::speed,
        director::regimes,
        director::add_regime,
        director::replace_regime,
        director::cancel_regime,
        director::scenario,
        director::audit,
        class::class,
        class::join,
        class::leaderboard,
        class::performance,
        class::admin_class,
        class::change_class,
        class::admin_leaderboard,
        class::report,
        class::social_leaderboard,
        seasons::seasons,
        seasons::new_season,
        seasons::undo_season,
        social::get_profile,
        social::put_profile,
        social::check_username,
        export::download,
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "market", description = "Instruments, quotes, charts, news and the live stream"),
        (name = "trading", description = "Paper trading: orders, portfolio and watchlist"),
        (name = "health", description = "Liveness"),
        (name = "operations", description = "Metrics for operators"),
        (name = "admin", description = "Classroom administration, behind the admin token"),
        (name = "class", description = "The class: its rules, joining, the leaderboard"),
        (name = "session", description = "What a browser client needs to know to sign a student in"),
        (name = "social", description = "Profiles and class nicknames, in the app's shapes"),
    )
)]
pub struct ApiDoc;

/// Declares the bearer scheme the verified identity modes and the admin routes use.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("bearer", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)));
    }
}

pub(super) fn configure(cfg: &mut actix_web::web::ServiceConfig) {
    // People type `/docs`; the page lives at `/docs/` (its assets are relative to it).
    cfg.route(
        "/docs",
        actix_web::web::get().to(|| async {
            actix_web::HttpResponse::PermanentRedirect().insert_header(("Location", "/docs/")).finish()
        }),
    )
    .service(SwaggerUi::new("/docs/{_:.*}").url("/openapi.json", ApiDoc::openapi()));
}
