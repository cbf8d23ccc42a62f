//! The tradable universe: what an instrument is, and the built-in list of 45.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The built-in universe, compiled into the binary so it never reads files it was not given.
const DEFAULT_UNIVERSE_CSV: &str = include_str!("../../data/instruments.csv");

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum InstrumentType {
    Stock,
    MarketIndex,
    Etf,
    Commodity,
    Forex,
    Bond,
    Crypto,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum Sector {
    Technology,
    FinancialServices,
    Healthcare,
    ConsumerCyclical,
    ConsumerDefensive,
    Industrials,
    Energy,
    Utilities,
    RealEstate,
    BasicMaterials,
    CommunicationServices,
    Unknown,
}

/// Where an instrument trades: a country's exchanges, or the crypto market. Spelt `market` on
/// the wire and in the configuration, as the app names it; called a region here so it is not
/// mistaken for the simulated market ([`crate::domain::market::Market`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Market)]
pub enum Region {
    India,
    Usa,
    Uk,
    Crypto,
}

/// The currency cash is held in. Crypto settles in US dollars.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum Currency {
    Inr,
    Usd,
    Gbp,
}

impl Currency {
    pub const ALL: [Currency; 3] = [Currency::Inr, Currency::Usd, Currency::Gbp];

    pub fn code(self) -> &'static str {
        match self {
            Currency::Inr => "INR",
            Currency::Usd => "USD",
            Currency::Gbp => "GBP",
        }
    }
}

impl Region {
    pub fn currency(self) -> Currency {
        match self {
            Region::India => Currency::Inr,
            Region::Usa | Region::Crypto => Currency::Usd,
            Region::Uk => Currency::Gbp,
        }
    }

    pub const ALL: [Region; 4] = [Region::India, Region::Usa, Region::Uk, Region::Crypto];

    /// The region a market name (`india`, `usa`, `uk`, `crypto`) names.
    pub fn parse(name: &str) -> Option<Region> {
        Region::ALL.into_iter().find(|r| r.name() == name)
    }

    pub fn name(self) -> &'static str {
        match self {
            Region::India => "india",
            Region::Usa => "usa",
            Region::Uk => "uk",
            Region::Crypto => "crypto",
        }
    }
}

impl fmt::Display for InstrumentType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            InstrumentType::Stock => "stock",
            InstrumentType::MarketIndex => "marketIndex",
            InstrumentType::Etf => "etf",
            InstrumentType::Commodity => "commodity",
            InstrumentType::Forex => "forex",
            InstrumentType::Bond => "bond",
            InstrumentType::Crypto => "crypto",
        })
    }
}

/// One instrument as configured. Field names follow the CSV and `config.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Instrument {
    pub symbol: String,
    pub name: String,
    #[serde(rename = "type")]
    pub kind: InstrumentType,
    pub sector: Sector,
    pub market: Region,
    pub currency: Currency,
    pub base_price: f64,
    pub annual_volatility: f64,
    pub annual_drift: f64,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub exchange: Option<String>,
    #[serde(default)]
    pub isin: Option<String>,
    #[serde(default)]
    pub logo_url: Option<String>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum InstrumentError {
    #[error("instrument list: {0}")]
    Parse(String),
    #[error("instrument {symbol}: {reason}")]
    Invalid { symbol: String, reason: String },
    #[error("instrument {0} is listed twice")]
    Duplicate(String),
}

impl Instrument {
    /// Checks the values the engine and the ledger rely on.
    pub fn validate(&self) -> Result<(), InstrumentError> {
        let invalid =
            |reason: &str| InstrumentError::Invalid { symbol: self.symbol.clone(), reason: reason.to_string() };
        if self.symbol.trim().is_empty() || self.symbol.len() > 32 {
            return Err(invalid("symbol must be 1 to 32 characters"));
        }
        if !(self.base_price.is_finite() && self.base_price >= 0.01) {
            return Err(invalid("base_price must be at least 0.01"));
        }
        if !(self.annual_volatility > 0.0 && self.annual_volatility <= 5.0) {
            return Err(invalid("annual_volatility must be in (0, 5]"));
        }
        if !(-2.0..=2.0).contains(&self.annual_drift) {
            return Err(invalid("annual_drift must be in [-2, 2]"));
        }
        if self.market.currency() != self.currency {
            return Err(invalid("currency does not match the market (india INR, usa USD, uk GBP, crypto USD)"));
        }
        Ok(())
    }

    /// A one-line description for instruments that were not given one.
    pub fn description_or_default(&self) -> String {
        self.description.clone().unwrap_or_else(|| {
            let kind = match self.kind {
                InstrumentType::MarketIndex => "market index",
                InstrumentType::Crypto => "cryptocurrency",
                other => return format!("{} ({other}) traded in {}", self.name, self.currency.code()),
            };
            format!("{} ({kind}) quoted in {}", self.name, self.currency.code())
        })
    }
}

/// The 45 built-in instruments.
pub fn default_universe() -> Vec<Instrument> {
    parse_csv(DEFAULT_UNIVERSE_CSV).expect("the embedded instrument list is valid")
}

/// Parses the CSV layout of `data/instruments.csv`.
pub fn parse_csv(text: &str) -> Result<Vec<Instrument>, InstrumentError> {
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let list = reader
        .deserialize()
        .collect::<Result<Vec<Instrument>, _>>()
        .map_err(|e| InstrumentError::Parse(e.to_string()))?;
    check_list(&list)?;
    Ok(list)
}

/// Validates every instrument and rejects duplicate symbols.
pub fn check_list(list: &[Instrument]) -> Result<(), InstrumentError> {
    let mut seen = std::collections::HashSet::new();
    for instrument in list {
        instrument.validate()?;
        if !seen.insert(instrument.symbol.as_str()) {
            return Err(InstrumentError::Duplicate(instrument.symbol.clone()));
        }
    }
    Ok(())
}

/// The instruments being simulated, with lookup by symbol. Everything else refers to an
/// instrument by its index here.
#[derive(Debug, Clone)]
pub struct Universe {
    list: Vec<Instrument>,
    by_symbol: std::collections::HashMap<String, usize>,
}

impl Universe {
    pub fn new(list: Vec<Instrument>) -> Result<Self, InstrumentError> {
        check_list(&list)?;
        let by_symbol = list.iter().enumerate().map(|(i, inst)| (inst.symbol.clone(), i)).collect();
        Ok(Universe { list, by_symbol })
    }

    pub fn list(&self) -> &[Instrument] {
        &self.list
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    pub fn get(&self, index: usize) -> &Instrument {
        &self.list[index]
    }

    /// Finds a symbol exactly, or failing that case-insensitively (`aapl` finds `AAPL`).
    pub fn find(&self, symbol: &str) -> Option<usize> {
        self.by_symbol
            .get(symbol)
            .copied()
            .or_else(|| self.list.iter().position(|i| i.symbol.eq_ignore_ascii_case(symbol)))
    }

    pub fn symbols(&self) -> Vec<String> {
        self.list.iter().map(|i| i.symbol.clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_universe_has_45_valid_instruments() {
        let list = default_universe();
        assert_eq!(list.len(), 45);
        let nifty = list.iter().find(|i| i.symbol == "NIFTY 50").unwrap();
        assert_eq!(nifty.kind, InstrumentType::MarketIndex);
        assert_eq!(nifty.currency, Currency::Inr);
        let btc = list.iter().find(|i| i.symbol == "BTC").unwrap();
        assert_eq!((btc.market, btc.currency), (Region::Crypto, Currency::Usd));
        assert!(list.iter().any(|i| i.symbol == "L&T"));
    }

    #[test]
    fn a_currency_that_does_not_match_the_market_is_rejected() {
        let mut aapl = default_universe().into_iter().find(|i| i.symbol == "AAPL").unwrap();
        aapl.currency = Currency::Gbp;
        assert!(matches!(aapl.validate(), Err(InstrumentError::Invalid { .. })));
    }

    #[test]
    fn symbols_are_found_exactly_or_ignoring_case() {
        let universe = Universe::new(default_universe()).unwrap();
        assert_eq!(universe.get(universe.find("BRK.B").unwrap()).symbol, "BRK.B");
        assert_eq!(universe.get(universe.find("nifty 50").unwrap()).symbol, "NIFTY 50");
        assert_eq!(universe.find("NOPE"), None);
    }

    #[test]
    fn duplicate_symbols_are_rejected() {
        let mut list = default_universe();
        list.push(list[0].clone());
        assert_eq!(check_list(&list), Err(InstrumentError::Duplicate("NIFTY 50".into())));
    }
}
