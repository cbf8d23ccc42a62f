//! Every market-data route and the live stream, checked the way the app parses them.

mod common;

use common::*;
use futures_util::SinkExt;
use serde_json::{Value, json};
use std::sync::OnceLock;
use tokio_tungstenite::tungstenite::Message;

/// One server with the full built-in universe, shared by the tests of this file (they only read).
fn server() -> &'static TestServer {
    static SERVER: OnceLock<TestServer> = OnceLock::new();
    SERVER.get_or_init(|| TestServer::start("", &shared_dir().join("market.duckdb"), 42))
}

#[actix_web::test]
async fn health_routes_answer() {
    let s = server();
    assert_eq!(s.get_ok("/health").await, json!({"status": "ok", "service": "market_service"}));
    assert_eq!(s.get_ok("/").await, json!({"status": "healthy"}));
    let head = awc::Client::new().head(format!("{}/", s.base)).send().await.unwrap();
    assert_eq!(head.status().as_u16(), 200);
}

#[actix_web::test]
async fn instruments_list_the_built_in_universe_with_app_field_names() {
    let list = server().get_ok("/api/v1/market/instruments").await;
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 45);
    for i in list {
        for key in ["symbol", "name", "type", "sector", "market", "description"] {
            assert_string(i, key);
        }
        assert_number(i, "basePrice");
        assert_number(i, "volatility");
    }
    let nifty = list.iter().find(|i| i["symbol"] == "NIFTY 50").unwrap();
    assert_eq!((nifty["type"].as_str(), nifty["market"].as_str()), (Some("marketIndex"), Some("india")));
    let btc = list.iter().find(|i| i["symbol"] == "BTC").unwrap();
    assert_eq!(btc["market"], "crypto");
}

fn assert_snapshot(q: &Value) {
    for key in ["symbol", "name"] {
        assert_string(q, key);
    }
    for key in ["price", "open", "high", "low", "previousClose", "change", "changePercent", "volume"] {
        assert_number(q, key);
    }
    assert_timestamp(q, "timestamp");
    let (price, low, high) = (q["price"].as_f64().unwrap(), q["low"].as_f64().unwrap(), q["high"].as_f64().unwrap());
    assert!(low <= price && price <= high, "{q}");
    let change = price - q["previousClose"].as_f64().unwrap();
    assert!((q["change"].as_f64().unwrap() - change).abs() < 0.006, "{q}");
    assert!(q["fiftyTwoWeekHigh"].as_f64().unwrap() >= high - 1e-9);
    assert!(q["fiftyTwoWeekLow"].as_f64().unwrap() <= low + 1e-9);
}

#[actix_web::test]
async fn a_quote_is_a_real_trading_day_snapshot() {
    let q = server().get_ok("/api/v1/market/quote/AAPL").await;
    assert_snapshot(&q);
    assert_eq!(q["symbol"], "AAPL");
    assert_eq!(q["name"], "Apple Inc.");
    assert!(q["volume"].as_u64().unwrap() > 0);
    for key in ["marketCap", "avgVolume", "peRatio", "pbRatio", "roe", "divYield"] {
        assert_number(&q, key);
    }
    // Five days of history: the previous close is the close of yesterday's daily candle.
    let days = server().get_ok("/api/v1/market/history/AAPL?timeframe=1D").await;
    let days = days.as_array().unwrap();
    assert_eq!(q["previousClose"], days[days.len() - 2]["close"], "{q}");
}

#[actix_web::test]
async fn symbols_with_spaces_ampersands_and_dots_arrive_percent_encoded() {
    let s = server();
    for (encoded, symbol) in
        [("NIFTY%2050", "NIFTY 50"), ("L%26T", "L&T"), ("BRK.B", "BRK.B"), ("S%26P%20500", "S&P 500")]
    {
        let q = s.get_ok(&format!("/api/v1/market/quote/{encoded}")).await;
        assert_eq!(q["symbol"], symbol);
    }
}

#[actix_web::test]
async fn an_unknown_quote_is_404_with_a_detail() {
    let (status, body) = server().get("/api/v1/market/quote/NOPE").await;
    assert_eq!(status, 404);
    assert_eq!(body, json!({"detail": "Quote for NOPE not found"}));
}

#[actix_web::test]
async fn quotes_return_all_or_the_known_symbols_asked_for() {
    let s = server();
    let all = s.get_ok("/api/v1/market/quotes").await;
    assert_eq!(all.as_array().unwrap().len(), 45);
    all.as_array().unwrap().iter().for_each(assert_snapshot);
    let some = s.get_ok("/api/v1/market/quotes?symbols=AAPL,NOPE,L%26T").await;
    let symbols: Vec<&str> = some.as_array().unwrap().iter().map(|q| q["symbol"].as_str().unwrap()).collect();
    assert_eq!(symbols, ["AAPL", "L&T"]);
}

#[actix_web::test]
async fn history_serves_every_timeframe_oldest_first_on_aligned_buckets() {
    let s = server();
    for tf in ["1m", "5m", "15m", "1h", "4h", "1D", "1W", "1M"] {
        let candles = s.get_ok(&format!("/api/v1/market/history/AAPL?timeframe={tf}")).await;
        let candles = candles.as_array().unwrap();
        assert!(!candles.is_empty() && candles.len() <= 100, "{tf}: {} candles", candles.len());
        let mut previous = None;
        for c in candles {
            for key in ["open", "high", "low", "close", "volume"] {
                assert_number(c, key);
            }
            let (o, h, l, cl) = (
                c["open"].as_f64().unwrap(),
                c["high"].as_f64().unwrap(),
                c["low"].as_f64().unwrap(),
                c["close"].as_f64().unwrap(),
            );
            assert!(l <= o.min(cl) && h >= o.max(cl), "{tf}: {c}");
            let t = assert_timestamp(c, "timestamp");
            let aligned = match tf {
                "1D" => t.timestamp() % 86_400 == 0,
                "1W" => t.timestamp() % 86_400 == 0 && chrono::Datelike::weekday(&t) == chrono::Weekday::Mon,
                "1M" => t.timestamp() % 86_400 == 0 && chrono::Datelike::day(&t) == 1,
                _ => {
                    let width = match tf {
                        "1m" => 60,
                        "5m" => 300,
                        "15m" => 900,
                        "1h" => 3_600,
                        _ => 14_400,
                    };
                    t.timestamp() % width == 0
                }
            };
            assert!(aligned, "{tf}: bucket {t} is not aligned");
            assert!(previous < Some(t), "{tf}: not oldest first");
            previous = Some(t);
        }
    }
    // Five days of one-minute data fill the latest 100 buckets; five-day history spans 6 days.
    // The current bucket has no candle until its first trade, a few seconds after it opens.
    for tf in ["1m", "1h"] {
        let candles = s.get_ok(&format!("/api/v1/market/history/AAPL?timeframe={tf}")).await;
        assert!((99..=100).contains(&candles.as_array().unwrap().len()), "{tf}: {candles}");
    }
    let days = s.get_ok("/api/v1/market/history/AAPL?timeframe=1D").await;
    assert!((5..=6).contains(&days.as_array().unwrap().len()), "{days}");
}

#[actix_web::test]
async fn the_default_timeframe_is_4h_and_others_are_422() {
    let s = server();
    let default = s.get_ok("/api/v1/market/history/BTC").await;
    let four_hours = s.get_ok("/api/v1/market/history/BTC?timeframe=4h").await;
    assert_eq!(default.as_array().unwrap().len(), four_hours.as_array().unwrap().len());
    for bad in ["2h", "1d", "", "1Y"] {
        let (status, body) = s.get(&format!("/api/v1/market/history/BTC?timeframe={bad}")).await;
        assert_eq!(status, 422, "{bad}");
        assert_string(&body, "detail");
    }
    let (status, _) = s.get("/api/v1/market/history/NOPE?timeframe=1h").await;
    assert_eq!(status, 404);
}

#[actix_web::test]
async fn history_honours_limit_from_and_to() {
    let s = server();
    let ten = s.get_ok("/api/v1/market/history/AAPL?timeframe=1h&limit=10").await;
    assert_eq!(ten.as_array().unwrap().len(), 10);
    let all = s.get_ok("/api/v1/market/history/AAPL?timeframe=1h&limit=200").await;
    let all = all.as_array().unwrap();
    assert!(all.len() > 100);
    let from = all[10]["timestamp"].as_str().unwrap();
    let to = all[20]["timestamp"].as_str().unwrap();
    let window = s.get_ok(&format!("/api/v1/market/history/AAPL?timeframe=1h&from={from}&to={to}")).await;
    assert_eq!(window.as_array().unwrap(), &all[10..=20]);
    for bad in
        ["limit=0", "limit=5000", "limit=x", "from=yesterday", "from=2026-12-02T00:00:00Z&to=2026-12-01T00:00:00Z"]
    {
        let (status, _) = s.get(&format!("/api/v1/market/history/AAPL?timeframe=1h&{bad}")).await;
        assert_eq!(status, 422, "{bad}");
    }
}

#[actix_web::test]
async fn the_newest_candle_includes_ticks_not_yet_written() {
    // Writes happen every 30 s; ticks since the last write are only in memory.
    let s = server();
    for _ in 0..10 {
        let before = s.get_ok("/api/v1/market/quote/BTC").await;
        let candles = s.get_ok("/api/v1/market/history/BTC?timeframe=1m").await;
        let after = s.get_ok("/api/v1/market/quote/BTC").await;
        if before["timestamp"] != after["timestamp"] {
            continue; // a tick landed in between; look again
        }
        let last = candles.as_array().unwrap().last().unwrap().clone();
        let quote_time = assert_timestamp(&after, "timestamp");
        let bucket = assert_timestamp(&last, "timestamp");
        assert_eq!(bucket.timestamp(), quote_time.timestamp() / 60 * 60, "newest candle is the quote's minute");
        assert_eq!(last["close"], after["price"]);
        return;
    }
    panic!("the quote never held still for three requests");
}

#[actix_web::test]
async fn news_is_newest_first_and_filters_by_symbol() {
    let s = server();
    let news = s.get_ok("/api/v1/market/news?limit=50").await;
    let news = news.as_array().unwrap();
    // Five days at realistic rates: a company a few times a month, a sector a few times a
    // month, macro news a few times a week (about 30 events).
    assert!(news.len() >= 15 && news.len() <= 50, "{} events", news.len());
    let mut previous = None;
    for n in news {
        assert!(n["id"].is_i64());
        for key in ["headline", "category", "subcategory", "affected_scope"] {
            assert_string(n, key);
        }
        assert_number(n, "impact");
        assert!(n["duration_minutes"].is_i64());
        assert!(n["affected_symbols"].is_array());
        assert!(["global", "sector", "symbol"].contains(&n["affected_scope"].as_str().unwrap()));
        let t = assert_timestamp(n, "timestamp");
        assert!(previous.is_none_or(|p| p >= t), "newest first");
        previous = Some(t);
    }
    assert_eq!(s.get_ok("/api/v1/market/news").await.as_array().unwrap().len(), 10);
    assert_eq!(s.get_ok("/api/v1/market/news?limit=500").await.as_array().unwrap().len(), news.len());
    let btc = s.get_ok("/api/v1/market/news?symbol=BTC&limit=50").await;
    assert!(!btc.as_array().unwrap().is_empty());
    for n in btc.as_array().unwrap() {
        assert!(n["affected_symbols"].as_array().unwrap().contains(&json!("BTC")), "{n}");
    }
    assert_eq!(s.get("/api/v1/market/news?limit=abc").await.0, 422);
}

#[actix_web::test]
async fn cors_allows_any_origin() {
    let response = awc::Client::new()
        .get(format!("{}/api/v1/market/quote/AAPL", server().base))
        .insert_header(("Origin", "https://app.example"))
        .send()
        .await
        .unwrap();
    let allowed = response.headers().get("access-control-allow-origin").map(|v| v.to_str().unwrap().to_string());
    assert!(matches!(allowed.as_deref(), Some("https://app.example") | Some("*")), "{allowed:?}");
}

#[actix_web::test]
async fn prices_and_candles_print_as_the_short_decimals_they_are_on_the_wire() {
    let s = server();
    assert_short_decimals(&s.get_ok("/api/v1/market/quotes").await, &[]);
    for symbol in ["AAPL", "RELIANCE", "BTC", "FTSE%20100"] {
        assert_short_decimals(&s.get_ok(&format!("/api/v1/market/quote/{symbol}")).await, &[]);
        for timeframe in ["1m", "15m", "1h", "4h", "1D", "1W", "1M"] {
            let path = format!("/api/v1/market/history/{symbol}?timeframe={timeframe}&limit=1000");
            assert_short_decimals(&s.get_ok(&path).await, &[]);
        }
    }
    let mut socket = connect(&s.ws).await;
    for _ in 0..100 {
        assert_short_decimals(&next_json(&mut socket, 10).await, &[]);
    }
    let order = json!({"firebase_uid": "wire", "symbol": "AAPL", "side": "buy", "quantity": 0.37, "market": "usa"});
    let (status, placed) = s.post("/api/v1/orders/place", order).await;
    assert_eq!(status, 200, "{placed}");
    assert_short_decimals(&placed, &[]);
    assert_short_decimals(&s.get_ok("/api/v1/portfolio/orders/wire").await, &["quantity"]);
}

#[actix_web::test]
async fn docs_without_the_slash_lead_to_the_docs_page() {
    let client = awc::Client::builder().disable_redirects().finish();
    let response = client.get(format!("{}/docs", server().base)).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 308);
    assert_eq!(response.headers().get("location").unwrap(), "/docs/");
    let (status, content_type, _) = server().get_text("/docs/").await;
    assert_eq!((status, content_type.starts_with("text/html")), (200, true));
}

#[actix_web::test]
async fn the_stream_says_hello_then_sends_ticks_of_every_instrument() {
    let mut socket = connect(&server().ws).await;
    assert_eq!(next_json(&mut socket, 5).await, json!({"type": "system", "message": "Connected to Market Stream"}));
    let mut seen = std::collections::HashSet::new();
    while seen.len() < 45 {
        let frame = next_json(&mut socket, 10).await;
        if frame.get("headline").is_some() {
            continue;
        }
        for key in ["price", "bid", "ask", "volume", "change", "changePercent"] {
            assert_number(&frame, key);
        }
        assert_timestamp(&frame, "timestamp");
        assert!(frame["bid"].as_f64() < frame["ask"].as_f64());
        seen.insert(frame["symbol"].as_str().unwrap().to_string());
    }
}

#[actix_web::test]
async fn subscribe_and_unsubscribe_narrow_and_widen_the_feed() {
    // A market of its own that ticks every 50-100 ms, so forty frames take seconds, not minutes.
    let dir = tempfile::tempdir().unwrap();
    let config = format!("{SMALL_MARKET}\n[simulation]\ntick_min_ms = 50\ntick_max_ms = 100\nseed_days = 0.01\n");
    let fast = TestServer::start(&config, &dir.path().join("narrow.duckdb"), 4);
    let mut socket = connect(&fast.ws).await;
    next_json(&mut socket, 5).await; // hello
    socket.send(Message::text(r#"{"action":"subscribe","symbols":["BTC","AAPL"]}"#)).await.unwrap();
    let ack = loop {
        let frame = next_json(&mut socket, 5).await;
        if frame["type"] == "system" {
            break frame;
        }
    };
    assert_eq!(ack["event"], "subscribed");
    assert_eq!(ack["symbols"], json!(["AAPL", "BTC"]));
    let mut seen = std::collections::HashSet::new();
    for _ in 0..20 {
        let frame = next_json(&mut socket, 10).await;
        if frame.get("headline").is_none() {
            assert!(frame["symbol"] == "BTC" || frame["symbol"] == "AAPL", "{frame}");
            seen.insert(frame["symbol"].as_str().unwrap().to_string());
        }
    }
    assert_eq!(seen.len(), 2, "both subscribed symbols arrive");
    socket.send(Message::text(r#"{"action":"unsubscribe","symbols":["BTC"]}"#)).await.unwrap();
    let mut acked = false;
    for _ in 0..20 {
        let frame = next_json(&mut socket, 10).await;
        if frame["type"] == "system" {
            assert_eq!(frame["symbols"], json!(["AAPL"]));
            acked = true;
        } else if acked && frame.get("headline").is_none() {
            assert_eq!(frame["symbol"], "AAPL");
        }
    }
    assert!(acked);
    drop(socket);
    fast.stop();
}
