//! Placing and replacing orders beyond market ones, on the ledger writer: an order whose price
//! is there fills at once; an `ioc`/`fok` one that cannot is canceled; any other rests with its
//! hold, which a replacement re-checks.

use super::book::Resting;
use super::ledger_writer::{Group, LedgerWriter, State};
use super::{Placed, TradeError, request::Changes};
use crate::domain::account::{Side, price_to_decimal};
use crate::domain::orders::{OrderSpec, OrderStatus, Progress, TermsError};
use crate::domain::time::Timestamp;
use crate::storage::ledger::{FilledOrder, OrderRecord};
use crate::storage::orders::{OrderFill, OrderInfo};
use rust_decimal::Decimal;

impl LedgerWriter {
    /// Places an order beyond a plain market order: fills it now if its price is there, cancels
    /// it (ioc, fok) if not, or rests it with its hold.
    pub(super) fn submit(
        &self,
        state: &mut State,
        group: &mut Group,
        uid: &str,
        instrument: usize,
        spec: OrderSpec,
    ) -> Result<Placed, TradeError> {
        let inst = self.universe.get(instrument);
        let (quoted, quoted_at) = self.quotes.latest(instrument);
        let now = self.clock.now();
        if now.0 - quoted_at.0 > self.max_quote_age_micros {
            return Err(TradeError::StalePrice(inst.symbol.clone()));
        }
        let last = price_to_decimal(quoted)?;
        spec.validate(last)?;
        self.admit(state, uid, instrument)?;
        let rests = spec.rests(last);
        if rests && state.book.open_orders_of(uid) >= self.limits.max_open_per_user {
            return Err(TradeError::TooManyOpenOrders(self.limits.max_open_per_user));
        }
        let mut order = OrderInfo {
            id: 0,
            firebase_uid: uid.to_string(),
            symbol: inst.symbol.clone(),
            currency: inst.currency,
            status: OrderStatus::New,
            reason: None,
            held: Decimal::ZERO,
            progress: Progress { triggered: false, mark: spec.trail.map(|_| last) },
            created_at: now,
            updated_at: now,
            expires_at: None,
            fill: None,
            spec,
        };
        self.touch(state, group, uid);
        let account = state.accounts.get_mut(uid).expect("touched");
        if order.spec.marketable(last) {
            let (side, quantity) = (order.spec.side, order.spec.quantity);
            let commission = self.charge(account, instrument, side, quantity, last)?;
            let fill = account.apply(&inst.symbol, inst.currency, side, quantity, last, commission)?;
            order.id = Self::take_order_id(state);
            self.fill_row(group, &mut order, fill, now);
            self.record(state, group, "fill", &order);
            let new_balance = state.accounts[uid].balance(inst.currency);
            return Ok(Placed { order, new_balance });
        }
        if !rests {
            order.id = Self::take_order_id(state);
            order.status = OrderStatus::Canceled;
            order.reason =
                Some(format!("{}: not fillable at once at the last price {last}", order.spec.time_in_force.as_str()));
            self.record(state, group, "canceled", &order);
        } else {
            order.held = self.hold_of(&order.spec, last);
            order.expires_at = order.spec.expires_at(now);
            let mut resting = Resting::of(&order, state.book.share(uid), instrument, quoted_at);
            account.hold(&resting.hold(&self.universe))?;
            order.id = Self::take_order_id(state);
            resting.id = order.id;
            self.remember(state, group, order.id);
            state.book.insert(resting);
            state.inbox.count(instrument, 1);
            self.record(state, group, "new", &order);
        }
        let new_balance = state.accounts[uid].balance(inst.currency);
        Ok(Placed { order, new_balance })
    }

    /// What a resting order holds back: its worst-case cost and the commission on it for a buy
    /// (the commission is charged again, under the rules then, when it fills), its quantity for
    /// a sell.
    fn hold_of(&self, spec: &OrderSpec, last: Decimal) -> Decimal {
        let hold = spec.hold(last, self.limits.stop_hold_buffer_percent);
        match spec.side {
            Side::Buy => hold + self.class.commission(hold),
            Side::Sell => hold,
        }
    }

    /// Turns an applied fill into the ledger row and the order's fill.
    pub(super) fn fill_row(
        &self,
        group: &mut Group,
        order: &mut OrderInfo,
        fill: crate::domain::account::Fill,
        at: Timestamp,
    ) {
        let record = OrderRecord {
            id: order.id,
            firebase_uid: order.firebase_uid.clone(),
            symbol: order.symbol.clone(),
            side: fill.side,
            order_type: order.spec.order_type,
            quantity: fill.quantity,
            currency: fill.currency,
            fill_price: fill.price,
            total: fill.value,
            commission: fill.commission,
            created_at: order.created_at,
            filled_at: at,
        };
        order.status = OrderStatus::Filled;
        order.held = Decimal::ZERO;
        order.updated_at = at;
        order.fill = Some(OrderFill {
            fill_id: record.id,
            price: fill.price,
            total: fill.value,
            commission: fill.commission,
            at,
        });
        group.batch.orders.push(FilledOrder {
            order: record,
            cash_after: fill.new_balance,
            position_after: fill.position,
        });
    }

    /// Replaces an open order's terms. The old hold is released and the new one taken, so the
    /// replacement is checked against what the user has; a refusal leaves the order as it was.
    pub(super) fn replace(
        &self,
        state: &mut State,
        group: &mut Group,
        uid: &str,
        id: i64,
        changes: &Changes,
    ) -> Result<Option<OrderInfo>, TradeError> {
        let Some(current) = state.book.open.get(&id).filter(|o| &*o.uid == uid).cloned() else {
            return Ok(None);
        };
        let (quoted, _) = self.quotes.latest(current.instrument);
        let last = price_to_decimal(quoted)?;
        let spec = changes.apply(&current.spec);
        spec.validate(last)?;
        if !spec.rests(last) {
            return Err(TradeError::Terms(TermsError::WouldFill(last)));
        }
        let mut replaced = current.clone();
        replaced.held = self.hold_of(&spec, last);
        replaced.spec = spec;
        let now = self.clock.now();
        replaced.updated_at = now;
        if replaced.expires_at.is_none() {
            replaced.expires_at = replaced.spec.expires_at(now);
        }
        self.touch(state, group, uid);
        let account = state.accounts.get_mut(uid).expect("touched");
        account.release(&current.hold(&self.universe));
        if let Err(refusal) = account.hold(&replaced.hold(&self.universe)) {
            account.hold(&current.hold(&self.universe)).expect("the old hold fitted before");
            return Err(refusal.into());
        }
        self.remember(state, group, id);
        state.book.remove(id);
        let order = replaced.info(&self.universe);
        state.book.insert(replaced);
        self.record(state, group, "replaced", &order);
        Ok(Some(order))
    }
}
