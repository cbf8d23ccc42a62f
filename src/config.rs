//! The one configuration value, built in layers and validated once into typed settings.
//!
//! Layers: the embedded `config.toml` (the defaults), the user's file, `FINLEARN_*` environment
//! variables, then command-line flags. Files and environment are merged as TOML trees before
//! anything is typed, so every layer can set every key, and an unknown key is an error rather
//! than silently ignored.

use crate::domain::class::{Commission, Rules, RulesChange};
use crate::domain::factors::FactorSettings;
use crate::domain::instrument::{self, Instrument, InstrumentType};
use crate::domain::instrument::{Currency, Region};
use crate::domain::market::Cadence;
use crate::domain::model::ModelParams;
use crate::domain::news::NewsSettings;
use crate::domain::time::{MICROS_PER_DAY, MICROS_PER_MILLI, MICROS_PER_SECOND};
use crate::domain::valuation::Fx;
use rust_decimal::Decimal;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The defaults: the documented `config.toml` at the top of the repository.
pub const DEFAULT_CONFIG: &str = include_str!("../config.toml");
const ENV_PREFIX: &str = "FINLEARN_";
/// Settings that are absent from the defaults (no value means "none").
const OPTIONAL_KEYS: &[&str] = &["seed", "scenario"];
/// Settings of earlier versions that no longer mean anything, with what replaced them. A file
/// that still sets one is refused with this hint rather than a bare "unknown field".
const REMOVED_KEYS: &[(&str, &str)] = &[
    ("simulation.news_mean_interval_secs", "news now arrives per company, sector and market: see [news]"),
    ("simulation.news_volatility_boost", "moved to news.volatility_boost"),
    ("models.*.jump_mean", "jump sizes now follow from jump_share and jump_bias"),
    ("models.*.jump_std", "jump sizes now follow from jump_share and jump_bias"),
    ("models.*.garch_alpha", "volatility clustering is set in market time: vol_half_life_hours and vol_dispersion"),
    ("models.*.garch_beta", "volatility clustering is set in market time: vol_half_life_hours and vol_dispersion"),
];

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("config file {path} is not valid: {message}")]
    Parse { path: String, message: String },
    #[error("invalid configuration: {0}")]
    Settings(String),
    #[error("environment variable {name}: {message}")]
    Env { name: String, message: String },
    #[error("invalid setting {key}: {message}")]
    Invalid { key: &'static str, message: String },
    #[error(transparent)]
    Instrument(#[from] instrument::InstrumentError),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub server: ServerSettings,
    pub storage: StorageSettings,
    pub simulation: SimulationSettings,
    pub models: HashMap<InstrumentType, ModelParams>,
    pub news: NewsSettings,
    pub factors: FactorSettings,
    pub instruments: InstrumentSettings,
    pub stream: StreamSettings,
    pub trading: TradingSettings,
    pub class: ClassSettings,
    pub auth: AuthSettings,
    pub admin: AdminSettings,
}

/// How requests prove which user they act for; see [`crate::auth`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum AuthMode {
    #[default]
    Open,
    Firebase,
    SharedSecret,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    pub mode: AuthMode,
    pub firebase_project_id: String,
    pub jwks: String,
    pub secret: String,
    pub token_ttl_secs: u64,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminSettings {
    pub token: String,
}

/// Shortest shared secret and admin token accepted: long enough not to be guessed.
pub const MIN_SECRET_LEN: usize = 32;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TradingSettings {
    pub starting_cash: u32,
    pub max_quote_age_secs: u64,
    pub max_open_orders_per_user: usize,
    pub stop_hold_buffer_percent: u32,
}

/// The class: its rules as they stand at first start (the teacher changes them live through
/// the admin routes), how values are reported, and how standings are kept.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassSettings {
    pub name: String,
    pub join_code: String,
    pub starting_cash: BTreeMap<Currency, Decimal>,
    pub allowed: Vec<String>,
    pub commission_flat: Decimal,
    pub commission_bps: Decimal,
    pub max_position_percent: Decimal,
    pub season_start: String,
    pub season_end: String,
    pub reporting_currency: Currency,
    pub fx: BTreeMap<Currency, Decimal>,
    pub snapshot_interval_secs: u64,
    pub leaderboard_sort: crate::class::SortKey,
    pub drawdown_limit_percent: Decimal,
}

impl ClassSettings {
    /// The configured rules, with `default_cash` for every currency `starting_cash` leaves out.
    pub fn rules(&self, default_cash: Decimal, known: impl Fn(&str) -> bool) -> Result<Rules, ConfigError> {
        let change = RulesChange {
            name: Some(self.name.clone()),
            join_code: Some(self.join_code.clone()),
            starting_cash: Some(self.starting_cash.clone()),
            allowed: Some(self.allowed.clone()),
            commission: Some(Commission { flat: self.commission_flat, bps: self.commission_bps }),
            max_position_percent: Some(self.max_position_percent),
            season_start: Some(self.season_start.clone()),
            season_end: Some(self.season_end.clone()),
        };
        change
            .apply(&Rules::open(&self.name, default_cash), known)
            .map_err(|message| ConfigError::Invalid { key: "class", message })
    }

    pub fn fx(&self) -> Result<Fx, ConfigError> {
        Fx::new(self.reporting_currency, self.fx.clone())
            .map_err(|message| ConfigError::Invalid { key: "class.fx", message })
    }
}

/// Most open orders a user may be allowed: the writer scans a user's open orders on some paths.
pub const MAX_OPEN_ORDERS_PER_USER: usize = 10_000;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    pub listen: String,
    pub workers: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageSettings {
    pub path: PathBuf,
    pub flush_interval_secs: u64,
    pub retention_days: u32,
    pub memory_limit: String,
    pub threads: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimulationSettings {
    pub seed: Option<u64>,
    /// A lesson file run from start-up (`--scenario`).
    #[serde(default)]
    pub scenario: Option<PathBuf>,
    pub tick_min_ms: u64,
    pub tick_max_ms: u64,
    pub seed_days: f64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstrumentSettings {
    pub replace_builtin: bool,
    pub extra: Vec<Instrument>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamSettings {
    pub channel_capacity: usize,
    pub send_timeout_secs: u64,
    pub heartbeat_secs: u64,
    pub client_timeout_secs: u64,
}

/// Command-line values that override every other layer.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub listen: Option<String>,
    pub data: Option<PathBuf>,
    pub seed: Option<u64>,
}

impl Settings {
    /// The built-in defaults alone.
    pub fn defaults() -> Self {
        Self::from_tree(parse_toml("built-in defaults", DEFAULT_CONFIG).expect("embedded config parses"))
            .expect("embedded config is valid")
    }

    /// Builds the settings from all layers. `file` is the user's config file, if any.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
        overrides: &Overrides,
    ) -> Result<Self, ConfigError> {
        let mut tree = parse_toml("built-in defaults", DEFAULT_CONFIG)?;
        if let Some(path) = file {
            let text =
                std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.into(), source })?;
            merge(&mut tree, parse_toml(&path.display().to_string(), &text)?);
        }
        for (name, value) in env {
            apply_env(&mut tree, &name, &value)?;
        }
        let mut settings = Self::from_tree(tree)?;
        if let Some(listen) = &overrides.listen {
            settings.server.listen = listen.clone();
        }
        if let Some(path) = &overrides.data {
            settings.storage.path = path.clone();
        }
        if overrides.seed.is_some() {
            settings.simulation.seed = overrides.seed;
        }
        settings.validate()?;
        Ok(settings)
    }

    fn from_tree(tree: toml::Table) -> Result<Self, ConfigError> {
        refuse_removed(&tree)?;
        // toml reports the key on a second line; one line reads better in a terminal.
        Settings::deserialize(toml::Value::Table(tree))
            .map_err(|e| ConfigError::Settings(e.to_string().split_whitespace().collect::<Vec<_>>().join(" ")))
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key, message: &str| Err(ConfigError::Invalid { key, message: message.into() });
        if self.listen_addr().is_err() {
            return invalid("server.listen", "expected HOST:PORT, e.g. 0.0.0.0:8000");
        }
        for bound in self.bounds() {
            bound.check()?;
        }
        let s = &self.simulation;
        if s.tick_min_ms > s.tick_max_ms {
            return invalid("simulation.tick_min_ms", "must be at most tick_max_ms");
        }
        let limit = self.storage.memory_limit.trim();
        if limit.is_empty() || !limit.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == ' ') {
            return invalid("storage.memory_limit", "expected a size such as 256MB or 1GB");
        }
        if self.stream.client_timeout_secs <= self.stream.heartbeat_secs {
            return invalid("stream.client_timeout_secs", "must exceed heartbeat_secs");
        }
        let auth = &self.auth;
        match auth.mode {
            AuthMode::Open => {}
            AuthMode::Firebase if auth.firebase_project_id.trim().is_empty() || auth.jwks.trim().is_empty() => {
                return invalid("auth", "mode firebase needs firebase_project_id and jwks (a file or URL)");
            }
            AuthMode::Firebase => {}
            AuthMode::SharedSecret if auth.secret.len() < MIN_SECRET_LEN => {
                return Err(ConfigError::Invalid {
                    key: "auth.secret",
                    message: format!("mode shared-secret needs a secret of at least {MIN_SECRET_LEN} characters"),
                });
            }
            AuthMode::SharedSecret => {}
        }
        if !self.admin.token.is_empty() && self.admin.token.len() < MIN_SECRET_LEN {
            return Err(ConfigError::Invalid {
                key: "admin.token",
                message: format!("must be empty (admin routes off) or at least {MIN_SECRET_LEN} characters"),
            });
        }
        self.news.validate().map_err(|message| ConfigError::Invalid { key: "news", message })?;
        self.factors.validate().map_err(|message| ConfigError::Invalid { key: "factors", message })?;
        for (kind, params) in &self.models {
            params
                .validate()
                .map_err(|message| ConfigError::Invalid { key: "models", message: format!("{kind}: {message}") })?;
        }
        let universe = self.universe();
        if universe.is_empty() {
            return invalid("instruments", "the universe is empty");
        }
        instrument::check_list(&universe)?;
        let known = |entry: &str| Region::parse(entry).is_some() || universe.iter().any(|i| i.symbol == entry);
        self.class.rules(Decimal::from(self.trading.starting_cash), known)?;
        self.class.fx()?;
        if self.class.drawdown_limit_percent < Decimal::ZERO || self.class.drawdown_limit_percent > Decimal::ONE_HUNDRED
        {
            return invalid("class.drawdown_limit_percent", "must be 0 (no limit) to 100");
        }
        Ok(())
    }

    /// The accepted range of every numeric setting (also written beside each in `config.toml`).
    /// The ceilings are generous for any classroom or server, and they keep every duration far
    /// from overflowing when it is multiplied into microseconds (`i64` holds 292,000 years).
    fn bounds(&self) -> [Bound; 16] {
        let (sv, st, sim, sr, tr) = (&self.server, &self.storage, &self.simulation, &self.stream, &self.trading);
        [
            Bound::new("server.workers", sv.workers as f64, 0.0, 1_024.0),
            Bound::new("storage.flush_interval_secs", st.flush_interval_secs as f64, 1.0, 3_600.0),
            Bound::new("storage.retention_days", f64::from(st.retention_days), 1.0, 36_500.0),
            Bound::new("storage.threads", f64::from(st.threads), 1.0, 1_024.0),
            Bound::new("simulation.tick_min_ms", sim.tick_min_ms as f64, 1.0, 3_600_000.0),
            Bound::new("simulation.tick_max_ms", sim.tick_max_ms as f64, 1.0, 3_600_000.0),
            Bound::new("simulation.seed_days", sim.seed_days, f64::MIN_POSITIVE, 400.0),
            Bound::new("stream.channel_capacity", sr.channel_capacity as f64, 1.0, 1_048_576.0),
            Bound::new("stream.send_timeout_secs", sr.send_timeout_secs as f64, 1.0, 3_600.0),
            Bound::new("stream.heartbeat_secs", sr.heartbeat_secs as f64, 1.0, 3_600.0),
            Bound::new("stream.client_timeout_secs", sr.client_timeout_secs as f64, 2.0, 86_400.0),
            Bound::new("trading.max_quote_age_secs", tr.max_quote_age_secs as f64, 1.0, 86_400.0),
            Bound::new(
                "trading.max_open_orders_per_user",
                tr.max_open_orders_per_user as f64,
                1.0,
                MAX_OPEN_ORDERS_PER_USER as f64,
            ),
            Bound::new("trading.stop_hold_buffer_percent", f64::from(tr.stop_hold_buffer_percent), 0.0, 100.0),
            Bound::new("class.snapshot_interval_secs", self.class.snapshot_interval_secs as f64, 10.0, 86_400.0),
            Bound::new("auth.token_ttl_secs", self.auth.token_ttl_secs as f64, 1.0, 31_622_400.0),
        ]
    }

    pub fn listen_addr(&self) -> Result<SocketAddr, std::net::AddrParseError> {
        self.server.listen.parse()
    }

    /// The instruments to simulate: the built-in ones unless replaced, then the extras.
    pub fn universe(&self) -> Vec<Instrument> {
        let mut list = if self.instruments.replace_builtin { Vec::new() } else { instrument::default_universe() };
        list.extend(self.instruments.extra.iter().cloned());
        list
    }

    /// Model parameters for one instrument type; every type has an entry in the defaults.
    pub fn model_for(&self, kind: InstrumentType) -> ModelParams {
        self.models[&kind]
    }

    pub fn cadence(&self) -> Cadence {
        let s = &self.simulation;
        Cadence {
            tick_min_micros: s.tick_min_ms as i64 * MICROS_PER_MILLI,
            tick_max_micros: s.tick_max_ms as i64 * MICROS_PER_MILLI,
            news: self.news,
            factors: self.factors,
        }
    }

    /// The age past which a quote is too old to trade on, in microseconds.
    pub fn max_quote_age_micros(&self) -> i64 {
        self.trading.max_quote_age_secs as i64 * MICROS_PER_SECOND
    }

    pub fn flush_interval(&self) -> Duration {
        Duration::from_secs(self.storage.flush_interval_secs)
    }

    /// How long raw ticks are kept, in microseconds (bounded by [`Settings::validate`]).
    pub fn retention_micros(&self) -> i64 {
        i64::from(self.storage.retention_days) * MICROS_PER_DAY
    }
}

/// One numeric setting and its accepted range, inclusive. Values are compared as `f64`, which
/// holds every integer setting within its ceiling exactly.
struct Bound {
    key: &'static str,
    value: f64,
    min: f64,
    max: f64,
}

impl Bound {
    fn new(key: &'static str, value: f64, min: f64, max: f64) -> Self {
        Bound { key, value, min, max }
    }

    fn check(&self) -> Result<(), ConfigError> {
        if self.value >= self.min && self.value <= self.max {
            return Ok(());
        }
        let low = if self.min == f64::MIN_POSITIVE { "above 0".to_string() } else { format!("from {}", self.min) };
        Err(ConfigError::Invalid {
            key: self.key,
            message: format!("must be {low} to {}, not {}", self.max, self.value),
        })
    }
}

/// Refuses a setting listed in [`REMOVED_KEYS`]; `*` matches any one table name.
fn refuse_removed(tree: &toml::Table) -> Result<(), ConfigError> {
    fn find(table: &toml::Table, path: &[&str], shown: String) -> Option<String> {
        let (first, rest) = path.split_first()?;
        let keys: Vec<&String> =
            if *first == "*" { table.keys().collect() } else { table.keys().filter(|k| k == first).collect() };
        keys.into_iter().find_map(|key| {
            let shown = if shown.is_empty() { key.clone() } else { format!("{shown}.{key}") };
            match (rest.is_empty(), table.get(key)) {
                (true, _) => Some(shown),
                (false, Some(toml::Value::Table(inner))) => find(inner, rest, shown),
                _ => None,
            }
        })
    }
    for (path, hint) in REMOVED_KEYS {
        let parts: Vec<&str> = path.split('.').collect();
        if let Some(found) = find(tree, &parts, String::new()) {
            return Err(ConfigError::Settings(format!("{found} is no longer a setting: {hint}")));
        }
    }
    Ok(())
}

fn parse_toml(origin: &str, text: &str) -> Result<toml::Table, ConfigError> {
    text.parse::<toml::Table>()
        .map_err(|e| ConfigError::Parse { path: origin.to_string(), message: e.message().to_string() })
}

/// Deep-merges `overlay` into `base`: tables merge key by key, anything else is replaced.
fn merge(base: &mut toml::Table, overlay: toml::Table) {
    for (key, value) in overlay {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

/// Applies `FINLEARN_SECTION__KEY=value`. The flag shortcuts (FINLEARN_LISTEN, ...) and
/// variables without `__` are left to the command line.
fn apply_env(tree: &mut toml::Table, name: &str, value: &str) -> Result<(), ConfigError> {
    let Some(path) = name.strip_prefix(ENV_PREFIX) else { return Ok(()) };
    if !path.contains("__") {
        return Ok(());
    }
    let keys: Vec<String> = path.split("__").map(str::to_ascii_lowercase).collect();
    let env_error = |message: &str| ConfigError::Env { name: name.to_string(), message: message.to_string() };
    // Read the value as TOML so numbers and booleans keep their type; anything else is text.
    let parsed = format!("v = {value}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(value.to_string()));
    let (last, sections) = keys.split_last().expect("at least two keys");
    let mut table = tree;
    for key in sections {
        table = match table.get_mut(key) {
            Some(toml::Value::Table(t)) => t,
            _ => return Err(env_error("no such setting")),
        };
    }
    if !table.contains_key(last.as_str()) && !OPTIONAL_KEYS.contains(&last.as_str()) {
        let removed = REMOVED_KEYS.iter().find(|(path, _)| path.rsplit('.').next() == Some(last.as_str()));
        if let Some((_, hint)) = removed {
            return Err(env_error(&format!("no longer a setting: {hint}")));
        }
        return Err(env_error("no such setting"));
    }
    table.insert(last.clone(), parsed);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(file: Option<&str>, env: &[(&str, &str)], overrides: Overrides) -> Result<Settings, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        if let Some(text) = file {
            std::fs::write(&path, text).unwrap();
        }
        let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        Settings::load(file.map(|_| path.as_path()), env, &overrides)
    }

    #[test]
    fn the_embedded_defaults_are_complete_and_valid() {
        let s = Settings::defaults();
        s.validate().unwrap();
        assert_eq!(s.server.listen, "0.0.0.0:8000");
        assert_eq!(s.storage.flush_interval_secs, 30);
        assert_eq!(s.storage.retention_days, 30);
        assert_eq!(s.simulation.seed_days, 5.0);
        assert_eq!(s.universe().len(), 45);
        assert_eq!(s.models.len(), 7);
        assert_eq!(s.simulation.seed, None);
    }

    #[test]
    fn each_layer_overrides_the_one_before() {
        let file = "[storage]\nflush_interval_secs = 10\nretention_days = 7\n[server]\nlisten = \"127.0.0.1:9000\"\n";
        let env = [("FINLEARN_STORAGE__RETENTION_DAYS", "3"), ("FINLEARN_SIMULATION__SEED", "77")];
        let s =
            load(Some(file), &env, Overrides { listen: Some("127.0.0.1:9100".into()), ..Default::default() }).unwrap();
        assert_eq!(s.storage.flush_interval_secs, 10); // file
        assert_eq!(s.storage.retention_days, 3); // environment over file
        assert_eq!(s.simulation.seed, Some(77)); // environment
        assert_eq!(s.server.listen, "127.0.0.1:9100"); // flag over file
        assert_eq!(s.storage.memory_limit, "256MB"); // default
    }

    #[test]
    fn unknown_keys_and_bad_values_are_errors_that_name_the_setting() {
        let err = load(Some("[storage]\nflush_intervall = 3\n"), &[], Overrides::default()).unwrap_err();
        assert!(err.to_string().contains("flush_intervall"), "{err}");
        let err = load(None, &[("FINLEARN_STORAGE__NOPE", "1")], Overrides::default()).unwrap_err();
        assert!(err.to_string().contains("FINLEARN_STORAGE__NOPE"), "{err}");
        let err = load(Some("[simulation]\ntick_min_ms = 5000\n"), &[], Overrides::default()).unwrap_err();
        assert!(err.to_string().contains("tick_min_ms"), "{err}");
        let err = load(Some("[server]\nlisten = \"nowhere\"\n"), &[], Overrides::default()).unwrap_err();
        assert!(err.to_string().contains("server.listen"), "{err}");
    }

    #[test]
    fn every_numeric_setting_has_a_ceiling_so_durations_cannot_overflow() {
        // 4e9 days in microseconds wraps an i64; it must be refused, not turned into a
        // retention cutoff in the future that deletes every raw tick.
        let err = load(None, &[("FINLEARN_STORAGE__RETENTION_DAYS", "4000000000")], Overrides::default()).unwrap_err();
        assert!(err.to_string().contains("storage.retention_days") && err.to_string().contains("36500"), "{err}");
        let max = Settings::defaults().bounds().iter().find(|b| b.key == "storage.retention_days").unwrap().max;
        let mut s = Settings::defaults();
        s.storage.retention_days = max as u32;
        assert!(s.retention_micros() > 0);
        for (name, value) in [
            ("FINLEARN_STREAM__SEND_TIMEOUT_SECS", "0"),
            ("FINLEARN_STORAGE__FLUSH_INTERVAL_SECS", "99999999"),
            ("FINLEARN_AUTH__TOKEN_TTL_SECS", "18446744073709551615"),
            ("FINLEARN_SIMULATION__SEED_DAYS", "0"),
        ] {
            let key = name.trim_start_matches("FINLEARN_").replace("__", ".").to_ascii_lowercase();
            let err = load(None, &[(name, value)], Overrides::default()).unwrap_err();
            assert!(err.to_string().contains(&key), "{name}={value}: {err}");
        }
        // config.toml states each range in the comment above the key, ending "... MAX)".
        let lines: Vec<&str> = DEFAULT_CONFIG.lines().collect();
        for bound in Settings::defaults().bounds() {
            let leaf = bound.key.rsplit('.').next().unwrap();
            let at = lines.iter().position(|l| l.starts_with(&format!("{leaf} ="))).unwrap();
            let comment = lines[at.saturating_sub(4)..at].join(" ");
            assert!(comment.contains(&format!("{})", bound.max)), "{} documents its ceiling: {comment}", bound.key);
        }
    }

    #[test]
    fn settings_of_the_old_price_model_are_refused_with_what_replaced_them() {
        let err = load(Some("[simulation]\nnews_mean_interval_secs = 300\n"), &[], Overrides::default()).unwrap_err();
        assert!(err.to_string().contains("simulation.news_mean_interval_secs is no longer a setting"), "{err}");
        let err = load(Some("[models.stock]\ngarch_alpha = 0.1\n"), &[], Overrides::default()).unwrap_err();
        assert!(err.to_string().contains("models.stock.garch_alpha is no longer a setting"), "{err}");
        assert!(err.to_string().contains("vol_half_life_hours"), "{err}");
        let err = load(None, &[("FINLEARN_SIMULATION__NEWS_VOLATILITY_BOOST", "3")], Overrides::default()).unwrap_err();
        assert!(err.to_string().contains("news.volatility_boost"), "{err}");
        let s = load(Some("[news]\nshare = 0.2\n[factors]\nsector = 0.3\n"), &[], Overrides::default()).unwrap();
        assert_eq!((s.news.share, s.factors.sector), (0.2, 0.3));
        let err = load(Some("[factors]\nglobal = 0.5\nmarket = 0.5\n"), &[], Overrides::default()).unwrap_err();
        assert!(err.to_string().contains("factors"), "{err}");
    }

    #[test]
    fn extra_instruments_extend_or_replace_the_universe() {
        let extra = "[[instruments.extra]]\nsymbol = \"ADA\"\nname = \"Cardano\"\ntype = \"crypto\"\nsector = \"unknown\"\nmarket = \"crypto\"\ncurrency = \"USD\"\nbase_price = 0.55\nannual_volatility = 0.9\nannual_drift = 0.2\n";
        let s = load(Some(extra), &[], Overrides::default()).unwrap();
        assert_eq!(s.universe().len(), 46);
        let replaced = format!("[instruments]\nreplace_builtin = true\n{extra}");
        let s = load(Some(&replaced), &[], Overrides::default()).unwrap();
        assert_eq!(s.universe().iter().map(|i| i.symbol.as_str()).collect::<Vec<_>>(), ["ADA"]);
    }

    #[test]
    fn verified_identity_modes_need_their_keys() {
        let err = load(Some("[auth]\nmode = \"firebase\"\n"), &[], Overrides::default()).unwrap_err();
        assert!(err.to_string().contains("firebase_project_id"), "{err}");
        let err = load(Some("[auth]\nmode = \"shared-secret\"\nsecret = \"short\"\n"), &[], Overrides::default())
            .unwrap_err();
        assert!(err.to_string().contains("auth.secret"), "{err}");
        let err = load(Some("[auth]\nmode = \"magic\"\n"), &[], Overrides::default()).unwrap_err();
        assert!(err.to_string().contains("magic"), "{err}");
        assert_eq!(Settings::defaults().auth.mode, AuthMode::Open);
        assert!(Settings::defaults().admin.token.is_empty(), "admin routes are off by default");
    }

    #[test]
    fn a_missing_config_file_is_a_clear_error() {
        let err = Settings::load(Some(Path::new("/nonexistent/finlearn.toml")), Vec::new(), &Overrides::default())
            .unwrap_err();
        assert!(err.to_string().starts_with("cannot read config file /nonexistent/finlearn.toml"), "{err}");
    }
}
