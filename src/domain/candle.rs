//! Chart timeframes, their UTC bucket boundaries, and OHLC candles as values.
//!
//! Buckets are aligned in UTC: minutes and hours to the epoch, days at 00:00, weeks on Monday,
//! months on the 1st. The storage layer keeps three rollups (1 minute, 1 hour, 1 day); every
//! timeframe is read from the coarsest rollup whose buckets nest inside its own.

use super::time::{MICROS_PER_DAY, MICROS_PER_HOUR, MICROS_PER_MINUTE, Timestamp};
use chrono::{Datelike, NaiveDate};
use serde::Serialize;
use std::str::FromStr;

/// Days from 1970-01-01 (a Thursday) back to the previous Monday.
const EPOCH_WEEKDAY_OFFSET: i64 = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Timeframe {
    M1,
    M5,
    M15,
    H1,
    H4,
    D1,
    W1,
    Mo1,
}

/// The stored rollups every timeframe is read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rollup {
    Minute,
    Hour,
    Day,
}

impl Rollup {
    pub const ALL: [Rollup; 3] = [Rollup::Minute, Rollup::Hour, Rollup::Day];

    pub fn width_micros(self) -> i64 {
        match self {
            Rollup::Minute => MICROS_PER_MINUTE,
            Rollup::Hour => MICROS_PER_HOUR,
            Rollup::Day => MICROS_PER_DAY,
        }
    }

    pub fn bucket_start(self, t: Timestamp) -> Timestamp {
        Timestamp(t.0 - t.0.rem_euclid(self.width_micros()))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("timeframe must be one of 1m, 5m, 15m, 1h, 4h, 1D, 1W, 1M; got {0:?}")]
pub struct UnknownTimeframe(pub String);

impl FromStr for Timeframe {
    type Err = UnknownTimeframe;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "1m" => Timeframe::M1,
            "5m" => Timeframe::M5,
            "15m" => Timeframe::M15,
            "1h" => Timeframe::H1,
            "4h" => Timeframe::H4,
            "1D" => Timeframe::D1,
            "1W" => Timeframe::W1,
            "1M" => Timeframe::Mo1,
            other => return Err(UnknownTimeframe(other.to_string())),
        })
    }
}

impl Timeframe {
    pub const ALL: [Timeframe; 8] = [
        Timeframe::M1,
        Timeframe::M5,
        Timeframe::M15,
        Timeframe::H1,
        Timeframe::H4,
        Timeframe::D1,
        Timeframe::W1,
        Timeframe::Mo1,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Timeframe::M1 => "1m",
            Timeframe::M5 => "5m",
            Timeframe::M15 => "15m",
            Timeframe::H1 => "1h",
            Timeframe::H4 => "4h",
            Timeframe::D1 => "1D",
            Timeframe::W1 => "1W",
            Timeframe::Mo1 => "1M",
        }
    }

    /// The rollup this timeframe is aggregated from.
    pub fn source(self) -> Rollup {
        match self {
            Timeframe::M1 | Timeframe::M5 | Timeframe::M15 => Rollup::Minute,
            Timeframe::H1 | Timeframe::H4 => Rollup::Hour,
            Timeframe::D1 | Timeframe::W1 | Timeframe::Mo1 => Rollup::Day,
        }
    }

    /// Fixed bucket width; months have none.
    fn fixed_width(self) -> Option<i64> {
        Some(match self {
            Timeframe::M1 => MICROS_PER_MINUTE,
            Timeframe::M5 => 5 * MICROS_PER_MINUTE,
            Timeframe::M15 => 15 * MICROS_PER_MINUTE,
            Timeframe::H1 => MICROS_PER_HOUR,
            Timeframe::H4 => 4 * MICROS_PER_HOUR,
            Timeframe::D1 => MICROS_PER_DAY,
            Timeframe::W1 => 7 * MICROS_PER_DAY,
            Timeframe::Mo1 => return None,
        })
    }

    /// The start of the bucket containing `t`.
    pub fn bucket_start(self, t: Timestamp) -> Timestamp {
        match self {
            Timeframe::W1 => {
                let offset = EPOCH_WEEKDAY_OFFSET * MICROS_PER_DAY;
                let week = 7 * MICROS_PER_DAY;
                Timestamp((t.0 + offset).div_euclid(week) * week - offset)
            }
            Timeframe::Mo1 => {
                let date = t.to_datetime().date_naive();
                month_start(date.year(), date.month())
            }
            fixed => {
                let width = fixed.fixed_width().expect("fixed width");
                Timestamp(t.0.div_euclid(width) * width)
            }
        }
    }

    /// The start of the bucket `n` buckets after (or, for negative `n`, before) the bucket
    /// starting at `start`.
    pub fn shift(self, start: Timestamp, n: i64) -> Timestamp {
        match self.fixed_width() {
            Some(width) => Timestamp(start.0 + n * width),
            None => {
                let date = start.to_datetime().date_naive();
                let months = date.year() as i64 * 12 + date.month0() as i64 + n;
                month_start(months.div_euclid(12) as i32, months.rem_euclid(12) as u32 + 1)
            }
        }
    }

    /// The SQL interval literal DuckDB's `time_bucket` uses for this timeframe. DuckDB's
    /// default origins (2000-01-03, a Monday, and 2000-01-01 for months) give the same
    /// alignment as [`Timeframe::bucket_start`]; an integration test holds them together.
    pub fn sql_interval(self) -> &'static str {
        match self {
            Timeframe::M1 => "INTERVAL 1 MINUTE",
            Timeframe::M5 => "INTERVAL 5 MINUTE",
            Timeframe::M15 => "INTERVAL 15 MINUTE",
            Timeframe::H1 => "INTERVAL 1 HOUR",
            Timeframe::H4 => "INTERVAL 4 HOUR",
            Timeframe::D1 => "INTERVAL 1 DAY",
            Timeframe::W1 => "INTERVAL 7 DAY",
            Timeframe::Mo1 => "INTERVAL 1 MONTH",
        }
    }
}

fn month_start(year: i32, month: u32) -> Timestamp {
    let date = NaiveDate::from_ymd_opt(year, month, 1).expect("valid month");
    Timestamp(date.and_hms_opt(0, 0, 0).expect("midnight").and_utc().timestamp_micros())
}

/// One OHLC bar. `timestamp` is the bucket start.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Candle {
    pub timestamp: Timestamp,
    pub open: f64,
    pub high: f64,
    pub low: f64,
    pub close: f64,
    pub volume: u64,
}

impl Candle {
    pub fn opening(timestamp: Timestamp, price: f64, volume: u64) -> Self {
        Candle { timestamp, open: price, high: price, low: price, close: price, volume }
    }

    /// Extends this candle with a later trade.
    pub fn push(&mut self, price: f64, volume: u64) {
        self.high = self.high.max(price);
        self.low = self.low.min(price);
        self.close = price;
        self.volume += volume;
    }

    /// Extends this candle with a later candle of the same bucket.
    pub fn merge_later(&mut self, later: &Candle) {
        self.high = self.high.max(later.high);
        self.low = self.low.min(later.low);
        self.close = later.close;
        self.volume += later.volume;
    }
}

/// Folds time-ordered trades `(time, price, volume)` into candles of `timeframe`.
pub fn fold_trades(timeframe: Timeframe, trades: impl IntoIterator<Item = (Timestamp, f64, u64)>) -> Vec<Candle> {
    let mut candles: Vec<Candle> = Vec::new();
    for (t, price, volume) in trades {
        let bucket = timeframe.bucket_start(t);
        match candles.last_mut() {
            Some(last) if last.timestamp == bucket => last.push(price, volume),
            _ => candles.push(Candle::opening(bucket, price, volume)),
        }
    }
    candles
}

/// Appends `newer` (time-ordered, all at or after the last stored bucket) onto `stored`,
/// merging a shared bucket.
pub fn merge_newer(stored: &mut Vec<Candle>, newer: Vec<Candle>) {
    for candle in newer {
        match stored.last_mut() {
            Some(last) if last.timestamp == candle.timestamp => last.merge_later(&candle),
            _ => stored.push(candle),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        Timestamp::parse_rfc3339(text).unwrap()
    }

    #[test]
    fn minute_and_hour_buckets_align_to_the_epoch() {
        let t = at("2026-12-01T08:17:42.5Z");
        assert_eq!(Timeframe::M1.bucket_start(t), at("2026-12-01T08:17:00Z"));
        assert_eq!(Timeframe::M5.bucket_start(t), at("2026-12-01T08:15:00Z"));
        assert_eq!(Timeframe::M15.bucket_start(t), at("2026-12-01T08:15:00Z"));
        assert_eq!(Timeframe::H1.bucket_start(t), at("2026-12-01T08:00:00Z"));
        assert_eq!(Timeframe::H4.bucket_start(t), at("2026-12-01T08:00:00Z"));
        assert_eq!(Timeframe::H4.bucket_start(at("2026-12-01T03:59:59Z")), at("2026-12-01T00:00:00Z"));
    }

    #[test]
    fn days_start_at_midnight_weeks_on_monday_and_months_on_the_first() {
        let t = at("2026-12-03T23:59:59Z"); // a Thursday
        assert_eq!(Timeframe::D1.bucket_start(t), at("2026-12-03T00:00:00Z"));
        assert_eq!(Timeframe::W1.bucket_start(t), at("2026-11-30T00:00:00Z"));
        assert_eq!(Timeframe::W1.bucket_start(at("2026-11-30T00:00:00Z")), at("2026-11-30T00:00:00Z"));
        assert_eq!(Timeframe::W1.bucket_start(at("2026-11-29T23:59:59Z")), at("2026-11-23T00:00:00Z"));
        assert_eq!(Timeframe::Mo1.bucket_start(t), at("2026-12-01T00:00:00Z"));
        assert_eq!(Timeframe::W1.bucket_start(at("1970-01-01T00:00:00Z")), at("1969-12-29T00:00:00Z"));
    }

    #[test]
    fn stepping_back_crosses_month_and_year_boundaries() {
        let december = at("2026-12-01T00:00:00Z");
        assert_eq!(Timeframe::Mo1.shift(december, -12), at("2025-12-01T00:00:00Z"));
        assert_eq!(Timeframe::Mo1.shift(december, -99), at("2018-09-01T00:00:00Z"));
        assert_eq!(Timeframe::H4.shift(december, -2), at("2026-11-30T16:00:00Z"));
        assert_eq!(Timeframe::Mo1.shift(at("2026-12-01T00:00:00Z"), 1), at("2027-01-01T00:00:00Z"));
    }

    #[test]
    fn every_timeframe_nests_inside_its_source_rollup() {
        let t = at("2026-07-15T13:47:12Z");
        for tf in Timeframe::ALL {
            let start = tf.bucket_start(t);
            assert_eq!(tf.source().bucket_start(start), start, "{}", tf.label());
        }
    }

    #[test]
    fn unknown_timeframes_are_rejected() {
        assert!("2h".parse::<Timeframe>().is_err());
        assert!("1d".parse::<Timeframe>().is_err());
        assert_eq!("1M".parse::<Timeframe>(), Ok(Timeframe::Mo1));
    }

    #[test]
    fn trades_fold_into_ohlc_candles() {
        let base = at("2026-12-01T10:00:00Z");
        let trades = [(0, 10.0, 1), (20, 12.0, 2), (40, 9.0, 3), (61, 11.0, 4)]
            .map(|(s, p, v)| (base.plus_micros(s * 1_000_000), p, v));
        let candles = fold_trades(Timeframe::M1, trades);
        assert_eq!(candles.len(), 2);
        assert_eq!(candles[0], Candle { timestamp: base, open: 10.0, high: 12.0, low: 9.0, close: 9.0, volume: 6 });
        assert_eq!(candles[1].open, 11.0);
    }

    #[test]
    fn newer_candles_merge_into_the_shared_bucket() {
        let base = at("2026-12-01T10:00:00Z");
        let mut stored = vec![Candle { timestamp: base, open: 10.0, high: 11.0, low: 9.5, close: 10.5, volume: 5 }];
        let newer =
            fold_trades(Timeframe::H1, [(base.plus_micros(1), 12.0, 1), (base.plus_micros(3_600_000_000), 8.0, 2)]);
        merge_newer(&mut stored, newer);
        assert_eq!(stored.len(), 2);
        assert_eq!((stored[0].open, stored[0].high, stored[0].close, stored[0].volume), (10.0, 12.0, 12.0, 6));
    }
}
