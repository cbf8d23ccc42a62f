//! The in-process broadcast bus from the engine to live-stream clients.
//!
//! A frame is serialized once by the engine and shared by reference among all clients. The
//! bus is a `tokio::sync::broadcast` ring: a client that falls more than the channel capacity
//! behind loses the oldest frames and continues with fresh ones, so a slow client can never
//! hold up the engine or anyone else.

use actix_web::web::Bytes;
use bytestring::ByteString;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast;

/// What a frame is about, for subscription filtering.
#[derive(Debug, Clone, PartialEq)]
pub enum Topic {
    Tick(usize),
    News(Arc<[usize]>),
    /// About the whole market (paused, resumed, speed): every client gets it.
    System,
    /// An order event, for that user's order subscribers only.
    Order(Arc<str>),
}

#[derive(Debug, Clone)]
pub struct Frame {
    pub topic: Topic,
    pub text: ByteString,
}

/// Users whose order events some client follows, with how many clients follow each.
type Followers = Arc<Mutex<HashMap<Arc<str>, usize>>>;

#[derive(Clone)]
pub struct Bus {
    sender: broadcast::Sender<Frame>,
    order_followers: Followers,
}

/// A client following one user's order events, for as long as it holds this.
pub struct Following {
    uid: Arc<str>,
    followers: Followers,
}

impl Following {
    pub fn uid(&self) -> &str {
        &self.uid
    }
}

impl Drop for Following {
    fn drop(&mut self) {
        let mut followers = self.followers.lock().expect("order followers");
        if let Some(n) = followers.get_mut(&self.uid) {
            *n -= 1;
            if *n == 0 {
                followers.remove(&self.uid);
            }
        }
    }
}

impl Bus {
    pub fn new(capacity: usize) -> Self {
        Bus { sender: broadcast::channel(capacity).0, order_followers: Arc::default() }
    }

    /// Starts following `uid`'s order events; dropping the answer stops it.
    pub fn follow_orders(&self, uid: &str) -> Following {
        let uid: Arc<str> = uid.into();
        *self.order_followers.lock().expect("order followers").entry(uid.clone()).or_default() += 1;
        Following { uid, followers: self.order_followers.clone() }
    }

    /// Whether any client follows `uid`'s order events. Market orders come by the thousand a
    /// second and mostly nobody follows them, so an event is serialized only when someone does.
    pub fn orders_followed(&self, uid: &str) -> bool {
        self.order_followers.lock().expect("order followers").contains_key(uid)
    }

    /// Sends a frame to every current subscriber; no subscriber is fine.
    pub fn publish(&self, topic: Topic, json: Vec<u8>) {
        let text = ByteString::try_from(Bytes::from(json)).expect("serde_json writes UTF-8");
        let _ = self.sender.send(Frame { topic, text });
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Frame> {
        self.sender.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_users_orders_are_followed_while_any_client_holds_a_following() {
        let bus = Bus::new(8);
        assert!(!bus.orders_followed("amy"));
        let first = bus.follow_orders("amy");
        let second = bus.follow_orders("amy");
        assert!(bus.orders_followed("amy") && !bus.orders_followed("bob"));
        drop(first);
        assert!(bus.orders_followed("amy"), "one client still follows");
        assert_eq!(second.uid(), "amy");
        drop(second);
        assert!(!bus.orders_followed("amy"));
    }
}
