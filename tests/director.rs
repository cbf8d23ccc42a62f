//! The market director over HTTP and WebSocket: the admin guard, pause and resume, speed,
//! news, regimes, lessons and the audit log.

mod common;

use common::{SMALL_MARKET, TestServer, connect, next_json};
use finlearn::domain::time::{Clock, ManualClock, Timestamp};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

const ADMIN: &str = "a director token for the tests, 32+ chars";

fn config() -> String {
    format!("{SMALL_MARKET}\n[simulation]\nseed_days = 0.01\n[admin]\ntoken = \"{ADMIN}\"\n")
}

async fn admin(s: &TestServer, method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> (u16, Value) {
    let client = awc::Client::builder().timeout(Duration::from_secs(30)).finish();
    let mut request = client.request(method.parse().unwrap(), format!("{}{path}", s.base));
    if let Some(token) = token {
        request = request.insert_header(("Authorization", format!("Bearer {token}")));
    }
    let mut response = match body {
        Some(Value::String(text)) => request.content_type("text/plain").send_body(text).await,
        Some(body) => request.send_json(&body).await,
        None => request.send().await,
    }
    .expect("request");
    let bytes = response.body().limit(1 << 20).await.expect("body");
    (response.status().as_u16(), serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

/// Reads frames until one satisfies `wanted`, and returns it and the frames before it.
async fn until(socket: &mut common::Socket, wanted: impl Fn(&Value) -> bool) -> (Value, Vec<Value>) {
    let mut before = Vec::new();
    loop {
        let frame = next_json(socket, 10).await;
        if wanted(&frame) {
            return (frame, before);
        }
        before.push(frame);
    }
}

#[actix_web::test]
async fn every_director_route_refuses_requests_without_the_admin_token() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(&config(), &dir.path().join("guard.duckdb"), 5);
    let routes = [
        ("POST", "/api/v1/admin/news"),
        ("POST", "/api/v1/admin/market/pause"),
        ("POST", "/api/v1/admin/market/resume"),
        ("PUT", "/api/v1/admin/market/speed"),
        ("GET", "/api/v1/admin/regimes"),
        ("POST", "/api/v1/admin/regimes"),
        ("PUT", "/api/v1/admin/regimes/x"),
        ("DELETE", "/api/v1/admin/regimes/x"),
        ("POST", "/api/v1/admin/scenario"),
        ("GET", "/api/v1/admin/audit"),
    ];
    for (method, path) in routes {
        assert_eq!(admin(&s, method, path, None, None).await.0, 401, "{method} {path}");
        assert_eq!(admin(&s, method, path, Some("a wrong token"), None).await.0, 403, "{method} {path}");
    }
    let (status, body) = s.get("/api/v1/market/status").await;
    assert_eq!((status, body), (200, json!({"state": "open", "speed": 1})));
    s.stop();
}

#[actix_web::test]
async fn a_pause_stops_ticks_refuses_orders_and_resumes_without_a_gap() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::starting_at(Timestamp(1_780_000_000_000_000)));
    let s = TestServer::start_with_clock(&config(), &dir.path().join("pause.duckdb"), 5, clock.clone());
    let mut socket = connect(&s.ws).await;
    next_json(&mut socket, 10).await; // hello

    let (status, body) = admin(&s, "POST", "/api/v1/admin/market/pause", Some(ADMIN), None).await;
    assert_eq!((status, &body["state"]), (200, &json!("paused")), "{body}");
    let order = json!({"firebase_uid": "pupil", "symbol": "AAPL", "side": "buy", "quantity": 1, "market": "usa"});
    let (status, body) = s.post("/api/v1/orders/place", order.clone()).await;
    assert_eq!(status, 400);
    assert!(body["detail"].as_str().unwrap().contains("market paused"), "{body}");
    let paused_at = clock.now();
    let (frame, _) = until(&mut socket, |f| f["event"] == "market_status").await;
    assert_eq!((&frame["type"], &frame["state"]), (&json!("system"), &json!("paused")));
    // Charts and portfolios keep working.
    s.get_ok("/api/v1/market/history/AAPL?timeframe=1m").await;
    s.get_ok("/api/v1/portfolio/positions/pupil").await;
    assert_eq!(s.get_ok("/api/v1/market/status").await["state"], "paused");

    clock.advance_micros(120_000_000);
    let (status, _) = admin(&s, "POST", "/api/v1/admin/market/resume", Some(ADMIN), None).await;
    assert_eq!(status, 200);
    let resumed_at = clock.now();
    let (frame, between) = until(&mut socket, |f| f["event"] == "market_status").await;
    assert_eq!(frame["state"], "open");
    assert!(between.iter().all(|f| f.get("price").is_none()), "no tick between pause and resume: {between:?}");
    clock.advance_micros(5_000_000);
    let (tick, _) = until(&mut socket, |f| f.get("price").is_some()).await;
    let stamped = common::assert_timestamp(&tick, "timestamp").timestamp_micros();
    assert!(stamped >= resumed_at.0 && stamped > paused_at.0 + 120_000_000, "the first tick after the pause");
    s.stop();
}

#[actix_web::test]
async fn speed_news_regimes_and_lessons_are_validated_applied_and_audited() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("director.duckdb");
    let s = TestServer::start(&config(), &data, 5);
    let mut socket = connect(&s.ws).await;

    let (status, body) =
        admin(&s, "PUT", "/api/v1/admin/market/speed", Some(ADMIN), Some(json!({"factor": 1000}))).await;
    assert_eq!(status, 400);
    assert!(body["detail"].as_str().unwrap().contains("between 1 and 100"), "{body}");
    let (status, body) = admin(&s, "PUT", "/api/v1/admin/market/speed", Some(ADMIN), Some(json!({"factor": 10}))).await;
    assert_eq!((status, body), (200, json!({"state": "open", "speed": 10})));
    assert_eq!(s.get_ok("/api/v1/market/status").await["speed"], 10);

    let news = json!({"headline": "Apple recalls a phone", "scope": {"symbols": ["AAPL"]}, "impact": -4});
    let (status, body) = admin(&s, "POST", "/api/v1/admin/news", Some(ADMIN), Some(news)).await;
    assert_eq!((status, &body["affected_symbols"]), (202, &json!(["AAPL"])), "{body}");
    let (frame, _) = until(&mut socket, |f| f["headline"] == "Apple recalls a phone").await;
    assert_eq!((&frame["impact"], &frame["affected_scope"]), (&json!(-4.0), &json!("symbol")));
    let listed = s.get_ok("/api/v1/market/news?symbol=AAPL").await;
    assert_eq!(listed[0]["headline"], "Apple recalls a phone");
    let bad = json!({"headline": "Everything doubles", "scope": {"all": true}, "impact": 100});
    let (status, body) = admin(&s, "POST", "/api/v1/admin/news", Some(ADMIN), Some(bad)).await;
    assert!(status == 400 && body["detail"].as_str().unwrap().contains("impact"), "{body}");

    let crash = json!({"kind": "crash", "scope": {"markets": ["usa"]}, "duration_minutes": 60,
        "parameters": {"depth_percent": 96}});
    let (status, body) = admin(&s, "POST", "/api/v1/admin/regimes", Some(ADMIN), Some(crash)).await;
    assert!(status == 400 && body["detail"].as_str().unwrap().contains("depth_percent"), "{body}");
    let crash = json!({"kind": "crash", "scope": {"markets": ["usa"]}, "duration_minutes": 60, "start_in_minutes": 30});
    let (status, body) = admin(&s, "POST", "/api/v1/admin/regimes", Some(ADMIN), Some(crash.clone())).await;
    assert_eq!(status, 201, "{body}");
    let id = body["id"].as_str().unwrap().to_string();
    let listed = loop {
        let (_, list) = admin(&s, "GET", "/api/v1/admin/regimes", Some(ADMIN), None).await;
        if list.as_array().is_some_and(|l| !l.is_empty()) {
            break list;
        }
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        (&listed[0]["id"], &listed[0]["state"], &listed[0]["kind"]),
        (&json!(id), &json!("scheduled"), &json!("crash"))
    );
    let path = format!("/api/v1/admin/regimes/{id}");
    assert_eq!(admin(&s, "PUT", &path, Some(ADMIN), Some(crash)).await.0, 200);
    assert_eq!(admin(&s, "DELETE", &path, Some(ADMIN), None).await.0, 204);
    assert_eq!(admin(&s, "DELETE", "/api/v1/admin/regimes/nope", Some(ADMIN), None).await.0, 404);

    let lesson = "name = \"x\"\n[[events]]\nat_minutes = 1\nspeed = 1000\n";
    let (status, body) = admin(&s, "POST", "/api/v1/admin/scenario", Some(ADMIN), Some(json!(lesson))).await;
    assert!(status == 400 && body["detail"].as_str().unwrap().contains("event 1"), "{body}");
    let lesson = "name = \"Tech slump\"\n[[events]]\nat_minutes = 0\nspeed = 5\n[[events]]\nat_minutes = 1\n[events.regime]\nkind = \"bear\"\nscope = { sectors = [\"technology\"] }\nduration_minutes = 30\n";
    let (status, body) = admin(&s, "POST", "/api/v1/admin/scenario", Some(ADMIN), Some(json!(lesson))).await;
    assert_eq!((status, &body["name"], &body["events"]), (202, &json!("Tech slump"), &json!(2)), "{body}");
    s.stop();

    // The audit log lists every accepted action, newest first, and survives a restart.
    let s = TestServer::start(&config(), &data, 5);
    let (status, log) = admin(&s, "GET", "/api/v1/admin/audit", Some(ADMIN), None).await;
    assert_eq!(status, 200);
    let actions: Vec<&str> = log.as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    // The class's rules, as configured at the first start, are the oldest entry.
    let expected = ["scenario", "regime_cancel", "regime_replace", "regime", "news", "speed", "class_rules_config"];
    assert_eq!(actions, expected);
    assert_eq!(log[5]["parameters"], json!({"factor": 10}));
    common::assert_timestamp(&log[0], "time");
    s.stop();
}
