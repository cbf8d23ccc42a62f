//! The resting orders, owned by the ledger writer: the book, the recording of their events, and
//! canceling them. Placing and replacing are in `placing`, checking them against the ticks in
//! `matching`.
//!
//! Everything here runs on the writer thread inside a group, like market orders: an order's
//! hold, its fill and its account change are applied in memory, appended to the group's batch
//! as lifecycle events, and announced only once the group has committed (a failed commit puts
//! every order back as it was). Orders of one symbol are checked in placement (id) order, so
//! orders that trigger on the same tick fill in the order they were placed.

use super::Command;
use super::ledger_writer::{Group, LedgerWriter, State};
use crate::domain::account::{Hold, Side};
use crate::domain::instrument::Universe;
use crate::domain::orders::{OrderSpec, OrderStatus, Progress};
use crate::domain::time::Timestamp;
use crate::storage::orders::{OrderEvent, OrderInfo};
use rust_decimal::Decimal;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

/// A resting order as the writer keeps it: only what matching, holds and its next event need,
/// since 100,000 of them must stay small. Its symbol and currency are its instrument's, its user
/// is shared with that user's other orders, and while it rests its status is `new` with no
/// reason and no fill; [`Resting::info`] makes the whole order again for an event.
#[derive(Debug, Clone)]
pub(super) struct Resting {
    pub id: i64,
    pub uid: Arc<str>,
    pub instrument: usize,
    pub spec: OrderSpec,
    pub progress: Progress,
    /// Cash (a buy) or quantity (a sell) held back.
    pub held: Decimal,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub expires_at: Option<Timestamp>,
    /// Ticks at or before this instant were already in the price the order was placed against.
    pub since: Timestamp,
}

impl Resting {
    /// The resting part of `order` (an open one), for `uid` as the book shares it.
    pub fn of(order: &OrderInfo, uid: Arc<str>, instrument: usize, since: Timestamp) -> Self {
        Resting {
            id: order.id,
            uid,
            instrument,
            spec: order.spec.clone(),
            progress: order.progress,
            held: order.held,
            created_at: order.created_at,
            updated_at: order.updated_at,
            expires_at: order.expires_at,
            since,
        }
    }

    /// The whole order as the routes, the ledger and the stream show it.
    pub fn info(&self, universe: &Universe) -> OrderInfo {
        let instrument = universe.get(self.instrument);
        OrderInfo {
            id: self.id,
            firebase_uid: self.uid.to_string(),
            symbol: instrument.symbol.clone(),
            currency: instrument.currency,
            spec: self.spec.clone(),
            status: OrderStatus::New,
            reason: None,
            held: self.held,
            progress: self.progress,
            created_at: self.created_at,
            updated_at: self.updated_at,
            expires_at: self.expires_at,
            fill: None,
        }
    }

    pub fn hold(&self, universe: &Universe) -> Hold {
        let instrument = universe.get(self.instrument);
        match self.spec.side {
            Side::Buy => Hold::Cash(instrument.currency, self.held),
            Side::Sell => Hold::Quantity(instrument.symbol.clone(), self.held),
        }
    }
}

/// The open orders. `open` is a hash map rather than an ordered map (whose nodes stay about
/// half full when keys only grow); placement order is kept where matching needs it, as a sorted
/// list of ids per instrument: new ids are the largest, so placing appends, and a few large
/// lists leave no trail of small blocks in the heap.
#[derive(Debug, Default)]
pub(super) struct Book {
    pub open: HashMap<i64, Resting>,
    pub by_instrument: HashMap<usize, Vec<i64>>,
    /// Open orders per user; its keys are the users' ids that their orders share.
    pub per_user: HashMap<Arc<str>, usize>,
    pub expiries: BTreeSet<(Timestamp, i64)>,
}

impl Book {
    /// `uid` as the book's orders share it: one allocation per user, not one per order.
    pub fn share(&self, uid: &str) -> Arc<str> {
        self.per_user.get_key_value(uid).map_or_else(|| uid.into(), |(shared, _)| shared.clone())
    }

    pub fn open_orders_of(&self, uid: &str) -> usize {
        self.per_user.get(uid).copied().unwrap_or(0)
    }

    pub fn insert(&mut self, order: Resting) {
        *self.per_user.entry(order.uid.clone()).or_default() += 1;
        let ids = self.by_instrument.entry(order.instrument).or_default();
        match ids.last() {
            Some(&last) if last > order.id => {
                // Only an order put back (a replacement, an undone group) lands before the end.
                if let Err(at) = ids.binary_search(&order.id) {
                    ids.insert(at, order.id);
                }
            }
            _ => ids.push(order.id),
        }
        if let Some(at) = order.expires_at {
            self.expiries.insert((at, order.id));
        }
        self.open.insert(order.id, order);
    }

    pub fn remove(&mut self, id: i64) -> Option<Resting> {
        let order = self.open.remove(&id)?;
        if let Some(n) = self.per_user.get_mut(&order.uid) {
            *n -= 1;
            if *n == 0 {
                self.per_user.remove(&order.uid);
            }
        }
        if let Some(ids) = self.by_instrument.get_mut(&order.instrument)
            && let Ok(at) = ids.binary_search(&id)
        {
            ids.remove(at);
        }
        if let Some(at) = order.expires_at {
            self.expiries.remove(&(at, id));
        }
        Some(order)
    }
}

/// A group's order changes: how to undo them, and what to announce once committed.
#[derive(Debug, Default)]
pub(super) struct GroupOrders {
    /// Each touched order as it was before the group (`None`: it did not rest).
    before: HashMap<i64, Option<Resting>>,
    pub announce: Vec<(&'static str, OrderInfo)>,
    /// The next order and event ids when the group began.
    pub ids_before: (i64, i64),
}

impl LedgerWriter {
    pub(super) fn remember(&self, state: &State, group: &mut Group, id: i64) {
        group.orders.before.entry(id).or_insert_with(|| state.book.open.get(&id).cloned());
    }

    /// Appends the event and queues its announcement.
    pub(super) fn record(&self, state: &mut State, group: &mut Group, event: &'static str, order: &OrderInfo) {
        group.batch.order_events.push(OrderEvent { event_id: state.next_event_id, event, order: order.clone() });
        state.next_event_id += 1;
        if event != "moved" {
            group.orders.announce.push((event, order.clone()));
        }
    }

    pub(super) fn take_order_id(state: &mut State) -> i64 {
        state.next_order_id += 1;
        state.next_order_id - 1
    }

    /// Closes an open order without a fill (canceled, expired or rejected), releasing its hold.
    pub(super) fn close(
        &self,
        state: &mut State,
        group: &mut Group,
        id: i64,
        status: OrderStatus,
        reason: String,
        at: Timestamp,
    ) {
        self.remember(state, group, id);
        let Some(resting) = state.book.remove(id) else { return };
        state.inbox.count(resting.instrument, -1);
        self.touch(state, group, &resting.uid);
        state.accounts.get_mut(&*resting.uid).expect("touched").release(&resting.hold(&self.universe));
        let mut order = resting.info(&self.universe);
        order.status = status;
        order.reason = Some(reason);
        order.held = Decimal::ZERO;
        order.updated_at = at;
        self.record(state, group, status.as_str(), &order);
    }

    pub(super) fn cancel(&self, state: &mut State, group: &mut Group, uid: &str, id: i64) -> Option<OrderInfo> {
        if state.book.open.get(&id).is_none_or(|o| &*o.uid != uid) {
            return None;
        }
        self.close(state, group, id, OrderStatus::Canceled, "canceled by the user".into(), self.clock.now());
        group.batch.order_events.last().map(|e| e.order.clone())
    }

    /// After a commit: tells the order subscribers what happened.
    pub(super) fn announce(&self, orders: GroupOrders) {
        for (event, order) in &orders.announce {
            self.announce.order_event(event, order);
        }
    }

    /// After a failed commit: every touched order back as it was.
    pub(super) fn undo(&self, state: &mut State, orders: GroupOrders) {
        for (id, before) in orders.before {
            if let Some(now) = state.book.remove(id) {
                state.inbox.count(now.instrument, -1);
            }
            if let Some(before) = before {
                state.inbox.count(before.instrument, 1);
                state.book.insert(before);
            }
        }
        (state.next_order_id, state.next_event_id) = orders.ids_before;
    }

    /// Dispatches the commands that concern orders beyond market ones.
    pub(super) fn apply_order_command(&self, state: &mut State, group: &mut Group, command: Command) {
        match command {
            Command::Submit { uid, instrument, spec, reply } => {
                let result = self.submit(state, group, &uid, instrument, spec);
                group.replies.push(super::ledger_writer::Reply::Placed(reply, result));
            }
            Command::Cancel { uid, id, reply } => {
                let result = Ok(self.cancel(state, group, &uid, id));
                group.replies.push(super::ledger_writer::Reply::Order(reply, result));
            }
            Command::Replace { uid, id, changes, reply } => {
                let result = self.replace(state, group, &uid, id, &changes);
                group.replies.push(super::ledger_writer::Reply::Order(reply, result));
            }
            Command::Ticks => self.drain_ticks(state, group),
            _ => unreachable!("market orders and watchlists are the writer's own"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::ledger_writer::tests::FixedQuote;
    use super::super::{OrderRequest, Trading, ledger_writer::OrderLimits};
    use crate::domain::instrument::{Universe, default_universe};
    use crate::domain::market::Tick;
    use crate::domain::orders::OrderStatus;
    use crate::domain::time::{ManualClock, Timestamp};
    use crate::storage::Store;
    use crate::trading::LedgerWriter;
    use rust_decimal::Decimal;
    use rust_decimal_macros::dec;
    use std::sync::Arc;

    const NOW: Timestamp = Timestamp(1_800_000_000_000_000);

    fn trading(dir: &std::path::Path) -> (Trading, Arc<Store>) {
        let (trading, store, _) = trading_with_clock(dir);
        (trading, store)
    }

    fn trading_with_clock(dir: &std::path::Path) -> (Trading, Arc<Store>, Arc<ManualClock>) {
        let store = Arc::new(Store::open(&dir.join("book.duckdb"), "128MB", 1).unwrap());
        let clock = Arc::new(ManualClock::starting_at(NOW));
        let trading = LedgerWriter {
            universe: Arc::new(Universe::new(default_universe()).unwrap()),
            store: store.clone(),
            quotes: Arc::new(FixedQuote(100.0, NOW)),
            clock: clock.clone(),
            class: Arc::new(crate::class::Classroom::open(
                Arc::new(Universe::new(default_universe()).unwrap()),
                Decimal::from(10_000),
            )),
            max_quote_age_micros: 15_000_000,
            metrics: Arc::default(),
            limits: OrderLimits { max_open_per_user: 10, stop_hold_buffer_percent: Decimal::from(5) },
            announce: Arc::new(()),
            health: Arc::default(),
        }
        .start()
        .unwrap();
        (trading, store, clock)
    }

    fn limit(side: &str, quantity: &str, price: &str) -> OrderRequest {
        OrderRequest {
            firebase_uid: "u".into(),
            symbol: "AAPL".into(),
            side: side.into(),
            quantity: quantity.into(),
            market: "usa".into(),
            order_type: Some("limit".into()),
            time_in_force: Some("gtc".into()),
            limit_price: Some(price.into()),
            ..Default::default()
        }
    }

    /// Hands a tick to the writer and waits until it has been applied and committed: a later
    /// command is answered only after the group that drained the tick.
    async fn tick(t: &Trading, price: f64, second: i64) {
        let instrument = Universe::new(default_universe()).unwrap().find("AAPL").unwrap();
        t.tick_inbox().on_tick(&Tick { instrument, time: NOW.plus_micros(second * 1_000_000), price, volume: 1 });
        t.watch("sync", "AAPL", true).await.unwrap();
    }

    #[tokio::test]
    async fn a_resting_buy_holds_its_cost_fills_on_the_tick_that_reaches_it_and_releases_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let (t, store) = trading(dir.path());
        let placed = t.place(limit("buy", "2", "99")).await.unwrap();
        assert_eq!((placed.order.status, placed.order.held), (OrderStatus::New, dec!(198)));
        let account = t.portfolio("u").unwrap().account.clone();
        assert_eq!(
            (account.available_cash(crate::domain::instrument::Currency::Usd), account.held_cash.len()),
            (dec!(9802), 1)
        );

        tick(&t, 99.5, 1).await;
        assert_eq!(t.order("u", placed.order.id, None).unwrap().status, OrderStatus::New);
        tick(&t, 98.75, 2).await;
        let filled = t.order("u", placed.order.id, None).unwrap();
        assert_eq!(filled.status, OrderStatus::Filled);
        assert_eq!(filled.fill.map(|f| (f.price, f.total)), Some((dec!(98.75), dec!(197.50))));
        let account = t.portfolio("u").unwrap().account.clone();
        assert_eq!(account.balance(crate::domain::instrument::Currency::Usd), dec!(9802.50));
        assert!(account.held_cash.is_empty());
        assert_eq!(store.check_ledger().unwrap(), Vec::<String>::new());
        assert_eq!(store.check_orders().unwrap(), Vec::<String>::new());
    }

    #[tokio::test]
    async fn a_sell_holds_its_quantity_and_cancel_gives_it_back() {
        let dir = tempfile::tempdir().unwrap();
        let (t, store) = trading(dir.path());
        t.place(OrderRequest { order_type: None, limit_price: None, ..limit("buy", "3", "0") }).await.unwrap();
        let sell = t.place(limit("sell", "2", "120")).await.unwrap();
        assert_eq!(sell.order.held, dec!(2));
        let refused = t.place(limit("sell", "1.5", "130")).await.unwrap_err();
        assert_eq!(refused.reason(), "insufficient_holdings", "only one of three is free");
        let canceled = t.cancel("u", sell.order.id).await.unwrap();
        assert_eq!(canceled.status, OrderStatus::Canceled);
        assert_eq!(t.cancel("u", sell.order.id).await.unwrap().status, OrderStatus::Canceled, "idempotent");
        let kept = t.place(limit("sell", "3", "125")).await.unwrap();
        assert_eq!(t.portfolio("u").unwrap().account.held_quantity["AAPL"], dec!(3));
        tick(&t, 124.99, 4).await;
        tick(&t, 125.01, 5).await;
        let filled = t.order("u", kept.order.id, None).unwrap();
        assert_eq!(filled.fill.map(|f| f.price), Some(dec!(125.01)));
        assert!(filled.fill.unwrap().fill_id > kept.order.id, "the fill takes a fresh ledger row");
        assert_eq!(store.check_orders().unwrap(), Vec::<String>::new());
    }

    #[tokio::test]
    async fn a_stop_that_gaps_past_its_buffer_is_rejected_at_fill_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let (t, store) = trading(dir.path());
        let stop = OrderRequest {
            order_type: Some("stop".into()),
            limit_price: None,
            stop_price: Some("105".into()),
            ..limit("buy", "90", "0")
        };
        let placed = t.place(stop).await.unwrap();
        assert_eq!(placed.order.held, dec!(9922.50), "105 x 1.05 x 90");
        tick(&t, 104.99, 1).await;
        assert_eq!(t.order("u", placed.order.id, None).unwrap().status, OrderStatus::New);
        tick(&t, 112.0, 2).await; // 90 x 112 = 10,080: more than the 10,000 there is
        let rejected = t.order("u", placed.order.id, None).unwrap();
        assert_eq!(rejected.status, OrderStatus::Rejected);
        assert!(rejected.reason.unwrap().contains("Insufficient funds"));
        let account = t.portfolio("u").unwrap().account.clone();
        assert_eq!(
            (account.balance(crate::domain::instrument::Currency::Usd), account.held_cash.len()),
            (dec!(10000), 0)
        );
        assert_eq!(store.check_orders().unwrap(), Vec::<String>::new());
    }

    #[test]
    fn an_order_put_back_keeps_its_place_among_its_symbols_orders_and_users_share_one_id() {
        let universe = Universe::new(default_universe()).unwrap();
        let aapl = universe.find("AAPL").unwrap();
        let spec = crate::domain::orders::OrderSpec {
            side: crate::domain::account::Side::Buy,
            order_type: crate::domain::orders::OrderType::Limit,
            time_in_force: crate::domain::orders::TimeInForce::Gtc,
            quantity: dec!(1),
            limit_price: Some(dec!(90)),
            stop_price: None,
            trail: None,
        };
        let mut book = super::Book::default();
        for id in [3, 5, 8] {
            let uid = book.share("u");
            book.insert(super::Resting {
                id,
                uid,
                instrument: aapl,
                spec: spec.clone(),
                progress: Default::default(),
                held: dec!(90),
                created_at: NOW,
                updated_at: NOW,
                expires_at: None,
                since: NOW,
            });
        }
        let put_back = book.remove(5).unwrap();
        assert_eq!(book.by_instrument[&aapl], vec![3, 8]);
        book.insert(put_back);
        assert_eq!(book.by_instrument[&aapl], vec![3, 5, 8], "placement order, not insertion order");
        assert!(std::sync::Arc::ptr_eq(&book.open[&3].uid, &book.open[&8].uid));
        assert_eq!(book.open_orders_of("u"), 3);
        assert_eq!(book.open[&5].info(&universe).symbol, "AAPL");
    }

    #[derive(Debug, Clone)]
    enum Op {
        Place { buy: bool, kind: u8, day: bool, hundredths: u32, cents: u32 },
        Cancel(usize),
        Replace(usize, u32),
        Tick(u32),
        NextDay,
    }

    fn op() -> impl proptest::strategy::Strategy<Value = Op> {
        use proptest::prelude::*;
        prop_oneof![
            4 => (any::<bool>(), 0u8..4, any::<bool>(), 1u32..400, 1u32..1_000)
                .prop_map(|(buy, kind, day, hundredths, cents)| Op::Place { buy, kind, day, hundredths, cents }),
            2 => (0usize..8).prop_map(Op::Cancel),
            1 => (0usize..8, 1u32..400).prop_map(|(i, q)| Op::Replace(i, q)),
            4 => (9_000u32..11_000).prop_map(Op::Tick),
            1 => Just(Op::NextDay),
        ]
    }

    /// Terms around a fixed last price of 100: limits anywhere near it, stops on their side.
    fn request(buy: bool, kind: u8, day: bool, hundredths: u32, cents: u32) -> OrderRequest {
        let side = if buy { "buy" } else { "sell" };
        let near = Decimal::new(9_500 + i64::from(cents), 2).to_string(); // 95.00 to 104.99
        let stop =
            if buy { Decimal::new(10_001 + i64::from(cents), 2) } else { Decimal::new(9_999 - i64::from(cents), 2) };
        let mut r = limit(side, &Decimal::new(i64::from(hundredths), 2).to_string(), &near);
        r.time_in_force = Some(if day { "day" } else { "gtc" }.into());
        match kind {
            0 => {}
            1 => (r.order_type, r.limit_price, r.stop_price) = (Some("stop".into()), None, Some(stop.to_string())),
            2 => (r.order_type, r.stop_price) = (Some("stop_limit".into()), Some(stop.to_string())),
            _ => {
                (r.order_type, r.limit_price, r.trail_percent) =
                    (Some("trailing_stop".into()), None, Some("1.5".into()))
            }
        }
        r
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 12, ..Default::default() })]
        /// Whatever happens, cash and holdings are the opening state plus the fills, what is held
        /// is exactly what the open orders hold (never more than there is), and every order is
        /// open or in exactly one final state, which nothing follows.
        #[test]
        fn any_sequence_of_orders_ticks_and_days_keeps_the_books_exact(ops in proptest::collection::vec(op(), 1..40)) {
            use crate::domain::instrument::Currency::Usd;
            use crate::storage::orders::OrderFilter;
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async {
                let dir = tempfile::tempdir().unwrap();
                let (t, store, clock) = trading_with_clock(dir.path());
                t.place(OrderRequest { order_type: None, limit_price: None, ..limit("buy", "20", "0") }).await.unwrap();
                let mut placed = Vec::new();
                let mut second = 0;
                for op in ops {
                    match op {
                        Op::Place { buy, kind, day, hundredths, cents } => {
                            if let Ok(p) = t.place(request(buy, kind, day, hundredths, cents)).await {
                                placed.push(p.order.id);
                            }
                        }
                        Op::Cancel(i) => if let Some(id) = placed.get(i) { let _ = t.cancel("u", *id).await; },
                        Op::Replace(i, q) => if let Some(id) = placed.get(i) {
                            let quantity = Some(Decimal::new(i64::from(q), 2).to_string());
                            let _ = t.replace("u", *id, super::super::Replacement { quantity, ..Default::default() }).await;
                        },
                        Op::Tick(cents) => { second += 1; tick(&t, f64::from(cents) / 100.0, second).await }
                        Op::NextDay => { clock.advance_micros(crate::domain::time::MICROS_PER_DAY); tick(&t, 100.0, second).await }
                    }
                }
                let account = t.portfolio("u").unwrap().account.clone();
                let orders = t.orders_listed("u", OrderFilter::All, 1_000, None).unwrap();
                let (mut held_cash, mut held_quantity, mut cash) = (Decimal::ZERO, Decimal::ZERO, Decimal::from(10_000));
                let mut quantity = Decimal::ZERO;
                for o in &orders {
                    match (o.status, o.spec.side) {
                        (OrderStatus::New, crate::domain::account::Side::Buy) => held_cash += o.held,
                        (OrderStatus::New, crate::domain::account::Side::Sell) => held_quantity += o.held,
                        _ => assert_eq!(o.held, Decimal::ZERO, "a closed order holds nothing"),
                    }
                    if let Some(f) = o.fill {
                        let buy = o.spec.side == crate::domain::account::Side::Buy;
                        cash += if buy { -f.total } else { f.total };
                        quantity += if buy { o.spec.quantity } else { -o.spec.quantity };
                    }
                }
                assert_eq!(account.balance(Usd), cash, "cash is the opening balance less buys plus sells");
                assert_eq!(account.held_cash.get(&Usd).copied().unwrap_or_default(), held_cash);
                assert_eq!(account.held_quantity.get("AAPL").copied().unwrap_or_default(), held_quantity);
                assert_eq!(account.position("AAPL").quantity, quantity);
                assert!(account.available_cash(Usd) >= Decimal::ZERO && account.available_quantity("AAPL") >= Decimal::ZERO);
                assert_eq!(store.check_ledger().unwrap(), Vec::<String>::new());
                assert_eq!(store.check_orders().unwrap(), Vec::<String>::new());
            });
        }
    }
}
