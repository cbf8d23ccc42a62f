//! The database layout. Every statement is idempotent, so opening an existing file is safe.
//!
//! Timestamps are `TIMESTAMP` holding UTC (the bundled DuckDB has no ICU, so no time zones).
//! The candle rollups hold one row per symbol and bucket, merged from each batch of ticks in
//! the same transaction that stores the ticks: charts never scan raw ticks, and raw ticks can
//! be dropped after the retention period while candles stay.

use crate::domain::candle::Rollup;

/// Version 2 made the ledger append-only (see `LEDGER_VIEWS`); version 1 files are migrated
/// when opened.
pub const SCHEMA_VERSION: i32 = 2;

pub const CREATE: &str = "
CREATE TABLE IF NOT EXISTS meta (
    key VARCHAR PRIMARY KEY,
    value VARCHAR NOT NULL
);
CREATE TABLE IF NOT EXISTS instruments (
    symbol VARCHAR PRIMARY KEY,
    name VARCHAR NOT NULL,
    type VARCHAR NOT NULL,
    sector VARCHAR NOT NULL,
    market VARCHAR NOT NULL,
    currency VARCHAR NOT NULL,
    base_price DOUBLE NOT NULL,
    annual_volatility DOUBLE NOT NULL,
    annual_drift DOUBLE NOT NULL
);
CREATE TABLE IF NOT EXISTS price_ticks (
    symbol VARCHAR NOT NULL,
    ts TIMESTAMP NOT NULL,
    price DOUBLE NOT NULL,
    volume BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS news_events (
    id BIGINT PRIMARY KEY,
    ts TIMESTAMP NOT NULL,
    headline VARCHAR NOT NULL,
    category VARCHAR NOT NULL,
    subcategory VARCHAR NOT NULL,
    impact DOUBLE NOT NULL,
    duration_minutes INTEGER NOT NULL,
    affected_scope VARCHAR NOT NULL,
    affected_symbols VARCHAR[] NOT NULL
);
CREATE TABLE IF NOT EXISTS users (
    firebase_uid VARCHAR PRIMARY KEY,
    created_at TIMESTAMP NOT NULL
);
-- Money in integer cents, quantities in millionths: exact, and summable in SQL.
-- The cash a user was opened with, per currency; written once, when the user first appears.
CREATE TABLE IF NOT EXISTS opening_balances (
    firebase_uid VARCHAR NOT NULL,
    currency VARCHAR NOT NULL,
    starting_cents BIGINT NOT NULL
);
-- The append-only ledger: one row per filled order, never updated or deleted. Each row also
-- records the account state the fill left behind (cash in the order's currency, the position
-- in its symbol), so a group commit only appends and the current balances and positions are
-- the latest row per key (the views below).
CREATE TABLE IF NOT EXISTS orders (
    id BIGINT NOT NULL,
    firebase_uid VARCHAR NOT NULL,
    symbol VARCHAR NOT NULL,
    side VARCHAR NOT NULL,
    order_type VARCHAR NOT NULL,
    quantity_micros BIGINT NOT NULL,
    status VARCHAR NOT NULL,
    currency VARCHAR NOT NULL,
    fill_price_cents BIGINT NOT NULL,
    total_cents BIGINT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    filled_at TIMESTAMP NOT NULL,
    cash_after_cents BIGINT NOT NULL,
    position_after_micros BIGINT NOT NULL,
    cost_after_cents BIGINT NOT NULL
);
-- The lifecycle of every order that is not a plain market order: one appended row per event,
-- each holding the whole order as it stood after it (prices in cents, quantities and trail
-- percentages in millionths, `held` in cents for a buy and millionths for a sell). An order's
-- state is its latest row; a filled order names its row in `orders` in `fill_id`.
CREATE TABLE IF NOT EXISTS order_events (
    event_id BIGINT NOT NULL,
    order_id BIGINT NOT NULL,
    firebase_uid VARCHAR NOT NULL,
    symbol VARCHAR NOT NULL,
    currency VARCHAR NOT NULL,
    side VARCHAR NOT NULL,
    order_type VARCHAR NOT NULL,
    time_in_force VARCHAR NOT NULL,
    quantity_micros BIGINT NOT NULL,
    limit_cents BIGINT,
    stop_cents BIGINT,
    trail_cents BIGINT,
    trail_percent BIGINT,
    triggered BOOLEAN NOT NULL,
    mark_cents BIGINT,
    held BIGINT NOT NULL,
    status VARCHAR NOT NULL,
    event VARCHAR NOT NULL,
    reason VARCHAR,
    fill_id BIGINT,
    fill_price_cents BIGINT,
    total_cents BIGINT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP,
    filled_at TIMESTAMP
);
CREATE TABLE IF NOT EXISTS watchlist (
    firebase_uid VARCHAR NOT NULL,
    symbol VARCHAR NOT NULL,
    added_at TIMESTAMP NOT NULL
);
";

/// Balances and positions per season, derived from the ledger: the opening cash unless an
/// order has moved it since, and the position the latest order in each symbol left (open ones
/// only). The current season's are those of `max(season)`.
pub const LEDGER_VIEWS: &str = "
CREATE OR REPLACE VIEW balances AS
SELECT b.season, b.firebase_uid, b.currency, b.starting_cents, coalesce(o.cash_cents, b.starting_cents) AS cash_cents
FROM opening_balances b
LEFT JOIN (
    SELECT season, firebase_uid, currency, arg_max(cash_after_cents, id) AS cash_cents FROM orders GROUP BY ALL
) o USING (season, firebase_uid, currency);
CREATE OR REPLACE VIEW positions AS
SELECT * FROM (
    SELECT season, firebase_uid, symbol, arg_max(position_after_micros, id) AS quantity_micros,
           arg_max(cost_after_cents, id) AS cost_cents
    FROM orders GROUP BY ALL
) WHERE quantity_micros > 0;
";

/// The table and bucket width in SQL of each candle rollup. The rollups themselves are the
/// domain's [`Rollup`]; this is the one place that names them in SQL.
pub fn rollup_sql(rollup: Rollup) -> (&'static str, &'static str) {
    match rollup {
        Rollup::Minute => ("candle_1m", "INTERVAL 1 MINUTE"),
        Rollup::Hour => ("candle_1h", "INTERVAL 1 HOUR"),
        Rollup::Day => ("candle_1d", "INTERVAL 1 DAY"),
    }
}

/// The table of a candle rollup; the three share one layout.
pub fn rollup_table(rollup: Rollup) -> &'static str {
    rollup_sql(rollup).0
}

pub fn create_rollup(table: &str) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {table} (
            symbol VARCHAR NOT NULL,
            bucket TIMESTAMP NOT NULL,
            open DOUBLE NOT NULL,
            high DOUBLE NOT NULL,
            low DOUBLE NOT NULL,
            close DOUBLE NOT NULL,
            volume BIGINT NOT NULL,
            first_ts TIMESTAMP NOT NULL,
            last_ts TIMESTAMP NOT NULL
        );"
    )
}

/// The writer's staging table for one batch (temporary: private to the writer connection).
pub const CREATE_STAGING: &str = "
CREATE TEMP TABLE IF NOT EXISTS batch_ticks (
    symbol VARCHAR NOT NULL,
    ts TIMESTAMP NOT NULL,
    price DOUBLE NOT NULL,
    volume BIGINT NOT NULL
);";

/// Merges the staged batch into one rollup. The batch's buckets are aggregated, combined with
/// the stored rows of the buckets it touches (a batch only ever touches the newest buckets),
/// and those rows are replaced. Open is the price of the earliest trade, close of the latest.
pub fn merge_rollup(table: &str, interval: &str) -> String {
    format!(
        "CREATE OR REPLACE TEMP TABLE merged AS
         WITH batch AS (
             SELECT symbol, time_bucket({interval}, ts) AS bucket,
                    arg_min(price, ts) AS open, max(price) AS high, min(price) AS low,
                    arg_max(price, ts) AS close, sum(volume) AS volume,
                    min(ts) AS first_ts, max(ts) AS last_ts
             FROM batch_ticks GROUP BY ALL
         ),
         touched AS (
             SELECT c.symbol, c.bucket, c.open, c.high, c.low, c.close, c.volume, c.first_ts, c.last_ts
             FROM {table} c WHERE c.bucket >= (SELECT min(bucket) FROM batch)
         )
         SELECT symbol, bucket,
                arg_min(open, first_ts) AS open, max(high) AS high, min(low) AS low,
                arg_max(close, last_ts) AS close, sum(volume)::BIGINT AS volume,
                min(first_ts) AS first_ts, max(last_ts) AS last_ts
         FROM (SELECT * FROM batch UNION ALL SELECT * FROM touched)
         GROUP BY symbol, bucket;
         DELETE FROM {table} WHERE bucket >= (SELECT min(bucket) FROM merged);
         INSERT INTO {table} SELECT symbol, bucket, open, high, low, close, volume, first_ts, last_ts FROM merged;"
    )
}
