//! Readiness: whether the server can still do its work, and the one way a part that cannot
//! recover stops the process.
//!
//! A part that dies for good (the ledger writer's thread panicked, or DuckDB invalidated the
//! database after a fatal write error) calls [`Health::fail`] with the cause. From that moment
//! `/health` answers 503 "not ready" with the cause, and the server stops gracefully and exits
//! non-zero with the cause, so whatever started it (systemd, a container runtime, a teacher
//! re-running the command) starts it afresh and the accounts are rebuilt from the ledger in the
//! file. Recovering in place would mean reopening the database under live requests while every
//! holder of a connection lets go; a restart is one clear mechanism that is already tested.

use std::sync::OnceLock;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Default)]
pub struct Health {
    failure: OnceLock<String>,
    failed: CancellationToken,
}

impl Health {
    /// Marks the server as failed for good; the first cause is kept.
    pub fn fail(&self, cause: impl Into<String>) {
        let cause = cause.into();
        if self.failure.set(cause.clone()).is_ok() {
            tracing::error!(%cause, "the server cannot go on: stopping");
        }
        self.failed.cancel();
    }

    /// Why the server failed, if it did.
    pub fn failure(&self) -> Option<&str> {
        self.failure.get().map(String::as_str)
    }

    /// Resolves once [`Health::fail`] has been called.
    pub async fn failed(&self) {
        self.failed.cancelled().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_first_cause_is_kept_and_waiters_wake() {
        let health = std::sync::Arc::new(Health::default());
        assert_eq!(health.failure(), None);
        let waiter = tokio::spawn({
            let health = health.clone();
            async move { health.failed().await }
        });
        health.fail("the ledger writer panicked");
        health.fail("a later cause");
        waiter.await.unwrap();
        assert_eq!(health.failure(), Some("the ledger writer panicked"));
    }
}
