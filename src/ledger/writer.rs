//! The single ledger writer: a thread that owns every account, applies requests in arrival
//! order, and group-commits them.

use super::book::{Book, GroupOrders, Resting};
use super::inbox::TickInbox;
use super::{Command, Placed, Portfolio, TradeError, Trading, market_order};
use crate::domain::instrument::Universe;
use crate::domain::ledger::{Account, price_to_decimal};
use crate::domain::orders::OrderType;
use crate::domain::time::{Clock, Timestamp};
use crate::metrics::Metrics;
use crate::storage::Store;
use crate::storage::ledger::{FilledOrder, LedgerBatch, NewUser, OrderRecord, WatchChange, commit_ledger};
use crate::storage::orders::OrderInfo;
use dashmap::DashMap;
use rust_decimal::Decimal;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// Requests waiting for the writer before senders wait too: a few commits' worth.
const QUEUE_CAPACITY: usize = 4_096;
/// Requests applied and committed together at most: bounds a commit's latency.
const MAX_GROUP: usize = 1_024;

/// Where the writer reads the price an order fills at.
pub trait QuoteSource: Send + Sync + 'static {
    /// The latest price of an instrument and when it was quoted.
    fn latest(&self, instrument: usize) -> (f64, Timestamp);
}

/// Who hears of order events once they are committed (the live stream's order subscribers).
pub trait Announce: Send + Sync + 'static {
    /// `event` is `new`, `fill`, `canceled`, `expired`, `rejected` or `replaced`.
    fn order_event(&self, event: &str, order: &OrderInfo);
}

/// Nobody listening.
impl Announce for () {
    fn order_event(&self, _: &str, _: &OrderInfo) {}
}

/// Limits on resting orders.
#[derive(Debug, Clone, Copy)]
pub struct OrderLimits {
    pub max_open_per_user: usize,
    /// Percent added to a buy stop's trigger price for the cash it holds back.
    pub stop_hold_buffer_percent: Decimal,
}

pub struct LedgerWriter {
    pub universe: Arc<Universe>,
    pub store: Arc<Store>,
    pub quotes: Arc<dyn QuoteSource>,
    pub clock: Arc<dyn Clock>,
    pub starting_cash: Decimal,
    pub max_quote_age_micros: i64,
    pub metrics: Arc<Metrics>,
    pub limits: OrderLimits,
    pub announce: Arc<dyn Announce>,
}

/// A reply owed once the group commits.
pub(super) enum Reply {
    Unit(oneshot::Sender<Result<(), TradeError>>, Result<(), TradeError>),
    Placed(oneshot::Sender<Result<Placed, TradeError>>, Result<Placed, TradeError>),
    Order(oneshot::Sender<Result<Option<OrderInfo>, TradeError>>, Result<Option<OrderInfo>, TradeError>),
}

pub(super) struct State {
    pub accounts: HashMap<String, Account>,
    pub watchlists: HashMap<String, Vec<String>>,
    pub next_order_id: i64,
    pub book: Book,
    pub next_event_id: i64,
    pub inbox: Arc<TickInbox>,
}

/// Changes of one group, with what the touched users looked like before it (for rollback).
#[derive(Default)]
pub(super) struct Group {
    pub batch: LedgerBatch,
    pub before: HashMap<String, Option<(Account, Vec<String>)>>,
    pub replies: Vec<Reply>,
    pub orders: GroupOrders,
}

impl LedgerWriter {
    /// Loads the ledger, starts the writer thread and returns the service in front of it.
    pub fn start(self) -> Result<Trading, TradeError> {
        let mut loaded = self.store.load_ledger()?;
        let (open_orders, next_event_id, next_order_id) = self.store.load_open_orders()?;
        let conn = self.store.ledger_connection()?;
        let (sender, mut receiver) = mpsc::channel(QUEUE_CAPACITY);
        let inbox = Arc::new(TickInbox::new(self.universe.len(), &sender));
        let mut book = Book::default();
        for info in open_orders {
            let Some(instrument) = self.universe.find(&info.symbol) else { continue };
            // Restored orders are checked from the first live tick on; nothing is replayed.
            let resting = Resting { info, instrument, since: Timestamp(i64::MIN) };
            let account = loaded.accounts.entry(resting.info.firebase_uid.clone()).or_default();
            if let Err(e) = account.hold(&resting.hold()) {
                // Only a damaged file gets here (`finlearn check` names it); keep the order held.
                tracing::error!(order = resting.info.id, error = %e, "an open order holds more than is there");
                account.force_hold(&resting.hold());
            }
            inbox.count(instrument, 1);
            book.insert(resting);
        }
        let portfolios: Arc<DashMap<String, Arc<Portfolio>>> = Arc::new(DashMap::new());
        for (uid, account) in &loaded.accounts {
            let watchlist = loaded.watchlists.get(uid).cloned().unwrap_or_default();
            portfolios.insert(uid.clone(), Arc::new(Portfolio { account: account.clone(), watchlist }));
        }
        let trading = Trading {
            universe: self.universe.clone(),
            store: self.store.clone(),
            portfolios: portfolios.clone(),
            commands: sender,
            metrics: self.metrics.clone(),
            opening: Arc::new(Portfolio { account: Account::opened_with(self.starting_cash), watchlist: Vec::new() }),
            inbox: inbox.clone(),
        };
        let mut state = State {
            accounts: loaded.accounts,
            watchlists: loaded.watchlists,
            next_order_id: loaded.next_order_id.max(next_order_id),
            book,
            next_event_id,
            inbox,
        };
        std::thread::Builder::new()
            .name("ledger-writer".into())
            .spawn(move || {
                while let Some(first) = receiver.blocking_recv() {
                    let mut group = Group::default();
                    group.orders.ids_before = (state.next_order_id, state.next_event_id);
                    self.drain_ticks(&mut state, &mut group);
                    self.apply(&mut state, &mut group, first);
                    while group.replies.len() < MAX_GROUP {
                        match receiver.try_recv() {
                            Ok(command) => self.apply(&mut state, &mut group, command),
                            Err(_) => break,
                        }
                    }
                    self.commit(&conn, &mut state, group, &portfolios);
                }
                tracing::debug!("ledger writer stopped");
            })
            .map_err(|e| TradeError::Unavailable(e.to_string()))?;
        Ok(trading)
    }

    /// Registers `uid` if new, remembering its prior state for rollback.
    pub(super) fn touch(&self, state: &mut State, group: &mut Group, uid: &str) {
        if !group.before.contains_key(uid) {
            let prior =
                state.accounts.get(uid).map(|a| (a.clone(), state.watchlists.get(uid).cloned().unwrap_or_default()));
            group.before.insert(uid.to_string(), prior);
        }
        if !state.accounts.contains_key(uid) {
            let now = self.clock.now();
            state.accounts.insert(uid.to_string(), Account::opened_with(self.starting_cash));
            group.batch.new_users.push(NewUser { uid: uid.to_string(), at: now, starting_cash: self.starting_cash });
        }
    }

    fn apply(&self, state: &mut State, group: &mut Group, command: Command) {
        match command {
            Command::Watch { uid, symbol, add, reply } => {
                self.touch(state, group, &uid);
                let list = state.watchlists.entry(uid.clone()).or_default();
                let present = list.contains(&symbol);
                if add && !present {
                    list.push(symbol.clone());
                    group.batch.watch_changes.push(WatchChange::Add { uid, symbol, at: self.clock.now() });
                } else if !add && present {
                    list.retain(|s| *s != symbol);
                    group.batch.watch_changes.push(WatchChange::Remove { uid, symbol });
                }
                group.replies.push(Reply::Unit(reply, Ok(())));
            }
            Command::Place { uid, instrument, side, quantity, reply } => {
                let result = self.place(state, group, &uid, instrument, side, quantity);
                if let Ok(placed) = &result {
                    group.orders.announce.push(("fill", placed.order.clone()));
                }
                group.replies.push(Reply::Placed(reply, result));
            }
            other => self.apply_order_command(state, group, other),
        }
    }

    fn place(
        &self,
        state: &mut State,
        group: &mut Group,
        uid: &str,
        instrument: usize,
        side: crate::domain::ledger::Side,
        quantity: Decimal,
    ) -> Result<Placed, TradeError> {
        let inst = self.universe.get(instrument);
        let (price, quoted_at) = self.quotes.latest(instrument);
        let now = self.clock.now();
        if now.0 - quoted_at.0 > self.max_quote_age_micros {
            return Err(TradeError::StalePrice(inst.symbol.clone()));
        }
        let price = price_to_decimal(price)?;
        self.touch(state, group, uid);
        let account = state.accounts.get_mut(uid).expect("touched");
        let fill = account.apply(&inst.symbol, inst.currency, side, quantity, price)?;
        let id = state.next_order_id;
        state.next_order_id += 1;
        let order = OrderRecord {
            id,
            firebase_uid: uid.to_string(),
            symbol: inst.symbol.clone(),
            side,
            order_type: OrderType::Market,
            quantity: fill.quantity,
            currency: inst.currency,
            fill_price: fill.price,
            total: fill.value,
            created_at: now,
            filled_at: now,
        };
        group.batch.orders.push(FilledOrder {
            order: order.clone(),
            cash_after: fill.new_balance,
            position_after: fill.position,
        });
        Ok(Placed { order: market_order(&order), new_balance: fill.new_balance })
    }

    /// Writes the group in one transaction, then answers everyone: with their results if it
    /// committed, with "unavailable" (and every change undone) if it did not.
    fn commit(
        &self,
        conn: &duckdb::Connection,
        state: &mut State,
        group: Group,
        portfolios: &DashMap<String, Arc<Portfolio>>,
    ) {
        let batch = &group.batch;
        let started = std::time::Instant::now();
        let outcome = if batch.is_empty() { Ok(()) } else { commit_ledger(conn, batch) };
        self.metrics.ledger_commit_seconds.observe(started.elapsed().as_secs_f64());
        match outcome {
            Ok(()) => {
                for uid in group.before.keys() {
                    let account = state.accounts.get(uid).cloned().unwrap_or_default();
                    let watchlist = state.watchlists.get(uid).cloned().unwrap_or_default();
                    portfolios.insert(uid.clone(), Arc::new(Portfolio { account, watchlist }));
                }
                for reply in group.replies {
                    match reply {
                        Reply::Unit(tx, result) => drop(tx.send(result)),
                        Reply::Placed(tx, result) => drop(tx.send(result)),
                        Reply::Order(tx, result) => drop(tx.send(result)),
                    }
                }
                self.announce(group.orders);
            }
            Err(e) => {
                tracing::error!(error = %e, requests = group.replies.len(), "ledger commit failed; the group was undone");
                for (uid, prior) in group.before {
                    match prior {
                        Some((account, watchlist)) => {
                            state.accounts.insert(uid.clone(), account);
                            state.watchlists.insert(uid, watchlist);
                        }
                        None => {
                            state.accounts.remove(&uid);
                            state.watchlists.remove(&uid);
                        }
                    }
                }
                self.undo(state, group.orders);
                let detail = storage_detail(&e);
                for reply in group.replies {
                    match reply {
                        Reply::Unit(tx, _) => drop(tx.send(Err(TradeError::Unavailable(detail.clone())))),
                        Reply::Placed(tx, result) => {
                            // A refusal stays a refusal; only accepted orders were lost.
                            let answer = result.and(Err(TradeError::Unavailable(detail.clone())));
                            drop(tx.send(answer))
                        }
                        Reply::Order(tx, result) => {
                            let answer = result.and(Err(TradeError::Unavailable(detail.clone())));
                            drop(tx.send(answer))
                        }
                    }
                }
            }
        }
    }
}

fn storage_detail(e: &crate::storage::StorageError) -> String {
    let text = e.to_string();
    if text.contains("No space left") || text.contains("disk is full") {
        "the server's disk is full; nothing was recorded".into()
    } else {
        "the order could not be recorded; nothing was changed".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::instrument::default_universe;
    use crate::domain::ledger::Side;
    use crate::domain::time::ManualClock;

    struct FixedQuote(f64, Timestamp);

    impl QuoteSource for FixedQuote {
        fn latest(&self, _: usize) -> (f64, Timestamp) {
            (self.0, self.1)
        }
    }

    fn writer(quoted_at: Timestamp, now: Timestamp) -> (Trading, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(&dir.path().join("ledger.duckdb"), "128MB", 1).unwrap());
        let trading = LedgerWriter {
            universe: Arc::new(Universe::new(default_universe()).unwrap()),
            store,
            quotes: Arc::new(FixedQuote(100.0, quoted_at)),
            clock: Arc::new(ManualClock::starting_at(now)),
            starting_cash: Decimal::from(10_000),
            max_quote_age_micros: 15_000_000,
            metrics: Arc::default(),
            limits: OrderLimits { max_open_per_user: 3, stop_hold_buffer_percent: Decimal::from(5) },
            announce: Arc::new(()),
        }
        .start()
        .unwrap();
        (trading, dir)
    }

    fn buy(quantity: &str) -> super::super::OrderRequest {
        super::super::OrderRequest {
            firebase_uid: "u".into(),
            symbol: "AAPL".into(),
            side: "buy".into(),
            quantity: quantity.into(),
            market: "usa".into(),
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn an_order_on_a_stale_quote_is_refused_and_a_fresh_one_fills() {
        let now = Timestamp::from_seconds(1_800_000_000);
        let (stale, _dir) = writer(now.plus_micros(-16_000_000), now);
        assert!(matches!(stale.place(buy("1")).await, Err(TradeError::StalePrice(_))));
        assert_eq!(stale.portfolio("u").unwrap().account, Account::opened_with(Decimal::from(10_000)));
        assert!(!stale.is_registered("u"), "reading a portfolio registers nobody");

        let (fresh, _dir) = writer(now.plus_micros(-14_000_000), now);
        let placed = fresh.place(buy("2.5")).await.unwrap();
        let fill = placed.order.fill.unwrap();
        assert_eq!(
            (placed.order.spec.side, fill.total, placed.new_balance),
            (Side::Buy, Decimal::from(250), Decimal::from(9_750))
        );
    }
}
