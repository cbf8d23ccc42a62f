//! Exports: the tables students take away for their own analysis, written by DuckDB.
//!
//! [`DATASETS`] is the one list of what can be exported, each a name and the query that builds
//! it; adding a dataset is adding a row there. Every query gives the same columns in CSV and
//! Parquet: times as `TIMESTAMPTZ` (UTC), money and prices as `DECIMAL(18,2)`, quantities as
//! `DECIMAL(18,6)`, read exactly from the ledger's integer cents and millionths.
//!
//! CSV is written by DuckDB's own `COPY (query) TO`, times as ISO-8601 with microseconds and a
//! `Z`. Parquet is written from DuckDB's Arrow answer by the `parquet` crate (snappy), times as
//! UTC-adjusted microsecond timestamps: the bundled DuckDB is built without its parquet
//! extension, and building it in means recompiling DuckDB in every build directory.

mod queries;

use crate::domain::candle::Timeframe;
use crate::domain::time::Timestamp;
use crate::storage::{Result, StorageError, Store};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use queries::{candles, news, order_events, orders, standings, ticks};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// How a CSV export prints times: ISO-8601 in UTC, to the microsecond the database holds.
const CSV_TIME_FORMAT: &str = "%Y-%m-%dT%H:%M:%S.%fZ";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    Csv,
    Parquet,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("format must be csv or parquet; got {0:?}")]
pub struct UnknownFormat(pub String);

impl FromStr for ExportFormat {
    type Err = UnknownFormat;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "csv" => Ok(ExportFormat::Csv),
            "parquet" => Ok(ExportFormat::Parquet),
            other => Err(UnknownFormat(other.to_string())),
        }
    }
}

impl ExportFormat {
    pub fn extension(self) -> &'static str {
        match self {
            ExportFormat::Csv => "csv",
            ExportFormat::Parquet => "parquet",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            ExportFormat::Csv => "text/csv; charset=utf-8",
            ExportFormat::Parquet => "application/vnd.apache.parquet",
        }
    }
}

/// Which rows an export holds: `from` and `to` bound the rows' times, both included (candles:
/// every bucket that overlaps them, as the chart routes count); `timeframe` is the candles'.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ExportRange {
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
    pub timeframe: Timeframe,
}

/// One exportable table.
pub struct Dataset {
    pub name: &'static str,
    /// What its rows are, for help texts and errors.
    pub about: &'static str,
    query: Query,
}

enum Query {
    Sql(fn(&ExportRange) -> String),
}

/// Everything that can be exported, in the order a full export writes it.
pub const DATASETS: &[Dataset] = &[
    Dataset { name: "ticks", about: "every stored trade: symbol, time, price, volume", query: Query::Sql(ticks) },
    Dataset {
        name: "candles",
        about: "OHLC candles of every symbol for the chosen timeframe, as the chart routes build them",
        query: Query::Sql(candles),
    },
    Dataset {
        name: "orders",
        about: "filled orders, one row per fill, with the cash and position each left",
        query: Query::Sql(orders),
    },
    Dataset {
        name: "order_events",
        about: "the lifecycle of limit, stop and trailing orders, one row per event",
        query: Query::Sql(order_events),
    },
    Dataset { name: "news", about: "news events and the symbols each moved", query: Query::Sql(news) },
    Dataset {
        name: "standings",
        about: "every student's value at each snapshot, in the class's reporting currency",
        query: Query::Sql(standings),
    },
];

impl Dataset {
    pub fn find(name: &str) -> Option<&'static Dataset> {
        DATASETS.iter().find(|d| d.name == name)
    }

    /// The file it is written to, e.g. `ticks.parquet` or `candles_1h.csv`.
    pub fn file_name(&self, range: &ExportRange, format: ExportFormat) -> String {
        match self.name {
            "candles" => format!("candles_{}.{}", timeframe_in_file_name(range.timeframe), format.extension()),
            name => format!("{name}.{}", format.extension()),
        }
    }
}

/// A timeframe as a file name says it: `1M` and `1m` would be one file on a case-insensitive
/// file system.
fn timeframe_in_file_name(tf: Timeframe) -> &'static str {
    match tf {
        Timeframe::M1 => "1min",
        Timeframe::M5 => "5min",
        Timeframe::M15 => "15min",
        Timeframe::H1 => "1h",
        Timeframe::H4 => "4h",
        Timeframe::D1 => "1day",
        Timeframe::W1 => "1week",
        Timeframe::Mo1 => "1month",
    }
}

/// What can go wrong writing an export file.
#[derive(Debug, thiserror::Error)]
pub enum ExportWriteError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("cannot write {}: {detail}", path.display())]
    File { path: PathBuf, detail: String },
}

impl Store {
    /// Writes `dataset` over `range` to the file `path` in `format`, on a pooled reader
    /// connection (a consistent snapshot; the writers are never waited for). Answers the rows.
    pub fn export(
        &self,
        dataset: &Dataset,
        range: &ExportRange,
        format: ExportFormat,
        path: &Path,
    ) -> Result<u64, ExportWriteError> {
        let Query::Sql(build) = dataset.query;
        let sql = build(range);
        match format {
            ExportFormat::Csv => {
                let copy = format!(
                    "COPY ({sql}) TO '{file}' (FORMAT csv, HEADER, TIMESTAMPFORMAT '{CSV_TIME_FORMAT}')",
                    file = path.to_string_lossy().replace('\'', "''")
                );
                let rows = self.read(|c| Ok(c.execute(&copy, [])?))?;
                Ok(rows as u64)
            }
            ExportFormat::Parquet => self.read(|c| {
                let mut stmt = c.prepare(&sql)?;
                // Streamed chunk by chunk: five days of ticks buffered whole took 440 MB.
                let batches = stmt.stream_arrow([])?;
                Ok(write_parquet(path, batches))
            })?,
        }
    }
}

/// Streams DuckDB's Arrow batches into a Parquet file.
fn write_parquet(path: &Path, batches: duckdb::ArrowStream<'_>) -> Result<u64, ExportWriteError> {
    let fail = |e: &dyn std::fmt::Display| ExportWriteError::File { path: path.into(), detail: e.to_string() };
    let file = File::create(path).map_err(|e| fail(&e))?;
    // Row groups stay at the crate's million rows: they compress well, and a reader filtering
    // by symbol or time can skip whole groups.
    let properties = WriterProperties::builder().set_compression(Compression::SNAPPY).build();
    let mut writer = ArrowWriter::try_new(file, batches.get_schema(), Some(properties)).map_err(|e| fail(&e))?;
    let mut rows = 0;
    for batch in batches {
        let batch = batch.map_err(StorageError::from)?;
        rows += batch.num_rows() as u64;
        writer.write(&batch).map_err(|e| fail(&e))?;
    }
    writer.close().map_err(|e| fail(&e))?;
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range() -> ExportRange {
        ExportRange { from: None, to: None, timeframe: Timeframe::H1 }
    }

    #[test]
    fn every_dataset_has_its_own_file_name() {
        let names: Vec<String> = DATASETS.iter().map(|d| d.file_name(&range(), ExportFormat::Csv)).collect();
        assert_eq!(
            names,
            ["ticks.csv", "candles_1h.csv", "orders.csv", "order_events.csv", "news.csv", "standings.csv"]
        );
        let monthly = ExportRange { timeframe: Timeframe::Mo1, ..range() };
        let minutes = ExportRange { timeframe: Timeframe::M1, ..range() };
        let candles = Dataset::find("candles").unwrap();
        assert_ne!(
            candles.file_name(&monthly, ExportFormat::Parquet).to_lowercase(),
            candles.file_name(&minutes, ExportFormat::Parquet).to_lowercase()
        );
    }

    #[test]
    fn formats_parse_by_name_and_refuse_others_with_the_choices() {
        assert_eq!("parquet".parse(), Ok(ExportFormat::Parquet));
        assert_eq!(
            "xlsx".parse::<ExportFormat>().unwrap_err().to_string(),
            "format must be csv or parquet; got \"xlsx\""
        );
    }

    #[test]
    fn a_range_bounds_both_ends_inclusively() {
        use queries::within;
        let bounded = ExportRange { from: Some(Timestamp(1)), to: Some(Timestamp(2)), ..range() };
        assert_eq!(
            within("ts", &bounded),
            "true AND ts >= make_timestamp(1::BIGINT) AND ts <= make_timestamp(2::BIGINT)"
        );
        assert_eq!(within("ts", &range()), "true");
    }

    #[test]
    fn datasets_are_found_by_name() {
        assert!(Dataset::find("standings").is_some());
        assert!(Dataset::find("trades").is_none());
    }
}
