//! The app's social routes (profile and nickname), called and parsed as the app does: its
//! models read every field leniently, with a default when it is missing, and treat any status
//! but 200 as a failure.

mod common;

use common::*;
use finlearn::domain::time::{Clock, ManualClock, Timestamp};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

const ADMIN: &str = "the teacher's admin token, thirty-two chars or more";
const SECRET: &str = "the classroom secret, thirty-two characters or more";

/// The app's `UserProfile.fromJson`: every field optional with its default; the counters are
/// Dart `int`s (a JSON `0.0` would not do), `win_rate` any number.
#[derive(Debug, Deserialize)]
#[serde(default)]
struct AppProfile {
    firebase_uid: String,
    username: String,
    avatar_url: Option<String>,
    bio: Option<String>,
    total_xp: i64,
    weekly_xp: i64,
    level: i64,
    current_streak: i64,
    longest_streak: i64,
    total_trades: i64,
    total_courses_completed: i64,
    total_challenges_completed: i64,
    win_rate: f64,
    last_activity_date: Option<String>,
    email: Option<String>,
}

impl Default for AppProfile {
    fn default() -> Self {
        AppProfile {
            firebase_uid: String::new(),
            username: "Trader".into(),
            avatar_url: None,
            bio: None,
            total_xp: 0,
            weekly_xp: 0,
            level: 1,
            current_streak: 0,
            longest_streak: 0,
            total_trades: 0,
            total_courses_completed: 0,
            total_challenges_completed: 0,
            win_rate: 0.0,
            last_activity_date: None,
            email: None,
        }
    }
}

fn parse(body: &Value) -> AppProfile {
    serde_json::from_value(body.clone()).unwrap_or_else(|e| panic!("the app cannot read {body}: {e}"))
}

struct Class {
    server: TestServer,
    clock: Arc<ManualClock>,
}

/// An `open`-mode class whose clock stands still until a test moves it.
fn class() -> &'static Class {
    static CLASS: OnceLock<Class> = OnceLock::new();
    CLASS.get_or_init(|| {
        let clock = Arc::new(ManualClock::starting_at(Timestamp::parse_rfc3339("2026-12-01T09:00:00Z").unwrap()));
        let config = format!(
            "{SMALL_MARKET}\n[simulation]\nseed_days = 0.05\n[news]\nshare = 0.0\n[admin]\ntoken = \"{ADMIN}\"\n"
        );
        let server = TestServer::start_with_clock(
            &config,
            &shared_dir().join("social.duckdb"),
            3,
            clock.clone() as Arc<dyn Clock>,
        );
        Class { server, clock }
    })
}

async fn put(s: &TestServer, uid: &str, body: Value) -> (u16, Value) {
    s.send("PUT", &format!("/api/v1/social/profile/{uid}"), Some(body)).await
}

async fn put_ok(s: &TestServer, uid: &str, body: Value) -> AppProfile {
    let (status, answer) = put(s, uid, body.clone()).await;
    assert_eq!(status, 200, "{body} -> {answer}");
    parse(&answer)
}

async fn profile(s: &TestServer, uid: &str) -> AppProfile {
    parse(&s.get_ok(&format!("/api/v1/social/profile/{uid}")).await)
}

async fn available(s: &TestServer, query: &str) -> (bool, Value) {
    let body = s.get_ok(&format!("/api/v1/social/username/check?{query}")).await;
    (body["available"].as_bool().expect("available is a boolean"), body)
}

#[actix_web::test]
async fn a_profile_never_set_reads_as_the_defaults_and_registers_nobody() {
    let s = &class().server;
    let body = s.get_ok("/api/v1/social/profile/never-seen").await;
    let p = parse(&body);
    assert_eq!((p.firebase_uid.as_str(), p.username.as_str(), p.level), ("never-seen", "Trader", 1));
    assert_eq!((p.total_xp, p.weekly_xp, p.current_streak, p.longest_streak, p.total_trades), (0, 0, 0, 0, 0));
    assert_eq!((p.total_courses_completed, p.total_challenges_completed, p.win_rate), (0, 0, 0.0));
    assert!(body["win_rate"].is_number());
    assert_eq!((p.avatar_url, p.bio, p.email, p.last_activity_date), (None, None, None, None));
    let (status, body) = s.get("/api/v1/social/profile/%01").await;
    assert_eq!(status, 400, "{body}");
}

#[actix_web::test]
async fn a_put_changes_only_the_fields_sent_and_the_email_stays_private() {
    let s = &class().server;
    let set = json!({"username": "  Ada.L ", "bio": "Index funds, long term.",
        "avatar_url": "https://img.example.com/ada.png", "email": "ada@school.edu", "unknown": 1});
    let p = put_ok(s, "ada-uid", set).await;
    assert_eq!((p.firebase_uid.as_str(), p.username.as_str()), ("ada-uid", "Ada.L"));
    assert_eq!(p.email.as_deref(), Some("ada@school.edu"), "the address just sent is echoed");
    let changed = assert_timestamp(&json!({"at": p.last_activity_date}), "at").timestamp_micros();
    let started = Timestamp::parse_rfc3339("2026-12-01T09:00:00Z").unwrap().0;
    assert!((started..=class().clock.now().0).contains(&changed), "changed at the server's time");

    let p = profile(s, "ada-uid").await;
    assert_eq!((p.username.as_str(), p.bio.as_deref()), ("Ada.L", Some("Index funds, long term.")));
    assert_eq!(p.avatar_url.as_deref(), Some("https://img.example.com/ada.png"));
    assert_eq!(p.email, None, "in open mode a uid proves nothing: only the admin sees the address");
    let (_, seen) = call(s, "GET", "/api/v1/social/profile/ada-uid", Some(ADMIN), None).await;
    assert_eq!(seen["email"], "ada@school.edu");

    let p = put_ok(s, "ada-uid", json!({"bio": "Dividends.", "username": null})).await;
    assert_eq!((p.username.as_str(), p.bio.as_deref()), ("Ada.L", Some("Dividends.")));
    assert_eq!(p.email, None, "a change that did not send the address does not reveal it");
    let p = put_ok(s, "ada-uid", json!({"avatar_url": ""})).await;
    assert_eq!((p.avatar_url, p.bio.as_deref()), (None, Some("Dividends.")));
    let (_, seen) = call(s, "GET", "/api/v1/social/profile/ada-uid", Some(ADMIN), None).await;
    assert_eq!(seen["email"], "ada@school.edu", "untouched by the changes that did not send it");
}

#[actix_web::test]
async fn a_nickname_is_unique_in_the_class_whatever_its_case() {
    let s = &class().server;
    put_ok(s, "grace-uid", json!({"username": "Grace_H"})).await;
    let (status, body) = put(s, "alan-uid", json!({"username": "grace_h"})).await;
    assert_eq!((status, body), (400, json!({"detail": "Username already taken"})));
    assert_eq!(profile(s, "alan-uid").await.username, "Trader");

    let (free, body) = available(s, "username=GRACE_H").await;
    assert!(!free);
    assert_eq!(body["reason"], "Username already taken");
    assert!(available(s, "username=grace_h&firebase_uid=grace-uid").await.0, "one's own name is available");
    assert!(available(s, "username=%20Turing%20").await.0);

    // A new case of one's own name is allowed; a rename frees the old one.
    assert_eq!(put_ok(s, "grace-uid", json!({"username": "GRACE_H"})).await.username, "GRACE_H");
    put_ok(s, "grace-uid", json!({"username": "Hopper"})).await;
    assert!(available(s, "username=grace_h").await.0);
    assert_eq!(put_ok(s, "alan-uid", json!({"username": "grace_h"})).await.username, "grace_h");
    assert!(!available(s, "username=hopper").await.0);
}

#[actix_web::test]
async fn each_broken_rule_is_refused_with_its_reason() {
    let s = &class().server;
    let cases = [
        (json!({"username": "ab"}), "3 to 20 characters"),
        (json!({"username": "a".repeat(21)}), "3 to 20 characters"),
        (json!({"username": "bob smith"}), "only letters"),
        (json!({"username": "-bob"}), "start with a letter or a digit"),
        (json!({"username": "trader"}), "reserved"),
        (json!({"bio": "b".repeat(281)}), "bio must be at most 280"),
        (json!({"avatar_url": "ftp://example.com/a.png"}), "avatar_url must be an http"),
        (json!({"avatar_url": format!("https://example.com/{}", "a".repeat(600))}), "at most 512"),
        (json!({"email": "not-an-address"}), "email must look like"),
        (json!({"email": format!("{}@example.com", "a".repeat(250))}), "at most 254"),
    ];
    for (body, reason) in cases {
        let (status, answer) = put(s, "rules-uid", body.clone()).await;
        let detail = answer["detail"].as_str().unwrap_or_default();
        assert!(status == 400 && detail.contains(reason), "{body} -> {status} {answer}");
    }
    let (free, body) = available(s, "username=a%20b").await;
    assert!(!free && body["reason"].as_str().unwrap().contains("only letters"), "{body}");
    // Nothing was stored by the refused changes.
    let p = profile(s, "rules-uid").await;
    assert_eq!((p.username.as_str(), p.bio, p.last_activity_date), ("Trader", None, None));
    let (status, body) = put(s, "rules-uid", json!({"username": 42})).await;
    assert_eq!(status, 422, "{body}");
    let (status, _) = s.get("/api/v1/social/username/check").await;
    assert_eq!(status, 422);
}

async fn quote(s: &TestServer) -> f64 {
    s.get_ok("/api/v1/market/quote/AAPL").await["price"].as_f64().unwrap()
}

/// Publishes a headline that moves AAPL by `impact` percent and runs the market until the
/// price has moved past `beyond` in that direction.
async fn move_aapl(class: &Class, impact: i64, beyond: f64) -> f64 {
    let s = &class.server;
    let news = json!({"headline": format!("AAPL moves {impact}%"), "scope": {"symbols": ["AAPL"]}, "impact": impact});
    let (status, body) = call(s, "POST", "/api/v1/admin/news", Some(ADMIN), Some(news)).await;
    assert_eq!(status, 202, "{body}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        class.clock.advance_micros(3_000_000);
        actix_web::rt::time::sleep(Duration::from_millis(200)).await;
        let price = quote(s).await;
        if (impact > 0 && price > beyond) || (impact < 0 && price < beyond) {
            return price;
        }
        assert!(Instant::now() < deadline, "AAPL did not move past {beyond} (at {price})");
    }
}

#[actix_web::test]
async fn the_trading_figures_come_from_the_ledger() {
    let class = class();
    let s = &class.server;
    let uid = "figures-uid";
    let order =
        |side: &str| json!({"firebase_uid": uid, "symbol": "AAPL", "side": side, "quantity": 1, "market": "usa"});
    let (status, body) = s.post("/api/v1/orders/place", order("buy")).await;
    assert_eq!(status, 200, "{body}");
    let bought = body["fill_price"].as_f64().unwrap();
    s.post("/api/v1/orders/place", order("buy")).await;
    let p = profile(s, uid).await;
    assert_eq!((p.total_trades, p.win_rate), (2, 0.0), "no round trip closed yet");
    assert_eq!(p.username, "Trader");

    move_aapl(class, 20, bought * 1.1).await;
    let (status, body) = s.post("/api/v1/orders/place", order("sell")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(profile(s, uid).await.win_rate, 1.0);

    move_aapl(class, -40, bought * 0.9).await;
    let (status, body) = s.post("/api/v1/orders/place", order("sell")).await;
    assert_eq!(status, 200, "{body}");
    let p = profile(s, uid).await;
    assert_eq!((p.total_trades, p.win_rate), (4, 0.5), "one gain and one loss");
    let sold_at = s.get_ok(&format!("/api/v1/portfolio/orders/{uid}")).await[0]["filled_at"].clone();
    let last = chrono::DateTime::parse_from_rfc3339(p.last_activity_date.as_deref().unwrap()).unwrap();
    assert_eq!(last, chrono::DateTime::parse_from_rfc3339(sold_at.as_str().unwrap()).unwrap());
}

#[actix_web::test]
async fn with_verified_identities_only_the_owner_changes_a_profile_and_it_survives_a_restart() {
    use finlearn::auth::issue_token;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("verified.duckdb");
    let config = format!(
        "{SMALL_MARKET}\n[simulation]\nseed_days = 0.05\n[auth]\nmode = \"shared-secret\"\nsecret = \"{SECRET}\"\n\
         [admin]\ntoken = \"{ADMIN}\"\n"
    );
    let alice = issue_token(SECRET, "alice", Duration::from_secs(600)).unwrap();
    let bob = issue_token(SECRET, "bob", Duration::from_secs(600)).unwrap();
    let change = json!({"username": "Alice", "email": "alice@school.edu"});
    let s = TestServer::start(&config, &data, 4);
    // Reading a profile registers nobody.
    assert_eq!(parse(&s.get_ok("/api/v1/social/profile/carol").await).username, "Trader");
    let (_, status) = call(&s, "GET", "/api/v1/admin/status", Some(ADMIN), None).await;
    assert_eq!(status["users"], 0, "{status}");
    let path = "/api/v1/social/profile/alice";
    let (status, body) = call(&s, "PUT", path, None, Some(change.clone())).await;
    assert!(status == 401 && body["detail"].is_string(), "{status} {body}");
    assert_eq!(call(&s, "PUT", path, Some(&bob), Some(change.clone())).await.0, 403);
    let (status, body) = call(&s, "PUT", path, Some(&alice), Some(change)).await;
    assert_eq!((status, &body["username"]), (200, &json!("Alice")), "{body}");

    let public = parse(&s.get_ok(path).await);
    assert_eq!((public.username.as_str(), public.email), ("Alice", None), "a profile is public, its email is not");
    assert_eq!(call(&s, "GET", path, Some(&bob), None).await.1.get("email"), None);
    let (status, _) =
        call(&s, "PUT", "/api/v1/social/profile/bob", Some(&bob), Some(json!({"username": "ALICE"}))).await;
    assert_eq!(status, 400);
    s.stop();

    let s = TestServer::start(&config, &data, 4);
    let (_, own) = call(&s, "GET", path, Some(&alice), None).await;
    let own = parse(&own);
    assert_eq!((own.username.as_str(), own.email.as_deref()), ("Alice", Some("alice@school.edu")));
    assert!(own.last_activity_date.is_some());
    let (status, body) =
        call(&s, "PUT", "/api/v1/social/profile/bob", Some(&bob), Some(json!({"username": "alice"}))).await;
    assert_eq!((status, body), (400, json!({"detail": "Username already taken"})), "still taken after a restart");
    s.stop();
}
