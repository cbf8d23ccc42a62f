//! Seasons on the ledger writer: loading one season's accounts and open orders, ending a season
//! (final values, fresh accounts for everyone under the rules now) and undoing that while the
//! new season has no order.
//!
//! A change runs between two groups, on the writer thread, holding the season exclusively from
//! before its transaction until the new portfolios are published: a round of value snapshots
//! (which shares it) sees one season whole and writes into it. Other readers never wait: they
//! read the season as it was until the change is done ([`SeasonCell`]).

use super::book::{Book, Resting};
use super::inbox::TickInbox;
use super::ledger_writer::{LedgerWriter, State};
use super::{Portfolio, TradeError};
use crate::domain::account::{Account, price_to_decimal};
use crate::domain::time::Timestamp;
use crate::domain::valuation::value_of;
use crate::storage::ledger::{LedgerState, NewUser, to_cents};
use crate::storage::seasons::{SeasonEnd, closed_students, end_season, season_orders, undo_season};
use crate::storage::{Fault, StorageError};
use dashmap::DashMap;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

/// What a teacher asks of the seasons.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeasonChange {
    /// Archive the current season and start the next one.
    New,
    /// Discard the current season (no order yet) and make the archived one current again.
    Undo,
}

/// The season being played, and how many changes the server has made before it: a season
/// undone and started again has its number but not its mark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeasonMark {
    pub number: i32,
    pub changes: u64,
}

/// The season being played, as the service and the writer share it. Reading it never waits:
/// a change publishes the new mark once it is done. A change holds `exclusive` for writing
/// throughout, and a round of value snapshots holds it for reading, so the two never overlap.
#[derive(Debug)]
pub(super) struct SeasonCell {
    mark: Mutex<SeasonMark>,
    exclusive: RwLock<()>,
}

impl SeasonCell {
    pub fn new(number: i32) -> Self {
        SeasonCell { mark: Mutex::new(SeasonMark { number, changes: 0 }), exclusive: RwLock::new(()) }
    }

    pub fn mark(&self) -> SeasonMark {
        *self.mark.lock().expect("season")
    }

    /// Runs `f` on the season while no change can start or be under way.
    pub fn shared<T>(&self, f: impl FnOnce(SeasonMark) -> T) -> T {
        let _shared = self.exclusive.read().expect("season");
        f(self.mark())
    }
}

/// A change made.
#[derive(Debug, Clone, PartialEq)]
pub struct SeasonSwitch {
    /// The season now being played.
    pub current: i32,
    /// The season archived (a new season) or discarded (an undo).
    pub previous: i32,
    pub at: Timestamp,
    /// Accounts in the season now being played.
    pub students: usize,
}

/// One season's ledger as loaded, with its open orders in a book.
pub(super) struct Loaded {
    ledger: LedgerState,
    book: Book,
    next_event_id: i64,
    next_order_id: i64,
}

impl State {
    /// Makes `loaded` the writer's state and publishes its portfolios. The book it replaces is
    /// taken out of the tick inbox's counts (the loaded one was counted in as it was built).
    pub(super) fn install(&mut self, loaded: Loaded, portfolios: &DashMap<String, Arc<Portfolio>>) {
        for order in self.book.open.values() {
            self.inbox.count(order.instrument, -1);
        }
        let Loaded { ledger, book, next_event_id, next_order_id } = loaded;
        self.accounts = ledger.accounts;
        self.watchlists = ledger.watchlists;
        self.registered = ledger.registered;
        self.book = book;
        self.next_order_id = self.next_order_id.max(ledger.next_order_id).max(next_order_id);
        self.next_event_id = self.next_event_id.max(next_event_id);
        // The new portfolios replace the old ones in place, then the old season's students
        // not in this one go: a reader never sees a student of both seasons vanish.
        for (uid, account) in &self.accounts {
            let watchlist = self.watchlists.get(uid).cloned().unwrap_or_default();
            portfolios.insert(uid.clone(), Arc::new(Portfolio { account: account.clone(), watchlist }));
        }
        portfolios.retain(|uid, _| self.accounts.contains_key(uid));
    }
}

impl LedgerWriter {
    /// `season`'s accounts and open orders as stored, every open order's hold taken and counted
    /// in `inbox`.
    pub(super) fn load_season(&self, season: i32, inbox: &TickInbox) -> Result<Loaded, StorageError> {
        let mut ledger = self.store.load_ledger(season)?;
        let (open_orders, next_event_id, next_order_id) = self.store.load_open_orders(season)?;
        let mut book = Book::default();
        for info in open_orders {
            let Some(instrument) = self.universe.find(&info.symbol) else { continue };
            // Restored orders are checked from the first live tick on; nothing is replayed.
            let resting = Resting::of(&info, book.share(&info.firebase_uid), instrument, Timestamp(i64::MIN));
            let account = ledger.accounts.entry(info.firebase_uid).or_default();
            let hold = resting.hold(&self.universe);
            if let Err(e) = account.hold(&hold) {
                // Only a damaged file gets here (`finlearn check` names it); keep the order held.
                tracing::error!(order = resting.id, error = %e, "an open order holds more than is there");
                account.force_hold(&hold);
            }
            inbox.count(instrument, 1);
            book.insert(resting);
        }
        Ok(Loaded { ledger, book, next_event_id, next_order_id })
    }

    /// Carries out a teacher's change. A refusal or a failed transaction changes nothing; the
    /// outer error is a database that can no longer be used (the server then stops).
    pub(super) fn change_season(
        &self,
        conn: &duckdb::Connection,
        state: &mut State,
        portfolios: &DashMap<String, Arc<Portfolio>>,
        change: SeasonChange,
    ) -> Result<Result<SeasonSwitch, TradeError>, StorageError> {
        let cell = state.season_cell.clone();
        let _exclusive = cell.exclusive.write().expect("season");
        let result = match change {
            SeasonChange::New => self.new_season(conn, state, portfolios),
            SeasonChange::Undo => match self.discard_season(conn, state) {
                Ok(at) => {
                    // Committed: the archived season is current in the file, so it must be in
                    // memory too; failing to read it back leaves the writer unable to go on.
                    let discarded = state.season;
                    let loaded = self.load_season(discarded - 1, &state.inbox)?;
                    state.install(loaded, portfolios);
                    state.season = discarded - 1;
                    tracing::info!(discarded, season = state.season, "a season reset was undone");
                    Ok(SeasonSwitch { current: state.season, previous: discarded, at, students: state.accounts.len() })
                }
                Err(e) => Err(e),
            },
        };
        if result.is_ok() {
            let mut mark = cell.mark.lock().expect("season");
            *mark = SeasonMark { number: state.season, changes: mark.changes + 1 };
        }
        match result {
            Err(TradeError::Storage(e)) if e.fault() == Fault::Invalidated => Err(e),
            Err(TradeError::Storage(e)) => {
                tracing::error!(error = %e, ?change, "the season could not be changed");
                let detail = match e.fault() {
                    Fault::DiskFull => "the server's disk is full; the season was not changed",
                    _ => "the season could not be changed; nothing was changed",
                };
                Ok(Err(TradeError::Unavailable(detail.into())))
            }
            other => Ok(other),
        }
    }

    fn new_season(
        &self,
        conn: &duckdb::Connection,
        state: &mut State,
        portfolios: &DashMap<String, Arc<Portfolio>>,
    ) -> Result<SeasonSwitch, TradeError> {
        let at = self.clock.now();
        let fx = &self.class.reporting.fx;
        let price = |symbol: &str| {
            let instrument = self.universe.find(symbol)?;
            let last = price_to_decimal(self.quotes.latest(instrument).0).ok()?;
            Some((last, self.universe.get(instrument).currency))
        };
        let ended = state.season;
        let rules = self.class.rules();
        // A season past its end was valued by its closing snapshot: the standings froze there.
        let closed = match rules.season_end.filter(|end| *end <= at) {
            Some(end) => closed_students(conn, ended, end)?,
            None => Default::default(),
        };
        let mut final_values: Vec<(String, i64)> = state
            .accounts
            .iter()
            .filter(|(uid, _)| !closed.contains(*uid))
            .map(|(uid, account)| (uid.clone(), to_cents(value_of(account, fx, price).total())))
            .collect();
        final_values.sort();
        let opening = self.class.opening();
        let mut fresh: Vec<NewUser> = state
            .accounts
            .keys()
            .map(|uid| NewUser { uid: uid.clone(), at, starting_cash: opening.cash.clone(), first: false })
            .collect();
        fresh.sort_by(|a, b| a.uid.cmp(&b.uid));
        let rules = serde_json::to_string(&*rules).expect("rules serialize");
        end_season(conn, &SeasonEnd { ended, at, final_values: &final_values, rules: &rules, fresh: &fresh })?;
        let accounts: HashMap<String, Account> = fresh.into_iter().map(|u| (u.uid, opening.clone())).collect();
        let ledger = LedgerState {
            accounts,
            watchlists: std::mem::take(&mut state.watchlists),
            registered: std::mem::take(&mut state.registered),
            next_order_id: state.next_order_id,
        };
        let loaded = Loaded { ledger, book: Book::default(), next_event_id: state.next_event_id, next_order_id: 0 };
        state.install(loaded, portfolios);
        state.season = ended + 1;
        tracing::info!(
            archived = ended,
            season = state.season,
            students = state.accounts.len(),
            "a new season started"
        );
        Ok(SeasonSwitch { current: state.season, previous: ended, at, students: state.accounts.len() })
    }

    /// Deletes the current season (refused if there is no archived one or it has an order) and
    /// makes the one before it current in the file.
    fn discard_season(&self, conn: &duckdb::Connection, state: &State) -> Result<Timestamp, TradeError> {
        let season = state.season;
        if season <= 1 {
            return Err(TradeError::NoArchivedSeason);
        }
        if season_orders(conn, season)? > 0 {
            return Err(TradeError::SeasonHasOrders(season));
        }
        let at = self.clock.now();
        undo_season(conn, season, at)?;
        Ok(at)
    }
}
