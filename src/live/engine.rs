//! The engine loop: advances the market to "now" whenever the next tick falls due, and fans
//! each event out to the quote board, the chart windows, the bus and the write buffer.
//!
//! Everything here is synchronous except the sleep between events; the market itself is the
//! pure domain model, so the loop only routes its output.
//!
//! Catch-up: when the clock has leapt (a laptop woke from hours of sleep, a stepped wall
//! clock), the missed time is replayed on a blocking thread in chunks of simulated time, each
//! written through the tick writer before the next is made, like seeding: the charts get no
//! hole, the write buffer never overflows, and clients are not flooded with stale ticks; once
//! caught up, each instrument's latest quote goes out on the stream and live ticking resumes.

use super::buffer::WriteBuffer;
use super::bus::{Bus, Topic};
use super::charts::ChartWindows;
use super::director::Director;
use super::quotes::QuoteBoard;
use super::tick_writer::TickWriter;
use crate::domain::director::MarketStatus;
use crate::domain::market::{Market, MarketEvent};
use crate::domain::quote::DayQuote;
use crate::domain::time::{Clock, MICROS_PER_MINUTE, MICROS_PER_SECOND, Timestamp};
use crate::metrics::Metrics;
use crate::trading::TickInbox;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Longest sleep between two looks at the clock, so a stepped wall clock is noticed.
const MAX_SLEEP: Duration = Duration::from_secs(1);
/// Behind by more than this, the engine catches up in chunks rather than in one go: well under
/// the write buffer's capacity of the default market, well over any scheduling delay.
const CATCH_UP_AFTER_MICROS: i64 = 30 * MICROS_PER_SECOND;
/// Simulated time replayed and written per catch-up chunk: about 16,000 ticks of the default
/// market, a quarter of the write buffer.
const CATCH_UP_CHUNK_MICROS: i64 = 15 * MICROS_PER_MINUTE;

pub struct Engine {
    pub market: Market,
    pub quotes: Vec<DayQuote>,
    pub board: Arc<QuoteBoard>,
    pub charts: Arc<ChartWindows>,
    pub bus: Bus,
    pub buffer: Arc<WriteBuffer>,
    pub writer: Arc<TickWriter>,
    pub clock: Arc<dyn Clock>,
    pub metrics: Arc<Metrics>,
    pub director: Arc<Director>,
    /// Resting orders see every tick of their symbol, after the quote board.
    pub orders: Option<Arc<TickInbox>>,
}

impl Engine {
    pub async fn run(mut self, shutdown: CancellationToken) {
        loop {
            self.direct();
            let now = self.clock.now();
            if self.market.next_due().is_some_and(|due| now.0 - due.0 > CATCH_UP_AFTER_MICROS) {
                let caught_up = tokio::task::spawn_blocking(move || {
                    self.catch_up(now);
                    self
                });
                match caught_up.await {
                    Ok(engine) => self = engine,
                    Err(e) => {
                        tracing::error!(error = %e, "catching up failed; the engine stopped");
                        return;
                    }
                }
            }
            self.advance();
            self.report();
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
                _ = self.director.woken() => {}
            }
        }
        tracing::debug!("engine stopped");
    }

    /// Emits every event due by now.
    pub fn advance(&mut self) {
        let now = self.clock.now();
        self.advance_to(now, true);
    }

    /// Replays the time up to `until` in chunks, writing each before making the next; only the
    /// final quotes are published. Blocking: runs on a thread of its own.
    pub fn catch_up(&mut self, until: Timestamp) {
        let from = self.market.next_due().unwrap_or(until);
        tracing::info!(behind_secs = (until.0 - from.0) / MICROS_PER_SECOND, "the clock leapt: catching up");
        let mut chunk_end = from;
        while chunk_end < until {
            chunk_end = Timestamp((chunk_end.0 + CATCH_UP_CHUNK_MICROS).min(until.0));
            self.advance_to(chunk_end, false);
            if let Err(e) = self.writer.flush() {
                tracing::error!(error = %e, "writing caught-up ticks failed; they stay buffered and are retried");
            }
        }
        for (index, quote) in self.quotes.iter().enumerate() {
            let frame = serde_json::to_vec(&quote.tick_frame()).expect("a tick frame serializes");
            self.bus.publish(Topic::Tick(index), frame);
        }
        tracing::info!("caught up");
    }

    /// Routes every event due by `until`; `live` events also go out on the stream.
    fn advance_to(&mut self, until: Timestamp, live: bool) {
        let Engine { market, quotes, board, charts, bus, buffer, metrics, orders, .. } = self;
        market.advance_until(until, |event| match event {
            MarketEvent::Tick(tick) => {
                let quote = &mut quotes[tick.instrument];
                quote.apply(tick.time, tick.price, tick.volume);
                board.update(tick.instrument, quote);
                charts.record(&tick);
                if live {
                    let frame = serde_json::to_vec(&quote.tick_frame()).expect("a tick frame serializes");
                    bus.publish(Topic::Tick(tick.instrument), frame);
                }
                buffer.push_tick(tick);
                // Resting orders see every tick, caught-up ones too: what the chart shows.
                if let Some(orders) = orders {
                    orders.on_tick(&tick);
                }
                metrics.ticks_generated.inc();
            }
            MarketEvent::News(news, affected) => {
                if live {
                    tracing::info!(id = news.id, headline = %news.headline, impact = news.impact, "news");
                    let frame = serde_json::to_vec(&news).expect("a news event serializes");
                    bus.publish(Topic::News(affected.into()), frame);
                }
                buffer.push_news(news);
                metrics.news_generated.inc();
            }
            MarketEvent::Status { paused, speed } => {
                let message =
                    if paused { "Market paused".to_string() } else { format!("Market open at speed {speed}") };
                let frame = serde_json::json!({
                    "type": "system",
                    "event": "market_status",
                    "state": MarketStatus::new(paused, speed).state,
                    "speed": speed,
                    "message": message,
                });
                tracing::info!(paused, speed, "market status");
                bus.publish(Topic::System, frame.to_string().into_bytes());
            }
        });
    }

    /// Queues the director's new commands to take effect now.
    pub fn direct(&mut self) {
        let now = self.clock.now();
        for (at, command) in self.director.take() {
            self.market.schedule(at.unwrap_or(now), command);
        }
    }

    /// Tells the director's routes the market's status and regimes.
    fn report(&mut self) {
        let pace = self.market.pace();
        let regimes = self.market.regimes(self.clock.now());
        self.director.report(MarketStatus::new(pace.paused(), pace.speed()), regimes);
    }
}
