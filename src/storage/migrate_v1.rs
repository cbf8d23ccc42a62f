//! The one migration: a version 1 ledger (balance and position rows updated in place) to the
//! append-only layout of version 2.

use super::ledger::{currency_of, from_cents, from_micros, to_cents, to_micros};
use super::{Result, StorageError, transaction};
use crate::domain::account::{Account, Position, Side};
use duckdb::Connection;
use rust_decimal::Decimal;
use std::collections::HashMap;

/// Brings a version 1 ledger (balance and position rows updated in place) to the append-only
/// layout, in one transaction: the opening balances are kept, and the account state after
/// each order is recomputed by replaying the history through the same trading rules. A history
/// that does not replay (a damaged file) stops the migration and leaves the file as it was.
pub(super) fn migrate_from_v1(conn: &Connection) -> Result<()> {
    transaction(conn, || {
        conn.execute_batch(
            "INSERT INTO opening_balances SELECT firebase_uid, currency, starting_cents FROM balances;
             ALTER TABLE orders ADD COLUMN cash_after_cents BIGINT DEFAULT 0;
             ALTER TABLE orders ADD COLUMN position_after_micros BIGINT DEFAULT 0;
             ALTER TABLE orders ADD COLUMN cost_after_cents BIGINT DEFAULT 0;
             CREATE TEMP TABLE replayed (id BIGINT, cash BIGINT, quantity BIGINT, cost BIGINT);",
        )?;
        let mut accounts: HashMap<String, Account> = HashMap::new();
        let mut stmt = conn.prepare("SELECT firebase_uid, currency, starting_cents FROM balances")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, i64>(2)?)))?;
        for row in rows {
            let (uid, currency, cents) = row?;
            accounts.entry(uid).or_default().cash.insert(currency_of(&currency), from_cents(cents));
        }
        let mut stmt = conn.prepare(
            "SELECT id, firebase_uid, symbol, side, quantity_micros, currency, fill_price_cents, total_cents
             FROM orders ORDER BY id",
        )?;
        let mut replayed = conn.appender("replayed")?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let (id, uid, symbol): (i64, String, String) = (r.get(0)?, r.get(1)?, r.get(2)?);
            let side = if r.get::<_, String>(3)? == "sell" { Side::Sell } else { Side::Buy };
            let (quantity, price, total) = (from_micros(r.get(4)?), from_cents(r.get(6)?), from_cents(r.get(7)?));
            let account = accounts.entry(uid.clone()).or_default();
            let fill = account
                .apply(&symbol, currency_of(&r.get::<_, String>(5)?), side, quantity, price, Decimal::ZERO)
                .ok()
                .filter(|fill| fill.value == total)
                .ok_or_else(|| StorageError::Migration(format!("order {id} of {uid} does not replay")))?;
            replayed.append_row(duckdb::params![
                id,
                to_cents(fill.new_balance),
                to_micros(fill.position.quantity),
                to_cents(fill.position.cost_basis)
            ])?;
        }
        replayed.flush()?;
        drop(replayed);
        // The replay must arrive where the stored rows say the accounts are.
        let mut stmt = conn.prepare("SELECT firebase_uid, currency, cash_cents FROM balances")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, i64>(2)?)))?;
        for row in rows {
            let (uid, currency, cents) = row?;
            let replayed = accounts.get(&uid).map(|a| a.balance(currency_of(&currency))).unwrap_or_default();
            if replayed != from_cents(cents) {
                return Err(StorageError::Migration(format!(
                    "the balance of {uid} in {currency} is {} but the orders give {replayed}",
                    from_cents(cents)
                )));
            }
        }
        let mut stmt = conn.prepare(
            "SELECT firebase_uid, symbol, quantity_micros, cost_cents FROM positions WHERE quantity_micros > 0",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, i64>(2)?, r.get::<_, i64>(3)?))
        })?;
        let mut open_positions = 0;
        for row in rows {
            let (uid, symbol, quantity, cost) = row?;
            let stored = Position { quantity: from_micros(quantity), cost_basis: from_cents(cost) };
            let replayed = accounts.get(&uid).map(|a| a.position(&symbol)).unwrap_or_default();
            if replayed != stored {
                return Err(StorageError::Migration(format!(
                    "the position of {uid} in {symbol} is {stored:?} but the orders give {replayed:?}"
                )));
            }
            open_positions += 1;
        }
        if open_positions != accounts.values().map(|a| a.positions.len()).sum::<usize>() {
            return Err(StorageError::Migration("the orders give positions that are not stored".into()));
        }
        conn.execute_batch(
            "UPDATE orders SET cash_after_cents = r.cash, position_after_micros = r.quantity, cost_after_cents = r.cost
             FROM replayed r WHERE orders.id = r.id;
             DROP TABLE replayed;
             DROP TABLE balances;
             DROP TABLE positions;
             UPDATE meta SET value = '2' WHERE key = 'schema_version';",
        )?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::instrument::Currency;
    use crate::storage::Store;
    use rust_decimal_macros::dec;

    /// A ledger in the version 1 layout: balances and positions updated in place.
    fn version_1_file(dir: &std::path::Path, usd_cash_cents: i64) -> std::path::PathBuf {
        let path = dir.join("v1.duckdb");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(&format!(
            "CREATE TABLE meta (key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL);
             INSERT INTO meta VALUES ('schema_version', '1');
             CREATE TABLE users (firebase_uid VARCHAR PRIMARY KEY, created_at TIMESTAMP NOT NULL);
             CREATE TABLE balances (firebase_uid VARCHAR NOT NULL, currency VARCHAR NOT NULL,
                 starting_cents BIGINT NOT NULL, cash_cents BIGINT NOT NULL, PRIMARY KEY (firebase_uid, currency));
             CREATE TABLE positions (firebase_uid VARCHAR NOT NULL, symbol VARCHAR NOT NULL,
                 quantity_micros BIGINT NOT NULL, cost_cents BIGINT NOT NULL, PRIMARY KEY (firebase_uid, symbol));
             CREATE TABLE orders (id BIGINT NOT NULL, firebase_uid VARCHAR NOT NULL, symbol VARCHAR NOT NULL,
                 side VARCHAR NOT NULL, order_type VARCHAR NOT NULL, quantity_micros BIGINT NOT NULL,
                 status VARCHAR NOT NULL, currency VARCHAR NOT NULL, fill_price_cents BIGINT NOT NULL,
                 total_cents BIGINT NOT NULL, created_at TIMESTAMP NOT NULL, filled_at TIMESTAMP NOT NULL);
             INSERT INTO users VALUES ('amy', '2026-11-30 10:00:00');
             INSERT INTO balances VALUES ('amy', 'USD', 1000000, {usd_cash_cents}), ('amy', 'INR', 1000000, 874999),
                 ('amy', 'GBP', 1000000, 1000000);
             INSERT INTO positions VALUES ('amy', 'AAPL', 2000000, 20000), ('amy', 'RELIANCE', 500000, 125001),
                 ('amy', 'MSFT', 0, 0);
             INSERT INTO orders VALUES
                 (1, 'amy', 'AAPL', 'buy', 'market', 3000000, 'filled', 'USD', 10000, 30000,
                  '2026-11-30 10:00:00', '2026-11-30 10:00:00'),
                 (2, 'amy', 'AAPL', 'sell', 'market', 1000000, 'filled', 'USD', 11000, 11000,
                  '2026-11-30 10:01:00', '2026-11-30 10:01:00'),
                 (3, 'amy', 'RELIANCE', 'buy', 'market', 500000, 'filled', 'INR', 250001, 125001,
                  '2026-11-30 10:02:00', '2026-11-30 10:02:00'),
                 (4, 'amy', 'MSFT', 'buy', 'market', 1000000, 'filled', 'USD', 40000, 40000,
                  '2026-11-30 10:03:00', '2026-11-30 10:03:00'),
                 (5, 'amy', 'MSFT', 'sell', 'market', 1000000, 'filled', 'USD', 40000, 40000,
                  '2026-11-30 10:04:00', '2026-11-30 10:04:00');"
        ))
        .unwrap();
        path
    }

    #[test]
    fn a_version_1_ledger_is_migrated_with_every_balance_and_position_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = version_1_file(dir.path(), 981_000);
        let store = Store::open(&path, "128MB", 1).unwrap();
        let state = store.load_ledger(1).unwrap();
        let amy = &state.accounts["amy"];
        assert_eq!(amy.balance(Currency::Usd), dec!(9810));
        assert_eq!(amy.balance(Currency::Inr), dec!(8749.99));
        assert_eq!(amy.balance(Currency::Gbp), dec!(10000));
        assert_eq!(amy.position("AAPL"), Position { quantity: dec!(2), cost_basis: dec!(200) });
        assert_eq!(amy.position("RELIANCE"), Position { quantity: dec!(0.5), cost_basis: dec!(1250.01) });
        assert_eq!(amy.positions.len(), 2, "a sold-out position stays closed");
        assert_eq!(state.next_order_id, 6);
        assert_eq!(store.check_ledger().unwrap(), Vec::<String>::new());
        assert_eq!(store.orders_of("amy", 1, 10).unwrap().len(), 5);
        store.close().unwrap();

        // Opening it again changes nothing.
        let store = Store::open(&path, "128MB", 1).unwrap();
        assert_eq!(store.load_ledger(1).unwrap().accounts["amy"], *amy);
    }

    #[test]
    fn a_version_1_ledger_whose_balances_disagree_with_its_orders_is_left_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = version_1_file(dir.path(), 981_001);
        let err = Store::open(&path, "128MB", 1).err().expect("the migration refuses");
        assert!(err.to_string().contains("the balance of amy in USD is 9810.01 but the orders give 9810.00"), "{err}");
        let conn = Connection::open(&path).unwrap();
        let version: String =
            conn.query_row("SELECT value FROM meta WHERE key = 'schema_version'", [], |r| r.get(0)).unwrap();
        let cash: i64 =
            conn.query_row("SELECT cash_cents FROM balances WHERE currency = 'USD'", [], |r| r.get(0)).unwrap();
        assert_eq!((version.as_str(), cash), ("1", 981_001));
    }
}
