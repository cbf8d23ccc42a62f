//! The price dynamics of one instrument: factor exposure plus its own noise, with a
//! stochastic variance in calendar time (GARCH's diffusion limit), Merton jumps and news.
//!
//! Per step of `dt` years (market time) the log price moves by
//!
//! ```text
//! r = (mu - lambda*k - v D/2) dt  +  sqrt(v) (sum_f beta_f dW_f + sqrt(idio dt) z)  +  jumps  +  news
//! ```
//!
//! where `dW_f` are the increments of the shared factor paths ([`super::factors`]), `D` is the
//! diffusion variance `sum beta_f^2 + idio`, and `v = e^x` a variance multiplier with mean 1.
//! `x` reverts to its mean with the configured half-life (hours, in market time) and is driven
//! by the instrument's own squared shocks, `(z_tot^2 - 1) / sqrt 2`, as GARCH(1,1) is: large
//! moves raise the variance that follows. Summed over the thousands of ticks of an hour these
//! shocks act as a Brownian motion, so clustering lasts hours whatever the tick rate.
//!
//! The instrument's `annual_volatility` is the total a student measures: jumps and news take
//! their configured shares of its variance and the diffusion the rest (see
//! [`super::factors::Budget`]).

use super::factors::Budget;
use rand::Rng;
use rand_distr::{Distribution, Normal, Poisson, StandardNormal};
use serde::{Deserialize, Serialize};

/// Price steps per currency unit: every published price is a whole number of cents (paise,
/// pence).
pub const TICKS_PER_UNIT: f64 = 100.0;
/// The smallest price step: every published price is a multiple of it.
pub const TICK_SIZE: f64 = 1.0 / TICKS_PER_UNIT;

/// Hours in a year of market time (the markets trade around the clock).
const HOURS_PER_YEAR: f64 = 365.0 * 24.0;

/// Jump and volatility settings, chosen per instrument type and overridable in the
/// configuration.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelParams {
    /// Expected jumps per year (Poisson intensity lambda).
    pub jump_intensity: f64,
    /// Share of the instrument's variance carried by jumps.
    pub jump_share: f64,
    /// Mean of a log jump over its root mean square, in [-1, 1]: negative jumps are crashes.
    pub jump_bias: f64,
    /// Half-life of a volatility shock, in hours of market time.
    pub vol_half_life_hours: f64,
    /// Standard deviation of the log variance around its mean (0: constant volatility).
    pub vol_dispersion: f64,
}

impl ModelParams {
    pub fn validate(&self) -> Result<(), String> {
        if !(self.jump_intensity >= 0.0 && self.jump_intensity <= 10_000.0) {
            return Err("jump_intensity must be in [0, 10000] per year".into());
        }
        if !(0.0..=0.5).contains(&self.jump_share) {
            return Err("jump_share must be in [0, 0.5]".into());
        }
        if !(-1.0..=1.0).contains(&self.jump_bias) {
            return Err("jump_bias must be in [-1, 1]".into());
        }
        if !(self.vol_half_life_hours >= 0.01 && self.vol_half_life_hours <= 24.0 * 365.0) {
            return Err("vol_half_life_hours must be in [0.01, 8760]".into());
        }
        if !(0.0..=2.0).contains(&self.vol_dispersion) {
            return Err("vol_dispersion must be in [0, 2]".into());
        }
        Ok(())
    }

    /// A stock's defaults, for tests.
    #[cfg(test)]
    pub(crate) fn example() -> Self {
        ModelParams {
            jump_intensity: 4.0,
            jump_share: 0.1,
            jump_bias: -0.3,
            vol_half_life_hours: 3.0,
            vol_dispersion: 0.9,
        }
    }

    /// Mean reversion rate of the log variance, per year.
    pub fn kappa(&self) -> f64 {
        std::f64::consts::LN_2 / (self.vol_half_life_hours / HOURS_PER_YEAR)
    }
}

/// What one step produced.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Step {
    /// The new price, rounded to the tick size.
    pub price: f64,
    /// The log return of the unrounded price.
    pub log_return: f64,
    /// How many jumps arrived in this step.
    pub jumps: u32,
    /// The standard normal draw of the instrument's own noise, for volume modelling.
    pub shock: f64,
}

/// Moves that come from outside the instrument in one step.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Outside {
    /// `sum beta_f dW_f`: the factor move, scaled by the instrument's variance multiplier.
    pub factors: f64,
    /// A log move taken as it is (an index's share of its constituents' moves, a regime).
    pub direct: f64,
    /// A log jump (news), applied through the jump component.
    pub jump: f64,
    /// Multiplier of the variance this step (a regime's nervousness); 1 is none.
    pub variance_factor: f64,
}

/// The evolving state of one instrument's price.
#[derive(Debug, Clone, PartialEq)]
pub struct PriceModel {
    params: ModelParams,
    drift: f64,
    /// Variance of the diffusion, per year, before the multiplier: factors plus own noise.
    diffusion_variance: f64,
    idio_variance: f64,
    /// log of the variance multiplier, and its long-run mean (E[e^x] = 1).
    log_multiplier: f64,
    mean_log_multiplier: f64,
    log_price: f64,
    jump_size: Normal<f64>,
    /// E[e^J - 1], the expected relative size of one jump.
    jump_compensator: f64,
}

impl PriceModel {
    /// A model at `price` whose variance multiplier starts at `start_multiplier` (log), drawn
    /// by the caller from its stationary distribution.
    pub fn new(price: f64, annual_drift: f64, budget: &Budget, params: ModelParams, start_log: f64) -> Self {
        let jump_variance = budget.jump_variance;
        let per_jump = if params.jump_intensity > 0.0 { jump_variance / params.jump_intensity } else { 0.0 };
        let mean = params.jump_bias * per_jump.sqrt();
        let std = (per_jump - mean * mean).max(0.0).sqrt();
        let s2 = params.vol_dispersion * params.vol_dispersion;
        PriceModel {
            params,
            drift: annual_drift,
            diffusion_variance: budget.factor_variance() + budget.idio_variance,
            idio_variance: budget.idio_variance,
            log_multiplier: -s2 / 2.0 + params.vol_dispersion * start_log,
            mean_log_multiplier: -s2 / 2.0,
            log_price: price.max(TICK_SIZE).ln(),
            jump_size: Normal::new(mean, std).expect("finite jump size"),
            jump_compensator: (mean + 0.5 * std * std).exp() - 1.0,
        }
    }

    pub fn price(&self) -> f64 {
        round_to_tick(self.log_price.exp())
    }

    pub fn log_price(&self) -> f64 {
        self.log_price
    }

    /// The current variance multiplier of the diffusion (1 on average).
    pub fn multiplier(&self) -> f64 {
        self.log_multiplier.exp()
    }

    /// Raises the variance by `factor` (news makes markets nervous); it then decays back with
    /// the half-life.
    pub fn excite_volatility(&mut self, factor: f64) {
        self.log_multiplier += factor.max(1.0).ln();
    }

    /// Advances the price by `dt` years of market time.
    pub fn step<R: Rng + ?Sized>(&mut self, dt: f64, outside: Outside, rng: &mut R) -> Step {
        let dt = dt.max(0.0);
        let z: f64 = StandardNormal.sample(rng);
        let p = &self.params;
        let lambda_dt = p.jump_intensity * dt;
        let jumps =
            if lambda_dt > 0.0 { Poisson::new(lambda_dt).map(|d| d.sample(rng) as u32).unwrap_or(0) } else { 0 };
        let jump_total: f64 = (0..jumps).map(|_| self.jump_size.sample(rng)).sum();
        let own = outside.factors + (self.idio_variance * dt).sqrt() * z;
        let v = self.multiplier() * outside.variance_factor.max(0.0);
        let drift = (self.drift - p.jump_intensity * self.jump_compensator - 0.5 * v * self.diffusion_variance) * dt;
        let log_return = drift + v.sqrt() * own + jump_total + outside.jump + outside.direct;

        // Keep the price at or above one tick: a floor, not a reflection.
        self.log_price = (self.log_price + log_return).max(TICK_SIZE.ln());
        if dt > 0.0 && self.diffusion_variance > 0.0 {
            let total_shock = own / (self.diffusion_variance * dt).sqrt();
            let decay = (-p.kappa() * dt).exp();
            let kick = p.vol_dispersion * (2.0 * p.kappa() * dt).sqrt() * (total_shock * total_shock - 1.0)
                / std::f64::consts::SQRT_2;
            self.log_multiplier =
                self.mean_log_multiplier + (self.log_multiplier - self.mean_log_multiplier) * decay + kick;
        }
        Step { price: self.price(), log_return, jumps, shock: z }
    }
}

/// Rounds to the tick size, never below one tick.
///
/// Divides by the whole number of ticks per unit rather than multiplying by 0.01 (which has no
/// exact binary form): `49496.0 / 100.0` is the double nearest 494.96 and prints as `494.96`,
/// while `49496.0 * 0.01` prints as `494.96000000000004`.
pub fn round_to_tick(price: f64) -> f64 {
    ((price * TICKS_PER_UNIT).round() / TICKS_PER_UNIT).max(TICK_SIZE)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::factors::Budget;
    use rand::SeedableRng;

    #[test]
    fn a_rounded_price_prints_as_the_short_decimal_it_is() {
        for cents in [1_u32, 10, 49_496, 50_846, 123_456_789] {
            let price = round_to_tick(f64::from(cents) / 100.0 + 0.001);
            let text = serde_json::to_string(&price).unwrap();
            assert_eq!(text, format!("{}.{:02}", cents / 100, cents % 100).trim_end_matches('0').trim_end_matches('.'));
        }
    }
    use rand_chacha::ChaCha8Rng;

    const HOUR: f64 = 1.0 / (365.0 * 24.0);

    fn stock() -> ModelParams {
        ModelParams::example()
    }

    /// A budget with no factors: own noise and jumps only.
    fn alone(volatility: f64, params: &ModelParams) -> Budget {
        let variance = volatility * volatility;
        Budget {
            loadings: Vec::new(),
            idio_variance: (1.0 - params.jump_share) * variance,
            jump_variance: params.jump_share * variance,
            news_variance: 0.0,
        }
    }

    fn run(model: &mut PriceModel, steps: usize, dt: f64, seed: u64) -> (Vec<f64>, u32) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut jumps = 0;
        let outside = Outside { variance_factor: 1.0, ..Outside::default() };
        let returns = (0..steps)
            .map(|_| {
                let step = model.step(dt, outside, &mut rng);
                jumps += step.jumps;
                step.log_return
            })
            .collect();
        (returns, jumps)
    }

    fn annualised_volatility(returns: &[f64], dt: f64) -> f64 {
        let n = returns.len() as f64;
        let mean = returns.iter().sum::<f64>() / n;
        let var = returns.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / (n - 1.0);
        (var / dt).sqrt()
    }

    fn lag_one_autocorrelation(xs: &[f64]) -> f64 {
        let n = xs.len() as f64;
        let mean = xs.iter().sum::<f64>() / n;
        let var: f64 = xs.iter().map(|x| (x - mean).powi(2)).sum();
        let cov: f64 = xs.windows(2).map(|w| (w[0] - mean) * (w[1] - mean)).sum();
        cov / var
    }

    #[test]
    fn realised_volatility_is_within_ten_percent_of_the_target() {
        for (target, params) in [(0.15, stock()), (0.95, ModelParams { jump_intensity: 12.0, ..stock() })] {
            let mut model = PriceModel::new(100.0, 0.08, &alone(target, &params), params, 0.0);
            // Twenty years of five-minute steps: enough jumps that their variance share is
            // measured too. (Much coarser steps overstate the variance: the multiplier's shocks
            // are meant to be small, as they are between two ticks.)
            let dt = HOUR / 12.0;
            let (returns, _) = run(&mut model, 20 * 365 * 24 * 12, dt, 7);
            let realised = annualised_volatility(&returns, dt);
            assert!((realised / target - 1.0).abs() < 0.10, "target {target}, realised {realised}");
        }
    }

    #[test]
    fn jump_count_matches_the_poisson_intensity() {
        let params = ModelParams { jump_intensity: 50.0, ..stock() };
        let mut model = PriceModel::new(100.0, 0.0, &alone(0.3, &params), params, 0.0);
        let years = 20.0;
        let (_, jumps) = run(&mut model, (years / HOUR) as usize, HOUR, 11);
        let expected = 50.0 * years;
        // Four standard deviations of a Poisson count.
        assert!((jumps as f64 - expected).abs() < 4.0 * expected.sqrt(), "{jumps} jumps, expected {expected}");
    }

    #[test]
    fn volatility_clusters_over_hours_of_small_ticks_and_not_without_dispersion() {
        // Ticks of 2.5 seconds, absolute returns summed per hour: clustering must survive the
        // aggregation, which a per-tick GARCH does not.
        let per_hour = 1_440;
        let dt = HOUR / per_hour as f64;
        let hourly_abs = |dispersion: f64| {
            let params = ModelParams { jump_intensity: 0.0, vol_dispersion: dispersion, ..stock() };
            let mut model = PriceModel::new(100.0, 0.0, &alone(0.2, &params), params, 0.0);
            let (returns, _) = run(&mut model, per_hour * 2_000, dt, 3);
            returns.chunks(per_hour).map(|c| c.iter().sum::<f64>().abs()).collect::<Vec<f64>>()
        };
        let clustered = lag_one_autocorrelation(&hourly_abs(0.9));
        let plain = lag_one_autocorrelation(&hourly_abs(0.0));
        assert!(clustered > 0.1, "autocorrelation of hourly absolute returns {clustered}");
        assert!(plain.abs() < 0.06, "without dispersion {plain}");
    }

    #[test]
    fn news_excitement_decays_with_the_half_life() {
        let params = ModelParams { vol_dispersion: 0.0, ..stock() };
        let mut model = PriceModel::new(100.0, 0.0, &alone(0.2, &params), params, 0.0);
        model.excite_volatility(4.0);
        assert!((model.multiplier() - 4.0).abs() < 1e-9);
        run(&mut model, 3 * 60, HOUR / 60.0, 1);
        // Three hours is one half-life of the log multiplier: 4 becomes 2.
        assert!((model.multiplier() - 2.0).abs() < 0.01, "{}", model.multiplier());
    }

    #[test]
    fn identical_seeds_give_identical_paths_and_different_seeds_do_not() {
        let path = |seed| {
            let mut model = PriceModel::new(192.5, 0.08, &alone(0.15, &stock()), stock(), 0.0);
            run(&mut model, 1_000, HOUR, seed).0
        };
        assert_eq!(path(42), path(42));
        assert_ne!(path(42), path(43));
    }

    #[test]
    fn prices_stay_positive_and_on_the_tick_grid() {
        let params = ModelParams { jump_intensity: 500.0, jump_share: 0.5, jump_bias: -0.9, ..stock() };
        let mut model = PriceModel::new(0.05, -1.0, &alone(2.0, &params), params, 0.0);
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let outside = Outside { direct: -0.3, variance_factor: 1.0, ..Outside::default() };
        for _ in 0..10_000 {
            let price = model.step(HOUR * 24.0, outside, &mut rng).price;
            assert!(price >= TICK_SIZE);
            assert_eq!(price.to_string().parse::<f64>().unwrap(), price);
            assert!(price.to_string().split('.').nth(1).is_none_or(|cents| cents.len() <= 2), "{price}");
        }
    }

    #[test]
    fn drift_compensation_keeps_the_expected_growth_at_mu() {
        // Mean of e^r over many steps approaches e^(mu dt) when the jumps are compensated.
        let params =
            ModelParams { jump_intensity: 20.0, jump_share: 0.4, jump_bias: -0.7, vol_dispersion: 0.0, ..stock() };
        let mut model = PriceModel::new(100.0, 0.1, &alone(0.3, &params), params, 0.0);
        let dt = HOUR * 24.0;
        let (returns, _) = run(&mut model, 400_000, dt, 9);
        let mean_growth = returns.iter().map(|r| r.exp()).sum::<f64>() / returns.len() as f64;
        let expected = (0.1 * dt).exp();
        assert!((mean_growth - expected).abs() < 3e-4, "{mean_growth} vs {expected}");
    }
}
