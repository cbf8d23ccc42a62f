//! The class's standings at scale: 10,000 students holding 20 positions each. How long a
//! leaderboard read takes while orders flow (the table is rebuilt at most once a second and
//! served from memory between), what one rebuild costs, and whether taking every student's value
//! snapshot raises the latency of orders.
//!
//! `cargo bench --bench leaderboard`. In-process: the ledger writer on a temporary database and
//! the standings over it, as the server wires them (the HTTP layer adds serializing 50 lines).

mod common;

use common::percentile;
use finlearn::class::standings::{Standing, Standings, refresh};
use finlearn::class::{Classroom, SortKey};
use finlearn::domain::instrument::{Universe, default_universe};
use finlearn::domain::time::{ManualClock, Timestamp};
use finlearn::storage::Store;
use finlearn::trading::{LedgerWriter, OrderLimits, OrderRequest, QuoteSource, SeasonChange, Trading};
use rust_decimal::Decimal;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const NOW: Timestamp = Timestamp(1_800_000_000_000_000);
const STUDENTS: usize = 10_000;
const POSITIONS: usize = 20;
/// Clients placing orders throughout, each one order at a time.
const CLIENTS: usize = 8;
const PHASE: Duration = Duration::from_secs(8);
/// Alternations of order phases without and with snapshots.
const ROUNDS: usize = 7;

/// Every instrument at 100.00.
struct Flat;

impl QuoteSource for Flat {
    fn latest(&self, _: usize) -> (f64, Timestamp) {
        (100.0, NOW)
    }
}

fn buy(student: usize, symbol: &str, currency: &str) -> OrderRequest {
    let market = match currency {
        "INR" => "india",
        "GBP" => "uk",
        _ => "usa",
    };
    OrderRequest {
        firebase_uid: format!("student-{student}"),
        symbol: symbol.into(),
        side: "buy".into(),
        quantity: "0.01".into(),
        market: market.into(),
        ..Default::default()
    }
}

/// Places every request, a few thousand in flight at once (the writer commits them in groups).
async fn place_all(trading: &Arc<Trading>, requests: Vec<OrderRequest>) {
    let mut tasks = Vec::new();
    for chunk in requests.chunks(2_000) {
        let (chunk, t) = (chunk.to_vec(), trading.clone());
        tasks.push(tokio::spawn(async move {
            for result in futures_util::future::join_all(chunk.into_iter().map(|r| t.place(r))).await {
                result.expect("placed");
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
}

/// Order latencies in ms from `CLIENTS` clients for `PHASE`, while `also` runs beside them.
async fn orders_for(
    trading: &Arc<Trading>,
    universe: &Universe,
    also: impl std::future::Future<Output = ()>,
) -> Vec<f64> {
    let stop = Arc::new(AtomicBool::new(false));
    let mut clients = Vec::new();
    for c in 0..CLIENTS {
        let (t, stop) = (trading.clone(), stop.clone());
        let list: Vec<(String, String)> =
            universe.list().iter().map(|i| (i.symbol.clone(), i.currency.code().to_string())).collect();
        clients.push(tokio::spawn(async move {
            let mut millis = Vec::new();
            let mut n = c;
            while !stop.load(Ordering::Relaxed) {
                let (symbol, currency) = &list[n % list.len()];
                let started = Instant::now();
                t.place(buy(n % STUDENTS, symbol, currency)).await.expect("placed");
                millis.push(started.elapsed().as_secs_f64() * 1e3);
                n += CLIENTS;
            }
            millis
        }));
    }
    let stopper = {
        let stop = stop.clone();
        async move {
            tokio::time::sleep(PHASE).await;
            stop.store(true, Ordering::Relaxed);
        }
    };
    tokio::join!(stopper, also);
    let mut all = Vec::new();
    for client in clients {
        all.extend(client.await.unwrap());
    }
    all
}

fn summary(label: &str, samples: &mut [f64]) {
    println!(
        "{label}: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} samples)",
        percentile(samples, 50.0),
        percentile(samples, 99.0),
        percentile(samples, 100.0),
        samples.len()
    );
}

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    let universe = Arc::new(Universe::new(default_universe()).unwrap());
    let store = Arc::new(Store::open(&dir.path().join("class.duckdb"), "512MB", 2).unwrap());
    let clock = Arc::new(ManualClock::starting_at(NOW));
    let class = Arc::new(Classroom::open(universe.clone(), Decimal::from(1_000_000)));
    let trading = Arc::new(
        LedgerWriter {
            universe: universe.clone(),
            store: store.clone(),
            quotes: Arc::new(Flat),
            clock: clock.clone(),
            class: class.clone(),
            max_quote_age_micros: i64::MAX / 2,
            metrics: Arc::default(),
            limits: OrderLimits { max_open_per_user: 100, stop_hold_buffer_percent: Decimal::from(5) },
            announce: Arc::new(()),
            health: Arc::default(),
        }
        .start()
        .unwrap(),
    );

    let started = Instant::now();
    let list = universe.list();
    let requests: Vec<OrderRequest> = (0..STUDENTS)
        .flat_map(|s| {
            (0..POSITIONS).map(move |p| {
                let i = &list[(s + p * 7) % list.len()];
                buy(s, &i.symbol, i.currency.code())
            })
        })
        .collect();
    place_all(&trading, requests).await;
    println!("{STUDENTS} students x {POSITIONS} positions placed in {:.1} s", started.elapsed().as_secs_f64());

    let standings = Arc::new(
        Standings::load(
            class.clone(),
            trading.clone(),
            Arc::new(Flat),
            universe.clone(),
            store.clone(),
            clock.clone(),
            Arc::new(()),
        )
        .unwrap(),
    );
    let shutdown = tokio_util::sync::CancellationToken::new();
    // A snapshot records the standings as last built (the background rebuild keeps them), so a
    // round costs the append of every student's value.
    standings.rebuild().unwrap();
    let mut snapshot_ms = Vec::new();
    for _ in 0..5 {
        let s = standings.clone();
        let started = Instant::now();
        let count =
            tokio::task::spawn_blocking(move || s.snapshot(Timestamp(NOW.0 - 1_000_000)).unwrap()).await.unwrap();
        assert_eq!(count, STUDENTS);
        snapshot_ms.push(started.elapsed().as_secs_f64() * 1e3);
    }
    summary("value snapshot of every student (the standings as last built, appended)", &mut snapshot_ms);

    // A rebuild: the first read after the table is a second old.
    let mut rebuild_ms = Vec::new();
    for _ in 0..8 {
        tokio::time::sleep(Duration::from_millis(1_050)).await;
        let started = Instant::now();
        let table = standings.rebuild().unwrap();
        rebuild_ms.push(started.elapsed().as_secs_f64() * 1e3);
        assert_eq!((table.lines.len(), table.ranked(SortKey::Sharpe).take(50).count()), (STUDENTS, 50));
    }
    summary("one rebuild of the table (in the background, once a second)", &mut rebuild_ms);
    let rebuilder = tokio::spawn(refresh(standings.clone(), shutdown.child_token()));

    // Reads every 5 ms while orders flow: most are served from the table, one a second rebuilds.
    let reads = {
        let standings = standings.clone();
        async move {
            let mut millis = Vec::new();
            let until = Instant::now() + PHASE;
            while Instant::now() < until {
                let started = Instant::now();
                let lines: Vec<Standing> =
                    standings.table().unwrap().ranked(SortKey::Sharpe).take(50).cloned().collect();
                assert_eq!(lines.len(), 50);
                millis.push(started.elapsed().as_secs_f64() * 1e3);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            millis
        }
    };
    let reads = tokio::spawn(reads);
    let mut during = orders_for(&trading, &universe, async {}).await;
    let mut reads = reads.await.unwrap();
    summary("leaderboard reads (top 50 by Sharpe) while orders flow and the table rebuilds", &mut reads);
    summary("orders meanwhile", &mut during);

    // Order latency without and with a snapshot of every student each second, alternated: the
    // machine's own drift between two phases is as large as the effect, so the figure is the
    // median over the rounds of each round's p99 ratio.
    let mut ratios = Vec::new();
    for round in 1..=ROUNDS {
        let mut quiet = orders_for(&trading, &universe, async {}).await;
        summary(&format!("round {round}: orders, no snapshots"), &mut quiet);
        let snapshots = {
            let standings = standings.clone();
            async move {
                let until = Instant::now() + PHASE;
                while Instant::now() < until {
                    let s = standings.clone();
                    tokio::task::spawn_blocking(move || s.snapshot(Timestamp(NOW.0 - 1_000_000)).unwrap())
                        .await
                        .unwrap();
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        };
        let mut busy = orders_for(&trading, &universe, snapshots).await;
        summary(&format!("round {round}: orders, a snapshot of every student each second"), &mut busy);
        ratios.push(percentile(&mut busy, 99.0) / percentile(&mut quiet, 99.0));
    }
    let listed: Vec<String> = ratios.iter().map(|r| format!("{:+.0}%", (r - 1.0) * 100.0)).collect();
    let median = percentile(&mut ratios, 50.0);
    println!(
        "order p99 with snapshots each second vs none: median {:+.1}% over {ROUNDS} rounds ({})",
        (median - 1.0) * 100.0,
        listed.join(", ")
    );
    shutdown.cancel();
    rebuilder.await.unwrap();

    // A season reset of the whole class (orders wait for it), its archived standings (read once,
    // then kept), and the undo that reloads every account.
    let started = Instant::now();
    let switch = trading.change_season(SeasonChange::New).await.unwrap();
    println!("a season reset of {} students: {:.0} ms", switch.students, started.elapsed().as_secs_f64() * 1e3);
    for read in ["first", "second"] {
        let started = Instant::now();
        let table = standings.archived(switch.previous).unwrap().expect("archived");
        let ms = started.elapsed().as_secs_f64() * 1e3;
        println!("archived standings, {read} read ({} students): {ms:.1} ms", table.lines.len());
    }
    let started = Instant::now();
    let undone = trading.change_season(SeasonChange::Undo).await.unwrap();
    println!("its undo, reloading {} accounts: {:.0} ms", undone.students, started.elapsed().as_secs_f64() * 1e3);
}
