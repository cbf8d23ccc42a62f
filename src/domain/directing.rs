//! How the market carries out the director's commands: a timeline of commands applied in time
//! order with the ticks, the regimes in force, and what they do to each tick.

use super::director::{Command, Members, NewsOrder, Target};
use super::market::{Market, MarketEvent};
use super::news::{NewsEvent, Scope};
use super::regime::{RegimeKind, RegimeOrder, RegimeParameters};
use super::time::{MICROS_PER_MINUTE, Timestamp};
use serde::Serialize;

/// A regime the market is running or will run.
pub(super) struct ActiveRegime {
    id: String,
    order: RegimeOrder,
    /// Market time of the start, microseconds.
    start: i64,
    /// Per instrument: 1 in scope, its beta to the scope outside it (0 for a regime that
    /// only changes volatility).
    weights: Vec<f64>,
    members: Vec<bool>,
}

impl ActiveRegime {
    fn minutes(&self, market_time: i64) -> f64 {
        (market_time - self.start) as f64 / MICROS_PER_MINUTE as f64
    }

    fn end(&self) -> i64 {
        self.start + (self.order.duration_minutes * MICROS_PER_MINUTE as f64) as i64
    }
}

/// A regime as `GET /api/v1/admin/regimes` lists it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct RegimeView {
    pub id: String,
    pub kind: RegimeKind,
    pub scope: Target,
    pub parameters: RegimeParameters,
    pub duration_minutes: f64,
    /// `scheduled`, `running` or `finished`.
    pub state: &'static str,
    /// When it starts and ends at the current speed; null while the market is paused.
    pub starts_at: Option<Timestamp>,
    pub ends_at: Option<Timestamp>,
}

/// What a regime does to one instrument's step: a log move and a variance factor.
pub(super) struct RegimeEffect {
    pub direct: f64,
    pub variance_factor: f64,
}

impl Market {
    /// Queues `command` to take effect at `at` (now, or a lesson's offset), in time order with
    /// the ticks: the market applies it when it advances past that instant.
    pub fn schedule(&mut self, at: Timestamp, command: Command) {
        let seq = self.timeline_seq;
        self.timeline_seq += 1;
        let position = self.timeline.partition_point(|(t, s, _)| (*t, *s) <= (at, seq));
        self.timeline.insert(position, (at, seq, command));
    }

    /// When the next queued command falls due.
    pub(super) fn next_command(&self) -> Option<Timestamp> {
        self.timeline.first().map(|(t, _, _)| *t)
    }

    /// Applies the first queued command at its instant; returns what to tell the clients.
    pub(super) fn apply_next(&mut self) -> Option<MarketEvent> {
        let (at, _, command) = self.timeline.remove(0);
        match command {
            Command::Pause => self.pause(at).then(|| self.status_event()),
            Command::Resume => self.resume(at).then(|| self.status_event()),
            Command::Speed(speed) => {
                self.set_speed(at, speed);
                Some(self.status_event())
            }
            Command::News(order) => {
                let members = order.scope.resolve(self.universe()).ok()?;
                Some(self.publish_order(at, &order, &members))
            }
            Command::Regime(order) => {
                self.start_regime(at, order);
                None
            }
            Command::CancelRegime(id) => {
                self.regimes.retain(|r| r.id != id);
                // A lesson's regime that has not started yet is cancelled too.
                self.timeline
                    .retain(|(_, _, c)| !matches!(c, Command::Regime(o) if o.id.as_deref() == Some(id.as_str())));
                None
            }
        }
    }

    fn status_event(&self) -> MarketEvent {
        MarketEvent::Status { paused: self.pace().paused(), speed: self.pace().speed() }
    }

    /// A teacher's headline: stored and pushed like any news, moving the scope by its impact.
    fn publish_order(&mut self, at: Timestamp, order: &NewsOrder, members: &Members) -> MarketEvent {
        let id = self.take_news_id();
        let universe = self.universe();
        let scope = match &order.scope {
            t if t.all || !t.markets.is_empty() => Scope::Global,
            t if !t.sectors.is_empty() => Scope::Sector,
            _ => Scope::Symbol,
        };
        let jump = (1.0 + order.impact / 100.0).ln();
        let moves: Vec<(usize, f64)> = members.moved(universe).into_iter().map(|i| (i, jump)).collect();
        let event = NewsEvent {
            id,
            headline: order.headline.trim().to_string(),
            category: "classroom".into(),
            subcategory: "teacher".into(),
            timestamp: at,
            impact: order.impact,
            duration_minutes: 60,
            affected_scope: scope,
            affected_symbols: members.all.iter().map(|&i| universe[i].symbol.clone()).collect(),
        };
        self.apply_news(&moves);
        MarketEvent::News(event, members.all.clone())
    }

    /// Starts (or replaces, by id) a regime `start_in_minutes` of market time after `at`.
    fn start_regime(&mut self, at: Timestamp, order: RegimeOrder) {
        let Ok(members) = order.scope.resolve(self.universe()) else { return };
        let id = order.id.clone().unwrap_or_else(|| format!("regime-{}", self.timeline_seq));
        self.regimes.retain(|r| r.id != id);
        let start = self.pace().market_time(at) + (order.start_in_minutes * MICROS_PER_MINUTE as f64) as i64;
        let n = self.universe().len();
        let mut in_scope = vec![false; n];
        for &i in &members.all {
            in_scope[i] = true;
        }
        let weights = (0..n)
            .map(|j| match (in_scope[j], order.directional()) {
                (true, _) => 1.0,
                (false, true) => self.beta_to(j, &members.all),
                (false, false) => 0.0,
            })
            .collect();
        self.regimes.push(ActiveRegime { id, order, start, weights, members: in_scope });
    }

    /// The regimes' move and variance factor for instrument `i` between two market times.
    pub(super) fn regime_effect(&self, i: usize, from: i64, to: i64) -> RegimeEffect {
        let mut effect = RegimeEffect { direct: 0.0, variance_factor: 1.0 };
        for r in &self.regimes {
            if r.weights[i] != 0.0 && to > r.start && from < r.end() {
                effect.direct += r.weights[i] * (r.order.offset(r.minutes(to)) - r.order.offset(r.minutes(from)));
            }
            if r.members[i] {
                effect.variance_factor *= r.order.volatility(r.minutes(to)).powi(2);
            }
        }
        effect
    }

    /// The regimes, with their state at `now`; finished ones are dropped once every
    /// instrument has ticked past their end.
    pub fn regimes(&mut self, now: Timestamp) -> Vec<RegimeView> {
        let oldest_tick = self.oldest_market_tick();
        self.regimes.retain(|r| r.end() > oldest_tick);
        let pace = self.pace();
        let m = pace.market_time(now);
        let view = |order: &RegimeOrder, id: &str, state, starts_at, ends_at| RegimeView {
            id: id.to_string(),
            kind: order.kind,
            scope: order.scope.clone(),
            parameters: order.parameters,
            duration_minutes: order.duration_minutes,
            state,
            starts_at,
            ends_at,
        };
        let mut list: Vec<RegimeView> = self
            .regimes
            .iter()
            .map(|r| {
                let state = if m < r.start {
                    "scheduled"
                } else if m < r.end() {
                    "running"
                } else {
                    "finished"
                };
                view(&r.order, &r.id, state, pace.real_time(r.start), pace.real_time(r.end()))
            })
            .collect();
        // A lesson's regimes still on the timeline.
        for (at, _, command) in &self.timeline {
            if let Command::Regime(order) = command {
                list.push(view(order, order.id.as_deref().unwrap_or("lesson"), "scheduled", Some(*at), None));
            }
        }
        list
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Settings;
    use crate::domain::instrument::Region;
    use crate::domain::market::{Start, Tick};
    use crate::domain::model::TICK_SIZE;
    use crate::domain::time::MICROS_PER_SECOND;

    const START: Timestamp = Timestamp(1_780_000_000_000_000);
    const MINUTE: i64 = MICROS_PER_MINUTE;

    fn market(seed: u64) -> Market {
        let settings = Settings::defaults();
        let universe = settings.universe();
        let params: Vec<_> = universe.iter().map(|i| settings.model_for(i.kind)).collect();
        let starts: Vec<Start> = universe.iter().map(|i| Start { price: i.base_price, last_tick: START }).collect();
        Market::new(universe, &params, &starts, settings.cadence(), seed, START, 1)
    }

    fn find(m: &Market, symbol: &str) -> usize {
        m.universe().iter().position(|i| i.symbol == symbol).unwrap()
    }

    fn regime(kind: RegimeKind, scope: Target, minutes: f64, parameters: RegimeParameters) -> Command {
        Command::Regime(RegimeOrder {
            id: Some("r".into()),
            kind,
            scope,
            start_in_minutes: 0.0,
            duration_minutes: minutes,
            parameters,
        })
    }

    fn usa() -> Target {
        Target { markets: vec![Region::Usa], ..Target::default() }
    }

    /// Prices of `symbol` at every tick from START to `minutes` later.
    fn path(m: &mut Market, symbol: &str, minutes: i64) -> Vec<(Timestamp, f64)> {
        let i = find(m, symbol);
        let mut out = Vec::new();
        m.advance_until(START.plus_micros(minutes * MINUTE), |e| {
            if let MarketEvent::Tick(t) = e
                && t.instrument == i
            {
                out.push((t.time, t.price));
            }
        });
        out
    }

    fn price_at(path: &[(Timestamp, f64)], minutes: i64) -> f64 {
        path.iter().rev().find(|(t, _)| t.0 <= START.0 + minutes * MINUTE).unwrap().1
    }

    #[test]
    fn directional_regimes_move_their_scope_along_their_paths_with_a_fixed_seed() {
        let cases = [
            (RegimeKind::Bull, 1.10),
            (RegimeKind::Bear, 0.90),
            (RegimeKind::Crash, 0.90),
            (RegimeKind::Bubble, 1.4 * 0.7),
        ];
        for (kind, end) in cases {
            let mut m = market(7);
            m.schedule(START.plus_micros(MINUTE), regime(kind, usa(), 60.0, RegimeParameters::default()));
            let p = path(&mut m, "S&P 500", 70);
            let change = price_at(&p, 62) / price_at(&p, 1);
            assert!((change / end - 1.0).abs() < 0.015, "{kind:?}: {change} against {end}");
            if kind == RegimeKind::Crash {
                let bottom = price_at(&p, 16) / price_at(&p, 1);
                assert!((bottom - 0.8).abs() < 0.015, "crash bottom {bottom}");
            }
        }
    }

    #[test]
    fn calm_and_volatile_scale_the_variance_of_their_scope() {
        let variance = |command: Option<Command>| {
            let mut m = market(3);
            if let Some(c) = command {
                m.schedule(START, c);
            }
            let p = path(&mut m, "AAPL", 240);
            let minutes: Vec<f64> = (60..180).map(|k| (price_at(&p, k + 1) / price_at(&p, k)).ln()).collect();
            minutes.iter().map(|r| r * r).sum::<f64>()
        };
        let base = variance(None);
        let calm = variance(Some(regime(RegimeKind::Calm, usa(), 240.0, RegimeParameters::default())));
        let wild = variance(Some(regime(RegimeKind::Volatile, usa(), 240.0, RegimeParameters::default())));
        assert!(calm / base < 0.5, "calm {}", calm / base);
        assert!(wild / base > 3.0, "volatile {}", wild / base);
    }

    #[test]
    fn a_crash_in_one_market_drags_the_others_by_their_beta() {
        let mut m = market(11);
        let members = usa().resolve(m.universe()).unwrap().all;
        let ftse = find(&m, "FTSE 100");
        let beta = m.beta_to(ftse, &members);
        assert!(beta > 0.05 && beta < 0.5, "beta {beta}");
        let parameters = RegimeParameters { depth_percent: Some(20.0), ..RegimeParameters::default() };
        m.schedule(START.plus_micros(MINUTE), regime(RegimeKind::Crash, usa(), 120.0, parameters));
        let p = path(&mut m, "FTSE 100", 16);
        let change = (price_at(&p, 16) / price_at(&p, 1)).ln();
        assert!((change - beta * 0.8f64.ln()).abs() < 0.01, "FTSE moved {change}, beta {beta}");
    }

    #[test]
    fn prices_stay_positive_and_on_the_grid_in_the_deepest_crash() {
        let mut m = market(5);
        let parameters =
            RegimeParameters { depth_percent: Some(95.0), fall_minutes: Some(1.0), ..RegimeParameters::default() };
        m.schedule(START, regime(RegimeKind::Crash, Target::everything(), 30.0, parameters));
        m.advance_until(START.plus_micros(30 * MINUTE), |e| {
            if let MarketEvent::Tick(t) = e {
                assert!(t.price >= TICK_SIZE && ((t.price / TICK_SIZE).round() * TICK_SIZE - t.price).abs() < 1e-9);
            }
        });
    }

    #[test]
    fn a_paused_market_emits_nothing_and_resumes_where_it_stood() {
        let mut m = market(2);
        m.schedule(START.plus_micros(MINUTE), Command::Pause);
        m.schedule(START.plus_micros(11 * MINUTE), Command::Resume);
        let mut events = Vec::new();
        m.advance_until(START.plus_micros(12 * MINUTE), |e| events.push(e));
        let statuses: Vec<_> = events.iter().filter(|e| matches!(e, MarketEvent::Status { .. })).collect();
        assert_eq!(statuses.len(), 2);
        let ticks: Vec<Tick> =
            events.iter().filter_map(|e| if let MarketEvent::Tick(t) = e { Some(*t) } else { None }).collect();
        let (pause, resume) = (START.0 + MINUTE, START.0 + 11 * MINUTE);
        assert!(!ticks.iter().any(|t| t.time.0 > pause && t.time.0 < resume));
        // Each instrument's first tick after the resume comes within its cadence.
        let i = find(&m, "AAPL");
        let first = ticks.iter().find(|t| t.instrument == i && t.time.0 >= resume).unwrap();
        assert!(first.time.0 - resume <= 3 * MICROS_PER_SECOND);
    }

    #[test]
    fn at_speed_one_hundred_a_real_minute_moves_prices_like_a_hundred() {
        let spread = |speed: u32| {
            let mut m = market(9);
            m.schedule(START, Command::Speed(speed));
            let p = path(&mut m, "BTC", 120);
            (1..120).map(|k| (price_at(&p, k + 1) / price_at(&p, k)).ln().powi(2)).sum::<f64>()
        };
        let ratio = spread(100) / spread(1);
        assert!(ratio > 40.0 && ratio < 250.0, "variance ratio {ratio}");
    }
}
