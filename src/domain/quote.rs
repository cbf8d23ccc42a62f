//! The live quote of one instrument: a trading-day snapshot kept current tick by tick.
//!
//! The simulated markets trade around the clock; a trading day is a UTC calendar day. At the
//! first tick of a new day the last price becomes the previous close and the day's open, high,
//! low and volume start afresh.

use super::instrument::{Instrument, InstrumentType};
use super::model::{TICK_SIZE, TICKS_PER_UNIT};
use super::time::Timestamp;
use serde::Serialize;

/// What storage knows about an instrument when the engine starts or resumes.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StoredDay {
    pub last_price: f64,
    pub last_time: Timestamp,
    /// Today's (the last tick's day's) open, high, low and volume.
    pub open: f64,
    pub high: f64,
    pub low: f64,
    pub volume: u64,
    /// The close of the last day before the last tick's day, if any.
    pub previous_close: Option<f64>,
    /// The high and low of each earlier day of the last 52 weeks, oldest first.
    pub past_year: Vec<DayRange>,
    /// Mean volume of the stored complete days, if any.
    pub average_volume: Option<f64>,
}

/// One day's trading range, for the sliding 52-week range.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DayRange {
    /// Days since the Unix epoch (UTC).
    pub day: i64,
    pub high: f64,
    pub low: f64,
}

/// Days in the 52-week range, today included.
pub const YEAR_RANGE_DAYS: i64 = 52 * 7;

/// Valuation figures for a stock (or supply for a coin), fixed per instrument and scaled by
/// the live price, so ratios move with the market as they would.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Valuation {
    units_outstanding: Option<f64>,
    earnings_per_unit: Option<f64>,
    book_per_unit: Option<f64>,
    dividend_per_unit: Option<f64>,
    expected_daily_volume: f64,
}

impl Valuation {
    /// Plausible figures derived from the instrument's base price and a hash of its symbol, so
    /// they are stable from run to run without a data feed.
    pub fn for_instrument(instrument: &Instrument) -> Self {
        let h = stable_hash(&instrument.symbol);
        // Spread the figures out with independent slices of the hash, each in [0, 1).
        let u = |shift: u32| ((h >> shift) & 0xffff) as f64 / 65_536.0;
        let price = instrument.base_price;
        let turnover = match instrument.currency {
            super::instrument::Currency::Inr => 2.0e10,
            super::instrument::Currency::Usd => 1.0e10,
            super::instrument::Currency::Gbp => 3.0e8,
        };
        let expected_daily_volume = (turnover * (0.5 + 1.5 * u(0)) / price).max(1_000.0);
        match instrument.kind {
            InstrumentType::Stock | InstrumentType::Etf => {
                let market_cap = turnover * (20.0 + 180.0 * u(16));
                let pe = 10.0 + 35.0 * u(32);
                let pb = 1.0 + 9.0 * u(48);
                Valuation {
                    units_outstanding: Some(market_cap / price),
                    earnings_per_unit: Some(price / pe),
                    book_per_unit: Some(price / pb),
                    dividend_per_unit: Some(price * 0.04 * u(8)),
                    expected_daily_volume,
                }
            }
            InstrumentType::Crypto => Valuation {
                units_outstanding: Some(8.0e11 * (0.1 + u(16)) / price),
                earnings_per_unit: None,
                book_per_unit: None,
                dividend_per_unit: None,
                expected_daily_volume,
            },
            _ => Valuation {
                units_outstanding: None,
                earnings_per_unit: None,
                book_per_unit: None,
                dividend_per_unit: None,
                expected_daily_volume,
            },
        }
    }

    pub fn expected_daily_volume(&self) -> f64 {
        self.expected_daily_volume
    }
}

/// Rounds to two decimals, for figures shown to people.
fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// FNV-1a: a hash that never changes between builds, unlike `std`'s.
pub fn stable_hash(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// The wire shape of `GET /api/v1/market/quote/{symbol}`.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MarketSnapshot {
    pub symbol: String,
    pub name: String,
    pub price: f64,
    pub open: f64,
    pub high: f64,
    pub low: f64,
    pub previous_close: f64,
    pub change: f64,
    pub change_percent: f64,
    pub volume: u64,
    pub timestamp: Timestamp,
    pub fifty_two_week_high: f64,
    pub fifty_two_week_low: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub market_cap: Option<f64>,
    pub avg_volume: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pe_ratio: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pb_ratio: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub roe: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub div_yield: Option<f64>,
}

/// The wire shape of one tick on the live stream.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TickFrame<'a> {
    pub symbol: &'a str,
    pub timestamp: Timestamp,
    pub price: f64,
    pub bid: f64,
    pub ask: f64,
    pub volume: u64,
    pub change: f64,
    pub change_percent: f64,
}

/// Half the quoted bid-ask spread, as a share of the price (two basis points a side).
const HALF_SPREAD: f64 = 0.0002;

/// The running trading-day statistics of one instrument.
#[derive(Debug, Clone, PartialEq)]
pub struct DayQuote {
    symbol: String,
    name: String,
    valuation: Valuation,
    day: i64,
    price: f64,
    time: Timestamp,
    open: f64,
    high: f64,
    low: f64,
    previous_close: f64,
    volume: u64,
    /// Earlier days inside the 52-week window, oldest first; today is `high`/`low`.
    past_year: std::collections::VecDeque<DayRange>,
    year_high: f64,
    year_low: f64,
    average_volume: f64,
}

impl DayQuote {
    pub fn resume(instrument: &Instrument, stored: &StoredDay) -> Self {
        let valuation = Valuation::for_instrument(instrument);
        let mut quote = DayQuote {
            symbol: instrument.symbol.clone(),
            name: instrument.name.clone(),
            day: stored.last_time.day_number(),
            price: stored.last_price,
            time: stored.last_time,
            open: stored.open,
            high: stored.high,
            low: stored.low,
            previous_close: stored.previous_close.unwrap_or(stored.open),
            volume: stored.volume,
            past_year: stored.past_year.iter().copied().collect(),
            year_high: stored.last_price,
            year_low: stored.last_price,
            average_volume: stored.average_volume.unwrap_or(valuation.expected_daily_volume).round(),
            valuation,
        };
        quote.slide_year_range();
        quote
    }

    /// Drops the days that left the 52-week window and recomputes its range (once a day, over
    /// at most a year of days).
    fn slide_year_range(&mut self) {
        while self.past_year.front().is_some_and(|d| d.day <= self.day - YEAR_RANGE_DAYS) {
            self.past_year.pop_front();
        }
        let (high, low) = self
            .past_year
            .iter()
            .fold((self.high.max(self.price), self.low.min(self.price)), |(h, l), d| (h.max(d.high), l.min(d.low)));
        (self.year_high, self.year_low) = (high, low);
    }

    pub fn price(&self) -> f64 {
        self.price
    }

    pub fn time(&self) -> Timestamp {
        self.time
    }

    pub fn change(&self) -> f64 {
        round2(self.price - self.previous_close)
    }

    pub fn change_percent(&self) -> f64 {
        if self.previous_close > 0.0 { round2((self.price / self.previous_close - 1.0) * 100.0) } else { 0.0 }
    }

    /// Applies one trade; the first trade of a new UTC day opens the day.
    pub fn apply(&mut self, time: Timestamp, price: f64, volume: u64) {
        let day = time.day_number();
        if day != self.day {
            self.past_year.push_back(DayRange { day: self.day, high: self.high, low: self.low });
            self.previous_close = self.price;
            self.open = price;
            self.high = price;
            self.low = price;
            self.volume = 0;
            self.day = day;
            self.slide_year_range();
        }
        self.high = self.high.max(price);
        self.low = self.low.min(price);
        self.year_high = self.year_high.max(price);
        self.year_low = self.year_low.min(price);
        self.volume += volume;
        self.price = price;
        self.time = time;
    }

    /// The live-stream frame for the last trade: bid and ask straddle the price by a spread of
    /// at least one tick a side.
    pub fn tick_frame(&self) -> TickFrame<'_> {
        let half = (self.price * HALF_SPREAD * TICKS_PER_UNIT).round().max(1.0) / TICKS_PER_UNIT;
        TickFrame {
            symbol: &self.symbol,
            timestamp: self.time,
            price: self.price,
            bid: round2((self.price - half).max(TICK_SIZE)),
            ask: round2(self.price + half),
            volume: self.volume,
            change: self.change(),
            change_percent: self.change_percent(),
        }
    }

    pub fn snapshot(&self) -> MarketSnapshot {
        let v = &self.valuation;
        MarketSnapshot {
            symbol: self.symbol.clone(),
            name: self.name.clone(),
            price: self.price,
            open: self.open,
            high: self.high,
            low: self.low,
            previous_close: self.previous_close,
            change: self.change(),
            change_percent: self.change_percent(),
            volume: self.volume,
            timestamp: self.time,
            fifty_two_week_high: self.year_high,
            fifty_two_week_low: self.year_low,
            market_cap: v.units_outstanding.map(|n| (n * self.price).round()),
            avg_volume: self.average_volume,
            pe_ratio: v.earnings_per_unit.map(|e| round2(self.price / e)),
            pb_ratio: v.book_per_unit.map(|b| round2(self.price / b)),
            roe: v.earnings_per_unit.zip(v.book_per_unit).map(|(e, b)| round2(e / b * 100.0)),
            div_yield: v.dividend_per_unit.map(|d| round2(d / self.price * 100.0)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::instrument::default_universe;
    use crate::domain::time::MICROS_PER_DAY;

    fn aapl_at(price: f64, time: Timestamp) -> DayQuote {
        let aapl = default_universe().into_iter().find(|i| i.symbol == "AAPL").unwrap();
        let stored = StoredDay {
            last_price: price,
            last_time: time,
            open: 190.0,
            high: 195.0,
            low: 189.0,
            volume: 1_000,
            previous_close: Some(188.0),
            past_year: vec![
                DayRange { day: time.day_number() - 363, high: 200.0, low: 170.0 },
                DayRange { day: time.day_number() - 353, high: 197.0, low: 150.0 },
            ],
            average_volume: Some(5e6),
        };
        DayQuote::resume(&aapl, &stored)
    }

    #[test]
    fn a_trade_on_the_same_day_extends_the_day() {
        let noon = Timestamp(20_000 * MICROS_PER_DAY + MICROS_PER_DAY / 2);
        let mut quote = aapl_at(192.0, noon);
        quote.apply(noon.plus_micros(1), 196.5, 10);
        let s = quote.snapshot();
        assert_eq!((s.open, s.high, s.low, s.volume), (190.0, 196.5, 189.0, 1_010));
        assert_eq!(s.previous_close, 188.0);
        assert_eq!(s.change, 8.5);
        assert_eq!(s.change_percent, 4.52);
    }

    #[test]
    fn the_first_trade_of_a_new_day_rolls_the_close_over() {
        let late = Timestamp(20_001 * MICROS_PER_DAY - 1);
        let mut quote = aapl_at(192.0, late);
        quote.apply(late.plus_micros(2), 193.0, 7);
        let s = quote.snapshot();
        assert_eq!(s.previous_close, 192.0);
        assert_eq!((s.open, s.high, s.low, s.volume), (193.0, 193.0, 193.0, 7));
        assert_eq!(s.change, 1.0);
    }

    #[test]
    fn the_52_week_range_slides_as_days_pass() {
        let noon = Timestamp(20_000 * MICROS_PER_DAY + MICROS_PER_DAY / 2);
        let mut quote = aapl_at(192.0, noon);
        let s = quote.snapshot();
        assert_eq!((s.fifty_two_week_high, s.fifty_two_week_low), (200.0, 150.0));
        // The next day, the day with the high of 200 is 364 days old: out of the window.
        quote.apply(noon.plus_micros(MICROS_PER_DAY), 191.0, 1);
        let s = quote.snapshot();
        assert_eq!((s.fifty_two_week_high, s.fifty_two_week_low), (197.0, 150.0));
        // Ten days on, the day with the low of 150 has left too.
        quote.apply(noon.plus_micros(11 * MICROS_PER_DAY), 191.5, 1);
        let s = quote.snapshot();
        assert_eq!((s.fifty_two_week_high, s.fifty_two_week_low), (195.0, 189.0));
    }

    #[test]
    fn bid_and_ask_straddle_the_price_by_at_least_a_tick() {
        let quote = aapl_at(192.0, Timestamp(0));
        let frame = quote.tick_frame();
        assert!(frame.bid < frame.price && frame.price < frame.ask);
        assert!((frame.ask - frame.bid - 0.08).abs() < 1e-9, "{frame:?}");
        let penny = aapl_at(0.01, Timestamp(0));
        assert_eq!((penny.tick_frame().bid, penny.tick_frame().ask), (0.01, 0.02));
    }

    #[test]
    fn stocks_have_valuation_fields_and_indices_do_not() {
        let list = default_universe();
        let stock = Valuation::for_instrument(list.iter().find(|i| i.symbol == "TCS").unwrap());
        let index = Valuation::for_instrument(list.iter().find(|i| i.symbol == "NIFTY 50").unwrap());
        assert!(stock.earnings_per_unit.is_some() && stock.units_outstanding.is_some());
        assert!(index.earnings_per_unit.is_none() && index.units_outstanding.is_none());
        assert!(index.expected_daily_volume > 0.0);
    }
}
