//! The class's standings: every student's value at live prices in the reporting currency, with
//! return, drawdown, volatility and Sharpe from their value snapshots, ranked.
//!
//! Reading them is cheap for any class size: each student's risk measures are kept up to date as
//! snapshots are taken ([`Track`]), and the table, ranked once by every measure, is rebuilt in
//! the background every [`FRESH_FOR`] (a leaderboard a second old is live enough), so a read
//! never pays for a rebuild: it takes the top lines of a ranking already made.

use super::{Classroom, SortKey};
use crate::domain::account::{Account, price_to_decimal};
use crate::domain::class::SeasonState;
use crate::domain::instrument::Universe;
use crate::domain::time::{Clock, Timestamp};
use crate::domain::valuation::{Measures, Track, as_f64, opening_value};
use crate::storage::ledger::{from_cents, to_cents};
use crate::storage::{StorageError, Store};
use crate::trading::{QuoteSource, SeasonMark, Trading};
use rust_decimal::Decimal;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

/// How long a ranked table is served before it is rebuilt.
pub const FRESH_FOR: Duration = Duration::from_secs(1);

/// Who a student is on a leaderboard: their chosen nickname.
pub trait Nicknames: Send + Sync + 'static {
    fn nickname(&self, uid: &str) -> Option<String>;
}

impl Nicknames for crate::social::Profiles {
    fn nickname(&self, uid: &str) -> Option<String> {
        crate::social::Profiles::nickname(self, uid).map(|n| n.to_string())
    }
}

/// Nobody has chosen one.
impl Nicknames for () {
    fn nickname(&self, _: &str) -> Option<String> {
        None
    }
}

/// One student's line.
#[derive(Debug, Clone, PartialEq)]
pub struct Standing {
    pub uid: String,
    pub nickname: String,
    /// In the reporting currency, at live prices (at the season's end once it has ended).
    pub value: Decimal,
    pub opening: Decimal,
    pub measures: Measures,
    pub trades: u64,
    /// Whether the maximum drawdown is within the class's limit (always, with no limit).
    pub within_limit: bool,
}

pub struct Standings {
    pub class: Arc<Classroom>,
    pub trading: Arc<Trading>,
    pub quotes: Arc<dyn QuoteSource>,
    pub universe: Arc<Universe>,
    pub store: Arc<Store>,
    pub clock: Arc<dyn Clock>,
    pub nicknames: Arc<dyn Nicknames>,
    tracks: Mutex<Tracks>,
    table: RwLock<Option<Arc<Table>>>,
    /// Archived seasons' final tables, with the end each was built for (an undone and replayed
    /// season ends again, later).
    archived: Mutex<HashMap<i32, (Timestamp, Arc<Table>)>>,
}

/// Every student's track in one season.
struct Tracks {
    mark: SeasonMark,
    by_uid: HashMap<String, Track>,
}

impl Tracks {
    /// The tracks of a season from its stored snapshots.
    fn load(store: &Store, mark: SeasonMark) -> Result<Self, StorageError> {
        let mut by_uid: HashMap<String, Track> = HashMap::new();
        for (uid, at, cents) in store.snapshots_since(mark.number, Timestamp(i64::MIN))? {
            by_uid.entry(uid).or_default().push(at, as_f64(from_cents(cents)));
        }
        Ok(Tracks { mark, by_uid })
    }
}

/// Every student's line in one season, and the order of the lines under each measure.
#[derive(Debug, Default)]
pub struct Table {
    pub season: i32,
    /// The season changes before it was built (live tables only): a table of a season undone
    /// and started again is not served for the new one.
    changes: u64,
    /// When its values were taken.
    pub built_at: Timestamp,
    pub lines: Vec<Standing>,
    by_value: Vec<u32>,
    by_return: Vec<u32>,
    by_sharpe: Vec<u32>,
}

impl Table {
    fn new(mark: SeasonMark, built_at: Timestamp, lines: Vec<Standing>) -> Self {
        let order = |key| rank_order(&lines, key);
        let (by_value, by_return, by_sharpe) = (order(SortKey::Value), order(SortKey::Return), order(SortKey::Sharpe));
        Table { season: mark.number, changes: mark.changes, built_at, lines, by_value, by_return, by_sharpe }
    }

    fn of(&self, mark: SeasonMark) -> bool {
        (self.season, self.changes) == (mark.number, mark.changes)
    }

    /// The lines in `key`'s order, best first.
    pub fn ranked(&self, key: SortKey) -> impl Iterator<Item = &Standing> {
        let order = match key {
            SortKey::Value => &self.by_value,
            SortKey::Return => &self.by_return,
            SortKey::Sharpe => &self.by_sharpe,
        };
        order.iter().map(|i| &self.lines[*i as usize])
    }
}

impl Standings {
    /// Standings with the tracks of the current season rebuilt from its snapshots.
    pub fn load(
        class: Arc<Classroom>,
        trading: Arc<Trading>,
        quotes: Arc<dyn QuoteSource>,
        universe: Arc<Universe>,
        store: Arc<Store>,
        clock: Arc<dyn Clock>,
        nicknames: Arc<dyn Nicknames>,
    ) -> Result<Self, StorageError> {
        let tracks = Tracks::load(&store, trading.season_mark())?;
        Ok(Standings {
            class,
            trading,
            quotes,
            universe,
            store,
            clock,
            nicknames,
            tracks: Mutex::new(tracks),
            table: RwLock::new(None),
            archived: Mutex::default(),
        })
    }

    /// The tracks, of the season `mark` names (reloaded when it changed since they were kept).
    fn tracks_of(&self, mark: SeasonMark) -> Result<std::sync::MutexGuard<'_, Tracks>, StorageError> {
        let mut tracks = self.tracks.lock().expect("tracks");
        if tracks.mark != mark {
            *tracks = Tracks::load(&self.store, mark)?;
        }
        Ok(tracks)
    }

    /// Last prices converted to the reporting currency, by instrument: a rebuild values every
    /// position with one multiplication.
    fn reporting_prices(&self) -> Vec<Option<Decimal>> {
        let fx = &self.class.reporting.fx;
        (0..self.universe.len())
            .map(|i| {
                let last = price_to_decimal(self.quotes.latest(i).0).ok()?;
                Some(fx.convert(last, self.universe.get(i).currency))
            })
            .collect()
    }

    /// A student's value in the reporting currency: cash converted per currency, positions at
    /// prices already converted ([`Standings::reporting_prices`]), each part rounded to the cent
    /// once (as [`crate::domain::valuation::value_of`] rounds them).
    fn fast_value(&self, account: &Account, reporting: &[Option<Decimal>]) -> Decimal {
        let fx = &self.class.reporting.fx;
        let cash: Decimal = account.cash.iter().map(|(c, amount)| fx.convert(*amount, *c)).sum();
        let positions: Decimal = account
            .positions
            .iter()
            .map(|(symbol, p)| match self.universe.find(symbol).and_then(|i| reporting[i]) {
                Some(price) => price * p.quantity,
                None => p.cost_basis,
            })
            .sum();
        crate::domain::account::round_cents(cash) + crate::domain::account::round_cents(positions)
    }

    /// Records every student's value as the standings last valued it, in cents of the reporting
    /// currency, in the season being played, at the moment the table was built, and advances the
    /// standings' tracks by it. The table is the one the background rebuild keeps (at most
    /// [`FRESH_FOR`] old), rebuilt first when it was built before `not_before` (the closing
    /// round takes the season's end): students are valued once however often snapshots are
    /// taken, and a round costs the append alone. Blocking (appends the snapshots).
    pub fn snapshot(&self, not_before: Timestamp) -> Result<usize, StorageError> {
        let kept = self.table.read().expect("table").clone();
        let table = match kept {
            Some(table) if table.built_at >= not_before && table.of(self.trading.season_mark()) => table,
            _ => self.rebuild()?,
        };
        self.trading.in_season(|mark| {
            if !table.of(mark) {
                return Ok(0); // the season changed meanwhile: the next round records the new one
            }
            let season = mark.number;
            let at = table.built_at;
            let values: Vec<(String, i64)> = table.lines.iter().map(|l| (l.uid.clone(), to_cents(l.value))).collect();
            let mut tracks = self.tracks_of(mark)?;
            self.store.append_snapshots(at, season, &values)?;
            for (uid, cents) in &values {
                tracks.by_uid.entry(uid.clone()).or_default().push(at, as_f64(from_cents(*cents)));
            }
            Ok(values.len())
        })
    }

    /// The table as last rebuilt (built now if it never was, or was of another season).
    pub fn table(&self) -> Result<Arc<Table>, StorageError> {
        if let Some(table) = self.table.read().expect("table").as_ref()
            && table.of(self.trading.season_mark())
        {
            return Ok(table.clone());
        }
        self.rebuild()
    }

    /// Rebuilds the table from the committed portfolios and live prices. Blocking (CPU; a
    /// database read when the season changed).
    pub fn rebuild(&self) -> Result<Arc<Table>, StorageError> {
        let table = Arc::new(self.build()?);
        *self.table.write().expect("table") = Some(table.clone());
        Ok(table)
    }

    /// One student's line, built now (a student who never traded stands at the opening).
    pub fn of(&self, uid: &str) -> Result<Standing, StorageError> {
        let prices = self.reporting_prices();
        let portfolio = self.trading.portfolio(uid).unwrap_or_default();
        let track = self.tracks_of(self.trading.season_mark())?.by_uid.get(uid).copied().unwrap_or_default();
        Ok(self.line(uid, &portfolio.account, &track, &prices))
    }

    /// The final standings of an archived season: each student's last snapshot (the closing one
    /// at its end, or the one taken as it was archived) with the measures of all of them, against
    /// what each student opened it with. `None` when `season` is not archived. Blocking
    /// (database reads, once per season).
    pub fn archived(&self, season: i32) -> Result<Option<Arc<Table>>, StorageError> {
        let Some(ended_at) = self.store.season_end(season)? else { return Ok(None) };
        if let Some((at, table)) = self.archived.lock().expect("archived").get(&season)
            && *at == ended_at
        {
            return Ok(Some(table.clone()));
        }
        let fx = &self.class.reporting.fx;
        let openings = self.store.season_openings(season)?;
        let fills: HashMap<String, i64> = self.store.season_fills(season)?.into_iter().collect();
        let tracks = Tracks::load(&self.store, SeasonMark { number: season, changes: 0 })?;
        let lines = tracks
            .by_uid
            .iter()
            .map(|(uid, track)| {
                let last = track.last.map_or(0.0, |(_, v)| v);
                let value = Decimal::try_from(last).unwrap_or_default().round_dp(2);
                let trades = fills.get(uid).copied().unwrap_or(0) as u64;
                let opening = openings.get(uid).map_or(Decimal::ZERO, |cash| opening_value(cash, fx));
                self.finish(uid, trades, track, value, opening)
            })
            .collect();
        let table = Arc::new(Table::new(SeasonMark { number: season, changes: 0 }, ended_at, lines));
        self.archived.lock().expect("archived").insert(season, (ended_at, table.clone()));
        Ok(Some(table))
    }

    fn finish(&self, uid: &str, trades: u64, track: &Track, value: Decimal, opening: Decimal) -> Standing {
        let reporting = &self.class.reporting;
        let measures = track.measures(as_f64(opening), as_f64(value));
        let within_limit = reporting.drawdown_limit_percent.is_none_or(|limit| measures.max_drawdown_percent <= limit);
        Standing {
            uid: uid.to_string(),
            nickname: self.nicknames.nickname(uid).unwrap_or_else(|| anonymous(uid)),
            value,
            opening,
            measures,
            trades,
            within_limit,
        }
    }

    /// One student's line at `prices` (reporting currency, by instrument); once the season's end
    /// has passed and its closing snapshot is taken, at that snapshot (the standings are frozen).
    fn line(&self, uid: &str, account: &Account, track: &Track, prices: &[Option<Decimal>]) -> Standing {
        let rules = self.class.rules();
        let opening = opening_value(&account.opening, &self.class.reporting.fx);
        let ended = rules.season_end.filter(|_| rules.season_state(self.clock.now()) == SeasonState::Ended);
        let value = match (ended, track.last) {
            (Some(end), Some((at, last))) if at >= end => Decimal::try_from(last).unwrap_or_default().round_dp(2),
            _ => self.fast_value(account, prices),
        };
        self.finish(uid, account.fills, track, value, opening)
    }

    fn build(&self) -> Result<Table, StorageError> {
        let prices = self.reporting_prices();
        self.trading.in_season(|mark| {
            let built_at = self.clock.now();
            let portfolios = self.trading.portfolios();
            let tracks = self.tracks_of(mark)?;
            let lines = portfolios
                .iter()
                .map(|(uid, p)| {
                    let track = tracks.by_uid.get(uid).copied().unwrap_or_default();
                    self.line(uid, &p.account, &track, &prices)
                })
                .collect();
            Ok(Table::new(mark, built_at, lines))
        })
    }
}

/// Rebuilds the table every [`FRESH_FOR`] until `shutdown`.
pub async fn refresh(standings: Arc<Standings>, shutdown: tokio_util::sync::CancellationToken) {
    let mut ticker = tokio::time::interval(FRESH_FOR);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = ticker.tick() => {}
        }
        let s = standings.clone();
        match tokio::task::spawn_blocking(move || s.rebuild()).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "the standings could not be rebuilt"),
            Err(e) => tracing::warn!(error = %e, "the standings could not be rebuilt"),
        }
    }
}

/// Ranks standings by `key`: students beyond the drawdown limit after the others, then the key
/// (a student without a Sharpe ratio yet after those with one), ties by value then nickname.
pub fn ranked(table: &[Standing], key: SortKey) -> Vec<Standing> {
    rank_order(table, key).into_iter().map(|i| table[i as usize].clone()).collect()
}

/// The positions of `lines` in `key`'s order.
fn rank_order(lines: &[Standing], key: SortKey) -> Vec<u32> {
    let mut order: Vec<u32> = (0..lines.len() as u32).collect();
    let score = |s: &Standing| -> (bool, f64) {
        match key {
            SortKey::Value => (true, as_f64(s.value)),
            SortKey::Return => (true, s.measures.return_percent),
            SortKey::Sharpe => (s.measures.sharpe.is_some(), s.measures.sharpe.unwrap_or(s.measures.return_percent)),
        }
    };
    order.sort_by(|&a, &b| {
        let (a, b) = (&lines[a as usize], &lines[b as usize]);
        let (sa, sb) = (score(a), score(b));
        b.within_limit
            .cmp(&a.within_limit)
            .then(sb.0.cmp(&sa.0))
            .then(sb.1.total_cmp(&sa.1))
            .then(b.value.cmp(&a.value))
            .then(a.nickname.cmp(&b.nickname))
    });
    order
}

/// A stable name for a student who chose none, that does not reveal their uid.
pub fn anonymous(uid: &str) -> String {
    // FNV-1a: stable across runs and builds, unlike the standard hasher.
    let hash = uid.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
    format!("Trader-{:06x}", hash & 0xff_ffff)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn line(nickname: &str, value: Decimal, sharpe: Option<f64>, ret: f64, within_limit: bool) -> Standing {
        Standing {
            uid: nickname.to_lowercase(),
            nickname: nickname.into(),
            value,
            opening: dec!(100),
            measures: Measures { return_percent: ret, max_drawdown_percent: 0.0, volatility_percent: None, sharpe },
            trades: 0,
            within_limit,
        }
    }

    #[test]
    fn sharpe_ranks_steady_gains_above_a_lucky_gamble_and_the_limit_comes_first() {
        let table = [
            line("Gambler", dec!(180), Some(0.4), 80.0, true),
            line("Steady", dec!(112), Some(2.5), 12.0, true),
            line("New", dec!(100), None, 0.0, true),
            line("Crashed", dec!(300), Some(3.0), 200.0, false),
        ];
        let names = |key| ranked(&table, key).into_iter().map(|s| s.nickname).collect::<Vec<_>>();
        assert_eq!(names(SortKey::Sharpe), ["Steady", "Gambler", "New", "Crashed"]);
        assert_eq!(names(SortKey::Return), ["Gambler", "Steady", "New", "Crashed"]);
        assert_eq!(names(SortKey::Value), ["Gambler", "Steady", "New", "Crashed"]);
    }

    #[test]
    fn anonymous_names_are_stable_and_hide_the_uid() {
        assert_eq!(anonymous("abc"), anonymous("abc"));
        assert_ne!(anonymous("abc"), anonymous("abd"));
        assert!(!anonymous("student-uid-1").contains("student"));
    }
}
