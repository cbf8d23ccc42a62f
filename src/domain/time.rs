//! UTC instants as microseconds since the Unix epoch, and the clock that supplies them.
//!
//! DuckDB stores `TIMESTAMP` as microseconds, so the whole program speaks in the same unit:
//! no conversion on the hot path, and no time zone anywhere (everything is UTC).

use chrono::{DateTime, SecondsFormat, Utc};
use std::sync::atomic::{AtomicI64, Ordering};

pub const MICROS_PER_MILLI: i64 = 1_000;
pub const MICROS_PER_SECOND: i64 = 1_000 * MICROS_PER_MILLI;
pub const MICROS_PER_MINUTE: i64 = 60 * MICROS_PER_SECOND;
pub const MICROS_PER_HOUR: i64 = 60 * MICROS_PER_MINUTE;
pub const MICROS_PER_DAY: i64 = 24 * MICROS_PER_HOUR;
/// The simulated markets trade around the clock, so a year is 365 calendar days.
pub const SECONDS_PER_YEAR: f64 = 365.0 * 86_400.0;

/// A UTC instant with microsecond resolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(pub i64);

impl Timestamp {
    pub fn micros(self) -> i64 {
        self.0
    }

    pub fn from_seconds(seconds: i64) -> Self {
        Timestamp(seconds * MICROS_PER_SECOND)
    }

    pub fn plus_micros(self, micros: i64) -> Self {
        Timestamp(self.0 + micros)
    }

    /// The UTC day this instant falls in, counted from the epoch.
    pub fn day_number(self) -> i64 {
        self.0.div_euclid(MICROS_PER_DAY)
    }

    pub fn to_datetime(self) -> DateTime<Utc> {
        DateTime::from_timestamp_micros(self.0).unwrap_or_default()
    }

    /// ISO-8601 with a `Z` suffix, as Dart's `DateTime.parse` accepts.
    pub fn to_rfc3339(self) -> String {
        self.to_datetime().to_rfc3339_opts(SecondsFormat::Micros, true)
    }

    pub fn parse_rfc3339(text: &str) -> Option<Self> {
        DateTime::parse_from_rfc3339(text).ok().map(|t| Timestamp(t.with_timezone(&Utc).timestamp_micros()))
    }
}

/// Read from an ISO-8601 date-time with its offset, e.g. `2026-12-01T09:00:00Z`.
impl<'de> serde::Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Timestamp::parse_rfc3339(&text).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "{text:?} is not an ISO-8601 date-time with an offset, such as 2026-12-01T09:00:00Z"
            ))
        })
    }
}

/// Documented as an ISO-8601 date-time string, which is how it serializes.
impl utoipa::PartialSchema for Timestamp {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
            .examples(["2026-12-01T08:15:02.123456Z"])
            .into()
    }
}

impl utoipa::ToSchema for Timestamp {}

impl serde::Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&self.to_datetime().to_rfc3339_opts(SecondsFormat::Micros, true))
    }
}

/// Where "now" comes from. The engine and the day statistics take it as a value, so tests
/// drive them with [`ManualClock`] instead of sleeping.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Timestamp;
}

/// The wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp(Utc::now().timestamp_micros())
    }
}

/// A clock that moves only when told to.
#[derive(Debug, Default)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    pub fn starting_at(at: Timestamp) -> Self {
        ManualClock(AtomicI64::new(at.0))
    }

    pub fn advance_micros(&self, micros: i64) {
        self.0.fetch_add(micros, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp(self.0.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_format_as_utc_with_z_suffix() {
        let t = Timestamp(1_764_576_902_123_456);
        assert_eq!(t.to_rfc3339(), "2025-12-01T08:15:02.123456Z");
        assert_eq!(Timestamp::parse_rfc3339(&t.to_rfc3339()), Some(t));
    }

    #[test]
    fn a_manual_clock_moves_only_when_advanced() {
        let clock = ManualClock::starting_at(Timestamp(10));
        assert_eq!(clock.now(), Timestamp(10));
        clock.advance_micros(5);
        assert_eq!(clock.now(), Timestamp(15));
    }
}
