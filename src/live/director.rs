//! The director's mailbox between the admin routes and the engine.
//!
//! A route validates a command and drops it here; the engine takes the commands, has the
//! market apply them at that instant, and posts back what the routes report: the market's
//! status and its regimes. The status a route answers with is set at submission, so an order
//! placed right after a pause is already refused.

use crate::domain::directing::RegimeView;
use crate::domain::director::{Command, MarketStatus};
use crate::domain::time::Timestamp;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::Notify;

pub struct Director {
    /// Commands for the engine, each at an instant or (None) at once.
    inbox: Mutex<Vec<(Option<Timestamp>, Command)>>,
    wake: Notify,
    status: Mutex<MarketStatus>,
    regimes: Mutex<Vec<RegimeView>>,
    next_id: AtomicU64,
}

impl Default for Director {
    fn default() -> Self {
        Director {
            inbox: Mutex::new(Vec::new()),
            wake: Notify::new(),
            status: Mutex::new(MarketStatus::new(false, 1)),
            regimes: Mutex::new(Vec::new()),
            next_id: AtomicU64::new(1),
        }
    }
}

impl Director {
    /// Hands a validated command to the engine and wakes it.
    pub fn submit(&self, command: Command) {
        {
            let mut status = self.status.lock().expect("status");
            match command {
                Command::Pause => *status = MarketStatus::new(true, status.speed),
                Command::Resume => *status = MarketStatus::new(false, status.speed),
                Command::Speed(speed) => *status = MarketStatus::new(status.paused(), speed),
                _ => {}
            }
        }
        self.inbox.lock().expect("inbox").push((None, command));
        self.wake.notify_one();
    }

    /// Hands the engine a command to apply at `at` (a lesson's timeline).
    pub fn submit_at(&self, at: Timestamp, command: Command) {
        self.inbox.lock().expect("inbox").push((Some(at), command));
        self.wake.notify_one();
    }

    pub fn status(&self) -> MarketStatus {
        *self.status.lock().expect("status")
    }

    /// The regimes as the engine last reported them.
    pub fn regimes(&self) -> Vec<RegimeView> {
        self.regimes.lock().expect("regimes").clone()
    }

    /// Whether a regime with `id` runs, is scheduled, or is on its way to the engine.
    pub fn knows_regime(&self, id: &str) -> bool {
        let pending = self.inbox.lock().expect("inbox").iter().any(|(_, c)| match c {
            Command::Regime(order) => order.id.as_deref() == Some(id),
            _ => false,
        });
        pending || self.regimes.lock().expect("regimes").iter().any(|r| r.id == id)
    }

    /// A fresh regime id for this run.
    pub fn next_regime_id(&self) -> String {
        format!("regime-{}", self.next_id.fetch_add(1, Ordering::Relaxed))
    }

    /// The commands submitted since the last call, oldest first.
    pub fn take(&self) -> Vec<(Option<Timestamp>, Command)> {
        std::mem::take(&mut *self.inbox.lock().expect("inbox"))
    }

    /// The engine's report after applying commands. The status is left alone while
    /// commands wait, since they already changed it.
    pub fn report(&self, status: MarketStatus, regimes: Vec<RegimeView>) {
        let inbox = self.inbox.lock().expect("inbox");
        if inbox.is_empty() {
            *self.status.lock().expect("status") = status;
        }
        drop(inbox);
        *self.regimes.lock().expect("regimes") = regimes;
    }

    /// Resolves when a command is submitted (at once if one came since the last wait).
    pub async fn woken(&self) {
        self.wake.notified().await;
    }
}
