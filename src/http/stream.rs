//! `WS /ws/market/stream`: every tick (and news) as it happens.
//!
//! Frames come pre-serialized from the bus; a client task only filters and forwards them.
//! Client frames: `{"action": "subscribe" | "unsubscribe", "symbols": [...]}`. A new client
//! gets everything; its first `subscribe` narrows the feed to those symbols, later ones widen
//! it, `unsubscribe` removes symbols, and `subscribe` with `["*"]` restores everything. Each is
//! answered with a `{"type": "system", "event": ...}` frame, which the app ignores.
//!
//! Order events: `{"action": "subscribe_orders", "firebase_uid": U, "token": T}` (the token
//! as the identity mode wants it; none in open mode) adds `{"type": "order", "event": ...,
//! "order": {...}}` frames for that user's orders, sent only once the event is committed;
//! `unsubscribe_orders` stops them. No client receives another user's order events.
//!
//! Slow clients: a client that falls `stream.channel_capacity` frames behind skips the oldest
//! ones and carries on with fresh data (it is told how many it missed); a client whose socket
//! accepts any frame (a tick, an acknowledgement, a pong, a ping, the close) for
//! `stream.send_timeout_secs` is disconnected. Neither can delay the engine, any other client or
//! a shutdown.

use super::AppState;
use crate::auth::{AuthError, Identity};
use crate::domain::instrument::Universe;
use crate::domain::quote::TickFrame;
use crate::live::bus::{Bus, Following, Frame, Topic};
use crate::market_data::MAX_SYMBOLS_PER_REQUEST;
use actix_web::{HttpRequest, HttpResponse, web};
use actix_ws::{AggregatedMessage, CloseCode, CloseReason, Session};
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::json;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};
use tokio::sync::broadcast::error::RecvError;

/// Largest client frame accepted: a subscribe naming every symbol allowed fits in a few KB.
const MAX_CLIENT_FRAME: usize = 16 * 1024;
/// Client messages per second a connection may send on average, and in a burst. A real app
/// sends a handful per screen change; more is a misbehaving client, which is disconnected.
const MESSAGES_PER_SECOND: f64 = 10.0;
const MESSAGE_BURST: f64 = 30.0;

/// A token bucket over one connection's client messages.
struct RateLimit {
    tokens: f64,
    refilled: Instant,
}

impl RateLimit {
    fn new() -> Self {
        RateLimit { tokens: MESSAGE_BURST, refilled: Instant::now() }
    }

    /// Takes one token; false when the client has sent too much.
    fn allow(&mut self, now: Instant) -> bool {
        let earned = now.duration_since(self.refilled).as_secs_f64() * MESSAGES_PER_SECOND;
        self.tokens = (self.tokens + earned).min(MESSAGE_BURST);
        self.refilled = now;
        if self.tokens < 1.0 {
            return false;
        }
        self.tokens -= 1.0;
        true
    }
}

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/ws/market/stream", web::get().to(connect));
}

/// Documented for discovery; the socket itself speaks the frames described in the API guide.
#[utoipa::path(get, path = "/ws/market/stream", tag = "market",
    description = "WebSocket upgrade. After a hello frame, one text frame per tick (TickFrame), news events (NewsEvent) and system frames. Client frames: {\"action\": \"subscribe\"|\"unsubscribe\", \"symbols\": [...]}; {\"action\": \"subscribe_orders\", \"firebase_uid\": U, \"token\": T} adds that user's committed order events {\"type\": \"order\", \"event\": \"new\"|\"fill\"|\"canceled\"|\"expired\"|\"rejected\"|\"replaced\", \"order\": OrderDetailView}.",
    responses(
        (status = 101, description = "Switching protocols: the live stream", body = TickFrame),
        (status = 400, description = "Not a WebSocket upgrade request")
    ))]
pub(super) async fn connect(
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
) -> actix_web::Result<HttpResponse> {
    let (response, session, messages) = actix_ws::handle(&req, body)?;
    let messages =
        messages.max_frame_size(MAX_CLIENT_FRAME).aggregate_continuations().max_continuation_size(MAX_CLIENT_FRAME);
    let state = state.into_inner();
    actix_web::rt::spawn(async move {
        state.metrics.ws_clients.inc();
        let reason = serve_client(session.clone(), messages, &state).await;
        state.metrics.ws_clients.dec();
        // The close frame waits behind whatever the client left unread: bounded like any send.
        let send_timeout = Duration::from_secs(state.stream.send_timeout_secs);
        let _ = tokio::time::timeout(send_timeout, session.close(Some(reason))).await;
    });
    Ok(response)
}

/// Which symbols a client receives: everything, or a set of instrument indices.
#[derive(Debug, Clone, PartialEq)]
enum Subscription {
    All,
    Only(BTreeSet<usize>),
}

impl Subscription {
    fn wants(&self, topic: &Topic) -> bool {
        match (self, topic) {
            (_, Topic::Order(_)) => false,
            (Subscription::All, _) | (_, Topic::System) => true,
            (Subscription::Only(set), Topic::Tick(i)) => set.contains(i),
            (Subscription::Only(set), Topic::News(affected)) => affected.iter().any(|i| set.contains(i)),
        }
    }

    fn describe(&self, universe: &Universe) -> serde_json::Value {
        match self {
            Subscription::All => json!(["*"]),
            Subscription::Only(set) => json!(set.iter().map(|&i| &universe.get(i).symbol).collect::<Vec<_>>()),
        }
    }
}

#[derive(Deserialize)]
struct ClientMessage {
    action: String,
    #[serde(default)]
    symbols: Vec<String>,
}

#[derive(Deserialize)]
struct OrdersMessage {
    action: String,
    #[serde(default)]
    firebase_uid: String,
    #[serde(default)]
    token: Option<String>,
}

/// Handles `subscribe_orders` and `unsubscribe_orders`; `None` for any other frame.
fn handle_orders_text(
    text: &str,
    orders_of: &mut Option<Following>,
    identity: &Identity,
    bus: &Bus,
) -> Option<serde_json::Value> {
    let message: OrdersMessage = serde_json::from_str(text).ok()?;
    match message.action.as_str() {
        "subscribe_orders" => {
            if let Err(e) = crate::trading::validate_uid(&message.firebase_uid) {
                return Some(json!({"type": "system", "event": "error", "message": e.to_string()}));
            }
            if let Err(e) = identity.authorize(message.token.as_deref(), &message.firebase_uid) {
                let message = match e {
                    // The HTTP wording (an Authorization header) does not apply to a frame.
                    AuthError::Missing => "subscribe_orders needs the user's token in \"token\"".to_string(),
                    other => other.to_string(),
                };
                return Some(json!({"type": "system", "event": "error", "message": message}));
            }
            *orders_of = Some(bus.follow_orders(&message.firebase_uid));
            Some(json!({"type": "system", "event": "subscribed_orders", "firebase_uid": message.firebase_uid}))
        }
        "unsubscribe_orders" => {
            *orders_of = None;
            Some(json!({"type": "system", "event": "unsubscribed_orders"}))
        }
        _ => None,
    }
}

/// Applies one client frame and returns the acknowledgement to send.
fn handle_client_text(text: &str, subscription: &mut Subscription, universe: &Universe) -> serde_json::Value {
    let message: ClientMessage = match serde_json::from_str(text) {
        Ok(m) => m,
        Err(e) => return json!({"type": "system", "event": "error", "message": format!("unreadable message: {e}")}),
    };
    if message.symbols.len() > MAX_SYMBOLS_PER_REQUEST {
        return json!({"type": "system", "event": "error", "message": format!("at most {MAX_SYMBOLS_PER_REQUEST} symbols per message")});
    }
    let wildcard = message.symbols.iter().any(|s| s == "*");
    let (known, unknown): (Vec<_>, Vec<_>) =
        message.symbols.iter().filter(|s| *s != "*").partition(|s| universe.find(s).is_some());
    let indices: BTreeSet<usize> = known.iter().filter_map(|s| universe.find(s)).collect();
    match message.action.as_str() {
        "subscribe" if wildcard => *subscription = Subscription::All,
        "subscribe" => match subscription {
            Subscription::All => *subscription = Subscription::Only(indices),
            Subscription::Only(set) => set.extend(indices),
        },
        "unsubscribe" => {
            let mut set = match std::mem::replace(subscription, Subscription::All) {
                Subscription::All => (0..universe.len()).collect(),
                Subscription::Only(set) => set,
            };
            if wildcard {
                set.clear();
            }
            set.retain(|i| !indices.contains(i));
            *subscription = Subscription::Only(set);
        }
        other => {
            return json!({"type": "system", "event": "error", "message": format!("unknown action {other:?}; use subscribe, unsubscribe, subscribe_orders or unsubscribe_orders")});
        }
    }
    json!({
        "type": "system",
        "event": if message.action == "subscribe" { "subscribed" } else { "unsubscribed" },
        "message": "Subscription updated",
        "symbols": subscription.describe(universe),
        "unknown": unknown,
    })
}

/// Runs one client until it leaves, is too slow, or the server stops; returns why it ended.
async fn serve_client(
    mut session: Session,
    mut messages: actix_ws::AggregatedMessageStream,
    state: &AppState,
) -> CloseReason {
    let settings = &state.stream;
    let universe = state.market.universe();
    let send_timeout = Duration::from_secs(settings.send_timeout_secs);
    let client_timeout = Duration::from_secs(settings.client_timeout_secs);
    let mut frames = state.bus.subscribe();
    let mut heartbeat = tokio::time::interval(Duration::from_secs(settings.heartbeat_secs));
    let mut last_heard = Instant::now();
    let mut subscription = Subscription::All;
    let mut orders_of: Option<Following> = None;
    let mut rate = RateLimit::new();

    let hello = json!({"type": "system", "message": "Connected to Market Stream"}).to_string();
    if let Err(reason) = bounded(state, send_timeout, session.text(hello)).await {
        return reason;
    }
    loop {
        let sent = tokio::select! {
            biased;
            _ = state.shutdown.cancelled() => {
                return CloseReason { code: CloseCode::Restart, description: Some("server shutting down".into()) };
            }
            incoming = messages.next() => {
                last_heard = Instant::now();
                match incoming {
                    Some(Ok(AggregatedMessage::Text(text))) => {
                        if !rate.allow(Instant::now()) {
                            state.metrics.dropped_client("rate_limit");
                            return CloseReason { code: CloseCode::Policy, description: Some("too many messages".into()) };
                        }
                        let ack = handle_orders_text(&text, &mut orders_of, &state.identity, &state.bus)
                            .unwrap_or_else(|| handle_client_text(&text, &mut subscription, universe));
                        bounded(state, send_timeout, session.text(ack.to_string())).await
                    }
                    Some(Ok(AggregatedMessage::Ping(bytes))) => bounded(state, send_timeout, session.pong(&bytes)).await,
                    Some(Ok(AggregatedMessage::Pong(_) | AggregatedMessage::Binary(_))) => Ok(()),
                    Some(Ok(AggregatedMessage::Close(_))) | None => return CloseCode::Normal.into(),
                    Some(Err(e)) => {
                        return CloseReason { code: CloseCode::Protocol, description: Some(e.to_string()) };
                    }
                }
            }
            _ = heartbeat.tick() => {
                if last_heard.elapsed() > client_timeout {
                    state.metrics.dropped_client("heartbeat");
                    return CloseReason { code: CloseCode::Away, description: Some("no heartbeat".into()) };
                }
                bounded(state, send_timeout, session.ping(b"")).await
            }
            frame = frames.recv() => match frame {
                Ok(Frame { topic, text }) if wanted(&topic, &subscription, orders_of.as_ref().map(Following::uid)) => {
                    bounded(state, send_timeout, session.text(text)).await
                }
                Ok(_) => Ok(()),
                Err(RecvError::Lagged(missed)) => {
                    state.metrics.ws_frames_lagged.inc_by(missed);
                    let notice = json!({"type": "system", "event": "lagged", "message": "Skipped to fresh data", "missed": missed});
                    bounded(state, send_timeout, session.text(notice.to_string())).await
                }
                Err(RecvError::Closed) => return CloseCode::Restart.into(),
            },
        };
        if let Err(reason) = sent {
            return reason;
        }
    }
}

/// Whether a client gets a frame: ticks and news by its subscription, order events only if it
/// follows that user's orders.
fn wanted(topic: &Topic, subscription: &Subscription, orders_of: Option<&str>) -> bool {
    match topic {
        Topic::Order(uid) => orders_of == Some(&**uid),
        other => subscription.wants(other),
    }
}

/// Waits at most `limit` for one send to the client. Every send goes through here: a client
/// that stops reading fills its socket, and an unbounded wait would hold this task (and a
/// graceful shutdown) for good. The answer is why to close, when the client must go.
async fn bounded(
    state: &AppState,
    limit: Duration,
    send: impl Future<Output = Result<(), actix_ws::Closed>>,
) -> Result<(), CloseReason> {
    match tokio::time::timeout(limit, send).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(actix_ws::Closed)) => Err(CloseCode::Normal.into()),
        Err(_) => {
            state.metrics.dropped_client("slow");
            Err(CloseReason { code: CloseCode::Policy, description: Some("client too slow".into()) })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::instrument::default_universe;

    fn ack(text: &str, sub: &mut Subscription, universe: &Universe) -> serde_json::Value {
        handle_client_text(text, sub, universe)
    }

    #[test]
    fn subscribe_narrows_then_widens_and_unsubscribe_removes() {
        let universe = Universe::new(default_universe()).unwrap();
        let (aapl, btc) = (universe.find("AAPL").unwrap(), universe.find("BTC").unwrap());
        let mut sub = Subscription::All;
        let reply = ack(r#"{"action":"subscribe","symbols":["AAPL","NOPE"]}"#, &mut sub, &universe);
        assert_eq!(reply["symbols"], json!(["AAPL"]));
        assert_eq!(reply["unknown"], json!(["NOPE"]));
        assert!(sub.wants(&Topic::Tick(aapl)) && !sub.wants(&Topic::Tick(btc)));
        ack(r#"{"action":"subscribe","symbols":["BTC"]}"#, &mut sub, &universe);
        assert!(sub.wants(&Topic::Tick(btc)));
        ack(r#"{"action":"unsubscribe","symbols":["AAPL"]}"#, &mut sub, &universe);
        assert!(!sub.wants(&Topic::Tick(aapl)) && sub.wants(&Topic::News(vec![aapl, btc].into())));
        ack(r#"{"action":"subscribe","symbols":["*"]}"#, &mut sub, &universe);
        assert_eq!(sub, Subscription::All);
    }

    #[test]
    fn unsubscribing_from_everything_leaves_all_but_those_symbols() {
        let universe = Universe::new(default_universe()).unwrap();
        let mut sub = Subscription::All;
        ack(r#"{"action":"unsubscribe","symbols":["BTC"]}"#, &mut sub, &universe);
        assert!(!sub.wants(&Topic::Tick(universe.find("BTC").unwrap())));
        assert!(sub.wants(&Topic::Tick(universe.find("ETH").unwrap())));
    }

    #[test]
    fn a_client_may_burst_then_is_held_to_the_average_rate() {
        let mut rate = RateLimit::new();
        let start = Instant::now();
        let burst = (0..100).take_while(|_| rate.allow(start)).count();
        assert_eq!(burst, MESSAGE_BURST as usize);
        assert!(!rate.allow(start));
        assert!(rate.allow(start + Duration::from_millis(110)), "one message earned after 1/10 s");
        assert!(!rate.allow(start + Duration::from_millis(110)));
    }

    #[test]
    fn a_subscribe_naming_too_many_symbols_is_refused() {
        let universe = Universe::new(default_universe()).unwrap();
        let mut sub = Subscription::All;
        let symbols: Vec<String> = (0..=MAX_SYMBOLS_PER_REQUEST).map(|i| format!("S{i}")).collect();
        let text = json!({"action": "subscribe", "symbols": symbols}).to_string();
        assert_eq!(ack(&text, &mut sub, &universe)["event"], "error");
        assert_eq!(sub, Subscription::All);
    }

    #[test]
    fn unreadable_or_unknown_messages_get_an_error_frame() {
        let universe = Universe::new(default_universe()).unwrap();
        let mut sub = Subscription::All;
        assert_eq!(ack("not json", &mut sub, &universe)["event"], "error");
        assert_eq!(ack(r#"{"action":"dance"}"#, &mut sub, &universe)["event"], "error");
        assert_eq!(sub, Subscription::All);
    }
}
