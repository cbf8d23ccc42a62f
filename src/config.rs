//! The one configuration value, built in layers and validated once into typed settings.
//!
//! Layers: the embedded `config.toml` (the defaults), the user's file, `FINLEARN_*` environment
//! variables, then command-line flags. Files and environment are merged as TOML trees before
//! anything is typed, so every layer can set every key, and an unknown key is an error rather
//! than silently ignored.

use crate::domain::instrument::{self, Instrument, InstrumentType};
use crate::domain::market::Cadence;
use crate::domain::model::ModelParams;
use crate::domain::time::{MICROS_PER_SECOND, Timestamp};
use serde::Deserialize;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The defaults: the documented `config.toml` at the top of the repository.
pub const DEFAULT_CONFIG: &str = include_str!("../config.toml");
const ENV_PREFIX: &str = "FINLEARN_";
/// Settings that are absent from the defaults (no value means "none").
const OPTIONAL_KEYS: &[&str] = &["seed"];

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
    pub instruments: InstrumentSettings,
    pub stream: StreamSettings,
    pub trading: TradingSettings,
    pub auth: AuthSettings,
    pub admin: AdminSettings,
}

/// How requests prove which user they act for; see [`crate::auth`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
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
    pub tick_min_ms: u64,
    pub tick_max_ms: u64,
    pub seed_days: f64,
    pub news_mean_interval_secs: u64,
    pub news_volatility_boost: f64,
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
        // toml reports the key on a second line; one line reads better in a terminal.
        Settings::deserialize(toml::Value::Table(tree))
            .map_err(|e| ConfigError::Settings(e.to_string().split_whitespace().collect::<Vec<_>>().join(" ")))
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key, message: &str| Err(ConfigError::Invalid { key, message: message.into() });
        if self.listen_addr().is_err() {
            return invalid("server.listen", "expected HOST:PORT, e.g. 0.0.0.0:8000");
        }
        let s = &self.simulation;
        if s.tick_min_ms == 0 || s.tick_min_ms > s.tick_max_ms {
            return invalid("simulation.tick_min_ms", "must be positive and at most tick_max_ms");
        }
        if !(s.seed_days > 0.0 && s.seed_days <= 400.0) {
            return invalid("simulation.seed_days", "must be above 0 and at most 400");
        }
        if !(s.news_volatility_boost >= 1.0 && s.news_volatility_boost <= 100.0) {
            return invalid("simulation.news_volatility_boost", "must be between 1 and 100");
        }
        if self.storage.flush_interval_secs == 0 {
            return invalid("storage.flush_interval_secs", "must be positive");
        }
        if self.storage.retention_days == 0 {
            return invalid("storage.retention_days", "must be at least 1");
        }
        if self.storage.threads == 0 {
            return invalid("storage.threads", "must be at least 1");
        }
        let limit = self.storage.memory_limit.trim();
        if limit.is_empty() || !limit.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == ' ') {
            return invalid("storage.memory_limit", "expected a size such as 256MB or 1GB");
        }
        let st = &self.stream;
        if st.channel_capacity == 0 || st.send_timeout_secs == 0 || st.heartbeat_secs == 0 {
            return invalid("stream", "channel_capacity, send_timeout_secs and heartbeat_secs must be positive");
        }
        if st.client_timeout_secs <= st.heartbeat_secs {
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
        if auth.token_ttl_secs == 0 {
            return invalid("auth.token_ttl_secs", "must be positive");
        }
        if !self.admin.token.is_empty() && self.admin.token.len() < MIN_SECRET_LEN {
            return Err(ConfigError::Invalid {
                key: "admin.token",
                message: format!("must be empty (admin routes off) or at least {MIN_SECRET_LEN} characters"),
            });
        }
        if self.trading.max_quote_age_secs == 0 {
            return invalid("trading.max_quote_age_secs", "must be positive");
        }
        if !(1..=MAX_OPEN_ORDERS_PER_USER).contains(&self.trading.max_open_orders_per_user) {
            return invalid("trading.max_open_orders_per_user", "must be 1 to 10000");
        }
        if self.trading.stop_hold_buffer_percent > 100 {
            return invalid("trading.stop_hold_buffer_percent", "must be 0 to 100");
        }
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
        Ok(())
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
            tick_min_micros: s.tick_min_ms as i64 * 1_000,
            tick_max_micros: s.tick_max_ms as i64 * 1_000,
            news_mean_micros: s.news_mean_interval_secs as i64 * MICROS_PER_SECOND,
            news_volatility_boost: s.news_volatility_boost,
        }
    }

    pub fn flush_interval(&self) -> Duration {
        Duration::from_secs(self.storage.flush_interval_secs)
    }

    /// Raw ticks older than this are deleted.
    pub fn retention_cutoff(&self, now: Timestamp) -> Timestamp {
        now.plus_micros(-(i64::from(self.storage.retention_days) * 86_400 * MICROS_PER_SECOND))
    }
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
