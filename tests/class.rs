//! The class over HTTP: its rules and their refusals, commissions, the teacher's changes (kept
//! across a restart), the leaderboard, a student's performance and the report.

mod common;

use common::{SMALL_MARKET, TestServer};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use std::str::FromStr;
use std::time::{Duration, Instant};

const ADMIN: &str = "a class teacher's token for the tests, 32+ chars";

fn config(class: &str) -> String {
    format!("{SMALL_MARKET}\n[simulation]\nseed_days = 0.01\n[admin]\ntoken = \"{ADMIN}\"\n[class]\n{class}\n")
}

async fn admin(s: &TestServer, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let client = awc::Client::builder().timeout(Duration::from_secs(30)).finish();
    let request = client
        .request(method.parse().unwrap(), format!("{}{path}", s.base))
        .insert_header(("Authorization", format!("Bearer {ADMIN}")));
    let mut response = match body {
        Some(body) => request.send_json(&body).await,
        None => request.send().await,
    }
    .expect("request");
    let bytes = response.body().limit(1 << 22).await.expect("body");
    let value =
        serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()));
    (response.status().as_u16(), value)
}

fn buy(uid: &str, symbol: &str, quantity: &str, market: &str) -> Value {
    json!({"firebase_uid": uid, "symbol": symbol, "side": "buy", "quantity": quantity.parse::<f64>().unwrap(), "market": market})
}

fn decimal(value: &Value) -> Decimal {
    Decimal::from_str(&value.to_string()).unwrap_or_else(|_| panic!("a number: {value}"))
}

async fn refused(s: &TestServer, body: Value, code: &str) -> String {
    let (status, answer) = s.post("/api/v1/orders/place", body.clone()).await;
    assert_eq!((status, answer["code"].as_str()), (403, Some(code)), "{body} -> {answer}");
    answer["detail"].as_str().unwrap().to_string()
}

#[actix_web::test]
async fn each_class_rule_refuses_with_its_reason_and_commissions_are_exact() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("rules.duckdb");
    let class = r#"name = "Econ 101"
join_code = "ECON-101"
allowed = ["usa"]
commission_flat = 1
commission_bps = 10
max_position_percent = 25"#;
    let s = TestServer::start(&config(class), &data, 11);

    let view = s.get_ok("/api/v1/class").await;
    assert_eq!(view["name"], "Econ 101");
    assert_eq!(view["join_code_required"], true);
    assert!(view.get("join_code").is_none(), "students never see the code: {view}");
    assert_eq!(view["allowed"], json!(["usa"]));

    let detail = refused(&s, buy("ann", "AAPL", "1", "usa"), "not_joined").await;
    assert!(detail.contains("Join the class \"Econ 101\" first"), "{detail}");
    let (status, answer) = s.post("/api/v1/class/join", json!({"firebase_uid": "ann", "join_code": "ECON-999"})).await;
    assert_eq!((status, answer["code"].as_str()), (403, Some("wrong_join_code")), "{answer}");
    let (status, answer) = s.post("/api/v1/class/join", json!({"firebase_uid": "ann", "join_code": "econ-101"})).await;
    assert_eq!((status, answer["status"].as_str()), (200, Some("joined")), "{answer}");
    let positions = s.get_ok("/api/v1/portfolio/positions/nobody").await;
    assert_eq!(positions["balances"]["usa"], 10000.0, "reads need no join");

    let detail = refused(&s, buy("ann", "L&T", "1", "india"), "not_allowed").await;
    assert_eq!(detail, "L&T is not traded in this class: it trades usa");
    // Opening value: 10,000 USD + 10,000 INR / 83 + 10,000 GBP / 0.79 = 22,778.71 USD; a quarter
    // of it is about 5,695 USD; 35 AAPL at about 192 is 6,738.
    let detail = refused(&s, buy("ann", "AAPL", "35", "usa"), "position_cap").await;
    assert!(detail.contains("the class allows at most 25% in one position"), "{detail}");

    let placed = s.post("/api/v1/orders/place", buy("ann", "AAPL", "2", "usa")).await.1;
    let (total, commission) = (decimal(&placed["total_value"]), decimal(&placed["order"]["commission"]));
    // 1 flat + 10 basis points of the value, to the cent, half away from zero.
    let expected = (Decimal::ONE + total * Decimal::new(10, 4))
        .round_dp_with_strategy(2, rust_decimal::RoundingStrategy::MidpointAwayFromZero);
    assert_eq!(commission, expected, "{placed}");
    assert_eq!(decimal(&placed["new_balance"]), Decimal::from(10_000) - total - commission);
    assert!(placed["message"].as_str().unwrap().contains(&format!("(commission {commission} USD)")), "{placed}");

    // The teacher closes the season: from that moment orders are refused with the reason.
    let change = json!({"season_start": "2020-01-01T00:00:00Z", "season_end": "2021-01-01T00:00:00Z"});
    let (status, rules) = admin(&s, "PUT", "/api/v1/admin/class", Some(change)).await;
    assert_eq!(status, 200, "{rules}");
    assert_eq!((rules["join_code"].as_str(), rules["season"]["state"].as_str()), (Some("ECON-101"), Some("ended")));
    let detail = refused(&s, buy("ann", "AAPL", "1", "usa"), "season_ended").await;
    assert!(detail.contains("2021-01-01T00:00:00"), "{detail}");
    let (status, answer) = admin(&s, "PUT", "/api/v1/admin/class", Some(json!({"commission": {"bps": 5000}}))).await;
    assert_eq!(status, 422, "{answer}");
    assert!(answer["detail"].as_str().unwrap().starts_with("commission.bps"), "{answer}");
    let (_, audit) = admin(&s, "GET", "/api/v1/admin/audit", None).await;
    let actions: Vec<&str> = audit.as_array().unwrap().iter().filter_map(|e| e["action"].as_str()).collect();
    assert!(actions.contains(&"class_rules_admin") && actions.contains(&"class_rules_config"), "{audit}");
    s.stop();

    // A restart with the same file keeps the teacher's change; the fill stays as it was.
    let s = TestServer::start(&config(class), &data, 11);
    assert_eq!(s.get_ok("/api/v1/class").await["season"]["state"], "ended");
    let orders = s.get_ok("/api/v1/orders/ann?status=closed").await;
    assert_eq!(decimal(&orders[0]["commission"]), commission, "{orders}");
    s.stop();

    // Editing the file is the latest change: it applies at the next start.
    let s = TestServer::start(&config("name = \"Econ 102\""), &data, 11);
    let view = s.get_ok("/api/v1/class").await;
    assert_eq!((view["name"].as_str(), view["season"]["state"].as_str()), (Some("Econ 102"), Some("open")));
    s.stop();
    let (consistent, report) = check(&data);
    assert!(consistent, "the ledger with commissions checks: {report}");
}

/// Whether `finlearn check` finds the file consistent, and what it printed.
fn check(data: &std::path::Path) -> (bool, String) {
    let check = std::process::Command::new(env!("CARGO_BIN_EXE_finlearn")).args(["check", "--data"]).arg(data).output();
    let check = check.unwrap();
    (check.status.success(), String::from_utf8_lossy(&check.stdout).into_owned())
}

#[actix_web::test]
async fn the_leaderboard_shows_nicknames_the_teacher_sees_uids_and_performance_is_valued_by_hand() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(&config("snapshot_interval_secs = 10"), &dir.path().join("board.duckdb"), 12);
    for uid in ["uid-alpha", "uid-beta"] {
        s.post("/api/v1/orders/place", buy(uid, "AAPL", "3", "usa")).await;
    }
    s.post("/api/v1/orders/place", buy("uid-beta", "BTC", "0.01", "crypto")).await;

    // The table is rebuilt in the background once a second.
    let started = Instant::now();
    let board = loop {
        let board = s.get_ok("/api/v1/leaderboard").await;
        let trades: u64 = board["lines"].as_array().unwrap().iter().map(|l| l["trades"].as_u64().unwrap()).sum();
        if board["students"] == 2 && trades == 3 {
            break board;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "the orders never reached the standings: {board}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(
        (board["sort"].as_str(), board["currency"].as_str(), board["students"].as_u64()),
        (Some("sharpe"), Some("USD"), Some(2))
    );
    let text = board.to_string();
    assert!(!text.contains("uid-alpha") && !text.contains("firebase_uid"), "no uid in open mode: {board}");
    let lines = board["lines"].as_array().unwrap();
    assert_eq!(lines.iter().map(|l| l["rank"].as_u64().unwrap()).collect::<Vec<_>>(), [1, 2]);
    assert!(lines.iter().all(|l| l["nickname"].as_str().unwrap().starts_with("Trader-")), "{board}");
    let trades: Vec<u64> = lines.iter().map(|l| l["trades"].as_u64().unwrap()).collect();
    assert_eq!(trades.iter().sum::<u64>(), 3);

    let (status, teacher) = admin(&s, "GET", "/api/v1/admin/leaderboard?sort=value&limit=1", None).await;
    assert_eq!(status, 200, "{teacher}");
    assert_eq!(teacher["lines"].as_array().unwrap().len(), 1);
    assert!(teacher["lines"][0]["firebase_uid"].as_str().unwrap().starts_with("uid-"), "{teacher}");
    let (status, bad) = s.get("/api/v1/leaderboard?sort=luck").await;
    assert_eq!(status, 422, "{bad}");

    // Until the first snapshot the series is the live value alone; snapshots then add points.
    let started = Instant::now();
    let performance = loop {
        let p = s.get_ok("/api/v1/portfolio/performance/uid-alpha").await;
        if p["points"].as_array().unwrap().len() >= 2 {
            break p;
        }
        assert!(started.elapsed() < Duration::from_secs(40), "no snapshot within 40 s: {p}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert_eq!(decimal(&performance["opening_value"]), Decimal::from_str("22778.71").unwrap());
    let points = performance["points"].as_array().unwrap();
    assert_eq!(points.last().unwrap()["value"], performance["value"]);
    // The value is cash (the opening less what AAPL cost) plus 3 AAPL at a live price: it
    // moved from the opening by less than the position's own price change could explain.
    let value = decimal(&performance["value"]);
    assert!((value - Decimal::from_str("22778.71").unwrap()).abs() < Decimal::from(60), "{performance}");
    let expected_return = (value / Decimal::from_str("22778.71").unwrap() - Decimal::ONE) * Decimal::ONE_HUNDRED;
    assert!((decimal(&performance["return_percent"]) - expected_return).abs() < Decimal::new(1, 2), "{performance}");

    // The standings export holds the stored snapshots the performance route shows.
    let (status, csv) = admin(&s, "GET", "/api/v1/admin/export/standings?format=csv", None).await;
    assert_eq!(status, 200, "{csv}");
    let exported: Vec<String> = csv
        .as_str()
        .unwrap()
        .lines()
        .filter(|l| l.contains(",uid-alpha,"))
        .map(|l| l.rsplit(',').next().unwrap().to_string())
        .collect();
    let stored: Vec<String> = points[..points.len() - 1].iter().map(|p| decimal(&p["value"]).to_string()).collect();
    assert!(!stored.is_empty() && exported.starts_with(&stored), "{exported:?} vs {stored:?}");

    // The app's own leaderboard, in its entry shape, from the same standings.
    let (status, _) = s.send("PUT", "/api/v1/social/profile/uid-alpha", Some(json!({"username": "Alpha"}))).await;
    assert_eq!(status, 200);
    tokio::time::sleep(Duration::from_millis(2_500)).await; // the table is rebuilt once a second
    let entries = s.get_ok("/api/v1/social/leaderboard").await;
    let entries = entries.as_array().unwrap();
    assert_eq!(entries.len(), 2);
    assert!(entries.iter().all(|e| e["firebase_uid"] == "" && e["level"] == 1 && e["total_xp"] == 0), "{entries:?}");
    let names: Vec<&str> = entries.iter().map(|e| e["username"].as_str().unwrap()).collect();
    assert!(names.contains(&"Alpha") && names.iter().any(|n| n.starts_with("Trader-")), "{names:?}");
    let by_trades = s.get_ok("/api/v1/social/leaderboard?type=trades&period=weekly&limit=1").await;
    assert_eq!(
        (by_trades[0]["total_trades"].as_u64(), by_trades[0]["rank"].as_u64()),
        (Some(2), Some(1)),
        "{by_trades}"
    );
    let (status, _) = s.get("/api/v1/social/leaderboard?type=karma").await;
    assert_eq!(status, 422);

    let (status, report) = admin(&s, "GET", "/api/v1/admin/report", None).await;
    assert_eq!(status, 200, "{report}");
    let beta = report.as_array().unwrap().iter().find(|l| l["firebase_uid"] == "uid-beta").unwrap();
    assert_eq!((beta["trades"].as_u64(), beta["commissions"]["USD"].as_f64()), (Some(2), Some(0.0)), "{beta}");
    assert!(beta["last_activity"].as_str().is_some(), "{beta}");
    let (status, csv) = admin(&s, "GET", "/api/v1/admin/report?format=csv", None).await;
    assert_eq!(status, 200);
    let csv = csv.as_str().unwrap();
    assert!(csv.starts_with("firebase_uid,nickname,trades,"), "{csv}");
    assert_eq!(csv.lines().count(), 3, "{csv}");
    assert!(csv.lines().any(|l| l.starts_with("uid-beta,Trader-") && l.split(',').nth(2) == Some("2")), "{csv}");
    s.stop();
}

/// Everything a student's season holds, as the routes show it: every order (resting ones as
/// they stand), every fill, and the positions.
async fn season_of(s: &TestServer, uid: &str, season: Option<i32>) -> Value {
    let q = season.map_or(String::new(), |n| format!("&season={n}"));
    json!({
        "orders": s.get_ok(&format!("/api/v1/orders/{uid}?status=all{q}")).await,
        "fills": s.get_ok(&format!("/api/v1/portfolio/orders/{uid}?limit=1000{q}")).await,
    })
}

async fn wait_for_board(s: &TestServer, season: i32, students: u64) -> Value {
    let started = Instant::now();
    loop {
        let board = s.get_ok("/api/v1/leaderboard").await;
        if board["season_number"] == season && board["students"] == students {
            return board;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "the standings never moved to season {season}: {board}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[actix_web::test]
async fn a_season_reset_archives_everything_and_its_undo_restores_it_row_for_row() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("seasons.duckdb");
    let s = TestServer::start(&config("name = \"Econ 101\""), &data, 13);
    s.post("/api/v1/orders/place", buy("ann", "AAPL", "3", "usa")).await;
    s.post("/api/v1/orders/place", buy("bob", "BTC", "0.01", "crypto")).await;
    let resting = json!({"firebase_uid": "bob", "symbol": "AAPL", "side": "buy", "quantity": 1, "market": "usa",
                         "order_type": "limit", "limit_price": 1, "time_in_force": "gtc"});
    let (status, placed) = s.post("/api/v1/orders/place", resting).await;
    assert_eq!((status, placed["order"]["status"].as_str()), (200, Some("new")), "{placed}");
    let resting_id = placed["order_id"].as_i64().unwrap();
    s.send("POST", "/api/v1/portfolio/watchlist/cal/NIFTY%2050", None).await;
    let students = ["ann", "bob", "cal"];
    let mut season_one = Vec::new();
    for uid in students {
        season_one.push(season_of(&s, uid, None).await);
    }
    let positions_one = s.get_ok("/api/v1/portfolio/positions/ann").await;
    assert_eq!(positions_one["positions"][0]["quantity"], 3.0, "{positions_one}");
    assert_eq!(wait_for_board(&s, 1, 3).await["season"], "open");
    // The next season's cash, set while season 1 is played: only accounts opened from now on get it.
    let cash = json!({"starting_cash": {"USD": 20000, "INR": 10000, "GBP": 10000}});
    assert_eq!(admin(&s, "PUT", "/api/v1/admin/class", Some(cash)).await.0, 200);
    // A student who starts now opens with it; every return is against the student's own opening.
    let (status, placed) = s.post("/api/v1/orders/place", buy("dan", "AAPL", "1", "usa")).await;
    assert_eq!((status, placed["new_balance"].as_f64().map(|b| b > 19_000.0)), (200, Some(true)), "{placed}");
    let board = wait_for_board(&s, 1, 4).await;
    let returns: Vec<f64> =
        board["lines"].as_array().unwrap().iter().map(|l| l["return_percent"].as_f64().unwrap()).collect();
    assert!(returns.iter().all(|r| r.abs() < 1.0), "{board}");

    // The reset: season 1 is archived whole and everyone starts season 2 afresh; the stream
    // tells every page.
    let mut socket = common::connect(&s.ws).await;
    common::next_of_type(&mut socket, "system").await; // the hello
    let (status, reset) = admin(&s, "POST", "/api/v1/admin/season", None).await;
    assert_eq!((status, reset["season"].as_i64(), reset["archived"].as_i64()), (200, Some(2), Some(1)), "{reset}");
    assert_eq!(reset["students"], 4, "{reset}");
    let notice = loop {
        let frame = common::next_of_type(&mut socket, "system").await;
        if frame["event"] == "season" {
            break frame;
        }
    };
    assert_eq!(notice["season"], 2, "{notice}");
    assert!(notice["message"].as_str().unwrap().starts_with("Season 2 started"), "{notice}");
    drop(socket);
    assert_eq!(s.get_ok("/api/v1/class").await["season"]["number"], 2);
    let fresh = s.get_ok("/api/v1/portfolio/positions/ann").await;
    assert_eq!(
        (fresh["balances"]["usa"].as_f64(), fresh["positions"].as_array().map(Vec::len)),
        (Some(20000.0), Some(0))
    );
    assert_eq!(s.get_ok("/api/v1/portfolio/positions/bob").await["held"]["balances"]["usa"], 0.0, "no hold carried");
    assert_eq!(s.get_ok("/api/v1/portfolio/watchlist/cal").await["symbols"], json!(["NIFTY 50"]), "watchlists stay");
    for uid in students {
        assert_eq!(season_of(&s, uid, None).await, json!({"orders": [], "fills": []}), "{uid} starts afresh");
    }
    for (uid, before) in students.iter().zip(&season_one) {
        assert_eq!(&season_of(&s, uid, Some(1)).await, before, "{uid}'s season 1 is readable as it was");
    }
    let (status, gone) = s.send("DELETE", &format!("/api/v1/orders/bob/{resting_id}"), None).await;
    assert_eq!(status, 404, "an archived order is not in play: {gone}");
    let board = wait_for_board(&s, 2, 4).await;
    assert!(board["lines"].as_array().unwrap().iter().all(|l| l["value"] == 32778.71 && l["trades"] == 0), "{board}");
    let archived = s.get_ok("/api/v1/leaderboard?season=1&sort=value").await;
    assert_eq!((archived["season"].as_str(), archived["students"].as_u64()), (Some("ended"), Some(4)), "{archived}");
    let trades: Vec<u64> =
        archived["lines"].as_array().unwrap().iter().map(|l| l["trades"].as_u64().unwrap()).collect();
    assert_eq!(trades.iter().sum::<u64>(), 3, "{archived}");
    // Returns against what each student opened season 1 with, not the cash of the reset.
    for line in archived["lines"].as_array().unwrap() {
        assert!(line["return_percent"].as_f64().unwrap().abs() < 1.0, "{archived}");
    }
    let (status, missing) = s.get("/api/v1/leaderboard?season=3").await;
    assert_eq!((status, missing["code"].as_str()), (404, Some("unknown_season")), "{missing}");
    let seasons = s.get_ok("/api/v1/class/seasons").await;
    assert_eq!(seasons.as_array().unwrap().len(), 2, "{seasons}");
    assert_eq!((seasons[0]["current"].as_bool(), seasons[0]["trades"].as_u64()), (Some(false), Some(3)), "{seasons}");
    assert!(seasons[0]["ended_at"].is_string() && seasons[1]["ended_at"].is_null(), "{seasons}");

    // The undo, before anyone trades: season 1 is current again exactly as it was.
    let (status, undone) = admin(&s, "POST", "/api/v1/admin/season/undo", None).await;
    assert_eq!((status, undone["season"].as_i64(), undone["discarded"].as_i64()), (200, Some(1), Some(2)), "{undone}");
    for (uid, before) in students.iter().zip(&season_one) {
        assert_eq!(&season_of(&s, uid, None).await, before, "{uid}'s season 1 is back");
    }
    assert_eq!(s.get_ok("/api/v1/portfolio/positions/ann").await, positions_one);
    assert_eq!(s.get_ok("/api/v1/portfolio/positions/bob").await["held"]["balances"]["usa"], 1.0, "the hold is back");
    assert_eq!(s.get_ok("/api/v1/class/seasons").await.as_array().unwrap().len(), 1);
    wait_for_board(&s, 1, 4).await;
    let (status, nothing) = admin(&s, "POST", "/api/v1/admin/season/undo", None).await;
    assert_eq!((status, nothing["code"].as_str()), (409, Some("no_archived_season")), "{nothing}");

    // A reset again, then a trade in the new season: from then on it cannot be undone.
    assert_eq!(admin(&s, "POST", "/api/v1/admin/season", None).await.0, 200);
    let (status, bought) = s.post("/api/v1/orders/place", buy("ann", "AAPL", "1", "usa")).await;
    assert_eq!(status, 200, "{bought}");
    let (status, refused) = admin(&s, "POST", "/api/v1/admin/season/undo", None).await;
    assert_eq!((status, refused["code"].as_str()), (409, Some("season_has_orders")), "{refused}");
    let (_, audit) = admin(&s, "GET", "/api/v1/admin/audit", None).await;
    let actions: Vec<&str> = audit.as_array().unwrap().iter().filter_map(|e| e["action"].as_str()).collect();
    assert_eq!(actions.iter().filter(|a| **a == "season_new").count(), 2, "{audit}");
    assert_eq!(actions.iter().filter(|a| **a == "season_undone").count(), 1, "{audit}");
    s.stop();

    // A restart keeps season 2 current and season 1 archived as it was.
    let s = TestServer::start(&config("name = \"Econ 101\""), &data, 13);
    assert_eq!(s.get_ok("/api/v1/class").await["season"]["number"], 2);
    for (uid, before) in students.iter().zip(&season_one) {
        assert_eq!(&season_of(&s, uid, Some(1)).await, before, "{uid}'s season 1 after a restart");
    }
    assert_eq!(season_of(&s, "ann", None).await["fills"].as_array().unwrap().len(), 1);
    s.stop();

    let (consistent, report) = check(&data);
    assert!(consistent && report.contains("2 seasons, archived ones too"), "{report}");

    // The archived season is checked like the current one: a cent taken from it is found.
    let conn = duckdb::Connection::open(&data).unwrap();
    let archived_rows: i64 = conn.query_row("SELECT count(*) FROM orders WHERE season = 1", [], |r| r.get(0)).unwrap();
    assert_eq!(archived_rows, 3, "season 1's fills are all still stored");
    conn.execute(
        "UPDATE orders SET cash_after_cents = cash_after_cents - 1 WHERE season = 1 AND firebase_uid = 'ann'",
        [],
    )
    .unwrap();
    drop(conn);
    let (consistent, report) = check(&data);
    assert!(!consistent && report.contains("of ann (season 1,"), "{report}");
}

#[actix_web::test]
async fn orders_racing_season_resets_land_whole_in_one_season_and_every_season_checks() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("racing.duckdb");
    let s = TestServer::start(&config("name = \"Econ 101\""), &data, 14);
    let clients = 16;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut tasks = Vec::new();
    for n in 0..clients {
        let (base, stop) = (s.base.clone(), stop.clone());
        tasks.push(actix_web::rt::spawn(async move {
            let client = awc::Client::builder().timeout(Duration::from_secs(30)).finish();
            let uid = format!("racer-{n}");
            let mut placed = Vec::new();
            // Orders flow until the resets are over.
            for round in 0.. {
                if stop.load(std::sync::atomic::Ordering::Relaxed) {
                    break;
                }
                let mut order = buy(&uid, "AAPL", "1", "usa");
                if round % 4 == 3 {
                    order["order_type"] = json!("limit");
                    order["limit_price"] = json!(1);
                    order["time_in_force"] = json!("gtc");
                }
                let mut response = client.post(format!("{base}/api/v1/orders/place")).send_json(&order).await.unwrap();
                let body: Value = response.json().await.unwrap();
                assert_eq!(response.status().as_u16(), 200, "{body}");
                placed.push(body["order_id"].as_i64().unwrap());
                actix_web::rt::time::sleep(Duration::from_millis(5)).await;
            }
            (uid, placed)
        }));
    }
    // Three resets while the orders flow; an undo after each is refused once orders landed.
    let mut refusals = 0;
    for _ in 0..3 {
        actix_web::rt::time::sleep(Duration::from_millis(150)).await;
        let (status, reset) = admin(&s, "POST", "/api/v1/admin/season", None).await;
        assert_eq!(status, 200, "{reset}");
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
        let (status, undo) = admin(&s, "POST", "/api/v1/admin/season/undo", None).await;
        match status {
            409 => refusals += 1,
            200 => assert_eq!(admin(&s, "POST", "/api/v1/admin/season", None).await.0, 200),
            _ => panic!("{undo}"),
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut placed = Vec::new();
    for task in tasks {
        placed.push(task.await.expect("client finished"));
    }
    let seasons = s.get_ok("/api/v1/class/seasons").await.as_array().unwrap().len() as i32;
    assert_eq!(seasons, 4, "three resets stand");
    assert!(refusals >= 1, "orders flowed between the resets");
    for (uid, ids) in &placed {
        // Every order is in exactly one season, whole: its listing and its fill in the same one.
        let mut found = Vec::new();
        for season in 1..=seasons {
            let orders = s.get_ok(&format!("/api/v1/orders/{uid}?status=all&season={season}")).await;
            let fills = s.get_ok(&format!("/api/v1/portfolio/orders/{uid}?season={season}")).await;
            let fill_ids: Vec<i64> = fills.as_array().unwrap().iter().map(|f| f["id"].as_i64().unwrap()).collect();
            for order in orders.as_array().unwrap() {
                found.push(order["order_id"].as_i64().unwrap());
                if order["order_type"] == "market" {
                    assert!(fill_ids.contains(&order["order_id"].as_i64().unwrap()), "{uid} season {season}: {order}");
                }
            }
        }
        found.sort();
        let mut expected = ids.clone();
        expected.sort();
        assert_eq!(found, expected, "{uid}'s orders across the seasons");
    }
    s.stop();
    let (consistent, report) = check(&data);
    assert!(consistent && report.contains("4 seasons"), "{report}");
}

#[actix_web::test]
async fn at_the_seasons_end_a_closing_snapshot_is_taken_and_the_standings_freeze_while_prices_move() {
    let dir = tempfile::tempdir().unwrap();
    let end = chrono::Utc::now() + chrono::Duration::seconds(6);
    let class = format!("season_end = \"{}\"\nsnapshot_interval_secs = 3600", end.to_rfc3339());
    let s = TestServer::start(&config(&class), &dir.path().join("closing.duckdb"), 15);
    let (status, placed) = s.post("/api/v1/orders/place", buy("ann", "BTC", "0.1", "crypto")).await;
    assert_eq!(status, 200, "{placed}");
    assert!(chrono::Utc::now() < end, "the order was placed before the end");

    // No timed round within the hour: the one stored point is the closing snapshot.
    let started = Instant::now();
    let performance = loop {
        let p = s.get_ok("/api/v1/portfolio/performance/ann").await;
        if chrono::Utc::now() > end && p["points"].as_array().unwrap().len() == 1 {
            break p;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "no closing snapshot: {p}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let closing = &performance["points"][0];
    assert!(common::assert_timestamp(closing, "time") >= end, "taken at or after the end: {closing}");
    assert_eq!(performance["value"], closing["value"], "the value is the closing one: {performance}");

    // Prices go on moving; the standings do not.
    let quote = s.get_ok("/api/v1/market/quote/BTC").await["price"].clone();
    let started = Instant::now();
    while s.get_ok("/api/v1/market/quote/BTC").await["price"] == quote {
        assert!(started.elapsed() < Duration::from_secs(15), "BTC never moved");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    tokio::time::sleep(Duration::from_millis(1_200)).await; // past one rebuild of the table
    let board = s.get_ok("/api/v1/leaderboard").await;
    assert_eq!(board["season"], "ended", "{board}");
    assert_eq!(board["lines"][0]["value"], closing["value"], "{board}");
    assert_eq!(s.get_ok("/api/v1/portfolio/performance/ann").await["value"], closing["value"]);

    // Archived days later, the season keeps the standings it froze at.
    let (status, reset) = admin(&s, "POST", "/api/v1/admin/season", None).await;
    assert_eq!(status, 200, "{reset}");
    let archived = s.get_ok("/api/v1/leaderboard?season=1").await;
    assert_eq!(archived["lines"][0]["value"], closing["value"], "{archived}");
    s.stop();
}
