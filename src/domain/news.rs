//! Market news: company, sector and macro events that move the affected prices.
//!
//! An event's `impact` is the percentage move it gives each affected instrument; the engine
//! applies it through the jump component of the price model at the instrument's next tick and
//! raises the instrument's volatility, which GARCH then lets decay.

use super::instrument::{Instrument, Sector};
use super::time::Timestamp;
use rand::Rng;
use rand::seq::IndexedRandom;
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    Global,
    Sector,
    Symbol,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Global => "global",
            Scope::Sector => "sector",
            Scope::Symbol => "symbol",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "global" => Scope::Global,
            "sector" => Scope::Sector,
            "symbol" => Scope::Symbol,
            _ => return None,
        })
    }
}

/// The wire shape of a news event, also pushed on the live stream.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct NewsEvent {
    pub id: i64,
    pub headline: String,
    pub category: String,
    pub subcategory: String,
    pub timestamp: Timestamp,
    /// Percentage price move given to each affected instrument.
    pub impact: f64,
    pub duration_minutes: i32,
    pub affected_scope: Scope,
    pub affected_symbols: Vec<String>,
}

/// (headline template, subcategory, direction). `{name}` is the company, `{sector}` the sector.
type Template = (&'static str, &'static str, f64);

const COMPANY: &[Template] = &[
    ("{name} beats quarterly earnings estimates", "earnings", 1.0),
    ("{name} misses quarterly earnings estimates", "earnings", -1.0),
    ("{name} announces a share buyback", "corporate_action", 1.0),
    ("{name} wins a major multi-year contract", "contract", 1.0),
    ("Analysts upgrade {name} to buy", "analyst", 1.0),
    ("Analysts downgrade {name} to sell", "analyst", -1.0),
    ("Regulator opens an investigation into {name}", "regulatory", -1.0),
    ("{name} cuts its full-year guidance", "guidance", -1.0),
    ("{name} chief executive steps down unexpectedly", "management", -1.0),
    ("{name} unveils a new flagship product", "product", 1.0),
];

const SECTOR: &[Template] = &[
    ("{sector} shares rally on a strong demand outlook", "demand", 1.0),
    ("{sector} shares slide as input costs climb", "costs", -1.0),
    ("New regulation weighs on the {sector} sector", "regulation", -1.0),
    ("Investors pile into {sector} on upbeat forecasts", "flows", 1.0),
];

const MACRO: &[Template] = &[
    ("Central banks signal interest rate cuts", "monetary_policy", 1.0),
    ("Inflation comes in hotter than expected", "inflation", -1.0),
    ("Strong jobs data lifts global markets", "employment", 1.0),
    ("Recession fears grip global markets", "growth", -1.0),
    ("Oil prices spike on supply worries", "commodities", -1.0),
    ("Trade tensions ease after talks", "trade", 1.0),
];

fn sector_name(sector: Sector) -> &'static str {
    match sector {
        Sector::Technology => "Technology",
        Sector::FinancialServices => "Financial services",
        Sector::Healthcare => "Healthcare",
        Sector::ConsumerCyclical => "Consumer cyclical",
        Sector::ConsumerDefensive => "Consumer staples",
        Sector::Industrials => "Industrial",
        Sector::Energy => "Energy",
        Sector::Utilities => "Utilities",
        Sector::RealEstate => "Real estate",
        Sector::BasicMaterials => "Basic materials",
        Sector::CommunicationServices => "Communication services",
        Sector::Unknown => "Broad market",
    }
}

/// Draws one event at `time` about the given universe. Returns the event and the indices of
/// the affected instruments.
pub fn draw_event<R: Rng + ?Sized>(
    id: i64,
    time: Timestamp,
    universe: &[Instrument],
    rng: &mut R,
) -> Option<(NewsEvent, Vec<usize>)> {
    if universe.is_empty() {
        return None;
    }
    let roll: f64 = rng.random();
    let (scope, category, template, affected, size) = if roll < 0.6 {
        let index = rng.random_range(0..universe.len());
        let template = COMPANY.choose(rng)?;
        (Scope::Symbol, "company", template, vec![index], rng.random_range(1.5..5.0))
    } else if roll < 0.85 {
        let sectors: Vec<Sector> = universe.iter().map(|i| i.sector).filter(|s| *s != Sector::Unknown).collect();
        let sector = *sectors.choose(rng).unwrap_or(&Sector::Unknown);
        let affected = (0..universe.len()).filter(|&i| universe[i].sector == sector).collect();
        (Scope::Sector, "sector", SECTOR.choose(rng)?, affected, rng.random_range(0.8..3.0))
    } else {
        (Scope::Global, "macro", MACRO.choose(rng)?, (0..universe.len()).collect(), rng.random_range(0.5..2.0))
    };
    let (text, subcategory, direction) = *template;
    let first = &universe[affected[0]];
    let headline = text.replace("{name}", &first.name).replace("{sector}", sector_name(first.sector));
    let event = NewsEvent {
        id,
        headline,
        category: category.to_string(),
        subcategory: subcategory.to_string(),
        timestamp: time,
        impact: (direction * size * 100.0_f64).round() / 100.0,
        duration_minutes: rng.random_range(15..=240),
        affected_scope: scope,
        affected_symbols: affected.iter().map(|&i| universe[i].symbol.clone()).collect(),
    };
    Some((event, affected))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::instrument::default_universe;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn events_name_their_affected_symbols_and_move_them_the_stated_way() {
        let universe = default_universe();
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut scopes = std::collections::HashSet::new();
        for id in 0..300 {
            let (event, affected) = draw_event(id, Timestamp(0), &universe, &mut rng).unwrap();
            assert_eq!(event.affected_symbols.len(), affected.len());
            assert!(!affected.is_empty());
            assert!(event.impact != 0.0 && event.impact.abs() <= 5.0);
            assert!(!event.headline.contains('{'), "{}", event.headline);
            match event.affected_scope {
                Scope::Global => assert_eq!(affected.len(), universe.len()),
                Scope::Sector => {
                    assert!(affected.iter().all(|&i| universe[i].sector == universe[affected[0]].sector))
                }
                Scope::Symbol => assert_eq!(affected.len(), 1),
            }
            scopes.insert(event.affected_scope);
        }
        assert_eq!(scopes.len(), 3);
    }
}
