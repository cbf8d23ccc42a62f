//! The market structure: a global factor, one factor per market (region) and one per sector
//! within a market, and the loadings that give each instrument its configured correlations
//! while keeping its total variance on its `annual_volatility`.
//!
//! A factor is a continuous Brownian path in market time. Instruments tick at their own
//! moments, so each one samples the path at its tick and moves by the increment since its
//! previous tick: two instruments that tick a second apart share all but that second.
//!
//! Indices are not drawn: an index follows its constituents (the stocks of its market, of its
//! sector when it has one), moving by a scaled average of their moves plus a little noise of
//! its own, so it correlates with them as a real index does.

use super::instrument::{Instrument, InstrumentType, Region, Sector};
use super::model::ModelParams;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Every instrument keeps at least this share of its variance as its own noise.
const MIN_IDIO_SHARE: f64 = 0.05;
const MICROS_PER_YEAR: f64 = 365.0 * 86_400.0 * 1e6;

/// Target correlations, as shares of variance each factor explains (`[factors]` in the
/// configuration). Two stocks of one sector and market correlate by `global + market +
/// sector`, of one market by `global + market`, across markets by `global`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FactorSettings {
    pub global: f64,
    pub market: f64,
    pub sector: f64,
    /// Crypto's share of the global factor (its correlation with stocks is
    /// `sqrt(crypto_global * global)`) and of its own market factor.
    pub crypto_global: f64,
    pub crypto_market: f64,
    /// Share of an index's variance that follows its constituents; the rest is its own noise.
    pub index_tracking: f64,
}

impl FactorSettings {
    /// The shipped defaults, for tests.
    #[cfg(test)]
    pub(crate) fn example() -> Self {
        FactorSettings {
            global: 0.15,
            market: 0.15,
            sector: 0.2,
            crypto_global: 0.1,
            crypto_market: 0.55,
            index_tracking: 0.97,
        }
    }

    pub fn validate(&self) -> Result<(), String> {
        let all = [self.global, self.market, self.sector, self.crypto_global, self.crypto_market];
        if all.iter().any(|s| !(0.0..=0.9).contains(s)) {
            return Err("every factor share must be in [0, 0.9]".into());
        }
        if self.global + self.market + self.sector > 0.9 || self.crypto_global + self.crypto_market > 0.9 {
            return Err("the factor shares of one instrument must sum to at most 0.9".into());
        }
        if !(0.0..=0.99).contains(&self.index_tracking) {
            return Err("index_tracking must be in [0, 0.99]".into());
        }
        Ok(())
    }
}

/// How one instrument's variance is spent, per year of market time.
#[derive(Debug, Clone, PartialEq)]
pub struct Budget {
    /// (factor, loading): the instrument moves by `loading * dW` of each factor.
    pub loadings: Vec<(usize, f64)>,
    pub idio_variance: f64,
    pub jump_variance: f64,
    pub news_variance: f64,
}

impl Budget {
    pub fn factor_variance(&self) -> f64 {
        self.loadings.iter().map(|(_, b)| b * b).sum()
    }
}

/// An index's link to its constituents: it moves by `scale` times their average log move.
#[derive(Debug, Clone, PartialEq)]
pub struct Tracking {
    pub constituents: Vec<usize>,
    pub scale: f64,
}

/// The calibrated structure of a universe.
#[derive(Debug, Clone)]
pub struct Structure {
    pub factor_names: Vec<String>,
    pub budgets: Vec<Budget>,
    pub tracking: Vec<Option<Tracking>>,
    /// Expected rise of each instrument's variance multiplier from news excitement (0.1: +10%).
    excitement: Vec<f64>,
}

/// What the news plan gives each instrument: its share of variance, and the expected rise of
/// its variance from the volatility boosts of news.
#[derive(Debug, Clone, Copy, Default)]
pub struct NewsLoad {
    pub share: f64,
    pub excitement: f64,
}

impl Structure {
    pub fn build(universe: &[Instrument], params: &[ModelParams], news: &[NewsLoad], s: &FactorSettings) -> Self {
        let mut names: Vec<String> = vec!["global".into()];
        let mut index_of: HashMap<String, usize> = HashMap::new();
        let mut factor = |name: String| {
            *index_of.entry(name.clone()).or_insert_with(|| {
                names.push(name);
                names.len() - 1
            })
        };
        let tracking: Vec<Option<Tracking>> = (0..universe.len()).map(|i| constituents(universe, i)).collect();
        let mut budgets = Vec::with_capacity(universe.len());
        for (i, inst) in universe.iter().enumerate() {
            let crypto = inst.market == Region::Crypto;
            let mut shares = vec![(0, if crypto { s.crypto_global } else { s.global })];
            shares.push((
                factor(format!("market:{}", inst.market.name())),
                if crypto { s.crypto_market } else { s.market },
            ));
            if inst.sector != Sector::Unknown && !crypto {
                shares.push((factor(format!("sector:{}:{:?}", inst.market.name(), inst.sector)), s.sector));
            }
            budgets.push(if tracking[i].is_some() {
                let variance = inst.annual_volatility.powi(2);
                Budget {
                    loadings: Vec::new(),
                    idio_variance: (1.0 - s.index_tracking) * variance,
                    jump_variance: 0.0,
                    news_variance: 0.0,
                }
            } else {
                calibrate(inst.annual_volatility, &shares, &params[i], news[i])
            });
        }
        let excitement =
            news.iter().zip(&tracking).map(|(n, t)| if t.is_some() { 0.0 } else { n.excitement }).collect();
        let mut structure = Structure { factor_names: names, budgets, tracking, excitement };
        for i in 0..universe.len() {
            if let Some(t) = &structure.tracking[i] {
                let n = t.constituents.len() as f64;
                let mut var_avg = 0.0;
                for &a in &t.constituents {
                    for &b in &t.constituents {
                        var_avg += structure.covariance(universe, a, b);
                    }
                }
                let var_avg = var_avg / (n * n);
                let scale = (s.index_tracking * universe[i].annual_volatility.powi(2) / var_avg.max(1e-12)).sqrt();
                structure.tracking[i].as_mut().expect("tracked").scale = scale;
            }
        }
        structure
    }

    /// The model's covariance of two non-index instruments' log returns, per year.
    pub fn covariance(&self, universe: &[Instrument], a: usize, b: usize) -> f64 {
        if a == b {
            return universe[a].annual_volatility.powi(2);
        }
        let (ba, bb) = (&self.budgets[a], &self.budgets[b]);
        let shared: f64 = ba
            .loadings
            .iter()
            .flat_map(|&(fa, la)| bb.loadings.iter().filter(move |(fb, _)| *fb == fa).map(move |(_, lb)| la * lb))
            .sum();
        let excitement = ((1.0 + self.excitement[a]) * (1.0 + self.excitement[b])).sqrt();
        shared * excitement
    }
}

/// The constituents an index follows: its market's non-index instruments of its sector, or of
/// the whole market when its sector has none (or it has no sector). None for other instruments
/// and for an index whose market has nothing else.
fn constituents(universe: &[Instrument], i: usize) -> Option<Tracking> {
    let index = &universe[i];
    if index.kind != InstrumentType::MarketIndex {
        return None;
    }
    let members = |sector: Option<Sector>| -> Vec<usize> {
        (0..universe.len())
            .filter(|&j| {
                let c = &universe[j];
                c.kind != InstrumentType::MarketIndex
                    && c.market == index.market
                    && sector.is_none_or(|s| c.sector == s)
            })
            .collect()
    };
    let mut list = if index.sector == Sector::Unknown { Vec::new() } else { members(Some(index.sector)) };
    if list.is_empty() {
        list = members(None);
    }
    (!list.is_empty()).then_some(Tracking { constituents: list, scale: 1.0 })
}

/// Spends `volatility^2`: jumps and news their shares, the factors their target shares, own
/// noise the rest, and all diffusion lowered by the expected news excitement so the total stays
/// on target. (Two instruments' variance multipliers move together enough that they do not
/// dilute the measured correlations: see BENCHMARKS.md.)
fn calibrate(volatility: f64, targets: &[(usize, f64)], params: &ModelParams, news: NewsLoad) -> Budget {
    let variance = volatility * volatility;
    let diffusion_share = (1.0 - params.jump_share - news.share).max(MIN_IDIO_SHARE);
    let wanted: f64 = targets.iter().map(|(_, t)| t).sum();
    let room = (diffusion_share - MIN_IDIO_SHARE).max(0.0);
    let squeeze = if wanted > room { room / wanted } else { 1.0 };
    let excite = 1.0 + news.excitement;
    let loadings: Vec<(usize, f64)> =
        targets.iter().map(|&(f, t)| (f, (t * squeeze * variance / excite).sqrt())).collect();
    let factor_share = wanted * squeeze;
    Budget {
        loadings,
        idio_variance: (diffusion_share - factor_share) * variance / excite,
        jump_variance: params.jump_share * variance,
        news_variance: news.share * variance,
    }
}

/// The factor paths, each sampled lazily in increasing market time: a Brownian motion with
/// unit variance per year, drawn from its own generator so its path depends only on the
/// seed and the times it is read at.
pub struct FactorPaths {
    value: Vec<f64>,
    at: Vec<i64>,
    rngs: Vec<ChaCha8Rng>,
}

impl FactorPaths {
    /// Paths starting at zero at market time `start` (microseconds); `seeds` one per factor.
    pub fn new(seeds: impl IntoIterator<Item = u64>, start: i64) -> Self {
        let rngs: Vec<ChaCha8Rng> = seeds.into_iter().map(ChaCha8Rng::seed_from_u64).collect();
        FactorPaths { value: vec![0.0; rngs.len()], at: vec![start; rngs.len()], rngs }
    }

    /// The path of `factor` at market time `t`; earlier times than the last read give the last
    /// value (time never runs backwards in the market).
    pub fn sample(&mut self, factor: usize, t: i64) -> f64 {
        let dt = t - self.at[factor];
        if dt > 0 {
            let z: f64 = StandardNormal.sample(&mut self.rngs[factor]);
            self.value[factor] += (dt as f64 / MICROS_PER_YEAR).sqrt() * z;
            self.at[factor] = t;
        }
        self.value[factor]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::instrument::default_universe;

    fn settings() -> FactorSettings {
        FactorSettings::example()
    }

    fn params() -> ModelParams {
        ModelParams::example()
    }

    #[test]
    fn calibration_preserves_each_instruments_total_variance() {
        let universe = default_universe();
        let p = vec![params(); universe.len()];
        let news = vec![NewsLoad { share: 0.1, excitement: 0.2 }; universe.len()];
        let s = Structure::build(&universe, &p, &news, &settings());
        for (i, inst) in universe.iter().enumerate() {
            let b = &s.budgets[i];
            let target = inst.annual_volatility.powi(2);
            let total = if s.tracking[i].is_some() {
                // Own noise plus the scaled variance of the constituents' average.
                let t = s.tracking[i].as_ref().unwrap();
                let n = t.constituents.len() as f64;
                let avg: f64 = t
                    .constituents
                    .iter()
                    .flat_map(|&a| t.constituents.iter().map(move |&c| (a, c)))
                    .map(|(a, c)| s.covariance(&universe, a, c))
                    .sum::<f64>()
                    / (n * n);
                b.idio_variance + t.scale * t.scale * avg
            } else {
                // The diffusion is lowered by the excitement that news adds back on average.
                (b.factor_variance() + b.idio_variance) * 1.2 + b.jump_variance + b.news_variance
            };
            assert!((total / target - 1.0).abs() < 1e-9, "{}: {total} vs {target}", inst.symbol);
        }
    }

    #[test]
    fn model_correlations_match_the_configured_shares() {
        let universe = default_universe();
        let p = vec![params(); universe.len()];
        let s = Structure::build(&universe, &p, &vec![NewsLoad::default(); universe.len()], &settings());
        let find = |sym: &str| universe.iter().position(|i| i.symbol == sym).unwrap();
        let corr = |a: &str, b: &str| {
            let (a, b) = (find(a), find(b));
            s.covariance(&universe, a, b) / (universe[a].annual_volatility * universe[b].annual_volatility)
        };
        assert!((corr("AAPL", "MSFT") - 0.5).abs() < 1e-9);
        assert!((corr("AAPL", "JPM") - 0.3).abs() < 1e-9);
        assert!((corr("AAPL", "TCS") - 0.15).abs() < 1e-9);
        assert!((corr("BTC", "ETH") - 0.65).abs() < 1e-9);
        assert!((corr("BTC", "AAPL") - (0.1f64 * 0.15).sqrt()).abs() < 1e-9);
    }

    #[test]
    fn indices_follow_their_sector_or_their_whole_market() {
        let universe = default_universe();
        let s = Structure::build(&universe, &vec![params(); 45], &vec![NewsLoad::default(); 45], &settings());
        let members = |sym: &str| {
            let i = universe.iter().position(|i| i.symbol == sym).unwrap();
            s.tracking[i]
                .as_ref()
                .unwrap()
                .constituents
                .iter()
                .map(|&c| universe[c].symbol.as_str())
                .collect::<Vec<_>>()
        };
        assert_eq!(members("NIFTY IT"), ["TCS", "INFY"]);
        assert_eq!(members("S&P 500").len(), 10);
        assert_eq!(members("FTSE techMARK").len(), 10, "no UK technology stock: the whole market");
        assert!(s.tracking[universe.iter().position(|i| i.symbol == "BTC").unwrap()].is_none());
    }

    #[test]
    fn a_factor_path_has_the_variance_of_a_brownian_motion_and_reads_are_stable() {
        let mut paths = FactorPaths::new([1], 0);
        let hour = 3_600_000_000i64;
        let mut increments = Vec::new();
        let mut last = 0.0;
        for k in 1..=20_000 {
            let v = paths.sample(0, k * hour);
            assert_eq!(paths.sample(0, k * hour), v, "reading twice at one time gives one value");
            increments.push(v - last);
            last = v;
        }
        let var = increments.iter().map(|x| x * x).sum::<f64>() / increments.len() as f64;
        let expected = hour as f64 / MICROS_PER_YEAR;
        assert!((var / expected - 1.0).abs() < 0.05, "{var} vs {expected}");
    }
}
