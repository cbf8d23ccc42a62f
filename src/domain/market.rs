//! The simulated market: every instrument's price model on its own jittered schedule, plus the
//! news that moves them, advanced in time order.
//!
//! One mechanism serves both history and live trading: [`Market::advance_until`] emits every
//! tick and news event due up to an instant. Seeding calls it once with "now" on a market that
//! starts five days ago; the live loop calls it each time the next tick falls due. Each
//! instrument draws from its own seeded generator, so a path depends only on the seed and the
//! instrument, never on how the work was interleaved.

use super::directing::ActiveRegime;
use super::director::Command;
use super::factors::{FactorPaths, FactorSettings, Structure};
use super::instrument::Instrument;
use super::model::{ModelParams, Outside, PriceModel};
use super::news::{NewsEvent, NewsPlan, NewsSettings};
use super::pace::Pace;
use super::quote::{Valuation, stable_hash};
use super::time::{MICROS_PER_DAY, SECONDS_PER_YEAR, Timestamp};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, LogNormal, StandardNormal};
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// Dispersion of tick volumes around their mean (log scale).
const VOLUME_LOG_SPREAD: f64 = 0.6;
const MICROS_PER_YEAR: f64 = SECONDS_PER_YEAR * 1e6;

/// How the simulation runs: tick cadence, news and market structure.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cadence {
    /// Shortest and longest time between two ticks of one instrument, in microseconds.
    pub tick_min_micros: i64,
    pub tick_max_micros: i64,
    pub news: NewsSettings,
    pub factors: FactorSettings,
}

/// One price update of one instrument.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tick {
    /// Index into the market's universe.
    pub instrument: usize,
    pub time: Timestamp,
    pub price: f64,
    /// Units traded since the instrument's previous tick.
    pub volume: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub enum MarketEvent {
    Tick(Tick),
    /// A news event and the instruments it concerns.
    News(NewsEvent, Vec<usize>),
    /// The market paused, resumed or changed speed.
    Status {
        paused: bool,
        speed: u32,
    },
}

/// Where an instrument starts: a price, and its next tick.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Start {
    pub price: f64,
    pub last_tick: Timestamp,
}

/// An instrument's exposure to one factor path, and the path's value at its last tick.
struct Exposure {
    factor: usize,
    loading: f64,
    last: f64,
}

/// An index's link to its constituents, and the sum of their log prices at its last tick.
struct Tracked {
    constituents: Vec<usize>,
    scale: f64,
    last_sum: f64,
}

struct Simulated {
    model: PriceModel,
    rng: ChaCha8Rng,
    last_tick: Timestamp,
    /// Market time of the last tick, microseconds.
    last_market: i64,
    exposures: Vec<Exposure>,
    tracked: Option<Tracked>,
    pending_jump: f64,
    /// The sum of the regimes' moves so far, which the index tracking leaves out.
    regime_offset: f64,
    volume_per_day: f64,
}

pub struct Market {
    universe: Vec<Instrument>,
    sims: Vec<Simulated>,
    schedule: BinaryHeap<Reverse<(Timestamp, usize)>>,
    cadence: Cadence,
    factors: FactorPaths,
    news_plan: NewsPlan,
    news_rng: ChaCha8Rng,
    /// Market time of the next news event.
    next_news: Option<i64>,
    next_news_id: i64,
    pace: Pace,
    paused_at: Option<Timestamp>,
    structure: Structure,
    /// The director's commands still to apply, in time order (with a sequence number that
    /// keeps commands of one instant in the order they were given).
    pub(super) timeline: Vec<(Timestamp, u64, Command)>,
    pub(super) timeline_seq: u64,
    pub(super) regimes: Vec<ActiveRegime>,
}

/// Mixes the run seed with a stream name into an independent generator seed.
fn stream_seed(seed: u64, stream: &str) -> u64 {
    // SplitMix64 finaliser: nearby inputs give unrelated outputs.
    let mut z = seed ^ stable_hash(stream);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Market {
    /// A market whose instruments stand at `starts` (one per instrument) and whose first ticks
    /// fall due at `now`. `params` gives each instrument's model settings.
    pub fn new(
        universe: Vec<Instrument>,
        params: &[ModelParams],
        starts: &[Start],
        cadence: Cadence,
        seed: u64,
        now: Timestamp,
        next_news_id: i64,
    ) -> Self {
        assert_eq!(universe.len(), params.len(), "one set of model parameters per instrument");
        assert_eq!(universe.len(), starts.len(), "one start per instrument");
        let news_plan = NewsPlan::new(&universe, params, &cadence.news);
        let structure = Structure::build(&universe, params, news_plan.loads(), &cadence.factors);
        let origin = starts.iter().map(|s| s.last_tick.0).min().unwrap_or(now.0).min(now.0);
        let factors = FactorPaths::new(
            structure.factor_names.iter().map(|name| stream_seed(seed, &format!("\u{0}factor:{name}"))),
            origin,
        );
        let sims: Vec<Simulated> = (0..universe.len())
            .map(|i| {
                let (instrument, start) = (&universe[i], starts[i]);
                let mut rng = ChaCha8Rng::seed_from_u64(stream_seed(seed, &instrument.symbol));
                let start_log: f64 = StandardNormal.sample(&mut rng);
                let tracked = structure.tracking[i].as_ref().map(|t| Tracked {
                    constituents: t.constituents.clone(),
                    scale: t.scale,
                    last_sum: t.constituents.iter().map(|&c| starts[c].price.max(0.01).ln()).sum(),
                });
                // An index drifts with its constituents; its own drift makes up the difference.
                let drift = match &tracked {
                    Some(t) => {
                        let mean = t.constituents.iter().map(|&c| universe[c].annual_drift).sum::<f64>()
                            / t.constituents.len() as f64;
                        instrument.annual_drift - t.scale * mean
                    }
                    None => instrument.annual_drift,
                };
                let budget = &structure.budgets[i];
                let last_tick = start.last_tick.min(now);
                Simulated {
                    model: PriceModel::new(start.price, drift, budget, params[i], start_log),
                    rng,
                    last_tick,
                    last_market: last_tick.0,
                    exposures: budget
                        .loadings
                        .iter()
                        .map(|&(factor, loading)| Exposure { factor, loading, last: 0.0 })
                        .collect(),
                    tracked,
                    pending_jump: 0.0,
                    regime_offset: 0.0,
                    volume_per_day: Valuation::for_instrument(instrument).expected_daily_volume(),
                }
            })
            .collect();
        let schedule = (0..sims.len()).map(|i| Reverse((now, i))).collect();
        let mut news_rng = ChaCha8Rng::seed_from_u64(stream_seed(seed, "\u{0}news"));
        let next_news = news_plan.wait(&mut news_rng).map(|years| now.0 + (years * MICROS_PER_YEAR).ceil() as i64);
        Market {
            universe,
            sims,
            schedule,
            cadence,
            factors,
            news_plan,
            news_rng,
            next_news,
            next_news_id,
            pace: Pace::new(now),
            paused_at: None,
            structure,
            timeline: Vec::new(),
            timeline_seq: 0,
            regimes: Vec::new(),
        }
    }

    pub fn universe(&self) -> &[Instrument] {
        &self.universe
    }

    /// The latest price of every instrument, in universe order.
    pub fn prices(&self) -> Vec<f64> {
        self.sims.iter().map(|s| s.model.price()).collect()
    }

    /// How fast market time runs, and whether it stands still.
    pub fn pace(&self) -> Pace {
        self.pace
    }

    /// When the next tick, news event or director's command falls due. While paused only
    /// commands do.
    pub fn next_due(&self) -> Option<Timestamp> {
        let command = self.next_command();
        if self.pace.paused() {
            return command;
        }
        let tick = self.schedule.peek().map(|Reverse((t, _))| *t);
        let news = self.next_news.and_then(|m| self.pace.real_time(m));
        [tick, news, command].into_iter().flatten().min()
    }

    /// Emits, in time order, every tick, news event and effect of a command due at or before
    /// `until`.
    pub fn advance_until(&mut self, until: Timestamp, mut emit: impl FnMut(MarketEvent)) {
        while let Some(due) = self.next_due().filter(|t| *t <= until) {
            if self.next_command() == Some(due) {
                if let Some(event) = self.apply_next() {
                    emit(event);
                }
                continue;
            }
            if self.next_news.and_then(|m| self.pace.real_time(m)) == Some(due) {
                if let Some(event) = self.publish_news(due) {
                    emit(event);
                }
                continue;
            }
            let Some(Reverse((time, index))) = self.schedule.pop() else { break };
            let tick = self.tick(index, time);
            emit(MarketEvent::Tick(tick));
        }
    }

    /// Stops the market at `now` (call after advancing to `now`). False when already paused.
    pub fn pause(&mut self, now: Timestamp) -> bool {
        let stopped = self.pace.pause(now);
        if stopped {
            self.paused_at = Some(now);
        }
        stopped
    }

    /// Restarts a paused market at `now`: every pending tick moves on by the length of the
    /// pause, and market time continues from where it stood. False when not paused.
    pub fn resume(&mut self, now: Timestamp) -> bool {
        let Some(paused_at) = self.paused_at.take() else { return false };
        let shift = (now.0 - paused_at.0).max(0);
        self.schedule = self.schedule.drain().map(|Reverse((t, i))| Reverse((t.plus_micros(shift), i))).collect();
        for sim in &mut self.sims {
            sim.last_tick = sim.last_tick.plus_micros(shift);
        }
        self.pace.resume(now)
    }

    /// Sets how many seconds of market time pass per real second, from `now` on.
    pub fn set_speed(&mut self, now: Timestamp, speed: u32) {
        self.pace.set_speed(now, speed);
    }

    /// The log price of an instrument as its followers see it: regimes left out, since they
    /// give an index its own path.
    fn base_log(&self, index: usize) -> f64 {
        self.sims[index].model.log_price() - self.sims[index].regime_offset
    }

    pub(super) fn take_news_id(&mut self) -> i64 {
        self.next_news_id += 1;
        self.next_news_id - 1
    }

    /// The earliest market time any instrument last ticked at.
    pub(super) fn oldest_market_tick(&self) -> i64 {
        self.sims.iter().map(|s| s.last_market).min().unwrap_or(i64::MIN)
    }

    /// How much instrument `j` moves, on average, with the equal-weighted average of `scope`
    /// (indices in it counted through their constituents), between 0 and 1.
    pub fn beta_to(&self, j: usize, scope: &[usize]) -> f64 {
        let expand = |i: usize| -> Vec<(usize, f64)> {
            match &self.sims[i].tracked {
                Some(t) => t.constituents.iter().map(|&c| (c, t.scale / t.constituents.len() as f64)).collect(),
                None => vec![(i, 1.0)],
            }
        };
        let basket: Vec<(usize, f64)> =
            scope.iter().flat_map(|&i| expand(i)).map(|(c, w)| (c, w / scope.len() as f64)).collect();
        let cov = |a: &[(usize, f64)], b: &[(usize, f64)]| -> f64 {
            a.iter()
                .flat_map(|&(x, wx)| b.iter().map(move |&(y, wy)| (x, y, wx * wy)))
                .map(|(x, y, w)| w * self.structure.covariance(&self.universe, x, y))
                .sum()
        };
        let variance = cov(&basket, &basket);
        if variance <= 0.0 {
            return 0.0;
        }
        (cov(&expand(j), &basket) / variance).clamp(0.0, 1.0)
    }

    fn tick(&mut self, index: usize, time: Timestamp) -> Tick {
        let now_market = self.pace.market_time(time);
        let mut direct = 0.0;
        if let Some(t) = &self.sims[index].tracked {
            let sum: f64 = t.constituents.iter().map(|&c| self.base_log(c)).sum();
            direct = t.scale * (sum - t.last_sum) / t.constituents.len() as f64;
            self.sims[index].tracked.as_mut().expect("tracked").last_sum = sum;
        }
        let regime = self.regime_effect(index, self.sims[index].last_market, now_market);
        let sim = &mut self.sims[index];
        let mut factors = 0.0;
        for e in &mut sim.exposures {
            let w = self.factors.sample(e.factor, now_market);
            factors += e.loading * (w - e.last);
            e.last = w;
        }
        let dt = (now_market - sim.last_market).max(0) as f64 / MICROS_PER_YEAR;
        let jump = std::mem::take(&mut sim.pending_jump);
        let outside =
            Outside { factors, direct: direct + regime.direct, jump, variance_factor: regime.variance_factor };
        sim.regime_offset += regime.direct;
        let step = sim.model.step(dt, outside, &mut sim.rng);
        let elapsed_days = (time.0 - sim.last_tick.0) as f64 / MICROS_PER_DAY as f64;
        let noise = LogNormal::new(-0.5 * VOLUME_LOG_SPREAD * VOLUME_LOG_SPREAD, VOLUME_LOG_SPREAD)
            .expect("valid spread")
            .sample(&mut sim.rng);
        // Busier when the price moves more: E[0.6 + 0.5|z|] is about 1.
        let activity = 0.6 + 0.5 * step.shock.abs();
        let volume = (sim.volume_per_day * elapsed_days * noise * activity).round().max(1.0) as u64;
        sim.last_tick = time;
        sim.last_market = now_market;
        let gap = sim.rng.random_range(self.cadence.tick_min_micros..=self.cadence.tick_max_micros);
        self.schedule.push(Reverse((time.plus_micros(gap), index)));
        Tick { instrument: index, time, price: step.price, volume }
    }

    fn publish_news(&mut self, time: Timestamp) -> Option<MarketEvent> {
        let at = self.next_news?;
        self.next_news =
            self.news_plan.wait(&mut self.news_rng).map(|years| at + (years * MICROS_PER_YEAR).ceil() as i64);
        let (event, moves) = self.news_plan.draw(self.next_news_id, time, &self.universe, &mut self.news_rng)?;
        self.next_news_id += 1;
        self.apply_news(&moves);
        Some(MarketEvent::News(event, moves.into_iter().map(|(i, _)| i).collect()))
    }

    /// Moves each affected instrument at its next tick and raises its volatility.
    pub(super) fn apply_news(&mut self, moves: &[(usize, f64)]) {
        for &(i, jump) in moves {
            self.sims[i].pending_jump += jump;
            self.sims[i].model.excite_volatility(self.cadence.news.volatility_boost);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::instrument::default_universe;
    use crate::domain::time::MICROS_PER_SECOND;

    fn cadence() -> Cadence {
        Cadence {
            tick_min_micros: 2 * MICROS_PER_SECOND,
            tick_max_micros: 3 * MICROS_PER_SECOND,
            news: NewsSettings {
                share: 0.1,
                company_per_month: 2_000.0,
                earnings_per_year: 4.0,
                sector_per_month: 20.0,
                macro_per_week: 10.0,
                volatility_boost: 2.0,
            },
            factors: FactorSettings::example(),
        }
    }

    fn market(seed: u64, start: Timestamp) -> Market {
        let universe: Vec<Instrument> = default_universe().into_iter().take(5).collect();
        let params = vec![ModelParams::example(); universe.len()];
        let starts: Vec<Start> = universe.iter().map(|i| Start { price: i.base_price, last_tick: start }).collect();
        Market::new(universe, &params, &starts, cadence(), seed, start, 1)
    }

    fn run(seed: u64, seconds: i64) -> Vec<MarketEvent> {
        let start = Timestamp::from_seconds(1_700_000_000);
        let mut m = market(seed, start);
        let mut events = Vec::new();
        m.advance_until(start.plus_micros(seconds * MICROS_PER_SECOND), |e| events.push(e));
        events
    }

    #[test]
    fn every_instrument_ticks_every_two_to_three_seconds_in_time_order() {
        let events = run(1, 3_600);
        let ticks: Vec<Tick> =
            events.iter().filter_map(|e| if let MarketEvent::Tick(t) = e { Some(*t) } else { None }).collect();
        assert!(ticks.windows(2).all(|w| w[0].time <= w[1].time));
        for i in 0..5 {
            let times: Vec<i64> = ticks.iter().filter(|t| t.instrument == i).map(|t| t.time.0).collect();
            assert!(times.len() > 1_200 && times.len() < 1_801, "{} ticks", times.len());
            for gap in times.windows(2).map(|w| w[1] - w[0]) {
                assert!((2 * MICROS_PER_SECOND..=3 * MICROS_PER_SECOND).contains(&gap));
            }
        }
    }

    #[test]
    fn the_same_seed_replays_the_same_market() {
        assert_eq!(run(9, 600), run(9, 600));
        assert_ne!(run(9, 600), run(10, 600));
    }

    #[test]
    fn advancing_in_steps_gives_the_same_events_as_one_leap() {
        let start = Timestamp::from_seconds(1_700_000_000);
        let mut stepped = market(4, start);
        let mut events = Vec::new();
        for s in 1..=600 {
            stepped.advance_until(start.plus_micros(s * MICROS_PER_SECOND), |e| events.push(e));
        }
        assert_eq!(events, run(4, 600));
    }

    #[test]
    fn news_arrives_and_carries_ids_in_sequence() {
        let events = run(2, 6 * 3_600);
        let ids: Vec<i64> =
            events.iter().filter_map(|e| if let MarketEvent::News(n, _) = e { Some(n.id) } else { None }).collect();
        assert!(ids.len() > 10, "{} news events in six hours", ids.len());
        assert!(ids.windows(2).all(|w| w[1] == w[0] + 1) && ids[0] == 1);
    }
}
