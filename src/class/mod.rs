//! The class a teacher runs: its rules (read by the ledger writer for every order), how values
//! are reported, value snapshots, standings and the leaderboard.
//!
//! Layout: this file holds the rules as they stand and their changes; `standings` ranks the
//! students; `snapshots` records every student's value on a timer.

pub mod snapshots;
pub mod standings;

use crate::domain::account::Account;
use crate::domain::class::{Rules, RulesChange};
use crate::domain::instrument::{Region, Universe};
use crate::domain::time::Clock;
use crate::domain::valuation::{Fx, as_f64};
use crate::storage::{StorageError, Store};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::sync::{Arc, RwLock};

/// What the leaderboard ranks by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SortKey {
    Value,
    Return,
    Sharpe,
}

impl SortKey {
    pub fn parse(text: &str) -> Option<SortKey> {
        match text {
            "value" => Some(SortKey::Value),
            "return" => Some(SortKey::Return),
            "sharpe" => Some(SortKey::Sharpe),
            _ => None,
        }
    }
}

/// How standings are reported.
#[derive(Debug, Clone)]
pub struct Reporting {
    pub fx: Fx,
    pub default_sort: SortKey,
    /// Students whose maximum drawdown exceeds this (percent) rank after the others.
    pub drawdown_limit_percent: Option<f64>,
    pub snapshot_interval: std::time::Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum ClassError {
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// The rules as they stand, shared by the routes and the ledger writer.
pub struct Classroom {
    rules: RwLock<Arc<Rules>>,
    universe: Arc<Universe>,
    pub reporting: Reporting,
}

impl Reporting {
    pub fn from_settings(settings: &crate::config::ClassSettings) -> Result<Self, crate::config::ConfigError> {
        let limit = as_f64(settings.drawdown_limit_percent);
        Ok(Reporting {
            fx: settings.fx()?,
            default_sort: settings.leaderboard_sort,
            drawdown_limit_percent: (limit > 0.0).then_some(limit),
            snapshot_interval: std::time::Duration::from_secs(settings.snapshot_interval_secs),
        })
    }
}

impl Classroom {
    pub fn new(rules: Rules, universe: Arc<Universe>, reporting: Reporting) -> Self {
        Classroom { rules: RwLock::new(Arc::new(rules)), universe, reporting }
    }

    /// An open class (no rules beyond `starting_cash`) reported in US dollars at the default
    /// rates: for tools and tests.
    pub fn open(universe: Arc<Universe>, starting_cash: Decimal) -> Self {
        let settings = crate::config::Settings::defaults();
        let reporting = Reporting::from_settings(&settings.class).expect("the default class settings are valid");
        Classroom::new(Rules::open("Class", starting_cash), universe, reporting)
    }

    /// The rules now; the ledger writer reads them for each order it applies.
    pub fn rules(&self) -> Arc<Rules> {
        self.rules.read().expect("rules").clone()
    }

    /// The account a student opens under the rules now.
    pub fn opening(&self) -> Account {
        let cash = self.rules().starting_cash.clone();
        Account { opening: cash.clone(), cash, ..Default::default() }
    }

    /// Whether a market or symbol exists.
    pub fn knows(&self, entry: &str) -> bool {
        Region::parse(entry).is_some() || self.universe.find(entry).is_some()
    }

    /// Applies a teacher's change from now on: validated, recorded with the rules it made (and
    /// in the audit log), then in force. Blocking (a database write).
    pub fn change(&self, change: &RulesChange, store: &Store, clock: &dyn Clock) -> Result<Arc<Rules>, ClassError> {
        let mut current = self.rules.write().expect("rules");
        let next = change.apply(&current, |e| self.knows(e)).map_err(ClassError::Invalid)?;
        store.record_rules(clock.now(), "admin", &next, change)?;
        *current = Arc::new(next);
        Ok(current.clone())
    }

    /// The rules to start with: the configured ones when they differ from those configured at
    /// the last start (the file was edited: that is the latest change), else the latest
    /// recorded ones (the teacher's changes survive a restart).
    pub fn resume(configured: Rules, store: &Store, clock: &dyn Clock) -> Result<Rules, StorageError> {
        let (last_configured, latest) = store.recorded_rules()?;
        if last_configured.as_ref() != Some(&configured) {
            store.record_rules(clock.now(), "config", &configured, &configured)?;
            return Ok(configured);
        }
        Ok(latest.unwrap_or(configured))
    }

    /// Commission on an order worth `value` under the rules now.
    pub fn commission(&self, value: Decimal) -> Decimal {
        self.rules().commission.on(value)
    }
}
