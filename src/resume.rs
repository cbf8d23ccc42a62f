//! Opening the market at start-up: seed an empty database (five days by default) and continue
//! from the seeded state, or resume every instrument from its last stored price; and the quote
//! of an instrument that has no history yet.

use crate::config::Settings;
use crate::domain::instrument::Universe;
use crate::domain::market::{Market, Start};
use crate::domain::quote::StoredDay;
use crate::domain::time::{Clock, MICROS_PER_DAY, Timestamp};
use crate::seed::seed_history;
use crate::storage::Store;

/// Seeds an empty database and returns the market continuing from the seeded state, or
/// resumes from the last stored prices.
pub(crate) fn start_market(
    settings: &Settings,
    universe: &Universe,
    store: &Store,
    clock: &dyn Clock,
) -> anyhow::Result<Market> {
    let now = clock.now();
    let params: Vec<_> = universe.list().iter().map(|i| settings.model_for(i.kind)).collect();
    let seed = settings.simulation.seed.unwrap_or_else(rand::random);
    if store.seeding_interrupted()? {
        tracing::warn!("the last start-up stopped while seeding: discarding its partial history to seed again");
        store.clear_market_data()?;
    }
    let next_news_id = store.next_news_id()?;
    if store.has_ticks()? {
        let stored = store.stored_days(now)?;
        let starts: Vec<Start> = universe
            .list()
            .iter()
            .map(|i| match stored.get(&i.symbol) {
                Some(day) => Start { price: day.last_price, last_tick: day.last_time },
                None => Start { price: i.base_price, last_tick: now },
            })
            .collect();
        tracing::info!(instruments = universe.len(), "resuming from stored prices");
        // A resumed run must not replay the random path of the seeded one.
        return Ok(Market::new(
            universe.list().to_vec(),
            &params,
            &starts,
            settings.cadence(),
            seed ^ now.0 as u64,
            now,
            next_news_id,
        ));
    }
    let days = settings.simulation.seed_days;
    let from = Timestamp(now.0 - (days * MICROS_PER_DAY as f64) as i64);
    let starts: Vec<Start> = universe.list().iter().map(|i| Start { price: i.base_price, last_tick: from }).collect();
    let mut market =
        Market::new(universe.list().to_vec(), &params, &starts, settings.cadence(), seed, from, next_news_id);
    tracing::info!(days, instruments = universe.len(), seed, "empty database: seeding history");
    let mut shown = 0;
    store.mark_seeding(true)?;
    let report = seed_history(store, &mut market, from, now, |done| {
        let percent = (done * 100.0) as u32;
        if percent >= shown + 10 || percent == 100 {
            shown = percent;
            tracing::info!("seeding history: {percent}%");
        }
    })?;
    store.mark_seeding(false)?;
    tracing::info!(ticks = report.ticks, news = report.news, seconds = report.elapsed.as_secs_f64(), "seeded");
    // Seeding fills DuckDB's cache with the whole history just written; a server that serves
    // from a warm start needs a fraction of it (idle RSS about 51 MB against 144 MB).
    store.release_cache(&settings.storage.memory_limit)?;
    trim_heap();
    Ok(market)
}

/// Hands memory freed by the allocator back to the operating system. glibc keeps freed heap
/// pages mapped (a seeding run frees about a hundred megabytes at once); other allocators
/// return them on their own.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn trim_heap() {
    unsafe extern "C" {
        fn malloc_trim(pad: usize) -> i32;
    }
    // SAFETY: malloc_trim takes no pointers; it only releases free pages at the top of the
    // heap and in free chunks, and is thread-safe.
    unsafe {
        malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn trim_heap() {}

/// The day an instrument without stored history starts with.
pub(crate) fn fresh_day(price: f64, now: Timestamp) -> StoredDay {
    StoredDay {
        last_price: price,
        last_time: now,
        open: price,
        high: price,
        low: price,
        volume: 0,
        previous_close: None,
        past_year: Vec::new(),
        average_volume: None,
    }
}
