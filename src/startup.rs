//! Wiring: builds the state from the settings, seeds an empty database, spawns the engine and
//! the writer, serves HTTP, and shuts everything down in order.

use crate::auth::{Identity, refresh_keys};
use crate::class::standings::{Standings, refresh};
use crate::class::{Classroom, Reporting, snapshots};
use crate::config::Settings;
use crate::domain::instrument::{Region, Universe};
use crate::domain::lesson::Lesson;
use crate::domain::quote::DayQuote;
use crate::domain::time::Clock;
use crate::health::Health;
use crate::http::{self, AppState};
use crate::live::buffer::WriteBuffer;
use crate::live::bus::Bus;
use crate::live::charts::ChartWindows;
use crate::live::director::Director;
use crate::live::engine::Engine;
use crate::live::quotes::QuoteBoard;
use crate::live::tick_writer::TickWriter;
use crate::market_data::{MAX_CANDLES, MarketData};
use crate::metrics::Metrics;
use crate::resume::{fresh_day, start_market};
use crate::social::Profiles;
use crate::storage::Store;
use crate::trading::{LedgerWriter, OrderLimits};
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
/// How long shutdown waits for the ledger writer to finish its last commit and let go of the
/// database: far beyond one group commit.
const LEDGER_STOP_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

pub struct Application {
    port: u16,
    server: Server,
    shutdown: CancellationToken,
    engine: JoinHandle<()>,
    writer: JoinHandle<()>,
    snapshots: JoinHandle<()>,
    /// Hears when the ledger writer has let go of the database.
    ledger_stopped: std::sync::mpsc::Receiver<()>,
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
        let profiles = Arc::new(Profiles::load(store.clone(), clock.clone())?);

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

        let writer = Arc::new(TickWriter {
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
        let known = |entry: &str| Region::parse(entry).is_some() || universe.find(entry).is_some();
        let configured = settings.class.rules(settings.trading.starting_cash.into(), known)?;
        let rules = Classroom::resume(configured, &store, clock.as_ref())?;
        let class = Arc::new(Classroom::new(rules, universe.clone(), Reporting::from_settings(&settings.class)?));
        // The ledger starts before the engine, so resting orders see the first live tick.
        let trading = LedgerWriter {
            universe: universe.clone(),
            store: store.clone(),
            quotes: board.clone(),
            clock: clock.clone(),
            class: class.clone(),
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
        let trading = Arc::new(trading);
        let standings = Arc::new(Standings::load(
            class.clone(),
            trading.clone(),
            board.clone(),
            universe.clone(),
            store.clone(),
            clock.clone(),
            profiles.clone(),
        )?);
        let snapshots = tokio::spawn({
            let (standings, interval, token) = (standings.clone(), class.reporting.snapshot_interval, shutdown.clone());
            async move {
                tokio::join!(
                    snapshots::run(standings.clone(), interval, token.child_token()),
                    refresh(standings, token.child_token())
                );
            }
        });
        let ledger_stopped = trading.stopped_signal().expect("a fresh ledger writer");
        let writer = tokio::spawn(writer.run(shutdown.child_token()));

        let state = AppState {
            market: Arc::new(MarketData::new(universe, board, charts, store.clone(), buffer, clock.clone())),
            trading,
            class,
            standings,
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
            profiles,
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
        Ok(Application { port, server, shutdown, engine, writer, snapshots, ledger_stopped, store, health })
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
        let Application { server, shutdown, engine, writer, snapshots, ledger_stopped, store, health, .. } = self;
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
        let _ = snapshots.await;
        // The ledger writer stops once the last handle of the trading service is dropped (the
        // routes' state went with the server); wait for it, so the file is closed, checkpointed,
        // before this returns and a new server may open it.
        let waited = tokio::task::spawn_blocking(move || ledger_stopped.recv_timeout(LEDGER_STOP_WAIT)).await;
        if let Ok(Err(std::sync::mpsc::RecvTimeoutError::Timeout)) = waited {
            tracing::warn!("the ledger writer did not stop in time");
        }
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
