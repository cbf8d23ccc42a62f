//! The class's rules as values: who may trade (a join code), what (markets or symbols), when
//! (the season's window), at what cost (a commission), how concentrated (a cap on one
//! position's share of a student's value), and what a new student opens with.
//!
//! Rules change only forward: the ledger writer reads them when it applies each order, so a
//! change applies from the moment it is made and never to orders already filled.

use super::account::{CASH_DP, round_cents};
use super::instrument::{Currency, Instrument, Region};
use super::time::Timestamp;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Longest class name.
pub const MAX_NAME_LEN: usize = 80;
/// Join codes are short enough to write on a board and long enough not to be guessed at once.
pub const JOIN_CODE_LEN: std::ops::RangeInclusive<usize> = 4..=32;
/// A commission above 10% of an order is a typo, not a lesson.
pub const MAX_COMMISSION_BPS: Decimal = Decimal::from_parts(1_000, 0, 0, false, 0);
/// The largest flat commission and starting cash: far beyond any classroom, exact in cents.
pub const MAX_AMOUNT: Decimal = Decimal::from_parts(1_000_000_000, 0, 0, false, 0);

/// A commission per order in the order's currency: a flat amount plus basis points of the
/// order's value, rounded by the one rounding rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Commission {
    #[serde(default)]
    #[schema(value_type = f64)]
    pub flat: Decimal,
    #[serde(default)]
    #[schema(value_type = f64)]
    pub bps: Decimal,
}

impl Commission {
    /// The commission on an order worth `value`.
    pub fn on(&self, value: Decimal) -> Decimal {
        if self.flat.is_zero() && self.bps.is_zero() {
            return Decimal::ZERO;
        }
        round_cents(self.flat + value * self.bps / Decimal::from(10_000))
    }
}

/// The rules of the class, as configured and as the teacher changes them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rules {
    pub name: String,
    /// When set, a student joins with it before trading.
    pub join_code: Option<String>,
    /// What a new student opens with, per currency.
    pub starting_cash: BTreeMap<Currency, Decimal>,
    /// Markets (`india`, `usa`, `uk`, `crypto`) and symbols open for trading; empty: all.
    pub allowed: Vec<String>,
    pub commission: Commission,
    /// The most one position may be of a student's total value after a buy, in percent.
    pub max_position_percent: Option<Decimal>,
    pub season_start: Option<Timestamp>,
    pub season_end: Option<Timestamp>,
}

/// Why the class refuses an order or a join.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClassRefusal {
    #[error("Join the class {class:?} first: POST /api/v1/class/join with the join code your teacher gave you")]
    NotJoined { class: String },
    #[error("Wrong join code for the class {class:?}")]
    WrongJoinCode { class: String },
    #[error("{symbol} is not traded in this class: it trades {allowed}")]
    NotAllowed { symbol: String, allowed: String },
    #[error("The season has not started: trading opens at {0}")]
    NotStarted(String),
    #[error("The season ended at {0}: the standings are final")]
    Ended(String),
    #[error(
        "This buy would make {symbol} {share}% of your total value; the class allows at most {cap}% in one position"
    )]
    PositionCap { symbol: String, share: Decimal, cap: Decimal },
}

impl ClassRefusal {
    /// A short stable name for metrics and error bodies.
    pub fn code(&self) -> &'static str {
        match self {
            ClassRefusal::NotJoined { .. } => "not_joined",
            ClassRefusal::WrongJoinCode { .. } => "wrong_join_code",
            ClassRefusal::NotAllowed { .. } => "not_allowed",
            ClassRefusal::NotStarted(_) => "season_not_started",
            ClassRefusal::Ended(_) => "season_ended",
            ClassRefusal::PositionCap { .. } => "position_cap",
        }
    }
}

/// Where in its season the class is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SeasonState {
    NotStarted,
    Open,
    Ended,
}

impl Rules {
    /// Rules that change nothing: open to all, `starting_cash` in every currency, no fees.
    pub fn open(name: &str, starting_cash: Decimal) -> Self {
        Rules {
            name: name.to_string(),
            join_code: None,
            starting_cash: Currency::ALL.iter().map(|c| (*c, starting_cash)).collect(),
            allowed: Vec::new(),
            commission: Commission::default(),
            max_position_percent: None,
            season_start: None,
            season_end: None,
        }
    }

    pub fn season_state(&self, now: Timestamp) -> SeasonState {
        match (self.season_start, self.season_end) {
            (Some(start), _) if now < start => SeasonState::NotStarted,
            (_, Some(end)) if now >= end => SeasonState::Ended,
            _ => SeasonState::Open,
        }
    }

    /// Whether the class trades this instrument.
    pub fn admits(&self, instrument: &Instrument) -> bool {
        self.allowed.is_empty() || self.allowed.iter().any(|a| *a == instrument.symbol || a == instrument.market.name())
    }

    /// Checks an order against the rules that need no prices: membership, the instrument and
    /// the season's window.
    pub fn check_order(&self, joined: bool, instrument: &Instrument, now: Timestamp) -> Result<(), ClassRefusal> {
        match self.season_state(now) {
            SeasonState::NotStarted => {
                return Err(ClassRefusal::NotStarted(self.season_start.unwrap_or_default().to_rfc3339()));
            }
            SeasonState::Ended => return Err(ClassRefusal::Ended(self.season_end.unwrap_or_default().to_rfc3339())),
            SeasonState::Open => {}
        }
        if self.join_code.is_some() && !joined {
            return Err(ClassRefusal::NotJoined { class: self.name.clone() });
        }
        if !self.admits(instrument) {
            return Err(ClassRefusal::NotAllowed {
                symbol: instrument.symbol.clone(),
                allowed: self.allowed.join(", "),
            });
        }
        Ok(())
    }

    /// Checks a join code (constant time is not needed: the code is a classroom's, not a secret
    /// that guards money, and wrong guesses are cheap to see in the log).
    pub fn check_join(&self, code: &str) -> Result<(), ClassRefusal> {
        match &self.join_code {
            Some(expected) if !expected.eq_ignore_ascii_case(code.trim()) => {
                Err(ClassRefusal::WrongJoinCode { class: self.name.clone() })
            }
            _ => Ok(()),
        }
    }

    /// The cap check of a buy: `position_after` and `total_after` in the reporting currency.
    pub fn check_position(
        &self,
        symbol: &str,
        position_after: Decimal,
        total_after: Decimal,
    ) -> Result<(), ClassRefusal> {
        let Some(cap) = self.max_position_percent else { return Ok(()) };
        if total_after <= Decimal::ZERO {
            return Ok(());
        }
        let share = (position_after * Decimal::ONE_HUNDRED / total_after).round_dp(1);
        if position_after * Decimal::ONE_HUNDRED > cap * total_after {
            return Err(ClassRefusal::PositionCap { symbol: symbol.to_string(), share, cap });
        }
        Ok(())
    }

    /// Checks that the rules make sense together; `known` says whether a market or symbol
    /// exists.
    pub fn validate(&self, known: impl Fn(&str) -> bool) -> Result<(), String> {
        let name = self.name.trim();
        if name.is_empty() || name.chars().count() > MAX_NAME_LEN || name.chars().any(char::is_control) {
            return Err(format!("name must be 1 to {MAX_NAME_LEN} printable characters"));
        }
        if let Some(code) = &self.join_code
            && (!JOIN_CODE_LEN.contains(&code.len()) || !code.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
        {
            return Err(format!(
                "join_code must be {} to {} letters, digits or '-' (empty: no code)",
                JOIN_CODE_LEN.start(),
                JOIN_CODE_LEN.end()
            ));
        }
        for (currency, cash) in &self.starting_cash {
            if !is_amount(*cash) {
                return Err(format!(
                    "starting_cash {}: must be 0 to {MAX_AMOUNT} with at most {CASH_DP} decimal places",
                    currency.code()
                ));
            }
        }
        if let Some(unknown) = self.allowed.iter().find(|a| !known(a)) {
            return Err(format!("allowed: {unknown:?} is neither a market (india, usa, uk, crypto) nor a symbol"));
        }
        if !is_amount(self.commission.flat) {
            return Err(format!("commission.flat must be 0 to {MAX_AMOUNT} with at most {CASH_DP} decimal places"));
        }
        if self.commission.bps < Decimal::ZERO || self.commission.bps > MAX_COMMISSION_BPS {
            return Err(format!("commission.bps must be 0 to {MAX_COMMISSION_BPS} (10%)"));
        }
        if let Some(cap) = self.max_position_percent
            && (cap <= Decimal::ZERO || cap > Decimal::ONE_HUNDRED)
        {
            return Err("max_position_percent must be above 0 and at most 100 (0 or null: no cap)".into());
        }
        if let (Some(start), Some(end)) = (self.season_start, self.season_end)
            && start >= end
        {
            return Err("season_start must be before season_end".into());
        }
        Ok(())
    }
}

fn is_amount(amount: Decimal) -> bool {
    amount >= Decimal::ZERO && amount <= MAX_AMOUNT && amount.normalize().scale() <= CASH_DP
}

/// A change of the rules: every field is optional and keeps its value when left out. Empty
/// text (or 0 for the cap) clears an optional rule.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RulesChange {
    pub name: Option<String>,
    /// Empty: no join code (the class is open).
    pub join_code: Option<String>,
    /// Per currency code (INR, USD, GBP); currencies left out keep theirs. Applies to students
    /// who open their account from now on.
    #[schema(value_type = Option<BTreeMap<String, f64>>)]
    pub starting_cash: Option<BTreeMap<Currency, Decimal>>,
    /// Markets and symbols; empty: everything.
    pub allowed: Option<Vec<String>>,
    pub commission: Option<Commission>,
    /// 0: no cap.
    #[schema(value_type = Option<f64>)]
    pub max_position_percent: Option<Decimal>,
    /// ISO-8601 with offset; empty: no start.
    pub season_start: Option<String>,
    /// ISO-8601 with offset; empty: no end.
    pub season_end: Option<String>,
}

impl RulesChange {
    /// The rules after this change, or the reason it cannot apply.
    pub fn apply(&self, rules: &Rules, known: impl Fn(&str) -> bool) -> Result<Rules, String> {
        let mut next = rules.clone();
        if let Some(name) = &self.name {
            next.name = name.trim().to_string();
        }
        if let Some(code) = &self.join_code {
            next.join_code = Some(code.trim().to_string()).filter(|c| !c.is_empty());
        }
        if let Some(cash) = &self.starting_cash {
            next.starting_cash.extend(cash.iter().map(|(c, v)| (*c, *v)));
        }
        if let Some(allowed) = &self.allowed {
            next.allowed = normalize_allowed(allowed);
        }
        if let Some(commission) = self.commission {
            next.commission = commission;
        }
        if let Some(cap) = self.max_position_percent {
            next.max_position_percent = Some(cap).filter(|c| !c.is_zero());
        }
        next.season_start = parse_time("season_start", self.season_start.as_deref(), next.season_start)?;
        next.season_end = parse_time("season_end", self.season_end.as_deref(), next.season_end)?;
        next.validate(known)?;
        Ok(next)
    }
}

/// Markets in lower case, symbols in upper case, each once.
pub fn normalize_allowed(allowed: &[String]) -> Vec<String> {
    let mut list: Vec<String> = Vec::new();
    for entry in allowed {
        let entry = entry.trim();
        let entry = if Region::parse(&entry.to_ascii_lowercase()).is_some() {
            entry.to_ascii_lowercase()
        } else {
            entry.to_ascii_uppercase()
        };
        if !entry.is_empty() && !list.contains(&entry) {
            list.push(entry);
        }
    }
    list
}

fn parse_time(field: &str, text: Option<&str>, current: Option<Timestamp>) -> Result<Option<Timestamp>, String> {
    match text.map(str::trim) {
        None => Ok(current),
        Some("") => Ok(None),
        Some(text) => Timestamp::parse_rfc3339(text).map(Some).ok_or_else(|| {
            format!("{field}: {text:?} is not an ISO-8601 date-time with an offset, such as 2026-12-01T09:00:00Z")
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::instrument::default_universe;
    use rust_decimal_macros::dec;

    fn aapl() -> Instrument {
        default_universe().into_iter().find(|i| i.symbol == "AAPL").unwrap()
    }

    fn known(entry: &str) -> bool {
        Region::parse(entry).is_some() || default_universe().iter().any(|i| i.symbol == entry)
    }

    #[test]
    fn a_commission_is_flat_plus_basis_points_rounded_to_the_cent() {
        let c = Commission { flat: dec!(1.00), bps: dec!(5) };
        assert_eq!(c.on(dec!(1234.56)), dec!(1.62)); // 1 + 0.617280
        assert_eq!(Commission { flat: dec!(0), bps: dec!(25) }.on(dec!(10.00)), dec!(0.03)); // 0.025 up
        assert_eq!(Commission::default().on(dec!(999)), dec!(0));
    }

    #[test]
    fn open_rules_let_anyone_trade_anything_at_any_time() {
        let rules = Rules::open("Class", dec!(10000));
        assert_eq!(rules.check_order(false, &aapl(), Timestamp(0)), Ok(()));
        assert_eq!(rules.check_join("anything"), Ok(()));
        assert_eq!(rules.check_position("AAPL", dec!(100), dec!(100)), Ok(()));
    }

    #[test]
    fn each_rule_refuses_with_its_reason() {
        let change = RulesChange {
            join_code: Some("ECON-101".into()),
            allowed: Some(vec!["India".into(), "btc".into()]),
            max_position_percent: Some(dec!(25)),
            season_start: Some("2026-12-01T09:00:00Z".into()),
            season_end: Some("2026-12-20T17:00:00Z".into()),
            ..Default::default()
        };
        let rules = change.apply(&Rules::open("Econ", dec!(10000)), known).unwrap();
        assert_eq!(rules.allowed, ["india", "BTC"]);
        let during = Timestamp::parse_rfc3339("2026-12-05T10:00:00Z").unwrap();
        let before = Timestamp::parse_rfc3339("2026-11-30T10:00:00Z").unwrap();
        let after = Timestamp::parse_rfc3339("2026-12-20T17:00:00Z").unwrap();
        assert!(matches!(rules.check_order(true, &aapl(), before), Err(ClassRefusal::NotStarted(_))));
        assert!(matches!(rules.check_order(true, &aapl(), after), Err(ClassRefusal::Ended(_))));
        assert!(matches!(rules.check_order(false, &aapl(), during), Err(ClassRefusal::NotJoined { .. })));
        let refused = rules.check_order(true, &aapl(), during).unwrap_err();
        assert_eq!(refused.to_string(), "AAPL is not traded in this class: it trades india, BTC");
        assert_eq!(rules.check_join(" econ-101 "), Ok(()));
        assert!(rules.check_join("ECON-102").is_err());
        assert_eq!(rules.check_position("BTC", dec!(25), dec!(100)), Ok(()));
        let cap = rules.check_position("BTC", dec!(25.01), dec!(100)).unwrap_err();
        assert_eq!(
            cap.to_string(),
            "This buy would make BTC 25.0% of your total value; the class allows at most 25% in one position"
        );
    }

    #[test]
    fn a_change_keeps_what_it_leaves_out_and_clears_what_it_empties() {
        let first = RulesChange { join_code: Some("ABCD".into()), ..Default::default() }
            .apply(&Rules::open("A", dec!(100)), known)
            .unwrap();
        let second = RulesChange {
            name: Some("B".into()),
            starting_cash: Some([(Currency::Inr, dec!(500000))].into()),
            ..Default::default()
        }
        .apply(&first, known)
        .unwrap();
        assert_eq!(second.join_code.as_deref(), Some("ABCD"));
        assert_eq!(second.starting_cash[&Currency::Inr], dec!(500000));
        assert_eq!(second.starting_cash[&Currency::Usd], dec!(100));
        let cleared = RulesChange { join_code: Some(String::new()), ..Default::default() }.apply(&second, known);
        assert_eq!(cleared.unwrap().join_code, None);
    }

    #[test]
    fn nonsense_rules_are_refused_with_the_field_named() {
        let base = Rules::open("A", dec!(100));
        let cases = [
            (RulesChange { join_code: Some("a b".into()), ..Default::default() }, "join_code"),
            (RulesChange { allowed: Some(vec!["NOSUCH".into()]), ..Default::default() }, "allowed"),
            (
                RulesChange { commission: Some(Commission { flat: dec!(0.001), bps: dec!(0) }), ..Default::default() },
                "commission.flat",
            ),
            (
                RulesChange { commission: Some(Commission { flat: dec!(0), bps: dec!(1001) }), ..Default::default() },
                "commission.bps",
            ),
            (RulesChange { max_position_percent: Some(dec!(101)), ..Default::default() }, "max_position_percent"),
            (RulesChange { season_start: Some("tomorrow".into()), ..Default::default() }, "season_start"),
            (
                RulesChange {
                    season_start: Some("2026-12-02T00:00:00Z".into()),
                    season_end: Some("2026-12-01T00:00:00Z".into()),
                    ..Default::default()
                },
                "season_start must be before",
            ),
            (RulesChange { name: Some(" ".into()), ..Default::default() }, "name"),
        ];
        for (change, field) in cases {
            let reason = change.apply(&base, known).unwrap_err();
            assert!(reason.starts_with(field), "{reason}");
        }
    }
}

#[cfg(test)]
mod round_trip {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn rules_read_back_equal_to_what_was_recorded() {
        let mut rules = Rules::open("Econ 101", dec!(10000));
        rules.join_code = Some("ECON-101".into());
        rules.allowed = vec!["usa".into()];
        rules.commission = Commission { flat: dec!(1), bps: dec!(10) };
        rules.max_position_percent = Some(dec!(25));
        let text = serde_json::to_string(&rules).unwrap();
        let back: Rules = serde_json::from_str(&text).unwrap();
        assert_eq!(back, rules, "{text}");
    }
}
