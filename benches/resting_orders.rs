//! Resting orders at scale: what 100,000 of them cost in memory and on every tick, and how
//! fast a tick that triggers 1,000 of them is committed and announced.
//!
//! `cargo bench --bench resting_orders`. In-process: the ledger writer on a temporary
//! database, fed ticks through the same inbox the engine uses.
//!
//! Memory is split three ways: the Rust heap the process holds (counted by the allocator
//! below, so the book's own structures are measured, not estimated), DuckDB's buffer manager
//! (its own count), and the process's resident memory, which also holds what neither counts
//! (the C allocator's free lists and fragmentation).

use finlearn::domain::instrument::{Universe, default_universe};
use finlearn::domain::market::Tick;
use finlearn::domain::time::{ManualClock, Timestamp};
use finlearn::storage::Store;
use finlearn::storage::orders::OrderInfo;
use finlearn::trading::{Announce, LedgerWriter, OrderLimits, OrderRequest, QuoteSource, Trading};
use rust_decimal::Decimal;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

const NOW: Timestamp = Timestamp(1_800_000_000_000_000);
const USERS: usize = 1_000;
const ORDERS_PER_USER: usize = 100;
const TRIGGERED: usize = 1_000;
const ROUNDS: usize = 20;

/// The system allocator, keeping count of the bytes live on the Rust heap.
struct Counting;

static LIVE: AtomicI64 = AtomicI64::new(0);

// SAFETY: every call is passed on to the system allocator unchanged; only a counter is added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as i64, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as i64, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as i64, Ordering::Relaxed);
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size as i64 - layout.size() as i64, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn heap_mb() -> f64 {
    LIVE.load(Ordering::Relaxed) as f64 / 1e6
}

/// Every instrument at 100.00, except where a round moves one.
struct Prices(Vec<AtomicU64>);

impl QuoteSource for Prices {
    fn latest(&self, instrument: usize) -> (f64, Timestamp) {
        (f64::from_bits(self.0[instrument].load(Ordering::Relaxed)), NOW)
    }
}

/// Counts fill announcements and notes when the last expected one arrived.
#[derive(Default)]
struct Fills {
    count: AtomicUsize,
    done: Mutex<Option<Instant>>,
    expected: AtomicUsize,
}

impl Announce for Fills {
    fn order_event(&self, event: &str, _: &OrderInfo) {
        if event == "fill" && self.count.fetch_add(1, Ordering::AcqRel) + 1 == self.expected.load(Ordering::Acquire) {
            *self.done.lock().unwrap() = Some(Instant::now());
        }
    }
}

/// Hands freed heap back to the system first (glibc keeps it), so what remains is what is held.
fn rss_mb() -> f64 {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        unsafe extern "C" {
            fn malloc_trim(pad: usize) -> i32;
        }
        // SAFETY: malloc_trim takes no pointers and is thread-safe.
        unsafe {
            malloc_trim(0);
        }
    }
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: f64 = statm.split_whitespace().nth(1).and_then(|p| p.parse().ok()).unwrap_or(0.0);
    pages * 4096.0 / 1e6
}

/// What the C allocator hands out (Rust's heap and DuckDB's C++ allocations alike) and what it
/// keeps free without returning it, in MB.
fn malloc_mb() -> (f64, f64) {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        #[repr(C)]
        struct Mallinfo2 {
            arena: usize,
            ordblks: usize,
            smblks: usize,
            hblks: usize,
            hblkhd: usize,
            usmblks: usize,
            fsmblks: usize,
            uordblks: usize,
            fordblks: usize,
            keepcost: usize,
        }
        unsafe extern "C" {
            fn mallinfo2() -> Mallinfo2;
        }
        // SAFETY: mallinfo2 takes nothing and returns a plain struct of counters.
        let info = unsafe { mallinfo2() };
        ((info.uordblks + info.hblkhd) as f64 / 1e6, info.fordblks as f64 / 1e6)
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    (0.0, 0.0)
}

fn limit(uid: String, symbol: &str, price: &str) -> OrderRequest {
    OrderRequest {
        firebase_uid: uid,
        symbol: symbol.into(),
        side: "buy".into(),
        quantity: "0.01".into(),
        market: String::new(),
        order_type: Some("limit".into()),
        time_in_force: Some("gtc".into()),
        limit_price: Some(price.into()),
        ..Default::default()
    }
}

fn market_of(currency: &str) -> &'static str {
    match currency {
        "INR" => "india",
        "GBP" => "uk",
        _ => "usa",
    }
}

fn percentile(values: &mut [f64], p: f64) -> f64 {
    values.sort_by(f64::total_cmp);
    values[((values.len() - 1) as f64 * p / 100.0).round() as usize]
}

async fn place_all(trading: &Arc<Trading>, requests: Vec<OrderRequest>) {
    let mut tasks = Vec::new();
    for chunk in requests.chunks(2_000) {
        let chunk = chunk.to_vec();
        let t = trading.clone();
        tasks.push(tokio::spawn(async move {
            let placing = chunk.into_iter().map(|r| t.place(r));
            for result in futures_util::future::join_all(placing).await {
                result.expect("placed");
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
}

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    let universe = Arc::new(Universe::new(default_universe()).unwrap());
    let prices = Arc::new(Prices((0..universe.len()).map(|_| AtomicU64::new(100.0f64.to_bits())).collect()));
    let fills = Arc::new(Fills::default());
    // A small DuckDB cache, so the memory figure is mostly the orders themselves.
    let store = Arc::new(Store::open(&dir.path().join("resting.duckdb"), "32MB", 2).unwrap());
    let cache_mb = || store.cache_bytes().unwrap() as f64 / 1e6;
    let trading = Arc::new(
        LedgerWriter {
            universe: universe.clone(),
            store: store.clone(),
            quotes: prices.clone(),
            clock: Arc::new(ManualClock::starting_at(NOW)),
            class: Arc::new(finlearn::class::Classroom::open(universe.clone(), Decimal::from(1_000_000))),
            max_quote_age_micros: i64::MAX / 2,
            metrics: Arc::default(),
            limits: OrderLimits { max_open_per_user: 200, stop_hold_buffer_percent: Decimal::from(5) },
            announce: fills.clone(),
            health: Arc::default(),
        }
        .start()
        .unwrap(),
    );

    // 100,000 resting buys spread over every instrument, far below the market.
    let before = (rss_mb(), heap_mb(), cache_mb(), malloc_mb());
    let started = Instant::now();
    let requests: Vec<OrderRequest> = (0..USERS * ORDERS_PER_USER)
        .map(|n| {
            let inst = universe.get(n % universe.len());
            let market = market_of(inst.currency.code()).into();
            OrderRequest { market, ..limit(format!("user-{}", n % USERS), &inst.symbol, "50") }
        })
        .collect();
    place_all(&trading, requests).await;
    let placing = started.elapsed().as_secs_f64();
    let resting = USERS * ORDERS_PER_USER;
    let after = (rss_mb(), heap_mb(), cache_mb(), malloc_mb());
    println!(
        "placed {resting} resting orders in {placing:.1} s ({:.0}/s); resident memory +{:.1} MB, of which \
         Rust heap +{:.1} MB ({:.0} bytes an order: the book, its indexes and the accounts' holds) and \
         DuckDB's buffers +{:.1} MB",
        resting as f64 / placing,
        after.0 - before.0,
        after.1 - before.1,
        (after.1 - before.1) * 1e6 / resting as f64,
        after.2 - before.2,
    );
    println!(
        "  the C allocator: in use +{:.1} MB (Rust's heap and DuckDB's allocations), free but kept +{:.1} MB",
        after.3.0 - before.3.0,
        after.3.1 - before.3.1
    );
    store.release_cache("32MB").unwrap();
    println!(
        "after a checkpoint and DuckDB's cache emptied: resident memory +{:.1} MB, Rust heap +{:.1} MB, DuckDB's buffers +{:.1} MB",
        rss_mb() - before.0,
        heap_mb() - before.1,
        cache_mb() - before.2
    );

    // A tick that triggers nothing: the writer checks every order of the symbol.
    let inbox = trading.tick_inbox();
    let aapl = universe.find("AAPL").unwrap();
    let mut quiet = Vec::new();
    for second in 1..=200 {
        let started = Instant::now();
        inbox.on_tick(&Tick { instrument: aapl, time: NOW.plus_micros(second * 1_000_000), price: 99.0, volume: 1 });
        trading.watch("sync", "AAPL", true).await.unwrap();
        quiet.push(started.elapsed().as_secs_f64() * 1e3);
    }
    let mut idle = Vec::new();
    for _ in 0..200 {
        let started = Instant::now();
        trading.watch("sync", "AAPL", true).await.unwrap();
        idle.push(started.elapsed().as_secs_f64() * 1e3);
    }
    let per = resting / universe.len();
    println!(
        "tick over {per} resting orders of its symbol, none triggered: p50 {:.3} ms, p99 {:.3} ms (a writer round trip alone: p50 {:.3} ms)",
        percentile(&mut quiet, 50.0),
        percentile(&mut quiet, 99.0),
        percentile(&mut idle, 50.0)
    );
    let started = Instant::now();
    for second in 0..10_000 {
        inbox.on_tick(&Tick {
            instrument: aapl,
            time: NOW.plus_micros(1_000_000_000 + second),
            price: 99.0,
            volume: 1,
        });
    }
    println!("engine side of a tick (inbox hand-off): {:.0} ns", started.elapsed().as_nanos() as f64 / 10_000.0);
    trading.watch("sync", "AAPL", true).await.unwrap();

    // Rounds of 1,000 buys on one symbol that one tick triggers together.
    let btc = universe.find("BTC").unwrap();
    let mut announced = Vec::new();
    for round in 0..ROUNDS {
        let requests: Vec<OrderRequest> = (0..TRIGGERED)
            .map(|n| OrderRequest { market: "usa".into(), ..limit(format!("fill-{round}-{}", n % 100), "BTC", "90") })
            .collect();
        place_all(&trading, requests).await;
        fills.count.store(0, Ordering::Release);
        fills.expected.store(TRIGGERED, Ordering::Release);
        *fills.done.lock().unwrap() = None;
        let time = NOW.plus_micros(2_000_000_000 + round as i64 * 1_000_000);
        let started = Instant::now();
        inbox.on_tick(&Tick { instrument: btc, time, price: 89.5, volume: 1 });
        loop {
            if let Some(done) = *fills.done.lock().unwrap() {
                announced.push(done.duration_since(started).as_secs_f64() * 1e3);
                break;
            }
            tokio::time::sleep(std::time::Duration::from_micros(200)).await;
        }
    }
    println!(
        "a tick triggering {TRIGGERED} orders, to the last fill announced (committed in one group): p50 {:.1} ms, p99 {:.1} ms ({ROUNDS} rounds)",
        percentile(&mut announced, 50.0),
        percentile(&mut announced, 99.0)
    );
    let _ = prices;
}
