//! The latest quote of every instrument, kept serialized.
//!
//! Quotes change about 18 times a second across the whole market but may be read many
//! thousands of times a second, so each is serialized once when it changes and a read is a
//! lookup plus a reference-count increment. The all-quotes array is rebuilt lazily, at most
//! once per change.

use crate::domain::quote::{DayQuote, MarketSnapshot};
use actix_web::web::Bytes;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

/// One quote as served: the value and its JSON.
#[derive(Debug)]
pub struct CachedQuote {
    pub snapshot: MarketSnapshot,
    pub json: Bytes,
}

impl CachedQuote {
    fn of(quote: &DayQuote) -> Arc<Self> {
        let snapshot = quote.snapshot();
        let json = Bytes::from(serde_json::to_vec(&snapshot).expect("a snapshot serializes"));
        Arc::new(CachedQuote { snapshot, json })
    }
}

pub struct QuoteBoard {
    quotes: Vec<RwLock<Arc<CachedQuote>>>,
    version: AtomicU64,
    all: RwLock<(u64, Bytes)>,
}

impl QuoteBoard {
    /// A board holding `initial`, one quote per instrument in universe order.
    pub fn new(initial: &[DayQuote]) -> Self {
        let board = QuoteBoard {
            quotes: initial.iter().map(|q| RwLock::new(CachedQuote::of(q))).collect(),
            version: AtomicU64::new(1),
            all: RwLock::new((0, Bytes::new())),
        };
        board.all_json();
        board
    }

    pub fn update(&self, index: usize, quote: &DayQuote) {
        let cached = CachedQuote::of(quote);
        *self.quotes[index].write().expect("quote lock") = cached;
        self.version.fetch_add(1, Ordering::Release);
    }

    pub fn get(&self, index: usize) -> Arc<CachedQuote> {
        self.quotes[index].read().expect("quote lock").clone()
    }

    /// The JSON array of the quotes at `indices`, in that order.
    pub fn json_of(&self, indices: impl IntoIterator<Item = usize>) -> Bytes {
        let mut out = Vec::with_capacity(self.quotes.len() * 512);
        out.push(b'[');
        for (n, index) in indices.into_iter().enumerate() {
            if n > 0 {
                out.push(b',');
            }
            out.extend_from_slice(&self.get(index).json);
        }
        out.push(b']');
        Bytes::from(out)
    }

    /// The JSON array of every quote, rebuilt only when a quote has changed since.
    pub fn all_json(&self) -> Bytes {
        let version = self.version.load(Ordering::Acquire);
        {
            let all = self.all.read().expect("all-quotes lock");
            if all.0 == version {
                return all.1.clone();
            }
        }
        let json = self.json_of(0..self.quotes.len());
        let mut all = self.all.write().expect("all-quotes lock");
        if all.0 < version {
            *all = (version, json.clone());
        }
        json
    }
}

impl crate::trading::QuoteSource for QuoteBoard {
    fn latest(&self, instrument: usize) -> (f64, crate::domain::time::Timestamp) {
        let quote = self.get(instrument);
        (quote.snapshot.price, quote.snapshot.timestamp)
    }
}
