//! The paper-trading rules: accounts with cash per currency, positions with average cost, and
//! market orders that either fill completely or change nothing.
//!
//! Money is `Decimal` with two decimal places; quantities have up to six. The one rounding rule:
//! an order's value (price x quantity) is rounded to the cent, half away from zero, and that
//! exact amount leaves or enters the cash balance. No floating point touches money.

use super::instrument::Currency;
use rust_decimal::{Decimal, RoundingStrategy};
use std::collections::BTreeMap;

/// Decimal places of cash.
pub const CASH_DP: u32 = 2;
/// Decimal places of a quantity (fractional shares down to a millionth).
pub const QUANTITY_DP: u32 = 6;
/// The largest quantity one order may trade: far beyond any student's cash, small enough that
/// price x quantity stays exact in `Decimal`.
pub const MAX_QUANTITY: Decimal = Decimal::from_parts(1_000_000_000, 0, 0, false, 0);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    Buy,
    Sell,
}

impl Side {
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Buy => "buy",
            Side::Sell => "sell",
        }
    }

    pub fn parse(text: &str) -> Option<Side> {
        match text {
            "buy" => Some(Side::Buy),
            "sell" => Some(Side::Sell),
            _ => None,
        }
    }
}

/// Why an order was refused. Every refusal leaves the account untouched.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("Insufficient funds: the order costs {cost} {currency} but the balance is {balance} {currency}")]
    InsufficientFunds { cost: Decimal, balance: Decimal, currency: &'static str },
    #[error("Insufficient holdings: selling {wanted} {symbol} but holding {held}")]
    InsufficientHoldings { symbol: String, wanted: Decimal, held: Decimal },
    #[error("Quantity must be a positive number with at most {QUANTITY_DP} decimal places, up to {MAX_QUANTITY}")]
    BadQuantity,
    #[error("Invalid price")]
    BadPrice,
}

/// Checks an order quantity: positive, at most six decimal places, not absurdly large.
pub fn validate_quantity(quantity: Decimal) -> Result<Decimal, Refusal> {
    if quantity <= Decimal::ZERO || quantity > MAX_QUANTITY || quantity.normalize().scale() > QUANTITY_DP {
        return Err(Refusal::BadQuantity);
    }
    Ok(quantity.normalize())
}

/// The exact price of a quote on the 0.01 grid.
pub fn price_to_decimal(price: f64) -> Result<Decimal, Refusal> {
    if !(price.is_finite() && price > 0.0) {
        return Err(Refusal::BadPrice);
    }
    Decimal::try_from(price).map(|d| d.round_dp(CASH_DP)).map_err(|_| Refusal::BadPrice)
}

/// The cash value of `quantity` at `price`, by the one rounding rule.
pub fn order_value(price: Decimal, quantity: Decimal) -> Decimal {
    round_cents(price * quantity)
}

/// The one rounding rule: to the cent, half away from zero.
pub fn round_cents(amount: Decimal) -> Decimal {
    amount.round_dp_with_strategy(CASH_DP, RoundingStrategy::MidpointAwayFromZero)
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Position {
    pub quantity: Decimal,
    /// What the held quantity cost, in the instrument's currency, in whole cents.
    pub cost_basis: Decimal,
}

impl Position {
    /// Average cost per unit, rounded to the cent for display.
    pub fn average_cost(&self) -> Decimal {
        if self.quantity.is_zero() { Decimal::ZERO } else { round_cents(self.cost_basis / self.quantity) }
    }
}

/// One user's cash and holdings, and what resting orders hold back of them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Account {
    pub cash: BTreeMap<Currency, Decimal>,
    pub positions: BTreeMap<String, Position>,
    /// Cash held by resting buy orders, per currency: not available to new orders.
    pub held_cash: BTreeMap<Currency, Decimal>,
    /// Quantities held by resting sell orders, per symbol.
    pub held_quantity: BTreeMap<String, Decimal>,
    /// Orders filled so far.
    pub fills: u64,
    /// The cash it opened with, per currency: what its return is measured against (the class's
    /// starting cash may have changed since).
    pub opening: BTreeMap<Currency, Decimal>,
}

/// What a resting order holds back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hold {
    Cash(Currency, Decimal),
    Quantity(String, Decimal),
}

/// What a filled order did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fill {
    pub side: Side,
    pub price: Decimal,
    pub quantity: Decimal,
    pub value: Decimal,
    /// The class's commission on this order, taken from the cash with the value.
    pub commission: Decimal,
    pub currency: Currency,
    pub new_balance: Decimal,
    pub position: Position,
}

impl Account {
    pub fn opened_with(starting_cash: Decimal) -> Self {
        let cash: BTreeMap<Currency, Decimal> = Currency::ALL.iter().map(|c| (*c, starting_cash)).collect();
        Account { opening: cash.clone(), cash, ..Default::default() }
    }

    /// Cash that new orders may spend: the balance less what resting buys hold.
    pub fn available_cash(&self, currency: Currency) -> Decimal {
        self.balance(currency) - self.held_cash.get(&currency).copied().unwrap_or_default()
    }

    /// Quantity that new sells may sell: the position less what resting sells hold.
    pub fn available_quantity(&self, symbol: &str) -> Decimal {
        self.position(symbol).quantity - self.held_quantity.get(symbol).copied().unwrap_or_default()
    }

    /// Holds back cash or quantity for a resting order, or refuses if it is not available.
    pub fn hold(&mut self, hold: &Hold) -> Result<(), Refusal> {
        match hold {
            Hold::Cash(currency, amount) => {
                let balance = self.available_cash(*currency);
                if *amount > balance {
                    return Err(Refusal::InsufficientFunds { cost: *amount, balance, currency: currency.code() });
                }
                *self.held_cash.entry(*currency).or_default() += *amount;
            }
            Hold::Quantity(symbol, quantity) => {
                let held = self.available_quantity(symbol);
                if *quantity > held {
                    return Err(Refusal::InsufficientHoldings { symbol: symbol.clone(), wanted: *quantity, held });
                }
                *self.held_quantity.entry(symbol.clone()).or_default() += *quantity;
            }
        }
        Ok(())
    }

    /// Holds back without checking: restoring the holds of orders already accepted.
    pub fn force_hold(&mut self, hold: &Hold) {
        match hold {
            Hold::Cash(currency, amount) => *self.held_cash.entry(*currency).or_default() += *amount,
            Hold::Quantity(symbol, quantity) => *self.held_quantity.entry(symbol.clone()).or_default() += *quantity,
        }
    }

    /// Gives back what [`Account::hold`] held.
    pub fn release(&mut self, hold: &Hold) {
        match hold {
            Hold::Cash(currency, amount) => {
                let held = self.held_cash.entry(*currency).or_default();
                *held -= *amount;
                if held.is_zero() {
                    self.held_cash.remove(currency);
                }
            }
            Hold::Quantity(symbol, quantity) => {
                let held = self.held_quantity.entry(symbol.clone()).or_default();
                *held -= *quantity;
                if held.is_zero() {
                    self.held_quantity.remove(symbol);
                }
            }
        }
    }

    pub fn balance(&self, currency: Currency) -> Decimal {
        self.cash.get(&currency).copied().unwrap_or_default()
    }

    pub fn position(&self, symbol: &str) -> Position {
        self.positions.get(symbol).cloned().unwrap_or_default()
    }

    /// Applies a market order at `price` with its `commission`, or refuses it and changes
    /// nothing. A buy's commission is part of what the position cost; a sell's comes out of
    /// its proceeds.
    pub fn apply(
        &mut self,
        symbol: &str,
        currency: Currency,
        side: Side,
        quantity: Decimal,
        price: Decimal,
        commission: Decimal,
    ) -> Result<Fill, Refusal> {
        let quantity = validate_quantity(quantity)?;
        if price <= Decimal::ZERO {
            return Err(Refusal::BadPrice);
        }
        let value = order_value(price, quantity);
        let balance = self.balance(currency);
        let mut position = self.position(symbol);
        let new_balance = match side {
            Side::Buy => {
                let cost = value + commission;
                let available = self.available_cash(currency);
                if cost > available {
                    return Err(Refusal::InsufficientFunds { cost, balance: available, currency: currency.code() });
                }
                position.quantity += quantity;
                position.cost_basis += cost;
                balance - cost
            }
            Side::Sell => {
                let available = self.available_quantity(symbol);
                if quantity > available {
                    return Err(Refusal::InsufficientHoldings {
                        symbol: symbol.into(),
                        wanted: quantity,
                        held: available,
                    });
                }
                // A commission above a tiny sale's value is paid from the cash that is free.
                let available = self.available_cash(currency);
                if commission - value > available {
                    return Err(Refusal::InsufficientFunds {
                        cost: commission - value,
                        balance: available,
                        currency: currency.code(),
                    });
                }
                // The basis leaves in proportion to the quantity sold, rounded by the same rule;
                // all of it on a full exit, so nothing is ever left over.
                let released = if quantity == position.quantity {
                    position.cost_basis
                } else {
                    round_cents(position.cost_basis * quantity / position.quantity)
                };
                position.quantity -= quantity;
                position.cost_basis -= released;
                balance + value - commission
            }
        };
        self.cash.insert(currency, new_balance);
        self.fills += 1;
        if position.quantity.is_zero() {
            self.positions.remove(symbol);
        } else {
            self.positions.insert(symbol.to_string(), position.clone());
        }
        Ok(Fill { side, price, quantity, value, commission, currency, new_balance, position })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rust_decimal_macros::dec;

    fn account() -> Account {
        Account::opened_with(dec!(10000))
    }

    #[test]
    fn a_buy_takes_the_exact_cost_and_records_the_average() {
        let mut a = account();
        let fill = a.apply("AAPL", Currency::Usd, Side::Buy, dec!(3), dec!(192.37), dec!(0)).unwrap();
        assert_eq!(fill.value, dec!(577.11));
        assert_eq!(a.balance(Currency::Usd), dec!(9422.89));
        a.apply("AAPL", Currency::Usd, Side::Buy, dec!(1), dec!(200.00), dec!(0)).unwrap();
        assert_eq!(a.position("AAPL").average_cost(), dec!(194.28));
        assert_eq!(a.balance(Currency::Inr), dec!(10000), "other currencies untouched");
    }

    #[test]
    fn fractional_values_round_half_away_from_zero_to_the_cent() {
        assert_eq!(order_value(dec!(0.05), dec!(0.1)), dec!(0.01)); // 0.005
        assert_eq!(order_value(dec!(0.05), dec!(0.09)), dec!(0.00)); // 0.0045
        assert_eq!(order_value(dec!(192.5), dec!(0.333333)), dec!(64.17)); // 64.1666...
    }

    #[test]
    fn buying_beyond_the_balance_is_refused_and_changes_nothing() {
        let mut a = account();
        let before = a.clone();
        let refusal = a.apply("BTC", Currency::Usd, Side::Buy, dec!(1), dec!(42500), dec!(0)).unwrap_err();
        assert!(matches!(refusal, Refusal::InsufficientFunds { .. }));
        assert_eq!(a, before);
    }

    #[test]
    fn selling_more_than_held_is_rejected() {
        let mut a = account();
        a.apply("AAPL", Currency::Usd, Side::Buy, dec!(2), dec!(100), dec!(0)).unwrap();
        let refusal = a.apply("AAPL", Currency::Usd, Side::Sell, dec!(2.5), dec!(100), dec!(0)).unwrap_err();
        assert!(matches!(refusal, Refusal::InsufficientHoldings { .. }));
        assert_eq!(a.position("AAPL").quantity, dec!(2));
    }

    #[test]
    fn held_cash_and_quantities_are_not_available_to_new_orders() {
        let mut a = account();
        a.apply("AAPL", Currency::Usd, Side::Buy, dec!(2), dec!(100), dec!(0)).unwrap();
        a.hold(&Hold::Cash(Currency::Usd, dec!(9700))).unwrap();
        assert_eq!(a.available_cash(Currency::Usd), dec!(100));
        assert!(matches!(
            a.apply("AAPL", Currency::Usd, Side::Buy, dec!(2), dec!(100), dec!(0)),
            Err(Refusal::InsufficientFunds { .. })
        ));
        assert!(a.hold(&Hold::Cash(Currency::Usd, dec!(100.01))).is_err());
        a.hold(&Hold::Quantity("AAPL".into(), dec!(1.5))).unwrap();
        assert!(matches!(
            a.apply("AAPL", Currency::Usd, Side::Sell, dec!(1), dec!(100), dec!(0)),
            Err(Refusal::InsufficientHoldings { .. })
        ));
        a.release(&Hold::Quantity("AAPL".into(), dec!(1.5)));
        a.release(&Hold::Cash(Currency::Usd, dec!(9700)));
        assert_eq!(a.held_cash, BTreeMap::new());
        a.apply("AAPL", Currency::Usd, Side::Sell, dec!(2), dec!(100), dec!(0)).unwrap();
        assert_eq!(a, Account { fills: 2, ..account() }, "nothing held, nothing left over");
    }

    #[test]
    fn a_commission_is_part_of_a_buys_cost_and_comes_out_of_a_sales_proceeds() {
        let mut a = account();
        let buy = a.apply("AAPL", Currency::Usd, Side::Buy, dec!(10), dec!(100), dec!(1.50)).unwrap();
        assert_eq!((buy.value, buy.commission, buy.new_balance), (dec!(1000), dec!(1.50), dec!(8998.50)));
        assert_eq!(a.position("AAPL").cost_basis, dec!(1001.50));
        let sell = a.apply("AAPL", Currency::Usd, Side::Sell, dec!(10), dec!(100), dec!(1.50)).unwrap();
        assert_eq!(sell.new_balance, dec!(9997.00));
        let mut poor = Account::opened_with(dec!(1));
        assert!(matches!(
            poor.apply("AAPL", Currency::Usd, Side::Buy, dec!(0.01), dec!(50), dec!(0.51)),
            Err(Refusal::InsufficientFunds { .. })
        ));
    }

    #[test]
    fn a_position_sold_to_zero_disappears() {
        let mut a = account();
        a.apply("AAPL", Currency::Usd, Side::Buy, dec!(2), dec!(100), dec!(0)).unwrap();
        a.apply("AAPL", Currency::Usd, Side::Sell, dec!(2), dec!(110), dec!(0)).unwrap();
        assert!(a.positions.is_empty());
        assert_eq!(a.balance(Currency::Usd), dec!(10020));
    }

    #[test]
    fn quantities_must_be_positive_and_at_most_six_places() {
        for bad in [dec!(0), dec!(-1), dec!(0.0000001), dec!(1000000001)] {
            assert_eq!(validate_quantity(bad), Err(Refusal::BadQuantity), "{bad}");
        }
        assert_eq!(validate_quantity(dec!(0.000001)), Ok(dec!(0.000001)));
        assert_eq!(validate_quantity(dec!(5.000)), Ok(dec!(5)));
    }

    #[test]
    fn quote_prices_convert_exactly_to_cents() {
        assert_eq!(price_to_decimal(192.37).unwrap(), dec!(192.37));
        assert_eq!(price_to_decimal(0.1 + 0.2).unwrap(), dec!(0.30));
        assert!(price_to_decimal(f64::NAN).is_err());
    }

    proptest! {
        /// Whatever the order sequence and commissions, cash is start - buys - commissions +
        /// sells exactly, never negative, and each position is bought - sold.
        #[test]
        fn ledger_invariants_hold_for_any_order_sequence(
            orders in prop::collection::vec(
                (any::<bool>(), 0usize..3, 1u32..5_000_000, 1u32..2_000_000, 0u32..2_000), 1..200)
        ) {
            let symbols = ["AAPL", "TSLA", "BTC"];
            let mut a = account();
            let mut net_cash = Decimal::ZERO;
            let mut net_qty: BTreeMap<&str, Decimal> = BTreeMap::new();
            for (buy, s, qty_micro, price_cents, commission_cents) in orders {
                let quantity = Decimal::new(i64::from(qty_micro), 6);
                let price = Decimal::new(i64::from(price_cents), 2);
                let commission = Decimal::new(i64::from(commission_cents), 2);
                let side = if buy { Side::Buy } else { Side::Sell };
                let before = a.clone();
                match a.apply(symbols[s], Currency::Usd, side, quantity, price, commission) {
                    Ok(fill) => {
                        let signed = if buy { -fill.value } else { fill.value };
                        net_cash += signed - fill.commission;
                        *net_qty.entry(symbols[s]).or_default() += if buy { quantity } else { -quantity };
                    }
                    Err(_) => prop_assert_eq!(&a, &before),
                }
                prop_assert!(a.balance(Currency::Usd) >= Decimal::ZERO);
                prop_assert_eq!(a.balance(Currency::Usd), dec!(10000) + net_cash);
                for (symbol, q) in &net_qty {
                    prop_assert_eq!(a.position(symbol).quantity, *q);
                    prop_assert!(a.position(symbol).cost_basis >= Decimal::ZERO);
                }
            }
        }
    }
}
