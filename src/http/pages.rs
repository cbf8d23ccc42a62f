//! The browser pages: the student desk (`/desk`, and `/` for a browser), the teacher's console
//! (`/teacher`) and their assets (`/web/{path}`), all compiled in from `web/`: nothing is
//! fetched from the internet and `cargo build` needs no JavaScript toolchain.
//!
//! Each asset is gzip-compressed once, on first use, and served with a weak ETag (a reload
//! costs a 304) and `Cache-Control: no-cache` (a new binary's pages are picked up at once).

use super::ApiError;
use actix_web::http::header::{self, HeaderMap};
use actix_web::http::{Method, StatusCode};
use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder};
use flate2::Compression;
use flate2::write::GzEncoder;
use std::io::Write;
use std::sync::LazyLock;

struct Asset {
    path: &'static str,
    content_type: &'static str,
    raw: &'static [u8],
}

macro_rules! asset {
    ($path:literal, $content_type:expr) => {
        Asset {
            path: $path,
            content_type: $content_type,
            raw: include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/web/", $path)),
        }
    };
}

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";

/// Every file the pages load; a file missing here is a compile error, not a 404 in class.
const ASSETS: &[Asset] = &[
    asset!("desk.html", HTML),
    asset!("teacher.html", HTML),
    asset!("style.css", "text/css; charset=utf-8"),
    asset!("icon.svg", "image/svg+xml"),
    asset!("common.js", JS),
    asset!("board.js", JS),
    asset!("chart.js", JS),
    asset!("trading.js", JS),
    asset!("desk.js", JS),
    asset!("forms.js", JS),
    asset!("teacher.js", JS),
    asset!("vendor/lightweight-charts.mjs", JS),
    asset!("vendor/LICENSE-lightweight-charts.txt", "text/plain; charset=utf-8"),
];

/// Pages may load only their own assets and speak only to this server (REST and stream).
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data: blob:; \
     style-src 'self' 'unsafe-inline'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

struct Prepared {
    asset: &'static Asset,
    gzip: Bytes,
    /// Without the `W/` prefix and quotes, as compared with `If-None-Match`.
    tag: String,
}

static PREPARED: LazyLock<Vec<Prepared>> = LazyLock::new(|| ASSETS.iter().map(prepare).collect());

fn prepare(asset: &'static Asset) -> Prepared {
    let mut encoder = GzEncoder::new(Vec::with_capacity(asset.raw.len() / 3), Compression::best());
    encoder.write_all(asset.raw).expect("compressing into memory cannot fail");
    let gzip = Bytes::from(encoder.finish().expect("compressing into memory cannot fail"));
    Prepared { asset, gzip, tag: format!("{:016x}", fnv1a(asset.raw)) }
}

/// FNV-1a: a content fingerprint for the ETag (not a security measure).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    LazyLock::force(&PREPARED); // compress at start-up, not on a student's first request
    cfg.route("/desk", web::get().to(desk))
        .route("/desk", web::head().to(desk))
        .route("/teacher", web::get().to(teacher))
        .route("/teacher", web::head().to(teacher))
        .route("/web/{path:.*}", web::get().to(file))
        .route("/web/{path:.*}", web::head().to(file));
}

pub(super) async fn desk(req: HttpRequest) -> HttpResponse {
    serve(&req, "desk.html").unwrap_or_else(|| HttpResponse::NotFound().finish())
}

async fn teacher(req: HttpRequest) -> HttpResponse {
    serve(&req, "teacher.html").unwrap_or_else(|| HttpResponse::NotFound().finish())
}

async fn file(req: HttpRequest, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    serve(&req, &path).ok_or_else(|| ApiError::NotFound(format!("No page asset {path}")))
}

/// The asset at `path`, gzip-compressed when the client accepts it, or 304 when unchanged.
fn serve(req: &HttpRequest, path: &str) -> Option<HttpResponse> {
    let prepared = PREPARED.iter().find(|p| p.asset.path == path)?;
    let headers = req.headers();
    let unchanged = matches_etag(headers, &prepared.tag);
    let mut response = HttpResponse::build(if unchanged { StatusCode::NOT_MODIFIED } else { StatusCode::OK });
    response
        .insert_header((header::ETAG, format!("W/\"{}\"", prepared.tag)))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header((header::VARY, "Accept-Encoding"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"));
    if unchanged {
        return Some(response.finish());
    }
    security_headers(&mut response, prepared.asset.content_type);
    response.content_type(prepared.asset.content_type);
    Some(if accepts_gzip(headers) {
        response.insert_header((header::CONTENT_ENCODING, "gzip")).body(prepared.gzip.clone())
    } else {
        response.body(Bytes::from_static(prepared.asset.raw))
    })
}

fn security_headers(response: &mut HttpResponseBuilder, content_type: &str) {
    if content_type == HTML {
        response
            .insert_header((header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY))
            .insert_header((header::REFERRER_POLICY, "no-referrer"));
    }
}

/// The media types or codings of a header list (`a;q=0.5, b`), each with its quality.
fn weighted(value: &str) -> impl Iterator<Item = (&str, f32)> {
    value.split(',').map(|item| {
        let mut parts = item.split(';').map(str::trim);
        let name = parts.next().unwrap_or("");
        let q = parts
            .filter_map(|p| p.strip_prefix("q=").or_else(|| p.strip_prefix("Q=")))
            .find_map(|q| q.parse::<f32>().ok())
            .unwrap_or(1.0);
        (name, q)
    })
}

fn header_str(headers: &HeaderMap, name: header::HeaderName) -> &str {
    headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
}

fn accepts_gzip(headers: &HeaderMap) -> bool {
    weighted(header_str(headers, header::ACCEPT_ENCODING))
        .any(|(coding, q)| coding.eq_ignore_ascii_case("gzip") && q > 0.0)
}

fn matches_etag(headers: &HeaderMap, tag: &str) -> bool {
    header_str(headers, header::IF_NONE_MATCH)
        .split(',')
        .map(str::trim)
        .any(|candidate| candidate == "*" || candidate.trim_start_matches("W/").trim_matches('"') == tag)
}

/// Whether a `GET /` wants the desk: its `Accept` names HTML, and prefers it to JSON. A client
/// that sends no `Accept`, `*/*`, or JSON first (the app, load balancers) keeps the JSON.
pub(super) fn wants_html(req: &HttpRequest) -> bool {
    if req.method() != Method::GET {
        return false;
    }
    let (mut html, mut json) = (0.0f32, 0.0f32);
    for (media, q) in weighted(header_str(req.headers(), header::ACCEPT)) {
        if media.eq_ignore_ascii_case("text/html") || media.eq_ignore_ascii_case("application/xhtml+xml") {
            html = html.max(q);
        } else if media.eq_ignore_ascii_case("application/json") {
            json = json.max(q);
        }
    }
    html > 0.0 && html > json
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn accept(value: &str) -> bool {
        wants_html(&TestRequest::get().insert_header((header::ACCEPT, value)).to_http_request())
    }

    #[test]
    fn browsers_get_the_desk_and_api_clients_keep_json() {
        let chrome = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8";
        assert!(accept(chrome));
        assert!(accept("text/html"));
        assert!(!accept("*/*"));
        assert!(!accept("application/json"));
        assert!(!accept("application/json, text/html"));
        assert!(!accept("text/html;q=0"));
        assert!(!wants_html(&TestRequest::get().to_http_request()));
        assert!(!wants_html(
            &TestRequest::default().method(Method::HEAD).insert_header((header::ACCEPT, "text/html")).to_http_request()
        ));
    }

    #[test]
    fn gzip_is_used_only_when_accepted() {
        let with = |v: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::ACCEPT_ENCODING, v.parse().unwrap());
            accepts_gzip(&headers)
        };
        assert!(with("gzip, deflate, br"));
        assert!(with("br;q=1.0, GZIP;q=0.5"));
        assert!(!with("gzip;q=0"));
        assert!(!with("identity"));
    }

    #[test]
    fn every_asset_compresses_and_has_a_distinct_tag() {
        let tags: std::collections::BTreeSet<_> = PREPARED.iter().map(|p| p.tag.clone()).collect();
        assert_eq!(tags.len(), ASSETS.len());
        let (raw, gzip) = PREPARED.iter().fold((0, 0), |(r, g), p| (r + p.asset.raw.len(), g + p.gzip.len()));
        assert!(gzip * 2 < raw, "{gzip} of {raw} bytes");
    }
}
