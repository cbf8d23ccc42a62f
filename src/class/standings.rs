//! The class's standings: every student's value at live prices in the reporting currency, with
//! return, drawdown, volatility and Sharpe from their value snapshots, ranked.
//!
//! Reading them is cheap for any class size: each student's risk measures are kept up to date as
//! snapshots are taken ([`Track`]), and the ranked table is rebuilt at most once per
//! [`FRESH_FOR`] whatever the number of readers (a leaderboard a second old is live enough).

use super::{Classroom, SortKey};
use crate::domain::account::{Account, price_to_decimal};
use crate::domain::class::SeasonState;
use crate::domain::instrument::{Currency, Universe};
use crate::domain::time::{Clock, Timestamp};
use crate::domain::valuation::{Measures, Track, as_f64, opening_value, value_of};
use crate::storage::ledger::{from_cents, to_cents};
use crate::storage::{StorageError, Store};
use crate::trading::{QuoteSource, Trading};
use rust_decimal::Decimal;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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
    tracks: Mutex<HashMap<String, Track>>,
    table: Mutex<Option<(Instant, Arc<Vec<Standing>>)>>,
}

impl Standings {
    /// Standings with the tracks rebuilt from the snapshots taken since `since`.
    #[allow(clippy::too_many_arguments)]
    pub fn load(
        class: Arc<Classroom>,
        trading: Arc<Trading>,
        quotes: Arc<dyn QuoteSource>,
        universe: Arc<Universe>,
        store: Arc<Store>,
        clock: Arc<dyn Clock>,
        nicknames: Arc<dyn Nicknames>,
        since: Timestamp,
    ) -> Result<Self, StorageError> {
        let mut tracks: HashMap<String, Track> = HashMap::new();
        for (uid, at, cents) in store.snapshots_since(since)? {
            tracks.entry(uid).or_default().push(at, as_f64(from_cents(cents)));
        }
        Ok(Standings {
            class,
            trading,
            quotes,
            universe,
            store,
            clock,
            nicknames,
            tracks: Mutex::new(tracks),
            table: Mutex::new(None),
        })
    }

    /// Last prices of every instrument, by index.
    fn prices(&self) -> Vec<Option<Decimal>> {
        (0..self.universe.len()).map(|i| price_to_decimal(self.quotes.latest(i).0).ok()).collect()
    }

    fn value(&self, account: &Account, prices: &[Option<Decimal>]) -> Decimal {
        let price_of = |symbol: &str| -> Option<(Decimal, Currency)> {
            let index = self.universe.find(symbol)?;
            Some((prices[index]?, self.universe.get(index).currency))
        };
        value_of(account, &self.class.reporting.fx, price_of).total()
    }

    /// Every registered student's value now, in cents of the reporting currency, and the
    /// standings' tracks advanced by it. Blocking (appends the snapshots).
    pub fn snapshot(&self) -> Result<usize, StorageError> {
        let now = self.clock.now();
        let prices = self.prices();
        let values: Vec<(String, i64)> = self
            .trading
            .portfolios()
            .into_iter()
            .map(|(uid, p)| {
                let value = self.value(&p.account, &prices);
                (uid, to_cents(value))
            })
            .collect();
        self.store.append_snapshots(now, &values)?;
        let mut tracks = self.tracks.lock().expect("tracks");
        for (uid, cents) in &values {
            tracks.entry(uid.clone()).or_default().push(now, as_f64(from_cents(*cents)));
        }
        Ok(values.len())
    }

    /// The ranked table (rebuilt when older than [`FRESH_FOR`]).
    pub fn table(&self) -> Arc<Vec<Standing>> {
        let mut cached = self.table.lock().expect("table");
        if let Some((built, table)) = cached.as_ref()
            && built.elapsed() < FRESH_FOR
        {
            return table.clone();
        }
        let table = Arc::new(self.build());
        *cached = Some((Instant::now(), table.clone()));
        table
    }

    /// One student's line, built now (a student who never traded stands at the opening).
    pub fn of(&self, uid: &str) -> Standing {
        let prices = self.prices();
        let portfolio = self.trading.portfolio(uid).unwrap_or_default();
        let tracks = self.tracks.lock().expect("tracks");
        let track = tracks.get(uid).copied().unwrap_or_default();
        drop(tracks);
        self.line(uid, &portfolio.account, &track, &prices)
    }

    fn line(&self, uid: &str, account: &Account, track: &Track, prices: &[Option<Decimal>]) -> Standing {
        let rules = self.class.rules();
        let reporting = &self.class.reporting;
        let opening = opening_value(&rules.starting_cash, &reporting.fx);
        // Once the season has ended the standings are frozen at its last snapshot.
        let frozen = rules.season_state(self.clock.now()) == SeasonState::Ended;
        let value = match (frozen, track.last) {
            (true, Some((_, last))) => Decimal::try_from(last).unwrap_or_default().round_dp(2),
            _ => self.value(account, prices),
        };
        let measures = track.measures(as_f64(opening), as_f64(value));
        let within_limit = reporting.drawdown_limit_percent.is_none_or(|limit| measures.max_drawdown_percent <= limit);
        Standing {
            uid: uid.to_string(),
            nickname: self.nicknames.nickname(uid).unwrap_or_else(|| anonymous(uid)),
            value,
            opening,
            measures,
            trades: account.fills,
            within_limit,
        }
    }

    fn build(&self) -> Vec<Standing> {
        let prices = self.prices();
        let portfolios = self.trading.portfolios();
        let tracks = self.tracks.lock().expect("tracks").clone();
        portfolios
            .iter()
            .map(|(uid, p)| self.line(uid, &p.account, &tracks.get(uid).copied().unwrap_or_default(), &prices))
            .collect()
    }
}

/// Ranks standings by `key`: students beyond the drawdown limit after the others, then the key
/// (a student without a Sharpe ratio yet after those with one), ties by value then nickname.
pub fn ranked(table: &[Standing], key: SortKey) -> Vec<Standing> {
    let mut lines = table.to_vec();
    let score = |s: &Standing| -> (bool, f64) {
        match key {
            SortKey::Value => (true, as_f64(s.value)),
            SortKey::Return => (true, s.measures.return_percent),
            SortKey::Sharpe => (s.measures.sharpe.is_some(), s.measures.sharpe.unwrap_or(s.measures.return_percent)),
        }
    };
    lines.sort_by(|a, b| {
        let (sa, sb) = (score(a), score(b));
        b.within_limit
            .cmp(&a.within_limit)
            .then(sb.0.cmp(&sa.0))
            .then(sb.1.total_cmp(&sa.1))
            .then(b.value.cmp(&a.value))
            .then(a.nickname.cmp(&b.nickname))
    });
    lines
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
