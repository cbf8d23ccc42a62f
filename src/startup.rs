//! Wiring: builds the state from the settings, seeds an empty database, spawns the engine and
//! the writer, serves HTTP, and shuts everything down in order.

use crate::auth::{Identity, JWKS_REFRESH};
use crate::config::Settings;
use crate::domain::instrument::Universe;
use crate::domain::lesson::Lesson;
use crate::domain::market::{Market, Start};
use crate::domain::quote::{DayQuote, StoredDay};
use crate::domain::time::{Clock, MICROS_PER_DAY, Timestamp};
use crate::health::Health;
use crate::http::{self, AppState};
use crate::ledger::{LedgerWriter, OrderLimits};
use crate::live::buffer::WriteBuffer;
use crate::live::bus::Bus;
use crate::live::charts::ChartWindows;
use crate::live::director::Director;
use crate::live::engine::Engine;
use crate::live::quotes::QuoteBoard;
use crate::live::writer::Writer;
use crate::market_data::{MAX_CANDLES, MarketData};
use crate::metrics::Metrics;
use crate::seed::seed_history;
use crate::storage::Store;
use actix_cors::Cors;
use actix_web::dev::{Server, ServerHandle};
use actix_web::{App, HttpServer, web};
use anyhow::Context;
use std::net::TcpListener;
use std::sync::Arc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// How long a failed server keeps answering (503 "not ready" on `/health`) before it stops.
const FAILURE_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

pub struct Application {
    port: u16,
    server: Server,
    shutdown: CancellationToken,
    engine: JoinHandle<()>,
    writer: JoinHandle<()>,
    store: Arc<Store>,
    health: Arc<Health>,
}

impl Application {
    /// Opens the database (seeding it when empty), starts the engine and the writer, and binds
    /// the listener. Call from within the runtime that will serve.
    pub async fn build(settings: Settings, clock: Arc<dyn Clock>) -> anyhow::Result<Application> {
        let universe = Arc::new(Universe::new(settings.universe())?);
        let identity = Arc::new(Identity::from_settings(&settings.auth)?);
        let store =
            Arc::new(Store::open(&settings.storage.path, &settings.storage.memory_limit, settings.storage.threads)?);
        store.save_instruments(universe.list())?;

        let mut market = start_market(&settings, &universe, &store, clock.as_ref())?;
        if let Some(path) = &settings.simulation.scenario {
            let text =
                std::fs::read_to_string(path).with_context(|| format!("cannot read lesson {}", path.display()))?;
            let lesson =
                Lesson::parse(&text, universe.list()).map_err(|e| anyhow::anyhow!("lesson {}: {e}", path.display()))?;
            tracing::info!(name = %lesson.name, events = lesson.events.len(), "lesson loaded");
            for (at, command) in lesson.commands(clock.now()) {
                market.schedule(at, command);
            }
        }
        let stored = store.stored_days(clock.now())?;
        let quotes: Vec<DayQuote> = universe
            .list()
            .iter()
            .zip(market.prices())
            .map(|(instrument, price)| {
                let day = stored.get(&instrument.symbol).cloned().unwrap_or_else(|| fresh_day(price, clock.now()));
                DayQuote::resume(instrument, &day)
            })
            .collect();

        let board = Arc::new(QuoteBoard::new(&quotes));
        let charts = Arc::new(ChartWindows::load(&store, &universe, MAX_CANDLES as usize, clock.now())?);
        let bus = Bus::new(settings.stream.channel_capacity);
        let buffer = Arc::new(WriteBuffer::default());
        let shutdown = CancellationToken::new();
        let metrics = Arc::new(Metrics::new());
        let health = Arc::new(Health::default());
        let director = Arc::new(Director::default());

        let writer = Arc::new(Writer {
            store: store.clone(),
            buffer: buffer.clone(),
            symbols: universe.symbols().into(),
            clock: clock.clone(),
            interval: settings.flush_interval(),
            retention_micros: settings.retention_micros(),
            metrics: metrics.clone(),
            health: health.clone(),
            flushing: Default::default(),
        });
        // The ledger starts before the engine, so resting orders see the first live tick.
        let trading = LedgerWriter {
            universe: universe.clone(),
            store: store.clone(),
            quotes: board.clone(),
            clock: clock.clone(),
            starting_cash: settings.trading.starting_cash.into(),
            max_quote_age_micros: settings.max_quote_age_micros(),
            metrics: metrics.clone(),
            health: health.clone(),
            limits: OrderLimits {
                max_open_per_user: settings.trading.max_open_orders_per_user,
                stop_hold_buffer_percent: settings.trading.stop_hold_buffer_percent.into(),
            },
            announce: Arc::new(http::OrderAnnouncer(bus.clone())),
        }
        .start()?;
        let engine = Engine {
            market,
            quotes,
            board: board.clone(),
            charts: charts.clone(),
            bus: bus.clone(),
            buffer: buffer.clone(),
            writer: writer.clone(),
            clock: clock.clone(),
            metrics: metrics.clone(),
            director: director.clone(),
            orders: Some(trading.tick_inbox()),
        };
        let engine = tokio::spawn(engine.run(shutdown.child_token()));
        let writer = tokio::spawn(writer.run(shutdown.child_token()));

        let state = AppState {
            market: Arc::new(MarketData::new(universe, board, charts, store.clone(), buffer, clock.clone())),
            trading: Arc::new(trading),
            bus,
            stream: settings.stream.clone(),
            shutdown: shutdown.clone(),
            metrics: metrics.clone(),
            health: health.clone(),
            store: store.clone(),
            identity: identity.clone(),
            admin_token: Some(settings.admin.token.as_str()).filter(|t| !t.is_empty()).map(Arc::from),
            director,
            clock: clock.clone(),
        };
        if identity.refreshes() {
            tokio::spawn(refresh_keys(identity, shutdown.child_token()));
        }
        let addr = settings.listen_addr()?;
        let listener = TcpListener::bind(addr).map_err(|e| match e.kind() {
            std::io::ErrorKind::AddrInUse => anyhow::anyhow!("cannot listen on {addr}: the address is already in use"),
            _ => anyhow::anyhow!("cannot listen on {addr}: {e}"),
        })?;
        let port = listener.local_addr()?.port();
        let mut server = HttpServer::new(move || {
            App::new()
                .wrap(Cors::permissive())
                .wrap(actix_web::middleware::from_fn(http::record_metrics))
                .app_data(web::Data::new(state.clone()))
                .configure(http::configure)
        })
        .disable_signals()
        .shutdown_timeout(5);
        if settings.server.workers > 0 {
            server = server.workers(settings.server.workers);
        }
        let server = server.listen(listener)?.run();
        tracing::info!(%addr, port, "serving");
        Ok(Application { port, server, shutdown, engine, writer, store, health })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// A handle that stops the server; [`Application::run_until_stopped`] then flushes and closes.
    pub fn stopper(&self) -> Stopper {
        Stopper { server: self.server.handle(), shutdown: self.shutdown.clone() }
    }

    /// The server's readiness; failing it stops the server (see [`crate::health`]).
    pub fn health(&self) -> Arc<Health> {
        self.health.clone()
    }

    /// Serves until stopped, then stops the engine, writes what is buffered and closes the
    /// database. A part that failed for good stops it too, and the answer is then that failure.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let Application { server, shutdown, engine, writer, store, health, .. } = self;
        let stopper = Stopper { server: server.handle(), shutdown: shutdown.clone() };
        let watchdog = actix_web::rt::spawn({
            let health = health.clone();
            async move {
                health.failed().await;
                // Probes and clients read "not ready" and the cause for a moment before the
                // listener closes.
                tokio::time::sleep(FAILURE_GRACE).await;
                stopper.stop().await;
            }
        });
        server.await.context("HTTP server failed")?;
        watchdog.abort();
        shutdown.cancel();
        let _ = engine.await;
        let _ = writer.await;
        match Arc::try_unwrap(store) {
            Ok(store) => store.close().context("closing the database")?,
            Err(_) => tracing::warn!("database still in use at shutdown; DuckDB will close it on exit"),
        }
        if let Some(cause) = health.failure() {
            anyhow::bail!("stopped after a failure: {cause}");
        }
        tracing::info!("stopped");
        Ok(())
    }
}

/// Stops a running [`Application`] gracefully.
#[derive(Clone)]
pub struct Stopper {
    server: ServerHandle,
    shutdown: CancellationToken,
}

impl Stopper {
    pub async fn stop(&self) {
        self.shutdown.cancel();
        self.server.stop(true).await;
    }
}

/// Seeds an empty database and returns the market continuing from the seeded state, or
/// resumes from the last stored prices.
fn start_market(settings: &Settings, universe: &Universe, store: &Store, clock: &dyn Clock) -> anyhow::Result<Market> {
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

/// Re-reads the signing keys of a JWKS URL every [`JWKS_REFRESH`]; a failed read keeps the
/// keys in use.
async fn refresh_keys(identity: Arc<Identity>, shutdown: CancellationToken) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(JWKS_REFRESH) => {}
            _ = shutdown.cancelled() => return,
        }
        let id = identity.clone();
        match tokio::task::spawn_blocking(move || id.refresh()).await {
            Ok(Ok(keys)) => tracing::info!(keys, "signing keys refreshed"),
            Ok(Err(e)) => tracing::warn!(error = %e, "refreshing signing keys failed; keeping the current ones"),
            Err(e) => tracing::warn!(error = %e, "refreshing signing keys failed"),
        }
    }
}

/// The day an instrument without stored history starts with.
fn fresh_day(price: f64, now: Timestamp) -> StoredDay {
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

/// Ctrl-C and SIGTERM, caught from the moment [`ShutdownSignals::install`] returns: a signal
/// that arrives while the server is still starting (seeding, say) is held and stops it as soon
/// as it is up, instead of killing the process half-way.
pub struct ShutdownSignals {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl ShutdownSignals {
    /// Installs the handlers; call from inside the runtime.
    pub fn install() -> std::io::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(ShutdownSignals {
                interrupt: signal(SignalKind::interrupt())?,
                terminate: signal(SignalKind::terminate())?,
            })
        }
        #[cfg(not(unix))]
        Ok(ShutdownSignals {})
    }

    /// Resolves on the first Ctrl-C or SIGTERM since installation.
    pub async fn recv(mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
    }
}
