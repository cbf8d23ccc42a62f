//! The in-process broadcast bus from the engine to live-stream clients.
//!
//! A frame is serialized once by the engine and shared by reference among all clients. The
//! bus is a `tokio::sync::broadcast` ring: a client that falls more than the channel capacity
//! behind loses the oldest frames and continues with fresh ones, so a slow client can never
//! hold up the engine or anyone else.

use actix_web::web::Bytes;
use bytestring::ByteString;
use std::sync::Arc;
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

#[derive(Clone)]
pub struct Bus {
    sender: broadcast::Sender<Frame>,
}

impl Bus {
    pub fn new(capacity: usize) -> Self {
        Bus { sender: broadcast::channel(capacity).0 }
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
