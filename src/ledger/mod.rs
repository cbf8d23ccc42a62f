//! The paper-trading service: validates requests, hands them to the single ledger writer, and
//! serves portfolios from memory.
//!
//! Design: one writer thread owns every account and applies requests one at a time, so a
//! double-tap can never overdraw (no two orders of a user, or of anyone, interleave). It
//! group-commits: whatever requests queued up while the previous commit was being fsynced are
//! applied in memory and written in one DuckDB transaction, and each is acknowledged only after
//! that transaction has committed. DuckDB raises conflicts when two connections update the same
//! rows; with a single writer of ledger tables that cannot happen, and a commit of a hundred
//! orders costs about what a commit of one does.

mod writer;

use crate::domain::instrument::{Currency, Market, Universe};
use crate::domain::ledger::{Account, Refusal, Side, validate_quantity};
use crate::metrics::Metrics;
use crate::storage::ledger::OrderRecord;
use crate::storage::{StorageError, Store};
use dashmap::DashMap;
use rust_decimal::Decimal;
use std::str::FromStr;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

pub use writer::{LedgerWriter, QuoteSource};

/// Longest accepted `firebase_uid`.
pub const MAX_UID_LEN: usize = 128;
/// Orders listed per request at most (newest first).
pub const MAX_ORDERS_LISTED: usize = 1_000;

#[derive(Debug, thiserror::Error)]
pub enum TradeError {
    #[error("{0}")]
    Refused(#[from] Refusal),
    #[error("Unknown symbol {0}")]
    UnknownSymbol(String),
    #[error("side must be buy or sell, not {0:?}")]
    BadSide(String),
    #[error("Only market orders are supported, not {0:?}")]
    BadOrderType(String),
    #[error("market {market} settles in {given}, but {symbol} trades in {wanted}")]
    MarketMismatch { market: String, symbol: String, given: &'static str, wanted: &'static str },
    #[error("market must be one of india, usa, uk, crypto, not {0:?}")]
    UnknownMarket(String),
    #[error("firebase_uid must be 1 to {MAX_UID_LEN} characters")]
    BadUid,
    #[error("No fresh price for {0}: the market feed has stalled; try again shortly")]
    StalePrice(String),
    #[error("The ledger is unavailable: {0}")]
    Unavailable(String),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl TradeError {
    /// A short stable name for metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            TradeError::Refused(Refusal::InsufficientFunds { .. }) => "insufficient_funds",
            TradeError::Refused(Refusal::InsufficientHoldings { .. }) => "insufficient_holdings",
            TradeError::Refused(Refusal::BadQuantity) => "bad_quantity",
            TradeError::Refused(Refusal::BadPrice) => "bad_price",
            TradeError::UnknownSymbol(_) => "unknown_symbol",
            TradeError::BadSide(_) => "bad_side",
            TradeError::BadOrderType(_) => "bad_order_type",
            TradeError::MarketMismatch { .. } => "market_mismatch",
            TradeError::UnknownMarket(_) => "unknown_market",
            TradeError::BadUid => "bad_uid",
            TradeError::StalePrice(_) => "stale_price",
            TradeError::Unavailable(_) => "unavailable",
            TradeError::Storage(_) => "storage",
        }
    }
}

/// An order as the app sends it, before validation.
#[derive(Debug, Clone)]
pub struct OrderRequest {
    pub firebase_uid: String,
    pub symbol: String,
    pub side: String,
    /// The JSON number exactly as written, so no precision is lost on the way to `Decimal`.
    pub quantity: String,
    pub market: String,
    pub order_type: Option<String>,
}

/// A filled order as acknowledged.
#[derive(Debug, Clone, PartialEq)]
pub struct Placed {
    pub order: OrderRecord,
    pub new_balance: Decimal,
}

/// A user's account and watchlist as the routes show them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Portfolio {
    pub account: Account,
    pub watchlist: Vec<String>,
}

/// Validated work for the ledger writer.
pub(crate) enum Command {
    Open {
        uid: String,
        reply: oneshot::Sender<Result<(), TradeError>>,
    },
    Place {
        uid: String,
        instrument: usize,
        side: Side,
        quantity: Decimal,
        reply: oneshot::Sender<Result<Placed, TradeError>>,
    },
    Watch {
        uid: String,
        symbol: String,
        add: bool,
        reply: oneshot::Sender<Result<(), TradeError>>,
    },
}

pub struct Trading {
    universe: Arc<Universe>,
    store: Arc<Store>,
    portfolios: Arc<DashMap<String, Arc<Portfolio>>>,
    commands: mpsc::Sender<Command>,
    metrics: Arc<Metrics>,
}

pub fn validate_uid(uid: &str) -> Result<(), TradeError> {
    if uid.is_empty() || uid.chars().count() > MAX_UID_LEN || uid.chars().any(char::is_control) {
        return Err(TradeError::BadUid);
    }
    Ok(())
}

fn market_of(name: &str) -> Result<Market, TradeError> {
    match name {
        "india" => Ok(Market::India),
        "usa" => Ok(Market::Usa),
        "uk" => Ok(Market::Uk),
        "crypto" => Ok(Market::Crypto),
        other => Err(TradeError::UnknownMarket(other.to_string())),
    }
}

/// Reads a JSON number's text as an exact decimal (plain or scientific notation).
fn parse_quantity(text: &str) -> Result<Decimal, TradeError> {
    let parsed = if text.contains(['e', 'E']) { Decimal::from_scientific(text) } else { Decimal::from_str(text) };
    let quantity = parsed.map_err(|_| Refusal::BadQuantity)?;
    Ok(validate_quantity(quantity)?)
}

impl Trading {
    pub(crate) fn new(
        universe: Arc<Universe>,
        store: Arc<Store>,
        portfolios: Arc<DashMap<String, Arc<Portfolio>>>,
        commands: mpsc::Sender<Command>,
        metrics: Arc<Metrics>,
    ) -> Self {
        Trading { universe, store, portfolios, commands, metrics }
    }

    async fn send<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<T, TradeError>>) -> Command,
    ) -> Result<T, TradeError> {
        let (reply, answer) = oneshot::channel();
        self.commands.send(make(reply)).await.map_err(|_| TradeError::Unavailable("shutting down".into()))?;
        answer.await.map_err(|_| TradeError::Unavailable("the ledger writer stopped".into()))?
    }

    /// Validates and places a market order; resolves once it is committed.
    pub async fn place(&self, request: OrderRequest) -> Result<Placed, TradeError> {
        let result = self.try_place(request).await;
        match &result {
            Ok(_) => drop(self.metrics.orders_accepted.inc()),
            Err(e) => self.metrics.refused(e.reason()),
        };
        result
    }

    async fn try_place(&self, request: OrderRequest) -> Result<Placed, TradeError> {
        validate_uid(&request.firebase_uid)?;
        let instrument =
            self.universe.find(&request.symbol).ok_or_else(|| TradeError::UnknownSymbol(request.symbol.clone()))?;
        let side = Side::parse(&request.side).ok_or_else(|| TradeError::BadSide(request.side.clone()))?;
        match request.order_type.as_deref() {
            None | Some("market") => {}
            Some(other) => return Err(TradeError::BadOrderType(other.to_string())),
        }
        let quantity = parse_quantity(&request.quantity)?;
        let wanted: Currency = self.universe.get(instrument).currency;
        let given = market_of(&request.market)?.currency();
        if given != wanted {
            return Err(TradeError::MarketMismatch {
                market: request.market,
                symbol: self.universe.get(instrument).symbol.clone(),
                given: given.code(),
                wanted: wanted.code(),
            });
        }
        let uid = request.firebase_uid;
        self.send(|reply| Command::Place { uid, instrument, side, quantity, reply }).await
    }

    /// The user's portfolio, registering the user on first sight.
    pub async fn portfolio(&self, uid: &str) -> Result<Arc<Portfolio>, TradeError> {
        validate_uid(uid)?;
        if let Some(p) = self.portfolios.get(uid) {
            return Ok(p.clone());
        }
        let owned = uid.to_string();
        self.send(|reply| Command::Open { uid: owned, reply }).await?;
        self.portfolios.get(uid).map(|p| p.clone()).ok_or_else(|| TradeError::Unavailable("account missing".into()))
    }

    /// Adds (idempotently) or removes a watchlist symbol; returns the canonical symbol.
    pub async fn watch(&self, uid: &str, symbol: &str, add: bool) -> Result<String, TradeError> {
        validate_uid(uid)?;
        let index = self.universe.find(symbol).ok_or_else(|| TradeError::UnknownSymbol(symbol.to_string()))?;
        let symbol = self.universe.get(index).symbol.clone();
        let (uid, s) = (uid.to_string(), symbol.clone());
        self.send(|reply| Command::Watch { uid, symbol: s, add, reply }).await?;
        Ok(symbol)
    }

    /// The user's orders, newest first. Blocking (a database read).
    pub fn orders(&self, uid: &str, limit: usize) -> Result<Vec<OrderRecord>, TradeError> {
        validate_uid(uid)?;
        Ok(self.store.orders_of(uid, limit.min(MAX_ORDERS_LISTED))?)
    }

    /// Users registered so far.
    pub fn user_count(&self) -> usize {
        self.portfolios.len()
    }

    pub fn is_registered(&self, uid: &str) -> bool {
        self.portfolios.contains_key(uid)
    }
}
