//! The price model of one instrument: geometric Brownian motion with Merton jumps and GARCH(1,1)
//! volatility clustering.
//!
//! Per step of `dt` years the log price moves by
//!
//! ```text
//! r = (mu - lambda*k - h/2) dt  +  sqrt(h dt) z  +  sum of N jumps J_i  +  news shock
//! N ~ Poisson(lambda dt),  J_i ~ Normal(jump_mean, jump_std),  k = E[e^J - 1]
//! ```
//!
//! where `h` is the annualised variance of the diffusion, updated after each step by
//!
//! ```text
//! h' = omega + alpha * (e^2 / dt) + beta * h,   e = sqrt(h dt) z
//! ```
//!
//! Subtracting `lambda*k` compensates the drift for the jumps, so the expected growth is `mu`.
//! The instrument's `annual_volatility` is the *total* volatility a student measures: the
//! jumps contribute `lambda * E[J^2]` of variance and the GARCH long-run level `omega / (1 -
//! alpha - beta)` is set to the rest, so the realised volatility matches the target.

use rand::Rng;
use rand_distr::{Distribution, Normal, Poisson, StandardNormal};
use serde::{Deserialize, Serialize};

/// Price steps per currency unit: every published price is a whole number of cents (paise,
/// pence).
pub const TICKS_PER_UNIT: f64 = 100.0;
/// The smallest price step: every published price is a multiple of it.
pub const TICK_SIZE: f64 = 1.0 / TICKS_PER_UNIT;

/// The diffusion keeps at least this share of the target variance, however jumpy the
/// configuration, so a price never moves by jumps alone.
const MIN_DIFFUSION_SHARE: f64 = 0.25;

/// Jump and GARCH settings, chosen per instrument type and overridable in the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelParams {
    /// Expected jumps per year (Poisson intensity lambda).
    pub jump_intensity: f64,
    /// Mean of the log jump size.
    pub jump_mean: f64,
    /// Standard deviation of the log jump size.
    pub jump_std: f64,
    /// GARCH reaction to the last shock.
    pub garch_alpha: f64,
    /// GARCH persistence of the last variance.
    pub garch_beta: f64,
}

impl ModelParams {
    pub fn validate(&self) -> Result<(), String> {
        if !(self.jump_intensity >= 0.0 && self.jump_intensity <= 10_000.0) {
            return Err("jump_intensity must be in [0, 10000] per year".into());
        }
        if !(self.jump_std >= 0.0 && self.jump_std < 1.0 && self.jump_mean.abs() < 1.0) {
            return Err("jump_mean and jump_std must be below 1 in size".into());
        }
        if !(self.garch_alpha >= 0.0 && self.garch_beta >= 0.0 && self.garch_alpha + self.garch_beta < 1.0) {
            return Err("garch_alpha and garch_beta must be non-negative with a sum below 1".into());
        }
        Ok(())
    }

    /// E[J^2]: the variance one jump adds, per jump.
    fn jump_second_moment(&self) -> f64 {
        self.jump_mean * self.jump_mean + self.jump_std * self.jump_std
    }

    /// k = E[e^J - 1], the expected relative size of one jump.
    fn jump_compensator(&self) -> f64 {
        (self.jump_mean + 0.5 * self.jump_std * self.jump_std).exp() - 1.0
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
    /// The standard normal draw of the diffusion, for volume modelling.
    pub shock: f64,
}

/// The evolving state of one instrument's price.
#[derive(Debug, Clone, PartialEq)]
pub struct PriceModel {
    params: ModelParams,
    drift: f64,
    /// GARCH long-run annualised variance of the diffusion.
    long_run_variance: f64,
    /// Current annualised variance of the diffusion.
    variance: f64,
    log_price: f64,
    jump_size: Normal<f64>,
}

impl PriceModel {
    /// A model at `price` whose variance starts at its long-run level.
    pub fn new(price: f64, annual_volatility: f64, annual_drift: f64, params: ModelParams) -> Self {
        let target = annual_volatility * annual_volatility;
        let jump_variance = params.jump_intensity * params.jump_second_moment();
        let long_run_variance = (target - jump_variance).max(MIN_DIFFUSION_SHARE * target);
        PriceModel {
            params,
            drift: annual_drift,
            long_run_variance,
            variance: long_run_variance,
            log_price: price.max(TICK_SIZE).ln(),
            jump_size: Normal::new(params.jump_mean, params.jump_std).expect("validated jump_std"),
        }
    }

    pub fn price(&self) -> f64 {
        round_to_tick(self.log_price.exp())
    }

    /// Current annualised volatility of the diffusion.
    pub fn volatility(&self) -> f64 {
        self.variance.sqrt()
    }

    pub fn long_run_volatility(&self) -> f64 {
        self.long_run_variance.sqrt()
    }

    /// Raises the current variance by `factor` (news makes markets nervous); GARCH then lets
    /// it decay back to the long-run level.
    pub fn excite_volatility(&mut self, factor: f64) {
        self.variance *= factor.max(1.0);
    }

    /// Advances the price by `dt` years. `extra_jump` is an external log-price shock (news)
    /// applied through the jump component.
    pub fn step<R: Rng + ?Sized>(&mut self, dt: f64, extra_jump: f64, rng: &mut R) -> Step {
        let dt = dt.max(0.0);
        let z: f64 = StandardNormal.sample(rng);
        let p = &self.params;
        let lambda_dt = p.jump_intensity * dt;
        let jumps =
            if lambda_dt > 0.0 { Poisson::new(lambda_dt).map(|d| d.sample(rng) as u32).unwrap_or(0) } else { 0 };
        let jump_total: f64 = (0..jumps).map(|_| self.jump_size.sample(rng)).sum();
        let diffusion = (self.variance * dt).sqrt() * z;
        let drift = (self.drift - p.jump_intensity * p.jump_compensator() - 0.5 * self.variance) * dt;
        let log_return = drift + diffusion + jump_total + extra_jump;

        // Keep the price at or above one tick: a floor, not a reflection.
        self.log_price = (self.log_price + log_return).max(TICK_SIZE.ln());
        if dt > 0.0 {
            let omega = self.long_run_variance * (1.0 - p.garch_alpha - p.garch_beta);
            self.variance = omega + p.garch_alpha * diffusion * diffusion / dt + p.garch_beta * self.variance;
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
        ModelParams { jump_intensity: 4.0, jump_mean: -0.01, jump_std: 0.03, garch_alpha: 0.06, garch_beta: 0.92 }
    }

    fn run(model: &mut PriceModel, steps: usize, dt: f64, seed: u64) -> (Vec<f64>, u32) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut jumps = 0;
        let returns = (0..steps)
            .map(|_| {
                let step = model.step(dt, 0.0, &mut rng);
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
        for (target, params) in
            [(0.15, stock()), (0.95, ModelParams { jump_intensity: 12.0, jump_std: 0.05, ..stock() })]
        {
            let mut model = PriceModel::new(100.0, target, 0.08, params);
            // Forty years of hourly steps: enough jumps that their variance share is measured too.
            let (returns, _) = run(&mut model, 350_400, HOUR, 7);
            let realised = annualised_volatility(&returns, HOUR);
            assert!((realised / target - 1.0).abs() < 0.10, "target {target}, realised {realised}");
        }
    }

    #[test]
    fn jump_count_matches_the_poisson_intensity() {
        let params = ModelParams { jump_intensity: 50.0, ..stock() };
        let mut model = PriceModel::new(100.0, 0.3, 0.0, params);
        let years = 20.0;
        let (_, jumps) = run(&mut model, (years / HOUR) as usize, HOUR, 11);
        let expected = 50.0 * years;
        // Four standard deviations of a Poisson count.
        assert!((jumps as f64 - expected).abs() < 4.0 * expected.sqrt(), "{jumps} jumps, expected {expected}");
    }

    #[test]
    fn garch_makes_squared_returns_autocorrelated_and_plain_gbm_does_not() {
        let no_jumps = ModelParams { jump_intensity: 0.0, ..stock() };
        let mut clustered =
            PriceModel::new(100.0, 0.2, 0.0, ModelParams { garch_alpha: 0.1, garch_beta: 0.85, ..no_jumps });
        let (returns, _) = run(&mut clustered, 200_000, HOUR, 3);
        let squares: Vec<f64> = returns.iter().map(|r| r * r).collect();
        let with_garch = lag_one_autocorrelation(&squares);

        let mut plain = PriceModel::new(100.0, 0.2, 0.0, ModelParams { garch_alpha: 0.0, garch_beta: 0.0, ..no_jumps });
        let (returns, _) = run(&mut plain, 200_000, HOUR, 3);
        let squares: Vec<f64> = returns.iter().map(|r| r * r).collect();
        let without = lag_one_autocorrelation(&squares);

        assert!(with_garch > 0.05, "autocorrelation with GARCH {with_garch}");
        assert!(without.abs() < 0.02, "autocorrelation without GARCH {without}");
    }

    #[test]
    fn identical_seeds_give_identical_paths_and_different_seeds_do_not() {
        let path = |seed| {
            let mut model = PriceModel::new(192.5, 0.15, 0.08, stock());
            run(&mut model, 1_000, HOUR, seed).0
        };
        assert_eq!(path(42), path(42));
        assert_ne!(path(42), path(43));
    }

    #[test]
    fn prices_stay_positive_and_on_the_tick_grid() {
        let params = ModelParams { jump_intensity: 500.0, jump_mean: -0.5, jump_std: 0.3, ..stock() };
        let mut model = PriceModel::new(0.05, 2.0, -1.0, params);
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        for _ in 0..10_000 {
            let price = model.step(HOUR * 24.0, 0.0, &mut rng).price;
            assert!(price >= TICK_SIZE);
            assert_eq!(price.to_string().parse::<f64>().unwrap(), price);
            assert!(price.to_string().split('.').nth(1).is_none_or(|cents| cents.len() <= 2), "{price}");
        }
    }

    #[test]
    fn drift_compensation_keeps_the_expected_growth_at_mu() {
        // Mean of e^r over many steps approaches e^(mu dt) when the jumps are compensated.
        let params =
            ModelParams { jump_intensity: 20.0, jump_mean: -0.05, jump_std: 0.05, garch_alpha: 0.0, garch_beta: 0.0 };
        let mut model = PriceModel::new(100.0, 0.3, 0.1, params);
        let dt = HOUR * 24.0;
        let (returns, _) = run(&mut model, 400_000, dt, 9);
        let mean_growth = returns.iter().map(|r| r.exp()).sum::<f64>() / returns.len() as f64;
        let expected = (0.1 * dt).exp();
        assert!((mean_growth - expected).abs() < 3e-4, "{mean_growth} vs {expected}");
    }
}
