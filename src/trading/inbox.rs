//! The engine's hand-off of ticks to the ledger writer, for the resting orders waiting on them.
//!
//! The engine must never wait for the ledger, and the ledger must see every tick of a symbol
//! with resting orders, in the engine's order. So the engine appends the tick to a queue under
//! a short lock (only for instruments that have resting orders: a counter per instrument says
//! so) and wakes the writer without waiting; the writer takes the whole queue at once. A wake
//! that does not fit in the full command queue is not needed: the writer also empties the
//! queue at the start of every group.

use super::Command;
use crate::domain::market::Tick;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use tokio::sync::mpsc;

pub struct TickInbox {
    /// Resting orders per instrument, kept by the writer.
    resting: Vec<AtomicU32>,
    queue: Mutex<Vec<Tick>>,
    /// Weak, so the writer (which owns the inbox) still stops when the service is dropped.
    wake: mpsc::WeakSender<Command>,
}

impl TickInbox {
    pub(super) fn new(instruments: usize, wake: &mpsc::Sender<Command>) -> Self {
        let resting = (0..instruments).map(|_| AtomicU32::new(0)).collect();
        TickInbox { resting, queue: Mutex::default(), wake: wake.downgrade() }
    }

    /// Called by the engine for every tick, after the quote board has it.
    pub fn on_tick(&self, tick: &Tick) {
        if self.resting.get(tick.instrument).is_none_or(|n| n.load(Ordering::Acquire) == 0) {
            return;
        }
        let was_empty = {
            let mut queue = self.queue.lock().expect("tick inbox");
            queue.push(*tick);
            queue.len() == 1
        };
        if was_empty && let Some(wake) = self.wake.upgrade() {
            let _ = wake.try_send(Command::Ticks);
        }
    }

    /// Every tick queued so far, in the engine's order.
    pub(super) fn take(&self) -> Vec<Tick> {
        std::mem::take(&mut *self.queue.lock().expect("tick inbox"))
    }

    /// Counts a resting order in (`+1`) or out (`-1`) of an instrument.
    pub(super) fn count(&self, instrument: usize, delta: i32) {
        if delta >= 0 {
            self.resting[instrument].fetch_add(delta as u32, Ordering::AcqRel);
        } else {
            self.resting[instrument].fetch_sub(delta.unsigned_abs(), Ordering::AcqRel);
        }
    }
}
