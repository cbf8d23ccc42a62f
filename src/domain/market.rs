//! The simulated market: every instrument's price model on its own jittered schedule, plus the
//! news that moves them, advanced in time order.
//!
//! One mechanism serves both history and live trading: [`Market::advance_until`] emits every
//! tick and news event due up to an instant. Seeding calls it once with "now" on a market that
//! starts five days ago; the live loop calls it each time the next tick falls due. Each
//! instrument draws from its own seeded generator, so a path depends only on the seed and the
//! instrument, never on how the work was interleaved.

use super::instrument::Instrument;
use super::model::{ModelParams, PriceModel};
use super::news::{NewsEvent, draw_event};
use super::quote::{Valuation, stable_hash};
use super::time::{MICROS_PER_DAY, Timestamp};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Exp, LogNormal};
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// Dispersion of tick volumes around their mean (log scale).
const VOLUME_LOG_SPREAD: f64 = 0.6;

/// How the clock of the simulation runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cadence {
    /// Shortest and longest time between two ticks of one instrument, in microseconds.
    pub tick_min_micros: i64,
    pub tick_max_micros: i64,
    /// Mean time between news events, in microseconds; zero turns news off.
    pub news_mean_micros: i64,
    /// Factor by which a news event raises the affected instruments' variance.
    pub news_volatility_boost: f64,
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
    News(NewsEvent, Vec<usize>),
}

/// Where an instrument starts: a price, and its next tick.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Start {
    pub price: f64,
    pub last_tick: Timestamp,
}

struct Simulated {
    model: PriceModel,
    rng: ChaCha8Rng,
    last_tick: Timestamp,
    pending_jump: f64,
    volume_per_day: f64,
}

pub struct Market {
    universe: Vec<Instrument>,
    sims: Vec<Simulated>,
    schedule: BinaryHeap<Reverse<(Timestamp, usize)>>,
    cadence: Cadence,
    news_rng: ChaCha8Rng,
    next_news: Option<Timestamp>,
    next_news_id: i64,
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
        let sims: Vec<Simulated> = universe
            .iter()
            .zip(params)
            .zip(starts)
            .map(|((instrument, params), start)| Simulated {
                model: PriceModel::new(start.price, instrument.annual_volatility, instrument.annual_drift, *params),
                rng: ChaCha8Rng::seed_from_u64(stream_seed(seed, &instrument.symbol)),
                last_tick: start.last_tick.min(now),
                pending_jump: 0.0,
                volume_per_day: Valuation::for_instrument(instrument).expected_daily_volume(),
            })
            .collect();
        let schedule = (0..sims.len()).map(|i| Reverse((now, i))).collect();
        let mut news_rng = ChaCha8Rng::seed_from_u64(stream_seed(seed, "\u{0}news"));
        let next_news = next_news_after(now, cadence, &mut news_rng);
        Market { universe, sims, schedule, cadence, news_rng, next_news, next_news_id }
    }

    pub fn universe(&self) -> &[Instrument] {
        &self.universe
    }

    /// The latest price of every instrument, in universe order.
    pub fn prices(&self) -> Vec<f64> {
        self.sims.iter().map(|s| s.model.price()).collect()
    }

    /// When the next tick or news event falls due.
    pub fn next_due(&self) -> Option<Timestamp> {
        let tick = self.schedule.peek().map(|Reverse((t, _))| *t);
        match (tick, self.next_news) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Emits, in time order, every tick and news event due at or before `until`.
    pub fn advance_until(&mut self, until: Timestamp, mut emit: impl FnMut(MarketEvent)) {
        while let Some(due) = self.next_due().filter(|t| *t <= until) {
            if self.next_news == Some(due) {
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

    fn tick(&mut self, index: usize, time: Timestamp) -> Tick {
        let sim = &mut self.sims[index];
        let dt = time.years_since(sim.last_tick);
        let jump = std::mem::take(&mut sim.pending_jump);
        let step = sim.model.step(dt, jump, &mut sim.rng);
        let elapsed_days = (time.0 - sim.last_tick.0) as f64 / MICROS_PER_DAY as f64;
        let noise = LogNormal::new(-0.5 * VOLUME_LOG_SPREAD * VOLUME_LOG_SPREAD, VOLUME_LOG_SPREAD)
            .expect("valid spread")
            .sample(&mut sim.rng);
        // Busier when the price moves more: E[0.6 + 0.5|z|] is about 1.
        let activity = 0.6 + 0.5 * step.shock.abs();
        let volume = (sim.volume_per_day * elapsed_days * noise * activity).round().max(1.0) as u64;
        sim.last_tick = time;
        let gap = sim.rng.random_range(self.cadence.tick_min_micros..=self.cadence.tick_max_micros);
        self.schedule.push(Reverse((time.plus_micros(gap), index)));
        Tick { instrument: index, time, price: step.price, volume }
    }

    fn publish_news(&mut self, time: Timestamp) -> Option<MarketEvent> {
        self.next_news = next_news_after(time, self.cadence, &mut self.news_rng);
        let (event, affected) = draw_event(self.next_news_id, time, &self.universe, &mut self.news_rng)?;
        self.next_news_id += 1;
        let jump = (1.0 + event.impact / 100.0).ln();
        for &i in &affected {
            self.sims[i].pending_jump += jump;
            self.sims[i].model.excite_volatility(self.cadence.news_volatility_boost);
        }
        Some(MarketEvent::News(event, affected))
    }
}

fn next_news_after(time: Timestamp, cadence: Cadence, rng: &mut ChaCha8Rng) -> Option<Timestamp> {
    if cadence.news_mean_micros <= 0 {
        return None;
    }
    let wait: f64 = Exp::new(1.0 / cadence.news_mean_micros as f64).ok()?.sample(rng);
    Some(time.plus_micros(wait.ceil() as i64))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::instrument::default_universe;
    use crate::domain::time::MICROS_PER_SECOND;

    const CADENCE: Cadence = Cadence {
        tick_min_micros: 2 * MICROS_PER_SECOND,
        tick_max_micros: 3 * MICROS_PER_SECOND,
        news_mean_micros: 600 * MICROS_PER_SECOND,
        news_volatility_boost: 2.0,
    };

    fn market(seed: u64, start: Timestamp) -> Market {
        let universe: Vec<Instrument> = default_universe().into_iter().take(5).collect();
        let params =
            vec![
                ModelParams { jump_intensity: 4.0, jump_mean: 0.0, jump_std: 0.02, garch_alpha: 0.05, garch_beta: 0.9 };
                universe.len()
            ];
        let starts: Vec<Start> = universe.iter().map(|i| Start { price: i.base_price, last_tick: start }).collect();
        Market::new(universe, &params, &starts, CADENCE, seed, start, 1)
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
