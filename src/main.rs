use clap::Parser;
use finlearn::cli::{CheckArgs, Cli, Command, ExportArgs, ServeArgs, TokenArgs};
use finlearn::config::{AuthMode, Overrides, Settings};
use finlearn::domain::time::SystemClock;
use finlearn::signals::ShutdownSignals;
use finlearn::startup::Application;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve(args),
        Command::Check(args) => check(args),
        Command::Token(args) => token(args),
        Command::Export(args) => export(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The given config file, or `./config.toml` when present.
fn config_file(given: Option<PathBuf>) -> Option<PathBuf> {
    let default_file = Path::new("config.toml");
    given.or_else(|| default_file.exists().then(|| default_file.into()))
}

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    finlearn::telemetry::init(args.log_format);
    let overrides = Overrides { listen: args.listen, data: args.data, seed: args.seed };
    let mut settings = Settings::load(config_file(args.config).as_deref(), std::env::vars(), &overrides)?;
    if args.scenario.is_some() {
        settings.simulation.scenario = args.scenario;
    }
    actix_web::rt::System::new().block_on(async move {
        let signals = ShutdownSignals::install()?;
        let app = Application::build(settings, Arc::new(SystemClock)).await?;
        let stopper = app.stopper();
        actix_web::rt::spawn(async move {
            signals.recv().await;
            tracing::info!("shutting down: flushing buffered ticks");
            stopper.stop().await;
        });
        app.run_until_stopped().await
    })
}

fn check(args: CheckArgs) -> anyhow::Result<()> {
    if !args.data.exists() {
        anyhow::bail!("no database file at {}", args.data.display());
    }
    let defaults = Settings::defaults();
    let store = finlearn::storage::Store::open(&args.data, &defaults.storage.memory_limit, defaults.storage.threads)?;
    let mut breaks = store.check_ledger()?;
    breaks.extend(store.check_orders()?);
    breaks.extend(store.check_seasons()?);
    if breaks.is_empty() {
        let seasons = store.seasons()?.len();
        let checked =
            if seasons == 1 { "1 season".to_string() } else { format!("{seasons} seasons, archived ones too") };
        println!("ledger consistent ({checked}): {}", args.data.display());
        return Ok(());
    }
    for b in &breaks {
        println!("BROKEN {b}");
    }
    anyhow::bail!("{} ledger invariant(s) broken in {}", breaks.len(), args.data.display())
}

fn export(args: ExportArgs) -> anyhow::Result<()> {
    let defaults = Settings::defaults();
    for (path, rows) in finlearn::export::run(&args, &defaults.storage.memory_limit, defaults.storage.threads)? {
        println!("{rows} rows -> {}", path.display());
    }
    Ok(())
}

fn token(args: TokenArgs) -> anyhow::Result<()> {
    let settings = Settings::load(config_file(args.config).as_deref(), std::env::vars(), &Overrides::default())?;
    if settings.auth.mode != AuthMode::SharedSecret {
        anyhow::bail!("tokens are issued only with [auth] mode = \"shared-secret\" and a secret");
    }
    finlearn::trading::validate_uid(&args.uid).map_err(|e| anyhow::anyhow!("--uid: {e}"))?;
    let ttl = Duration::from_secs(args.ttl.unwrap_or(settings.auth.token_ttl_secs));
    println!("{}", finlearn::auth::issue_token(&settings.auth.secret, &args.uid, ttl)?);
    Ok(())
}
