//! The cost of one ledger group commit on its own, without HTTP: the floor under the order
//! latency of `benches/orders.rs`.
//!
//! `cargo bench --bench ledger_commit`. Commits groups of 1, 20 and 100 orders (each a
//! different user) through the ledger's own write path into a fresh database file, and
//! prints the median and p99 time of one commit.

mod common;

use finlearn::domain::account::{Position, Side};
use finlearn::domain::instrument::Currency;
use finlearn::domain::orders::OrderType;
use finlearn::domain::time::Timestamp;
use finlearn::storage::Store;
use finlearn::storage::ledger::{FilledOrder, LedgerBatch, OrderRecord, commit_ledger};
use rust_decimal::Decimal;
use std::time::Instant;

const COMMITS: usize = 400;

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("ledger.duckdb"), "256MB", 2).unwrap();
    let conn = store.ledger_connection().unwrap();
    let mut next_id = 1;
    for group in [1usize, 20, 100] {
        let mut millis = Vec::with_capacity(COMMITS);
        for _ in 0..COMMITS {
            let orders = (0..group)
                .map(|u| {
                    next_id += 1;
                    let order = OrderRecord {
                        id: next_id,
                        firebase_uid: format!("user-{u}"),
                        symbol: "AAPL".into(),
                        side: Side::Buy,
                        order_type: OrderType::Market,
                        quantity: Decimal::new(1, 2),
                        currency: Currency::Usd,
                        fill_price: Decimal::new(19_250, 2),
                        total: Decimal::new(193, 2),
                        commission: Decimal::ZERO,
                        created_at: Timestamp::from_seconds(1_800_000_000),
                        filled_at: Timestamp::from_seconds(1_800_000_000),
                    };
                    let position_after = Position { quantity: Decimal::new(1, 2), cost_basis: Decimal::new(193, 2) };
                    FilledOrder { order, cash_after: Decimal::new(999_807, 2), position_after }
                })
                .collect();
            let batch = LedgerBatch { orders, ..LedgerBatch::default() };
            let started = Instant::now();
            commit_ledger(&conn, &batch).unwrap();
            millis.push(started.elapsed().as_secs_f64() * 1e3);
        }
        println!(
            "commit of {group:>3} order(s): p50 {:.2} ms, p99 {:.2} ms ({COMMITS} commits)",
            common::percentile(&mut millis, 50.0),
            common::percentile(&mut millis, 99.0)
        );
    }
}
