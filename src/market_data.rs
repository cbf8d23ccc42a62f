//! The market-data service behind the REST routes: instruments, quotes, charts and news.
//!
//! Quotes come from the in-memory board, and so do charts of the latest buckets (the chart
//! windows). Charts of other ranges and news combine what the database holds with what is still
//! buffered for it, under the buffer's read gate, so they are always current.

use crate::domain::candle::{Candle, Timeframe, fold_trades, merge_newer};
use crate::domain::instrument::{Instrument, InstrumentType, Region, Sector, Universe};
use crate::domain::news::NewsEvent;
use crate::domain::time::{Clock, Timestamp};
use crate::live::buffer::WriteBuffer;
use crate::live::charts::ChartWindows;
use crate::live::quotes::QuoteBoard;
use crate::storage::{HistoryWindow, StorageError, Store};
use actix_web::web::Bytes;
use serde::Serialize;
use std::sync::Arc;

/// Candles returned when no `limit` is given, and the most one request may ask for.
pub const DEFAULT_CANDLES: u32 = 100;
pub const MAX_CANDLES: u32 = 1_000;
/// News items returned when no `limit` is given, and the most one request may ask for.
pub const DEFAULT_NEWS: usize = 10;
pub const MAX_NEWS: usize = 50;
/// Symbols one quotes request or one subscribe message may name: every instrument of a
/// generous universe, while bounding the work one request can cause.
pub const MAX_SYMBOLS_PER_REQUEST: usize = 200;

#[derive(Debug, thiserror::Error)]
pub enum MarketError {
    #[error("Quote for {0} not found")]
    UnknownQuote(String),
    #[error("Unknown symbol {0}")]
    UnknownSymbol(String),
    #[error("{0}")]
    InvalidQuery(String),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// The wire shape of one instrument.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InstrumentView<'a> {
    symbol: &'a str,
    name: &'a str,
    #[serde(rename = "type")]
    kind: InstrumentType,
    sector: Sector,
    market: Region,
    base_price: f64,
    volatility: f64,
    description: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    logo_url: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    exchange: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    isin: Option<&'a str>,
}

impl<'a> From<&'a Instrument> for InstrumentView<'a> {
    fn from(i: &'a Instrument) -> Self {
        InstrumentView {
            symbol: &i.symbol,
            name: &i.name,
            kind: i.kind,
            sector: i.sector,
            market: i.market,
            base_price: i.base_price,
            volatility: i.annual_volatility,
            description: i.description_or_default(),
            logo_url: i.logo_url.as_deref(),
            exchange: i.exchange.as_deref(),
            isin: i.isin.as_deref(),
        }
    }
}

/// A chart request as the route received it.
#[derive(Debug, Clone, Copy)]
pub struct HistoryRequest {
    pub timeframe: Timeframe,
    pub limit: u32,
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
}

pub struct MarketData {
    universe: Arc<Universe>,
    instruments_json: Bytes,
    board: Arc<QuoteBoard>,
    charts: Arc<ChartWindows>,
    store: Arc<Store>,
    buffer: Arc<WriteBuffer>,
    clock: Arc<dyn Clock>,
}

impl MarketData {
    pub fn new(
        universe: Arc<Universe>,
        board: Arc<QuoteBoard>,
        charts: Arc<ChartWindows>,
        store: Arc<Store>,
        buffer: Arc<WriteBuffer>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let views: Vec<InstrumentView> = universe.list().iter().map(InstrumentView::from).collect();
        let instruments_json = Bytes::from(serde_json::to_vec(&views).expect("instruments serialize"));
        MarketData { universe, instruments_json, board, charts, store, buffer, clock }
    }

    pub fn universe(&self) -> &Universe {
        &self.universe
    }

    pub fn instruments_json(&self) -> Bytes {
        self.instruments_json.clone()
    }

    pub fn quote_json(&self, symbol: &str) -> Result<Bytes, MarketError> {
        let index = self.universe.find(symbol).ok_or_else(|| MarketError::UnknownQuote(symbol.to_string()))?;
        Ok(self.board.get(index).json.clone())
    }

    /// Quotes for a comma-separated symbol list (unknown symbols left out), or all of them.
    pub fn quotes_json(&self, symbols: Option<&str>) -> Result<Bytes, MarketError> {
        match symbols.map(str::trim).filter(|s| !s.is_empty()) {
            None => Ok(self.board.all_json()),
            Some(list) if list.split(',').count() > MAX_SYMBOLS_PER_REQUEST => {
                Err(MarketError::InvalidQuery(format!("at most {MAX_SYMBOLS_PER_REQUEST} symbols per request")))
            }
            Some(list) => Ok(self.board.json_of(list.split(',').filter_map(|s| self.universe.find(s.trim())))),
        }
    }

    /// The JSON of a chart of the latest buckets up to now (no `from`, no `to`), served from the
    /// chart windows without blocking; `None` for a request only the database can answer.
    pub fn recent_history_json(&self, symbol: &str, request: HistoryRequest) -> Result<Option<Bytes>, MarketError> {
        let limit = request.limit as usize;
        if request.from.is_some() || request.to.is_some() || limit > self.charts.capacity() {
            return Ok(None);
        }
        let index = self.universe.find(symbol).ok_or_else(|| MarketError::UnknownSymbol(symbol.to_string()))?;
        Ok(Some(self.charts.json(index, request.timeframe, limit, self.clock.now())))
    }

    /// Candles of `symbol`, oldest first: the latest `limit` buckets up to `to` (default now),
    /// none before `from`. Reads the database: blocking, call from a blocking context.
    pub fn history(&self, symbol: &str, request: HistoryRequest) -> Result<Vec<Candle>, MarketError> {
        let index = self.universe.find(symbol).ok_or_else(|| MarketError::UnknownSymbol(symbol.to_string()))?;
        let tf = request.timeframe;
        let to = request.to.unwrap_or_else(|| self.clock.now());
        let last = tf.bucket_start(to);
        let mut first = tf.shift(last, -(i64::from(request.limit) - 1));
        if let Some(from) = request.from {
            if from > to {
                return Err(MarketError::InvalidQuery("from must not be after to".into()));
            }
            first = first.max(tf.bucket_start(from));
        }
        let end = tf.shift(last, 1);
        let window = HistoryWindow { timeframe: tf, first, last };
        let symbol = &self.universe.get(index).symbol;
        let (mut candles, unflushed) = {
            let _gate = self.buffer.read_gate();
            let stored = self.store.candles(symbol, &window)?;
            let (ticks, _) = self.buffer.unflushed(|t| t.instrument == index && t.time >= first && t.time < end);
            (stored, ticks)
        };
        merge_newer(&mut candles, fold_trades(tf, unflushed.iter().map(|t| (t.time, t.price, t.volume))));
        let excess = candles.len().saturating_sub(request.limit as usize);
        candles.drain(..excess);
        Ok(candles)
    }

    /// News, newest first, optionally only those naming `symbol`. Blocking.
    pub fn news(&self, symbol: Option<&str>, limit: usize) -> Result<Vec<NewsEvent>, MarketError> {
        let symbol = match symbol {
            Some(s) => {
                let index = self.universe.find(s).ok_or_else(|| MarketError::UnknownSymbol(s.to_string()))?;
                Some(self.universe.get(index).symbol.as_str())
            }
            None => None,
        };
        let (stored, unflushed) = {
            let _gate = self.buffer.read_gate();
            (self.store.news(symbol, limit)?, self.buffer.unflushed(|_| false).1)
        };
        let mut all: Vec<NewsEvent> = unflushed
            .into_iter()
            .filter(|n| symbol.is_none_or(|s| n.affected_symbols.iter().any(|a| a == s)))
            .collect();
        all.extend(stored);
        all.sort_by(|a, b| b.timestamp.cmp(&a.timestamp).then(b.id.cmp(&a.id)));
        all.dedup_by_key(|n| n.id);
        all.truncate(limit);
        Ok(all)
    }
}
