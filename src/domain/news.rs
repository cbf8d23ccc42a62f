//! Market news: company, earnings, sector and macro events that move the affected prices.
//!
//! Each kind arrives as its own Poisson stream at a realistic rate (`[news]` in the
//! configuration): a company has news a few times a month and earnings four times a year, a
//! sector of one market a few times a month, the world a few times a week. Sizes are set so
//! that news carries the configured share of each instrument's variance, split between the
//! kinds that reach it. The engine applies an event through the jump component of the price
//! model at the instrument's next tick and raises its volatility, which then decays.

use super::factors::NewsLoad;
use super::instrument::{Instrument, InstrumentType, Region, Sector};
use super::model::ModelParams;
use super::time::Timestamp;
use rand::Rng;
use rand::seq::IndexedRandom;
use rand_distr::{Distribution, Exp};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    Global,
    Sector,
    Symbol,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Global => "global",
            Scope::Sector => "sector",
            Scope::Symbol => "symbol",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "global" => Scope::Global,
            "sector" => Scope::Sector,
            "symbol" => Scope::Symbol,
            _ => return None,
        })
    }
}

/// The wire shape of a news event, also pushed on the live stream.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct NewsEvent {
    pub id: i64,
    pub headline: String,
    pub category: String,
    pub subcategory: String,
    pub timestamp: Timestamp,
    /// Percentage price move given to each affected instrument.
    pub impact: f64,
    pub duration_minutes: i32,
    pub affected_scope: Scope,
    pub affected_symbols: Vec<String>,
}

/// (headline template, subcategory, direction). `{name}` is the company, `{sector}` the
/// sector with its market, e.g. "US technology".
type Template = (&'static str, &'static str, f64);

const EARNINGS: &[Template] = &[
    ("{name} beats quarterly earnings estimates", "earnings", 1.0),
    ("{name} misses quarterly earnings estimates", "earnings", -1.0),
];

const COMPANY: &[Template] = &[
    ("{name} announces a share buyback", "corporate_action", 1.0),
    ("{name} wins a major multi-year contract", "contract", 1.0),
    ("Analysts upgrade {name} to buy", "analyst", 1.0),
    ("Analysts downgrade {name} to sell", "analyst", -1.0),
    ("Regulator opens an investigation into {name}", "regulatory", -1.0),
    ("{name} cuts its full-year guidance", "guidance", -1.0),
    ("{name} chief executive steps down unexpectedly", "management", -1.0),
    ("{name} unveils a new flagship product", "product", 1.0),
];

const SECTOR: &[Template] = &[
    ("{sector} shares rally on a strong demand outlook", "demand", 1.0),
    ("{sector} shares slide as input costs climb", "costs", -1.0),
    ("New regulation weighs on {sector} shares", "regulation", -1.0),
    ("Investors pile into {sector} on upbeat forecasts", "flows", 1.0),
];

const MACRO: &[Template] = &[
    ("Central banks signal interest rate cuts", "monetary_policy", 1.0),
    ("Inflation comes in hotter than expected", "inflation", -1.0),
    ("Strong jobs data lifts global markets", "employment", 1.0),
    ("Recession fears grip global markets", "growth", -1.0),
    ("Oil prices spike on supply worries", "commodities", -1.0),
    ("Trade tensions ease after talks", "trade", 1.0),
];

fn sector_name(sector: Sector) -> &'static str {
    match sector {
        Sector::Technology => "technology",
        Sector::FinancialServices => "financial services",
        Sector::Healthcare => "healthcare",
        Sector::ConsumerCyclical => "consumer cyclical",
        Sector::ConsumerDefensive => "consumer staples",
        Sector::Industrials => "industrial",
        Sector::Energy => "energy",
        Sector::Utilities => "utilities",
        Sector::RealEstate => "real estate",
        Sector::BasicMaterials => "basic materials",
        Sector::CommunicationServices => "communication services",
        Sector::Unknown => "broad market",
    }
}

fn market_adjective(market: Region) -> &'static str {
    match market {
        Region::India => "Indian",
        Region::Usa => "US",
        Region::Uk => "UK",
        Region::Crypto => "Crypto",
    }
}

/// News rates and its share of variance (`[news]` in the configuration).
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewsSettings {
    /// Share of each instrument's variance that news carries.
    pub share: f64,
    pub company_per_month: f64,
    pub earnings_per_year: f64,
    pub sector_per_month: f64,
    pub macro_per_week: f64,
    /// Factor by which news raises the affected instruments' variance (it then decays).
    pub volatility_boost: f64,
}

impl NewsSettings {
    pub fn validate(&self) -> Result<(), String> {
        if !(0.0..=0.5).contains(&self.share) {
            return Err("share must be in [0, 0.5]".into());
        }
        let rates = [self.company_per_month, self.earnings_per_year, self.sector_per_month, self.macro_per_week];
        if rates.iter().any(|r| !(0.0..=1_000.0).contains(r)) {
            return Err("rates must be in [0, 1000]".into());
        }
        if !(1.0..=100.0).contains(&self.volatility_boost) {
            return Err("volatility_boost must be between 1 and 100".into());
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Company,
    Earnings,
    Sector,
    Macro,
}

impl Kind {
    /// How the news share of an instrument's variance is split between the kinds that reach it.
    fn weight(self) -> f64 {
        match self {
            Kind::Company => 0.3,
            Kind::Earnings => 0.3,
            Kind::Sector => 0.2,
            Kind::Macro => 0.2,
        }
    }

    fn slot(self) -> usize {
        self as usize
    }
}

/// One stream of events: a company's, a sector's, the world's.
#[derive(Debug, Clone)]
struct Source {
    kind: Kind,
    affected: Vec<usize>,
    /// Events per year of market time.
    rate: f64,
}

/// The news streams of a universe and the size of an event for each instrument.
#[derive(Debug, Clone)]
pub struct NewsPlan {
    sources: Vec<Source>,
    total_rate: f64,
    /// Root mean square log move of one event of each kind, per instrument.
    rms: Vec<[f64; 4]>,
    loads: Vec<NewsLoad>,
}

/// Mean of the square of a uniform draw in [0.5, 1.5]: event sizes are `rms * u / sqrt(this)`.
const SIZE_SECOND_MOMENT: f64 = 13.0 / 12.0;

impl NewsPlan {
    /// Indices are left out: they move through their constituents.
    pub fn new(universe: &[Instrument], params: &[ModelParams], s: &NewsSettings) -> Self {
        let newsworthy: Vec<usize> =
            (0..universe.len()).filter(|&i| universe[i].kind != InstrumentType::MarketIndex).collect();
        let mut sources = Vec::new();
        for &i in &newsworthy {
            sources.push(Source { kind: Kind::Company, affected: vec![i], rate: s.company_per_month * 12.0 });
            if universe[i].kind == InstrumentType::Stock {
                sources.push(Source { kind: Kind::Earnings, affected: vec![i], rate: s.earnings_per_year });
            }
        }
        let mut sectors: Vec<(Region, Sector)> = Vec::new();
        for &i in &newsworthy {
            let key = (universe[i].market, universe[i].sector);
            if key.1 != Sector::Unknown && key.0 != Region::Crypto && !sectors.contains(&key) {
                sectors.push(key);
            }
        }
        for (market, sector) in sectors {
            let affected = newsworthy
                .iter()
                .copied()
                .filter(|&i| universe[i].market == market && universe[i].sector == sector)
                .collect();
            sources.push(Source { kind: Kind::Sector, affected, rate: s.sector_per_month * 12.0 });
        }
        sources.push(Source { kind: Kind::Macro, affected: newsworthy.clone(), rate: s.macro_per_week * 52.0 });
        sources.retain(|src| src.rate > 0.0 && !src.affected.is_empty());

        let mut reaching: Vec<Vec<(Kind, f64)>> = vec![Vec::new(); universe.len()];
        for src in &sources {
            for &i in &src.affected {
                reaching[i].push((src.kind, src.rate));
            }
        }
        let mut rms = vec![[0.0; 4]; universe.len()];
        let mut loads = vec![NewsLoad::default(); universe.len()];
        // Expected rise of the variance multiplier per event: integral of (b^(e^-kt) - 1) dt,
        // which is Ein(ln b) / k.
        let y = s.volatility_boost.ln();
        let ein: f64 = (1..12).map(|n| y.powi(n) / (f64::from(n) * (1..=n).product::<i32>() as f64)).sum();
        for (i, kinds) in reaching.iter().enumerate() {
            if kinds.is_empty() || s.share == 0.0 {
                continue;
            }
            let weights: f64 = kinds.iter().map(|(k, _)| k.weight()).sum();
            let variance = universe[i].annual_volatility.powi(2) * s.share;
            for &(kind, rate) in kinds {
                rms[i][kind.slot()] = (kind.weight() / weights * variance / rate).sqrt();
            }
            let rate: f64 = kinds.iter().map(|(_, r)| r).sum();
            loads[i] = NewsLoad { share: s.share, excitement: rate * ein / params[i].kappa() };
        }
        let total_rate = sources.iter().map(|s| s.rate).sum();
        NewsPlan { sources, total_rate, rms, loads }
    }

    /// What news takes of each instrument's variance, for the calibration.
    pub fn loads(&self) -> &[NewsLoad] {
        &self.loads
    }

    /// Years of market time until the next event, or None when there is no news.
    pub fn wait<R: Rng + ?Sized>(&self, rng: &mut R) -> Option<f64> {
        (self.total_rate > 0.0).then(|| Exp::new(self.total_rate).expect("positive rate").sample(rng))
    }

    /// Draws one event at `time`: the event and each affected instrument's log move.
    pub fn draw<R: Rng + ?Sized>(
        &self,
        id: i64,
        time: Timestamp,
        universe: &[Instrument],
        rng: &mut R,
    ) -> Option<(NewsEvent, Vec<(usize, f64)>)> {
        let mut pick = rng.random::<f64>() * self.total_rate;
        let source = self.sources.iter().find(|s| {
            pick -= s.rate;
            pick < 0.0
        })?;
        let (scope, category, templates) = match source.kind {
            Kind::Company => (Scope::Symbol, "company", COMPANY),
            Kind::Earnings => (Scope::Symbol, "company", EARNINGS),
            Kind::Sector => (Scope::Sector, "sector", SECTOR),
            Kind::Macro => (Scope::Global, "macro", MACRO),
        };
        let (text, subcategory, direction) = *templates.choose(rng)?;
        let size = rng.random_range(0.5..1.5) / SIZE_SECOND_MOMENT.sqrt();
        let moves: Vec<(usize, f64)> =
            source.affected.iter().map(|&i| (i, direction * size * self.rms[i][source.kind.slot()])).collect();
        let first = &universe[source.affected[0]];
        let sector = format!("{} {}", market_adjective(first.market), sector_name(first.sector));
        let headline = text.replace("{name}", &first.name).replace("{sector}", &sector);
        let event = NewsEvent {
            id,
            headline,
            category: category.to_string(),
            subcategory: subcategory.to_string(),
            timestamp: time,
            impact: mean_impact_percent(&moves),
            duration_minutes: rng.random_range(15..=240),
            affected_scope: scope,
            affected_symbols: source.affected.iter().map(|&i| universe[i].symbol.clone()).collect(),
        };
        Some((event, moves))
    }
}

/// The average percentage move of the affected instruments, to two decimals.
fn mean_impact_percent(moves: &[(usize, f64)]) -> f64 {
    let mean = moves.iter().map(|(_, m)| m.exp() - 1.0).sum::<f64>() / moves.len().max(1) as f64;
    (mean * 10_000.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::instrument::default_universe;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn settings() -> NewsSettings {
        NewsSettings {
            share: 0.1,
            company_per_month: 2.0,
            earnings_per_year: 4.0,
            sector_per_month: 2.0,
            macro_per_week: 2.0,
            volatility_boost: 1.5,
        }
    }

    fn plan() -> (Vec<Instrument>, NewsPlan) {
        let universe = default_universe();
        let params = vec![ModelParams::example(); universe.len()];
        let plan = NewsPlan::new(&universe, &params, &settings());
        (universe, plan)
    }

    #[test]
    fn events_name_their_affected_symbols_and_move_them_the_stated_way() {
        let (universe, plan) = plan();
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut scopes = std::collections::HashSet::new();
        for id in 0..500 {
            let (event, moves) = plan.draw(id, Timestamp(0), &universe, &mut rng).unwrap();
            assert_eq!(event.affected_symbols.len(), moves.len());
            assert!(moves.iter().all(|&(i, m)| universe[i].kind != InstrumentType::MarketIndex && m != 0.0));
            assert!(moves.iter().all(|(_, m)| m.signum() == event.impact.signum()), "{event:?}");
            assert!(!event.headline.contains('{'), "{}", event.headline);
            match event.affected_scope {
                Scope::Global => assert_eq!(moves.len(), 33),
                Scope::Sector => {
                    let (m, s) = (universe[moves[0].0].market, universe[moves[0].0].sector);
                    assert!(moves.iter().all(|&(i, _)| universe[i].sector == s && universe[i].market == m))
                }
                Scope::Symbol => assert_eq!(moves.len(), 1),
            }
            scopes.insert(event.affected_scope);
        }
        assert_eq!(scopes.len(), 3);
    }

    #[test]
    fn news_carries_its_share_of_each_instruments_variance_at_realistic_rates() {
        let (universe, plan) = plan();
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let years = 200.0;
        let mut variance = vec![0.0; universe.len()];
        let mut events = 0.0;
        let mut elapsed = 0.0;
        while elapsed < years {
            elapsed += plan.wait(&mut rng).unwrap();
            let (_, moves) = plan.draw(0, Timestamp(0), &universe, &mut rng).unwrap();
            events += 1.0;
            for (i, m) in moves {
                variance[i] += m * m;
            }
        }
        // 33 companies twice a month, 30 stocks' earnings four times a year, 17 sectors twice a
        // month, macro twice a week.
        let per_week = events / years / 52.0;
        let expected = 33.0 * 24.0 / 52.0 + 30.0 * 4.0 / 52.0 + 17.0 * 24.0 / 52.0 + 2.0;
        assert!((per_week / expected - 1.0).abs() < 0.02, "{per_week} events a week, expected {expected}");
        let aapl = universe.iter().position(|i| i.symbol == "AAPL").unwrap();
        let share = variance[aapl] / years / 0.15f64.powi(2);
        assert!((share - 0.1).abs() < 0.02, "news share of AAPL's variance {share}");
    }
}
