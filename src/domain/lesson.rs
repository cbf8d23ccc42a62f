//! Lessons as files: a timeline of director actions at offsets from the lesson's start.
//!
//! ```toml
//! name = "Crash and recovery"
//! [[events]]
//! at_minutes = 0
//! speed = 10
//! [[events]]
//! at_minutes = 2
//! [events.regime]
//! kind = "crash"
//! scope = { markets = ["usa"] }
//! duration_minutes = 240
//! ```
//!
//! Each event has `at_minutes` (real minutes from the start) and exactly one action: `pause =
//! true`, `resume = true`, `speed = N`, `news = {...}`, `regime = {...}` or `cancel_regime =
//! "id"`, with the bodies of the matching admin routes. With the same seed and lesson the price
//! paths are identical, since the market applies each action at its instant among the ticks.

use super::director::{Command, NewsOrder};
use super::instrument::Instrument;
use super::pace::MAX_SPEED;
use super::regime::RegimeOrder;
use super::time::{MICROS_PER_MINUTE, Timestamp};
use serde::Deserialize;

/// Longest lesson: a week of real time.
const MAX_OFFSET_MINUTES: f64 = 7.0 * 24.0 * 60.0;
/// Most events one lesson may hold.
const MAX_EVENTS: usize = 1_000;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lesson {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub events: Vec<LessonEvent>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LessonEvent {
    pub at_minutes: f64,
    #[serde(default)]
    pub pause: bool,
    #[serde(default)]
    pub resume: bool,
    pub speed: Option<u32>,
    pub news: Option<NewsOrder>,
    pub regime: Option<RegimeOrder>,
    pub cancel_regime: Option<String>,
}

impl LessonEvent {
    fn command(&self) -> Result<Command, String> {
        let mut actions = Vec::new();
        if self.pause {
            actions.push(Command::Pause);
        }
        if self.resume {
            actions.push(Command::Resume);
        }
        if let Some(speed) = self.speed {
            actions.push(Command::Speed(speed));
        }
        if let Some(news) = &self.news {
            actions.push(Command::News(news.clone()));
        }
        if let Some(regime) = &self.regime {
            actions.push(Command::Regime(regime.clone()));
        }
        if let Some(id) = &self.cancel_regime {
            actions.push(Command::CancelRegime(id.clone()));
        }
        match actions.len() {
            1 => Ok(actions.remove(0)),
            0 => Err("has no action (pause, resume, speed, news, regime or cancel_regime)".into()),
            _ => Err("has more than one action; give each its own event".into()),
        }
    }
}

impl Lesson {
    /// Parses and checks a lesson file against the universe; the error names the event.
    pub fn parse(text: &str, universe: &[Instrument]) -> Result<Lesson, String> {
        let lesson: Lesson = toml::from_str(text).map_err(|e| format!("not a lesson file: {}", e.message()))?;
        if lesson.events.len() > MAX_EVENTS {
            return Err(format!("at most {MAX_EVENTS} events"));
        }
        for (n, event) in lesson.events.iter().enumerate() {
            let fail = |reason: String| format!("event {} (at_minutes = {}): {reason}", n + 1, event.at_minutes);
            if !(event.at_minutes.is_finite() && (0.0..=MAX_OFFSET_MINUTES).contains(&event.at_minutes)) {
                return Err(fail(format!("at_minutes must be between 0 and {MAX_OFFSET_MINUTES}")));
            }
            match event.command().map_err(fail)? {
                Command::Speed(s) if !(1..=MAX_SPEED).contains(&s) => {
                    return Err(fail(format!("speed must be between 1 and {MAX_SPEED}, got {s}")));
                }
                Command::News(order) => {
                    order.validate(universe).map_err(fail)?;
                }
                Command::Regime(order) => {
                    order.validate().map_err(fail)?;
                    order.scope.resolve(universe).map_err(fail)?;
                }
                _ => {}
            }
        }
        Ok(lesson)
    }

    /// The timeline as commands at real instants, for a lesson starting at `start`.
    pub fn commands(&self, start: Timestamp) -> Vec<(Timestamp, Command)> {
        self.events
            .iter()
            .filter_map(|e| {
                let at = start.plus_micros((e.at_minutes * MICROS_PER_MINUTE as f64).round() as i64);
                e.command().ok().map(|c| (at, c))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::instrument::default_universe;

    #[test]
    fn the_shipped_lessons_parse() {
        let universe = default_universe();
        for text in [
            include_str!("../../scenarios/crash_and_recovery.toml"),
            include_str!("../../scenarios/sector_rotation.toml"),
            include_str!("../../scenarios/bull_then_bubble.toml"),
        ] {
            let lesson = Lesson::parse(text, &universe).unwrap();
            assert!(lesson.events.len() >= 3, "{}", lesson.name);
        }
    }

    #[test]
    fn a_bad_event_is_refused_with_its_number_and_reason() {
        let universe = default_universe();
        let err = Lesson::parse("name = \"x\"\n[[events]]\nat_minutes = 1\nspeed = 1000\n", &universe).unwrap_err();
        assert!(err.contains("event 1") && err.contains("speed"), "{err}");
        let err = Lesson::parse("name = \"x\"\n[[events]]\nat_minutes = 1\npause = true\nresume = true\n", &universe)
            .unwrap_err();
        assert!(err.contains("more than one action"), "{err}");
        let text = "name = \"x\"\n[[events]]\nat_minutes = 1\n[events.regime]\nkind = \"crash\"\nscope = { all = true }\nduration_minutes = 60\nparameters = { depth_percent = 99 }\n";
        assert!(Lesson::parse(text, &universe).unwrap_err().contains("depth_percent"));
        assert!(Lesson::parse("nonsense", &universe).unwrap_err().contains("not a lesson file"));
    }
}
