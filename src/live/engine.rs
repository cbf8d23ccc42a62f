//! The engine loop: advances the market to "now" whenever the next tick falls due, and fans
//! each event out to the quote board, the bus and the write buffer.
//!
//! Everything here is synchronous except the sleep between events; the market itself is the
//! pure domain model, so the loop only routes its output.

use super::buffer::WriteBuffer;
use super::bus::{Bus, Topic};
use super::quotes::QuoteBoard;
use crate::domain::market::{Market, MarketEvent};
use crate::domain::quote::DayQuote;
use crate::domain::time::Clock;
use crate::ledger::TickInbox;
use crate::metrics::Metrics;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Longest sleep between two looks at the clock, so a stepped wall clock is noticed.
const MAX_SLEEP: Duration = Duration::from_secs(1);

pub struct Engine {
    pub market: Market,
    pub quotes: Vec<DayQuote>,
    pub board: Arc<QuoteBoard>,
    pub bus: Bus,
    pub buffer: Arc<WriteBuffer>,
    pub clock: Arc<dyn Clock>,
    pub metrics: Arc<Metrics>,
    /// Resting orders see every tick of their symbol, after the quote board.
    pub orders: Option<Arc<TickInbox>>,
}

impl Engine {
    pub async fn run(mut self, shutdown: CancellationToken) {
        loop {
            self.advance();
            let now = self.clock.now();
            let wait = self
                .market
                .next_due()
                .map(|due| Duration::from_micros((due.0 - now.0).max(0) as u64))
                .unwrap_or(MAX_SLEEP)
                .min(MAX_SLEEP);
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.cancelled() => break,
            }
        }
        tracing::debug!("engine stopped");
    }

    /// Emits every event due by now.
    pub fn advance(&mut self) {
        let now = self.clock.now();
        let Engine { market, quotes, board, bus, buffer, metrics, orders, .. } = self;
        market.advance_until(now, |event| match event {
            MarketEvent::Tick(tick) => {
                let quote = &mut quotes[tick.instrument];
                quote.apply(tick.time, tick.price, tick.volume);
                board.update(tick.instrument, quote);
                let frame = serde_json::to_vec(&quote.tick_frame()).expect("a tick frame serializes");
                bus.publish(Topic::Tick(tick.instrument), frame);
                buffer.push_tick(tick);
                if let Some(orders) = orders {
                    orders.on_tick(&tick);
                }
                metrics.ticks_generated.inc();
            }
            MarketEvent::News(news, affected) => {
                tracing::info!(id = news.id, headline = %news.headline, impact = news.impact, "news");
                let frame = serde_json::to_vec(&news).expect("a news event serializes");
                bus.publish(Topic::News(affected.into()), frame);
                buffer.push_news(news);
                metrics.news_generated.inc();
            }
        });
    }
}
