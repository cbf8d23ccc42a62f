//! `GET /api/v1/admin/export/{what}`: the `finlearn export` files, downloaded from a running
//! server (which holds the database file, so the command cannot open it). Behind the admin
//! token: the scope's guard checks it.
//!
//! The export is written by DuckDB on a blocking thread to a temporary file from a pooled
//! reader connection, then streamed in chunks by another blocking thread, which removes the
//! file when the download ends or the client goes away.

use super::{ApiError, AppState, ErrorBody};
use crate::export::{self, ExportError, ExportRequest, RangeText, TempExport};
use crate::storage::export::ExportFormat;
use actix_web::body::SizedStream;
use actix_web::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use actix_web::web::{self, Bytes};
use actix_web::{HttpResponse, rt};
use serde::Deserialize;
use std::io::Read;
use tokio::sync::{Semaphore, mpsc};

/// Bytes read from the file per chunk sent.
const CHUNK_BYTES: usize = 256 * 1024;
/// Chunks read ahead of a slow client: bounds the memory one download holds.
const CHUNKS_AHEAD: usize = 4;
/// Exports written at once: each keeps a blocking thread and DuckDB's threads busy for
/// seconds; more wait their turn rather than slow the market's own reads.
static WRITING: Semaphore = Semaphore::const_new(2);

pub(super) fn admin_routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/export/{what}", web::get().to(download));
}

#[derive(Deserialize, utoipa::IntoParams)]
pub(super) struct ExportQuery {
    /// csv (times as ISO-8601 UTC text) or parquet (times as UTC timestamps). Default: csv.
    format: Option<String>,
    /// Only rows at or after this time: ISO-8601 with a zone, or a date (its midnight UTC).
    from: Option<String>,
    /// Only rows at or before this time, as `from`.
    to: Option<String>,
    /// The candles' timeframe: 1m 5m 15m 1h 4h 1D 1W 1M. Default: 1h.
    timeframe: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/admin/export/{what}", tag = "admin",
    params(
        ("what" = String, Path, description = "ticks, candles, orders (fills), order_events (the lifecycle of resting orders), news; standings is refused until the database records them"),
        ExportQuery
    ),
    responses(
        (status = 200, description = "The export file, as an attachment named e.g. ticks.csv or candles_1h.parquet; CSV (text/csv) or Parquet (application/vnd.apache.parquet). Times in UTC, money as exact decimals (see README, Export)", content_type = "text/csv"),
        (status = 401, description = "Missing admin token", body = ErrorBody),
        (status = 403, description = "Wrong admin token", body = ErrorBody),
        (status = 404, description = "Unknown export, one this database does not record, or admin routes off", body = ErrorBody),
        (status = 422, description = "Unknown format or timeframe, a time that is not ISO-8601, or from after to", body = ErrorBody)
    ), security(("bearer" = [])))]
pub(super) async fn download(
    state: web::Data<AppState>,
    what: web::Path<String>,
    query: web::Query<ExportQuery>,
) -> Result<HttpResponse, ApiError> {
    let dataset = export::dataset(&what)?;
    let format: ExportFormat = query.format.as_deref().unwrap_or("csv").parse().map_err(ExportError::from)?;
    let range = RangeText {
        from: ("from", query.from.as_deref()),
        to: ("to", query.to.as_deref()),
        timeframe: query.timeframe.as_deref(),
    }
    .parse()?;
    let request = ExportRequest { dataset, range, format };
    let file = {
        let _turn = WRITING.acquire().await.map_err(|e| ApiError::Internal(e.into()))?;
        let store = state.store.clone();
        web::block(move || export::write_temp(&store, &request)).await??
    };
    let length = std::fs::metadata(&file.path).map_err(|e| ApiError::Internal(e.into()))?.len();
    Ok(HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, format.content_type()))
        .insert_header((CONTENT_DISPOSITION, format!("attachment; filename=\"{}\"", request.file_name())))
        .insert_header(("X-Export-Rows", file.rows.to_string()))
        .body(SizedStream::new(length, chunks(file))))
}

/// The file's bytes in chunks, read on a blocking thread that owns the file and so removes it
/// once every chunk is sent or the client has gone.
fn chunks(file: TempExport) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> {
    let (tx, rx) = mpsc::channel(CHUNKS_AHEAD);
    rt::task::spawn_blocking(move || {
        let mut reader = match std::fs::File::open(&file.path) {
            Ok(reader) => reader,
            Err(e) => {
                let _ = tx.blocking_send(Err(e));
                return;
            }
        };
        loop {
            let mut chunk = vec![0; CHUNK_BYTES];
            let read = match reader.read(&mut chunk) {
                Ok(0) => return,
                Ok(n) => n,
                Err(e) => {
                    let _ = tx.blocking_send(Err(e));
                    return;
                }
            };
            chunk.truncate(read);
            if tx.blocking_send(Ok(Bytes::from(chunk))).is_err() {
                return;
            }
        }
    });
    futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|chunk| (chunk, rx)) })
}
