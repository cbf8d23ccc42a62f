//! Orders beyond market (limit, stop, trailing stop; day, gtc, ioc, fok), through the HTTP API
//! and the live stream of the real server, with the injectable clock: prices move only when a
//! test moves the clock, and every fill is checked against the ticks the stream showed.

mod common;

use common::*;
use finlearn::domain::time::{Clock, ManualClock, Timestamp};
use futures_util::{SinkExt, StreamExt};
use rust_decimal::prelude::FromPrimitive;
use rust_decimal::{Decimal, RoundingStrategy};
use serde_json::{Value, json};
use std::str::FromStr;
use std::sync::Arc;
use tokio_tungstenite::tungstenite::Message;

/// A very volatile stock, so a price a little away from the market is reached in minutes.
const VOLATILE: &str = r#"
[[instruments.extra]]
symbol = "VOLT"
name = "Volatile Test Co."
type = "stock"
sector = "technology"
market = "usa"
currency = "USD"
base_price = 100.0
annual_volatility = 5.0
annual_drift = 0.0
"#;

const START: &str = "2026-12-01T09:00:00Z";

struct Market {
    server: TestServer,
    clock: Arc<ManualClock>,
    _dir: tempfile::TempDir,
}

fn config() -> String {
    format!(
        "{SMALL_MARKET}{VOLATILE}\n[simulation]\nseed_days = 0.05\n[news]\nshare = 0.0\n\
         [trading]\nmax_open_orders_per_user = 3\n"
    )
}

fn open_market(seed: u64, start: &str) -> Market {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::starting_at(Timestamp::parse_rfc3339(start).unwrap()));
    let server = TestServer::start_with_clock(
        &config(),
        &dir.path().join("orders.duckdb"),
        seed,
        clock.clone() as Arc<dyn Clock>,
    );
    Market { server, clock, _dir: dir }
}

fn dec(v: &Value) -> Decimal {
    Decimal::from_str(&v.to_string()).unwrap_or_else(|_| panic!("{v} is a decimal number"))
}

/// A tick's price on the cent grid, as the ledger reads it.
fn cents(v: &Value) -> Decimal {
    Decimal::from_f64(v.as_f64().unwrap()).unwrap().round_dp(2)
}

async fn price_of(s: &TestServer, symbol: &str) -> Decimal {
    cents(&s.get_ok(&format!("/api/v1/market/quote/{symbol}")).await["price"])
}

fn order(uid: &str, symbol: &str, side: &str, quantity: Decimal, terms: Value) -> Value {
    let mut body = json!({"firebase_uid": uid, "symbol": symbol, "side": side, "market": "usa",
        "quantity": serde_json::from_str::<Value>(&quantity.to_string()).unwrap()});
    for (k, v) in terms.as_object().unwrap() {
        body[k] = v.clone();
    }
    body
}

fn number(d: Decimal) -> Value {
    serde_json::from_str(&d.to_string()).unwrap()
}

async fn place(s: &TestServer, body: Value) -> Value {
    let (status, answer) = s.post("/api/v1/orders/place", body.clone()).await;
    assert_eq!(status, 200, "{body} -> {answer}");
    assert_eq!(answer["status"], "success");
    answer
}

async fn expect_refusal(s: &TestServer, body: Value, status: u16, code: &str) {
    let (got, answer) = s.post("/api/v1/orders/place", body.clone()).await;
    assert_eq!((got, answer["code"].as_str()), (status, Some(code)), "{body} -> {answer}");
    assert!(answer["detail"].as_str().is_some_and(|d| !d.is_empty()));
}

/// A socket following `symbol`'s ticks and `uid`'s order events.
async fn watch(s: &TestServer, symbol: &str, uid: &str) -> Socket {
    let mut socket = connect(&s.ws).await;
    next_json(&mut socket, 10).await; // hello
    let subscribe = json!({"action": "subscribe", "symbols": [symbol]}).to_string();
    socket.send(Message::text(subscribe)).await.unwrap();
    assert_eq!(next_json(&mut socket, 10).await["event"], "subscribed");
    let orders = json!({"action": "subscribe_orders", "firebase_uid": uid}).to_string();
    socket.send(Message::text(orders)).await.unwrap();
    loop {
        let frame = next_json(&mut socket, 10).await;
        if frame["event"] == "subscribed_orders" {
            return socket;
        }
    }
}

/// Moves the clock and collects the ticks the engine emits for it, up to the next frame of
/// `uid`'s orders (returned if one arrives among them).
async fn advance(m: &Market, socket: &mut Socket, secs: i64, ticks: &mut Vec<Decimal>) -> Vec<Value> {
    m.clock.advance_micros(secs * 1_000_000);
    let until = m.clock.now().plus_micros(-3_000_000);
    let mut events = Vec::new();
    loop {
        let frame = next_json(socket, 10).await;
        if frame["type"] == "order" {
            events.push(frame);
            continue;
        }
        if frame["symbol"].is_string() {
            ticks.push(cents(&frame["price"]));
            if assert_timestamp(&frame, "timestamp").timestamp_micros() >= until.micros() {
                return events;
            }
        }
    }
}

/// The next order event on the socket.
async fn next_order_event(socket: &mut Socket) -> Value {
    next_of_type(socket, "order").await
}

#[actix_web::test]
async fn a_resting_buy_holds_its_cost_until_canceled_and_cancel_is_idempotent() {
    let m = open_market(21, START);
    let s = &m.server;
    let price = price_of(s, "AAPL").await;
    let limit = (price / Decimal::TWO).round_dp(2);
    let quantity = (Decimal::from(6_000) / limit).floor();
    let hold = (limit * quantity).round_dp(2);
    let terms = json!({"order_type": "limit", "limit_price": number(limit), "time_in_force": "gtc"});
    let placed = place(s, order("ann", "AAPL", "buy", quantity, terms.clone())).await;
    assert_eq!((placed["fill_price"].is_null(), placed["total_value"].is_null()), (true, true), "{placed}");
    assert_eq!(dec(&placed["new_balance"]), Decimal::from(10_000));
    let id = placed["order_id"].as_i64().unwrap();
    let o = &placed["order"];
    assert_eq!(
        (o["order_id"].as_i64(), o["status"].as_str(), o["order_type"].as_str()),
        (Some(id), Some("new"), Some("limit"))
    );
    assert_eq!(dec(&o["held_cash"]), hold);

    let p = s.get_ok("/api/v1/portfolio/positions/ann").await;
    assert_eq!(dec(&p["balances"]["usa"]), Decimal::from(10_000), "a hold is not a payment");
    assert_eq!(dec(&p["held"]["balances"]["usa"]), hold);
    // What is held cannot be spent twice: not by a second order, not by a market order.
    expect_refusal(s, order("ann", "AAPL", "buy", quantity, terms.clone()), 400, "insufficient_funds").await;
    let too_much = ((Decimal::from(10_000) - hold) / price).ceil() + Decimal::ONE;
    expect_refusal(s, order("ann", "AAPL", "buy", too_much, json!({})), 400, "insufficient_funds").await;

    let open = s.get_ok("/api/v1/orders/ann").await;
    assert_eq!(open.as_array().unwrap().len(), 1);
    assert_eq!(open[0]["order_id"].as_i64(), Some(id));
    assert_eq!(s.get_ok(&format!("/api/v1/orders/ann/{id}")).await["status"], "new");

    let (status, canceled) = s.send("DELETE", &format!("/api/v1/orders/ann/{id}"), None).await;
    assert_eq!((status, canceled["status"].as_str()), (200, Some("canceled")), "{canceled}");
    assert_eq!(dec(&canceled["held_cash"]), Decimal::ZERO);
    let (status, again) = s.send("DELETE", &format!("/api/v1/orders/ann/{id}"), None).await;
    assert_eq!((status, again["status"].as_str()), (200, Some("canceled")), "canceling twice is harmless");
    let p = s.get_ok("/api/v1/portfolio/positions/ann").await;
    assert_eq!(dec(&p["held"]["balances"]["usa"]), Decimal::ZERO);
    assert_eq!(s.get_ok("/api/v1/orders/ann?status=open").await, json!([]));
    let closed = s.get_ok("/api/v1/orders/ann?status=closed").await;
    assert_eq!(closed.as_array().unwrap().len(), 1, "{closed}");
    assert_eq!(closed[0]["reason"], "canceled by the user");

    // A market order is an order too: listed, found, and (filled) not cancelable.
    let bought = place(s, order("ann", "AAPL", "buy", Decimal::ONE, json!({"order_type": "market"}))).await;
    assert_eq!(dec(&bought["fill_price"]), price);
    let market_id = bought["order_id"].as_i64().unwrap();
    assert_eq!(bought["order"]["status"], "filled");
    let (status, body) = s.send("DELETE", &format!("/api/v1/orders/ann/{market_id}"), None).await;
    assert_eq!((status, body["code"].as_str()), (409, Some("order_closed")), "{body}");
    assert_eq!(s.send("DELETE", "/api/v1/orders/ann/999999", None).await.0, 404);
    assert_eq!(s.send("DELETE", &format!("/api/v1/orders/bob/{market_id}"), None).await.0, 404, "not bob's");
    let all = s.get_ok("/api/v1/orders/ann?status=all").await;
    assert_eq!(
        all.as_array().unwrap().iter().map(|o| o["order_id"].as_i64().unwrap()).collect::<Vec<_>>(),
        [market_id, id]
    );
    let filled = s.get_ok("/api/v1/portfolio/orders/ann").await;
    assert_eq!(filled.as_array().unwrap().len(), 1, "the fills list keeps showing fills only");
    m.server.stop();
}

#[actix_web::test]
async fn terms_are_checked_and_immediate_orders_fill_or_cancel_at_once() {
    let m = open_market(22, START);
    let s = &m.server;
    let price = price_of(s, "AAPL").await;
    let below = (price * Decimal::new(9, 1)).round_dp(2);
    let limit = |p: Value, tif: &str| json!({"order_type": "limit", "limit_price": p, "time_in_force": tif});
    let one = Decimal::ONE;
    let raw = format!(
        r#"{{"firebase_uid": "cy", "symbol": "AAPL", "side": "buy", "quantity": 1, "market": "usa",
            "order_type": "limit", "limit_price": {below:.2}1}}"#
    );
    let (status, answer) = s.post_raw("/api/v1/orders/place", &raw).await;
    assert_eq!((status, answer["code"].as_str()), (422, Some("too_many_decimals")), "{answer}");
    let typo = number(price * Decimal::from(101));
    expect_refusal(s, order("cy", "AAPL", "buy", one, limit(typo, "gtc")), 422, "bad_terms").await;
    expect_refusal(s, order("cy", "AAPL", "buy", one, json!({"order_type": "limit"})), 422, "bad_terms").await;
    let above = number(price + Decimal::ONE);
    let sell_stop = json!({"order_type": "stop", "stop_price": above});
    expect_refusal(s, order("cy", "AAPL", "sell", one, sell_stop), 422, "bad_terms").await;
    let ioc_stop = json!({"order_type": "stop", "stop_price": above, "time_in_force": "ioc"});
    expect_refusal(s, order("cy", "AAPL", "buy", one, ioc_stop), 422, "bad_terms").await;
    let both = json!({"order_type": "trailing_stop", "trail_price": 1, "trail_percent": 1});
    expect_refusal(s, order("cy", "AAPL", "sell", one, both), 422, "bad_terms").await;
    expect_refusal(s, order("cy", "AAPL", "buy", one, limit(number(below), "week")), 400, "bad_time_in_force").await;
    expect_refusal(s, order("cy", "AAPL", "buy", one, json!({"order_type": "iceberg"})), 400, "bad_order_type").await;
    expect_refusal(s, order("cy", "AAPL", "sell", one, limit(number(below), "gtc")), 400, "insufficient_holdings")
        .await;

    // ioc that cannot fill at once: accepted and canceled, nothing held.
    let ioc = place(s, order("cy", "AAPL", "buy", one, limit(number(below), "ioc"))).await;
    assert_eq!(ioc["order"]["status"], "canceled", "{ioc}");
    // fok whose limit the market is within: filled at the market price, not at the limit.
    let fok = place(s, order("cy", "AAPL", "buy", one, limit(number(price * Decimal::TWO), "fok"))).await;
    assert_eq!((fok["order"]["status"].as_str(), dec(&fok["fill_price"])), (Some("filled"), price), "{fok}");

    // At most three open orders (this server's setting).
    for _ in 0..3 {
        place(s, order("cy", "AAPL", "buy", one, limit(number(below), "day"))).await;
    }
    expect_refusal(s, order("cy", "AAPL", "buy", one, limit(number(below), "day")), 422, "too_many_open_orders").await;
    let open = s.get_ok("/api/v1/orders/cy").await;
    assert_eq!(open.as_array().unwrap().len(), 3);
    assert!(open.as_array().unwrap().iter().all(|o| o["time_in_force"] == "day" && o["expires_at"].is_string()));

    // Replacing re-checks the hold: a quantity the cash cannot cover is refused, the order unchanged.
    let id = open[0]["order_id"].as_i64().unwrap();
    let (status, body) = s.send("PATCH", &format!("/api/v1/orders/cy/{id}"), Some(json!({"quantity": 1000}))).await;
    assert_eq!((status, body["code"].as_str()), (400, Some("insufficient_funds")), "{body}");
    let lower = number((below - Decimal::ONE).round_dp(2));
    let (status, body) =
        s.send("PATCH", &format!("/api/v1/orders/cy/{id}"), Some(json!({"quantity": 2, "limit_price": lower}))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!((dec(&body["quantity"]), body["limit_price"].clone()), (Decimal::TWO, lower));
    assert_eq!(dec(&body["held_cash"]), ((below - Decimal::ONE) * Decimal::TWO).round_dp(2));
    m.server.stop();
}

#[actix_web::test]
async fn a_resting_limit_fills_at_the_first_tick_that_reaches_it_in_placement_order() {
    let m = open_market(23, START);
    let s = &m.server;
    let mut socket = watch(s, "VOLT", "dee").await;
    let start = price_of(s, "VOLT").await;
    let limit = (start * Decimal::new(998, 3)).round_dp_with_strategy(2, RoundingStrategy::ToZero);
    let terms = json!({"order_type": "limit", "limit_price": number(limit), "time_in_force": "gtc"});
    let quantity = Decimal::from(10);
    let first = place(s, order("dee", "VOLT", "buy", quantity, terms.clone())).await;
    let second = place(s, order("eve", "VOLT", "buy", quantity, terms)).await;
    let event = next_order_event(&mut socket).await;
    assert_eq!((event["event"].as_str(), &event["order"]["order_id"]), (Some("new"), &first["order_id"]));

    let (fill, reached) = until_fill(&m, &mut socket, |ticks| ticks.iter().copied().find(|p| *p <= limit)).await;
    assert_eq!((fill["event"].as_str(), fill["order"]["status"].as_str()), (Some("fill"), Some("filled")), "{fill}");
    assert_eq!(fill["order"]["firebase_uid"], "dee", "only dee's own events reach dee's socket");
    assert_eq!(dec(&fill["order"]["fill_price"]), reached, "filled at the tick's price, at the limit or better");
    let total = (reached * quantity).round_dp(2);

    let order = s.get_ok(&format!("/api/v1/orders/dee/{}", first["order_id"])).await;
    assert_eq!((order["status"].as_str(), dec(&order["fill_price"])), (Some("filled"), reached));
    let p = s.get_ok("/api/v1/portfolio/positions/dee").await;
    assert_eq!(dec(&p["balances"]["usa"]), Decimal::from(10_000) - total);
    assert_eq!(dec(&p["held"]["balances"]["usa"]), Decimal::ZERO);
    assert_eq!((p["positions"][0]["symbol"].as_str(), dec(&p["positions"][0]["quantity"])), (Some("VOLT"), quantity));
    // Both triggered on the same tick; the earlier order took the earlier ledger row.
    let dee = s.get_ok("/api/v1/portfolio/orders/dee").await;
    let eve = s.get_ok("/api/v1/portfolio/orders/eve").await;
    assert_eq!((dee[0]["order_type"].as_str(), dec(&eve[0]["fill_price"])), (Some("limit"), reached));
    assert!(dee[0]["id"].as_i64() < eve[0]["id"].as_i64(), "{dee} {eve}");
    assert!(second["order_id"].as_i64() > first["order_id"].as_i64());
    m.server.stop();
}

#[actix_web::test]
async fn a_trailing_stop_follows_the_best_price_and_sells_on_the_retreat() {
    let m = open_market(24, START);
    let s = &m.server;
    let mut socket = watch(s, "VOLT", "fay").await;
    place(s, order("fay", "VOLT", "buy", Decimal::from(5), json!({}))).await;
    assert_eq!(next_order_event(&mut socket).await["event"], "fill");
    let start = price_of(s, "VOLT").await;
    let terms = json!({"order_type": "trailing_stop", "trail_percent": 0.5, "time_in_force": "gtc"});
    let placed = place(s, order("fay", "VOLT", "sell", Decimal::from(5), terms)).await;
    assert_eq!(dec(&placed["order"]["held_quantity"]), Decimal::from(5));
    assert_eq!(dec(&placed["order"]["hwm"]), start);
    assert_eq!(next_order_event(&mut socket).await["event"], "new");

    // The expected fill by the documented rule, from the ticks the stream shows.
    let expected = |ticks: &[Decimal]| {
        let mut mark = start;
        ticks.iter().find_map(|p| {
            mark = mark.max(*p);
            let stop =
                (mark - mark * Decimal::new(5, 3)).round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
            (*p <= stop).then_some((*p, mark))
        })
    };
    let (fill, (price, mark)) = until_fill(&m, &mut socket, expected).await;
    assert_eq!(fill["event"], "fill", "{fill}");
    assert_eq!((dec(&fill["order"]["fill_price"]), dec(&fill["order"]["hwm"])), (price, mark));
    let p = s.get_ok("/api/v1/portfolio/positions/fay").await;
    assert_eq!(p["positions"], json!([]));
    assert_eq!(p["held"]["positions"], json!([]));
    m.server.stop();
}

#[actix_web::test]
async fn day_orders_expire_at_midnight_utc_and_resting_orders_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("expiry.duckdb");
    let clock = Arc::new(ManualClock::starting_at(Timestamp::parse_rfc3339("2026-12-01T23:58:00Z").unwrap()));
    let s = TestServer::start_with_clock(&config(), &path, 25, clock.clone() as Arc<dyn Clock>);
    let m = Market { server: s, clock, _dir: tempfile::tempdir().unwrap() };
    let s = &m.server;
    let mut socket = watch(s, "AAPL", "gus").await;
    let far = number((price_of(s, "AAPL").await / Decimal::TWO).round_dp(2));
    let day =
        place(s, order("gus", "AAPL", "buy", Decimal::ONE, json!({"order_type": "limit", "limit_price": far}))).await;
    assert_eq!(day["order"]["time_in_force"], "day", "day is the default");
    assert_eq!(day["order"]["expires_at"], "2026-12-02T00:00:00.000000Z");
    let gtc = json!({"order_type": "limit", "limit_price": far, "time_in_force": "gtc"});
    let kept = place(s, order("gus", "AAPL", "buy", Decimal::ONE, gtc)).await;
    next_order_event(&mut socket).await;
    next_order_event(&mut socket).await;

    let mut ticks = Vec::new();
    let mut events = advance(&m, &mut socket, 180, &mut ticks).await;
    let expired = match events.pop() {
        Some(event) => event,
        None => next_order_event(&mut socket).await,
    };
    assert_eq!((expired["event"].as_str(), &expired["order"]["order_id"]), (Some("expired"), &day["order_id"]));
    assert_eq!(expired["order"]["updated_at"], "2026-12-02T00:00:00.000000Z");
    let p = s.get_ok("/api/v1/portfolio/positions/gus").await;
    let held = dec(&p["held"]["balances"]["usa"]);
    assert_eq!(held, dec(&kept["order"]["held_cash"]), "only the gtc order still holds cash");
    // Nothing may hold the first server's state while the second opens the file: the socket is
    // closed and its end seen before the server stops.
    socket.close(None).await.unwrap();
    while let Some(Ok(_)) = socket.next().await {}
    let Market { server, clock, .. } = m;
    server.stop();

    let s = TestServer::start_with_clock(&config(), &path, 25, clock as Arc<dyn Clock>);
    let open = s.get_ok("/api/v1/orders/gus").await;
    assert_eq!(open.as_array().unwrap().len(), 1);
    assert_eq!(open[0]["order_id"], kept["order_id"]);
    let p = s.get_ok("/api/v1/portfolio/positions/gus").await;
    assert_eq!(dec(&p["held"]["balances"]["usa"]), held, "the hold is restored with the order");
    let (status, body) = s.send("DELETE", &format!("/api/v1/orders/gus/{}", kept["order_id"]), None).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("canceled")));
    s.stop();
}

/// Moves the clock until `rule` says, from the ticks the stream showed, that the order fills;
/// returns the fill event and what the rule expected.
async fn until_fill<T>(m: &Market, socket: &mut Socket, rule: impl Fn(&[Decimal]) -> Option<T>) -> (Value, T) {
    let mut ticks = Vec::new();
    // Steps shorter than the engine's catch-up threshold, so every tick is streamed live.
    for _ in 0..360 {
        let mut events = advance(m, socket, 20, &mut ticks).await;
        if let Some(expected) = rule(&ticks) {
            let fill = match events.pop() {
                Some(event) => event,
                None => next_order_event(socket).await,
            };
            return (fill, expected);
        }
        assert!(events.is_empty(), "nothing happens before the price comes: {events:?}");
    }
    panic!("the price never came within two hours");
}

#[actix_web::test]
async fn a_buy_stop_fills_on_the_tick_that_crosses_it_and_a_stop_limit_then_waits_for_its_limit() {
    let m = open_market(26, START);
    let s = &m.server;
    let mut socket = watch(s, "VOLT", "hal").await;
    let start = price_of(s, "VOLT").await;
    let stop = (start * Decimal::new(1_002, 3)).round_dp_with_strategy(2, RoundingStrategy::AwayFromZero);
    let terms = json!({"order_type": "stop", "stop_price": number(stop), "time_in_force": "gtc"});
    let placed = place(s, order("hal", "VOLT", "buy", Decimal::from(3), terms)).await;
    let buffered = (stop * Decimal::new(105, 2)).round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
    assert_eq!(dec(&placed["order"]["held_cash"]), (buffered * Decimal::from(3)).round_dp(2));
    assert_eq!(next_order_event(&mut socket).await["event"], "new");
    let (fill, price) = until_fill(&m, &mut socket, |ticks| ticks.iter().copied().find(|p| *p >= stop)).await;
    assert_eq!((fill["event"].as_str(), dec(&fill["order"]["fill_price"])), (Some("fill"), price), "{fill}");

    // A sell stop-limit: triggered at the stop, filled only at the limit or better.
    let last = price_of(s, "VOLT").await;
    let stop = (last * Decimal::new(998, 3)).round_dp_with_strategy(2, RoundingStrategy::ToZero);
    let limit = stop - Decimal::new(1, 2);
    let terms = json!({"order_type": "stop_limit", "stop_price": number(stop), "limit_price": number(limit),
        "time_in_force": "gtc"});
    let placed = place(s, order("hal", "VOLT", "sell", Decimal::from(3), terms)).await;
    assert_eq!(dec(&placed["order"]["held_quantity"]), Decimal::from(3));
    assert_eq!(next_order_event(&mut socket).await["event"], "new");
    let rule = |ticks: &[Decimal]| {
        let crossed = ticks.iter().position(|p| *p <= stop)?;
        ticks[crossed..].iter().copied().find(|p| *p >= limit)
    };
    let (fill, price) = until_fill(&m, &mut socket, rule).await;
    assert_eq!((fill["event"].as_str(), dec(&fill["order"]["fill_price"])), (Some("fill"), price), "{fill}");
    let p = s.get_ok("/api/v1/portfolio/positions/hal").await;
    assert_eq!((p["positions"].clone(), p["held"]["positions"].clone()), (json!([]), json!([])));
    m.server.stop();
}
