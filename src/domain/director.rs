//! The director's commands: what a teacher, or a lesson file, does to the market, as values.
//!
//! A command is applied by the market at an instant ([`super::market::Market::schedule`]), in
//! time order with its ticks, so a lesson replays identically with the same seed.

use super::instrument::{Instrument, InstrumentType, Region, Sector};
use super::regime::RegimeOrder;
use super::time::Timestamp;
use serde::{Deserialize, Serialize};

/// Longest headline a teacher may publish.
pub const MAX_HEADLINE: usize = 200;
/// Largest news impact accepted, in percent either way: beyond it is a crash, not news.
pub const MAX_NEWS_IMPACT: f64 = 50.0;

/// Which instruments an action reaches: `{"all": true}`, or any of `markets`, `sectors` and
/// `symbols`. Markets and sectors given together mean their intersection (US technology);
/// symbols are added to it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Target {
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub all: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub markets: Vec<Region>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sectors: Vec<Sector>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub symbols: Vec<String>,
}

/// A resolved target: who is in it, and who is named directly.
#[derive(Debug, Clone, PartialEq)]
pub struct Members {
    /// Every instrument in the scope, in universe order.
    pub all: Vec<usize>,
    /// Instruments named by symbol: an index named so is moved itself, not through its
    /// constituents.
    pub named: Vec<usize>,
}

impl Target {
    pub fn everything() -> Self {
        Target { all: true, ..Target::default() }
    }

    /// The instruments in scope, or why there are none.
    pub fn resolve(&self, universe: &[Instrument]) -> Result<Members, String> {
        let mut named = Vec::new();
        for symbol in &self.symbols {
            let found = universe
                .iter()
                .position(|i| i.symbol == *symbol)
                .or_else(|| universe.iter().position(|i| i.symbol.eq_ignore_ascii_case(symbol)));
            match found {
                Some(i) => named.push(i),
                None => return Err(format!("unknown symbol {symbol}")),
            }
        }
        let grouped = !self.markets.is_empty() || !self.sectors.is_empty();
        let all: Vec<usize> = (0..universe.len())
            .filter(|&i| {
                let inst = &universe[i];
                let in_group = grouped
                    && (self.markets.is_empty() || self.markets.contains(&inst.market))
                    && (self.sectors.is_empty() || self.sectors.contains(&inst.sector));
                self.all || in_group || named.contains(&i)
            })
            .collect();
        if all.is_empty() {
            return Err("the scope names no instrument: give {\"all\": true} or markets, sectors or symbols".into());
        }
        Ok(Members { all, named })
    }
}

impl Members {
    /// The instruments an outside move is given to directly: all but the indices that were
    /// not named (they follow their constituents).
    pub fn moved(&self, universe: &[Instrument]) -> Vec<usize> {
        self.all
            .iter()
            .copied()
            .filter(|&i| universe[i].kind != InstrumentType::MarketIndex || self.named.contains(&i))
            .collect()
    }
}

/// A headline a teacher publishes: it moves the scope by `impact` percent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewsOrder {
    pub headline: String,
    pub scope: Target,
    /// Signed percentage move of each instrument in scope, e.g. -5 for a 5% fall.
    pub impact: f64,
}

impl NewsOrder {
    pub fn validate(&self, universe: &[Instrument]) -> Result<Members, String> {
        let length = self.headline.trim().chars().count();
        if length == 0 || length > MAX_HEADLINE {
            return Err(format!("headline must be 1 to {MAX_HEADLINE} characters"));
        }
        if !(self.impact.is_finite() && self.impact != 0.0 && self.impact.abs() <= MAX_NEWS_IMPACT) {
            return Err(format!(
                "impact must be a non-zero percentage between -{MAX_NEWS_IMPACT} and {MAX_NEWS_IMPACT}"
            ));
        }
        self.scope.resolve(universe)
    }
}

/// One thing the director does to the market.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Pause,
    Resume,
    /// Seconds of market time per real second, 1 to [`super::pace::MAX_SPEED`].
    Speed(u32),
    News(NewsOrder),
    Regime(RegimeOrder),
    CancelRegime(String),
}

/// Whether the market runs, and how fast: the public `/api/v1/market/status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct MarketStatus {
    /// `open` or `paused`.
    pub state: &'static str,
    /// Seconds of market time per real second.
    pub speed: u32,
}

impl MarketStatus {
    pub fn new(paused: bool, speed: u32) -> Self {
        MarketStatus { state: if paused { "paused" } else { "open" }, speed }
    }

    pub fn paused(&self) -> bool {
        self.state == "paused"
    }
}

/// One recorded admin action.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct AuditEntry {
    pub time: Timestamp,
    pub action: String,
    /// The request's parameters as it sent them.
    #[schema(value_type = Object)]
    pub parameters: serde_json::Value,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::instrument::default_universe;

    fn symbols(universe: &[Instrument], list: &[usize]) -> Vec<String> {
        list.iter().map(|&i| universe[i].symbol.clone()).collect()
    }

    #[test]
    fn scopes_resolve_to_markets_sectors_and_symbols() {
        let u = default_universe();
        assert_eq!(Target::everything().resolve(&u).unwrap().all.len(), 45);
        let usa_tech = Target { markets: vec![Region::Usa], sectors: vec![Sector::Technology], ..Target::default() };
        assert_eq!(symbols(&u, &usa_tech.resolve(&u).unwrap().all), ["NASDAQ", "AAPL", "MSFT", "NVDA"]);
        let crypto = Target { markets: vec![Region::Crypto], symbols: vec!["aapl".into()], ..Target::default() };
        let members = crypto.resolve(&u).unwrap();
        assert_eq!(symbols(&u, &members.all), ["AAPL", "BTC", "ETH", "SOL"]);
        assert_eq!(symbols(&u, &members.named), ["AAPL"]);
        let err = Target { symbols: vec!["NOPE".into()], ..Target::default() }.resolve(&u).unwrap_err();
        assert!(err.contains("NOPE"));
        assert!(Target::default().resolve(&u).is_err());
    }

    #[test]
    fn indices_in_a_group_follow_their_constituents_unless_named() {
        let u = default_universe();
        let usa = Target { markets: vec![Region::Usa], symbols: vec!["DOW JONES".into()], ..Target::default() };
        let moved = symbols(&u, &usa.resolve(&u).unwrap().moved(&u));
        assert!(moved.contains(&"DOW JONES".to_string()) && !moved.contains(&"S&P 500".to_string()));
        assert!(moved.contains(&"AAPL".to_string()));
    }

    #[test]
    fn news_orders_are_validated_with_reasons() {
        let u = default_universe();
        let order =
            |headline: &str, impact| NewsOrder { headline: headline.into(), scope: Target::everything(), impact };
        assert!(order("Rates cut", 2.0).validate(&u).is_ok());
        assert!(order("", 2.0).validate(&u).unwrap_err().contains("headline"));
        assert!(order("Rates cut", 80.0).validate(&u).unwrap_err().contains("impact"));
        assert!(order("Rates cut", 0.0).validate(&u).unwrap_err().contains("impact"));
    }
}
