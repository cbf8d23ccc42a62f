//! The operator's surface: metrics, the API description and its documentation page, and the
//! limits that keep one client from costing the server much.

mod common;

use common::*;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::sync::OnceLock;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

fn server() -> &'static TestServer {
    static SERVER: OnceLock<TestServer> = OnceLock::new();
    SERVER.get_or_init(|| {
        let config = format!("{SMALL_MARKET}\n[simulation]\nseed_days = 0.1\ntick_min_ms = 100\ntick_max_ms = 200\n");
        TestServer::start(&config, &shared_dir().join("operations.duckdb"), 21)
    })
}

async fn text(s: &TestServer, path: &str) -> (u16, String, String) {
    s.get_text(path).await
}

/// The value of the sample `name` (with its labels, if any) in a text exposition.
fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

#[actix_web::test]
async fn metrics_count_ticks_requests_orders_and_clients() {
    let s = server();
    s.get_ok("/api/v1/market/quote/AAPL").await;
    let order = json!({"firebase_uid": "m1", "symbol": "AAPL", "side": "sell", "quantity": 1, "market": "usa"});
    assert_eq!(s.post("/api/v1/orders/place", order).await.0, 400);
    let mut socket = connect(&s.ws).await;
    next_json(&mut socket, 5).await;

    let (status, content_type, body) = text(s, "/metrics").await;
    assert_eq!(status, 200);
    assert!(content_type.starts_with("application/openmetrics-text"), "{content_type}");
    assert!(sample(&body, "finlearn_ticks_generated_total").unwrap() > 0.0, "{body}");
    let route = r#"finlearn_http_requests_total{route="/api/v1/market/quote/{symbol}",method="GET",status="200"}"#;
    assert!(sample(&body, route).unwrap() >= 1.0, "{body}");
    assert!(
        sample(&body, r#"finlearn_orders_refused_total{reason="insufficient_holdings"}"#).unwrap() >= 1.0,
        "{body}"
    );
    assert!(sample(&body, "finlearn_ws_clients").unwrap() >= 1.0, "{body}");
    assert!(sample(&body, "finlearn_database_size_bytes").unwrap() > 0.0, "{body}");
    for family in
        ["finlearn_http_request_duration_seconds", "finlearn_writer_flush_seconds", "finlearn_writer_batch_ticks"]
    {
        assert!(body.contains(&format!("# TYPE {family} histogram")), "{family} missing:\n{body}");
    }
    // Raw paths never become labels: an unknown path is counted as "unmatched".
    let (status, body) = s.get("/no/such/path").await;
    assert_eq!(status, 404);
    assert_string(&body, "detail");
    let (_, _, body) = text(s, "/metrics").await;
    assert!(body.contains(r#"route="unmatched""#) && !body.contains("/no/such/path"));
}

/// Every route of the API contract, as (method, OpenAPI path).
const ROUTES: &[(&str, &str)] = &[
    ("get", "/health"),
    ("get", "/"),
    ("get", "/api/v1/market/instruments"),
    ("get", "/api/v1/market/quote/{symbol}"),
    ("get", "/api/v1/market/quotes"),
    ("get", "/api/v1/market/history/{symbol}"),
    ("get", "/api/v1/market/news"),
    ("get", "/ws/market/stream"),
    ("post", "/api/v1/orders/place"),
    ("get", "/api/v1/orders/{uid}"),
    ("get", "/api/v1/orders/{uid}/{order_id}"),
    ("delete", "/api/v1/orders/{uid}/{order_id}"),
    ("patch", "/api/v1/orders/{uid}/{order_id}"),
    ("get", "/api/v1/portfolio/positions/{uid}"),
    ("get", "/api/v1/portfolio/orders/{uid}"),
    ("get", "/api/v1/portfolio/watchlist/{uid}"),
    ("post", "/api/v1/portfolio/watchlist/{uid}/{symbol}"),
    ("delete", "/api/v1/portfolio/watchlist/{uid}/{symbol}"),
    ("get", "/metrics"),
    ("get", "/api/v1/admin/status"),
    ("get", "/api/v1/session/config"),
    ("get", "/api/v1/market/status"),
    ("post", "/api/v1/admin/news"),
    ("post", "/api/v1/admin/market/pause"),
    ("post", "/api/v1/admin/market/resume"),
    ("put", "/api/v1/admin/market/speed"),
    ("get", "/api/v1/admin/regimes"),
    ("post", "/api/v1/admin/regimes"),
    ("put", "/api/v1/admin/regimes/{id}"),
    ("delete", "/api/v1/admin/regimes/{id}"),
    ("post", "/api/v1/admin/scenario"),
    ("get", "/api/v1/admin/audit"),
    ("get", "/api/v1/class"),
    ("post", "/api/v1/class/join"),
    ("get", "/api/v1/leaderboard"),
    ("get", "/api/v1/portfolio/performance/{uid}"),
    ("get", "/api/v1/admin/class"),
    ("put", "/api/v1/admin/class"),
    ("get", "/api/v1/admin/leaderboard"),
    ("get", "/api/v1/admin/report"),
    ("get", "/api/v1/class/seasons"),
    ("post", "/api/v1/admin/season"),
    ("post", "/api/v1/admin/season/undo"),
    ("get", "/api/v1/admin/export/{what}"),
    ("get", "/api/v1/social/leaderboard"),
    ("get", "/api/v1/social/profile/{uid}"),
    ("put", "/api/v1/social/profile/{uid}"),
    ("get", "/api/v1/social/username/check"),
];

#[actix_web::test]
async fn the_openapi_document_lists_every_route_and_each_exists() {
    let s = server();
    let doc = s.get_ok("/openapi.json").await;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let documented: BTreeSet<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, ops)| ops.as_object().unwrap().keys().map(move |m| (m.clone(), path.clone())))
        .collect();
    let expected: BTreeSet<(String, String)> = ROUTES.iter().map(|(m, p)| (m.to_string(), p.to_string())).collect();
    assert_eq!(documented, expected);

    // Each documented route is served: filled in, it answers something other than 404/405.
    for (method, path) in ROUTES {
        if path.contains("admin") {
            continue; // off without an admin token: 404 by design, checked in tests/identity.rs
        }
        let concrete = path.replace("{symbol}", "AAPL").replace("{uid}", "doc-user");
        let body = (*method == "post" && path.ends_with("place")).then(|| json!({}));
        let (status, _) = s.send(&method.to_uppercase(), &concrete, body).await;
        assert!(status != 404 && status != 405, "{method} {concrete}: {status}");
    }

    // The wire shapes are in the document too.
    let schemas = &doc["components"]["schemas"];
    for (schema, field) in [
        ("MarketSnapshot", "previousClose"),
        ("Candle", "close"),
        ("PlacedView", "new_balance"),
        ("OrderView", "filled_at"),
        ("PlacedView", "order_id"),
        ("OrderDetailView", "time_in_force"),
        ("PortfolioView", "held"),
        ("ProfileView", "win_rate"),
        ("UsernameCheck", "available"),
    ] {
        assert!(schemas[schema]["properties"][field].is_object(), "{schema}.{field} missing");
    }
}

#[actix_web::test]
async fn the_documentation_page_is_served_from_the_binary() {
    let s = server();
    let (status, content_type, page) = text(s, "/docs/").await;
    assert_eq!(status, 200);
    assert!(content_type.starts_with("text/html"), "{content_type}");
    assert!(page.contains("swagger-ui"), "{page}");
    // Nothing is fetched from the internet: every script and stylesheet is local.
    for attribute in ["src=\"http", "href=\"http"] {
        assert!(!page.contains(attribute), "external asset in {page}");
    }
    for asset in ["/docs/swagger-ui.css", "/docs/swagger-ui-bundle.js", "/docs/swagger-initializer.js"] {
        let (status, _, body) = text(s, asset).await;
        assert_eq!(status, 200, "{asset}");
        assert!(body.len() > 100, "{asset}");
    }
    let (_, _, init) = text(s, "/docs/swagger-initializer.js").await;
    assert!(init.contains("/openapi.json"), "{init}");
}

#[actix_web::test]
async fn quotes_refuse_more_symbols_than_the_limit() {
    let s = server();
    let many: Vec<String> = (0..=200).map(|i| format!("S{i}")).collect();
    let (status, body) = s.get(&format!("/api/v1/market/quotes?symbols={}", many.join(","))).await;
    assert_eq!(status, 422, "{body}");
    assert_string(&body, "detail");
    let fine = s.get_ok(&format!("/api/v1/market/quotes?symbols=AAPL,{}", many[..199].join(","))).await;
    assert_eq!(fine.as_array().unwrap().len(), 1);
}

#[actix_web::test]
async fn a_socket_that_floods_the_server_with_messages_is_closed() {
    let mut socket = connect(&server().ws).await;
    next_json(&mut socket, 5).await;
    for _ in 0..200 {
        if socket.send(Message::text(r#"{"action":"subscribe","symbols":["AAPL"]}"#)).await.is_err() {
            break;
        }
    }
    let closed = loop {
        match tokio::time::timeout(Duration::from_secs(10), socket.next()).await.expect("an answer in time") {
            Some(Ok(Message::Close(Some(frame)))) => break frame,
            Some(Ok(_)) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    };
    assert_eq!(closed.code, CloseCode::Policy);
    assert!(closed.reason.contains("too many"), "{}", closed.reason);
}

#[actix_web::test]
async fn oversized_socket_frames_are_refused() {
    let mut socket = connect(&server().ws).await;
    next_json(&mut socket, 5).await;
    let huge = json!({"action": "subscribe", "symbols": ["x".repeat(64 * 1024)]}).to_string();
    let _ = socket.send(Message::text(huge)).await;
    let ended = loop {
        match tokio::time::timeout(Duration::from_secs(10), socket.next()).await.expect("an answer in time") {
            Some(Ok(Message::Close(frame))) => break frame.map(|f| f.code),
            Some(Ok(Message::Text(t))) => assert!(!t.contains("subscribed"), "accepted an oversized frame: {t}"),
            Some(Ok(_)) => continue,
            Some(Err(_)) | None => break None, // the server dropped the connection
        }
    };
    assert!(ended.is_none_or(|code| code != CloseCode::Normal), "{ended:?}");
}

#[actix_web::test]
async fn unknown_routes_and_methods_answer_json_errors() {
    let s = server();
    let (status, _) = s.send("PUT", "/api/v1/market/instruments", None).await;
    assert!(status == 404 || status == 405, "{status}");
    let (status, body): (u16, Value) = s.send("POST", "/api/v1/orders/place", Some(json!({"symbol": 5}))).await;
    assert_eq!(status, 422);
    assert_string(&body, "detail");
}
