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

mod admission;
mod book;
mod inbox;
mod ledger_writer;
mod matching;
mod placing;
mod request;
mod seasons;

use crate::class::Classroom;
use crate::domain::account::{Account, Refusal, Side};
use crate::domain::class::ClassRefusal;
use crate::domain::instrument::Universe;
use crate::domain::number::NumberError;
use crate::domain::orders::{OrderSpec, OrderStatus, OrderType, Progress, TermsError};
use crate::metrics::Metrics;
use crate::storage::ledger::OrderRecord;
use crate::storage::orders::{OrderFill, OrderFilter, OrderInfo};
use crate::storage::{StorageError, Store};
use dashmap::DashMap;
use rust_decimal::Decimal;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

pub use inbox::TickInbox;
pub use ledger_writer::{Announce, LedgerWriter, OrderLimits, QuoteSource};
pub use request::{OrderRequest, Replacement};
pub use seasons::{SeasonChange, SeasonMark, SeasonSwitch};

/// Longest accepted `firebase_uid`.
pub const MAX_UID_LEN: usize = 128;
/// Orders listed per request at most (newest first).
pub const MAX_ORDERS_LISTED: usize = 1_000;

#[derive(Debug, thiserror::Error)]
pub enum TradeError {
    #[error("{0}")]
    Refused(#[from] Refusal),
    #[error("{0}")]
    Class(#[from] ClassRefusal),
    #[error("Unknown symbol {0}")]
    UnknownSymbol(String),
    #[error("side must be buy or sell, not {0:?}")]
    BadSide(String),
    #[error("order_type must be market, limit, stop, stop_limit or trailing_stop, not {0:?}")]
    BadOrderType(String),
    #[error("time_in_force must be day, gtc, ioc or fok, not {0:?}")]
    BadTimeInForce(String),
    #[error("{field}: {source}")]
    TooManyDecimals { field: &'static str, source: NumberError },
    #[error("{field}: {source}")]
    BadNumber { field: &'static str, source: NumberError },
    #[error("{0}")]
    Terms(#[from] TermsError),
    #[error("At most {0} orders may be open at once; cancel one first")]
    TooManyOpenOrders(usize),
    #[error("No order {0} for this user")]
    OrderNotFound(i64),
    #[error("Order {id} is already {status}: only an open order can be changed or canceled")]
    OrderClosed { id: i64, status: &'static str },
    #[error("market {market} settles in {given}, but {symbol} trades in {wanted}")]
    MarketMismatch { market: String, symbol: String, given: &'static str, wanted: &'static str },
    #[error("market must be one of india, usa, uk, crypto, not {0:?}")]
    UnknownMarket(String),
    #[error("firebase_uid must be 1 to {MAX_UID_LEN} characters")]
    BadUid,
    #[error("No fresh price for {0}: the market feed has stalled; try again shortly")]
    StalePrice(String),
    #[error("There is no season {0}")]
    UnknownSeason(i32),
    #[error("There is no archived season to restore")]
    NoArchivedSeason,
    #[error("Season {0} has orders already: its reset can no longer be undone")]
    SeasonHasOrders(i32),
    #[error("The ledger is unavailable: {0}")]
    Unavailable(String),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl TradeError {
    /// A short stable name for metrics and for the `code` of an error body.
    pub fn reason(&self) -> &'static str {
        match self {
            TradeError::Refused(Refusal::InsufficientFunds { .. }) => "insufficient_funds",
            TradeError::Refused(Refusal::InsufficientHoldings { .. }) => "insufficient_holdings",
            TradeError::Refused(Refusal::BadQuantity) => "bad_quantity",
            TradeError::Refused(Refusal::BadPrice) => "bad_price",
            TradeError::Class(refusal) => refusal.code(),
            TradeError::UnknownSymbol(_) => "unknown_symbol",
            TradeError::BadSide(_) => "bad_side",
            TradeError::BadOrderType(_) => "bad_order_type",
            TradeError::BadTimeInForce(_) => "bad_time_in_force",
            TradeError::TooManyDecimals { .. } => "too_many_decimals",
            TradeError::BadNumber { .. } => "bad_number",
            TradeError::Terms(_) => "bad_terms",
            TradeError::TooManyOpenOrders(_) => "too_many_open_orders",
            TradeError::OrderNotFound(_) => "order_not_found",
            TradeError::OrderClosed { .. } => "order_closed",
            TradeError::MarketMismatch { .. } => "market_mismatch",
            TradeError::UnknownMarket(_) => "unknown_market",
            TradeError::BadUid => "bad_uid",
            TradeError::StalePrice(_) => "stale_price",
            TradeError::UnknownSeason(_) => "unknown_season",
            TradeError::NoArchivedSeason => "no_archived_season",
            TradeError::SeasonHasOrders(_) => "season_has_orders",
            TradeError::Unavailable(_) => "unavailable",
            TradeError::Storage(_) => "storage",
        }
    }
}

/// An accepted order: filled, resting, or (ioc and fok that could not fill) canceled.
#[derive(Debug, Clone, PartialEq)]
pub struct Placed {
    pub order: OrderInfo,
    /// The cash balance in the order's currency after it.
    pub new_balance: Decimal,
}

/// A market fill as an order.
pub fn market_order(record: &OrderRecord) -> OrderInfo {
    OrderInfo {
        id: record.id,
        firebase_uid: record.firebase_uid.clone(),
        symbol: record.symbol.clone(),
        currency: record.currency,
        spec: OrderSpec {
            side: record.side,
            order_type: record.order_type,
            time_in_force: crate::domain::orders::TimeInForce::Day,
            quantity: record.quantity,
            limit_price: None,
            stop_price: None,
            trail: None,
        },
        status: OrderStatus::Filled,
        reason: None,
        held: Decimal::ZERO,
        progress: Progress::default(),
        created_at: record.created_at,
        updated_at: record.filled_at,
        expires_at: None,
        fill: Some(OrderFill {
            fill_id: record.id,
            price: record.fill_price,
            total: record.total,
            commission: record.commission,
            at: record.filled_at,
        }),
    }
}

/// A user's account and watchlist as the routes show them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Portfolio {
    pub account: Account,
    pub watchlist: Vec<String>,
}

/// Validated work for the ledger writer.
pub(crate) enum Command {
    Place {
        uid: String,
        instrument: usize,
        side: Side,
        quantity: Decimal,
        reply: oneshot::Sender<Result<Placed, TradeError>>,
    },
    /// An order other than a plain market order.
    Submit {
        uid: String,
        instrument: usize,
        spec: OrderSpec,
        reply: oneshot::Sender<Result<Placed, TradeError>>,
    },
    /// Cancels an open order; answers `None` when the order is not open.
    Cancel {
        uid: String,
        id: i64,
        reply: oneshot::Sender<Result<Option<OrderInfo>, TradeError>>,
    },
    /// Replaces an open order's terms; answers `None` when the order is not open.
    Replace {
        uid: String,
        id: i64,
        changes: request::Changes,
        reply: oneshot::Sender<Result<Option<OrderInfo>, TradeError>>,
    },
    /// Ticks are waiting in the inbox.
    Ticks,
    /// Ends or restores a season (between groups).
    Season {
        change: SeasonChange,
        reply: oneshot::Sender<Result<SeasonSwitch, TradeError>>,
    },
    /// Joins the class with its code.
    Join {
        uid: String,
        code: String,
        reply: oneshot::Sender<Result<(), TradeError>>,
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
    /// The class's rules: what a user never seen before is shown is the opening state under
    /// them (not registered until they act).
    class: Arc<Classroom>,
    inbox: Arc<TickInbox>,
    /// The season being played (see [`seasons::SeasonCell`]).
    season: Arc<seasons::SeasonCell>,
    /// Told when the writer thread has let go of the database (taken once, by shutdown).
    stopped: std::sync::Mutex<Option<std::sync::mpsc::Receiver<()>>>,
}

pub fn validate_uid(uid: &str) -> Result<(), TradeError> {
    if uid.is_empty() || uid.chars().count() > MAX_UID_LEN || uid.chars().any(char::is_control) {
        return Err(TradeError::BadUid);
    }
    Ok(())
}

impl Trading {
    async fn send<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<T, TradeError>>) -> Command,
    ) -> Result<T, TradeError> {
        let (reply, answer) = oneshot::channel();
        self.commands.send(make(reply)).await.map_err(|_| TradeError::Unavailable("shutting down".into()))?;
        answer.await.map_err(|_| TradeError::Unavailable("the ledger writer stopped".into()))?
    }

    /// Validates and places an order; resolves once it is committed.
    pub async fn place(&self, request: OrderRequest) -> Result<Placed, TradeError> {
        let result = self.try_place(request).await;
        match &result {
            Ok(_) => drop(self.metrics.orders_accepted.inc()),
            Err(e) => self.metrics.refused(e.reason()),
        };
        result
    }

    async fn try_place(&self, request: OrderRequest) -> Result<Placed, TradeError> {
        let request::Checked { uid, instrument, spec } = request::check(&self.universe, request)?;
        if spec.order_type == OrderType::Market && spec == market_terms(&spec) {
            let (side, quantity) = (spec.side, spec.quantity);
            return self.send(|reply| Command::Place { uid, instrument, side, quantity, reply }).await;
        }
        self.send(|reply| Command::Submit { uid, instrument, spec, reply }).await
    }

    /// Cancels an open order. Canceling a canceled order answers it again; any other closed
    /// order cannot be canceled.
    pub async fn cancel(&self, uid: &str, id: i64) -> Result<OrderInfo, TradeError> {
        validate_uid(uid)?;
        let owned = uid.to_string();
        if let Some(order) = self.send(|reply| Command::Cancel { uid: owned, id, reply }).await? {
            return Ok(order);
        }
        match self.closed_order(uid, id).await? {
            order if order.status == OrderStatus::Canceled => Ok(order),
            order => Err(TradeError::OrderClosed { id, status: order.status.as_str() }),
        }
    }

    /// Replaces an open order's terms; its holds are checked against the new terms.
    pub async fn replace(&self, uid: &str, id: i64, replacement: Replacement) -> Result<OrderInfo, TradeError> {
        validate_uid(uid)?;
        let changes = request::check_changes(&replacement)?;
        if changes.is_empty() {
            return Err(TradeError::Terms(TermsError::NothingToReplace));
        }
        let owned = uid.to_string();
        if let Some(order) = self.send(|reply| Command::Replace { uid: owned, id, changes, reply }).await? {
            return Ok(order);
        }
        let order = self.closed_order(uid, id).await?;
        Err(TradeError::OrderClosed { id, status: order.status.as_str() })
    }

    /// An order the writer no longer holds open: closed, or not this user's.
    async fn closed_order(&self, uid: &str, id: i64) -> Result<OrderInfo, TradeError> {
        let (store, owned) = (self.store.clone(), uid.to_string());
        let season = self.season();
        let found = tokio::task::spawn_blocking(move || store.order_of(&owned, id, season))
            .await
            .map_err(|e| TradeError::Unavailable(e.to_string()))??;
        found.ok_or(TradeError::OrderNotFound(id))
    }

    /// One of the user's orders in a season (the current one by default). Blocking (a
    /// database read).
    pub fn order(&self, uid: &str, id: i64, season: Option<i32>) -> Result<OrderInfo, TradeError> {
        validate_uid(uid)?;
        let season = self.season_or_current(season)?;
        self.store.order_of(uid, id, season)?.ok_or(TradeError::OrderNotFound(id))
    }

    /// The user's orders in a season (the current one by default), newest first. Blocking (a
    /// database read).
    pub fn orders_listed(
        &self,
        uid: &str,
        filter: OrderFilter,
        limit: usize,
        season: Option<i32>,
    ) -> Result<Vec<OrderInfo>, TradeError> {
        validate_uid(uid)?;
        let season = self.season_or_current(season)?;
        Ok(self.store.orders_listed(uid, filter, season, limit.min(MAX_ORDERS_LISTED))?)
    }

    /// The season being played.
    pub fn season(&self) -> i32 {
        self.season.mark().number
    }

    /// `season` when it exists, else the current one; a season that does not exist is refused.
    pub fn season_or_current(&self, season: Option<i32>) -> Result<i32, TradeError> {
        let current = self.season();
        match season {
            None => Ok(current),
            Some(s) if (1..=current).contains(&s) => Ok(s),
            Some(s) => Err(TradeError::UnknownSeason(s)),
        }
    }

    /// Ends the current season or undoes the last reset; resolves once committed.
    pub async fn change_season(&self, change: SeasonChange) -> Result<SeasonSwitch, TradeError> {
        self.send(|reply| Command::Season { change, reply }).await
    }

    /// Runs `f` with the season being played while no season change can start or be under way
    /// (a round of value snapshots records into the season it valued). Blocking: it waits for a
    /// change under way.
    pub fn in_season<T>(&self, f: impl FnOnce(SeasonMark) -> T) -> T {
        self.season.shared(f)
    }

    /// The season being played and the changes before it.
    pub fn season_mark(&self) -> SeasonMark {
        self.season.mark()
    }

    /// The user's portfolio; a user never seen before gets the opening state (reads do not
    /// register anyone: the first order or watchlist change does).
    pub fn portfolio(&self, uid: &str) -> Result<Arc<Portfolio>, TradeError> {
        validate_uid(uid)?;
        Ok(self
            .portfolios
            .get(uid)
            .map(|p| p.clone())
            .unwrap_or_else(|| Arc::new(Portfolio { account: self.class.opening(), watchlist: Vec::new() })))
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

    /// The user's filled orders in a season (the current one by default), newest first.
    /// Blocking (a database read).
    pub fn orders(&self, uid: &str, limit: usize, season: Option<i32>) -> Result<Vec<OrderRecord>, TradeError> {
        validate_uid(uid)?;
        let season = self.season_or_current(season)?;
        Ok(self.store.orders_of(uid, season, limit.min(MAX_ORDERS_LISTED))?)
    }

    /// Joins the class with its join code (any code when the class has none).
    pub async fn join(&self, uid: &str, code: &str) -> Result<(), TradeError> {
        validate_uid(uid)?;
        let (uid, code) = (uid.to_string(), code.to_string());
        self.send(|reply| Command::Join { uid, code, reply }).await
    }

    /// Every registered user's portfolio as last committed.
    pub fn portfolios(&self) -> Vec<(String, Arc<Portfolio>)> {
        self.portfolios.iter().map(|e| (e.key().clone(), e.value().clone())).collect()
    }

    /// Where the engine hands the ticks that resting orders wait for.
    pub fn tick_inbox(&self) -> Arc<TickInbox> {
        self.inbox.clone()
    }

    /// A receiver that hears when the writer thread has stopped and let go of the database,
    /// which it does once every handle of this service is dropped. Given once.
    pub fn stopped_signal(&self) -> Option<std::sync::mpsc::Receiver<()>> {
        self.stopped.lock().expect("stopped").take()
    }

    /// Users registered so far.
    pub fn user_count(&self) -> usize {
        self.portfolios.len()
    }

    pub fn is_registered(&self, uid: &str) -> bool {
        self.portfolios.contains_key(uid)
    }
}

/// The terms of a plain market order with the same side and quantity: a market order with any
/// other field set goes through the full validation (and is refused there).
fn market_terms(spec: &OrderSpec) -> OrderSpec {
    OrderSpec { limit_price: None, stop_price: None, trail: None, ..spec.clone() }
}
