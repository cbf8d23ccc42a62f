//! Records every student's value on a timer (and at the season's end, so the final standings are
//! taken at the closing prices), for performance charts and the standings' risk measures.

use super::standings::Standings;
use crate::domain::class::SeasonState;
use crate::domain::time::Timestamp;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Takes snapshots every `interval` while the season is open, until `shutdown`.
pub async fn run(standings: Arc<Standings>, interval: Duration, shutdown: CancellationToken) {
    let mut closed_at: Option<Timestamp> = None;
    loop {
        let now = standings.clock.now();
        let rules = standings.class.rules();
        // Sleep to the next round, or to the season's end if that comes first.
        let until_end = rules
            .season_end
            .filter(|end| *end > now)
            .map(|end| Duration::from_micros((end.0 - now.0) as u64 + 1))
            .unwrap_or(interval);
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(interval.min(until_end)) => {}
        }
        let rules = standings.class.rules();
        let state = rules.season_state(standings.clock.now());
        let take = match state {
            SeasonState::NotStarted => false,
            SeasonState::Open => true,
            // One last round at the end; none after, so the standings stay as they closed.
            SeasonState::Ended => closed_at != rules.season_end,
        };
        if !take {
            continue;
        }
        if state == SeasonState::Ended {
            closed_at = rules.season_end;
        }
        // The closing round values at the end's prices; others take the standings as last built.
        let not_before = match state {
            SeasonState::Ended => rules.season_end.unwrap_or(Timestamp(i64::MIN)),
            _ => Timestamp(standings.clock.now().0 - super::standings::FRESH_FOR.as_micros() as i64),
        };
        let taker = standings.clone();
        match tokio::task::spawn_blocking(move || taker.snapshot(not_before)).await {
            Ok(Ok(count)) => tracing::debug!(students = count, "value snapshots taken"),
            Ok(Err(e)) => tracing::warn!(error = %e, "value snapshots could not be recorded"),
            Err(e) => tracing::warn!(error = %e, "value snapshots failed"),
        }
    }
}
