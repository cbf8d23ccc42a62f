//! The class's rules on the ledger writer: whether an order may trade now (membership, the
//! instrument, the season's window, the position cap) and what commission it pays. Read at the
//! moment each order is applied, so a change of the rules applies from then on.

use super::TradeError;
use super::ledger_writer::{Group, LedgerWriter, State};
use crate::domain::account::{Account, Side, order_value, price_to_decimal};
use crate::domain::class::Rules;
use crate::domain::instrument::Currency;
use crate::domain::valuation::value_of;
use rust_decimal::Decimal;

impl LedgerWriter {
    /// Checks an order against the rules that need no price: who, what and when.
    pub(super) fn admit(&self, state: &State, uid: &str, instrument: usize) -> Result<(), TradeError> {
        let rules = self.class.rules();
        rules.check_order(state.members.contains(uid), self.universe.get(instrument), self.clock.now())?;
        Ok(())
    }

    /// The commission an order of `quantity` at `price` pays now, after checking the position
    /// cap for a buy. `account` is the student's before the fill.
    pub(super) fn charge(
        &self,
        account: &Account,
        instrument: usize,
        side: Side,
        quantity: Decimal,
        price: Decimal,
    ) -> Result<Decimal, TradeError> {
        let rules = self.class.rules();
        let commission = rules.commission.on(order_value(price, quantity));
        if side == Side::Buy && rules.max_position_percent.is_some() {
            self.check_cap(&rules, account, instrument, quantity, price, commission)?;
        }
        Ok(commission)
    }

    fn check_cap(
        &self,
        rules: &Rules,
        account: &Account,
        instrument: usize,
        quantity: Decimal,
        price: Decimal,
        commission: Decimal,
    ) -> Result<(), TradeError> {
        let inst = self.universe.get(instrument);
        let fx = &self.class.reporting.fx;
        let price_of = |symbol: &str| -> Option<(Decimal, Currency)> {
            let index = self.universe.find(symbol)?;
            let last = if index == instrument { price } else { price_to_decimal(self.quotes.latest(index).0).ok()? };
            Some((last, self.universe.get(index).currency))
        };
        // The buy turns cash into the position at the same price; only the commission leaves.
        let total_after = value_of(account, fx, price_of).total() - fx.convert(commission, inst.currency);
        let held_after = account.position(&inst.symbol).quantity + quantity;
        let position_after = fx.convert(price * held_after, inst.currency);
        rules.check_position(&inst.symbol, position_after, total_after)?;
        Ok(())
    }

    /// Joins the class with its code; joining again is harmless.
    pub(super) fn join(&self, state: &mut State, group: &mut Group, uid: &str, code: &str) -> Result<(), TradeError> {
        self.class.rules().check_join(code)?;
        self.touch(state, group, uid);
        if state.members.insert(uid.to_string()) {
            group.joined.push(uid.to_string());
            group.batch.joins.push((uid.to_string(), self.clock.now()));
        }
        Ok(())
    }
}
