//! The single ledger writer: a thread that owns every account, applies requests in arrival
//! order, and group-commits them.

use super::book::{Book, GroupOrders};
use super::inbox::TickInbox;
use super::{Command, Placed, Portfolio, TradeError, Trading, market_order};
use crate::class::Classroom;
use crate::domain::account::{Account, price_to_decimal};
use crate::domain::instrument::Universe;
use crate::domain::orders::OrderType;
use crate::domain::time::{Clock, Timestamp};
use crate::health::Health;
use crate::metrics::Metrics;
use crate::storage::ledger::{FilledOrder, LedgerBatch, NewUser, OrderRecord, WatchChange, commit_ledger};
use crate::storage::orders::OrderInfo;
use crate::storage::{Fault, StorageError, Store};
use dashmap::DashMap;
use rust_decimal::Decimal;
use std::collections::{HashMap, HashSet};
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
    /// The class's rules, read as each order is applied.
    pub class: Arc<Classroom>,
    pub max_quote_age_micros: i64,
    pub metrics: Arc<Metrics>,
    pub limits: OrderLimits,
    pub announce: Arc<dyn Announce>,
    /// Told when the writer dies (a panic, an invalidated database): the server then stops.
    pub health: Arc<Health>,
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
    /// Students who joined the class (in any season).
    pub members: HashSet<String>,
    /// Users of any season.
    pub registered: HashSet<String>,
    /// The season being played, and the cell the service reads it from.
    pub season: i32,
    pub season_cell: Arc<super::seasons::SeasonCell>,
}

/// Changes of one group, with what the touched users looked like before it (for rollback).
#[derive(Default)]
pub(super) struct Group {
    pub batch: LedgerBatch,
    pub before: HashMap<String, Option<(Account, Vec<String>)>>,
    pub replies: Vec<Reply>,
    pub orders: GroupOrders,
    /// Students who joined in this group.
    pub joined: Vec<String>,
}

impl LedgerWriter {
    /// Loads the ledger, starts the writer thread and returns the service in front of it.
    pub fn start(self) -> Result<Trading, TradeError> {
        let season = self.store.current_season()?;
        let members = self.store.class_members()?;
        let conn = self.store.ledger_connection()?;
        let (sender, mut receiver) = mpsc::channel(QUEUE_CAPACITY);
        let inbox = Arc::new(TickInbox::new(self.universe.len(), &sender));
        let loaded = self.load_season(season, &inbox)?;
        let portfolios: Arc<DashMap<String, Arc<Portfolio>>> = Arc::new(DashMap::new());
        let trading = Trading {
            universe: self.universe.clone(),
            store: self.store.clone(),
            portfolios: portfolios.clone(),
            commands: sender,
            metrics: self.metrics.clone(),
            class: self.class.clone(),
            inbox: inbox.clone(),
            season: Arc::new(super::seasons::SeasonCell::new(season)),
            stopped: Default::default(),
        };
        let mut state = State {
            accounts: HashMap::new(),
            watchlists: HashMap::new(),
            registered: HashSet::new(),
            next_order_id: 0,
            book: Book::default(),
            next_event_id: 0,
            inbox,
            members,
            season,
            season_cell: trading.season.clone(),
        };
        state.install(loaded, &portfolios);
        let (done, stopped) = std::sync::mpsc::channel();
        *trading.stopped.lock().expect("stopped") = Some(stopped);
        std::thread::Builder::new()
            .name("ledger-writer".into())
            .spawn(move || {
                {
                    let (writer, conn) = (self, conn);
                    // A panic must not leave a server that answers 503 to every order for good:
                    // it is caught here and reported, and the server stops to be restarted.
                    let run =
                        std::panic::AssertUnwindSafe(|| writer.serve(&conn, &mut state, &mut receiver, &portfolios));
                    match std::panic::catch_unwind(run) {
                        Ok(Ok(())) => tracing::debug!("ledger writer stopped"),
                        Ok(Err(e)) => writer.health.fail(format!("the ledger database failed: {e}")),
                        Err(panic) => {
                            writer.health.fail(format!("the ledger writer panicked: {}", panic_message(&*panic)))
                        }
                    }
                }
                // Its connection and its share of the store are gone: the file can be closed.
                let _ = done.send(());
            })
            .map_err(|e| TradeError::Unavailable(e.to_string()))?;
        Ok(trading)
    }

    /// Applies and commits groups until every sender is gone, or until the database is
    /// invalidated (every later commit would fail too).
    fn serve(
        &self,
        conn: &duckdb::Connection,
        state: &mut State,
        receiver: &mut mpsc::Receiver<Command>,
        portfolios: &DashMap<String, Arc<Portfolio>>,
    ) -> Result<(), StorageError> {
        let mut next = receiver.blocking_recv();
        while let Some(first) = next.take() {
            if let Command::Season { change, reply } = first {
                let _ = reply.send(self.change_season(conn, state, portfolios, change)?);
                next = receiver.blocking_recv();
                continue;
            }
            let mut group = Group::default();
            group.batch.season = state.season;
            group.orders.ids_before = (state.next_order_id, state.next_event_id);
            self.drain_ticks(state, &mut group);
            self.apply(state, &mut group, first);
            while group.replies.len() < MAX_GROUP {
                match receiver.try_recv() {
                    // A season changes between groups, never inside one.
                    Ok(command @ Command::Season { .. }) => {
                        next = Some(command);
                        break;
                    }
                    Ok(command) => self.apply(state, &mut group, command),
                    Err(_) => break,
                }
            }
            self.commit(conn, state, group, portfolios)?;
            if next.is_none() {
                next = receiver.blocking_recv();
            }
        }
        Ok(())
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
            let opening = self.class.opening();
            let first = state.registered.insert(uid.to_string());
            group.batch.new_users.push(NewUser {
                uid: uid.to_string(),
                at: now,
                starting_cash: opening.cash.clone(),
                first,
            });
            state.accounts.insert(uid.to_string(), opening);
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
            Command::Join { uid, code, reply } => {
                let result = self.join(state, group, &uid, &code);
                group.replies.push(Reply::Unit(reply, result));
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
        side: crate::domain::account::Side,
        quantity: Decimal,
    ) -> Result<Placed, TradeError> {
        let inst = self.universe.get(instrument);
        let (price, quoted_at) = self.quotes.latest(instrument);
        let now = self.clock.now();
        if now.0 - quoted_at.0 > self.max_quote_age_micros {
            return Err(TradeError::StalePrice(inst.symbol.clone()));
        }
        let price = price_to_decimal(price)?;
        self.admit(state, uid, instrument)?;
        self.touch(state, group, uid);
        let account = state.accounts.get_mut(uid).expect("touched");
        let commission = self.charge(account, instrument, side, quantity, price)?;
        let fill = account.apply(&inst.symbol, inst.currency, side, quantity, price, commission)?;
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
            commission: fill.commission,
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
    /// committed, with "unavailable" (and every change undone) if it did not. An error that
    /// leaves the database unusable is returned once everyone is answered.
    fn commit(
        &self,
        conn: &duckdb::Connection,
        state: &mut State,
        group: Group,
        portfolios: &DashMap<String, Arc<Portfolio>>,
    ) -> Result<(), StorageError> {
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
                for uid in &group.joined {
                    state.members.remove(uid);
                }
                for user in group.batch.new_users.iter().filter(|u| u.first) {
                    state.registered.remove(&user.uid);
                }
                self.undo(state, group.orders);
                let detail = match e.fault() {
                    Fault::DiskFull => "the server's disk is full; nothing was recorded".to_string(),
                    _ => "the order could not be recorded; nothing was changed".to_string(),
                };
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
                if e.fault() == Fault::Invalidated {
                    return Err(e);
                }
            }
        }
        Ok(())
    }
}

/// The text a panic was raised with, when it is text.
fn panic_message(panic: &(dyn std::any::Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("no message")
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::domain::account::Side;
    use crate::domain::instrument::default_universe;
    use crate::domain::time::ManualClock;

    /// A quote source that always answers one price quoted at one time (shared by the
    /// trading module's tests).
    pub(in crate::trading) struct FixedQuote(pub f64, pub Timestamp);

    impl QuoteSource for FixedQuote {
        fn latest(&self, _: usize) -> (f64, Timestamp) {
            (self.0, self.1)
        }
    }

    /// A quote source with a bug: it panics on the ledger writer's thread.
    struct PanickingQuote;

    impl QuoteSource for PanickingQuote {
        fn latest(&self, _: usize) -> (f64, Timestamp) {
            panic!("no quote for you")
        }
    }

    fn start(quotes: Arc<dyn QuoteSource>, now: Timestamp, health: Arc<Health>) -> (Trading, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(&dir.path().join("ledger.duckdb"), "128MB", 1).unwrap());
        (start_on(store, quotes, now, health), dir)
    }

    fn start_on(store: Arc<Store>, quotes: Arc<dyn QuoteSource>, now: Timestamp, health: Arc<Health>) -> Trading {
        LedgerWriter {
            universe: Arc::new(Universe::new(default_universe()).unwrap()),
            store,
            quotes,
            clock: Arc::new(ManualClock::starting_at(now)),
            class: Arc::new(crate::class::Classroom::open(
                Arc::new(Universe::new(default_universe()).unwrap()),
                Decimal::from(10_000),
            )),
            max_quote_age_micros: 15_000_000,
            metrics: Arc::default(),
            limits: OrderLimits { max_open_per_user: 3, stop_hold_buffer_percent: Decimal::from(5) },
            announce: Arc::new(()),
            health,
        }
        .start()
        .unwrap()
    }

    fn writer(quoted_at: Timestamp, now: Timestamp) -> (Trading, tempfile::TempDir) {
        start(Arc::new(FixedQuote(100.0, quoted_at)), now, Arc::default())
    }

    #[tokio::test]
    async fn a_group_whose_commit_fails_is_undone_in_memory_and_a_retry_is_as_if_it_never_happened() {
        let now = Timestamp::from_seconds(1_800_000_000);
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(&dir.path().join("ledger.duckdb"), "128MB", 1).unwrap());
        let trading = start_on(store.clone(), Arc::new(FixedQuote(100.0, now)), now, Arc::default());
        let first = trading.place(super::super::OrderRequest { firebase_uid: "v".into(), ..buy("1") }).await.unwrap();

        // A row the writer does not know of makes its next commit for "u" fail.
        let sneaky = store.ledger_connection().unwrap();
        sneaky.execute("INSERT INTO users VALUES ('u', now())", []).unwrap();
        let failed = trading.place(buy("2.5")).await;
        assert!(matches!(failed, Err(TradeError::Unavailable(_))), "{failed:?}");
        assert!(!trading.is_registered("u"), "the refused group left no account behind");

        sneaky.execute("DELETE FROM users WHERE firebase_uid = 'u'", []).unwrap();
        let retried = trading.place(buy("2.5")).await.unwrap();
        assert_eq!(retried.order.id, first.order.id + 1, "the failed group's order id was given back");
        assert_eq!(retried.new_balance, Decimal::from(9_750), "nothing of the failed group was kept");
        assert_eq!(
            trading.portfolio("v").unwrap().account.balance(crate::domain::instrument::Currency::Usd),
            Decimal::from(9_900)
        );
    }

    #[tokio::test]
    async fn a_writer_that_panics_fails_the_server_with_the_cause() {
        let health = Arc::new(Health::default());
        let (trading, _dir) = start(Arc::new(PanickingQuote), Timestamp::from_seconds(1_800_000_000), health.clone());
        assert!(matches!(trading.place(buy("1")).await, Err(TradeError::Unavailable(_))));
        tokio::time::timeout(std::time::Duration::from_secs(10), health.failed()).await.expect("failure reported");
        let cause = health.failure().unwrap();
        assert!(cause.contains("panicked") && cause.contains("no quote for you"), "{cause}");
        assert!(matches!(trading.place(buy("1")).await, Err(TradeError::Unavailable(_))), "later orders refused");
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
