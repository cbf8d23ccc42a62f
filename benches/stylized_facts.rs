//! Stylized facts of the seeded market, measured from the ticks the database stored.
//!
//! `cargo bench --bench stylized_facts`: seeds five days at default settings with seed 42
//! through the server's own start-up into a temporary database, lets it run live for a few
//! seconds (the live cadence), stops it, reads the stored ticks back from DuckDB and prints,
//! per instrument and as medians: realised volatility of 1-minute returns against the target,
//! excess kurtosis, the autocorrelation of 1-minute returns, the autocorrelation of absolute
//! hourly returns at a lag of one hour, the largest move over the five days in units of the
//! instrument's own five-day standard deviation, mean pairwise correlations by group against
//! the configured values, and each index's correlation with its constituents.

mod common;

use finlearn::config::Settings;
use finlearn::domain::director::{Command, Target};
use finlearn::domain::factors::{NewsLoad, Structure};
use finlearn::domain::instrument::{Instrument, InstrumentType, Region as MarketId};
use finlearn::domain::market::{Market, Start};
use finlearn::domain::regime::{RegimeKind, RegimeOrder, RegimeParameters};
use finlearn::domain::time::Timestamp;
use std::collections::HashMap;
use std::time::Duration;

const MINUTE: i64 = 60_000_000;
const MINUTES_PER_YEAR: f64 = 365.0 * 24.0 * 60.0;
const LIVE_SECONDS: u64 = 10;

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("facts.duckdb");
    let generation = time_generation();
    let server = common::TestServer::start("", &data, 42);
    println!(
        "start-up with five days seeded (seed 42): {:.2} s; generating the five days alone (no storage): {:.2} s",
        server.startup.as_secs_f64(),
        generation
    );
    std::thread::sleep(Duration::from_secs(LIVE_SECONDS));
    server.stop();

    let settings = Settings::defaults();
    let universe = settings.universe();
    let conn = duckdb::Connection::open(&data).unwrap();
    let (ticks, live) = read_ticks(&conn, &universe);
    report_news(&conn);
    report_live_cadence(&live, universe.len());

    let minute = minute_returns(&ticks);
    let mut rows = Vec::new();
    println!(
        "\n| symbol | target vol | realised | ratio | excess kurtosis | acf1 1m | acf of abs. hourly | max move (5-day sd) |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- |");
    for (i, inst) in universe.iter().enumerate() {
        let r = &minute.returns[i];
        let vol = std_dev(r) * MINUTES_PER_YEAR.sqrt();
        let hourly: Vec<f64> = r.chunks(60).map(|c| c.iter().sum::<f64>().abs()).collect();
        let five_day_sd = inst.annual_volatility * (5.0f64 / 365.0).sqrt();
        let mut level = 0.0f64;
        let mut max_move = 0.0f64;
        for x in r {
            level += x;
            max_move = max_move.max(level.abs());
        }
        let row = [
            vol / inst.annual_volatility,
            excess_kurtosis(r),
            autocorrelation(r, 1),
            autocorrelation(&hourly, 1),
            max_move / five_day_sd,
        ];
        println!(
            "| {} | {:.2} | {vol:.3} | {:.2} | {:.1} | {:+.3} | {:+.2} | {:.2} |",
            inst.symbol, inst.annual_volatility, row[0], row[1], row[2], row[3], row[4]
        );
        rows.push(row);
    }
    let column = |k: usize| rows.iter().map(|r| r[k]).collect::<Vec<f64>>();
    let ratios = column(0);
    println!(
        "\nmedians: vol ratio {:.3} (range {:.2}-{:.2}), excess kurtosis {:.2}, acf1 1m {:+.3} (largest |acf1| {:.3}), acf |r| 1h {:+.3}, max move {:.2} sd (largest {:.2})",
        median(&ratios),
        ratios.iter().cloned().fold(f64::INFINITY, f64::min),
        ratios.iter().cloned().fold(0.0, f64::max),
        median(&column(1)),
        median(&column(2)),
        column(2).iter().fold(0.0f64, |a, b| a.max(b.abs())),
        median(&column(3)),
        median(&column(4)),
        column(4).iter().cloned().fold(0.0, f64::max),
    );
    report_correlations(&settings, &universe, &minute.returns);
    report_crash(&settings);
}

/// Seconds to generate five days of the default market in memory, the model's own cost.
fn time_generation() -> f64 {
    let settings = Settings::defaults();
    let universe = settings.universe();
    let params: Vec<_> = universe.iter().map(|i| settings.model_for(i.kind)).collect();
    let start = Timestamp(1_780_000_000_000_000);
    let starts: Vec<Start> = universe.iter().map(|i| Start { price: i.base_price, last_tick: start }).collect();
    let mut market = Market::new(universe, &params, &starts, settings.cadence(), 42, start, 1);
    let started = std::time::Instant::now();
    let mut ticks = 0u64;
    market.advance_until(start.plus_micros(5 * 86_400_000_000), |_| ticks += 1);
    assert!(ticks > 7_000_000);
    started.elapsed().as_secs_f64()
}

/// A crash of 20% on the US market, one hour into a fresh market at default settings: each
/// index's fall at the US bottom against what its beta to the US market says.
fn report_crash(settings: &Settings) {
    let universe = settings.universe();
    let params: Vec<_> = universe.iter().map(|i| settings.model_for(i.kind)).collect();
    let start = Timestamp(1_780_000_000_000_000);
    let starts: Vec<Start> = universe.iter().map(|i| Start { price: i.base_price, last_tick: start }).collect();
    let mut market = Market::new(universe.clone(), &params, &starts, settings.cadence(), 42, start, 1);
    let hour = 3_600_000_000;
    market.advance_until(start.plus_micros(hour), |_| {});
    let before = market.prices();
    let scope = Target { markets: vec![MarketId::Usa], ..Target::default() };
    let members = scope.resolve(&universe).unwrap().all;
    let crash = RegimeOrder {
        id: None,
        kind: RegimeKind::Crash,
        scope,
        start_in_minutes: 0.0,
        duration_minutes: 120.0,
        parameters: RegimeParameters { depth_percent: Some(20.0), fall_minutes: Some(15.0), ..Default::default() },
    };
    let at = start.plus_micros(hour);
    market.schedule(at, Command::Regime(crash));
    market.advance_until(at.plus_micros(15 * 60_000_000), |_| {});
    let low = market.prices();
    println!("\nA crash of 20% on the US market (15 minutes down, seed 42), change at the bottom:\n");
    println!("| index | market | change | expected (beta to the US market x the fall) |");
    println!("| --- | --- | --- | --- |");
    for (i, inst) in universe.iter().enumerate() {
        if inst.kind != InstrumentType::MarketIndex {
            continue;
        }
        let beta = if members.contains(&i) { 1.0 } else { market.beta_to(i, &members) };
        println!(
            "| {} | {} | {:+.1}% | {:+.1}% |",
            inst.symbol,
            inst.market.name(),
            (low[i] / before[i] - 1.0) * 100.0,
            ((1.0 - 0.2f64).ln() * beta).exp_m1() * 100.0
        );
    }
}

/// Every stored tick per instrument as (microseconds, price), oldest first, split into the
/// seeded history and the live ticks after it.
type Series = Vec<Vec<(i64, f64)>>;

fn read_ticks(conn: &duckdb::Connection, universe: &[Instrument]) -> (Series, Series) {
    let index: HashMap<&str, usize> = universe.iter().enumerate().map(|(i, u)| (u.symbol.as_str(), i)).collect();
    let mut all: Series = vec![Vec::new(); universe.len()];
    let mut stmt = conn.prepare("SELECT symbol, epoch_us(ts), price FROM price_ticks ORDER BY ts").unwrap();
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?, r.get::<_, f64>(2)?))).unwrap();
    for row in rows {
        let (symbol, ts, price) = row.unwrap();
        all[index[symbol.as_str()]].push((ts, price));
    }
    // The seeded history ends where the live ticks start: the first gap of the start-up.
    let end = all.iter().map(|s| s[0].0).max().unwrap() + 5 * 86_400_000_000;
    let live = all.iter().map(|s| s.iter().copied().filter(|t| t.0 > end).collect()).collect();
    let seeded = all.into_iter().map(|s| s.into_iter().filter(|t| t.0 <= end).collect()).collect();
    (seeded, live)
}

fn report_news(conn: &duckdb::Connection) {
    let mut stmt = conn
        .prepare("SELECT category || '/' || subcategory, count(*), avg(abs(impact)) FROM news_events GROUP BY 1 ORDER BY 2 DESC")
        .unwrap();
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?, r.get::<_, f64>(2)?))).unwrap();
    let rows: Vec<_> = rows.map(Result::unwrap).collect();
    let total: i64 = rows.iter().map(|r| r.1).sum();
    let list: Vec<String> = rows.iter().map(|(k, n, a)| format!("{k} {n} (mean |impact| {a:.2}%)")).collect();
    println!("news events stored: {total}: {}", list.join(", "));
}

fn report_live_cadence(live: &Series, instruments: usize) {
    let mut gaps: Vec<f64> =
        live.iter().flat_map(|s| s.windows(2).map(|w| (w[1].0 - w[0].0) as f64 / 1e6).collect::<Vec<_>>()).collect();
    let count: usize = live.iter().map(Vec::len).sum();
    let first = live.iter().filter_map(|s| s.first()).map(|t| t.0).min().unwrap_or(0);
    let last = live.iter().filter_map(|s| s.last()).map(|t| t.0).max().unwrap_or(0);
    println!(
        "live after seeding: {count} ticks of {instruments} instruments stored over {:.1} s of timestamps ({:.1}/s); gap between two ticks of one instrument p1 {:.2} s, p50 {:.2} s, p99 {:.2} s",
        (last - first) as f64 / 1e6,
        count as f64 / ((last - first) as f64 / 1e6).max(1e-9),
        common::percentile(&mut gaps, 1.0),
        common::percentile(&mut gaps, 50.0),
        common::percentile(&mut gaps, 99.0)
    );
}

struct MinuteReturns {
    returns: Vec<Vec<f64>>,
}

/// Log returns between the last prices at or before consecutive minute boundaries, on a grid
/// common to all instruments.
fn minute_returns(ticks: &Series) -> MinuteReturns {
    let start = ticks.iter().map(|s| s[0].0).max().unwrap() / MINUTE * MINUTE + MINUTE;
    let end = ticks.iter().map(|s| s.last().unwrap().0).min().unwrap() / MINUTE * MINUTE;
    let returns = ticks
        .iter()
        .map(|series| {
            let mut k = 0;
            let mut last: Option<f64> = None;
            let mut out = Vec::new();
            let mut t = start;
            while t <= end {
                while k < series.len() && series[k].0 <= t {
                    k += 1;
                }
                let price: f64 = series[k - 1].1;
                if let Some(prev) = last {
                    out.push((price / prev).ln());
                }
                last = Some(price);
                t += MINUTE;
            }
            out
        })
        .collect();
    MinuteReturns { returns }
}

fn report_correlations(settings: &Settings, universe: &[Instrument], returns: &[Vec<f64>]) {
    let f = settings.factors;
    let is_stock = |i: usize| universe[i].kind != InstrumentType::MarketIndex && universe[i].market != MarketId::Crypto;
    let is_crypto = |i: usize| universe[i].market == MarketId::Crypto;
    let mut groups: Vec<(&str, f64, Vec<f64>)> = vec![
        ("stocks, same sector and market", f.global + f.market + f.sector, Vec::new()),
        ("stocks, same market, other sector", f.global + f.market, Vec::new()),
        ("stocks, different markets", f.global, Vec::new()),
        ("crypto with crypto", f.crypto_global + f.crypto_market, Vec::new()),
        ("crypto with stocks", (f.crypto_global * f.global).sqrt(), Vec::new()),
    ];
    for a in 0..universe.len() {
        for b in a + 1..universe.len() {
            let (ua, ub) = (&universe[a], &universe[b]);
            let group = if is_stock(a) && is_stock(b) {
                match (ua.market == ub.market, ua.sector == ub.sector) {
                    (true, true) if ua.sector != finlearn::domain::instrument::Sector::Unknown => 0,
                    (true, _) => 1,
                    (false, _) => 2,
                }
            } else if is_crypto(a) && is_crypto(b) {
                3
            } else if (is_crypto(a) && is_stock(b)) || (is_stock(a) && is_crypto(b)) {
                4
            } else {
                continue;
            };
            groups[group].2.push(correlation(&returns[a], &returns[b]));
        }
    }
    println!("\n| pairs of 1-minute returns | pairs | configured | measured mean |");
    println!("| --- | --- | --- | --- |");
    for (name, configured, values) in &groups {
        let mean = values.iter().sum::<f64>() / values.len().max(1) as f64;
        println!("| {name} | {} | {configured:.2} | {mean:.3} |", values.len());
    }

    let params: Vec<_> = universe.iter().map(|i| settings.model_for(i.kind)).collect();
    let structure = Structure::build(universe, &params, &vec![NewsLoad::default(); universe.len()], &f);
    println!("\n| index | constituents | corr with their average | corr with its market's stock average |");
    println!("| --- | --- | --- | --- |");
    for (i, tracking) in structure.tracking.iter().enumerate() {
        let Some(t) = tracking else { continue };
        let market: Vec<usize> =
            (0..universe.len()).filter(|&j| is_stock(j) && universe[j].market == universe[i].market).collect();
        println!(
            "| {} | {} | {:.3} | {:.3} |",
            universe[i].symbol,
            t.constituents.len(),
            correlation(&returns[i], &average(returns, &t.constituents)),
            correlation(&returns[i], &average(returns, &market))
        );
    }
}

fn average(returns: &[Vec<f64>], members: &[usize]) -> Vec<f64> {
    let n = returns[members[0]].len();
    (0..n).map(|k| members.iter().map(|&m| returns[m][k]).sum::<f64>() / members.len() as f64).collect()
}

fn mean(xs: &[f64]) -> f64 {
    xs.iter().sum::<f64>() / xs.len() as f64
}

fn std_dev(xs: &[f64]) -> f64 {
    let m = mean(xs);
    (xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (xs.len() as f64 - 1.0)).sqrt()
}

fn excess_kurtosis(xs: &[f64]) -> f64 {
    let m = mean(xs);
    let var = xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / xs.len() as f64;
    xs.iter().map(|x| (x - m).powi(4)).sum::<f64>() / xs.len() as f64 / (var * var) - 3.0
}

fn autocorrelation(xs: &[f64], lag: usize) -> f64 {
    let m = mean(xs);
    let var: f64 = xs.iter().map(|x| (x - m).powi(2)).sum();
    let cov: f64 = xs.iter().zip(&xs[lag..]).map(|(a, b)| (a - m) * (b - m)).sum();
    cov / var
}

fn correlation(a: &[f64], b: &[f64]) -> f64 {
    let (ma, mb) = (mean(a), mean(b));
    let cov: f64 = a.iter().zip(b).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let va: f64 = a.iter().map(|x| (x - ma).powi(2)).sum();
    let vb: f64 = b.iter().map(|y| (y - mb).powi(2)).sum();
    cov / (va * vb).sqrt()
}

fn median(xs: &[f64]) -> f64 {
    let mut v = xs.to_vec();
    common::percentile(&mut v, 50.0)
}
