//! Data export for students' own analysis: what to export, checked once, for both the
//! `finlearn export` command and the admin download.
//!
//! The datasets themselves (names, queries, file names) are [`crate::storage::export`]'s.
//! Files are written under a hidden `.partial` name and renamed when whole, so a failed or
//! interrupted export never leaves a file that looks complete.

use crate::cli::ExportArgs;
use crate::domain::candle::{Timeframe, UnknownTimeframe};
use crate::domain::time::Timestamp;
use crate::storage::export::{DATASETS, Dataset, ExportFormat, ExportRange, ExportWriteError, UnknownFormat};
use crate::storage::{Fault, StorageError, Store};
use chrono::NaiveDate;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// The candle timeframe when none is asked for.
pub const DEFAULT_TIMEFRAME: Timeframe = Timeframe::H1;

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("unknown export {0:?}: choose from {names}", names = dataset_names())]
    UnknownDataset(String),
    #[error(transparent)]
    Format(#[from] UnknownFormat),
    #[error(transparent)]
    Timeframe(#[from] UnknownTimeframe),
    #[error("{0} must be an ISO-8601 time with a zone (2026-12-01T08:00:00Z) or a date (2026-12-01, its midnight UTC)")]
    BadTime(&'static str),
    #[error("{from_name} ({from}) is after {to_name} ({to})")]
    Reversed { from_name: &'static str, from: String, to_name: &'static str, to: String },
    #[error("cannot write to the output directory {}: {detail}", dir.display())]
    OutputDir { dir: PathBuf, detail: String },
    #[error("no database file at {}", .0.display())]
    NoDatabase(PathBuf),
    #[error(
        "{} is in use by a running server ({holder}); DuckDB lets one process open a file: stop the server or \
         use the admin download (GET /api/v1/admin/export/{{what}})", path.display()
    )]
    InUse { path: PathBuf, holder: String },
    #[error(transparent)]
    Storage(StorageError),
    #[error("{0}")]
    Write(String),
}

impl From<ExportWriteError> for ExportError {
    fn from(e: ExportWriteError) -> Self {
        match e {
            ExportWriteError::Storage(source) => ExportError::Storage(source),
            file @ ExportWriteError::File { .. } => ExportError::Write(file.to_string()),
        }
    }
}

impl From<StorageError> for ExportError {
    fn from(e: StorageError) -> Self {
        ExportError::Storage(e)
    }
}

fn dataset_names() -> String {
    DATASETS.iter().map(|d| d.name).collect::<Vec<_>>().join(", ")
}

/// One export, checked: a dataset that this database can give, its range and its format.
#[derive(Clone, Copy)]
pub struct ExportRequest {
    pub dataset: &'static Dataset,
    pub range: ExportRange,
    pub format: ExportFormat,
}

impl ExportRequest {
    pub fn file_name(&self) -> String {
        self.dataset.file_name(&self.range, self.format)
    }
}

/// The datasets named in `what` (comma-separated; `None`: all of them).
pub fn datasets(what: Option<&str>) -> Result<Vec<&'static Dataset>, ExportError> {
    let Some(what) = what else {
        return Ok(DATASETS.iter().collect());
    };
    what.split(',').map(str::trim).filter(|name| !name.is_empty()).map(dataset).collect()
}

/// One dataset by name, refused when unknown.
pub fn dataset(name: &str) -> Result<&'static Dataset, ExportError> {
    Dataset::find(name).ok_or_else(|| ExportError::UnknownDataset(name.to_string()))
}

/// The times as given, by their names (`--from` or `from`), and the timeframe, checked.
pub struct RangeText<'a> {
    pub from: (&'static str, Option<&'a str>),
    pub to: (&'static str, Option<&'a str>),
    pub timeframe: Option<&'a str>,
}

impl RangeText<'_> {
    pub fn parse(&self) -> Result<ExportRange, ExportError> {
        let from = parse_time(self.from.0, self.from.1)?;
        let to = parse_time(self.to.0, self.to.1)?;
        if let (Some(f), Some(t)) = (from, to)
            && f > t
        {
            return Err(ExportError::Reversed {
                from_name: self.from.0,
                from: f.to_rfc3339(),
                to_name: self.to.0,
                to: t.to_rfc3339(),
            });
        }
        let timeframe = self.timeframe.map(str::parse).transpose()?.unwrap_or(DEFAULT_TIMEFRAME);
        Ok(ExportRange { from, to, timeframe })
    }
}

/// An ISO-8601 time with a zone, or a date meaning its midnight UTC.
fn parse_time(name: &'static str, text: Option<&str>) -> Result<Option<Timestamp>, ExportError> {
    let Some(text) = text.map(str::trim) else { return Ok(None) };
    if let Some(t) = Timestamp::parse_rfc3339(text) {
        return Ok(Some(t));
    }
    let date = NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| ExportError::BadTime(name))?;
    let midnight = date.and_hms_opt(0, 0, 0).expect("midnight").and_utc();
    Ok(Some(Timestamp(midnight.timestamp_micros())))
}

/// Opens a database file for export; a file a running server holds is refused with what to do.
pub fn open_store(path: &Path, memory_limit: &str, threads: u32) -> Result<Store, ExportError> {
    if !path.is_file() {
        return Err(ExportError::NoDatabase(path.into()));
    }
    Store::open(path, memory_limit, threads).map_err(|e| match e {
        StorageError::Locked { path, detail } => ExportError::InUse { path, holder: detail },
        e if e.fault() == Fault::Locked => ExportError::InUse { path: path.into(), holder: e.to_string() },
        e => ExportError::Storage(e),
    })
}

/// Makes `dir` (and its parents) and checks that files can be created in it.
pub fn prepare_dir(dir: &Path) -> Result<(), ExportError> {
    let fail = |e: std::io::Error| ExportError::OutputDir { dir: dir.into(), detail: e.to_string() };
    std::fs::create_dir_all(dir).map_err(fail)?;
    let probe = dir.join(".finlearn-export-probe");
    std::fs::write(&probe, b"").map_err(fail)?;
    let _ = std::fs::remove_file(probe);
    Ok(())
}

/// Writes one export into `dir` under its file name; answers the file and its rows.
pub fn write_into(store: &Store, request: &ExportRequest, dir: &Path) -> Result<(PathBuf, u64), ExportError> {
    let path = dir.join(request.file_name());
    let partial = dir.join(format!(".{}.partial", request.file_name()));
    let rows = store.export(request.dataset, &request.range, request.format, &partial).inspect_err(|_| {
        let _ = std::fs::remove_file(&partial);
    })?;
    std::fs::rename(&partial, &path)
        .map_err(|e| ExportError::Write(format!("cannot write {}: {e}", path.display())))?;
    Ok((path, rows))
}

/// An export file in the system's temporary directory, removed when dropped.
pub struct TempExport {
    pub path: PathBuf,
    pub rows: u64,
}

impl Drop for TempExport {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Writes one export to a temporary file of its own, for a download. Blocking.
pub fn write_temp(store: &Store, request: &ExportRequest) -> Result<TempExport, ExportError> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let name = format!(
        "finlearn-export-{}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed),
        request.file_name()
    );
    let path = std::env::temp_dir().join(name);
    let mut file = TempExport { path, rows: 0 };
    file.rows = store.export(request.dataset, &request.range, request.format, &file.path)?;
    Ok(file)
}

/// `finlearn export`: checks everything asked before opening the file, then writes each
/// export into the output directory. Answers the files written and their rows.
pub fn run(args: &ExportArgs, memory_limit: &str, threads: u32) -> Result<Vec<(PathBuf, u64)>, ExportError> {
    let format: ExportFormat = args.format.parse()?;
    let range = RangeText {
        from: ("--from", args.from.as_deref()),
        to: ("--to", args.to.as_deref()),
        timeframe: args.timeframe.as_deref(),
    }
    .parse()?;
    let datasets = datasets(args.what.as_deref())?;
    let store = open_store(&args.data, memory_limit, threads)?;
    prepare_dir(&args.out)?;
    datasets
        .into_iter()
        .map(|dataset| write_into(&store, &ExportRequest { dataset, range, format }, &args.out))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(from: Option<&str>, to: Option<&str>) -> Result<ExportRange, ExportError> {
        RangeText { from: ("--from", from), to: ("--to", to), timeframe: None }.parse()
    }

    #[test]
    fn no_list_means_everything() {
        let names: Vec<&str> = datasets(None).unwrap().iter().map(|d| d.name).collect();
        assert_eq!(names, ["ticks", "candles", "orders", "order_events", "news", "standings"]);
        let chosen: Vec<&str> = datasets(Some("news, ticks")).unwrap().iter().map(|d| d.name).collect();
        assert_eq!(chosen, ["news", "ticks"]);
    }

    #[test]
    fn an_unknown_dataset_is_refused_with_the_choices() {
        let message = datasets(Some("ticks,trades")).err().unwrap().to_string();
        assert_eq!(
            message,
            "unknown export \"trades\": choose from ticks, candles, orders, order_events, news, standings"
        );
    }

    #[test]
    fn times_are_iso_8601_with_a_zone_or_dates_at_midnight_utc() {
        let r = range(Some("2026-12-01"), Some("2026-12-02T10:30:00+01:00")).unwrap();
        assert_eq!(r.from.unwrap().to_rfc3339(), "2026-12-01T00:00:00.000000Z");
        assert_eq!(r.to.unwrap().to_rfc3339(), "2026-12-02T09:30:00.000000Z");
        assert_eq!(r.timeframe, DEFAULT_TIMEFRAME);
        let bad = range(Some("yesterday"), None).err().unwrap().to_string();
        assert!(bad.starts_with("--from must be an ISO-8601 time"), "{bad}");
        assert!(range(None, Some("2026-12-01T08:00:00")).is_err(), "a time without a zone is ambiguous");
    }

    #[test]
    fn a_range_that_ends_before_it_starts_is_refused() {
        let message = range(Some("2026-12-02"), Some("2026-12-01")).err().unwrap().to_string();
        assert_eq!(message, "--from (2026-12-02T00:00:00.000000Z) is after --to (2026-12-01T00:00:00.000000Z)");
    }

    #[test]
    fn timeframes_are_the_chart_routes_own() {
        let parse = |tf| RangeText { from: ("from", None), to: ("to", None), timeframe: Some(tf) }.parse();
        assert_eq!(parse("1D").unwrap().timeframe, Timeframe::D1);
        assert!(parse("2h").err().unwrap().to_string().starts_with("timeframe must be one of"));
    }
}
