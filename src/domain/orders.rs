//! Orders that rest until the price comes to them: limit, stop, stop-limit and trailing stop,
//! with their time in force, what they hold back while they wait, and the rule that decides,
//! tick by tick, whether one fills.
//!
//! Names follow Alpaca's paper-trading API (`limit_price`, `stop_price`, `trail_price`,
//! `trail_percent`, `time_in_force`), so students who know one know the other. Orders fill
//! whole or not at all (no partial fills), at the price of the tick that fills them.

use super::account::{CASH_DP, Side, order_value, round_cents};
use super::time::{MICROS_PER_DAY, Timestamp};
use rust_decimal::Decimal;

/// A price above this many times the last is taken for a typo and refused.
pub const TYPO_FACTOR: Decimal = Decimal::ONE_HUNDRED;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OrderType {
    Market,
    Limit,
    Stop,
    StopLimit,
    TrailingStop,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimeInForce {
    /// Until the end of the UTC day it was placed in (the day of the day statistics).
    Day,
    /// Until canceled.
    Gtc,
    /// Fill now or cancel. Without partial fills `ioc` and `fok` behave the same.
    Ioc,
    Fok,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OrderStatus {
    /// Resting: accepted and waiting for its price.
    New,
    Filled,
    Canceled,
    Expired,
    Rejected,
}

macro_rules! names {
    ($ty:ty { $($variant:ident => $name:literal),* $(,)? }) => {
        impl $ty {
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $name),* }
            }
            pub fn parse(text: &str) -> Option<Self> {
                match text { $($name => Some(Self::$variant),)* _ => None }
            }
        }
    };
}

names!(OrderType { Market => "market", Limit => "limit", Stop => "stop", StopLimit => "stop_limit", TrailingStop => "trailing_stop" });
names!(TimeInForce { Day => "day", Gtc => "gtc", Ioc => "ioc", Fok => "fok" });
names!(OrderStatus { New => "new", Filled => "filled", Canceled => "canceled", Expired => "expired", Rejected => "rejected" });

/// How far a trailing stop follows the best price: a fixed amount or a percentage of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Trail {
    Price(Decimal),
    Percent(Decimal),
}

/// What the client asked for, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderSpec {
    pub side: Side,
    pub order_type: OrderType,
    pub time_in_force: TimeInForce,
    pub quantity: Decimal,
    pub limit_price: Option<Decimal>,
    pub stop_price: Option<Decimal>,
    pub trail: Option<Trail>,
}

/// Why an order's terms were refused (before anything was recorded).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TermsError {
    #[error("a {0} order needs {1}")]
    Missing(&'static str, &'static str),
    #[error("a {0} order takes no {1}")]
    Unexpected(&'static str, &'static str),
    #[error("{0} must be positive and on the 0.01 grid, not {1}")]
    OffGrid(&'static str, Decimal),
    #[error("{field} {price} is more than {TYPO_FACTOR} times the last price {last}: refused as a likely typo")]
    Typo { field: &'static str, price: Decimal, last: Decimal },
    #[error("trail_percent must be above 0 and below 100, not {0}")]
    BadPercent(Decimal),
    #[error("give trail_price or trail_percent, not both")]
    BothTrails,
    #[error("time_in_force {0} is for market and limit orders only (fill now or cancel)")]
    ImmediateOnly(&'static str),
    #[error(
        "a replacement needs at least one of quantity, time_in_force, limit_price, stop_price, trail_price, trail_percent"
    )]
    NothingToReplace,
    #[error("the new terms would fill at once at the last price {0}: cancel and place a new order")]
    WouldFill(Decimal),
    #[error("a {side} stop at {stop} would trigger at once: the last price is {last}")]
    StopCrossed { side: &'static str, stop: Decimal, last: Decimal },
}

fn on_grid(field: &'static str, price: Decimal, last: Decimal) -> Result<(), TermsError> {
    if price <= Decimal::ZERO || price.normalize().scale() > CASH_DP {
        return Err(TermsError::OffGrid(field, price));
    }
    if price > last * TYPO_FACTOR {
        return Err(TermsError::Typo { field, price, last });
    }
    Ok(())
}

impl OrderSpec {
    /// Checks that the fields fit the order type and the prices are sane next to `last`.
    pub fn validate(&self, last: Decimal) -> Result<(), TermsError> {
        let kind = self.order_type.as_str();
        let need = |present: bool, field| if present { Ok(()) } else { Err(TermsError::Missing(kind, field)) };
        let refuse = |present: bool, field| if present { Err(TermsError::Unexpected(kind, field)) } else { Ok(()) };
        let (limit, stop, trail) = (self.limit_price.is_some(), self.stop_price.is_some(), self.trail.is_some());
        let checks = match self.order_type {
            OrderType::Market => [refuse(limit, "limit_price"), refuse(stop, "stop_price"), refuse(trail, "trail")],
            OrderType::Limit => [need(limit, "limit_price"), refuse(stop, "stop_price"), refuse(trail, "trail")],
            OrderType::Stop => [refuse(limit, "limit_price"), need(stop, "stop_price"), refuse(trail, "trail")],
            OrderType::StopLimit => [need(limit, "limit_price"), need(stop, "stop_price"), refuse(trail, "trail")],
            OrderType::TrailingStop => {
                [refuse(limit, "limit_price"), refuse(stop, "stop_price"), need(trail, "trail_price or trail_percent")]
            }
        };
        checks.into_iter().collect::<Result<Vec<()>, _>>()?;
        if let Some(p) = self.limit_price {
            on_grid("limit_price", p, last)?;
        }
        if let Some(p) = self.stop_price {
            on_grid("stop_price", p, last)?;
        }
        match self.trail {
            Some(Trail::Price(p)) => on_grid("trail_price", p, last)?,
            Some(Trail::Percent(p)) if p <= Decimal::ZERO || p >= Decimal::ONE_HUNDRED => {
                return Err(TermsError::BadPercent(p));
            }
            _ => {}
        }
        let immediate = matches!(self.time_in_force, TimeInForce::Ioc | TimeInForce::Fok);
        if immediate && !matches!(self.order_type, OrderType::Market | OrderType::Limit) {
            return Err(TermsError::ImmediateOnly(self.time_in_force.as_str()));
        }
        if let Some(stop) = self.stop_price
            && stop_crossed(self.side, stop, last)
        {
            return Err(TermsError::StopCrossed { side: self.side.as_str(), stop, last });
        }
        Ok(())
    }

    /// Whether a limit (or market) order would fill at `last` right now.
    pub fn marketable(&self, last: Decimal) -> bool {
        match (self.order_type, self.limit_price) {
            (OrderType::Market, _) => true,
            (OrderType::Limit, Some(limit)) => limit_reached(self.side, limit, last),
            _ => false,
        }
    }

    /// Whether the order waits for its price rather than filling or canceling at once.
    pub fn rests(&self, last: Decimal) -> bool {
        !self.marketable(last) && matches!(self.time_in_force, TimeInForce::Day | TimeInForce::Gtc)
    }

    /// What a resting order holds back: for a buy, its worst-case cost in cash (the limit price,
    /// or the trigger price raised by `buffer_percent` for stops, whose fill price is not
    /// bounded); for a sell, its quantity.
    pub fn hold(&self, last: Decimal, buffer_percent: Decimal) -> Decimal {
        if self.side == Side::Sell {
            return self.quantity;
        }
        let buffered = |price: Decimal| round_cents(price * (Decimal::ONE + buffer_percent / Decimal::ONE_HUNDRED));
        let worst = match (self.order_type, self.limit_price, self.stop_price, self.trail) {
            (OrderType::Limit | OrderType::StopLimit, Some(limit), _, _) => limit,
            (OrderType::Stop, _, Some(stop), _) => buffered(stop),
            (OrderType::TrailingStop, _, _, Some(trail)) => buffered(trail_stop(Side::Buy, trail, last)),
            _ => buffered(last),
        };
        order_value(worst, self.quantity)
    }

    /// When a resting order placed at `now` expires.
    pub fn expires_at(&self, now: Timestamp) -> Option<Timestamp> {
        (self.time_in_force == TimeInForce::Day).then(|| Timestamp((now.day_number() + 1) * MICROS_PER_DAY))
    }
}

fn limit_reached(side: Side, limit: Decimal, price: Decimal) -> bool {
    match side {
        Side::Buy => price <= limit,
        Side::Sell => price >= limit,
    }
}

/// A buy stop triggers when the price rises to it, a sell stop when it falls to it.
fn stop_crossed(side: Side, stop: Decimal, price: Decimal) -> bool {
    match side {
        Side::Buy => price >= stop,
        Side::Sell => price <= stop,
    }
}

/// The stop a trailing order stands at, `trail` away from the best price `mark` so far.
pub fn trail_stop(side: Side, trail: Trail, mark: Decimal) -> Decimal {
    let distance = match trail {
        Trail::Price(p) => p,
        Trail::Percent(p) => mark * p / Decimal::ONE_HUNDRED,
    };
    round_cents(match side {
        Side::Buy => mark + distance,
        Side::Sell => mark - distance,
    })
}

/// The part of a resting order that changes with the ticks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Progress {
    /// A stop-limit whose stop was crossed: it now rests as a limit order.
    pub triggered: bool,
    /// A trailing stop's best price since placement (highest for a sell, lowest for a buy).
    pub mark: Option<Decimal>,
}

/// What one tick did to a resting order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Nothing changed.
    Wait,
    /// Still resting, but its progress moved (to be recorded).
    Moved,
    /// Fills now, at this price.
    Fill(Decimal),
}

impl OrderSpec {
    /// Applies one tick at `price` to a resting order with `progress`.
    pub fn on_tick(&self, progress: &mut Progress, price: Decimal) -> Step {
        let before = *progress;
        let fill = match self.order_type {
            OrderType::Market => true,
            OrderType::Limit => limit_reached(self.side, self.limit_price.unwrap_or_default(), price),
            OrderType::Stop => stop_crossed(self.side, self.stop_price.unwrap_or_default(), price),
            OrderType::StopLimit => {
                if !progress.triggered && stop_crossed(self.side, self.stop_price.unwrap_or_default(), price) {
                    progress.triggered = true;
                }
                progress.triggered && limit_reached(self.side, self.limit_price.unwrap_or_default(), price)
            }
            OrderType::TrailingStop => {
                let Some(trail) = self.trail else { return Step::Wait };
                let mark = match (self.side, progress.mark) {
                    (_, None) => price,
                    (Side::Sell, Some(m)) => m.max(price),
                    (Side::Buy, Some(m)) => m.min(price),
                };
                progress.mark = Some(mark);
                stop_crossed(self.side, trail_stop(self.side, trail, mark), price)
            }
        };
        if fill {
            Step::Fill(price)
        } else if *progress != before {
            Step::Moved
        } else {
            Step::Wait
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn spec(side: Side, order_type: OrderType) -> OrderSpec {
        OrderSpec {
            side,
            order_type,
            time_in_force: TimeInForce::Gtc,
            quantity: dec!(2),
            limit_price: None,
            stop_price: None,
            trail: None,
        }
    }

    fn run(order: &OrderSpec, prices: &[Decimal]) -> (Option<(usize, Decimal)>, Progress) {
        let mut progress = Progress::default();
        for (n, p) in prices.iter().enumerate() {
            if let Step::Fill(at) = order.on_tick(&mut progress, *p) {
                return (Some((n, at)), progress);
            }
        }
        (None, progress)
    }

    #[test]
    fn a_buy_limit_fills_at_the_first_tick_at_or_below_it_at_that_price() {
        let order = OrderSpec { limit_price: Some(dec!(100)), ..spec(Side::Buy, OrderType::Limit) };
        assert_eq!(run(&order, &[dec!(101), dec!(100.5), dec!(99.5), dec!(98)]).0, Some((2, dec!(99.5))));
        assert_eq!(run(&order, &[dec!(101), dec!(100)]).0, Some((1, dec!(100))));
        let sell = OrderSpec { limit_price: Some(dec!(100)), ..spec(Side::Sell, OrderType::Limit) };
        assert_eq!(run(&sell, &[dec!(99), dec!(100.01)]).0, Some((1, dec!(100.01))));
    }

    #[test]
    fn a_stop_triggers_on_the_tick_that_crosses_it_and_fills_there() {
        let sell = OrderSpec { stop_price: Some(dec!(95)), ..spec(Side::Sell, OrderType::Stop) };
        assert_eq!(run(&sell, &[dec!(99), dec!(96), dec!(94.2)]).0, Some((2, dec!(94.2))));
        let buy = OrderSpec { stop_price: Some(dec!(105)), ..spec(Side::Buy, OrderType::Stop) };
        assert_eq!(run(&buy, &[dec!(104.99), dec!(106)]).0, Some((1, dec!(106))));
    }

    #[test]
    fn a_stop_limit_waits_for_its_limit_once_triggered() {
        let order = OrderSpec {
            stop_price: Some(dec!(95)),
            limit_price: Some(dec!(94)),
            ..spec(Side::Sell, OrderType::StopLimit)
        };
        let mut progress = Progress::default();
        assert_eq!(order.on_tick(&mut progress, dec!(96)), Step::Wait);
        assert_eq!(order.on_tick(&mut progress, dec!(93)), Step::Moved, "triggered, but below the sell limit");
        assert!(progress.triggered);
        assert_eq!(order.on_tick(&mut progress, dec!(93.5)), Step::Wait);
        assert_eq!(order.on_tick(&mut progress, dec!(94.5)), Step::Fill(dec!(94.5)), "still triggered above the stop");
    }

    #[test]
    fn a_trailing_sell_stop_follows_the_high_and_fires_on_the_retreat() {
        let order = OrderSpec { trail: Some(Trail::Price(dec!(2))), ..spec(Side::Sell, OrderType::TrailingStop) };
        let (fill, progress) = run(&order, &[dec!(100), dec!(103), dec!(102), dec!(101.5), dec!(100.99)]);
        assert_eq!(fill, Some((4, dec!(100.99))));
        assert_eq!(progress.mark, Some(dec!(103)));
        let pct = OrderSpec { trail: Some(Trail::Percent(dec!(10))), ..spec(Side::Buy, OrderType::TrailingStop) };
        let (fill, progress) = run(&pct, &[dec!(100), dec!(80), dec!(87.99), dec!(88)]);
        assert_eq!((fill, progress.mark), (Some((3, dec!(88))), Some(dec!(80))));
    }

    #[test]
    fn terms_are_checked_against_the_type_and_the_last_price() {
        let last = dec!(100);
        let limit = |p| OrderSpec { limit_price: Some(p), ..spec(Side::Buy, OrderType::Limit) };
        assert_eq!(limit(dec!(1)).validate(last), Ok(()), "far from the market is allowed");
        assert!(matches!(limit(dec!(10000.01)).validate(last), Err(TermsError::Typo { .. })));
        assert!(matches!(limit(dec!(99.999)).validate(last), Err(TermsError::OffGrid(..))));
        assert!(matches!(limit(dec!(0)).validate(last), Err(TermsError::OffGrid(..))));
        assert!(matches!(spec(Side::Buy, OrderType::Limit).validate(last), Err(TermsError::Missing(..))));
        let stop = OrderSpec { stop_price: Some(dec!(101)), ..spec(Side::Sell, OrderType::Stop) };
        assert!(matches!(stop.validate(last), Err(TermsError::StopCrossed { .. })));
        let ioc_stop = OrderSpec { time_in_force: TimeInForce::Ioc, stop_price: Some(dec!(99)), ..stop };
        assert!(matches!(ioc_stop.validate(last), Err(TermsError::ImmediateOnly("ioc"))));
        let pct = OrderSpec { trail: Some(Trail::Percent(dec!(100))), ..spec(Side::Sell, OrderType::TrailingStop) };
        assert!(matches!(pct.validate(last), Err(TermsError::BadPercent(_))));
    }

    #[test]
    fn a_resting_buy_holds_its_worst_case_cost_and_a_sell_its_quantity() {
        let limit = OrderSpec { limit_price: Some(dec!(99.99)), ..spec(Side::Buy, OrderType::Limit) };
        assert_eq!(limit.hold(dec!(120), dec!(5)), dec!(199.98));
        let stop = OrderSpec { stop_price: Some(dec!(110)), ..spec(Side::Buy, OrderType::Stop) };
        assert_eq!(stop.hold(dec!(100), dec!(5)), dec!(231.00));
        let trail = OrderSpec { trail: Some(Trail::Price(dec!(3))), ..spec(Side::Buy, OrderType::TrailingStop) };
        assert_eq!(trail.hold(dec!(100), dec!(0)), dec!(206));
        assert_eq!(OrderSpec { side: Side::Sell, ..limit }.hold(dec!(1), dec!(5)), dec!(2));
    }

    #[test]
    fn a_day_order_expires_at_the_end_of_its_utc_day() {
        let order = OrderSpec { time_in_force: TimeInForce::Day, ..spec(Side::Buy, OrderType::Limit) };
        let placed = Timestamp::parse_rfc3339("2026-12-01T23:59:59Z").unwrap();
        assert_eq!(order.expires_at(placed), Timestamp::parse_rfc3339("2026-12-02T00:00:00Z"));
        assert_eq!(spec(Side::Buy, OrderType::Limit).expires_at(placed), None);
    }
}
