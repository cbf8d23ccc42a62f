//! Checking resting orders against the ticks the engine handed over, in the engine's order:
//! day orders expire when their day ends, and triggered orders fill in placement order.

use super::ledger_writer::{Group, LedgerWriter, State};
use crate::domain::account::price_to_decimal;
use crate::domain::market::Tick;
use crate::domain::orders::{OrderStatus, Progress, Step};
use crate::domain::time::Timestamp;
use crate::storage::orders::OrderInfo;
use rust_decimal::Decimal;

impl LedgerWriter {
    /// Checks the queued ticks against the resting orders of their symbols, in the engine's
    /// order, after expiring the day orders whose day has ended.
    pub(super) fn drain_ticks(&self, state: &mut State, group: &mut Group) {
        let ticks = state.inbox.take();
        let mut now = self.clock.now();
        if let Some(last) = ticks.last() {
            now = now.max(last.time);
        }
        for tick in &ticks {
            self.expire(state, group, tick.time);
            self.on_tick(state, group, tick);
        }
        self.expire(state, group, now);
    }

    fn expire(&self, state: &mut State, group: &mut Group, now: Timestamp) {
        while let Some(&(at, id)) = state.book.expiries.first().filter(|(at, _)| *at <= now) {
            self.close(state, group, id, OrderStatus::Expired, "a day order: its trading day ended".into(), at);
        }
    }

    fn on_tick(&self, state: &mut State, group: &mut Group, tick: &Tick) {
        let Ok(price) = price_to_decimal(tick.price) else { return };
        let Some(ids) = state.book.by_instrument.get(&tick.instrument) else { return };
        // First what the tick does to each order (most wait: nothing is copied for them), then
        // the changes in placement order, each fill seeing the account the earlier ones left.
        let steps: Vec<(i64, Progress, Step)> = ids
            .iter()
            .filter_map(|id| {
                let resting = state.book.open.get(id).filter(|o| tick.time > o.since)?;
                let mut progress = resting.progress;
                match resting.spec.on_tick(&mut progress, price) {
                    Step::Wait => None,
                    step => Some((*id, progress, step)),
                }
            })
            .collect();
        for (id, progress, step) in steps {
            match step {
                Step::Wait => {}
                Step::Moved => {
                    self.remember(state, group, id);
                    let resting = state.book.open.get_mut(&id).expect("open");
                    resting.progress = progress;
                    resting.updated_at = tick.time;
                    let order = resting.info(&self.universe);
                    self.record(state, group, "moved", &order);
                }
                Step::Fill(at) => self.fill_resting(state, group, id, progress, at, tick.time),
            }
        }
    }

    /// Fills a triggered order at `price`: its hold is released and the cash check made again;
    /// an order that no longer fits is rejected with the reason.
    fn fill_resting(
        &self,
        state: &mut State,
        group: &mut Group,
        id: i64,
        progress: Progress,
        price: Decimal,
        at: Timestamp,
    ) {
        self.remember(state, group, id);
        let resting = state.book.remove(id).expect("open");
        state.inbox.count(resting.instrument, -1);
        self.touch(state, group, &resting.uid);
        let account = state.accounts.get_mut(&*resting.uid).expect("touched");
        account.release(&resting.hold(&self.universe));
        let mut order = resting.info(&self.universe);
        order.progress = progress;
        let spec = &order.spec;
        let uid = &*resting.uid;
        let admitted = self
            .admit(state, uid, resting.instrument)
            .and_then(|()| self.charge(&state.accounts[uid], resting.instrument, spec.side, spec.quantity, price));
        let account = state.accounts.get_mut(uid).expect("touched");
        let applied = admitted.and_then(|commission| {
            Ok(account.apply(&order.symbol, order.currency, spec.side, spec.quantity, price, commission)?)
        });
        match applied {
            Ok(fill) => {
                let fill_id = Self::take_order_id(state);
                let mut with_row = OrderInfo { id: fill_id, ..order.clone() };
                self.fill_row(group, &mut with_row, fill, at);
                order.status = with_row.status;
                order.held = Decimal::ZERO;
                order.updated_at = at;
                order.fill = with_row.fill;
                self.record(state, group, "fill", &order);
            }
            Err(refusal) => {
                // Rules that changed since placement apply too: the season ended, the cap.
                order.status = OrderStatus::Rejected;
                order.reason = Some(format!("at {price}: {refusal}"));
                order.held = Decimal::ZERO;
                order.updated_at = at;
                self.record(state, group, "rejected", &order);
            }
        }
    }
}
