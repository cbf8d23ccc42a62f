//! The paper-trading routes, called as the app calls them.

mod common;

use common::*;
use finlearn::domain::time::{Clock, ManualClock, Timestamp};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use std::str::FromStr;
use std::sync::{Arc, OnceLock};

/// A server whose clock stands still: prices do not move, so fills are predictable.
struct Frozen {
    server: TestServer,
}

fn frozen() -> &'static Frozen {
    static SERVER: OnceLock<Frozen> = OnceLock::new();
    SERVER.get_or_init(|| {
        let clock = Arc::new(ManualClock::starting_at(Timestamp::parse_rfc3339("2026-12-01T09:00:00Z").unwrap()));
        let config = format!("{SMALL_MARKET}\n[simulation]\nseed_days = 1\n");
        let server =
            TestServer::start_with_clock(&config, &shared_dir().join("trading.duckdb"), 11, clock as Arc<dyn Clock>);
        Frozen { server }
    })
}

fn dec(v: &Value) -> Decimal {
    Decimal::from_str(&v.to_string()).unwrap_or_else(|_| panic!("{v} is a decimal number"))
}

fn order(uid: &str, symbol: &str, side: &str, quantity: Value, market: &str) -> Value {
    json!({"firebase_uid": uid, "symbol": symbol, "side": side, "quantity": quantity, "market": market, "order_type": "market"})
}

async fn price_of(s: &TestServer, symbol: &str) -> Decimal {
    dec(&s.get_ok(&format!("/api/v1/market/quote/{symbol}")).await["price"])
}

#[actix_web::test]
async fn a_buy_then_a_sell_move_cash_and_positions_exactly() {
    let s = &frozen().server;
    let price = price_of(s, "AAPL").await;
    let (status, body) = s.post("/api/v1/orders/place", order("alice", "AAPL", "buy", json!(3), "usa")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "success");
    assert_string(&body, "message");
    assert_eq!(dec(&body["fill_price"]), price);
    let cost = (price * Decimal::from(3)).round_dp(2);
    assert_eq!(dec(&body["total_value"]), cost);
    assert_eq!(dec(&body["new_balance"]), Decimal::from(10_000) - cost);

    let p = s.get_ok("/api/v1/portfolio/positions/alice").await;
    assert_eq!(dec(&p["balances"]["usa"]), Decimal::from(10_000) - cost);
    assert_eq!(dec(&p["balances"]["india"]), Decimal::from(10_000));
    assert_eq!(dec(&p["balances"]["uk"]), Decimal::from(10_000));
    assert_eq!(
        p["positions"],
        json!([{"symbol": "AAPL", "quantity": 3.0, "average_cost": p["positions"][0]["average_cost"]}])
    );
    assert_eq!(dec(&p["positions"][0]["average_cost"]), price);

    let (status, _) = s.post("/api/v1/orders/place", order("alice", "AAPL", "sell", json!(1.5), "usa")).await;
    assert_eq!(status, 200);
    let (status, body) = s.post("/api/v1/orders/place", order("alice", "AAPL", "sell", json!(2), "usa")).await;
    assert_eq!(status, 400);
    assert!(body["detail"].as_str().unwrap().contains("Insufficient holdings"), "{body}");
    let (status, body) = s.post("/api/v1/orders/place", order("alice", "AAPL", "sell", json!(1.5), "usa")).await;
    assert_eq!(status, 200);
    // Each order's value is rounded to the cent on its own (half away from zero), so selling in
    // two halves can differ from the one purchase by a cent.
    let half =
        (price * Decimal::new(15, 1)).round_dp_with_strategy(2, rust_decimal::RoundingStrategy::MidpointAwayFromZero);
    assert_eq!(dec(&body["new_balance"]), Decimal::from(10_000) - cost + half + half, "bought and sold at one price");
    let p = s.get_ok("/api/v1/portfolio/positions/alice").await;
    assert_eq!(p["positions"], json!([]), "a position sold to zero leaves the view");

    let orders = s.get_ok("/api/v1/portfolio/orders/alice").await;
    let orders = orders.as_array().unwrap();
    assert_eq!(orders.len(), 3);
    assert!(orders[0]["id"].as_i64() > orders[1]["id"].as_i64(), "newest first");
    for o in orders {
        assert!(o["id"].is_i64());
        for key in ["symbol", "side", "order_type", "status"] {
            assert_string(o, key);
        }
        assert_number(o, "quantity");
        assert_number(o, "fill_price");
        assert_timestamp(o, "created_at");
        assert_timestamp(o, "filled_at");
    }
    assert_eq!((orders[2]["side"].as_str(), orders[2]["quantity"].as_f64()), (Some("buy"), Some(3.0)));
}

#[actix_web::test]
async fn every_refusal_is_a_clear_error_and_writes_nothing() {
    let s = &frozen().server;
    let refusals = [
        (order("bob", "NOPE", "buy", json!(1), "usa"), 400),
        (order("bob", "AAPL", "hold", json!(1), "usa"), 400),
        (order("bob", "AAPL", "buy", json!(0), "usa"), 400),
        (order("bob", "AAPL", "buy", json!(-2), "usa"), 400),
        (order("bob", "AAPL", "buy", json!(0.0000001), "usa"), 422), // seven decimals: too_many_decimals
        (order("bob", "AAPL", "buy", json!(1e12), "usa"), 400),
        (order("bob", "AAPL", "buy", json!(1), "india"), 400),
        (order("bob", "AAPL", "buy", json!(1), "mars"), 400),
        (order("bob", "BTC", "buy", json!(1), "usa"), 400), // 42,500 USD: insufficient funds
        (order("bob", "AAPL", "sell", json!(1), "usa"), 400),
        (order("", "AAPL", "buy", json!(1), "usa"), 400),
        (order(&"x".repeat(129), "AAPL", "buy", json!(1), "usa"), 400),
        (
            json!({"firebase_uid": "bob", "symbol": "AAPL", "side": "buy", "quantity": 1, "market": "usa", "order_type": "limit"}),
            422, // a limit order needs limit_price
        ),
        (json!({"firebase_uid": "bob", "symbol": "AAPL", "side": "buy", "quantity": "1", "market": "usa"}), 422),
        (json!({"firebase_uid": "bob", "symbol": "AAPL", "side": "buy", "market": "usa"}), 422),
        (json!([1, 2, 3]), 422),
    ];
    for (body, expected) in refusals {
        let (status, answer) = s.post("/api/v1/orders/place", body.clone()).await;
        assert_eq!(status, expected, "{body} -> {answer}");
        assert!(answer["detail"].as_str().is_some_and(|d| !d.is_empty()), "{body} -> {answer}");
    }
    let huge = json!({"firebase_uid": "bob", "symbol": "AAPL", "side": "buy", "quantity": 1, "market": "usa", "pad": "x".repeat(100_000)});
    assert_eq!(s.post("/api/v1/orders/place", huge).await.0, 413);
    assert_eq!(s.get_ok("/api/v1/portfolio/orders/bob").await, json!([]));
    let p = s.get_ok("/api/v1/portfolio/positions/bob").await;
    let held = json!({"balances": {"india": 0.0, "usa": 0.0, "uk": 0.0}, "positions": []});
    assert_eq!(
        p,
        json!({"balances": {"india": 10000.0, "usa": 10000.0, "uk": 10000.0}, "positions": [], "held": held})
    );
}

/// A quantity is read from the JSON text itself: digits past the sixth decimal are refused,
/// never rounded away, whatever a float would make of them.
#[actix_web::test]
async fn quantities_are_read_exactly_and_more_than_six_decimals_are_refused() {
    let s = &frozen().server;
    let body = |q: &str| {
        format!(r#"{{"firebase_uid": "erin", "symbol": "AAPL", "side": "buy", "quantity": {q}, "market": "usa"}}"#)
    };
    for q in ["0.10000000000000000001", "0.1000001", "1e-7", "2.0000000000000000000000000000001"] {
        let (status, answer) = s.post_raw("/api/v1/orders/place", &body(q)).await;
        assert_eq!(status, 422, "{q} -> {answer}");
        assert_eq!(answer["code"], "too_many_decimals", "{q} -> {answer}");
        assert!(answer["detail"].as_str().unwrap().contains("at most 6"), "{answer}");
    }
    let (status, answer) = s.post_raw("/api/v1/orders/place", &body("0.100000000")).await;
    assert_eq!(status, 200, "trailing zeros are not decimals: {answer}");
    let (status, answer) = s.post_raw("/api/v1/orders/place", &body("25e-2")).await;
    assert_eq!(status, 200, "{answer}");
    // Prices still go out as JSON numbers, and the quantities exactly as bought.
    assert_number(&answer, "fill_price");
    assert_number(&answer, "new_balance");
    let p = s.get_ok("/api/v1/portfolio/positions/erin").await;
    assert_eq!(p["positions"][0]["quantity"], json!(0.35));
    assert_eq!(s.get_ok("/api/v1/portfolio/orders/erin").await.as_array().unwrap().len(), 2);
}

#[actix_web::test]
async fn crypto_settles_in_dollars_from_usa_or_crypto_and_fractions_are_allowed() {
    let s = &frozen().server;
    for market in ["usa", "crypto"] {
        let (status, body) = s.post("/api/v1/orders/place", order("carol", "BTC", "buy", json!(0.01), market)).await;
        assert_eq!(status, 200, "{body}");
    }
    let p = s.get_ok("/api/v1/portfolio/positions/carol").await;
    assert_eq!(p["positions"][0]["quantity"], json!(0.02));
    assert!(dec(&p["balances"]["usa"]) < Decimal::from(10_000));
}

#[actix_web::test]
async fn fifty_parallel_buys_with_money_for_ten_accept_exactly_ten() {
    let s = &frozen().server;
    let price = price_of(s, "NIFTY%2050").await;
    // Each order costs just under 1,000 INR: ten fit in 10,000, eleven do not.
    let quantity = (Decimal::from(999) / price).round_dp_with_strategy(6, rust_decimal::RoundingStrategy::ToZero);
    let body = order("dave", "NIFTY 50", "buy", serde_json::from_str(&quantity.to_string()).unwrap(), "india");
    let attempts = (0..50).map(|_| s.post("/api/v1/orders/place", body.clone()));
    let results = futures_util::future::join_all(attempts).await;
    let accepted = results.iter().filter(|(status, _)| *status == 200).count();
    assert_eq!(accepted, 10);
    assert!(
        results
            .iter()
            .all(|(status, body)| *status == 200 || body["detail"].as_str().unwrap().contains("Insufficient funds"))
    );
    let p = s.get_ok("/api/v1/portfolio/positions/dave").await;
    let cost = (price * quantity).round_dp(2);
    assert_eq!(dec(&p["balances"]["india"]), Decimal::from(10_000) - cost * Decimal::from(10));
    assert_eq!(s.get_ok("/api/v1/portfolio/orders/dave").await.as_array().unwrap().len(), 10);
}

#[actix_web::test]
async fn the_watchlist_adds_idempotently_lists_and_removes() {
    let s = &frozen().server;
    for _ in 0..2 {
        let (status, body) = s.send("POST", "/api/v1/portfolio/watchlist/frank/L%26T", None).await;
        assert_eq!((status, body), (200, json!({"status": "added", "symbol": "L&T"})));
    }
    s.send("POST", "/api/v1/portfolio/watchlist/frank/BTC", None).await;
    assert_eq!(s.get_ok("/api/v1/portfolio/watchlist/frank").await, json!({"symbols": ["L&T", "BTC"]}));
    let (status, body) = s.send("DELETE", "/api/v1/portfolio/watchlist/frank/L%26T", None).await;
    assert_eq!((status, body), (200, json!({"status": "removed", "symbol": "L&T"})));
    assert_eq!(s.get_ok("/api/v1/portfolio/watchlist/frank").await, json!({"symbols": ["BTC"]}));
    assert_eq!(s.send("POST", "/api/v1/portfolio/watchlist/frank/NOPE", None).await.0, 400);
}
