//! The domain: instruments, price models, the simulated market, quotes, candles and news as
//! plain values. Nothing here knows about HTTP, async runtimes or the database; time comes in
//! as a value and randomness from seeded generators, so every rule is testable directly.

pub mod account;
pub mod candle;
pub mod chart_window;
pub mod class;
pub mod directing;
pub mod director;
pub mod factors;
pub mod instrument;
pub mod lesson;
pub mod market;
pub mod model;
pub mod news;
pub mod number;
pub mod orders;
pub mod pace;
pub mod quote;
pub mod regime;
pub mod time;
pub mod valuation;
