//! Market time: how fast the simulated market runs against the wall clock, and whether it runs.
//!
//! Timestamps stay real; market time is what the price models, the factor paths, news
//! arrivals and regimes see. At speed N a real second is N seconds of market time (variance
//! and drift scale with it); while paused market time stands still, so resuming continues
//! from the last prices without a jump.

use super::time::Timestamp;

/// The fastest the market may run.
pub const MAX_SPEED: u32 = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pace {
    anchor_real: i64,
    anchor_market: i64,
    speed: u32,
    paused: bool,
}

impl Pace {
    /// Real time speed, with market time equal to real time.
    pub fn new(now: Timestamp) -> Self {
        Pace { anchor_real: now.0, anchor_market: now.0, speed: 1, paused: false }
    }

    pub fn speed(&self) -> u32 {
        self.speed
    }

    pub fn paused(&self) -> bool {
        self.paused
    }

    /// Market time (microseconds) at real instant `t`, for `t` at or after the last change.
    pub fn market_time(&self, t: Timestamp) -> i64 {
        if self.paused {
            self.anchor_market
        } else {
            self.anchor_market + (t.0 - self.anchor_real) * i64::from(self.speed)
        }
    }

    /// The real instant at which market time reaches `m`; None while paused.
    pub fn real_time(&self, m: i64) -> Option<Timestamp> {
        if self.paused {
            return None;
        }
        let speed = i64::from(self.speed);
        Some(Timestamp(self.anchor_real + (m - self.anchor_market + speed - 1).div_euclid(speed)))
    }

    fn rebase(&mut self, now: Timestamp) {
        self.anchor_market = self.market_time(now);
        self.anchor_real = now.0;
    }

    pub fn set_speed(&mut self, now: Timestamp, speed: u32) {
        self.rebase(now);
        self.speed = speed.clamp(1, MAX_SPEED);
    }

    /// Stops market time at `now`. Returns false when already paused.
    pub fn pause(&mut self, now: Timestamp) -> bool {
        if self.paused {
            return false;
        }
        self.rebase(now);
        self.paused = true;
        true
    }

    /// Restarts market time at `now` from where it stood. Returns false when not paused.
    pub fn resume(&mut self, now: Timestamp) -> bool {
        if !self.paused {
            return false;
        }
        self.anchor_real = now.0;
        self.paused = false;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speed_stretches_market_time_and_a_pause_stops_it() {
        let mut pace = Pace::new(Timestamp(1_000));
        assert_eq!(pace.market_time(Timestamp(1_500)), 1_500);
        pace.set_speed(Timestamp(2_000), 10);
        assert_eq!(pace.market_time(Timestamp(2_100)), 3_000);
        assert_eq!(pace.real_time(3_000), Some(Timestamp(2_100)));
        assert!(pace.pause(Timestamp(2_100)));
        assert_eq!(pace.market_time(Timestamp(9_999)), 3_000);
        assert_eq!(pace.real_time(3_500), None);
        assert!(pace.resume(Timestamp(5_000)));
        assert_eq!(pace.market_time(Timestamp(5_010)), 3_100);
        assert!(!pace.resume(Timestamp(5_010)));
    }
}
