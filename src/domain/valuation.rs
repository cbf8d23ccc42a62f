//! What an account is worth in one reporting currency, and the risk measures of a value series:
//! return, maximum drawdown, annualised volatility and the Sharpe ratio.
//!
//! Values are exact (`Decimal`, rounded to the cent once, at the end); the measures are
//! statistics of a series and are plain `f64`.

use super::account::{Account, round_cents};
use super::instrument::Currency;
use super::time::{SECONDS_PER_YEAR, Timestamp};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use std::collections::BTreeMap;

/// Fixed exchange rates: how many units of each currency one unit of a base buys (any base;
/// only the ratios matter), and the currency values are reported in.
#[derive(Debug, Clone, PartialEq)]
pub struct Fx {
    pub reporting: Currency,
    per_base: BTreeMap<Currency, Decimal>,
}

impl Fx {
    /// Rates for every currency, each positive.
    pub fn new(reporting: Currency, per_base: BTreeMap<Currency, Decimal>) -> Result<Self, String> {
        for currency in Currency::ALL {
            match per_base.get(&currency) {
                Some(rate) if *rate > Decimal::ZERO => {}
                _ => return Err(format!("a positive rate for {} is needed", currency.code())),
            }
        }
        Ok(Fx { reporting, per_base })
    }

    /// `amount` of `currency` in the reporting currency, unrounded.
    pub fn convert(&self, amount: Decimal, currency: Currency) -> Decimal {
        if currency == self.reporting {
            return amount;
        }
        amount * self.per_base[&self.reporting] / self.per_base[&currency]
    }

    pub fn rates(&self) -> &BTreeMap<Currency, Decimal> {
        &self.per_base
    }
}

/// An account's parts in the reporting currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Value {
    pub cash: Decimal,
    pub positions: Decimal,
}

impl Value {
    pub fn total(&self) -> Decimal {
        self.cash + self.positions
    }
}

/// Values an account: every balance (held amounts are still the student's) plus every position
/// at `price`, which gives a symbol's last price and currency (a symbol without one counts at
/// its cost).
pub fn value_of(account: &Account, fx: &Fx, price: impl Fn(&str) -> Option<(Decimal, Currency)>) -> Value {
    let cash: Decimal = account.cash.iter().map(|(c, amount)| fx.convert(*amount, *c)).sum();
    let positions: Decimal = account
        .positions
        .iter()
        .map(|(symbol, p)| match price(symbol) {
            Some((last, currency)) => fx.convert(last * p.quantity, currency),
            None => p.cost_basis,
        })
        .sum();
    Value { cash: round_cents(cash), positions: round_cents(positions) }
}

/// The value a student opened with, in the reporting currency.
pub fn opening_value(starting_cash: &BTreeMap<Currency, Decimal>, fx: &Fx) -> Decimal {
    round_cents(starting_cash.iter().map(|(c, amount)| fx.convert(*amount, *c)).sum())
}

/// Risk measures of a value series, kept up to date one point at a time (so thousands of
/// students' measures cost nothing to read). Returns are simple returns between consecutive
/// points; volatility and Sharpe are annualised by the series' own calendar span, with a
/// risk-free rate of zero.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Track {
    pub first: Option<(Timestamp, f64)>,
    pub last: Option<(Timestamp, f64)>,
    pub peak: f64,
    /// The deepest fall from a peak so far, as a fraction (0.25 = 25%).
    pub max_drawdown: f64,
    returns: u64,
    mean: f64,
    m2: f64,
}

/// The measures as shown.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Measures {
    /// Percent of the opening value.
    pub return_percent: f64,
    pub max_drawdown_percent: f64,
    /// `None` until there are enough points to say (two returns).
    pub volatility_percent: Option<f64>,
    pub sharpe: Option<f64>,
}

impl Track {
    /// Adds a point; points must come in time order (older ones are ignored).
    pub fn push(&mut self, at: Timestamp, value: f64) {
        if let Some((last_at, last)) = self.last {
            if at <= last_at {
                return;
            }
            if last > 0.0 {
                let r = value / last - 1.0;
                self.returns += 1;
                let delta = r - self.mean;
                self.mean += delta / self.returns as f64;
                self.m2 += delta * (r - self.mean);
            }
        } else {
            self.first = Some((at, value));
        }
        self.last = Some((at, value));
        self.peak = self.peak.max(value);
        if self.peak > 0.0 {
            self.max_drawdown = self.max_drawdown.max(1.0 - value / self.peak);
        }
    }

    /// The measures with `opening` as the base of the return and `now` (the live value) as
    /// the latest point, which counts toward return and drawdown but not volatility.
    pub fn measures(&self, opening: f64, now: f64) -> Measures {
        let return_percent = if opening > 0.0 { (now / opening - 1.0) * 100.0 } else { 0.0 };
        let peak = self.peak.max(now).max(opening);
        let drawdown = if peak > 0.0 { self.max_drawdown.max(1.0 - now / peak) } else { 0.0 };
        let (mut volatility_percent, mut sharpe) = (None, None);
        if let (Some((start, _)), Some((end, _))) = (self.first, self.last)
            && self.returns >= 2
            && end > start
        {
            let years = (end.0 - start.0) as f64 / 1e6 / SECONDS_PER_YEAR;
            let per_year = self.returns as f64 / years;
            let sd = (self.m2 / (self.returns - 1) as f64).sqrt();
            volatility_percent = Some(sd * per_year.sqrt() * 100.0);
            sharpe = (sd > 0.0).then(|| self.mean / sd * per_year.sqrt());
        }
        Measures { return_percent, max_drawdown_percent: drawdown * 100.0, volatility_percent, sharpe }
    }
}

/// A decimal amount as a float for statistics.
pub fn as_f64(amount: Decimal) -> f64 {
    amount.to_f64().unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::account::{Position, Side};
    use rust_decimal_macros::dec;

    fn fx() -> Fx {
        Fx::new(
            Currency::Usd,
            [(Currency::Usd, dec!(1)), (Currency::Inr, dec!(83)), (Currency::Gbp, dec!(0.79))].into(),
        )
        .unwrap()
    }

    #[test]
    fn an_account_is_valued_with_fixed_rates_by_hand() {
        let mut a = Account::opened_with(dec!(10000));
        a.apply("AAPL", Currency::Usd, Side::Buy, dec!(10), dec!(150), Decimal::ZERO).unwrap();
        a.apply("RELIANCE", Currency::Inr, Side::Buy, dec!(2), dec!(2500), Decimal::ZERO).unwrap();
        let price = |s: &str| match s {
            "AAPL" => Some((dec!(160), Currency::Usd)),
            "RELIANCE" => Some((dec!(2600), Currency::Inr)),
            _ => None,
        };
        let value = value_of(&a, &fx(), price);
        // cash: 8500 USD + 5000 INR / 83 + 10000 GBP / 0.79 = 8500 + 60.2409... + 12658.2278...
        assert_eq!(value.cash, dec!(21218.47));
        // positions: 1600 USD + 5200 INR / 83 = 1600 + 62.6506...
        assert_eq!(value.positions, dec!(1662.65));
        assert_eq!(opening_value(&a.cash.keys().map(|c| (*c, dec!(10000))).collect(), &fx()), dec!(22778.71));
        let gbp = Fx::new(Currency::Gbp, fx().rates().clone()).unwrap();
        assert_eq!(round_cents(gbp.convert(dec!(100), Currency::Usd)), dec!(79.00));
    }

    #[test]
    fn a_position_without_a_price_counts_at_its_cost() {
        let mut a = Account::opened_with(dec!(0));
        a.positions.insert("GONE".into(), Position { quantity: dec!(3), cost_basis: dec!(30) });
        assert_eq!(value_of(&a, &fx(), |_| None).positions, dec!(30));
    }

    #[test]
    fn drawdown_return_and_risk_follow_the_series() {
        let mut t = Track::default();
        let day = 86_400_000_000;
        for (i, v) in [100.0, 110.0, 88.0, 99.0, 121.0].into_iter().enumerate() {
            t.push(Timestamp(i as i64 * day), v);
        }
        let m = t.measures(100.0, 121.0);
        assert!((m.return_percent - 21.0).abs() < 1e-9);
        assert!((m.max_drawdown_percent - 20.0).abs() < 1e-9, "110 -> 88");
        // returns 0.1, -0.2, 0.125, 0.2222: mean 0.0618056, sample sd 0.1823257; 4 in 4 days.
        let per_year = 365.0_f64;
        assert!((m.volatility_percent.unwrap() - 0.1823257 * per_year.sqrt() * 100.0).abs() < 0.01);
        assert!((m.sharpe.unwrap() - 0.0618056 / 0.1823257 * per_year.sqrt()).abs() < 0.001);
        let fresh = Track::default().measures(100.0, 95.0);
        assert_eq!((fresh.volatility_percent, fresh.sharpe), (None, None));
        assert!((fresh.max_drawdown_percent - 5.0).abs() < 1e-9, "a live fall below the opening counts");
    }
}
