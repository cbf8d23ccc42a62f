//! The running market: the quote board, the chart windows, the broadcast bus, the write buffer,
//! and the two long-lived tasks (the engine loop and the tick writer) that connect them.

pub mod buffer;
pub mod bus;
pub mod charts;
pub mod director;
pub mod engine;
pub mod quotes;
pub mod tick_writer;
