//! Regimes: a teacher's shape for the market over a stretch of market time.
//!
//! A regime gives its scope a deterministic log-price path (a bull market's rise, a crash's
//! fall and partial recovery, a bubble's rise and burst) and a volatility multiplier, both
//! eased in and out so nothing jumps. Instruments outside the scope follow a directional
//! regime by their beta to it (what the factor model says they co-move), so a crash in one
//! market drags the others by their correlation. When it ends the scope keeps the level it
//! reached and returns to its ordinary behaviour.

use super::director::Target;
use serde::{Deserialize, Serialize};

/// Longest regime: a month of market time.
pub const MAX_DURATION_MINUTES: f64 = 30.0 * 24.0 * 60.0;
/// Deepest fall a crash or a burst may have, in percent.
pub const MAX_DEPTH_PERCENT: f64 = 95.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RegimeKind {
    Calm,
    Bull,
    Bear,
    Volatile,
    Crash,
    Bubble,
}

/// Parameters; each has a default per kind (see [`RegimeOrder::resolved`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegimeParameters {
    /// Volatility multiplier. Defaults: calm 0.5, bull 0.8, bear 1.3, volatile 2.5, crash 3
    /// (at the bottom, fading out), bubble 1.5.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub volatility: Option<f64>,
    /// bull and bear: total change over the duration, percent. Defaults +10 and -10.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub change_percent: Option<f64>,
    /// crash: depth of the fall; bubble: fall from the peak. Percent, defaults 20 and 30.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub depth_percent: Option<f64>,
    /// crash: minutes of the fall (default 15); bubble: minutes of the burst (default 10).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fall_minutes: Option<f64>,
    /// crash: share of the fall recovered by the end, percent. Default 50.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recovery_percent: Option<f64>,
    /// bubble: the rise before the burst, percent. Default 40.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rise_percent: Option<f64>,
}

/// A regime as a teacher orders it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegimeOrder {
    /// Given by the server when absent; an order with the id of a regime replaces it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub kind: RegimeKind,
    pub scope: Target,
    /// Minutes of market time from now until it starts; 0 (the default) starts it now.
    #[serde(default)]
    pub start_in_minutes: f64,
    /// Minutes of market time it lasts.
    pub duration_minutes: f64,
    #[serde(default)]
    pub parameters: RegimeParameters,
}

/// The parameters with every default filled in, as fractions and minutes.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Shape {
    volatility: f64,
    change: f64,
    depth: f64,
    fall: f64,
    recovery: f64,
    rise: f64,
}

impl RegimeOrder {
    fn shape(&self) -> Shape {
        use RegimeKind::*;
        let p = &self.parameters;
        let volatility = p.volatility.unwrap_or(match self.kind {
            Calm => 0.5,
            Bull => 0.8,
            Bear => 1.3,
            Volatile => 2.5,
            Crash => 3.0,
            Bubble => 1.5,
        });
        Shape {
            volatility,
            change: p.change_percent.unwrap_or(if self.kind == Bear { -10.0 } else { 10.0 }) / 100.0,
            depth: p.depth_percent.unwrap_or(if self.kind == Bubble { 30.0 } else { 20.0 }) / 100.0,
            fall: p.fall_minutes.unwrap_or(if self.kind == Bubble { 10.0 } else { 15.0 }),
            recovery: p.recovery_percent.unwrap_or(50.0) / 100.0,
            rise: p.rise_percent.unwrap_or(40.0) / 100.0,
        }
    }

    /// Checks the order; the message says what to change.
    pub fn validate(&self) -> Result<(), String> {
        let s = self.shape();
        let d = self.duration_minutes;
        if !(d.is_finite() && (1.0..=MAX_DURATION_MINUTES).contains(&d)) {
            return Err(format!("duration_minutes must be between 1 and {MAX_DURATION_MINUTES}"));
        }
        if !(self.start_in_minutes.is_finite() && (0.0..=MAX_DURATION_MINUTES).contains(&self.start_in_minutes)) {
            return Err(format!("start_in_minutes must be between 0 and {MAX_DURATION_MINUTES}"));
        }
        if self.id.as_ref().is_some_and(|id| id.is_empty() || id.len() > 64) {
            return Err("id must be 1 to 64 characters".into());
        }
        if !(s.volatility.is_finite() && (0.1..=10.0).contains(&s.volatility)) {
            return Err("volatility must be a multiplier between 0.1 and 10".into());
        }
        if !(s.change.is_finite() && s.change > -MAX_DEPTH_PERCENT / 100.0 && s.change <= 5.0) {
            return Err(format!("change_percent must be above -{MAX_DEPTH_PERCENT} and at most 500"));
        }
        if !(s.depth.is_finite() && s.depth > 0.0 && s.depth <= MAX_DEPTH_PERCENT / 100.0) {
            return Err(format!("depth_percent must be above 0 and at most {MAX_DEPTH_PERCENT}"));
        }
        let shaped = matches!(self.kind, RegimeKind::Crash | RegimeKind::Bubble);
        if shaped && !(s.fall.is_finite() && s.fall > 0.0 && s.fall < d) {
            return Err("fall_minutes must be above 0 and shorter than duration_minutes".into());
        }
        if !(s.recovery.is_finite() && (0.0..=1.0).contains(&s.recovery)) {
            return Err("recovery_percent must be between 0 and 100".into());
        }
        if !(s.rise.is_finite() && s.rise > 0.0 && s.rise <= 5.0) {
            return Err("rise_percent must be above 0 and at most 500".into());
        }
        Ok(())
    }

    /// Log-price offset of the scope `minutes` after the start (constant after the end).
    pub fn offset(&self, minutes: f64) -> f64 {
        let s = self.shape();
        let t = minutes.clamp(0.0, self.duration_minutes);
        let x = t / self.duration_minutes;
        match self.kind {
            RegimeKind::Calm | RegimeKind::Volatile => 0.0,
            RegimeKind::Bull | RegimeKind::Bear => (1.0 + s.change).ln() * ease(x),
            RegimeKind::Crash => {
                let bottom = (1.0 - s.depth).ln();
                if t < s.fall {
                    bottom * ease(t / s.fall)
                } else {
                    // Recover a share of the fall in price terms, not in log terms.
                    let recovered =
                        1.0 - s.depth + s.depth * s.recovery * ease((t - s.fall) / (self.duration_minutes - s.fall));
                    recovered.ln()
                }
            }
            RegimeKind::Bubble => {
                let top = (1.0 + s.rise).ln();
                let rising = self.duration_minutes - s.fall;
                if t < rising {
                    // A bubble accelerates: slow at first, steep before the burst.
                    let y = t / rising;
                    top * y * y
                } else {
                    top + (1.0 - s.depth).ln() * ease((t - rising) / s.fall)
                }
            }
        }
    }

    /// Volatility multiplier of the scope `minutes` after the start; 1 outside the regime.
    pub fn volatility(&self, minutes: f64) -> f64 {
        let d = self.duration_minutes;
        if !(0.0..d).contains(&minutes) {
            return 1.0;
        }
        let s = self.shape();
        let ramp = (d / 5.0).min(10.0);
        let envelope = ease(minutes / ramp) * ease((d - minutes) / ramp);
        let level = match self.kind {
            // A crash is most nervous at the bottom and calms down as it recovers.
            RegimeKind::Crash => {
                1.0 + (s.volatility - 1.0) * (1.0 - ease(((minutes - s.fall) / (d - s.fall)).max(0.0)))
            }
            // A bubble grows nervous before it bursts.
            RegimeKind::Bubble if minutes >= d - s.fall => s.volatility * 2.0,
            _ => s.volatility,
        };
        1.0 + (level - 1.0) * envelope
    }

    /// Whether the regime moves prices (and so drags instruments outside its scope).
    pub fn directional(&self) -> bool {
        !matches!(self.kind, RegimeKind::Calm | RegimeKind::Volatile)
    }
}

/// Smoothstep on [0, 1]: starts and ends flat, so a path has no kink.
fn ease(x: f64) -> f64 {
    let x = x.clamp(0.0, 1.0);
    x * x * (3.0 - 2.0 * x)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(kind: RegimeKind, duration: f64) -> RegimeOrder {
        RegimeOrder {
            id: None,
            kind,
            scope: Target::everything(),
            start_in_minutes: 0.0,
            duration_minutes: duration,
            parameters: RegimeParameters::default(),
        }
    }

    #[test]
    fn a_crash_falls_by_its_depth_then_recovers_the_given_share() {
        let crash = order(RegimeKind::Crash, 120.0);
        assert_eq!(crash.offset(0.0), 0.0);
        assert!((crash.offset(15.0).exp() - 0.8).abs() < 1e-12, "bottom after the fall");
        assert!((crash.offset(120.0).exp() - 0.9).abs() < 1e-12, "half the fall recovered");
        assert_eq!(crash.offset(500.0), crash.offset(120.0), "the level stays after the end");
        assert!(crash.volatility(15.0) > 2.9 && crash.volatility(200.0) == 1.0);
    }

    #[test]
    fn a_bubble_rises_then_bursts() {
        let bubble = order(RegimeKind::Bubble, 100.0);
        assert!((bubble.offset(90.0).exp() - 1.4).abs() < 1e-12);
        assert!((bubble.offset(100.0).exp() - 1.4 * 0.7).abs() < 1e-12);
        assert!(bubble.offset(45.0) < bubble.offset(90.0) / 3.0, "the rise accelerates");
    }

    #[test]
    fn bull_and_bear_move_by_their_change_and_calm_and_volatile_only_scale_volatility() {
        assert!((order(RegimeKind::Bull, 60.0).offset(60.0).exp() - 1.1).abs() < 1e-12);
        assert!((order(RegimeKind::Bear, 60.0).offset(60.0).exp() - 0.9).abs() < 1e-12);
        for (kind, level) in [(RegimeKind::Calm, 0.5), (RegimeKind::Volatile, 2.5)] {
            let r = order(kind, 600.0);
            assert_eq!(r.offset(300.0), 0.0);
            assert!((r.volatility(300.0) - level).abs() < 1e-12);
            assert!((r.volatility(0.01) - 1.0).abs() < 0.01, "eased in");
        }
    }

    #[test]
    fn orders_beyond_the_limits_are_refused_with_the_reason() {
        let mut deep = order(RegimeKind::Crash, 60.0);
        deep.parameters.depth_percent = Some(96.0);
        assert!(deep.validate().unwrap_err().contains("depth_percent"));
        let mut slow = order(RegimeKind::Crash, 10.0);
        slow.parameters.fall_minutes = Some(20.0);
        assert!(slow.validate().unwrap_err().contains("fall_minutes"));
        assert!(order(RegimeKind::Calm, 0.5).validate().unwrap_err().contains("duration_minutes"));
        assert!(order(RegimeKind::Crash, 60.0).validate().is_ok());
    }
}
